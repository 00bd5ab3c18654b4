package netlink

import (
	"errors"
	"os"
	"testing"
	"time"
)

// openTest opens the real proc connector and closes it at the end of t.
func openTest(t *testing.T, opts Options) *Conn {
	t.Helper()
	c, err := Open(opts, nil)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// receiveUntil receives events, passing each to fn, until fn returns true
// or timeout passes. ErrLost is tolerated (reported to onLost, if set).
// It reports whether fn returned true.
func receiveUntil(t *testing.T, c *Conn, timeout time.Duration, onLost func(), fn func(Event) bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	if err := c.SetReadDeadline(deadline); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	for {
		events, err := c.Receive()
		switch {
		case errors.Is(err, ErrLost):
			if onLost != nil {
				onLost()
			}
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			return false
		case err != nil:
			t.Fatalf("Receive: %v", err)
		}
		for _, e := range events {
			if fn(e) {
				return true
			}
		}
	}
}
