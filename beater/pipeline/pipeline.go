package pipeline

import (
	"context"
	"time"
)

// Event is one encoded document on its way to an output.
type Event struct {
	// ID is deterministic per document (its event.id): Elasticsearch uses it
	// as _id, so that a retried create that already landed answers 409.
	ID string
	// Index is the data stream (or index) the document goes to, decided
	// where the document is made (logs-spawnbeat.process-<namespace>);
	// empty means the output's configured one. The disk queue keeps it with
	// the record (at most MaxIndexLen bytes).
	Index string
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

// Queue holds events between the producer (capture and detection) and the
// delivery loop. It is bounded, and an event leaves it only when the consumer
// acknowledges the batch that carried it (Ack), so delivery is at-least-once.
//
// Implementations are safe for concurrent use by producers on one side and a
// single consumer (Get, Ack, Rewind) on the other; Stats and Close may be
// called from any goroutine.
//
// Ownership of Event.Body: Put and TryPut copy it, so the producer may reuse
// its buffer at once. A Batch's bodies belong to the queue until Ack.
type Queue interface {
	// Put adds ev, blocking while the queue is full until there is room,
	// ctx ends (ctx.Err() is returned) or the queue is closed (ErrClosed).
	// spawnbeat's capture uses TryPut: it must never wait.
	Put(ctx context.Context, ev Event) error
	// TryPut adds ev without blocking and reports whether it did; a refusal
	// is counted (Stats.Dropped when full, Stats.Rejected otherwise). The
	// disk queue writes ev to its file shortly after, off the caller's
	// goroutine, and counts it as rejected should that write fail.
	TryPut(ev Event) bool
	// Get hands out the next events not handed out yet, at most maxEvents of
	// them. It waits until at least minEvents are ready, or the oldest ready
	// event has waited flushTimeout, then returns what is there (at least
	// one). It returns ctx.Err() when ctx ends first and ErrClosed once the
	// queue is closed. minEvents <= 1 means "as soon as one is ready". The
	// Batch's Events (and, for the disk queue, their bodies) are owned by the
	// queue and valid until the next Get. A disk queue may return a batch
	// with no events that stands for records lost to on-disk corruption
	// (counted in Stats.TornSkipped): acknowledge it like any other.
	Get(ctx context.Context, minEvents, maxEvents int, flushTimeout time.Duration) (Batch, error)
	// Ack releases the events of b, the oldest batch handed out and not
	// acknowledged yet; batches must be acknowledged in the order Get
	// returned them (ErrAckOrder otherwise).
	Ack(b Batch) error
	// Rewind makes Get hand out again every event not acknowledged yet,
	// from the oldest: the consumer calls it when it gives up on a batch.
	Rewind()
	// Stats returns a snapshot of the counters.
	Stats() Stats
	// Close releases the queue's resources; it is safe to call twice. Events
	// not acknowledged stay on disk (disk queue) or are discarded and
	// counted as dropped (memory queue): drain before closing.
	Close() error
}

// Batch is a run of consecutive events handed out by Queue.Get. The zero
// Batch is empty. A Batch is a value owned by the consumer; its Events slice
// is owned by the queue (see Get).
type Batch struct {
	// Events are the documents, oldest first.
	Events []Event

	seq   uint64 // queue sequence number of Events[0]
	span  uint64 // sequence numbers covered: len(Events), plus records lost to corruption
	bytes int64  // bytes the batch occupies in the queue's accounting
	end   pos    // disk queue: position just after the last record
}

// Len returns the number of events in b.
func (b Batch) Len() int { return len(b.Events) }

// Stats is a snapshot of a queue's counters, a plain value. Counts are
// totals since the queue was opened; Events, Bytes, DiskBytes and
// OldestUnacked are current. TornSkipped counts damaged regions: a run of
// adjacent bad records counts once.
type Stats struct {
	EventsIn      uint64        `json:"events_in"`         // accepted by Put or TryPut (disk queue: once in the file)
	Dropped       uint64        `json:"dropped"`           // lost because the queue was full (drop_newest, TryPut) or discarded at Close (memory queue)
	Rejected      uint64        `json:"rejected"`          // Put or TryPut failed otherwise: too large, closed, ctx ended while waiting, write error
	Acked         uint64        `json:"acked"`             // acknowledged and released
	Batches       uint64        `json:"batches"`           // batches acknowledged
	Events        int64         `json:"events"`            // queue depth: events not acknowledged yet
	Bytes         int64         `json:"bytes"`             // queue depth in bytes (record sizes on disk, or ID+Body in memory)
	DiskBytes     int64         `json:"disk_bytes"`        // disk queue: bytes of the segment files with the records on their way to them (what max_size limits)
	TornSkipped   uint64        `json:"torn_skipped"`      // disk queue: torn or corrupt records detected by checksum and skipped
	Fsyncs        uint64        `json:"fsyncs"`            // disk queue: fsync calls
	OldestUnacked time.Duration `json:"oldest_unacked_ns"` // age of the oldest event not acknowledged yet; 0 when empty
}
