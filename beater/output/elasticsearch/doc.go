// Package elasticsearch owns spawnbeat's delivery to Elasticsearch: the
// output.elasticsearch configuration, the Output that bulk-creates documents
// into the logs-spawnbeat.process-<namespace> data stream with per-item
// classification (acked, duplicate, retried, dead-lettered, dropped; each
// counted), batch-level retries with backoff and node failover, TLS and
// authentication, the index template and lifecycle policy generated from
// fields.yml (Setup, Template, ILMPolicy), and the connectivity checks behind
// `spawnbeat test output` (TestOutput).
//
// Delivery is at-least-once: every document carries a deterministic _id and
// is written with op_type create, so a retry of something that already landed
// answers 409 and is counted as a duplicate, not written twice.
package elasticsearch
