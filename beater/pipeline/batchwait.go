package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// readyFunc reports, with the queue's mutex held, how many events are ready
// to hand out, the put time (unix ns) of the oldest of them (meaningful only
// when ready > 0) and whether the queue is closed.
type readyFunc func() (ready uint64, oldest int64, closed bool)

// batchWait is the consumer's wait for a batch, the part of Queue.Get that
// MemQueue and DiskQueue share: wait until minEvents are ready, or the oldest
// ready event has waited flushTimeout, or the queue closes, or ctx ends.
//
// Producers wake the waiting consumer only when it can act on what they
// added. A Get that finds the queue empty asks for one event (it then arms
// its flush timer for the oldest); one that finds fewer than minEvents asks
// for minEvents and lets its timer cover the rest. The producer whose event
// meets that request sends the one signal and clears the request, so that
// filling a batch of 1600 wakes the consumer twice, not 1600 times (each a
// futex wake of an idle thread).
//
// Locking: want is guarded by the queue's mutex (mu), and so is every send
// on data; notify and wake are called with mu held. The signal is sent under
// mu so that the consumer, holding mu, knows whether one is pending (want
// cleared by a producer) and can take it, instead of waking for nothing on
// its next wait. data has capacity 1 and the sends never block.
//
// A batchWait is safe for concurrent use by the queue's producers (notify,
// wake: under mu) and its single consumer (await, which owns timer); it is
// not for two consumers at once. wakeups may be read from any goroutine.
type batchWait struct {
	mu    *sync.Mutex
	ready readyFunc
	// closing is closed by the queue's Close.
	closing <-chan struct{}

	data chan struct{} // capacity 1: the request in want was met
	// want is the ready count that lets the waiting consumer act; 0 when
	// no consumer waits or a producer has already signalled it. Under mu.
	want uint64

	timer   *time.Timer   // the flush timeout; consumer-owned
	wakeups atomic.Uint64 // times the consumer woke from its wait, for tests and benchmarks
}

// newBatchWait returns the wait for a queue whose state mu guards, which
// ready reads and whose Close closes closing.
func newBatchWait(mu *sync.Mutex, closing <-chan struct{}, ready readyFunc) *batchWait {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &batchWait{mu: mu, ready: ready, closing: closing, data: make(chan struct{}, 1), timer: t}
}

// notify tells a waiting consumer that ready events are now there, if that
// is what it waits for; a producer calls it with mu held after adding.
func (w *batchWait) notify(ready uint64) {
	if w.want != 0 && ready >= w.want {
		w.signal()
	}
}

// wake wakes a waiting consumer whatever it waits for, so that it looks at
// the queue again (after Rewind the oldest ready event is an older one, and
// its flush deadline earlier); mu is held.
func (w *batchWait) wake() {
	if w.want != 0 {
		w.signal()
	}
}

// signal hands the consumer its wake-up and clears the request, so that
// later events up to the next request do not send another; mu is held.
func (w *batchWait) signal() {
	w.want = 0
	select {
	case w.data <- struct{}{}:
	default: // cannot happen while want was set: the one token is sent under mu
	}
}

// settle ends the consumer's request, taking a signal sent for it that the
// consumer did not receive (it woke for its timer, Close or ctx at the same
// moment); mu is held.
func (w *batchWait) settle() {
	if w.want == 0 {
		select {
		case <-w.data:
		default:
		}
	}
	w.want = 0
}

// await waits until the queue holds a batch for Get: at least minEvents
// ready (at least one when minEvents <= 1), or some ready and the oldest of
// them put flushTimeout ago or more. It returns the ready count with mu
// held: the caller takes its batch, then unlocks. On error mu is not held;
// the error wraps ErrClosed or ctx's error.
func (w *batchWait) await(ctx context.Context, minEvents int, flushTimeout time.Duration) (uint64, error) {
	need := uint64(max(minEvents, 1))
	w.mu.Lock()
	for {
		ready, oldest, closed := w.ready()
		if closed {
			w.mu.Unlock()
			return 0, fmt.Errorf("get batch: %w", ErrClosed)
		}
		var wait time.Duration
		if ready > 0 {
			if ready >= need {
				return ready, nil
			}
			wait = time.Duration(oldest + int64(flushTimeout) - time.Now().UnixNano())
			if wait <= 0 {
				return ready, nil
			}
			w.want = need // the timer covers the rest
		} else {
			w.want = 1 // then arm the timer for it
		}
		w.mu.Unlock()

		var tc <-chan time.Time
		if ready > 0 {
			w.timer.Reset(wait)
			tc = w.timer.C
		}
		var err error
		select {
		case <-w.data:
		case <-tc:
		case <-w.closing:
		case <-ctx.Done():
			err = ctx.Err()
		}
		// Since Go 1.23 a stopped timer's channel holds no stale tick.
		w.timer.Stop()
		w.wakeups.Add(1)
		w.mu.Lock()
		w.settle()
		if err != nil {
			w.mu.Unlock()
			return 0, fmt.Errorf("get batch: %w", err)
		}
	}
}
