package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Ingest pipelines, as the reference documents them ("Ingest pipelines",
// "Create or update pipeline API", "Get pipeline API", "Delete pipeline
// API", "Set processor", index settings index.default_pipeline and
// index.final_pipeline). Of the processors only set runs here; a pipeline
// with any other is refused when it is stored, with a reason that says so,
// rather than stored and silently skipped on ingest.

// ingestPipeline is one stored pipeline.
type ingestPipeline struct {
	raw        json.RawMessage // the body as PUT, returned by GET
	processors []*setProcessor
}

// setProcessor is the set processor: it assigns value (or the value of
// copy_from) to field, both of which may hold {{ }} templates.
type setProcessor struct {
	field            string
	value            any // a string may hold templates; other JSON values are set as they are
	copyFrom         string
	override         bool // default true: replace a non-null value
	ignoreEmptyValue bool // skip when value renders to "" or null
	ignoreFailure    bool
}

// knownProcessors are the processor types Elasticsearch 8 ships. A type
// outside this list is refused as Elasticsearch refuses it; one inside it
// but other than set is refused because this server does not run it.
var knownProcessors = []string{
	"append", "attachment", "bytes", "circle", "community_id", "convert", "csv", "date",
	"date_index_name", "dissect", "dot_expander", "drop", "enrich", "fail", "fingerprint",
	"foreach", "geo_grid", "geoip", "grok", "gsub", "html_strip", "inference", "join", "json",
	"kv", "lowercase", "network_direction", "pipeline", "redact", "registered_domain", "remove",
	"rename", "reroute", "script", "set", "set_security_user", "sort", "split", "terminate",
	"trim", "uppercase", "uri_parts", "urldecode", "user_agent",
}

// configError is Elasticsearch's parse_exception for a processor's
// configuration (ConfigurationUtils): it names the property.
func configError(property, format string, args ...any) *esError {
	return newErr("parse_exception", "[%s] %s", property, fmt.Sprintf(format, args...))
}

// unsupported refuses what the real server would run but this one cannot.
func unsupported(format string, args ...any) *esError {
	return newErr("illegal_argument_exception", "%s is not supported by this test server", fmt.Sprintf(format, args...))
}

// parsePipeline validates a pipeline body and compiles its processors.
func parsePipeline(body []byte) (*ingestPipeline, *esError) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, newErr("x_content_parse_exception", "[1:1] failed to parse pipeline: %v", err)
	}
	for k := range top {
		switch k {
		case "description", "processors", "version", "_meta", "deprecated":
		case "on_failure":
			return nil, unsupported("a pipeline's on_failure")
		default:
			return nil, newErr("parse_exception", "pipeline doesn't support one or more provided configuration parameters [%s]", k)
		}
	}
	raw, ok := top["processors"]
	if !ok {
		return nil, configError("processors", "required property is missing")
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, configError("processors", "property isn't a list of processor objects")
	}
	p := &ingestPipeline{raw: bytes.Clone(body)}
	for _, entry := range list {
		if len(entry) != 1 {
			return nil, newErr("parse_exception", "a processor is an object with exactly one key, its type; got %d keys", len(entry))
		}
		for typ, cfg := range entry {
			if !slices.Contains(knownProcessors, typ) {
				return nil, newErr("parse_exception", "No processor type exists with name [%s]", typ)
			}
			if typ != "set" {
				return nil, unsupported("processor [%s]", typ)
			}
			sp, e := parseSet(cfg)
			if e != nil {
				return nil, e
			}
			p.processors = append(p.processors, sp)
		}
	}
	return p, nil
}

// parseSet reads a set processor's configuration ("Set processor" page).
func parseSet(raw json.RawMessage) (*setProcessor, *esError) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, newErr("parse_exception", "processor [set] configuration is not an object")
	}
	sp := &setProcessor{override: true}
	str := func(k string) (string, *esError) {
		var s string
		if err := json.Unmarshal(cfg[k], &s); err != nil {
			return "", configError(k, "property isn't a string")
		}
		return s, nil
	}
	boolean := func(k string) (bool, *esError) {
		var b bool
		if err := json.Unmarshal(cfg[k], &b); err != nil {
			return false, configError(k, "property isn't a boolean")
		}
		return b, nil
	}
	var e *esError
	for k, v := range cfg {
		switch k {
		case "field":
			sp.field, e = str(k)
		case "value":
			if err := unmarshalNumbers(v, &sp.value); err != nil {
				e = configError(k, "cannot be read: %v", err)
			}
		case "copy_from":
			sp.copyFrom, e = str(k)
		case "override":
			sp.override, e = boolean(k)
		case "ignore_empty_value":
			sp.ignoreEmptyValue, e = boolean(k)
		case "ignore_failure":
			sp.ignoreFailure, e = boolean(k)
		case "description", "tag", "media_type":
		case "if":
			return nil, unsupported("a processor's if (a script)")
		case "on_failure":
			return nil, unsupported("a processor's on_failure")
		default:
			return nil, newErr("parse_exception", "processor [set] doesn't support one or more provided configuration parameters [%s]", k)
		}
		if e != nil {
			return nil, e
		}
	}
	_, hasValue := cfg["value"]
	switch {
	case sp.field == "":
		return nil, configError("field", "required property is missing")
	case !hasValue && sp.copyFrom == "":
		return nil, configError("value", "required property is missing")
	case hasValue && sp.copyFrom != "":
		return nil, configError("copy_from", "cannot set both `copy_from` and `value` in the same processor")
	case strings.HasPrefix(sp.field, "_"):
		return nil, unsupported("setting the metadata field [%s]", sp.field)
	}
	return sp, nil
}

// ingestContext is what templates can read besides the document: the
// _ingest metadata of the run.
type ingestContext struct {
	timestamp string // _ingest.timestamp, rendered
	pipeline  string // _ingest.pipeline, the pipeline running
	index     string // _index
}

// ingestTimestamp renders a time as Elasticsearch renders _ingest.timestamp
// in a template: a java.time.ZonedDateTime in UTC printed by toString(),
// which gives the fraction in groups of three digits as needed (none,
// millis, micros or nanos) and drops the seconds when they and the fraction
// are zero (java.time.LocalTime#toString). The JVM's clock has microsecond
// resolution on Linux.
func ingestTimestamp(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	s := t.Format("2006-01-02T15:04")
	sec, nano := t.Second(), t.Nanosecond()
	if sec == 0 && nano == 0 {
		return s + "Z"
	}
	s += fmt.Sprintf(":%02d", sec)
	switch {
	case nano == 0:
	case nano%1_000_000 == 0:
		s += fmt.Sprintf(".%03d", nano/1_000_000)
	case nano%1_000 == 0:
		s += fmt.Sprintf(".%06d", nano/1_000)
	default:
		s += fmt.Sprintf(".%09d", nano)
	}
	return s + "Z"
}

// render expands {{x}} and {{{x}}} in s. Ingest templates are compiled as
// text/plain, so neither form escapes anything. x is _ingest.timestamp,
// _ingest.pipeline, _index or a path into the document; a missing one
// renders as "".
func render(s string, doc map[string]any, ic *ingestContext) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		open, closing := "{{", "}}"
		if strings.HasPrefix(s[i:], "{{{") {
			open, closing = "{{{", "}}}"
		}
		j := strings.Index(s[i+len(open):], closing)
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		name := strings.TrimSpace(s[i+len(open) : i+len(open)+j])
		b.WriteString(templateValue(name, doc, ic))
		s = s[i+len(open)+j+len(closing):]
	}
}

func templateValue(name string, doc map[string]any, ic *ingestContext) string {
	switch name {
	case "_ingest.timestamp":
		return ic.timestamp
	case "_ingest.pipeline":
		return ic.pipeline
	case "_index":
		return ic.index
	}
	v, _ := getPath(doc, name)
	return scalarString(v)
}

// A document under ingest is decoded lazily: an object is a
// map[string]any whose values stay json.RawMessage until a path goes
// through them, so that setting one field costs one pass over the source
// rather than a decode of every value (json.Marshal writes a RawMessage as
// it is).

// decodeObject decodes one level of a JSON object.
func decodeObject(raw []byte) (map[string]any, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, true
}

// child returns m[k], decoding it one level (an object) or fully (anything
// else) the first time a path goes through it.
func child(m map[string]any, k string) (any, bool) {
	v, ok := m[k]
	if !ok {
		return nil, false
	}
	raw, isRaw := v.(json.RawMessage)
	if !isRaw {
		return v, true
	}
	if obj, isObj := decodeObject(raw); isObj {
		m[k] = obj
		return obj, true
	}
	var x any
	if err := unmarshalNumbers(raw, &x); err != nil {
		return nil, false
	}
	m[k] = x
	return x, true
}

// getPath reads a dotted path through nested objects.
func getPath(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = child(m, k); !ok {
			return nil, false
		}
	}
	return cur, true
}

// setPath writes a dotted path, creating the objects on the way, as
// IngestDocument#setFieldValue does; a scalar in the way is an error.
func setPath(doc map[string]any, path string, v any) error {
	parts := strings.Split(path, ".")
	cur := doc
	for i, k := range parts[:len(parts)-1] {
		next, ok := child(cur, k)
		if !ok || next == nil {
			m := map[string]any{}
			cur[k] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("cannot set [%s] with parent object of type [%s] as part of path [%s]",
				parts[i+1], javaType(next), path)
		}
		cur = m
	}
	cur[parts[len(parts)-1]] = v
	return nil
}

// javaType names a decoded JSON value's class as Elasticsearch's messages do.
func javaType(v any) string {
	switch v.(type) {
	case string:
		return "java.lang.String"
	case json.Number:
		return "java.lang.Integer"
	case bool:
		return "java.lang.Boolean"
	case []any:
		return "java.util.ArrayList"
	}
	return "java.lang.Object"
}

// run applies the processor to doc.
func (sp *setProcessor) run(doc map[string]any, ic *ingestContext) error {
	field := render(sp.field, doc, ic)
	var v any
	if sp.copyFrom != "" {
		src, ok := getPath(doc, sp.copyFrom)
		if !ok {
			return fmt.Errorf("field [%s] not present as part of path [%s]", sp.copyFrom, sp.copyFrom)
		}
		v = deepCopy(src)
	} else {
		v = sp.value
		if s, ok := v.(string); ok {
			v = render(s, doc, ic)
		}
	}
	if sp.ignoreEmptyValue && (v == nil || v == "") {
		return nil
	}
	if !sp.override {
		if cur, ok := getPath(doc, field); ok && cur != nil {
			return nil
		}
	}
	return setPath(doc, field, v)
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case json.RawMessage:
		var full any
		if err := unmarshalNumbers(x, &full); err != nil {
			return nil
		}
		return full
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, c := range x {
			m[k] = deepCopy(c)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, c := range x {
			a[i] = deepCopy(c)
		}
		return a
	}
	return v
}

// pipelinesFor lists the pipelines an index or create request runs, in
// order: the request's pipeline, or else the index's default_pipeline,
// then its final_pipeline; "_none" names none (index settings
// index.default_pipeline and index.final_pipeline). settings are the
// target index's, or, when the request will create it, its template's.
func pipelinesFor(requested string, settings json.RawMessage) []string {
	var out []string
	first := requested
	if first == "" {
		first = settingString(settings, "index.default_pipeline")
	}
	if first != "" && first != "_none" {
		out = append(out, first)
	}
	if final := settingString(settings, "index.final_pipeline"); final != "" && final != "_none" {
		out = append(out, final)
	}
	return out
}

// ingest runs the named pipelines over src and returns the new source.
// s.store.mu is held. A missing pipeline or a failing processor fails the
// document with illegal_argument_exception, as the bulk item shows it.
func (st *store) ingest(src []byte, index string, names []string) ([]byte, *esError) {
	doc, ok := decodeObject(src)
	if !ok {
		// The mapping check reports a broken document with its own words.
		return src, nil
	}
	ic := &ingestContext{timestamp: ingestTimestamp(st.now()), index: index}
	for _, name := range names {
		p, ok := st.pipelines[name]
		if !ok {
			return nil, newErr("illegal_argument_exception", "pipeline with id [%s] does not exist", name)
		}
		ic.pipeline = name
		for _, sp := range p.processors {
			if err := sp.run(doc, ic); err != nil && !sp.ignoreFailure {
				return nil, newErr("illegal_argument_exception", "%v", err)
			}
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, newErr("illegal_argument_exception", "encode the ingested document: %v", err)
	}
	return out, nil
}

// handlePipeline serves /_ingest/pipeline[/{id}].
func (s *Server) handlePipeline(rs *reply, id string) {
	st := s.store
	switch rs.r.Method {
	case http.MethodPut:
		if id == "" {
			rs.methodNotAllowed()
			return
		}
		body, ok := rs.body()
		if !ok {
			return
		}
		if len(body) == 0 {
			rs.error(http.StatusBadRequest, newErr("parse_exception", "request body is required"))
			return
		}
		p, e := parsePipeline(body)
		if e != nil {
			rs.error(http.StatusBadRequest, e)
			return
		}
		st.mu.Lock()
		st.pipelines[id] = p
		st.mu.Unlock()
		rs.acknowledged()
	case http.MethodGet, http.MethodHead:
		st.mu.RLock()
		defer st.mu.RUnlock()
		out := map[string]json.RawMessage{}
		for _, expr := range strings.Split(id, ",") {
			for _, n := range selected(st.pipelines, expr) {
				out[n] = st.pipelines[n].raw
			}
		}
		if len(out) == 0 && id != "" {
			// GetPipelineResponse: 404 with an empty object.
			rs.json(http.StatusNotFound, out)
			return
		}
		rs.json(http.StatusOK, out)
	case http.MethodDelete:
		st.mu.Lock()
		defer st.mu.Unlock()
		var del []string
		for _, expr := range strings.Split(id, ",") {
			del = append(del, selected(st.pipelines, expr)...)
		}
		if len(del) == 0 {
			rs.error(http.StatusNotFound, resourceNotFound("pipeline [%s] is missing", id))
			return
		}
		for _, n := range del {
			delete(st.pipelines, n)
		}
		rs.acknowledged()
	default:
		rs.methodNotAllowed()
	}
}
