package pipeline

import (
	"context"
	"sync"
)

// roomWait is the producers' wait for room in a full queue, shared by
// MemQueue.Put and DiskQueue.Put.
//
// A wake-up goes to one producer; the producer that still finds room after
// adding its event hands the wake-up on, so that room freed by an Ack lets
// the waiting producers in one after another without waking them all for
// one slot.
//
// A roomWait is safe for concurrent use by any number of producers (await,
// waiting) and wakers (wake): waiters is guarded by the queue's mutex, and
// space has capacity 1 so wake never blocks; a wake-up sent while no
// producer waits lets the next one that waits look at the queue again at
// once.
type roomWait struct {
	space   chan struct{} // capacity 1: room appeared
	waiters int           // producers in await; under the queue's mutex
}

func newRoomWait() roomWait {
	return roomWait{space: make(chan struct{}, 1)}
}

// await waits until wake is called, closing is closed or ctx ends, whose
// error it then returns. mu, the queue's mutex, is held on entry and on
// return and released while waiting.
func (r *roomWait) await(ctx context.Context, mu *sync.Mutex, closing <-chan struct{}) error {
	r.waiters++
	mu.Unlock()
	var err error
	select {
	case <-r.space:
	case <-closing:
	case <-ctx.Done():
		err = ctx.Err()
	}
	mu.Lock()
	r.waiters--
	return err
}

// waiting reports whether a producer waits for room; mu is held.
func (r *roomWait) waiting() bool { return r.waiters > 0 }

// wake wakes one waiting producer.
func (r *roomWait) wake() {
	select {
	case r.space <- struct{}{}:
	default:
	}
}
