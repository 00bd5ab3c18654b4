package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// errProbe reports a probe process that a tool did not report in time.
var errProbe = errors.New("probe not seen")

// bench runs the measurements. It is not safe for concurrent use.
type bench struct {
	ctx         context.Context
	binary      string   // spawnbeat
	baseline    string   // another spawnbeat run side by side on the storms; empty for none
	set         settings // spawnbeat's capture settings
	baseSet     settings // the baseline's
	forkstat    string   // forkstat's path; empty when it is not installed
	esserver    string   // the Elasticsearch test server's binary: a second spawnbeat ships to it on every storm; empty for none
	tmp         string   // homes of the runs
	runID       string   // in every marker, so runs never match each other's processes
	n           int      // processes per storm
	warmup      int      // processes of the same storm before each measured one; 0: none
	attackStorm bool     // the attacks run during a /bin/true storm
	keep        bool     // keep each run's home (output file, logs)
	profile     string   // where each storm's CPU profile of spawnbeat goes; "": none
	profSecs    int      // each profile's length
	probes      *direct  // starts the probe processes
	fleet       fleet    // starts the storms' processes
	log         io.Writer
	probeSeq    int
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "capture: "+format+"\n", args...)
}

// probeArgv is a process that lives long enough (50 ms) for every tool to
// read its args: its arrival proves a tool is subscribed (before a storm)
// or has processed everything before it (after one).
func probeArgv(marker string) []string {
	return []string{"/bin/sh", "-c", "sleep 0.05; exit 0", marker}
}

// seer is a tool that can be asked whether it has reported a marker.
type seer interface {
	seenExec(marker string) (bool, error)
	toolName() string
}

// probe launches a probe process and waits until every tool has reported
// it, launching it again every 2 s meanwhile: a tool that has only just
// started may not have subscribed yet. It returns the probe's marker.
func (b *bench) probe(timeout time.Duration, tools ...seer) (string, error) {
	marker := fmt.Sprintf("spawnbeat-bench-%s-probe-%d", b.runID, b.probeSeq)
	b.probeSeq++
	var launched time.Time
	deadline := time.Now().Add(timeout)
	pending := slices.Clone(tools)
	for len(pending) > 0 {
		if time.Since(launched) >= 2*time.Second {
			if _, err := b.probes.start(probeArgv(marker)); err != nil {
				return "", fmt.Errorf("probe %s: %w", marker, err)
			}
			launched = time.Now()
		}
		for i := 0; i < len(pending); i++ {
			ok, err := pending[i].seenExec(marker)
			if err != nil {
				return "", fmt.Errorf("probe %s: %w", marker, err)
			}
			if ok {
				pending = slices.Delete(pending, i, i+1)
				i--
			}
		}
		if len(pending) == 0 {
			break
		}
		if err := b.ctx.Err(); err != nil {
			return "", fmt.Errorf("probe %s: %w", marker, err)
		}
		if time.Now().After(deadline) {
			names := make([]string, len(pending))
			for i, t := range pending {
				names[i] = t.toolName()
			}
			return "", fmt.Errorf("probe %s: %s silent after %s: %w", marker, strings.Join(names, " and "), timeout, errProbe)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return marker, nil
}

// usage is a tool's CPU and memory over one storm.
type usage struct {
	CPU time.Duration
	Mem memory
}

// stormResult is one storm's measurements.
type stormResult struct {
	Kind     string
	Rate     int // requested; 0 for the maximum
	Launched int
	Failed   int
	Achieved float64 // launches per second
	// CPU of the launcher processes themselves, and of the storm
	// processes (with their own children: sh's sleep), from getrusage.
	LauncherCPU, ProcCPU time.Duration

	Docs       int // storm processes with an exec document (by marker, or by pid and parent when args are missing)
	Full       int // … whose process.args are exactly the argv launched
	ParentFull int // … whose process.parent.args are exactly the launcher's argv
	States     map[string]int
	Other      int           // exec documents of other processes between the probes: background noise
	Lost       uint64        // capture.Kernel.Lost: ENOBUFS
	Dropped    uint64        // queue.dropped + queue.rejected
	Agent      usage         // CPU includes AgentBPF
	AgentBPF   time.Duration // the run time of spawnbeat's BPF program, in the exec'ing processes

	Forkstat bool // forkstat ran side by side
	FSSeen   int  // storm processes forkstat printed an exec line for
	FSFull   int  // … with the full command line
	FS       usage

	BaseFull int   // storm processes the baseline spawnbeat wrote with their full args
	Base     usage // CPU includes its BPF program's

	// The spawnbeat that shipped to Elasticsearch (-es), side by side.
	ES                bool
	ESDocs, ESFull    int           // storm processes with an exec document in the test server; … with full args
	ESParentFull      int           // … with their parent's full args
	ESAgent           usage         // CPU includes its BPF program's
	ESServerCPU       time.Duration // the test server's own, not the agent's
	ESLost, ESDropped uint64

	HeardFirst string // the tool that subscribed last, which the kernel tells first
}

// runStorm measures one storm: a fresh spawnbeat (and forkstat), a probe
// to prove both are capturing, the storm, a probe to prove both have
// caught up, then the counts from their outputs.
func (b *bench) runStorm(k kind, rate, rep int) (stormResult, error) {
	res := stormResult{Kind: k.Name, Rate: rate, States: map[string]int{}}
	home := filepath.Join(b.tmp, fmt.Sprintf("storm-%s-%d-%d", k.Tag, rate, rep))
	if err := os.MkdirAll(home, 0o700); err != nil {
		return res, err
	}
	// The kernel tells the listener that subscribed last of each exec
	// first: a head start in the race with a short-lived process's exit.
	// The tools take turns at subscribing last, run by run.
	var (
		a, base, shipper *agent
		fs               *forkstat
		es               *esServer
	)
	defer func() {
		if es != nil {
			_ = es.stop(10 * time.Second)
		}
		for _, c := range []*agent{a, base, shipper} {
			if c != nil {
				_ = c.stop(30 * time.Second)
			}
		}
		if fs != nil {
			_ = fs.stop(5 * time.Second)
		}
	}()
	type starter struct {
		name  string
		start func() error
	}
	starts := []starter{{"spawnbeat", func() (err error) {
		a, err = startAgent(b.ctx, "spawnbeat", b.binary, b.set, home)
		return err
	}}}
	if b.baseline != "" {
		starts = append(starts, starter{"baseline", func() (err error) {
			base, err = startAgent(b.ctx, "baseline spawnbeat", b.baseline, b.baseSet, home+"-baseline")
			return err
		}})
	}
	if b.esserver != "" {
		var err error
		if es, err = startESServer(b.esserver); err != nil {
			return res, err
		}
		set := b.set
		set.esURL = es.url
		starts = append(starts, starter{"elasticsearch", func() (err error) {
			shipper, err = startAgent(b.ctx, "spawnbeat shipping to Elasticsearch", b.binary, set, home+"-es")
			return err
		}})
	}
	if b.forkstat != "" {
		starts = append(starts, starter{"forkstat", func() (err error) {
			fs, err = startForkstat(b.forkstat, home)
			return err
		}})
	}
	for i := range starts {
		st := starts[(i+rep)%len(starts)]
		if err := st.start(); err != nil {
			return res, err
		}
		res.HeardFirst = st.name
	}
	tools := []seer{a}
	if base != nil {
		tools = append(tools, base)
	}
	if shipper != nil {
		tools = append(tools, shipper)
		res.ES = true
	}
	if fs != nil {
		tools = append(tools, fs)
		res.Forkstat = true
	}
	ready, err := b.probe(30*time.Second, tools...)
	if err != nil {
		return res, err
	}
	if b.warmup > 0 {
		// The same storm first, unmeasured: the window starts at the probe
		// that follows it, once every tool has caught up.
		wm := markers{prefix: fmt.Sprintf("spawnbeat-bench-%s-%s-%d-%d-warmup-", b.runID, k.Tag, rate, rep), n: b.warmup}
		b.logf("  warm-up: %d processes", b.warmup)
		if _, err := b.fleet.run(b.ctx, k, wm, rate); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
		if ready, err = b.probe(60*time.Second, tools...); err != nil {
			return res, err
		}
	}
	time.Sleep(300 * time.Millisecond) // let start-up work settle before the CPU baseline
	agent0, err := cpuTime(a.pid())
	if err != nil {
		return res, err
	}
	bpf0, err := programTime(b.ctx, a)
	if err != nil {
		return res, err
	}
	var fs0, base0, baseBPF0, es0, esBPF0, esServer0 time.Duration
	if shipper != nil {
		if es0, err = cpuTime(shipper.pid()); err != nil {
			return res, err
		}
		if esBPF0, err = programTime(b.ctx, shipper); err != nil {
			return res, err
		}
		if esServer0, err = cpuTime(es.pid()); err != nil {
			return res, err
		}
	}
	if fs != nil {
		if fs0, err = cpuTime(fs.pid()); err != nil {
			return res, err
		}
	}
	if base != nil {
		if base0, err = cpuTime(base.pid()); err != nil {
			return res, err
		}
		if baseBPF0, err = programTime(b.ctx, base); err != nil {
			return res, err
		}
	}

	// Each profiled agent (the file output's, and the shipper with -es)
	// sends one result on profiled.
	profiled := make(chan error, 2)
	nprof := 0
	if b.profile != "" {
		name := fmt.Sprintf("storm-%s-%d-%d", k.Tag, rate, rep) // rate 0: max
		for _, p := range []struct {
			ag     *agent
			suffix string
		}{{a, ""}, {shipper, "-es"}} {
			if p.ag == nil {
				continue
			}
			path := filepath.Join(b.profile, name+p.suffix+".pprof")
			nprof++
			go func() { profiled <- p.ag.cpuProfile(b.ctx, b.profSecs, path) }()
		}
	}
	m := markers{prefix: fmt.Sprintf("spawnbeat-bench-%s-%s-%d-%d-", b.runID, k.Tag, rate, rep), n: b.n}
	st, err := b.fleet.run(b.ctx, k, m, rate)
	for range nprof {
		if err := <-profiled; err != nil {
			b.logf("%s: %v", home, err)
		}
	}
	if err != nil {
		return res, err
	}
	if st.err != nil {
		b.logf("%s: %d launches failed, first: %v", home, st.failed, st.err)
	}
	res.Launched, res.Failed = b.n-st.failed, st.failed
	if st.elapsed > 0 {
		res.Achieved = float64(res.Launched) / st.elapsed.Seconds()
	}
	res.LauncherCPU, res.ProcCPU = st.selfCPU, st.procCPU

	end, err := b.probe(60*time.Second, tools...)
	if err != nil {
		return res, err
	}
	if res.Agent, err = measure(a.pid(), agent0); err != nil {
		return res, err
	}
	if fs != nil {
		if res.FS, err = measure(fs.pid(), fs0); err != nil {
			return res, err
		}
	}
	if base != nil {
		if res.Base, err = measure(base.pid(), base0); err != nil {
			return res, err
		}
		bpf, err := programTime(b.ctx, base)
		if err != nil {
			return res, err
		}
		res.Base.CPU += bpf - baseBPF0
	}
	if shipper != nil {
		if res.ESAgent, err = measure(shipper.pid(), es0); err != nil {
			return res, err
		}
		st, err := shipper.stats(b.ctx)
		if err != nil {
			return res, err
		}
		res.ESAgent.CPU += time.Duration(st.Capture.ExecArgs.ProgramNS) - esBPF0
		res.ESLost, res.ESDropped = st.Capture.Kernel.Lost, st.Queue.Dropped+st.Queue.Rejected
		srv, err := cpuTime(es.pid())
		if err != nil {
			return res, err
		}
		res.ESServerCPU = srv - esServer0
	}
	stats, err := a.stats(b.ctx)
	if err != nil {
		return res, err
	}
	res.AgentBPF = time.Duration(stats.Capture.ExecArgs.ProgramNS) - bpf0
	res.Agent.CPU += res.AgentBPF
	res.Lost, res.Dropped = stats.Capture.Kernel.Lost, stats.Queue.Dropped+stats.Queue.Rejected
	if err := a.stop(30 * time.Second); err != nil {
		b.logf("%s: spawnbeat did not exit cleanly after SIGTERM: %v", home, err)
	}
	if fs != nil {
		_ = fs.stop(5 * time.Second) // forkstat's exit status on SIGTERM says nothing
	}
	if base != nil {
		if err := base.stop(30 * time.Second); err != nil {
			b.logf("%s-baseline: the baseline spawnbeat did not exit cleanly after SIGTERM: %v", home, err)
		}
	}

	byPid := make(map[int]int, b.n)
	for i, pid := range st.pids {
		if pid != 0 {
			byPid[pid] = i
		}
	}
	if err := countAgent(a, k, m, st, byPid, ready, end, &res); err != nil {
		return res, err
	}
	if fs != nil {
		if err := countForkstat(fs, k, m, byPid, &res); err != nil {
			return res, err
		}
	}
	if base != nil {
		var br stormResult
		br.States = map[string]int{}
		if err := countAgent(base, k, m, st, byPid, ready, end, &br); err != nil {
			return res, err
		}
		res.BaseFull = br.Full
	}
	if shipper != nil {
		if err := shipper.stop(30 * time.Second); err != nil {
			b.logf("%s-es: the spawnbeat shipping to Elasticsearch did not exit cleanly after SIGTERM: %v", home, err)
		}
		var er stormResult
		er.States = map[string]int{}
		if err := countAgent(shipper, k, m, st, byPid, ready, end, &er); err != nil {
			return res, err
		}
		res.ESDocs, res.ESFull, res.ESParentFull = er.Docs, er.Full, er.ParentFull
	}
	if !b.keep {
		_ = os.RemoveAll(home)
		_ = os.RemoveAll(home + "-baseline")
		_ = os.RemoveAll(home + "-es")
	}
	return res, nil
}

// programTime is the run time of a's BPF program so far, as its stats
// report it (zero for a build without one, or while the kernel does not
// count it).
func programTime(ctx context.Context, a *agent) (time.Duration, error) {
	st, err := a.stats(ctx)
	return time.Duration(st.Capture.ExecArgs.ProgramNS), err
}

// measure returns the CPU used since cpu0 and the memory of pid now.
func measure(pid int, cpu0 time.Duration) (usage, error) {
	cpu, err := cpuTime(pid)
	if err != nil {
		return usage{}, err
	}
	mem, err := readMemory(pid)
	if err != nil {
		return usage{}, err
	}
	return usage{CPU: cpu - cpu0, Mem: mem}, nil
}

// countAgent matches spawnbeat's exec documents to the storm's processes
// (byPid: the storm's pids to their indexes).
func countAgent(a *agent, k kind, m markers, st storm, byPid map[int]int, ready, end string, res *stormResult) error {
	seen := make([]bool, m.n)
	inWindow := false
	return a.eachDoc(func(d *doc) {
		if d.Event.Action != "exec" {
			return
		}
		switch {
		case slices.Contains(d.Process.Args, ready):
			inWindow = true
			return
		case slices.Contains(d.Process.Args, end):
			inWindow = false
			return
		}
		i, ok := m.index(d.Process.Args)
		if !ok {
			// Args missing (the process exited before /proc was read):
			// the pid and its launcher as parent still identify it.
			if j, found := byPid[d.Process.Pid]; found && d.Process.Parent.Pid == st.parents[j] {
				i, ok = j, true
			}
		}
		if !ok {
			_, child := byPid[d.Process.Parent.Pid]
			_, launcher := st.argv[d.Process.Pid]
			if inWindow && !child && !launcher {
				res.Other++ // neither a storm process, nor one of sh's sleeps, nor a launcher
			}
			return
		}
		if seen[i] {
			return
		}
		seen[i] = true
		res.Docs++
		if slices.Equal(d.Process.Args, k.argv(m.marker(i))) {
			res.Full++
		}
		if slices.Equal(d.Process.Parent.Args, st.argv[st.parents[i]]) {
			res.ParentFull++
		}
		state := d.Spawnbeat.ReadState
		if state == "" {
			state = "none"
		}
		res.States[state]++
	})
}

// countForkstat matches forkstat's exec lines to the storm's processes.
func countForkstat(fs *forkstat, k kind, m markers, byPid map[int]int, res *stormResult) error {
	seen := make([]bool, m.n)
	return fs.eachExec(func(pid int, cmdline []byte) {
		i, ok := byPid[pid]
		if !ok || seen[i] {
			return
		}
		seen[i] = true
		res.FSSeen++
		if string(cmdline) == strings.Join(k.argv(m.marker(i)), " ") {
			res.FSFull++
		}
	})
}

// attackResult is one series of pty.spawn attacks.
type attackResult struct {
	Run       int             // attacks run
	Failed    int             // python exited non-zero or timed out
	One       int             // attacks with exactly one alert
	None      int             // … with none
	Many      int             // … with more than one
	Stray     int             // alerts of processes that are not these attacks (others' tests on a shared machine)
	Latencies []time.Duration // event.created − @timestamp of each attributed alert
	Misses    []string        // for each attack without an alert: what spawnbeat wrote for its shell

	// With -attack-storm: the storm's exec documents and their
	// event.created − @timestamp, and the agent's counters at the end.
	StormLatencies []time.Duration
	Storms, Woken  uint64 // capture.Kernel.Storms and .Woken
}

// attackCode is the python of the attack: Elastic's rule, branch 1
// (python -c with pty.spawn); the marker rides in a trailing comment.
const attackCode = `import pty; pty.spawn("/bin/sh") # %s`

// runAttacks runs the attacks one after another under a fresh spawnbeat
// and matches the alert documents to them by the marker in the parent's
// (python's) args.
func (b *bench) runAttacks(n, rep int) (attackResult, error) {
	var res attackResult
	home := filepath.Join(b.tmp, fmt.Sprintf("attacks-%d", rep))
	a, err := startAgent(b.ctx, "spawnbeat", b.binary, b.set, home)
	if err != nil {
		return res, err
	}
	defer func() { _ = a.stop(30 * time.Second) }()
	if _, err := b.probe(30*time.Second, a); err != nil {
		return res, err
	}
	m := markers{prefix: fmt.Sprintf("spawnbeat-bench-%s-attack-%d-", b.runID, rep), n: n}
	stormMarker := m.prefix + "storm"
	if b.attackStorm {
		stop, err := b.startAttackStorm(a, stormMarker)
		if err != nil {
			return res, err
		}
		defer stop()
	}
	for i := range n {
		if b.ctx.Err() != nil {
			return res, b.ctx.Err()
		}
		res.Run++
		if err := attack(fmt.Sprintf(attackCode, m.marker(i))); err != nil {
			res.Failed++
			b.logf("attack %d: %v", i, err)
		}
	}
	if _, err := b.probe(60*time.Second, a); err != nil {
		return res, err
	}
	st, err := a.stats(b.ctx)
	if err != nil {
		return res, err
	}
	res.Storms, res.Woken = st.Capture.Kernel.Storms, st.Capture.Kernel.Woken
	if err := a.stop(30 * time.Second); err != nil {
		b.logf("%s: spawnbeat did not exit cleanly after SIGTERM: %v", home, err)
	}
	alerts := make([]int, n)
	shells := make([]string, n) // python's first child exec, to explain a miss
	var parseErr error
	err = a.eachDoc(func(d *doc) {
		if d.Event.Kind != "alert" && d.Event.Action == "exec" && slices.Contains(d.Process.Args, stormMarker) {
			if l, err := docLatency(d); err == nil {
				res.StormLatencies = append(res.StormLatencies, l)
			}
			return
		}
		if d.Event.Kind != "alert" {
			if i, ok := m.index(d.Process.Parent.Args); ok && d.Event.Action == "exec" && shells[i] == "" {
				shells[i] = fmt.Sprintf("%s %q (read_state %s), parent %s with %d args",
					d.Process.Name, d.Process.Args, d.Spawnbeat.ReadState, d.Process.Parent.Name, len(d.Process.Parent.Args))
			}
			return
		}
		i, ok := m.index(d.Process.Parent.Args)
		if !ok {
			res.Stray++
			return
		}
		alerts[i]++
		l, err := docLatency(d)
		if err != nil {
			if parseErr == nil {
				parseErr = fmt.Errorf("alert of attack %d: %w", i, err)
			}
			return
		}
		res.Latencies = append(res.Latencies, l)
	})
	if err = errors.Join(err, parseErr); err != nil {
		return res, err
	}
	for i, c := range alerts {
		switch c {
		case 1:
			res.One++
		case 0:
			res.None++
			shell := shells[i]
			if shell == "" {
				shell = "no exec document with python as parent"
			}
			res.Misses = append(res.Misses, fmt.Sprintf("attack %d: no alert; its shell: %s", i, shell))
		default:
			res.Many++
		}
	}
	if !b.keep {
		_ = os.RemoveAll(home)
	}
	return res, nil
}

// docLatency is a document's event.created − @timestamp: how long after
// the exec spawnbeat built it.
func docLatency(d *doc) (time.Duration, error) {
	ts, err1 := time.Parse(time.RFC3339Nano, d.Timestamp)
	created, err2 := time.Parse(time.RFC3339Nano, d.Event.Created)
	return created.Sub(ts), errors.Join(err1, err2)
}

// startAttackStorm starts two shell loops of /bin/true with marker as
// argument, and returns once agent a reports an exec storm; stop ends the
// loops and waits for them.
func (b *bench) startAttackStorm(a *agent, marker string) (stop func(), err error) {
	flag := filepath.Join(b.tmp, marker+".stop")
	var loops []*exec.Cmd
	stop = func() {
		_ = os.WriteFile(flag, nil, 0o600)
		for _, l := range loops {
			_ = l.Wait()
		}
		_ = os.Remove(flag)
	}
	for range 2 {
		l := exec.Command("/bin/sh", "-c", `while [ ! -e "$1" ]; do /bin/true "$2"; done`, "attack-storm", flag, marker)
		if err := l.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start the attacks' storm: %w", err)
		}
		loops = append(loops, l)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := a.stats(b.ctx)
		if err == nil && st.Capture.Kernel.Storms > 0 {
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			if err != nil {
				return nil, fmt.Errorf("the attacks' storm: %w", err)
			}
			return nil, errors.New("the attacks' storm: spawnbeat counted no exec storm in 10 s")
		}
	}
}

// attack runs python's pty.spawn with "exit" on a pipe as its stdin: the
// shell it spawns on a new pseudo-terminal reads the exit and ends, and so
// does python. It is killed (by pid) after 20 s.
func attack(code string) error {
	cmd := exec.Command("/usr/bin/python3", "-c", code)
	cmd.Stdin = strings.NewReader("exit\n")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start python: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("python: %w: %s", err, tail(out.String(), 300))
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("python: killed after 20s")
	}
}
