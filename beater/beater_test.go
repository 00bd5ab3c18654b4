package beater

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spawnbeat/spawnbeat/config"
)

// TestRunPollModeToFile runs the whole agent — capture in poll mode (no
// root needed), detection, the memory queue and the file output — and
// checks that a process living a few poll periods is written, and that Stop
// flushes and returns.
func TestRunPollModeToFile(t *testing.T) {
	home := t.TempDir()
	loaded, err := config.Load(config.Source{
		File: filepath.Join(home, "absent.yml"), Default: config.DefaultYAML,
		Overrides: []string{
			"path.home=" + home,
			"spawnbeat.capture.mode=poll",
			"spawnbeat.capture.poll_period=50ms",
			"spawnbeat.capture.scan_existing=false",
			"queue.mem.flush.timeout=50ms",
		},
	}, Settings())
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	b := New(loaded.Config, zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core())), Info{Version: "test"})
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()

	marker := fmt.Sprintf("beater-poll-%d", time.Now().UnixNano())
	// Processes found by the start-up scan, which follows this message,
	// are "existing", not exec'd: give the scan time to finish.
	for logs.FilterMessageSnippet("capturing by polling /proc").Len() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if err := exec.Command("/bin/sh", "-c", "sleep 0.6; true", marker).Run(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(home, "data", "spawnbeat.ndjson")
	var doc map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for doc == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		doc = find(t, out, marker)
	}
	b.Stop()
	b.Stop() // safe twice
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	if doc == nil {
		t.Fatalf("no exec document with %s in %s", marker, out)
	}
	ev := doc["event"].(map[string]any)
	proc := doc["process"].(map[string]any)
	if ev["action"] != "exec" || proc["name"] != "dash" && proc["name"] != "sh" {
		t.Errorf("document: event %v, process name %v", ev, proc["name"])
	}
	if id, _ := ev["id"].(string); id == "" {
		t.Error("no event.id")
	}
}

func find(t *testing.T, path, marker string) map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), marker) {
			continue
		}
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		// The marker is sh's $0; sh's children carry it in their parent's args.
		args, _ := m["process"].(map[string]any)["args"].([]any)
		for _, a := range args {
			if a == marker {
				return m
			}
		}
	}
	return nil
}
