// Package kibana owns spawnbeat's Kibana side: the assets it ships and
// their loading through Kibana's HTTP API.
//
// # Asset layout
//
// The assets live in the repository under _meta/kibana, are embedded in the
// binary (Assets), and a directory given with setup.dashboards.directory
// follows the same layout:
//
//	<type>/<id>.json            one saved object, e.g. dashboard/spawnbeat-process-executions.json
//	detection_rules/<rule_id>.json  one detection rule for the Security app's detection engine
//
// A saved object file holds what a line of Kibana's saved-object export
// holds (id, type, attributes, references, coreMigrationVersion,
// typeMigrationVersion, managed), with one difference that keeps it
// readable and diffable, as Beats and Elastic's integration packages keep
// theirs: the attributes that Kibana stores as JSON text are written as
// JSON values. SavedObjects turns them back into strings. Those attributes
// are, per type: index-pattern fieldAttrs, fieldFormatMap, runtimeFieldMap,
// fields, sourceFilters, typeMeta; search and visualization
// kibanaSavedObjectMeta.searchSourceJSON (and visualization visState,
// uiStateJSON); dashboard panelsJSON, optionsJSON,
// kibanaSavedObjectMeta.searchSourceJSON, controlGroupInput.panelsJSON and
// controlGroupInput.ignoreParentSettingsJSON; map layerListJSON,
// mapStateJSON, uiStateJSON. One already written as a string is kept as it
// is (after checking that it is JSON), so an object pasted from an export
// works too. Lens keeps its state as an object, so lens objects need no
// conversion; by-value Lens panels sit inside a dashboard's panelsJSON.
//
// The directory name must be the object's type and the file name its id,
// so that two files cannot claim one object and an object is found by
// its id. Every object has a fixed id: importing again overwrites it
// instead of adding a copy. Files and directories whose names start with
// "." are skipped, and so are *.md files (notes); anything else that does
// not fit the layout is an error naming the file. A file name starting with
// "_" would not be embedded: don't use one.
//
// The shipped assets follow the shapes of Kibana 8.8 (the saved-object
// format of its sample data and exports): see MinimumKibanaVersion.
package kibana

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	spawnbeat "github.com/spawnbeat/spawnbeat"
)

// The fixed ids of the shipped assets.
const (
	// DataViewID is the data view (index-pattern) logs-spawnbeat.process-*.
	DataViewID = "spawnbeat-process"
	// DashboardID is the dashboard "[spawnbeat] Process executions".
	DashboardID = "spawnbeat-process-executions"
	// AlertsSearchID is the saved search "[spawnbeat] Alerts".
	AlertsSearchID = "spawnbeat-alerts"
	// PromotionRuleID is the rule_id of the detection rule that promotes
	// spawnbeat's inline alerts to detection alerts.
	PromotionRuleID = "5553b530-1424-451f-ad8b-2e98ec343286"
)

// MinimumKibanaVersion is the oldest Kibana the shipped assets are written
// for: their shapes (Lens formBased layers, multi-field terms, panel
// versions) and migration versions are Kibana 8.8's. An older Kibana
// refuses or misreads them.
const MinimumKibanaVersion = "8.8.0"

// DetectionRulesDir is the directory of detection rules in an asset tree.
const DetectionRulesDir = "detection_rules"

// ErrAsset wraps every problem of an asset tree.
var ErrAsset = errors.New("invalid kibana asset")

// Assets returns the embedded default asset tree, rooted at _meta/kibana.
// It is read-only and safe for concurrent use.
func Assets() fs.FS {
	// fs.Sub fails only for an invalid path; this one is a constant.
	sub, _ := fs.Sub(spawnbeat.Kibana, "_meta/kibana")
	return sub
}

// embeddedJSON lists, per saved-object type, the attributes that Kibana
// stores as JSON text (dotted paths under attributes).
func embeddedJSON(typ string) []string {
	switch typ {
	case "index-pattern":
		return []string{"fieldAttrs", "fieldFormatMap", "runtimeFieldMap", "fields", "sourceFilters", "typeMeta"}
	case "search":
		return []string{"kibanaSavedObjectMeta.searchSourceJSON"}
	case "visualization":
		return []string{"visState", "uiStateJSON", "kibanaSavedObjectMeta.searchSourceJSON"}
	case "dashboard":
		return []string{"panelsJSON", "optionsJSON", "kibanaSavedObjectMeta.searchSourceJSON",
			"controlGroupInput.panelsJSON", "controlGroupInput.ignoreParentSettingsJSON"}
	case "map":
		return []string{"layerListJSON", "mapStateJSON", "uiStateJSON"}
	}
	return nil
}

// topLevelKeys are the keys a saved object may carry in an export.
const topLevelKeys = "id, type, attributes, references, coreMigrationVersion, typeMigrationVersion, " +
	"migrationVersion, managed, namespaces, originId, version, created_at, created_by, updated_at, updated_by"

func isTopLevelKey(k string) bool {
	for _, known := range strings.Split(topLevelKeys, ", ") {
		if k == known {
			return true
		}
	}
	return false
}

// savedObject is one parsed file.
type savedObject struct {
	file string
	key  string // type/id
	doc  map[string]any
	refs []string // keys of the referenced objects
}

// SavedObjects returns the saved objects of the tree fsys as Kibana's
// saved-object NDJSON, the body of POST /api/saved_objects/_import and
// the output of `spawnbeat export kibana`: one object a line, embedded JSON
// re-encoded as strings, every object after the objects of the tree it
// references, ties in type/id order, so the same tree gives the same
// bytes. Detection rules are not saved objects (see DetectionRules). An
// error wraps ErrAsset and names the file and the problem.
func SavedObjects(fsys fs.FS) ([]byte, error) {
	objs := map[string]*savedObject{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrAsset, p, err)
		}
		name := d.Name()
		if p != "." && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p == DetectionRulesDir {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".md") {
			return nil
		}
		o, err := readSavedObject(fsys, p)
		if err != nil {
			return err
		}
		objs[o.key] = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	ordered, err := dependencyOrder(objs)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, o := range ordered {
		line, err := encodeCompact(o.doc)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: encode: %w", ErrAsset, o.file, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// readSavedObject parses and checks one <type>/<id>.json file.
func readSavedObject(fsys fs.FS, p string) (*savedObject, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrAsset, p, fmt.Sprintf(format, args...))
	}
	dir, file := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" || strings.Contains(dir, "/") || !strings.HasSuffix(file, ".json") {
		return nil, bad("a saved object lives at <type>/<id>.json")
	}
	doc, err := readObject(fsys, p)
	if err != nil {
		return nil, err
	}
	for k := range doc {
		if !isTopLevelKey(k) {
			return nil, bad("unknown key %q (a saved object has %s)", k, topLevelKeys)
		}
	}
	typ, _ := doc["type"].(string)
	id, _ := doc["id"].(string)
	switch {
	case typ == "":
		return nil, bad("type: missing or not a string")
	case typ != dir:
		return nil, bad("type %q in directory %q: the directory must be named after the type", typ, dir)
	case id == "":
		return nil, bad("id: missing or not a string")
	case id+".json" != file:
		return nil, bad("id %q in file %q: the file must be named <id>.json", id, file)
	}
	attrs, ok := doc["attributes"].(map[string]any)
	if !ok {
		return nil, bad("attributes: missing or not an object")
	}
	for _, dotted := range embeddedJSON(typ) {
		if err := stringify(attrs, dotted); err != nil {
			return nil, bad("attributes.%s: %v", dotted, err)
		}
	}
	o := &savedObject{file: p, key: typ + "/" + id, doc: doc}
	if raw, ok := doc["references"]; ok {
		refs, ok := raw.([]any)
		if !ok {
			return nil, bad("references: not an array")
		}
		for i, r := range refs {
			ref, _ := r.(map[string]any)
			name, _ := ref["name"].(string)
			rtyp, _ := ref["type"].(string)
			rid, _ := ref["id"].(string)
			if name == "" || rtyp == "" || rid == "" {
				return nil, bad("references[%d]: name, type and id must be non-empty strings", i)
			}
			o.refs = append(o.refs, rtyp+"/"+rid)
		}
	}
	return o, nil
}

// readObject decodes one JSON object, numbers kept as written.
func readObject(fsys fs.FS, p string) (map[string]any, error) {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrAsset, p, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrAsset, p, jsonErrorAt(b, err))
	}
	if doc == nil {
		return nil, fmt.Errorf("%w: %s: not a JSON object", ErrAsset, p)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: more than one JSON value", ErrAsset, p)
	}
	return doc, nil
}

// jsonErrorAt adds the line and column to a syntax error.
func jsonErrorAt(b []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return err.Error()
	}
	// Offset counts the bytes read, the offending one included.
	before := b[:min(max(int(se.Offset)-1, 0), len(b))]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d column %d: %v", line, col, err)
}

// stringify replaces the value at the dotted path under attrs by its
// compact JSON text. A string is kept, once checked to be JSON.
func stringify(attrs map[string]any, dotted string) error {
	parts := strings.Split(dotted, ".")
	m := attrs
	for _, k := range parts[:len(parts)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil // the attribute is absent
		}
		m = next
	}
	last := parts[len(parts)-1]
	v, ok := m[last]
	if !ok {
		return nil
	}
	if s, isString := v.(string); isString {
		if !json.Valid([]byte(s)) {
			return errors.New("a string here must be JSON text")
		}
		return nil
	}
	b, err := encodeCompact(v)
	if err != nil {
		return err
	}
	m[last] = string(b)
	return nil
}

// encodeCompact is json.Marshal without HTML escaping, so the text reads as
// written ("<", ">" and "&" stay).
func encodeCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// dependencyOrder sorts objects so that each follows the objects of the
// set it references (Kahn's algorithm, ready objects taken in type/id
// order). References to objects outside the set are left to Kibana, which
// resolves them against what it already holds. A cycle is an error naming
// its objects.
func dependencyOrder(objs map[string]*savedObject) ([]*savedObject, error) {
	waiting := map[string]int{}        // key -> references to objects not yet placed
	referrers := map[string][]string{} // key -> keys that reference it
	for key, o := range objs {
		seen := map[string]bool{}
		for _, r := range o.refs {
			if _, in := objs[r]; !in || seen[r] || r == key {
				continue
			}
			seen[r] = true
			waiting[key]++
			referrers[r] = append(referrers[r], key)
		}
	}
	var ready []string
	for key := range objs {
		if waiting[key] == 0 {
			ready = append(ready, key)
		}
	}
	out := make([]*savedObject, 0, len(objs))
	for len(ready) > 0 {
		sort.Strings(ready)
		key := ready[0]
		ready = ready[1:]
		out = append(out, objs[key])
		for _, r := range referrers[key] {
			if waiting[r]--; waiting[r] == 0 {
				ready = append(ready, r)
			}
		}
	}
	if len(out) < len(objs) {
		var cycle []string
		for key, n := range waiting {
			if n > 0 {
				cycle = append(cycle, objs[key].file)
			}
		}
		sort.Strings(cycle)
		return nil, fmt.Errorf("%w: references form a cycle among %s", ErrAsset, strings.Join(cycle, ", "))
	}
	return out, nil
}

// DetectionRules returns the detection rules of the tree fsys
// (detection_rules/<rule_id>.json) as NDJSON for POST
// /api/detection_engine/rules/_import: one rule a line, in rule_id order. A
// tree without the directory has no rules (empty output). An error wraps
// ErrAsset and names the file and the problem.
func DetectionRules(fsys fs.FS) ([]byte, error) {
	entries, err := fs.ReadDir(fsys, DetectionRulesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrAsset, DetectionRulesDir, err)
	}
	var buf bytes.Buffer
	for _, e := range entries { // ReadDir sorts by name, that is by rule_id
		name := e.Name()
		p := path.Join(DetectionRulesDir, name)
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".md") {
			continue
		}
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			return nil, fmt.Errorf("%w: %s: a detection rule lives at %s/<rule_id>.json", ErrAsset, p, DetectionRulesDir)
		}
		rule, err := readObject(fsys, p)
		if err != nil {
			return nil, err
		}
		id, _ := rule["rule_id"].(string)
		if id == "" {
			return nil, fmt.Errorf("%w: %s: rule_id: missing or not a string", ErrAsset, p)
		}
		if id+".json" != name {
			return nil, fmt.Errorf("%w: %s: rule_id %q: the file must be named <rule_id>.json", ErrAsset, p, id)
		}
		line, err := encodeCompact(rule)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: encode: %w", ErrAsset, p, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
