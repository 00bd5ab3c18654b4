package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Defaults of the delivery loop.
const (
	DefaultBatchSize  = 1600 // Beats' bulk_max_size for Elasticsearch
	DefaultRetryDelay = 100 * time.Millisecond
	DefaultMaxDelay   = 30 * time.Second
)

// LoopConfig tunes the delivery loop. The zero value of a field means its
// default. It is a plain value.
type LoopConfig struct {
	// Flush says when a batch leaves: MinEvents queued, or the oldest has
	// waited Timeout (the queue's flush settings).
	Flush FlushConfig
	// BatchSize caps a batch (the output's bulk size).
	BatchSize int
	// RetryDelay and MaxDelay bound the exponential backoff, with jitter,
	// between attempts when Publish fails while ctx is still live (Outputs
	// retry by themselves; this guards against one that gives up).
	RetryDelay time.Duration
	MaxDelay   time.Duration
}

func (c LoopConfig) withDefaults() LoopConfig {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	c.MaxDelay = max(c.MaxDelay, c.RetryDelay)
	return c
}

// LoopStats is a snapshot of the delivery loop's counters, a plain value.
type LoopStats struct {
	Published uint64 `json:"published"` // batches Publish accepted
	Events    uint64 `json:"events"`    // events in those batches
	Failures  uint64 `json:"failures"`  // Publish calls that returned an error with ctx still live
}

// Loop moves batches from a Queue to an Output: Get, Publish, and Ack only
// when Publish returned nil, so that an event leaves the queue only once the
// output has settled it.
//
// The batch handed to Publish belongs to the queue: the Output must not keep
// the slice or the bodies after Publish returns (the disk queue reuses them).
//
// Run and Drain must not run at the same time (the loop is the queue's single
// consumer); Stats may be called from any goroutine.
type Loop struct {
	q   Queue
	out Output
	cfg LoopConfig
	log *zap.Logger

	published, events, failures atomic.Uint64
}

// NewLoop returns a loop from q to out.
func NewLoop(q Queue, out Output, cfg LoopConfig, log *zap.Logger) *Loop {
	if log == nil {
		log = zap.NewNop()
	}
	return &Loop{q: q, out: out, cfg: cfg.withDefaults(), log: log.Named("delivery")}
}

// Run delivers until ctx ends or the queue is closed, then returns nil. The
// batch in flight when ctx ends is not acknowledged: the queue is rewound so
// that Drain (or the next start, for the disk queue) sends it again. Run
// returns an error only when the queue fails.
func (l *Loop) Run(ctx context.Context) error {
	for {
		b, err := l.q.Get(ctx, l.cfg.Flush.MinEvents, l.cfg.BatchSize, l.cfg.Flush.Timeout)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil
			}
			return fmt.Errorf("delivery: %w", err)
		}
		if err := l.deliver(ctx, b); err != nil {
			if ctx.Err() != nil {
				l.q.Rewind()
				return nil
			}
			return err
		}
	}
}

// Drain delivers what is queued now, in batches of up to BatchSize without
// waiting for a batch to fill, until the queue is empty or ctx ends (ctx
// carries the shutdown deadline). It rewinds first, so a batch that Run
// abandoned goes out again. It returns ctx.Err() (wrapped) when events are
// still queued at the deadline.
func (l *Loop) Drain(ctx context.Context) error {
	l.q.Rewind()
	for l.q.Stats().Events > 0 {
		b, err := l.q.Get(ctx, 1, l.cfg.BatchSize, 0)
		if err != nil {
			return fmt.Errorf("drain queue (%d events left): %w", l.q.Stats().Events, err)
		}
		if err := l.deliver(ctx, b); err != nil {
			l.q.Rewind()
			return fmt.Errorf("drain queue (%d events left): %w", l.q.Stats().Events, err)
		}
	}
	return nil
}

// deliver publishes b until the output takes it or ctx ends, then
// acknowledges it.
func (l *Loop) deliver(ctx context.Context, b Batch) error {
	delay := l.cfg.RetryDelay
	for len(b.Events) > 0 {
		err := l.out.Publish(ctx, b.Events)
		if err == nil {
			l.published.Add(1)
			l.events.Add(uint64(len(b.Events)))
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publish batch of %d: %w", len(b.Events), ctx.Err())
		}
		l.failures.Add(1)
		l.log.Warn("publish failed, retrying", zap.Int("events", len(b.Events)), zap.Duration("backoff", delay), zap.Error(err))
		// Jitter (half to all of delay) keeps many agents from retrying in step.
		wait := delay/2 + rand.N(delay/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("publish batch of %d: %w", len(b.Events), ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, l.cfg.MaxDelay)
	}
	if err := l.q.Ack(b); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the loop's counters.
func (l *Loop) Stats() LoopStats {
	return LoopStats{Published: l.published.Load(), Events: l.events.Load(), Failures: l.failures.Load()}
}

// Open returns the queue cfg selects: the disk queue under dataDir (see
// DiskConfig.ResolvePath) or the memory queue. cfg is validated first.
func Open(cfg Config, dataDir string, log *zap.Logger) (Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	if cfg.Disk != nil {
		q, err := OpenDisk(*cfg.Disk, dataDir, log)
		if err != nil {
			return nil, err
		}
		return q, nil
	}
	mem := DefaultMemConfig()
	if cfg.Mem != nil {
		mem = *cfg.Mem
	}
	q, err := NewMemQueue(mem, log)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// Both queues implement Queue.
var (
	_ Queue = (*MemQueue)(nil)
	_ Queue = (*DiskQueue)(nil)
)
