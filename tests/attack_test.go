package tests

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	pythonTTYRuleID   = "d76b02ef-fc95-4001-9297-01cb7412232f"
	pythonTTYRuleName = "Interactive Terminal Spawned via Python"
)

// drive runs argv on a pseudo-terminal of its own (testdata/ptydrive.py),
// typing lines into it one by one, as an attacker upgrading a reverse shell
// does. It returns the driver's pid: argv runs as its child.
func drive(t *testing.T, lines []string, argv ...string) int {
	t.Helper()
	js, _ := json.Marshal(lines)
	cmd := exec.Command("/usr/bin/python3", append([]string{"testdata/ptydrive.py", "30", string(js), "--"}, argv...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
	return cmd.Process.Pid
}

// attack is one run of python on a pseudo-terminal.
type attack struct {
	name   string
	lines  []string // typed into the terminal; %s is the run's marker
	argv   []string // %s is the run's marker
	alerts int      // alert documents expected
	shell  string   // process.name of the shell that carries the alert
}

// TestE2EPythonTTYAttacks runs the real attacks and their look-alikes with
// no terminal of the test's own, and checks that each attack yields exactly
// one alert document and each control none.
func TestE2EPythonTTYAttacks(t *testing.T) {
	requireRoot(t)
	a := startAgent(t, fileConfig)

	attacks := []attack{
		{"branch 1 bash", []string{"exit"}, []string{"/usr/bin/python3", "-c", `import pty; pty.spawn("/bin/bash") # %s`}, 1, "bash"},
		{"branch 1 sh", []string{"exit"}, []string{"/usr/bin/python3", "-c", `import pty; pty.spawn("/bin/sh") # %s`}, 1, "dash"},
		{"branch 2 interactive", []string{`import pty; pty.spawn("/bin/sh") # %s`, "exit", "exit()"}, []string{"/usr/bin/python3"}, 1, "dash"},
		{"control os.system", nil, []string{"/usr/bin/python3", "-c", `import os; os.system("ls >/dev/null") # %s`}, 0, ""},
		{"control subprocess", []string{"exit"}, []string{"/usr/bin/python3", "-c", `import subprocess; subprocess.run(["/bin/sh"]) # %s`}, 0, ""},
		{"control python3 -i", []string{`import pty; pty.spawn("/bin/sh") # %s`, "exit", "exit()"}, []string{"/usr/bin/python3", "-i"}, 0, ""},
	}
	drivers := map[string]int{}
	for _, at := range attacks {
		marker := fmt.Sprintf("attack-%d", time.Now().UnixNano())
		argv := slices.Clone(at.argv)
		lines := slices.Clone(at.lines)
		for i := range argv {
			argv[i] = strings.ReplaceAll(argv[i], "%s", marker)
		}
		for i := range lines {
			lines[i] = strings.ReplaceAll(lines[i], "%s", marker)
		}
		drivers[at.name] = drive(t, lines, argv...)
	}
	// A process that lives long enough for its args to be read marks the
	// end of the runs.
	end := fmt.Sprintf("attacks-done-%d", time.Now().UnixNano())
	_ = exec.Command("/bin/sh", "-c", "sleep 0.05", end).Run()
	if len(a.waitDocs(1, 60*time.Second, hasArg(end))) == 0 {
		t.Fatalf("the end marker %s never arrived", end)
	}

	// Other tests may start processes (even alerts) meanwhile: a run's
	// documents are told apart by ancestry, driver -> python -> shell.
	docs := a.docs()
	for _, at := range attacks {
		python := map[float64]bool{}
		for _, d := range docs {
			if str(d, "event.action") == "exec" && int(num(d, "process.parent.pid")) == drivers[at.name] {
				python[num(d, "process.pid")] = true
			}
		}
		if len(python) == 0 {
			t.Errorf("%s: no exec document for python (child of driver %d)", at.name, drivers[at.name])
			continue
		}
		var alerts []map[string]any
		for _, d := range docs {
			if str(d, "event.kind") == "alert" && python[num(d, "process.parent.pid")] {
				alerts = append(alerts, d)
			}
		}
		if len(alerts) != at.alerts {
			t.Errorf("%s: %d alerts, want %d: %v", at.name, len(alerts), at.alerts, alerts)
			continue
		}
		for _, al := range alerts {
			checkAlert(t, at.name, al, at.shell)
		}
	}
}

func checkAlert(t *testing.T, name string, al map[string]any, shell string) {
	t.Helper()
	if str(al, "rule.id") != pythonTTYRuleID || str(al, "rule.name") != pythonTTYRuleName {
		t.Errorf("%s: rule = %v", name, get(al, "rule"))
	}
	if !slices.Contains(strs(al, "threat.technique.subtechnique.id"), "T1059.006") && str(al, "threat.technique.subtechnique.id") != "T1059.006" {
		t.Errorf("%s: threat = %v", name, get(al, "threat"))
	}
	if num(al, "event.risk_score") != 73 || num(al, "event.severity") != 73 {
		t.Errorf("%s: risk_score %v severity %v", name, get(al, "event.risk_score"), get(al, "event.severity"))
	}
	// A shell gone before /proc was read keeps the kernel's name (comm):
	// "sh" for /bin/sh, whose executable is dash.
	if name := str(al, "process.name"); (name != shell && !(shell == "dash" && name == "sh")) || !strings.HasPrefix(str(al, "process.parent.name"), "python") {
		t.Errorf("%s: process %q parent %q", name, str(al, "process.name"), str(al, "process.parent.name"))
	}
	if str(al, "message") == "" {
		t.Errorf("%s: no message", name)
	}
}
