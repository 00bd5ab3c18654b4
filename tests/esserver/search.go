package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// The query subset is what spawnbeat's harnesses send: match_all and term
// (tests/bench/capture's -es mode finds its documents with them), in _search
// and _count. Another query answers 400 naming the two. There is no scoring
// (every hit scores 1.0) and hits come in index order, then write order.

type searchRequest struct {
	Query          map[string]json.RawMessage `json:"query"`
	Size           *int                       `json:"size"`
	From           int                        `json:"from"`
	TrackTotalHits any                        `json:"track_total_hits"`
}

// query is a compiled query node.
type query func(ix *index, src map[string]any, id string) bool

type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

func parseQuery(q map[string]json.RawMessage) (query, error) {
	if len(q) == 0 {
		return func(*index, map[string]any, string) bool { return true }, nil
	}
	if len(q) != 1 {
		return nil, &queryError{"[_na] query malformed, no start_object after query name"}
	}
	for name, body := range q {
		switch name {
		case "match_all":
			return func(*index, map[string]any, string) bool { return true }, nil
		case "term":
			field, val, err := fieldQuery(body, name)
			if err != nil {
				return nil, err
			}
			return func(ix *index, src map[string]any, _ string) bool {
				return fieldMatches(ix, src, field, val)
			}, nil
		default:
			return nil, &queryError{fmt.Sprintf("unknown query [%s]: this test server serves match_all and term", name)}
		}
	}
	return nil, &queryError{"empty query"}
}

// fieldQuery reads {"field": value} or {"field": {"value": v}}.
func fieldQuery(body json.RawMessage, name string) (string, any, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 {
		return "", nil, &queryError{fmt.Sprintf("[%s] query doesn't support multiple fields", name)}
	}
	for field, raw := range m {
		var v any
		if err := unmarshalNumbers(raw, &v); err != nil {
			return "", nil, &queryError{fmt.Sprintf("[%s] malformed query: %v", name, err)}
		}
		if obj, ok := v.(map[string]any); ok {
			x, ok := obj["value"]
			if !ok {
				return "", nil, &queryError{fmt.Sprintf("[%s] query on field [%s] needs a value", name, field)}
			}
			v = x
		}
		return field, v, nil
	}
	return "", nil, &queryError{"no field"}
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

// fieldValues collects the values at a dotted path, whether the source
// nests objects or uses dotted keys, flattening arrays.
func fieldValues(ix *index, src map[string]any, path string) []any {
	var out []any
	collect(src, path, &out)
	if len(out) == 0 {
		if base, ok := strings.CutSuffix(path, ".keyword"); ok && ix.mapping.fieldType(path) == "keyword" {
			collect(src, base, &out)
		}
	}
	return out
}

func collect(v any, path string, out *[]any) {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			if k == path {
				flatten(sub, out)
			} else if rest, ok := strings.CutPrefix(path, k+"."); ok {
				collect(sub, rest, out)
			}
		}
	case []any:
		for _, e := range x {
			collect(e, path, out)
		}
	}
}

func flatten(v any, out *[]any) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			flatten(e, out)
		}
	case nil:
	default:
		*out = append(*out, x)
	}
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// tokens is a rough standard analyzer: lowercase words of letters and
// digits.
func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// fieldMatches decides a term leaf: a text field's value matches when one
// of its analyzed tokens equals want, a numeric field's when the numbers
// are equal, any other's when the strings are.
func fieldMatches(ix *index, src map[string]any, field string, want any) bool {
	typ := ix.mapping.fieldType(field)
	for _, v := range fieldValues(ix, src, field) {
		if typ == "text" || typ == "match_only_text" {
			if slices.Contains(tokens(scalarString(v)), scalarString(want)) {
				return true
			}
			continue
		}
		if fa, ok := toFloat(v); ok {
			if fb, err := strconv.ParseFloat(scalarString(want), 64); err == nil && fa == fb {
				return true
			}
			continue
		}
		if scalarString(v) == scalarString(want) {
			return true
		}
	}
	return false
}

type hit struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Score  float64         `json:"_score"`
	Source json.RawMessage `json:"_source"`
	seq    int64
}

// handleSearch serves _count (count true) and _search.
func (s *Server) handleSearch(rs *reply, target string, count bool) {
	body, ok := rs.body()
	if !ok {
		return
	}
	var req searchRequest
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			rs.error(http.StatusBadRequest, newErr("x_content_parse_exception", "[1:1] failed to parse search request: %v", err))
			return
		}
	}
	qs := rs.r.URL.Query()
	q, err := parseQuery(req.Query)
	if err != nil {
		rs.error(http.StatusBadRequest, newErr("parsing_exception", "%v", err))
		return
	}
	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	if v := qs.Get("size"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			size = n
		}
	}
	st := s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	ixs, missing := st.resolve(target)
	if rs.missingIndex(missing) {
		return
	}
	var hits []hit
	total := 0
	for _, ix := range ixs {
		for id, d := range ix.docs {
			var src map[string]any
			if len(req.Query) > 0 {
				if err := unmarshalNumbers(d.source, &src); err != nil {
					continue
				}
			}
			if !q(ix, src, id) {
				continue
			}
			total++
			if !count {
				hits = append(hits, hit{Index: ix.name, ID: id, Score: 1, Source: d.source, seq: d.seqNo})
			}
		}
	}
	shards := shardsInfo{Total: len(ixs), Successful: len(ixs)}
	if count {
		rs.json(http.StatusOK, map[string]any{"count": total, "_shards": shards})
		return
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Index != hits[j].Index {
			return hits[i].Index < hits[j].Index
		}
		return hits[i].seq < hits[j].seq
	})
	from := min(max(req.From, 0), len(hits))
	hits = hits[from:]
	if size >= 0 && size < len(hits) {
		hits = hits[:size]
	}
	if hits == nil {
		hits = []hit{}
	}
	// Hit counts are exact up to 10,000 unless track_total_hits is true
	// (reference: "Search API", track_total_hits).
	limit := 10000
	switch x := req.TrackTotalHits.(type) {
	case bool:
		if x {
			limit = -1
		}
	case float64:
		limit = int(x)
	}
	value, relation := total, "eq"
	if limit >= 0 && total > limit {
		value, relation = limit, "gte"
	}
	var maxScore any
	if len(hits) > 0 {
		maxScore = 1.0
	}
	rs.json(http.StatusOK, map[string]any{
		"took": 1, "timed_out": false,
		"_shards": map[string]int{"total": shards.Total, "successful": shards.Successful, "skipped": 0, "failed": 0},
		"hits": map[string]any{
			"total":     map[string]any{"value": value, "relation": relation},
			"max_score": maxScore,
			"hits":      hits,
		},
	})
}
