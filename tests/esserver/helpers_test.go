package esserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// start runs a server for one test.
func start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// client builds a real go-elasticsearch client for s; retries are off so
// that tests see each answer as the server gave it.
func client(t testing.TB, s *Server, edit func(*elasticsearch.Config)) *elasticsearch.Client {
	t.Helper()
	cfg := elasticsearch.Config{Addresses: []string{s.URL()}, DisableRetry: true}
	if edit != nil {
		edit(&cfg)
	}
	es, err := elasticsearch.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return es
}

// ndjson joins lines into a bulk body with the trailing newline.
func ndjson(lines ...string) string {
	return strings.Join(lines, "\n") + "\n"
}

// itemSummary is what tests compare of one bulk item.
type itemSummary struct {
	Action  string
	Status  int
	ErrType string
}

type bulkResult struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		Index  string `json:"_index"`
		ID     string `json:"_id"`
		Status int    `json:"status"`
		Result string `json:"result"`
		Error  *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	} `json:"items"`
}

func (b bulkResult) summary() []itemSummary {
	var out []itemSummary
	for _, it := range b.Items {
		for action, r := range it {
			s := itemSummary{Action: action, Status: r.Status}
			if r.Error != nil {
				s.ErrType = r.Error.Type
			}
			out = append(out, s)
		}
	}
	return out
}

// bulk sends body through the client and decodes a 200 answer.
func bulk(t testing.TB, es *elasticsearch.Client, body string, opts ...func(*esapi.BulkRequest)) (int, bulkResult, []byte) {
	t.Helper()
	res, err := es.Bulk(strings.NewReader(body), opts...)
	if err != nil {
		t.Fatalf("Bulk: %v", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read bulk response: %v", err)
	}
	var br bulkResult
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &br); err != nil {
			t.Fatalf("decode bulk response %s: %v", raw, err)
		}
	}
	return res.StatusCode, br, raw
}

// do sends a raw request and returns status and body.
func do(t testing.TB, es *elasticsearch.Client, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, path, rd)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := es.Perform(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		t.Fatalf("read %s %s: %v", method, path, err)
	}
	return res.StatusCode, buf.Bytes()
}

// putTemplate installs an index template and fails the test on refusal.
func putTemplate(t testing.TB, es *elasticsearch.Client, name, body string) {
	t.Helper()
	if st, out := do(t, es, http.MethodPut, "/_index_template/"+name, body); st != http.StatusOK {
		t.Fatalf("PUT template %s: %d %s", name, st, out)
	}
}

// errorType extracts error.type of a whole-request failure.
func errorType(t testing.TB, raw []byte) string {
	t.Helper()
	var e struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("decode error body %s: %v", raw, err)
	}
	return e.Error.Type
}

const logsTemplate = `{"index_patterns":["logs-*-*"],"priority":200,"data_stream":{},
 "template":{"settings":{"index.lifecycle.name":"spawnbeat"},"mappings":{"properties":{
  "process":{"properties":{"pid":{"type":"long"},"name":{"type":"keyword"},"interactive":{"type":"boolean"}}},
  "host":{"properties":{"ip":{"type":"ip"}}},
  "event":{"properties":{"risk_score":{"type":"float"},"created":{"type":"date"},"severity":{"type":"integer"}}}}}}}`

const ds = "logs-spawnbeat.process-default"
