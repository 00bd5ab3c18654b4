package kibanaserver

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const defaultSpace = "default"

// route dispatches a request to its handler. hapi answers 404 both for an
// unknown path and for a known path with another method.
func (s *Server) route(rs *reply, plan Faults) {
	m, p := rs.r.Method, strings.TrimSuffix(rs.api, "/")
	switch {
	case m == http.MethodGet && p == "/api/status":
		s.handleStatus(rs, plan)
	case m == http.MethodGet && p == "/api/spaces/space":
		s.handleSpaces(rs)
	case m == http.MethodGet && strings.HasPrefix(p, "/api/spaces/space/"):
		s.handleSpace(rs, strings.TrimPrefix(p, "/api/spaces/space/"))
	case m == http.MethodPost && p == "/api/saved_objects/_import":
		s.handleImport(rs, plan)
	case m == http.MethodGet && p == "/api/saved_objects/_find":
		s.handleFind(rs)
	case m == http.MethodPost && p == "/api/saved_objects/_export":
		s.handleExport(rs)
	case m == http.MethodGet && strings.Count(p, "/") == 4 && strings.HasPrefix(p, "/api/saved_objects/"):
		typ, id, _ := strings.Cut(strings.TrimPrefix(p, "/api/saved_objects/"), "/")
		s.handleGetObject(rs, typ, id)
	case m == http.MethodPost && p == "/api/detection_engine/rules/_import":
		s.handleRulesImport(rs, plan)
	case m == http.MethodGet && p == "/api/detection_engine/rules/_find":
		s.handleRulesFind(rs)
	case m == http.MethodGet && p == "/api/detection_engine/rules":
		s.handleRuleGet(rs)
	default:
		rs.boom(http.StatusNotFound, "Not Found", nil)
	}
}

// handleStatus serves GET /api/status in the 8.x form: version.number and
// status.overall.level, 503 when Kibana is unavailable or critical
// (core's status route).
func (s *Server) handleStatus(rs *reply, plan Faults) {
	level := plan.Level
	if level == "" {
		level = "available"
	}
	summary := map[string]string{
		"available":   "All services and plugins are available",
		"degraded":    "1 service is degraded: elasticsearch",
		"unavailable": "1 service is unavailable: elasticsearch",
		"critical":    "1 service is critical: elasticsearch",
	}[level]
	status := http.StatusOK
	if level == "unavailable" || level == "critical" {
		status = http.StatusServiceUnavailable
	}
	rs.json(status, map[string]any{
		"name": "kibanaserver",
		"uuid": s.uuid,
		"version": map[string]any{
			"number": s.version, "build_hash": "0000000000000000000000000000000000000000",
			"build_number": 81234, "build_snapshot": false, "build_flavor": "traditional",
			"build_date": "2024-12-10T12:00:00.000Z",
		},
		"status": map[string]any{
			"overall": map[string]string{"level": level, "summary": summary},
			"core": map[string]any{
				"elasticsearch": map[string]string{"level": level, "summary": summary},
				"savedObjects":  map[string]string{"level": "available", "summary": "SavedObjects service has completed migrations and is available"},
			},
			"plugins": map[string]any{},
		},
	})
}

func (s *Server) knownSpace(id string) bool {
	return id == defaultSpace || slices.Contains(s.opts.Spaces, id)
}

func spaceBody(id string) map[string]any {
	if id == defaultSpace {
		return map[string]any{"id": id, "name": "Default", "description": "This is your default space!",
			"color": "#00bfb3", "disabledFeatures": []string{}, "_reserved": true}
	}
	return map[string]any{"id": id, "name": id, "disabledFeatures": []string{}}
}

// handleSpace serves GET /api/spaces/space/<id>: the space, or Kibana's
// bare 404 (routes/api/external/get.ts).
func (s *Server) handleSpace(rs *reply, id string) {
	if !s.knownSpace(id) {
		rs.boom(http.StatusNotFound, "Not Found", nil)
		return
	}
	rs.json(http.StatusOK, spaceBody(id))
}

func (s *Server) handleSpaces(rs *reply) {
	out := []any{spaceBody(defaultSpace)}
	for _, id := range s.opts.Spaces {
		out = append(out, spaceBody(id))
	}
	rs.json(http.StatusOK, out)
}

// queryFlags validates a query the way Kibana's route schemas do: every
// parameter must be one of allowed and a boolean ("true" or "false").
// It answers 400 itself and returns false on the first problem.
func (rs *reply) queryFlags(allowed ...string) (map[string]bool, bool) {
	q := rs.r.URL.Query()
	out := make(map[string]bool, len(allowed))
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			rs.queryError(k, "definition for this key is missing")
			return nil, false
		}
		b, err := strconv.ParseBool(vs[len(vs)-1])
		if err != nil || (vs[len(vs)-1] != "true" && vs[len(vs)-1] != "false") {
			rs.queryError(k, "expected value of type [boolean] but got [string]")
			return nil, false
		}
		out[k] = b
	}
	return out, true
}

func (rs *reply) queryError(key, problem string) {
	rs.boom(http.StatusBadRequest, "[request query."+key+"]: "+problem, nil)
}

// intParam reads a positive integer query parameter with a default.
func intParam(q url.Values, key string, def int) (int, bool) {
	v := q.Get(key)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n > 0
}
