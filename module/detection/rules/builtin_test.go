package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordedWant is what the built-in rules fire on each line of
// testdata/events/python_new_pty.ndjson, checked by hand (the table in
// testdata/events/README.md says why).
var recordedWant = []struct {
	run        string
	seed, mine bool
}{
	{"seed branch 1, bash", true, true},
	{"seed branch 1, sh", true, true},
	{"seed branch 2, typed into python3", true, true},
	{"reverse shell, no terminal", true, true},
	{"echo ... | python3", true, true},
	{"python3 - <script", false, true},
	{"python3 spawn.py", false, true},
	{"python3 -i, typed", false, true},
	{"exec(base64)", false, true},
	{"getattr(__import__)", false, true},
	{"os.forkpty and os.execv", false, true},
	{"pty.spawn through env: env", false, false},
	{"pty.spawn through env: bash", true, true},
	{"pty.spawn /usr/bin/bash -i", true, true},
	{"harness (known false positive)", false, true},
	{"subprocess.run(sh)", false, false},
	{"os.system(bash): sh -c bash", false, false},
	{"os.system(bash): bash", false, false},
	{"setsid -c on python's terminal", false, false},
	{"script -c sh", false, false},
	{"tmux new-session -d sh", false, false},
	{"sshd-like (ptyshell)", false, false},
	{`print("pty.spawn")`, false, false},
}

// harnessLine is the known false-positive document of
// python_new_pty.ndjson (1-based).
const harnessLine = 15

func readRecorded(t *testing.T) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "events", "python_new_pty.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var d map[string]any
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		docs = append(docs, d)
	}
	if len(docs) != len(recordedWant) {
		t.Fatalf("%d recorded documents, want %d", len(docs), len(recordedWant))
	}
	return docs
}

// TestBuiltinsOnRecordedDocuments evaluates both built-in rules on the
// documents the agent wrote for real attacks and look-alikes.
func TestBuiltinsOnRecordedDocuments(t *testing.T) {
	set, err := Load(Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed, mine := set.Lookup(pythonTTYID), set.Lookup(newPTYID)
	for i, d := range readRecorded(t) {
		w := recordedWant[i]
		got := []bool{seed.JSON.Match(d), mine.JSON.Match(d)}
		if diff := cmp.Diff([]bool{w.seed, w.mine}, got); diff != "" {
			t.Errorf("line %d (%s): [seed, spawnbeat's] (-want +got):\n%s", i+1, w.run, diff)
		}
	}
}

// TestExceptionExample loads the documented exception, a user rule with
// the built-in's rule_id, and checks that it replaces the built-in, spares
// the excepted harness and nothing else.
func TestExceptionExample(t *testing.T) {
	set, err := Load(Options{Paths: []string{"testdata/exception"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := set.Lookup(newPTYID)
	if r.Replaces != "builtin/execution_python_new_pty_shell.toml" || r.Meta.Name != "Shell Given a New Pseudo-Terminal by Python (site)" ||
		len(r.Meta.Threat) != 1 || r.Meta.Severity != "high" || r.Meta.RiskScore != 73 {
		t.Fatalf("rule in force: %s %q replaces %q, threat %v, %s %v", r.File, r.Meta.Name, r.Replaces, r.Meta.Threat, r.Meta.Severity, r.Meta.RiskScore)
	}
	for i, d := range readRecorded(t) {
		want := recordedWant[i].mine
		if i+1 == harnessLine {
			// The recorded harness is ptydrive.py; make it the example's.
			parent := d["process"].(map[string]any)["parent"].(map[string]any)
			parent["args"] = []any{"/usr/bin/python3", "/srv/ci/my_harness.py"}
			want = false
		}
		if got := r.JSON.Match(d); got != want {
			t.Errorf("line %d (%s): %v, want %v", i+1, recordedWant[i].run, got, want)
		}
	}
}

// TestExceptionExampleDocumented keeps the example in the rule's note and
// in docs/python-new-pty-rule.md identical to the file the tests load.
func TestExceptionExampleDocumented(t *testing.T) {
	data, err := os.ReadFile("testdata/exception/python_new_pty_shell.toml")
	if err != nil {
		t.Fatal(err)
	}
	var body []string
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			body = append(body, line)
		}
	}
	example := "```toml\n" + strings.Join(body, "") + "```\n"
	for _, name := range []string{"builtin/execution_python_new_pty_shell.toml", "../../../docs/python-new-pty-rule.md"} {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), example) {
			t.Errorf("%s does not hold the example of testdata/exception/python_new_pty_shell.toml verbatim", name)
		}
	}
}
