package rules

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// designQuery is the Python-tty query of Elastic's rule at version 210,
// verbatim: the contract the built-in rule is held to.
const designQuery = `process where host.os.type == "linux" and event.type == "start" and event.action in ("exec", "exec_event", "start") and
(
  (process.parent.name : "python*" and process.name in ("bash", "dash", "ash", "sh", "tcsh", "csh", "zsh", "ksh",
   "fish") and process.parent.args_count >= 3 and process.parent.args : "*pty.spawn*" and process.parent.args : "-c") or
  (process.parent.name : "python*" and process.name in ("bash", "dash", "ash", "sh", "tcsh", "csh", "zsh", "ksh",
   "fish") and process.args : "*sh" and process.args_count == 1 and process.parent.args_count == 1)
)
`

const (
	pythonTTYID = "d76b02ef-fc95-4001-9297-01cb7412232f"
	newPTYID    = "84c08f08-ace1-4372-814f-fc09620efca0"
)

// The sub-techniques of T1059 the built-in rules name.
var (
	unixShell = ecs.Ref{ID: "T1059.004", Name: "Unix Shell", Reference: "https://attack.mitre.org/techniques/T1059/004/"}
	python    = ecs.Ref{ID: "T1059.006", Name: "Python", Reference: "https://attack.mitre.org/techniques/T1059/006/"}
)

// executionThreat is MITRE ATT&CK TA0002 Execution / T1059 with subs.
func executionThreat(subs ...ecs.Ref) []ecs.Threat {
	return []ecs.Threat{{
		Framework:    "MITRE ATT&CK",
		Tactic:       ecs.Ref{ID: "TA0002", Name: "Execution", Reference: "https://attack.mitre.org/tactics/TA0002/"},
		Technique:    []ecs.Ref{{ID: "T1059", Name: "Command and Scripting Interpreter", Reference: "https://attack.mitre.org/techniques/T1059/"}},
		Subtechnique: subs,
	}}
}

// builtin parses the embedded rule file builtin/NAME.
func builtin(t *testing.T, name string) *Rule {
	t.Helper()
	var names []string
	for _, f := range builtinFiles() {
		names = append(names, f.name)
		if f.name != "builtin/"+name {
			continue
		}
		r, err := Parse(f.name, f.data, true)
		if err != nil {
			t.Fatalf("Parse(%s): %v", f.name, err)
		}
		return r
	}
	t.Fatalf("no built-in %s among %v", name, names)
	return nil
}

func TestBuiltinFiles(t *testing.T) {
	var names []string
	for _, f := range builtinFiles() {
		names = append(names, f.name)
	}
	want := []string{"builtin/execution_python_new_pty_shell.toml", "builtin/execution_python_tty_shell.toml"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("built-in rule files (-want +got):\n%s", diff)
	}
}

func TestBuiltinPythonTTY(t *testing.T) {
	r := builtin(t, "execution_python_tty_shell.toml")
	want := &ecs.Rule{
		ID:          pythonTTYID,
		UUID:        stableUUID(pythonTTYID, "210"),
		Name:        "Interactive Terminal Spawned via Python",
		Version:     "210",
		Description: "Identifies when a terminal (tty) is spawned via Python. Attackers may upgrade a simple reverse shell to a fully\ninteractive tty after obtaining initial access to a host.",
		Author:      "Elastic",
		License:     "Elastic License v2",
		Ruleset:     "elastic",
		RiskScore:   73,
		Severity:    "high",
		Threat:      executionThreat(unixShell, python),
	}
	if diff := cmp.Diff(want, r.Meta); diff != "" {
		t.Errorf("built-in rule metadata (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(designQuery, r.Query); diff != "" {
		t.Errorf("built-in query differs from the version-210 contract (-want +got):\n%s", diff)
	}
	if r.ECS == nil || r.JSON == nil || !r.Builtin || r.File != "builtin/execution_python_tty_shell.toml" {
		t.Errorf("rule = %+v, want both programs, Builtin, File builtin/execution_python_tty_shell.toml", r)
	}
}

// newPTYQuery is the query of spawnbeat's own rule, checked by hand against
// what pty.spawn does (setsid, TIOCSCTTY on a new pty slave, exec).
const newPTYQuery = `process where host.os.type == "linux" and event.type == "start" and event.action == "exec" and
  process.parent.name : "python*" and
  process.name in ("bash", "dash", "ash", "sh", "tcsh", "csh", "zsh", "ksh", "fish",
                   "ksh93", "bsd-csh", "mksh", "lksh", "busybox") and
  process.session_leader.same_as_process == true and
  process.tty.char_device.major >= 136 and process.tty.char_device.major <= 143 and
  spawnbeat.process.tty.same_as_parent == false
`

func TestBuiltinPythonNewPTY(t *testing.T) {
	r := builtin(t, "execution_python_new_pty_shell.toml")
	want := &ecs.Rule{
		ID:      newPTYID,
		UUID:    stableUUID(newPTYID, "1"),
		Name:    "Shell Given a New Pseudo-Terminal by Python",
		Version: "1",
		Description: "Identifies a shell that a Python process started in a new session, with a fresh pseudo-terminal as its controlling\n" +
			"terminal: what pty.spawn, pty.fork and os.forkpty do, whatever the Python code looks like. Attackers use it to upgrade\n" +
			"a simple reverse shell to a fully interactive tty; unlike a match on Python's command line, it sees the call in a\n" +
			"script file, in code read from standard input, typed into python3 -i, or hidden behind exec, base64 or getattr.",
		Reference: "https://docs.python.org/3/library/pty.html",
		Author:    "spawnbeat",
		License:   "LicenseRef-spawnbeat-undeclared",
		Ruleset:   "spawnbeat",
		RiskScore: 73,
		Severity:  "high",
		Threat:    executionThreat(python),
	}
	if diff := cmp.Diff(want, r.Meta); diff != "" {
		t.Errorf("built-in rule metadata (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(newPTYQuery, r.Query); diff != "" {
		t.Errorf("built-in query (-want +got):\n%s", diff)
	}
	// Every field it tests is one spawnbeat fills: none may be unresolved.
	if len(r.Unresolved) != 0 {
		t.Errorf("unresolved fields %v, want none", r.Unresolved)
	}
}

func TestParseCustomRule(t *testing.T) {
	const name = "testdata/custom/webshell.toml"
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(name, data, false)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &ecs.Rule{
		ID:          "0f4c5d8e-7a2b-4c1d-9e3f-5a6b7c8d9e01",
		UUID:        stableUUID("0f4c5d8e-7a2b-4c1d-9e3f-5a6b7c8d9e01", "3"),
		Name:        "Shell Spawned by Web Server",
		Version:     "3",
		Description: "A web server started a shell.",
		Reference:   "https://example.com/webshell",
		Author:      "ACME SOC, J. Doe",
		License:     "MIT",
		Ruleset:     "custom",
		RiskScore:   47,
		Severity:    "medium",
		Threat: []ecs.Threat{{
			Framework:    "MITRE ATT&CK",
			Tactic:       ecs.Ref{ID: "TA0003", Name: "Persistence", Reference: "https://attack.mitre.org/tactics/TA0003/"},
			Technique:    []ecs.Ref{{ID: "T1505", Name: "Server Software Component", Reference: "https://attack.mitre.org/techniques/T1505/"}},
			Subtechnique: []ecs.Ref{{ID: "T1505.003", Name: "Web Shell", Reference: "https://attack.mitre.org/techniques/T1505/003/"}},
		}},
	}
	if diff := cmp.Diff(want, r.Meta); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}

func TestParseVersionAndRuleset(t *testing.T) {
	base := "[rule]\nname = \"N\"\nrule_id = \"R\"\nrisk_score = 21\nseverity = \"low\"\ntype = \"eql\"\nquery = 'process where true'\n"
	tests := []struct {
		name, text           string
		builtin              bool
		wantVersion, wantSet string
	}{
		{"no version anywhere", base, false, "1", "custom"},
		{"metadata version", "[metadata]\nversion = 7\n" + base, false, "7", "custom"},
		{"rule version wins", "[metadata]\nversion = 7\n" + base + "version = 9\n", false, "9", "custom"},
		{"elastic author", base + "author = [\"Elastic\"]\n", false, "1", "elastic"},
		{"elastic licence spelling", base + "license = \"Elastic Licence v2\"\n", false, "1", "elastic"},
		{"uuid from file", base + "uuid = \"u-1\"\n", false, "1", "custom"},
		{"built-in by Elastic", base + "author = [\"Elastic\"]\n", true, "1", "elastic"},
		{"built-in of spawnbeat's own", base + "author = [\"spawnbeat\"]\n", true, "1", "spawnbeat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse("x.toml", []byte(tt.text), tt.builtin)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := []string{r.Meta.Version, r.Meta.Ruleset}
			if diff := cmp.Diff([]string{tt.wantVersion, tt.wantSet}, got); diff != "" {
				t.Errorf("version, ruleset (-want +got):\n%s", diff)
			}
			wantUUID := stableUUID("R", tt.wantVersion)
			if strings.Contains(tt.text, "uuid =") {
				wantUUID = "u-1"
			}
			if r.Meta.UUID != wantUUID {
				t.Errorf("UUID = %q, want %q", r.Meta.UUID, wantUUID)
			}
		})
	}
}

func TestStableUUID(t *testing.T) {
	a := stableUUID(pythonTTYID, "210")
	if a != stableUUID(pythonTTYID, "210") {
		t.Fatal("stableUUID is not deterministic")
	}
	if a == stableUUID(pythonTTYID, "211") || a == stableUUID("other", "210") {
		t.Error("stableUUID ignores rule_id or version")
	}
	if len(a) != 36 || a[14] != '5' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Errorf("stableUUID = %s, want an RFC 9562 version 5 UUID", a)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		file     string // from testdata, or inline text below
		text     string
		want     string // exact Error()
		sentinel error
	}{
		{
			name:     "toml syntax",
			file:     "testdata/broken/toml_syntax.toml",
			want:     `testdata/broken/toml_syntax.toml:5:16: TOML: strings cannot contain newlines (last key "rule.severity")`,
			sentinel: ErrSyntax,
		},
		{
			name:     "eql syntax inside a triple-quoted query",
			file:     "testdata/broken/eql_syntax.toml",
			want:     `testdata/broken/eql_syntax.toml:12:25: EQL: expected a field, a value, a function call or "(", found ")"`,
			sentinel: ErrSyntax,
		},
		{
			name:     "missing rule_id",
			file:     "testdata/broken/missing_rule_id.toml",
			want:     `testdata/broken/missing_rule_id.toml:1:1: missing rule.rule_id`,
			sentinel: ErrInvalid,
		},
		{
			name:     "eql syntax in a single-line literal string",
			text:     "[rule]\nname = \"N\"\nrule_id = \"R\"\nrisk_score = 21\nseverity = \"low\"\ntype = \"eql\"\n  query = 'process where and'\n",
			want:     `x.toml:7:26: EQL: expected a field, a value or a function call, found "and"`,
			sentinel: ErrSyntax,
		},
		{
			name:     "eql syntax in a basic string with escapes",
			text:     "[rule]\nname = \"N\"\nrule_id = \"R\"\nrisk_score = 21\nseverity = \"low\"\ntype = \"eql\"\nquery = \"process where process.name == \\\"a\\\" and and\"\n",
			want:     `x.toml:7:50: EQL: expected a field, a value or a function call, found "and"`,
			sentinel: ErrSyntax,
		},
		{
			name:     "eql syntax in a multi-line basic string after a line-ending backslash",
			text:     "[rule]\nname = \"N\"\nrule_id = \"R\"\nrisk_score = 21\nseverity = \"low\"\ntype = \"eql\"\nquery = \"\"\"\nprocess where \\\n     true and and\n\"\"\"\n",
			want:     `x.toml:9:15: EQL: expected a field, a value or a function call, found "and"`,
			sentinel: ErrSyntax,
		},
		{
			name: "compile error (bad regex) placed inside the query",
			text: "[rule]\nname = \"N\"\nrule_id = \"R\"\nrisk_score = 21\nseverity = \"low\"\ntype = \"eql\"\nquery = \"\"\"\n" +
				"process where\n  process.name regex \"a(\"\"\"\"\n",
			want:     `x.toml:9:22: EQL compile: process.name: invalid regex "a(": unclosed group opened at offset 1`,
			sentinel: ErrInvalid,
		},
		{
			name:     "missing name",
			text:     "[rule]\nrule_id = \"R\"\nquery = 'process where true'\n",
			want:     `x.toml:1:1: missing rule.name`,
			sentinel: ErrInvalid,
		},
		{
			name:     "missing query",
			text:     "[rule]\nrule_id = \"R\"\nname = \"N\"\ntype = \"eql\"\nseverity = \"low\"\n",
			want:     `x.toml:1:1: missing rule.query`,
			sentinel: ErrInvalid,
		},
		{
			name:     "bad severity",
			text:     "[rule]\nrule_id = \"R\"\nname = \"N\"\ntype = \"eql\"\nseverity = \"urgent\"\nquery = 'process where true'\n",
			want:     `x.toml:5:1: rule.severity "urgent": want low, medium, high or critical`,
			sentinel: ErrInvalid,
		},
		{
			name:     "risk score out of range",
			text:     "[rule]\nrule_id = \"R\"\nname = \"N\"\ntype = \"eql\"\nseverity = \"low\"\nrisk_score = 101\nquery = 'process where true'\n",
			want:     `x.toml:6:1: rule.risk_score 101: want 0 to 100`,
			sentinel: ErrInvalid,
		},
		{
			name:     "wrong value type",
			text:     "[rule]\nrule_id = \"R\"\nname = \"N\"\n  risk_score = \"high\"\n",
			want:     `x.toml:4:3: TOML: incompatible types: TOML value has type string; destination has type float (last key "rule.risk_score")`,
			sentinel: ErrSyntax,
		},
		{
			name:     "wrong value type in an array of tables",
			text:     "[rule]\nrule_id = \"R\"\n[[rule.threat]]\nframework = 1\n",
			want:     `x.toml:4:1: TOML: incompatible types: TOML value has type int64; destination has type string (last key "rule.threat.framework")`,
			sentinel: ErrSyntax,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, data := "x.toml", []byte(tt.text)
			if tt.file != "" {
				var err error
				name = tt.file
				if data, err = os.ReadFile(tt.file); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Parse(name, data, false)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("error %v (%T) is not a *Problem", err, err)
			}
			if tt.want != "" {
				if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			if p.Line < 1 || p.Col < 1 {
				t.Errorf("position %d:%d, want a 1-based place", p.Line, p.Col)
			}
		})
	}
}

func TestParseUnsupported(t *testing.T) {
	tests := []struct {
		name, text string
		wantReason string
	}{
		{
			name:       "threshold rule",
			text:       "[rule]\nrule_id = \"R\"\nname = \"N\"\ntype = \"threshold\"\nquery = 'x'\n",
			wantReason: `rule type "threshold" (only eql runs inline)`,
		},
		{
			name:       "sample query",
			text:       "[rule]\nrule_id = \"R\"\nname = \"N\"\ntype = \"eql\"\nseverity = \"low\"\nquery = '''\nsample by process.entity_id [process where true] [process where true]'''\n",
			wantReason: `1:1: sample: unsupported EQL construct`,
		},
		{
			name:       "sequence with a missing event",
			text:       "[rule]\nrule_id = \"R\"\nname = \"N\"\ntype = \"eql\"\nseverity = \"low\"\nquery = '''\nsequence with maxspan=1m [process where true]\n  ![process where false] [process where true]'''\n",
			wantReason: `2:3: missing events (![...]) are not run inline`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tt.text), false)
			var ue *UnsupportedError
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error = %v, want an *UnsupportedError wrapping ErrUnsupported", err)
			}
			want := Unsupported{File: "x.toml", RuleID: "R", Name: "N", Version: "1", Reason: tt.wantReason}
			if diff := cmp.Diff(want, ue.Rule, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("unsupported (-want +got):\n%s", diff)
			}
		})
	}
}
