package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// loadWith parses the global flags of args and loads the configuration
// they name, from a fresh home directory.
func loadWith(t *testing.T, args ...string) (*globals, bool, bool) {
	t.Helper()
	g := &globals{}
	root := &cobra.Command{Use: "spawnbeat"}
	g.register(root)
	if err := root.ParseFlags(append(args, "--path.home", t.TempDir())); err != nil {
		t.Fatal(err)
	}
	cfg, err := g.load(root)
	if err != nil {
		t.Fatal(err)
	}
	return g, cfg.Logging.ToStderr, cfg.Logging.ToFiles
}

// TestEnvironmentSystemd: under --environment systemd the log goes to
// stderr (the journal) and not to files, unless the configuration says
// where it goes; lines on stderr carry no timestamp of their own.
func TestEnvironmentSystemd(t *testing.T) {
	for _, tc := range []struct {
		name              string
		args              []string
		toStderr, toFiles bool
	}{
		{"default environment", nil, false, true},
		{"systemd", []string{"--environment", "systemd"}, true, false},
		{"container", []string{"--environment", "container"}, true, false},
		{"systemd and logging.to_files", []string{"--environment", "systemd", "-E", "logging.to_files=true"}, false, true},
		{"systemd and -e", []string{"--environment", "systemd", "-e"}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, toStderr, toFiles := loadWith(t, tc.args...)
			if toStderr != tc.toStderr || toFiles != tc.toFiles {
				t.Errorf("to_stderr %t, to_files %t; want %t, %t", toStderr, toFiles, tc.toStderr, tc.toFiles)
			}
		})
	}

	g, _, _ := loadWith(t, "--environment", "systemd")
	cfg, err := g.load(&cobra.Command{})
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []environment{envDefault, envSystemd} {
		var stderr bytes.Buffer
		log, closeLog, err := newLoggerIn(env, cfg.Logging, cfg.Path.Logs, nil, &stderr)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello")
		closeLog()
		var line map[string]any
		if err := json.Unmarshal(stderr.Bytes(), &line); err != nil {
			t.Fatalf("%s: log line %q: %v", env, stderr.String(), err)
		}
		if _, stamped := line["@timestamp"]; stamped != (env != envSystemd) || line["message"] != "hello" {
			t.Errorf("%s: log line %s; want @timestamp only outside systemd", env, strings.TrimSpace(stderr.String()))
		}
	}
}

func TestEnvironmentUnknown(t *testing.T) {
	_, errOut, code := spawnbeat(t, "test", "config", "--environment", "sometimes")
	if code != statusUsage || !strings.Contains(errOut, `"sometimes" is not one of default, systemd, container`) {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}
