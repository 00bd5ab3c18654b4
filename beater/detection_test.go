package beater

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/module/process"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// TestDetectionWarnsUnknownFieldsAtStart: a rule that names a field
// spawnbeat never fills is warned about when the agent starts, with the
// file, the place, the rule and the field, as a reload does; the rule
// still loads.
func TestDetectionWarnsUnknownFieldsAtStart(t *testing.T) {
	home, rulesDir := t.TempDir(), t.TempDir()
	rule := "[rule]\nname = \"Misspelt exclusion\"\nrule_id = \"66666666-0000-4000-8000-000000000001\"\ntype = \"eql\"\n" +
		"severity = \"low\"\nrisk_score = 21\nquery = 'process where process.name == \"curl\" and not process.parnet.name == \"apt\"'\n"
	if err := os.WriteFile(filepath.Join(rulesDir, "misspelt.toml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := config.Load(config.Source{File: filepath.Join(home, "absent.yml"), Default: config.DefaultYAML,
		Overrides: []string{"path.home=" + home}}, Settings())
	if err != nil {
		t.Fatal(err)
	}
	loaded.Config.Spawnbeat.Detection.Rules = []string{rulesDir}
	core, logs := observer.New(zap.InfoLevel)
	b := New(loaded.Config, zap.New(core), Info{Version: "test"})
	src, err := process.New(process.Options{}, &ecs.Host{}, ecs.NewAgent("test", "test", "test"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	det, _, err := b.detection(src)
	if err != nil {
		t.Fatal(err)
	}
	if det.Rules().Lookup("66666666-0000-4000-8000-000000000001") == nil {
		t.Fatal("the rule did not load")
	}
	warned := logs.FilterMessageSnippet("never fills").All()
	if len(warned) != 1 {
		t.Fatalf("%d warnings, want 1: %v", len(warned), logs.All())
	}
	f := warned[0].ContextMap()
	if warned[0].Level != zap.WarnLevel || f["field"] != "process.parnet.name" || f["rule.id"] != "66666666-0000-4000-8000-000000000001" ||
		f["file"] != filepath.Join(rulesDir, "misspelt.toml") || f["line"] != int64(7) || f["col"] != int64(55) {
		t.Errorf("warning %s %v", warned[0].Level, f)
	}
	if s, _ := f["similar"].([]any); len(s) != 1 || s[0] != "process.parent.name" {
		t.Errorf("similar = %v, want [process.parent.name]", f["similar"])
	}
}
