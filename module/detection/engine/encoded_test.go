package engine_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	spawnbeat "github.com/spawnbeat/spawnbeat"
	"github.com/spawnbeat/spawnbeat/internal/fields"
	"github.com/spawnbeat/spawnbeat/module/detection"
	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/eql"
	"github.com/spawnbeat/spawnbeat/module/detection/rules"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// The documents below are of every kind spawnbeat writes, built as capture
// builds them, and the alerts among them tagged by the real detection
// stage with real rules. The tests encode them with the real encoder and
// hold the ECS resolver (what the agent's rules read) to the JSON (what
// `rules test` and Elasticsearch read).

var docTime = time.Date(2026, 11, 27, 6, 30, 15, 123456789, time.UTC)

func docHost() *ecs.Host {
	return &ecs.Host{
		Name: "build-01", Hostname: "build-01", ID: "3d1219c7c4c5404aaa1f6d2a48adfda4", Architecture: "x86_64",
		IP: []string{"10.0.2.15", "fe80::5054:ff:fe12:3456"}, MAC: []string{"52-54-00-12-34-56"},
		OS: ecs.OS{Type: "linux", Family: "debian", Name: "Debian GNU/Linux", Platform: "debian", Version: "12.8",
			Kernel: "6.1.0-28-amd64", Full: "Debian GNU/Linux 12 (bookworm)"},
	}
}

func docAgent() *ecs.Agent {
	return &ecs.Agent{Type: ecs.AgentType, Version: "0.1.0", ID: "6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c10",
		Name: "build-01", EphemeralID: "0b8f2f6a-9f6e-4d2c-8a43-5c1e7d9b3a21"}
}

func alice() (ecs.ID, ecs.ID) {
	return ecs.ID{ID: "1000", Name: "alice"}, ecs.ID{ID: "1000", Name: "alice"}
}

func docInfo(pid int, name, exe string, args ...string) ecs.Info {
	u, g := alice()
	return ecs.Info{
		PID: pid, EntityID: ecs.EntityID("3d1219c7", pid, uint64(pid)*10), Name: name, Executable: exe,
		Args: args, CommandLine: strings.Join(args, " "), WorkingDirectory: "/home/alice",
		Start: docTime.Add(-time.Duration(pid) * time.Millisecond),
		User:  u, Group: g, RealUser: u, RealGroup: g, Interactive: ecs.False,
	}
}

func docLeader(pid int, name, exe string, args ...string) ecs.Leader {
	return ecs.Leader{PID: pid, EntityID: ecs.EntityID("3d1219c7", pid, 5), Name: name, Executable: exe, Args: args,
		Start: docTime.Add(-time.Hour), SameAsProcess: ecs.False}
}

// docEvent is a document as capture makes it: kernel time, host, agent,
// the process table's read state.
func docEvent(action, typ string, seq uint64, p ecs.Info) *ecs.Event {
	e := &ecs.Event{
		Timestamp: docTime.Add(time.Duration(seq) * time.Millisecond),
		Event: ecs.Meta{Kind: ecs.KindEvent, Type: typ, Action: action,
			Created: docTime.Add(time.Duration(seq)*time.Millisecond + 180*time.Microsecond), Sequence: seq},
		Host: docHost(), Agent: docAgent(), Namespace: "prod",
		Spawnbeat: ecs.Extra{ReadState: "complete"},
	}
	e.Process.Info = p
	return e
}

const (
	// docRuleTOML is a user rule whose threats overlap the built-in
	// Python-tty rule's (same tactic and technique, another
	// sub-technique, and a second tactic), so that several-rule alerts
	// show threat.* de-duplicated across rules.
	docRuleTOML = `[rule]
author = ["ACME SOC", "Elastic"]
description = "A shell started by a scripting interpreter."
license = "MIT"
name = "Shell Spawned by Interpreter"
risk_score = 47
rule_id = "0f4a2c1e-7b8d-4c3a-9e5f-112233445566"
severity = "medium"
type = "eql"
language = "eql"
version = 3
references = ["https://example.com/shells", "https://example.com/other"]
query = 'process where event.type == "start" and process.name == "bash" and process.parent.name : "python*"'

[[rule.threat]]
framework = "MITRE ATT&CK"
[rule.threat.tactic]
id = "TA0002"
name = "Execution"
reference = "https://attack.mitre.org/tactics/TA0002/"
[[rule.threat.technique]]
id = "T1059"
name = "Command and Scripting Interpreter"
reference = "https://attack.mitre.org/techniques/T1059/"
[[rule.threat.technique.subtechnique]]
id = "T1059.004"
name = "Unix Shell"
reference = "https://attack.mitre.org/techniques/T1059/004/"

[[rule.threat]]
framework = "MITRE ATT&CK"
[rule.threat.tactic]
id = "TA0004"
name = "Privilege Escalation"
reference = "https://attack.mitre.org/tactics/TA0004/"
`
	// docSequenceTOML completes on a shell that follows a downloader under
	// the same parent.
	docSequenceTOML = `[rule]
author = ["ACME SOC"]
description = "curl, then a shell, under the same parent."
license = "MIT"
name = "Download Then Shell"
risk_score = 73
rule_id = "9a1b2c3d-0000-4000-8000-00000000seq1"
severity = "high"
type = "eql"
language = "eql"
version = 1
query = '''
sequence by host.id, process.parent.entity_id with maxspan=5s
  [process where event.type == "start" and process.name == "curl"]
  [process where event.type == "start" and process.name == "dash"]
'''
`
)

type namedDoc struct {
	name string
	ev   *ecs.Event
}

// documents returns documents of every kind, the alerts tagged by a real
// Detector running the built-in rules and the two rules above.
func documents(t *testing.T) []namedDoc {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"interpreter.toml": docRuleTOML, "sequence.toml": docSequenceTOML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set, err := rules.Load(rules.Options{Paths: []string{dir}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	det, err := detection.New(set, detection.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sshd := docLeader(812, "sshd", "/usr/sbin/sshd", "sshd: alice [priv]")
	sshd.EntryMetaType = "sshd"
	login := docLeader(3900, "bash", "/usr/bin/bash", "-bash")
	shell := docInfo(3900, "bash", "/usr/bin/bash", "-bash")
	shell.TTY, shell.Interactive = ecs.TTY{Major: 136, Minor: 0, Valid: true}, ecs.True
	python := docInfo(4100, "python3.11", "/usr/bin/python3.11", "/usr/bin/python3", "-c", `import pty; pty.spawn("/bin/bash")`)
	var docs []namedDoc
	add := func(name string, e *ecs.Event, wantRules int) {
		t.Helper()
		e.AssignID()
		det.Evaluate(e)
		if len(e.Rules) != wantRules {
			t.Fatalf("%s: %d rules matched, want %d", name, len(e.Rules), wantRules)
		}
		docs = append(docs, namedDoc{name, e})
	}

	// ls in a login shell on pts/0: terminal 136/0 (a minor of 0 is a
	// value), every leader, the image bash had before the exec, an
	// environment variable, a container.
	ls := docInfo(4200, "ls", "/usr/bin/ls", "ls", "-la", "/var/log")
	ls.TTY, ls.Interactive, ls.EnvVars = shell.TTY, ecs.True, []string{"HISTFILE=/dev/null"}
	exec := docEvent(ecs.ActionExec, "start", 1001, ls)
	exec.Process.Parent = shell
	exec.Process.Parent.EnvVars = []string{"LD_PRELOAD=/tmp/x.so"}
	exec.Process.Previous = []ecs.Previous{{Executable: "/usr/bin/bash", Args: []string{"-bash"}}}
	exec.Process.EntryLeader, exec.Process.SessionLeader = sshd, login
	exec.Process.GroupLeader = docLeader(4200, "ls", "/usr/bin/ls", "ls", "-la", "/var/log")
	exec.Process.GroupLeader.SameAsProcess = ecs.True
	exec.Container = ecs.Container{ID: "4e3b5f0c9d6a8e2f1b7c0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f", Privileged: ecs.False}
	add("exec", exec, 0)

	// A process reaped before spawnbeat read it: pid and parent only; an
	// empty argv (args [] and args_count 0) on the parent; two earlier
	// images; the argument lists cut at the cap.
	gone := docEvent(ecs.ActionExec, "start", 1002, ecs.Info{PID: 4300})
	gone.Spawnbeat.ReadState = "exited"
	gone.Process.Parent = docInfo(4299, "runner", "/opt/runner")
	gone.Process.Parent.Args, gone.Process.Parent.ArgsTruncated = []string{}, true
	gone.Process.ArgsTruncated = true
	gone.Process.Previous = []ecs.Previous{{Executable: "/usr/bin/python3.11", Args: []string{"python3"}}, {Executable: "/usr/bin/dash"}}
	gone.Namespace = "" // data_stream.namespace is then "default"
	add("exec/exited", gone, 0)

	// Strings an attacker controls (valid UTF-8: invalid bytes become
	// U+FFFD in JSON, which the agent's rules do not see).
	hostile := docInfo(6666, "ev\"il\n", "/tmp/\x01ev il\\", "/tmp/x\"\\y", "\x1b[31mred\u2028", "</script> é")
	hostile.User.Name = "al\u2028ice"
	add("exec/hostile", docEvent(ecs.ActionExec, "start", 1003, hostile), 0)

	// A shell's exit with status 0 (a value, not absent).
	bash := docInfo(4101, "bash", "/usr/bin/bash", "/bin/bash")
	end := docEvent(ecs.ActionEnd, "end", 1004, bash)
	end.Process.Parent = python
	end.Process.End, end.Process.HasExitCode = docTime.Add(3*time.Second), true
	add("end", end, 0)

	existing := docEvent(ecs.ActionExisting, "info", 1, docInfo(812, "sshd", "/usr/sbin/sshd", "sshd: /usr/sbin/sshd -D"))
	existing.Process.Parent = ecs.Info{PID: 1, Name: "systemd", Executable: "/usr/lib/systemd/systemd", Args: []string{"/sbin/init"}}
	existing.Process.EntryLeader = docLeader(1, "systemd", "/usr/lib/systemd/systemd", "/sbin/init")
	existing.Process.EntryLeader.EntryMetaType = "init"
	add("existing", existing, 0)

	fork := docEvent(ecs.ActionFork, "start", 1005, python)
	fork.Process.PID, fork.Process.EntityID = 4102, ecs.EntityID("3d1219c7", 4102, 1)
	fork.Process.Parent = python
	add("fork", fork, 0)

	// Branch 1 of the Python-tty rule, dash with no terminal: that rule alone.
	one := docEvent(ecs.ActionExec, "start", 1006, docInfo(4103, "dash", "/usr/bin/dash", "/bin/sh"))
	one.Process.Parent = python
	add("alert/one rule", one, 1)

	// The same on a new pseudo-terminal in its own session: both built-in
	// rules and the user rule.
	several := docEvent(ecs.ActionExec, "start", 1007, bash)
	several.Process.TTY, several.Process.Interactive = ecs.TTY{Major: 136, Minor: 4, Valid: true}, ecs.True
	several.Process.Parent = python
	several.Process.SessionLeader = docLeader(4101, "bash", "/usr/bin/bash", "/bin/bash")
	several.Process.SessionLeader.SameAsProcess = ecs.True
	add("alert/several rules", several, 3)

	// curl, then dash under the same parent: the sequence rule completes
	// on dash, whose document names curl's.
	first := docEvent(ecs.ActionExec, "start", 1008, docInfo(4400, "curl", "/usr/bin/curl", "curl", "-O", "x"))
	first.Process.Parent = shell
	add("sequence/first", first, 0)
	second := docEvent(ecs.ActionExec, "start", 1009, docInfo(4401, "dash", "/usr/bin/dash", "sh", "x"))
	second.Process.Parent = shell
	add("alert/sequence", second, 1)
	if len(second.Sequences) != 1 || len(second.Sequences[0].EventIDs) != 1 {
		t.Fatalf("sequence alert: spawnbeat.sequence = %+v, want one sequence naming curl's document", second.Sequences)
	}

	// Values set where the document says the object is absent: a parent
	// and leaders with PID 0, a terminal that is not valid, an exit code
	// not set, a privilege without a container. None may show through.
	ghost := docEvent(ecs.ActionExec, "start", 1010, docInfo(4500, "true", "/usr/bin/true", "true"))
	ghost.Process.Parent = docInfo(0, "ghost", "/ghost", "ghost")
	ghost.Process.Parent.ArgsTruncated = true
	ghost.Process.EntryLeader = docLeader(0, "ghost", "/ghost", "ghost")
	ghost.Process.TTY = ecs.TTY{Major: 4, Minor: 1}
	ghost.Process.ExitCode = 3
	ghost.Container.Privileged = ecs.True
	ghost.Host, ghost.Agent = nil, nil
	add("absent objects", ghost, 0)

	docs = append(docs, namedDoc{"zero", &ecs.Event{}})
	return docs
}

// encodeJSON encodes e with the agent's encoder and decodes it as `rules
// test` does.
func encodeJSON(tb testing.TB, e *ecs.Event) map[string]any {
	tb.Helper()
	var enc ecs.Encoder
	b := enc.Append(nil, e)
	if plain := e.AppendJSON(nil); !bytes.Equal(b, plain) {
		tb.Fatalf("Encoder.Append and AppendJSON differ:\n%s\n%s", b, plain)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		tb.Fatalf("decode %s: %v", b, err)
	}
	return doc
}

// scalars lists a Value's scalar values: an array of one and a scalar
// behave the same under every operator, as Elasticsearch indexes them.
func scalars(v engine.Value) []engine.Value {
	out := make([]engine.Value, v.Len())
	for i := range out {
		out[i] = v.At(i)
	}
	return out
}

// jsonLeaves lists the dotted names of the values a decoded document
// holds (arrays of objects flattened, as Elasticsearch maps them).
func jsonLeaves(prefix string, v any, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			jsonLeaves(prefix+k+".", c, out)
		}
	case []any:
		for _, c := range v {
			jsonLeaves(prefix, c, out)
		}
		if len(v) == 0 {
			out[strings.TrimSuffix(prefix, ".")] = true
		}
	default:
		out[strings.TrimSuffix(prefix, ".")] = true
	}
}

func declaredLeaves(tb testing.TB) []string {
	tb.Helper()
	leaves, err := fields.Parse(spawnbeat.FieldsYAML)
	if err != nil {
		tb.Fatal(err)
	}
	names := make([]string, len(leaves))
	for i, l := range leaves {
		names[i] = l.Name
	}
	sort.Strings(names)
	return names
}

// TestResolverMatchesEncoder: for every field _meta/fields.yml declares
// and every document, the ECS resolver (and its direct readers) return
// exactly what the encoded document holds; every field a document holds is
// declared; and every declared field holds a value in some document, so
// that no comparison is empty.
func TestResolverMatchesEncoder(t *testing.T) {
	declared := declaredLeaves(t)
	ecsR, jsonR := engine.ECS(), engine.JSON()
	seen := map[string]bool{}
	for _, d := range documents(t) {
		t.Run(d.name, func(t *testing.T) {
			doc := encodeJSON(t, d.ev)
			held := map[string]bool{}
			jsonLeaves("", doc, held)
			for name := range held {
				if _, ok := slices.BinarySearch(declared, name); !ok {
					t.Errorf("the document holds %s, which _meta/fields.yml does not declare", name)
				}
			}
			for _, name := range declared {
				ef, filled := ecsR.Field(name)
				if !filled {
					t.Errorf("%s: declared, but the ECS resolver does not fill it (go generate ./module/detection/engine)", name)
					continue
				}
				jf, _ := jsonR.Field(name)
				want := scalars(jf.Get(doc))
				if diff := cmp.Diff(want, scalars(ef.Get(d.ev))); diff != "" {
					t.Errorf("%s: resolver and document differ (-json +ecs):\n%s", name, diff)
				}
				if direct, ok := directValue(ef, d.ev); ok {
					if diff := cmp.Diff(want, scalars(direct)); diff != "" {
						t.Errorf("%s: direct reader and document differ (-json +direct):\n%s", name, diff)
					}
				}
				seen[name] = seen[name] || len(want) > 0
			}
		})
	}
	var never []string
	for _, name := range declared {
		if !seen[name] {
			never = append(never, name)
		}
	}
	if len(never) > 0 {
		t.Errorf("declared fields that no test document holds (add one that does): %v", never)
	}
}

// directValue reads f through the direct reader the compiler prefers.
func directValue(f engine.Field[*ecs.Event], e *ecs.Event) (engine.Value, bool) {
	switch {
	case f.String != nil:
		return engine.StringValue(f.String(e)), true
	case f.Strings != nil:
		return engine.StringsValue(f.Strings(e)), true
	case f.Number != nil:
		if n, ok := f.Number(e); ok {
			return engine.NumberValue(n), true
		}
		return engine.Value{}, true
	}
	return engine.Value{}, false
}

// TestCorpusAgreesOnEncodedDocuments runs every single-event corpus rule
// on each document through both resolvers: the agent (the typed event)
// and `rules test` (its encoded JSON) must decide the same.
func TestCorpusAgreesOnEncodedDocuments(t *testing.T) {
	docs := documents(t)
	docs = append(docs, namedDoc{"tty", ttyEvent()}, namedDoc{"ls", lsEvent()}, namedDoc{"newpty", newPTYEvent()})
	encoded := make([]map[string]any, len(docs))
	for i, d := range docs {
		encoded[i] = encodeJSON(t, d.ev)
	}
	for _, r := range loadCorpus(t) {
		q, err := eql.Parse(r.Query)
		if err != nil {
			continue // sequences; TestCorpusConformance covers them
		}
		ep, err := engine.Compile(q, engine.ECS())
		if err != nil {
			t.Fatalf("%s: %v", r.File, err)
		}
		jp, err := engine.Compile(q, engine.JSON())
		if err != nil {
			t.Fatalf("%s: %v", r.File, err)
		}
		for i, d := range docs {
			if got, want := ep.Match(d.ev), jp.Match(encoded[i]); got != want {
				t.Errorf("%s on %s: ECS %v, JSON %v", r.File, d.name, got, want)
			}
		}
	}
}

// TestNewlyResolvedFields: rules on the fields the resolver lacked before
// fields.yml generated it match the same documents in the agent (the typed
// event) and in `rules test` (its JSON), and match some.
func TestNewlyResolvedFields(t *testing.T) {
	docs := documents(t)
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{`process where spawnbeat.read_state == "exited"`, []string{"exec/exited"}},
		{`process where spawnbeat.process.args_truncated == true and spawnbeat.process.parent.args_truncated == true`, []string{"exec/exited"}},
		{`process where process.parent.env_vars : "LD_PRELOAD=*"`, []string{"exec"}},
		{`process where rule.name == "Shell Spawned by Interpreter" and rule.ruleset == "spawnbeat"`, []string{"alert/several rules"}},
		{`process where threat.tactic.id == "TA0004" and threat.technique.subtechnique.id == "T1059.006"`, []string{"alert/several rules"}},
		{`process where threat.framework == "MITRE ATT&CK" and not threat.tactic.id == "TA0004"`, []string{"alert/one rule"}},
		{`process where spawnbeat.sequence.rule_id == "9a1b2c3d-0000-4000-8000-00000000seq1" and spawnbeat.sequence.event_ids != null`, []string{"alert/sequence"}},
		{`process where data_stream.namespace == "default" and host.os.type == "linux"`, []string{"exec/exited"}},
	} {
		q, err := eql.Parse(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := engine.Compile(q, engine.ECS())
		if err != nil {
			t.Fatal(err)
		}
		jp, err := engine.Compile(q, engine.JSON())
		if err != nil {
			t.Fatal(err)
		}
		if len(ep.Unresolved()) != 0 {
			t.Errorf("%s: unresolved %v", tt.query, ep.Unresolved())
		}
		var ecsGot, jsonGot []string
		for _, d := range docs {
			if ep.Match(d.ev) {
				ecsGot = append(ecsGot, d.name)
			}
			if jp.Match(encodeJSON(t, d.ev)) {
				jsonGot = append(jsonGot, d.name)
			}
		}
		if diff := cmp.Diff(tt.want, ecsGot); diff != "" {
			t.Errorf("%s: agent (-want +got):\n%s", tt.query, diff)
		}
		if diff := cmp.Diff(tt.want, jsonGot); diff != "" {
			t.Errorf("%s: rules test (-want +got):\n%s", tt.query, diff)
		}
	}
}

// TestGeneratedReadersCurrent fails when ecs_fields_gen.go is not what
// `go generate` would write from _meta/fields.yml today (the generator runs
// in the test, on the embedded file).
func TestGeneratedReadersCurrent(t *testing.T) {
	want, err := fields.Generate(spawnbeat.FieldsYAML)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("ecs_fields_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("ecs_fields_gen.go is stale: run go generate ./module/detection/engine (-want +got):\n%s", diff)
	}
}
