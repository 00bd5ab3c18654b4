package elasticsearch

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// startES runs a test server for one test.
func startES(t testing.TB, opts esserver.Options) *esserver.Server {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {} // fault lines would flood the test log
	}
	s, err := esserver.Start(opts)
	if err != nil {
		t.Fatalf("esserver.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("esserver Close: %v", err)
		}
	})
	return s
}

// testConfig is DefaultConfig pointed at hosts with backoffs short enough
// for tests.
func testConfig(hosts ...string) Config {
	c := DefaultConfig()
	c.Hosts = hosts
	c.Backoff = BackoffConfig{Init: time.Millisecond, Max: 20 * time.Millisecond}
	c.Timeout = 10 * time.Second
	return c
}

// setupES installs the real template and policy on the server.
func setupES(t testing.TB, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Setup(ctx, cfg, DefaultSetupConfig(), ecs.FieldsYAML, zap.NewNop()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
}

// makeEvents builds n documents shaped like spawnbeat's, ids prefix-0..n-1.
// Bad marks the indexes whose process.pid is a string the long mapping
// refuses.
func makeEvents(prefix string, n int, ns string, bad func(i int) bool) []pipeline.Event {
	evs := make([]pipeline.Event, n)
	ts := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	for i := range evs {
		id := prefix + "-" + strconv.Itoa(i)
		pid := strconv.Itoa(1000 + i)
		if bad != nil && bad(i) {
			pid = `"not-a-pid"`
		}
		body := fmt.Sprintf(`{"@timestamp":%q,"event":{"kind":"event","action":"exec","id":%q,"dataset":"spawnbeat.process"},`+
			`"process":{"pid":%s,"name":"bash","args":["bash","-c","true"],"args_count":3},`+
			`"data_stream":{"type":"logs","dataset":"spawnbeat.process","namespace":%q}}`,
			ts.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), id, pid, ns)
		evs[i] = pipeline.Event{ID: id, Index: DataStreamPrefix + ns, Body: []byte(body)}
	}
	return evs
}

// idsOf returns the sorted ids of evs.
func idsOf(evs []pipeline.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	sort.Strings(out)
	return out
}

// keys returns the sorted keys of m.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// observed returns a logger whose entries at level and above are kept.
func observed(level zapcore.Level) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(level)
	return zap.New(core), logs
}

func newOutput(t testing.TB, cfg Config, log *zap.Logger) *Output {
	t.Helper()
	if log == nil {
		log = zap.NewNop()
	}
	o, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}
