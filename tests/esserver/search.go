package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// The query subset: match_all, match_none, term, terms, match,
// match_phrase (as match), exists, ids, range and bool. Enough for tests to
// ask "how many alerts", not a search engine: there is no scoring (every
// hit scores 1.0) and hits come in index order, then write order.

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
		case "match_none":
			return func(*index, map[string]any, string) bool { return false }, nil
		case "term", "match", "match_phrase":
			field, val, opts, err := fieldQuery(body, name)
			if err != nil {
				return nil, err
			}
			analyzed := name != "term"
			and := strings.EqualFold(opts["operator"], "and")
			return func(ix *index, src map[string]any, _ string) bool {
				return fieldMatches(ix, src, field, val, analyzed, and || name == "match_phrase")
			}, nil
		case "terms":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 {
				return nil, &queryError{"[terms] query malformed"}
			}
			for field, raw := range m {
				var vals []any
				if err := unmarshalNumbers(raw, &vals); err != nil {
					return nil, &queryError{fmt.Sprintf("[terms] query does not support [%s]", field)}
				}
				return func(ix *index, src map[string]any, _ string) bool {
					for _, v := range vals {
						if fieldMatches(ix, src, field, v, false, false) {
							return true
						}
					}
					return false
				}, nil
			}
		case "exists":
			var e struct {
				Field string `json:"field"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Field == "" {
				return nil, &queryError{"[exists] must be provided with a [field]"}
			}
			return func(ix *index, src map[string]any, _ string) bool {
				return len(fieldValues(ix, src, e.Field)) > 0
			}, nil
		case "ids":
			var e struct {
				Values []string `json:"values"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				return nil, &queryError{"[ids] query malformed"}
			}
			return func(_ *index, _ map[string]any, id string) bool {
				for _, v := range e.Values {
					if v == id {
						return true
					}
				}
				return false
			}, nil
		case "range":
			return parseRange(body)
		case "bool":
			return parseBool(body)
		default:
			return nil, &queryError{fmt.Sprintf("unknown query [%s]", name)}
		}
	}
	return nil, &queryError{"empty query"}
}

// fieldQuery reads {"field": value} or {"field": {"value"|"query": v, ...}}.
func fieldQuery(body json.RawMessage, name string) (string, any, map[string]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 {
		return "", nil, nil, &queryError{fmt.Sprintf("[%s] query doesn't support multiple fields", name)}
	}
	for field, raw := range m {
		var v any
		if err := unmarshalNumbers(raw, &v); err != nil {
			return "", nil, nil, &queryError{fmt.Sprintf("[%s] malformed query: %v", name, err)}
		}
		opts := map[string]string{}
		if obj, ok := v.(map[string]any); ok {
			for k, x := range obj {
				opts[k] = fmt.Sprint(x)
			}
			if x, ok := obj["value"]; ok {
				v = x
			} else if x, ok := obj["query"]; ok {
				v = x
			} else {
				return "", nil, nil, &queryError{fmt.Sprintf("[%s] query on field [%s] needs a value", name, field)}
			}
		}
		return field, v, opts, nil
	}
	return "", nil, nil, &queryError{"no field"}
}

func parseRange(body json.RawMessage) (query, error) {
	var m map[string]map[string]any
	if err := unmarshalNumbers(body, &m); err != nil || len(m) != 1 {
		return nil, &queryError{"[range] query malformed"}
	}
	for field, bounds := range m {
		return func(ix *index, src map[string]any, _ string) bool {
			for _, v := range fieldValues(ix, src, field) {
				ok := true
				for op, b := range bounds {
					c, canCompare := compareValues(v, b)
					if !canCompare {
						if op == "gt" || op == "gte" || op == "lt" || op == "lte" {
							ok = false
						}
						continue
					}
					switch op {
					case "gt":
						ok = ok && c > 0
					case "gte":
						ok = ok && c >= 0
					case "lt":
						ok = ok && c < 0
					case "lte":
						ok = ok && c <= 0
					}
				}
				if ok {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, &queryError{"[range] query malformed"}
}

// compareValues orders two scalars: numerically when both are numbers,
// as dates when both parse as dates, else as strings.
func compareValues(a, b any) (int, bool) {
	fa, okA := toFloat(a)
	fb, okB := toFloat(b)
	if okA && okB {
		switch {
		case fa < fb:
			return -1, true
		case fa > fb:
			return 1, true
		}
		return 0, true
	}
	sa, sb := scalarString(a), scalarString(b)
	ta, okA := parseDate(sa)
	tb, okB := parseDate(sb)
	if okA && okB {
		return ta.Compare(tb), true
	}
	return strings.Compare(sa, sb), true
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

func parseBool(body json.RawMessage) (query, error) {
	var b map[string]json.RawMessage
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, &queryError{"[bool] query malformed"}
	}
	clauses := func(key string) ([]query, error) {
		raw, ok := b[key]
		if !ok {
			return nil, nil
		}
		var list []map[string]json.RawMessage
		if len(raw) > 0 && raw[0] == '{' {
			var one map[string]json.RawMessage
			if err := json.Unmarshal(raw, &one); err != nil {
				return nil, &queryError{fmt.Sprintf("[bool] malformed [%s]", key)}
			}
			list = append(list, one)
		} else if err := json.Unmarshal(raw, &list); err != nil {
			return nil, &queryError{fmt.Sprintf("[bool] malformed [%s]", key)}
		}
		var out []query
		for _, q := range list {
			c, err := parseQuery(q)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	must, err := clauses("must")
	if err != nil {
		return nil, err
	}
	filter, err := clauses("filter")
	if err != nil {
		return nil, err
	}
	should, err := clauses("should")
	if err != nil {
		return nil, err
	}
	mustNot, err := clauses("must_not")
	if err != nil {
		return nil, err
	}
	must = append(must, filter...)
	// Without must/filter, at least one should clause has to match.
	minShould := 0
	if len(should) > 0 && len(must) == 0 {
		minShould = 1
	}
	if raw, ok := b["minimum_should_match"]; ok {
		if n, err := strconv.Atoi(strings.Trim(string(raw), `"`)); err == nil {
			minShould = n
		}
	}
	return func(ix *index, src map[string]any, id string) bool {
		for _, q := range must {
			if !q(ix, src, id) {
				return false
			}
		}
		for _, q := range mustNot {
			if q(ix, src, id) {
				return false
			}
		}
		n := 0
		for _, q := range should {
			if q(ix, src, id) {
				n++
			}
		}
		return n >= minShould
	}, nil
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

// fieldMatches decides a term/match leaf: text fields compare analyzed
// tokens (a term must equal one token; a match needs any, or all with
// operator and), numeric fields compare numbers, the rest exact strings.
func fieldMatches(ix *index, src map[string]any, field string, want any, analyzed, all bool) bool {
	typ := ix.mapping.fieldType(field)
	for _, v := range fieldValues(ix, src, field) {
		if typ == "text" || typ == "match_only_text" {
			have := tokens(scalarString(v))
			if !analyzed {
				for _, t := range have {
					if t == scalarString(want) {
						return true
					}
				}
				continue
			}
			q := tokens(scalarString(want))
			hits := 0
			for _, t := range q {
				for _, h := range have {
					if t == h {
						hits++
						break
					}
				}
			}
			if (all && hits == len(q) && hits > 0) || (!all && hits > 0) {
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
	if qstr := qs.Get("q"); qstr != "" && len(req.Query) == 0 {
		req.Query = uriQuery(qstr)
	}
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

// uriQuery turns q=field:value (or q=*) into a query.
func uriQuery(q string) map[string]json.RawMessage {
	field, val, ok := strings.Cut(q, ":")
	if !ok || q == "*" {
		return map[string]json.RawMessage{"match_all": json.RawMessage("{}")}
	}
	body, _ := json.Marshal(map[string]string{field: strings.Trim(val, `"`)})
	return map[string]json.RawMessage{"match": body}
}
