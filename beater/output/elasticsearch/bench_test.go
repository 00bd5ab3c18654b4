package elasticsearch

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// BenchmarkPublish measures delivery throughput against the test server,
// one bulk_max_size batch per iteration, with gzip off and on. It reports
// docs/s and the wire bytes per document.
func BenchmarkPublish(b *testing.B) {
	for _, level := range []int{0, 1} {
		b.Run("gzip="+strconv.Itoa(level), func(b *testing.B) {
			srv := startES(b, esserver.Options{})
			cfg := testConfig(srv.URL())
			cfg.CompressionLevel = level
			setupES(b, cfg)
			o := newOutput(b, cfg, nil)
			tmpl := makeEvents("b", cfg.BulkMaxSize, "default", nil)
			batch := make([]pipeline.Event, len(tmpl))
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for b.Loop() {
				for i := range tmpl {
					batch[i] = pipeline.Event{ID: tmpl[i].ID + "-" + strconv.Itoa(n), Body: tmpl[i].Body}
				}
				n++
				if err := o.Publish(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			st := o.Stats()
			docs := float64(st.Acked)
			b.ReportMetric(docs/b.Elapsed().Seconds(), "docs/s")
			b.ReportMetric(float64(st.BytesSent)/docs, "wire-B/doc")
		})
	}
}

// BenchmarkShip measures the agent's side of shipping: one Publish of a
// full bulk (bulk_max_size documents shaped like spawnbeat's exec
// documents, 2.8 KB, each a little different as a storm's are) per
// iteration, with the defaults (gzip level 1), to a test server in a child
// process so that only the client's work runs here. It reports the CPU
// this process spent per document (getrusage, all threads), which the
// shared machine's load does not inflate as it does wall time.
func BenchmarkShip(b *testing.B) {
	url := startESProcess(b)
	cfg := testConfig(url)
	setupES(b, cfg)
	o := newOutput(b, cfg, nil)
	batch := execDocs(cfg.BulkMaxSize)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i].ID = "ship-" + strconv.Itoa(n) + "-" + strconv.Itoa(i)
		}
		n++
		if err := o.Publish(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	cpu := processCPU(b) - cpu0
	st := o.Stats()
	if st.Acked != uint64(n*len(batch)) {
		b.Fatalf("acked %d of %d", st.Acked, n*len(batch))
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(st.Acked), "cpu-µs/doc")
	b.ReportMetric(float64(st.BytesSent)/float64(st.Acked), "wire-B/doc")
}

// execDocs returns n exec documents like the encoder's (the golden exec
// document with its pid, timestamps, ids and one argument varied).
func execDocs(n int) []pipeline.Event {
	golden, err := os.ReadFile("../../../module/process/ecs/testdata/golden/exec.json")
	if err != nil {
		panic(err)
	}
	tmpl := strings.TrimSpace(string(golden))
	evs := make([]pipeline.Event, n)
	for i := range evs {
		r := strings.NewReplacer(
			"4200", strconv.Itoa(4200+i*7),
			"123456789Z", fmt.Sprintf("%09dZ", 123456789+i*1733),
			"mK9KFiFc0tPai-PF8AB7wQ", fmt.Sprintf("mK9KFiFc0tPai-%08x", i*2654435761),
			"B40ucxUfg2-g-KCEM3ZybA", fmt.Sprintf("B40ucxUfg2-g-%09x", i*40503),
			"/var/log", "/var/log/marker-"+strconv.Itoa(i),
		)
		body := r.Replace(tmpl)
		evs[i] = pipeline.Event{Index: DataStreamPrefix + "default", Body: []byte(body)}
	}
	return evs
}

// processCPU is the user and system CPU this process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
