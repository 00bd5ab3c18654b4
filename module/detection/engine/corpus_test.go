package engine_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/BurntSushi/toml"
)

// corpusRule is one rule file of the shared detection-rules corpus.
type corpusRule struct {
	File  string
	Query string
}

// corpusDir is /work/shared/detection-rules relative to the repository:
// the parent of the module root, then shared/detection-rules.
func corpusDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "detection-rules", "linux")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("no go.mod above the test directory")
		}
		dir = parent
	}
}

func loadCorpus(tb testing.TB) []corpusRule {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir(tb), "*.toml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("detection-rules corpus not found at %s (err %v)", corpusDir(tb), err)
	}
	sort.Strings(files)
	var out []corpusRule
	for _, f := range files {
		var doc struct {
			Rule struct {
				Query string `toml:"query"`
			} `toml:"rule"`
		}
		if _, err := toml.DecodeFile(f, &doc); err != nil {
			tb.Fatalf("decode %s: %v", f, err)
		}
		out = append(out, corpusRule{File: filepath.Base(f), Query: doc.Rule.Query})
	}
	return out
}
