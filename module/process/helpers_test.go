package process

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// marker returns an argument no other process on the host carries: the
// test process's pid, the time in nanoseconds and what it marks.
func marker(what string) string {
	return fmt.Sprintf("spawnbeat-it-%d-%d-%s", os.Getpid(), time.Now().UnixNano(), what)
}

// doc is one collected document: a copy of the event (its strings and
// slices are immutable and shared) and its JSON encoding.
type doc struct {
	ev   ecs.Event
	json []byte
}

// capture runs a Source and collects every document it emits.
type capture struct {
	t    *testing.T
	src  *Source
	stop context.CancelFunc
	done chan error

	mu   sync.Mutex
	docs []doc
	bad  []string // documents whose JSON did not parse
}

// testOptions are the Source options the integration tests start from.
func testOptions() Options {
	return Options{
		Mode:         ModeNetlink,
		ExecArgs:     ArgsKernel, // the tap must load where the tests run (CI too)
		PollPeriod:   time.Second,
		ProcRoot:     "/proc",
		ScanExisting: true,
		Exec:         true,
		End:          true,
		Existing:     true,
		MaxArgsBytes: 64 << 10,
		ExitGrace:    time.Minute,
		Namespace:    "test",
	}
}

// testHost reads the real host once per test.
func testHost(t *testing.T) *ecs.Host {
	t.Helper()
	h, err := ecs.ReadHost(context.Background(), zap.NewNop(), ecs.HostOptions{})
	if err != nil {
		t.Fatalf("ReadHost: %v", err)
	}
	return h
}

// startCapture starts a Source that collects every document. It returns
// once the Source has subscribed (or chosen poll mode) and, with
// ScanExisting, finished its start-up scan.
func startCapture(t *testing.T, opts Options) *capture {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	src, err := New(opts, testHost(t), ecs.NewAgent("test", "test", "agent-id"), log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &capture{t: t, src: src, stop: cancel, done: make(chan error, 1)}
	go func() { c.done <- src.Run(ctx, c.collect) }()
	t.Cleanup(func() { c.close() })
	deadline := time.Now().Add(10 * time.Second)
	for !src.ready() {
		if time.Now().After(deadline) {
			t.Fatalf("source not ready after 10s (stats %+v)", src.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

// collect is the Source's sink: it keeps a copy of the document (its
// strings and slices are never modified, so sharing them is safe) and its
// JSON encoding.
func (c *capture) collect(ev *ecs.Event) {
	d := doc{ev: *ev, json: ev.AppendJSON(nil)}
	var v map[string]any
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := json.Unmarshal(d.json, &v); err != nil {
		c.bad = append(c.bad, fmt.Sprintf("%v: %.200s", err, d.json))
	}
	c.docs = append(c.docs, d)
}

// close stops the Source (once) and checks that Run returned promptly and
// without error, and that every document was valid JSON.
func (c *capture) close() {
	if c.stop == nil {
		return
	}
	c.stop()
	c.stop = nil
	select {
	case err := <-c.done:
		if err != nil {
			c.t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		c.t.Errorf("Run did not return within 5s of cancel")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bad {
		c.t.Errorf("invalid JSON document: %s", b)
	}
}

// find returns the first collected document that match accepts.
func (c *capture) find(match func(*ecs.Event) bool) (doc, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.docs {
		if match(&c.docs[i].ev) {
			return c.docs[i], true
		}
	}
	return doc{}, false
}

// all returns every collected document that match accepts.
func (c *capture) all(match func(*ecs.Event) bool) []doc {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []doc
	for i := range c.docs {
		if match(&c.docs[i].ev) {
			out = append(out, c.docs[i])
		}
	}
	return out
}

// wait waits up to timeout for a document that match accepts.
func (c *capture) wait(timeout time.Duration, what string, match func(*ecs.Event) bool) *ecs.Event {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if d, ok := c.find(match); ok {
			return &d.ev
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %s document within %v (stats %+v)", what, timeout, c.src.Stats())
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isAction matches documents of one action about one pid.
func isAction(action string, pid int) func(*ecs.Event) bool {
	return func(ev *ecs.Event) bool { return ev.Event.Action == action && ev.Process.PID == pid }
}

// hasArg matches documents whose process args contain arg.
func hasArg(action, arg string) func(*ecs.Event) bool {
	return func(ev *ecs.Event) bool {
		return ev.Event.Action == action && slices.Contains(ev.Process.Args, arg)
	}
}

// resolve returns path with every symlink resolved, as /proc/PID/exe and
// /proc/PID/cwd show it.
func resolve(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatalf("resolve %s: %v", path, err)
	}
	p, err := filepath.EvalSymlinks(abs)
	if err != nil {
		t.Fatalf("resolve %s: %v", path, err)
	}
	return p
}
