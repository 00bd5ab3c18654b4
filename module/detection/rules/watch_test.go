package rules

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const watchRule = `[rule]
name = "%NAME%"
risk_score = 21
rule_id = "33333333-0000-4000-8000-000000000001"
severity = "low"
type = "eql"
query = '''
process where process.name == "nc"
'''
`

const watchRuleBroken = `[rule]
name = "Broken"
risk_score = 21
rule_id = "33333333-0000-4000-8000-000000000001"
severity = "low"
type = "eql"
query = '''
process where process.name == "nc" and
   or
'''
`

func TestWatcher(t *testing.T) {
	tests := []struct {
		name    string
		pattern func(dir string) string
	}{
		{"glob", func(dir string) string { return filepath.Join(dir, "*.toml") }},
		{"directory", func(dir string) string { return dir }},
		{"literal file", func(dir string) string { return filepath.Join(dir, "rule.toml") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testWatcher(t, tt.pattern)
		})
	}
}

func testWatcher(t *testing.T, pattern func(string) string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rule.toml")
	opts := Options{Paths: []string{pattern(dir)}, DisableBuiltin: true, AllowMissing: true}
	initial, err := Load(opts, nil)
	if err != nil {
		t.Fatalf("initial Load: %v", err)
	}
	core, logs := observer.New(zap.InfoLevel)
	installed := make(chan *Set, 16)
	w := NewWatcher(opts, initial, 20*time.Millisecond, func(s *Set) { installed <- s }, zap.New(core))

	goroutines := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutines {
			t.Errorf("goroutines: %d before Run, %d after it returned", goroutines, n)
		}
	}()
	<-w.ready

	write := func(text string) {
		t.Helper()
		// Write a temporary file and rename it into place, as editors do.
		tmp := filepath.Join(dir, ".rule.tmp")
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	next := func(step string) *Set {
		t.Helper()
		select {
		case s := <-installed:
			return s
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no rule set installed", step)
			return nil
		}
	}
	names := func(s *Set) []string {
		var out []string
		for _, r := range s.Rules() {
			out = append(out, r.Meta.Name)
		}
		return out
	}

	// Add a rule: it applies.
	write(strings.ReplaceAll(watchRule, "%NAME%", "Netcat v1"))
	if diff := cmp.Diff([]string{"Netcat v1"}, names(next("add"))); diff != "" {
		t.Errorf("after add (-want +got):\n%s", diff)
	}

	// Break it: nothing is installed and the error names file:line:col.
	write(watchRuleBroken)
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage("rule file not loaded; the rules in force stay in force").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("broken rule file: no error logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	entry := logs.FilterMessage("rule file not loaded; the rules in force stay in force").AllUntimed()[0]
	got := entry.ContextMap()
	want := map[string]any{
		"file": file, "line": int64(9), "col": int64(4), "rule.id": "33333333-0000-4000-8000-000000000001",
		"error": "EQL: expected a field, a value or a function call, found \"or\"",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error log fields (-want +got):\n%s", diff)
	}
	select {
	case s := <-installed:
		t.Fatalf("a broken rule set was installed: %v", names(s))
	case <-time.After(100 * time.Millisecond):
	}

	// Fix it: the fixed rule applies.
	write(strings.ReplaceAll(watchRule, "%NAME%", "Netcat v2"))
	if diff := cmp.Diff([]string{"Netcat v2"}, names(next("fix"))); diff != "" {
		t.Errorf("after fix (-want +got):\n%s", diff)
	}

	// Misspell a field: the rule applies, and the reload warns about the
	// field, naming file and rule.
	write(strings.ReplaceAll(strings.ReplaceAll(watchRule, "%NAME%", "Netcat v3"), "process.name", "process.nmae"))
	if diff := cmp.Diff([]string{"Netcat v3"}, names(next("misspell"))); diff != "" {
		t.Errorf("after misspelling (-want +got):\n%s", diff)
	}
	warned := logs.FilterMessageSnippet("never fills").FilterField(zap.String("field", "process.nmae")).AllUntimed()
	if len(warned) != 1 || warned[0].ContextMap()["file"] != file || warned[0].ContextMap()["rule.id"] != "33333333-0000-4000-8000-000000000001" {
		t.Errorf("misspelt field: warnings %v, want one naming %s", warned, file)
	}

	// Delete it: the rule is gone.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if got := names(next("delete")); len(got) != 0 {
		t.Errorf("after delete: rules %v, want none", got)
	}
}

func TestWatcherNoopChangeNotInstalled(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rule.toml")
	text := strings.ReplaceAll(watchRule, "%NAME%", "Same")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{Paths: []string{dir}, DisableBuiltin: true}
	initial, err := Load(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	installed := make(chan *Set, 4)
	w := NewWatcher(opts, initial, 10*time.Millisecond, func(s *Set) { installed <- s }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-w.ready
	// Rewrite the same bytes and touch an unrelated file.
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-installed:
		t.Errorf("identical rule set installed again (%d rules)", s.Len())
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestWatcherDirectoryCreatedLater(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "site", "rules")
	opts := Options{Paths: []string{filepath.Join(sub, "*.toml")}, DisableBuiltin: true}
	initial, err := Load(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	installed := make(chan *Set, 16)
	w := NewWatcher(opts, initial, 20*time.Millisecond, func(s *Set) { installed <- s }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-w.ready
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	// The watch moves from root to site/ to site/rules/ as they appear;
	// keep the directory busy until the rule is seen.
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		if i%20 == 0 {
			text := strings.ReplaceAll(watchRule, "%NAME%", "Late "+strconv.Itoa(i))
			if err := os.WriteFile(filepath.Join(sub, "late.toml"), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case s := <-installed:
			if s.Len() == 1 {
				return
			}
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("rule in a directory created after start was never installed")
		}
	}
}
