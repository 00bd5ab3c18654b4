// Package pipeline carries encoded documents from the capture stage to the
// output with at-least-once delivery: bounded queues (memory, disk), batching,
// acknowledgements and their counters.
//
// It owns:
//   - the Queue seam and its two implementations: MemQueue, a ring of events
//     bounded in events, and DiskQueue, checksummed append-only segment files
//     bounded in bytes on disk, with an ack file that survives SIGKILL;
//   - the bookkeeping both share, kept once (ledger.go): events numbered in
//     put order, the rule that batches are acknowledged in the order Get
//     handed them out, Rewind, the counters, the producers' wait for room
//     (roomWait) and the consumer's wait for a batch (batchWait);
//   - Loop, the single consumer that takes batches (flush.min_events events,
//     or what is there after flush.timeout, at most the output's bulk size),
//     calls Output.Publish and acknowledges a batch only when Publish returned
//     nil;
//   - the queue.* configuration (Config, with go-ucfg tags, defaults and
//     Validate) and the counters (Stats, LoopStats).
//
// At-least-once: an event leaves a queue only through Ack of the batch that
// carried it. A batch whose Publish was cut short is rewound and sent again,
// and the disk queue replays after a restart everything past the last
// recorded ack, so an event may reach the output twice (Elasticsearch answers
// 409 to the second create of the same _id) but is never lost unless a
// counter says so (Stats.Dropped, Stats.Rejected, Stats.TornSkipped).
//
// Each event carries its target index (Event.Index), decided where the
// document is made; queues keep it (the disk queue in the record), so the
// output never has to look into the document for it.
//
// Wake-ups: producers wake the consumer waiting in Get only when it can act
// — for the first event into an empty queue (Get then arms its flush.timeout
// timer from it) and for the event that brings the ready count to
// flush.min_events — not for every event. The disk queue's records reach
// the file through a writer (diskwriter.go) that a burst of TryPuts wakes
// once, so the capture goroutine never writes or fsyncs, and no disk I/O
// runs under the queue's mutex.
//
// Wiring, in the beater:
//
//	q, err := pipeline.Open(cfg.Queue, cfg.Path.Data, log)
//	loop := pipeline.NewLoop(q, out, pipeline.LoopConfig{Flush: cfg.Queue.FlushSettings(), BatchSize: bulkMaxSize}, log)
//	go loop.Run(ctx)                  // producers call q.TryPut (or q.Put)
//	...                               // on stop: stop producers, cancel ctx, wait for Run
//	err = loop.Drain(deadlineCtx)     // deliver what is queued, within the shutdown timeout
//	q.Close()                         // the disk queue keeps what was not delivered
//	out.Close()
//
// The benchmarks in bench_test.go measure each queue, and what queueing a
// document costs the capture goroutine: `go test -run '^$' -bench .
// ./beater/pipeline/`, side by side with the build before.
package pipeline
