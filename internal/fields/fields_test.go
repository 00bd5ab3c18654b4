package fields

import (
	"errors"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	spawnbeat "github.com/spawnbeat/spawnbeat"
)

const sample = `
- key: s
  title: S
  description: A section.
  fields:
    - name: process
      type: group
      description: The process.
      fields:
        - name: name
          type: keyword
          go: e.Process.Name
          description: Name.
        - name: args
          type: keyword
          go: e.Process.Args
          go_type: "[]string"
          description: Args.
        - name: exit_code
          type: long
          go: e.Process.ExitCode
          go_absent: '!e.Process.HasExitCode'
          description: Exit code.
        - name: parent
          type: group
          go_let: 'p := &e.Process.Parent'
          go_absent: p.PID == 0
          description: The parent.
          fields:
            - name: pid
              type: long
              go: p.PID
              description: Pid.
            - name: start
              type: date
              go: e.Timestamp
              description: A field that does not use p.
            - name: interactive
              type: boolean
              go: p.Interactive
              description: Whether it has a terminal.
`

func TestParse(t *testing.T) {
	leaves, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	parent := Scope{Group: "process.parent", Let: "p := &e.Process.Parent", Absent: "p.PID == 0"}
	want := []Leaf{
		{Name: "process.name", Type: "keyword", Go: "e.Process.Name"},
		{Name: "process.args", Type: "keyword", Go: "e.Process.Args", GoType: GoStrings},
		{Name: "process.exit_code", Type: "long", Go: "e.Process.ExitCode", Absent: "!e.Process.HasExitCode"},
		{Name: "process.parent.pid", Type: "long", Go: "p.PID", Scopes: []Scope{parent}},
		{Name: "process.parent.start", Type: "date", Go: "e.Timestamp", Scopes: []Scope{parent}},
		{Name: "process.parent.interactive", Type: "boolean", Go: "p.Interactive", Scopes: []Scope{parent}},
	}
	if diff := cmp.Diff(want, leaves); diff != "" {
		t.Errorf("leaves (-want +got):\n%s", diff)
	}
	kinds := []string{KindString, KindStrings, KindNumber, KindNumber, KindDate, KindBool}
	for i, l := range leaves {
		if l.Kind() != kinds[i] {
			t.Errorf("%s: kind %q, want %q", l.Name, l.Kind(), kinds[i])
		}
	}
}

// TestParseProblems: each mistake is reported with the field's name, and
// all of them at once.
func TestParseProblems(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"no go", `{name: a, type: keyword, description: d}`, "a: no go expression"},
		{"bad go", `{name: a, type: keyword, description: d, go: "e.("}`, `a: go "e.(": not a Go expression`},
		{"go on a group", `{name: g, type: group, description: d, go: e.X, fields: [{name: a, type: keyword, description: d, go: e.A}]}`,
			"g: go and go_type belong on fields"},
		{"let on a leaf", `{name: a, type: keyword, description: d, go: e.A, go_let: "x := e"}`, "a: go_let belongs on groups"},
		{"bad let", `{name: g, type: group, description: d, go_let: "x = e.X", fields: [{name: a, type: keyword, description: d, go: x.A}]}`,
			`g: go_let "x = e.X": want "name := expression"`},
		{"reserved let", `{name: g, type: group, description: d, go_let: "e := e.X", fields: [{name: a, type: keyword, description: d, go: e.A}]}`,
			"e is taken by the generated code"},
		{"shadowing let", `{name: g, type: group, description: d, go_let: "x := e.X", fields: [{name: h, type: group, description: d, go_let: "x := e.Y", fields: [{name: a, type: keyword, description: d, go: x.A}]}]}`,
			"g.h: go_let \"x := e.Y\": x is already declared by g"},
		{"go_type on a number", `{name: a, type: long, description: d, go: e.A, go_type: "[]string"}`, `a: go_type "[]string" does not fit type "long"`},
		{"unknown type", `{name: a, type: flattened, description: d, go: e.A}`, `a: type "flattened": no Go reader for it`},
		{"dotted name", `{name: a.b, type: keyword, description: d, go: e.A}`, `a name must be one non-empty path element, got "a.b"`},
		{"twice", `{name: a, type: keyword, description: d, go: e.A}, {name: a, type: keyword, description: d, go: e.A}`, "a: declared twice"},
		{"no description", `{name: a, type: keyword, go: e.A}`, "a: no description"},
		{"empty group", `{name: g, type: group, description: d}`, "g: a group needs fields"},
		{"scaled_float", `{name: a, type: scaled_float, description: d, go: e.A}`, "a: scaled_float needs scaling_factor"},
		{"multi_field", `{name: a, type: keyword, description: d, go: e.A, multi_fields: [{name: t, type: long}]}`, `a: bad multi_field "t" of type "long"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "- key: s\n  title: S\n  fields: [" + tt.yaml + "]\n"
			_, err := Parse([]byte(doc))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("unknown key", func(t *testing.T) {
		_, err := Parse([]byte("- key: s\n  title: S\n  fields: [{name: a, type: keyword, description: d, go: e.A, go_typo: x}]\n"))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "go_typo") {
			t.Errorf("err = %v, want the unknown key named", err)
		}
	})
	t.Run("all at once", func(t *testing.T) {
		_, err := Parse([]byte("- key: s\n  title: S\n  fields: [{name: a, type: keyword, description: d}, {name: b, type: long, go: e.B}]\n"))
		if err == nil || !strings.Contains(err.Error(), "a: no go expression") || !strings.Contains(err.Error(), "b: no description") {
			t.Errorf("err = %v, want both problems", err)
		}
	})
}

func TestGenerate(t *testing.T) {
	src, err := Generate([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	if !strings.HasPrefix(text, Generated+"\n") {
		t.Errorf("no generated-code header:\n%s", text)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "gen.go", src, 0); err != nil {
		t.Fatalf("generated code does not parse: %v\n%s", err, text)
	}
	for _, want := range []string{
		`"process.name": stringField(func(e *ecs.Event) string { return e.Process.Name }),`,
		`"process.args": stringsField(func(e *ecs.Event) []string { return e.Process.Args }),`,
		// go_absent alone decides: an exit code of 0 is a value.
		"\"process.exit_code\": numberField(func(e *ecs.Event) (float64, bool) {\n\t\t\tif !e.Process.HasExitCode {\n\t\t\t\treturn 0, false\n\t\t\t}\n\t\t\treturn float64(e.Process.ExitCode), true\n",
		// Without it, zero is absent.
		"\t\t\tp := &e.Process.Parent\n\t\t\tif p.PID == 0 {\n\t\t\t\treturn 0, false\n\t\t\t}\n\t\t\tv := p.PID\n\t\t\treturn float64(v), v != 0\n",
		// A field that does not read p still takes the group's guard, which does.
		"\"process.parent.start\": {Get: func(e *ecs.Event) Value {\n\t\t\tp := &e.Process.Parent\n\t\t\tif p.PID == 0 {",
		"return boolValue(p.Interactive)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("generated code lacks\n%s\nin\n%s", want, text)
		}
	}
}

// TestMetaFieldsParse: the real file is valid and every leaf has a reader.
func TestMetaFieldsParse(t *testing.T) {
	leaves, err := Parse(spawnbeat.FieldsYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) < 140 {
		t.Errorf("%d fields, want the 140-odd spawnbeat writes", len(leaves))
	}
	for _, l := range leaves {
		if l.Kind() == "" {
			t.Errorf("%s: no reader kind", l.Name)
		}
	}
}

func TestUses(t *testing.T) {
	for _, tt := range []struct {
		expr, v string
		want    bool
	}{
		{"p.Name", "p", true},
		{"e.Process.p", "p", false},
		{"len(p.Args)", "p", true},
		{"x.p.q", "p", false},
		{"f(e).p", "p", false},
		{"ruleValues(e.Rules, func(r *ecs.Rule) string { return r.ID })", "r", true},
		{"e.Host", "h", false},
	} {
		if got := uses(tt.expr, tt.v); got != tt.want {
			t.Errorf("uses(%q, %q) = %v, want %v", tt.expr, tt.v, got, tt.want)
		}
	}
}
