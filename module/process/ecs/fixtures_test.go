package ecs

import (
	"strings"
	"time"
)

// Fixtures shared by the golden, fields and benchmark tests. Times are fixed
// so that goldens are byte-stable.

func testTime() time.Time { return time.Date(2026, 11, 27, 6, 30, 15, 123456789, time.UTC) }

func testHost() *Host {
	return &Host{
		Name:         "build-01",
		Hostname:     "build-01",
		ID:           "3d1219c7c4c5404aaa1f6d2a48adfda4",
		Architecture: "x86_64",
		IP:           []string{"10.0.2.15", "fe80::5054:ff:fe12:3456"},
		MAC:          []string{"52-54-00-12-34-56"},
		OS: OS{
			Type:     "linux",
			Family:   "debian",
			Name:     "Debian GNU/Linux",
			Platform: "debian",
			Version:  "12.8",
			Kernel:   "6.1.0-28-amd64",
			Full:     "Debian GNU/Linux 12 (bookworm)",
		},
	}
}

func testAgent() *Agent {
	return &Agent{
		Type:        AgentType,
		Version:     "0.1.0",
		ID:          "6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c10",
		Name:        "build-01",
		EphemeralID: "0b8f2f6a-9f6e-4d2c-8a43-5c1e7d9b3a21",
	}
}

// pythonTTYRule is Elastic's prebuilt rule the design names.
func pythonTTYRule() *Rule {
	return &Rule{
		ID:          "d76b02ef-fc95-4001-9297-01cb7412232f",
		UUID:        "9a1f3c4e-2b7d-4e8a-b6c5-0d1e2f3a4b5c",
		Name:        "Interactive Terminal Spawned via Python",
		Version:     "210",
		Description: "Identifies when a terminal (tty) is spawned via Python. Attackers may upgrade a simple reverse shell to a fully interactive tty after obtaining initial access to a host.",
		Reference:   "https://www.elastic.co/security-labs/linux-detection-engineering-with-auditd",
		Author:      "Elastic",
		License:     "Elastic License v2",
		Ruleset:     "elastic",
		RiskScore:   73,
		Severity:    "high",
		Threat: []Threat{{
			Framework: "MITRE ATT&CK",
			Tactic:    Ref{ID: "TA0002", Name: "Execution", Reference: "https://attack.mitre.org/tactics/TA0002/"},
			Technique: []Ref{{ID: "T1059", Name: "Command and Scripting Interpreter", Reference: "https://attack.mitre.org/techniques/T1059/"}},
			Subtechnique: []Ref{{
				ID: "T1059.006", Name: "Python", Reference: "https://attack.mitre.org/techniques/T1059/006/",
			}},
		}},
	}
}

// customShellRule is a second, user-written rule whose threat overlaps the
// first (same tactic and technique, another sub-technique) so that the
// goldens show de-duplication.
func customShellRule() *Rule {
	return &Rule{
		ID:          "0f4a2c1e-7b8d-4c3a-9e5f-112233445566",
		Name:        "Shell Spawned by Interpreter",
		Version:     "3",
		Description: "A shell was started by a scripting interpreter.",
		Author:      "Security Team, Elastic",
		License:     "Elastic License v2",
		Ruleset:     "custom",
		RiskScore:   47,
		Severity:    "medium",
		Threat: []Threat{
			{
				Framework: "MITRE ATT&CK",
				Tactic:    Ref{ID: "TA0002", Name: "Execution", Reference: "https://attack.mitre.org/tactics/TA0002/"},
				Technique: []Ref{{ID: "T1059", Name: "Command and Scripting Interpreter", Reference: "https://attack.mitre.org/techniques/T1059/"}},
				Subtechnique: []Ref{{
					ID: "T1059.004", Name: "Unix Shell", Reference: "https://attack.mitre.org/techniques/T1059/004/",
				}},
			},
			{
				Framework: "MITRE ATT&CK",
				Tactic:    Ref{ID: "TA0004", Name: "Privilege Escalation", Reference: "https://attack.mitre.org/tactics/TA0004/"},
			},
		},
	}
}

func pythonParent(host string) Info {
	return Info{
		PID:              4100,
		EntityID:         EntityID(host, 4100, 881234),
		Name:             "python3.11",
		Executable:       "/usr/bin/python3.11",
		Args:             []string{"/usr/bin/python3", "-c", `import pty; pty.spawn("/bin/bash")`},
		CommandLine:      `/usr/bin/python3 -c import pty; pty.spawn("/bin/bash")`,
		WorkingDirectory: "/tmp",
		Start:            testTime().Add(-2 * time.Second),
		User:             ID{ID: "1000", Name: "alice"},
		Group:            ID{ID: "1000", Name: "alice"},
		RealUser:         ID{ID: "1000", Name: "alice"},
		RealGroup:        ID{ID: "1000", Name: "alice"},
		Interactive:      False,
	}
}

func bashChild(host string) Info {
	return Info{
		PID:              4101,
		EntityID:         EntityID(host, 4101, 881400),
		Name:             "bash",
		Executable:       "/usr/bin/bash",
		Args:             []string{"/bin/bash"},
		CommandLine:      "/bin/bash",
		WorkingDirectory: "/tmp",
		Start:            testTime(),
		User:             ID{ID: "1000", Name: "alice"},
		Group:            ID{ID: "1000", Name: "alice"},
		RealUser:         ID{ID: "1000", Name: "alice"},
		RealGroup:        ID{ID: "1000", Name: "alice"},
		TTY:              TTY{Major: 136, Minor: 3, Valid: true},
		Interactive:      True,
	}
}

func leader(host string, pid int, name, exe string, args []string, ticks uint64) Leader {
	return Leader{
		PID:        pid,
		EntityID:   EntityID(host, pid, ticks),
		Name:       name,
		Executable: exe,
		Args:       args,
		Start:      testTime().Add(-time.Hour),
		// Not the document's process; a fixture that is sets True.
		SameAsProcess: False,
	}
}

func baseEvent(action, typ string, seq uint64) *Event {
	e := &Event{
		Timestamp: testTime(),
		Event: Meta{
			Kind:     KindEvent,
			Type:     typ,
			Action:   action,
			Created:  testTime().Add(180 * time.Microsecond),
			Sequence: seq,
		},
		Host:      testHost(),
		Agent:     testAgent(),
		Spawnbeat: Extra{ReadState: "complete"},
	}
	return e
}

// alert tags e as detection does.
func alert(e *Event, rules ...*Rule) {
	e.Event.Kind = KindAlert
	e.Rules = rules
	for _, r := range rules {
		e.RiskScore = max(e.RiskScore, r.RiskScore)
		e.Severity = max(e.Severity, SeverityNumber(r.Severity))
	}
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.Name
	}
	e.Message = "Detection alert: " + strings.Join(names, ", ") + " (process bash, pid 4101)"
}

// goldenEvents returns the documents of testdata/golden, by file name
// without .json.
func goldenEvents() map[string]*Event {
	h := testHost().ID
	sshd := leader(h, 812, "sshd", "/usr/sbin/sshd", []string{"sshd: alice [priv]"}, 5000)
	sess := leader(h, 3900, "bash", "/usr/bin/bash", []string{"-bash"}, 870000)
	grp := leader(h, 4100, "python3.11", "/usr/bin/python3.11", []string{"/usr/bin/python3", "-c", `import pty; pty.spawn("/bin/bash")`}, 881234)
	sshd.EntryMetaType = "sshd"

	events := map[string]*Event{}

	exec := baseEvent(ActionExec, "start", 1001)
	exec.Process.Info = Info{
		PID:              4200,
		EntityID:         EntityID(h, 4200, 882000),
		Name:             "ls",
		Executable:       "/usr/bin/ls",
		Args:             []string{"ls", "-la", "/var/log"},
		CommandLine:      "ls -la /var/log",
		WorkingDirectory: "/home/alice",
		Start:            testTime(),
		User:             ID{ID: "1000", Name: "alice"},
		Group:            ID{ID: "1000", Name: "alice"},
		RealUser:         ID{ID: "1000", Name: "alice"},
		RealGroup:        ID{ID: "1000", Name: "alice"},
		TTY:              TTY{Major: 136, Minor: 0, Valid: true},
		Interactive:      True,
	}
	exec.Process.Parent = Info{
		PID:              3900,
		EntityID:         sess.EntityID,
		Name:             "bash",
		Executable:       "/usr/bin/bash",
		Args:             []string{"-bash"},
		CommandLine:      "-bash",
		WorkingDirectory: "/home/alice",
		Start:            sess.Start,
		User:             ID{ID: "1000", Name: "alice"},
		Group:            ID{ID: "1000", Name: "alice"},
		RealUser:         ID{ID: "1000", Name: "alice"},
		RealGroup:        ID{ID: "1000", Name: "alice"},
		TTY:              TTY{Major: 136, Minor: 0, Valid: true},
		Interactive:      True,
	}
	exec.Process.Previous = []Previous{{Executable: "/usr/bin/bash", Args: []string{"-bash"}}} // bash forked, the child exec'd ls
	exec.Process.EntryLeader = sshd
	exec.Process.SessionLeader = sess
	exec.Process.GroupLeader = leader(h, 4200, "ls", "/usr/bin/ls", []string{"ls", "-la", "/var/log"}, 882000)
	exec.Process.GroupLeader.SameAsProcess = True // ls leads its shell job
	exec.AssignID()
	events["exec"] = exec

	one := baseEvent(ActionExec, "start", 1002)
	one.Process.Info = bashChild(h)
	one.Process.Parent = pythonParent(h)
	one.Process.Previous = []Previous{{Executable: one.Process.Parent.Executable, Args: one.Process.Parent.Args}} // pty.spawn's fork
	one.Process.EntryLeader = sshd
	one.Process.SessionLeader = sess
	one.Process.GroupLeader = grp
	one.Namespace = "prod"
	alert(one, pythonTTYRule())
	one.AssignID()
	events["exec_alert_one_rule"] = one

	two := baseEvent(ActionExec, "start", 1003)
	two.Process.Info = bashChild(h)
	two.Process.Parent = pythonParent(h)
	two.Process.EntryLeader = sshd
	two.Process.SessionLeader = sess
	two.Process.GroupLeader = grp
	alert(two, pythonTTYRule(), customShellRule())
	two.AssignID()
	events["exec_alert_two_rules"] = two

	end := baseEvent(ActionEnd, "end", 1004)
	end.Process.Info = bashChild(h)
	end.Process.Parent = pythonParent(h)
	end.Process.End = testTime().Add(3*time.Second + 250*time.Millisecond)
	end.Process.ExitCode = 0
	end.Process.HasExitCode = true
	end.Timestamp = end.Process.End
	end.AssignID()
	events["end"] = end

	existing := baseEvent(ActionExisting, "info", 1)
	existing.Process.Info = Info{
		PID:              812,
		EntityID:         sshd.EntityID,
		Name:             "sshd",
		Executable:       "/usr/sbin/sshd",
		Args:             []string{"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"},
		CommandLine:      "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",
		WorkingDirectory: "/",
		Start:            sshd.Start,
		User:             ID{ID: "0", Name: "root"},
		Group:            ID{ID: "0", Name: "root"},
		RealUser:         ID{ID: "0", Name: "root"},
		RealGroup:        ID{ID: "0", Name: "root"},
		Interactive:      False,
	}
	existing.Process.Parent = Info{
		PID:        1,
		EntityID:   EntityID(h, 1, 2),
		Name:       "systemd",
		Executable: "/usr/lib/systemd/systemd",
		Args:       []string{"/sbin/init"},
		Start:      testTime().Add(-48 * time.Hour),
		User:       ID{ID: "0", Name: "root"},
	}
	existing.Timestamp = testTime().Add(-time.Minute)
	existing.AssignID()
	events["existing"] = existing

	fork := baseEvent(ActionFork, "start", 1005)
	fork.Process.Info = pythonParent(h)
	fork.Process.PID = 4102
	fork.Process.EntityID = EntityID(h, 4102, 881500)
	fork.Process.Parent = pythonParent(h)
	fork.AssignID()
	events["fork"] = fork

	// The process was reaped before spawnbeat read /proc: only what the
	// proc connector datagram carries (pid, parent pid, time) is known.
	missing := baseEvent(ActionExec, "start", 1006)
	missing.Spawnbeat.ReadState = "exited"
	missing.Process.PID = 4300
	missing.Process.Parent = pythonParent(h)
	missing.AssignID()
	events["exec_missing_fields"] = missing

	events["hostile"] = hostileEvent(h)
	events["full"] = fullEvent(h)
	return events
}

// hostileEvent carries what an attacker controls: invalid UTF-8, control
// characters, quotes, backslashes, U+2028, and a long argument list (1,024
// arguments of 1,023 bytes) as /proc reads it under a 2,048-byte cap (small,
// so that the golden stays readable): the arguments that fit with their NUL,
// the one that crosses the cap cut at it, the rest gone, ArgsTruncated set.
func hostileEvent(h string) *Event {
	e := baseEvent(ActionExec, "start", 1007)
	weird := "bad\xff\xfeutf8 \x00nul \x1b[31mred\x1b[0m \t\r\n \u2028ls\u2029 \x7f \"q\" \\b </script> é\xe2\x82"
	args := []string{"/tmp/x\"\\y", strings.Repeat("a", 1023), strings.Repeat("b", 2048-(9+1)-(1023+1)-1), weird}
	e.Process.Info = Info{
		PID:              6666,
		EntityID:         EntityID(h, 6666, 999999),
		Name:             "ev\xc3il\n",
		Executable:       "/tmp/\x01ev il\"",
		Args:             args,
		CommandLine:      strings.Join(args, " "),
		WorkingDirectory: "/tmp/\xed\xa0\x80dir",
		Start:            testTime(),
		User:             ID{ID: "1000", Name: "al\u2028ice"},
		ArgsTruncated:    true,
	}
	e.Process.Parent = pythonParent(h)
	e.Process.Parent.Args = []string{"python3", "-c", "\"\\\x00"}
	e.Process.Parent.ArgsTruncated = true
	e.AssignID()
	return e
}

// fullEvent has every field the encoder can write, so that the fields test
// can check fields.yml against it.
func fullEvent(h string) *Event {
	e := baseEvent(ActionEnd, "end", 1008)
	e.Process.Info = bashChild(h)
	e.Process.ArgsTruncated = true
	e.Process.End = testTime().Add(time.Second)
	e.Process.ExitCode = 130
	e.Process.HasExitCode = true
	e.Process.Parent = pythonParent(h)
	e.Process.Parent.TTY = TTY{Major: 136, Minor: 2, Valid: true}
	e.Process.Parent.ArgsTruncated = true
	e.Process.EntryLeader = leader(h, 812, "sshd", "/usr/sbin/sshd", []string{"sshd: alice [priv]"}, 5000)
	e.Process.EntryLeader.EntryMetaType = "sshd"
	e.Process.SessionLeader = leader(h, 3900, "bash", "/usr/bin/bash", []string{"-bash"}, 870000)
	e.Process.GroupLeader = leader(h, 4100, "python3.11", "/usr/bin/python3.11", []string{"/usr/bin/python3"}, 881234)
	e.Namespace = "full"
	e.Container.ID = "4e3b5f0c9d6a8e2f1b7c0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f"
	e.Container.Privileged = True
	e.Process.EnvVars = []string{"HISTFILE=/dev/null"}
	e.Process.Parent.EnvVars = []string{"LD_PRELOAD=/tmp/x.so"}
	// Only exec documents carry it; here for the fields test. Two images:
	// pty.spawn's fork, then an exec of sh before bash.
	e.Process.Previous = []Previous{
		{Executable: "/usr/bin/python3.11", Args: []string{"/usr/bin/python3"}},
		{Executable: "/usr/bin/dash", Args: []string{"sh", "-c", "exec bash"}},
	}
	alert(e, pythonTTYRule(), customShellRule())
	// As if the custom rule were a sequence this document completed.
	e.Sequences = []SequenceMatch{{RuleID: customShellRule().ID, EventIDs: []string{"mCMe5c1xN7QTX2ZpP1Jx0A", "q5m3sGvlbB4NTWYXa2G0tg"}}}
	e.Spawnbeat.ReadState = "zombie"
	e.AssignID()
	return e
}
