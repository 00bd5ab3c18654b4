// Package ecs owns spawnbeat's documents: the typed Elastic Common Schema event
// that every stage from the process table to the encoder works on, the alert
// metadata that detection attaches to it, and its JSON encoding.
//
// It also owns what identifies a document and its process — EntityID
// (process.entity_id, stable for a process across its documents and as its
// children's process.parent.entity_id) and Event.AssignID (event.id, the
// Elasticsearch _id) — the host.* and agent.* metadata read once at start
// (ReadHost, NewAgent, LoadOrCreateAgentID). The fields the encoder writes
// are declared once, in _meta/fields.yml (FieldsYAML): the index template is
// built from it and the detection engine's field readers are generated from
// it; the tests check the encoder against it.
//
// Event.AppendJSON and Encoder.Append (which remembers the host and agent
// objects) are the hot path: they append a document to a caller-owned
// buffer with zero allocations when the buffer is reused (BenchmarkEncode,
// TestEncodeZeroAllocs), and write valid JSON for any input strings.
//
// An Event is owned by one stage at a time; it is not safe for concurrent use.
// A Host, Agent or Rule is built once and shared read-only by every event;
// once shared, nobody modifies it, so concurrent reads are safe (and an
// Encoder's memo of the host and agent stays right).
//
// Golden documents live in testdata/golden; rewrite them with
// `go test ./module/process/ecs -update`.
package ecs
