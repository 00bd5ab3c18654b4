package pipeline

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// queueWait returns q's batch wait: both queues keep it in their ledger.
func queueWait(t testing.TB, q Queue) *batchWait {
	t.Helper()
	l, ok := q.(interface{ consumerWait() *batchWait })
	if !ok {
		t.Fatalf("no batch wait in %T", q)
	}
	return l.consumerWait()
}

// consumerWakeups returns how many times q's consumer has woken from its
// wait for a batch.
func consumerWakeups(q Queue) uint64 {
	if l, ok := q.(interface{ consumerWait() *batchWait }); ok {
		return l.consumerWait().wakeups.Load()
	}
	return 0
}

// waitForGet blocks until a Get is waiting on w for want ready events.
func waitForGet(t testing.TB, w *batchWait, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		w.mu.Lock()
		got := w.want
		w.mu.Unlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Get waiting for %d events (want = %d)", want, got)
		}
		time.Sleep(time.Millisecond)
	}
}

type getResult struct {
	batch Batch // its Events are the queue's: use ids
	ids   []string
	err   error
	at    time.Time
}

// getAsync runs one Get in a goroutine and delivers what it returned,
// copied, and when.
func getAsync(ctx context.Context, q Queue, minEvents, maxEvents int, flushTimeout time.Duration) <-chan getResult {
	c := make(chan getResult, 1)
	go func() {
		b, err := q.Get(ctx, minEvents, maxEvents, flushTimeout)
		c <- getResult{batch: b, ids: ids(b.Events), err: err, at: time.Now()}
	}()
	return c
}

func receive(t testing.TB, c <-chan getResult, within time.Duration) getResult {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(within):
		t.Fatalf("Get did not return within %v", within)
		return getResult{}
	}
}

var testQueues = []struct {
	name string
	open func(t *testing.T) Queue
}{
	{name: "memory", open: func(t *testing.T) Queue { return newMem(t, 4096) }},
	{name: "disk", open: func(t *testing.T) Queue { return openDisk(t, diskConfig(t.TempDir())) }},
}

// TestGetWakeups checks that producers wake a waiting Get only when it can
// act: for the first event (to arm the flush timer) and when min_events is
// reached, not for every event in between.
func TestGetWakeups(t *testing.T) {
	type counts struct {
		Partial  uint64 // wake-ups after 1000 of 1600 events
		Full     uint64 // wake-ups once all 1600 are in
		BatchLen int
	}
	for _, qt := range testQueues {
		t.Run(qt.name, func(t *testing.T) {
			q := qt.open(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res := getAsync(ctx, q, DefaultBatchSize, DefaultBatchSize, time.Hour)
			waitForGet(t, queueWait(t, q), 1)
			for _, ev := range testEvents(0, 1000) {
				if err := q.Put(ctx, ev); err != nil {
					t.Fatalf("Put(%s) = %v", ev.ID, err)
				}
				// Let the consumer run after each event, as it would at
				// real exec rates, so that a wake-up per event would show.
				runtime.Gosched()
			}
			waitForGet(t, queueWait(t, q), DefaultBatchSize)
			time.Sleep(20 * time.Millisecond) // room for wake-ups in flight
			select {
			case r := <-res:
				t.Fatalf("Get returned %d events, %v before min_events", len(r.ids), r.err)
			default:
			}
			var got counts
			got.Partial = consumerWakeups(q)
			putAll(t, q, testEvents(1000, DefaultBatchSize))
			r := receive(t, res, 5*time.Second)
			if r.err != nil {
				t.Fatalf("Get() = %v", r.err)
			}
			got.Full, got.BatchLen = consumerWakeups(q), len(r.ids)
			want := counts{Partial: 1, Full: 2, BatchLen: DefaultBatchSize}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("consumer wake-ups (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGetPrompt checks that with min_events 1 a waiting Get returns each
// event as it arrives, woken once for it.
func TestGetPrompt(t *testing.T) {
	const n = 20
	for _, qt := range testQueues {
		t.Run(qt.name, func(t *testing.T) {
			q := qt.open(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var got []string
			var slowest time.Duration
			for i := range n {
				res := getAsync(ctx, q, 1, 100, time.Hour)
				waitForGet(t, queueWait(t, q), 1)
				put := time.Now()
				putAll(t, q, testEvents(i, i+1))
				r := receive(t, res, 5*time.Second)
				if r.err != nil {
					t.Fatalf("Get() = %v", r.err)
				}
				slowest = max(slowest, r.at.Sub(put))
				got = append(got, r.ids...)
				if err := q.Ack(r.batch); err != nil {
					t.Fatalf("Ack() = %v", err)
				}
			}
			if diff := cmp.Diff(ids(testEvents(0, n)), got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if w := consumerWakeups(q); w != n {
				t.Errorf("consumer woke %d times for %d events, want once each", w, n)
			}
			// Generous: a loaded CI machine schedules late, but a Get that
			// waited for a timer or a later event would take an hour.
			if slowest > time.Second {
				t.Errorf("slowest Get returned %v after its event was put", slowest)
			}
		})
	}
}

// TestGetWakeEvents checks what ends a waiting Get other than the data it
// asked for: flush.timeout counted from the oldest ready event, Close, ctx,
// and (memory queue) a Rewind from another goroutine.
func TestGetWakeEvents(t *testing.T) {
	tests := []struct {
		name    string
		queued  int           // put before Get
		min     int           // Get's minEvents
		timeout time.Duration // Get's flushTimeout
		act     func(q Queue, cancel context.CancelFunc)
		wantIDs []string
		wantErr error
		atLeast time.Duration // Get took at least this long
	}{
		{
			name: "timeout counts from the oldest", queued: 3, min: 10, timeout: 80 * time.Millisecond,
			act:     func(Queue, context.CancelFunc) {},
			wantIDs: ids(testEvents(0, 3)), atLeast: 70 * time.Millisecond,
		},
		{
			name: "first event arms the timer", min: 10, timeout: 80 * time.Millisecond,
			act: func(q Queue, _ context.CancelFunc) {
				for _, ev := range testEvents(0, 2) {
					_ = q.Put(context.Background(), ev)
				}
			},
			wantIDs: ids(testEvents(0, 2)), atLeast: 70 * time.Millisecond,
		},
		{
			name: "close", queued: 1, min: 10, timeout: time.Hour,
			act:     func(q Queue, _ context.CancelFunc) { _ = q.Close() },
			wantErr: ErrClosed,
		},
		{
			name: "close on empty", min: 1, timeout: time.Hour,
			act:     func(q Queue, _ context.CancelFunc) { _ = q.Close() },
			wantErr: ErrClosed,
		},
		{
			name: "ctx", queued: 1, min: 10, timeout: time.Hour,
			act:     func(_ Queue, cancel context.CancelFunc) { cancel() },
			wantErr: context.Canceled,
		},
	}
	for _, qt := range testQueues {
		for _, tt := range tests {
			t.Run(qt.name+"/"+tt.name, func(t *testing.T) {
				q := qt.open(t)
				putAll(t, q, testEvents(0, tt.queued))
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				start := time.Now()
				res := getAsync(ctx, q, tt.min, 100, tt.timeout)
				want := uint64(1)
				if tt.queued > 0 {
					want = uint64(tt.min)
				}
				waitForGet(t, queueWait(t, q), want)
				tt.act(q, cancel)
				r := receive(t, res, 5*time.Second)
				if !errors.Is(r.err, tt.wantErr) {
					t.Fatalf("Get() = %v, want %v", r.err, tt.wantErr)
				}
				if diff := cmp.Diff(tt.wantIDs, r.ids, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("batch (-want +got):\n%s", diff)
				}
				if took := r.at.Sub(start); took < tt.atLeast {
					t.Errorf("Get took %v, want at least %v", took, tt.atLeast)
				}
			})
		}
	}
}

// TestMemQueueRewindWakesGet checks that a Rewind from another goroutine
// wakes a waiting Get: the events it makes ready again were put long ago,
// so their flush deadline has passed or min_events is met. (The disk
// queue's Rewind waits for a running Get to return: it is the consumer's.)
func TestMemQueueRewindWakesGet(t *testing.T) {
	tests := []struct {
		name    string
		age     time.Duration // of the handed-out events when Get starts
		min     int
		timeout time.Duration
	}{
		{name: "min reached", min: 3, timeout: time.Hour},
		{name: "deadline passed", age: 50 * time.Millisecond, min: 10, timeout: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newMem(t, 16)
			putAll(t, q, testEvents(0, 3))
			if _, err := q.Get(context.Background(), 1, 10, 0); err != nil {
				t.Fatalf("Get() = %v", err)
			}
			time.Sleep(tt.age)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res := getAsync(ctx, q, tt.min, 10, tt.timeout)
			waitForGet(t, q.wait, 1)
			q.Rewind()
			r := receive(t, res, 5*time.Second)
			if r.err != nil {
				t.Fatalf("Get() after Rewind = %v", r.err)
			}
			if diff := cmp.Diff(ids(testEvents(0, 3)), r.ids); diff != "" {
				t.Errorf("batch after Rewind (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeReady is a queue state for testing batchWait alone.
type fakeReady struct {
	mu      sync.Mutex
	closing chan struct{}
	ready   uint64
	oldest  int64
	closed  bool
}

func (f *fakeReady) state() (uint64, int64, bool) { return f.ready, f.oldest, f.closed }

// TestBatchWaitSignal checks the bookkeeping between producers and the
// consumer: who is woken for what, and that a signal the consumer did not
// receive is not left behind to wake its next wait for nothing.
func TestBatchWaitSignal(t *testing.T) {
	type step struct {
		op    string // "want" (consumer asks for n), "notify" (ready is n), "wake", "settle"
		n     uint64
		token bool // a signal is pending after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "below the request no signal", steps: []step{
			{op: "want", n: 5}, {op: "notify", n: 1}, {op: "notify", n: 4},
		}},
		{name: "request met signals once", steps: []step{
			{op: "want", n: 5}, {op: "notify", n: 5, token: true}, {op: "notify", n: 6, token: true},
		}},
		{name: "no request no signal", steps: []step{
			{op: "notify", n: 1}, {op: "wake"},
		}},
		{name: "jump past the request signals", steps: []step{
			{op: "want", n: 1}, {op: "notify", n: 100, token: true},
		}},
		{name: "wake signals whatever the request", steps: []step{
			{op: "want", n: 1600}, {op: "wake", token: true},
		}},
		{name: "settle takes a missed signal", steps: []step{
			{op: "want", n: 2}, {op: "notify", n: 2, token: true}, {op: "settle"}, {op: "want", n: 3}, {op: "notify", n: 2},
		}},
		{name: "settle withdraws the request", steps: []step{
			{op: "want", n: 2}, {op: "settle"}, {op: "notify", n: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeReady{closing: make(chan struct{})}
			w := newBatchWait(&f.mu, f.closing, f.state)
			for i, s := range tt.steps {
				f.mu.Lock()
				switch s.op {
				case "want":
					w.want = s.n
				case "notify":
					w.notify(s.n)
				case "wake":
					w.wake()
				case "settle":
					w.settle()
				}
				f.mu.Unlock()
				if got := len(w.data) == 1; got != s.token {
					t.Fatalf("step %d %s(%d): signal pending = %v, want %v", i, s.op, s.n, got, s.token)
				}
			}
		})
	}
}

// TestBatchWaitAwait drives await through a fake queue state.
func TestBatchWaitAwait(t *testing.T) {
	now := time.Now().UnixNano()
	tests := []struct {
		name      string
		ready     uint64
		oldest    int64
		closed    bool
		min       int
		timeout   time.Duration
		wantReady uint64
		wantErr   error
	}{
		{name: "min met", ready: 5, oldest: now, min: 5, timeout: time.Hour, wantReady: 5},
		{name: "min 0 and one ready", ready: 1, oldest: now, min: 0, timeout: time.Hour, wantReady: 1},
		{name: "oldest past its deadline", ready: 2, oldest: now - int64(time.Second), min: 5, timeout: time.Millisecond, wantReady: 2},
		{name: "zero timeout", ready: 2, oldest: now, min: 5, timeout: 0, wantReady: 2},
		{name: "closed", ready: 5, oldest: now, min: 1, closed: true, wantErr: ErrClosed},
		{name: "waits and times out", ready: 2, oldest: now, min: 5, timeout: 20 * time.Millisecond, wantReady: 2},
		{name: "empty waits until ctx ends", min: 1, timeout: time.Millisecond, wantErr: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeReady{closing: make(chan struct{}), ready: tt.ready, oldest: tt.oldest, closed: tt.closed}
			w := newBatchWait(&f.mu, f.closing, f.state)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			got, err := w.await(ctx, tt.min, tt.timeout)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("await() = %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				f.mu.Unlock() // await returns with it held
			}
			if got != tt.wantReady {
				t.Errorf("await() = %d ready, want %d", got, tt.wantReady)
			}
			if !f.mu.TryLock() {
				t.Fatal("queue mutex still held after await")
			}
			defer f.mu.Unlock()
			if w.want != 0 || len(w.data) != 0 {
				t.Errorf("after await: want = %d, signal pending = %v; want neither", w.want, len(w.data) == 1)
			}
		})
	}
}
