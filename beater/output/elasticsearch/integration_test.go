package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// TestRealCluster runs the delivery checks against a real
// Elasticsearch when ES_URL is set (with ES_USERNAME/ES_PASSWORD or
// ES_API_KEY, and ES_CA_FILE for a private CA): setup, test output, 10,000
// events published twice (the second round must be all 409s), and the
// document count. It needs no root and no local privilege, so it is not a
// TestIntegration* test: it skips without ES_URL, in CI too.
// Each run writes to its own namespace so that counts start at zero.
func TestRealCluster(t *testing.T) {
	url := os.Getenv("ES_URL")
	if url == "" {
		t.Skip("ES_URL not set: skipping the real-cluster checks (set ES_URL and ES_USERNAME/ES_PASSWORD or ES_API_KEY)")
	}
	cfg := DefaultConfig()
	cfg.Hosts = []string{url}
	cfg.Username, cfg.Password = os.Getenv("ES_USERNAME"), os.Getenv("ES_PASSWORD")
	cfg.APIKey = os.Getenv("ES_API_KEY")
	if ca := os.Getenv("ES_CA_FILE"); ca != "" {
		cfg.SSL.CertificateAuthorities = []string{ca}
	}
	cfg.Backoff = BackoffConfig{Init: 100 * time.Millisecond, Max: 5 * time.Second}
	cfg.CompressionLevel = 1
	cfg.Namespace = "itest" + strconv.FormatInt(time.Now().Unix(), 36)
	setup := DefaultSetupConfig()
	setup.Template.Overwrite = true
	setup.ILM.Overwrite = true

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Setup(ctx, cfg, setup, ecs.FieldsYAML, zaptest.NewLogger(t)); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	var report bytes.Buffer
	if err := TestOutput(ctx, cfg, setup, &report); err != nil {
		t.Fatalf("TestOutput: %v\n%s", err, report.String())
	}
	t.Logf("test output:\n%s", report.String())

	o, err := New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	const n = 10_000
	evs := makeEvents("itest", n, cfg.Namespace, nil)
	for round := 1; round <= 2; round++ {
		if err := o.Publish(ctx, evs); err != nil {
			t.Fatalf("Publish round %d: %v", round, err)
		}
	}
	st := o.Stats()
	if st.Acked != n || st.Duplicates != n || st.Dropped != 0 {
		t.Errorf("Acked %d, Duplicates %d, Dropped %d; want %d, %d, 0", st.Acked, st.Duplicates, st.Dropped, n, n)
	}

	// Count through the same client; refresh first so that all are visible.
	a, err := newAdmin(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	index := cfg.Index()
	if _, res, err := a.request(ctx, http.MethodPost, "/"+index+"/_refresh", nil); err != nil || res.status != http.StatusOK {
		t.Fatalf("refresh: %v (status %d)", err, res.status)
	}
	_, res, err := a.request(ctx, http.MethodGet, "/"+index+"/_count", nil)
	if err != nil || res.status != http.StatusOK {
		t.Fatalf("count: %v (status %d)", err, res.status)
	}
	var c struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(res.body, &c); err != nil {
		t.Fatal(err)
	}
	// The probe document of TestOutput is in the same data stream.
	if c.Count != n+1 {
		t.Errorf("%s holds %d documents, want %d events + 1 probe", index, c.Count, n)
	}
}
