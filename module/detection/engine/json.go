package engine

import (
	"encoding/json"
	"strings"
)

// JSON returns the Resolver over a decoded JSON document (as from
// json.Unmarshal into map[string]any, or with UseNumber). A field name
// resolves through nested objects, dotted keys, or any mix
// ({"process":{"parent.name":"x"}}), and through arrays of objects, whose
// values are collected as Elasticsearch flattens them. null, empty arrays
// and objects are absent. Category "any" matches every document; any other
// category matches when event.category contains it. Every field counts as
// filled. The Resolver is safe for concurrent use.
func JSON() Resolver[map[string]any] { return jsonResolver{} }

type jsonResolver struct{}

// Field implements Resolver.
func (jsonResolver) Field(name string) (Field[map[string]any], bool) {
	path := newJSONPath(name)
	return Field[map[string]any]{Get: path.get}, true
}

// Category implements Resolver.
func (r jsonResolver) Category(name string) func(map[string]any) bool {
	if name == "any" {
		return func(doc map[string]any) bool { return doc != nil }
	}
	f, _ := r.Field("event.category")
	return func(doc map[string]any) bool {
		v := f.Get(doc)
		for i := 0; i < v.Len(); i++ {
			if e := v.At(i); e.Kind == String && e.Str == name {
				return true
			}
		}
		return false
	}
}

// jsonPath is a dotted name with every dotted sub-key precomputed:
// keys[i][j] is segs[i:j] joined with ".".
type jsonPath struct {
	n    int
	keys [][]string
}

func newJSONPath(name string) *jsonPath {
	segs := strings.Split(name, ".")
	p := &jsonPath{n: len(segs), keys: make([][]string, len(segs))}
	for i := range segs {
		p.keys[i] = make([]string, len(segs)+1)
		for j := i + 1; j <= len(segs); j++ {
			p.keys[i][j] = strings.Join(segs[i:j], ".")
		}
	}
	return p
}

func (p *jsonPath) get(doc map[string]any) Value {
	var found []any
	p.collect(doc, 0, &found)
	var out []Value
	for _, v := range found {
		out = appendJSON(out, v)
	}
	switch len(out) {
	case 0:
		return Value{}
	case 1:
		return out[0]
	}
	allStrings := true
	for _, v := range out {
		if v.Kind != String {
			allStrings = false
			break
		}
	}
	if allStrings {
		s := make([]string, len(out))
		for i, v := range out {
			s[i] = v.Str
		}
		return Value{Kind: Strings, Strs: s}
	}
	return Value{Kind: List, List: out}
}

// collect appends every value reachable from m by segs[i:], trying the
// longest dotted key first.
func (p *jsonPath) collect(m map[string]any, i int, found *[]any) {
	for j := p.n; j > i; j-- {
		v, ok := m[p.keys[i][j]]
		if !ok {
			continue
		}
		if j == p.n {
			*found = append(*found, v)
			continue
		}
		p.descend(v, j, found)
	}
}

func (p *jsonPath) descend(v any, i int, found *[]any) {
	switch v := v.(type) {
	case map[string]any:
		p.collect(v, i, found)
	case []any:
		for _, e := range v {
			p.descend(e, i, found)
		}
	}
}

// appendJSON converts a JSON value to scalar Values, flattening arrays.
func appendJSON(out []Value, v any) []Value {
	switch v := v.(type) {
	case string:
		return append(out, Value{Kind: String, Str: v})
	case float64:
		return append(out, NumberValue(v))
	case float32:
		return append(out, NumberValue(float64(v)))
	case int:
		return append(out, NumberValue(float64(v)))
	case int64:
		return append(out, NumberValue(float64(v)))
	case uint64:
		return append(out, NumberValue(float64(v)))
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return append(out, NumberValue(f))
		}
		return append(out, Value{Kind: String, Str: v.String()})
	case bool:
		return append(out, BoolValue(v))
	case []string:
		for _, s := range v {
			out = append(out, Value{Kind: String, Str: s})
		}
	case []any:
		for _, e := range v {
			out = appendJSON(out, e)
		}
	}
	return out
}
