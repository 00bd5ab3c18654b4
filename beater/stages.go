package beater

import (
	"context"
	"errors"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/module/detection"
	"github.com/spawnbeat/spawnbeat/module/process"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// stages runs capture → queue → output on two goroutines. The capture
// goroutine builds each document, evaluates the rules on it, encodes it
// and queues it, all inline: a hand-off to another goroutine per document
// cost more CPU than the work itself (a thread wake-up each, measured with
// the capture benchmark), and a document is ready for the queue within
// microseconds. The queue is the bounded channel to the delivery loop.
// Capture never waits for the queue: a full queue drops the newest
// document (counted as queue.dropped), so that the kernel's socket is
// always read and the process table stays right.
type stages struct {
	cfg      *config.Config
	log      *zap.Logger
	source   *process.Source
	detector *detection.Detector // nil when detection is disabled
	queue    pipeline.Queue
	output   pipeline.Output
	loop     *pipeline.Loop
	// outputStats snapshots the output's counters for /stats; nil when it
	// keeps none.
	outputStats func() any

	encoder ecs.Encoder // the capture goroutine's
	scratch []byte      // the capture goroutine's encoding buffer
	index   dataStream  // the capture goroutine's

	processed, queueFailures atomic.Uint64
}

func (s *stages) run(ctx context.Context) error {
	s.loop = pipeline.NewLoop(s.queue, s.output, pipeline.LoopConfig{
		Flush:     s.cfg.Queue.FlushSettings(),
		BatchSize: s.cfg.Output.BatchSize(),
	}, s.log)

	// Delivery outlives ctx: once capture has stopped, what it queued is
	// delivered (or kept on disk) within the shutdown timeout.
	deliverCtx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	delivered := make(chan error, 1)
	go func() { delivered <- s.loop.Run(deliverCtx) }()

	srcErr := s.source.Run(ctx, s.process)
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

// process is the capture goroutine's sink: it evaluates the rules on a
// document, encodes it and queues it without waiting.
func (s *stages) process(ev *ecs.Event) {
	if s.detector != nil {
		s.detector.Evaluate(ev)
	}
	// Encode into a reused buffer; the queue copies it.
	s.scratch = s.encoder.Append(s.scratch[:0], ev)
	if !s.queue.TryPut(pipeline.Event{ID: ev.Event.ID, Index: s.index.of(ev), Body: s.scratch}) {
		// The queue counted why (full: dropped; closed: rejected). The log
		// is sampled; the queue's depth is read only for an entry written.
		s.queueFailures.Add(1)
		if ce := s.log.Check(zap.WarnLevel, "event not queued: the queue is full"); ce != nil {
			ce.Write(zap.Int64("queue.events", s.queue.Stats().Events))
		}
		return
	}
	s.processed.Add(1)
}

// dataStream names the data stream of a document, logs-<dataset>-<namespace>
// as its data_stream object says (see ecs.Event.AppendJSON), keeping the
// last name so that the capture goroutine makes the string once per
// namespace, not per document. Owned by one goroutine.
type dataStream struct {
	ns, name string
}

func (d *dataStream) of(ev *ecs.Event) string {
	ns := ev.Namespace
	if ns == "" {
		ns = ecs.DefaultNamespace
	}
	if ns != d.ns || d.name == "" {
		d.ns, d.name = ns, ecs.DataStreamType+"-"+ecs.Dataset+"-"+ns
	}
	return d.name
}
