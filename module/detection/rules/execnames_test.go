package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spawnbeat/spawnbeat/module/detection/internal/corpus"
)

// querySet builds a Set of one single-event rule per query.
func querySet(t *testing.T, queries ...string) *Set {
	t.Helper()
	var rs []*Rule
	for i, q := range queries {
		file := fmt.Sprintf("[rule]\nrule_id = \"r%d\"\nname = \"r%d\"\ntype = \"eql\"\nseverity = \"low\"\nrisk_score = 21\nquery = '''\n%s\n'''\n", i, i, q)
		r, err := Parse(fmt.Sprintf("r%d.toml", i), []byte(file), false)
		if err != nil {
			t.Fatalf("query %q: %v", q, err)
		}
		rs = append(rs, r)
	}
	return newSet(rs, nil, nil, nil)
}

func exact(texts ...string) []NamePattern {
	out := make([]NamePattern, len(texts))
	for i, s := range texts {
		out[i] = NamePattern{Text: s}
	}
	return out
}

func prefix(text string) NamePattern { return NamePattern{Text: text, Prefix: true} }

func TestExecNames(t *testing.T) {
	manyNames := make([]string, MaxExecNames+1)
	for i := range manyNames {
		manyNames[i] = fmt.Sprintf("%q", fmt.Sprintf("n%04d", i))
	}
	// 70 alternatives that each need a name and a parent: an or past
	// maxAlternatives, merged into one alternative.
	var wide []string
	var wideNames []NamePattern
	for i := 0; i < 70; i++ {
		wide = append(wide, fmt.Sprintf(`(process.name == "n%02d" and process.parent.name == "p%02d")`, i, i))
		wideNames = append(wideNames, NamePattern{Text: fmt.Sprintf("n%02d", i)})
	}
	// Two ors of 9 such alternatives each: 81 pairs, past the bound, so
	// the and keeps one side.
	var left, right []string
	for i := 0; i < 9; i++ {
		left = append(left, fmt.Sprintf(`(process.name == "a%d" and process.parent.name == "b%d")`, i, i))
		right = append(right, fmt.Sprintf(`(process.name == "c%d" and process.parent.name == "d%d")`, i, i))
	}
	tests := []struct {
		name    string
		queries []string
		want    ExecNames
		ok      bool
	}{
		{"empty set", nil, ExecNames{}, true},
		{"==", []string{`process where process.name == "bash"`}, ExecNames{Names: exact("bash")}, true},
		{"== literal first", []string{`process where "bash" == process.name`}, ExecNames{Names: exact("bash")}, true},
		{"optional field", []string{`process where ?process.name : "bash"`}, ExecNames{Names: exact("bash")}, true},
		{"in, case folded, sorted", []string{`process where process.name in ("ZSH", "Bash", "zsh")`}, ExecNames{Names: exact("bash", "zsh")}, true},
		{"in~", []string{`process where process.name in~ ("Bash")`}, ExecNames{Names: exact("bash")}, true},
		{": with a trailing wildcard", []string{`process where process.name : "Python*"`}, ExecNames{Names: []NamePattern{prefix("python")}}, true},
		{"like with ? inside", []string{`process where process.name like "py?hon3"`}, ExecNames{Names: []NamePattern{prefix("py")}}, true},
		{"like~ list", []string{`process where process.name like~ ("perl*", "ruby")`}, ExecNames{Names: []NamePattern{prefix("perl"), {Text: "ruby"}}}, true},
		{"prefix covers names", []string{`process where process.name : ("bash*", "bash", "bashbug", "ba")`}, ExecNames{Names: []NamePattern{{Text: "ba"}, prefix("bash")}}, true},
		{"== never a wildcard", []string{`process where process.name == "b*"`}, ExecNames{Names: exact("b*")}, true},
		{"leading wildcard", []string{`process where process.name : "*sh"`}, ExecNames{}, false},
		{"one leading wildcard in a list", []string{`process where process.name : ("bash", "?sh")`}, ExecNames{}, false},
		{"startsWith", []string{`process where startsWith(process.name, "Py")`}, ExecNames{Names: []NamePattern{prefix("py")}}, true},
		{"startsWith~", []string{`process where startsWith~(process.name, "PY")`}, ExecNames{Names: []NamePattern{prefix("py")}}, true},
		{"endsWith", []string{`process where endsWith(process.name, "sh")`}, ExecNames{}, false},
		{"startsWith on another field", []string{`process where startsWith(process.executable, "/bin")`}, ExecNames{}, false},
		{"parent", []string{`process where process.parent.name : "sshd"`}, ExecNames{Parents: exact("sshd")}, true},
		{"and keeps the names", []string{`process where event.action == "exec" and process.parent.name : "python*" and process.name == "bash"`}, ExecNames{Names: exact("bash")}, true},
		{"and with parents only", []string{`process where process.parent.name == "sshd" and process.args : "-c"`}, ExecNames{Parents: exact("sshd")}, true},
		{"and of two name tests keeps the shorter", []string{`process where process.name in ("a", "b", "c") and process.name : "b*"`}, ExecNames{Names: []NamePattern{prefix("b")}}, true},
		{"or", []string{`process where process.name == "bash" or process.parent.name == "sshd"`}, ExecNames{Names: exact("bash"), Parents: exact("sshd")}, true},
		{"or with an unnarrowed side", []string{`process where process.name == "bash" or event.action == "exec"`}, ExecNames{}, false},
		{"and of or", []string{`process where event.action == "exec" and (process.name == "a" or process.parent.name == "b")`}, ExecNames{Names: exact("a"), Parents: exact("b")}, true},
		// (a|B) and (c|D): pairs a&c (names a), a&D, B&c (names c), B&D (parents b, d: the first kept).
		{"or and or", []string{`process where (process.name == "a" or process.parent.name == "b") and (process.name == "c" or process.parent.name == "d")`}, ExecNames{Names: exact("a", "c"), Parents: exact("b")}, true},
		{"or past the bound", []string{"process where " + strings.Join(wide, " or ")}, ExecNames{Names: wideNames}, true},
		{"and past the bound", []string{"process where (" + strings.Join(left, " or ") + ") and (" + strings.Join(right, " or ") + ")"},
			ExecNames{Names: exact("a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8")}, true},
		{"!=", []string{`process where process.name != "bash"`}, ExecNames{}, false},
		{"not in", []string{`process where process.name not in ("bash")`}, ExecNames{}, false},
		{"not ==", []string{`process where not process.name == "bash"`}, ExecNames{}, false},
		{"not (...)", []string{`process where not (process.name == "bash" or process.name == "sh")`}, ExecNames{}, false},
		{"negation beside a name", []string{`process where process.name == "bash" and not process.parent.name : "sshd"`}, ExecNames{Names: exact("bash")}, true},
		{"regex", []string{`process where process.name regex "bash.*"`}, ExecNames{}, false},
		{"null", []string{`process where process.name == null`}, ExecNames{}, false},
		{"null in a list", []string{`process where process.name in ("bash", null)`}, ExecNames{}, false},
		{"number", []string{`process where process.name == 5`}, ExecNames{}, false},
		{"field against field", []string{`process where process.name == process.parent.name`}, ExecNames{}, false},
		{"empty literal", []string{`process where process.name == ""`}, ExecNames{}, false},
		{"other fields only", []string{`process where process.executable : "/usr/bin/bash"`}, ExecNames{}, false},
		{"non-ASCII letter cut", []string{`process where process.name == "abÄx"`}, ExecNames{Names: []NamePattern{prefix("ab")}}, true},
		{"non-ASCII first", []string{`process where process.name : "Äbc"`}, ExecNames{}, false},
		{"rules unite", []string{`process where process.name == "bash"`, `process where process.parent.name : "node*"`, `process where process.name : "ba*"`},
			ExecNames{Names: []NamePattern{prefix("ba")}, Parents: []NamePattern{prefix("node")}}, true},
		{"one rule spoils the set", []string{`process where process.name == "bash"`, `process where process.args : "-c"`}, ExecNames{}, false},
		{"past MaxExecNames", []string{"process where process.name in (" + strings.Join(manyNames, ", ") + ")"}, ExecNames{}, false},
		{"at MaxExecNames", []string{"process where process.name in (" + strings.Join(manyNames[:MaxExecNames], ", ") + ")"}, ExecNames{Names: nil}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := querySet(t, tt.queries...).ExecNames()
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (names %+v)", ok, tt.ok, got)
			}
			if tt.name == "at MaxExecNames" {
				if len(got.Names) != MaxExecNames || len(got.Parents) != 0 {
					t.Fatalf("got %d names and %d parents, want %d and 0", len(got.Names), len(got.Parents), MaxExecNames)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ExecNames (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExecNamesSequence(t *testing.T) {
	set, err := Load(Options{Paths: []string{"testdata/sequence"}, DisableBuiltin: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !set.HasSequences() {
		t.Fatal("testdata/sequence loaded no sequence")
	}
	if got, ok := set.ExecNames(); ok {
		t.Errorf("ExecNames of a sequence rule = %+v, true; want ok false", got)
	}
}

// TestExecNamesBuiltin pins the built-in rules' names: both need a shell as
// process.name (and a python* parent, which the shell names already imply
// as a necessary condition).
func TestExecNamesBuiltin(t *testing.T) {
	set, err := Load(Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := set.ExecNames()
	if !ok {
		t.Fatal("built-in rules not narrowed")
	}
	want := ExecNames{Names: exact("ash", "bash", "bsd-csh", "busybox", "csh", "dash", "fish", "ksh", "ksh93", "lksh", "mksh", "sh", "tcsh", "zsh")}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("built-in ExecNames (-want +got):\n%s", diff)
	}
}

// TestExecNamesCorpus counts the corpus's rules that narrow on their own,
// and checks what the whole corpus as one set gives: some rule in it tests
// neither name, so any exec may match.
func TestExecNamesCorpus(t *testing.T) {
	set, err := Load(Options{Paths: []string{corpusDir(t)}, DisableBuiltin: true}, nil)
	if err != nil {
		t.Fatalf("Load(corpus): %v", err)
	}
	var narrowed, byName, byParent, sequences int
	for _, r := range set.Rules() {
		if r.IsSequence() {
			sequences++
		}
		names, ok := newSet([]*Rule{r}, nil, nil, nil).ExecNames()
		if !ok {
			continue
		}
		narrowed++
		if len(names.Names) > 0 {
			byName++
		}
		if len(names.Parents) > 0 {
			byParent++
		}
	}
	t.Logf("%d of %d corpus rules narrow (%d need a process.name, %d a process.parent.name); %d sequences do not",
		narrowed, set.Len(), byName, byParent, sequences)
	// Counted when ExecNames was written, over the 236 single-event rules
	// (the 30 sequences never narrow). A change means the narrowing or the
	// corpus changed: check which rules moved and why.
	if narrowed != 189 || byName != 182 || byParent != 7 {
		t.Errorf("%d rules narrow (%d by name, %d by parent), want 189, 182 and 7", narrowed, byName, byParent)
	}
	if names, ok := set.ExecNames(); ok {
		t.Errorf("the whole corpus narrows to %+v, want ok false", names)
	}
}

// BenchmarkExecNames measures the narrowing of the corpus's 189 rules that
// narrow, as one set (a set with a rule that does not stops there), as a
// reload would run it: it parses every query again.
func BenchmarkExecNames(b *testing.B) {
	set, err := Load(Options{Paths: []string{corpus.Dir(b)}, DisableBuiltin: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var narrowing []*Rule
	for _, r := range set.Rules() {
		if _, ok := newSet([]*Rule{r}, nil, nil, nil).ExecNames(); ok {
			narrowing = append(narrowing, r)
		}
	}
	all := newSet(narrowing, nil, nil, nil)
	names, ok := all.ExecNames()
	if !ok {
		b.Fatalf("the %d narrowing rules together do not narrow", len(narrowing))
	}
	b.ReportAllocs()
	for b.Loop() {
		all.ExecNames()
	}
	b.ReportMetric(float64(len(names.Names)), "names")
	b.ReportMetric(float64(len(names.Parents)), "parents")
}
