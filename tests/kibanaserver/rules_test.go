package kibanaserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type rulesAnswer struct {
	Success      bool `json:"success"`
	SuccessCount int  `json:"success_count"`
	RulesCount   int  `json:"rules_count"`
	Errors       []struct {
		RuleID string `json:"rule_id"`
		Error  struct {
			StatusCode int    `json:"status_code"`
			Message    string `json:"message"`
		} `json:"error"`
	} `json:"errors"`
	ExceptionsSuccess bool `json:"exceptions_success"`
}

func (a rulesAnswer) failures() []string {
	var out []string
	for _, e := range a.Errors {
		out = append(out, e.RuleID+" "+e.Error.Message)
	}
	return out
}

func importRules(t *testing.T, s *Server, path, content string) rulesAnswer {
	t.Helper()
	code, body := call(t, s, importReq(t, path, content))
	if code != http.StatusOK {
		t.Fatalf("rules import = %d %s", code, body)
	}
	var a rulesAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return a
}

func TestRulesImport(t *testing.T) {
	s := start(t, Options{})
	const path = "/api/detection_engine/rules/_import"
	a := importRules(t, s, path, lines(rule, `{"exported_count":1,"exported_rules_count":1}`))
	if !a.Success || a.SuccessCount != 1 || a.RulesCount != 1 || !a.ExceptionsSuccess {
		t.Fatalf("first import: %+v", a)
	}
	first := s.Rules("")[0].Body
	a = importRules(t, s, path, lines(rule))
	if d := cmp.Diff([]string{`r1 rule_id: "r1" already exists`}, a.failures()); d != "" || a.Success || a.Errors[0].Error.StatusCode != 409 {
		t.Errorf("import again without overwrite: %+v (-want +got):\n%s", a, d)
	}
	a = importRules(t, s, path+"?overwrite=true", lines(strings.Replace(rule, `"Promote"`, `"Promote v2"`, 1)))
	if !a.Success || a.SuccessCount != 1 {
		t.Errorf("import with overwrite: %+v", a)
	}
	rules := s.Rules("")
	if len(rules) != 1 || rules[0].Body["name"] != "Promote v2" || rules[0].Body["id"] != first["id"] {
		t.Errorf("after overwrite: %+v, want one rule, renamed, same id as %v", rules, first["id"])
	}

	code, body := call(t, s, req{method: http.MethodGet, path: "/api/detection_engine/rules?rule_id=r1"})
	if code != 200 || decode(t, body)["name"] != "Promote v2" {
		t.Errorf("GET rule = %d %s", code, body)
	}
	code, body = call(t, s, req{method: http.MethodGet, path: "/api/detection_engine/rules?rule_id=nope"})
	if m := decode(t, body); code != 404 || m["message"] != `rule_id: "nope" not found` || m["status_code"] != 404.0 {
		t.Errorf("GET missing rule = %d %s", code, body)
	}
	code, body = call(t, s, req{method: http.MethodGet, path: "/api/detection_engine/rules/_find"})
	if m := decode(t, body); code != 200 || m["total"] != 1.0 || len(m["data"].([]any)) != 1 {
		t.Errorf("_find = %d %s", code, body)
	}
}

func TestRulesValidation(t *testing.T) {
	s := start(t, Options{})
	s.SetFaults(Faults{ObjectErrors: map[string]string{"rule:boom": "rule could not be written"}})
	eql := `{"rule_id":"e1","name":"E","description":"d","risk_score":73,"severity":"high","type":"eql","language":"eql","query":"process where true",` +
		`"severity_mapping":[{"field":"event.severity","operator":"equals","value":"73","severity":"high"}],"risk_score_mapping":[{"field":"event.risk_score","operator":"equals","value":""}]}`
	a := importRules(t, s, "/api/detection_engine/rules/_import?overwrite=false", lines(
		eql,
		`{"name":"no id","description":"d","risk_score":1,"severity":"low","type":"query"}`,
		`{"rule_id":"x","description":"d","risk_score":101,"severity":"urgent","type":"query"}`,
		`{"rule_id":"y","name":"Y","description":"d","risk_score":1,"severity":"low","type":"eql"}`,
		`{"rule_id":"z","name":"Z","description":"d","risk_score":1,"severity":"low","type":"graph"}`,
		`{"rule_id":"m","name":"M","description":"d","risk_score":1,"severity":"low","type":"query","severity_mapping":[{"field":"f","operator":"is","value":"v","severity":"loud"}]}`,
		`{"rule_id":"dup","name":"D","description":"d","risk_score":1,"severity":"low","type":"query"}`,
		`{"rule_id":"dup","name":"D","description":"d","risk_score":1,"severity":"low","type":"query"}`,
		`{"rule_id":"boom","name":"B","description":"d","risk_score":1,"severity":"low","type":"query"}`,
		`{"rule_id":`,
	))
	want := []string{
		"(unknown id) rule_id: Required",
		"(unknown id) name: Required, risk_score: Number must be less than or equal to 100, severity: Invalid enum value. Expected 'low' | 'medium' | 'high' | 'critical', received 'urgent'",
		"(unknown id) query: Required",
		"(unknown id) type: Invalid discriminator value. Expected 'eql' | 'query' | 'saved_query' | 'threshold' | 'threat_match' | 'machine_learning' | 'new_terms' | 'esql'",
		`(unknown id) severity_mapping.0.operator: Invalid literal value, expected "equals", severity_mapping.0.severity: Invalid enum value. Expected 'low' | 'medium' | 'high' | 'critical', received 'loud'`,
		`dup More than one rule with rule-id: "dup" found`,
		"boom rule could not be written",
		"(unknown id) Unexpected end of JSON input",
	}
	if d := cmp.Diff(want, a.failures()); d != "" {
		t.Errorf("failures (-want +got):\n%s", d)
	}
	if a.Success || a.SuccessCount != 1 || a.RulesCount != 10 {
		t.Errorf("success %v, count %d of %d; want false, 1 of 10", a.Success, a.SuccessCount, a.RulesCount)
	}
	if got := s.Rules(""); len(got) != 1 || got[0].RuleID != "e1" {
		t.Errorf("stored %+v, want e1 only", got)
	}
}

func TestRulesRequestValidation(t *testing.T) {
	s := start(t, Options{})
	jsonForm, ct := form(t, "file", "rules.json", lines(rule))
	tests := []struct {
		name    string
		r       req
		status  int
		message string
	}{
		{"wrong extension", req{method: "POST", path: "/api/detection_engine/rules/_import", contentType: ct, body: jsonForm}, 400, "Invalid file extension .json"},
		{"json body", req{method: "POST", path: "/api/detection_engine/rules/_import", contentType: "application/json", body: []byte(rule)}, 500, "Cannot destructure property 'filename'"},
		{"overwrite not a boolean", importReq(t, "/api/detection_engine/rules/_import?overwrite=1", lines(rule)), 400, "overwrite: Invalid enum value. Expected 'true' | 'false', received '1'"},
		{"too large", importReq(t, "/api/detection_engine/rules/_import", strings.Repeat(" ", maxRuleImportPayloadBytes)), 413, "Payload content length greater than maximum allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, s, tc.r)
			if code != tc.status || !strings.Contains(string(body), tc.message) {
				t.Errorf("= %d %s, want %d with %q", code, body, tc.status, tc.message)
			}
		})
	}
	if n := len(s.Rules("")); n != 0 {
		t.Errorf("%d rules stored by refused requests", n)
	}
}
