package pipeline

import "sync/atomic"

// counters are the totals both queues keep, updated without the queue's
// mutex. Safe for concurrent use.
type counters struct {
	eventsIn, dropped, rejected, acked, batches atomic.Uint64
}

// stats returns the totals as a Stats; the caller fills in the rest.
func (c *counters) stats() Stats {
	return Stats{
		EventsIn: c.eventsIn.Load(),
		Dropped:  c.dropped.Load(),
		Rejected: c.rejected.Load(),
		Acked:    c.acked.Load(),
		Batches:  c.batches.Load(),
	}
}
