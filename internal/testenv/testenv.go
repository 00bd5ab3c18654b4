// Package testenv holds what tests across the module share about the machine
// they run on. Privileged tests (root: the proc connector, BPF, dpkg --root,
// tmpfs mounts) are named TestIntegration* or TestE2E* so that `mage
// integTest` runs all of them, and start with RequireRoot.
package testenv

import (
	"os"
	"testing"
)

// RequireRoot skips tb unless it runs as root. Under CI=true, where every
// privileged test must run, it fails instead: a skipped test there would be
// a test that silently stopped running.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s needs root, and CI=true requires it to run", tb.Name())
	}
	tb.Skipf("%s needs root (runs in CI)", tb.Name())
}
