package config

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the _meta copies")

func TestMetaCopiesInSync(t *testing.T) {
	for name, embedded := range map[string][]byte{"spawnbeat.yml": DefaultYAML, "spawnbeat.reference.yml": ReferenceYAML} {
		meta := filepath.Join("..", "_meta", name)
		if *update {
			if err := os.WriteFile(meta, embedded, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(meta)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(embedded) {
			t.Errorf("_meta/%s differs from config/%s: run go test ./config -update", name, name)
		}
	}
}
