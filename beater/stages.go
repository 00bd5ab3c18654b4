package beater

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/module/detection"
	"github.com/spawnbeat/spawnbeat/module/process"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// stages runs capture → processing (detection, encoding) → queue → output,
// one goroutine each. The capture stage never blocks: it hands events to
// processing through a bounded channel and counts what does not fit
// (process.Stats.Dropped), the one place where a full pipeline loses events.
type stages struct {
	cfg      *config.Config
	log      *zap.Logger
	source   *process.Source
	detector *detection.Detector // nil when detection is disabled
	queue    pipeline.Queue
	output   pipeline.Output
	loop     *pipeline.Loop

	scratch []byte // processing goroutine's encoding buffer

	processed, queueFailures atomic.Uint64
}

func (s *stages) run(ctx context.Context) error {
	s.loop = pipeline.NewLoop(s.queue, s.output, pipeline.LoopConfig{
		Flush:     s.cfg.Queue.FlushSettings(),
		BatchSize: s.cfg.Output.BatchSize(),
	}, s.log)

	events := make(chan *ecs.Event, s.cfg.Spawnbeat.Capture.Buffer)
	var wg sync.WaitGroup
	var srcErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(events)
		srcErr = s.source.Run(ctx, events)
	}()

	// Processing outlives ctx: it drains the channel into the queue so that
	// what was captured before the stop is delivered or kept on disk.
	shutdown, cancelShutdown := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelShutdown()
	processed := make(chan struct{})
	go func() {
		defer close(processed)
		s.process(shutdown, events)
	}()

	deliverCtx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	delivered := make(chan error, 1)
	go func() { delivered <- s.loop.Run(deliverCtx) }()

	// Capture runs until ctx ends (or fails); then processing drains.
	wg.Wait()
	timer := time.AfterFunc(shutdownTimeout, cancelShutdown)
	defer timer.Stop()
	<-processed
	stopDelivery()
	loopErr := <-delivered

	drainCtx, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancelDrain()
	if err := s.loop.Drain(drainCtx); err != nil {
		s.log.Warn("shutdown: not every event was delivered", zap.Error(err),
			zap.Int64("queue.events", s.queue.Stats().Events))
	}
	if srcErr != nil && !errors.Is(srcErr, context.Canceled) {
		return srcErr
	}
	return loopErr
}

// process evaluates the rules on each event, encodes it and queues it. A
// queue that stays full makes this stage wait, the channel fill and the
// capture stage drop (counted).
func (s *stages) process(ctx context.Context, events <-chan *ecs.Event) {
	for ev := range events {
		if s.detector != nil {
			s.detector.Evaluate(ev)
		}
		// Encode into a reused buffer, then hand the queue (which keeps the
		// body) an exact-size copy: one allocation, no slack held in the queue.
		s.scratch = ev.AppendJSON(s.scratch[:0])
		body := bytes.Clone(s.scratch)
		id := ev.Event.ID
		s.source.Release(ev)
		if err := s.queue.Put(ctx, pipeline.Event{ID: id, Body: body}); err != nil {
			// The queue counted the drop (full under drop_newest, or the
			// shutdown deadline passed); the log is sampled.
			s.queueFailures.Add(1)
			s.log.Warn("event not queued", zap.Error(err))
			continue
		}
		s.processed.Add(1)
	}
}
