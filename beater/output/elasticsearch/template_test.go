package elasticsearch

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestTemplateGolden renders the template from the real fields.yml and
// from the testdata copy of the documented format, and the ILM policy.
func TestTemplateGolden(t *testing.T) {
	testFields, err := os.ReadFile(filepath.Join("testdata", "fields.yml"))
	if err != nil {
		t.Fatal(err)
	}
	custom := DefaultSetupConfig()
	custom.Template.Pattern = "logs-spawnbeat.process-prod*"
	custom.Template.Priority = 300
	custom.Template.Settings.Index = map[string]any{"number_of_shards": 2}
	custom.ILM.Enabled = false
	tests := []struct {
		name   string
		fields []byte
		setup  SetupConfig
		golden string
	}{
		{"ecs fields.yml", ecs.FieldsYAML, DefaultSetupConfig(), "template.golden.json"},
		{"testdata fields.yml custom settings", testFields, custom, "template-testdata.golden.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Template(tc.fields, tc.setup)
			if err != nil {
				t.Fatalf("Template: %v", err)
			}
			golden(t, tc.golden, got)
			again, err := Template(tc.fields, tc.setup)
			if err != nil || string(again) != string(got) {
				t.Errorf("Template is not deterministic")
			}
		})
	}
	t.Run("ilm policy", func(t *testing.T) {
		got, err := ILMPolicy(DefaultSetupConfig().ILM)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "ilm-policy.golden.json", got)
	})
	t.Run("ingest pipeline", func(t *testing.T) {
		got, err := IngestPipeline()
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "ingest-pipeline.golden.json", got)
	})
}

// TestTemplateFinalPipeline: the template names spawnbeat's pipeline as
// the final pipeline, and setup.template.settings.index.final_pipeline
// replaces it.
func TestTemplateFinalPipeline(t *testing.T) {
	none := DefaultSetupConfig()
	none.Template.Settings.Index = map[string]any{"final_pipeline": "_none"}
	own := DefaultSetupConfig()
	own.Template.Settings.Index = map[string]any{"final_pipeline": "mine"}
	tests := []struct {
		name  string
		setup SetupConfig
		want  string
	}{
		{"default", DefaultSetupConfig(), IngestPipelineName},
		{"none", none, "_none"},
		{"the user's", own, "mine"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Template(ecs.FieldsYAML, tc.setup)
			if err != nil {
				t.Fatal(err)
			}
			var tpl struct {
				Template struct {
					Settings struct {
						Index struct {
							FinalPipeline string `json:"final_pipeline"`
						} `json:"index"`
					} `json:"settings"`
				} `json:"template"`
			}
			if err := json.Unmarshal(b, &tpl); err != nil {
				t.Fatal(err)
			}
			if got := tpl.Template.Settings.Index.FinalPipeline; got != tc.want {
				t.Errorf("final_pipeline = %q, want %q", got, tc.want)
			}
			if got := finalPipeline(&tc.setup); got != tc.want {
				t.Errorf("finalPipeline = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMappingsECSTypes spot-checks the types ECS prescribes in the
// template generated from the real fields.yml.
func TestMappingsECSTypes(t *testing.T) {
	m, err := Mappings(ecs.FieldsYAML)
	if err != nil {
		t.Fatal(err)
	}
	props := m["properties"].(map[string]any)
	tests := []struct {
		field string
		want  map[string]any
	}{
		{"@timestamp", map[string]any{"type": "date"}},
		{"process.pid", map[string]any{"type": "long"}},
		{"process.args", map[string]any{"type": "keyword", "ignore_above": 1024}},
		{"process.command_line", map[string]any{"type": "wildcard", "fields": map[string]any{"text": map[string]any{"type": "match_only_text"}}}},
		{"process.name", map[string]any{"type": "keyword", "ignore_above": 1024, "fields": map[string]any{"text": map[string]any{"type": "match_only_text"}}}},
		{"process.parent.args_count", map[string]any{"type": "long"}},
		{"host.ip", map[string]any{"type": "ip"}},
		{"event.risk_score", map[string]any{"type": "float"}},
		{"event.severity", map[string]any{"type": "long"}},
		{"event.ingested", map[string]any{"type": "date"}},
		{"message", map[string]any{"type": "match_only_text"}},
		{"data_stream.namespace", map[string]any{"type": "constant_keyword"}},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			got, err := lookup(props, tc.field)
			if err != nil {
				t.Fatalf("%s not in the mappings", tc.field)
			}
			// JSON round trip so that ints compare with ints.
			if diff := cmp.Diff(roundTrip(t, tc.want), roundTrip(t, got)); diff != "" {
				t.Errorf("mapping of %s (-want +got):\n%s", tc.field, diff)
			}
		})
	}
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMappingsFormat covers the fields.yml features and its errors.
func TestMappingsFormat(t *testing.T) {
	tests := []struct {
		name    string
		yml     string
		want    map[string]any // some fields of the properties tree; nil when an error is expected
		wantErr bool
	}{
		{
			name: "dotted names and groups merge",
			yml: `
- key: a
  fields:
    - name: host.os.type
      type: keyword
    - name: host
      type: group
      fields:
        - name: os.name
          type: keyword
          ignore_above: 256
          multi_fields:
            - name: text
              type: text
- key: b
  fields:
    - name: host
      type: group
      fields:
        - name: ratio
          type: scaled_float
        - name: labels
          type: flattened
        - name: raw
          type: object
        - name: k
          type: constant_keyword
          value: x
        - name: n
          type: integer
          index: false
          doc_values: false
`,
			want: map[string]any{
				"host.os.type": map[string]any{"type": "keyword", "ignore_above": 1024.0},
				"host.os.name": map[string]any{"type": "keyword", "ignore_above": 256.0, "fields": map[string]any{"text": map[string]any{"type": "text"}}},
				"host.ratio":   map[string]any{"type": "scaled_float", "scaling_factor": 1000.0},
				"host.labels":  map[string]any{"type": "flattened"},
				"host.raw":     map[string]any{"type": "object"},
				"host.k":       map[string]any{"type": "constant_keyword", "value": "x"},
				"host.n":       map[string]any{"type": "integer", "index": false, "doc_values": false},
			},
		},
		{name: "unknown type", yml: "- key: a\n  fields:\n    - name: x\n      type: strang\n", wantErr: true},
		{name: "declared twice", yml: "- key: a\n  fields:\n    - name: x\n      type: long\n    - name: x\n      type: long\n", wantErr: true},
		{name: "leaf then object", yml: "- key: a\n  fields:\n    - name: x\n      type: long\n    - name: x.y\n      type: long\n", wantErr: true},
		{name: "group without fields", yml: "- key: a\n  fields:\n    - name: x\n      type: group\n", wantErr: true},
		{name: "fields under a leaf", yml: "- key: a\n  fields:\n    - name: x\n      type: long\n      fields:\n        - name: y\n          type: long\n", wantErr: true},
		{name: "no name", yml: "- key: a\n  fields:\n    - type: long\n", wantErr: true},
		{name: "not yaml", yml: "- key: [", wantErr: true},
		{name: "empty", yml: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Mappings([]byte(tc.yml))
			if tc.wantErr {
				if !errors.Is(err, ErrFields) {
					t.Fatalf("Mappings error = %v, want ErrFields", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Mappings: %v", err)
			}
			props := roundTrip(t, m["properties"]).(map[string]any)
			got := map[string]any{}
			for name := range tc.want {
				f, err := lookup(props, name)
				if err != nil {
					t.Errorf("%s missing; fields: %v", name, fieldNames(props, "", nil))
					continue
				}
				got[name] = f
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mappings (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzMappings feeds arbitrary fields.yml bytes to the generator: it must
// return JSON or an error wrapping ErrFields, never panic.
func FuzzMappings(f *testing.F) {
	f.Add(ecs.FieldsYAML)
	f.Add([]byte("- key: a\n  fields:\n    - name: x.y\n      type: keyword\n"))
	f.Add([]byte("- name: x\n  type: group\n  fields: [{name: y, type: nested, fields: [{name: z, type: ip}]}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Template(b, DefaultSetupConfig())
		if err != nil {
			if !errors.Is(err, ErrFields) {
				t.Fatalf("error without ErrFields: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
	})
}
