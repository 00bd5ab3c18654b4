package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

func main() {
	if status, ok := launcherRole(); ok {
		os.Exit(status)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line's settings.
type options struct {
	n           int
	rates       []int
	kinds       []kind // the storms to run
	reps        int
	attacks     int
	spawnbeat   string
	baseline    string // another spawnbeat to run side by side
	forkstat    string
	keep        bool
	launchers   int
	boost       int    // spawnbeat.capture.priority_boost
	execArgs    string // spawnbeat.capture.exec_args ("": the default)
	baseArgs    string // … of the baseline
	es          bool   // also ship every storm to Elasticsearch (tests/esserver), side by side
	profile     string // save a CPU profile of spawnbeat's first profSecs of each storm here; "": none
	profSecs    int
	queue       string // "mem" or queueDisk, for spawnbeat and the baseline
	warmup      int    // processes of the same storm each tool sees before the measured one
	attackStorm bool   // the attacks run during a /bin/true storm
}

// quick settings: a run of about a minute to check that everything works.
const (
	quickN       = 300
	quickReps    = 1
	quickAttacks = 10
)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fl := flag.NewFlagSet("capture", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.IntVar(&o.n, "n", 2000, "processes per storm")
	rates := fl.String("rate", "500,1000,0", "launch rates per second, comma-separated; 0 is as fast as the launchers can fork+exec")
	storms := fl.String("storms", "true,sh,exit0", "the storms to run, comma-separated: true (/bin/true), sh (sh -c 'sleep 0.005'), exit0 (a static program that only exits)")
	fl.IntVar(&o.launchers, "launchers", defaultLaunchers, "launcher processes that start each storm's processes")
	fl.IntVar(&o.reps, "reps", 3, "runs of each measurement; the table shows medians")
	fl.IntVar(&o.attacks, "attacks", 100, "pty.spawn attacks per run for the detection latency; 0 skips them")
	fl.BoolVar(&o.attackStorm, "attack-storm", false, "run the attacks during an exec storm (/bin/true from two shell loops), as an attack hidden in a busy host's execs would be")
	quick := fl.Bool("quick", false, fmt.Sprintf("a fast run: -n %d -reps %d -attacks %d unless given", quickN, quickReps, quickAttacks))
	fl.StringVar(&o.spawnbeat, "spawnbeat", "", "a spawnbeat binary to measure; empty builds ./cmd/spawnbeat")
	fl.StringVar(&o.baseline, "baseline", "", "another spawnbeat binary (an older build, say) to run side by side on every storm; the report gives spawnbeat's CPU as a ratio to it")
	fl.StringVar(&o.forkstat, "forkstat", "forkstat", `forkstat to run side by side (a name on PATH or a path); "none" skips it`)
	fl.BoolVar(&o.keep, "keep", false, "keep each run's home (spawnbeat's output and logs, forkstat's output)")
	fl.IntVar(&o.boost, "priority-boost", 0, "spawnbeat.capture.priority_boost for spawnbeat (forkstat runs at the harness's priority)")
	fl.StringVar(&o.execArgs, "exec-args", "", "spawnbeat.capture.exec_args for spawnbeat (auto, kernel, proc); empty leaves the default")
	fl.StringVar(&o.baseArgs, "baseline-exec-args", "", "spawnbeat.capture.exec_args for the baseline")
	fl.StringVar(&o.profile, "cpuprofile", "", "a directory: save a CPU profile of spawnbeat (Go's pprof, from its monitoring endpoint) over the first -profile-seconds of each storm there, as storm-<kind>-<rate, 0 for max>-<run>.pprof (with -es, the shipper's as …-<run>-es.pprof); the profiler's own CPU is then in spawnbeat's figures")
	fl.IntVar(&o.profSecs, "profile-seconds", 10, "the length of each -cpuprofile profile, from the storm's start")
	fl.BoolVar(&o.es, "es", false, "run a second spawnbeat side by side on every storm that ships to Elasticsearch (tests/esserver, in a child process) with output.elasticsearch's defaults (gzip level 1)")
	fl.IntVar(&o.warmup, "warmup", 0, "processes of the same storm, at the same rate, that every tool sees before each measured storm, so that spawnbeat is measured as an agent that has run a while (its process table full, exited processes expiring after cache.exit_grace, 30 s by default) rather than freshly started; 0: none")
	fl.StringVar(&o.queue, "queue", "mem", `the queue of spawnbeat and the baseline: "mem" (the default memory queue) or "disk" (queue.disk at its defaults under each run's path.data)`)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./tests/bench/capture [flags]   (as root)")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return o, err
	}
	if fl.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if *quick {
		set := map[string]bool{}
		fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["n"] {
			o.n = quickN
		}
		if !set["reps"] {
			o.reps = quickReps
		}
		if !set["attacks"] {
			o.attacks = quickAttacks
		}
	}
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || v < 0 {
			return o, fmt.Errorf("-rate %q: want rates ≥ 0 separated by commas", *rates)
		}
		o.rates = append(o.rates, v)
	}
	for _, tag := range strings.Split(*storms, ",") {
		i := slices.IndexFunc(stormKinds(), func(k kind) bool { return k.Tag == strings.TrimSpace(tag) })
		if i < 0 {
			return o, fmt.Errorf("-storms %q: want some of true, sh, exit0", *storms)
		}
		o.kinds = append(o.kinds, stormKinds()[i])
	}
	if o.n < 1 || o.reps < 1 || o.attacks < 0 || o.launchers < 1 || o.warmup < 0 {
		return o, errors.New("-n, -reps and -launchers must be at least 1, -attacks and -warmup at least 0")
	}
	if o.profSecs < 1 {
		return o, errors.New("-profile-seconds must be at least 1")
	}
	if o.queue != "mem" && o.queue != queueDisk {
		return o, fmt.Errorf("-queue %q: want mem or disk", o.queue)
	}
	if o.boost < 0 || o.boost > 20 {
		return o, errors.New("-priority-boost must be within 0..20")
	}
	return o, nil
}

// run is the program; it returns the exit status: 0 when every
// measurement ran, 1 when spawnbeat could not be built or started or a
// measurement failed, 2 on a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "capture:", err)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "capture: must run as root (the proc connector needs CAP_NET_ADMIN)")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// spawnbeat's BPF program runs in the exec'ing processes, so its time
	// is not in spawnbeat's utime+stime: have the kernel count it, and add
	// it. On until this process exits.
	if on, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME); err != nil {
		fmt.Fprintln(stderr, "capture: the kernel will not count BPF run time, so spawnbeat's CPU leaves out its program's:", err)
	} else {
		defer on.Close()
	}

	tmp, err := os.MkdirTemp("", "spawnbeat-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "capture:", err)
		return 1
	}
	if o.keep {
		fmt.Fprintln(stderr, "capture: keeping run homes in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(stderr, "capture:", err)
		return 1
	}
	binary, built := o.spawnbeat, "binary "+o.spawnbeat
	if binary == "" {
		binary, built = filepath.Join(tmp, "spawnbeat"), "at "+treeCommit(root)
		fmt.Fprintln(stderr, "capture: building spawnbeat")
		build := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/spawnbeat")
		build.Dir, build.Stdout, build.Stderr = root, stderr, stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(stderr, "capture: build spawnbeat:", err)
			return 1
		}
	}
	if o.baseline != "" {
		if _, err := os.Stat(o.baseline); err != nil {
			fmt.Fprintln(stderr, "capture: -baseline:", err)
			return 2
		}
	}
	esBin := ""
	if o.es {
		fmt.Fprintln(stderr, "capture: building the Elasticsearch test server")
		if esBin, err = buildESServer(ctx, root, tmp); err != nil {
			fmt.Fprintln(stderr, "capture:", err)
			return 1
		}
	}
	fsPath := ""
	if o.forkstat != "none" {
		if fsPath, err = exec.LookPath(o.forkstat); err != nil {
			fmt.Fprintf(stderr, "capture: forkstat not found (%v; Debian: apt-get install -y forkstat): reporting spawnbeat only\n", err)
			fsPath = ""
		}
	}
	if err := writeExit0(); err != nil {
		fmt.Fprintln(stderr, "capture:", err)
		return 1
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		fmt.Fprintln(stderr, "capture:", err)
		return 1
	}
	defer devnull.Close()
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "capture: find this binary to run it as the launchers:", err)
		return 1
	}

	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			fmt.Fprintln(stderr, "capture: -cpuprofile:", err)
			return 1
		}
	}
	b := &bench{
		ctx: ctx, binary: binary, baseline: o.baseline, forkstat: fsPath, esserver: esBin, tmp: tmp, n: o.n, warmup: o.warmup, keep: o.keep,
		attackStorm: o.attackStorm,
		profile:     o.profile, profSecs: o.profSecs,
		set:     settings{boost: o.boost, execArgs: o.execArgs, queue: o.queue, pprof: o.profile != ""},
		baseSet: settings{boost: o.boost, execArgs: o.baseArgs, queue: o.queue},
		runID:   strconv.FormatInt(time.Now().UnixNano()%1e9, 36),
		probes:  &direct{s: newStarter(devnull)}, fleet: fleet{exe: exe, count: o.launchers}, log: stderr,
	}
	defer b.probes.wait()
	rep := report{opts: o, args: args, forkstat: fsPath != "", built: built, start: time.Now(), load: loadavg()}
	status := 0
	for r := 1; r <= o.reps; r++ {
		for _, k := range o.kinds {
			for _, rate := range o.rates {
				b.logf("run %d/%d: %s storm at %s", r, o.reps, k.Name, rateName(rate))
				res, err := b.runStorm(k, rate, r)
				if errors.Is(err, errNotStarted) {
					fmt.Fprintln(stderr, "capture: spawnbeat failed to start:", err)
					return 1
				}
				if err != nil {
					b.logf("run %d: %s storm at %s failed: %v", r, k.Name, rateName(rate), err)
					status = 1
					continue
				}
				b.logf("  launched %d (%.0f/s); spawnbeat %d docs, %d full args; forkstat %d full",
					res.Launched, res.Achieved, res.Docs, res.Full, res.FSFull)
				rep.storms = append(rep.storms, res)
			}
		}
		if o.attacks > 0 {
			b.logf("run %d/%d: %d pty.spawn attacks", r, o.reps, o.attacks)
			res, err := b.runAttacks(o.attacks, r)
			if errors.Is(err, errNotStarted) {
				fmt.Fprintln(stderr, "capture: spawnbeat failed to start:", err)
				return 1
			}
			if err != nil {
				b.logf("run %d: attacks failed: %v", r, err)
				status = 1
				continue
			}
			rep.attacks = append(rep.attacks, res)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "capture: interrupted")
		status = 1
	}
	rep.write(stdout)
	return status
}

// moduleRoot is the directory of spawnbeat's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside spawnbeat's module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

func rateName(rate int) string {
	if rate == 0 {
		return "max"
	}
	return strconv.Itoa(rate) + "/s"
}
