package ecs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/internal/fields"
)

// declaredFields parses _meta/fields.yml (which package fields checks in
// full) into dotted leaf names and their types.
func declaredFields(t *testing.T) map[string]string {
	t.Helper()
	leaves, err := fields.Parse(FieldsYAML)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(leaves))
	for _, l := range leaves {
		out[l.Name] = l.Type
	}
	return out
}

// goldenLeaves returns the dotted leaf keys of a decoded document with the
// JSON kind of their values ("string", "number", "bool"; arrays by element).
func goldenLeaves(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				walk(prefix+k+".", c)
			}
		case []any:
			for _, c := range v {
				walk(prefix, c)
			}
			if len(v) == 0 {
				out[strings.TrimSuffix(prefix, ".")] = "empty"
			}
		case string:
			out[strings.TrimSuffix(prefix, ".")] = "string"
		case json.Number:
			out[strings.TrimSuffix(prefix, ".")] = "number"
		case bool:
			out[strings.TrimSuffix(prefix, ".")] = "bool"
		default:
			t.Errorf("%s: unexpected JSON value %v", prefix, v)
		}
	}
	walk("", m)
	return out
}

// kindFor is the JSON kind that a field type takes in documents.
func kindFor(typ string) string {
	switch typ {
	case "long", "integer", "float", "scaled_float":
		return "number"
	case "boolean":
		return "bool"
	}
	return "string"
}

func readGoldens(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestGoldenFieldsDeclared: every key any golden writes is declared in
// fields.yml with a type its value fits, so the index template never
// leaves a field to dynamic mapping.
func TestGoldenFieldsDeclared(t *testing.T) {
	declared := declaredFields(t)
	for name, doc := range readGoldens(t) {
		t.Run(name, func(t *testing.T) {
			for leaf, kind := range goldenLeaves(t, doc) {
				typ, ok := declared[leaf]
				if !ok {
					t.Errorf("%s is written but not declared in fields.yml", leaf)
					continue
				}
				if kind != "empty" && kind != kindFor(typ) {
					t.Errorf("%s holds a %s, but fields.yml declares %s", leaf, kind, typ)
				}
			}
		})
	}
}

// TestDeclaredFieldsWritten: full.json, the golden with every field
// present, writes every field fields.yml declares, so the file lists no
// field the encoder has stopped writing.
func TestDeclaredFieldsWritten(t *testing.T) {
	full := goldenLeaves(t, readGoldens(t)["full.json"])
	var missing []string
	for leaf := range declaredFields(t) {
		if _, ok := full[leaf]; !ok {
			missing = append(missing, leaf)
		}
	}
	sort.Strings(missing)
	if diff := cmp.Diff([]string(nil), missing); diff != "" {
		t.Errorf("fields declared in fields.yml but absent from full.json (-want +got):\n%s", diff)
	}
}
