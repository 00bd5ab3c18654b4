package kibana

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/tests/esserver"
	"github.com/spawnbeat/spawnbeat/tests/kibanaserver"
)

const user, pass = "elastic", "kb-secret"

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func startKibana(t *testing.T, opts kibanaserver.Options) *kibanaserver.Server {
	t.Helper()
	s, err := kibanaserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// configFor points a Config at s with the test credentials.
func configFor(s *kibanaserver.Server) Config {
	c := DefaultConfig()
	c.Host, c.Username, c.Password, c.Timeout = s.URL(), user, pass, 5*time.Second
	return c
}

func connect(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, _, err := Connect(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestImport loads the fixtures twice: the same objects and rule each
// time, every request with kbn-xsrf and the credentials.
func TestImport(t *testing.T) {
	s := startKibana(t, kibanaserver.Options{Username: user, Password: pass})
	c := connect(t, configFor(s))
	ctx := context.Background()
	want := []string{"dashboard:fixture-dashboard", "index-pattern:fixture-pattern", "search:fixture-alerts"}
	for round := 1; round <= 2; round++ {
		got, err := c.ImportSavedObjects(ctx, fixture(t, "saved_objects.ndjson"))
		if err != nil || got.Count != 3 {
			t.Fatalf("round %d: ImportSavedObjects = %+v, %v", round, got, err)
		}
		if d := cmp.Diff(want, s.ObjectKeys("")); d != "" {
			t.Errorf("round %d: objects (-want +got):\n%s", round, d)
		}
		got, err = c.ImportRules(ctx, fixture(t, "rules.ndjson"))
		if err != nil || got.Count != 1 {
			t.Fatalf("round %d: ImportRules = %+v, %v", round, got, err)
		}
		if rules := s.Rules(""); len(rules) != 1 || rules[0].RuleID != "fixture-promote" {
			t.Errorf("round %d: rules %+v", round, rules)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 5 { // status + 2 × (objects, rules)
		t.Errorf("%d requests, want 5: %+v", len(reqs), reqs)
	}
	for _, r := range reqs {
		if r.XSRF == "" || r.Principal != "user:"+user || r.Status != http.StatusOK {
			t.Errorf("%s %s: kbn-xsrf %q, principal %q, status %d", r.Method, r.Path, r.XSRF, r.Principal, r.Status)
		}
		if r.Method == http.MethodPost && !strings.Contains(r.Query, "overwrite=true") {
			t.Errorf("%s %s without overwrite=true: %q", r.Method, r.Path, r.Query)
		}
	}
	if v := reqs[2].Header.Get("Elastic-Api-Version"); v != rulesAPIVersion {
		t.Errorf("rules import elastic-api-version = %q", v)
	}
}

func TestAPIKeyAndHeaders(t *testing.T) {
	s := startKibana(t, kibanaserver.Options{APIKeys: []string{"kid:kkey"}})
	for _, key := range []string{"kid:kkey", "a2lkOmtrZXk="} {
		cfg := configFor(s)
		cfg.Username, cfg.Password, cfg.APIKey = "", "", key
		cfg.Headers = map[string]string{"X-Proxy-Tenant": "blue"}
		s.ResetRequests()
		c := connect(t, cfg)
		if _, err := c.ImportSavedObjects(context.Background(), fixture(t, "saved_objects.ndjson")); err != nil {
			t.Fatalf("api_key %q: %v", key, err)
		}
		for _, r := range s.Requests() {
			if r.Principal != "api_key:kid" || r.Header.Get("X-Proxy-Tenant") != "blue" {
				t.Errorf("api_key %q: %s %s as %q, header %q", key, r.Method, r.Path, r.Principal, r.Header.Get("X-Proxy-Tenant"))
			}
		}
	}
}

func TestSpaceAndBasePath(t *testing.T) {
	s := startKibana(t, kibanaserver.Options{BasePath: "/kibana", Spaces: []string{"soc"}})
	cfg := configFor(s)
	cfg.SpaceID = "soc"
	c := connect(t, cfg)
	if !strings.HasSuffix(c.URL(), "/kibana/s/soc") {
		t.Errorf("URL() = %s", c.URL())
	}
	if _, err := c.ImportSavedObjects(context.Background(), fixture(t, "saved_objects.ndjson")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImportRules(context.Background(), fixture(t, "rules.ndjson")); err != nil {
		t.Fatal(err)
	}
	if len(s.Objects("soc")) != 3 || len(s.Objects("default")) != 0 || len(s.Rules("soc")) != 1 {
		t.Errorf("soc holds %d objects and %d rules, default %d objects", len(s.Objects("soc")), len(s.Rules("soc")), len(s.Objects("default")))
	}
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && !strings.HasPrefix(r.Path, "/kibana/s/soc/api/") {
			t.Errorf("import went to %s", r.Path)
		}
	}

	cfg.SpaceID = "ghost"
	_, _, err := Connect(context.Background(), cfg)
	if !errors.Is(err, ErrSpaceNotFound) || !strings.Contains(err.Error(), `no space "ghost"`) {
		t.Errorf("Connect to an unknown space: %v", err)
	}
	if n := len(s.Objects("ghost")); n != 0 {
		t.Errorf("%d objects went to the unknown space", n)
	}
}

// TestConnectFailures: every way Connect fails names what failed and
// where.
func TestConnectFailures(t *testing.T) {
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	tests := []struct {
		name   string
		opts   kibanaserver.Options
		faults kibanaserver.Faults
		edit   func(*Config)
		is     error
		want   []string
	}{
		{name: "7.x", opts: kibanaserver.Options{Version: "7.17.9"}, is: ErrUnsupportedVersion,
			want: []string{"the Kibana at http://127.0.0.1:", "is version 7.17.9, older than " + MinimumKibanaVersion}},
		{name: "wrong password", opts: kibanaserver.Options{Username: user, Password: "other"}, is: ErrUnauthorized,
			want: []string{"read Kibana's status", "/api/status answered 401 Unauthorized", "unable to authenticate user [elastic]", "setup.kibana.username"}},
		{name: "unavailable", faults: kibanaserver.Faults{Level: "unavailable"}, is: ErrUnreachable,
			want: []string{"is not available (unavailable: 1 service is unavailable: elasticsearch)"}},
		{name: "500", faults: kibanaserver.Faults{Status: 500}, want: []string{"answered 500 Internal Server Error: An internal server error occurred."}},
		{name: "closed port", edit: func(c *Config) { c.Host = "http://" + closed }, is: ErrUnreachable,
			want: []string{"GET http://" + closed + "/api/status", "connection refused"}},
		{name: "cut", faults: kibanaserver.Faults{Cut: true}, is: ErrUnreachable, want: []string{"GET http://127.0.0.1:"}},
		{name: "timeout", faults: kibanaserver.Faults{Latency: 2 * time.Second}, edit: func(c *Config) { c.Timeout = 200 * time.Millisecond },
			is: ErrUnreachable, want: []string{"Client.Timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startKibana(t, tc.opts)
			s.SetFaults(tc.faults)
			cfg := configFor(s)
			if tc.opts.Username == "" {
				cfg.Username, cfg.Password = "", ""
			}
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			_, _, err := Connect(context.Background(), cfg)
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "other") && tc.name == "wrong password" {
				t.Errorf("the password reached the error: %v", err)
			}
		})
	}
}

// TestImportFailures: a 200 with failed objects names each one; a status
// names the request and Kibana's message; nothing says it was imported.
func TestImportFailures(t *testing.T) {
	s := startKibana(t, kibanaserver.Options{})
	cfg := configFor(s)
	cfg.Username, cfg.Password = "", ""
	c := connect(t, cfg)
	ctx := context.Background()

	s.SetFaults(kibanaserver.Faults{ObjectErrors: map[string]string{
		"dashboard:fixture-dashboard": "document_parsing_exception", "rule:fixture-promote": "index not found"}})
	got, err := c.ImportSavedObjects(ctx, fixture(t, "saved_objects.ndjson"))
	var ie *ImportError
	if !errors.As(err, &ie) || !errors.Is(err, ErrImport) {
		t.Fatalf("ImportSavedObjects = %+v, %v; want an *ImportError", got, err)
	}
	if ie.Sent != 3 || ie.Imported != 2 || len(ie.Failures) != 1 {
		t.Errorf("ImportError %+v", ie)
	}
	for _, w := range []string{"import saved objects into http://", "2 of 3 imported, 1 failed",
		`dashboard fixture-dashboard ("[fixture] Process executions"): unknown: document_parsing_exception (status 500)`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	_, err = c.ImportRules(ctx, fixture(t, "rules.ndjson"))
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "0 of 1 imported, 1 failed: rule fixture-promote: index not found (status 500)") {
		t.Errorf("ImportRules: %v", err)
	}

	// Missing references and an unsupported type, as Kibana reports them.
	s.SetFaults(kibanaserver.Faults{})
	_, err = c.ImportSavedObjects(ctx, []byte(`{"type":"lens","id":"l","attributes":{"title":"L"},"references":[{"name":"r","type":"index-pattern","id":"gone"}]}
{"type":"ml-job","id":"j","attributes":{}}
`))
	for _, w := range []string{"lens l (\"L\"): missing references: index-pattern gone", "ml-job j: unsupported type"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	_, err = c.ImportRules(ctx, []byte(`{"rule_id":"x","name":"X"}`+"\n"))
	if err == nil || !strings.Contains(err.Error(), "rule (unknown id): description: Required, risk_score: Required") {
		t.Errorf("invalid rule: %v", err)
	}

	for _, tc := range []struct {
		status int
		is     error
		want   string
	}{
		{500, nil, "import saved objects: http://" + s.Addr() + "/api/saved_objects/_import answered 500 Internal Server Error: An internal server error occurred."},
		{403, ErrUnauthorized, "answered 403 Forbidden (the user lacks a Kibana privilege this needs)"},
		{503, nil, "answered 503 Service Unavailable: Kibana server is not ready yet"},
	} {
		s.SetFaults(kibanaserver.Faults{Status: tc.status, Path: "/api/saved_objects/_import"})
		_, err := c.ImportSavedObjects(ctx, fixture(t, "saved_objects.ndjson"))
		var se *StatusError
		if !errors.As(err, &se) || se.Status != tc.status || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("status %d: %v, want %q", tc.status, err, tc.want)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("status %d: errors.Is(%v) = false", tc.status, tc.is)
		}
	}
	s.SetFaults(kibanaserver.Faults{Status: 500, Path: "/api/detection_engine/rules/_import"})
	if _, err := c.ImportRules(ctx, fixture(t, "rules.ndjson")); err == nil || !strings.Contains(err.Error(), "import detection rules: ") {
		t.Errorf("rules 500: %v", err)
	}
	s.SetFaults(kibanaserver.Faults{Cut: true, Path: "/api/saved_objects/_import"})
	if _, err := c.ImportSavedObjects(ctx, fixture(t, "saved_objects.ndjson")); !errors.Is(err, ErrUnreachable) {
		t.Errorf("cut: %v", err)
	}
}

func TestTLS(t *testing.T) {
	ca, err := esserver.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	tc, err := ca.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	s := startKibana(t, kibanaserver.Options{TLS: tc})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := configFor(s)
	cfg.Username, cfg.Password = "", ""
	cfg.Host = s.Addr() // no scheme: the CA makes it https
	cfg.SSL.CertificateAuthorities = []string{caFile}
	c := connect(t, cfg)
	if !strings.HasPrefix(c.URL(), "https://") {
		t.Errorf("URL() = %s", c.URL())
	}
	if _, err := c.ImportSavedObjects(context.Background(), fixture(t, "saved_objects.ndjson")); err != nil {
		t.Fatal(err)
	}
	cfg.SSL.CertificateAuthorities = nil
	cfg.Host = s.URL()
	if _, _, err := Connect(context.Background(), cfg); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v", err)
	}
}

// TestRedirect: a Kibana that redirects (a proxy's login page, a missing
// base path) is reported, not followed.
func TestRedirect(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login?next="+r.URL.Path, http.StatusFound)
	}))
	defer hs.Close()
	cfg := DefaultConfig()
	cfg.Host = hs.URL
	_, _, err := Connect(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), `redirected to "/login?next=/api/status"`) {
		t.Errorf("Connect: %v", err)
	}
}

func TestCheckVersion(t *testing.T) {
	for v, older := range map[string]bool{
		"8.17.0": false, "8.0.0": false, "9.0.0-SNAPSHOT": false, "10.1": false,
		"7.17.9": true, "8.0.0-rc1": false, "": true, "x.y": true, "8.a.0": true,
	} {
		err := CheckVersion(Status{Version: v}, "http://k:5601", "8.0.0")
		if (err != nil) != older {
			t.Errorf("CheckVersion(%q) = %v, want refused: %v", v, err, older)
		}
		if err != nil && (!errors.Is(err, ErrUnsupportedVersion) || !strings.Contains(err.Error(), "the Kibana at http://k:5601 is version "+v+", older than 8.0.0")) {
			t.Errorf("CheckVersion(%q) = %v", v, err)
		}
	}
	if err := CheckVersion(Status{Version: "8.7.1"}, "u", "8.8.0"); err == nil {
		t.Error("8.7.1 accepted where 8.8.0 is the minimum")
	}
}

func TestLoad(t *testing.T) {
	s := startKibana(t, kibanaserver.Options{Username: user, Password: pass, Spaces: []string{"soc"}})
	cfg := configFor(s)
	cfg.SpaceID = "soc"
	content := Content{Source: "testdata", SavedObjects: fixture(t, "saved_objects.ndjson"), Rules: fixture(t, "rules.ndjson")}
	ctx := context.Background()

	rep, err := Load(ctx, cfg, content, Parts{SavedObjects: true, Rules: true})
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Kibana: "Kibana 8.17.0 at " + s.URL() + "/s/soc", SavedObjects: 3, Rules: 1, Done: []string{"saved objects", "detection rules"}}
	if d := cmp.Diff(want, rep); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}

	rep, err = Load(ctx, cfg, Content{SavedObjects: content.SavedObjects}, Parts{Rules: true})
	if err != nil || rep.Rules != 0 || len(rep.Done) != 0 || !slices.Equal(rep.Empty, []string{"detection rules"}) {
		t.Errorf("no rules to load: %+v, %v", rep, err)
	}

	// A failure on the rules leaves the saved objects reported, and only
	// them.
	s.SetFaults(kibanaserver.Faults{Status: 500, Path: "/api/detection_engine/"})
	rep, err = Load(ctx, cfg, content, Parts{SavedObjects: true, Rules: true})
	if err == nil || rep.SavedObjects != 3 || rep.Rules != 0 || !slices.Equal(rep.Done, []string{"saved objects"}) {
		t.Errorf("rules failing: %+v, %v", rep, err)
	}
	s.SetFaults(kibanaserver.Faults{Status: 401})
	rep, err = Load(ctx, cfg, content, Parts{SavedObjects: true, Rules: true})
	if !errors.Is(err, ErrUnauthorized) || rep.Kibana != "" || len(rep.Done) != 0 {
		t.Errorf("401: %+v, %v", rep, err)
	}
}
