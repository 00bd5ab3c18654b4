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
		{"wrong method on lifecycle policy", "PATCH", "/_ilm/policy/x", "", 405,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"}],"type":"illegal_argument_exception","reason":"method [PATCH] not allowed"},"status":405}`},

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
		{"index template of a missing component template", http.MethodPut, "/_index_template/t2", `{"index_patterns":["t2-*"],"composed_of":["c1"]}`, 400,
			`{"error":{"root_cause":[{"type":"invalid_index_template_exception","reason":"index_template [t2] invalid, cause [index template [t2] specifies component templates [c1] that do not exist]"}],"type":"invalid_index_template_exception","reason":"index_template [t2] invalid, cause [index template [t2] specifies component templates [c1] that do not exist]"},"status":400}`},
		{"a data stream from the template", http.MethodPost, "/_bulk", `{"create":{"_index":"t1-a"}}` + "\n" + `{"@timestamp":"2026-01-01T00:00:00Z"}` + "\n", 200, ""},
		{"delete index template in use", http.MethodDelete, "/_index_template/t1", "", 400,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"unable to remove composable templates [t1] as they are in use by a data streams [t1-a]"}],"type":"illegal_argument_exception","reason":"unable to remove composable templates [t1] as they are in use by a data streams [t1-a]"},"status":400}`},
		{"another index template", http.MethodPut, "/_index_template/t3", `{"index_patterns":["t3-*"],"data_stream":{},"priority":200}`, 200, ack},
		{"delete an index template no data stream uses", http.MethodDelete, "/_index_template/t3", "", 200, ack},

		{"search missing index", http.MethodGet, "/nope/_search", "", 404,
			notFound("index_not_found_exception", "no such index [nope]", "nope")},
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
