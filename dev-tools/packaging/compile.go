package packaging

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// LDFlags are the linker flags spawnbeat is built with: no symbol table or
// DWARF, the version and commit stamped into main (as `mage build` does).
func LDFlags(version, commit string) string {
	return "-s -w -X main.version=" + version + " -X main.commit=" + commit
}

// Compile builds ./cmd/spawnbeat of the module at sourceDir for linux/goarch
// into out: static (CGO_ENABLED=0), -trimpath, stamped with LDFlags.
func Compile(ctx context.Context, sourceDir, goarch, version, commit, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", LDFlags(version, commit), "-o", out, "./cmd/spawnbeat")
	cmd.Dir = sourceDir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build spawnbeat for %s: %w\n%s", goarch, err, b)
	}
	return nil
}
