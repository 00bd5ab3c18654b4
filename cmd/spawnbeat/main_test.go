package main

import (
	"bytes"
	"encoding/json"
	"net"
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

// TestErrorsPrintedOnce: whatever fails, the user reads the error once,
// with its context, not once logged and once printed, nor its context
// repeated by each layer that passed it on.
func TestErrorsPrintedOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	for _, tc := range []struct {
		name string
		args []string
		once []string // each appears exactly once in stdout and stderr together
	}{
		{
			name: "test output against a closed port",
			args: []string{"test", "output", "-E", `output.elasticsearch.hosts=["http://` + closed + `"]`},
			once: []string{"connection refused", "elasticsearch output check failed"},
		},
		{
			name: "an output's setting in test config",
			args: []string{"test", "config", "-E", `output.elasticsearch.hosts=["ftp://es:9200"]`},
			once: []string{"output.elasticsearch", `unsupported scheme "ftp"`},
		},
		{
			name: "a queue's setting in test config",
			args: []string{"test", "config", "-E", "queue.disk.max_size=1KiB"},
			once: []string{"queue.disk", "must be at least 4096 bytes"},
		},
		{
			name: "a rule path that does not exist stops the run",
			args: []string{"run", "-e", "-E", "spawnbeat.drop_capabilities=false", "-E", `spawnbeat.detection.rules=["/nonexistent/x.toml"]`},
			once: []string{"/nonexistent/x.toml", "no rule file"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := spawnbeat(t, tc.args...)
			if code != statusError {
				t.Errorf("exit %d, want %d", code, statusError)
			}
			all := out + errOut
			for _, s := range tc.once {
				if n := strings.Count(all, s); n != 1 {
					t.Errorf("%q appears %d times, want once:\n%s", s, n, all)
				}
			}
		})
	}
}
