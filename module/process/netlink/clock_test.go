package netlink

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func monotonicNow(t *testing.T) uint64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

func TestClock(t *testing.T) {
	c, err := NewClock()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		before func()
	}{
		{name: "fresh"},
		{name: "after refresh of a stale offset", before: func() {
			c.offset.Add(int64(time.Hour))
			if err := c.Refresh(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			// A monotonic reading taken now must convert to about now.
			got := c.Time(monotonicNow(t))
			if d := time.Since(got).Abs(); d > 50*time.Millisecond {
				t.Errorf("Time(now) is %v off the wall clock (offset %v)", d, c.Offset())
			}
		})
	}
}
