package ecs

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json")

func TestGolden(t *testing.T) {
	events := goldenEvents()
	names := make([]string, 0, len(events))
	for name := range events {
		names = append(names, name)
	}
	sort.Strings(names)
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, f := range files {
		stored = append(stored, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	if diff := cmp.Diff(names, stored); diff != "" && !*update {
		t.Errorf("golden files without a fixture or fixtures without a golden (-want +got):\n%s", diff)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			got := events[name].AppendJSON(nil)
			if !json.Valid(got) {
				t.Fatalf("AppendJSON produced invalid JSON:\n%s", got)
			}
			// A golden is the encoder's exact output plus a newline, compared
			// byte for byte (pretty-print with jq to review).
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, append(got[:len(got):len(got)], '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			want := strings.TrimSuffix(string(raw), "\n")
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("AppendJSON mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEncodeSemantics checks properties of the documents that goldens alone
// would let drift unnoticed.
func TestEncodeSemantics(t *testing.T) {
	events := goldenEvents()
	decode := func(t *testing.T, e *Event) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(e.AppendJSON(nil), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name  string
		event *Event
		path  string
		want  any // nil: the field must be absent
	}{
		{"timestamp is UTC RFC3339Nano", events["exec"], "@timestamp", "2026-11-27T06:30:15.123456789Z"},
		{"category", events["exec"], "event.category", []any{"process"}},
		{"type is an array", events["exec"], "event.type", []any{"start"}},
		{"dataset", events["exec"], "event.dataset", Dataset},
		{"module", events["exec"], "event.module", Module},
		{"ecs version", events["exec"], "ecs.version", Version},
		{"os type", events["exec"], "host.os.type", "linux"},
		{"args_count", events["exec"], "process.args_count", 3.0},
		{"parent args_count", events["exec_alert_one_rule"], "process.parent.args_count", 3.0},
		{"top-level user is effective user", events["exec"], "user.name", "alice"},
		{"top-level group", events["exec"], "group.id", "1000"},
		{"tty major", events["exec"], "process.tty.char_device.major", 136.0},
		{"tty minor 0 is written", events["exec"], "process.tty.char_device.minor", 0.0},
		{"interactive", events["exec"], "process.interactive", true},
		{"parent not interactive", events["exec_alert_one_rule"], "process.parent.interactive", false},
		{"namespace default", events["exec"], "data_stream.namespace", "default"},
		{"namespace set", events["exec_alert_one_rule"], "data_stream.namespace", "prod"},
		{"data stream type", events["exec"], "data_stream.type", "logs"},
		{"no rule on plain event", events["exec"], "rule", nil},
		{"no threat on plain event", events["exec"], "threat", nil},
		{"no message on plain event", events["exec"], "message", nil},
		{"no risk score on plain event", events["exec"], "event.risk_score", nil},
		{"no args_truncated when not truncated", events["exec"], "spawnbeat.process.args_truncated", nil},
		{"no parent args_truncated when not truncated", events["exec"], "spawnbeat.process.parent", nil},
		{"tty the parent's", events["exec"], "spawnbeat.process.tty.same_as_parent", true},
		{"tty not the parent's, parent has none", events["exec_alert_one_rule"], "spawnbeat.process.tty.same_as_parent", false},
		{"tty not the parent's, parent has another", events["full"], "spawnbeat.process.tty.same_as_parent", false},
		{"no tty, no comparison", events["existing"], "spawnbeat.process", nil},
		{"unknown tty, no comparison", events["exec_missing_fields"], "spawnbeat.process", nil},
		{"one rule id is scalar", events["exec_alert_one_rule"], "rule.id", "d76b02ef-fc95-4001-9297-01cb7412232f"},
		{"one rule threat is array", events["exec_alert_one_rule"], "threat.technique.subtechnique.id", []any{"T1059.006"}},
		{"kind alert", events["exec_alert_one_rule"], "event.kind", "alert"},
		{"risk score", events["exec_alert_one_rule"], "event.risk_score", 73.0},
		{"severity", events["exec_alert_one_rule"], "event.severity", 73.0},
		{"two rule ids", events["exec_alert_two_rules"], "rule.id", []any{"d76b02ef-fc95-4001-9297-01cb7412232f", "0f4a2c1e-7b8d-4c3a-9e5f-112233445566"}},
		{"two rules same license once", events["exec_alert_two_rules"], "rule.license", []any{"Elastic License v2"}},
		{"uuid of one of two rules", events["exec_alert_two_rules"], "rule.uuid", []any{"9a1f3c4e-2b7d-4e8a-b6c5-0d1e2f3a4b5c"}},
		{"two rules tactics distinct", events["exec_alert_two_rules"], "threat.tactic.id", []any{"TA0002", "TA0004"}},
		{"two rules framework once", events["exec_alert_two_rules"], "threat.framework", []any{"MITRE ATT&CK"}},
		{"two rules subtechniques", events["exec_alert_two_rules"], "threat.technique.subtechnique.id", []any{"T1059.006", "T1059.004"}},
		{"highest risk score", events["exec_alert_two_rules"], "event.risk_score", 73.0},
		{"end time", events["end"], "process.end", "2026-11-27T06:30:18.373456789Z"},
		{"exit code 0 is written", events["end"], "process.exit_code", 0.0},
		{"no exit code on exec", events["exec"], "process.exit_code", nil},
		{"existing type info", events["existing"], "event.type", []any{"info"}},
		{"missing: no args", events["exec_missing_fields"], "process.args", nil},
		{"missing: no args_count", events["exec_missing_fields"], "process.args_count", nil},
		{"missing: no name", events["exec_missing_fields"], "process.name", nil},
		{"missing: no user", events["exec_missing_fields"], "user", nil},
		{"missing: no tty", events["exec_missing_fields"], "process.tty", nil},
		{"missing: no interactive", events["exec_missing_fields"], "process.interactive", nil},
		{"missing: pid kept", events["exec_missing_fields"], "process.pid", 4300.0},
		{"missing: read state", events["exec_missing_fields"], "spawnbeat.read_state", "exited"},
		{"hostile truncated", events["hostile"], "spawnbeat.process.args_truncated", true},
		{"hostile parent truncated", events["hostile"], "spawnbeat.process.parent.args_truncated", true},
		{"hostile name sanitised", events["hostile"], "process.name", "ev\uFFFDil\n"},
		{"hostile surrogate bytes", events["hostile"], "process.working_directory", "/tmp/\uFFFD\uFFFD\uFFFDdir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lookup(decode(t, tt.event), tt.path)
			if tt.want == nil {
				if ok {
					t.Fatalf("%s = %v, want absent", tt.path, got)
				}
				return
			}
			if !ok {
				t.Fatalf("%s absent, want %v", tt.path, tt.want)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

// lookup follows a dotted path through nested objects.
func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestEncodeEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{
			name: "empty event writes only constants",
			want: `{"event":{"category":["process"],"dataset":"spawnbeat.process","module":"spawnbeat"},"ecs":{"version":"` + Version + `"},"data_stream":{"type":"logs","dataset":"spawnbeat.process","namespace":"default"}}`,
		},
		{
			name: "empty args are known and written",
			e:    Event{Process: Process{Info: Info{PID: 7, Args: []string{}}}},
			want: `{"event":{"category":["process"],"dataset":"spawnbeat.process","module":"spawnbeat"},"ecs":{"version":"` + Version + `"},"process":{"pid":7,"args":[],"args_count":0},"data_stream":{"type":"logs","dataset":"spawnbeat.process","namespace":"default"}}`,
		},
		{
			name: "parent without pid and empty objects are absent",
			e: Event{
				Host:    &Host{},
				Agent:   &Agent{},
				Process: Process{Parent: Info{Name: "orphan"}, EntryLeader: Leader{Name: "x"}},
			},
			want: `{"event":{"category":["process"],"dataset":"spawnbeat.process","module":"spawnbeat"},"ecs":{"version":"` + Version + `"},"data_stream":{"type":"logs","dataset":"spawnbeat.process","namespace":"default"}}`,
		},
		{
			name: "NaN risk score is absent, non-UTC time is converted",
			e: Event{
				Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)),
				RiskScore: math.NaN(),
			},
			want: `{"@timestamp":"2026-01-02T02:04:05Z","event":{"category":["process"],"dataset":"spawnbeat.process","module":"spawnbeat"},"ecs":{"version":"` + Version + `"},"data_stream":{"type":"logs","dataset":"spawnbeat.process","namespace":"default"}}`,
		},
		{
			name: "nil rule and rules without threats",
			e:    Event{Rules: []*Rule{nil, {ID: "a"}, {ID: "a", Name: "n"}}},
			want: `{"event":{"category":["process"],"dataset":"spawnbeat.process","module":"spawnbeat"},"ecs":{"version":"` + Version + `"},"data_stream":{"type":"logs","dataset":"spawnbeat.process","namespace":"default"},"rule":{"id":["a"],"name":["n"]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.e.AppendJSON(nil))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AppendJSON mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendJSONAppends(t *testing.T) {
	e := goldenEvents()["exec"]
	one := e.AppendJSON(nil)
	got := e.AppendJSON([]byte("prefix\n"))
	if diff := cmp.Diff("prefix\n"+string(one), string(got)); diff != "" {
		t.Errorf("AppendJSON with a non-empty dst (-want +got):\n%s", diff)
	}
}

// TestEncoder holds the Encoder to AppendJSON over every golden event, in
// turn with other host and agent values, so that a memo kept from an
// earlier event would show; and with none.
func TestEncoder(t *testing.T) {
	events := goldenEvents()
	names := make([]string, 0, len(events))
	for name := range events {
		names = append(names, name)
	}
	sort.Strings(names)
	other := &Host{Name: "other", OS: OS{Type: "linux"}}
	otherAgent := &Agent{Type: AgentType, ID: "other"}
	var enc Encoder
	for _, name := range names {
		for _, hosts := range []struct {
			host  *Host
			agent *Agent
		}{{events[name].Host, events[name].Agent}, {other, events[name].Agent}, {other, otherAgent}, {nil, nil}, {events[name].Host, events[name].Agent}} {
			e := *events[name]
			e.Host, e.Agent = hosts.host, hosts.agent
			want := e.AppendJSON(nil)
			if diff := cmp.Diff(string(want), string(enc.Append([]byte("x"), &e)[1:])); diff != "" {
				t.Fatalf("%s, host %p agent %p: Encoder (-AppendJSON +Encoder):\n%s", name, e.Host, e.Agent, diff)
			}
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello", `"hello"`},
		{"empty", "", `""`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"newline tab cr as \\u00XX", "a\nb\tc\r", `"a\u000ab\u0009c\u000d"`},
		{"nul and escape", "\x00\x1b\x1f", `"\u0000\u001b\u001f"`},
		{"DEL and space kept", "\x7f ", "\"\x7f \""},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"each invalid byte once", "\xff\xfe", `"\ufffd\ufffd"`},
		{"truncated sequence", "\xe2\x82", `"\ufffd\ufffd"`},
		{"surrogate half", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"line and paragraph separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"valid multibyte kept", "é€😀", `"é€😀"`},
		{"html kept", "<a>&", `"<a>&"`},
		{"U+FFFD kept raw", "\uFFFD", "\"\uFFFD\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendString(nil, tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("appendString(%q) (-want +got):\n%s", tt.in, diff)
			}
			var dec string
			if err := json.Unmarshal([]byte(got), &dec); err != nil {
				t.Fatalf("invalid JSON %s: %v", got, err)
			}
			if diff := cmp.Diff(sanitize(tt.in), dec); diff != "" {
				t.Errorf("decoded value (-want +got):\n%s", diff)
			}
		})
	}
}

// sanitize is what a JSON string of s must decode to: s with each byte of
// an invalid UTF-8 sequence replaced by U+FFFD, as Go's range loop (and
// encoding/json) decode it.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func TestEncodeZeroAllocs(t *testing.T) {
	events := goldenEvents()
	for _, name := range []string{"exec", "exec_alert_two_rules", "hostile", "full"} {
		t.Run(name, func(t *testing.T) {
			e := events[name]
			buf := make([]byte, 0, 64<<10)
			allocs := testing.AllocsPerRun(100, func() {
				buf = e.AppendJSON(buf[:0])
			})
			if allocs != 0 {
				t.Errorf("AppendJSON allocates %v times per event with a reused buffer, want 0", allocs)
			}
			var enc Encoder
			allocs = testing.AllocsPerRun(100, func() {
				buf = enc.Append(buf[:0], e)
			})
			if allocs != 0 {
				t.Errorf("Encoder allocates %v times per event with a reused buffer, want 0", allocs)
			}
		})
	}
}

// TestEncodeHugeArgs encodes a 1 MiB argument list that nobody truncated:
// the document must still be valid, carry every argument, and reuse dst.
func TestEncodeHugeArgs(t *testing.T) {
	e := baseEvent(ActionExec, "start", 1)
	args := make([]string, 1024)
	for i := range args {
		args[i] = strings.Repeat("\x01\"\xff", 341) // 1023 hostile bytes
	}
	e.Process.Args = args
	buf := e.AppendJSON(nil)
	if !json.Valid(buf) {
		t.Fatal("invalid JSON for 1 MiB of hostile arguments")
	}
	var got struct {
		Process struct {
			Args      []string `json:"args"`
			ArgsCount int      `json:"args_count"`
		} `json:"process"`
	}
	if err := json.Unmarshal(buf, &got); err != nil {
		t.Fatal(err)
	}
	want := make([]string, len(args))
	for i, a := range args {
		want[i] = sanitize(a)
	}
	if diff := cmp.Diff(want, got.Process.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if got.Process.ArgsCount != len(args) {
		t.Errorf("args_count = %d, want %d", got.Process.ArgsCount, len(args))
	}
	if allocs := testing.AllocsPerRun(5, func() { buf = e.AppendJSON(buf[:0]) }); allocs != 0 {
		t.Errorf("AppendJSON allocates %v times with a reused buffer, want 0", allocs)
	}
}

func BenchmarkEncode(b *testing.B) {
	events := goldenEvents()
	for _, name := range []string{"exec", "exec_alert_one_rule", "exec_alert_two_rules", "hostile"} {
		b.Run(name, func(b *testing.B) {
			e := events[name]
			var enc Encoder // as the capture goroutine encodes
			buf := enc.Append(nil, e)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				buf = enc.Append(buf[:0], e)
			}
		})
	}
}

func BenchmarkAssignID(b *testing.B) {
	e := goldenEvents()["exec"]
	b.ReportAllocs()
	for b.Loop() {
		e.AssignID()
	}
}

// TestPlainASCII8 checks the 8-byte fast path against the byte-wise rule
// for every byte value in every position.
func TestPlainASCII8(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			want := plain(byte(c))
			if got := plainASCII8(load64(string(b))); got != want {
				t.Fatalf("plainASCII8(%q) = %v, want %v", b, got, want)
			}
		}
	}
}
