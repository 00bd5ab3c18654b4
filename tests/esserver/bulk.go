package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// bulkOp is one parsed action of a bulk request.
type bulkOp struct {
	action        string // create, index, update, delete
	index         string
	id            string
	create        bool // index with op_type create
	source        []byte
	ifSeqNo       int64
	ifPrimaryTerm int64
	hasIfSeqNo    bool
	requireDS     bool
	pipeline      string // the request's ingest pipeline, from the action or ?pipeline=
	update        *updateBody
}

// updateBody is the source line of an update action.
type updateBody struct {
	Doc         json.RawMessage `json:"doc"`
	Upsert      json.RawMessage `json:"upsert"`
	DocAsUpsert bool            `json:"doc_as_upsert"`
	Script      json.RawMessage `json:"script"`
	DetectNoop  *bool           `json:"detect_noop"`
}

type shardsInfo struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

// itemResult is the body of one bulk response item.
type itemResult struct {
	Index       string      `json:"_index"`
	ID          string      `json:"_id"`
	Version     int64       `json:"_version,omitempty"`
	Result      string      `json:"result,omitempty"`
	Shards      *shardsInfo `json:"_shards,omitempty"`
	SeqNo       *int64      `json:"_seq_no,omitempty"`
	PrimaryTerm int64       `json:"_primary_term,omitempty"`
	Status      int         `json:"status"`
	Error       *esError    `json:"error,omitempty"`
}

// bulkItem is one element of "items": {"<action>": {...}}.
type bulkItem struct {
	action string
	res    itemResult
}

func (b bulkItem) MarshalJSON() ([]byte, error) {
	inner, err := json.Marshal(&b.res)
	if err != nil {
		return nil, fmt.Errorf("encode bulk item: %w", err)
	}
	out := make([]byte, 0, len(inner)+len(b.action)+5)
	out = append(out, `{"`...)
	out = append(out, b.action...)
	out = append(out, `":`...)
	out = append(out, inner...)
	out = append(out, '}')
	return out, nil
}

type bulkResponse struct {
	Errors bool       `json:"errors"`
	Took   int64      `json:"took"`
	Items  []bulkItem `json:"items"`
}

// bulkParseError is a whole-request failure found while parsing.
type bulkParseError struct {
	status int
	err    *esError
}

// parseBulk splits an NDJSON bulk body into operations, following
// Elasticsearch's BulkRequestParser: empty lines are skipped, the body must
// end with a newline, an action without its source line at the very end is
// dropped, and any malformed action line fails the whole request.
func parseBulk(body []byte, defaultIndex string, q map[string][]string) ([]bulkOp, *bulkParseError) {
	bad := func(format string, args ...any) *bulkParseError {
		return &bulkParseError{status: http.StatusBadRequest, err: newErr("illegal_argument_exception", format, args...)}
	}
	requireDS := first(q["require_data_stream"]) == "true"
	pipeline := first(q["pipeline"])
	var ops []bulkOp
	line := 0 // number of the last line next returned, from 1
	from := 0
	// next returns the next line without its '\n' and moves past it; ok is
	// false at the end of the body, which must end with a newline.
	next := func() (ln []byte, ok bool, perr *bulkParseError) {
		i := bytes.IndexByte(body[from:], '\n')
		if i < 0 {
			if from != len(body) {
				return nil, false, bad("The bulk request must be terminated by a newline [\\n]")
			}
			return nil, false, nil
		}
		ln = body[from : from+i]
		from += i + 1
		line++
		return ln, true, nil
	}
	for {
		ln, ok, perr := next()
		if perr != nil {
			return nil, perr
		}
		if !ok {
			break
		}
		raw := bytes.TrimSpace(ln)
		if len(raw) == 0 {
			continue
		}
		op, perr := parseAction(raw, line, defaultIndex)
		if perr != nil {
			return nil, perr
		}
		op.requireDS = requireDS
		if op.pipeline == "" {
			op.pipeline = pipeline
		}
		if op.action != "delete" {
			src, ok, perr := next()
			if perr != nil {
				return nil, perr
			}
			if !ok {
				break
			}
			src = bytes.TrimSuffix(src, []byte{'\r'})
			if op.action == "update" {
				// Update bodies are parsed by the bulk parser itself, so a
				// broken one fails the whole request.
				var ub updateBody
				if err := json.Unmarshal(src, &ub); err != nil {
					return nil, &bulkParseError{status: http.StatusBadRequest,
						err: newErr("x_content_parse_exception", "[%d:1] [UpdateRequest] failed to parse: %v", line, err)}
				}
				op.update = &ub
			} else {
				op.source = src
			}
		}
		if op.index == "" {
			return nil, &bulkParseError{status: http.StatusBadRequest,
				err: newErr("action_request_validation_exception", "Validation Failed: 1: index is missing;")}
		}
		if (op.action == "delete" || op.action == "update") && op.id == "" {
			return nil, &bulkParseError{status: http.StatusBadRequest,
				err: newErr("action_request_validation_exception", "Validation Failed: 1: id is missing;")}
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		return nil, &bulkParseError{status: http.StatusBadRequest,
			err: newErr("action_request_validation_exception", "Validation Failed: 1: no requests added;")}
	}
	return ops, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// jsonTokenName names the token a raw JSON value starts with, in Jackson's
// words, for error messages.
func jsonTokenName(raw []byte) string {
	if len(raw) == 0 {
		return "null"
	}
	switch raw[0] {
	case '{':
		return "START_OBJECT"
	case '[':
		return "START_ARRAY"
	case '"':
		return "VALUE_STRING"
	case 't':
		return "VALUE_TRUE"
	case 'f':
		return "VALUE_FALSE"
	case 'n':
		return "VALUE_NULL"
	default:
		return "VALUE_NUMBER"
	}
}

// parseAction parses one action/metadata line.
func parseAction(raw []byte, line int, defaultIndex string) (bulkOp, *bulkParseError) {
	bad := func(format string, args ...any) *bulkParseError {
		return &bulkParseError{status: http.StatusBadRequest, err: newErr("illegal_argument_exception", format, args...)}
	}
	op := bulkOp{index: defaultIndex}
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		return op, &bulkParseError{status: http.StatusBadRequest,
			err: newErr("x_content_parse_exception", "[%d:1] Unexpected character in action/metadata line: %v", line, err)}
	}
	if raw[0] != '{' {
		return op, bad("Malformed action/metadata line [%d], expected START_OBJECT but found [%s]", line, jsonTokenName(raw))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return op, bad("Malformed action/metadata line [%d]: %v", line, err)
	}
	if len(top) == 0 {
		return op, bad("Malformed action/metadata line [%d], expected FIELD_NAME but found [END_OBJECT]", line)
	}
	if len(top) > 1 {
		return op, bad("Malformed action/metadata line [%d], expected END_OBJECT but found [FIELD_NAME]", line)
	}
	var meta json.RawMessage
	for k, v := range top {
		op.action, meta = k, v
	}
	switch op.action {
	case "create", "index", "update", "delete":
	default:
		return op, bad("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", line, op.action)
	}
	if meta[0] != '{' {
		return op, bad("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [%s]", line, jsonTokenName(meta))
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(meta, &params); err != nil {
		return op, bad("Malformed action/metadata line [%d]: %v", line, err)
	}
	for k, v := range params {
		if len(v) > 0 && (v[0] == '[' || (v[0] == '{' && k != "_source" && k != "dynamic_templates")) {
			return op, bad("Malformed action/metadata line [%d], expected a simple value for field [%s] but found [%s]", line, k, jsonTokenName(v))
		}
		text := scalarText(v)
		switch k {
		case "_index":
			if text != "" {
				op.index = text
			}
		case "_id":
			op.id = text
		case "op_type":
			op.create = text == "create"
		case "if_seq_no":
			n, err := strconv.ParseInt(text, 10, 64)
			if err != nil {
				return op, bad("Action/metadata line [%d]: if_seq_no [%s] is not a number", line, text)
			}
			op.ifSeqNo, op.hasIfSeqNo = n, true
		case "if_primary_term":
			n, err := strconv.ParseInt(text, 10, 64)
			if err != nil {
				return op, bad("Action/metadata line [%d]: if_primary_term [%s] is not a number", line, text)
			}
			op.ifPrimaryTerm = n
		case "pipeline":
			op.pipeline = text
		case "routing", "version", "version_type", "retry_on_conflict",
			"require_alias", "require_data_stream", "list_executed_pipelines",
			"_source", "dynamic_templates":
			if k == "require_data_stream" && text == "true" {
				op.requireDS = true
			}
		default:
			return op, bad("Action/metadata line [%d] contains an unknown parameter [%s]", line, k)
		}
	}
	if op.action == "create" {
		op.create = true
	}
	return op, nil
}

// scalarText is the text of a JSON scalar, as Jackson's parser.text().
func scalarText(v json.RawMessage) string {
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			return s
		}
	}
	if string(v) == "null" {
		return ""
	}
	return string(v)
}

// handleBulk serves POST/PUT /_bulk and /{index}/_bulk.
func (s *Server) handleBulk(rs *reply, defaultIndex string) {
	start := time.Now()
	s.c.bulkRequests.Add(1)
	body, status, err := rs.readBody()
	if err != nil {
		s.c.badRequests.Add(1)
		rs.bodyError(status, err)
		return
	}
	f := s.faultPlan()
	// One draw per request decides a whole-request refusal, as a node
	// under pressure (429, reference: "Bulk API", "Rejected requests") or
	// an unavailable cluster (503) answers before doing anything.
	if p429, p503 := clampProb(f.RequestStatus429), clampProb(f.RequestStatus503); p429+p503 > 0 {
		s.faultMu.Lock()
		x := s.rng.Float64()
		s.faultMu.Unlock()
		switch {
		case x < p429:
			s.c.request429.Add(1)
			s.logf("esserver: fault: bulk answered 429")
			rs.error(http.StatusTooManyRequests, newErr("es_rejected_execution_exception",
				"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=%d, max_coordinating_and_primary_bytes=0]", len(body)))
			return
		case x < p429+p503:
			s.c.request503.Add(1)
			s.logf("esserver: fault: bulk answered 503")
			rs.error(http.StatusServiceUnavailable, newErr("cluster_block_exception",
				"blocked by: [SERVICE_UNAVAILABLE/2/no master];"))
			return
		}
	}
	cutNow, cutAfter := false, false
	if s.draw(clampProb(f.CutConnection)) {
		if s.draw(0.5) {
			cutAfter = true
		} else {
			cutNow = true
		}
	}
	if cutNow {
		s.c.cut.Add(1)
		s.logf("esserver: fault: bulk connection cut before applying")
		cut(rs.w)
		return
	}
	ops, perr := parseBulk(body, defaultIndex, rs.r.URL.Query())
	if perr != nil {
		s.c.badRequests.Add(1)
		rs.error(perr.status, perr.err)
		return
	}
	resp := bulkResponse{Items: make([]bulkItem, len(ops))}
	p429 := clampProb(f.ItemStatus429)
	s.store.mu.Lock()
	for i := range ops {
		s.c.items.Add(1)
		op := &ops[i]
		var item bulkItem
		if p429 > 0 && s.draw(p429) {
			item = bulkItem{action: op.action, res: itemResult{Index: op.index, ID: op.id, Status: http.StatusTooManyRequests,
				Error: newErr("es_rejected_execution_exception",
					"rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=%d, max_coordinating_and_primary_bytes=0]", len(op.source))}}
			s.c.rejected429.Add(1)
		} else {
			item = s.applyOp(op)
		}
		if item.res.Error != nil {
			resp.Errors = true
		}
		resp.Items[i] = item
	}
	s.store.mu.Unlock()
	if cutAfter {
		s.c.cut.Add(1)
		s.c.cutAfterApply.Add(1)
		s.logf("esserver: fault: bulk connection cut after applying %d items", len(ops))
		cut(rs.w)
		return
	}
	resp.Took = time.Since(start).Milliseconds()
	rs.json(http.StatusOK, &resp)
}

// indexNameError validates an index name for writing, following the
// "Create index API" naming rules.
func indexNameError(name string) *esError {
	bad := func(why string) *esError {
		e := newErr("invalid_index_name_exception", "Invalid index name [%s], %s", name, why)
		e.Index = name
		return e
	}
	switch {
	case name != strings.ToLower(name):
		return bad("must be lowercase")
	case strings.ContainsAny(name, "\\/*?\"<>| ,#:"):
		return bad(`must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, #, :]`)
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return bad("must not start with '_', '-', or '+'")
	case name == "." || name == "..":
		return bad("must not be '.' or '..'")
	case len(name) > 255:
		return bad("index name is too long")
	}
	return nil
}

// applyOp applies one operation; s.store.mu is held for writing.
func (s *Server) applyOp(op *bulkOp) bulkItem {
	st := s.store
	item := bulkItem{action: op.action, res: itemResult{Index: op.index, ID: op.id}}
	fail := func(status int, e *esError) bulkItem {
		item.res.Status = status
		item.res.Error = e
		switch {
		case status == http.StatusConflict:
			s.c.conflicts.Add(1)
		case status == http.StatusNotFound:
			s.c.notFound.Add(1)
		case status == http.StatusBadRequest && (e.Type == "document_parsing_exception" || e.Type == "strict_dynamic_mapping_exception"):
			s.c.mappingErrors.Add(1)
		case status == http.StatusBadRequest:
			s.c.itemErrors400.Add(1)
		}
		return item
	}
	if e := indexNameError(op.index); e != nil {
		return fail(http.StatusBadRequest, e)
	}
	if op.id == "" && op.action != "delete" && op.action != "update" {
		op.id = randomID(15)
		item.res.ID = op.id
	}
	// Resolve the target: an existing data stream, an existing index, or
	// one auto-created from the best matching template.
	var ix *index
	ds := st.dataStreams[op.index]
	if ds == nil {
		ix = st.indices[op.index]
	}
	if e := s.runPipelines(op, ds, ix); e != nil {
		return fail(http.StatusBadRequest, e)
	}
	if ds == nil && ix == nil {
		// Bulk auto-creates indices for every action but delete.
		if op.action == "delete" {
			return fail(http.StatusNotFound, indexNotFound(op.index))
		}
		t := st.matchTemplate(op.index)
		var err error
		if t != nil && t.dataStream {
			ds, err = st.newDataStream(op.index, t)
		} else {
			if op.requireDS {
				return fail(http.StatusBadRequest, newErr("illegal_argument_exception",
					"no matching index template found for data stream [%s]", op.index))
			}
			ix, err = st.newIndex(op.index, t, "")
		}
		if err != nil {
			return fail(http.StatusBadRequest, newErr("mapper_parsing_exception", "%v", err))
		}
	}
	if ds != nil {
		// "Data streams" page: "You cannot send indexing or update requests
		// for existing documents directly to a data stream"; only
		// op_type create is accepted (TransportBulkAction).
		if !op.create {
			return fail(http.StatusBadRequest, newErr("illegal_argument_exception",
				"only write ops with an op_type of create are allowed in data streams"))
		}
		ix = ds.indices[len(ds.indices)-1]
		item.res.Index = ix.name
	} else if op.requireDS {
		return fail(http.StatusBadRequest, newErr("illegal_argument_exception",
			"index request targeting index [%s] specifies require_data_stream but the target is not a data stream", op.index))
	} else if ix.dataStream != "" && op.create {
		return fail(http.StatusBadRequest, newErr("illegal_argument_exception",
			"index request with op_type=create targeting backing indices is disallowed, target corresponding data stream [%s] instead", ix.dataStream))
	} else if ix.dataStream != "" && op.action == "index" && !op.hasIfSeqNo {
		// Overwriting a document in a backing index needs if_seq_no and
		// if_primary_term ("Use a data stream": update documents).
		return fail(http.StatusBadRequest, newErr("illegal_argument_exception",
			"index request with op_type=index and no if_primary_term and if_seq_no set targeting backing indices is disallowed, target corresponding data stream [%s] instead", ix.dataStream))
	}
	cur := ix.docs[op.id]
	if op.hasIfSeqNo && op.action != "create" {
		if cur == nil || cur.seqNo != op.ifSeqNo || op.ifPrimaryTerm != 1 {
			curSeq, curTerm := int64(-2), int64(0)
			if cur != nil {
				curSeq, curTerm = cur.seqNo, 1
			}
			e := newErr("version_conflict_engine_exception",
				"[%s]: version conflict, required seqNo [%d], primary term [%d]. current document has seqNo [%d] and primary term [%d]",
				op.id, op.ifSeqNo, op.ifPrimaryTerm, curSeq, curTerm)
			e.Index, e.IndexUUID, e.Shard = ix.name, ix.uuid, "0"
			return fail(http.StatusConflict, e)
		}
	}
	switch op.action {
	case "delete":
		if cur == nil {
			s.c.notFound.Add(1)
			return s.written(&item, ix, http.StatusNotFound, "not_found", 1)
		}
		delete(ix.docs, op.id)
		s.c.deleted.Add(1)
		return s.written(&item, ix, http.StatusOK, "deleted", cur.version+1)
	case "update":
		return s.applyUpdate(&item, ix, cur, op, fail)
	}
	if op.create && cur != nil {
		e := newErr("version_conflict_engine_exception",
			"[%s]: version conflict, document already exists (current version [%d])", op.id, cur.version)
		e.Index, e.IndexUUID, e.Shard = ix.name, ix.uuid, "0"
		return fail(http.StatusConflict, e)
	}
	if e := ix.mapping.validate(op.source, op.id); e != nil {
		return fail(http.StatusBadRequest, e)
	}
	d := &doc{source: bytes.Clone(op.source), version: 1}
	status, result := http.StatusCreated, "created"
	if cur != nil {
		d.version = cur.version + 1
		status, result = http.StatusOK, "updated"
		s.c.updated.Add(1)
	} else {
		s.c.created.Add(1)
	}
	d.seqNo = ix.nextSeq
	ix.docs[op.id] = d
	return s.written(&item, ix, status, result, d.version)
}

// runPipelines runs the ingest pipelines of an index or create op over its
// source, before the target is created or written, as the coordinating node
// does: the settings that name them are the target's write index's, or,
// when the op will create the target, its template's.
func (s *Server) runPipelines(op *bulkOp, ds *dataStream, ix *index) *esError {
	if op.action != "index" && op.action != "create" {
		return nil
	}
	var settings json.RawMessage
	switch {
	case ds != nil:
		settings = ds.indices[len(ds.indices)-1].settings
	case ix != nil:
		settings = ix.settings
	default:
		if t := s.store.matchTemplate(op.index); t != nil {
			settings = t.settings
		}
	}
	names := pipelinesFor(op.pipeline, settings)
	if len(names) == 0 {
		return nil
	}
	src, e := s.store.ingest(op.source, op.index, names)
	if e != nil {
		return e
	}
	op.source = src
	s.c.ingested.Add(1)
	return nil
}

// written fills a successful item; the document's sequence number comes
// from the index counter.
func (s *Server) written(item *bulkItem, ix *index, status int, result string, version int64) bulkItem {
	seq := ix.nextSeq
	ix.nextSeq++
	item.res.Index = ix.name
	item.res.Status = status
	item.res.Result = result
	item.res.Version = version
	item.res.SeqNo = &seq
	item.res.PrimaryTerm = 1
	item.res.Shards = &shardsInfo{Total: 2, Successful: 1}
	return *item
}

// applyUpdate merges a partial document ("doc"), upserts, or refuses
// scripts, which this server does not run.
func (s *Server) applyUpdate(item *bulkItem, ix *index, cur *doc, op *bulkOp, fail func(int, *esError) bulkItem) bulkItem {
	ub := op.update
	if len(ub.Script) > 0 {
		return fail(http.StatusBadRequest, newErr("illegal_argument_exception", "scripted updates are not supported by this test server"))
	}
	var newSrc []byte
	status, result := http.StatusOK, "updated"
	switch {
	case cur == nil && ub.DocAsUpsert && len(ub.Doc) > 0:
		newSrc = ub.Doc
		status, result = http.StatusCreated, "created"
	case cur == nil && len(ub.Upsert) > 0:
		newSrc = ub.Upsert
		status, result = http.StatusCreated, "created"
	case cur == nil:
		e := newErr("document_missing_exception", "[%s]: document missing", op.id)
		e.Index, e.IndexUUID, e.Shard = ix.name, ix.uuid, "0"
		return fail(http.StatusNotFound, e)
	case len(ub.Doc) == 0:
		return fail(http.StatusBadRequest, newErr("action_request_validation_exception", "Validation Failed: 1: script or doc is missing;"))
	default:
		merged, changed, err := mergeJSON(cur.source, ub.Doc)
		if err != nil {
			return fail(http.StatusBadRequest, newErr("document_parsing_exception", "[1:1] failed to parse: %v", err))
		}
		if !changed && (ub.DetectNoop == nil || *ub.DetectNoop) {
			item.res.Index, item.res.Status, item.res.Result = ix.name, http.StatusOK, "noop"
			item.res.Version = cur.version
			seq := cur.seqNo
			item.res.SeqNo, item.res.PrimaryTerm = &seq, 1
			item.res.Shards = &shardsInfo{}
			s.c.updated.Add(1)
			return *item
		}
		newSrc = merged
	}
	if e := ix.mapping.validate(newSrc, op.id); e != nil {
		return fail(http.StatusBadRequest, e)
	}
	d := &doc{source: bytes.Clone(newSrc), version: 1, seqNo: ix.nextSeq}
	if cur != nil {
		d.version = cur.version + 1
		s.c.updated.Add(1)
	} else {
		s.c.created.Add(1)
	}
	ix.docs[op.id] = d
	return s.written(item, ix, status, result, d.version)
}

// mergeJSON deep-merges patch into the object src, as the update API's
// partial document does, and reports whether anything changed.
func mergeJSON(src, patch []byte) ([]byte, bool, error) {
	var a, b map[string]any
	if err := unmarshalNumbers(src, &a); err != nil {
		return nil, false, fmt.Errorf("decode stored document: %w", err)
	}
	if err := unmarshalNumbers(patch, &b); err != nil {
		return nil, false, fmt.Errorf("decode partial document: %w", err)
	}
	changed := mergeMaps(a, b)
	out, err := json.Marshal(a)
	if err != nil {
		return nil, false, fmt.Errorf("encode merged document: %w", err)
	}
	return out, changed, nil
}

func unmarshalNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func mergeMaps(dst, src map[string]any) bool {
	changed := false
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				if mergeMaps(dm, sm) {
					changed = true
				}
				continue
			}
		}
		old, had := dst[k]
		if !had || !jsonEqual(old, sv) {
			changed = true
		}
		dst[k] = sv
	}
	return changed
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
