package kibana

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// lines splits NDJSON into its lines, failing on a missing final newline.
func lines(t *testing.T, b []byte) []string {
	t.Helper()
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("NDJSON without a final newline: %q", b)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestSavedObjectsEncoding: embedded JSON becomes strings, strings already
// there stay, numbers and non-ASCII text come out as written.
func TestSavedObjectsEncoding(t *testing.T) {
	fsys := fstest.MapFS{
		"dashboard/d.json": file(`{"id":"d","type":"dashboard","attributes":{
			"title":"T › <b>&",
			"panelsJSON":[{"gridData":{"x":0,"y":0,"w":48,"h":1.50,"i":"1"},"big":12345678901234567890}],
			"optionsJSON":"{\"useMargins\":true}",
			"kibanaSavedObjectMeta":{"searchSourceJSON":{"query":{"query":"","language":"kuery"},"filter":[]}}},
			"references":[]}`),
		"lens/l.json": file(`{"id":"l","type":"lens","attributes":{"state":{"query":{"query":"a"}}}}`),
	}
	got, err := SavedObjects(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"attributes":{"kibanaSavedObjectMeta":{"searchSourceJSON":"{\"filter\":[],\"query\":{\"language\":\"kuery\",\"query\":\"\"}}"},"optionsJSON":"{\"useMargins\":true}","panelsJSON":"[{\"big\":12345678901234567890,\"gridData\":{\"h\":1.50,\"i\":\"1\",\"w\":48,\"x\":0,\"y\":0}}]","title":"T › <b>&"},"id":"d","references":[],"type":"dashboard"}`,
		`{"attributes":{"state":{"query":{"query":"a"}}},"id":"l","type":"lens"}`,
	}
	if d := cmp.Diff(want, lines(t, got)); d != "" {
		t.Errorf("NDJSON (-want +got):\n%s", d)
	}
}

// TestSavedObjectsOrder: an object follows the objects it references,
// whatever their names; otherwise type/id order; the same tree always
// gives the same bytes.
func TestSavedObjectsOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"search/a-search.json": file(`{"id":"a-search","type":"search","attributes":{},
			"references":[{"name":"kibanaSavedObjectMeta.searchSourceJSON.index","type":"index-pattern","id":"z-view"}]}`),
		"dashboard/a-dash.json": file(`{"id":"a-dash","type":"dashboard","attributes":{},
			"references":[{"name":"1:panel_1","type":"search","id":"a-search"},{"name":"2:x","type":"index-pattern","id":"z-view"},
			{"name":"3:y","type":"index-pattern","id":"logs-*"}]}`),
		"index-pattern/z-view.json": file(`{"id":"z-view","type":"index-pattern","attributes":{}}`),
		"index-pattern/b-view.json": file(`{"id":"b-view","type":"index-pattern","attributes":{}}`),
		"detection_rules/r.json":    file(`{"rule_id":"r"}`),
		"README.md":                 file("notes"),
		".git/config":               file("x"),
		"lens/.hidden.json":         file("not even JSON"),
	}
	first, err := SavedObjects(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines(t, first) {
		var o struct{ Type, ID string }
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatal(err)
		}
		got = append(got, o.Type+"/"+o.ID)
	}
	want := []string{"index-pattern/b-view", "index-pattern/z-view", "search/a-search", "dashboard/a-dash"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	for range 5 {
		again, err := SavedObjects(fsys)
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("a second run gave other bytes (%v)", err)
		}
	}
}

// TestSavedObjectsErrors: every problem names the file and says what is
// wrong.
func TestSavedObjectsErrors(t *testing.T) {
	ok := `{"id":"a","type":"search","attributes":{}}`
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string // in the error
	}{
		{"type is not the directory", fstest.MapFS{"dashboard/a.json": file(ok)},
			`dashboard/a.json: type "search" in directory "dashboard"`},
		{"id is not the file name", fstest.MapFS{"search/b.json": file(ok)},
			`search/b.json: id "a" in file "b.json"`},
		{"file at the top", fstest.MapFS{"a.json": file(ok)}, "a.json: a saved object lives at <type>/<id>.json"},
		{"file too deep", fstest.MapFS{"search/x/a.json": file(ok)}, "search/x/a.json: a saved object lives at <type>/<id>.json"},
		{"not .json", fstest.MapFS{"search/a.ndjson": file(ok)}, "search/a.ndjson: a saved object lives at <type>/<id>.json"},
		{"syntax error with its place", fstest.MapFS{"search/a.json": file("{\n  \"id\": \"a\",\n  \"type\": \"search\"\n  \"attributes\": {}\n}")},
			"search/a.json: line 4 column 3: invalid character '\"' after object key:value pair"},
		{"not an object", fstest.MapFS{"search/a.json": file(`[1]`)}, "search/a.json: json: cannot unmarshal array"},
		{"two values", fstest.MapFS{"search/a.json": file(ok + ok)}, "search/a.json: more than one JSON value"},
		{"unknown key", fstest.MapFS{"search/a.json": file(`{"id":"a","type":"search","attributes":{},"refrences":[]}`)}, //nolint:misspell // the misspelt key is the case
			`search/a.json: unknown key "refrences"`}, //nolint:misspell // the misspelt key is the case
		{"no attributes", fstest.MapFS{"search/a.json": file(`{"id":"a","type":"search"}`)},
			"search/a.json: attributes: missing or not an object"},
		{"no type", fstest.MapFS{"search/a.json": file(`{"id":"a","attributes":{}}`)}, "search/a.json: type: missing"},
		{"embedded string not JSON", fstest.MapFS{"search/a.json": file(`{"id":"a","type":"search","attributes":{"kibanaSavedObjectMeta":{"searchSourceJSON":"{query"}}}`)},
			"search/a.json: attributes.kibanaSavedObjectMeta.searchSourceJSON: a string here must be JSON text"},
		{"bad reference", fstest.MapFS{"search/a.json": file(`{"id":"a","type":"search","attributes":{},"references":[{"name":"n","type":"index-pattern"}]}`)},
			"search/a.json: references[0]: name, type and id must be non-empty strings"},
		{"cycle", fstest.MapFS{
			"search/a.json": file(`{"id":"a","type":"search","attributes":{},"references":[{"name":"n","type":"search","id":"b"}]}`),
			"search/b.json": file(`{"id":"b","type":"search","attributes":{},"references":[{"name":"n","type":"search","id":"a"}]}`),
			"search/c.json": file(`{"id":"c","type":"search","attributes":{}}`)},
			"references form a cycle among search/a.json, search/b.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := SavedObjects(tt.fsys)
			if !errors.Is(err, ErrAsset) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SavedObjects = %q, %v; want an ErrAsset containing %q", out, err, tt.want)
			}
		})
	}
}

func TestDetectionRules(t *testing.T) {
	t.Run("one compact line each, in rule_id order", func(t *testing.T) {
		fsys := fstest.MapFS{
			"detection_rules/b.json":   file("{\n  \"rule_id\": \"b\",\n  \"name\": \"B <x>\",\n  \"risk_score\": 47\n}\n"),
			"detection_rules/a.json":   file(`{"rule_id":"a","version":1}`),
			"detection_rules/notes.md": file("# notes"),
			"search/s.json":            file(`{"id":"s","type":"search","attributes":{}}`),
		}
		got, err := DetectionRules(fsys)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{`{"rule_id":"a","version":1}`, `{"name":"B <x>","risk_score":47,"rule_id":"b"}`}
		if d := cmp.Diff(want, lines(t, got)); d != "" {
			t.Errorf("NDJSON (-want +got):\n%s", d)
		}
	})
	t.Run("a tree without rules", func(t *testing.T) {
		got, err := DetectionRules(fstest.MapFS{"search/s.json": file(`{}`)})
		if err != nil || len(got) != 0 {
			t.Errorf("DetectionRules = %q, %v; want nothing", got, err)
		}
	})
	errs := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"rule_id is not the file name", fstest.MapFS{"detection_rules/a.json": file(`{"rule_id":"b"}`)},
			`detection_rules/a.json: rule_id "b": the file must be named <rule_id>.json`},
		{"no rule_id", fstest.MapFS{"detection_rules/a.json": file(`{"name":"x"}`)}, "detection_rules/a.json: rule_id: missing"},
		{"not JSON", fstest.MapFS{"detection_rules/a.json": file(`{"rule_id":`)}, "detection_rules/a.json: "},
		{"not .json", fstest.MapFS{"detection_rules/a.toml": file(`rule_id = "a"`)},
			"detection_rules/a.toml: a detection rule lives at detection_rules/<rule_id>.json"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			out, err := DetectionRules(tt.fsys)
			if !errors.Is(err, ErrAsset) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DetectionRules = %q, %v; want an ErrAsset containing %q", out, err, tt.want)
			}
		})
	}
}

// TestAssetsEmbedded: the binary carries the shipped objects under their
// fixed ids, and the rule.
func TestAssetsEmbedded(t *testing.T) {
	so, err := SavedObjects(Assets())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines(t, so) {
		var o struct{ Type, ID string }
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatal(err)
		}
		got = append(got, o.Type+"/"+o.ID)
	}
	want := []string{"index-pattern/" + DataViewID, "search/" + AlertsSearchID, "dashboard/" + DashboardID}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("embedded saved objects (-want +got):\n%s", d)
	}
	rules, err := DetectionRules(Assets())
	if err != nil {
		t.Fatal(err)
	}
	if l := lines(t, rules); len(l) != 1 || !strings.Contains(l[0], `"rule_id":"`+PromotionRuleID+`"`) {
		t.Errorf("embedded rules = %q, want the promotion rule %s", rules, PromotionRuleID)
	}
}

// FuzzSavedObjects feeds arbitrary file contents (a user's
// setup.dashboards.directory) through SavedObjects and DetectionRules:
// each returns NDJSON whose every line is JSON, or an error wrapping
// ErrAsset; never a panic.
func FuzzSavedObjects(f *testing.F) {
	f.Add([]byte(`{"id":"a","type":"dashboard","attributes":{"panelsJSON":[{"x":1}],"optionsJSON":"{}"},"references":[{"name":"n","type":"search","id":"a"}]}`))
	f.Add([]byte(`{"id":"a","type":"dashboard","attributes":{"kibanaSavedObjectMeta":{"searchSourceJSON":"{"}}}`))
	f.Add([]byte(`{"rule_id":"a","name":"x"}`))
	f.Add([]byte(`{"id":"a"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := fstest.MapFS{"dashboard/a.json": &fstest.MapFile{Data: b}, "detection_rules/a.json": &fstest.MapFile{Data: b}}
		for name, fn := range map[string]func(fs.FS) ([]byte, error){"SavedObjects": SavedObjects, "DetectionRules": DetectionRules} {
			out, err := fn(fsys)
			if err != nil {
				if !errors.Is(err, ErrAsset) {
					t.Fatalf("%s: error without ErrAsset: %v", name, err)
				}
				continue
			}
			for _, l := range lines(t, out) {
				if !json.Valid([]byte(l)) {
					t.Fatalf("%s: line %q is not JSON", name, l)
				}
			}
		}
	})
}
