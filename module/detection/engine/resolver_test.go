package engine_test

import (
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/eql"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

func fullEvent() *ecs.Event {
	ts := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	return &ecs.Event{
		Timestamp: ts,
		Event:     ecs.Meta{Kind: "event", Type: "start", Action: "exec", Created: ts, ID: "id1", Sequence: 7},
		Host: &ecs.Host{Name: "n", Hostname: "hn", ID: "hid", Architecture: "x86_64", IP: []string{"10.0.0.1"}, MAC: []string{"02-00"},
			OS: ecs.OS{Type: "linux", Family: "debian", Name: "Debian", Platform: "debian", Version: "12", Kernel: "6.1", Full: "Debian 12"}},
		Agent:     &ecs.Agent{Type: "spawnbeat", Version: "0.1", ID: "aid", Name: "an", EphemeralID: "eid"},
		Namespace: "default",
		Container: ecs.Container{ID: "c0ffee", Privileged: ecs.True},
		RiskScore: 73, Severity: 73, Message: "m",
		Process: ecs.Process{
			Info: ecs.Info{PID: 10, EntityID: "e10", Name: "bash", Executable: "/bin/bash", Args: []string{"bash", "-i"},
				CommandLine: "bash -i", WorkingDirectory: "/root", Start: ts, EnvVars: []string{"HISTFILE=/dev/null"},
				User: ecs.ID{ID: "0", Name: "root"}, Group: ecs.ID{ID: "0", Name: "root"},
				RealUser: ecs.ID{ID: "1000", Name: "u"}, RealGroup: ecs.ID{ID: "1001", Name: "g"},
				TTY: ecs.TTY{Major: 136, Minor: 3, Valid: true}, Interactive: ecs.True},
			Parent: ecs.Info{PID: 9, Name: "sshd", Args: []string{}, Interactive: ecs.False},
			Previous: []ecs.Previous{
				{Executable: "/opt/zoom/zoom", Args: []string{"zoom", "--url"}},
				{Executable: "/bin/sh", Args: []string{"sh", "-c", "x"}},
			},
			EntryLeader:   ecs.Leader{PID: 2, Name: "sshd", Args: []string{"sshd"}, SameAsProcess: ecs.False, EntryMetaType: "init"},
			SessionLeader: ecs.Leader{PID: 3, EntityID: "e3"},
			GroupLeader:   ecs.Leader{PID: 10, Executable: "/bin/bash", Start: ts, SameAsProcess: ecs.True},
			End:           ts, ExitCode: 0, HasExitCode: true,
		},
	}
}

// TestECSResolver: the ECS resolver knows exactly the fields
// _meta/fields.yml declares (TestResolverMatchesEncoder checks what each
// reads), plus the cases below.
func TestECSResolver(t *testing.T) {
	s := func(v string) engine.Value { return engine.StringValue(v) }
	n := func(f float64) engine.Value { return engine.NumberValue(f) }
	ss := func(v ...string) engine.Value { return engine.StringsValue(v) }
	names := engine.ECSFields()
	sort.Strings(names)
	if diff := cmp.Diff(declaredLeaves(t), names); diff != "" {
		t.Errorf("ECSFields against _meta/fields.yml (-declared +resolver):\n%s", diff)
	}
	r := engine.ECS()
	full := fullEvent()
	t.Run("parent absent when PID is 0", func(t *testing.T) {
		e := fullEvent()
		e.Process.Parent.PID = 0
		g, _ := r.Field("process.parent.name")
		if got := g.Get(e); got.Kind != engine.Missing {
			t.Errorf("process.parent.name = %v, want missing", got)
		}
	})
	t.Run("one previous image", func(t *testing.T) {
		e := fullEvent()
		e.Process.Previous = e.Process.Previous[:1]
		for name, want := range map[string]engine.Value{
			"process.previous.executable": s("/opt/zoom/zoom"),
			"process.previous.args":       ss("zoom", "--url"),
			"process.previous.args_count": n(2),
		} {
			g, _ := r.Field(name)
			if diff := cmp.Diff(want, g.Get(e)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
		}
	})
	t.Run("unknown field", func(t *testing.T) {
		g, filled := r.Field("process.Ext.load_module.taint_flags")
		if filled || g.Get(full).Kind != engine.Missing {
			t.Errorf("process.Ext.load_module.taint_flags: filled %v, value %v", filled, g.Get(full))
		}
	})
	t.Run("categories", func(t *testing.T) {
		for cat, want := range map[string]bool{"process": true, "any": true, "file": false, "network": false} {
			if got := r.Category(cat)(full); got != want {
				t.Errorf("Category(%q) = %v, want %v", cat, got, want)
			}
			if r.Category(cat)(nil) {
				t.Errorf("Category(%q) matches a nil event", cat)
			}
		}
	})
}

func TestJSONResolver(t *testing.T) {
	const doc = `{"a":{"b":{"c":"nested"}},"a.b.d":"dotted","a.b":{"e":"mixed"},"x":{"y.z":[1,"two",true,null,[3]]},
		"arr":[{"k":"v1"},{"k":"v2"},{"other":1}],"n":null,"empty":[],"obj":{"p":1},"num":42,"bool":false,"strs":["s"]}`
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	var mNum map[string]any
	dec := json.NewDecoder(stringsReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&mNum); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		want  engine.Value
	}{
		{"a.b.c", engine.StringValue("nested")},
		{"a.b.d", engine.StringValue("dotted")},
		{"a.b.e", engine.StringValue("mixed")},
		{"x.y.z", engine.Value{Kind: engine.List, List: []engine.Value{engine.NumberValue(1), engine.StringValue("two"), engine.BoolValue(true), engine.NumberValue(3)}}},
		{"arr.k", engine.StringsValue([]string{"v1", "v2"})},
		{"n", engine.Value{}},
		{"empty", engine.Value{}},
		{"obj", engine.Value{}},
		{"num", engine.NumberValue(42)},
		{"bool", engine.BoolValue(false)},
		{"strs", engine.StringValue("s")},
		{"nope", engine.Value{}},
		{"a.nope", engine.Value{}},
	}
	r := engine.JSON()
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			g, filled := r.Field(tt.field)
			if !filled {
				t.Errorf("filled = false")
			}
			if diff := cmp.Diff(tt.want, g.Get(m)); diff != "" {
				t.Errorf("float64 numbers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, g.Get(mNum)); diff != "" {
				t.Errorf("json.Number (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("category", func(t *testing.T) {
		docs := []struct {
			doc  map[string]any
			cat  string
			want bool
		}{
			{map[string]any{"event": map[string]any{"category": []any{"process"}}}, "process", true},
			{map[string]any{"event.category": "process"}, "process", true},
			{map[string]any{"event": map[string]any{"category": []any{"file", "process"}}}, "file", true},
			{map[string]any{"event": map[string]any{"category": []any{"process"}}}, "Process", false},
			{map[string]any{}, "process", false},
			{map[string]any{}, "any", true},
		}
		for _, d := range docs {
			if got := r.Category(d.cat)(d.doc); got != d.want {
				t.Errorf("Category(%q)(%v) = %v, want %v", d.cat, d.doc, got, d.want)
			}
		}
	})
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      string
	}{
		{"unknown function", `any where frobnicate(a)`, `1:11: frobnicate: unknown function`},
		{"arity too few", `any where startsWith(a)`, `1:11: startsWith: takes 2 arguments, got 1`},
		{"arity too many", `any where length(a, b)`, `1:11: length: takes 1 arguments, got 2`},
		{"arity range", `any where substring(a)`, `1:11: substring: takes 2 to 3 arguments, got 1`},
		{"variadic", `any where cidrMatch(a)`, `1:11: cidrMatch: takes at least 2 arguments, got 1`},
		{"no ~ form", `any where length~(a) == 1`, `1:11: length~: function has no case-insensitive form`},
		{"bad regex", `any where process.name regex "[a-"`, "1:30: process.name: invalid regex \"[a-\": unclosed character class opened at offset 0"},
		{"lucene complement", `any where process.name regex "~a"`, "1:30: process.name: invalid regex \"~a\": lucene operator '~' at offset 0: not supported"},
		{"regex on number", `any where process.name regex 1`, `1:30: regex: the pattern must be a string`},
		{"bad cidr", `any where cidrMatch(a, "10.0.0.0/99")`, "1:24: cidrMatch: invalid CIDR block \"10.0.0.0/99\": netip.ParsePrefix(\"10.0.0.0/99\"): prefix length out of range"},
		{"cidr not constant", `any where cidrMatch(a, b)`, `1:24: cidrMatch: CIDR blocks must be string constants`},
		{"string as condition", `any where "x"`, `1:11: a string is not a condition`},
		{"arithmetic as condition", `any where a + 1`, `1:13: an arithmetic expression is not a condition`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := eql.Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = engine.Compile(q, engine.JSON())
			var ce *engine.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *CompileError", err)
			}
			if !errors.Is(err, engine.ErrCompile) {
				t.Errorf("errors.Is(err, ErrCompile) = false")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProgramFields(t *testing.T) {
	q, err := eql.Parse(`process where process.name == "a" and ?process.Ext.load_module.taint_flags != null and length(process.command_line) > 1 and process.name : "b"`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(q, engine.ECS())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"process.Ext.load_module.taint_flags", "process.command_line", "process.name"}, p.Fields()); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	want := []engine.UnresolvedField{{Name: "process.Ext.load_module.taint_flags", Optional: true, Pos: eql.Pos{Line: 1, Col: 39}}}
	if diff := cmp.Diff(want, p.Unresolved()); diff != "" {
		t.Errorf("Unresolved (-want +got):\n%s", diff)
	}
	if p.Query() != q {
		t.Errorf("Query() is not the compiled query")
	}
}

// TestUnresolvedOptional: a field is optional only when every reference
// writes ?field, and its place is then the first reference not written so;
// a sequence gathers its steps' and join keys' fields.
func TestUnresolvedOptional(t *testing.T) {
	q, err := eql.Parse(`process where ?a.b == 1 or (?c.d == 2 and a.b == 3) or process.name == "x"`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(q, engine.ECS())
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.UnresolvedField{
		{Name: "a.b", Pos: eql.Pos{Line: 1, Col: 43}},
		{Name: "c.d", Optional: true, Pos: eql.Pos{Line: 1, Col: 29}},
	}
	if diff := cmp.Diff(want, p.Unresolved()); diff != "" {
		t.Errorf("Unresolved (-want +got):\n%s", diff)
	}
	st, err := eql.ParseStatement("sequence by ?k.k\n [process where ?a.b == 1] by x.y\n [process where a.b == 2] by process.pid")
	if err != nil {
		t.Fatal(err)
	}
	s, err := engine.CompileSequence(st.(*eql.Sequence), engine.ECS())
	if err != nil {
		t.Fatal(err)
	}
	want = []engine.UnresolvedField{
		{Name: "a.b", Pos: eql.Pos{Line: 3, Col: 17}},
		{Name: "k.k", Optional: true, Pos: eql.Pos{Line: 1, Col: 13}},
		{Name: "x.y", Pos: eql.Pos{Line: 2, Col: 31}},
	}
	if diff := cmp.Diff(want, s.Unresolved()); diff != "" {
		t.Errorf("sequence Unresolved (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a.b", "k.k", "process.pid", "x.y"}, s.Fields()); diff != "" {
		t.Errorf("sequence Fields (-want +got):\n%s", diff)
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// TestLongChains: a rule may or together thousands of terms; compiling and
// matching it must not depend on recursion depth.
func TestLongChains(t *testing.T) {
	var b strings.Builder
	b.WriteString(`process where process.name == "x0"`)
	const n = 20000
	for i := 1; i < n; i++ {
		b.WriteString(` or process.name == "x` + strconv.Itoa(i) + `"`)
	}
	q, err := eql.Parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(q, engine.ECS())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		want bool
	}{{"x0", true}, {"x19999", true}, {"x20000", false}} {
		e := &ecs.Event{Process: ecs.Process{Info: ecs.Info{Name: tt.name}}}
		if got := p.Match(e); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// fullParentEvent is fullEvent with every process.parent.* field set to a
// value of its own, so that a parent reader wired to the wrong struct field
// shows up.
func fullParentEvent() *ecs.Event {
	e := fullEvent()
	ts := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	e.Process.Parent = ecs.Info{PID: 9, EntityID: "e9", Name: "sshd", Executable: "/usr/sbin/sshd", Args: []string{"sshd", "-D"},
		CommandLine: "sshd -D", WorkingDirectory: "/", Start: ts,
		User: ecs.ID{ID: "1", Name: "pu"}, Group: ecs.ID{ID: "2", Name: "pg"},
		RealUser: ecs.ID{ID: "3", Name: "pru"}, RealGroup: ecs.ID{ID: "4", Name: "prg"},
		TTY: ecs.TTY{Major: 4, Minor: 1, Valid: true}, Interactive: ecs.True, EnvVars: []string{"LD_PRELOAD=/tmp/x.so"}}
	return e
}

// TestECSResolverParent: every process.parent.* field is present on a
// parent that has them all and absent when the parent PID is 0, as the
// encoder leaves out the whole parent object.
func TestECSResolverParent(t *testing.T) {
	var parentNames []string
	for _, name := range declaredLeaves(t) {
		if strings.HasPrefix(name, "process.parent.") {
			parentNames = append(parentNames, name)
		}
	}
	if len(parentNames) < 20 {
		t.Fatalf("%d process.parent.* fields declared: %v", len(parentNames), parentNames)
	}
	r := engine.ECS()
	known := fullParentEvent()
	unknown := fullParentEvent()
	unknown.Process.Parent.PID = 0
	for _, name := range parentNames {
		t.Run(name, func(t *testing.T) {
			f, _ := r.Field(name)
			if got := f.Get(known); got.Kind == engine.Missing {
				t.Errorf("known parent: missing")
			}
			if diff := cmp.Diff(engine.Value{}, f.Get(unknown)); diff != "" {
				t.Errorf("parent PID 0 (-want +got):\n%s", diff)
			}
		})
	}
}

// TestECSDirectReaders checks that the direct readers the compiler uses on
// the hot path (String, Strings, Number) agree with Get on every field.
func TestECSDirectReaders(t *testing.T) {
	noParent := fullParentEvent()
	noParent.Process.Parent.PID = 0
	events := []struct {
		name string
		ev   *ecs.Event
	}{{"full", fullEvent()}, {"full parent", fullParentEvent()}, {"parent PID 0", noParent}, {"zero", &ecs.Event{}}}
	r := engine.ECS()
	names := engine.ECSFields()
	sort.Strings(names)
	direct := 0
	for _, name := range names {
		f, _ := r.Field(name)
		if f.String == nil && f.Strings == nil && f.Number == nil {
			continue
		}
		direct++
		t.Run(name, func(t *testing.T) {
			for _, ev := range events {
				want := f.Get(ev.ev)
				var got engine.Value
				switch {
				case f.String != nil:
					got = engine.StringValue(f.String(ev.ev))
				case f.Strings != nil:
					got = engine.StringsValue(f.Strings(ev.ev))
				default:
					if n, ok := f.Number(ev.ev); ok {
						got = engine.NumberValue(n)
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: direct reader disagrees with Get (-Get +direct):\n%s", ev.name, diff)
				}
			}
		})
	}
	// Every string field and pid/args_count have one; a resolver that
	// dropped them would pass the loop above vacuously.
	if direct < 60 {
		t.Errorf("%d fields have a direct reader, want at least 60", direct)
	}
}
