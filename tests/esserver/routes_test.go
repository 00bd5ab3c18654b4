package esserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRouteAnswers walks the template, lifecycle, data stream and index
// APIs through one server and checks each answer to the byte: the status
// and, where the answer holds nothing random (uuids, times), the body.
// The steps run in order; each depends on the state the earlier ones left.
func TestRouteAnswers(t *testing.T) {
	s := start(t, Options{})
	es := client(t, s, nil)
	const ack = `{"acknowledged":true}`
	notFound := func(typ, reason, index string) string {
		e := &esError{Type: typ, Reason: reason, Index: index}
		b, err := json.Marshal(requestError(http.StatusNotFound, e))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string // "" skips the body
	}{
		{"wrong method on /", "PATCH", "/", "", 405,
			`{"error":"Incorrect HTTP method for uri [/] and method [PATCH], allowed: [GET, HEAD]","status":405}`},
		{"wrong method on _bulk", http.MethodGet, "/_bulk", "", 405,
			`{"error":"Incorrect HTTP method for uri [/_bulk] and method [GET], allowed: [POST, PUT]","status":405}`},
		{"wrong method on _search", http.MethodDelete, "/x/_search", "", 405,
			`{"error":"Incorrect HTTP method for uri [/x/_search] and method [DELETE], allowed: [GET, POST]","status":405}`},
		{"wrong method on _count", http.MethodPut, "/_count", "", 405,
			`{"error":"Incorrect HTTP method for uri [/_count] and method [PUT], allowed: [GET, POST]","status":405}`},
		{"wrong method on index template", "PATCH", "/_index_template/x", "", 405,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"}],"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"},"status":405}`},
		{"wrong method on component template", "PATCH", "/_component_template/x", "", 405,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"}],"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"},"status":405}`},
		{"wrong method on lifecycle policy", "PATCH", "/_ilm/policy/x", "", 405,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"}],"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"},"status":405}`},
		{"wrong method on data stream", "PATCH", "/_data_stream/x", "", 405,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"}],"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"},"status":405}`},

		{"component template missing", http.MethodGet, "/_component_template/nope", "", 404,
			notFound("resource_not_found_exception", "component template matching [nope] not found", "")},
		{"component template c2", http.MethodPut, "/_component_template/c2", `{"template":{"settings":{}}}`, 200, ack},
		{"component template c1", http.MethodPut, "/_component_template/c1", `{"template":{}}`, 200, ack},
		{"component template without template", http.MethodPut, "/_component_template/c3", `{}`, 400, ""},
		{"component templates by pattern, sorted", http.MethodGet, "/_component_template/c*", "", 200,
			`{"component_templates":[{"component_template":{"template":{}},"name":"c1"},{"component_template":{"template":{"settings":{}}},"name":"c2"}]}`},
		{"delete component template", http.MethodDelete, "/_component_template/c1", "", 200, ack},
		{"delete component template again", http.MethodDelete, "/_component_template/c1", "", 404,
			notFound("resource_not_found_exception", "c1", "")},

		{"policy", http.MethodPut, "/_ilm/policy/p1", `{"policy":{"phases":{"hot":{}}}}`, 200, ack},
		{"policy without body", http.MethodPut, "/_ilm/policy/p2", "", 400, ""},
		{"delete policy", http.MethodDelete, "/_ilm/policy/p1", "", 200, ack},
		{"delete policy again", http.MethodDelete, "/_ilm/policy/p1", "", 404,
			notFound("resource_not_found_exception", "Lifecycle policy not found: p1", "")},
		{"get missing policy", http.MethodGet, "/_ilm/policy/p1", "", 404,
			notFound("resource_not_found_exception", "Lifecycle policy not found: [p1]", "")},

		{"delete missing index template", http.MethodDelete, "/_index_template/none", "", 404,
			notFound("resource_not_found_exception", "index_template matching [none] not found", "")},
		{"get missing index template", http.MethodGet, "/_index_template/none", "", 404,
			notFound("resource_not_found_exception", "index template matching [none] not found", "")},
		{"index template pattern matching none", http.MethodGet, "/_index_template/none*", "", 200, `{"index_templates":[]}`},
		{"index template", http.MethodPut, "/_index_template/t1", `{"index_patterns":["t1-*"],"data_stream":{},"priority":200}`, 200, ack},
		{"data stream", http.MethodPut, "/_data_stream/t1-a", "", 200, ack},
		{"data stream exists", http.MethodPut, "/_data_stream/t1-a", "", 400, ""},
		{"delete index template in use", http.MethodDelete, "/_index_template/t1", "", 400,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"unable to remove composable templates [t1] as they are in use by a data streams [t1-a]"}],"type":"illegal_argument_exception","reason":"unable to remove composable templates [t1] as they are in use by a data streams [t1-a]"},"status":400}`},
		{"all data streams", http.MethodGet, "/_data_stream/_all", "", 200, ""},
		{"missing data stream", http.MethodGet, "/_data_stream/t1-none", "", 404,
			notFound("index_not_found_exception", "no such index [t1-none]", "t1-none")},
		{"delete data stream", http.MethodDelete, "/_data_stream/t1-a", "", 200, ack},
		{"delete data stream again", http.MethodDelete, "/_data_stream/t1-a", "", 404,
			notFound("index_not_found_exception", "no such index [t1-a]", "t1-a")},
		{"delete index template", http.MethodDelete, "/_index_template/t1", "", 200, ack},

		{"doc of missing index", http.MethodGet, "/nope/_doc/1", "", 404,
			notFound("index_not_found_exception", "no such index [nope]", "nope")},
		{"refresh missing index", http.MethodPost, "/nope/_refresh", "", 404,
			notFound("index_not_found_exception", "no such index [nope]", "nope")},
		{"search missing index", http.MethodGet, "/nope/_search", "", 404,
			notFound("index_not_found_exception", "no such index [nope]", "nope")},
		{"get missing index", http.MethodGet, "/nope", "", 404,
			notFound("index_not_found_exception", "no such index [nope]", "nope")},
		{"delete missing index", http.MethodDelete, "/nope", "", 404,
			notFound("index_not_found_exception", "no such index [nope]", "nope")},
		{"create index", http.MethodPut, "/idx", "", 200, `{"acknowledged":true,"index":"idx","shards_acknowledged":true}`},
		{"create index with a broken body", http.MethodPut, "/idx2", "{", 400, ""},
		{"missing doc", http.MethodGet, "/idx/_doc/1", "", 404, `{"_id":"1","_index":"idx","found":false}`},
		{"refresh", http.MethodPost, "/idx/_refresh", "", 200, `{"_shards":{"total":1,"successful":1,"failed":0}}`},
		{"delete index", http.MethodDelete, "/idx", "", 200, ack},
	}
	// The subtests run one after the other, in order.
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, body := do(t, es, st.method, st.path, st.body)
			if status != st.status {
				t.Fatalf("%s %s = %d %s, want %d", st.method, st.path, status, body, st.status)
			}
			if st.want == "" {
				return
			}
			if diff := cmp.Diff(st.want, string(bytes.TrimSpace(body))); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", st.method, st.path, diff)
			}
		})
	}
}
