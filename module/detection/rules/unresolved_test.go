package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// unknownFieldsRule names fields spawnbeat never fills in every way a rule
// can: a misspelling in an exclusion, a field written ?field, one written
// both ways (the place is the reference without ?), and a sequence key.
const unknownFieldsRule = `[rule]
name = "Unknown fields"
rule_id = "55555555-0000-4000-8000-000000000001"
type = "eql"
severity = "low"
risk_score = 21
query = '''
sequence by process.entity_id, ?process.Ext.ancestry
  [process where process.name == "curl" and not process.parent.nmae == "apt"]
  [process where ?auditd.data.syscall == "execve" and
     (?process.Ext.token.integrity_level == 1 or process.Ext.token.integrity_level == 2)]
'''
`

func TestUnresolvedFields(t *testing.T) {
	r, err := Parse("unknown.toml", []byte(unknownFieldsRule), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []UnresolvedField{
		{Field: "auditd.data.syscall", Optional: true, Line: 10, Col: 18},
		{Field: "process.Ext.ancestry", Optional: true, Line: 8, Col: 32},
		{Field: "process.Ext.token.integrity_level", Line: 11, Col: 50},
		{Field: "process.parent.nmae", Line: 9, Col: 49, Similar: []string{"process.parent.name"}},
	}
	if diff := cmp.Diff(want, r.Unresolved); diff != "" {
		t.Errorf("Unresolved (-want +got):\n%s", diff)
	}
	set := newSet([]*Rule{r}, nil, nil, nil)
	var lines []string
	for _, w := range set.Warnings() {
		lines = append(lines, w.String())
	}
	wantLines := []string{
		"unknown.toml:10:18: rule 55555555-0000-4000-8000-000000000001 (Unknown fields) references ?auditd.data.syscall, which spawnbeat never fills: it reads as null",
		"unknown.toml:8:32: rule 55555555-0000-4000-8000-000000000001 (Unknown fields) references ?process.Ext.ancestry, which spawnbeat never fills: it reads as null",
		"unknown.toml:11:50: rule 55555555-0000-4000-8000-000000000001 (Unknown fields) references process.Ext.token.integrity_level, which spawnbeat never fills; " +
			"every condition on it sees a missing field: write ?process.Ext.token.integrity_level if the rule allows for that",
		"unknown.toml:9:49: rule 55555555-0000-4000-8000-000000000001 (Unknown fields) references process.parent.nmae, which spawnbeat never fills " +
			"(did you mean process.parent.name?); every condition on it sees a missing field: write ?process.parent.nmae if the rule allows for that",
	}
	if diff := cmp.Diff(wantLines, lines); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	// Log: a warning naming file, place, rule and field for each field not
	// written ?field; the optional ones at debug level only.
	core, logs := observer.New(zap.DebugLevel)
	set.Log(zap.New(core))
	var got []string
	for _, e := range logs.All() {
		f := e.ContextMap()
		got = append(got, e.Level.String()+" "+f["file"].(string)+" "+f["rule.id"].(string)+" "+f["field"].(string))
		if f["line"].(int64) == 0 || f["rule.name"] != "Unknown fields" {
			t.Errorf("log entry %v: want the line and the rule's name", f)
		}
	}
	wantLogs := []string{
		"debug unknown.toml 55555555-0000-4000-8000-000000000001 auditd.data.syscall",
		"debug unknown.toml 55555555-0000-4000-8000-000000000001 process.Ext.ancestry",
		"warn unknown.toml 55555555-0000-4000-8000-000000000001 process.Ext.token.integrity_level",
		"warn unknown.toml 55555555-0000-4000-8000-000000000001 process.parent.nmae",
	}
	if diff := cmp.Diff(wantLogs, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

// TestLoadAndLogUnresolved: a set loaded from files warns about its
// unknown fields.
func TestLoadAndLogUnresolved(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "unknown.toml"), []byte(unknownFieldsRule), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := Load(Options{Paths: []string{dir}, DisableBuiltin: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	set.Log(zap.New(core))
	if n := logs.FilterMessageSnippet("never fills").Len(); n != 2 {
		t.Errorf("%d warnings, want 2: %v", n, logs.All())
	}
}

func TestSimilarFields(t *testing.T) {
	for _, tt := range []struct {
		name string
		want []string
	}{
		{"process.nmae", []string{"process.name"}}, // swapped letters
		{"process.parent.executabel", []string{"process.parent.executable"}},
		{"process.args_cout", []string{"process.args_count"}},
		{"proces.pid", []string{"process.pid"}},
		{"host.os.typ", []string{"host.os.type"}},
		{"user.nam", []string{"user.name"}},
		{"auditd.data.syscall", nil},
		{"process.Ext.load_module.taint_flags", nil},
		{"file.path", nil},
	} {
		if diff := cmp.Diff(tt.want, similarFields(tt.name)); diff != "" {
			t.Errorf("similarFields(%q) (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"abc", "ab", 1}, {"abc", "xbc", 1},
		{"kitten", "sitting", 3}, {"ca", "abc", 3}, {"process.name", "process.nmae", 1},
	} {
		if got := editDistance(tt.a, tt.b, 10); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.a, tt.b, 1); tt.want >= 1 && got < 1 {
			t.Errorf("editDistance(%q, %q, limit 1) = %d, want >= 1", tt.a, tt.b, got)
		}
	}
	if !strings.Contains(unknownFieldsRule, "nmae") {
		t.Fatal("fixture lost its misspelling")
	}
}
