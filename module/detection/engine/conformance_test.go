package engine_test

import (
	"errors"
	"flag"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/eql"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// compiledRule is a corpus rule compiled for the ECS resolver.
type compiledRule struct {
	file string
	prog *engine.Program[*ecs.Event]
}

// compileCorpus compiles every single-event corpus rule for ECS and checks
// that the sequences are reported as unsupported.
func compileCorpus(tb testing.TB) []compiledRule {
	tb.Helper()
	var out []compiledRule
	for _, r := range loadCorpus(tb) {
		q, err := eql.Parse(r.Query)
		if errors.Is(err, eql.ErrUnsupported) {
			continue
		}
		if err != nil {
			tb.Fatalf("%s: Parse: %v", r.File, err)
		}
		p, err := engine.Compile(q, engine.ECS())
		if err != nil {
			tb.Fatalf("%s: Compile: %v", r.File, err)
		}
		out = append(out, compiledRule{file: r.File, prog: p})
	}
	return out
}

func TestCorpusConformance(t *testing.T) {
	var single, sequences int
	unresolved := map[string][]string{}
	for _, r := range loadCorpus(t) {
		t.Run(r.File, func(t *testing.T) {
			q, err := eql.Parse(r.Query)
			if errors.Is(err, eql.ErrUnsupported) {
				if !strings.Contains(r.Query, "sequence") {
					t.Fatalf("unsupported but not a sequence: %v", err)
				}
				sequences++
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			single++
			ep, err := engine.Compile(q, engine.ECS())
			if err != nil {
				t.Fatalf("Compile ECS: %v", err)
			}
			jp, err := engine.Compile(q, engine.JSON())
			if err != nil {
				t.Fatalf("Compile JSON: %v", err)
			}
			if diff := cmp.Diff(jp.Fields(), ep.Fields()); diff != "" {
				t.Errorf("Fields differ between resolvers (-json +ecs):\n%s", diff)
			}
			if len(jp.Unresolved()) != 0 {
				t.Errorf("JSON Unresolved = %v, want none", jp.Unresolved())
			}
			for _, f := range ep.Unresolved() {
				unresolved[f.Name] = append(unresolved[f.Name], strings.TrimSuffix(r.File, ".toml"))
			}
		})
	}
	if single != 236 || sequences != 30 {
		t.Errorf("compiled %d single-event rules and rejected %d sequences, want 236 and 30", single, sequences)
	}
	// The fields spawnbeat never fills, with the rules that use them, as a
	// golden file (go test -run TestCorpusConformance -update rewrites it).
	var b strings.Builder
	b.WriteString("# Fields referenced by the corpus's single-event rules that the ECS resolver never fills.\n")
	b.WriteString("# field\trules\n")
	names := make([]string, 0, len(unresolved))
	for f := range unresolved {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		b.WriteString(f + "\t" + strings.Join(unresolved[f], ",") + "\n")
	}
	const golden = "testdata/unresolved_ecs.txt"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("unresolved fields (-want +got):\n%s", diff)
	}
}

// ttyEvent is branch 1 of the Python-tty rule as spawnbeat builds it.
func ttyEvent() *ecs.Event {
	host := &ecs.Host{Name: "h", Hostname: "h", OS: ecs.OS{Type: "linux", Family: "debian"}}
	return &ecs.Event{
		Timestamp: time.Unix(1700000000, 0),
		Event:     ecs.Meta{Kind: ecs.KindEvent, Type: "start", Action: ecs.ActionExec},
		Host:      host,
		Process: ecs.Process{
			Info: ecs.Info{
				PID: 4242, Name: "bash", Executable: "/usr/bin/bash", Args: []string{"/bin/bash"},
				CommandLine: "/bin/bash", WorkingDirectory: "/tmp",
				User: ecs.ID{ID: "1000", Name: "user"}, Group: ecs.ID{ID: "1000", Name: "user"},
				RealUser: ecs.ID{ID: "1000"}, Interactive: ecs.True,
			},
			Parent: ecs.Info{
				PID: 4241, Name: "python3.11", Executable: "/usr/bin/python3.11",
				Args:        []string{"/usr/bin/python3", "-c", `import pty; pty.spawn("/bin/bash")`},
				CommandLine: `/usr/bin/python3 -c import pty; pty.spawn("/bin/bash")`,
				User:        ecs.ID{ID: "1000", Name: "user"},
			},
		},
	}
}

// lsEvent is an everyday command: ls started by an interactive bash.
func lsEvent() *ecs.Event {
	e := ttyEvent()
	e.Process.Info = ecs.Info{
		PID: 5000, Name: "ls", Executable: "/usr/bin/ls", Args: []string{"ls", "-la", "/home/user"},
		CommandLine: "ls -la /home/user", WorkingDirectory: "/home/user",
		User: ecs.ID{ID: "1000", Name: "user"}, Group: ecs.ID{ID: "1000", Name: "user"}, Interactive: ecs.True,
	}
	e.Process.Parent = ecs.Info{PID: 4000, Name: "bash", Executable: "/usr/bin/bash", Args: []string{"-bash"}, CommandLine: "-bash"}
	return e
}

func TestCorpusOnEvents(t *testing.T) {
	rules := compileCorpus(t)
	tests := []struct {
		name string
		ev   *ecs.Event
		want []string
	}{
		{"python pty.spawn", ttyEvent(), []string{"execution_python_tty_shell.toml"}},
		{"ls from bash", lsEvent(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range rules {
				if r.prog.Match(tt.ev) {
					got = append(got, r.file)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("matching corpus rules (-want +got):\n%s", diff)
			}
		})
	}
}
