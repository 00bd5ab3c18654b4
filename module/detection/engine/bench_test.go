package engine_test

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/eql"
	"github.com/spawnbeat/spawnbeat/module/detection/internal/cputime"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// loop runs f b.N times on a locked thread and reports cpu-ns/op.
func loop(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	start := cputime.Thread()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	if n > 0 {
		b.ReportMetric(float64(cputime.Thread()-start)/float64(n), "cpu-ns/op")
	}
}

// queryProgram compiles the query of a rule file for the ECS resolver.
func queryProgram(tb testing.TB, path string) *engine.Program[*ecs.Event] {
	tb.Helper()
	var doc struct {
		Rule struct {
			Query string `toml:"query"`
		} `toml:"rule"`
	}
	if _, err := toml.DecodeFile(path, &doc); err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	q, err := eql.Parse(doc.Rule.Query)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := engine.Compile(q, engine.ECS())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// ttyProgram compiles Elastic's Python-tty rule from the corpus.
func ttyProgram(tb testing.TB) *engine.Program[*ecs.Event] {
	tb.Helper()
	return queryProgram(tb, filepath.Join(corpusDir(tb), "execution_python_tty_shell.toml"))
}

// newPTYProgram compiles spawnbeat's own built-in rule from its file.
func newPTYProgram(tb testing.TB) *engine.Program[*ecs.Event] {
	tb.Helper()
	return queryProgram(tb, filepath.Join("..", "rules", "builtin", "execution_python_new_pty_shell.toml"))
}

// newPTYEvent is ttyEvent as spawnbeat writes it: the shell leads its own
// session on pts/1, its Python parent has no terminal.
func newPTYEvent() *ecs.Event {
	e := ttyEvent()
	e.Process.TTY = ecs.TTY{Major: 136, Minor: 1, Valid: true}
	e.Process.SessionLeader = ecs.Leader{PID: e.Process.PID, Name: "bash", SameAsProcess: ecs.True}
	e.Process.Parent.Interactive = ecs.False
	return e
}

// subprocessEvent is a shell that Python started in its own session, on
// its own terminal (subprocess.run): the new-pty rule's costliest miss.
func subprocessEvent() *ecs.Event {
	e := newPTYEvent()
	e.Process.SessionLeader = ecs.Leader{PID: 4000, Name: "bash", SameAsProcess: ecs.False}
	e.Process.Parent.TTY, e.Process.Parent.Interactive = e.Process.TTY, ecs.True
	return e
}

// BenchmarkEval measures Match on the agent's hot path: the Python-tty rule
// and spawnbeat's new-pty rule on a matching and non-matching events, and
// all 236 corpus rules on one event.
func BenchmarkEval(b *testing.B) {
	newPTY := newPTYProgram(b)
	for _, tc := range []struct {
		name string
		ev   *ecs.Event
		want bool
	}{{"newpty/match", newPTYEvent(), true}, {"newpty/subprocess", subprocessEvent(), false}, {"newpty/ls", lsEvent(), false}} {
		if newPTY.Match(tc.ev) != tc.want {
			b.Fatalf("%s: fixture does not behave as expected", tc.name)
		}
		b.Run(tc.name, func(b *testing.B) {
			loop(b, func() {
				if newPTY.Match(tc.ev) != tc.want {
					b.Fatal("wrong result")
				}
			})
		})
	}
	tty := ttyProgram(b)
	match, miss := ttyEvent(), lsEvent()
	if !tty.Match(match) || tty.Match(miss) {
		b.Fatal("fixture events do not behave as expected")
	}
	b.Run("tty/match", func(b *testing.B) {
		loop(b, func() {
			if !tty.Match(match) {
				b.Fatal("no match")
			}
		})
	})
	b.Run("tty/nomatch", func(b *testing.B) {
		loop(b, func() {
			if tty.Match(miss) {
				b.Fatal("match")
			}
		})
	})
	// A fixed reference workload, to read the figures against on a shared
	// machine: one strings.Contains of a 9-byte needle in a 37-byte argument
	// (about 5-10 ns on an idle modern x86 core).
	b.Run("baseline/contains", func(b *testing.B) {
		arg := `import pty; pty.spawn("/bin/bash") #x`
		loop(b, func() {
			if !strings.Contains(arg, "pty.spawn") {
				b.Fatal("no match")
			}
		})
	})
	rules := compileCorpus(b)
	for _, tc := range []struct {
		name string
		ev   *ecs.Event
	}{{"corpus236/tty", match}, {"corpus236/ls", miss}} {
		b.Run(tc.name, func(b *testing.B) {
			loop(b, func() {
				for _, r := range rules {
					r.prog.Match(tc.ev)
				}
			})
		})
	}
}

func TestEvalAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	tty, newPTY := ttyProgram(t), newPTYProgram(t)
	rules := compileCorpus(t)
	for _, tc := range []struct {
		name string
		ev   *ecs.Event
	}{{"tty", ttyEvent()}, {"newpty", newPTYEvent()}, {"subprocess", subprocessEvent()}, {"ls", lsEvent()}} {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, func() { tty.Match(tc.ev) }); n != 0 {
				t.Errorf("python-tty Match allocates %v times per event, want 0", n)
			}
			if n := testing.AllocsPerRun(100, func() { newPTY.Match(tc.ev) }); n != 0 {
				t.Errorf("new-pty Match allocates %v times per event, want 0", n)
			}
			if n := testing.AllocsPerRun(20, func() {
				for _, r := range rules {
					r.prog.Match(tc.ev)
				}
			}); n != 0 {
				t.Errorf("236 corpus rules allocate %v times per event, want 0", n)
			}
		})
	}
}
