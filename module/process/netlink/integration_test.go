package netlink

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// runChild starts name with args, waits for it and returns its pid.
func runChild(t *testing.T, name string, args ...string) (pid int, waitErr error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return cmd.Process.Pid, cmd.Wait()
}

func TestIntegrationForkExecExit(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name     string
		path     string
		args     []string
		wantCode int
	}{
		{name: "true", path: "/bin/true", args: []string{fmt.Sprintf("spawnbeat-marker-%d", time.Now().UnixNano())}, wantCode: 0},
		{name: "sh exit 3", path: "/bin/sh", args: []string{"-c", "exit 3"}, wantCode: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openTest(t, Options{})
			pid, waitErr := runChild(t, tt.path, tt.args...)
			var ee *exec.ExitError
			if tt.wantCode != 0 && !errors.As(waitErr, &ee) {
				t.Fatalf("wait: %v, want an exit error", waitErr)
			}
			var fork, execd, exit *Event
			receiveUntil(t, c, 5*time.Second, nil, func(e Event) bool {
				switch {
				case e.What == WhatFork && e.ChildTGID == pid:
					fork = &e
				case e.What == WhatExec && e.TGID == pid:
					execd = &e
				case e.What == WhatExit && e.PID == pid && e.TGID == pid:
					exit = &e
				}
				return fork != nil && execd != nil && exit != nil
			})
			if fork == nil || execd == nil || exit == nil {
				t.Fatalf("pid %d: fork %v, exec %v, exit %v: want all three", pid, fork, execd, exit)
			}
			if fork.ParentTGID != os.Getpid() || fork.ChildPID != pid {
				t.Errorf("fork = %+v, want parent tgid %d, child pid %d", *fork, os.Getpid(), pid)
			}
			if execd.PID != pid {
				t.Errorf("exec PID = %d, want %d", execd.PID, pid)
			}
			ws := exit.WaitStatus()
			if !ws.Exited() || ws.ExitStatus() != tt.wantCode {
				t.Errorf("exit status %#x: exited %v code %d, want exited with %d", exit.ExitCode, ws.Exited(), ws.ExitStatus(), tt.wantCode)
			}
			if exit.ParentTGID != os.Getpid() {
				t.Errorf("exit parent tgid = %d, want %d", exit.ParentTGID, os.Getpid())
			}
			if !(fork.Timestamp <= execd.Timestamp && execd.Timestamp <= exit.Timestamp) {
				t.Errorf("timestamps fork %d, exec %d, exit %d: want non-decreasing", fork.Timestamp, execd.Timestamp, exit.Timestamp)
			}
			if at, now := c.Clock().Time(execd.Timestamp), time.Now(); at.After(now) || now.Sub(at) > 10*time.Second {
				t.Errorf("exec wall time %v, want within 10s before %v", at, now)
			}
		})
	}
}

func TestIntegrationCloseWakesReceive(t *testing.T) {
	testenv.RequireRoot(t)
	c, err := Open(Options{Events: EventMask(WhatPtrace)}, nil) // rare events: Receive blocks
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Receive(); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // let Receive block
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("Receive after Close: %v, want ErrClosed and net.ErrClosed", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Receive woke %v after Close, want < 1s", d)
		}
	case <-time.After(time.Second):
		t.Fatal("Close did not wake Receive within 1s")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if _, err := c.Receive(); !errors.Is(err, ErrClosed) {
		t.Errorf("Receive on closed Conn: %v, want ErrClosed", err)
	}
}

func TestIntegrationFilter(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name string
		mask EventMask
	}{
		{name: "exec only", mask: EventMask(WhatExec)},
		{name: "exit only", mask: EventMask(WhatExit)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openTest(t, Options{Events: tt.mask})
			pid, _ := runChild(t, "/bin/true")
			seen := map[What]int{}
			count := func(e Event) bool { seen[e.What]++; return false }
			found := receiveUntil(t, c, 5*time.Second, nil, func(e Event) bool {
				count(e)
				return e.TGID == pid
			})
			// The fork and exit (or exec) of pid came before; give any stray
			// event a moment to arrive.
			receiveUntil(t, c, 300*time.Millisecond, nil, count)
			for w, n := range seen {
				if !tt.mask.Has(w) {
					t.Errorf("received %d %s events with mask %s", n, w, tt.mask)
				}
			}
			if !found {
				t.Errorf("no %s event for pid %d", tt.mask, pid)
			}
			// Filtered counts events dropped in user space: zero proves the
			// kernel's socket filter dropped them first.
			if s := c.Stats(); s.Filtered != 0 {
				t.Errorf("Stats().Filtered = %d, want 0 (kernel-side filtering)", s.Filtered)
			}
		})
	}
}

func TestIntegrationLost(t *testing.T) {
	testenv.RequireRoot(t)
	// Shrink the buffer with plain SO_RCVBUF, not SO_RCVBUFFORCE: 4 KiB
	// (the kernel doubles it) holds about a dozen events, and a storm we do
	// not read in time overflows it.
	c := openTest(t, Options{Events: MaskDefault})
	if err := c.sock.setsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF, 4096); err != nil {
		t.Fatalf("setsockopt SO_RCVBUF: %v", err)
	}
	const total, parallel = 300, 8
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := 0; i < total; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = exec.Command("/bin/true").Run()
		}()
	}
	wg.Wait()
	lost := 0
	receiveUntil(t, c, 5*time.Second, func() { lost++ }, func(Event) bool { return lost > 0 })
	if lost == 0 {
		t.Fatalf("no ErrLost after %d unread execs; stats %+v", total, c.Stats())
	}
	if s := c.Stats(); s.Lost == 0 {
		t.Errorf("Stats().Lost = 0 after ErrLost")
	}
	// Drain what is queued, then the Conn must still deliver new events.
	receiveUntil(t, c, 200*time.Millisecond, nil, func(Event) bool { return false })
	pid, _ := runChild(t, "/bin/true")
	if !receiveUntil(t, c, 5*time.Second, nil, func(e Event) bool { return e.What == WhatExec && e.TGID == pid }) {
		t.Errorf("no exec event for pid %d after the loss; stats %+v", pid, c.Stats())
	}
}

// execLoop runs a shell that execs /bin/true over and over until the end
// of t: a steady source of events.
func execLoop(t *testing.T) {
	t.Helper()
	loop := exec.Command("/bin/sh", "-c", "while :; do /bin/true; done")
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = loop.Process.Kill()
		_ = loop.Wait()
	})
}

// TestIntegrationReceiveAllocs proves that Receive on the real socket does
// not allocate per call, while a shell loop we start produces events.
func TestIntegrationReceiveAllocs(t *testing.T) {
	testenv.RequireRoot(t)
	c := openTest(t, Options{})
	execLoop(t)
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Receive(); err != nil && !errors.Is(err, ErrLost) {
			t.Fatalf("Receive: %v", err)
		}
	})
	if allocs != 0 {
		t.Errorf("Receive allocates %.1f times per call, want 0", allocs)
	}
}

// TestIntegrationRejectForeignSender forges a well-formed exec event from a
// user-space netlink socket, unicast to the Conn's port id: the socket
// filter passes it (the layout is right) and Receive must drop it.
func TestIntegrationRejectForeignSender(t *testing.T) {
	testenv.RequireRoot(t)
	c := openTest(t, Options{})
	var port uint32
	if err := c.sock.rc.Control(func(fd uintptr) {
		sa, err := unix.Getsockname(int(fd))
		if nl, ok := sa.(*unix.SockaddrNetlink); err == nil && ok {
			port = nl.Pid
		}
	}); err != nil || port == 0 {
		t.Fatalf("getsockname: port %d, %v", port, err)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, NETLINK_CONNECTOR)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	const forgedPID = 0x7ffffff0
	forged := encodeEvent(Event{What: WhatExec, PID: forgedPID, TGID: forgedPID})
	if err := unix.Sendto(fd, forged, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: port}); err != nil {
		t.Fatalf("sendto port %d: %v", port, err)
	}
	pid, _ := runChild(t, "/bin/true") // a real event after the forged one
	if !receiveUntil(t, c, 5*time.Second, nil, func(e Event) bool {
		if e.PID == forgedPID {
			t.Errorf("forged event delivered: %+v", e)
		}
		return e.What == WhatExec && e.TGID == pid
	}) {
		t.Fatalf("no exec event for pid %d", pid)
	}
	if s := c.Stats(); s.Rejected != 1 {
		t.Errorf("Stats().Rejected = %d, want 1", s.Rejected)
	}
}

func TestIntegrationReceiveBuffer(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name      string
		requested int
		want      int
	}{
		// The kernel doubles the value for its bookkeeping (socket(7)); as
		// root SO_RCVBUFFORCE goes past net.core.rmem_max.
		{name: "default", requested: 0, want: 2 * DefaultReceiveBuffer},
		{name: "1 MiB", requested: 1 << 20, want: 2 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openTest(t, Options{ReceiveBuffer: tt.requested})
			got, err := c.sock.getsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("SO_RCVBUF = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestIntegrationSubscribeFullSocket subscribes a socket that other
// listeners' events have already filled: the kernel's acknowledgement
// must still get through (the socket is emptied before the request).
func TestIntegrationSubscribeFullSocket(t *testing.T) {
	testenv.RequireRoot(t)
	openTest(t, Options{}) // a listener, so that the kernel sends events at all
	execLoop(t)
	sock, _, err := openSocket(4096, MaskDefault, false, true) // bound to the group: events queue up
	if err != nil {
		t.Fatal(err)
	}
	clk, err := NewClock()
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(sock, Options{ReceiveBuffer: 4096, Events: MaskDefault}, zap.NewNop(), clk)
	c.sock = sock
	c.seq = uint32(time.Now().UnixNano()) | 1
	t.Cleanup(func() { _ = c.Close() })
	time.Sleep(200 * time.Millisecond) // the 8 KiB buffer is full long before this
	if err := c.subscribe(); err != nil {
		t.Fatalf("subscribe on a full socket: %v", err)
	}
}

// TestIntegrationLeadersOnly runs a program that starts threads, watched by
// two connections: the plain one sees the threads' creation and exit, the
// LeadersOnly one sees only the process's own fork, exec and exit — the
// kernel dropped the rest (nothing was filtered in user space).
func TestIntegrationLeadersOnly(t *testing.T) {
	testenv.RequireRoot(t)
	plain := openTest(t, Options{})
	leaders := openTest(t, Options{LeadersOnly: true})
	pid, err := runChild(t, "/usr/bin/python3", "-c",
		"import threading\nts = [threading.Thread(target=lambda: None) for _ in range(5)]\n[t.start() for t in ts]\n[t.join() for t in ts]")
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	type seen struct{ processForks, threadForks, exits, threadExits int }
	watch := func(c *Conn) seen {
		var s seen
		receiveUntil(t, c, 5*time.Second, nil, func(e Event) bool {
			switch {
			case e.What == WhatFork && e.ChildTGID == pid:
				if e.ChildPID == pid {
					s.processForks++
				} else {
					s.threadForks++
				}
			case e.What == WhatExit && e.TGID == pid:
				if e.PID == pid {
					s.exits++
					return true
				}
				s.threadExits++
			}
			return false
		})
		return s
	}
	if got := watch(plain); got.processForks != 1 || got.exits != 1 || got.threadForks < 5 || got.threadExits < 5 {
		t.Errorf("plain connection saw %+v, want the process's fork and exit and at least 5 threads' (the control)", got)
	}
	if got := watch(leaders); got != (seen{processForks: 1, exits: 1}) {
		t.Errorf("LeadersOnly connection saw %+v, want only the process's fork and exit", got)
	}
	if f := leaders.Stats().Filtered; f != 0 {
		t.Errorf("LeadersOnly filtered %d events in user space, want 0 (the kernel drops them)", f)
	}
}

// TestIntegrationSideSocketOrder runs a storm from two shell loops and
// checks what merging the exec socket with the side socket must keep: each
// process's fork comes before its exec and its exec before its exit, every
// exec arrives, and no deadline error reaches a caller that set none (the
// side socket's tick is the Conn's own deadline).
//
// With Options.Coalesce the storm is read every period from the side
// socket: the same holds, each exec is returned once though both sockets
// may have had it while the filters switched, and the storm is counted.
func TestIntegrationSideSocketOrder(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		name     string
		coalesce time.Duration
	}{{"each exec wakes", 0}, {"coalesced", 5 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) { sideSocketOrder(t, tc.coalesce) })
	}
}

func sideSocketOrder(t *testing.T, coalesce time.Duration) {
	c := openTest(t, Options{LeadersOnly: true, Coalesce: coalesce})
	if c.side == nil {
		t.Fatal("fork, exec and exit selected, but no side socket")
	}
	const perLoop = 1500
	marker := fmt.Sprintf("side-order-%d", os.Getpid())
	storm := exec.Command("/bin/sh", "-c",
		`for j in 1 2; do (i=0; while [ $i -lt $1 ]; do /bin/true "$2"; i=$((i+1)); done) & done; wait`,
		"storm", fmt.Sprint(perLoop), marker)
	if err := storm.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = storm.Wait()
		time.Sleep(sideTickMax + sideTickMin) // the last exits wait for a tick at most
		_ = c.Close()
	}()
	// state is what was last seen of each process of the storm's tree.
	state := map[int]What{}
	root := storm.Process.Pid
	execs := 0
	seen := map[[2]uint64]bool{} // exec events returned, by process and time
	for {
		events, err := c.Receive()
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("Receive: %v (stats %+v)", err, c.Stats())
		}
		// As slow as the Source reading /proc: events queue on both
		// sockets between two reads.
		time.Sleep(time.Millisecond)
		for _, e := range events {
			switch e.What {
			case WhatFork:
				if _, ok := state[e.ParentTGID]; ok || e.ChildTGID == root {
					state[e.ChildTGID] = WhatFork
				}
			case WhatExec:
				key := [2]uint64{uint64(e.TGID), e.Timestamp}
				if seen[key] {
					t.Errorf("pid %d: exec at %d returned twice", e.TGID, e.Timestamp)
				}
				seen[key] = true
				if st, ok := state[e.TGID]; ok {
					if st == WhatExit {
						t.Errorf("pid %d: exec after its exit", e.TGID)
					}
					execs++
					state[e.TGID] = WhatExec
				}
			case WhatExit:
				if _, ok := state[e.TGID]; ok {
					state[e.TGID] = WhatExit
				}
			}
		}
	}
	// The two subshells fork without exec; each /bin/true forks and execs.
	if want := 2 * perLoop; execs < want {
		t.Errorf("%d execs of processes forked during the storm, want at least %d (stats %+v)", execs, want, c.Stats())
	}
	for pid, st := range state {
		if st != WhatExit {
			t.Errorf("pid %d: last event %v, want its exit", pid, st)
		}
	}
	if storms := c.Stats().Storms; (coalesce > 0) != (storms > 0) {
		t.Errorf("coalesce %v: %d storms counted", coalesce, storms)
	}
}

// TestIntegrationReadPastDeadline checks what Receive relies on when it
// reads the exec socket again after the side socket: a read that does not
// wait returns what is queued even when the socket's deadline has passed
// (the side socket's tick may pass between the two reads).
func TestIntegrationReadPastDeadline(t *testing.T) {
	testenv.RequireRoot(t)
	openTest(t, Options{}) // a listener, so that the kernel sends events at all
	sock, _, err := openSocket(1<<20, MaskDefault, false, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sock.close() })
	if _, err := runChild(t, "/bin/true"); err != nil {
		t.Fatal(err)
	}
	if err := sock.setReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, datagramBuffer)
	read := 0
	for {
		_, _, err := sock.recv(buf, false)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatalf("read past the deadline after %d datagrams: %v", read, err)
		}
		read++
	}
	if read < 3 { // /bin/true's fork, exec and exit
		t.Errorf("read %d datagrams past the deadline, want /bin/true's 3 at least", read)
	}
	if _, _, err := sock.recv(buf, true); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a waiting read past the deadline: %v, want a deadline error", err)
	}
}

// TestIntegrationCoalesceNeedsBuffer: Open keeps Options.Coalesce only
// with a receive buffer that can queue a storm's period on the side
// socket (1 MiB as granted, which is twice what is asked).
func TestIntegrationCoalesceNeedsBuffer(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		rcvbuf int
		kept   bool
	}{{4096, false}, {DefaultReceiveBuffer, true}} {
		c := openTest(t, Options{ReceiveBuffer: tc.rcvbuf, Coalesce: 5 * time.Millisecond})
		if kept := c.opts.Coalesce > 0; kept != tc.kept {
			t.Errorf("receive buffer %d: coalesce kept %v, want %v", tc.rcvbuf, kept, tc.kept)
		}
	}
}

// eventWaker is a Waker the test signals by hand: an eventfd.
type eventWaker struct{ fd int }

func (w eventWaker) WakeFD() int { return w.fd }

func (w eventWaker) signal(t *testing.T) {
	if _, err := unix.Write(w.fd, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationStormWaker: in a storm read every period, the Waker's
// signal ends the wait at once, so that the exec it announces is returned
// long before the period's end; a signal whose exec has not come yet
// returns no events, and Hurry then reads again within hurryAfter.
func TestIntegrationStormWaker(t *testing.T) {
	testenv.RequireRoot(t)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	w := eventWaker{efd}
	c := openTest(t, Options{LeadersOnly: true, Coalesce: 5 * time.Millisecond, Wake: w})
	marker := fmt.Sprintf("storm-waker-%d", os.Getpid())
	storm := exec.Command("/bin/sh", "-c",
		`for j in 1 2; do (while [ ! -e "$1" ]; do /bin/true storm; done) & done; wait`, "storm", t.TempDir()+"/stop")
	if err := storm.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = os.WriteFile(storm.Args[len(storm.Args)-1], nil, 0o600)
		_ = storm.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !c.storm {
		if time.Now().After(deadline) {
			t.Fatalf("no storm began (stats %+v)", c.Stats())
		}
		if _, err := c.Receive(); err != nil && !errors.Is(err, ErrLost) {
			t.Fatal(err)
		}
	}
	// A period far longer than the waits measured below; the storm's
	// side socket (8 MiB) queues it.
	const period = 3 * time.Second
	c.SetCoalesce(period) // from the next wait on

	// receiveExec receives until the exec of pid, and says how long it took.
	receiveExec := func(pid int) time.Duration {
		start := time.Now()
		for time.Since(start) < 2*period {
			evs, err := c.Receive()
			if err != nil && !errors.Is(err, ErrLost) {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.What == WhatExec && e.TGID == pid {
					return time.Since(start)
				}
			}
		}
		t.Fatalf("no exec of %d in %v", pid, 2*period)
		return 0
	}
	woken := c.Stats().Woken
	cmd := exec.Command("/bin/true", marker)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	w.signal(t)
	if took := receiveExec(cmd.Process.Pid); took > period/3 {
		t.Errorf("the announced exec came after %v, want well within the %v period", took, period)
	}
	if c.Stats().Woken == woken {
		t.Error("Stats.Woken did not count the wake-up")
	}

	// The signal before its exec: Receive returns early, maybe empty;
	// Hurry reads again soon after, and finds the exec.
	w.signal(t)
	if _, err := c.Receive(); err != nil && !errors.Is(err, ErrLost) {
		t.Fatal(err)
	}
	cmd = exec.Command("/bin/true", marker)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	found := false
	for !found && time.Since(start) < period/3 {
		c.Hurry()
		evs, err := c.Receive()
		if err != nil && !errors.Is(err, ErrLost) {
			t.Fatal(err)
		}
		for _, e := range evs {
			found = found || e.What == WhatExec && e.TGID == cmd.Process.Pid
		}
	}
	if !found {
		t.Errorf("hurried reads did not find the exec within %v (the period is %v)", period/3, period)
	}
}
