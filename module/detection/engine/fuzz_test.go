package engine_test

import (
	"testing"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/eql"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// ecsAsJSON renders every field the ECS resolver fills as a dotted-key JSON
// document, so that both resolvers see the same values.
func ecsAsJSON(e *ecs.Event) map[string]any {
	r := engine.ECS()
	doc := map[string]any{}
	for _, name := range engine.ECSFields() {
		g, _ := r.Field(name)
		v := g.Get(e)
		switch v.Kind {
		case engine.String:
			doc[name] = v.Str
		case engine.Strings:
			arr := make([]any, len(v.Strs))
			for i, s := range v.Strs {
				arr[i] = s
			}
			doc[name] = arr
		case engine.Number:
			doc[name] = v.Num
		case engine.Bool:
			doc[name] = v.Bool
		}
	}
	return doc
}

// TestResolversAgree runs every corpus rule on the same events through both
// resolvers: one semantics, two document shapes.
func TestResolversAgree(t *testing.T) {
	events := map[string]*ecs.Event{"tty": ttyEvent(), "ls": lsEvent(), "empty": {}}
	for _, r := range loadCorpus(t) {
		q, err := eql.Parse(r.Query)
		if err != nil {
			continue // sequences; TestCorpusConformance covers them
		}
		ep, err := engine.Compile(q, engine.ECS())
		if err != nil {
			t.Fatalf("%s: %v", r.File, err)
		}
		jp, err := engine.Compile(q, engine.JSON())
		if err != nil {
			t.Fatalf("%s: %v", r.File, err)
		}
		for name, ev := range events {
			if got, want := ep.Match(ev), jp.Match(ecsAsJSON(ev)); got != want {
				t.Errorf("%s on %s: ECS %v, JSON %v", r.File, name, got, want)
			}
		}
	}
}

// FuzzEval parses, compiles and runs any query on a fixed event through
// both resolvers: no panic, and the same answer from each.
func FuzzEval(f *testing.F) {
	for _, r := range loadCorpus(f) {
		f.Add(r.Query)
	}
	for _, s := range []string{
		`any where process.parent.args : "*PTY*" and length(process.name) == 4`,
		`process where process.args regex~ "[a-z/]+" or process.pid % 7 == 3`,
		`process where between(process.parent.command_line, "-c ", ";") == "import pty"`,
		`process where substring(process.name, -3, -1) == "as" and concat(process.pid, "x") != null`,
		`process where cidrMatch(process.name, "10.0.0.0/8") or indexOf~(process.executable, "BIN", 2) > 0`,
		`process where process.args like~ ("*\\**", "?") and not process.interactive`,
	} {
		f.Add(s)
	}
	ev := ttyEvent()
	doc := ecsAsJSON(ev)
	f.Fuzz(func(t *testing.T, src string) {
		q, err := eql.Parse(src)
		if err != nil {
			return
		}
		ep, err := engine.Compile(q, engine.ECS())
		if err != nil {
			if _, jerr := engine.Compile(q, engine.JSON()); jerr == nil {
				t.Fatalf("%q compiles for JSON but not ECS: %v", src, err)
			}
			return
		}
		jp, err := engine.Compile(q, engine.JSON())
		if err != nil {
			t.Fatalf("%q compiles for ECS but not JSON: %v", src, err)
		}
		if a, b := ep.Match(ev), jp.Match(doc); a != b {
			t.Fatalf("%q: ECS %v, JSON %v", src, a, b)
		}
		ep.Match(&ecs.Event{})
	})
}
