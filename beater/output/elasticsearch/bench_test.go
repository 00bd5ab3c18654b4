package elasticsearch

import (
	"context"
	"strconv"
	"testing"

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
