package kibanaserver

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
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

// req is one request a test sends.
type req struct {
	method, path string
	header       map[string]string
	contentType  string
	body         []byte
	noXSRF       bool
}

// call sends r to s (with kbn-xsrf unless noXSRF) and returns the status
// and body.
func call(t testing.TB, s *Server, r req) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, "http://"+s.Addr()+r.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if !r.noXSRF {
		hr.Header.Set("kbn-xsrf", "test")
	}
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// form builds a multipart/form-data body with one file part.
func form(t testing.TB, field, filename string, content string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	if filename != "" {
		h.Set("Content-Disposition", `form-data; name="`+field+`"; filename="`+filename+`"`)
	} else {
		h.Set("Content-Disposition", `form-data; name="`+field+`"`)
	}
	p, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// importReq is a saved objects (or rules) import of content.
func importReq(t testing.TB, path, content string) req {
	t.Helper()
	body, ct := form(t, "file", "assets.ndjson", content)
	return req{method: http.MethodPost, path: path, contentType: ct, body: body}
}

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// decode unmarshals a JSON answer into a map.
func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, b)
	}
	return m
}

// boomOf is Kibana's error body {statusCode, error, message}.
type boomOf struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

func boomBodyOf(t testing.TB, b []byte) boomOf {
	t.Helper()
	var e boomOf
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an error body: %v: %s", err, b)
	}
	return e
}

const (
	pattern   = `{"type":"index-pattern","id":"p1","attributes":{"title":"logs-*","timeFieldName":"@timestamp"},"references":[]}`
	search    = `{"type":"search","id":"s1","attributes":{"title":"Alerts"},"references":[{"name":"kibanaSavedObjectMeta.searchSourceJSON.index","type":"index-pattern","id":"p1"}]}`
	dashboard = `{"type":"dashboard","id":"d1","attributes":{"title":"Board","panelsJSON":"[]"},"references":[{"name":"panel_0","type":"search","id":"s1"}]}`
	rule      = `{"rule_id":"r1","name":"Promote","description":"d","risk_score":21,"severity":"low","type":"query","query":"event.kind:alert","index":["logs-*"],"enabled":true}`
)
