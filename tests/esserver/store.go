package esserver

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// doc is one stored document.
type doc struct {
	source  json.RawMessage
	version int64
	seqNo   int64
}

// index is a concrete index (a plain one or a data stream's backing index).
type index struct {
	name       string
	uuid       string
	created    time.Time
	docs       map[string]*doc
	nextSeq    int64
	mapping    *mapping
	settings   json.RawMessage
	template   string // the template that created it, if any
	dataStream string // owning data stream, if a backing index
}

// dataStream is a named stream of backing indices; writes go to the last.
type dataStream struct {
	name       string
	template   string
	ilmPolicy  string
	generation int
	indices    []*index
	hidden     bool
}

// indexTemplate is a composable index template.
type indexTemplate struct {
	name       string
	raw        json.RawMessage // the body as PUT, returned by GET
	patterns   []string
	priority   int64
	dataStream bool
	mappings   json.RawMessage
	settings   json.RawMessage
}

// store holds everything the node knows. It is safe for concurrent use: mu
// guards every field; a bulk request holds the write lock while it applies.
type store struct {
	mu          sync.RWMutex
	indices     map[string]*index
	dataStreams map[string]*dataStream
	templates   map[string]*indexTemplate
	policies    map[string]*ilmPolicy
	pipelines   map[string]*ingestPipeline
	now         func() time.Time
}

type ilmPolicy struct {
	version  int64
	modified time.Time
	policy   json.RawMessage
}

func newStore() *store {
	return &store{
		indices:     make(map[string]*index),
		dataStreams: make(map[string]*dataStream),
		templates:   make(map[string]*indexTemplate),
		policies:    make(map[string]*ilmPolicy),
		pipelines:   make(map[string]*ingestPipeline),
		now:         time.Now,
	}
}

// wildcardMatch reports whether name matches pattern, where * matches any
// run of characters (Elasticsearch's simple wildcard matching).
func wildcardMatch(pattern, name string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == name
	}
	if !strings.HasPrefix(name, pattern[:star]) {
		return false
	}
	name = name[star:]
	pattern = pattern[star+1:]
	if pattern == "" {
		return true
	}
	// Try every position for the rest of the pattern.
	for i := 0; i <= len(name); i++ {
		if wildcardMatch(pattern, name[i:]) {
			return true
		}
	}
	return false
}

// patternsOverlap reports whether some name matches both glob patterns
// (only * is special), which is how Elasticsearch decides that two index
// templates of the same priority conflict.
func patternsOverlap(a, b string) bool {
	memo := make(map[[2]int]bool)
	seen := make(map[[2]int]bool)
	var rec func(i, j int) bool
	rec = func(i, j int) bool {
		k := [2]int{i, j}
		if seen[k] {
			return memo[k]
		}
		seen[k] = true
		var r bool
		switch {
		case i == len(a) && j == len(b):
			r = true
		case i < len(a) && a[i] == '*':
			r = rec(i+1, j) || (j < len(b) && rec(i, j+1))
		case j < len(b) && b[j] == '*':
			r = rec(i, j+1) || (i < len(a) && rec(i+1, j))
		case i < len(a) && j < len(b):
			r = a[i] == b[j] && rec(i+1, j+1)
		}
		memo[k] = r
		return r
	}
	return rec(0, 0)
}

// matchTemplate returns the highest-priority template whose patterns match
// name, or nil; ties (which PUT refuses for overlapping patterns) go to the
// first name in sort order. s.mu must be held.
func (st *store) matchTemplate(name string) *indexTemplate {
	var best *indexTemplate
	for _, t := range st.templates {
		ok := false
		for _, p := range t.patterns {
			if wildcardMatch(p, name) {
				ok = true
				break
			}
		}
		if !ok {
			continue
		}
		if best == nil || t.priority > best.priority || (t.priority == best.priority && t.name < best.name) {
			best = t
		}
	}
	return best
}

// resolve expands a name, a comma-separated list, or patterns into concrete
// indices: a data stream yields its backing indices. Patterns skip hidden
// names (starting with ".") unless the pattern itself starts with ".", as
// Elasticsearch's expand_wildcards=open does. Missing concrete names are
// returned in missing. s.mu must be held.
func (st *store) resolve(expr string) (out []*index, missing []string) {
	seen := make(map[*index]bool)
	add := func(ix *index) {
		if !seen[ix] {
			seen[ix] = true
			out = append(out, ix)
		}
	}
	if expr == "" || expr == "_all" {
		expr = "*"
	}
	for _, name := range strings.Split(expr, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !strings.Contains(name, "*") {
			if ds, ok := st.dataStreams[name]; ok {
				for _, ix := range ds.indices {
					add(ix)
				}
				continue
			}
			if ix, ok := st.indices[name]; ok {
				add(ix)
				continue
			}
			missing = append(missing, name)
			continue
		}
		hiddenOK := strings.HasPrefix(name, ".")
		for dsName, ds := range st.dataStreams {
			if (ds.hidden || strings.HasPrefix(dsName, ".")) && !hiddenOK {
				continue
			}
			if wildcardMatch(name, dsName) {
				for _, ix := range ds.indices {
					add(ix)
				}
			}
		}
		for ixName, ix := range st.indices {
			if strings.HasPrefix(ixName, ".") && !hiddenOK {
				continue
			}
			if wildcardMatch(name, ixName) {
				add(ix)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, missing
}

func (st *store) count(expr string) int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	ixs, _ := st.resolve(expr)
	n := 0
	for _, ix := range ixs {
		n += len(ix.docs)
	}
	return n
}

func (st *store) docs(expr string) map[string]json.RawMessage {
	st.mu.RLock()
	defer st.mu.RUnlock()
	ixs, _ := st.resolve(expr)
	out := make(map[string]json.RawMessage)
	for _, ix := range ixs {
		for id, d := range ix.docs {
			out[id] = d.source
		}
	}
	return out
}

// backingName is a data stream's backing index name,
// .ds-<data-stream>-<yyyy.MM.dd>-<generation>, as documented on the
// "Data streams" page ("Generation" section).
func backingName(ds string, t time.Time, gen int) string {
	return fmt.Sprintf(".ds-%s-%s-%06d", ds, t.UTC().Format("2006.01.02"), gen)
}

// newIndex creates a concrete index with the mapping and settings of t
// (nil for none). s.mu must be held for writing.
func (st *store) newIndex(name string, t *indexTemplate, ds string) (*index, error) {
	ix := &index{
		name:       name,
		uuid:       randomID(16),
		created:    st.now(),
		docs:       make(map[string]*doc),
		dataStream: ds,
	}
	var mappings []json.RawMessage
	if t != nil {
		ix.template = t.name
		if len(t.mappings) > 0 {
			mappings = append(mappings, t.mappings)
		}
		if len(t.settings) > 0 {
			ix.settings = t.settings
		}
	}
	m, err := compileMappings(mappings, ds != "")
	if err != nil {
		return nil, fmt.Errorf("create index [%s]: %w", name, err)
	}
	m.ignoreMalformed = settingBool(ix.settings, "index.mapping.ignore_malformed")
	ix.mapping = m
	st.indices[name] = ix
	return ix, nil
}

// newDataStream creates a data stream and its first backing index.
// s.mu must be held for writing.
func (st *store) newDataStream(name string, t *indexTemplate) (*dataStream, error) {
	ds := &dataStream{name: name, template: t.name, generation: 1, hidden: strings.HasPrefix(name, ".")}
	ix, err := st.newIndex(backingName(name, st.now(), 1), t, name)
	if err != nil {
		return nil, err
	}
	ds.indices = []*index{ix}
	ds.ilmPolicy = settingString(ix.settings, "index.lifecycle.name")
	st.dataStreams[name] = ds
	return ds, nil
}

// settingString reads a setting given either flat ("index.lifecycle.name")
// or nested ({"index": {"lifecycle": {"name": ...}}}), both of which
// Elasticsearch accepts.
func settingString(settings json.RawMessage, key string) string {
	v := settingValue(settings, key)
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func settingBool(settings json.RawMessage, key string) bool {
	v := settingValue(settings, key)
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true"
	}
	return false
}

func settingValue(settings json.RawMessage, key string) any {
	if len(settings) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(settings, &m); err != nil {
		return nil
	}
	// The "index." prefix is optional in index settings.
	if v := lookupDotted(m, key); v != nil {
		return v
	}
	return lookupDotted(m, strings.TrimPrefix(key, "index."))
}

// lookupDotted finds a dotted key in a map where every prefix may be either
// a nested object or part of a dotted key.
func lookupDotted(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for i := 0; i < len(key); i++ {
		if key[i] != '.' {
			continue
		}
		if sub, ok := m[key[:i]].(map[string]any); ok {
			if v := lookupDotted(sub, key[i+1:]); v != nil {
				return v
			}
		}
	}
	return nil
}
