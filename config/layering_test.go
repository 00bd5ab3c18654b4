package config

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfBeater: config knows of the outputs, the queues and
// the setup sections only what the beater registers with it (Owners), so
// that adding an output does not touch config; it must not import them.
func TestImportsNothingOfBeater(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/spawnbeat/spawnbeat/beater") {
			t.Errorf("config imports %s", pkg)
		}
	}
}
