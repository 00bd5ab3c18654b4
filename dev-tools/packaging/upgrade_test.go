package packaging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// installedAgent is the installed binary running with the package's paths
// inside the throwaway root (what /usr/bin/spawnbeat and the unit pass).
type installedAgent struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func (a *installedAgent) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stderr.Write(p)
}

func (a *installedAgent) logs() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stderr.String()
}

func startInstalled(t *testing.T, r *throwawayRoot, args ...string) *installedAgent {
	t.Helper()
	argv := []string{
		"--path.home", r.path(homeDir), "--path.config", r.path(configDir),
		"--path.data", r.path(dataDir), "--path.logs", r.path(logsDir), "-e",
	}
	a := &installedAgent{t: t, done: make(chan error, 1)}
	a.cmd = exec.Command(r.path(homeDir+"/bin/spawnbeat"), append(argv, args...)...)
	a.cmd.Stderr = a
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
			t.Logf("installed spawnbeat (pid %d) stderr:\n%s", a.cmd.Process.Pid, a.logs())
		}
	})
	a.waitFor("capturing with", 30*time.Second, func() bool { return strings.Contains(a.logs(), "capturing with") })
	return a
}

// waitFor polls cond until it holds, failing the test when the agent exits
// or the timeout passes.
func (a *installedAgent) waitFor(what string, timeout time.Duration, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-a.done:
			a.done <- err
			a.t.Fatalf("spawnbeat exited (%v) before %s", err, what)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("no %s within %s", what, timeout)
		}
	}
}

func (a *installedAgent) stop() {
	a.t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		if err != nil {
			a.t.Fatalf("spawnbeat stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		a.t.Fatal("spawnbeat did not stop within 30s of SIGTERM")
	}
}

// closedPort is a loopback port nothing listens on (it did a moment ago).
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestIntegrationUpgradeDeliversDiskQueue: an installed agent whose
// Elasticsearch is unreachable keeps what it captured in its disk queue
// under /var/lib/spawnbeat; stopped, upgraded with dpkg, and started again
// against a reachable Elasticsearch (the test server), it delivers every
// queued document, once.
func TestIntegrationUpgradeDeliversDiskQueue(t *testing.T) {
	testenv.RequireRoot(t)
	r := newThrowawayRoot(t)
	r.dpkgRun("-i", artifact(t, Deb).Path)
	v2 := secondDeb(t)

	// The user's configuration: Elasticsearch with the crash-safe disk queue.
	cfg := `spawnbeat.capture.scan_existing: false
output.elasticsearch:
  hosts: ["http://127.0.0.1:` + fmt.Sprint(closedPort(t)) + `"]
  backoff.init: 100ms
  backoff.max: 1s
queue.disk:
  max_size: 256MiB
  flush.timeout: 200ms
logging.json: false
`
	if err := os.WriteFile(r.path(configDir+"/spawnbeat.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startInstalled(t, r, "-E", "setup.template.enabled=false")
	markers := map[int]string{}
	for i := range 10 {
		name := fmt.Sprintf("upgrade-queued-%d-%d", time.Now().UnixNano(), i)
		cmd := exec.Command("/bin/sh", "-c", "sleep 0.05", name)
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		markers[cmd.Process.Pid] = name
	}
	queueDir := r.path(dataDir + "/diskqueue")
	a.waitFor("every marker in the disk queue", 20*time.Second, func() bool {
		segs, _ := filepath.Glob(filepath.Join(queueDir, "*.seg"))
		var all []byte
		for _, s := range segs {
			b, _ := os.ReadFile(s)
			all = append(all, b...)
		}
		for _, name := range markers {
			if !bytes.Contains(all, []byte(`"`+name+`"`)) {
				return false
			}
		}
		return true
	})
	a.stop()

	r.dpkgRun("--force-confold", "-i", v2)
	if got := r.read(configDir + "/spawnbeat.yml"); got != cfg {
		t.Fatalf("the upgrade changed the user's spawnbeat.yml:\n%s", got)
	}
	srv, err := esserver.Start(esserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	b := startInstalled(t, r, "-E", fmt.Sprintf(`output.elasticsearch.hosts=["%s"]`, srv.URL()))
	if !strings.Contains(b.logs(), "0.1.1") {
		t.Errorf("the agent after the upgrade does not say it is 0.1.1:\n%s", b.logs())
	}
	counts := map[string]int{}
	b.waitFor("every queued marker in Elasticsearch", 30*time.Second, func() bool {
		clear(counts)
		for _, raw := range srv.Docs("logs-spawnbeat.process-default") {
			var d struct {
				Event   struct{ Action string } `json:"event"`
				Process struct {
					PID    int `json:"pid"`
					Parent struct {
						PID int `json:"pid"`
					} `json:"parent"`
				} `json:"process"`
			}
			if json.Unmarshal(raw, &d) == nil && d.Event.Action == "exec" && d.Process.Parent.PID == os.Getpid() {
				if name, ok := markers[d.Process.PID]; ok {
					counts[name]++
				}
			}
		}
		return len(counts) == len(markers)
	})
	for _, name := range markers {
		if counts[name] != 1 {
			t.Errorf("%s arrived %d times, want once", name, counts[name])
		}
	}
	b.stop()
}
