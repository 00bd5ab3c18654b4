package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the spawnbeat built once for the whole package by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spawnbeat-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "spawnbeat")
	build := exec.Command("go", "build", "-o", binary, "../cmd/spawnbeat")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build spawnbeat:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agent is a running spawnbeat.
type agent struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string
	out    string // file output: the current file
	stderr *bytes.Buffer
	done   chan error
}

// startAgent writes cfg (YAML) to a config file in a temp dir and runs
// spawnbeat on it, logging to stderr. It returns once the agent reports it
// has started capturing.
func startAgent(t *testing.T, cfg string, args ...string) *agent {
	t.Helper()
	return startAgentAt(t, t.TempDir(), cfg, args...)
}

// startAgentAt is startAgent with a home directory of the caller's choosing,
// so that a second agent can run on the first one's path.data.
func startAgentAt(t *testing.T, dir, cfg string, args ...string) *agent {
	t.Helper()
	return startAgentUnder(t, nil, dir, cfg, args...)
}

// startAgentUnder is startAgentAt with spawnbeat run by the command
// wrapper (setpriv, say), which is given spawnbeat's command line.
func startAgentUnder(t *testing.T, wrapper []string, dir, cfg string, args ...string) *agent {
	t.Helper()
	cfgPath := filepath.Join(dir, "spawnbeat.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, dir: dir, out: filepath.Join(dir, "data", "spawnbeat.ndjson"), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	argv := append(slices.Clone(wrapper), binary, "-c", cfgPath, "-e", "--path.home", dir)
	a.cmd = exec.Command(argv[0], append(argv[1:], args...)...)
	a.cmd.Stderr = &lockedWriter{w: a.stderr}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("spawnbeat (pid %d) stderr:\n%s", a.cmd.Process.Pid, a.logs())
		}
	})
	a.waitLog("capturing with", 30*time.Second)
	return a
}

func (a *agent) logs() string {
	w := a.cmd.Stderr.(*lockedWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return a.stderr.String()
}

func (a *agent) waitLog(substr string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(a.logs(), substr) {
			return
		}
		select {
		case err := <-a.done:
			a.done <- err
			a.t.Fatalf("spawnbeat exited (%v) before logging %q", err, substr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	a.t.Fatalf("spawnbeat did not log %q within %s", substr, timeout)
}

// stop sends SIGTERM and returns the exit error.
func (a *agent) stop() error {
	a.t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		return err
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		return fmt.Errorf("spawnbeat did not exit within 30s of SIGTERM")
	}
}

// docs reads every document the file output holds now.
func (a *agent) docs() []map[string]any {
	a.t.Helper()
	return readDocs(a.t, a.out)
}

func readDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			break // a line being written; the next read sees it whole
		}
		out = append(out, m)
	}
	return out
}

// waitDocs polls the output until match has found want documents.
func (a *agent) waitDocs(want int, timeout time.Duration, match func(map[string]any) bool) []map[string]any {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var got []map[string]any
	for {
		got = got[:0]
		for _, d := range a.docs() {
			if match(d) {
				got = append(got, d)
			}
		}
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get reads a dotted path from a nested document.
func get(doc map[string]any, path string) any {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func str(doc map[string]any, path string) string {
	s, _ := get(doc, path).(string)
	return s
}

func strs(doc map[string]any, path string) []string {
	arr, _ := get(doc, path).([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func num(doc map[string]any, path string) float64 {
	f, _ := get(doc, path).(float64)
	return f
}

// hasArg matches exec documents whose args contain marker.
func hasArg(marker string) func(map[string]any) bool {
	return func(d map[string]any) bool {
		if str(d, "event.action") != "exec" {
			return false
		}
		for _, a := range strs(d, "process.args") {
			if strings.Contains(a, marker) {
				return true
			}
		}
		return false
	}
}

// lockedWriter lets the test read stderr while the process writes it.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fileConfig is a config with the file output in the agent's home and
// logging to stderr.
const fileConfig = `
spawnbeat:
  capture:
    scan_existing: false
logging.level: info
logging.json: false
`
