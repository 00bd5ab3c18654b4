package kibana

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spawnbeat/spawnbeat/tests/kibanaserver"
)

func TestReadContent(t *testing.T) {
	c, err := ReadContent("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != "the built-in assets" || !strings.Contains(string(c.SavedObjects), `"id":"`+DashboardID+`"`) ||
		!strings.Contains(string(c.Rules), `"rule_id":"`+PromotionRuleID+`"`) {
		t.Errorf("built-in content from %q: %d bytes of saved objects, %d of rules", c.Source, len(c.SavedObjects), len(c.Rules))
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "index-pattern"), 0o755); err != nil {
		t.Fatal(err)
	}
	pattern := `{"id":"mine","type":"index-pattern","attributes":{"title":"mine-*","timeFieldName":"@timestamp"},"references":[]}`
	if err := os.WriteFile(filepath.Join(dir, "index-pattern", "mine.json"), []byte(pattern), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = ReadContent(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != dir || !strings.Contains(string(c.SavedObjects), `"id":"mine"`) || strings.Contains(string(c.SavedObjects), DashboardID) || len(c.Rules) != 0 {
		t.Errorf("directory content %+v", c)
	}

	for dir, want := range map[string]string{
		filepath.Join(dir, "absent"):                     "setup.dashboards.directory: stat",
		filepath.Join(dir, "index-pattern", "mine.json"): "is not a directory",
		filepath.Join(dir, "index-pattern"):              "mine.json", // not laid out as _meta/kibana
	} {
		if _, err := ReadContent(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadContent(%s) = %v, want %q", dir, err, want)
		}
	}
}

// TestLoadBuiltinAssets imports the embedded assets into the test server
// twice: every object and the rule are accepted (no missing reference, no
// unsupported type, the rule valid), and the second time changes nothing
// but their versions.
func TestLoadBuiltinAssets(t *testing.T) {
	s := startKibana(t, kibanaserver.Options{})
	c, err := ReadContent("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := configFor(s)
	cfg.Username, cfg.Password = "", ""
	var first []string
	for round := 1; round <= 2; round++ {
		rep, err := Load(context.Background(), cfg, c, Parts{SavedObjects: true, Rules: true})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if rep.SavedObjects != countObjects(c.SavedObjects) || rep.Rules != 1 {
			t.Errorf("round %d: report %+v for %d objects", round, rep, countObjects(c.SavedObjects))
		}
		ids := s.ObjectKeys("")
		if round == 1 {
			first = ids
		} else if strings.Join(ids, ",") != strings.Join(first, ",") {
			t.Errorf("round 2 holds %v, round 1 %v", ids, first)
		}
	}
	if rules := s.Rules(""); len(rules) != 1 || rules[0].RuleID != PromotionRuleID {
		t.Errorf("rules %+v", rules)
	}
}
