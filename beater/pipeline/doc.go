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
// Wake-ups: producers wake the consumer waiting in Get only when it can act
// — for the first event into an empty queue (Get then arms its flush.timeout
// timer from it) and for the event that brings the ready count to
// flush.min_events — not for every event. With the defaults a batch of 1,600
// costs the delivery loop two wake-ups instead of 1,600, each of which was
// a futex wake of an idle thread. Both queues share that logic (batchWait),
// and the producers' wait for room (roomWait).
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
//
// With a consumer waiting for the default batch (min_events 1600, timeout
// 1s) and one Put per millisecond, as at real exec rates,
// `go test -run '^$' -bench 'PutWaitingConsumer/.*/min_events=1600/pace=1000us' -benchtime 2000x -count 6 ./beater/pipeline/`
// measured per event, before and after the wake-up rule above:
//
//	                 consumer wake-ups   voluntary context switches   CPU (noisy)
//	memory queue     1.00 → 0.002        3.49 → 2.85                  93 → 67 µs
//	disk queue       1.00 → 0.002        5.12 → 4.36                  146 → 118 µs
//
// (most of what is left is the benchmark's own 1 ms sleep per event).
package pipeline
