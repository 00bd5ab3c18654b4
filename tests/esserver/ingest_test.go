package esserver

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/google/go-cmp/cmp"
)

// TestPipelineAPI walks PUT, GET and DELETE _ingest/pipeline through one
// server and checks each answer: status, and the body where it is fixed.
func TestPipelineAPI(t *testing.T) {
	s := start(t, Options{})
	es := client(t, s, nil)
	const ack = `{"acknowledged":true}`
	failure := func(status int, typ, reason string) string {
		b, err := json.Marshal(requestError(status, &esError{Type: typ, Reason: reason}))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const p1 = `{"description":"stamp","processors":[{"set":{"field":"event.ingested","value":"{{{_ingest.timestamp}}}"}}]}`
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string // "" skips the body
	}{
		{"get missing", http.MethodGet, "/_ingest/pipeline/p1", "", 404, `{}`},
		{"put", http.MethodPut, "/_ingest/pipeline/p1", p1, 200, ack},
		{"put again replaces", http.MethodPut, "/_ingest/pipeline/p1", p1, 200, ack},
		{"get returns the body as put", http.MethodGet, "/_ingest/pipeline/p1", "", 200, `{"p1":` + p1 + `}`},
		{"put p2", http.MethodPut, "/_ingest/pipeline/p2", `{"processors":[{"set":{"field":"a","copy_from":"b"}}]}`, 200, ack},
		{"get by wildcard", http.MethodGet, "/_ingest/pipeline/p*", "", 200, ""},
		{"get all", http.MethodGet, "/_ingest/pipeline", "", 200, ""},
		{"delete", http.MethodDelete, "/_ingest/pipeline/p2", "", 200, ack},
		{"delete again", http.MethodDelete, "/_ingest/pipeline/p2", "", 404,
			`{"error":{"root_cause":[{"type":"resource_not_found_exception","reason":"pipeline [p2] is missing"}],"type":"resource_not_found_exception","reason":"pipeline [p2] is missing"},"status":404}`},
		{"no body", http.MethodPut, "/_ingest/pipeline/x", "", 400, failure(400, "parse_exception", "request body is required")},
		{"no processors", http.MethodPut, "/_ingest/pipeline/x", `{"description":"d"}`, 400,
			failure(400, "parse_exception", "[processors] required property is missing")},
		{"unknown processor", http.MethodPut, "/_ingest/pipeline/x", `{"processors":[{"frobnicate":{}}]}`, 400,
			failure(400, "parse_exception", "No processor type exists with name [frobnicate]")},
		{"processor this server does not run", http.MethodPut, "/_ingest/pipeline/x", `{"processors":[{"grok":{"field":"m","patterns":["%{WORD:w}"]}}]}`, 400,
			failure(400, "illegal_argument_exception", "processor [grok] is not supported by this test server")},
		{"set without field", http.MethodPut, "/_ingest/pipeline/x", `{"processors":[{"set":{"value":1}}]}`, 400,
			failure(400, "parse_exception", "[field] required property is missing")},
		{"set without value", http.MethodPut, "/_ingest/pipeline/x", `{"processors":[{"set":{"field":"a"}}]}`, 400,
			failure(400, "parse_exception", "[value] required property is missing")},
		{"set with value and copy_from", http.MethodPut, "/_ingest/pipeline/x", `{"processors":[{"set":{"field":"a","value":1,"copy_from":"b"}}]}`, 400,
			failure(400, "parse_exception", "[copy_from] cannot set both `copy_from` and `value` in the same processor")},
		{"set with a condition", http.MethodPut, "/_ingest/pipeline/x", `{"processors":[{"set":{"field":"a","value":1,"if":"ctx.b != null"}}]}`, 400,
			failure(400, "illegal_argument_exception", "a processor's if (a script) is not supported by this test server")},
		{"two types in one processor", http.MethodPut, "/_ingest/pipeline/x", `{"processors":[{"set":{"field":"a","value":1},"remove":{"field":"b"}}]}`, 400, ""},
		{"set with an unknown parameter", http.MethodPut, "/_ingest/pipeline/x", `{"processors":[{"set":{"field":"a","value":1,"valeu":2}}]}`, 400,
			failure(400, "parse_exception", "processor [set] doesn't support one or more provided configuration parameters [valeu]")},
		{"nothing of the refused was stored", http.MethodGet, "/_ingest/pipeline/x", "", 404, `{}`},
		{"wrong method", http.MethodPost, "/_ingest/pipeline/p1", "", 405, ""},
	}
	for _, st := range steps {
		status, body := do(t, es, st.method, st.path, st.body)
		if status != st.status {
			t.Errorf("%s: %s %s = %d, want %d: %s", st.name, st.method, st.path, status, st.status, body)
			continue
		}
		if st.want != "" {
			if d := cmp.Diff(st.want, string(body)); d != "" {
				t.Errorf("%s: body (-want +got):\n%s", st.name, d)
			}
		}
	}
	_, all := do(t, es, http.MethodGet, "/_ingest/pipeline", "")
	var got map[string]json.RawMessage
	if err := json.Unmarshal(all, &got); err != nil || len(got) != 1 || got["p1"] == nil {
		t.Errorf("GET all after the steps = %s, want p1 alone", all)
	}
}

// TestPipelineOnIngest checks which pipelines run on a bulk item and what
// their set processors do to the stored document.
func TestPipelineOnIngest(t *testing.T) {
	now := time.Date(2026, 11, 27, 14, 55, 49, 708743114, time.UTC)
	const stamp = "2026-11-27T14:55:49.708743Z"
	pipelines := map[string]string{
		"stamp":   `{"processors":[{"set":{"field":"event.ingested","value":"{{{_ingest.timestamp}}}"}}]}`,
		"tag":     `{"processors":[{"set":{"field":"labels.seen_by","value":"{{_ingest.pipeline}} after {{labels.seen_by}}"}}]}`,
		"keep":    `{"processors":[{"set":{"field":"event.kind","value":"changed","override":false}},{"set":{"field":"event.action","value":"changed","override":false}}]}`,
		"copy":    `{"processors":[{"set":{"field":"labels.copy","copy_from":"process"}}]}`,
		"empty":   `{"processors":[{"set":{"field":"labels.e","value":"{{nothing}}","ignore_empty_value":true}}]}`,
		"blocked": `{"processors":[{"set":{"field":"message.text","value":"x"}}]}`,
		"lenient": `{"processors":[{"set":{"field":"message.text","value":"x","ignore_failure":true}}]}`,
	}
	const doc = `{"@timestamp":"2026-11-27T14:55:49.708743114Z","message":"m","event":{"kind":"alert","risk_score":73,"severity":73},"process":{"pid":4242,"args":["/bin/sh"]},"labels":{"seen_by":"agent"}}`
	tests := []struct {
		name     string
		settings string // the template's index settings
		action   string // the bulk action line's extra parameters
		pipeline string // the bulk request's ?pipeline=
		status   int
		errType  string
		want     map[string]any // dotted paths of the stored document
	}{
		{name: "final pipeline", settings: `{"index":{"final_pipeline":"stamp"}}`, status: 201,
			want: map[string]any{"event.ingested": stamp, "event.risk_score": 73.0, "process.args": []any{"/bin/sh"}}},
		{name: "flat setting names", settings: `{"index.final_pipeline":"stamp"}`, status: 201,
			want: map[string]any{"event.ingested": stamp}},
		{name: "default then final", settings: `{"index":{"default_pipeline":"tag","final_pipeline":"stamp"}}`, status: 201,
			want: map[string]any{"labels.seen_by": "tag after agent", "event.ingested": stamp}},
		{name: "request pipeline replaces the default", settings: `{"index":{"default_pipeline":"stamp","final_pipeline":"tag"}}`,
			pipeline: "copy", status: 201,
			want: map[string]any{"labels.copy": map[string]any{"pid": 4242.0, "args": []any{"/bin/sh"}}, "labels.seen_by": "tag after agent", "event.ingested": nil}},
		{name: "action pipeline replaces the request's", settings: `{"index":{"final_pipeline":"stamp"}}`,
			action: `,"pipeline":"tag"`, pipeline: "copy", status: 201,
			want: map[string]any{"labels.seen_by": "tag after agent", "labels.copy": nil, "event.ingested": stamp}},
		{name: "_none runs no default", settings: `{"index":{"default_pipeline":"tag","final_pipeline":"stamp"}}`,
			pipeline: "_none", status: 201,
			want: map[string]any{"labels.seen_by": "agent", "event.ingested": stamp}},
		{name: "override false keeps a value", settings: `{"index":{"final_pipeline":"keep"}}`, status: 201,
			want: map[string]any{"event.kind": "alert", "event.action": "changed"}},
		{name: "ignore_empty_value", settings: `{"index":{"final_pipeline":"empty"}}`, status: 201,
			want: map[string]any{"labels.e": nil}},
		{name: "a scalar in the path fails the item", settings: `{"index":{"final_pipeline":"blocked"}}`, status: 400,
			errType: "illegal_argument_exception"},
		{name: "ignore_failure", settings: `{"index":{"final_pipeline":"lenient"}}`, status: 201,
			want: map[string]any{"message": "m"}},
		{name: "missing pipeline fails the item", settings: `{"index":{"final_pipeline":"nope"}}`, status: 400,
			errType: "illegal_argument_exception"},
		{name: "no pipeline leaves the source alone", settings: `{}`, status: 201,
			want: map[string]any{"event.ingested": nil, "labels.seen_by": "agent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			s.store.now = func() time.Time { return now }
			es := client(t, s, nil)
			for name, body := range pipelines {
				if st, out := do(t, es, http.MethodPut, "/_ingest/pipeline/"+name, body); st != http.StatusOK {
					t.Fatalf("PUT pipeline %s: %d %s", name, st, out)
				}
			}
			putTemplate(t, es, "t", `{"index_patterns":["logs-*-*"],"priority":200,"data_stream":{},"template":{"settings":`+tt.settings+`,
				"mappings":{"properties":{"event":{"properties":{"ingested":{"type":"date"}}}}}}}`)
			_, br, raw := bulk(t, es, ndjson(`{"create":{"_index":"`+ds+`","_id":"1"`+tt.action+`}}`, doc),
				func(r *esapi.BulkRequest) { r.Pipeline = tt.pipeline })
			sum := br.summary()
			if len(sum) != 1 || sum[0].Status != tt.status || sum[0].ErrType != tt.errType {
				t.Fatalf("item = %+v, want status %d error %q: %s", sum, tt.status, tt.errType, raw)
			}
			stored := s.Docs(ds)["1"]
			if tt.status != 201 {
				if stored != nil || s.Count(ds) != 0 {
					t.Errorf("a failed item was stored: %s", stored)
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(stored, &got); err != nil {
				t.Fatalf("stored %s: %v", stored, err)
			}
			if n := s.Stats().Ingested; n != 1 && len(pipelinesFor(tt.pipeline, json.RawMessage(tt.settings))) > 0 {
				t.Errorf("Stats.Ingested = %d, want 1", n)
			}
			for path, want := range tt.want {
				v, ok := getPath(got, path)
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want absent", path, v)
					}
					continue
				}
				if d := cmp.Diff(want, v); d != "" {
					t.Errorf("%s (-want +got):\n%s", path, d)
				}
			}
		})
	}
	t.Run("pipeline output is checked against the mapping", func(t *testing.T) {
		s := start(t, Options{})
		es := client(t, s, nil)
		do(t, es, http.MethodPut, "/_ingest/pipeline/stamp", pipelines["stamp"])
		putTemplate(t, es, "t", `{"index_patterns":["logs-*-*"],"priority":200,"data_stream":{},"template":{"settings":{"index.final_pipeline":"stamp"},
			"mappings":{"properties":{"event":{"properties":{"ingested":{"type":"long"}}}}}}}`)
		_, br, raw := bulk(t, es, ndjson(`{"create":{"_index":"`+ds+`"}}`, doc))
		if sum := br.summary(); len(sum) != 1 || sum[0].ErrType != "document_parsing_exception" {
			t.Errorf("a timestamp into a long field: %s", raw)
		}
	})
}

func TestIngestTimestamp(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), "2026-01-02T03:04Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05Z"},
		{time.Date(2026, 1, 2, 3, 4, 0, 120_000_000, time.UTC), "2026-01-02T03:04:00.120Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 123_456_000, time.UTC), "2026-01-02T03:04:05.123456Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 123_456_789, time.UTC), "2026-01-02T03:04:05.123456Z"},
		{time.Date(2026, 1, 2, 4, 4, 5, 1_000, time.FixedZone("CET", 3600)), "2026-01-02T03:04:05.000001Z"},
	}
	for _, tt := range tests {
		if got := ingestTimestamp(tt.in); got != tt.want {
			t.Errorf("ingestTimestamp(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if _, ok := parseDate(ingestTimestamp(tt.in)); !ok {
			t.Errorf("%q does not parse as a date field's default format", ingestTimestamp(tt.in))
		}
	}
}
