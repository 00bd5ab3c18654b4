package kibanaserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// maxRuleImportExportSize is xpack.securitySolution.maxRuleImportExportSize's
// default.
const maxRuleImportExportSize = 10000

// ruleTypes are the detection engine's rule types, in the order its
// schema's discriminated union lists them.
var ruleTypes = []string{"eql", "query", "saved_query", "threshold", "threat_match", "machine_learning", "new_terms", "esql"}

// handleRulesImport serves POST /api/detection_engine/rules/_import
// (import_rules/route.ts and import_rules_utils.ts): each line is a rule,
// validated as RuleToImport; a line that does not parse or validate is a
// 400 error of "(unknown id)"; without overwrite an existing rule_id is a
// 409 and a rule_id twice in the file a 400; the others are written.
func (s *Server) handleRulesImport(rs *reply, plan Faults) {
	q := rs.r.URL.Query()
	for _, k := range []string{"overwrite", "overwrite_exceptions", "overwrite_action_connectors", "as_new_list"} {
		if v := q.Get(k); v != "" && v != "true" && v != "false" {
			rs.boom(http.StatusBadRequest, fmt.Sprintf("[request query]: %s: Invalid enum value. Expected 'true' | 'false', received '%s'", k, v), nil)
			return
		}
	}
	overwrite := q.Get("overwrite") == "true"
	file, err := rs.readImportFile(maxRuleImportPayloadBytes, true)
	if err != nil {
		return
	}
	if ext, ok := ndjsonExtension(file.name); !ok {
		rs.siemError(http.StatusBadRequest, "Invalid file extension "+ext)
		return
	}
	type parsed struct {
		rule   map[string]any
		ruleID string
		err    string
	}
	var rules []parsed
	exceptions := 0
	for _, line := range splitLines(file.data) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			rules = append(rules, parsed{err: jsonParseMessage(line)})
			continue
		}
		switch {
		case m["exported_count"] != nil || m["exported_rules_count"] != nil:
			continue // the export details line
		case m["list_id"] != nil:
			exceptions++ // an exception list or item: accepted, not kept
			continue
		}
		if problems := validateRule(m); len(problems) > 0 {
			rules = append(rules, parsed{err: strings.Join(problems, ", ")})
			continue
		}
		rules = append(rules, parsed{rule: m, ruleID: m["rule_id"].(string)})
	}
	if len(rules) > maxRuleImportExportSize {
		rs.siemError(http.StatusInternalServerError, fmt.Sprintf("Can't import more than %d rules", maxRuleImportExportSize))
		return
	}
	var errs []map[string]any
	bulkErr := func(ruleID string, status int, msg string) {
		errs = append(errs, map[string]any{"rule_id": ruleID, "error": map[string]any{"status_code": status, "message": msg}})
	}
	count := map[string]int{}
	for _, r := range rules {
		if r.err == "" {
			count[r.ruleID]++
		}
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	space := st.rules[rs.space]
	if space == nil {
		space = map[string]Rule{}
		st.rules[rs.space] = space
	}
	successes := 0
	reported := map[string]bool{}
	for _, r := range rules {
		switch {
		case r.err != "":
			bulkErr("(unknown id)", http.StatusBadRequest, r.err)
			continue
		case count[r.ruleID] > 1 && !overwrite:
			// getTupleDuplicateErrorsAndUniqueRules: one error per
			// repeated rule_id, and none of its copies imported.
			if !reported[r.ruleID] {
				reported[r.ruleID] = true
				bulkErr(r.ruleID, http.StatusBadRequest, fmt.Sprintf("More than one rule with rule-id: %q found", r.ruleID))
			}
			continue
		}
		existing, exists := space[r.ruleID]
		if exists && !overwrite {
			bulkErr(r.ruleID, http.StatusConflict, fmt.Sprintf("rule_id: %q already exists", r.ruleID))
			continue
		}
		if msg, ok := plan.ObjectErrors["rule:"+r.ruleID]; ok {
			bulkErr(r.ruleID, http.StatusInternalServerError, msg)
			continue
		}
		body := make(map[string]any, len(r.rule)+6)
		for k, v := range r.rule {
			body[k] = v
		}
		if _, ok := body["enabled"]; !ok {
			body["enabled"] = true
		}
		body["id"], body["created_at"], body["revision"] = randomUUID(), now(), 0
		if exists {
			body["id"], body["created_at"] = existing.Body["id"], existing.Body["created_at"]
		}
		body["updated_at"], body["immutable"] = now(), false
		space[r.ruleID] = Rule{RuleID: r.ruleID, Body: body}
		successes++
	}
	if errs == nil {
		errs = []map[string]any{}
	}
	rs.json(http.StatusOK, map[string]any{
		"success": len(errs) == 0, "success_count": successes, "rules_count": len(rules), "errors": errs,
		"exceptions_errors": []any{}, "exceptions_success": true, "exceptions_success_count": exceptions,
		"action_connectors_success": true, "action_connectors_success_count": 0,
		"action_connectors_errors": []any{}, "action_connectors_warnings": []any{},
	})
}

func splitLines(data []byte) [][]byte {
	var out [][]byte
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, []byte(line))
		}
	}
	return out
}

func jsonParseMessage(line []byte) string {
	if _, err := parseNDJSON(line); err != nil {
		return err.Error()
	}
	return "Expected object, received " + jsonKind(json.RawMessage(line))
}

// validateRule checks a rule the way the detection engine's RuleToImport
// schema does, for the fields every rule has and those its type requires,
// and returns zod's messages ("name: Required").
func validateRule(m map[string]any) []string {
	var problems []string
	add := func(key, msg string) { problems = append(problems, key+": "+msg) }
	str := func(key string, required bool) {
		v, ok := m[key]
		switch {
		case !ok && required:
			add(key, "Required")
		case !ok:
		case kind(v) != "string":
			add(key, "Expected string, received "+kind(v))
		case required && v.(string) == "":
			add(key, "String must contain at least 1 character(s)")
		}
	}
	// each checks an optional array, element by element.
	each := func(key string, check func(p string, e any)) {
		v, ok := m[key]
		if !ok {
			return
		}
		list, isList := v.([]any)
		if !isList {
			add(key, "Expected array, received "+kind(v))
			return
		}
		for i, e := range list {
			check(fmt.Sprintf("%s.%d", key, i), e)
		}
	}
	strList := func(key string) {
		each(key, func(p string, e any) {
			if kind(e) != "string" {
				add(p, "Expected string, received "+kind(e))
			}
		})
	}
	integer := func(key string, required bool, lo, hi float64) {
		v, ok := m[key]
		switch {
		case !ok && required:
			add(key, "Required")
		case !ok:
		case kind(v) != "number":
			add(key, "Expected number, received "+kind(v))
		case v.(float64) != float64(int64(v.(float64))):
			add(key, "Expected integer, received float")
		case v.(float64) < lo:
			add(key, fmt.Sprintf("Number must be greater than or equal to %g", lo))
		case v.(float64) > hi:
			add(key, fmt.Sprintf("Number must be less than or equal to %g", hi))
		}
	}
	enum := func(key string, required bool, values ...string) {
		v, ok := m[key]
		switch {
		case !ok && required:
			add(key, "Required")
		case !ok:
		case kind(v) != "string" || !slices.Contains(values, v.(string)):
			add(key, fmt.Sprintf("Invalid enum value. Expected '%s', received '%v'", strings.Join(values, "' | '"), v))
		}
	}
	str("rule_id", true)
	str("name", true)
	str("description", true)
	integer("risk_score", true, 0, 100)
	enum("severity", true, "low", "medium", "high", "critical")
	typ, _ := m["type"].(string)
	if _, ok := m["type"]; !ok {
		add("type", "Required")
	} else if !slices.Contains(ruleTypes, typ) {
		add("type", fmt.Sprintf("Invalid discriminator value. Expected '%s'", strings.Join(ruleTypes, "' | '")))
	}
	for _, k := range []string{"interval", "from", "to", "rule_name_override", "timestamp_override", "license", "note", "setup", "timeline_id", "timeline_title", "data_view_id", "building_block_type", "namespace", "investigation_fields_placeholder"} {
		str(k, false)
	}
	for _, k := range []string{"index", "tags", "author", "references", "false_positives"} {
		strList(k)
	}
	integer("max_signals", false, 1, 1e9)
	integer("version", false, 1, 1e9)
	if v, ok := m["enabled"]; ok && kind(v) != "boolean" {
		add("enabled", "Expected boolean, received "+kind(v))
	}
	// severity_mapping and risk_score_mapping entries: field, operator
	// "equals", value, and the severity (required) or risk_score
	// (optional) they map to.
	mapping := func(key string, check func(p string, e map[string]any)) {
		each(key, func(p string, e any) {
			em, isMap := e.(map[string]any)
			if !isMap {
				add(p, "Expected object, received "+kind(e))
				return
			}
			for _, f := range []string{"field", "value"} {
				if kind(em[f]) != "string" {
					add(p+"."+f, expected("string", em[f]))
				}
			}
			if em["operator"] != "equals" {
				add(p+".operator", `Invalid literal value, expected "equals"`)
			}
			check(p, em)
		})
	}
	mapping("severity_mapping", func(p string, e map[string]any) {
		if sev, _ := e["severity"].(string); !slices.Contains([]string{"low", "medium", "high", "critical"}, sev) {
			add(p+".severity", fmt.Sprintf("Invalid enum value. Expected 'low' | 'medium' | 'high' | 'critical', received '%v'", e["severity"]))
		}
	})
	mapping("risk_score_mapping", func(p string, e map[string]any) {
		if v, ok := e["risk_score"]; ok && kind(v) != "number" {
			add(p+".risk_score", expected("number", v))
		}
	})
	switch typ {
	case "eql":
		str("query", true)
		enum("language", false, "eql")
	case "esql":
		str("query", true)
		enum("language", true, "esql")
	case "query":
		str("query", false)
		enum("language", false, "kuery", "lucene")
	case "threshold":
		str("query", true)
		if _, ok := m["threshold"]; !ok {
			add("threshold", "Required")
		}
	case "threat_match":
		str("query", true)
		str("threat_query", true)
		strList("threat_index")
		if _, ok := m["threat_mapping"]; !ok {
			add("threat_mapping", "Required")
		}
		if _, ok := m["threat_index"]; !ok {
			add("threat_index", "Required")
		}
	case "new_terms":
		str("query", true)
		strList("new_terms_fields")
		str("history_window_start", true)
		if _, ok := m["new_terms_fields"]; !ok {
			add("new_terms_fields", "Required")
		}
	case "saved_query":
		str("saved_id", true)
	case "machine_learning":
		integer("anomaly_threshold", true, 0, 100)
		if _, ok := m["machine_learning_job_id"]; !ok {
			add("machine_learning_job_id", "Required")
		}
	}
	return problems
}

// expected is zod's message for a value of the wrong type.
func expected(want string, v any) string {
	if v == nil {
		return "Required"
	}
	return "Expected " + want + ", received " + kind(v)
}

// kind names a decoded JSON value's type as zod does.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

func jsonKind(raw json.RawMessage) string {
	var v any
	_ = json.Unmarshal(raw, &v)
	return kind(v)
}

// handleRulesFind serves GET /api/detection_engine/rules/_find: the rules
// of the space, a page at a time.
func (s *Server) handleRulesFind(rs *reply) {
	q := rs.r.URL.Query()
	perPage, ok1 := intParam(q, "per_page", 20)
	page, ok2 := intParam(q, "page", 1)
	if !ok1 || !ok2 {
		rs.boom(http.StatusBadRequest, "[request query]: per_page: Expected number, received nan", nil)
		return
	}
	rules := s.Rules(rs.space)
	data := []map[string]any{}
	for i := (page - 1) * perPage; i < len(rules) && i < page*perPage; i++ {
		data = append(data, rules[i].Body)
	}
	rs.json(http.StatusOK, map[string]any{"page": page, "perPage": perPage, "total": len(rules), "data": data})
}

// handleRuleGet serves GET /api/detection_engine/rules?rule_id=... (or
// id=...).
func (s *Server) handleRuleGet(rs *reply) {
	q := rs.r.URL.Query()
	ruleID, id := q.Get("rule_id"), q.Get("id")
	if ruleID == "" && id == "" {
		rs.siemError(http.StatusBadRequest, `either "id" or "rule_id" must be set`)
		return
	}
	for _, r := range s.Rules(rs.space) {
		if (ruleID != "" && r.RuleID == ruleID) || (id != "" && r.Body["id"] == id) {
			rs.json(http.StatusOK, r.Body)
			return
		}
	}
	if ruleID != "" {
		rs.siemError(http.StatusNotFound, fmt.Sprintf("rule_id: %q not found", ruleID))
		return
	}
	rs.siemError(http.StatusNotFound, fmt.Sprintf("id: %q not found", id))
}
