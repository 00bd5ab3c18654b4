package ecs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzEncode feeds attacker-controlled strings (argv, executable, cwd, user
// name, rule text) through AppendJSON and checks that the document is valid
// JSON and that encoding/json decodes each string back to its sanitised
// form (invalid UTF-8 bytes as U+FFFD).
func FuzzEncode(f *testing.F) {
	f.Add("python3", "-c", `import pty; pty.spawn("/bin/bash")`, "/tmp", "alice")
	f.Add("bad\xff\xfe", "\x00\x01\x1f", "\u2028\u2029", "\xed\xa0\x80", "\"\\")
	f.Add("", "", "", "", "")
	f.Add("é€😀", "\xe2\x82", "</script>", "\x7f", strings.Repeat("a", 300))
	f.Fuzz(func(t *testing.T, a0, a1, a2, cwd, user string) {
		e := baseEvent(ActionExec, "start", 1)
		e.Process.Info = bashChild(testHost().ID)
		e.Process.Parent = pythonParent(testHost().ID)
		alert(e, pythonTTYRule())
		e.Process.Args = []string{a0, a1, a2}
		e.Process.CommandLine = a0 + " " + a1 + " " + a2
		e.Process.Name = a0
		e.Process.WorkingDirectory = cwd
		e.Process.User.Name = user
		e.Process.Parent.Args = []string{a2, a1}
		e.Message = a1
		e.Rules[0].Description = a2
		buf := e.AppendJSON(make([]byte, 0, 16))
		if !json.Valid(buf) {
			t.Fatalf("invalid JSON:\n%q", buf)
		}
		var got struct {
			Message string `json:"message"`
			Process struct {
				Name             string   `json:"name"`
				Args             []string `json:"args"`
				ArgsCount        int      `json:"args_count"`
				CommandLine      string   `json:"command_line"`
				WorkingDirectory string   `json:"working_directory"`
				User             struct {
					Name string `json:"name"`
				} `json:"user"`
				Parent struct {
					Args []string `json:"args"`
				} `json:"parent"`
			} `json:"process"`
			Rule struct {
				Description string `json:"description"`
			} `json:"rule"`
		}
		if err := json.Unmarshal(buf, &got); err != nil {
			t.Fatalf("decode: %v\n%q", err, buf)
		}
		want := got
		want.Message = sanitize(a1)
		want.Process.Name = sanitize(a0)
		want.Process.Args = []string{sanitize(a0), sanitize(a1), sanitize(a2)}
		want.Process.ArgsCount = 3
		want.Process.CommandLine = sanitize(a0 + " " + a1 + " " + a2)
		want.Process.WorkingDirectory = sanitize(cwd)
		want.Process.User.Name = sanitize(user)
		want.Process.Parent.Args = []string{sanitize(a2), sanitize(a1)}
		want.Rule.Description = sanitize(a2)
		// Fields that are empty strings are absent, which decodes as "".
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("decoded document (-want +got):\n%s", diff)
		}
		// encoding/json must agree with the hand-written escaper.
		ref, err := json.Marshal(a1)
		if err != nil {
			t.Fatal(err)
		}
		var refDec string
		if err := json.Unmarshal(ref, &refDec); err != nil {
			t.Fatal(err)
		}
		if refDec != sanitize(a1) {
			t.Errorf("encoding/json sanitises %q to %q, sanitize gives %q", a1, refDec, sanitize(a1))
		}
	})
}

// FuzzParseOSRelease checks that any os-release content parses without
// panicking and that every parsed key is a valid variable name.
func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nID=debian\n"))
	f.Add([]byte("# comment\n\nNAME='single'\nBAD LINE\n=novalue\nX=\"esc\\\"aped\\\\\"\n"))
	f.Add([]byte("A=\"\nB=\"\\"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range ParseOSRelease(b) {
			if !validEnvName(k) {
				t.Errorf("parsed invalid key %q", k)
			}
		}
	})
}
