package kibanaserver

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStatus(t *testing.T) {
	s := start(t, Options{Version: "8.12.2"})
	code, body := call(t, s, req{method: http.MethodGet, path: "/api/status", noXSRF: true})
	m := decode(t, body)
	if code != http.StatusOK || m["version"].(map[string]any)["number"] != "8.12.2" {
		t.Fatalf("GET /api/status = %d %s", code, body)
	}
	if lvl := m["status"].(map[string]any)["overall"].(map[string]any)["level"]; lvl != "available" {
		t.Errorf("level = %v", lvl)
	}
	for level, want := range map[string]int{"degraded": 200, "unavailable": 503, "critical": 503} {
		s.SetFaults(Faults{Level: level})
		code, body := call(t, s, req{method: http.MethodGet, path: "/api/status"})
		if code != want || !strings.Contains(string(body), `"number":"8.12.2"`) {
			t.Errorf("level %s: %d %s, want %d with the version", level, code, body, want)
		}
	}
}

func TestAuthentication(t *testing.T) {
	s := start(t, Options{Username: "elastic", Password: "secret", APIKeys: []string{"kid:kkey"}})
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	apiKey := func(v string) string { return "ApiKey " + base64.StdEncoding.EncodeToString([]byte(v)) }
	tests := []struct {
		name, auth string
		want       int
		message    string
		principal  string
	}{
		{"none", "", 401, "Unauthorized", ""},
		{"basic", basic("elastic", "secret"), 200, "", "user:elastic"},
		{"wrong password", basic("elastic", "nope"), 401, "unable to authenticate user [elastic]", ""},
		{"api key", apiKey("kid:kkey"), 200, "", "api_key:kid"},
		{"wrong api key", apiKey("kid:other"), 401, "unable to authenticate with provided credentials", ""},
		{"bearer", "Bearer x", 401, "Unauthorized", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetRequests()
			code, body := call(t, s, req{method: http.MethodGet, path: "/api/status", header: map[string]string{"Authorization": tc.auth}})
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, body)
			}
			if tc.want == 401 {
				if e := boomBodyOf(t, body); e.StatusCode != 401 || e.Error != "Unauthorized" || !strings.Contains(e.Message, tc.message) {
					t.Errorf("401 body = %+v, want message with %q", e, tc.message)
				}
			}
			if got := s.Requests(); len(got) != 1 || got[0].Principal != tc.principal || got[0].Status != tc.want {
				t.Errorf("recorded %+v, want principal %q", got, tc.principal)
			}
		})
	}
}

func TestXSRF(t *testing.T) {
	s := start(t, Options{})
	r := importReq(t, "/api/saved_objects/_import", lines(pattern))
	r.noXSRF = true
	code, body := call(t, s, r)
	if e := boomBodyOf(t, body); code != 400 || e.Message != "Request must contain a kbn-xsrf header." {
		t.Fatalf("import without kbn-xsrf = %d %s", code, body)
	}
	if len(s.Objects("")) != 0 {
		t.Error("a request without kbn-xsrf was applied")
	}
	// A GET needs no kbn-xsrf.
	if code, _ := call(t, s, req{method: http.MethodGet, path: "/api/status", noXSRF: true}); code != 200 {
		t.Errorf("GET without kbn-xsrf = %d", code)
	}
	if got := s.Requests(); got[0].XSRF != "" || got[1].XSRF != "" {
		t.Errorf("recorded kbn-xsrf %q %q", got[0].XSRF, got[1].XSRF)
	}
}

func TestBasePathAndSpaces(t *testing.T) {
	s := start(t, Options{BasePath: "/kibana", Spaces: []string{"soc"}})
	if !strings.HasSuffix(s.URL(), "/kibana") {
		t.Errorf("URL() = %s", s.URL())
	}
	if code, _ := call(t, s, req{method: http.MethodGet, path: "/api/status"}); code != 404 {
		t.Errorf("without the base path: %d, want 404", code)
	}
	for path, want := range map[string]int{
		"/kibana/api/spaces/space/default": 200, "/kibana/api/spaces/space/soc": 200,
		"/kibana/api/spaces/space/nope": 404, "/kibana/s/soc/api/status": 200,
	} {
		code, body := call(t, s, req{method: http.MethodGet, path: path})
		if code != want {
			t.Errorf("GET %s = %d %s, want %d", path, code, body, want)
		}
		if want == 404 {
			if e := boomBodyOf(t, body); e.Message != "Not Found" {
				t.Errorf("404 body %+v", e)
			}
		}
	}
	if code, body := call(t, s, importReq(t, "/kibana/s/soc/api/saved_objects/_import", lines(pattern))); code != 200 {
		t.Fatalf("import into soc: %d %s", code, body)
	}
	if len(s.Objects("soc")) != 1 || len(s.Objects("default")) != 0 {
		t.Errorf("objects: soc %d, default %d", len(s.Objects("soc")), len(s.Objects("default")))
	}
	if got := s.Requests(); got[len(got)-1].Space != "soc" {
		t.Errorf("recorded space %q", got[len(got)-1].Space)
	}
	// As in Kibana, an import does not check its space: the objects land
	// under the unknown id.
	if code, _ := call(t, s, importReq(t, "/kibana/s/ghost/api/saved_objects/_import", lines(pattern))); code != 200 || len(s.Objects("ghost")) != 1 {
		t.Errorf("import into an unknown space: %d, %d objects", code, len(s.Objects("ghost")))
	}
	// A space's objects are read back through its prefix.
	code, body := call(t, s, req{method: http.MethodGet, path: "/kibana/s/soc/api/saved_objects/index-pattern/p1"})
	if code != 200 || !strings.Contains(string(body), `"namespaces":["soc"]`) {
		t.Errorf("GET in soc = %d %s", code, body)
	}
	if code, _ := call(t, s, req{method: http.MethodGet, path: "/kibana/api/saved_objects/index-pattern/p1"}); code != 404 {
		t.Errorf("the soc object is visible in default: %d", code)
	}
}

func TestUnknownRoute(t *testing.T) {
	s := start(t, Options{})
	for _, r := range []req{{method: http.MethodGet, path: "/api/nothing"}, {method: http.MethodGet, path: "/api/saved_objects/_import"}, {method: http.MethodDelete, path: "/api/status"}} {
		code, body := call(t, s, r)
		if e := boomBodyOf(t, body); code != 404 || e.Error != "Not Found" {
			t.Errorf("%s %s = %d %s, want Kibana's 404", r.method, r.path, code, body)
		}
	}
}

func TestFaults(t *testing.T) {
	s := start(t, Options{})
	t.Run("status on one path", func(t *testing.T) {
		s.SetFaults(Faults{Status: 500, Path: "/api/saved_objects/_import"})
		defer s.SetFaults(Faults{})
		code, body := call(t, s, importReq(t, "/api/saved_objects/_import", lines(pattern)))
		if e := boomBodyOf(t, body); code != 500 || e.Message != "An internal server error occurred." {
			t.Errorf("import = %d %s", code, body)
		}
		if code, _ := call(t, s, req{method: http.MethodGet, path: "/api/status"}); code != 200 {
			t.Errorf("status under an import fault = %d", code)
		}
		if len(s.Objects("")) != 0 {
			t.Error("a refused import was applied")
		}
	})
	t.Run("cut", func(t *testing.T) {
		s.SetFaults(Faults{Cut: true})
		defer s.SetFaults(Faults{})
		res, err := http.Get("http://" + s.Addr() + "/api/status")
		if err == nil {
			res.Body.Close()
			t.Fatalf("a cut request got %d", res.StatusCode)
		}
	})
	t.Run("latency", func(t *testing.T) {
		s.SetFaults(Faults{Latency: 150 * time.Millisecond})
		defer s.SetFaults(Faults{})
		t0 := time.Now()
		call(t, s, req{method: http.MethodGet, path: "/api/status"})
		if d := time.Since(t0); d < 150*time.Millisecond {
			t.Errorf("answered after %s", d)
		}
	})
}

func TestStartRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{{Password: "x"}, {APIKeys: []string{"nokey"}}, {BasePath: "kibana/"}, {Spaces: []string{"Bad Space"}}} {
		if s, err := Start(o); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", o)
		}
	}
}
