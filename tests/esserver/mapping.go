package esserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// leafTypes reject an object value; every other known type ("object",
// "nested", "flattened", geo and range types...) accepts whatever it is
// given here, since this server does not model them.
var leafTypes = map[string]bool{
	"keyword": true, "constant_keyword": true, "wildcard": true, "text": true,
	"match_only_text": true, "long": true, "integer": true, "short": true, "byte": true,
	"unsigned_long": true, "double": true, "float": true, "half_float": true,
	"scaled_float": true, "date": true, "date_nanos": true, "boolean": true, "ip": true,
	"version": true,
}

// knownTypes are the field types an index template may declare; any other
// is refused as Elasticsearch does ("No handler for type [x] declared on
// field [y]"). From the reference's "Field data types" page.
var knownTypes = map[string]bool{
	"object": true, "nested": true, "flattened": true, "alias": true, "binary": true,
	"completion": true, "dense_vector": true, "sparse_vector": true, "geo_point": true,
	"geo_shape": true, "point": true, "shape": true, "histogram": true, "integer_range": true,
	"float_range": true, "long_range": true, "double_range": true, "date_range": true,
	"ip_range": true, "join": true, "percolator": true, "rank_feature": true,
	"rank_features": true, "search_as_you_type": true, "semantic_text": true,
	"token_count": true, "aggregate_metric_double": true, "passthrough": true,
	"counted_keyword": true,
}

func init() {
	for t := range leafTypes {
		knownTypes[t] = true
	}
}

// field is one mapped leaf.
type field struct {
	typ             string
	ignoreMalformed bool
	learned         bool // added by dynamic mapping
}

// dynTemplate is one entry of dynamic_templates.
type dynTemplate struct {
	matchType   string // match_mapping_type, "" or "*" for any
	match       string
	unmatch     string
	pathMatch   string
	pathUnmatch string
	typ         string // "" or "{dynamic_type}" keeps the default
}

// mapping is an index's field mapping, enforced on every document. It is
// not safe for concurrent use; the store's lock guards it.
type mapping struct {
	fields          map[string]*field
	objects         map[string]string // object path -> its "dynamic" setting ("" = inherit)
	dynamic         string            // root setting: "true", "false", "strict", "runtime"
	dateDetection   bool
	templates       []dynTemplate
	ignoreMalformed bool
	dataStream      bool
}

// compileMappings merges mappings (later ones win) into one mapping.
// dataStream adds the @timestamp date field every data stream has.
func compileMappings(list []json.RawMessage, dataStream bool) (*mapping, error) {
	m := &mapping{
		fields:        make(map[string]*field),
		objects:       map[string]string{},
		dynamic:       "true",
		dateDetection: true,
		dataStream:    dataStream,
	}
	for _, raw := range list {
		if err := m.merge(raw); err != nil {
			return nil, err
		}
	}
	if dataStream {
		if _, ok := m.fields["@timestamp"]; !ok {
			m.fields["@timestamp"] = &field{typ: "date"}
		}
	}
	return m, nil
}

type rawMappings struct {
	Dynamic          any                          `json:"dynamic"`
	DateDetection    *bool                        `json:"date_detection"`
	DynamicTemplates []map[string]json.RawMessage `json:"dynamic_templates"`
	Properties       map[string]json.RawMessage   `json:"properties"`
}

type rawProperty struct {
	Type            string                     `json:"type"`
	Properties      map[string]json.RawMessage `json:"properties"`
	Dynamic         any                        `json:"dynamic"`
	IgnoreMalformed *bool                      `json:"ignore_malformed"`
}

func dynamicString(v any) string {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return ""
}

func (m *mapping) merge(raw json.RawMessage) error {
	var rm rawMappings
	if err := json.Unmarshal(raw, &rm); err != nil {
		return fmt.Errorf("parse mappings: %w", err)
	}
	if d := dynamicString(rm.Dynamic); d != "" {
		m.dynamic = d
	}
	if rm.DateDetection != nil {
		m.dateDetection = *rm.DateDetection
	}
	for _, entry := range rm.DynamicTemplates {
		for name, body := range entry {
			var dt struct {
				MatchMappingType any            `json:"match_mapping_type"`
				Match            any            `json:"match"`
				Unmatch          any            `json:"unmatch"`
				PathMatch        any            `json:"path_match"`
				PathUnmatch      any            `json:"path_unmatch"`
				Mapping          map[string]any `json:"mapping"`
			}
			if err := json.Unmarshal(body, &dt); err != nil {
				return fmt.Errorf("parse dynamic template [%s]: %w", name, err)
			}
			t := dynTemplate{
				matchType: firstString(dt.MatchMappingType), match: firstString(dt.Match),
				unmatch: firstString(dt.Unmatch), pathMatch: firstString(dt.PathMatch),
				pathUnmatch: firstString(dt.PathUnmatch),
			}
			if typ, ok := dt.Mapping["type"].(string); ok {
				t.typ = typ
			}
			m.templates = append(m.templates, t)
		}
	}
	return m.mergeProps("", rm.Properties)
}

// firstString accepts a string or the first string of a list (Elasticsearch
// allows both for match patterns since 8.9).
func firstString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		if len(x) > 0 {
			s, _ := x[0].(string)
			return s
		}
	}
	return ""
}

func (m *mapping) mergeProps(prefix string, props map[string]json.RawMessage) error {
	for name, raw := range props {
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		var p rawProperty
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("parse mapping of field [%s]: %w", path, err)
		}
		if p.Type != "" && !knownTypes[p.Type] {
			return fmt.Errorf("no handler for type [%s] declared on field [%s]", p.Type, name)
		}
		if p.Properties != nil || p.Type == "" || p.Type == "object" || p.Type == "nested" {
			// A dotted name in properties ("a.b") declares the objects on
			// its way, as Elasticsearch does.
			for i := 0; i < len(path); i++ {
				if path[i] == '.' {
					if _, ok := m.objects[path[:i]]; !ok {
						m.objects[path[:i]] = ""
					}
				}
			}
			m.objects[path] = dynamicString(p.Dynamic)
			delete(m.fields, path)
			if err := m.mergeProps(path, p.Properties); err != nil {
				return err
			}
			continue
		}
		f := &field{typ: p.Type}
		if p.IgnoreMalformed != nil {
			f.ignoreMalformed = *p.IgnoreMalformed
		}
		m.fields[path] = f
		delete(m.objects, path)
	}
	return nil
}

// fieldType returns the mapped type of a dotted path ("" when unmapped),
// resolving the ".keyword" multi-field dynamic mapping adds to text.
func (m *mapping) fieldType(path string) string {
	if f, ok := m.fields[path]; ok {
		return f.typ
	}
	if base, ok := strings.CutSuffix(path, ".keyword"); ok {
		if f, ok := m.fields[base]; ok && f.typ == "text" && f.learned {
			return "keyword"
		}
	}
	if _, ok := m.objects[path]; ok {
		return "object"
	}
	return ""
}

// docValidator checks one document against a mapping while it is scanned.
// It is not safe for concurrent use.
type docValidator struct {
	m       *mapping
	id      string
	path    []byte
	stack   []int
	opaque  int // path length where an opaque field starts, -1 for none
	started bool
	tsCount int
	err     *esError
	pending map[string]*field // fields learned by this document
	pendObj map[string]string // objects learned by this document
}

// validate checks src for the index's mapping and, for data streams, the
// @timestamp rule. On success it commits the fields dynamic mapping
// learned; on failure it returns the item's error and changes nothing, as
// Elasticsearch applies a dynamic mapping update only with its document.
func (m *mapping) validate(src []byte, id string) *esError {
	v := docValidator{m: m, id: id, opaque: -1}
	sc := jsonScanner{b: src}
	if err := sc.document(&v); err != nil {
		if v.err != nil {
			return v.err
		}
		e := newErr("document_parsing_exception", "[1:%d] failed to parse", sc.i+1)
		e.CausedBy = newErr("json_parse_exception", "%s", strings.TrimSuffix(err.Error(), ": "+errSyntax.Error()))
		return e
	}
	if m.dataStream {
		switch {
		case v.tsCount == 0:
			// "[1:N] failed to parse: data stream timestamp field
			// [@timestamp] is missing", with N the end of the document
			// (as reported in elastic/elasticsearch#102144).
			e := newErr("document_parsing_exception", "[1:%d] failed to parse: data stream timestamp field [@timestamp] is missing", len(src)+1)
			e.CausedBy = newErr("illegal_argument_exception", "data stream timestamp field [@timestamp] is missing")
			return e
		case v.tsCount > 1:
			e := newErr("document_parsing_exception", "[1:%d] failed to parse: data stream timestamp field [@timestamp] encountered multiple values", len(src)+1)
			e.CausedBy = newErr("illegal_argument_exception", "data stream timestamp field [@timestamp] encountered multiple values")
			return e
		}
	}
	for p, f := range v.pending {
		m.fields[p] = f
	}
	for p, d := range v.pendObj {
		m.objects[p] = d
	}
	return nil
}

func (v *docValidator) lookup(path []byte) (f *field, isObj bool) {
	if f, ok := v.m.fields[string(path)]; ok {
		return f, false
	}
	if _, ok := v.m.objects[string(path)]; ok {
		return nil, true
	}
	if f, ok := v.pending[string(path)]; ok {
		return f, false
	}
	if _, ok := v.pendObj[string(path)]; ok {
		return nil, true
	}
	return nil, false
}

// dynamicFor is the dynamic setting in force for a new field under parent.
func (v *docValidator) dynamicFor(parent string) string {
	for {
		if d, ok := v.m.objects[parent]; ok && d != "" {
			return d
		}
		if d, ok := v.pendObj[parent]; ok && d != "" {
			return d
		}
		i := strings.LastIndexByte(parent, '.')
		if i < 0 {
			return v.m.dynamic
		}
		parent = parent[:i]
	}
}

func (v *docValidator) enterObject(at int) error {
	if !v.started {
		v.started = true
		return nil
	}
	if v.opaque >= 0 {
		return nil
	}
	f, isObj := v.lookup(v.path)
	switch {
	case isObj:
		return nil
	case f != nil && leafTypes[f.typ]:
		p := string(v.path)
		e := newErr("document_parsing_exception",
			"[1:%d] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '{}'", at+1, p, f.typ, v.id)
		e.CausedBy = newErr("illegal_argument_exception", "Cannot parse an object as a [%s] field", f.typ)
		v.err = e
		return v.stop()
	case f != nil:
		return nil
	}
	return v.learn(at, "object")
}

func (v *docValidator) key(raw []byte, escaped bool) error {
	v.stack = append(v.stack, len(v.path))
	if len(v.path) > 0 {
		v.path = append(v.path, '.')
	}
	if escaped {
		v.path = append(v.path, unquote(raw, true)...)
	} else {
		v.path = append(v.path, raw...)
	}
	if v.opaque < 0 {
		if f, _ := v.lookup(v.path); f != nil && !leafTypes[f.typ] {
			v.opaque = len(v.path)
		}
	}
	return nil
}

func (v *docValidator) leaveKey() {
	n := v.stack[len(v.stack)-1]
	v.stack = v.stack[:len(v.stack)-1]
	v.path = v.path[:n]
	if v.opaque > len(v.path) {
		v.opaque = -1
	}
}

func (v *docValidator) enterArray() {
	if !v.started {
		v.started = true
	}
}
func (v *docValidator) leaveArray() {}

func (v *docValidator) scalar(kind tokKind, raw []byte, escaped bool, at int) error {
	if !v.started || len(v.path) == 0 {
		e := newErr("document_parsing_exception", "[1:%d] failed to parse", at+1)
		e.CausedBy = newErr("not_x_content_exception", "Compressor detection can only be called on some xcontent bytes or compressed xcontent bytes")
		v.err = e
		return v.stop()
	}
	if v.opaque >= 0 || kind == tokNull {
		return nil
	}
	if string(v.path) == "@timestamp" {
		v.tsCount++
	}
	f, isObj := v.lookup(v.path)
	if isObj {
		p := string(v.path)
		return v.failf("document_parsing_exception",
			"[1:%d] object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", at+1, p, p)
	}
	if f == nil {
		return v.learn(at, dynamicKind(kind, raw, escaped, v.m.dateDetection))
	}
	if f.ignoreMalformed || v.m.ignoreMalformed {
		return nil
	}
	if cause := coerce(f.typ, kind, raw, escaped); cause != nil {
		preview := string(raw)
		if kind == tokString {
			preview = unquote(raw, escaped)
		}
		e := newErr("document_parsing_exception",
			"[1:%d] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'",
			at+1, string(v.path), f.typ, v.id, preview)
		e.CausedBy = cause
		v.err = e
		return v.stop()
	}
	return nil
}

// stop aborts the scan after v.err was set.
func (v *docValidator) stop() error { return errSyntax }

// failf sets v.err to an error of type typ and aborts the scan.
func (v *docValidator) failf(typ, format string, args ...any) error {
	v.err = newErr(typ, format, args...)
	return v.stop()
}

// learn adds a field of dynamic kind ("string", "long", "double",
// "boolean", "date", "object") at the current path, or refuses it when the
// dynamic setting is strict.
func (v *docValidator) learn(at int, kind string) error {
	path := string(v.path)
	parent, name := "", path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		parent, name = path[:i], path[i+1:]
	}
	// A dotted path may run through a field that is not an object.
	for p := parent; p != ""; {
		if f, ok := v.m.fields[p]; ok && leafTypes[f.typ] {
			return v.failf("document_parsing_exception",
				"[1:%d] Could not dynamically add mapping for field [%s]. Existing mapping for [%s] must be of type object but found [%s].",
				at+1, path, p, f.typ)
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	switch v.dynamicFor(parent) {
	case "strict":
		within := parent
		if within == "" {
			within = "_doc"
		}
		return v.failf("strict_dynamic_mapping_exception",
			"[1:%d] mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed", at+1, name, within)
	case "false", "runtime":
		// Accepted and kept in _source, not mapped.
		if kind == "object" {
			v.opaque = len(v.path)
		}
		return nil
	}
	if kind == "object" {
		if v.pendObj == nil {
			v.pendObj = make(map[string]string)
		}
		v.pendObj[path] = ""
		return nil
	}
	typ := defaultDynamicType(kind)
	for _, t := range v.m.templates {
		if t.matches(kind, name, path) {
			if t.typ != "" && t.typ != "{dynamic_type}" {
				typ = t.typ
			}
			break
		}
	}
	if v.pending == nil {
		v.pending = make(map[string]*field)
	}
	v.pending[path] = &field{typ: typ, learned: true}
	if !leafTypes[typ] {
		v.opaque = len(v.path)
	}
	return nil
}

// defaultDynamicType is the type dynamic mapping gives a JSON kind
// (reference: "Dynamic field mapping" table).
func defaultDynamicType(kind string) string {
	switch kind {
	case "string":
		return "text"
	case "double":
		return "float"
	}
	return kind
}

func (t dynTemplate) matches(kind, name, path string) bool {
	if t.matchType != "" && t.matchType != "*" && t.matchType != kind {
		return false
	}
	if t.match != "" && !wildcardMatch(t.match, name) {
		return false
	}
	if t.unmatch != "" && wildcardMatch(t.unmatch, name) {
		return false
	}
	if t.pathMatch != "" && !wildcardMatch(t.pathMatch, path) {
		return false
	}
	if t.pathUnmatch != "" && wildcardMatch(t.pathUnmatch, path) {
		return false
	}
	return true
}

// dynamicKind is the dynamic-mapping kind of a scalar: strings that look
// like dates become "date" when date detection is on.
func dynamicKind(kind tokKind, raw []byte, escaped, dateDetection bool) string {
	switch kind {
	case tokString:
		if dateDetection && looksLikeDate(unquote(raw, escaped)) {
			return "date"
		}
		return "string"
	case tokNumber:
		if bytes.ContainsAny(raw, ".eE") {
			return "double"
		}
		return "long"
	default:
		return "boolean"
	}
}

// looksLikeDate mirrors date detection's default dynamic_date_formats
// ["strict_date_optional_time", "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z"].
func looksLikeDate(s string) bool {
	if len(s) < 10 {
		return false
	}
	if _, ok := parseDate(s); ok {
		return true
	}
	for _, layout := range []string{"2006/01/02 15:04:05 -0700", "2006/01/02 -0700"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// dateLayouts cover strict_date_optional_time: yyyy-MM-dd with optional
// time, fraction and zone.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02T15Z07:00",
	"2006-01-02T15",
	"2006-01-02",
	"2006-01",
	"2006",
}

func parseDate(s string) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// coerce checks that a scalar can be indexed into a field of type typ,
// following the field types' documented coercion (numeric strings into
// numbers, "true"/"false" into booleans, epoch millis into dates). It
// returns the caused_by error or nil.
func coerce(typ string, kind tokKind, raw []byte, escaped bool) *esError {
	switch typ {
	case "long", "integer", "short", "byte", "unsigned_long", "double", "float", "half_float",
		"scaled_float", "boolean", "date", "date_nanos", "ip":
	default:
		return nil // keyword, text and the types not modelled take any scalar
	}
	if kind == tokNumber && plainInteger(raw, typ) {
		return nil // the common case, decided without allocating
	}
	if kind == tokTrue || kind == tokFalse {
		if typ == "boolean" {
			return nil
		}
	}
	text := string(raw)
	if kind == tokString {
		text = unquote(raw, escaped)
	}
	switch typ {
	case "long", "integer", "short", "byte", "unsigned_long":
		switch kind {
		case tokString:
			if text == "" {
				return nil // empty strings index as null for numbers
			}
		case tokNumber:
		default:
			return newErr("illegal_argument_exception", "Current token (%s) not numeric, can not use numeric value accessors", kind.javaToken())
		}
		lo, hi := intRange(typ)
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			if float64(n) < lo || float64(n) > hi {
				return newErr("illegal_argument_exception", "Value [%s] is out of range for %s", text, javaTypeName(typ))
			}
			return nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return newErr("illegal_argument_exception", "Value [%s] is out of range for %s", text, javaTypeName(typ))
			}
			return newErr("number_format_exception", "For input string: \"%s\"", text)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Trunc(f) < lo || math.Trunc(f) > hi {
			return newErr("illegal_argument_exception", "Value [%s] is out of range for %s", text, javaTypeName(typ))
		}
		return nil
	case "double", "float", "half_float", "scaled_float":
		switch kind {
		case tokString:
			if text == "" {
				return nil
			}
		case tokNumber:
		default:
			return newErr("illegal_argument_exception", "Current token (%s) not numeric, can not use numeric value accessors", kind.javaToken())
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return newErr("number_format_exception", "For input string: \"%s\"", text)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return newErr("illegal_argument_exception", "[%s] supports only finite values, but got [%s]", typ, text)
		}
		return nil
	case "boolean":
		switch kind {
		case tokTrue, tokFalse:
			return nil
		case tokString:
			if text == "true" || text == "false" || text == "" {
				return nil
			}
			return newErr("illegal_argument_exception", "Failed to parse value [%s] as only [true] or [false] are allowed.", text)
		}
		return newErr("illegal_argument_exception", "Failed to parse value [%s] as only [true] or [false] are allowed.", text)
	case "date", "date_nanos":
		switch kind {
		case tokNumber:
			return nil // epoch_millis
		case tokString:
			if _, ok := parseDate(text); ok {
				return nil
			}
			if _, err := strconv.ParseInt(text, 10, 64); err == nil {
				return nil
			}
			if _, err := strconv.ParseFloat(text, 64); err == nil {
				return nil
			}
			return newErr("illegal_argument_exception",
				"failed to parse date field [%s] with format [strict_date_optional_time||epoch_millis]", text)
		}
		return newErr("illegal_argument_exception", "failed to parse date field [%s] with format [strict_date_optional_time||epoch_millis]", text)
	case "ip":
		if kind != tokString {
			return newErr("illegal_argument_exception", "'%s' is not an IP string literal.", text)
		}
		if _, err := netip.ParseAddr(text); err != nil {
			return newErr("illegal_argument_exception", "'%s' is not an IP string literal.", text)
		}
		return nil
	}
	return nil
}

func intRange(typ string) (lo, hi float64) {
	switch typ {
	case "integer":
		return math.MinInt32, math.MaxInt32
	case "short":
		return math.MinInt16, math.MaxInt16
	case "byte":
		return math.MinInt8, math.MaxInt8
	case "unsigned_long":
		return 0, math.MaxUint64
	}
	return math.MinInt64, math.MaxInt64
}

func javaTypeName(typ string) string {
	switch typ {
	case "integer":
		return "an integer"
	case "short":
		return "a short"
	case "byte":
		return "a byte"
	case "unsigned_long":
		return "an unsigned long"
	}
	return "a long"
}

// plainInteger reports whether raw, a scanned JSON number, is an integer
// literal short enough to fit typ without further checks.
func plainInteger(raw []byte, typ string) bool {
	digits := len(raw)
	if digits > 0 && raw[0] == '-' {
		digits--
	}
	isFloat := typ == "double" || typ == "float" || typ == "half_float" || typ == "scaled_float"
	for _, c := range raw {
		switch c {
		case 'e', 'E':
			return false // may overflow to infinity: check it properly
		case '.':
			return isFloat && len(raw) < 300
		}
	}
	switch typ {
	case "long", "date", "date_nanos":
		return digits <= 18
	case "unsigned_long":
		return digits <= 18 && raw[0] != '-'
	case "integer":
		return digits <= 9
	case "short":
		return digits <= 4
	case "byte":
		return digits <= 2
	}
	return isFloat && len(raw) < 300
}
