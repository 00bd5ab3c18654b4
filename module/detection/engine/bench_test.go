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

func ttyProgram(tb testing.TB) *engine.Program[*ecs.Event] {
	tb.Helper()
	path := filepath.Join(corpusDir(tb), "execution_python_tty_shell.toml")
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

// BenchmarkEval measures Match on the agent's hot path: the Python-tty rule
// on a matching and a non-matching event, and all 236 corpus rules on one
// event.
func BenchmarkEval(b *testing.B) {
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
	tty := ttyProgram(t)
	rules := compileCorpus(t)
	for _, tc := range []struct {
		name string
		ev   *ecs.Event
	}{{"tty", ttyEvent()}, {"ls", lsEvent()}} {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, func() { tty.Match(tc.ev) }); n != 0 {
				t.Errorf("python-tty Match allocates %v times per event, want 0", n)
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
