package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const benchBody = 500 // bytes per event, about one process document

// benchQueue measures the steady state of put + get + ack: events are put in
// runs of batch and taken and acknowledged in batches of the same size, the
// way the delivery loop drains the queue.
func benchQueue(b *testing.B, q Queue, batch int) {
	body := bytes.Repeat([]byte("x"), benchBody)
	idBuf := make([]string, batch)
	for i := range idBuf {
		idBuf[i] = fmt.Sprintf("bench-%08d", i)
	}
	ctx := context.Background()
	b.SetBytes(benchBody)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		for i := range n {
			if err := q.Put(ctx, Event{ID: idBuf[i], Body: body}); err != nil {
				b.Fatal(err)
			}
		}
		for got := 0; got < n; {
			bt, err := q.Get(ctx, 1, n-got, 0)
			if err != nil {
				b.Fatal(err)
			}
			got += bt.Len()
			if err := q.Ack(bt); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func BenchmarkMemQueue(b *testing.B) {
	for _, batch := range []int{64, 1600} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			q, err := NewMemQueue(MemConfig{Events: 4096}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = q.Close() }()
			benchQueue(b, q, batch)
		})
	}
}

func BenchmarkDiskQueue(b *testing.B) {
	for _, fsync := range []string{FsyncNever, FsyncInterval} {
		for _, batch := range []int{64, 1600} {
			b.Run(fmt.Sprintf("fsync=%s/batch=%d", fsync, batch), func(b *testing.B) {
				cfg := diskConfig(b.TempDir())
				cfg.Fsync = fsync
				q, err := OpenDisk(cfg, "", nil)
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = q.Close() }()
				benchQueue(b, q, batch)
			})
		}
	}
}

// BenchmarkPutWaitingConsumer measures Put while the delivery loop's
// consumer waits in Get for a batch, as it does between batches in
// production: each op is one Put, and a goroutine takes and acknowledges
// batches the way Loop.Run does. Besides ns/op it reports, per event, the
// consumer's wake-ups (wakeups/op), the process's CPU time (cpu-ns/op,
// user+system) and its voluntary context switches (ctxsw/op: a thread
// blocking, in a futex or epoll, to be woken later), both from getrusage(2).
// That is where useless wake-ups show up: they cost the consumer's thread
// and the scheduler, not the producer.
//
// pace=0us puts back to back; pace=1000us sleeps between puts, so that the
// consumer's thread goes idle between events as it does at real exec rates
// (hundreds a second), where every wake-up is a futex wake of an idle
// thread. Its ns/op is mostly the sleep: compare cpu-ns/op and wakeups/op.
func BenchmarkPutWaitingConsumer(b *testing.B) {
	queues := waitingQueues(FsyncNever)
	flushes := []FlushConfig{
		{MinEvents: DefaultBatchSize, Timeout: time.Second}, // the defaults
		{MinEvents: 1, Timeout: time.Second},
	}
	for _, qt := range queues {
		for _, fl := range flushes {
			for _, pace := range []time.Duration{0, time.Millisecond} {
				b.Run(fmt.Sprintf("%s/min_events=%d/pace=%dus", qt.name, fl.MinEvents, pace.Microseconds()), func(b *testing.B) {
					q := qt.open(b)
					defer func() { _ = q.Close() }()
					benchPutWaiting(b, q, fl, pace)
				})
			}
		}
	}
}

func benchPutWaiting(b *testing.B, q Queue, fl FlushConfig, pace time.Duration) {
	body := bytes.Repeat([]byte("x"), benchBody)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumed := consume(ctx, q, fl)
	ev := Event{ID: "bench-00000001", Body: body}
	wake0 := consumerWakeups(q)
	cpu0, sw0 := processUsage(b)
	b.SetBytes(benchBody)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := q.Put(ctx, ev); err != nil {
			b.Fatal(err)
		}
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	b.StopTimer()
	cpu, sw := processUsage(b)
	wakes := consumerWakeups(q) - wake0
	cancel()
	if err := <-consumed; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(wakes)/float64(b.N), "wakeups/op")
	b.ReportMetric(float64((cpu-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(sw-sw0)/float64(b.N), "ctxsw/op")
}

// queueOpener opens a queue for a benchmark; name names it.
type queueOpener struct {
	name string
	open func(b *testing.B) Queue
}

// waitingQueues are the queues of the waiting-consumer benchmarks: the
// memory queue of the default size, and the disk queue with fsync policy.
func waitingQueues(fsync string) []queueOpener {
	return []queueOpener{
		{name: "mem", open: func(b *testing.B) Queue {
			q, err := NewMemQueue(MemConfig{Events: 4096}, nil)
			if err != nil {
				b.Fatal(err)
			}
			return q
		}},
		{name: "disk", open: func(b *testing.B) Queue {
			cfg := diskConfig(b.TempDir())
			cfg.Fsync = fsync
			q, err := OpenDisk(cfg, "", nil)
			if err != nil {
				b.Fatal(err)
			}
			return q
		}},
	}
}

// BenchmarkTryPutWaitingConsumer is BenchmarkPutWaitingConsumer with TryPut,
// the capture goroutine's call: ns/op is what queueing one document costs
// the capture goroutine, cpu-ns/op what it costs the process (the disk
// queue's writer included), dropped/op the documents refused because the
// queue was full. pace=1000us puts one event a millisecond, as real exec
// rates do; pace=0us puts back to back.
func BenchmarkTryPutWaitingConsumer(b *testing.B) {
	for _, qt := range waitingQueues(FsyncInterval) { // the default policy, as the agent runs

		for _, pace := range []time.Duration{0, time.Millisecond} {
			b.Run(fmt.Sprintf("%s/pace=%dus", qt.name, pace.Microseconds()), func(b *testing.B) {
				q := qt.open(b)
				defer func() { _ = q.Close() }()
				benchTryPutWaiting(b, q, pace)
			})
		}
	}
}

func benchTryPutWaiting(b *testing.B, q Queue, pace time.Duration) {
	body := bytes.Repeat([]byte("x"), 2700) // an exec document with its parent's details
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumed := consume(ctx, q, FlushConfig{MinEvents: DefaultBatchSize, Timeout: time.Second})
	ev := Event{ID: "bench-00000001", Body: body}
	drop0 := q.Stats().Dropped
	cpu0, sw0 := processUsage(b)
	var busy time.Duration // in TryPut, the capture goroutine's share
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		q.TryPut(ev)
		busy += time.Since(start)
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	b.StopTimer()
	cpu, sw := processUsage(b)
	dropped := q.Stats().Dropped - drop0
	cancel()
	if err := <-consumed; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(busy.Nanoseconds())/float64(b.N), "tryput-ns/op")
	b.ReportMetric(float64((cpu-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(sw-sw0)/float64(b.N), "ctxsw/op")
	b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
}

// consume takes and acknowledges batches of q as Loop.Run does, with the
// flush settings fl, until ctx ends; it then sends nil, or Ack's error.
func consume(ctx context.Context, q Queue, fl FlushConfig) <-chan error {
	consumed := make(chan error, 1)
	go func() {
		for {
			bt, err := q.Get(ctx, fl.MinEvents, DefaultBatchSize, fl.Timeout)
			if err != nil {
				consumed <- nil
				return
			}
			if err := q.Ack(bt); err != nil {
				consumed <- err
				return
			}
		}
	}()
	return consumed
}

// processUsage returns the user+system CPU time of the whole process so far
// and its voluntary context switches.
func processUsage(b *testing.B) (time.Duration, int64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Nvcsw
}
