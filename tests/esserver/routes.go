package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// route dispatches a request to its handler.
func (s *Server) route(rs *reply) {
	path := strings.Trim(rs.r.URL.Path, "/")
	var parts []string
	if path != "" {
		parts = strings.Split(path, "/")
	}
	m := rs.r.Method
	// allow reports whether the method is one of allowed, and answers 405
	// when it is not.
	allow := func(allowed ...string) bool {
		if slices.Contains(allowed, m) {
			return true
		}
		rs.json(http.StatusMethodNotAllowed, map[string]any{
			"error":  fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]", rs.r.URL.RequestURI(), m, strings.Join(allowed, ", ")),
			"status": http.StatusMethodNotAllowed,
		})
		return false
	}
	n := len(parts)
	switch {
	case n == 0:
		if allow(http.MethodGet, http.MethodHead) {
			s.handleInfo(rs)
		}
	case parts[n-1] == "_bulk" && n <= 2:
		if allow(http.MethodPost, http.MethodPut) {
			s.handleBulk(rs, at(parts, n-2))
		}
	case parts[0] == "_index_template" && n <= 2:
		s.handleIndexTemplate(rs, at(parts, 1))
	case n >= 2 && parts[0] == "_ilm" && parts[1] == "policy" && n <= 3:
		s.handleILM(rs, at(parts, 2))
	case n >= 2 && parts[0] == "_ingest" && parts[1] == "pipeline" && n <= 3:
		s.handlePipeline(rs, at(parts, 2))
	case (parts[n-1] == "_count" || parts[n-1] == "_search") && n <= 2:
		if allow(http.MethodGet, http.MethodPost) {
			s.handleSearch(rs, at(parts, n-2), parts[n-1] == "_count")
		}
	case parts[0] == "_security" && n == 2 && parts[1] == "_authenticate":
		s.handleAuthenticate(rs)
	default:
		rs.error(http.StatusBadRequest, newErr("illegal_argument_exception",
			"no handler found for uri [%s] and method [%s]", rs.r.URL.RequestURI(), m))
	}
}

func at(parts []string, i int) string {
	if i >= 0 && i < len(parts) {
		return parts[i]
	}
	return ""
}

// handleInfo serves GET /: the client checks version.number and the
// product header; build_flavor "default" marks a non-OSS build.
func (s *Server) handleInfo(rs *reply) {
	rs.json(http.StatusOK, map[string]any{
		"name":         s.nodeName,
		"cluster_name": "esserver",
		"cluster_uuid": s.clusterUUID,
		"version": map[string]any{
			"number":                              s.version,
			"build_flavor":                        "default",
			"build_type":                          "docker",
			"build_hash":                          "0000000000000000000000000000000000000000",
			"build_date":                          "2024-12-11T12:08:05.663969764Z",
			"build_snapshot":                      false,
			"lucene_version":                      "9.12.0",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

// The answers below are shared by the handlers of the index, data stream,
// template and lifecycle APIs, so that each handler shows only what is its
// own: what it checks and what it stores.

// acknowledged answers a successful create, update or delete.
func (rs *reply) acknowledged() {
	rs.json(http.StatusOK, map[string]bool{"acknowledged": true})
}

// body reads the request body. When it cannot, it answers the error itself
// and returns false.
func (rs *reply) body() ([]byte, bool) {
	body, status, err := rs.readBody()
	if err != nil {
		rs.bodyError(status, err)
		return nil, false
	}
	return body, true
}

// indexNotFound is Elasticsearch's IndexNotFoundException (404) for a
// missing index or data stream; it names the index in its metadata.
func indexNotFound(name string) *esError {
	e := newErr("index_not_found_exception", "no such index [%s]", name)
	e.Index = name
	return e
}

// missingIndex answers 404 for the first name in missing, as store.resolve
// returns them, and reports whether it did.
func (rs *reply) missingIndex(missing []string) bool {
	if len(missing) == 0 {
		return false
	}
	rs.error(http.StatusNotFound, indexNotFound(missing[0]))
	return true
}

// resourceNotFound is the 404 of the template and lifecycle APIs
// (ResourceNotFoundException).
func resourceNotFound(format string, args ...any) *esError {
	return newErr("resource_not_found_exception", format, args...)
}

// selected returns, sorted, the names in m that the name expression of a
// GET selects: every name for "", else those matching the wildcard
// expression.
func selected[V any](m map[string]V, expr string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		if expr == "" || wildcardMatch(expr, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// remove deletes m[name] and acknowledges, or answers 404 with notFound
// when m has no such name. The caller holds the store's write lock.
func remove[V any](rs *reply, m map[string]V, name string, notFound *esError) {
	if _, ok := m[name]; !ok {
		rs.error(http.StatusNotFound, notFound)
		return
	}
	delete(m, name)
	rs.acknowledged()
}

// readJSON reads a required JSON body into v, answering the error itself
// and returning false when it cannot.
func (s *Server) readJSON(rs *reply, v any) bool {
	body, ok := rs.body()
	if !ok {
		return false
	}
	if len(body) == 0 {
		rs.error(http.StatusBadRequest, newErr("parse_exception", "request body is required"))
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		rs.error(http.StatusBadRequest, newErr("x_content_parse_exception", "[1:1] failed to parse request body: %v", err))
		return false
	}
	return true
}

type templateBody struct {
	IndexPatterns any             `json:"index_patterns"`
	Priority      *int64          `json:"priority"`
	DataStream    json.RawMessage `json:"data_stream"`
	ComposedOf    []string        `json:"composed_of"`
	Template      *struct {
		Mappings json.RawMessage `json:"mappings"`
		Settings json.RawMessage `json:"settings"`
		Aliases  json.RawMessage `json:"aliases"`
	} `json:"template"`
	Version *int64          `json:"version"`
	Meta    json.RawMessage `json:"_meta"`
}

// handleIndexTemplate serves /_index_template[/{name}] (reference: "Create
// or update index template API", composable templates).
func (s *Server) handleIndexTemplate(rs *reply, name string) {
	st := s.store
	switch rs.r.Method {
	case http.MethodPut, http.MethodPost:
		if name == "" {
			rs.error(http.StatusBadRequest, newErr("illegal_argument_exception", "index template name is missing"))
			return
		}
		body, ok := rs.body()
		if !ok {
			return
		}
		var tb templateBody
		if err := json.Unmarshal(body, &tb); err != nil {
			rs.error(http.StatusBadRequest, newErr("x_content_parse_exception", "[1:1] [index_template] failed to parse: %v", err))
			return
		}
		t := &indexTemplate{name: name, raw: body}
		switch p := tb.IndexPatterns.(type) {
		case string:
			t.patterns = []string{p}
		case []any:
			for _, x := range p {
				if str, ok := x.(string); ok {
					t.patterns = append(t.patterns, str)
				}
			}
		}
		if len(t.patterns) == 0 {
			rs.error(http.StatusBadRequest, newErr("action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"))
			return
		}
		if tb.Priority != nil {
			t.priority = *tb.Priority
		}
		t.dataStream = len(tb.DataStream) > 0 && string(tb.DataStream) != "null"
		if tb.Template != nil {
			t.mappings, t.settings = tb.Template.Mappings, tb.Template.Settings
		}
		if len(t.mappings) > 0 {
			if _, err := compileMappings([]json.RawMessage{t.mappings}, t.dataStream); err != nil {
				rs.error(http.StatusBadRequest, newErr("mapper_parsing_exception", "Failed to parse mapping: %v", err))
				return
			}
		}
		// No component template exists here (nothing spawnbeat does
		// makes one), so every one a template names is missing.
		if len(tb.ComposedOf) > 0 {
			rs.error(http.StatusBadRequest, newErr("invalid_index_template_exception",
				"index_template [%s] invalid, cause [index template [%s] specifies component templates %s that do not exist]",
				name, name, javaList(tb.ComposedOf)))
			return
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if rs.r.URL.Query().Get("create") == "true" {
			if _, ok := st.templates[name]; ok {
				rs.error(http.StatusBadRequest, newErr("illegal_argument_exception", "index template [%s] already exists", name))
				return
			}
		}
		// MetadataIndexTemplateService: templates of equal priority whose
		// patterns overlap are refused, since index creation could not
		// choose between them.
		var clash []string
		var clashDesc []string
		for _, n := range selected(st.templates, "") {
			o := st.templates[n]
			if n == name || o.priority != t.priority {
				continue
			}
			overlap := false
			for _, a := range t.patterns {
				for _, b := range o.patterns {
					if patternsOverlap(a, b) {
						overlap = true
					}
				}
			}
			if overlap {
				clash = append(clash, n)
				clashDesc = append(clashDesc, n+" => "+javaList(o.patterns))
			}
		}
		if len(clash) > 0 {
			rs.error(http.StatusBadRequest, newErr("illegal_argument_exception",
				"index template [%s] has index patterns %s matching patterns from existing templates [%s] with patterns (%s) that have the same priority [%d], multiple index templates may not match during index creation, please use a different priority",
				name, javaList(t.patterns), strings.Join(clash, ","), strings.Join(clashDesc, ","), t.priority))
			return
		}
		st.templates[name] = t
		rs.acknowledged()
	case http.MethodGet, http.MethodHead:
		st.mu.RLock()
		defer st.mu.RUnlock()
		out := []map[string]any{}
		for _, n := range selected(st.templates, name) {
			out = append(out, map[string]any{"name": n, "index_template": json.RawMessage(st.templates[n].raw)})
		}
		if len(out) == 0 && name != "" && !strings.Contains(name, "*") {
			rs.error(http.StatusNotFound, resourceNotFound("index template matching [%s] not found", name))
			return
		}
		rs.json(http.StatusOK, map[string]any{"index_templates": out})
	case http.MethodDelete:
		st.mu.Lock()
		defer st.mu.Unlock()
		// A data stream's template always exists: data streams are made
		// only from stored templates, and this refuses to delete one in
		// use. Testing use before existence therefore answers the same.
		for _, ds := range st.dataStreams {
			if ds.template == name {
				rs.error(http.StatusBadRequest, newErr("illegal_argument_exception",
					"unable to remove composable templates [%s] as they are in use by a data streams [%s]", name, ds.name))
				return
			}
		}
		remove(rs, st.templates, name, resourceNotFound("index_template matching [%s] not found", name))
	default:
		rs.methodNotAllowed()
	}
}

// methodNotAllowed answers a method the resource does not support.
func (rs *reply) methodNotAllowed() {
	rs.error(http.StatusMethodNotAllowed, newErr("illegal_argument_exception", "method [%s] not allowed", rs.r.Method))
}

// javaList formats names like Java's List.toString: [a, b].
func javaList(v []string) string {
	return "[" + strings.Join(v, ", ") + "]"
}

// handleILM serves /_ilm/policy[/{name}] (reference: "Create or update
// lifecycle policy API", "Get lifecycle policy API").
func (s *Server) handleILM(rs *reply, name string) {
	st := s.store
	switch rs.r.Method {
	case http.MethodPut, http.MethodPost:
		var body struct {
			Policy json.RawMessage `json:"policy"`
		}
		if !s.readJSON(rs, &body) {
			return
		}
		if len(body.Policy) == 0 || body.Policy[0] != '{' {
			rs.error(http.StatusBadRequest, newErr("x_content_parse_exception", "[1:1] [put_lifecycle_request] policy is required"))
			return
		}
		var pol struct {
			Phases map[string]json.RawMessage `json:"phases"`
		}
		if err := json.Unmarshal(body.Policy, &pol); err != nil {
			rs.error(http.StatusBadRequest, newErr("x_content_parse_exception", "[1:1] [lifecycle_policy] failed to parse: %v", err))
			return
		}
		for phase := range pol.Phases {
			switch phase {
			case "hot", "warm", "cold", "frozen", "delete":
			default:
				rs.error(http.StatusBadRequest, newErr("illegal_argument_exception",
					"Lifecycle does not support phase [%s]", phase))
				return
			}
		}
		st.mu.Lock()
		p := st.policies[name]
		if p == nil {
			p = &ilmPolicy{}
			st.policies[name] = p
		}
		p.version++
		p.modified = time.Now().UTC()
		p.policy = body.Policy
		st.mu.Unlock()
		rs.acknowledged()
	case http.MethodGet, http.MethodHead:
		st.mu.RLock()
		defer st.mu.RUnlock()
		out := map[string]any{}
		for _, n := range selected(st.policies, name) {
			p := st.policies[n]
			var inUse []string
			for _, ds := range st.dataStreams {
				if ds.ilmPolicy == n {
					inUse = append(inUse, ds.name)
				}
			}
			if inUse == nil {
				inUse = []string{}
			}
			out[n] = map[string]any{
				"version":       p.version,
				"modified_date": p.modified.Format("2006-01-02T15:04:05.000Z"),
				"policy":        p.policy,
				"in_use_by":     map[string]any{"indices": []string{}, "data_streams": inUse, "composable_templates": []string{}},
			}
		}
		if len(out) == 0 && name != "" {
			rs.error(http.StatusNotFound, resourceNotFound("Lifecycle policy not found: [%s]", name))
			return
		}
		rs.json(http.StatusOK, out)
	case http.MethodDelete:
		st.mu.Lock()
		defer st.mu.Unlock()
		remove(rs, st.policies, name, resourceNotFound("Lifecycle policy not found: %s", name))
	default:
		rs.methodNotAllowed()
	}
}

// handleAuthenticate serves /_security/_authenticate with the caller.
func (s *Server) handleAuthenticate(rs *reply) {
	u := rs.user
	if s.opts.Username == "" && len(s.apiKeys) == 0 {
		rs.error(http.StatusInternalServerError, newErr("illegal_state_exception", "Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node."))
		return
	}
	out := map[string]any{
		"username":             u.username,
		"roles":                []string{"superuser"},
		"full_name":            nil,
		"email":                nil,
		"metadata":             map[string]any{},
		"enabled":              true,
		"authentication_realm": map[string]string{"name": "reserved", "type": "reserved"},
		"lookup_realm":         map[string]string{"name": "reserved", "type": "reserved"},
		"authentication_type":  "realm",
	}
	if u.apiKeyID != "" {
		out["authentication_type"] = "api_key"
		out["authentication_realm"] = map[string]string{"name": "_es_api_key", "type": "_es_api_key"}
		out["api_key"] = map[string]any{"id": u.apiKeyID, "name": u.apiKeyID}
		if u.username == "" {
			out["username"] = "elastic"
		}
	}
	rs.json(http.StatusOK, out)
}
