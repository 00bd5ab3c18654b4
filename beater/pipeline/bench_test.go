package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
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
