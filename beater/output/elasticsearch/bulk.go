package elasticsearch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

// bulkFilterPath keeps what classification needs and nothing else. With
// items.*.error alone successful items would vanish and positions would no
// longer match the request (go-elasticsearch drops them from the
// filtered answer, so item i is no longer request i), so status stays in.
const bulkFilterPath = "errors,items.*.error,items.*.status"

// bulkPath is the request path of every bulk request.
const bulkPath = "/_bulk?filter_path=" + bulkFilterPath

// itemClass is what one bulk item's status means for delivery.
type itemClass uint8

const (
	classAcked        itemClass = iota // 2xx: written
	classDuplicate                     // 409 on create: an earlier attempt landed
	classRetry                         // 429 or 5xx: try again later
	classNonIndexable                  // any other status: refused for good
)

// classifyItem maps a bulk item status to its class, as libbeat's
// bulkCollectPublishFails does for op_type create.
func classifyItem(status int) itemClass {
	switch {
	case status >= 200 && status < 300:
		return classAcked
	case status == 409:
		return classDuplicate
	case status == 429, status >= 500:
		return classRetry
	default:
		return classNonIndexable
	}
}

// esError is the error object of Elasticsearch answers, both per bulk item
// and for whole requests.
type esError struct {
	Type     string   `json:"type"`
	Reason   string   `json:"reason"`
	CausedBy *esError `json:"caused_by,omitempty"`
}

// UnmarshalJSON accepts the object form and the bare string some proxies
// and old versions send.
func (e *esError) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &e.Reason)
	}
	type plain esError
	return json.Unmarshal(b, (*plain)(e))
}

// String renders type, reason and the first cause for logs.
func (e *esError) String() string {
	if e == nil {
		return ""
	}
	s := e.Type
	if e.Reason != "" {
		if s != "" {
			s += ": "
		}
		s += e.Reason
	}
	if e.CausedBy != nil && (e.CausedBy.Type != "" || e.CausedBy.Reason != "") {
		s += " (caused by " + e.CausedBy.String() + ")"
	}
	return s
}

// bulkItemResult is one entry of a filtered bulk response.
type bulkItemResult struct {
	Status int      `json:"status"`
	Error  *esError `json:"error"`
}

// bulkResponse is a bulk answer filtered by bulkFilterPath. spawnbeat only
// sends create actions, so each item is {"create": {...}}.
type bulkResponse struct {
	Errors bool       `json:"errors"`
	Items  []bulkItem `json:"items"`
}

// bulkItem is one element of a bulk answer's items.
type bulkItem struct {
	Create bulkItemResult `json:"create"`
}

// decode parses body into r, reusing r.Items' storage. The usual answer,
// statuses without errors, is read by scanStatuses, which allocates
// nothing and costs a fraction of encoding/json (BenchmarkBulkResponse);
// any other answer (an item with an error, keys or values in any other
// form, broken JSON) is decoded by encoding/json, whose result the scan
// must match whenever it accepts an answer (FuzzBulkResponseDecode).
func (r *bulkResponse) decode(body []byte) error {
	r.reset()
	if r.scanStatuses(body) {
		return nil
	}
	return r.decodeJSON(body)
}

// decodeJSON parses body into r with encoding/json.
func (r *bulkResponse) decodeJSON(body []byte) error {
	r.reset()
	if err := json.Unmarshal(body, r); err != nil {
		return fmt.Errorf("decode bulk response: %w", err)
	}
	return nil
}

// reset empties r, keeping its storage. encoding/json keeps old values in
// reused slice elements, so they are cleared.
func (r *bulkResponse) reset() {
	items := r.Items[:cap(r.Items)]
	clear(items)
	r.Items = items[:0]
	r.Errors = false
}

// scanStatuses reads an answer of exactly the form
//
//	{"errors":false,"items":[{"create":{"status":201}},…]}
//
// (keys in any order, either one absent, any JSON whitespace), which is
// what Elasticsearch sends through bulkFilterPath when no item has an
// error. It reports false, with r partly filled, for anything else.
func (r *bulkResponse) scanStatuses(body []byte) bool {
	s := jsonScan{b: body}
	if !s.next('{') {
		return false
	}
	var seenErrors, seenItems bool
	if !s.next('}') {
		for {
			key, ok := s.key()
			if !ok {
				return false
			}
			switch string(key) {
			case "errors":
				if seenErrors {
					return false
				}
				seenErrors = true
				switch {
				case s.literal("true"):
					r.Errors = true
				case s.literal("false"):
				default:
					return false
				}
			case "items":
				if seenItems || !r.scanItems(&s) {
					return false
				}
				seenItems = true
			default:
				return false
			}
			if s.next(',') {
				continue
			}
			if !s.next('}') {
				return false
			}
			break
		}
	}
	s.space()
	return s.i == len(s.b)
}

// scanItems reads the items array: [{"create":{"status":N}},…].
func (r *bulkResponse) scanItems(s *jsonScan) bool {
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		return true
	}
	for {
		if !s.next('{') {
			return false
		}
		if key, ok := s.key(); !ok || string(key) != "create" || !s.next('{') {
			return false
		}
		if key, ok := s.key(); !ok || string(key) != "status" {
			return false
		}
		status, ok := s.status()
		if !ok || !s.next('}') || !s.next('}') {
			return false
		}
		r.Items = append(r.Items, bulkItem{Create: bulkItemResult{Status: status}})
		if s.next(',') {
			continue
		}
		return s.next(']')
	}
}

// jsonScan walks a JSON text for scanStatuses. Each method skips the
// whitespace before what it reads; a failure ends the scan, so where it
// leaves the position does not matter. (tests/esserver has a full JSON
// scanner of its own: this one reads only the one shape above.)
type jsonScan struct {
	b []byte
	i int
}

// space skips JSON whitespace.
func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c.
func (s *jsonScan) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// literal consumes lit (true or false).
func (s *jsonScan) literal(lit string) bool {
	s.space()
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// key reads an object key and its colon. Only plain keys are read: one
// with an escape or a control character is left to encoding/json.
func (s *jsonScan) key() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			key := s.b[start:s.i]
			s.i++
			return key, s.next(':')
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// status reads an HTTP status: a JSON integer of 1 to 3 digits without a
// sign or leading zero (anything else is left to encoding/json).
func (s *jsonScan) status() (int, bool) {
	s.space()
	n, digits := 0, 0
	for s.i < len(s.b) && digits < 4 {
		c := s.b[s.i]
		if c < '0' || c > '9' || (digits == 1 && n == 0) {
			break
		}
		n = n*10 + int(c-'0')
		digits++
		s.i++
	}
	if digits == 0 || digits > 3 {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false // a number with a fraction or exponent
		}
	}
	return n, true
}

// errorBody is the JSON body of a failed request.
type errorBody struct {
	Error  esError `json:"error"`
	Status int     `json:"status"`
}

// parseErrorBody extracts type and reason from an error answer; a body
// that is not Elasticsearch's JSON yields its first bytes as the reason.
func parseErrorBody(b []byte) (typ, reason string) {
	var eb errorBody
	if err := json.Unmarshal(b, &eb); err == nil && (eb.Error.Type != "" || eb.Error.Reason != "") {
		r := eb.Error.Reason
		if eb.Error.CausedBy != nil && eb.Error.CausedBy.Reason != "" && eb.Error.CausedBy.Reason != r {
			r += " (caused by " + eb.Error.CausedBy.String() + ")"
		}
		return eb.Error.Type, r
	}
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = b[:200]
	}
	return "", string(bytes.ToValidUTF8(b, []byte("?")))
}

// errDocumentNewline marks a body with raw newlines that is not valid JSON:
// it cannot be put on one NDJSON line.
var errDocumentNewline = errors.New("document is not valid JSON and contains a newline")

// bulkEncoder builds bulk request bodies in reused storage, gzipping them
// as it goes when level > 0: the uncompressed body is never held whole, so
// a full bulk costs one pass over the documents and no buffer of their
// size. It is owned by one worker and not safe for concurrent use; Body's
// result is valid until the next Reset.
type bulkEncoder struct {
	level   int          // gzip level, 1–9; 0 sends the body as it is
	body    bytes.Buffer // the body as it goes on the wire
	zw      *gzip.Writer // writes into body when level > 0; made by the first Reset
	raw     int          // bytes before compression
	line    []byte       // one action line and its document
	compact bytes.Buffer
}

// newBulkEncoder returns an empty encoder that gzips at level (0: off).
func newBulkEncoder(level int) *bulkEncoder {
	e := &bulkEncoder{level: level}
	e.Reset()
	return e
}

// Reset empties the body, keeping its storage.
func (e *bulkEncoder) Reset() {
	e.body.Reset()
	e.raw = 0
	if e.level <= 0 {
		return
	}
	if e.zw == nil {
		zw, err := gzip.NewWriterLevel(&e.body, e.level)
		if err != nil { // the configuration allows levels 1–9 only
			zw = gzip.NewWriter(&e.body)
		}
		e.zw = zw
		return
	}
	e.zw.Reset(&e.body)
}

// ContentEncoding is the Content-Encoding header of the body: "gzip", or
// "" when it is sent as it is.
func (e *bulkEncoder) ContentEncoding() string {
	if e.level > 0 {
		return "gzip"
	}
	return ""
}

// Raw is the size of the body before compression.
func (e *bulkEncoder) Raw() int { return e.raw }

// Body ends the body and returns it; nothing may be added until Reset.
func (e *bulkEncoder) Body() ([]byte, error) {
	if e.zw != nil {
		if err := e.zw.Close(); err != nil {
			return nil, fmt.Errorf("compress bulk body: %w", err)
		}
	}
	return e.body.Bytes(), nil
}

// AddCreate appends one create action line and the document line. A
// document must be on one line: one with raw newlines (pretty-printed JSON)
// is compacted, and one that is not JSON and has newlines is refused with
// errDocumentNewline, leaving the body unchanged.
func (e *bulkEncoder) AddCreate(index, id string, body []byte) error {
	if bytes.IndexByte(body, '\n') >= 0 {
		e.compact.Reset()
		if err := json.Compact(&e.compact, body); err != nil {
			return fmt.Errorf("encode document %q: %w", id, errDocumentNewline)
		}
		body = e.compact.Bytes()
	}
	l := append(e.line[:0], `{"create":{"_index":`...)
	l = appendJSONString(l, index)
	l = append(l, `,"_id":`...)
	l = appendJSONString(l, id)
	l = append(l, "}}\n"...)
	l = append(l, body...)
	l = append(l, '\n')
	e.line = l
	e.raw += len(l)
	if e.zw == nil {
		e.body.Write(l) // a bytes.Buffer does not fail
		return nil
	}
	if _, err := e.zw.Write(l); err != nil {
		return fmt.Errorf("compress document %q: %w", id, err)
	}
	return nil
}

// appendJSONString appends s as a JSON string. Plain ASCII, the usual case
// for ids and index names, is copied without allocating.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, err := json.Marshal(s)
			if err != nil { // cannot happen for a string; keep the output valid anyway
				return append(dst, `""`...)
			}
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
