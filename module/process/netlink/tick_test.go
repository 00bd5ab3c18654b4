package netlink

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// TestNextTick checks the side socket's tick: back to sideTickMin after a
// tick that found events, doubling up to sideTickMax while ticks find none.
func TestNextTick(t *testing.T) {
	c := &Conn{} // no socket: armDeadline has nothing to arm
	steps := []struct {
		found bool
		want  time.Duration
	}{
		{true, sideTickMin},
		{false, 2 * sideTickMin},
		{false, 4 * sideTickMin},
		{false, 8 * sideTickMin},
		{false, sideTickMax},
		{false, sideTickMax},
		{true, sideTickMin},
		{false, 2 * sideTickMin},
	}
	for i, s := range steps {
		before := time.Now()
		if err := c.nextTick(s.found); err != nil {
			t.Fatal(err)
		}
		if c.tickEvery != s.want {
			t.Errorf("step %d (found %v): tick every %v, want %v", i, s.found, c.tickEvery, s.want)
		}
		if due := c.tickDue.Sub(before); due < s.want || due > s.want+time.Second {
			t.Errorf("step %d: next tick due in %v, want %v", i, due, s.want)
		}
	}
}

// TestIntegrationSideTick checks that events of the side socket come
// without an exec to wake Receive: a shell forks a subshell that exits,
// and nothing execs after it.
func TestIntegrationSideTick(t *testing.T) {
	testenv.RequireRoot(t)
	c := openTest(t, Options{})
	if c.side == nil {
		t.Fatal("fork, exec and exit selected, but no side socket")
	}
	// bash's builtins only: read waits on a pipe nobody writes to.
	stdin, hold, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	defer hold.Close()
	cmd := exec.Command("/bin/bash", "-c", "read -t 0.3 -u 0; ( exit 7 ); read -u 0", "side-tick")
	cmd.Stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = hold.Close() // read sees EOF: bash exits
		_ = cmd.Wait()
	}()
	bash := cmd.Process.Pid

	// Bounded by a deadline of ours, so that a tick that never comes fails
	// the test rather than hanging it.
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	subshell := 0
	for {
		events, err := c.Receive()
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
			t.Fatalf("the subshell's exit not received within 10 s (subshell %d; stats %+v)", subshell, c.Stats())
		}
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		got := time.Now()
		for _, e := range events {
			switch {
			case e.What == WhatFork && e.ParentTGID == bash && e.ChildTGID == e.ChildPID:
				subshell = e.ChildTGID
			case e.What == WhatExit && subshell != 0 && e.TGID == subshell && e.PID == subshell:
				if e.ExitCode != 7<<8 {
					t.Errorf("subshell exit status %#x, want exit code 7", e.ExitCode)
				}
				// The tick is at most sideTickMax away when the exit is
				// queued; the rest is scheduling on a busy machine.
				if late := got.Sub(c.Clock().Time(e.Timestamp)); late > sideTickMax+time.Second {
					t.Errorf("the subshell's exit came %v after it happened, want at most about %v", late, sideTickMax)
				}
				return
			}
		}
	}
}

// TestBurstBeginsStorm checks when execs begin a storm: stormExecs in a
// row, each read less than a period after the one before; a program that
// starts another (two execs within a few ms) does not, so its next exec
// is read at once; a pause of a period starts the count again.
func TestBurstBeginsStorm(t *testing.T) {
	const period = 10 * time.Millisecond
	t0 := time.Unix(1000, 0)
	steps := []struct {
		after time.Duration // since the wake-up before
		execs int
		storm bool
	}{
		{0, 1, false},                     // python
		{3 * time.Millisecond, 1, false},  // its shell
		{40 * time.Millisecond, 1, false}, // the next python, after a pause
		{2 * time.Millisecond, 1, false},
		{period, 1, false}, // a period apart: counts from here
		{5 * time.Millisecond, 1, false},
		{5 * time.Millisecond, 1, false},
		{5 * time.Millisecond, 1, true}, // the fourth in a row
		{time.Second, 2, false},         // a wake-up may read several
		{time.Millisecond, 2, true},
		{time.Second, stormExecs, true}, // or all of them at once
	}
	c := &Conn{opts: Options{Coalesce: period}}
	at := t0
	for i, s := range steps {
		at = at.Add(s.after)
		if got := c.burstAt(at, s.execs); got != s.storm {
			t.Errorf("step %d (+%v, %d execs): storm %v, want %v", i, s.after, s.execs, got, s.storm)
		}
		if s.storm {
			c.lastWake, c.burst = time.Time{}, 0 // as setStorm does
		}
	}
}
