// Package corpus finds and reads the conformance corpus of Elastic's Linux
// process rules that the detection packages' tests run: it lives beside the
// repository, in ../shared/detection-rules/linux, and is never copied into
// the project.
package corpus

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/BurntSushi/toml"
)

// Rule is one rule file of the corpus.
type Rule struct {
	File  string // base name
	Query string // [rule].query
}

// Dir returns the corpus directory. A missing corpus fails the test under
// CI=true (CI has it) and skips it elsewhere.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("repository root (go.mod) not found above the test directory")
		}
		dir = parent
	}
	corpus := filepath.Join(filepath.Dir(dir), "shared", "detection-rules", "linux")
	if _, err := os.Stat(corpus); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("conformance corpus missing: %v", err)
		}
		tb.Skipf("conformance corpus missing: %v", err)
	}
	return corpus
}

// Load reads the query of every rule file, sorted by file name.
func Load(tb testing.TB) []Rule {
	tb.Helper()
	dir := Dir(tb)
	files, err := filepath.Glob(filepath.Join(dir, "*.toml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no rule files in %s (err %v)", dir, err)
	}
	sort.Strings(files)
	out := make([]Rule, 0, len(files))
	for _, f := range files {
		var doc struct {
			Rule struct {
				Query string `toml:"query"`
			} `toml:"rule"`
		}
		if _, err := toml.DecodeFile(f, &doc); err != nil {
			tb.Fatalf("decode %s: %v", f, err)
		}
		out = append(out, Rule{File: filepath.Base(f), Query: doc.Rule.Query})
	}
	return out
}
