package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects the results and writes them as Markdown tables. It is
// not safe for concurrent use.
type report struct {
	opts     options
	args     []string
	forkstat bool
	built    string // what spawnbeat was built from: "at <commit>", or the binary given
	start    time.Time
	load     string // load average at the start
	storms   []stormResult
	attacks  []attackResult
}

// median of xs (the mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile by nearest rank (p in (0,100]) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// of returns the median over results of f.
func of(rs []stormResult, f func(stormResult) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return median(xs)
}

func pct(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

func perK(d time.Duration, execs int) float64 {
	if execs == 0 {
		return 0
	}
	return float64(d.Microseconds()) / 1e3 * 1000 / float64(execs)
}

func mib(kib uint64) float64 { return float64(kib) / 1024 }

// command is the command line that reproduces the run.
func (r *report) command() string {
	parts := []string{"go run ./tests/bench/capture"}
	for _, a := range r.args {
		if strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// loadavg is the 1-, 5- and 15-minute load average from /proc/loadavg.
func loadavg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func (r *report) machine() string {
	kernel := "?"
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(raw))
	}
	return fmt.Sprintf("Linux %s %s, %d CPUs, spawnbeat %s", kernel, runtime.GOARCH, runtime.NumCPU(), r.built)
}

// treeCommit describes the working tree at root as it is now, when the
// harness builds spawnbeat from it: HEAD's commit, and whether the tree
// differs from it.
func treeCommit(root string) string {
	commit := "?"
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(out) > 0 {
		commit += " with uncommitted changes"
	}
	return commit
}

// groups splits the storm results by storm and rate, in the order run.
func (r *report) groups() [][]stormResult {
	var keys []string
	by := map[string][]stormResult{}
	for _, s := range r.storms {
		k := fmt.Sprintf("%s@%d", s.Kind, s.Rate)
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], s)
	}
	out := make([][]stormResult, len(keys))
	for i, k := range keys {
		out[i] = by[k]
	}
	return out
}

func (r *report) write(w io.Writer) {
	fmt.Fprintf(w, "\n### Capture benchmark (%s, %s)\n\n", r.start.UTC().Format("2006-01-02 15:04 MST"), r.machine())
	fmt.Fprintf(w, "Load average at start %s, at end %s (the machine is shared; rates and CPU are rough, counts and ratios solid).  \n", r.load, loadavg())
	fmt.Fprintf(w, "Command (as root): `%s`  \n", r.command())
	boost := ""
	if r.opts.boost > 0 {
		boost = fmt.Sprintf("; spawnbeat with priority_boost %d (forkstat without)", r.opts.boost)
	}
	if r.opts.execArgs != "" {
		boost += "; spawnbeat with exec_args " + r.opts.execArgs
	}
	if r.opts.queue == queueDisk {
		boost += "; spawnbeat and the baseline with the disk queue (queue.disk defaults)"
	}
	if r.opts.baseArgs != "" {
		boost += "; the baseline with exec_args " + r.opts.baseArgs
	}
	if r.opts.warmup > 0 {
		boost += fmt.Sprintf("; each measured storm after a warm-up of %d processes of the same storm, seen by every tool", r.opts.warmup)
	}
	fmt.Fprintf(w, "Settings: %d processes per storm from %d launcher processes, rates %s, medians of %d runs; %d pty.spawn attacks per run%s.\n\n",
		r.opts.n, r.opts.launchers, rateList(r.opts.rates), r.opts.reps, r.opts.attacks, boost)
	if len(r.storms) > 0 {
		r.writeStorms(w)
		if r.opts.baseline != "" {
			r.writeBaseline(w)
		}
		if r.opts.es {
			r.writeES(w)
		}
	}
	if len(r.attacks) > 0 {
		r.writeAttacks(w)
	}
}

// heardFirst counts the runs in which each tool subscribed last.
func (r *report) heardFirst() string {
	var names []string
	count := map[string]int{}
	for _, x := range r.groups()[0] { // every storm took the same turns
		if count[x.HeardFirst] == 0 {
			names = append(names, x.HeardFirst)
		}
		count[x.HeardFirst]++
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s last in %d", n, count[n])
	}
	return strings.Join(parts, ", ")
}

func rateList(rates []int) string {
	s := make([]string, len(rates))
	for i, v := range rates {
		s[i] = rateName(v)
	}
	return strings.Join(s, ", ")
}

func (r *report) writeStorms(w io.Writer) {
	groups := r.groups()
	fmt.Fprintln(w, "Completeness (median % of the processes launched):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| storm | rate (achieved /s) | runs | launched | spawnbeat docs | full args | parent args | lost (ENOBUFS) | dropped | forkstat seen | forkstat full args |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, g := range groups {
		s := g[0]
		fsSeen, fsFull := "—", "—"
		if s.Forkstat {
			fsSeen = fmt.Sprintf("%.1f %%", of(g, func(x stormResult) float64 { return pct(x.FSSeen, x.Launched) }))
			fsFull = fmt.Sprintf("%.1f %%", of(g, func(x stormResult) float64 { return pct(x.FSFull, x.Launched) }))
		}
		fmt.Fprintf(w, "| %s | %s (%.0f) | %d | %.0f | %.1f %% | %.1f %% | %.1f %% | %.0f | %.0f | %s | %s |\n",
			s.Kind, rateName(s.Rate), of(g, func(x stormResult) float64 { return x.Achieved }), len(g),
			of(g, func(x stormResult) float64 { return float64(x.Launched) }),
			of(g, func(x stormResult) float64 { return pct(x.Docs, x.Launched) }),
			of(g, func(x stormResult) float64 { return pct(x.Full, x.Launched) }),
			of(g, func(x stormResult) float64 { return pct(x.ParentFull, x.Launched) }),
			of(g, func(x stormResult) float64 { return float64(x.Lost) }),
			of(g, func(x stormResult) float64 { return float64(x.Dropped) }),
			fsSeen, fsFull)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Cost (medians; CPU per 1,000 processes launched, and per 1,000 of all execs in the window, the shared machine's own included):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| storm | rate | other execs | spawnbeat CPU ms / 1k launched | of which its BPF program | / 1k all execs | spawnbeat RSS peak / steady MiB | forkstat CPU ms / 1k launched | / 1k all execs | forkstat RSS peak / steady MiB |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, g := range groups {
		s := g[0]
		fsCPU, fsAll, fsMem := "—", "—", "—"
		if s.Forkstat {
			fsCPU = fmt.Sprintf("%.0f", of(g, func(x stormResult) float64 { return perK(x.FS.CPU, x.Launched) }))
			fsAll = fmt.Sprintf("%.0f", of(g, func(x stormResult) float64 { return perK(x.FS.CPU, x.Launched+x.Other) }))
			fsMem = fmt.Sprintf("%.1f / %.1f", of(g, func(x stormResult) float64 { return mib(x.FS.Mem.PeakKiB) }),
				of(g, func(x stormResult) float64 { return mib(x.FS.Mem.NowKiB) }))
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %.1f | %.0f | %.1f / %.1f | %s | %s | %s |\n",
			s.Kind, rateName(s.Rate),
			of(g, func(x stormResult) float64 { return float64(x.Other) }),
			of(g, func(x stormResult) float64 { return perK(x.Agent.CPU, x.Launched) }),
			of(g, func(x stormResult) float64 { return perK(x.AgentBPF, x.Launched) }),
			of(g, func(x stormResult) float64 { return perK(x.Agent.CPU, x.Launched+x.Other) }),
			of(g, func(x stormResult) float64 { return mib(x.Agent.Mem.PeakKiB) }),
			of(g, func(x stormResult) float64 { return mib(x.Agent.Mem.NowKiB) }),
			fsCPU, fsAll, fsMem)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Launch cost (medians; CPU from getrusage of the launcher processes: their own, and their reaped storm processes' with those processes' children):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| storm | rate | achieved /s | storm process CPU ms each | launcher CPU ms each | ceiling /s at that cost | … with spawnbeat and forkstat |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|")
	for _, g := range groups {
		s := g[0]
		each := func(d func(stormResult) time.Duration) func(stormResult) float64 {
			return func(x stormResult) float64 { return perK(d(x), x.Launched) / 1000 }
		}
		proc := of(g, each(func(x stormResult) time.Duration { return x.ProcCPU }))
		self := of(g, each(func(x stormResult) time.Duration { return x.LauncherCPU }))
		tools := of(g, each(func(x stormResult) time.Duration { return x.Agent.CPU + x.FS.CPU }))
		cpus := runtime.NumCPU()
		fmt.Fprintf(w, "| %s | %s | %.0f | %.2f | %.3f | %s | %s |\n", s.Kind, rateName(s.Rate),
			of(g, func(x stormResult) float64 { return x.Achieved }), proc, self, ceiling(cpus, proc+self), ceiling(cpus, proc+self+tools))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Ceiling: the launches per second this machine's CPUs could sustain at the CPU cost measured (CPUs × 1000 / ms per process), "+
		"for storm processes and launchers alone, and with spawnbeat's and forkstat's CPU per process launched added; everyone else's work on the machine takes its share too.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "What /proc still showed when spawnbeat read each storm process (spawnbeat.read_state, median % of launched):")
	fmt.Fprintln(w)
	states := []string{"complete", "partial", "zombie", "exited", "none"}
	fmt.Fprintln(w, "| storm | rate | "+strings.Join(states, " | ")+" |")
	fmt.Fprintln(w, "|---|---|"+strings.Repeat("--:|", len(states)))
	for _, g := range r.groups() {
		fmt.Fprintf(w, "| %s | %s |", g[0].Kind, rateName(g[0].Rate))
		for _, st := range states {
			fmt.Fprintf(w, " %.1f %% |", of(g, func(x stormResult) float64 { return pct(x.States[st], x.Launched) }))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Rate: requested (achieved: launches per second from the schedule's start to the last launch). "+
		"spawnbeat docs: storm processes with an exec document (by marker, or by pid with its launcher as parent when args were gone). "+
		"Full args: process.args exactly as launched; parent args: process.parent.args exactly the argv of the launcher process that started it. "+
		"Lost: the kernel's ENOBUFS count (capture.Kernel.Lost in /stats); dropped: documents the queue refused (queue.dropped + queue.rejected). "+
		"forkstat seen / full args: storm processes it printed an exec line for / with the full command line. "+
		"CPU: utime+stime from /proc/PID/stat from just before the storm until both tools had reported a probe launched after it; "+
		"spawnbeat's adds the run time of its BPF program (exec_args), which the kernel charges to the exec'ing processes and counts while the harness runs (kernel.bpf_stats_enabled). "+
		"RSS: VmHWM / VmRSS at that point; each storm runs a fresh spawnbeat and forkstat. "+
		"The kernel tells the listener that subscribed last of each exec first, a head start in the race with a short-lived process's exit: "+
		"the tools take turns at subscribing last, run by run ("+r.heardFirst()+"). "+
		"Other execs: exec documents of unrelated processes in the same window (the machine is shared; both tools pay for them).")
	if !r.forkstat {
		fmt.Fprintln(w, "\nforkstat was not installed: spawnbeat only.")
	}
	fmt.Fprintln(w)
}

// writeBaseline compares spawnbeat with the baseline build that ran side
// by side on the same storms: each run's CPU ratio, as the load moves
// both alike, and the median.
func (r *report) writeBaseline(w io.Writer) {
	fmt.Fprintf(w, "Against the baseline `%s`, run side by side on the same storms:\n\n", r.opts.baseline)
	fmt.Fprintln(w, "| storm | rate | spawnbeat CPU / baseline CPU, each run | median | spawnbeat full args | baseline full args |")
	fmt.Fprintln(w, "|---|---|---|--:|--:|--:|")
	for _, g := range r.groups() {
		var runs []string
		var ratios []float64
		for _, x := range g {
			if x.Base.CPU <= 0 {
				continue
			}
			ratio := float64(x.Agent.CPU) / float64(x.Base.CPU)
			ratios = append(ratios, ratio)
			runs = append(runs, fmt.Sprintf("%.2f", ratio))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f | %.1f %% | %.1f %% |\n", g[0].Kind, rateName(g[0].Rate),
			strings.Join(runs, ", "), median(ratios),
			of(g, func(x stormResult) float64 { return pct(x.Full, x.Launched) }),
			of(g, func(x stormResult) float64 { return pct(x.BaseFull, x.Launched) }))
	}
	fmt.Fprintln(w)
}

// writeES sets the CPU of the spawnbeat that shipped every storm to
// Elasticsearch beside the file output's and forkstat's, all run side by
// side on the same storms. The test server's CPU is its own, apart.
func (r *report) writeES(w io.Writer) {
	fmt.Fprintln(w, "Shipping to Elasticsearch (tests/esserver, output.elasticsearch's defaults: gzip level 1, memory queue), side by side with the file output and forkstat (medians; CPU ms per 1,000 processes launched):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| storm | rate | docs in Elasticsearch | full args | parent args | lost | dropped | spawnbeat → Elasticsearch | spawnbeat → file | forkstat | Elasticsearch / forkstat | test server (not the agent's) |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, g := range r.groups() {
		ratio := "—"
		var ratios []float64
		for _, x := range g {
			if x.Forkstat && x.FS.CPU > 0 {
				ratios = append(ratios, float64(x.ESAgent.CPU)/float64(x.FS.CPU))
			}
		}
		if len(ratios) > 0 {
			ratio = fmt.Sprintf("%.2f", median(ratios))
		}
		fsCPU := "—"
		if g[0].Forkstat {
			fsCPU = fmt.Sprintf("%.0f", of(g, func(x stormResult) float64 { return perK(x.FS.CPU, x.Launched) }))
		}
		fmt.Fprintf(w, "| %s | %s | %.1f %% | %.1f %% | %.1f %% | %.0f | %.0f | %.0f | %.0f | %s | %s | %.0f |\n", g[0].Kind, rateName(g[0].Rate),
			of(g, func(x stormResult) float64 { return pct(x.ESDocs, x.Launched) }),
			of(g, func(x stormResult) float64 { return pct(x.ESFull, x.Launched) }),
			of(g, func(x stormResult) float64 { return pct(x.ESParentFull, x.Launched) }),
			of(g, func(x stormResult) float64 { return float64(x.ESLost) }),
			of(g, func(x stormResult) float64 { return float64(x.ESDropped) }),
			of(g, func(x stormResult) float64 { return perK(x.ESAgent.CPU, x.Launched) }),
			of(g, func(x stormResult) float64 { return perK(x.Agent.CPU, x.Launched) }),
			fsCPU, ratio,
			of(g, func(x stormResult) float64 { return perK(x.ESServerCPU, x.Launched) }))
	}
	fmt.Fprintln(w)
}

func (r *report) writeAttacks(w io.Writer) {
	during := ""
	if r.opts.attackStorm {
		during = ", during an exec storm of /bin/true from two shell loops"
	}
	fmt.Fprintf(w, "Detection latency, `echo exit | /usr/bin/python3 -c 'import pty; pty.spawn(\"/bin/sh\") # <marker>'` run one after another%s (event.created − @timestamp of each alert):\n", during)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | attacks | exactly one alert | none | several | other alerts | python failed | median | p99 | max |")
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	var medians, p99s []float64
	var all []time.Duration
	for i, a := range r.attacks {
		l := slices.Clone(a.Latencies)
		slices.Sort(l)
		all = append(all, l...)
		med, p99 := percentile(l, 50), percentile(l, 99)
		medians = append(medians, float64(med))
		p99s = append(p99s, float64(p99))
		var mx time.Duration
		if len(l) > 0 {
			mx = l[len(l)-1]
		}
		fmt.Fprintf(w, "| %d | %d | %d | %d | %d | %d | %d | %s | %s | %s |\n",
			i+1, a.Run, a.One, a.None, a.Many, a.Stray, a.Failed, ms(med), ms(p99), ms(mx))
	}
	first := true
	for i, a := range r.attacks {
		for _, miss := range a.Misses {
			if first {
				fmt.Fprintln(w, "\nAttacks without an alert:")
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintf(w, "- run %d, %s\n", i+1, miss)
		}
	}
	slices.Sort(all)
	p99 := time.Duration(median(p99s))
	verdict := "met"
	if p99 >= 10*time.Millisecond {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "\nMedian of %d runs: latency median %s, p99 %s (target p99 < 10 ms: %s); all %d alerts pooled: p99 %s.\n",
		len(r.attacks), ms(time.Duration(median(medians))), ms(p99), verdict, len(all), ms(percentile(all, 99)))
	if r.opts.attackStorm {
		var storm []time.Duration
		var storms, woken []float64
		for _, a := range r.attacks {
			storm = append(storm, a.StormLatencies...)
			storms, woken = append(storms, float64(a.Storms)), append(woken, float64(a.Woken))
		}
		slices.Sort(storm)
		fmt.Fprintf(w, "\nThe storm's own %d exec documents, pooled: event.created − @timestamp median %s, p99 %s. Per run (medians): %.0f storms counted (capture.Kernel.Storms), %.0f storm periods ended early by the exec program (capture.Kernel.Woken).\n",
			len(storm), ms(percentile(storm, 50)), ms(percentile(storm, 99)), median(storms), median(woken))
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1e3)
}

// ceiling is how many processes per second cpus CPUs sustain when each
// costs ms milliseconds of CPU; "—" when the cost is unknown.
func ceiling(cpus int, ms float64) string {
	if ms <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(cpus)*1000/ms)
}
