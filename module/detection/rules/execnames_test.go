package rules

import (
	"fmt"
	"slices"
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

func TestExecMatches(t *testing.T) {
	manyNames := make([]string, MaxExecNames+1)
	for i := range manyNames {
		manyNames[i] = fmt.Sprintf("%q", fmt.Sprintf("n%04d", i))
	}
	// 70 alternatives that each need a name and a parent: the or of the
	// first 65 passes maxAlternatives and merges into one alternative of
	// their names and parents; each of the last 5 joins it as it is.
	var wide []string
	first := ExecMatch{}
	for i := 0; i < 65; i++ {
		first.Names = append(first.Names, NamePattern{Text: fmt.Sprintf("n%02d", i)})
		first.Parents = append(first.Parents, NamePattern{Text: fmt.Sprintf("p%02d", i)})
	}
	orPastBound := []ExecMatch{first}
	for i := 0; i < 70; i++ {
		wide = append(wide, fmt.Sprintf(`(process.name == "n%02d" and process.parent.name == "p%02d")`, i, i))
		if i >= 65 {
			orPastBound = append(orPastBound, ExecMatch{Names: exact(fmt.Sprintf("n%02d", i)), Parents: exact(fmt.Sprintf("p%02d", i))})
		}
	}
	// Two ors of 9 such alternatives each: 81 pairs, past the bound, so
	// the and keeps one side.
	var left, right []string
	var andPastBound []ExecMatch
	for i := 0; i < 9; i++ {
		left = append(left, fmt.Sprintf(`(process.name == "a%d" and process.parent.name == "b%d")`, i, i))
		right = append(right, fmt.Sprintf(`(process.name == "c%d" and process.parent.name == "d%d")`, i, i))
		andPastBound = append(andPastBound, ExecMatch{Names: exact(fmt.Sprintf("a%d", i)), Parents: exact(fmt.Sprintf("b%d", i))})
	}
	tests := []struct {
		name    string
		queries []string
		want    []ExecMatch
		ok      bool
	}{
		{"empty set", nil, nil, true},
		{"==", []string{`process where process.name == "bash"`}, []ExecMatch{{Names: exact("bash")}}, true},
		{"== literal first", []string{`process where "bash" == process.name`}, []ExecMatch{{Names: exact("bash")}}, true},
		{"optional field", []string{`process where ?process.name : "bash"`}, []ExecMatch{{Names: exact("bash")}}, true},
		{"in, case folded, sorted", []string{`process where process.name in ("ZSH", "Bash", "zsh")`}, []ExecMatch{{Names: exact("bash", "zsh")}}, true},
		{"in~", []string{`process where process.name in~ ("Bash")`}, []ExecMatch{{Names: exact("bash")}}, true},
		{": with a trailing wildcard", []string{`process where process.name : "Python*"`}, []ExecMatch{{Names: []NamePattern{prefix("python")}}}, true},
		{"like with ? inside", []string{`process where process.name like "py?hon3"`}, []ExecMatch{{Names: []NamePattern{prefix("py")}}}, true},
		{"like~ list", []string{`process where process.name like~ ("perl*", "ruby")`}, []ExecMatch{{Names: []NamePattern{prefix("perl"), {Text: "ruby"}}}}, true},
		{"prefix covers names", []string{`process where process.name : ("bash*", "bash", "bashbug", "ba")`}, []ExecMatch{{Names: []NamePattern{{Text: "ba"}, prefix("bash")}}}, true},
		{"== never a wildcard", []string{`process where process.name == "b*"`}, []ExecMatch{{Names: exact("b*")}}, true},
		{"leading wildcard", []string{`process where process.name : "*sh"`}, nil, false},
		{"one leading wildcard in a list", []string{`process where process.name : ("bash", "?sh")`}, nil, false},
		{"startsWith", []string{`process where startsWith(process.name, "Py")`}, []ExecMatch{{Names: []NamePattern{prefix("py")}}}, true},
		{"startsWith~", []string{`process where startsWith~(process.name, "PY")`}, []ExecMatch{{Names: []NamePattern{prefix("py")}}}, true},
		{"endsWith", []string{`process where endsWith(process.name, "sh")`}, nil, false},
		{"startsWith on another field", []string{`process where startsWith(process.executable, "/bin")`}, nil, false},
		{"parent", []string{`process where process.parent.name : "sshd"`}, []ExecMatch{{Parents: exact("sshd")}}, true},
		{"and keeps the names", []string{`process where event.action == "exec" and process.parent.name : "python*" and process.name == "bash"`}, []ExecMatch{{Names: exact("bash"), Parents: []NamePattern{prefix("python")}}}, true},
		{"and with parents only", []string{`process where process.parent.name == "sshd" and process.args : "-c"`}, []ExecMatch{{Parents: exact("sshd")}}, true},
		{"and of two name tests keeps the shorter", []string{`process where process.name in ("a", "b", "c") and process.name : "b*"`}, []ExecMatch{{Names: []NamePattern{prefix("b")}}}, true},
		{"or", []string{`process where process.name == "bash" or process.parent.name == "sshd"`}, []ExecMatch{{Names: exact("bash")}, {Parents: exact("sshd")}}, true},
		{"or with an unnarrowed side", []string{`process where process.name == "bash" or event.action == "exec"`}, nil, false},
		{"and of or", []string{`process where event.action == "exec" and (process.name == "a" or process.parent.name == "b")`}, []ExecMatch{{Names: exact("a")}, {Parents: exact("b")}}, true},
		// (a|B) and (c|D): pairs a&c (names a: either will do), a&D, B&c,
		// B&D (parents b: either will do); a alone takes in a&D, and b
		// alone B&c.
		{"or and or", []string{`process where (process.name == "a" or process.parent.name == "b") and (process.name == "c" or process.parent.name == "d")`},
			[]ExecMatch{{Names: exact("a")}, {Parents: exact("b")}}, true},
		{"a wider way takes in a narrower", []string{`process where process.name in ("a", "ab") and process.parent.name == "p"`, `process where process.name : "a*" and process.parent.name == "p"`,
			`process where process.name == "b" and process.parent.name in ("p", "q")`},
			[]ExecMatch{{Names: []NamePattern{prefix("a")}, Parents: exact("p")}, {Names: exact("b"), Parents: exact("p", "q")}}, true},
		{"equal ways, once", []string{`process where process.name == "a"`, `process where process.name == "a" or process.name == "a"`}, []ExecMatch{{Names: exact("a")}}, true},
		{"or past the bound", []string{"process where " + strings.Join(wide, " or ")}, orPastBound, true},
		{"and past the bound", []string{"process where (" + strings.Join(left, " or ") + ") and (" + strings.Join(right, " or ") + ")"},
			andPastBound, true},
		{"!=", []string{`process where process.name != "bash"`}, nil, false},
		{"not in", []string{`process where process.name not in ("bash")`}, nil, false},
		{"not ==", []string{`process where not process.name == "bash"`}, nil, false},
		{"not (...)", []string{`process where not (process.name == "bash" or process.name == "sh")`}, nil, false},
		{"negation beside a name", []string{`process where process.name == "bash" and not process.parent.name : "sshd"`}, []ExecMatch{{Names: exact("bash")}}, true},
		{"regex", []string{`process where process.name regex "bash.*"`}, nil, false},
		{"null", []string{`process where process.name == null`}, nil, false},
		{"null in a list", []string{`process where process.name in ("bash", null)`}, nil, false},
		{"number", []string{`process where process.name == 5`}, nil, false},
		{"field against field", []string{`process where process.name == process.parent.name`}, nil, false},
		{"empty literal", []string{`process where process.name == ""`}, nil, false},
		{"other fields only", []string{`process where process.executable : "/usr/bin/bash"`}, nil, false},
		{"non-ASCII letter cut", []string{`process where process.name == "abÄx"`}, []ExecMatch{{Names: []NamePattern{prefix("ab")}}}, true},
		{"non-ASCII first", []string{`process where process.name : "Äbc"`}, nil, false},
		{"rules unite", []string{`process where process.name == "bash"`, `process where process.parent.name : "node*"`, `process where process.name : "ba*"`},
			[]ExecMatch{{Names: []NamePattern{prefix("ba")}}, {Parents: []NamePattern{prefix("node")}}}, true},
		{"one rule spoils the set", []string{`process where process.name == "bash"`, `process where process.args : "-c"`}, nil, false},
		{"past MaxExecNames", []string{"process where process.name in (" + strings.Join(manyNames, ", ") + ")"}, nil, false},
		{"at MaxExecNames", []string{"process where process.name in (" + strings.Join(manyNames[:MaxExecNames], ", ") + ")"}, []ExecMatch{{Names: nil}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := querySet(t, tt.queries...).ExecMatches()
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (names %+v)", ok, tt.ok, got)
			}
			if tt.name == "at MaxExecNames" {
				if len(got) != 1 || len(got[0].Names) != MaxExecNames || got[0].Parents != nil {
					t.Fatalf("got %+v, want one way of %d names", got, MaxExecNames)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ExecMatches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExecMatchesSequence(t *testing.T) {
	set, err := Load(Options{Paths: []string{"testdata/sequence"}, DisableBuiltin: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !set.HasSequences() {
		t.Fatal("testdata/sequence loaded no sequence")
	}
	if got, ok := set.ExecMatches(); ok {
		t.Errorf("ExecMatches of a sequence rule = %+v, true; want ok false", got)
	}
}

// TestExecMatchesBuiltin pins the built-in rules' one way: both need a
// shell as process.name and a python* parent.
func TestExecMatchesBuiltin(t *testing.T) {
	set, err := Load(Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := set.ExecMatches()
	if !ok {
		t.Fatal("built-in rules not narrowed")
	}
	want := []ExecMatch{{Names: exact("ash", "bash", "bsd-csh", "busybox", "csh", "dash", "fish", "ksh", "ksh93", "lksh", "mksh", "sh", "tcsh", "zsh"),
		Parents: []NamePattern{prefix("python")}}}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("built-in ExecMatches (-want +got):\n%s", diff)
	}
}

// TestExecMatchesCorpus counts the corpus's rules that narrow on their own,
// and checks what the whole corpus as one set gives: some rule in it tests
// neither name, so any exec may match.
func TestExecMatchesCorpus(t *testing.T) {
	set, err := Load(Options{Paths: []string{corpusDir(t)}, DisableBuiltin: true}, nil)
	if err != nil {
		t.Fatalf("Load(corpus): %v", err)
	}
	var narrowed, byName, byParent, sequences int
	for _, r := range set.Rules() {
		if r.IsSequence() {
			sequences++
		}
		ways, ok := newSet([]*Rule{r}, nil, nil, nil).ExecMatches()
		if !ok {
			continue
		}
		narrowed++
		if slices.ContainsFunc(ways, func(w ExecMatch) bool { return w.Names != nil }) {
			byName++
		}
		if slices.ContainsFunc(ways, func(w ExecMatch) bool { return w.Names == nil }) {
			byParent++
		}
	}
	t.Logf("%d of %d corpus rules narrow (%d need a process.name, %d a process.parent.name); %d sequences do not",
		narrowed, set.Len(), byName, byParent, sequences)
	// Counted over the 236 single-event rules when the narrowing was
	// written (the 30 sequences never narrow). A change means the
	// narrowing or the corpus changed: check which rules moved and why.
	if narrowed != 189 || byName != 182 || byParent != 7 {
		t.Errorf("%d rules narrow (%d by name, %d by parent), want 189, 182 and 7", narrowed, byName, byParent)
	}
	if ways, ok := set.ExecMatches(); ok {
		t.Errorf("the whole corpus narrows to %+v, want ok false", ways)
	}
}

// BenchmarkExecMatches measures the narrowing of the corpus's 189 rules that
// narrow, as one set (a set with a rule that does not stops there), as a
// reload would run it: it parses every query again.
func BenchmarkExecMatches(b *testing.B) {
	set, err := Load(Options{Paths: []string{corpus.Dir(b)}, DisableBuiltin: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var narrowing []*Rule
	for _, r := range set.Rules() {
		if _, ok := newSet([]*Rule{r}, nil, nil, nil).ExecMatches(); ok {
			narrowing = append(narrowing, r)
		}
	}
	all := newSet(narrowing, nil, nil, nil)
	ways, ok := all.ExecMatches()
	if !ok {
		b.Fatalf("the %d narrowing rules together do not narrow", len(narrowing))
	}
	b.ReportAllocs()
	for b.Loop() {
		all.ExecMatches()
	}
	b.ReportMetric(float64(len(ways)), "ways")
}
