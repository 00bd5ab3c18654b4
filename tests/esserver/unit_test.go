package esserver

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFilterPath(t *testing.T) {
	doc := `{"took":3,"errors":false,"items":[{"create":{"_id":"1","status":201}},{"index":{"_id":"2","status":200,"error":{"type":"x"}}}],"a":{"b":{"c":1,"d":[1,2]},"e":"f"}}`
	tests := []struct {
		name string
		expr string
		want string
	}{
		{"one field", "took", `{"took":3}`},
		{"several", "took,errors", `{"took":3,"errors":false}`},
		{"wildcard level", "items.*.status", `{"items":[{"create":{"status":201}},{"index":{"status":200}}]}`},
		{"wildcard in a name", "items.cr*._id", `{"items":[{"create":{"_id":"1"}}]}`},
		{"double wildcard", "**.c", `{"a":{"b":{"c":1}}}`},
		{"double wildcard deep", "a.**.d", `{"a":{"b":{"d":[1,2]}}}`},
		{"whole subtree", "a.b", `{"a":{"b":{"c":1,"d":[1,2]}}}`},
		{"exclusion", "-items,-a.b", `{"took":3,"errors":false,"a":{"e":"f"}}`},
		{"include then exclude", "a,-a.b.c", `{"a":{"b":{"d":[1,2]},"e":"f"}}`},
		{"no match", "nothing", `{}`},
		{"path through a scalar", "took.x", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filterPath([]byte(doc), tt.expr)
			if err != nil {
				t.Fatalf("filterPath: %v", err)
			}
			if d := cmp.Diff(tt.want, string(got)); d != "" {
				t.Errorf("filterPath(%q) (-want +got):\n%s", tt.expr, d)
			}
		})
	}
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		a, b          string
		match, overlp bool
	}{
		{"logs-*-*", "logs-spawnbeat.process-default", true, true},
		{"logs-*", "metrics-x", false, false},
		{"*", "", true, true},
		{"a*b", "ab", true, true},
		{"a*b", "acb", true, true},
		{"a*b", "abc", false, false},
		{"logs-*", "*-app", false, true},
		{"x*", "y*", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			if got := wildcardMatch(tt.a, tt.b); got != tt.match {
				t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.match)
			}
			if got := patternsOverlap(tt.a, tt.b); got != tt.overlp {
				t.Errorf("patternsOverlap(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.overlp)
			}
			if patternsOverlap(tt.a, tt.b) != patternsOverlap(tt.b, tt.a) {
				t.Errorf("patternsOverlap is not symmetric for %q, %q", tt.a, tt.b)
			}
		})
	}
}

func TestCoerce(t *testing.T) {
	tests := []struct {
		typ   string
		value string // a JSON scalar
		ok    bool
	}{
		{"long", `42`, true},
		{"long", `"42"`, true},
		{"long", `4.7`, true},
		{"long", `""`, true},
		{"long", `"abc"`, false},
		{"long", `true`, false},
		{"long", `1e30`, false},
		{"integer", `2147483647`, true},
		{"integer", `2147483648`, false},
		{"float", `"1.5"`, true},
		{"float", `"NaN"`, false},
		{"boolean", `true`, true},
		{"boolean", `"false"`, true},
		{"boolean", `"yes"`, false},
		{"boolean", `1`, false},
		{"date", `"2026-11-27T06:00:00.123456789Z"`, true},
		{"date", `"2026-11-27"`, true},
		{"date", `"2026-11-27T06:00:00+02:00"`, true},
		{"date", `1732687200000`, true},
		{"date", `"1732687200000"`, true},
		{"date", `"27/11/2026"`, false},
		{"ip", `"192.168.0.1"`, true},
		{"ip", `"fe80::1"`, true},
		{"ip", `"300.1.1.1"`, false},
		{"ip", `17`, false},
		{"keyword", `17`, true},
		{"keyword", `true`, true},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.value, func(t *testing.T) {
			m, err := compileMappings([]json.RawMessage{json.RawMessage(`{"properties":{"f":{"type":"` + tt.typ + `"}}}`)}, false)
			if err != nil {
				t.Fatalf("compileMappings: %v", err)
			}
			e := m.validate([]byte(`{"f":`+tt.value+`}`), "id")
			if (e == nil) != tt.ok {
				t.Errorf("validate %s into %s: error %+v, want ok=%v", tt.value, tt.typ, e, tt.ok)
			}
		})
	}
}

func TestMappingDynamicSettings(t *testing.T) {
	tests := []struct {
		name    string
		mapping string
		doc     string
		want    string // error type, "" for success
	}{
		{"strict refuses new fields", `{"dynamic":"strict","properties":{"a":{"type":"long"}}}`, `{"a":1,"b":2}`, "strict_dynamic_mapping_exception"},
		{"strict accepts mapped fields", `{"dynamic":"strict","properties":{"a":{"type":"long"}}}`, `{"a":1}`, ""},
		{"false keeps unknown fields", `{"dynamic":false,"properties":{"a":{"type":"long"}}}`, `{"b":{"c":"x"}}`, ""},
		{"strict inside an object only", `{"properties":{"o":{"dynamic":"strict","properties":{"a":{"type":"long"}}}}}`, `{"x":1,"o":{"z":1}}`, "strict_dynamic_mapping_exception"},
		{"dynamic template makes strings keyword", `{"dynamic_templates":[{"s":{"match_mapping_type":"string","mapping":{"type":"keyword"}}}]}`, `{"a":"x"}`, ""},
		{"concrete value for an object", `{"properties":{"o":{"properties":{"a":{"type":"long"}}}}}`, `{"o":5}`, "document_parsing_exception"},
		{"dotted keys reach mapped fields", `{"properties":{"o":{"properties":{"a":{"type":"long"}}}}}`, `{"o.a":"x"}`, "document_parsing_exception"},
		{"ignore_malformed", `{"properties":{"a":{"type":"long","ignore_malformed":true}}}`, `{"a":"x"}`, ""},
		{"flattened takes objects", `{"properties":{"l":{"type":"flattened"}}}`, `{"l":{"k":{"v":1}}}`, ""},
		{"not an object", `{}`, `[1,2]`, "document_parsing_exception"},
		{"broken json", `{}`, `{"a":}`, "document_parsing_exception"},
		{"trailing garbage", `{}`, `{"a":1} x`, "document_parsing_exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := compileMappings([]json.RawMessage{json.RawMessage(tt.mapping)}, false)
			if err != nil {
				t.Fatalf("compileMappings: %v", err)
			}
			got := ""
			if e := m.validate([]byte(tt.doc), "id"); e != nil {
				got = e.Type
			}
			if got != tt.want {
				t.Errorf("validate(%s) = %q, want %q", tt.doc, got, tt.want)
			}
		})
	}
	t.Run("dynamic template type is learned", func(t *testing.T) {
		m, err := compileMappings([]json.RawMessage{json.RawMessage(`{"dynamic_templates":[{"s":{"match_mapping_type":"string","mapping":{"type":"keyword"}}}]}`)}, false)
		if err != nil {
			t.Fatal(err)
		}
		if e := m.validate([]byte(`{"a":"x","n":1}`), "1"); e != nil {
			t.Fatalf("validate: %+v", e)
		}
		got := []string{m.fieldType("a"), m.fieldType("n")}
		if d := cmp.Diff([]string{"keyword", "long"}, got); d != "" {
			t.Errorf("learned types (-want +got):\n%s", d)
		}
	})
}
