package rules

import (
	"errors"
	"github.com/spawnbeat/spawnbeat/module/detection/internal/corpus"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// corpusDir finds ../shared/detection-rules/linux relative to the
// repository root. The corpus is never copied into the project.
func corpusDir(t *testing.T) string { return corpus.Dir(t) }

// TestCorpus is the conformance proof: every Linux process rule of
// Elastic's detection-rules loads and compiles, the 236 single-event rules
// as single-event programs and the 30 sequences as sequences; none is
// unsupported.
func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	set, err := Load(Options{Paths: []string{dir}, DisableBuiltin: true}, zap.NewNop())
	if err != nil {
		t.Errorf("Load(corpus) problems:\n%v", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var wantSeq, wantSingle []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The corpus's sequence rules start their query with "sequence".
		text := string(data)
		q := text[strings.Index(text, "\nquery = '''")+len("\nquery = '''"):]
		if strings.HasPrefix(strings.TrimSpace(q), "sequence") {
			wantSeq = append(wantSeq, f)
		} else {
			wantSingle = append(wantSingle, f)
		}
	}
	if len(wantSingle) != 236 || len(wantSeq) != 30 {
		t.Fatalf("corpus has %d single-event and %d sequence rules, want 236 and 30", len(wantSingle), len(wantSeq))
	}

	var gotSingle, gotSeq []string
	for _, r := range set.Rules() {
		switch {
		case r.IsSequence() && r.JSONSequence != nil && r.ECS == nil && r.JSON == nil:
			gotSeq = append(gotSeq, r.File)
		case !r.IsSequence() && r.ECS != nil && r.JSON != nil && r.JSONSequence == nil:
			gotSingle = append(gotSingle, r.File)
		default:
			t.Errorf("%s: programs ECS %v JSON %v ECSSequence %v JSONSequence %v", r.File, r.ECS != nil, r.JSON != nil, r.ECSSequence != nil, r.JSONSequence != nil)
		}
	}
	sort.Strings(gotSingle)
	sort.Strings(gotSeq)
	if diff := cmp.Diff(wantSingle, gotSingle); diff != "" {
		t.Errorf("single-event rule files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSeq, gotSeq); diff != "" {
		t.Errorf("sequence rule files (-want +got):\n%s", diff)
	}
	if n := len(set.Unsupported()); n != 0 {
		t.Errorf("%d unsupported rules, want 0: %+v", n, set.Unsupported())
	}
	for _, r := range set.Rules() {
		if r.Meta.Ruleset != "elastic" || r.Meta.Version != "1" || r.Meta.UUID == "" {
			t.Errorf("%s: ruleset %q version %q uuid %q, want elastic, 1 and a uuid", r.File, r.Meta.Ruleset, r.Meta.Version, r.Meta.UUID)
		}
	}
	// Some rules name fields spawnbeat never fills (auditd.data.*,
	// process.Ext.*, ...): they load with a warning placed at the field in
	// the file, and `rules check --strict` fails on them.
	required := 0
	for _, w := range set.Warnings() {
		if w.Line == 0 || w.Col == 0 {
			t.Errorf("%s: warning not placed in the file", w)
		}
		if !w.Optional {
			required++
		}
	}
	if required == 0 {
		t.Errorf("no warning for a field spawnbeat never fills; the corpus has some (auditd.data.syscall)")
	}
	t.Logf("corpus: %d loaded, %d unsupported, %d unresolved-field warnings (%d not optional)", set.Len(), len(set.Unsupported()), len(set.Warnings()), required)
}

func TestLoadPaths(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		wantIDs     []string
		wantUnsupp  []string
		wantProblem []string // exact Error() of each problem
	}{
		{
			name:    "built-ins only",
			opts:    Options{},
			wantIDs: []string{newPTYID, pythonTTYID},
		},
		{
			name:       "directory plus built-ins",
			opts:       Options{Paths: []string{"testdata/custom"}},
			wantIDs:    []string{"0f4c5d8e-7a2b-4c1d-9e3f-5a6b7c8d9e01", newPTYID, pythonTTYID},
			wantUnsupp: []string{"Many Failed Logins"},
		},
		{
			name:    "single file without built-ins",
			opts:    Options{Paths: []string{"testdata/custom/webshell.toml"}, DisableBuiltin: true},
			wantIDs: []string{"0f4c5d8e-7a2b-4c1d-9e3f-5a6b7c8d9e01"},
		},
		{
			name:       "glob, and a file named twice is read once",
			opts:       Options{Paths: []string{"testdata/cust*/*.toml", "testdata/custom/webshell.toml"}, DisableBuiltin: true},
			wantIDs:    []string{"0f4c5d8e-7a2b-4c1d-9e3f-5a6b7c8d9e01"},
			wantUnsupp: []string{"Many Failed Logins"},
		},
		{
			name: "glob matching nothing",
			opts: Options{Paths: []string{"testdata/none/*.toml"}, DisableBuiltin: true},
		},
		{
			name:        "missing literal path",
			opts:        Options{Paths: []string{"testdata/none.toml"}, DisableBuiltin: true},
			wantProblem: []string{"testdata/none.toml: rule path testdata/none.toml: no rule file"},
		},
		{
			name: "missing literal path allowed",
			opts: Options{Paths: []string{"testdata/none.toml"}, DisableBuiltin: true, AllowMissing: true},
		},
		{
			name:    "duplicate rule_id across user files",
			opts:    Options{Paths: []string{"testdata/dup"}, DisableBuiltin: true},
			wantIDs: []string{"11111111-2222-4333-8444-555555555555"},
			wantProblem: []string{
				"testdata/dup/b.toml:6:1: duplicate rule_id 11111111-2222-4333-8444-555555555555, already defined in testdata/dup/a.toml",
			},
		},
		{
			name:    "broken files do not stop the others",
			opts:    Options{Paths: []string{"testdata/broken"}},
			wantIDs: []string{newPTYID, pythonTTYID},
			wantProblem: []string{
				`testdata/broken/eql_syntax.toml:12:25: EQL: expected a field, a value, a function call or "(", found ")"`,
				`testdata/broken/missing_rule_id.toml:1:1: missing rule.rule_id`,
				`testdata/broken/toml_syntax.toml:5:16: TOML: strings cannot contain newlines (last key "rule.severity")`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := Load(tt.opts, nil)
			var ids, unsupp, problems []string
			for _, r := range set.Rules() {
				ids = append(ids, r.Meta.ID)
			}
			for _, u := range set.Unsupported() {
				unsupp = append(unsupp, u.Name)
			}
			for _, p := range set.Problems() {
				problems = append(problems, p.Error())
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("rule ids (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantUnsupp, unsupp); diff != "" {
				t.Errorf("unsupported (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProblem, problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if (err != nil) != (len(tt.wantProblem) > 0) {
				t.Errorf("Load error = %v, want an error exactly when there are problems", err)
			}
			for _, p := range set.Problems() {
				if !errors.Is(err, p) {
					t.Errorf("Load error does not wrap problem %v", p)
				}
			}
		})
	}
}

func TestLoadUserRuleReplacesBuiltin(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	set, err := Load(Options{Paths: []string{"testdata/override"}}, zap.New(core))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if set.Len() != 2 {
		t.Fatalf("rules = %d, want 2 (the user rule in place of one built-in, and the other built-in)", set.Len())
	}
	r := set.Lookup(pythonTTYID)
	got := []string{r.File, r.Meta.Name, r.Meta.Version, r.Meta.Severity, r.Replaces}
	want := []string{"testdata/override/python_tty.toml", "Interactive Terminal Spawned via Python (site)", "300", "critical",
		"builtin/execution_python_tty_shell.toml"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rule in force (-want +got):\n%s", diff)
	}
	entries := logs.FilterMessage("user rule replaces built-in rule").AllUntimed()
	if len(entries) != 1 {
		t.Fatalf("replace log entries = %d, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	if fields["rule.id"] != pythonTTYID || fields["file"] != "testdata/override/python_tty.toml" {
		t.Errorf("log fields = %v, want rule.id and file", fields)
	}
}

func TestSetErrNil(t *testing.T) {
	set, err := Load(Options{}, nil)
	if err != nil || set.Err() != nil {
		t.Fatalf("built-ins: err %v, Set.Err %v, want nil", err, set.Err())
	}
	if len(set.Problems()) != 0 || len(set.Files()) != 0 {
		t.Errorf("problems %v files %v, want none", set.Problems(), set.Files())
	}
}

func TestLoadStrictPerms(t *testing.T) {
	src, err := os.ReadFile("testdata/custom/webshell.toml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mode    os.FileMode
		strict  bool
		wantErr error
	}{
		{"private file", 0o600, true, nil},
		{"world-readable file", 0o644, true, nil},
		{"group-writable file", 0o664, true, ErrPermissions},
		{"world-writable file", 0o646, true, ErrPermissions},
		{"world-writable file, not strict", 0o666, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "rule.toml")
			if err := os.WriteFile(name, src, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(name, tt.mode); err != nil { // not subject to umask
				t.Fatal(err)
			}
			set, err := Load(Options{Paths: []string{name}, DisableBuiltin: true, StrictPerms: tt.strict}, nil)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Load error = %v, want %v", err, tt.wantErr)
			}
			if wantLen := map[bool]int{true: 1, false: 0}[tt.wantErr == nil]; set.Len() != wantLen {
				t.Errorf("rules loaded = %d, want %d", set.Len(), wantLen)
			}
		})
	}
}
