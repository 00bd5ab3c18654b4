package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func testEvent(i int) Event {
	return Event{ID: fmt.Sprintf("id-%06d", i), Body: fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, i, "xxxxxxxxxxxxxxxx")}
}

func testEvents(from, to int) []Event {
	var evs []Event
	for i := from; i < to; i++ {
		evs = append(evs, testEvent(i))
	}
	return evs
}

// ids returns the IDs of evs.
func ids(evs []Event) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return out
}

// cloneEvents deep-copies evs, whose bodies the queue may reuse.
func cloneEvents(evs []Event) []Event {
	out := make([]Event, len(evs))
	for i, ev := range evs {
		out[i] = Event{ID: ev.ID, Index: ev.Index, Body: append([]byte(nil), ev.Body...)}
	}
	return out
}

func putAll(t testing.TB, q Queue, evs []Event) {
	t.Helper()
	for _, ev := range evs {
		if err := q.Put(context.Background(), ev); err != nil {
			t.Fatalf("Put(%s) = %v", ev.ID, err)
		}
	}
}

// drain takes and acknowledges every event in q until none is ready within
// a short wait, returning copies of them.
func drain(t testing.TB, q Queue, batch int) []Event {
	t.Helper()
	var got []Event
	for q.Stats().Events > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := q.Get(ctx, 1, batch, 0)
		cancel()
		if err != nil {
			t.Fatalf("Get() = %v with %d events queued", err, q.Stats().Events)
		}
		got = append(got, cloneEvents(b.Events)...)
		if err := q.Ack(b); err != nil {
			t.Fatalf("Ack() = %v", err)
		}
	}
	return got
}

var errFake = errors.New("fake output failure")

// fakeOutput records what it is given. It fails the first failFirst calls,
// and blocks until ctx ends while block is set.
type fakeOutput struct {
	mu        sync.Mutex
	failFirst int
	block     bool
	calls     int
	got       []Event
	onPublish func(batch []Event, acceptedBefore int) // called from Publish
}

func (o *fakeOutput) Publish(ctx context.Context, batch []Event) error {
	o.mu.Lock()
	o.calls++
	fail, block, hook, before := o.calls <= o.failFirst, o.block, o.onPublish, len(o.got)
	o.mu.Unlock()
	if hook != nil {
		hook(batch, before)
	}
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail {
		return errFake
	}
	o.mu.Lock()
	o.got = append(o.got, cloneEvents(batch)...)
	o.mu.Unlock()
	return nil
}

func (o *fakeOutput) Close() error { return nil }

func (o *fakeOutput) events() []Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Event(nil), o.got...)
}

// consumerWait returns the consumer's wait of either queue.
func (l *ledger) consumerWait() *batchWait { return l.wait }

// runLoop runs a delivery loop from q to out with small, fast batches, as
// the concurrency tests want, until stop: stop waits until q has
// acknowledged acked events (20 s at most), ends Run and fails the test on
// its error.
func runLoop(t *testing.T, q Queue, out Output) (stop func(acked uint64)) {
	t.Helper()
	loop := NewLoop(q, out, LoopConfig{Flush: FlushConfig{MinEvents: 10, Timeout: time.Millisecond}, BatchSize: 17}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- loop.Run(ctx) }()
	return func(acked uint64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for q.Stats().Acked < acked && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
		if err := <-runErr; err != nil {
			t.Fatalf("Run() = %v", err)
		}
	}
}
