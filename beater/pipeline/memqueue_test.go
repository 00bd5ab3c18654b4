package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newMem(t testing.TB, events int) *MemQueue {
	t.Helper()
	q, err := NewMemQueue(MemConfig{Events: events}, nil)
	if err != nil {
		t.Fatalf("NewMemQueue() = %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func TestMemQueueOrder(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		n        int
		batch    int
	}{
		{name: "one batch", capacity: 16, n: 10, batch: 16},
		{name: "several batches", capacity: 16, n: 16, batch: 3},
		{name: "one at a time", capacity: 4, n: 4, batch: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newMem(t, tt.capacity)
			// Twice round the ring so that wrap-around is exercised.
			for round := range 2 {
				want := testEvents(round*tt.n, (round+1)*tt.n)
				putAll(t, q, want)
				got := drain(t, q, tt.batch)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("round %d events (-want +got):\n%s", round, diff)
				}
			}
			st := q.Stats()
			if st.EventsIn != uint64(2*tt.n) || st.Acked != uint64(2*tt.n) || st.Events != 0 || st.Bytes != 0 {
				t.Errorf("Stats() = %+v, want %d in and acked, empty", st, 2*tt.n)
			}
		})
	}
}

func TestMemQueueBatching(t *testing.T) {
	tests := []struct {
		name      string
		queued    int
		later     int // events put 30ms after Get starts
		min, max  int
		timeout   time.Duration
		wantLen   int
		wantAtMin time.Duration // Get took at least this long
		wantAtMax time.Duration // and at most this long
	}{
		{name: "min reached returns at once", queued: 10, min: 5, max: 100, timeout: time.Hour, wantLen: 10, wantAtMax: time.Second},
		{name: "max caps the batch", queued: 10, min: 5, max: 4, timeout: time.Hour, wantLen: 4, wantAtMax: time.Second},
		{name: "min 0 sends at once", queued: 1, min: 0, max: 100, timeout: time.Hour, wantLen: 1, wantAtMax: time.Second},
		{name: "min 1 sends at once", queued: 1, min: 1, max: 100, timeout: time.Hour, wantLen: 1, wantAtMax: time.Second},
		{name: "below min waits for the timeout", queued: 3, min: 5, max: 100, timeout: 100 * time.Millisecond, wantLen: 3, wantAtMin: 90 * time.Millisecond, wantAtMax: 2 * time.Second},
		{name: "filling up to min ends the wait", queued: 3, later: 2, min: 5, max: 100, timeout: time.Hour, wantLen: 5, wantAtMin: 25 * time.Millisecond, wantAtMax: 2 * time.Second},
		{name: "empty queue waits for the first event", later: 1, min: 1, max: 100, timeout: time.Hour, wantLen: 1, wantAtMin: 25 * time.Millisecond, wantAtMax: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newMem(t, 64)
			putAll(t, q, testEvents(0, tt.queued))
			if tt.later > 0 {
				go func() {
					time.Sleep(30 * time.Millisecond)
					for _, ev := range testEvents(tt.queued, tt.queued+tt.later) {
						_ = q.Put(context.Background(), ev)
					}
				}()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			b, err := q.Get(ctx, tt.min, tt.max, tt.timeout)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("Get() = %v", err)
			}
			if diff := cmp.Diff(ids(testEvents(0, tt.wantLen)), ids(b.Events)); diff != "" {
				t.Errorf("batch (-want +got):\n%s", diff)
			}
			if took < tt.wantAtMin || took > tt.wantAtMax {
				t.Errorf("Get took %v, want between %v and %v", took, tt.wantAtMin, tt.wantAtMax)
			}
		})
	}
}

func TestMemQueueBound(t *testing.T) {
	q := newMem(t, 4)
	putAll(t, q, testEvents(0, 4))

	if q.TryPut(testEvent(4)) {
		t.Fatal("TryPut on a full queue = true, want false")
	}
	if got := q.Stats().Dropped; got != 1 {
		t.Errorf("Dropped after a refused TryPut = %d, want 1", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	err := q.Put(ctx, testEvent(4))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put on a full queue = %v, want context.DeadlineExceeded", err)
	}

	// Handed out but not acknowledged still counts against the bound.
	b, err := q.Get(context.Background(), 1, 2, 0)
	if err != nil {
		t.Fatalf("Get() = %v", err)
	}
	if q.TryPut(testEvent(4)) {
		t.Fatal("TryPut with unacknowledged events filling the queue = true, want false")
	}

	done := make(chan error, 1)
	go func() { done <- q.Put(context.Background(), testEvent(4)) }()
	select {
	case err := <-done:
		t.Fatalf("Put returned %v on a full queue, want it to block", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := q.Ack(b); err != nil {
		t.Fatalf("Ack() = %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("blocked Put after Ack = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Put still blocked after Ack freed room")
	}
	got := drain(t, q, 10)
	if diff := cmp.Diff(ids(testEvents(2, 5)), ids(got)); diff != "" {
		t.Errorf("remaining events (-want +got):\n%s", diff)
	}
	if st := q.Stats(); st.Dropped != 2 || st.Rejected != 1 || st.EventsIn != 5 {
		t.Errorf("Stats() = %+v, want Dropped 2 (two TryPuts), Rejected 1 (Put timeout) and EventsIn 5", st)
	}
}

func TestMemQueueAck(t *testing.T) {
	q := newMem(t, 16)
	putAll(t, q, testEvents(0, 6))
	b1, _ := q.Get(context.Background(), 1, 2, 0)
	b2, _ := q.Get(context.Background(), 1, 2, 0)
	if err := q.Ack(b2); !errors.Is(err, ErrAckOrder) {
		t.Errorf("Ack(second batch first) = %v, want ErrAckOrder", err)
	}
	if err := q.Ack(b1); err != nil {
		t.Fatalf("Ack(b1) = %v", err)
	}
	if err := q.Ack(b1); !errors.Is(err, ErrAckOrder) {
		t.Errorf("Ack(b1) twice = %v, want ErrAckOrder", err)
	}
	st := q.Stats()
	if st.Acked != 2 || st.Batches != 1 || st.Events != 4 {
		t.Errorf("Stats() = %+v, want Acked 2, Batches 1, Events 4", st)
	}
	if st.OldestUnacked <= 0 {
		t.Errorf("OldestUnacked = %v, want > 0 with events queued", st.OldestUnacked)
	}
	// b2 was handed out, never acknowledged: Rewind gives it again.
	q.Rewind()
	got := drain(t, q, 10)
	if diff := cmp.Diff(ids(testEvents(2, 6)), ids(got)); diff != "" {
		t.Errorf("after Rewind (-want +got):\n%s", diff)
	}
	if st := q.Stats(); st.OldestUnacked != 0 {
		t.Errorf("OldestUnacked on an empty queue = %v, want 0", st.OldestUnacked)
	}
}

func TestMemQueueClose(t *testing.T) {
	q := newMem(t, 2)
	putAll(t, q, testEvents(0, 2))
	putErr := make(chan error, 1)
	go func() { putErr <- q.Put(context.Background(), testEvent(2)) }()

	q2 := newMem(t, 2)
	getErr := make(chan error, 1)
	go func() {
		_, err := q2.Get(context.Background(), 1, 1, 0)
		getErr <- err
	}()
	time.Sleep(20 * time.Millisecond)
	for _, c := range []*MemQueue{q, q2} {
		if err := c.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close() = %v", err)
		}
	}
	for name, c := range map[string]chan error{"Put": putErr, "Get": getErr} {
		select {
		case err := <-c:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("blocked %s after Close = %v, want ErrClosed", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("blocked %s not woken by Close", name)
		}
	}
	if q.TryPut(testEvent(9)) {
		t.Error("TryPut after Close = true")
	}
	// Two discarded at Close; the Put woken by Close and the TryPut after it rejected.
	if st := q.Stats(); st.Dropped != 2 || st.Rejected != 2 {
		t.Errorf("Stats() = %+v, want Dropped 2, Rejected 2", st)
	}
}

// TestMemQueueCopiesBodies checks that a producer may reuse its buffer at
// once, and that once the queue has been as full as it gets, queueing
// allocates nothing: acknowledged bodies' buffers are reused.
func TestMemQueueCopiesBodies(t *testing.T) {
	q := newMem(t, 4)
	buf := []byte(`{"n":0}`)
	for round := range 3 {
		for i := range 4 {
			buf = fmt.Appendf(buf[:0], `{"n":%d}`, 4*round+i)
			if !q.TryPut(Event{ID: "id", Body: buf}) {
				t.Fatal("TryPut refused")
			}
		}
		buf = append(buf[:0], "overwritten"...)
		b, err := q.Get(context.Background(), 4, 4, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range b.Events {
			if want := fmt.Sprintf(`{"n":%d}`, 4*round+i); string(ev.Body) != want {
				t.Errorf("round %d event %d body %q, want %q", round, i, ev.Body, want)
			}
		}
		if err := q.Ack(b); err != nil {
			t.Fatal(err)
		}
	}
	body := []byte(`{"n":12}`)
	if allocs := testing.AllocsPerRun(100, func() {
		if !q.TryPut(Event{ID: "id", Body: body}) {
			t.Fatal("TryPut refused")
		}
		b, err := q.Get(context.Background(), 1, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Ack(b); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("TryPut, Get and Ack allocate %.1f times per event after the ring went round, want 0", allocs)
	}
}

// TestMemQueueReusesLastFreed checks that a queue that never holds more
// than one event keeps reusing one body buffer as its ring goes round,
// rather than touching a buffer per slot: the memory it faults in follows
// its depth, not its capacity.
func TestMemQueueReusesLastFreed(t *testing.T) {
	q := newMem(t, 64)
	buffers := make(map[*byte]bool)
	for i := range 200 {
		if !q.TryPut(Event{ID: "id", Body: fmt.Appendf(nil, `{"n":%d}`, i%10)}) {
			t.Fatal("TryPut refused")
		}
		b, err := q.Get(context.Background(), 1, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		buffers[&b.Events[0].Body[:1][0]] = true
		if err := q.Ack(b); err != nil {
			t.Fatal(err)
		}
	}
	if len(buffers) != 1 {
		t.Errorf("200 events queued one at a time used %d body buffers, want 1", len(buffers))
	}
}
