package detection

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spawnbeat/spawnbeat/module/detection/internal/corpus"
	"github.com/spawnbeat/spawnbeat/module/detection/rules"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

const (
	pythonTTYID = "d76b02ef-fc95-4001-9297-01cb7412232f"
	newPTYID    = "84c08f08-ace1-4372-814f-fc09620efca0"
	webshellID  = "0f4c5d8e-7a2b-4c1d-9e3f-5a6b7c8d9e01"
)

var linuxHost = &ecs.Host{Name: "h", OS: ecs.OS{Type: "linux"}}

// execEvent builds an exec document of a child started by a parent.
func execEvent(name string, args []string, parentName string, parentArgs []string) *ecs.Event {
	return &ecs.Event{
		Event: ecs.Meta{Kind: ecs.KindEvent, Type: "start", Action: ecs.ActionExec},
		Host:  linuxHost,
		Process: ecs.Process{
			Info:   ecs.Info{PID: 1234, Name: name, Args: args, CommandLine: strings.Join(args, " ")},
			Parent: ecs.Info{PID: 1200, Name: parentName, Args: parentArgs, CommandLine: strings.Join(parentArgs, " ")},
		},
	}
}

func load(t testing.TB, opts rules.Options) *rules.Set {
	t.Helper()
	set, err := rules.Load(opts, nil)
	if err != nil {
		t.Fatalf("rules.Load: %v", err)
	}
	return set
}

func TestEvaluatePythonTTY(t *testing.T) {
	d, err := New(load(t, rules.Options{}), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		ev    *ecs.Event
		match bool
	}{
		{
			name: "branch 1: python3 -c pty.spawn",
			ev: execEvent("bash", []string{"/bin/bash"}, "python3.11",
				[]string{"python3", "-c", `import pty; pty.spawn("/bin/bash")`}),
			match: true,
		},
		{
			name:  "branch 2: interactive python3 spawns /bin/sh",
			ev:    execEvent("dash", []string{"/bin/sh"}, "python3.11", []string{"python3"}),
			match: true,
		},
		{
			name:  "os.system: child sh -c ls has 3 args",
			ev:    execEvent("dash", []string{"sh", "-c", "ls"}, "python3.11", []string{"python3"}),
			match: false,
		},
		{
			name:  "subprocess.run([/bin/sh]) from a script, no pty.spawn",
			ev:    execEvent("dash", []string{"/bin/sh"}, "python3.11", []string{"python3", "script.py"}),
			match: false,
		},
		{
			name:  "python3 -i parent has 2 args",
			ev:    execEvent("dash", []string{"/bin/sh"}, "python3.11", []string{"python3", "-i"}),
			match: false,
		},
		{
			name:  "not a shell",
			ev:    execEvent("ls", []string{"ls"}, "python3.11", []string{"python3"}),
			match: false,
		},
		{
			name:  "parent args unknown",
			ev:    execEvent("bash", []string{"/bin/bash"}, "python3.11", nil),
			match: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Evaluate(tt.ev); got != tt.match {
				t.Fatalf("Evaluate = %v, want %v", got, tt.match)
			}
			if !tt.match {
				if tt.ev.Event.Kind != ecs.KindEvent || tt.ev.Rules != nil || tt.ev.Message != "" || tt.ev.Severity != 0 {
					t.Errorf("non-matching event was modified: %+v", tt.ev)
				}
				return
			}
			want := alert{Kind: "alert", IDs: []string{pythonTTYID}, RiskScore: 73, Severity: 73}
			if diff := cmp.Diff(want, alertOf(tt.ev)); diff != "" {
				t.Errorf("alert (-want +got):\n%s", diff)
			}
			if tt.ev.Rules[0].Threat[0].Tactic.ID != "TA0002" {
				t.Errorf("threat = %+v, want TA0002", tt.ev.Rules[0].Threat)
			}
		})
	}
}

type alert struct {
	Kind      string
	IDs       []string
	RiskScore float64
	Severity  int
}

func alertOf(ev *ecs.Event) alert {
	a := alert{Kind: ev.Event.Kind, RiskScore: ev.RiskScore, Severity: ev.Severity}
	for _, r := range ev.Rules {
		a.IDs = append(a.IDs, r.ID)
	}
	return a
}

func TestEvaluateMessage(t *testing.T) {
	d, err := New(load(t, rules.Options{}), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("é", 1<<20) // a megabyte argument of two-byte runes
	tests := []struct {
		name string
		ev   *ecs.Event
		want string
	}{
		{
			name: "branch 1",
			ev: execEvent("bash", []string{"/bin/bash"}, "python3.11",
				[]string{"python3", "-c", `import pty; pty.spawn("/bin/bash")`}),
			want: `Interactive Terminal Spawned via Python: bash (pid 1234) started by python3.11 (pid 1200): python3 -c import pty; pty.spawn("/bin/bash")`,
		},
		{
			name: "branch 2",
			ev:   execEvent("dash", []string{"/bin/sh"}, "python3.11", []string{"python3"}),
			want: `Interactive Terminal Spawned via Python: dash (pid 1234) started by python3.11 (pid 1200): python3`,
		},
		{
			name: "megabyte argument is cut",
			ev: execEvent("bash", []string{"/bin/bash"}, "python3.11",
				[]string{"python3", "-c", "import pty; pty.spawn('/bin/bash') # " + huge}),
			want: `Interactive Terminal Spawned via Python: bash (pid 1234) started by python3.11 (pid 1200): python3 -c import pty; pty.spawn('/bin/bash') # ` +
				strings.Repeat("é", (512-len("python3 -c import pty; pty.spawn('/bin/bash') # "))/2) + "…",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !d.Evaluate(tt.ev) {
				t.Fatal("no match")
			}
			if diff := cmp.Diff(tt.want, tt.ev.Message); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if len(tt.ev.Message) > maxMessage || !utf8.ValidString(tt.ev.Message) {
				t.Errorf("message of %d bytes, valid UTF-8 %v: want at most %d and valid", len(tt.ev.Message), utf8.ValidString(tt.ev.Message), maxMessage)
			}
		})
	}
}

func writeRule(t *testing.T, dir, id, severity string, risk int, query string) {
	t.Helper()
	text := "[rule]\nname = \"Rule " + id + "\"\nrule_id = \"" + id + "\"\ntype = \"eql\"\nseverity = \"" + severity +
		"\"\nrisk_score = " + strconv.Itoa(risk) + "\nquery = '''" + query + "'''\n"
	if err := os.WriteFile(filepath.Join(dir, id+".toml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEvaluateSeveralRules(t *testing.T) {
	dir := t.TempDir()
	writeRule(t, dir, "a", "low", 30, `process where process.name == "bash"`)
	writeRule(t, dir, "b", "critical", 90, `process where process.parent.name == "nginx"`)
	writeRule(t, dir, "c", "medium", 95, `process where process.args_count == 1`)
	writeRule(t, dir, "d", "high", 50, `process where process.name == "zsh"`)
	d, err := New(load(t, rules.Options{Paths: []string{dir}, DisableBuiltin: true}), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := execEvent("bash", []string{"bash"}, "nginx", []string{"nginx: worker process"})
	// A recycled event: its Rules slice is reused, not appended to.
	ev.Rules = make([]*ecs.Rule, 1, 8)
	backing := &ev.Rules[:1][0]
	if !d.Evaluate(ev) {
		t.Fatal("no match")
	}
	want := alert{Kind: "alert", IDs: []string{"a", "b", "c"}, RiskScore: 95, Severity: 99}
	if diff := cmp.Diff(want, alertOf(ev)); diff != "" {
		t.Errorf("alert (-want +got):\n%s", diff)
	}
	if &ev.Rules[0] != backing {
		t.Error("Evaluate did not reuse the event's Rules backing array")
	}
	wantMsg := "Rule a, Rule b, Rule c: bash (pid 1234) started by nginx (pid 1200): nginx: worker process"
	if diff := cmp.Diff(wantMsg, ev.Message); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

func TestStatsAndInstall(t *testing.T) {
	d, err := New(load(t, rules.Options{}), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hit := func() *ecs.Event {
		return execEvent("dash", []string{"/bin/sh"}, "python3.11", []string{"python3"})
	}
	miss := execEvent("ls", []string{"ls"}, "bash", []string{"bash"})
	d.Evaluate(hit())
	d.Evaluate(hit())
	d.Evaluate(miss)

	// Swap in a set without the built-in: the Python rule no longer fires,
	// and its counter survives the reload.
	dir := t.TempDir()
	writeRule(t, dir, "ls-rule", "low", 21, `process where process.name == "ls"`)
	old := d.Install(load(t, rules.Options{Paths: []string{dir}, DisableBuiltin: true}))
	if old == nil || old.Lookup(pythonTTYID) == nil {
		t.Fatalf("Install returned %v, want the previous set", old)
	}
	if d.Evaluate(hit()) {
		t.Error("removed rule still fires")
	}
	d.Evaluate(execEvent("ls", []string{"ls"}, "bash", []string{"bash"}))

	// Every rule that was in force has a counter, spawnbeat's new-pty rule
	// too (the hits carry no session or terminal: it never fired).
	want := Stats{Evaluated: 5, Alerts: 3, Rules: 1, Matches: map[string]uint64{pythonTTYID: 2, newPTYID: 0, "ls-rule": 1}}
	if diff := cmp.Diff(want, d.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if d.Install(nil) != d.Rules() {
		t.Error("Install(nil) replaced the set in force")
	}
}

func TestNewNilSet(t *testing.T) {
	if _, err := New(nil, Options{}, nil); !errors.Is(err, ErrNoRules) {
		t.Errorf("New(nil) error = %v, want ErrNoRules", err)
	}
}

// TestConcurrentEvaluateInstall runs evaluation on several goroutines while
// sets are swapped; run with -race.
func TestConcurrentEvaluateInstall(t *testing.T) {
	withBuiltin := load(t, rules.Options{})
	without := load(t, rules.Options{DisableBuiltin: true})
	d, err := New(withBuiltin, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 4, 500
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				d.Evaluate(execEvent("dash", []string{"/bin/sh"}, "python3.11", []string{"python3"}))
			}
		}()
	}
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			d.Install(without)
		} else {
			d.Install(withBuiltin)
		}
	}
	wg.Wait()
	st := d.Stats()
	if st.Evaluated != workers*perWorker || st.Alerts != st.Matches[pythonTTYID] || st.Alerts > workers*perWorker {
		t.Errorf("Stats = %+v, want %d evaluated and alerts == matches", st, workers*perWorker)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	d, err := New(load(b, rules.Options{}), Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	benches := []struct {
		name string
		ev   *ecs.Event
	}{
		{"no-match", execEvent("ls", []string{"ls", "-l", "/tmp"}, "bash", []string{"-bash"})},
		{"match", execEvent("bash", []string{"/bin/bash"}, "python3.11",
			[]string{"python3", "-c", `import pty; pty.spawn("/bin/bash")`})},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bb.ev.Event.Kind = ecs.KindEvent
				d.Evaluate(bb.ev)
			}
		})
	}
}

// TestDetectorFollowsWatcher wires the rules.Watcher to Install, as the
// beater does: a broken edit leaves the rules in force evaluating.
func TestDetectorFollowsWatcher(t *testing.T) {
	dir := t.TempDir()
	writeRule(t, dir, "net", "medium", 47, `process where process.name == "nc"`)
	opts := rules.Options{Paths: []string{filepath.Join(dir, "*.toml")}, DisableBuiltin: true}
	set := load(t, opts)
	d, err := New(set, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	w := rules.NewWatcher(opts, set, 20*time.Millisecond, func(s *rules.Set) { d.Install(s) }, zap.New(core))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	matches := func(name string) bool {
		return d.Evaluate(execEvent(name, []string{name}, "bash", []string{"bash"}))
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for: %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !matches("nc") {
		t.Fatal("initial rule does not match")
	}
	// The Watcher may still be setting up its watches: rewrite until the
	// new rule is in force.
	polls := 0
	eventually("edited rule in force", func() bool {
		if polls%30 == 0 { // every 300 ms, well past the debounce
			writeRule(t, dir, "net", "medium", 47, `process where process.name in ("nc", "ncat")`)
		}
		polls++
		return matches("ncat")
	})
	writeRule(t, dir, "net", "medium", 47, `process where process.name == `)
	eventually("broken file reported", func() bool {
		return logs.FilterMessage("rule file not loaded; the rules in force stay in force").Len() > 0
	})
	if !matches("ncat") || !matches("nc") {
		t.Error("the rules in force were dropped after a broken edit")
	}
	if err := os.Remove(filepath.Join(dir, "net.toml")); err != nil {
		t.Fatal(err)
	}
	eventually("deleted rule gone", func() bool { return !matches("nc") })
}

// TestEvaluateRealUserExclusion runs the corpus rule that excludes the real
// root user through user.Ext.real.id: a non-root user enumerating set-user-ID
// files is an alert, root doing it is not.
func TestEvaluateRealUserExclusion(t *testing.T) {
	rule := filepath.Join(corpus.Dir(t), "discovery_suid_sguid_enumeration.toml")
	d, err := New(load(t, rules.Options{Paths: []string{rule}, DisableBuiltin: true}), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		realUser string
		want     bool
	}{
		{"unprivileged user", "1000", true},
		{"root", "0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := execEvent("find", []string{"find", "/", "-perm", "-4000"}, "bash", []string{"bash"})
			ev.Process.User = ecs.ID{ID: tt.realUser}
			ev.Process.RealUser = ecs.ID{ID: tt.realUser}
			ev.Process.RealGroup = ecs.ID{ID: tt.realUser}
			if got := d.Evaluate(ev); got != tt.want {
				t.Errorf("Evaluate with real user %s = %v, want %v", tt.realUser, got, tt.want)
			}
		})
	}
}
