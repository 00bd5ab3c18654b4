package beater

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/internal/testenv"
	"github.com/spawnbeat/spawnbeat/module/process"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// stuckOutput never acknowledges a batch until released: an Elasticsearch
// that stopped answering.
type stuckOutput struct{ release chan struct{} }

func (o stuckOutput) Publish(ctx context.Context, _ []pipeline.Event) error {
	select {
	case <-o.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (stuckOutput) Close() error { return nil }

// TestIntegrationFullQueueDrops runs real capture into a small memory queue
// whose output is stuck: the documents that do not fit are dropped and
// counted, and capture goes on reading the kernel's socket — every event
// of the storm is received and none is lost to a full socket.
func TestIntegrationFullQueueDrops(t *testing.T) {
	testenv.RequireRoot(t)
	loaded, err := config.Load(config.Source{
		File: "/nonexistent/spawnbeat.yml", Default: config.DefaultYAML,
		Overrides: []string{"path.home=" + t.TempDir(), "queue.mem.events=64", "queue.mem.flush.min_events=32", "spawnbeat.capture.scan_existing=false"},
	})
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	host, err := ecs.ReadHost(context.Background(), log, ecs.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := process.New(process.Options{Mode: process.ModeNetlink, Exec: true, End: true}, host, ecs.NewAgent("test", "test", "id"), log)
	if err != nil {
		t.Fatal(err)
	}
	queue, err := pipeline.Open(loaded.Config.Queue, t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer queue.Close()
	out := stuckOutput{release: make(chan struct{})}
	st := &stages{cfg: loaded.Config, log: log, source: src, queue: queue, output: out}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.run(ctx) }()
	for src.Stats().Mode == "" { // subscribed: the kernel queues events for us from now on
		time.Sleep(10 * time.Millisecond)
	}

	const n = 300
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
	for range n {
		pid, err := syscall.ForkExec("/bin/true", []string{"/bin/true"}, attr)
		if err != nil {
			t.Fatal(err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for src.Stats().Kernel.Events < 3*n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cs, qs := src.Stats(), queue.Stats()
	if cs.Kernel.Events < 3*n || cs.Kernel.Lost != 0 {
		t.Errorf("kernel events %d, lost %d: want at least %d (fork, exec, exit of each) and none lost", cs.Kernel.Events, cs.Kernel.Lost, 3*n)
	}
	if qs.Dropped == 0 || qs.Dropped != st.queueFailures.Load() {
		t.Errorf("queue dropped %d, processing queue failures %d: want the same count, above 0", qs.Dropped, st.queueFailures.Load())
	}
	if got := qs.EventsIn + qs.Dropped; got != cs.Emitted {
		t.Errorf("queued %d + dropped %d = %d, want every emitted document (%d)", qs.EventsIn, qs.Dropped, got, cs.Emitted)
	}
	close(out.release) // let the drain finish
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// TestDataStream: the index each event carries is the data stream its
// document names, the one the Elasticsearch output's template covers.
func TestDataStream(t *testing.T) {
	var d dataStream
	for _, tc := range []struct{ ns, want string }{
		{"", elasticsearch.DataStreamPrefix + "default"},
		{"prod", elasticsearch.DataStreamPrefix + "prod"},
		{"prod", elasticsearch.DataStreamPrefix + "prod"},
		{"default", elasticsearch.DataStreamPrefix + "default"},
	} {
		if got := d.of(&ecs.Event{Namespace: tc.ns}); got != tc.want {
			t.Errorf("data stream of namespace %q = %q, want %q", tc.ns, got, tc.want)
		}
	}
	ev := &ecs.Event{Namespace: "prod"}
	if allocs := testing.AllocsPerRun(100, func() { _ = d.of(ev) }); allocs != 0 {
		t.Errorf("naming the data stream allocates %.0f times per document", allocs)
	}
}
