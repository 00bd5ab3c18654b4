package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// launcherEnv selects the launcher role: the harness re-executes its own
// binary with this variable set, once per launcher process of a storm.
const launcherEnv = "SPAWNBEAT_BENCH_LAUNCHER"

// launcherRole runs the launcher role when this process was started as
// one, and returns its exit status and true; otherwise it returns false.
func launcherRole() (int, bool) {
	if os.Getenv(launcherEnv) == "" {
		return 0, false
	}
	return launcherMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr), true
}

// launchPlan is a launcher process's share of a storm, from its command
// line: indexes first, first+step, … below n.
type launchPlan struct {
	kind  kind
	m     markers
	first int
	step  int
	rate  int // the storm's total rate per second; 0 = as fast as possible
}

// launcherArgs is the command line (after argv[0]) that gives a launcher
// process its plan; parseLaunchPlan reads it back.
func launcherArgs(p launchPlan) []string {
	return []string{
		"-kind", p.kind.Tag, "-prefix", p.m.prefix, "-n", strconv.Itoa(p.m.n),
		"-first", strconv.Itoa(p.first), "-step", strconv.Itoa(p.step), "-rate", strconv.Itoa(p.rate),
	}
}

func parseLaunchPlan(args []string) (launchPlan, error) {
	var p launchPlan
	fl := flag.NewFlagSet("launcher", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	tag := fl.String("kind", "", "storm kind tag")
	fl.StringVar(&p.m.prefix, "prefix", "", "marker prefix")
	fl.IntVar(&p.m.n, "n", 0, "processes in the storm")
	fl.IntVar(&p.first, "first", 0, "first index")
	fl.IntVar(&p.step, "step", 1, "index step")
	fl.IntVar(&p.rate, "rate", 0, "total rate per second")
	if err := fl.Parse(args); err != nil {
		return p, fmt.Errorf("launcher arguments %q: %w", args, err)
	}
	found := false
	for _, k := range stormKinds() {
		if k.Tag == *tag {
			p.kind, found = k, true
		}
	}
	switch {
	case !found:
		return p, fmt.Errorf("launcher arguments: unknown kind %q", *tag)
	case p.m.prefix == "" || p.m.n < 1 || p.first < 0 || p.step < 1 || p.rate < 0 || fl.NArg() > 0:
		return p, fmt.Errorf("launcher arguments %q: want -prefix, -n ≥ 1, -first ≥ 0, -step ≥ 1, -rate ≥ 0", args)
	}
	return p, nil
}

// The launcher's protocol, one line each, on its stdout:
//
//	ready                        it is set up and waits for the start time
//	<index> <pid>                one per process started
//	error <text>                 the first launch that failed, if any
//	launched <ok> <failed> <ns>  all started; ns: wall time of the last start (0: none)
//	reaped <count> <self µs> <children µs>
//	                             every child reaped (wait4(-1) says ECHILD);
//	                             the CPU (user+system) the launcher used
//	                             itself and that its reaped children did
//
// and on its stdin, from the harness, "go <unix ns>": when the schedule
// starts (the same instant for every launcher of a storm).
const (
	lineReady    = "ready"
	lineGo       = "go"
	lineError    = "error"
	lineLaunched = "launched"
	lineReaped   = "reaped"
)

// launcherMain is the launcher role: it starts its share of a storm on
// the schedule and reaps every child with wait4(-1) — it has no other
// children, so nothing else can be reaped by accident. One goroutine does
// both in one loop: it is the process's only forker, so Go's ForkLock is
// never contended, and it reaps without blocking (WNOHANG) after every
// launch and, while it waits for the next one at a fixed rate, whenever
// SIGCHLD arrives, as a shell does. A separate reaper blocked in wait4
// measured about 40 % more launcher CPU per launch (each blocking syscall
// makes the Go runtime hand its P off and keeps sysmon polling), and
// polling with WNOHANG every millisecond while waiting about twice the
// launcher CPU per launch at 100/s.
func launcherMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "capture launcher:", err)
		return 1
	}
	p, err := parseLaunchPlan(args)
	if err != nil {
		return fail(err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fail(err)
	}
	defer devnull.Close()
	s := newStarter(devnull)
	out := bufio.NewWriterSize(stdout, 64<<10)
	fmt.Fprintln(out, lineReady)
	if err := out.Flush(); err != nil {
		return fail(fmt.Errorf("write ready: %w", err))
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil {
		return fail(fmt.Errorf("read start time: %w", err))
	}
	ns, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(line), lineGo+" "), 10, 64)
	if err != nil {
		return fail(fmt.Errorf("read start time %q: %w", line, err))
	}
	begin := time.Unix(0, ns)
	// Every launcher starts at begin, at the maximum rate too: elapsed
	// times count from it.
	time.Sleep(time.Until(begin))

	// SIGCHLD wakes the wait for the next launch to reap; a signal that
	// arrives between the reap and the wait stays in the channel's buffer.
	// At the maximum rate there is no wait, and no need to relay signals.
	sigchld := make(chan os.Signal, 1)
	if p.rate > 0 {
		signal.Notify(sigchld, syscall.SIGCHLD)
		defer signal.Stop(sigchld)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	var c children
	var ok, failed int
	var last time.Time
	var buf []byte
	for i := p.first; i < p.m.n; i += p.step {
		if p.rate > 0 {
			due := begin.Add(time.Duration(i) * time.Second / time.Duration(p.rate))
			for d := time.Until(due); d > 0; d = time.Until(due) {
				if err := c.reapExited(); err != nil {
					return fail(err)
				}
				timer.Reset(d)
				select {
				case <-sigchld:
				case <-timer.C:
				}
			}
		}
		pid, err := s.forkExec(p.kind.argv(p.m.marker(i)))
		if err != nil {
			if failed == 0 {
				fmt.Fprintln(out, lineError, strings.ReplaceAll(err.Error(), "\n", " "))
			}
			failed++
			continue
		}
		c.outstanding++
		last = time.Now()
		if err := c.reapExited(); err != nil {
			return fail(err)
		}
		ok++
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(pid), 10)
		buf = append(buf, '\n')
		if _, err := out.Write(buf); err != nil {
			return fail(fmt.Errorf("report pid: %w", err))
		}
	}
	lastNS := int64(0) // none launched
	if ok > 0 {
		lastNS = last.UnixNano()
	}
	fmt.Fprintln(out, lineLaunched, ok, failed, lastNS)
	if err := out.Flush(); err != nil {
		return fail(fmt.Errorf("report launches: %w", err))
	}
	if err := c.reapAll(); err != nil {
		return fail(err)
	}
	var self, children syscall.Rusage
	if err := errors.Join(syscall.Getrusage(syscall.RUSAGE_SELF, &self), syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)); err != nil {
		return fail(fmt.Errorf("getrusage: %w", err))
	}
	fmt.Fprintln(out, lineReaped, c.reaped, cpuMicros(&self), cpuMicros(&children))
	if err := out.Flush(); err != nil {
		return fail(fmt.Errorf("report reaped: %w", err))
	}
	return 0
}

// starter fork+execs processes with stdio on /dev/null. It holds no state
// beyond its attributes and is safe for concurrent use.
type starter struct {
	attr syscall.ProcAttr
}

func newStarter(devnull *os.File) *starter {
	fd := devnull.Fd()
	return &starter{attr: syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{"PATH=/usr/bin:/bin", "LC_ALL=C"},
		Files: []uintptr{fd, fd, fd},
	}}
}

// forkExec starts argv and returns its pid once the exec has succeeded:
// Go's ForkExec is a vfork-style clone (CLONE_VM|CLONE_VFORK), like
// posix_spawn. The caller reaps the child.
func (s *starter) forkExec(argv []string) (int, error) {
	for attempt := 0; ; attempt++ {
		pid, err := syscall.ForkExec(argv[0], argv, &s.attr)
		if err == nil {
			return pid, nil
		}
		// EAGAIN: the process limit, briefly, at the maximum rate.
		if !errors.Is(err, syscall.EAGAIN) || attempt == 100 {
			return 0, fmt.Errorf("launch %s: %w", argv[0], err)
		}
		time.Sleep(time.Millisecond)
	}
}

// children counts a launcher process's children and reaps them with
// wait4(-1): the launcher has no children but its storm processes. It is
// not safe for concurrent use: the launcher's one goroutine owns it.
type children struct {
	outstanding int // started and not yet reaped
	reaped      int
	ws          syscall.WaitStatus
}

// reapExited reaps every child that has exited, without blocking.
func (c *children) reapExited() error {
	for c.outstanding > 0 {
		pid, err := syscall.Wait4(-1, &c.ws, syscall.WNOHANG, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("wait4 with %d children outstanding: %w", c.outstanding, err)
		case pid == 0:
			return nil // children left, none exited yet
		}
		c.outstanding--
		c.reaped++
	}
	return nil
}

// reapAll waits for every remaining child, then checks that the kernel
// agrees none is left: wait4(-1) must answer ECHILD.
func (c *children) reapAll() error {
	for c.outstanding > 0 {
		_, err := syscall.Wait4(-1, &c.ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait4 with %d children outstanding: %w", c.outstanding, err)
		}
		c.outstanding--
		c.reaped++
	}
	if _, err := syscall.Wait4(-1, &c.ws, syscall.WNOHANG, nil); !errors.Is(err, syscall.ECHILD) {
		return fmt.Errorf("after reaping %d children wait4(-1) returned %w, want ECHILD: %w", c.reaped, err, errLauncher)
	}
	return nil
}

// cpuMicros is the user+system CPU of ru in microseconds.
func cpuMicros(ru *syscall.Rusage) int64 {
	return ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
}
