package kibanaserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// importAnswer is the 200 answer of the saved objects import API.
type importAnswer struct {
	Success        bool `json:"success"`
	SuccessCount   int  `json:"successCount"`
	SuccessResults []struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		Overwrite bool   `json:"overwrite"`
		Meta      struct {
			Title string `json:"title"`
		} `json:"meta"`
	} `json:"successResults"`
	Errors []struct {
		Type  string         `json:"type"`
		ID    string         `json:"id"`
		Error map[string]any `json:"error"`
	} `json:"errors"`
	Warnings []any `json:"warnings"`
}

func importObjects(t *testing.T, s *Server, path, content string) importAnswer {
	t.Helper()
	code, body := call(t, s, importReq(t, path, content))
	if code != http.StatusOK {
		t.Fatalf("import = %d %s", code, body)
	}
	var a importAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return a
}

// errorTypes lists "type:id=error.type" of an answer's failures.
func (a importAnswer) errorTypes() []string {
	var out []string
	for _, e := range a.Errors {
		out = append(out, e.Type+":"+e.ID+"="+e.Error["type"].(string))
	}
	return out
}

// TestImportOverwriteAndConflicts: a first import creates, a second
// without overwrite answers a conflict per object and changes nothing, and
// with overwrite replaces each object, so the set stays the same.
func TestImportOverwriteAndConflicts(t *testing.T) {
	s := start(t, Options{})
	file := lines(pattern, search, dashboard)
	a := importObjects(t, s, "/api/saved_objects/_import", file)
	if !a.Success || a.SuccessCount != 3 || len(a.Errors) != 0 || a.Warnings == nil {
		t.Fatalf("first import: %+v", a)
	}
	if a.SuccessResults[2].Meta.Title != "Board" || a.SuccessResults[2].Overwrite {
		t.Errorf("success result %+v", a.SuccessResults[2])
	}
	before := s.Objects("")

	a = importObjects(t, s, "/api/saved_objects/_import", file)
	if a.Success || a.SuccessCount != 0 {
		t.Errorf("import again without overwrite: %+v", a)
	}
	if d := cmp.Diff([]string{"index-pattern:p1=conflict", "search:s1=conflict", "dashboard:d1=conflict"}, a.errorTypes()); d != "" {
		t.Errorf("conflicts (-want +got):\n%s", d)
	}
	if d := cmp.Diff(before, s.Objects("")); d != "" {
		t.Errorf("a conflicting import changed the objects:\n%s", d)
	}

	a = importObjects(t, s, "/api/saved_objects/_import?overwrite=true", file)
	if !a.Success || a.SuccessCount != 3 || !a.SuccessResults[0].Overwrite {
		t.Errorf("import with overwrite: %+v", a)
	}
	after := s.Objects("")
	if len(after) != 3 {
		t.Fatalf("%d objects after re-import, want 3", len(after))
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].CreatedAt != before[i].CreatedAt || after[i].Version == before[i].Version {
			t.Errorf("object %d: before %+v after %+v: want the same object, created once, a new version", i, before[i], after[i])
		}
	}
}

func TestImportPerObjectErrors(t *testing.T) {
	s := start(t, Options{})
	s.SetFaults(Faults{ObjectErrors: map[string]string{"search:s1": "mapper_parsing_exception"}})
	file := lines(
		pattern,
		search,
		`{"type":"lens","id":"l1","attributes":{"title":"L"},"references":[{"name":"indexpattern-datasource-layer-x","type":"index-pattern","id":"missing"}]}`,
		`{"type":"ml-job","id":"j1","attributes":{}}`,
		`{"type":"dashboard","id":"d2","attributes":"not an object"}`,
		`{"exportedCount":5,"missingRefCount":0,"missingReferences":[]}`,
	)
	a := importObjects(t, s, "/api/saved_objects/_import?overwrite=true", file)
	want := []string{"search:s1=unknown", "lens:l1=missing_references", "ml-job:j1=unsupported_type", "dashboard:d2=unknown"}
	if d := cmp.Diff(want, a.errorTypes()); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
	if a.Success || a.SuccessCount != 1 {
		t.Errorf("success %v, count %d: want false, 1 (the index pattern)", a.Success, a.SuccessCount)
	}
	if refs := a.Errors[1].Error["references"]; !strings.Contains(mustJSON(t, refs), `{"id":"missing","type":"index-pattern"}`) {
		t.Errorf("missing references = %v", refs)
	}
	if a.Errors[0].Error["message"] != "mapper_parsing_exception" {
		t.Errorf("injected error = %v", a.Errors[0].Error)
	}
	if got := s.Objects(""); len(got) != 1 || got[0].ID != "p1" {
		t.Errorf("stored %+v, want the index pattern only", got)
	}
}

// TestImportRequestValidation: what Kibana refuses as a whole, with its
// status and message, and nothing applied.
func TestImportRequestValidation(t *testing.T) {
	s := start(t, Options{})
	jsonForm, ct := form(t, "file", "assets.json", lines(pattern))
	fieldForm, fieldCT := form(t, "file", "", lines(pattern))
	otherForm, otherCT := form(t, "upload", "a.ndjson", lines(pattern))
	tests := []struct {
		name    string
		r       req
		status  int
		message string
	}{
		{"json body", req{method: "POST", path: "/api/saved_objects/_import", contentType: "application/json", body: []byte(pattern)}, 415, "Unsupported Media Type"},
		{"no boundary", req{method: "POST", path: "/api/saved_objects/_import", contentType: "multipart/form-data", body: []byte("x")}, 400, "Invalid multipart payload format"},
		{"broken multipart", req{method: "POST", path: "/api/saved_objects/_import", contentType: "multipart/form-data; boundary=zz", body: []byte("--zz\r\nno headers end")}, 400, "Invalid multipart payload format"},
		{"no file part", req{method: "POST", path: "/api/saved_objects/_import", contentType: otherCT, body: otherForm}, 400, "[request body.file]: expected value of type [Stream] but got [undefined]"},
		{"file as a field", req{method: "POST", path: "/api/saved_objects/_import", contentType: fieldCT, body: fieldForm}, 400, "[request body.file]: expected value of type [Stream] but got [string]"},
		{"wrong extension", req{method: "POST", path: "/api/saved_objects/_import", contentType: ct, body: jsonForm}, 400, "Invalid file extension .json"},
		{"bad line", importReq(t, "/api/saved_objects/_import", lines(pattern, `{"type":"search",`)), 400, "Unexpected"},
		{"not unique", importReq(t, "/api/saved_objects/_import", lines(pattern, pattern)), 400, "Non-unique import objects detected: [index-pattern:p1]"},
		{"overwrite not a boolean", importReq(t, "/api/saved_objects/_import?overwrite=yes", lines(pattern)), 400, "[request query.overwrite]: expected value of type [boolean] but got [string]"},
		{"unknown parameter", importReq(t, "/api/saved_objects/_import?force=true", lines(pattern)), 400, "[request query.force]: definition for this key is missing"},
		{"overwrite and new copies", importReq(t, "/api/saved_objects/_import?overwrite=true&createNewCopies=true", lines(pattern)), 400, "cannot use [overwrite] with [createNewCopies]"},
		{"too large", importReq(t, "/api/saved_objects/_import", strings.Repeat(" ", maxImportPayloadBytes)), 413, "Payload content length greater than maximum allowed: 26214400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, s, tc.r)
			e := boomBodyOf(t, body)
			if code != tc.status || e.StatusCode != tc.status || !strings.Contains(e.Message, tc.message) {
				t.Errorf("= %d %s, want %d with %q", code, body, tc.status, tc.message)
			}
		})
	}
	if n := len(s.Objects("")); n != 0 {
		t.Errorf("%d objects stored by refused requests", n)
	}
}

func TestFindGetExport(t *testing.T) {
	s := start(t, Options{})
	importObjects(t, s, "/api/saved_objects/_import", lines(pattern, search, dashboard))

	code, body := call(t, s, req{method: http.MethodGet, path: "/api/saved_objects/_find?type=dashboard&type=search&per_page=1&page=2"})
	m := decode(t, body)
	if code != 200 || m["total"] != 2.0 || m["page"] != 2.0 || len(m["saved_objects"].([]any)) != 1 {
		t.Errorf("_find = %d %s", code, body)
	}
	if code, body := call(t, s, req{method: http.MethodGet, path: "/api/saved_objects/_find"}); code != 400 || !strings.Contains(string(body), "request query.type") {
		t.Errorf("_find without type = %d %s", code, body)
	}
	code, body = call(t, s, req{method: http.MethodGet, path: "/api/saved_objects/dashboard/d1"})
	if code != 200 || decode(t, body)["attributes"].(map[string]any)["title"] != "Board" {
		t.Errorf("GET dashboard = %d %s", code, body)
	}
	code, body = call(t, s, req{method: http.MethodGet, path: "/api/saved_objects/dashboard/nope"})
	if e := boomBodyOf(t, body); code != 404 || e.Message != "Saved object [dashboard/nope] not found" {
		t.Errorf("GET missing = %d %s", code, body)
	}

	code, body = call(t, s, req{method: http.MethodPost, path: "/api/saved_objects/_export", contentType: "application/json",
		body: []byte(`{"objects":[{"type":"dashboard","id":"d1"}],"includeReferencesDeep":true}`)})
	if code != 200 {
		t.Fatalf("_export = %d %s", code, body)
	}
	out := strings.Split(strings.TrimSpace(string(body)), "\n")
	var got []string
	for _, l := range out[:len(out)-1] {
		o := decode(t, []byte(l))
		if _, ok := o["namespaces"]; ok {
			t.Errorf("exported object has namespaces: %s", l)
		}
		got = append(got, o["type"].(string)+":"+o["id"].(string))
	}
	if d := cmp.Diff([]string{"dashboard:d1", "index-pattern:p1", "search:s1"}, got); d != "" {
		t.Errorf("exported (-want +got):\n%s", d)
	}
	if details := decode(t, []byte(out[len(out)-1])); details["exportedCount"] != 3.0 || details["missingRefCount"] != 0.0 {
		t.Errorf("details line %s", out[len(out)-1])
	}
	// What was exported imports again as it is.
	a := importObjects(t, s, "/api/saved_objects/_import?overwrite=true", string(body))
	if !a.Success || a.SuccessCount != 3 {
		t.Errorf("re-import of the export: %+v", a)
	}
	code, body = call(t, s, req{method: http.MethodPost, path: "/api/saved_objects/_export", contentType: "application/json",
		body: []byte(`{"objects":[{"type":"dashboard","id":"gone"}]}`)})
	if e := boomBodyOf(t, body); code != 400 || e.Message != "Error fetching objects to export" {
		t.Errorf("_export of a missing object = %d %s", code, body)
	}
	code, body = call(t, s, req{method: http.MethodPost, path: "/api/saved_objects/_export", contentType: "application/json",
		body: []byte(`{"type":"index-pattern","excludeExportDetails":true}`)})
	if code != 200 || strings.Count(string(body), "\n") != 1 || !strings.Contains(string(body), `"id":"p1"`) {
		t.Errorf("_export by type = %d %s", code, body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
