package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/beater/kibana"
	"github.com/spawnbeat/spawnbeat/internal/testenv"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
	"github.com/spawnbeat/spawnbeat/tests/kibanaserver"
)

// startKibana starts an in-process Kibana test server, closed at the end
// of the test.
func startKibana(t *testing.T, opts kibanaserver.Options) *kibanaserver.Server {
	t.Helper()
	srv, err := kibanaserver.Start(opts)
	if err != nil {
		t.Fatalf("start kibanaserver: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// exportedObjects runs `spawnbeat export kibana` and returns its objects
// by "type:id"; every line must be a JSON object.
func exportedObjects(t *testing.T, args ...string) map[string]map[string]json.RawMessage {
	t.Helper()
	out, errOut, code := cli(t, fileConfig, append([]string{"export", "kibana"}, args...)...)
	if code != 0 {
		t.Fatalf("export kibana: exit %d: %s", code, errOut)
	}
	objs := map[string]map[string]json.RawMessage{}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var o map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("export kibana line %d is not a JSON object: %v: %.200s", i+1, err, line)
		}
		var typ, id string
		_ = json.Unmarshal(o["type"], &typ)
		_ = json.Unmarshal(o["id"], &id)
		objs[typ+":"+id] = o
	}
	return objs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jsonEqual compares two JSON texts as values.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%v: %.100s", err, a)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%v: %.100s", err, b)
	}
	return cmp.Equal(va, vb)
}

// TestE2EKibanaSetup runs `spawnbeat setup` with the real binary against
// tests/esserver and tests/kibanaserver together. It needs no root:
// nothing is captured.
func TestE2EKibanaSetup(t *testing.T) {
	const user, pass = "elastic", "e2e-secret"
	es := startES(t, esserver.Options{Username: user, Password: pass})
	kb := startKibana(t, kibanaserver.Options{Username: user, Password: pass, Spaces: []string{"soc"}})
	// The Kibana settings name no credentials: the Elasticsearch output's
	// are used, as in Beats.
	all := []string{"setup",
		"-E", fmt.Sprintf(`output.elasticsearch.hosts=["%s"]`, es.URL()),
		"-E", "output.elasticsearch.username=" + user, "-E", "output.elasticsearch.password=" + pass,
		"-E", "setup.kibana.host=" + kb.URL()}
	exported := exportedObjects(t)
	wantIDs := sortedKeys(exported)

	t.Run("everything twice", func(t *testing.T) {
		var versions []string
		for round := 1; round <= 2; round++ {
			kb.ResetRequests()
			out, errOut, code := cli(t, fileConfig, all...)
			if code != 0 {
				t.Fatalf("round %d: exit %d: %s%s", round, code, out, errOut)
			}
			for _, w := range []string{
				"Index setup finished: template logs-spawnbeat.process and lifecycle policy spawnbeat\n",
				fmt.Sprintf("Loaded %d saved objects from the built-in assets into Kibana 8.17.0 at %s\n", len(wantIDs), kb.URL()),
				fmt.Sprintf("Loaded 1 detection rule from the built-in assets into Kibana 8.17.0 at %s\n", kb.URL()),
			} {
				if !strings.Contains(out, w) {
					t.Errorf("round %d: stdout lacks %q:\n%s", round, w, out)
				}
			}
			if d := cmp.Diff(wantIDs, kb.ObjectKeys("")); d != "" {
				t.Errorf("round %d: Kibana's saved objects (-want +got):\n%s", round, d)
			}
			if rules := kb.Rules(""); len(rules) != 1 || rules[0].RuleID != kibana.PromotionRuleID {
				t.Errorf("round %d: rules %+v, want the promotion rule once", round, rules)
			}
			reqs := kb.Requests()
			if len(reqs) != 3 {
				t.Errorf("round %d: %d Kibana requests, want status and two imports: %+v", round, len(reqs), reqs)
			}
			for _, r := range reqs {
				if r.XSRF == "" || r.Principal != "user:"+user || r.Status != http.StatusOK {
					t.Errorf("round %d: %s %s: kbn-xsrf %q, principal %q, status %d", round, r.Method, r.Path, r.XSRF, r.Principal, r.Status)
				}
				if r.Method == http.MethodPost && r.Query != "overwrite=true" {
					t.Errorf("round %d: %s %s?%s: want overwrite=true", round, r.Method, r.Path, r.Query)
				}
			}
			versions = append(versions, kb.Objects("")[0].Version)
		}
		if versions[0] == versions[1] {
			t.Errorf("the second import did not write: version %s both times", versions[0])
		}
		for _, path := range []string{"/_index_template/logs-spawnbeat.process", "/_ilm/policy/spawnbeat", "/_ingest/pipeline/spawnbeat-event-ingested"} {
			if code, body := esGet(t, es, user, pass, path); code != http.StatusOK {
				t.Errorf("GET %s after setup: %d %.200s", path, code, body)
			}
		}
	})

	t.Run("export kibana prints what setup imported", func(t *testing.T) {
		stored := map[string]kibanaserver.SavedObject{}
		for _, o := range kb.Objects("") {
			stored[o.Type+":"+o.ID] = o
		}
		if d := cmp.Diff(wantIDs, sortedKeys(stored)); d != "" {
			t.Fatalf("objects (-exported +imported):\n%s", d)
		}
		for key, o := range exported {
			refs, err := json.Marshal(stored[key].References)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, o["attributes"], stored[key].Attributes) || !jsonEqual(t, o["references"], refs) {
				t.Errorf("%s: Kibana holds other attributes or references than export kibana prints", key)
			}
		}
	})

	t.Run("a space", func(t *testing.T) {
		kb.ResetRequests()
		out, errOut, code := cli(t, fileConfig, "setup", "--dashboards", "--detection", "-E", "setup.kibana.host="+kb.URL(),
			"-E", "setup.kibana.username="+user, "-E", "setup.kibana.password="+pass, "-E", "setup.kibana.space.id=soc")
		if code != 0 {
			t.Fatalf("exit %d: %s%s", code, out, errOut)
		}
		if !strings.Contains(out, "into Kibana 8.17.0 at "+kb.URL()+"/s/soc\n") {
			t.Errorf("stdout:\n%s", out)
		}
		if d := cmp.Diff(wantIDs, kb.ObjectKeys("soc")); d != "" || len(kb.Rules("soc")) != 1 {
			t.Errorf("space soc: %d rules, objects (-want +got):\n%s", len(kb.Rules("soc")), d)
		}
		for _, r := range kb.Requests() {
			if r.Method == http.MethodPost && !strings.HasPrefix(r.Path, "/s/soc/api/") {
				t.Errorf("import outside the space: %s %s", r.Method, r.Path)
			}
		}
	})

	t.Run("index management alone does not touch Kibana", func(t *testing.T) {
		kb.ResetRequests()
		out, errOut, code := cli(t, fileConfig, append(slices.Clone(all), "--index-management")...)
		if code != 0 || strings.Contains(out, "Kibana") {
			t.Fatalf("exit %d: %s%s", code, out, errOut)
		}
		if n := len(kb.Requests()); n != 0 {
			t.Errorf("%d Kibana requests", n)
		}
	})
}

// TestE2EKibanaSetupWithoutElasticsearch: the Kibana parts need no
// Elasticsearch output (the default config has the file output), and a
// user's directory replaces the built-in assets.
func TestE2EKibanaSetupWithoutElasticsearch(t *testing.T) {
	es := startES(t, esserver.Options{})
	kb := startKibana(t, kibanaserver.Options{})
	out, errOut, code := cli(t, fileConfig, "setup", "--dashboards", "-E", "setup.kibana.host="+kb.URL())
	if code != 0 {
		t.Fatalf("setup --dashboards: exit %d: %s%s", code, out, errOut)
	}
	if len(kb.Objects("")) == 0 || len(kb.Rules("")) != 0 || es.Stats().Requests != 0 {
		t.Errorf("%d objects, %d rules, %d Elasticsearch requests; want objects only", len(kb.Objects("")), len(kb.Rules("")), es.Stats().Requests)
	}

	// Without a flag, setup wants the Elasticsearch output and does
	// nothing without it.
	kb2 := startKibana(t, kibanaserver.Options{})
	_, errOut, code = cli(t, fileConfig, "setup", "-E", "setup.kibana.host="+kb2.URL())
	if code == 0 || !strings.Contains(errOut, "index management needs the Elasticsearch output") || !strings.Contains(errOut, "setup --dashboards --detection") {
		t.Errorf("setup without the output: exit %d: %s", code, errOut)
	}
	if n := len(kb2.Requests()); n != 0 {
		t.Errorf("%d Kibana requests from a setup that refused to start", n)
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "index-pattern"), 0o755); err != nil {
		t.Fatal(err)
	}
	own := `{"id":"my-view","type":"index-pattern","attributes":{"title":"logs-spawnbeat.process-*","timeFieldName":"@timestamp","name":"mine"},"references":[]}`
	if err := os.WriteFile(filepath.Join(dir, "index-pattern", "my-view.json"), []byte(own), 0o600); err != nil {
		t.Fatal(err)
	}
	kb3 := startKibana(t, kibanaserver.Options{})
	out, errOut, code = cli(t, fileConfig, "setup", "--dashboards", "--detection", "-E", "setup.kibana.host="+kb3.URL(), "-E", "setup.dashboards.directory="+dir)
	if code != 0 {
		t.Fatalf("setup from a directory: exit %d: %s%s", code, out, errOut)
	}
	if d := cmp.Diff([]string{"index-pattern:my-view"}, kb3.ObjectKeys("")); d != "" {
		t.Errorf("objects from %s (-want +got):\n%s", dir, d)
	}
	for _, w := range []string{"Loaded 1 saved object from " + dir, "No detection rules in " + dir + ": none loaded"} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	if got := exportedObjects(t, "-E", "setup.dashboards.directory="+dir); !slices.Equal(sortedKeys(got), []string{"index-pattern:my-view"}) {
		t.Errorf("export kibana from the directory: %v", sortedKeys(got))
	}
}

// TestE2EKibanaSetupFailures: each failure gives a clear error naming what
// failed, printed once, a non-zero exit, and no "Loaded" line for what did
// not load.
func TestE2EKibanaSetupFailures(t *testing.T) {
	const user, pass, wrong = "elastic", "kb-secret", "not-the-kb-secret"
	tests := []struct {
		name   string
		opts   kibanaserver.Options
		faults kibanaserver.Faults
		pass   string
		host   string
		args   []string
		want   []string
	}{
		{name: "per-object errors in a 200",
			faults: kibanaserver.Faults{ObjectErrors: map[string]string{"dashboard:" + kibana.DashboardID: "document_parsing_exception: failed to parse field [panelsJSON]"}},
			want: []string{"import saved objects into http://", "1 failed", "dashboard " + kibana.DashboardID,
				"document_parsing_exception: failed to parse field [panelsJSON] (status 500)"}},
		{name: "a failed rule", faults: kibanaserver.Faults{ObjectErrors: map[string]string{"rule:" + kibana.PromotionRuleID: "index not found"}},
			want: []string{"import detection rules into http://", "0 of 1 imported", "rule " + kibana.PromotionRuleID + ": index not found"}},
		{name: "401", pass: wrong, want: []string{"/api/status answered 401 Unauthorized", "unable to authenticate user [elastic]"}},
		{name: "500", faults: kibanaserver.Faults{Status: 500, Path: "/api/saved_objects/_import"},
			want: []string{"import saved objects: http://", "/api/saved_objects/_import answered 500 Internal Server Error: An internal server error occurred."}},
		{name: "503 while starting", faults: kibanaserver.Faults{Status: 503},
			want: []string{"/api/status answered 503 Service Unavailable: Kibana server is not ready yet"}},
		{name: "closed port", host: "closed", want: []string{"GET http://127.0.0.1:", "/api/status: kibana is unreachable", "connection refused"}},
		{name: "Kibana 7", opts: kibanaserver.Options{Version: "7.17.9"}, want: []string{"is version 7.17.9, older than " + kibana.MinimumKibanaVersion}},
		{name: "unknown space", args: []string{"-E", "setup.kibana.space.id=ghost"}, want: []string{`has no space "ghost"`, "Stack Management > Spaces"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Username, opts.Password = user, pass
			kb := startKibana(t, opts)
			kb.SetFaults(tc.faults)
			host := kb.URL()
			if tc.host == "closed" {
				host = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
			}
			p := pass
			if tc.pass != "" {
				p = tc.pass
			}
			args := append([]string{"setup", "--dashboards", "--detection", "-E", "setup.kibana.host=" + host,
				"-E", "setup.kibana.username=" + user, "-E", "setup.kibana.password=" + p}, tc.args...)
			out, errOut, code := cli(t, fileConfig, args...)
			if code == 0 {
				t.Fatalf("exit 0:\n%s%s", out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if n := strings.Count(errOut, "load the Kibana assets"); n != 1 {
				t.Errorf("the error is printed %d times:\n%s", n, errOut)
			}
			if strings.Contains(out+errOut, pass) || strings.Contains(out+errOut, wrong) {
				t.Errorf("a password reached the output:\n%s%s", out, errOut)
			}
			// Only what Kibana confirmed is claimed.
			if strings.Contains(out, "saved objects from") != (tc.name == "a failed rule") || strings.Contains(out, "detection rule from") {
				t.Errorf("stdout claims what did not load:\n%s", out)
			}
			for _, r := range kb.Requests() {
				if r.Principal != "" && r.XSRF == "" {
					t.Errorf("%s %s without kbn-xsrf", r.Method, r.Path)
				}
			}
		})
	}
}

// TestE2EKibanaTLSAndAPIKey: setup over TLS with the CA from
// setup.kibana.ssl and an API key.
func TestE2EKibanaTLSAndAPIKey(t *testing.T) {
	ca, err := esserver.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	tc, err := ca.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	kb := startKibana(t, kibanaserver.Options{TLS: tc, APIKeys: []string{"kid:kkey"}})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli(t, fileConfig, "setup", "--dashboards", "-E", "setup.kibana.host="+kb.Addr(),
		"-E", "setup.kibana.ssl.certificate_authorities=["+caFile+"]", "-E", "setup.kibana.api_key=kid:kkey")
	if code != 0 || !strings.Contains(out, "into Kibana 8.17.0 at https://"+kb.Addr()) {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, r := range kb.Requests() {
		if r.Principal != "api_key:kid" {
			t.Errorf("%s %s as %q", r.Method, r.Path, r.Principal)
		}
	}
	_, errOut, code = cli(t, fileConfig, "setup", "--dashboards", "-E", "setup.kibana.host=https://"+kb.Addr(), "-E", "setup.kibana.api_key=kid:kkey")
	if code == 0 || !strings.Contains(errOut, "certificate") {
		t.Errorf("without the CA: exit %d: %s", code, errOut)
	}
}

// TestE2EKibanaDashboardsAtStart: setup.dashboards.enabled loads the saved
// objects before the agent captures anything; when Kibana cannot take them
// the agent does not start, as in Beats.
func TestE2EKibanaDashboardsAtStart(t *testing.T) {
	testenv.RequireRoot(t)
	kb := startKibana(t, kibanaserver.Options{})
	a := startAgent(t, fileConfig, "-E", "setup.dashboards.enabled=true", "-E", "setup.kibana.host="+kb.URL())
	if len(kb.Objects("")) == 0 {
		t.Fatal("the agent captures and Kibana has no saved objects")
	}
	if len(kb.Rules("")) != 0 {
		t.Errorf("the agent loaded %d detection rules at start; that is setup's", len(kb.Rules("")))
	}
	logs := a.logs()
	loaded, capturing := strings.Index(logs, "Kibana saved objects loaded"), strings.Index(logs, "capturing with")
	if loaded < 0 || capturing < loaded {
		t.Errorf("want the load logged before capture starts:\n%s", logs)
	}
	if err := a.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spawnbeat.yml")
	if err := os.WriteFile(cfgPath, []byte(fileConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd := exec.Command(binary, "-c", cfgPath, "-e", "--path.home", dir, "-E", "setup.dashboards.enabled=true", "-E", "setup.kibana.host="+closed)
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("spawnbeat kept running without Kibana:\n%s", out)
	}
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "setup.dashboards.enabled: load the Kibana saved objects") ||
		!strings.Contains(string(out), "connection refused") || strings.Contains(string(out), "capturing with") {
		t.Errorf("exit %d:\n%s", cmd.ProcessState.ExitCode(), out)
	}
}
