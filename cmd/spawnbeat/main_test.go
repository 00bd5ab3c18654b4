package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spawnbeat runs the CLI in-process from a fresh home directory.
func spawnbeat(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append(args, "--path.home", t.TempDir()), &out, &errb)
	return out.String(), errb.String(), code
}

func TestVersion(t *testing.T) {
	out, _, code := spawnbeat(t, "version")
	if code != 0 || !strings.HasPrefix(out, "spawnbeat version "+version) {
		t.Fatalf("version: code %d, output %q", code, out)
	}
}

func TestTestConfig(t *testing.T) {
	t.Run("embedded default", func(t *testing.T) {
		out, errOut, code := spawnbeat(t, "test", "config")
		if code != 0 || !strings.Contains(out, "Config OK (embedded spawnbeat.yml)") {
			t.Fatalf("code %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("broken override", func(t *testing.T) {
		_, errOut, code := spawnbeat(t, "test", "config", "-E", "spawnbeat.capture.mode=fast", "-E", "output.fil.path=/x")
		if code != statusError {
			t.Fatalf("code %d, want %d", code, statusError)
		}
		for _, want := range []string{"-E: spawnbeat.capture.mode", "-E: output.fil.path: unknown setting"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})
	t.Run("explicit file that is missing", func(t *testing.T) {
		_, errOut, code := spawnbeat(t, "test", "config", "-c", "/nonexistent/spawnbeat.yml")
		if code == 0 || !strings.Contains(errOut, "/nonexistent/spawnbeat.yml") {
			t.Fatalf("code %d, stderr %q", code, errOut)
		}
	})
	t.Run("two outputs", func(t *testing.T) {
		_, errOut, code := spawnbeat(t, "test", "config", "-E", `output.elasticsearch.hosts=["http://localhost:9200"]`, "-E", "output.console.enabled=true")
		if code == 0 || !strings.Contains(errOut, "enable exactly one output") {
			t.Fatalf("code %d, stderr %q", code, errOut)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	_, _, code := spawnbeat(t, "--no-such-flag")
	if code != statusUsage {
		t.Errorf("unknown flag: code %d, want %d", code, statusUsage)
	}
}

func TestExportConfigMasksSecrets(t *testing.T) {
	out, errOut, code := spawnbeat(t, "export", "config",
		"-E", `output.elasticsearch.hosts=["https://es:9200"]`, "-E", "output.elasticsearch.username=elastic",
		"-E", "output.elasticsearch.password=hunter2", "-E", "spawnbeat.namespace=prod")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "xxxxx") || !strings.Contains(out, "prod") {
		t.Errorf("export config:\n%s", out)
	}
}

func TestExportTemplateAndPolicy(t *testing.T) {
	out, errOut, code := spawnbeat(t, "export", "template")
	if code != 0 {
		t.Fatalf("export template: code %d: %s", code, errOut)
	}
	var tmpl struct {
		IndexPatterns []string        `json:"index_patterns"`
		DataStream    json.RawMessage `json:"data_stream"`
		Priority      int             `json:"priority"`
		Template      struct {
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal([]byte(out), &tmpl); err != nil {
		t.Fatalf("template is not JSON: %v\n%.300s", err, out)
	}
	if len(tmpl.DataStream) == 0 || tmpl.Priority <= 100 || tmpl.Template.Mappings.Properties["process"] == nil {
		t.Errorf("template: patterns %v, data_stream %s, priority %d", tmpl.IndexPatterns, tmpl.DataStream, tmpl.Priority)
	}
	out, errOut, code = spawnbeat(t, "export", "ilm-policy")
	if code != 0 || !json.Valid([]byte(out)) || !strings.Contains(out, "rollover") {
		t.Fatalf("export ilm-policy: code %d, %s%s", code, out, errOut)
	}
}

func TestSetupNeedsElasticsearch(t *testing.T) {
	_, errOut, code := spawnbeat(t, "setup")
	if code == 0 || !strings.Contains(errOut, "output.elasticsearch is not the enabled output") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestConfigFileRelativeToPathConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "custom.yml"), []byte("spawnbeat.namespace: fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"export", "config", "-c", "custom.yml", "--path.config", dir}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "fromfile") {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
