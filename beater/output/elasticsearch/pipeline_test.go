package elasticsearch

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// TestPipelineUnderFaults is the delivery proof end to end inside the
// agent: 100,000 events put into the real memory queue, moved by the real
// delivery loop into this output, while the server throttles, fails and
// cuts connections. Every event arrives exactly once and the queue
// acknowledges every one, none dropped.
func TestPipelineUnderFaults(t *testing.T) {
	total := 100_000
	if testing.Short() || raceEnabled {
		total = 20_000
	}
	srv := startES(t, esserver.Options{})
	cfg := testConfig(srv.URL())
	cfg.BulkMaxSize = 400
	cfg.CompressionLevel = 1
	setupES(t, cfg)
	srv.SetFaults(esserver.Faults{RequestStatus429: 0.05, RequestStatus503: 0.05, ItemStatus429: 0.01, CutConnection: 0.1, Seed: 3})
	out := newOutput(t, cfg, nil)

	q, err := pipeline.NewMemQueue(pipeline.DefaultMemConfig(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	loop := pipeline.NewLoop(q, out, pipeline.LoopConfig{
		Flush:     pipeline.FlushConfig{MinEvents: cfg.BulkMaxSize, Timeout: 50 * time.Millisecond},
		BatchSize: cfg.BulkMaxSize,
	}, zap.NewNop())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()

	evs := makeEvents("pipe", total, "default", nil)
	for _, ev := range evs {
		if err := q.Put(ctx, ev); err != nil { // blocks while the queue is full
			t.Fatalf("Put: %v", err)
		}
	}
	for q.Stats().Acked < uint64(total) {
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d acknowledged", q.Stats().Acked, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("loop: %v", err)
	}

	index := cfg.Index()
	if diff := cmp.Diff(idsOf(evs), keys(srv.Docs(index))); diff != "" {
		t.Errorf("ids in %s (-want +got):\n%s", index, diff)
	}
	qs, st, ss := q.Stats(), out.Stats(), srv.Stats()
	if qs.Dropped != 0 || st.Dropped != 0 || uint64(ss.Created) != uint64(total) || st.Acked+st.Duplicates != uint64(total) {
		t.Errorf("queue %+v\noutput acked %d duplicates %d dropped %d\nserver created %d", qs, st.Acked, st.Duplicates, st.Dropped, ss.Created)
	}
	if ss.Request429 == 0 || ss.Request503 == 0 || ss.Rejected429 == 0 || ss.Cut == 0 {
		t.Errorf("fault plan did not bite: %+v", ss)
	}
	if st.Duplicates == 0 {
		t.Errorf("no duplicate counted although %d cut requests were applied", ss.CutAfterApply)
	}
}
