package elasticsearch

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// backoff computes waits that grow exponentially from init to max with full
// jitter: the wait for attempt n (0-based) is uniform in [init, min(max,
// init·2ⁿ)], so a fleet of agents that failed together does not come back in
// step. Not safe for concurrent use (it owns a random source).
type backoff struct {
	init, max time.Duration
	rng       *rand.Rand
}

func newBackoff(init, maxWait time.Duration, seed uint64) backoff {
	return backoff{init: init, max: maxWait, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} //nolint:gosec // jitter, not a secret
}

// Wait returns the wait before retry number attempt (0-based).
func (b *backoff) Wait(attempt int) time.Duration {
	ceil := b.init
	for i := 0; i < attempt && ceil < b.max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, b.max)
	if ceil <= b.init {
		return b.init
	}
	return b.init + time.Duration(b.rng.Int64N(int64(ceil-b.init)+1))
}

// sleepCtx waits d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// node is one configured host with its own client: each client talks to a
// single address so that node selection, down-marking and retry timing stay
// here, where they are counted, rather than in the transport's pool.
type node struct {
	url    string
	client *elasticsearch.Client

	// Guarded by nodePool.mu.
	failures int
	retryAt  time.Time
}

// nodePool hands out nodes round-robin, skipping nodes marked down until
// their retry time. Safe for concurrent use.
type nodePool struct {
	mu    sync.Mutex
	nodes []*node
	next  int
	bo    backoff
}

// pick returns the next node that is up, or nil and how long until the
// first down node may be tried again.
func (p *nodePool) pick(now time.Time) (*node, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var soonest time.Time
	for i := range p.nodes {
		n := p.nodes[(p.next+i)%len(p.nodes)]
		if !n.retryAt.After(now) {
			p.next = (p.next + i + 1) % len(p.nodes)
			return n, 0
		}
		if soonest.IsZero() || n.retryAt.Before(soonest) {
			soonest = n.retryAt
		}
	}
	return nil, soonest.Sub(now)
}

// markDown records a connection failure: the node is skipped for a backoff
// that grows with its consecutive failures.
func (p *nodePool) markDown(n *node, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	wait := p.bo.Wait(n.failures)
	n.failures++
	n.retryAt = now.Add(wait)
	return wait
}

// markUp records that the node answered.
func (p *nodePool) markUp(n *node) {
	p.mu.Lock()
	n.failures, n.retryAt = 0, time.Time{}
	p.mu.Unlock()
}

// stats reports each node. A node is down from its first connection failure
// until it answers again: the end of its hold-back only makes it eligible
// for a retry, it does not make it healthy.
func (p *nodePool) stats() []HostStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]HostStats, len(p.nodes))
	for i, n := range p.nodes {
		out[i] = HostStats{URL: n.url, Down: n.failures > 0, Failures: n.failures, RetryAt: n.retryAt}
	}
	return out
}
