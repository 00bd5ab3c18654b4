package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errLauncher reports a launcher process that broke its protocol, failed
// or left a child unreaped.
var errLauncher = errors.New("launcher failed")

// defaultLaunchers is how many launcher processes start a storm's
// processes: one per CPU of the 2-CPU build machine. Measured there
// (README, "Launch rates"), 2, 3 and 4 reached the same rates within the
// noise of a shared machine, and each added launcher raised the launcher
// CPU per launch.
const defaultLaunchers = 2

// kind is one sort of storm process.
type kind struct {
	Name string // as the table shows it
	Tag  string // in markers: short, no dashes
	argv func(marker string) []string
}

// stormKinds are the storms: a process that exits at once (its /proc entry is
// often gone before anyone reads it), one that lives ≥ 5 ms, and exit0, a
// static program that exits at once and is the cheapest to exec (the
// highest rate the machine reaches; see exit0). The marker is always a
// whole argument; "; exit 0" keeps dash from exec'ing sleep in place of
// itself, so the sh process keeps its own argv while it lives.
func stormKinds() []kind {
	return []kind{
		{Name: "/bin/true", Tag: "true", argv: func(m string) []string { return []string{"/bin/true", m} }},
		{Name: "sh -c 'sleep 0.005'", Tag: "sh", argv: func(m string) []string { return []string{"/bin/sh", "-c", "sleep 0.005; exit 0", m} }},
		{Name: "exit0 (static)", Tag: "exit0", argv: func(m string) []string { return []string{exit0Path(), m} }},
	}
}

// direct starts the harness's own few processes (the probes) and reaps
// each by its pid in the background — never wait4(-1): spawnbeat, forkstat
// and the launcher processes are the harness's children too, and os/exec
// reaps those itself. It is safe for concurrent use.
type direct struct {
	s  *starter
	wg sync.WaitGroup
}

// start fork+execs argv and returns its pid once the exec has succeeded.
func (d *direct) start(argv []string) (int, error) {
	pid, err := d.s.forkExec(argv)
	if err != nil {
		return 0, err
	}
	d.wg.Go(func() {
		var ws syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(pid, &ws, 0, nil); !errors.Is(err, syscall.EINTR) {
				return
			}
		}
	})
	return pid, nil
}

// wait returns once every process started so far has been reaped.
func (d *direct) wait() { d.wg.Wait() }

// markers names the processes of one storm: prefix + index, a whole
// argument that no other process carries. A value, safe for concurrent use.
type markers struct {
	prefix string
	n      int
}

func (m markers) marker(i int) string { return m.prefix + strconv.Itoa(i) }

// index finds the storm index carried by args: the digits that follow the
// prefix in any argument (the marker may sit inside a longer argument, as
// in the attacks' python -c code).
func (m markers) index(args []string) (int, bool) {
	for _, a := range args {
		at := strings.Index(a, m.prefix)
		if at < 0 {
			continue
		}
		digits := a[at+len(m.prefix):]
		end := 0
		for end < len(digits) && digits[end] >= '0' && digits[end] <= '9' {
			end++
		}
		i, err := strconv.Atoi(digits[:end])
		if err == nil && i >= 0 && i < m.n {
			return i, true
		}
	}
	return 0, false
}

// storm is what one storm launched: a value owned by its caller.
type storm struct {
	pids    []int            // pids[i] carries marker i; 0 when its launch failed
	parents []int            // parents[i]: the pid of the launcher process that started pids[i]
	argv    map[int][]string // each launcher process's argv (its pid as key): what spawnbeat should report as process.parent.args
	failed  int
	elapsed time.Duration // the schedule's start to the last launch; 0 when none was launched
	err     error         // the first launch error, if any
	selfCPU time.Duration // CPU the launcher processes used themselves
	procCPU time.Duration // CPU the storm processes used (with their own children)
}

// fleet runs a storm's launcher processes: this binary re-executed with
// launcherEnv set, each starting every count-th index, all on one
// schedule. It is safe for concurrent use (it holds only settings).
type fleet struct {
	exe   string // this binary (os.Executable)
	count int    // launcher processes per storm
}

// launcherProc is one running launcher process of a storm and what it
// reported. Its fields are written only by the goroutine reading its
// output until that goroutine is done.
type launcherProc struct {
	plan     launchPlan
	cmd      *exec.Cmd
	pid      int
	stdin    io.WriteCloser
	out      *bufio.Reader
	logs     *syncBuffer
	ok       int       // launched, as the launcher counted
	reported int       // <index> <pid> lines read
	failed   int       // failed launches
	last     time.Time // its last launch
	reaped   int
	selfCPU  time.Duration
	procCPU  time.Duration
	err      error // the first launch error it reported
	protoErr error // a protocol violation or read error
}

// run launches m.n processes of kind k from f.count launcher processes:
// at rate per second in total (each launcher on the shared schedule,
// catching up when late), or as fast as they can when rate is 0. It
// returns once every launcher has reaped all its children and exited.
func (f fleet) run(ctx context.Context, k kind, m markers, rate int) (storm, error) {
	st := storm{pids: make([]int, m.n), parents: make([]int, m.n), argv: make(map[int][]string, f.count)}
	procs := make([]*launcherProc, 0, f.count)
	defer func() {
		// On an early return, stop what was started (by pid) and reap it.
		for _, p := range procs {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Kill()
				_ = p.cmd.Wait()
			}
		}
	}()
	for g := range f.count {
		plan := launchPlan{kind: k, m: m, first: g, step: f.count, rate: rate}
		p, err := startLauncher(ctx, f.exe, plan)
		if err != nil {
			return st, err
		}
		procs = append(procs, p)
		st.argv[p.pid] = p.cmd.Args
	}
	for _, p := range procs {
		line, err := p.out.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != lineReady {
			_ = p.cmd.Wait()
			return st, fmt.Errorf("launcher %d not ready (%q, %w): %w: %s", p.pid, line, err, errLauncher, tail(p.logs.String(), 500))
		}
	}
	// A moment ahead, so every launcher is waiting when it comes.
	begin := time.Now().Add(5 * time.Millisecond)
	for _, p := range procs {
		if _, err := fmt.Fprintf(p.stdin, "%s %d\n", lineGo, begin.UnixNano()); err != nil {
			return st, fmt.Errorf("start launcher %d: %w", p.pid, err)
		}
		_ = p.stdin.Close()
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.read(&st) })
	}
	wg.Wait()
	var errs []error
	var last time.Time
	for _, p := range procs {
		pid := p.pid
		waitErr := p.cmd.Wait()
		switch {
		case p.protoErr != nil:
			errs = append(errs, fmt.Errorf("launcher %d: %w", pid, p.protoErr))
		case waitErr != nil:
			errs = append(errs, fmt.Errorf("launcher %d: %w: %w: %s", pid, waitErr, errLauncher, tail(p.logs.String(), 500)))
		case p.reported != p.ok || p.reaped != p.ok:
			errs = append(errs, fmt.Errorf("launcher %d: %d pids reported, %d launched, %d reaped: %w", pid, p.reported, p.ok, p.reaped, errLauncher))
		}
		if p.err != nil && st.err == nil {
			st.err = p.err
		}
		if p.last.After(last) {
			last = p.last
		}
		st.selfCPU += p.selfCPU
		st.procCPU += p.procCPU
	}
	for _, pid := range st.pids {
		if pid == 0 {
			st.failed++
		}
	}
	if !last.IsZero() {
		st.elapsed = last.Sub(begin)
	}
	return st, errors.Join(errs...)
}

// startLauncher starts one launcher process for plan; it waits for the
// start time on its stdin.
func startLauncher(ctx context.Context, exe string, plan launchPlan) (*launcherProc, error) {
	cmd := exec.CommandContext(ctx, exe, launcherArgs(plan)...)
	cmd.Env = append(os.Environ(), launcherEnv+"=1")
	cmd.Dir = "/"
	p := &launcherProc{plan: plan, cmd: cmd, logs: &syncBuffer{}}
	cmd.Stderr = p.logs
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("start launcher: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start launcher: %w", err)
	}
	p.out = bufio.NewReaderSize(stdout, 64<<10)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start launcher %s: %w", exe, err)
	}
	p.pid = cmd.Process.Pid
	return p, nil
}

// read consumes the launcher's report until it closes its stdout, filling
// its indexes of st: only those of its plan, so the launchers' goroutines
// never write the same element.
func (p *launcherProc) read(st *storm) {
	pid := p.pid
	bad := func(line string) {
		if p.protoErr == nil {
			p.protoErr = fmt.Errorf("unexpected line %q: %w", line, errLauncher)
		}
	}
	for {
		line, err := p.out.ReadString('\n')
		if err != nil {
			if !errors.Is(err, io.EOF) && p.protoErr == nil {
				p.protoErr = fmt.Errorf("read report: %w", err)
			}
			_, _ = io.Copy(io.Discard, p.out)
			return
		}
		line = strings.TrimSuffix(line, "\n")
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case lineError:
			p.err = fmt.Errorf("launcher %d: %s", pid, rest)
		case lineLaunched:
			v, ok := threeInts(rest)
			if !ok {
				bad(line)
				continue
			}
			p.ok, p.failed = int(v[0]), int(v[1])
			if v[2] != 0 {
				p.last = time.Unix(0, v[2])
			}
		case lineReaped:
			v, ok := threeInts(rest)
			if !ok {
				bad(line)
				continue
			}
			p.reaped, p.selfCPU, p.procCPU = int(v[0]), time.Duration(v[1])*time.Microsecond, time.Duration(v[2])*time.Microsecond
		default:
			i, err1 := strconv.Atoi(word)
			child, err2 := strconv.Atoi(rest)
			if errors.Join(err1, err2) != nil || i < p.plan.first || i >= len(st.pids) || (i-p.plan.first)%p.plan.step != 0 || child <= 0 {
				bad(line)
				continue
			}
			st.pids[i], st.parents[i] = child, pid
			p.reported++
		}
	}
}

// threeInts parses the three decimal numbers of a "launched" or "reaped"
// line.
func threeInts(s string) ([3]int64, bool) {
	var v [3]int64
	f := strings.Fields(s)
	if len(f) != len(v) {
		return v, false
	}
	for i := range v {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return v, false
		}
		v[i] = n
	}
	return v, true
}
