package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Rule files shared with module/detection/rules' tests.
const ruleTestdata = "../../module/detection/rules/testdata"

const (
	pythonTTYID = "d76b02ef-fc95-4001-9297-01cb7412232f"
	webshellID  = "0f4c5d8e-7a2b-4c1d-9e3f-5a6b7c8d9e01"
)

// runRules runs `rules ARGS...` in-process and returns stdout, stderr and
// the exit status main would use.
func runRules(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := newRulesCommand(&globals{environment: envDefault})
	var stdout, stderr bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	err := cmd.Execute()
	code := statusOK
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) {
			t.Fatalf("rules %v: error %v (%T) is not an *exitError", args, err, err)
		}
		code = ee.Code
	}
	return stdout.String(), stderr.String(), code
}

// eventsFile holds hand-written ECS documents, one a line
// (testdata/events/README.md says what each line is): the Python-tty rule's
// two branches (1: python3 -c pty.spawn, nested objects; 2: interactive
// python3, dotted keys), its negative controls (3: os.system,
// child sh -c ls with 3 args; 4: subprocess.run(["/bin/sh"]) from a script;
// 5: python3 -i), a blank line (6), a line that is not JSON (7), nginx
// starting sh for the custom web shell rule (8) and a JSON array (9).
const eventsFile = ruleTestdata + "/events/python_tty.ndjson"

func readEventLines(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(eventsFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// results renders the expected stdout of `rules test` for the event lines:
// matches maps a line number to its rule ids.
func results(lines int, matches map[int]string) string {
	var b strings.Builder
	for n := 1; n <= lines; n++ {
		b.WriteString(`{"line": ` + strconv.Itoa(n) + `, "rule_ids": [` + matches[n] + "]}\n")
	}
	return b.String()
}

func TestRulesTest(t *testing.T) {
	eventLines := readEventLines(t)
	if len(eventLines) != 9 {
		t.Fatalf("%s has %d lines, want 9", eventsFile, len(eventLines))
	}
	events := eventsFile
	n := len(eventLines)
	badLines := func(file string) string {
		return file + `:7: invalid JSON: unexpected end of JSON input` + "\n" +
			file + `:9: not a JSON object` + "\n"
	}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantOut    string
		wantErr    string
		wantStatus int
	}{
		{
			name:       "built-in rules only",
			args:       []string{"test", "--events", events},
			wantOut:    results(n, map[int]string{1: `"` + pythonTTYID + `"`, 2: `"` + pythonTTYID + `"`}),
			wantErr:    badLines(events),
			wantStatus: 1,
		},
		{
			name: "user rules plus built-ins",
			args: []string{"test", "--rules", ruleTestdata + "/custom", "--events", events},
			wantOut: results(n, map[int]string{
				1: `"` + pythonTTYID + `"`, 2: `"` + pythonTTYID + `"`, 8: `"` + webshellID + `"`,
			}),
			wantErr:    badLines(events),
			wantStatus: 1,
		},
		{
			name:       "user rules without built-ins",
			args:       []string{"test", "--rules", ruleTestdata + "/custom/*.toml", "--builtin=false", "--events", events},
			wantOut:    results(n, map[int]string{8: `"` + webshellID + `"`}),
			wantErr:    badLines(events),
			wantStatus: 1,
		},
		{
			name:       "user rule replaces the built-in",
			args:       []string{"test", "--rules", ruleTestdata + "/override/python_tty.toml", "--events", events},
			wantOut:    results(n, map[int]string{1: `"` + pythonTTYID + `"`}),
			wantErr:    badLines(events),
			wantStatus: 1,
		},
		{
			name: "broken rule files are reported, the others still run",
			args: []string{"test", "--rules", ruleTestdata + "/broken", "--rules", ruleTestdata + "/custom/webshell.toml", "--events", events},
			wantOut: results(n, map[int]string{
				1: `"` + pythonTTYID + `"`, 2: `"` + pythonTTYID + `"`, 8: `"` + webshellID + `"`,
			}),
			wantErr: ruleTestdata + `/broken/eql_syntax.toml:12:25: EQL: expected a field, a value, a function call or "(", found ")"` + "\n" +
				ruleTestdata + `/broken/missing_rule_id.toml:1:1: missing rule.rule_id` + "\n" +
				ruleTestdata + `/broken/toml_syntax.toml:5:16: TOML: strings cannot contain newlines (last key "rule.severity")` + "\n" +
				badLines(events),
			wantStatus: 1,
		},
		{
			name:       "stdin, all lines good",
			args:       []string{"test", "--events", "-"},
			stdin:      eventLines[0] + "\n" + eventLines[2] + "\n" + eventLines[1],
			wantOut:    `{"line": 1, "rule_ids": ["` + pythonTTYID + `"]}` + "\n" + `{"line": 2, "rule_ids": []}` + "\n" + `{"line": 3, "rule_ids": ["` + pythonTTYID + `"]}` + "\n",
			wantStatus: 0,
		},
		{
			name:       "stdin errors are named stdin",
			args:       []string{"test", "--events", "-"},
			stdin:      "null\n",
			wantOut:    `{"line": 1, "rule_ids": []}` + "\n",
			wantErr:    "stdin:1: not a JSON object\n",
			wantStatus: 1,
		},
		{
			name:       "events file missing",
			args:       []string{"test", "--events", filepath.Join(t.TempDir(), "none.ndjson")},
			wantStatus: 1,
		},
		{
			name:       "usage: no --events",
			args:       []string{"test", "--rules", ruleTestdata + "/custom"},
			wantStatus: 2,
		},
		{
			name:       "usage: unknown flag",
			args:       []string{"test", "--events", events, "--bogus"},
			wantStatus: 2,
		},
		{
			name:       "usage: no rules at all",
			args:       []string{"test", "--builtin=false", "--events", events},
			wantStatus: 2,
		},
		{
			name:       "usage: stray argument",
			args:       []string{"test", "--events", events, "extra"},
			wantStatus: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, status := runRules(t, tt.stdin, tt.args...)
			if status != tt.wantStatus {
				t.Errorf("exit status %d, want %d (stderr %q)", status, tt.wantStatus, errOut)
			}
			if diff := cmp.Diff(tt.wantOut, out); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErr, errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRulesTestSequence runs a sequence rule across an events file in its
// order (testdata/sequence/README.md says what each line is).
func TestRulesTestSequence(t *testing.T) {
	const dir = ruleTestdata + "/sequence"
	const seqID = "9a1b2c3d-0000-4000-8000-00000000seq1"
	out, errOut, status := runRules(t, "", "test", "--rules", dir, "--events", dir+"/events.ndjson")
	want := results(8, map[int]string{}) // every line, then line 4 replaced
	want = strings.Replace(want, `{"line": 4, "rule_ids": []}`,
		`{"line": 4, "rule_ids": ["`+seqID+`"], "sequences": [{"rule_id": "`+seqID+`", "lines": [1]}]}`, 1)
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	wantErr := dir + "/events.ndjson:5: note: no @timestamp: sequence rules skip this document (and any other without one)\n"
	if status != 0 || errOut != wantErr {
		t.Errorf("status %d stderr %q, want 0 and %q", status, errOut, wantErr)
	}
	// The list marks it a sequence.
	list, _, _ := runRules(t, "", "list", "--builtin=false", "--rules", dir)
	if !strings.Contains(list, seqID+"  1        Download Then Shell  loaded, sequence") {
		t.Errorf("rules list:\n%s", list)
	}
}

func TestRulesCheck(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantOut    string
		wantErr    string
		wantStatus int
	}{
		{
			name:    "good rules",
			args:    []string{"check", ruleTestdata + "/custom"},
			wantOut: "OK: 1 rules loaded, 1 unsupported, from 2 files\n",
			wantErr: ruleTestdata + `/custom/threshold.toml: note: rule 5c1e2d3f-0000-4000-8000-000000000002 (Many Failed Logins) is not run: rule type "threshold" (only eql runs inline)` + "\n",
		},
		{
			// The built-in rules as files: each loads on its own, as a
			// user's copy of it would.
			name:    "built-in rule files",
			args:    []string{"check", "../../module/detection/rules/builtin"},
			wantOut: "OK: 2 rules loaded, 0 unsupported, from 2 files\n",
		},
		{
			name: "TOML error and EQL error inside the query",
			args: []string{"check", ruleTestdata + "/broken/toml_syntax.toml", ruleTestdata + "/broken/eql_syntax.toml"},
			wantErr: ruleTestdata + `/broken/toml_syntax.toml:5:16: TOML: strings cannot contain newlines (last key "rule.severity")` + "\n" +
				ruleTestdata + `/broken/eql_syntax.toml:12:25: EQL: expected a field, a value, a function call or "(", found ")"` + "\n",
			wantStatus: 1,
		},
		{
			name:       "duplicate rule_id names both files",
			args:       []string{"check", ruleTestdata + "/dup/*.toml"},
			wantErr:    ruleTestdata + "/dup/b.toml:6:1: duplicate rule_id 11111111-2222-4333-8444-555555555555, already defined in " + ruleTestdata + "/dup/a.toml\n",
			wantStatus: 1,
		},
		{
			name:       "missing file",
			args:       []string{"check", "no/such/rule.toml"},
			wantErr:    "no/such/rule.toml: rule path no/such/rule.toml: no rule file\n",
			wantStatus: 1,
		},
		{
			name:       "glob matching nothing",
			args:       []string{"check", ruleTestdata + "/none-*.toml"},
			wantErr:    ruleTestdata + "/none-*.toml: no rule files match\n",
			wantStatus: 1,
		},
		{
			name:       "usage: no PATH",
			args:       []string{"check"},
			wantStatus: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, status := runRules(t, "", tt.args...)
			if status != tt.wantStatus {
				t.Errorf("exit status %d, want %d (stderr %q)", status, tt.wantStatus, errOut)
			}
			if diff := cmp.Diff(tt.wantOut, out); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErr, errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRulesList(t *testing.T) {
	dir := t.TempDir()
	unresolved := filepath.Join(dir, "unresolved.toml")
	text := "[rule]\nname = \"Reads a file\"\nrule_id = \"44444444-0000-4000-8000-000000000001\"\ntype = \"eql\"\n" +
		"severity = \"low\"\nrisk_score = 21\nquery = 'process where process.name == \"cat\" and file.path == \"/etc/shadow\"'\n"
	if err := os.WriteFile(unresolved, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	const broken = ruleTestdata + "/broken"
	tests := []struct {
		name       string
		args       []string
		want       string
		wantStatus int
	}{
		{
			name: "built-ins",
			args: []string{"list"},
			want: "" +
				"RULE_ID                               VERSION  NAME                                         STATUS  WARNINGS\n" +
				"84c08f08-ace1-4372-814f-fc09620efca0  1        Shell Given a New Pseudo-Terminal by Python  loaded\n" +
				"d76b02ef-fc95-4001-9297-01cb7412232f  210      Interactive Terminal Spawned via Python      loaded\n",
		},
		{
			name: "user rules replacing and adding",
			args: []string{"list", "--rules", ruleTestdata + "/override", "--rules", ruleTestdata + "/custom"},
			want: "" +
				"RULE_ID                               VERSION  NAME                                            STATUS  WARNINGS\n" +
				"0f4c5d8e-7a2b-4c1d-9e3f-5a6b7c8d9e01  3        Shell Spawned by Web Server                     loaded\n" +
				"84c08f08-ace1-4372-814f-fc09620efca0  1        Shell Given a New Pseudo-Terminal by Python     loaded\n" +
				"d76b02ef-fc95-4001-9297-01cb7412232f  300      Interactive Terminal Spawned via Python (site)  loaded, replaces built-in\n" +
				"5c1e2d3f-0000-4000-8000-000000000002  1        Many Failed Logins                              unsupported: rule type \"threshold\" (only eql runs inline)\n",
		},
		{
			name: "warnings",
			args: []string{"list", "--builtin=false", "--rules", unresolved},
			want: "" +
				"RULE_ID                               VERSION  NAME          STATUS  WARNINGS\n" +
				"44444444-0000-4000-8000-000000000001  1        Reads a file  loaded  unresolved fields: file.path\n",
		},
		{
			name: "errors",
			args: []string{"list", "--builtin=false", "--rules", broken},
			want: "" +
				"RULE_ID                               VERSION  NAME        STATUS  WARNINGS\n" +
				"22222222-0000-4000-8000-000000000002  1        Broken EQL  error: " + broken + "/eql_syntax.toml:12:25: EQL: expected a field, a value, a function call or \"(\", found \")\"\n" +
				"-                                     1        No Rule ID  error: " + broken + "/missing_rule_id.toml:1:1: missing rule.rule_id\n" +
				"-                                     -        -           error: " + broken + "/toml_syntax.toml:5:16: TOML: strings cannot contain newlines (last key \"rule.severity\")\n",
			wantStatus: 1,
		},
		{
			name:       "usage: unknown flag",
			args:       []string{"list", "--nope"},
			wantStatus: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, status := runRules(t, "", tt.args...)
			if status != tt.wantStatus {
				t.Errorf("exit status %d, want %d (stderr %q)", status, tt.wantStatus, errOut)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}

	// rules check reports the same warning on stderr, at the field's first
	// reference, and passes; with --strict it fails, as Elasticsearch
	// refuses a query on a field no index maps.
	const msg = "rule 44444444-0000-4000-8000-000000000001 (Reads a file) references file.path, which spawnbeat never fills; " +
		"every condition on it sees a missing field: write ?file.path if the rule allows for that\n"
	_, errOut, status := runRules(t, "", "check", unresolved)
	if wantErr := unresolved + ":7:50: warning: " + msg; status != 0 || errOut != wantErr {
		t.Errorf("check: status %d stderr %q, want 0 and %q", status, errOut, wantErr)
	}
	out, errOut, status := runRules(t, "", "check", "--strict", unresolved)
	if wantErr := unresolved + ":7:50: error: " + msg; status != 1 || errOut != wantErr || out != "" {
		t.Errorf("check --strict: status %d stdout %q stderr %q, want 1, nothing and %q", status, out, errOut, wantErr)
	}
}

// TestRulesCheckOptionalField: a field written ?field that spawnbeat never
// fills is noted, even with --strict, and the rule loads: Elasticsearch
// reads it as null.
func TestRulesCheckOptionalField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "optional.toml")
	text := "[rule]\nname = \"Optional\"\nrule_id = \"44444444-0000-4000-8000-000000000002\"\ntype = \"eql\"\n" +
		"severity = \"low\"\nrisk_score = 21\nquery = 'process where process.name == \"cat\" and not ?auditd.data.syscall == \"open\"'\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, status := runRules(t, "", "check", "--strict", path)
	wantErr := path + ":7:54: note: rule 44444444-0000-4000-8000-000000000002 (Optional) references ?auditd.data.syscall, which spawnbeat never fills: it reads as null\n"
	if status != 0 || errOut != wantErr || out != "OK: 1 rules loaded, 0 unsupported, from 1 files\n" {
		t.Errorf("status %d stdout %q stderr %q, want 0, OK and %q", status, out, errOut, wantErr)
	}
	out, _, _ = runRules(t, "", "list", "--builtin=false", "--rules", path)
	if !strings.Contains(out, "unresolved fields: ?auditd.data.syscall\n") {
		t.Errorf("list:\n%s", out)
	}
}

func TestRulesUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}} {
		t.Run(strings.Join(append([]string{"rules"}, args...), " "), func(t *testing.T) {
			if _, _, status := runRules(t, "", args...); status != 2 {
				t.Errorf("exit status %d, want 2", status)
			}
		})
	}
}

// TestRulesListConfigured: without --rules, `rules list` lists the rules the
// configuration names, as an installed agent's /etc/spawnbeat/rules.d.
func TestRulesListConfigured(t *testing.T) {
	custom, err := filepath.Abs(ruleTestdata + "/custom")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cfg := "spawnbeat.detection:\n  builtin: false\n  rules: [\"" + custom + "\"]\n"
	if err := os.WriteFile(filepath.Join(home, "spawnbeat.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"rules", "list", "--path.home", home}, &out, &errb)
	if code != statusOK || !strings.Contains(out.String(), webshellID) || strings.Contains(out.String(), pythonTTYID) {
		t.Errorf("rules list: status %d, want the configured rules without the built-in:\n%s%s", code, out.String(), errb.String())
	}
}
