package ecs

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewAgent(t *testing.T) {
	a := NewAgent("1.2.3", "build-01", "6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c10")
	b := NewAgent("1.2.3", "build-01", "6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c10")
	if !validUUID(a.EphemeralID) {
		t.Fatalf("ephemeral id %q is not a UUID", a.EphemeralID)
	}
	if a.EphemeralID == b.EphemeralID {
		t.Errorf("two runs share ephemeral id %q", a.EphemeralID)
	}
	want := &Agent{Type: "spawnbeat", Version: "1.2.3", ID: "6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c10", Name: "build-01", EphemeralID: a.EphemeralID}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("NewAgent (-want +got):\n%s", diff)
	}
}

func TestLoadOrCreateAgentID(t *testing.T) {
	t.Run("creates, then reloads the same id", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data", "nested")
		id, err := LoadOrCreateAgentID(dir)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if !validUUID(id) {
			t.Fatalf("id %q is not a UUID", id)
		}
		again, err := LoadOrCreateAgentID(dir)
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		if again != id {
			t.Errorf("reloaded id %q, created %q", again, id)
		}
		path := filepath.Join(dir, MetaFile)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("meta.json mode %v, want 0600", perm)
		}
		var m map[string]any
		b, _ := os.ReadFile(path)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("meta.json is not JSON: %v", err)
		}
		if m["uuid"] != id || m["first_start"] == nil {
			t.Errorf("meta.json = %s, want uuid %s and first_start", b, id)
		}
		leftovers, _ := filepath.Glob(filepath.Join(dir, ".meta.json.tmp*"))
		if len(leftovers) != 0 {
			t.Errorf("temporary files left behind: %v", leftovers)
		}
	})

	tests := []struct {
		name    string
		content string
		want    string
		wantErr error
	}{
		{"beats meta.json", `{"uuid":"6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c10","first_start":"2024-01-02T03:04:05Z"}`, "6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c10", nil},
		{"uuid only", `{"uuid":"6F1C5D6E-4A53-4C8E-9D1B-2F0E8A7B9C10"}`, "6F1C5D6E-4A53-4C8E-9D1B-2F0E8A7B9C10", nil},
		{"corrupt json", `{"uuid":`, "", ErrInvalidMeta},
		{"empty file", ``, "", ErrInvalidMeta},
		{"no uuid", `{"first_start":"2024-01-02T03:04:05Z"}`, "", ErrInvalidMeta},
		{"bad uuid", `{"uuid":"not-a-uuid"}`, "", ErrInvalidMeta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, MetaFile)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadOrCreateAgentID(dir)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("LoadOrCreateAgentID error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("LoadOrCreateAgentID = %q, want %q", got, tt.want)
			}
			after, _ := os.ReadFile(path)
			if string(after) != tt.content {
				t.Errorf("meta.json was rewritten to %s", after)
			}
		})
	}

	t.Run("data dir is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateAgentID(file); err == nil {
			t.Fatal("LoadOrCreateAgentID under a regular file succeeded")
		}
	})
}

// TestLoadOrCreateAgentIDConcurrent: agents racing to create meta.json all
// end up with the one id that was persisted.
func TestLoadOrCreateAgentIDConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = LoadOrCreateAgentID(dir)
		}()
	}
	wg.Wait()
	persisted, err := LoadOrCreateAgentID(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		}
		if ids[i] != persisted {
			t.Errorf("caller %d got %q, persisted %q", i, ids[i], persisted)
		}
	}
}
