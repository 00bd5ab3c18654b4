package esserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/google/go-cmp/cmp"
)

func TestInfo(t *testing.T) {
	tests := []struct {
		name    string
		version string
		want    string
	}{
		{name: "default version", want: DefaultVersion},
		{name: "explicit version", version: "8.15.3", want: "8.15.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{Version: tt.version})
			es := client(t, s, nil)
			res, err := es.Info()
			if err != nil {
				t.Fatalf("Info: %v", err)
			}
			defer res.Body.Close()
			if got := res.Header.Get("X-Elastic-Product"); got != "Elasticsearch" {
				t.Errorf("X-Elastic-Product = %q", got)
			}
			var info struct {
				Version struct {
					Number      string `json:"number"`
					BuildFlavor string `json:"build_flavor"`
				} `json:"version"`
				Tagline string `json:"tagline"`
			}
			if err := json.NewDecoder(res.Body).Decode(&info); err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := []string{info.Version.Number, info.Version.BuildFlavor, info.Tagline}
			want := []string{tt.want, "default", "You Know, for Search"}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("info (-want +got):\n%s", d)
			}
		})
	}
}

func TestProductHeaderOnErrors(t *testing.T) {
	s := start(t, Options{Username: "elastic", Password: "pw"})
	for _, path := range []string{"/", "/_bulk", "/nope/_count"} {
		res, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		res.Body.Close()
		if got := res.Header.Get("X-Elastic-Product"); got != "Elasticsearch" {
			t.Errorf("GET %s: X-Elastic-Product = %q", path, got)
		}
	}
}

func TestBulkItems(t *testing.T) {
	ts := `"@timestamp":"2026-11-27T06:00:00.000Z"`
	tests := []struct {
		name    string
		body    string
		want    []itemSummary
		errors  bool
		count   map[string]int
		mapping int64
	}{
		{
			name: "create then duplicate create answers 409",
			body: ndjson(`{"create":{"_index":"`+ds+`","_id":"a"}}`, `{`+ts+`}`,
				`{"create":{"_index":"`+ds+`","_id":"a"}}`, `{`+ts+`}`),
			want:   []itemSummary{{"create", 201, ""}, {"create", 409, "version_conflict_engine_exception"}},
			errors: true,
			count:  map[string]int{ds: 1},
		},
		{
			name:   "index op into a data stream answers 400",
			body:   ndjson(`{"index":{"_index":"`+ds+`","_id":"a"}}`, `{`+ts+`}`),
			want:   []itemSummary{{"index", 400, "illegal_argument_exception"}},
			errors: true,
			count:  map[string]int{ds: 0},
		},
		{
			name:    "missing @timestamp answers 400",
			body:    ndjson(`{"create":{"_index":"`+ds+`"}}`, `{"message":"x"}`),
			want:    []itemSummary{{"create", 400, "document_parsing_exception"}},
			errors:  true,
			mapping: 1,
		},
		{
			name: "mapping errors are per item",
			body: ndjson(
				`{"create":{"_index":"`+ds+`"}}`, `{`+ts+`,"process":{"pid":"abc"}}`,
				`{"create":{"_index":"`+ds+`"}}`, `{`+ts+`,"process":{"pid":"42"}}`,
				`{"create":{"_index":"`+ds+`"}}`, `{`+ts+`,"process.interactive":"yes"}`,
				`{"create":{"_index":"`+ds+`"}}`, `{`+ts+`,"host":{"ip":["10.0.0.1","::1"]}}`,
				`{"create":{"_index":"`+ds+`"}}`, `{`+ts+`,"host":{"ip":"999.1.1.1"}}`,
				`{"create":{"_index":"`+ds+`"}}`, `{"@timestamp":"yesterday"}`,
				`{"create":{"_index":"`+ds+`"}}`, `{`+ts+`,"event":{"severity":3000000000}}`,
				`{"create":{"_index":"`+ds+`"}}`, `{`+ts+`,"process":"bash"}`,
				`{"create":{"_index":"`+ds+`"}}`, `{`+ts+`,"process":{"name":{"a":1}}}`,
			),
			want: []itemSummary{
				{"create", 400, "document_parsing_exception"}, {"create", 201, ""},
				{"create", 400, "document_parsing_exception"}, {"create", 201, ""},
				{"create", 400, "document_parsing_exception"}, {"create", 400, "document_parsing_exception"},
				{"create", 400, "document_parsing_exception"}, {"create", 400, "document_parsing_exception"},
				{"create", 400, "document_parsing_exception"},
			},
			errors:  true,
			count:   map[string]int{ds: 2},
			mapping: 7,
		},
		{
			name: "a name without a template becomes a plain index",
			body: ndjson(`{"index":{"_index":"plain","_id":"1"}}`, `{"a":1}`,
				`{"index":{"_index":"plain","_id":"1"}}`, `{"a":2}`,
				`{"delete":{"_index":"plain","_id":"1"}}`,
				`{"delete":{"_index":"plain","_id":"1"}}`),
			want:   []itemSummary{{"index", 201, ""}, {"index", 200, ""}, {"delete", 200, ""}, {"delete", 404, ""}},
			errors: false,
			count:  map[string]int{"plain": 0},
		},
		{
			name: "update merges, upserts and reports missing documents",
			body: ndjson(`{"index":{"_index":"plain","_id":"1"}}`, `{"a":1,"o":{"x":1}}`,
				`{"update":{"_index":"plain","_id":"1"}}`, `{"doc":{"o":{"y":2}}}`,
				`{"update":{"_index":"plain","_id":"1"}}`, `{"doc":{"o":{"y":2}}}`,
				`{"update":{"_index":"plain","_id":"2"}}`, `{"doc":{"b":1}}`,
				`{"update":{"_index":"plain","_id":"3"}}`, `{"doc":{"b":1},"doc_as_upsert":true}`),
			want: []itemSummary{{"index", 201, ""}, {"update", 200, ""}, {"update", 200, ""},
				{"update", 404, "document_missing_exception"}, {"update", 201, ""}},
			errors: true,
			count:  map[string]int{"plain": 2},
		},
		{
			name: "dynamic mapping learns types like Elasticsearch",
			body: ndjson(`{"index":{"_index":"dyn"}}`, `{"n":1,"s":"x","d":"2026-01-02T03:04:05Z"}`,
				`{"index":{"_index":"dyn"}}`, `{"n":"not a number"}`,
				`{"index":{"_index":"dyn"}}`, `{"d":"not a date"}`,
				`{"index":{"_index":"dyn"}}`, `{"s":5,"n":"7"}`),
			want: []itemSummary{{"index", 201, ""}, {"index", 400, "document_parsing_exception"},
				{"index", 400, "document_parsing_exception"}, {"index", 201, ""}},
			errors:  true,
			count:   map[string]int{"dyn": 2},
			mapping: 2,
		},
		{
			name:   "invalid index names fail per item",
			body:   ndjson(`{"create":{"_index":"UPPER"}}`, `{}`, `{"create":{"_index":"ok"}}`, `{}`),
			want:   []itemSummary{{"create", 400, "invalid_index_name_exception"}, {"create", 201, ""}},
			errors: true,
			count:  map[string]int{"ok": 1},
		},
		{
			name:   "a broken source line fails only its item",
			body:   ndjson(`{"create":{"_index":"ok"}}`, `{"a":`, `{"create":{"_index":"ok"}}`, `{}`),
			want:   []itemSummary{{"create", 400, "document_parsing_exception"}, {"create", 201, ""}},
			errors: true, mapping: 1,
			count: map[string]int{"ok": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			es := client(t, s, nil)
			putTemplate(t, es, "spawnbeat", logsTemplate)
			status, res, raw := bulk(t, es, tt.body)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, raw)
			}
			if d := cmp.Diff(tt.want, res.summary()); d != "" {
				t.Errorf("items (-want +got):\n%s\n%s", d, raw)
			}
			if res.Errors != tt.errors {
				t.Errorf("errors = %v, want %v", res.Errors, tt.errors)
			}
			for name, want := range tt.count {
				if got := s.Count(name); got != want {
					t.Errorf("Count(%q) = %d, want %d", name, got, want)
				}
			}
			if got := s.Stats().MappingErrors; got != tt.mapping {
				t.Errorf("Stats().MappingErrors = %d, want %d", got, tt.mapping)
			}
		})
	}
}

func TestBulkDataStreamDetails(t *testing.T) {
	s := start(t, Options{})
	es := client(t, s, nil)
	putTemplate(t, es, "spawnbeat", logsTemplate)
	status, res, raw := bulk(t, es, ndjson(`{"create":{"_index":"`+ds+`"}}`, `{"@timestamp":"2026-11-27T06:00:00Z","message":"hi"}`))
	if status != http.StatusOK || res.Errors {
		t.Fatalf("bulk: %d %s", status, raw)
	}
	for _, it := range res.Items {
		r := it["create"]
		if !strings.HasPrefix(r.Index, ".ds-"+ds+"-") || !strings.HasSuffix(r.Index, "-000001") {
			t.Errorf("_index = %q, want a .ds-%s-<date>-000001 backing index", r.Index, ds)
		}
		if len(r.ID) != 20 {
			t.Errorf("auto-generated _id %q has %d characters, want 20", r.ID, len(r.ID))
		}
		docs := s.Docs(ds)
		if d := cmp.Diff(`{"@timestamp":"2026-11-27T06:00:00Z","message":"hi"}`, string(docs[r.ID])); d != "" {
			t.Errorf("Docs(ds)[id] (-want +got):\n%s", d)
		}
	}
	t.Run("writes to a backing index", func(t *testing.T) {
		backing := res.Items[0]["create"].Index
		id := res.Items[0]["create"].ID
		_, br, raw := bulk(t, es, ndjson(
			fmt.Sprintf(`{"create":{"_index":%q}}`, backing), `{"@timestamp":"2026-11-27T06:00:00Z"}`,
			fmt.Sprintf(`{"index":{"_index":%q,"_id":%q}}`, backing, id), `{"@timestamp":"2026-11-27T06:00:00Z"}`,
			fmt.Sprintf(`{"index":{"_index":%q,"_id":%q,"if_seq_no":0,"if_primary_term":1}}`, backing, id), `{"@timestamp":"2026-11-27T06:00:01Z"}`,
			fmt.Sprintf(`{"index":{"_index":%q,"_id":%q,"if_seq_no":0,"if_primary_term":1}}`, backing, id), `{"@timestamp":"2026-11-27T06:00:02Z"}`,
		))
		want := []itemSummary{{"create", 400, "illegal_argument_exception"}, {"index", 400, "illegal_argument_exception"},
			{"index", 200, ""}, {"index", 409, "version_conflict_engine_exception"}}
		if d := cmp.Diff(want, br.summary()); d != "" {
			t.Errorf("items (-want +got):\n%s\n%s", d, raw)
		}
		if got := string(s.Docs(ds)[id]); got != `{"@timestamp":"2026-11-27T06:00:01Z"}` {
			t.Errorf("document after the conditional write = %s", got)
		}
	})
	for _, pattern := range []string{ds, "logs-*", "logs-spawnbeat.process-*", "*"} {
		if got := s.Count(pattern); got != 1 {
			t.Errorf("Count(%q) = %d, want 1", pattern, got)
		}
	}
}

func TestBulkWholeRequestErrors(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantType string
	}{
		{"malformed json action line", "{\"create\":{\"_index\":\"a\"}\n{}\n", "x_content_parse_exception"},
		{"action line not an object", "[\"create\"]\n{}\n", "illegal_argument_exception"},
		{"unknown action", "{\"upsert\":{\"_index\":\"a\"}}\n{}\n", "illegal_argument_exception"},
		{"unknown metadata parameter", "{\"create\":{\"_index\":\"a\",\"colour\":\"red\"}}\n{}\n", "illegal_argument_exception"},
		{"two actions on one line", "{\"create\":{},\"index\":{}}\n{}\n", "illegal_argument_exception"},
		{"missing trailing newline", "{\"create\":{\"_index\":\"a\"}}\n{}", "illegal_argument_exception"},
		{"no index", "{\"create\":{}}\n{}\n", "action_request_validation_exception"},
		{"empty body", "\n", "action_request_validation_exception"},
		{"broken update body", "{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"doc\":\n", "x_content_parse_exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			es := client(t, s, nil)
			status, _, raw := bulk(t, es, tt.body)
			if status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400: %s", status, raw)
			}
			if got := errorType(t, raw); got != tt.wantType {
				t.Errorf("error.type = %q, want %q (%s)", got, tt.wantType, raw)
			}
			if got := s.Count("*"); got != 0 {
				t.Errorf("a refused request stored %d documents", got)
			}
			if got := s.Stats().BadRequests; got != 1 {
				t.Errorf("Stats().BadRequests = %d, want 1", got)
			}
		})
	}
}

func TestBulkTolerances(t *testing.T) {
	// Empty lines are skipped, CRLF line ends are accepted, and an action
	// at the very end without its source line is dropped, as
	// BulkRequestParser does.
	s := start(t, Options{})
	es := client(t, s, nil)
	body := "\n{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\r\n{\"x\":1}\r\n\n{\"index\":{\"_index\":\"a\",\"_id\":\"2\"}}\n"
	status, res, raw := bulk(t, es, body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, raw)
	}
	if d := cmp.Diff([]itemSummary{{"index", 201, ""}}, res.summary()); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
	if d := cmp.Diff(`{"x":1}`, string(s.Docs("a")["1"])); d != "" {
		t.Errorf("source (-want +got):\n%s", d)
	}
}

func TestGzip(t *testing.T) {
	s := start(t, Options{})
	es := client(t, s, func(c *elasticsearch.Config) { c.CompressRequestBody = true })
	putTemplate(t, es, "spawnbeat", logsTemplate)
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "{\"create\":{\"_index\":%q,\"_id\":\"%d\"}}\n{\"@timestamp\":\"2026-11-27T06:00:00Z\",\"n\":%d}\n", ds, i, i)
	}
	status, res, raw := bulk(t, es, b.String())
	if status != http.StatusOK || res.Errors || len(res.Items) != 50 {
		t.Fatalf("gzip bulk: %d %s", status, raw)
	}
	if got := s.Count(ds); got != 50 {
		t.Errorf("Count = %d, want 50", got)
	}

	t.Run("gzip response when accepted", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, s.URL()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /: %v", err)
		}
		defer res.Body.Close()
		if got := res.Header.Get("Content-Encoding"); got != "gzip" {
			t.Fatalf("Content-Encoding = %q, want gzip", got)
		}
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatalf("gzip.NewReader: %v", err)
		}
		out, err := io.ReadAll(zr)
		if err != nil || !bytes.Contains(out, []byte("You Know, for Search")) {
			t.Errorf("gunzipped body %q, err %v", out, err)
		}
	})
	t.Run("broken gzip body answers 400", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, s.URL()+"/_bulk", strings.NewReader("not gzip"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Content-Type", "application/x-ndjson")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", res.StatusCode)
		}
	})
}

func TestBulkFilterPath(t *testing.T) {
	body := ndjson(`{"create":{"_index":"a","_id":"1"}}`, `{}`, `{"create":{"_index":"a","_id":"1"}}`, `{}`, `{"create":{"_index":"a","_id":"2"}}`, `{}`)
	tests := []struct {
		name string
		fp   string
		want string
	}{
		{
			name: "status stays on every item",
			fp:   "errors,items.*.error,items.*.status",
			want: `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[1]: version conflict, document already exists (current version [1])","index_uuid":"UUID","shard":"0","index":"a"}}},{"create":{"status":201}}]}`,
		},
		{
			name: "ids only",
			fp:   "items.*._id",
			want: `{"items":[{"create":{"_id":"1"}},{"create":{"_id":"1"}},{"create":{"_id":"2"}}]}`,
		},
		{
			name: "error items only lose positions",
			fp:   "items.*.error.type",
			want: `{"items":[{"create":{"error":{"type":"version_conflict_engine_exception"}}}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			es := client(t, s, nil)
			status, _, raw := bulk(t, es, body, es.Bulk.WithFilterPath(strings.Split(tt.fp, ",")...))
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, raw)
			}
			var uuid string
			s.store.mu.RLock()
			uuid = s.store.indices["a"].uuid
			s.store.mu.RUnlock()
			got := strings.ReplaceAll(string(raw), uuid, "UUID")
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("body (-want +got):\n%s", d)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	apiKey := base64.StdEncoding.EncodeToString([]byte("kid:secret"))
	badKey := base64.StdEncoding.EncodeToString([]byte("kid:wrong"))
	tests := []struct {
		name     string
		edit     func(*elasticsearch.Config)
		wantCode int
		wantUser string
		wantType string
	}{
		{"basic ok", func(c *elasticsearch.Config) { c.Username, c.Password = "elastic", "changeme" }, 200, "elastic", "realm"},
		{"basic wrong password", func(c *elasticsearch.Config) { c.Username, c.Password = "elastic", "nope" }, 401, "", ""},
		{"basic wrong user", func(c *elasticsearch.Config) { c.Username, c.Password = "root", "changeme" }, 401, "", ""},
		{"api key ok", func(c *elasticsearch.Config) { c.APIKey = apiKey }, 200, "elastic", "api_key"},
		{"api key wrong", func(c *elasticsearch.Config) { c.APIKey = badKey }, 401, "", ""},
		{"api key garbage", func(c *elasticsearch.Config) { c.APIKey = "%%%" }, 401, "", ""},
		{"no credentials", nil, 401, "", ""},
	}
	s := start(t, Options{Username: "elastic", Password: "changeme", APIKeys: []string{"kid:secret"}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := client(t, s, tt.edit)
			req, _ := http.NewRequest(http.MethodGet, "/_security/_authenticate", nil)
			res, err := es.Perform(req)
			if err != nil {
				t.Fatalf("Perform: %v", err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tt.wantCode, raw)
			}
			if tt.wantCode == http.StatusUnauthorized {
				got := res.Header.Values("WWW-Authenticate")
				want := []string{`Basic realm="security", charset="UTF-8"`, "ApiKey"}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("WWW-Authenticate (-want +got):\n%s", d)
				}
				if typ := errorType(t, raw); typ != "security_exception" {
					t.Errorf("error.type = %q", typ)
				}
				return
			}
			var who struct {
				Username string `json:"username"`
				AuthType string `json:"authentication_type"`
			}
			if err := json.Unmarshal(raw, &who); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if d := cmp.Diff([]string{tt.wantUser, tt.wantType}, []string{who.Username, who.AuthType}); d != "" {
				t.Errorf("authenticate (-want +got):\n%s", d)
			}
		})
	}
	t.Run("bulk needs credentials too", func(t *testing.T) {
		es := client(t, s, nil)
		status, _, raw := bulk(t, es, ndjson(`{"create":{"_index":"a"}}`, `{}`))
		if status != http.StatusUnauthorized || s.Count("a") != 0 {
			t.Errorf("status = %d, count %d: %s", status, s.Count("a"), raw)
		}
	})
	t.Run("options validation", func(t *testing.T) {
		for _, o := range []Options{{Password: "x"}, {APIKeys: []string{"nocolon"}}, {APIKeys: []string{":k"}}} {
			if _, err := Start(o); !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("Start(%+v) = %v, want ErrInvalidOptions", o, err)
			}
		}
	})
}

func TestTLS(t *testing.T) {
	ca, err := NewTestCA()
	if err != nil {
		t.Fatalf("NewTestCA: %v", err)
	}
	cfg, err := ca.ServerConfig()
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	s := start(t, Options{TLS: cfg})
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL = %q", s.URL())
	}
	t.Run("client trusting the CA", func(t *testing.T) {
		es := client(t, s, func(c *elasticsearch.Config) { c.CACert = ca.PEM() })
		res, err := es.Info()
		if err != nil {
			t.Fatalf("Info: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("status = %d", res.StatusCode)
		}
	})
	t.Run("client without the CA", func(t *testing.T) {
		es := client(t, s, nil)
		if _, err := es.Info(); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Info without the CA: err = %v, want a certificate error", err)
		}
	})
	t.Run("plain http to the tls port", func(t *testing.T) {
		res, err := http.Get("http://" + s.Addr() + "/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode < 400 {
				t.Errorf("plain HTTP got %d", res.StatusCode)
			}
		}
	})
}

func TestTemplates(t *testing.T) {
	t.Run("highest priority wins", func(t *testing.T) {
		s := start(t, Options{})
		es := client(t, s, nil)
		putTemplate(t, es, "low", `{"index_patterns":["logs-*"],"priority":110,"template":{"mappings":{"properties":{"n":{"type":"keyword"}}}}}`)
		putTemplate(t, es, "high", `{"index_patterns":["logs-app-*"],"priority":120,"data_stream":{},"template":{"mappings":{"properties":{"n":{"type":"long"}}}}}`)
		_, res, raw := bulk(t, es, ndjson(
			`{"create":{"_index":"logs-app-x"}}`, `{"@timestamp":1700000000000,"n":"abc"}`,
			`{"create":{"_index":"logs-other"}}`, `{"n":"abc"}`))
		want := []itemSummary{{"create", 400, "document_parsing_exception"}, {"create", 201, ""}}
		if d := cmp.Diff(want, res.summary()); d != "" {
			t.Errorf("items (-want +got):\n%s\n%s", d, raw)
		}
		s.store.mu.RLock()
		_, isDS := s.store.dataStreams["logs-app-x"]
		_, isIndex := s.store.indices["logs-other"]
		s.store.mu.RUnlock()
		if !isDS || !isIndex {
			t.Errorf("logs-app-x data stream %v, logs-other index %v; want both", isDS, isIndex)
		}
	})
	tests := []struct {
		name   string
		first  string
		second string
		want   int
	}{
		{"same priority overlapping", `{"index_patterns":["logs-*"],"priority":5}`, `{"index_patterns":["*-app"],"priority":5}`, 400},
		{"built-in logs template priority", `{"index_patterns":["a*"]}`, `{"index_patterns":["logs-spawnbeat*"],"priority":100}`, 400},
		{"above the built-in template", `{"index_patterns":["a*"]}`, `{"index_patterns":["logs-spawnbeat*"],"priority":101}`, 200},
		{"same priority disjoint", `{"index_patterns":["logs-*"],"priority":5}`, `{"index_patterns":["metrics-*"],"priority":5}`, 200},
		{"different priority overlapping", `{"index_patterns":["logs-*"],"priority":5}`, `{"index_patterns":["logs-a*"],"priority":6}`, 200},
		{"default priority both", `{"index_patterns":["a*"]}`, `{"index_patterns":["ab*"]}`, 400},
		{"missing patterns", `{"index_patterns":["a*"]}`, `{"priority":1}`, 400},
		{"unknown field type", `{"index_patterns":["a*"]}`, `{"index_patterns":["b*"],"template":{"mappings":{"properties":{"x":{"type":"lung"}}}}}`, 400},
		{"missing component", `{"index_patterns":["a*"]}`, `{"index_patterns":["b*"],"composed_of":["nope"]}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			es := client(t, s, nil)
			putTemplate(t, es, "first", tt.first)
			st, body := do(t, es, http.MethodPut, "/_index_template/second", tt.second)
			if st != tt.want {
				t.Errorf("PUT second = %d, want %d: %s", st, tt.want, body)
			}
		})
	}
	t.Run("get head delete", func(t *testing.T) {
		s := start(t, Options{})
		es := client(t, s, nil)
		putTemplate(t, es, "spawnbeat", logsTemplate)
		res, err := es.Indices.ExistsIndexTemplate("spawnbeat")
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("HEAD template: %v %v", res, err)
		}
		res.Body.Close()
		res, err = es.Indices.ExistsIndexTemplate("other")
		if err != nil || res.StatusCode != 404 {
			t.Fatalf("HEAD missing template: %v %v", res, err)
		}
		res.Body.Close()
		st, body := do(t, es, http.MethodGet, "/_index_template/spawnbeat", "")
		var got struct {
			IndexTemplates []struct {
				Name          string `json:"name"`
				IndexTemplate struct {
					Priority int `json:"priority"`
				} `json:"index_template"`
			} `json:"index_templates"`
		}
		if err := json.Unmarshal(body, &got); err != nil || st != 200 || len(got.IndexTemplates) != 1 ||
			got.IndexTemplates[0].Name != "spawnbeat" || got.IndexTemplates[0].IndexTemplate.Priority != 200 {
			t.Errorf("GET template: %d %s", st, body)
		}
		bulk(t, es, ndjson(`{"create":{"_index":"`+ds+`"}}`, `{"@timestamp":"2026-01-01"}`))
		if st, body := do(t, es, http.MethodDelete, "/_index_template/spawnbeat", ""); st != 400 {
			t.Errorf("DELETE template in use = %d %s, want 400", st, body)
		}
	})
}

func TestILM(t *testing.T) {
	s := start(t, Options{})
	es := client(t, s, nil)
	policy := `{"policy":{"phases":{"hot":{"actions":{"rollover":{"max_age":"30d"}}},"delete":{"min_age":"90d","actions":{"delete":{}}}}}}`
	for i := 1; i <= 2; i++ {
		if st, body := do(t, es, http.MethodPut, "/_ilm/policy/spawnbeat", policy); st != 200 {
			t.Fatalf("PUT policy: %d %s", st, body)
		}
	}
	st, body := do(t, es, http.MethodGet, "/_ilm/policy/spawnbeat", "")
	var got map[string]struct {
		Version int64           `json:"version"`
		Policy  json.RawMessage `json:"policy"`
	}
	if err := json.Unmarshal(body, &got); err != nil || st != 200 {
		t.Fatalf("GET policy: %d %s", st, body)
	}
	if got["spawnbeat"].Version != 2 || !bytes.Contains(got["spawnbeat"].Policy, []byte("rollover")) {
		t.Errorf("GET policy = %s", body)
	}
	if st, _ := do(t, es, http.MethodGet, "/_ilm/policy/none", ""); st != 404 {
		t.Errorf("GET missing policy = %d, want 404", st)
	}
	if st, _ := do(t, es, http.MethodPut, "/_ilm/policy/bad", `{"policy":{"phases":{"lukewarm":{}}}}`); st != 400 {
		t.Errorf("PUT bad phase = %d, want 400", st)
	}
}

func TestCountAndSearch(t *testing.T) {
	s := start(t, Options{})
	es := client(t, s, nil)
	putTemplate(t, es, "spawnbeat", logsTemplate)
	var b strings.Builder
	for i := range 30 {
		name := "bash"
		if i%3 == 0 {
			name = "python3.11"
		}
		fmt.Fprintf(&b, "{\"create\":{\"_index\":%q}}\n{\"@timestamp\":\"2026-11-27T06:00:%02dZ\",\"process\":{\"pid\":%d,\"name\":%q},\"message\":\"started %s now\"}\n", ds, i, i, name, name)
	}
	if status, res, raw := bulk(t, es, b.String()); status != 200 || res.Errors {
		t.Fatalf("bulk: %s", raw)
	}
	tests := []struct {
		name      string
		target    string
		query     string
		wantCount int
		wantHits  int
	}{
		{"match_all", ds, `{"query":{"match_all":{}}}`, 30, 10},
		{"no body", "logs-*", ``, 30, 10},
		{"term keyword", ds, `{"query":{"term":{"process.name":"python3.11"}}}`, 10, 10},
		{"term long", ds, `{"query":{"term":{"process.pid":{"value":7}}}}`, 1, 1},
		{"term on a text field's token", ds, `{"query":{"term":{"message":"python3"}},"size":3}`, 10, 3},
		{"term on a dynamic keyword", ds, `{"query":{"term":{"message.keyword":"started bash now"}},"size":100}`, 20, 20},
		{"size 0", ds, `{"query":{"match_all":{}},"size":0}`, 30, 0},
		{"nothing", "logs-none-*", `{"query":{"match_all":{}}}`, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cq := tt.query
			if strings.Contains(cq, `"size"`) {
				var m map[string]json.RawMessage
				if err := json.Unmarshal([]byte(cq), &m); err != nil {
					t.Fatal(err)
				}
				delete(m, "size")
				raw, _ := json.Marshal(m)
				cq = string(raw)
			}
			st, body := do(t, es, http.MethodPost, "/"+tt.target+"/_count", cq)
			var c struct {
				Count int `json:"count"`
			}
			if err := json.Unmarshal(body, &c); err != nil || st != 200 {
				t.Fatalf("_count: %d %s", st, body)
			}
			st, body = do(t, es, http.MethodPost, "/"+tt.target+"/_search", tt.query)
			var sr struct {
				Hits struct {
					Total struct {
						Value    int    `json:"value"`
						Relation string `json:"relation"`
					} `json:"total"`
					Hits []json.RawMessage `json:"hits"`
				} `json:"hits"`
			}
			if err := json.Unmarshal(body, &sr); err != nil || st != 200 {
				t.Fatalf("_search: %d %s", st, body)
			}
			got := []int{c.Count, sr.Hits.Total.Value, len(sr.Hits.Hits)}
			want := []int{tt.wantCount, tt.wantCount, tt.wantHits}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("[count total hits] (-want +got):\n%s", d)
			}
		})
	}
	if st, body := do(t, es, http.MethodPost, "/"+ds+"/_search", `{"query":{"range":{"process.pid":{"gte":10}}}}`); st != 400 || errorType(t, body) != "parsing_exception" {
		t.Errorf("a query this server does not serve: %d %s", st, body)
	}
	if st, body := do(t, es, http.MethodGet, "/missing/_count", ""); st != 404 || errorType(t, body) != "index_not_found_exception" {
		t.Errorf("count on a missing index: %d %s", st, body)
	}
	res, err := es.Ping()
	if err != nil || res.StatusCode != 200 {
		t.Errorf("HEAD / = %v %v", res, err)
	}
}

func TestConcurrentBulk(t *testing.T) {
	s := start(t, Options{})
	es := client(t, s, nil)
	putTemplate(t, es, "spawnbeat", logsTemplate)
	const workers, per = 4, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				// Every worker writes the same ids: exactly one create of
				// each wins, the others get 409.
				body := ndjson(fmt.Sprintf(`{"create":{"_index":%q,"_id":"id-%d"}}`, ds, i), fmt.Sprintf(`{"@timestamp":"2026-01-01","w":%d}`, w))
				res, err := es.Bulk(strings.NewReader(body))
				if err != nil {
					t.Errorf("Bulk: %v", err)
					return
				}
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if d := cmp.Diff([]int64{per, (workers - 1) * per, workers * per}, []int64{st.Created, st.Conflicts409, st.BulkRequests}); d != "" {
		t.Errorf("[created conflicts requests] (-want +got):\n%s", d)
	}
	if got := s.Count(ds); got != per {
		t.Errorf("Count = %d, want %d", got, per)
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("request after Close succeeded")
	}
}

func TestBuiltinTemplates(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantDS   bool
		wantILM  string
		wantItem itemSummary
	}{
		// With the built-in logs template a logs-*-* name is a data stream
		// at once, and its ignore_malformed setting keeps bad values.
		{"built-ins on", Options{}, true, "logs", itemSummary{"create", 201, ""}},
		{"built-ins off", Options{NoBuiltinTemplates: true}, false, "", itemSummary{"create", 201, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.opts)
			es := client(t, s, nil)
			_, res, raw := bulk(t, es, ndjson(`{"create":{"_index":"logs-app-default"}}`, `{"@timestamp":"2026-01-01T00:00:00Z","message":"m"}`))
			if d := cmp.Diff([]itemSummary{tt.wantItem}, res.summary()); d != "" {
				t.Fatalf("items (-want +got):\n%s\n%s", d, raw)
			}
			s.store.mu.RLock()
			dstream, isDS := s.store.dataStreams["logs-app-default"]
			s.store.mu.RUnlock()
			if isDS != tt.wantDS {
				t.Fatalf("data stream = %v, want %v", isDS, tt.wantDS)
			}
			if isDS && dstream.ilmPolicy != tt.wantILM {
				t.Errorf("ilm policy = %q, want %q", dstream.ilmPolicy, tt.wantILM)
			}
			st, _ := do(t, es, http.MethodGet, "/_ilm/policy/logs", "")
			if want := map[bool]int{true: 200, false: 404}[tt.wantDS]; st != want {
				t.Errorf("GET built-in policy = %d, want %d", st, want)
			}
		})
	}
	t.Run("literals parse", func(t *testing.T) {
		for name, body := range builtinTemplates {
			var tb templateBody
			if err := json.Unmarshal([]byte(body), &tb); err != nil || tb.Template == nil {
				t.Errorf("template %s: %v", name, err)
				continue
			}
			if _, err := compileMappings([]json.RawMessage{tb.Template.Mappings}, true); err != nil {
				t.Errorf("template %s mappings: %v", name, err)
			}
		}
		for name, body := range builtinPolicies {
			if !json.Valid([]byte(body)) {
				t.Errorf("policy %s is not JSON", name)
			}
		}
	})
	t.Run("ignore_malformed from the built-in settings", func(t *testing.T) {
		s := start(t, Options{})
		es := client(t, s, nil)
		_, res, raw := bulk(t, es, ndjson(
			`{"create":{"_index":"logs-app-default"}}`, `{"@timestamp":"2026-01-01T00:00:00Z","n":1}`,
			`{"create":{"_index":"logs-app-default"}}`, `{"@timestamp":"2026-01-01T00:00:00Z","n":"abc"}`,
			`{"create":{"_index":"logs-app-default"}}`, `{"n":1}`))
		want := []itemSummary{{"create", 201, ""}, {"create", 201, ""}, {"create", 400, "document_parsing_exception"}}
		if d := cmp.Diff(want, res.summary()); d != "" {
			t.Errorf("items (-want +got):\n%s\n%s", d, raw)
		}
	})
}

// TestBulkTooLarge sends a bulk body that inflates past
// http.max_content_length: 413 content_too_long_exception, counted once as
// a bad request, nothing stored.
func TestBulkTooLarge(t *testing.T) {
	s := start(t, Options{})
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range maxContentLength>>20 + 1 {
		if _, err := zw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/_bulk", &gz)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || errorType(t, raw) != "content_too_long_exception" {
		t.Errorf("status %d, body %s: want 413 content_too_long_exception", res.StatusCode, raw)
	}
	if got := s.Stats().BadRequests; got != 1 {
		t.Errorf("Stats().BadRequests = %d, want 1", got)
	}
	if got := s.Count("*"); got != 0 {
		t.Errorf("a refused request stored %d documents", got)
	}
}
