package engine_test

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/eql"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// evalCase is one line of testdata/cases.txt.
type evalCase struct {
	line  int
	doc   string
	query string
	want  bool
}

func loadCases(t *testing.T) ([]evalCase, map[string]map[string]any) {
	t.Helper()
	f, err := os.Open("testdata/cases.txt")
	if err != nil {
		t.Fatalf("open cases: %v", err)
	}
	defer f.Close()
	docs := map[string]map[string]any{}
	defs := map[string]string{}
	var cases []evalCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			t.Fatalf("cases.txt:%d: want KIND NAME REST", n)
		}
		kind, name := fields[0], fields[1]
		rest := strings.TrimSpace(strings.SplitN(line, name, 2)[1])
		switch kind {
		case "doc":
			dec := json.NewDecoder(strings.NewReader(rest))
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("cases.txt:%d: document: %v", n, err)
			}
			docs[name] = doc
		case "def":
			defs[name] = rest
		case "match", "no":
			if _, ok := docs[name]; !ok {
				t.Fatalf("cases.txt:%d: unknown document %q", n, name)
			}
			q := rest
			if strings.HasPrefix(q, "@") {
				d, ok := defs[q[1:]]
				if !ok {
					t.Fatalf("cases.txt:%d: unknown query %q", n, q)
				}
				q = d
			} else if !strings.Contains(strings.SplitN(q, "(", 2)[0], " where ") {
				q = "any where " + q
			}
			cases = append(cases, evalCase{line: n, doc: name, query: q, want: kind == "match"})
		default:
			t.Fatalf("cases.txt:%d: unknown kind %q", n, kind)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read cases: %v", err)
	}
	return cases, docs
}

func TestCases(t *testing.T) {
	cases, docs := loadCases(t)
	jsonR, ecsR := engine.JSON(), engine.ECS()
	ranECS := 0
	for _, c := range cases {
		t.Run(strings.Join([]string{itoa(c.line), c.doc}, "_"), func(t *testing.T) {
			q, err := eql.Parse(c.query)
			if err != nil {
				t.Fatalf("line %d: Parse(%q): %v", c.line, c.query, err)
			}
			doc := docs[c.doc]
			jp, err := engine.Compile(q, jsonR)
			if err != nil {
				t.Fatalf("line %d: Compile: %v", c.line, err)
			}
			if got := jp.Match(doc); got != c.want {
				t.Errorf("line %d: JSON Match(%s) on %s = %v, want %v", c.line, c.query, c.doc, got, c.want)
			}
			ev, ok := jsonToECS(doc)
			if !ok {
				return
			}
			ep, err := engine.Compile(q, ecsR)
			if err != nil {
				t.Fatalf("line %d: Compile ECS: %v", c.line, err)
			}
			// Run on ECS only when the event carries exactly the JSON values
			// of every field the query references.
			for _, f := range ep.Fields() {
				jg, _ := jsonR.Field(f)
				eg, _ := ecsR.Field(f)
				if !cmp.Equal(scalar(jg.Get(doc)), scalar(eg.Get(ev))) {
					t.Logf("line %d: not on ECS: %s differs", c.line, f)
					return
				}
			}
			ranECS++
			if got := ep.Match(ev); got != c.want {
				t.Errorf("line %d: ECS Match(%s) on %s = %v, want %v", c.line, c.query, c.doc, got, c.want)
			}
		})
	}
	t.Logf("%d cases, %d also on ecs.Event", len(cases), ranECS)
	if len(cases) < 200 || ranECS < len(cases)*9/10 {
		t.Errorf("%d cases, %d on ECS: the table or the JSON→ECS conversion lost cases", len(cases), ranECS)
	}
}

// scalar turns a one-element array into its element: the two behave
// identically under every operator.
func scalar(v engine.Value) engine.Value {
	if (v.Kind == engine.Strings || v.Kind == engine.List) && v.Len() == 1 {
		return v.At(0)
	}
	return v
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// jsonToECS builds the ecs.Event that the document describes, from the
// fields an ecs.Event can carry; ok is false for a document without
// event.category "process".
func jsonToECS(doc map[string]any) (*ecs.Event, bool) {
	r := engine.JSON()
	get := func(name string) engine.Value { f, _ := r.Field(name); return f.Get(doc) }
	s := func(name string) string {
		v := get(name)
		if v.Kind == engine.String {
			return v.Str
		}
		return ""
	}
	strs := func(name string) []string {
		v := get(name)
		switch v.Kind {
		case engine.String:
			return []string{v.Str}
		case engine.Strings:
			return v.Strs
		}
		return nil
	}
	num := func(name string) int {
		if v := get(name); v.Kind == engine.Number {
			return int(v.Num)
		}
		return 0
	}
	if !r.Category("process")(doc) {
		return nil, false
	}
	e := &ecs.Event{
		Event:     ecs.Meta{Kind: s("event.kind"), Type: s("event.type"), Action: s("event.action"), ID: s("event.id")},
		Host:      &ecs.Host{Name: s("host.name"), ID: s("host.id"), OS: ecs.OS{Type: s("host.os.type"), Name: s("host.os.name")}},
		Namespace: s("data_stream.namespace"),
	}
	if ts, err := time.Parse(time.RFC3339Nano, s("@timestamp")); err == nil {
		e.Timestamp = ts
	}
	info := func(p string, i *ecs.Info) {
		i.PID = num(p + "pid")
		i.Name, i.Executable = s(p+"name"), s(p+"executable")
		i.Args = strs(p + "args")
		i.CommandLine, i.WorkingDirectory = s(p+"command_line"), s(p+"working_directory")
		i.EntityID = s(p + "entity_id")
		i.User = ecs.ID{ID: s(p + "user.id"), Name: s(p + "user.name")}
		i.Group = ecs.ID{ID: s(p + "group.id"), Name: s(p + "group.name")}
		i.RealUser = ecs.ID{ID: s(p + "real_user.id")}
		i.Interactive = tristate(get(p + "interactive"))
		if v := get(p + "tty.char_device.major"); v.Kind == engine.Number {
			i.TTY = ecs.TTY{Major: int(v.Num), Minor: num(p + "tty.char_device.minor"), Valid: true}
		}
	}
	info("process.", &e.Process.Info)
	info("process.parent.", &e.Process.Parent)
	e.Process.SessionLeader.PID = num("process.session_leader.pid")
	e.Process.SessionLeader.SameAsProcess = tristate(get("process.session_leader.same_as_process"))
	if u, n := s("user.id"), s("user.name"); u != "" || n != "" {
		e.Process.User = ecs.ID{ID: u, Name: n}
	}
	return e, true
}

// tristate converts a boolean value; anything else is unknown.
func tristate(v engine.Value) ecs.Tristate {
	switch {
	case v.Kind != engine.Bool:
		return ecs.Unknown
	case v.Bool:
		return ecs.True
	}
	return ecs.False
}
