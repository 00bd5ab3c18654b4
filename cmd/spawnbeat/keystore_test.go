package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/config/keystore"
)

// keystoreCLI runs `spawnbeat keystore ARGS` in-process on home, with stdin.
func keystoreCLI(t *testing.T, home string, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code = runWithInput(append(append([]string{"keystore"}, args...), "--path.home", home), stdin, &out, &errb)
	return out.String(), errb.String(), code
}

func secrets(t *testing.T, home string) map[string]string {
	t.Helper()
	ks, err := keystore.Open(filepath.Join(home, "data", keystore.FileName), true)
	if err != nil {
		t.Fatal(err)
	}
	return ks.Values()
}

func TestKeystoreCommands(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "data", keystore.FileName)
	step := func(name string, stdin string, args []string, wantCode int, wantOut, wantErr string) {
		t.Helper()
		out, errOut, code := keystoreCLI(t, home, strings.NewReader(stdin), args...)
		if code != wantCode || !strings.Contains(out, wantOut) || !strings.Contains(errOut, wantErr) {
			t.Errorf("%s: keystore %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				name, args, code, out, errOut, wantCode, wantOut, wantErr)
		}
	}

	step("list without a keystore", "", []string{"list"}, 0, "", "no keystore at "+path)
	step("add without a keystore", "v\n", []string{"add", "ES_PWD", "--stdin"}, 1, "", "the keystore "+path+" does not exist")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("add without --force created the keystore: %v", err)
	}
	step("add --force creates it", "first\n", []string{"add", "ES_PWD", "--stdin", "--force"}, 0, "Created spawnbeat keystore ("+path+")\nSuccessfully updated the keystore\n", "")
	step("add an existing key", "second\n", []string{"add", "ES_PWD", "--stdin"}, 1, "", "the setting ES_PWD already exists in the keystore: use --force to replace it")
	if got := secrets(t, home)["ES_PWD"]; got != "first" {
		t.Errorf("value after a refused add = %q, want first", got)
	}
	step("add --force replaces", "second\r\n", []string{"add", "ES_PWD", "--stdin", "--force"}, 0, "Successfully updated the keystore", "")
	step("add another", "two\nlines\n\n", []string{"add", "TOKEN", "--stdin"}, 0, "Successfully updated the keystore", "")
	if diff := cmp.Diff(map[string]string{"ES_PWD": "second", "TOKEN": "two\nlines\n"}, secrets(t, home)); diff != "" {
		t.Errorf("values (-want +got): one trailing newline dropped, nothing else:\n%s", diff)
	}
	out, _, code := keystoreCLI(t, home, nil, "list")
	if code != 0 || out != "ES_PWD\nTOKEN\n" {
		t.Errorf("list: exit %d, %q: want the keys, sorted, and never a value", code, out)
	}

	step("remove with a missing key", "", []string{"remove", "TOKEN", "NOPE"}, 1, "", "could not find key 'NOPE' in the keystore; nothing removed")
	step("remove", "", []string{"remove", "TOKEN"}, 0, "successfully removed key: TOKEN\n", "")
	if diff := cmp.Diff(map[string]string{"ES_PWD": "second"}, secrets(t, home)); diff != "" {
		t.Errorf("after remove (-want +got):\n%s", diff)
	}
	step("remove nothing", "", []string{"remove"}, 1, "", "you must supply at least one key to remove")

	step("create over an existing one", "", []string{"create"}, 1, "", "a keystore already exists at "+path+": keystore already exists; use --force to overwrite it")
	if len(secrets(t, home)) != 1 {
		t.Error("create without --force changed the keystore")
	}
	step("create --force", "", []string{"create", "--force"}, 0, "Created spawnbeat keystore ("+path+")", "")
	if len(secrets(t, home)) != 0 {
		t.Error("create --force left keys")
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("keystore mode: %v, %v; want 0600", st.Mode(), err)
	}

	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		wantErr string
	}{
		{"no key", "v", []string{"add", "--stdin"}, "failed to create the secret: no key provided"},
		{"two keys", "v", []string{"add", "A", "B", "--stdin"}, "could not create secret for: A B: you can only provide one key per invocation"},
		{"bad key", "v", []string{"add", "a.b", "--stdin"}, `"a.b": a key is a letter or _, then letters, digits, _ and -`},
		{"a setting's name", "v", []string{"add", "name", "--stdin"}, `"name" is the name of a setting`},
		{"empty value", "\n", []string{"add", "EMPTY", "--stdin"}, "EMPTY: empty value"},
		{"no terminal", "v\n", []string{"add", "PROMPTED"}, "could not read the value of PROMPTED: stdin is not a terminal; pass it on stdin with --stdin"},
		{"value too long", strings.Repeat("x", keystore.MaxValueLen+1), []string{"add", "BIG", "--stdin"}, "value longer than 64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := keystoreCLI(t, home, strings.NewReader(tc.stdin), tc.args...)
			if code != statusError || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 with %q", code, out, errOut, tc.wantErr)
			}
		})
	}
	if len(secrets(t, home)) != 0 {
		t.Error("a refused add changed the keystore")
	}
}

func TestKeystoreRefusesBadFiles(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "data", keystore.FileName)
	if _, errOut, code := keystoreCLI(t, home, strings.NewReader("v"), "add", "ES_PWD", "--stdin", "--force"); code != 0 {
		t.Fatal(errOut)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"remove", "ES_PWD"}, {"add", "X", "--stdin"}} {
		_, errOut, code := keystoreCLI(t, home, strings.NewReader("v"), args...)
		if code != statusError || !strings.Contains(errOut, "can be read or written by group or others (mode 0644)") || !strings.Contains(errOut, "chmod 600") {
			t.Errorf("%v on a 0644 keystore: exit %d, stderr %q", args, code, errOut)
		}
	}
	if out, errOut, code := keystoreCLI(t, home, nil, "list", "--strict.perms=false"); code != 0 || out != "ES_PWD\n" {
		t.Errorf("list --strict.perms=false: exit %d, %q %q", code, out, errOut)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("spawnbeat keystore v1\nnot base64 at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := keystoreCLI(t, home, nil, "list")
	if code != statusError || !strings.Contains(errOut, path+": damaged") {
		t.Errorf("list on a damaged keystore: exit %d, stderr %q", code, errOut)
	}
	// create --force does not need to read what it replaces.
	if _, errOut, code := keystoreCLI(t, home, nil, "create", "--force"); code != 0 {
		t.Errorf("create --force over a damaged keystore: %s", errOut)
	}
}

// TestKeystoreFollowsPathData checks that the keystore is where the agent
// looks for it: path.data from the flag, -E or the configuration file.
func TestKeystoreFollowsPathData(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "spawnbeat.yml")
	if err := os.WriteFile(cfg, []byte("path.data: "+filepath.Join(dir, "fromfile")+"\noutput.elasticsearch.password: ${NOT_ADDED_YET}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--path.data", filepath.Join(dir, "flag")}, filepath.Join(dir, "flag")},
		{[]string{"-E", "path.data=" + filepath.Join(dir, "override")}, filepath.Join(dir, "override")},
		{[]string{"-c", cfg}, filepath.Join(dir, "fromfile")},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"keystore", "add", "K", "--stdin", "--force"}, tc.args...)
		if code := runWithInput(args, strings.NewReader("v"), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errb.String())
		}
		if _, err := os.Stat(filepath.Join(tc.want, keystore.FileName)); err != nil {
			t.Errorf("%v: keystore not in %s: %v", tc.args, tc.want, err)
		}
	}
}
