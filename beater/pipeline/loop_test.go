package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// queueKinds builds each Queue implementation for the tests that hold for both.
var queueKinds = []struct {
	name string
	open func(t *testing.T) Queue
}{
	{name: "memory", open: func(t *testing.T) Queue { return newMem(t, 256) }},
	{name: "disk", open: func(t *testing.T) Queue {
		cfg := diskConfig(t.TempDir())
		cfg.SegmentSize = MinSegmentSize
		return openDisk(t, cfg)
	}},
}

func fastLoop(q Queue, out Output, batch int) *Loop {
	return NewLoop(q, out, LoopConfig{
		Flush:      FlushConfig{MinEvents: 1},
		BatchSize:  batch,
		RetryDelay: time.Millisecond,
		MaxDelay:   4 * time.Millisecond,
	}, nil)
}

func TestLoopRetriesWithoutAckingEarly(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int
		n, batch  int
	}{
		{name: "no failures", n: 50, batch: 8},
		{name: "first call fails", failFirst: 1, n: 50, batch: 8},
		{name: "fails five times", failFirst: 5, n: 50, batch: 8},
		{name: "one event batches", failFirst: 3, n: 10, batch: 1},
	}
	for _, kind := range queueKinds {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				q := kind.open(t)
				want := testEvents(0, tt.n)
				putAll(t, q, want)
				out := &fakeOutput{failFirst: tt.failFirst}
				var early []string // written by the loop goroutine, read after Run returns
				out.onPublish = func(batch []Event, acceptedBefore int) {
					// Exactly what the output accepted before is acknowledged,
					// and this batch is still queued.
					st := q.Stats()
					if st.Acked != uint64(acceptedBefore) || st.Events < int64(len(batch)) {
						early = append(early, fmt.Sprintf("publish of %s: acked %d, accepted %d, queued %d", batch[0].ID, st.Acked, acceptedBefore, st.Events))
					}
				}
				loop := fastLoop(q, out, tt.batch)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- loop.Run(ctx) }()
				deadline := time.Now().Add(10 * time.Second)
				for q.Stats().Acked < uint64(tt.n) && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("Run() = %v", err)
				}
				if diff := cmp.Diff(want, out.events()); diff != "" {
					t.Errorf("delivered (-want +got):\n%s", diff)
				}
				st, ls := q.Stats(), loop.Stats()
				if st.Acked != uint64(tt.n) || st.Events != 0 {
					t.Errorf("queue Stats() = %+v, want all %d acked", st, tt.n)
				}
				if ls.Failures != uint64(tt.failFirst) || ls.Events != uint64(tt.n) {
					t.Errorf("loop Stats() = %+v, want %d failures, %d events", ls, tt.failFirst, tt.n)
				}
				if diff := cmp.Diff([]string(nil), early); diff != "" {
					t.Errorf("acknowledged before the output accepted (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestLoopStopsWithoutAcking(t *testing.T) {
	for _, kind := range queueKinds {
		t.Run(kind.name, func(t *testing.T) {
			q := kind.open(t)
			want := testEvents(0, 20)
			putAll(t, q, want)
			out := &fakeOutput{block: true}
			loop := fastLoop(q, out, 5)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- loop.Run(ctx) }()
			time.Sleep(30 * time.Millisecond)
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run() = %v, want nil on ctx end", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not stop when ctx ended")
			}
			if st := q.Stats(); st.Acked != 0 || st.Events != 20 {
				t.Fatalf("after a cancelled Publish: Stats() = %+v, want nothing acked, 20 queued", st)
			}

			// Shutdown: drain what is queued, the abandoned batch first.
			out.mu.Lock()
			out.block = false
			out.mu.Unlock()
			dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer dcancel()
			if err := loop.Drain(dctx); err != nil {
				t.Fatalf("Drain() = %v", err)
			}
			if diff := cmp.Diff(want, out.events()); diff != "" {
				t.Errorf("drained (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoopDrainDeadline(t *testing.T) {
	q := newMem(t, 64)
	putAll(t, q, testEvents(0, 10))
	out := &fakeOutput{block: true}
	loop := fastLoop(q, out, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := loop.Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain() with a stuck output = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Drain overran its deadline: %v", took)
	}
	if st := q.Stats(); st.Events != 10 || st.Acked != 0 {
		t.Errorf("Stats() = %+v, want all 10 still queued", st)
	}
}

func TestLoopFlushTimeout(t *testing.T) {
	// Fewer events than min_events still go out after flush.timeout.
	q := newMem(t, 64)
	out := &fakeOutput{}
	loop := NewLoop(q, out, LoopConfig{Flush: FlushConfig{MinEvents: 50, Timeout: 40 * time.Millisecond}, BatchSize: 100}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = loop.Run(ctx) }()
	putAll(t, q, testEvents(0, 3))
	start := time.Now()
	for len(out.events()) < 3 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("events below min_events never flushed")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("flushed after %v, before flush.timeout 40ms", took)
	}
	if got := loop.Stats().Published; got != 1 {
		t.Errorf("Published = %d batches, want 1", got)
	}
}

func TestOpen(t *testing.T) {
	data := t.TempDir()
	disk := DefaultDiskConfig()
	mem := DefaultMemConfig()
	tests := []struct {
		name     string
		cfg      Config
		wantDisk bool
		wantErr  error
	}{
		{name: "default is memory", cfg: DefaultConfig()},
		{name: "memory", cfg: Config{Mem: &mem}},
		{name: "disk", cfg: Config{Disk: &disk}, wantDisk: true},
		{name: "both", cfg: Config{Mem: &mem, Disk: &disk}, wantErr: ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Open(tt.cfg, data, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open() = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if q != nil {
					t.Errorf("Open() returned a queue with an error")
				}
				return
			}
			defer func() { _ = q.Close() }()
			if _, isDisk := q.(*DiskQueue); isDisk != tt.wantDisk {
				t.Errorf("Open() = %T, want disk %v", q, tt.wantDisk)
			}
		})
	}
}

// TestLoopDrainThenClose is the beater's shutdown: once Run has returned,
// Drain delivers what is queued, whichever the queue, and Close ends it.
func TestLoopDrainThenClose(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			var q Queue
			cfg := diskConfig(t.TempDir())
			if disk {
				q = openDisk(t, cfg)
			} else {
				q = newMem(t, 64)
			}
			putAll(t, q, testEvents(0, 30))
			out := &fakeOutput{}
			loop := fastLoop(q, out, 8)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := loop.Drain(ctx); err != nil {
				t.Fatalf("Drain() = %v", err)
			}
			if err := q.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			if diff := cmp.Diff(ids(testEvents(0, 30)), ids(out.events())); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if err := q.Put(context.Background(), testEvent(99)); !errors.Is(err, ErrClosed) {
				t.Errorf("Put after Close = %v, want ErrClosed", err)
			}
			if disk {
				if got := openDisk(t, cfg).Stats().Events; got != 0 {
					t.Errorf("reopened disk queue holds %d events, want 0", got)
				}
			}
		})
	}
}

// TestConcurrentProducerConsumer runs producers against the delivery loop
// with a queue small enough that they keep hitting the bound (and the disk
// queue keeps rolling and deleting segments under the reader).
func TestConcurrentProducerConsumer(t *testing.T) {
	const n = 3000
	tests := []struct {
		name string
		open func(t *testing.T) Queue
	}{
		{name: "memory", open: func(t *testing.T) Queue { return newMem(t, 32) }},
		{name: "disk", open: func(t *testing.T) Queue {
			cfg := diskConfig(t.TempDir())
			cfg.SegmentSize = MinSegmentSize
			cfg.MaxSize = 3 * MinSegmentSize
			return openDisk(t, cfg)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.open(t)
			out := &fakeOutput{}
			stop := runLoop(t, q, out)
			want := testEvents(0, n)
			for _, ev := range want {
				if err := q.Put(context.Background(), ev); err != nil {
					t.Fatalf("Put() = %v", err)
				}
			}
			stop(n)
			if diff := cmp.Diff(ids(want), ids(out.events())); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if st := q.Stats(); st.Events != 0 || st.Dropped != 0 || st.TornSkipped != 0 {
				t.Errorf("Stats() = %+v, want empty, nothing dropped or torn", st)
			}
		})
	}
}
