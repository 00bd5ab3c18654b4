package pipeline

import "context"

// Event is one encoded document on its way to an output.
type Event struct {
	// ID is deterministic per document (its event.id): Elasticsearch uses it
	// as _id, so that a retried create that already landed answers 409.
	ID string
	// Body is the JSON document, without a trailing newline.
	Body []byte
}

// Output delivers batches. Publish returns nil once every event of the batch
// is settled — acknowledged, already present (409), dead-lettered or dropped
// by policy, each counted — retrying transient failures itself with backoff.
// It returns an error only when ctx ends first; the caller then keeps the
// batch unacknowledged. Publish is called from one goroutine at a time.
type Output interface {
	Publish(ctx context.Context, batch []Event) error
	Close() error
}
