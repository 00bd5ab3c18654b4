// Package ecs owns spawnbeat's documents: the typed Elastic Common Schema event
// that every stage from the process table to the encoder works on, the alert
// metadata that detection attaches to it, and its JSON encoding.
//
// It also owns what identifies a document and its process — EntityID
// (process.entity_id, stable for a process across its documents and as its
// children's process.parent.entity_id) and Event.AssignID (event.id, the
// Elasticsearch _id) — the host.* and agent.* metadata read once at start
// (ReadHost, NewAgent, LoadOrCreateAgentID), and fields.yml (FieldsYAML),
// the declaration of every field the encoder writes from which the index
// template is generated.
//
// Event.AppendJSON is the hot path: it appends a document to a caller-owned
// buffer with zero allocations when the buffer is reused (BenchmarkEncode,
// TestEncodeZeroAllocs), and writes valid JSON for any input strings.
//
// An Event is owned by one stage at a time; it is not safe for concurrent use.
// A Host, Agent or Rule is built once and shared read-only by every event;
// once shared, nobody modifies it, so concurrent reads are safe.
//
// Golden documents live in testdata/golden; rewrite them and the
// _meta/fields.yml copy with `go test ./module/process/ecs -update`.
package ecs
