package esserver

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

type nopVisitor struct{}

func (nopVisitor) enterObject(int) error                   { return nil }
func (nopVisitor) key([]byte, bool) error                  { return nil }
func (nopVisitor) leaveKey()                               {}
func (nopVisitor) scalar(tokKind, []byte, bool, int) error { return nil }
func (nopVisitor) enterArray()                             {}
func (nopVisitor) leaveArray()                             {}

// FuzzScanner checks that the document scanner accepts exactly the valid
// JSON that encoding/json accepts (for valid UTF-8 and sane nesting).
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":null}],"c":"\u00e9\n"}`, `[`, `{"a":01}`, `-0.5e+3`, `"\ud800"`, `{"a":1,}`, `tru`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) || strings.Count(string(b), "[")+strings.Count(string(b), "{") > maxDepth {
			return
		}
		sc := jsonScanner{b: b}
		err := sc.document(nopVisitor{})
		if valid := json.Valid(b); valid != (err == nil) {
			t.Errorf("scanner err = %v, json.Valid = %v for %q", err, valid, b)
		}
	})
}

// FuzzBulk feeds arbitrary bodies through the parser and, when they parse,
// applies them: nothing may panic, and every op yields one item.
func FuzzBulk(f *testing.F) {
	f.Add([]byte("{\"create\":{\"_index\":\"logs-a-b\",\"_id\":\"1\"}}\n{\"@timestamp\":\"2026-01-01\"}\n"))
	f.Add([]byte("{\"index\":{\"_index\":\"a\"}}\n{\"x\":{\"y\":[1,\"2\"]}}\n{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n"))
	f.Add([]byte("{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"doc\":{\"x\":1},\"doc_as_upsert\":true}\n"))
	f.Add([]byte("[1]\n"))
	f.Add([]byte("{\"create\":{\"_index\":\"a\"}}\n{\"a\":"))
	s := &Server{store: newStore()}
	s.store.templates["t"] = &indexTemplate{name: "t", patterns: []string{"logs-*-*"}, dataStream: true,
		mappings: json.RawMessage(`{"properties":{"x":{"type":"long"}}}`)}
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, perr := parseBulk(body, "", nil)
		if perr != nil {
			if perr.err == nil || perr.status != 400 {
				t.Fatalf("parse error without a 400 body: %+v", perr)
			}
			return
		}
		s.store.mu.Lock()
		defer s.store.mu.Unlock()
		for i := range ops {
			item := s.applyOp(&ops[i])
			if item.res.Status == 0 {
				t.Fatalf("op %d has no status", i)
			}
		}
	})
}

// FuzzFilterPath checks that filtering valid JSON yields valid JSON.
func FuzzFilterPath(f *testing.F) {
	f.Add([]byte(`{"items":[{"create":{"status":201,"_id":"x"}}],"errors":false}`), "errors,items.*.status")
	f.Add([]byte(`{"a":{"b":[{"c":1},{"d":2}]}}`), "**.c,-a.b.d")
	f.Fuzz(func(t *testing.T, body []byte, expr string) {
		if !json.Valid(body) {
			return
		}
		out, err := filterPath(body, expr)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Errorf("filterPath(%s, %q) = %s: not JSON", body, expr, out)
		}
	})
}

// FuzzIngest stores arbitrary pipelines and runs them over arbitrary
// documents: a refused pipeline answers an error object, an accepted one
// yields JSON or an error, never a panic.
func FuzzIngest(f *testing.F) {
	f.Add([]byte(`{"processors":[{"set":{"field":"event.ingested","value":"{{{_ingest.timestamp}}}"}}]}`), []byte(`{"event":{"kind":"alert"}}`))
	f.Add([]byte(`{"processors":[{"set":{"field":"a.{{b}}","copy_from":"c","override":false}}]}`), []byte(`{"b":"x","c":[1,{"d":null}]}`))
	f.Add([]byte(`{"processors":[{"set":{"field":"a.b","value":{"x":"{{a}}"},"ignore_empty_value":true}}]}`), []byte(`{"a":"scalar"}`))
	f.Add([]byte(`{"processors":[{"grok":{}}]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, pipeline, doc []byte) {
		p, e := parsePipeline(pipeline)
		if e != nil {
			if e.Type == "" || e.Reason == "" {
				t.Fatalf("refusal without type or reason: %+v", e)
			}
			return
		}
		st := newStore()
		st.pipelines["p"] = p
		out, e := st.ingest(doc, "logs-a-b", []string{"p"})
		if e == nil && json.Valid(doc) && !json.Valid(out) {
			t.Errorf("ingest of %s through %s gave %s: not JSON", doc, pipeline, out)
		}
	})
}
