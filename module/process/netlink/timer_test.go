package netlink

import (
	"testing"
	"time"
)

// TestPeriodTimer checks the storm's clock: a wait returns at the next
// period, not before; a period that passed unwaited-for is taken at once;
// a stopped timer leaves a wait blocked until Close wakes it.
func TestPeriodTimer(t *testing.T) {
	const period = 20 * time.Millisecond
	tm, err := newPeriodTimer()
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.set(period); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		if err := tm.wait(); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
		// The first period runs from set; each later one from the last
		// expiration, so a wait lasts at most a period (plus scheduling).
		if took := time.Since(start); took > period+time.Second {
			t.Errorf("wait %d took %v, want about %v", i, took, period)
		}
	}
	time.Sleep(2 * period) // expirations pass unwaited-for
	start := time.Now()
	if err := tm.wait(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > period/2 {
		t.Errorf("a wait after missed periods took %v, want at once", took)
	}

	if err := tm.set(0); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tm.wait() }()
	select {
	case err := <-done:
		t.Fatalf("a stopped timer's wait returned (%v)", err)
	case <-time.After(5 * period):
	}
	if err := tm.close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("wait returned nil after close, want an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("close did not wake the wait")
	}
	if err := tm.close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}
