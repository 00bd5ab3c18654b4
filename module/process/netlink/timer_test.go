package netlink

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPeriodTimer checks the storm's clock: a wait returns at the next
// period, not before; a period that passed unwaited-for is taken at once;
// a stopped timer leaves a wait blocked until Close wakes it.
func TestPeriodTimer(t *testing.T) {
	const period = 20 * time.Millisecond
	tm, err := newPeriodTimer(-1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.set(period); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		if woken, err := tm.wait(); err != nil || woken {
			t.Fatalf("wait %d: woken %v, %v", i, woken, err)
		}
		// The first period runs from set; each later one from the last
		// expiration, so a wait lasts at most a period (plus scheduling).
		if took := time.Since(start); took > period+time.Second {
			t.Errorf("wait %d took %v, want about %v", i, took, period)
		}
	}
	time.Sleep(2 * period) // expirations pass unwaited-for
	start := time.Now()
	if _, err := tm.wait(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > period/2 {
		t.Errorf("a wait after missed periods took %v, want at once", took)
	}

	if err := tm.set(0); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := tm.wait()
		done <- err
	}()
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

// TestPeriodTimerWaker: the Waker's signal ends a wait long before the
// period, and says so; a level it leaves behind (an eventfd still
// readable) ends no later wait: only its edges count.
func TestPeriodTimerWaker(t *testing.T) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	tm, err := newPeriodTimer(efd)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.close()
	const period = time.Hour
	if err := tm.set(period); err != nil {
		t.Fatal(err)
	}
	signal := func() {
		if _, err := unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 { // never read: the eventfd stays readable
		go func() { time.Sleep(20 * time.Millisecond); signal() }()
		if woken, err := tm.wait(); err != nil || !woken {
			t.Fatalf("wait %d: woken %v, %v; want woken", i, woken, err)
		}
	}
	if err := tm.setFirst(30*time.Millisecond, period); err != nil {
		t.Fatal(err)
	}
	if woken, err := tm.wait(); err != nil || woken {
		t.Fatalf("a wait with the waker readable but not signalled: woken %v, %v; want the timer", woken, err)
	}
}
