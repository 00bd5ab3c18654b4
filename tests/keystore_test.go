package tests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/config/keystore"
	"github.com/spawnbeat/spawnbeat/internal/testenv"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// spawnbeatIn runs the binary with home as path.home and stdin.
func spawnbeatIn(t *testing.T, home, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(binary, append(args, "--path.home", home)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run spawnbeat %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// keystoreConfig sends the events to srv with the password from the
// keystore, as the README tells a user to.
func keystoreConfig(srv *esserver.Server) string {
	return fmt.Sprintf(`
spawnbeat:
  capture:
    scan_existing: false
output.elasticsearch:
  hosts: ["%s"]
  username: elastic
  password: "${ES_PWD}"
  backoff.init: 100ms
  backoff.max: 2s
logging.level: debug
logging.json: false
`, srv.URL())
}

// TestKeystoreCommandsAndConfig runs the keystore commands of the real
// binary, then `test output` and `export config` with the password in the
// keystore, against a test server that checks it. No root needed.
func TestKeystoreCommandsAndConfig(t *testing.T) {
	secret := fmt.Sprintf("ks-%d-Pa55", time.Now().UnixNano())
	srv := startES(t, esserver.Options{Username: "elastic", Password: secret})
	home := t.TempDir()
	cfg := filepath.Join(home, "spawnbeat.yml")
	if err := os.WriteFile(cfg, []byte(keystoreConfig(srv)), 0o600); err != nil {
		t.Fatal(err)
	}
	ksPath := filepath.Join(home, "data", keystore.FileName)

	// The configuration names ${ES_PWD} before the key exists: a clear
	// error with file, line and key, and the keystore commands still work.
	_, errOut, code := spawnbeatIn(t, home, "", "test", "config", "-c", cfg)
	if want := cfg + ":8: output.elasticsearch.password: ${ES_PWD} is not defined: no key ES_PWD in the keystore, no environment variable ES_PWD"; code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("test config without the key: exit %d, stderr %q; want %q", code, errOut, want)
	}
	if out, errOut, code := spawnbeatIn(t, home, "", "keystore", "create", "-c", cfg); code != 0 || !strings.Contains(out, "Created spawnbeat keystore ("+ksPath+")") {
		t.Fatalf("keystore create: exit %d: %s%s", code, out, errOut)
	}
	if out, errOut, code := spawnbeatIn(t, home, secret+"\n", "keystore", "add", "ES_PWD", "--stdin", "-c", cfg); code != 0 || !strings.Contains(out, "Successfully updated the keystore") {
		t.Fatalf("keystore add: exit %d: %s%s", code, out, errOut)
	}
	if st, err := os.Stat(ksPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keystore %s: %v, mode %v; want 0600", ksPath, err, st.Mode())
	}
	if raw, _ := os.ReadFile(ksPath); bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the secret is readable in the keystore file")
	}
	if out, _, code := spawnbeatIn(t, home, "", "keystore", "list", "-c", cfg); code != 0 || out != "ES_PWD\n" {
		t.Fatalf("keystore list: exit %d, %q", code, out)
	}

	var all strings.Builder
	run := func(args ...string) (string, int) {
		out, errOut, code := spawnbeatIn(t, home, "", append(args, "-c", cfg)...)
		all.WriteString(out + errOut)
		return out + errOut, code
	}
	if out, code := run("test", "config"); code != 0 {
		t.Fatalf("test config: exit %d: %s", code, out)
	}
	// The server accepts only the keystore's password: OK means it got there.
	if out, code := run("setup", "--index-management"); code != 0 {
		t.Errorf("setup: exit %d:\n%s", code, out)
	}
	if out, code := run("test", "output"); code != 0 || !strings.Contains(out, "auth... OK (elastic") {
		t.Errorf("test output: exit %d:\n%s", code, out)
	}
	// In a URL too, where export must print the reference.
	withURL := fmt.Sprintf(`output.elasticsearch.hosts=["http://elastic:${ES_PWD}@%s"]`, strings.TrimPrefix(srv.URL(), "http://"))
	if out, code := run("test", "output", "-E", withURL, "-E", "output.elasticsearch.username=", "-E", "output.elasticsearch.password="); code != 0 || !strings.Contains(out, "write to "+esDataStream+"... OK") {
		t.Errorf("test output with the password in the URL: exit %d:\n%s", code, out)
	}
	out, code := run("export", "config", "-E", withURL)
	if code != 0 || !strings.Contains(out, "http://elastic:${ES_PWD}@") || !strings.Contains(out, "password: xxxxx") {
		t.Errorf("export config: exit %d, want the reference and the mask:\n%s", code, out)
	}
	// The wrong password from the keystore: refused, and not shown.
	if out, errOut, code := spawnbeatIn(t, home, "wrong-"+secret, "keystore", "add", "ES_PWD", "--stdin", "--force", "-c", cfg); code != 0 {
		t.Fatalf("keystore add --force: exit %d: %s%s", code, out, errOut)
	}
	if out, code := run("test", "output"); code == 0 || !strings.Contains(out, "401") {
		t.Errorf("test output with a wrong password: exit %d:\n%s", code, out)
	}
	if strings.Contains(all.String(), secret) {
		t.Errorf("a secret from the keystore was printed:\n%s", all.String())
	}

	if out, errOut, code := spawnbeatIn(t, home, "", "keystore", "remove", "ES_PWD", "-c", cfg); code != 0 || out != "successfully removed key: ES_PWD\n" {
		t.Errorf("keystore remove: exit %d: %s%s", code, out, errOut)
	}
	if err := os.Chmod(ksPath, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := spawnbeatIn(t, home, "", "test", "config", "-c", cfg); code != 1 || !strings.Contains(errOut, "keystore "+ksPath+" can be read or written by group or others (mode 0640)") {
		t.Errorf("test config with a keystore others can read: exit %d, stderr %q", code, errOut)
	}
}

// TestKeystorePromptsWithoutEcho types into the real binary on a
// pseudo-terminal: the value prompt does not echo, the terminal gets its
// echo back, and the yes/no questions work.
func TestKeystorePromptsWithoutEcho(t *testing.T) {
	home := t.TempDir()
	ksPath := filepath.Join(home, "data", keystore.FileName)

	dialog := func(t *testing.T, args []string, steps ...[2]string) (string, int) {
		t.Helper()
		master, slave := openPTY(t)
		var (
			mu  sync.Mutex
			buf bytes.Buffer
		)
		go func() {
			b := make([]byte, 256)
			for {
				n, err := master.Read(b)
				mu.Lock()
				buf.Write(b[:n])
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		output := func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }
		cmd := exec.Command(binary, append(args, "--path.home", home)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(output(), s[0]) {
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					t.Fatalf("no %q on the terminal; it shows:\n%s", s[0], output())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := master.Write([]byte(s[1])); err != nil {
				t.Fatal(err)
			}
		}
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		tio, terr := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if terr != nil || tio.Lflag&unix.ECHO == 0 {
			t.Errorf("terminal echo after spawnbeat exited: %v, lflag %#x: want ECHO back on", terr, tio.Lflag)
		}
		time.Sleep(50 * time.Millisecond) // the reader's last bytes
		return output(), code
	}
	value := func() string {
		ks, err := keystore.Open(ksPath, true)
		if err != nil {
			t.Fatal(err)
		}
		return ks.Values()["ES_PWD"]
	}

	out, code := dialog(t, []string{"keystore", "add", "ES_PWD"},
		[2]string{"The keystore does not exist. Do you want to create it? [y/N]: ", "y\r"},
		[2]string{"Enter value for ES_PWD: ", "typed-secret\r"})
	if code != 0 || !strings.Contains(out, "Successfully updated the keystore") || strings.Contains(out, "typed-secret") {
		t.Errorf("add on a terminal: exit %d; the terminal shows (the value must not be there):\n%s", code, out)
	}
	if got := value(); got != "typed-secret" {
		t.Errorf("value typed = %q", got)
	}

	out, code = dialog(t, []string{"keystore", "add", "ES_PWD"},
		[2]string{"Setting ES_PWD already exists, Overwrite? [y/N]: ", "\r"})
	if code != 0 || !strings.Contains(out, "Exiting without modifying keystore.") || value() != "typed-secret" {
		t.Errorf("declined overwrite: exit %d, value %q:\n%s", code, value(), out)
	}
	out, code = dialog(t, []string{"keystore", "add", "ES_PWD"},
		[2]string{"Overwrite? [y/N]: ", "yes\r"},
		[2]string{"Enter value for ES_PWD: ", "second-secret\r"})
	if code != 0 || strings.Contains(out, "second-secret") || value() != "second-secret" {
		t.Errorf("accepted overwrite: exit %d, value %q:\n%s", code, value(), out)
	}
	out, code = dialog(t, []string{"keystore", "create"},
		[2]string{"A keystore already exists, Overwrite? [y/N]: ", "n\r"})
	if code != 0 || !strings.Contains(out, "Exiting without creating keystore.") || value() != "second-secret" {
		t.Errorf("declined create: exit %d:\n%s", code, out)
	}
}

// openPTY opens a pseudo-terminal pair (pty(7)): unlock the slave of a
// fresh /dev/ptmx, then open it by its number.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pty slave: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// TestE2EKeystoreSecretsNeverLogged runs the agent with the Elasticsearch
// password in the keystore and every debug logger on: the documents reach a
// server that accepts only that password, and the password appears nowhere
// in what the agent logged, through a server outage as well.
func TestE2EKeystoreSecretsNeverLogged(t *testing.T) {
	testenv.RequireRoot(t)
	secret := fmt.Sprintf("ks-e2e-%d-Pa55", time.Now().UnixNano())
	srv := startES(t, esserver.Options{Username: "elastic", Password: secret})
	home := t.TempDir()
	if _, errOut, code := spawnbeatIn(t, home, secret, "keystore", "add", "ES_PWD", "--stdin", "--force"); code != 0 {
		t.Fatalf("keystore add: %s", errOut)
	}
	port := freePort(t)
	a := startAgentAt(t, home, keystoreConfig(srv), "-d", "*",
		"-E", "http.enabled=true", "-E", "http.host=127.0.0.1", "-E", fmt.Sprintf("http.port=%d", port))
	logStatsOnFailure(t, port)
	a.waitLog("installed index template", 10*time.Second)
	markers := runMarkers(t, "keystore-e2e", 3)
	requireExactlyOnce(t, "with the keystore's password", markers, waitMarkers(t, srv, markers, 20*time.Second))

	// An outage: the retries log the host, never its credentials.
	srv.SetFaults(esserver.Faults{CutConnection: 1})
	runMarkers(t, "keystore-e2e-outage", 2)
	a.waitLog("retrying", 15*time.Second)
	srv.SetFaults(esserver.Faults{})
	if err := a.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	logs := a.logs()
	if !strings.Contains(logs, filepath.Join(home, "data", keystore.FileName)) {
		t.Errorf("the start log does not name the keystore:\n%.2000s", logs)
	}
	if strings.Contains(logs, secret) {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("the keystore's secret was logged: %s", line)
			}
		}
	}
}
