package netlink

import (
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Clock converts the kernel's event timestamps to wall-clock time.
//
// proc_event.timestamp_ns is ktime_get_ns(), i.e. CLOCK_MONOTONIC, which
// has no relation to the calendar. Clock keeps the offset between
// CLOCK_REALTIME and CLOCK_MONOTONIC, measured at NewClock and again at
// each Refresh; call Refresh now and then (say once a minute) to follow
// clock steps and suspends. A Clock is safe for concurrent use.
type Clock struct {
	offset atomic.Int64 // realtime - monotonic, in ns
}

// NewClock returns a Clock with its offset measured now.
func NewClock() (*Clock, error) {
	c := &Clock{}
	if err := c.Refresh(); err != nil {
		return nil, err
	}
	return c, nil
}

// Refresh measures the realtime-monotonic offset again. It reads the
// monotonic clock on both sides of the realtime clock and uses the
// midpoint, so the error is at most half the (sub-microsecond) gap.
func (c *Clock) Refresh() error {
	var m1, r, m2 unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m1); err != nil {
		return fmt.Errorf("clock_gettime CLOCK_MONOTONIC: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &r); err != nil {
		return fmt.Errorf("clock_gettime CLOCK_REALTIME: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m2); err != nil {
		return fmt.Errorf("clock_gettime CLOCK_MONOTONIC: %w", err)
	}
	mono := m1.Nano() + (m2.Nano()-m1.Nano())/2
	c.offset.Store(r.Nano() - mono)
	return nil
}

// Time returns the wall-clock time of a monotonic timestamp in
// nanoseconds, such as Event.Timestamp.
func (c *Clock) Time(monotonicNS uint64) time.Time {
	return time.Unix(0, int64(monotonicNS)+c.offset.Load())
}

// Offset returns the current realtime-monotonic offset.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// kernelNow reads CLOCK_MONOTONIC, the clock of the events' timestamps
// (ktime_get_ns), without a system call: Go's monotonic clock is
// CLOCK_MONOTONIC read through the vDSO. The base is read before the Go
// clock, so ns is behind the kernel's clock by the gap between the two
// reads, never ahead: an early cutoff only holds events back a little.
type kernelNow struct {
	base   time.Time
	baseNS uint64
}

func newKernelNow() kernelNow {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return kernelNow{baseNS: uint64(ts.Nano()), base: time.Now()}
}

func (k kernelNow) ns() uint64 { return k.baseNS + uint64(time.Since(k.base)) }
