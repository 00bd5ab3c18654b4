package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// TestE2ERulesDirReload runs the agent on the packaged configuration's rule
// setting (${path.config}/rules.d/*.toml): without a rules.d, and with an
// empty one, it starts and runs the built-in rules; a rule file dropped
// into rules.d while it runs is loaded, and matches.
func TestE2ERulesDirReload(t *testing.T) {
	testenv.RequireRoot(t)
	const cfg = fileConfig + `spawnbeat.detection.rules: ["${path.config}/rules.d/*.toml"]
`
	home := t.TempDir()
	a := startAgentAt(t, home, cfg)
	a.waitLog(`rule set installed`, 10*time.Second)

	rulesDir := filepath.Join(home, "rules.d")
	if err := os.Mkdir(rulesDir, 0o750); err != nil {
		t.Fatal(err)
	}
	probe := fmt.Sprintf("rulesd-probe-%d", time.Now().UnixNano()%1e9)
	rule := fmt.Sprintf(`[metadata]
creation_date = "2026/12/01"
maturity = "production"
updated_date = "2026/12/01"

[rule]
author = ["spawnbeat tests"]
description = "A rule dropped into rules.d."
from = "now-9m"
index = ["logs-spawnbeat.process-*"]
language = "eql"
license = "Elastic License v2"
name = "Dropped into rules.d"
risk_score = 21
rule_id = "0d9d1c6a-0000-4000-8000-00000000d1d1"
severity = "low"
type = "eql"
query = '''
process where event.type == "start" and process.name == "%s"
'''
`, probe)
	// Written aside and renamed in, as an editor or a config tool does.
	tmp := filepath.Join(home, "rule.tmp")
	if err := os.WriteFile(tmp, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(rulesDir, "dropped.toml")); err != nil {
		t.Fatal(err)
	}
	a.waitLog(`rule set reloaded`, 10*time.Second)

	bin := filepath.Join(home, probe)
	copyFile(t, "/bin/true", bin, 0o755)
	if err := exec.Command(bin).Run(); err != nil {
		t.Fatal(err)
	}
	alerts := a.waitDocs(1, 10*time.Second, func(d map[string]any) bool {
		return str(d, "event.kind") == "alert" && str(d, "process.name") == probe
	})
	if len(alerts) != 1 || str(alerts[0], "rule.id") != "0d9d1c6a-0000-4000-8000-00000000d1d1" {
		t.Fatalf("alerts for %s: %v, want one by the rule dropped into rules.d", probe, get(alerts[0], "rule"))
	}
	if err := a.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	// An empty rules.d at start: the built-in rules alone.
	if err := os.Remove(filepath.Join(rulesDir, "dropped.toml")); err != nil {
		t.Fatal(err)
	}
	builtins, err := filepath.Glob("../module/detection/rules/builtin/*.toml")
	if err != nil || len(builtins) == 0 {
		t.Fatalf("built-in rule files: %v (err %v)", builtins, err)
	}
	b := startAgentAt(t, home, cfg)
	b.waitLog(fmt.Sprintf("rule set installed\t{\"rules\": %d}", len(builtins)), 10*time.Second)
	if err := b.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}
