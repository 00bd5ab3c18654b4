package pipeline

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// MemQueue is the bounded in-memory queue: a ring of Events. Its bound counts
// events handed out but not acknowledged yet, so the producer feels
// backpressure while the output is stuck.
//
// Bodies are copied into buffers the queue keeps: an acknowledged event's
// buffer goes on a free list, and the next event takes the one freed last.
// So queueing allocates nothing once the queue has been as full as it gets,
// and it touches only as much memory as it held at its fullest, not a
// buffer for every slot of the ring: a page faulted in costs tens of
// microseconds on the build machines' VMs, more than encoding a document.
//
// MemQueue is safe for concurrent use by any number of producers (Put,
// TryPut) and one consumer (Get, Ack, Rewind); Stats and Close may be called
// from any goroutine. It copies each Event's Body: producers may reuse it.
// An accepted event is ready at once (ready == tail in the ledger).
type MemQueue struct {
	log *zap.Logger

	ledger          // its mu guards the fields below
	buf    []Event  // ring; slot i holds sequence i % len(buf)
	times  []int64  // put time (unix ns) per slot
	free   [][]byte // body buffers of acknowledged events, the last freed last
	out    []Event  // consumer-owned: the batch Get returns, reused
}

// NewMemQueue returns an empty memory queue with the capacity of cfg.Events.
// Only cfg.Events is used here; the flush settings drive the delivery loop.
func NewMemQueue(cfg MemConfig, log *zap.Logger) (*MemQueue, error) {
	if cfg.Events < 1 {
		return nil, fmt.Errorf("new memory queue: %w", invalid("queue.mem.events", "must be at least 1, got %d", cfg.Events))
	}
	if log == nil {
		log = zap.NewNop()
	}
	q := &MemQueue{
		log:   log.Named("memqueue"),
		buf:   make([]Event, cfg.Events),
		times: make([]int64, cfg.Events),
		free:  make([][]byte, 0, cfg.Events),
	}
	q.init(func() int64 { return q.times[q.read%uint64(len(q.buf))] })
	return q, nil
}

// hasRoom reports whether the ring has a free slot; mu is held.
func (q *MemQueue) hasRoom() bool { return q.tail-q.head < uint64(len(q.buf)) }

// Put adds ev, waiting for room while the queue is full.
func (q *MemQueue) Put(ctx context.Context, ev Event) error {
	q.mu.Lock()
	if q.closed || !q.hasRoom() { // the common case stays inline
		if err := q.admit(ctx, true, q.hasRoom); err != nil {
			return fmt.Errorf("put event %q: %w", ev.ID, err)
		}
	}
	q.store(ev)
	// Hand the wake-up on to another waiting producer if room is left.
	more := q.room.waiting() && q.hasRoom()
	q.mu.Unlock()
	if more {
		q.room.wake()
	}
	return nil
}

// TryPut adds ev if there is room and reports whether it did; a refusal is
// counted as dropped (full) or rejected (closed).
func (q *MemQueue) TryPut(ev Event) bool {
	q.mu.Lock()
	if (q.closed || !q.hasRoom()) && q.admit(context.Background(), false, q.hasRoom) != nil {
		return false
	}
	q.store(ev)
	q.mu.Unlock()
	return true
}

// keepBodyCap is the largest body buffer the free list keeps: a hostile
// command line's document is not held for the queue's lifetime.
const keepBodyCap = 64 << 10

// store appends a copy of ev and makes it ready; mu is held and there is
// room.
func (q *MemQueue) store(ev Event) {
	i := q.tail % uint64(len(q.buf))
	q.buf[i] = Event{ID: ev.ID, Index: ev.Index, Body: append(q.buffer(len(ev.Body)), ev.Body...)}
	q.times[i] = time.Now().UnixNano()
	q.accept(1, int64(len(ev.ID)+len(ev.Body)))
	q.makeReady(1)
}

// buffer returns an empty buffer for a body of n bytes: the one freed last
// (its memory is the likeliest to be in cache), or a new one if that is too
// small; mu is held.
func (q *MemQueue) buffer(n int) []byte {
	if k := len(q.free); k > 0 {
		b := q.free[k-1]
		q.free[k-1] = nil
		q.free = q.free[:k-1]
		if cap(b) >= n {
			return b
		}
	}
	// A quarter more than needed, so that the next documents, of about the
	// same size, fit without another allocation.
	return make([]byte, 0, n+n/4)
}

// Get hands out up to maxEvents events; see Queue.Get. The returned
// Events slice is reused by the next Get.
func (q *MemQueue) Get(ctx context.Context, minEvents, maxEvents int, flushTimeout time.Duration) (Batch, error) {
	ready, err := q.wait.await(ctx, minEvents, flushTimeout)
	if err != nil {
		return Batch{}, err
	}
	n := int(min(ready, uint64(max(maxEvents, 1))))
	if cap(q.out) < n {
		q.out = make([]Event, n, max(n, len(q.buf)))
	}
	out := q.out[:n]
	var bytes int64
	for k := range out {
		ev := q.buf[(q.read+uint64(k))%uint64(len(q.buf))]
		out[k] = ev
		bytes += int64(len(ev.ID) + len(ev.Body))
	}
	b := q.take(out, uint64(n), bytes)
	q.mu.Unlock()
	return b, nil
}

// Ack releases the oldest unacknowledged batch b.
func (q *MemQueue) Ack(b Batch) error {
	q.mu.Lock()
	if err := q.checkAck(b); err != nil {
		q.mu.Unlock()
		return err
	}
	for s := q.head; s < q.head+b.span; s++ {
		ev := &q.buf[s%uint64(len(q.buf))]
		if cap(ev.Body) <= keepBodyCap {
			q.free = append(q.free, ev.Body[:0])
		}
		*ev = Event{}
	}
	wake := q.release(b)
	q.mu.Unlock()
	q.released(b, wake)
	return nil
}

// Rewind makes Get hand out every unacknowledged event again.
func (q *MemQueue) Rewind() {
	q.mu.Lock()
	q.rewind()
	q.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (q *MemQueue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats(q.times[q.head%uint64(len(q.buf))])
}

// Close wakes every waiter, discards the unacknowledged events (counted as
// dropped) and makes further calls fail with ErrClosed. Safe to call twice.
func (q *MemQueue) Close() error {
	q.mu.Lock()
	if !q.close() {
		q.mu.Unlock()
		return nil
	}
	lost := q.tail - q.head
	clear(q.buf)
	q.free = nil
	q.head, q.read, q.ready = q.tail, q.tail, q.tail
	q.bytes = 0
	q.mu.Unlock()
	if lost > 0 {
		q.dropped.Add(lost)
		q.log.Warn("memory queue closed with undelivered events", zap.Uint64("events", lost))
	}
	return nil
}
