package detection

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/module/detection/internal/corpus"
	"github.com/spawnbeat/spawnbeat/module/detection/internal/cputime"
	"github.com/spawnbeat/spawnbeat/module/detection/rules"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// corpusDetector loads the 266 Linux process rules of the corpus (the
// corpus's copy of the Python-tty rule replaces the built-in).
func corpusDetector(tb testing.TB, opts Options) *Detector {
	tb.Helper()
	d, err := New(corpusSet(tb, "all"), opts, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// corpusSet loads the corpus's rules: "all" 266, "single" the 236
// single-event ones, "sequence" the 30 sequences.
func corpusSet(tb testing.TB, which string) *rules.Set {
	tb.Helper()
	var paths []string
	for _, r := range corpus.Load(tb) {
		seq := strings.HasPrefix(strings.TrimSpace(r.Query), "sequence")
		if which == "all" || seq == (which == "sequence") {
			paths = append(paths, filepath.Join(corpus.Dir(tb), r.File))
		}
	}
	set := load(tb, rules.Options{Paths: paths, DisableBuiltin: true})
	if want := map[string]int{"all": 266, "single": 236, "sequence": 30}[which]; set.Len() != want {
		tb.Fatalf("%d rules loaded, want %d", set.Len(), want)
	}
	return set
}

// streamHost is the host of the benchmark streams.
var streamHost = &ecs.Host{Name: "build-01", Hostname: "build-01", ID: "8f1d2c3b4a5968778695a4b3c2d1e0f1",
	OS: ecs.OS{Type: "linux", Family: "debian", Name: "Debian GNU/Linux", Kernel: "6.12.0"}}

// command is one kind of process in a stream: argv, executable, working
// directory and the parent that starts it.
type command struct {
	args       []string
	exe, cwd   string
	parent     []string
	parentExe  string
	uid, uname string
}

// everyday is a mix of what a build or web host runs, with a few commands
// that start a sequence rule's first step (base64 -d, id, git clone, curl,
// openssl enc) as any busy host runs them.
var everyday = []command{
	{[]string{"ls", "-la", "/var/log"}, "/usr/bin/ls", "/root", []string{"-bash"}, "/usr/bin/bash", "0", "root"},
	{[]string{"git", "status", "--porcelain"}, "/usr/bin/git", "/home/ci/src", []string{"make", "check"}, "/usr/bin/make", "1000", "ci"},
	{[]string{"cc", "-O2", "-c", "main.c", "-o", "main.o"}, "/usr/bin/x86_64-linux-gnu-gcc-12", "/home/ci/src", []string{"make", "-j2"}, "/usr/bin/make", "1000", "ci"},
	{[]string{"sh", "-c", "echo $PATH | tr : '\\n'"}, "/usr/bin/dash", "/home/ci/src", []string{"make", "-j2"}, "/usr/bin/make", "1000", "ci"},
	{[]string{"/usr/bin/python3", "manage.py", "migrate"}, "/usr/bin/python3.11", "/srv/app", []string{"/bin/sh", "/srv/app/deploy.sh"}, "/usr/bin/dash", "33", "www-data"},
	{[]string{"grep", "-r", "TODO", "."}, "/usr/bin/grep", "/home/ci/src", []string{"-bash"}, "/usr/bin/bash", "1000", "ci"},
	{[]string{"systemctl", "is-active", "nginx"}, "/usr/bin/systemctl", "/", []string{"/usr/sbin/cron", "-f"}, "/usr/sbin/cron", "0", "root"},
	{[]string{"base64", "-d", "payload.b64"}, "/usr/bin/base64", "/tmp/build", []string{"/bin/sh", "unpack.sh"}, "/usr/bin/dash", "1000", "ci"},
	{[]string{"id", "ci"}, "/usr/bin/id", "/home/ci", []string{"/bin/sh", "check-users.sh"}, "/usr/bin/dash", "1000", "ci"},
	{[]string{"git", "clone", "--recursive", "https://example.org/lib.git"}, "/usr/bin/git", "/home/ci/src", []string{"-bash"}, "/usr/bin/bash", "1000", "ci"},
	{[]string{"curl", "-fsSL", "https://example.org/install.sh"}, "/usr/bin/curl", "/home/ci", []string{"-bash"}, "/usr/bin/bash", "1000", "ci"},
	{[]string{"openssl", "enc", "-aes-256-cbc", "-in", "a", "-out", "b", "-pass", "pass:x"}, "/usr/bin/openssl", "/home/ci", []string{"bash", "backup.sh"}, "/usr/bin/bash", "1000", "ci"},
	{[]string{"cat", "/etc/os-release"}, "/usr/bin/cat", "/", []string{"/bin/sh", "-c", "cat /etc/os-release"}, "/usr/bin/dash", "0", "root"},
	{[]string{"nginx", "-s", "reload"}, "/usr/sbin/nginx", "/", []string{"/bin/sh", "-c", "nginx -s reload"}, "/usr/bin/dash", "0", "root"},
	{[]string{"sed", "-i", "s/a/b/", "conf"}, "/usr/bin/sed", "/etc/app", []string{"-bash"}, "/usr/bin/bash", "0", "root"},
	{[]string{"tar", "-czf", "/var/backups/etc.tgz", "/etc"}, "/usr/bin/tar", "/", []string{"/bin/sh", "/etc/cron.daily/backup"}, "/usr/bin/dash", "0", "root"},
}

// execStream builds n exec documents of the mix, each its own process (pid,
// entity_id, event.id), started by one of a few dozen parents.
func execStream(n int) []*ecs.Event {
	out := make([]*ecs.Event, n)
	for i := range out {
		c := everyday[i%len(everyday)]
		ppid := 2000 + i%37
		out[i] = &ecs.Event{
			Event: ecs.Meta{Kind: ecs.KindEvent, Type: "start", Action: ecs.ActionExec,
				ID: "ev-" + strconv.Itoa(i), Sequence: uint64(i + 1)},
			Host: streamHost,
			Process: ecs.Process{
				Info: ecs.Info{PID: 10000 + i, EntityID: "pe-" + strconv.Itoa(i), Name: baseName(c.exe), Executable: c.exe,
					Args: c.args, CommandLine: strings.Join(c.args, " "), WorkingDirectory: c.cwd,
					User: ecs.ID{ID: c.uid, Name: c.uname}, Group: ecs.ID{ID: c.uid, Name: c.uname}, RealUser: ecs.ID{ID: c.uid, Name: c.uname}},
				Parent: ecs.Info{PID: ppid, EntityID: "pp-" + strconv.Itoa(ppid), Name: baseName(c.parentExe), Executable: c.parentExe,
					Args: c.parent, CommandLine: strings.Join(c.parent, " "), WorkingDirectory: c.cwd,
					User: ecs.ID{ID: c.uid, Name: c.uname}, Group: ecs.ID{ID: c.uid, Name: c.uname}},
			},
		}
	}
	return out
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// BenchmarkCorpus266 evaluates the 266 corpus rules (236 single-event, 30
// sequences) on a stream of exec documents of everyday commands arriving
// 1 ms apart, some of which start sequence steps: ns/op is the cost per
// document on the capture goroutine. The single-event and the sequence
// rules are also measured apart.
func BenchmarkCorpus266(b *testing.B) {
	for _, which := range []string{"all", "single", "sequence"} {
		b.Run("rules="+which, func(b *testing.B) {
			d, err := New(corpusSet(b, which), Options{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			stream := execStream(8192)
			base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			start, i := cputime.Thread(), 0
			for b.Loop() {
				ev := stream[i%len(stream)]
				ev.Timestamp = base.Add(time.Duration(i) * time.Millisecond)
				ev.Event.Kind, ev.Rules, ev.Sequences, ev.Message = ecs.KindEvent, nil, nil, ""
				d.Evaluate(ev)
				i++
			}
			b.ReportMetric(float64(cputime.Thread()-start)/float64(i), "cpu-ns/op")
		})
	}
}

// stormEvent is the i-th process of a storm: each is a first step of a
// sequence rule (base64 -d in /tmp, which two rules start with, or id,
// which one rule wants 20 times) under a parent of its own, so that every
// one is a new join key.
func stormEvent(i int, at time.Time) *ecs.Event {
	c := everyday[7] // base64 -d payload.b64 in /tmp/build
	if i%2 == 1 {
		c = everyday[8] // id ci
	}
	return &ecs.Event{
		Timestamp: at,
		Event:     ecs.Meta{Kind: ecs.KindEvent, Type: "start", Action: ecs.ActionExec, ID: fmt.Sprintf("storm-%d", i)},
		Host:      streamHost,
		Process: ecs.Process{
			Info: ecs.Info{PID: 100000 + i, EntityID: fmt.Sprintf("se-%d", i), Name: baseName(c.exe), Executable: c.exe,
				Args: c.args, CommandLine: strings.Join(c.args, " "), WorkingDirectory: c.cwd},
			Parent: ecs.Info{PID: 50000 + i, EntityID: fmt.Sprintf("sp-%d", i), Name: baseName(c.parentExe),
				Executable: c.parentExe, Args: c.parent},
		},
	}
}

// BenchmarkSequenceStorm runs a storm of 100,000 processes, each a first
// step of a sequence rule under a parent of its own, within one second,
// through the 266 corpus rules, and reports the heap the partial sequences
// hold afterwards: with the default cap of pending partial sequences per
// rule, and with the cap raised out of the way to show what it saves.
func BenchmarkSequenceStorm(b *testing.B) {
	const storm = 100_000
	for _, tc := range []struct {
		name       string
		maxPending int
	}{{"cap=default", 0}, {"cap=1M", 1 << 20}} {
		b.Run(tc.name, func(b *testing.B) {
			events := make([]*ecs.Event, storm)
			base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range events {
				events[i] = stormEvent(i, base.Add(time.Duration(i)*10*time.Microsecond))
			}
			var held, pending, evicted, allocs, cpu float64
			for b.Loop() {
				b.StopTimer()
				d := corpusDetector(b, Options{MaxPending: tc.maxPending})
				before, mallocs := heapInUse()
				runtime.LockOSThread()
				start := cputime.Thread()
				b.StartTimer()
				for _, ev := range events {
					ev.Event.Kind, ev.Rules, ev.Sequences = ecs.KindEvent, nil, nil
					d.Evaluate(ev)
				}
				b.StopTimer()
				cpu = float64(cputime.Thread()-start) / storm
				runtime.UnlockOSThread()
				after, mallocsAfter := heapInUse()
				held, allocs = float64(after-before), float64(mallocsAfter-mallocs)/storm
				pending, evicted = 0, 0
				for _, s := range d.Stats().Sequences {
					pending += float64(s.Pending)
					evicted += float64(s.Evicted)
				}
				runtime.KeepAlive(d)
				b.StartTimer()
			}
			b.ReportMetric(held/(1<<20), "MiB-held")
			b.ReportMetric(pending, "pending")
			b.ReportMetric(evicted, "evicted")
			b.ReportMetric(allocs, "allocs/doc")
			b.ReportMetric(cpu, "cpu-ns/doc")
			if pending > 0 {
				b.ReportMetric(held/pending, "B/pending")
			}
		})
	}
}

// heapInUse is the live heap after a collection, and the count of
// allocations so far.
func heapInUse() (int64, uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), m.Mallocs
}
