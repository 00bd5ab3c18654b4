package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// TestSetupIngestPipeline: setup installs the ingest pipeline before the
// template that names it, and a document written afterwards carries
// event.ingested, the time the server took it in, as a date.
func TestSetupIngestPipeline(t *testing.T) {
	srv := startES(t, esserver.Options{})
	var mu sync.Mutex
	var puts []string
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	recorder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			puts = append(puts, r.URL.Path)
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(recorder.Close)

	cfg := testConfig(recorder.URL)
	var report bytes.Buffer
	ctx := context.Background()
	if err := Setup(ctx, cfg, DefaultSetupConfig(), ecs.FieldsYAML, nil); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	want := []string{"/_ilm/policy/spawnbeat", "/_ingest/pipeline/" + IngestPipelineName, "/_index_template/" + DefaultTemplateName}
	if d := cmp.Diff(want, puts); d != "" {
		t.Errorf("PUTs in order (-want +got):\n%s", d)
	}

	before := time.Now().Add(-time.Second)
	if err := TestOutput(ctx, cfg, DefaultSetupConfig(), &report); err != nil {
		t.Fatalf("TestOutput: %v\n%s", err, report.String())
	}
	if !strings.Contains(report.String(), "ingest pipeline "+IngestPipelineName+"... OK") {
		t.Errorf("the report does not check the pipeline:\n%s", report.String())
	}
	src := srv.Docs(cfg.Index())[ProbeID]
	var doc struct {
		Event struct {
			Ingested string `json:"ingested"`
		} `json:"event"`
	}
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatalf("probe %s: %v", src, err)
	}
	got, err := time.Parse(time.RFC3339Nano, doc.Event.Ingested)
	if err != nil || got.Before(before) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("event.ingested = %q (%v), want the time of the write", doc.Event.Ingested, err)
	}
}

// TestOutputMissingPipeline: a template without its pipeline (deleted
// since, or a template installed by hand) fails `test output` with the
// remedy, before the write check would fail on every document.
func TestOutputMissingPipeline(t *testing.T) {
	srv := startES(t, esserver.Options{})
	cfg := testConfig(srv.URL())
	setupES(t, cfg)
	req, err := http.NewRequest(http.MethodDelete, srv.URL()+"/_ingest/pipeline/"+IngestPipelineName, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE pipeline: %v %v", res, err)
	}
	res.Body.Close()
	var report bytes.Buffer
	err = TestOutput(context.Background(), cfg, DefaultSetupConfig(), &report)
	if !errors.Is(err, ErrCheckFailed) || !strings.Contains(err.Error(), "ingest pipeline "+IngestPipelineName+" is missing") {
		t.Errorf("TestOutput = %v, want the missing pipeline\n%s", err, report.String())
	}
}

// TestSetupWithoutSpawnbeatPipeline: when the user names another final
// pipeline (or _none), setup does not install spawnbeat's.
func TestSetupWithoutSpawnbeatPipeline(t *testing.T) {
	srv := startES(t, esserver.Options{})
	cfg := testConfig(srv.URL())
	setup := DefaultSetupConfig()
	setup.Template.Settings.Index = map[string]any{"final_pipeline": "_none"}
	if err := Setup(context.Background(), cfg, setup, ecs.FieldsYAML, nil); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	res, err := http.Get(srv.URL() + "/_ingest/pipeline/" + IngestPipelineName)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET pipeline = %d, want 404: setup installed a pipeline nothing runs", res.StatusCode)
	}
	var report bytes.Buffer
	if err := TestOutput(context.Background(), cfg, setup, &report); err != nil {
		t.Errorf("TestOutput with final_pipeline _none: %v\n%s", err, report.String())
	}
}
