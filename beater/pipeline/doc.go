// Package pipeline carries encoded documents from the capture stage to the
// output with at-least-once delivery: bounded queues (memory, disk), batching,
// acknowledgements and their counters.
//
// It owns:
//   - the Queue seam and its two implementations: MemQueue, a ring of events
//     bounded in events, and DiskQueue, checksummed append-only segment files
//     bounded in bytes on disk, with an ack file that survives SIGKILL;
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
// counter says so (Stats.Dropped, Stats.TornSkipped).
//
// Wiring, in the beater:
//
//	q, err := pipeline.Open(cfg.Queue, cfg.Path.Data, log)
//	loop := pipeline.NewLoop(q, out, pipeline.LoopConfig{Flush: cfg.Queue.FlushSettings(), BatchSize: bulkMaxSize}, log)
//	go loop.Run(ctx)                  // producers call q.Put / q.TryPut
//	...                               // on stop: stop producers, cancel ctx, wait for Run
//	err = loop.Shutdown(deadlineCtx)  // drains the memory queue, closes the queue
//	out.Close()
//
// Measured on the 2-core build VM (shared and noisy: rough rates, solid
// ratios), 500-byte events, put + get + ack in one goroutine,
// `go test -run '^$' -bench Queue -benchtime 1s ./beater/pipeline/`:
//
//	memory queue                     4.0–4.4 M events/s (2.0–2.2 GB/s), 0 allocs/event
//	disk queue, batches of 1600      138–149 k events/s (69–75 MB/s),  0 allocs/event
//	disk queue, batches of 64        31–49 k events/s (15–24 MB/s),    0 allocs/event
//
// so the disk queue is about 30 times slower than memory with full batches
// (100 times with small ones). Its cost is one pwrite(2) per Put — the price
// of every accepted event surviving a crash of the process — and one ack-file
// replacement (write + rename) per batch. Even the slow case is more than 15
// times the highest exec rate this machine produces (FACTS.md: 1,000–2,000/s).
// On this kvm-clock VM a third of the memory queue's time is time.Now.
package pipeline
