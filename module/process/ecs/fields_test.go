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
	"gopkg.in/yaml.v3"
)

// fieldDef is one entry of fields.yml, in the Beats layout.
type fieldDef struct {
	Key           string       `yaml:"key"`
	Title         string       `yaml:"title"`
	Name          string       `yaml:"name"`
	Type          string       `yaml:"type"`
	Description   string       `yaml:"description"`
	Example       any          `yaml:"example"`
	IgnoreAbove   int          `yaml:"ignore_above"`
	ScalingFactor float64      `yaml:"scaling_factor"`
	MultiFields   []multiField `yaml:"multi_fields"`
	Fields        []fieldDef   `yaml:"fields"`
}

type multiField struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// leafTypes are the field types the template generator understands.
var leafTypes = map[string]bool{
	"keyword": true, "wildcard": true, "match_only_text": true, "text": true,
	"long": true, "integer": true, "date": true, "boolean": true, "ip": true,
	"float": true, "scaled_float": true, "object": true, "flattened": true,
	"constant_keyword": true,
}

// declaredFields parses FieldsYAML into dotted leaf names and their types,
// failing the test on any structural problem.
func declaredFields(t *testing.T) map[string]string {
	t.Helper()
	var sections []fieldDef
	dec := yaml.NewDecoder(bytes.NewReader(FieldsYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&sections); err != nil {
		t.Fatalf("parse fields.yml: %v", err)
	}
	if len(sections) == 0 {
		t.Fatal("fields.yml has no sections")
	}
	leaves := map[string]string{}
	var walk func(prefix string, fs []fieldDef)
	walk = func(prefix string, fs []fieldDef) {
		seen := map[string]bool{}
		for _, f := range fs {
			name := prefix + f.Name
			switch {
			case f.Name == "" || strings.Contains(f.Name, "."):
				t.Errorf("field %q under %q: names must be one non-empty path element", f.Name, prefix)
			case seen[f.Name]:
				t.Errorf("field %s declared twice", name)
			case f.Description == "":
				t.Errorf("field %s has no description", name)
			}
			seen[f.Name] = true
			if f.Type == "group" {
				if len(f.Fields) == 0 {
					t.Errorf("group %s has no fields", name)
				}
				walk(name+".", f.Fields)
				continue
			}
			if !leafTypes[f.Type] {
				t.Errorf("field %s has unknown type %q", name, f.Type)
			}
			if f.Type == "scaled_float" && f.ScalingFactor <= 0 {
				t.Errorf("field %s is scaled_float without scaling_factor", name)
			}
			if len(f.Fields) != 0 {
				t.Errorf("field %s of type %s has sub-fields", name, f.Type)
			}
			for _, m := range f.MultiFields {
				if m.Name == "" || !leafTypes[m.Type] {
					t.Errorf("field %s: bad multi_field %+v", name, m)
				}
			}
			leaves[name] = f.Type
		}
	}
	for _, s := range sections {
		if s.Key == "" || s.Title == "" {
			t.Errorf("section %+v lacks key or title", s.Key)
		}
		walk("", s.Fields)
	}
	return leaves
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
