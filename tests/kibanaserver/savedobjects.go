package kibanaserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// maxImportExportSize is savedObjects.maxImportExportSize's default.
const maxImportExportSize = 10000

// importableTypes are the saved object types a default 8.x Kibana can
// import and export (typeRegistry.getImportableAndExportableTypes()), with
// the icon its import answer gives each.
var importableTypes = map[string]string{
	"index-pattern":          "indexPatternApp",
	"dashboard":              "dashboardApp",
	"visualization":          "visualizeApp",
	"lens":                   "lensApp",
	"search":                 "discoverApp",
	"map":                    "gisApp",
	"tag":                    "tag",
	"query":                  "",
	"links":                  "link",
	"event-annotation-group": "annotation",
	"config":                 "advancedSettings",
	"url":                    "",
	"canvas-workpad":         "canvasApp",
	"canvas-element":         "canvasApp",
	"graph-workspace":        "graphApp",
	"action":                 "",
	"osquery-saved-query":    "",
	"osquery-pack":           "",
}

// importObject is one line of an import file.
type importObject struct {
	Type                 string          `json:"type"`
	ID                   string          `json:"id"`
	Attributes           json.RawMessage `json:"attributes"`
	References           []Reference     `json:"references"`
	Managed              bool            `json:"managed"`
	CoreMigrationVersion string          `json:"coreMigrationVersion"`
	TypeMigrationVersion string          `json:"typeMigrationVersion"`
	ExportedCount        *int            `json:"exportedCount"`
}

func (o *importObject) title() string {
	var a struct {
		Title string `json:"title"`
		Name  string `json:"name"`
	}
	_ = json.Unmarshal(o.Attributes, &a) // a missing title is no error here
	if a.Title != "" {
		return a.Title
	}
	return a.Name
}

type importMeta struct {
	Title string `json:"title,omitempty"`
	Icon  string `json:"icon,omitempty"`
}

type importFailure struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	Meta      importMeta `json:"meta"`
	Overwrite bool       `json:"overwrite,omitempty"`
	Error     any        `json:"error"`
}

type importSuccess struct {
	Type      string     `json:"type"`
	ID        string     `json:"id"`
	Meta      importMeta `json:"meta"`
	Overwrite bool       `json:"overwrite,omitempty"`
	Managed   bool       `json:"managed"`
}

// parseNDJSON parses an import file one line at a time, as
// createSavedObjectsStreamFromNdJson does: blank lines are skipped and a
// line that is not JSON fails the whole request (400 with JSON.parse's
// message).
func parseNDJSON(data []byte) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			var v any
			err := json.Unmarshal(line, &v)
			var se *json.SyntaxError
			if errors.As(err, &se) && se.Offset > 0 && int(se.Offset) <= len(line) && !strings.Contains(se.Error(), "end of JSON input") {
				return nil, fmt.Errorf("Unexpected token %q in JSON at position %d", line[se.Offset-1], se.Offset-1) //nolint:staticcheck // ST1005: Kibana's words, as JSON.parse writes them
			}
			return nil, errors.New("Unexpected end of JSON input") //nolint:staticcheck // ST1005: Kibana's words
		}
		out = append(out, json.RawMessage(line))
	}
	return out, nil
}

// handleImport serves POST /api/saved_objects/_import (routes/import.ts and
// the importer): the multipart file, the query flags, then each object:
// unsupported types, missing references and (without overwrite) conflicts
// are reported per object in a 200 answer; the others are written.
func (s *Server) handleImport(rs *reply, plan Faults) {
	flags, ok := rs.queryFlags("overwrite", "createNewCopies", "compatibilityMode")
	if !ok {
		return
	}
	if flags["overwrite"] && flags["createNewCopies"] {
		rs.boom(http.StatusBadRequest, "[request query]: cannot use [overwrite] with [createNewCopies]", nil)
		return
	}
	file, err := rs.readImportFile(maxImportPayloadBytes, false)
	if err != nil {
		return
	}
	if ext, ok := ndjsonExtension(file.name); !ok {
		rs.boom(http.StatusBadRequest, "Invalid file extension "+ext, nil)
		return
	}
	lines, err := parseNDJSON(file.data)
	if err != nil {
		rs.boom(http.StatusBadRequest, err.Error(), nil)
		return
	}
	var objs []importObject
	for _, line := range lines {
		var o importObject
		if json.Unmarshal(line, &o) != nil {
			// A JSON value that is not an object, or a field of the
			// wrong type: the importer cannot tell its type.
			o = importObject{}
		}
		if o.ExportedCount != nil {
			continue // the export details line
		}
		objs = append(objs, o)
	}
	if len(objs) > maxImportExportSize {
		rs.boom(http.StatusBadRequest, fmt.Sprintf("Can't import more than %d objects", maxImportExportSize),
			map[string]string{"type": "import-size-exceeded"})
		return
	}
	seen := map[string]int{}
	var dups []string
	for _, o := range objs {
		k := objectKey(o.Type, o.ID)
		if seen[k]++; seen[k] == 2 {
			dups = append(dups, k)
		}
	}
	if len(dups) > 0 {
		rs.boom(http.StatusBadRequest, "Non-unique import objects detected: ["+strings.Join(dups, ",")+"]",
			map[string]any{"type": "non-unique-entries", "nonUniqueEntries": dups})
		return
	}
	s.importObjects(rs, objs, flags["overwrite"], plan.ObjectErrors)
}

func (s *Server) importObjects(rs *reply, objs []importObject, overwrite bool, objectErrors map[string]string) {
	inFile := make(map[string]bool, len(objs))
	for _, o := range objs {
		inFile[objectKey(o.Type, o.ID)] = true
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	space := st.objects[rs.space]
	if space == nil {
		space = map[string]SavedObject{}
		st.objects[rs.space] = space
	}
	var failures []importFailure
	var successes []importSuccess
	for _, o := range objs {
		icon, supported := importableTypes[o.Type]
		meta := importMeta{Title: o.title(), Icon: icon}
		fail := func(e any) {
			failures = append(failures, importFailure{ID: o.ID, Type: o.Type, Meta: meta, Overwrite: overwrite && space[objectKey(o.Type, o.ID)].ID != "", Error: e})
		}
		if !supported {
			fail(map[string]string{"type": "unsupported_type"})
			continue
		}
		if o.ID == "" {
			o.ID = randomUUID()
		}
		var missing []map[string]string
		for _, ref := range o.References {
			k := objectKey(ref.Type, ref.ID)
			if !inFile[k] && space[k].ID == "" {
				missing = append(missing, map[string]string{"type": ref.Type, "id": ref.ID})
			}
		}
		if len(missing) > 0 {
			fail(map[string]any{"type": "missing_references", "references": missing})
			continue
		}
		k := objectKey(o.Type, o.ID)
		existing, exists := space[k]
		if exists && !overwrite {
			fail(map[string]string{"type": "conflict"})
			continue
		}
		if len(bytes.TrimSpace(o.Attributes)) == 0 || o.Attributes[0] != '{' {
			fail(map[string]any{"type": "unknown", "statusCode": 400, "message": "[attributes]: expected value of type [object]"})
			continue
		}
		if msg, ok := objectErrors[k]; ok {
			fail(map[string]any{"type": "unknown", "statusCode": 500, "message": msg})
			continue
		}
		created := now()
		if exists {
			created = existing.CreatedAt
		}
		refs := o.References
		if refs == nil {
			refs = []Reference{}
		}
		space[k] = SavedObject{
			Type: o.Type, ID: o.ID, Attributes: o.Attributes, References: refs,
			Namespaces: []string{rs.space}, Managed: o.Managed,
			CoreMigrationVersion: o.CoreMigrationVersion, TypeMigrationVersion: o.TypeMigrationVersion,
			UpdatedAt: now(), CreatedAt: created, Version: st.nextVersion(),
		}
		successes = append(successes, importSuccess{Type: o.Type, ID: o.ID, Meta: meta, Overwrite: exists, Managed: o.Managed})
	}
	answer := map[string]any{"success": len(failures) == 0, "successCount": len(successes), "warnings": []any{}}
	if len(successes) > 0 {
		answer["successResults"] = successes
	}
	if len(failures) > 0 {
		answer["errors"] = failures
	}
	rs.json(http.StatusOK, answer)
}

// handleFind serves GET /api/saved_objects/_find?type=...: the objects of
// the space of the given types, a page at a time.
func (s *Server) handleFind(rs *reply) {
	q := rs.r.URL.Query()
	types := q["type"]
	if len(types) == 0 {
		rs.boom(http.StatusBadRequest, "[request query.type]: expected at least one defined value but got [undefined]", nil)
		return
	}
	perPage, ok1 := intParam(q, "per_page", 20)
	page, ok2 := intParam(q, "page", 1)
	if !ok1 || !ok2 {
		rs.boom(http.StatusBadRequest, "[request query.per_page]: expected value of type [number]", nil)
		return
	}
	var found []SavedObject
	for _, o := range s.Objects(rs.space) {
		if slices.Contains(types, o.Type) {
			found = append(found, o)
		}
	}
	out := []map[string]any{}
	for i := (page - 1) * perPage; i < len(found) && i < page*perPage; i++ {
		out = append(out, withScore(found[i]))
	}
	rs.json(http.StatusOK, map[string]any{"page": page, "per_page": perPage, "total": len(found), "saved_objects": out})
}

func withScore(o SavedObject) map[string]any {
	b, _ := json.Marshal(o) // plain fields: cannot fail
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["score"] = 0
	return m
}

// handleGetObject serves GET /api/saved_objects/<type>/<id>.
func (s *Server) handleGetObject(rs *reply, typ, id string) {
	st := s.store
	st.mu.Lock()
	o, ok := st.objects[rs.space][objectKey(typ, id)]
	st.mu.Unlock()
	if !ok {
		rs.boom(http.StatusNotFound, fmt.Sprintf("Saved object [%s/%s] not found", typ, id), nil)
		return
	}
	rs.json(http.StatusOK, o)
}

// handleExport serves POST /api/saved_objects/_export: NDJSON of the
// objects asked for by type or by type and id (with their references when
// includeReferencesDeep is true), then the export details line unless
// excludeExportDetails is true.
func (s *Server) handleExport(rs *reply) {
	var req struct {
		Type                  json.RawMessage `json:"type"`
		Objects               []Reference     `json:"objects"`
		IncludeReferencesDeep bool            `json:"includeReferencesDeep"`
		ExcludeExportDetails  bool            `json:"excludeExportDetails"`
	}
	dec := json.NewDecoder(rs.r.Body)
	if err := dec.Decode(&req); err != nil {
		rs.boom(http.StatusBadRequest, "[request body]: expected a plain object value, but found ["+shortErr(err)+"] instead.", nil)
		return
	}
	var types []string
	if len(req.Type) > 0 {
		var one string
		if json.Unmarshal(req.Type, &one) == nil {
			types = []string{one}
		} else if json.Unmarshal(req.Type, &types) != nil {
			rs.boom(http.StatusBadRequest, "[request body.type]: expected value of type [string] or [array]", nil)
			return
		}
	}
	switch {
	case len(types) > 0 && len(req.Objects) > 0:
		rs.boom(http.StatusBadRequest, `Can't specify both "types" and "objects" properties when exporting`, nil)
		return
	case len(types) == 0 && len(req.Objects) == 0:
		rs.boom(http.StatusBadRequest, "Either `type` or `objects` are required.", nil)
		return
	}
	st := s.store
	st.mu.Lock()
	space := st.objects[rs.space]
	picked := map[string]SavedObject{}
	var notFound []map[string]any
	for _, o := range space {
		if slices.Contains(types, o.Type) {
			picked[objectKey(o.Type, o.ID)] = o
		}
	}
	for _, ref := range req.Objects {
		o, ok := space[objectKey(ref.Type, ref.ID)]
		if !ok {
			notFound = append(notFound, map[string]any{"id": ref.ID, "type": ref.Type, "error": boomBody{
				StatusCode: 404, Error: "Not Found", Message: fmt.Sprintf("Saved object [%s/%s] not found", ref.Type, ref.ID)}})
			continue
		}
		picked[objectKey(o.Type, o.ID)] = o
	}
	var missingRefs []Reference
	if req.IncludeReferencesDeep {
		queue := make([]SavedObject, 0, len(picked))
		for _, o := range picked {
			queue = append(queue, o)
		}
		for len(queue) > 0 {
			o := queue[0]
			queue = queue[1:]
			for _, ref := range o.References {
				k := objectKey(ref.Type, ref.ID)
				if _, done := picked[k]; done {
					continue
				}
				if r, ok := space[k]; ok {
					picked[k] = r
					queue = append(queue, r)
				} else if !slices.ContainsFunc(missingRefs, func(m Reference) bool { return m.Type == ref.Type && m.ID == ref.ID }) {
					missingRefs = append(missingRefs, Reference{Type: ref.Type, ID: ref.ID})
				}
			}
		}
	}
	st.mu.Unlock()
	if len(notFound) > 0 {
		rs.boom(http.StatusBadRequest, "Error fetching objects to export", map[string]any{"objects": notFound})
		return
	}
	out := make([]SavedObject, 0, len(picked))
	for _, o := range picked {
		o.Namespaces = nil
		out = append(out, o)
	}
	sortObjects(out)
	var b bytes.Buffer
	for _, o := range out {
		line, _ := json.Marshal(exported(o)) // plain fields: cannot fail
		b.Write(line)
		b.WriteByte('\n')
	}
	if !req.ExcludeExportDetails {
		if missingRefs == nil {
			missingRefs = []Reference{}
		}
		line, _ := json.Marshal(map[string]any{"excludedObjects": []any{}, "excludedObjectsCount": 0,
			"exportedCount": len(out), "missingRefCount": len(missingRefs), "missingReferences": missingRefs})
		b.Write(line)
		b.WriteByte('\n')
	}
	rs.w.Header().Set("Content-Disposition", `attachment; filename="export.ndjson"`)
	rs.raw(http.StatusOK, "application/ndjson", b.Bytes())
}

// exported is an object as the export API writes it: without namespaces.
func exported(o SavedObject) any {
	return struct {
		Attributes           json.RawMessage `json:"attributes"`
		CoreMigrationVersion string          `json:"coreMigrationVersion,omitempty"`
		CreatedAt            string          `json:"created_at"`
		ID                   string          `json:"id"`
		Managed              bool            `json:"managed"`
		References           []Reference     `json:"references"`
		Type                 string          `json:"type"`
		TypeMigrationVersion string          `json:"typeMigrationVersion,omitempty"`
		UpdatedAt            string          `json:"updated_at"`
		Version              string          `json:"version"`
	}{o.Attributes, o.CoreMigrationVersion, o.CreatedAt, o.ID, o.Managed, o.References, o.Type, o.TypeMigrationVersion, o.UpdatedAt, o.Version}
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
