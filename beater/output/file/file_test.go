package file

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
)

func batch(from, n, size int) []pipeline.Event {
	out := make([]pipeline.Event, n)
	for i := range out {
		pad := strings.Repeat("x", max(0, size-40))
		out[i] = pipeline.Event{ID: fmt.Sprint(from + i), Body: fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, from+i, pad)}
	}
	return out
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with a newline", path)
	}
	out := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i, l := range out {
		if !json.Valid([]byte(l)) {
			t.Fatalf("%s line %d is not a whole document: %q", path, i+1, l)
		}
	}
	return out
}

func TestWritesWholeLines(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Path = t.TempDir()
	o, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(context.Background(), batch(0, 10, 100)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	got := lines(t, o.Path())
	if len(got) != 10 || got[9] != string(batch(9, 1, 100)[0].Body) {
		t.Fatalf("got %d lines, last %q", len(got), got[len(got)-1])
	}
	st, err := os.Stat(o.Path())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if o.Stats().Written != 10 {
		t.Errorf("Written = %d", o.Stats().Written)
	}
}

func TestRotation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Path = t.TempDir()
	cfg.RotateEveryKB = 1
	cfg.NumberOfFiles = 3
	o, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 { // 10 batches of 4 × 200 bytes: a rotation every 5 documents
		if err := o.Publish(context.Background(), batch(i*4, 4, 200)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	base := o.Path()
	var total int
	for _, p := range []string{base, base + ".1", base + ".2"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Size() > 1024 {
			t.Errorf("%s is %d bytes, over rotate_every_kb", p, st.Size())
		}
		total += len(lines(t, p))
	}
	if _, err := os.Stat(base + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 exists: number_of_files not respected", base)
	}
	// The newest documents are kept: the last one is in the current file.
	cur := lines(t, base)
	if !strings.HasPrefix(cur[len(cur)-1], `{"n":39,`) {
		t.Errorf("last line %q", cur[len(cur)-1])
	}
	if total < 10 {
		t.Errorf("only %d documents kept", total)
	}
}

// TestFailedWriteIsRetriedWithoutTornLines removes the output directory
// (the write fails), then restores it: Publish retries and the file ends up
// holding whole lines only.
func TestFailedWriteIsRetriedWithoutTornLines(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "out")
	o, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(context.Background(), batch(0, 3, 100)); err != nil {
		t.Fatal(err)
	}
	// Make the next open fail: the file is gone and its directory is a file.
	o.abort(o.size)
	if err := os.RemoveAll(cfg.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Publish(ctx, batch(3, 3, 100)); err == nil {
		t.Fatal("Publish succeeded into a missing directory")
	}
	if o.Stats().Failures == 0 {
		t.Error("failure not counted")
	}
	if err := os.Remove(cfg.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.Path, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(context.Background(), batch(3, 3, 100)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, o.Path()); len(got) != 3 {
		t.Errorf("got %d lines after the retry, want 3", len(got))
	}
}

func TestValidate(t *testing.T) {
	cfg := Config{Filename: "a/b", RotateEveryKB: 0, NumberOfFiles: 1, Permissions: 0o7777}
	err := cfg.Validate()
	for _, want := range []string{"filename", "rotate_every_kb", "number_of_files", "permissions"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem with %s", err, want)
		}
	}
}
