package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ledger is the bookkeeping that MemQueue and DiskQueue share, kept once:
// which events are accepted, ready, handed out and acknowledged, in put
// order; the order rules of Ack and Rewind; the producers' wait for room and
// the consumer's wait for a batch; and the counters. The queues own where the
// events are (a ring in memory, segment files on disk) and call the ledger
// with its mutex held, which guards their own state too.
//
// Events are numbered in put order:
//
//	[head, read)   handed out by Get, not acknowledged yet
//	[read, ready)  ready for Get
//	[ready, tail)  accepted by Put or TryPut, not ready yet (the disk
//	               queue's records on their way to the file)
//
// A Batch covers [seq, seq+span). Counts of events are differences of these
// numbers, so they stay right however long the queue runs.
//
// Locking: mu guards every field but the counters (atomic) and closing
// (closed once, under mu). A ledger is embedded in its queue and is as safe
// for concurrent use as the queue says.
type ledger struct {
	mu     sync.Mutex
	head   uint64
	read   uint64
	ready  uint64
	tail   uint64
	bytes  int64 // bytes of the accepted events not acknowledged, as the queue counts them
	closed bool

	closing chan struct{} // closed by close
	room    roomWait      // producers' wait for room; released room wakes it
	wait    *batchWait    // the consumer's wait in Get; ready events notify it

	counters
}

// counters are the totals both queues keep, updated without the mutex.
type counters struct {
	eventsIn, dropped, rejected, acked, batches atomic.Uint64
}

// init prepares l for a queue whose oldest ready event, when there is one,
// was put at oldest() (unix ns, called with mu held).
func (l *ledger) init(oldest func() int64) {
	l.closing = make(chan struct{})
	l.room = newRoomWait()
	l.wait = newBatchWait(&l.mu, l.closing, func() (uint64, int64, bool) {
		n := l.ready - l.read
		var t int64
		if n > 0 {
			t = oldest()
		}
		return n, t, l.closed
	})
}

// admit decides, with mu held, whether an event may be stored: it returns
// nil with mu still held once fits reports room, or else an error, counted,
// with mu released: ErrClosed (rejected), ErrFull when the queue is full and
// wait is false (dropped), or ctx's error when it ends while waiting for
// room (rejected). The errors are not wrapped, so that a refused TryPut
// allocates nothing; Put adds the event's ID.
func (l *ledger) admit(ctx context.Context, wait bool, fits func() bool) error {
	for {
		if l.closed {
			l.mu.Unlock()
			l.rejected.Add(1)
			return ErrClosed
		}
		if fits() {
			return nil
		}
		if !wait {
			l.mu.Unlock()
			l.dropped.Add(1)
			return ErrFull
		}
		if err := l.room.await(ctx, &l.mu, l.closing); err != nil {
			l.mu.Unlock()
			l.rejected.Add(1)
			return err
		}
	}
}

// accept records n events of the given bytes as accepted; mu is held.
func (l *ledger) accept(n uint64, bytes int64) {
	l.tail += n
	l.bytes += bytes
}

// refuse takes back n accepted events of the given bytes that could not be
// stored after all, counting them as rejected; mu is held.
func (l *ledger) refuse(n uint64, bytes int64) {
	l.tail -= n
	l.bytes -= bytes
	l.rejected.Add(n)
}

// makeReady makes the next n accepted events ready and wakes a waiting Get
// if it can act now; mu is held.
func (l *ledger) makeReady(n uint64) {
	l.ready += n
	l.eventsIn.Add(n)
	l.wait.notify(l.ready - l.read)
}

// take hands out the next n ready events (span of them, counting records
// lost on the way), as a Batch of the given bytes; mu is held.
func (l *ledger) take(events []Event, span uint64, bytes int64) Batch {
	b := Batch{Events: events, seq: l.read, span: span, bytes: bytes}
	l.read += span
	return b
}

// checkAck returns why b cannot be acknowledged now, or nil when it is the
// oldest batch handed out and not acknowledged; mu is held.
func (l *ledger) checkAck(b Batch) error {
	if l.closed {
		return fmt.Errorf("ack batch: %w", ErrClosed)
	}
	if b.seq != l.head || l.head+b.span > l.read {
		return fmt.Errorf("ack batch at %d of %d events, oldest unacknowledged is %d: %w", b.seq, b.span, l.head, ErrAckOrder)
	}
	return nil
}

// release records b, checked by checkAck, as acknowledged, and reports
// whether a producer waits for the room it frees; mu is held. The caller
// calls released after unlocking.
func (l *ledger) release(b Batch) (wakeProducer bool) {
	l.head += b.span
	l.bytes -= b.bytes
	return l.room.waiting()
}

// released counts b as acknowledged and wakes a producer waiting for room;
// mu is not held.
func (l *ledger) released(b Batch, wakeProducer bool) {
	l.acked.Add(uint64(len(b.Events)))
	l.batches.Add(1)
	if wakeProducer {
		l.room.wake()
	}
}

// rewind makes every event handed out and not acknowledged ready again, and
// wakes a waiting Get: its oldest ready event is now an older one; mu is
// held.
func (l *ledger) rewind() {
	l.read = l.head
	if l.ready > l.read {
		l.wait.wake()
	}
}

// close marks the queue closed and wakes every waiter; it reports false
// when it already was. mu is held.
func (l *ledger) close() bool {
	if l.closed {
		return false
	}
	l.closed = true
	close(l.closing)
	return true
}

// stats returns the ledger's part of Stats: the totals, the depth in events
// and bytes, and the age of the oldest unacknowledged event put at head
// (unix ns, 0 when unknown); mu is held.
func (l *ledger) stats(head int64) Stats {
	st := Stats{
		EventsIn: l.eventsIn.Load(),
		Dropped:  l.dropped.Load(),
		Rejected: l.rejected.Load(),
		Acked:    l.acked.Load(),
		Batches:  l.batches.Load(),
		Events:   int64(l.tail - l.head),
		Bytes:    l.bytes,
	}
	if st.Events > 0 && head != 0 {
		st.OldestUnacked = time.Duration(time.Now().UnixNano() - head)
	}
	return st
}
