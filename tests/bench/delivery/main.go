package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
)

// Targets of the design: one core delivers at least 50,000 documents per
// second with the memory queue, and the disk queue is no worse than 2x slower.
const (
	targetMemDocsPerSec = 50000
	targetDiskSlowdown  = 2.0
)

// errTarget means -check was given and a target was missed.
var errTarget = errors.New("target missed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "delivery:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	events    int
	reps      int
	quick     bool
	procs     int
	check     bool
	esserver  string
	verbose   bool
	skipDisk  bool
	gzipLevel int
	full      bool
	profile   string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("delivery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.events, "events", 200000, "documents per run (rounded up to a multiple of bulk_max_size, so that no run waits for a flush timeout)")
	fs.IntVar(&o.reps, "reps", 3, "runs per combination; the table shows medians")
	fs.BoolVar(&o.quick, "quick", false, "a short smoke run: 20,000 documents, one run per combination")
	fs.IntVar(&o.procs, "procs", 1, "GOMAXPROCS of the agent side (the server is a separate process)")
	fs.BoolVar(&o.check, "check", false, "exit non-zero when a target is missed")
	fs.StringVar(&o.esserver, "esserver", "", "prebuilt tests/esserver/cmd/esserver binary (built on the fly when empty)")
	fs.BoolVar(&o.verbose, "v", false, "log the pipeline and output at info level to stderr")
	fs.BoolVar(&o.skipDisk, "no-disk", false, "skip the disk queue")
	fs.BoolVar(&o.full, "full", false, "full-size documents (~2.7 KB, with the Session View leaders, as the agent writes them) instead of ~1.5 KB")
	fs.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the agent side (all runs) to this file")
	fs.IntVar(&o.gzipLevel, "gzip", 1, "compression_level of the gzip runs (the other runs use 0)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.quick {
		o.events, o.reps = 20000, 1
	}
	if o.events < 1 || o.reps < 1 || o.procs < 1 || o.gzipLevel < 1 || o.gzipLevel > 9 {
		return o, fmt.Errorf("-events, -reps and -procs must be positive and -gzip 1..9, got %d, %d, %d, %d", o.events, o.reps, o.procs, o.gzipLevel)
	}
	bulk := elasticsearch.DefaultBulkMaxSize
	o.events = (o.events + bulk - 1) / bulk * bulk
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	runtime.GOMAXPROCS(o.procs)
	log := zap.NewNop()
	if o.verbose {
		l, err := zap.NewDevelopment(zap.IncreaseLevel(zap.InfoLevel))
		if err != nil {
			return fmt.Errorf("logger: %w", err)
		}
		log = l
	}

	tmp, err := os.MkdirTemp("", "delivery-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := o.esserver
	if bin == "" {
		if bin, err = buildServer(ctx, tmp); err != nil {
			return err
		}
	}

	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	combos := []combo{{Disk: false, Gzip: 0}, {Disk: false, Gzip: o.gzipLevel}}
	if !o.skipDisk {
		combos = append(combos, combo{Disk: true, Gzip: 0}, combo{Disk: true, Gzip: o.gzipLevel})
	}
	fmt.Fprintf(stderr, "delivery: %d documents per run, %d run(s) per combination, GOMAXPROCS=%d, %d CPUs\n",
		o.events, o.reps, o.procs, runtime.NumCPU())

	results := make(map[combo][]result, len(combos))
	// Repetitions go round the combinations, so that a noisy minute on a
	// shared machine does not fall on one combination only.
	for rep := range o.reps {
		for _, c := range combos {
			r, err := runOnce(ctx, params{serverBin: bin, tmp: tmp, events: o.events, full: o.full, log: log}, c)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", c, rep+1, err)
			}
			fmt.Fprintf(stderr, "  %-24s run %d: %8.0f docs/s, agent %6.1f ms CPU/10k docs\n", c, rep+1, r.docsPerSec(), r.per10k(r.AgentCPU))
			results[c] = append(results[c], r)
		}
	}
	encCPU, docSize, err := encodeCPU(o.events, o.full)
	if err != nil {
		return err
	}

	rows := make([]row, 0, len(combos))
	for _, c := range combos {
		rows = append(rows, summarize(c, results[c]))
	}
	encPer10k := float64(encCPU.Milliseconds()) * 10000 / float64(o.events)
	writeTable(stdout, rows, docSize, encPer10k)
	misses := checkTargets(rows)
	for _, m := range misses {
		fmt.Fprintln(stdout, "MISSED:", m)
	}
	if len(misses) == 0 {
		fmt.Fprintf(stdout, "targets met (wall and one core): memory queue >= %d docs/s, disk queue no worse than %.0fx slower\n", targetMemDocsPerSec, targetDiskSlowdown)
	}
	if o.check && len(misses) > 0 {
		return fmt.Errorf("%d of the targets: %w", len(misses), errTarget)
	}
	return nil
}

// row is one line of the table: medians over the runs of a combination.
type row struct {
	combo
	runs                     int
	docsPerSec, minD, maxD   float64
	agentPer10k, serverPer10 float64
	capacity                 float64 // documents per second of agent CPU: what one core can push
	rawPerDoc, wirePerDoc    float64
}

func summarize(c combo, rs []result) row {
	r := row{combo: c, runs: len(rs)}
	rates := make([]float64, len(rs))
	agent := make([]float64, len(rs))
	srv := make([]float64, len(rs))
	for i, x := range rs {
		rates[i], agent[i], srv[i] = x.docsPerSec(), x.per10k(x.AgentCPU), x.per10k(x.ServerCPU)
	}
	r.docsPerSec, r.agentPer10k, r.serverPer10 = median(rates), median(agent), median(srv)
	r.minD, r.maxD = slices.Min(rates), slices.Max(rates)
	if r.agentPer10k > 0 {
		r.capacity = 10000 / (r.agentPer10k / 1000)
	}
	last := rs[len(rs)-1]
	r.rawPerDoc = float64(last.BytesRaw) / float64(last.Events)
	r.wirePerDoc = float64(last.BytesSent) / float64(last.Events)
	return r
}

// median returns the middle value (the mean of the two middle ones for an
// even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// checkTargets returns the targets rows miss, judged on two measures:
// "wall" is documents per second of elapsed time, which the test server
// (another process, several times the agent's CPU per document) and a busy
// machine bound; "one core" is documents per second of the agent side's
// own CPU, what one core running spawnbeat's delivery can push.
func checkTargets(rows []row) []string {
	var misses []string
	type rates struct{ wall, core float64 }
	mem := map[int]rates{}
	for _, r := range rows {
		if r.Disk {
			continue
		}
		mem[r.Gzip] = rates{r.docsPerSec, r.capacity}
		if r.docsPerSec < targetMemDocsPerSec {
			misses = append(misses, fmt.Sprintf("%s, wall: %.0f docs/s, target %d", r.combo, r.docsPerSec, targetMemDocsPerSec))
		}
		if r.capacity < targetMemDocsPerSec {
			misses = append(misses, fmt.Sprintf("%s, one core: %.0f docs per CPU-second, target %d", r.combo, r.capacity, targetMemDocsPerSec))
		}
	}
	for _, r := range rows {
		m, ok := mem[r.Gzip]
		if !r.Disk || !ok {
			continue
		}
		if r.docsPerSec*targetDiskSlowdown < m.wall {
			misses = append(misses, fmt.Sprintf("%s, wall: %.0f docs/s, more than %.0fx slower than memory (%.0f)", r.combo, r.docsPerSec, targetDiskSlowdown, m.wall))
		}
		if r.capacity*targetDiskSlowdown < m.core {
			misses = append(misses, fmt.Sprintf("%s, one core: %.0f docs per CPU-second, more than %.0fx below memory (%.0f)", r.combo, r.capacity, targetDiskSlowdown, m.core))
		}
	}
	return misses
}

func writeTable(w io.Writer, rows []row, docSize int, encPer10k float64) {
	fmt.Fprintf(w, "\n| queue  | gzip | docs/s wall (median) | wall min–max    | agent CPU ms / 10k docs | docs per agent CPU-s | server CPU ms / 10k docs | bytes/doc raw | on the wire |\n")
	fmt.Fprintf(w, "|--------|------|----------------------|-----------------|-------------------------|----------------------|--------------------------|---------------|-------------|\n")
	for _, r := range rows {
		q := "memory"
		if r.Disk {
			q = "disk"
		}
		fmt.Fprintf(w, "| %-6s | %4d | %20.0f | %6.0f–%-8.0f | %23.1f | %20.0f | %24.1f | %13.0f | %11.0f |\n",
			q, r.Gzip, r.docsPerSec, r.minD, r.maxD, r.agentPer10k, r.capacity, r.serverPer10, r.rawPerDoc, r.wirePerDoc)
	}
	fmt.Fprintf(w, "\ndocument %d bytes on average; generating and encoding alone cost %.1f ms CPU / 10k docs (included in agent CPU)\n", docSize, encPer10k)
	fmt.Fprintf(w, "%s/%s, %d CPUs, GOMAXPROCS %d, %s, %d run(s) per row\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339), rowsRuns(rows))
}

func rowsRuns(rows []row) int {
	if len(rows) == 0 {
		return 0
	}
	return rows[0].runs
}
