package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/beater/kibana"
	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/internal/testenv"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// The promotion rule (beater/kibana, detection_rules/) turns spawnbeat's
// inline alerts into detection alerts. These tests check, on real alert
// documents as Elasticsearch stores them, what the detection engine reads
// of a document: the rule's index pattern covers the data stream, its KQL
// query matches, rule_name_override finds a string, severity_mapping and
// risk_score_mapping find values they accept, and the timestamp override
// field is a date set at ingest. The engine's own code states what it
// accepts (x-pack/plugins/security_solution/server/lib/detection_engine/
// rule_types/utils/mappings/build_rule_name_from_mapping.ts: a string;
// build_severity_from_mapping.ts: for event.severity a safe integer equal
// to the mapping's value read as a number; build_risk_score_from_mapping.ts:
// a number from 0 to 100).

// promotionRule is the shipped rule, read from the NDJSON that `spawnbeat
// setup` imports.
type promotionRule struct {
	RuleID            string   `json:"rule_id"`
	Name              string   `json:"name"`
	Index             []string `json:"index"`
	Query             string   `json:"query"`
	Language          string   `json:"language"`
	RuleNameOverride  string   `json:"rule_name_override"`
	TimestampOverride string   `json:"timestamp_override"`
	SeverityMapping   []struct {
		Field, Operator, Value, Severity string
	} `json:"severity_mapping"`
	RiskScoreMapping []struct {
		Field, Operator, Value string
	} `json:"risk_score_mapping"`
}

func loadPromotionRule(t *testing.T) promotionRule {
	t.Helper()
	b, err := kibana.DetectionRules(kibana.Assets())
	if err != nil {
		t.Fatal(err)
	}
	var r promotionRule
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if r.RuleID == kibana.PromotionRuleID {
			return r
		}
	}
	t.Fatalf("no rule %s in %s", kibana.PromotionRuleID, b)
	return r
}

// checkPromoted checks one alert document, as stored in the data stream
// index, against what the rule reads of it; wantSeverity and wantRisk are
// what the detection alert must get. live says the document was just
// captured, so its ingest time must follow its event time.
func checkPromoted(t *testing.T, index string, doc map[string]any, wantName, wantSeverity string, wantRisk float64, live bool) {
	t.Helper()
	r := loadPromotionRule(t)
	covered := false
	for _, p := range r.Index {
		if ok, _ := filepath.Match(p, index); ok {
			covered = true
		}
	}
	if !covered {
		t.Errorf("the rule's index %v does not cover %s", r.Index, index)
	}
	if r.Language != "kuery" {
		t.Fatalf("language %q", r.Language)
	}
	q, err := parseKQL(r.Query)
	if err != nil {
		t.Fatalf("the rule's query: %v", err)
	}
	if !q.match(doc) {
		t.Errorf("the rule's query %q does not match the alert:\nevent %v", r.Query, get(doc, "event"))
	}
	// A single string names the detection alert; anything else (the names
	// of several rules) leaves it the promotion rule's own name.
	if name, ok := get(doc, r.RuleNameOverride).(string); ok && name != wantName || !ok && wantName != r.Name {
		t.Errorf("%s = %#v: the detection alert would not be named %q", r.RuleNameOverride, get(doc, r.RuleNameOverride), wantName)
	}
	var severity string
	for _, m := range r.SeverityMapping {
		v, ok := get(doc, m.Field).(float64)
		want, err := json.Number(m.Value).Float64()
		if ok && err == nil && v == math.Trunc(v) && v == math.Floor(want) && m.Operator == "equals" {
			severity = m.Severity
		}
	}
	if severity != wantSeverity {
		t.Errorf("event.severity %v maps to severity %q, want %q", get(doc, "event.severity"), severity, wantSeverity)
	}
	if len(r.RiskScoreMapping) != 1 {
		t.Fatalf("risk_score_mapping %+v", r.RiskScoreMapping)
	}
	risk, ok := get(doc, r.RiskScoreMapping[0].Field).(float64)
	if !ok || risk != wantRisk || risk < 0 || risk > 100 || risk != math.Trunc(risk) {
		t.Errorf("%s = %v, want %v (an integer from 0 to 100)", r.RiskScoreMapping[0].Field, get(doc, r.RiskScoreMapping[0].Field), wantRisk)
	}
	ts, _ := get(doc, r.TimestampOverride).(string)
	ingested, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t.Errorf("%s = %q: not the date the ingest pipeline sets (%v)", r.TimestampOverride, ts, err)
	}
	event, err := time.Parse(time.RFC3339Nano, str(doc, "@timestamp"))
	if live && err == nil && ingested.Before(event.Truncate(time.Microsecond)) {
		t.Errorf("%s %s is before @timestamp %s", r.TimestampOverride, ts, str(doc, "@timestamp"))
	}
	// The alert's Session View tab needs these (the flyout's session
	// preview reads process.entry_leader.entity_id and .start).
	for _, f := range []string{"process.entry_leader.entity_id", "process.entry_leader.start", "process.entity_id"} {
		if str(doc, f) == "" {
			t.Errorf("%s is missing: the alert's Session View cannot open", f)
		}
	}
}

// ingestThroughSetup installs what `spawnbeat setup` installs on a fresh
// test server and writes src into the data stream, as the agent does;
// it returns the document as stored.
func ingestThroughSetup(t *testing.T, src []byte) map[string]any {
	t.Helper()
	srv := startES(t, esserver.Options{})
	cfg := elasticsearch.DefaultConfig()
	cfg.Hosts = []string{srv.URL()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := elasticsearch.Setup(ctx, cfg, elasticsearch.DefaultSetupConfig(), ecs.FieldsYAML, nil); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, src); err != nil {
		t.Fatal(err)
	}
	body := `{"create":{"_index":"` + esDataStream + `","_id":"recorded"}}` + "\n" + compact.String() + "\n"
	res, err := http.Post(srv.URL()+"/_bulk", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	stored := srv.Docs(esDataStream)["recorded"]
	if stored == nil {
		t.Fatalf("the recorded alert was not stored (bulk answered %d)", res.StatusCode)
	}
	var doc map[string]any
	if err := json.Unmarshal(stored, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestPromotionRuleOnRecordedAlert: the alert recorded from a real run in
// _meta/data.json, written through the template and ingest pipeline that
// setup installs, is promoted under its rule's name, severity and score.
func TestPromotionRuleOnRecordedAlert(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "_meta", "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc := ingestThroughSetup(t, src)
	checkPromoted(t, esDataStream, doc, pythonTTYRuleName, "high", 73, false)

	t.Run("a plain event is not promoted", func(t *testing.T) {
		var plain map[string]any
		if err := json.Unmarshal(src, &plain); err != nil {
			t.Fatal(err)
		}
		plain["event"].(map[string]any)["kind"] = "event"
		q, err := parseKQL(loadPromotionRule(t).Query)
		if err != nil {
			t.Fatal(err)
		}
		if q.match(plain) {
			t.Error("the rule's query matches a document with event.kind event")
		}
	})
}

// TestE2EPromotionRule runs pty.spawn attacks under a real spawnbeat
// shipping to the test server, with the template and pipeline the agent
// installs at start, and checks each alert document that lands in the data
// stream against what the promotion rule reads: the seed's attack fires
// both built-in rules, so its detection alert keeps the promotion rule's
// name (docs/kibana.md, several rules on one document); a script file
// fires spawnbeat's own rule only and is named after it.
func TestE2EPromotionRule(t *testing.T) {
	testenv.RequireRoot(t)
	srv := startES(t, esserver.Options{})
	port := freePort(t)
	startAgent(t, esConfig, esFlags(srv, port)...)
	logStatsOnFailure(t, port)

	marker := fmt.Sprintf("promotion-%d", time.Now().UnixNano())
	script := filepath.Join(t.TempDir(), "spawn.py")
	if err := os.WriteFile(script, []byte(`import pty; pty.spawn("/bin/sh") # `+marker+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, run := range []struct {
		name     string
		argv     []string
		wantName string
	}{
		{"python3 -c pty.spawn: both rules", []string{"/usr/bin/python3", "-c", `import pty; pty.spawn("/bin/sh") # ` + marker}, loadPromotionRule(t).Name},
		{"python3 spawn.py: spawnbeat's rule", []string{"/usr/bin/python3", script}, newPTYRuleName},
	} {
		t.Run(run.name, func(t *testing.T) {
			driver := drive(t, []string{"exit"}, run.argv...)
			alert := waitPromotable(t, srv, driver, marker)
			checkPromoted(t, esDataStream, alert, run.wantName, "high", 73, true)
		})
	}
}

// waitPromotable returns the alert document of the shell that the python
// run by driver started.
func waitPromotable(t *testing.T, srv *esserver.Server, driver int, marker string) map[string]any {
	t.Helper()

	var alert map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for alert == nil && time.Now().Before(deadline) {
		python := map[float64]bool{}
		docs := esDocs(t, srv)
		for _, d := range docs {
			if str(d.doc, "event.action") == "exec" && int(num(d.doc, "process.parent.pid")) == driver {
				python[num(d.doc, "process.pid")] = true
			}
		}
		for _, d := range docs {
			if str(d.doc, "event.kind") == "alert" && python[num(d.doc, "process.parent.pid")] {
				alert = d.doc
			}
		}
		if alert == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if alert == nil {
		t.Fatalf("no alert for the pty.spawn run (driver %d, marker %s) reached the data stream", driver, marker)
	}
	return alert
}
