package tests

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// The built-in rules.
const (
	pythonTTYRuleID   = "d76b02ef-fc95-4001-9297-01cb7412232f"
	pythonTTYRuleName = "Interactive Terminal Spawned via Python"
	newPTYRuleID      = "84c08f08-ace1-4372-814f-fc09620efca0"
	newPTYRuleName    = "Shell Given a New Pseudo-Terminal by Python"
)

// What a document fires: spawnbeat's rule alone, both or neither (no run
// here fires the seed's alone).
var (
	newOnly = []string{newPTYRuleID}
	both    = []string{newPTYRuleID, pythonTTYRuleID}
	neither []string
)

// record names a file to write the documents each run wants, one a line in
// run order: the recorded documents of the rules' unit tests
// (module/detection/rules/testdata/events/python_new_pty.ndjson).
var record = flag.String("record", "", "write each run's wanted documents to this NDJSON file")

// caseEnv marks every process of a run: each run gets its own value, its
// processes inherit it, and the agent records it (process.env_vars), so a
// run's documents are found whatever forks, execs or daemonizes on the way
// (a tmux server is not a descendant of the run).
const caseEnv = "SPAWNBEAT_CASE"

// caseConfig is fileConfig recording caseEnv.
const caseConfig = `
spawnbeat:
  capture:
    scan_existing: false
    env_vars: [` + caseEnv + `]
logging.level: info
logging.json: false
`

// ptyRun is one program run on a pseudo-terminal of its own
// (testdata/ptydrive.py), with what its documents must fire.
type ptyRun struct {
	name  string
	argv  []string // %s: the run's marker; %d: its directory
	lines []string // typed into the terminal one by one; %s: the marker
	stdin string   // when set, the program's stdin is a pipe holding it
	// noTTY runs argv with no terminal at all, as behind a reverse shell:
	// in a session of its own, stdin a pipe holding the lines.
	noTTY bool
	files map[string]string // written into the run's directory first
	// stop ends what would wait forever (a shell whose input is at
	// end-of-file, a tmux server), once the wanted documents arrived.
	stop func(t *testing.T, r *startedRun)
	want []wantDoc
}

// wantDoc is a document a run must produce, and the rules it fires. Every
// other document of the run must fire none.
type wantDoc struct {
	name   string   // process.name ("dash" also accepts the kernel's "sh")
	parent string   // glob for process.parent.name
	rules  []string // rule ids, sorted
}

// startedRun is a run in progress.
type startedRun struct {
	ptyRun
	agent  *agent
	marker string
	dir    string
	cmd    *exec.Cmd
	out    *bytes.Buffer // the driver's output, under outMu
	outMu  *lockedWriter
}

const (
	python3 = "/usr/bin/python3"
	spawnSh = `import pty; pty.spawn("/bin/sh")`
)

// TestE2EPythonTTYAttacks runs the Python-tty attacks and their
// look-alikes for real, each on a pseudo-terminal of its own and with no
// terminal of the test's, through the agent with its built-in rules, and
// checks which rules fire on which document: Elastic's (the seed), which
// reads Python's command line, spawnbeat's own, which reads the session and
// the terminal the shell was given, both, or neither.
func TestE2EPythonTTYAttacks(t *testing.T) {
	testenv.RequireRoot(t)
	ptyshell := buildPTYShell(t)
	a := startAgent(t, caseConfig)

	runs := []ptyRun{
		// The seed's own attacks: both rules.
		{name: "seed branch 1: python3 -c pty.spawn bash", lines: []string{"exit"},
			argv: []string{python3, "-c", `import pty; pty.spawn("/bin/bash") # %s`},
			want: []wantDoc{{"bash", "python*", both}}},
		{name: "seed branch 1: python3 -c pty.spawn sh", lines: []string{"exit"},
			argv: []string{python3, "-c", spawnSh + " # %s"},
			want: []wantDoc{{"dash", "python*", both}}},
		{name: "seed branch 2: pty.spawn typed into python3", lines: []string{spawnSh + " # %s", "exit", "exit()"},
			argv: []string{python3},
			want: []wantDoc{{"dash", "python*", both}}},
		// Behind a reverse shell Python has no terminal at all.
		{name: "reverse shell: python3 -c pty.spawn with no terminal", noTTY: true, lines: []string{"sleep 1; exit"},
			argv: []string{python3, "-c", spawnSh + " # %s"},
			want: []wantDoc{{"dash", "python*", both}}},
		// Code from stdin: bare python3 has one argument, as the seed's
		// second branch wants; "python3 -" does not.
		{name: "code from stdin: echo ... | python3", stdin: spawnSh + "\n", stop: killShell,
			argv: []string{python3},
			want: []wantDoc{{"dash", "python*", both}}},
		{name: "code from stdin: python3 - <script", stdin: spawnSh + "\n", stop: killShell,
			argv: []string{python3, "-"},
			want: []wantDoc{{"dash", "python*", newOnly}}},
		// The seed is blind to these; spawnbeat's rule is not.
		{name: "script file: python3 spawn.py", lines: []string{"exit"},
			files: map[string]string{"spawn.py": spawnSh + "\n"},
			argv:  []string{python3, "%d/spawn.py"},
			want:  []wantDoc{{"dash", "python*", newOnly}}},
		{name: "python3 -i, pty.spawn typed", lines: []string{spawnSh + " # %s", "exit", "exit()"},
			argv: []string{python3, "-i"},
			want: []wantDoc{{"dash", "python*", newOnly}}},
		{name: "hidden: exec(base64.b64decode(...))", lines: []string{"exit"},
			argv: []string{python3, "-c", `import base64; exec(base64.b64decode("aW1wb3J0IHB0eTsgcHR5LnNwYXduKCIvYmluL3NoIik=")) # %s`},
			want: []wantDoc{{"dash", "python*", newOnly}}},
		{name: `hidden: getattr(__import__("pty"), "spawn")`, lines: []string{"exit"},
			argv: []string{python3, "-c", `getattr(__import__("pty"), "spawn")("/bin/sh") # %s`},
			want: []wantDoc{{"dash", "python*", newOnly}}},
		{name: "os.forkpty() and os.execv", argv: []string{python3, "-c", forkpty},
			want: []wantDoc{{"dash", "python*", newOnly}}},
		// The shell reached through env is the same process: the alert is
		// on bash's document, not env's.
		{name: "pty.spawn through env", lines: []string{"exit"},
			argv: []string{python3, "-c", `import pty; pty.spawn(["/usr/bin/env", "bash"]) # %s`},
			want: []wantDoc{{"env", "python*", neither}, {"bash", "python*", both}}},
		{name: "pty.spawn of /usr/bin/bash -i", lines: []string{"exit"},
			argv: []string{python3, "-c", `import pty; pty.spawn(["/usr/bin/bash", "-i"]) # %s`},
			want: []wantDoc{{"bash", "python*", both}}},
		// The known false-positive class: a Python program that drives a
		// shell on a pty it made, here the test's own driver.
		{name: "harness: ptydrive.py runs a shell", lines: []string{"exit"},
			argv: []string{"/bin/sh"},
			want: []wantDoc{{"dash", "python*", newOnly}}},

		// Look-alikes: neither rule.
		{name: "subprocess.run(sh): no pty of its own", lines: []string{"exit"},
			argv: []string{python3, "-c", `import subprocess; subprocess.run(["/bin/sh"]) # %s`},
			want: []wantDoc{{"dash", "python*", neither}}},
		{name: `os.system("bash") typed into python3 on its terminal`, lines: []string{`import os; os.system("bash") # %s`, "exit", "exit()"},
			argv: []string{python3},
			want: []wantDoc{{"dash", "python*", neither}, {"bash", "dash", neither}}},
		{name: "setsid -c: a new session on the terminal python already has", lines: []string{"exit"},
			argv: []string{python3, "-c", `import subprocess; subprocess.run(["/usr/bin/setsid", "-c", "/bin/sh"]) # %s`},
			want: []wantDoc{{"dash", "python*", neither}}},
		{name: "script -c sh", lines: []string{"exit"},
			argv: []string{"/usr/bin/script", "-q", "-c", "sh", "/dev/null"},
			want: []wantDoc{{"dash", "script", neither}}},
		{name: "tmux new-session -d sh", stop: killTmux,
			argv: []string{"/usr/bin/tmux", "-L", "%s", "new-session", "-d", "sh"},
			want: []wantDoc{{"dash", "tmux", neither}}},
		// No sshd here: ptyshell does what sshd's session child does
		// (setsid, TIOCSCTTY on a new pty, exec of a login shell).
		{name: "sshd-like login shell (ptyshell)",
			argv: []string{ptyshell, "/bin/sh"},
			want: []wantDoc{{"dash", "ptyshell", neither}}},
		{name: `python3 -c 'print("pty.spawn")'`,
			argv: []string{python3, "-c", `print("pty.spawn") # %s`},
			want: []wantDoc{{"python3*", "python*", neither}}},
	}
	done := make([]*startedRun, 0, len(runs))
	for i, r := range runs {
		done = append(done, runOnPTY(t, a, i, r))
	}
	checkRuns(t, a, done, map[string]string{pythonTTYRuleID: pythonTTYRuleName, newPTYRuleID: newPTYRuleName}, *record)
}

// TestE2EPythonNewPTYException runs the known false-positive class (a
// Python program driving a shell on a pty it made: the test's driver)
// under the documented exception (docs/python-new-pty-rule.md), a user rule with the built-in's rule_id,
// and checks that it is silent there while an attack still fires the
// user's copy of the rule.
func TestE2EPythonNewPTYException(t *testing.T) {
	testenv.RequireRoot(t)
	example, err := os.ReadFile("../module/detection/rules/testdata/exception/python_new_pty_shell.toml")
	if err != nil {
		t.Fatal(err)
	}
	const site = newPTYRuleName + " (site)"
	text := strings.Replace(string(example), "*/my_harness.py", "*/ptydrive.py", 1)
	if text == string(example) || !strings.Contains(text, `name = "`+site+`"`) {
		t.Fatalf("the example exception no longer names */my_harness.py or %q", site)
	}
	dir := t.TempDir()
	rule := filepath.Join(dir, "python_new_pty_shell.toml")
	if err := os.WriteFile(rule, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgentAt(t, dir, strings.Replace(caseConfig, "spawnbeat:\n", "spawnbeat:\n  detection:\n    rules: ["+rule+"]\n", 1))
	a.waitLog("user rule replaces built-in rule", 10*time.Second)

	runs := []ptyRun{
		{name: "harness: ptydrive.py runs a shell", lines: []string{"exit"},
			argv: []string{"/bin/sh"},
			want: []wantDoc{{"dash", "python*", neither}}},
		{name: "script file: python3 spawn.py", lines: []string{"exit"},
			files: map[string]string{"spawn.py": spawnSh + "\n"},
			argv:  []string{python3, "%d/spawn.py"},
			want:  []wantDoc{{"dash", "python*", newOnly}}},
	}
	var done []*startedRun
	for i, r := range runs {
		done = append(done, runOnPTY(t, a, i, r))
	}
	checkRuns(t, a, done, map[string]string{pythonTTYRuleID: pythonTTYRuleName, newPTYRuleID: site}, "")
}

// forkpty is os.forkpty() and os.execv in the child, the parent typing
// "exit" after a second and draining the terminal.
const forkpty = `import os, time  # %s
pid, fd = os.forkpty()
if pid == 0:
    os.execv("/bin/sh", ["/bin/sh"])
time.sleep(1)
os.write(fd, b"exit\n")
try:
    while os.read(fd, 1024):
        pass
except OSError:
    pass
os.waitpid(pid, 0)
`

// drive runs argv on a pseudo-terminal of its own (testdata/ptydrive.py),
// typing lines into it one by one, as an attacker upgrading a reverse shell
// does. It returns the driver's pid: argv runs as its child.
func drive(t *testing.T, lines []string, argv ...string) int {
	t.Helper()
	js, _ := json.Marshal(lines)
	cmd := exec.Command(python3, append([]string{"testdata/ptydrive.py", "30", string(js), "--"}, argv...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
	return cmd.Process.Pid
}

// buildPTYShell builds testdata/ptyshell, the sshd stand-in.
func buildPTYShell(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ptyshell")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/ptyshell").CombinedOutput(); err != nil {
		t.Fatalf("build ptyshell: %v\n%s", err, out)
	}
	return bin
}

// runOnPTY runs r under ptydrive.py and waits for it to end.
func runOnPTY(t *testing.T, a *agent, i int, r ptyRun) *startedRun {
	t.Helper()
	s := &startedRun{ptyRun: r, agent: a, marker: fmt.Sprintf("spawnbeat-case-%d-%d", i, time.Now().UnixNano()), dir: t.TempDir(), out: new(bytes.Buffer)}
	s.outMu = &lockedWriter{w: s.out}
	subst := func(in []string) []string {
		out := slices.Clone(in)
		for j := range out {
			out[j] = strings.ReplaceAll(strings.ReplaceAll(out[j], "%s", s.marker), "%d", s.dir)
		}
		return out
	}
	for name, body := range r.files {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if r.noTTY {
		s.cmd = exec.Command(r.argv[0], subst(r.argv[1:])...)
		s.cmd.Stdin = strings.NewReader(strings.Join(subst(r.lines), "\n") + "\n")
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		js, _ := json.Marshal(subst(r.lines))
		args := []string{"testdata/ptydrive.py", "30", string(js)}
		if r.stdin != "" {
			args = append(args, "--stdin="+r.stdin)
		}
		args = append(append(args, "--"), subst(r.argv)...)
		s.cmd = exec.Command(python3, args...)
	}
	s.cmd.Env = append(os.Environ(), caseEnv+"="+s.marker)
	s.cmd.Stdout, s.cmd.Stderr = s.outMu, s.outMu
	if r.stop != nil {
		t.Cleanup(func() { r.stop(t, s) }) // whatever happens, nothing is left waiting
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if r.stop != nil {
		s.waitWanted(t)
		r.stop(t, s)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("%s: %v\n%s", r.name, err, s.out)
	}
	return s
}

// waitWanted waits until every wanted document of the run has arrived.
func (s *startedRun) waitWanted(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		docs := s.docs(s.agent.docs())
		if !slices.ContainsFunc(s.want, func(w wantDoc) bool { return len(w.matches(docs)) == 0 }) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("%s: the wanted documents did not arrive within 30s", s.name)
}

// docs returns the run's exec documents: those whose process.env_vars
// hold its marker, and those of the same processes or their children that
// lack it. A process that exec's again at once (env exec'ing bash) may
// have its environment read in the middle of the next exec, when the
// kernel shows it empty, or after it exited: its document then has no
// env_vars, as the agent's docs say, and belongs to the run all the same.
func (s *startedRun) docs(all []map[string]any) []map[string]any {
	marked := map[string]bool{}
	for _, d := range all {
		if str(d, "event.action") == "exec" && slices.Contains(strs(d, "process.env_vars"), caseEnv+"="+s.marker) {
			if id := str(d, "process.entity_id"); id != "" {
				marked[id] = true
			}
		}
	}
	var out []map[string]any
	for _, d := range all {
		if str(d, "event.action") == "exec" && (marked[str(d, "process.entity_id")] || marked[str(d, "process.parent.entity_id")]) {
			out = append(out, d)
		}
	}
	return out
}

// killShell ends the run's first wanted shell, which reads a pty that no
// one writes to (Python's stdin was at end-of-file): Python's copy loop
// then sees the pty close and returns.
func killShell(t *testing.T, s *startedRun) {
	t.Helper()
	if s.cmd.ProcessState != nil {
		return // the run is over (cleanup after a normal end)
	}
	for _, d := range s.want[0].matches(s.docs(s.agent.docs())) {
		_ = syscall.Kill(int(num(d, "process.pid")), syscall.SIGKILL)
	}
}

// killTmux ends the run's tmux server (its socket is named after the
// marker), and with it the pane's shell.
func killTmux(t *testing.T, s *startedRun) {
	t.Helper()
	_ = exec.Command("/usr/bin/tmux", "-L", s.marker, "kill-server").Run()
}

// matches returns the documents w describes.
func (w wantDoc) matches(docs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, d := range docs {
		name := str(d, "process.name")
		if w.name == "dash" && name == "sh" { // gone before /proc was read: the kernel's comm
			name = "dash"
		}
		nameOK, _ := filepath.Match(w.name, name)
		parentOK, _ := filepath.Match(w.parent, str(d, "process.parent.name"))
		if nameOK && parentOK {
			out = append(out, d)
		}
	}
	return out
}

// checkRuns waits for the end of the runs' documents and checks each run:
// every wanted document is there with exactly its rules, every other
// document of the run fires none, and no alert of either rule comes from
// outside the runs. names maps each rule id to the name its alerts carry.
// With recordTo set, the first document of each wanted kind is written
// there, one a line in run order, when every check passed.
func checkRuns(t *testing.T, a *agent, runs []*startedRun, names map[string]string, recordTo string) {
	t.Helper()
	// A process that lives long enough for its args to be read marks the
	// end of the runs.
	end := fmt.Sprintf("attacks-done-%d", time.Now().UnixNano())
	_ = exec.Command("/bin/sh", "-c", "sleep 0.05", end).Run()
	if len(a.waitDocs(1, 60*time.Second, hasArg(end))) == 0 {
		t.Fatalf("the end marker %s never arrived", end)
	}
	all := a.docs()
	inRun := map[string]bool{}
	var recorded bytes.Buffer
	for _, r := range runs {
		docs := r.docs(all)
		wanted := map[string]bool{}
		for _, w := range r.want {
			got := w.matches(docs)
			if len(got) == 0 {
				t.Errorf("%s: no exec document of %s under %s; the run's documents:\n%s", r.name, w.name, w.parent, summary(docs))
				continue
			}
			t.Logf("%s: %s under %s:\n%s", r.name, w.name, w.parent, summary(got))
			line, err := json.Marshal(asDetectionSawIt(got[0]))
			if err != nil {
				t.Fatal(err)
			}
			recorded.Write(append(line, '\n'))
			for _, d := range got {
				wanted[str(d, "event.id")] = true
				if ids := ruleIDs(d); !slices.Equal(ids, w.rules) {
					t.Errorf("%s: %s under %s fired %v, want %v:\n%s", r.name, w.name, w.parent, ids, w.rules, summary([]map[string]any{d}))
				} else {
					checkAlert(t, r.name, d, names)
				}
			}
		}
		for _, d := range docs {
			inRun[str(d, "event.id")] = true
			if ids := ruleIDs(d); !wanted[str(d, "event.id")] && len(ids) > 0 {
				t.Errorf("%s: an unexpected alert %v:\n%s", r.name, ids, summary([]map[string]any{d}))
			}
		}
	}
	for _, d := range all {
		ids := ruleIDs(d)
		if !inRun[str(d, "event.id")] && (slices.Contains(ids, pythonTTYRuleID) || slices.Contains(ids, newPTYRuleID)) {
			t.Errorf("an alert from outside the runs:\n%s", summary([]map[string]any{d}))
		}
	}
	if recordTo != "" && !t.Failed() {
		if err := os.WriteFile(recordTo, recorded.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// asDetectionSawIt returns a copy of document d without what detection
// adds to an alert (rule, threat, message, event.kind alert, risk score and
// severity): the document the rules were evaluated on.
func asDetectionSawIt(d map[string]any) map[string]any {
	out := maps.Clone(d)
	delete(out, "rule")
	delete(out, "threat")
	delete(out, "message")
	if ev, ok := out["event"].(map[string]any); ok {
		ev = maps.Clone(ev)
		ev["kind"] = "event"
		delete(ev, "risk_score")
		delete(ev, "severity")
		out["event"] = ev
	}
	return out
}

// ruleIDs returns the sorted rule ids of an alert, none for an event.
func ruleIDs(d map[string]any) []string {
	var ids []string
	if id := str(d, "rule.id"); id != "" {
		ids = []string{id}
	} else {
		ids = strs(d, "rule.id")
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return ids
}

// checkAlert checks what an alert says besides its rule ids.
func checkAlert(t *testing.T, run string, d map[string]any, names map[string]string) {
	t.Helper()
	ids := ruleIDs(d)
	if len(ids) == 0 {
		if str(d, "event.kind") != "event" {
			t.Errorf("%s: event.kind %q without rules", run, str(d, "event.kind"))
		}
		return
	}
	gotNames := strs(d, "rule.name")
	if n := str(d, "rule.name"); n != "" {
		gotNames = []string{n}
	}
	var wantNames []string
	for _, id := range ids {
		wantNames = append(wantNames, names[id])
	}
	slices.Sort(gotNames)
	slices.Sort(wantNames)
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("%s: rule.name %v, want %v", run, gotNames, wantNames)
	}
	if str(d, "event.kind") != "alert" {
		t.Errorf("%s: event.kind %q", run, str(d, "event.kind"))
	}
	if !slices.Contains(strs(d, "threat.technique.subtechnique.id"), "T1059.006") && str(d, "threat.technique.subtechnique.id") != "T1059.006" {
		t.Errorf("%s: threat = %v", run, get(d, "threat"))
	}
	if num(d, "event.risk_score") != 73 || num(d, "event.severity") != 73 {
		t.Errorf("%s: risk_score %v severity %v", run, get(d, "event.risk_score"), get(d, "event.severity"))
	}
	if str(d, "message") == "" {
		t.Errorf("%s: no message", run)
	}
}

// summary renders documents one a line with what the rules read.
func summary(docs []map[string]any) string {
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "  pid %v %s %q env %q parent %s %q; session leader %v, tty %v, parent tty %v, same_as_parent %v; rules %v\n",
			get(d, "process.pid"), str(d, "process.name"), strs(d, "process.args"), strs(d, "process.env_vars"),
			str(d, "process.parent.name"), strs(d, "process.parent.args"),
			get(d, "process.session_leader.same_as_process"), get(d, "process.tty.char_device"),
			get(d, "process.parent.tty.char_device"), get(d, "spawnbeat.process.tty.same_as_parent"), ruleIDs(d))
	}
	return b.String()
}
