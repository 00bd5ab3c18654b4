package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// write puts a config file with mode 0600 in a temp dir and returns its path.
func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spawnbeat.yml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, text string, overrides ...string) (*Loaded, error) {
	t.Helper()
	return Load(Source{File: write(t, text), Explicit: true, Overrides: overrides, StrictPerms: true})
}

func TestDefaultsWhenNoFile(t *testing.T) {
	l, err := Load(Source{File: filepath.Join(t.TempDir(), "absent.yml"), Default: DefaultYAML, StrictPerms: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Source != "embedded spawnbeat.yml" {
		t.Errorf("Source = %q", l.Source)
	}
	want := Default()
	want.Path = l.Path // resolved from the working directory
	want.Output = l.Output
	// The commented default watches rules.d beside it (path.config).
	want.Spawnbeat.Detection.Rules = []string{filepath.Join(l.Path.Config, "rules.d", "*.toml")}
	if diff := cmp.Diff(want, *l.Config); diff != "" {
		t.Errorf("embedded default differs from Default() (-want +got):\n%s", diff)
	}
	wd, _ := os.Getwd()
	if l.Path.Data != filepath.Join(wd, "data") || l.Output.File == nil || l.Output.File.Path != l.Path.Data {
		t.Errorf("default output = %+v, path.data = %q: want the file output under path.data", l.Output.File, l.Path.Data)
	}
}

// TestPathReferences: every setting can name path.* as ${path.config} and
// the others, given or defaulted from path.home, as in Beats.
func TestPathReferences(t *testing.T) {
	const text = "spawnbeat.detection.rules: [\"${path.config}/rules.d/*.toml\"]\noutput.file.path: ${path.data}/out\n"
	for _, tc := range []struct {
		name      string
		overrides []string
		rules     string
		out       string
	}{
		{"given", []string{"path.config=/etc/sb", "path.data=/var/lib/sb"}, "/etc/sb/rules.d/*.toml", "/var/lib/sb/out"},
		{"from path.home", []string{"path.home=/opt/sb"}, "/opt/sb/rules.d/*.toml", "/opt/sb/data/out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := load(t, text, tc.overrides...)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Spawnbeat.Detection.Rules; len(got) != 1 || got[0] != tc.rules {
				t.Errorf("rules = %q, want [%q]", got, tc.rules)
			}
			if got := l.Output.File.Path; got != tc.out {
				t.Errorf("output.file.path = %q, want %q", got, tc.out)
			}
		})
	}
}

func TestExplicitMissingFile(t *testing.T) {
	_, err := Load(Source{File: "/nonexistent/spawnbeat.yml", Explicit: true, Default: DefaultYAML})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/spawnbeat.yml") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

func TestOverrides(t *testing.T) {
	l, err := load(t, `
spawnbeat:
  capture:
    mode: poll
    receive_buffer: 16MiB
output.file.filename: fromfile
`, "spawnbeat.capture.mode=netlink", "spawnbeat.capture.actions=[exec, fork]", "output.file.rotate_every_kb=20", "path.home=/opt/sb")
	if err != nil {
		t.Fatal(err)
	}
	c := l.Spawnbeat.Capture
	if c.Mode != ModeNetlink || c.ReceiveBuffer != 16<<20 || !c.Has("fork") || c.Has("end") {
		t.Errorf("capture = %+v", c)
	}
	if f := l.Output.File; f.Filename != "fromfile" || f.RotateEveryKB != 20 || f.NumberOfFiles != 7 || f.Path != "/opt/sb/data" {
		t.Errorf("output.file = %+v: want file values, -E values and defaults merged", f)
	}
	if l.Path.Logs != "/opt/sb/logs" {
		t.Errorf("path.logs = %q", l.Path.Logs)
	}
}

// TestOverrideReplacesList checks that a setting's list replaces the one
// below it, not its first elements: merged element by element, [exec]
// over three actions would have left end and existing in.
func TestOverrideReplacesList(t *testing.T) {
	l, err := load(t, `
spawnbeat.capture.actions: [exec, end, existing]
output.elasticsearch.hosts: ["http://a:9200", "http://b:9200"]
`, "spawnbeat.capture.actions=[exec]", `output.elasticsearch.hosts=["http://c:9200"]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Spawnbeat.Capture.Actions; !slices.Equal(got, []string{"exec"}) {
		t.Errorf("actions = %q, want [exec]", got)
	}
	if got := l.Output.Elasticsearch.Hosts; !slices.Equal(got, []string{"http://c:9200"}) {
		t.Errorf("hosts = %q, want [http://c:9200]", got)
	}
	// And a file's list replaces the default's.
	if l, err = load(t, "spawnbeat.capture.actions: [exec]\n"); err != nil {
		t.Fatal(err)
	}
	if got := l.Spawnbeat.Capture.Actions; !slices.Equal(got, []string{"exec"}) {
		t.Errorf("actions from the file = %q, want [exec]", got)
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("SB_TEST_NS", "prod")
	l, err := load(t, "spawnbeat.namespace: ${SB_TEST_NS}\nname: ${SB_TEST_UNSET:fallback}\n")
	if err != nil {
		t.Fatal(err)
	}
	if l.Spawnbeat.Namespace != "prod" || l.Name != "fallback" {
		t.Errorf("namespace = %q, name = %q", l.Spawnbeat.Namespace, l.Name)
	}
}

func TestErrorsNameFileLineAndKey(t *testing.T) {
	text := `spawnbeat:
  namespace: Bad-NS
  capture:
    mode: sometimes
    actions: [exec, spawn]
    poll_period: 1ms
    priority_boost: 21
    exec_args: bpf
  cache:
    max_entries: 10
logging:
  level: loud
output.file:
  number_of_files: 1
  pathh: /tmp
max_procs: -1
`
	path := write(t, text)
	_, err := Load(Source{File: path, Explicit: true, StrictPerms: true})
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		path + ":2: spawnbeat.namespace:",
		path + ":4: spawnbeat.capture.mode: \"sometimes\" is not one of auto, netlink, poll",
		path + ":5: spawnbeat.capture.actions: \"spawn\"",
		path + ":6: spawnbeat.capture.poll_period:",
		path + ":7: spawnbeat.capture.priority_boost: 21 is outside 0..20",
		path + ":8: spawnbeat.capture.exec_args: \"bpf\" is not one of auto, kernel, proc",
		path + ":10: spawnbeat.cache.max_entries:",
		path + ":12: logging.level:",
		path + ":14: output.file.number_of_files",
		path + ":15: output.file.pathh: unknown setting",
		path + ":16: max_procs: -1 is negative",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q; got:\n%s", want, msg)
		}
	}
}

func TestOverrideErrorsNameTheFlag(t *testing.T) {
	_, err := load(t, "", "spawnbeat.capture.mode=fast", "outptu.file.path=/x", "novalue")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"-E: spawnbeat.capture.mode", "-E: outptu.file.path: unknown setting", "-E: novalue: want key=value"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q; got:\n%v", want, err)
		}
	}
}

func TestTypeMismatch(t *testing.T) {
	_, err := load(t, "spawnbeat:\n  cache:\n    exit_grace: soon\n")
	if err == nil || !strings.Contains(err.Error(), ":3: spawnbeat.cache.exit_grace") {
		t.Fatalf("err = %v, want line 3 and the key", err)
	}
}

func TestYAMLSyntaxError(t *testing.T) {
	path := write(t, "spawnbeat:\n  namespace: [unclosed\n")
	_, err := Load(Source{File: path, Explicit: true})
	if err == nil || !strings.Contains(err.Error(), path) || !regexp.MustCompile(`line \d+`).MatchString(err.Error()) {
		t.Fatalf("err = %v, want the file and a line", err)
	}
}

func TestOutputs(t *testing.T) {
	t.Run("two enabled is an error", func(t *testing.T) {
		_, err := load(t, "output.file.path: /tmp\noutput.console.pretty: true\n")
		if err == nil || !strings.Contains(err.Error(), "enable exactly one output") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a disabled one does not count", func(t *testing.T) {
		l, err := load(t, "output.file.enabled: false\noutput.console.pretty: true\n")
		if err != nil {
			t.Fatal(err)
		}
		if l.Output.Console == nil || !l.Output.Console.Pretty || l.Output.File.Enabled {
			t.Errorf("outputs = %+v %+v", l.Output.Console, l.Output.File)
		}
	})
	t.Run("one -E switches the default", func(t *testing.T) {
		l, err := load(t, string(DefaultYAML), "output.console.enabled=true")
		if err != nil {
			t.Fatal(err)
		}
		if l.Output.File != nil || l.Output.Console == nil {
			t.Errorf("outputs = %+v %+v, want console only", l.Output.File, l.Output.Console)
		}
	})
}

func TestStrictPerms(t *testing.T) {
	path := write(t, "name: x\n")
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Source{File: path, Explicit: true, StrictPerms: true})
	if err == nil || !strings.Contains(err.Error(), "writable by group or others") || !strings.Contains(err.Error(), "--strict.perms=false") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(Source{File: path, Explicit: true, StrictPerms: false}); err != nil {
		t.Fatalf("with strict perms off: %v", err)
	}
}

// TestSizeSettings reads every setting that takes a size with one type and
// Beats' units: k/m/g are powers of 1,000, ki/mi/gi (and KiB...) of 1,024, a
// bare number is bytes.
func TestSizeSettings(t *testing.T) {
	l, err := load(t, `
spawnbeat.capture.receive_buffer: 8m
spawnbeat.capture.max_args_bytes: 32ki
logging.files.rotateeverybytes: 1048576
queue.disk.max_size: 2GB
queue.disk.segment_size: 16MiB
`)
	if err != nil {
		t.Fatal(err)
	}
	type sizes struct{ ReceiveBuffer, MaxArgsBytes, RotateEveryBytes, MaxSize, SegmentSize int64 }
	got := sizes{
		int64(l.Spawnbeat.Capture.ReceiveBuffer), int64(l.Spawnbeat.Capture.MaxArgsBytes), int64(l.Logging.Files.RotateEveryBytes),
		int64(l.Queue.Disk.MaxSize), int64(l.Queue.Disk.SegmentSize),
	}
	want := sizes{8_000_000, 32 << 10, 1 << 20, 2_000_000_000, 16 << 20}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sizes (-want +got):\n%s", diff)
	}
	_, err = load(t, "spawnbeat.capture.receive_buffer: 8 parsecs\n")
	if err == nil || !strings.Contains(err.Error(), "receive_buffer") || !strings.Contains(err.Error(), `unknown unit "parsecs"`) {
		t.Errorf("a size with an unknown unit: err = %v, want one naming the key and the unit", err)
	}
}

// TestReferenceDocumentsEverySetting keeps spawnbeat.reference.yml complete:
// every setting of Config is in it, every key in it is a setting, and its
// values are valid.
func TestReferenceDocumentsEverySetting(t *testing.T) {
	keyLine := regexp.MustCompile(`^#([a-z_][a-z0-9_.]*): ?(.*)$`)
	var yaml []string
	documented := map[string]bool{}
	for _, line := range strings.Split(string(ReferenceYAML), "\n") {
		if m := keyLine.FindStringSubmatch(line); m != nil {
			documented[m[1]] = true
			if !knownKey(m[1]) {
				t.Errorf("reference documents unknown key %s", m[1])
			}
			if !strings.HasPrefix(m[1], "queue.disk.") { // one queue at a time
				yaml = append(yaml, m[1]+": "+m[2])
			}
		}
	}
	for _, key := range leafKeys() {
		if !documented[key] {
			t.Errorf("setting %s is missing from spawnbeat.reference.yml", key)
		}
	}
	sort.Strings(yaml)
	l, err := load(t, strings.Join(yaml, "\n")+"\n", "output.console.enabled=false", "output.file.enabled=false")
	if err != nil {
		t.Fatalf("the reference's values do not load: %v", err)
	}
	if diff := cmp.Diff(Default().Spawnbeat, l.Spawnbeat, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("reference values differ from the defaults (-want +got):\n%s", diff)
	}
	if l.Spawnbeat.Cache.ExitGrace != 30*time.Second {
		t.Errorf("exit_grace = %s", l.Spawnbeat.Cache.ExitGrace)
	}
}

func TestEnvVars(t *testing.T) {
	l, err := load(t, "spawnbeat.capture.env_vars: [LD_PRELOAD, HISTFILE]\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Spawnbeat.Capture.EnvVars; !slices.Equal(got, []string{"LD_PRELOAD", "HISTFILE"}) {
		t.Errorf("env_vars = %q", got)
	}
	if l, err = load(t, "name: x\n"); err != nil || l.Spawnbeat.Capture.EnvVars != nil {
		t.Errorf("default env_vars = %q (%v), want none", l.Spawnbeat.Capture.EnvVars, err)
	}
	_, err = load(t, "spawnbeat.capture.env_vars: [\"\", \"A=B\"]\n")
	for _, want := range []string{`spawnbeat.capture.env_vars: "" is not an environment variable name`, `"A=B" is not`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want one containing %q", err, want)
		}
	}
}

func TestSetupKibana(t *testing.T) {
	t.Run("settings and errors with file and line", func(t *testing.T) {
		text := `setup.template.name: custom
setup.kibana:
  host: https://kibana:5601
  space.id: Not-OK
  hots: typo
setup.dashboards.enabled: true
`
		path := write(t, text)
		_, err := Load(Source{File: path, Explicit: true, StrictPerms: true})
		for _, want := range []string{
			path + ":4: setup.kibana.space.id: \"Not-OK\" is not a Kibana space identifier",
			path + ":5: setup.kibana.hots: unknown setting",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q; got:\n%v", want, err)
			}
		}
		l, err := load(t, strings.Replace(strings.Replace(text, "Not-OK", "soc", 1), "  hots: typo\n", "", 1))
		if err != nil {
			t.Fatal(err)
		}
		if l.Setup.Template.Name != "custom" || l.Setup.Kibana.Host != "https://kibana:5601" || l.Setup.Kibana.SpaceID != "soc" ||
			!l.Setup.Dashboards.Enabled || l.Setup.Kibana.Timeout != 90*time.Second {
			t.Errorf("setup = %+v", l.Setup)
		}
	})
	t.Run("credentials from the Elasticsearch output", func(t *testing.T) {
		for _, tc := range []struct {
			name, yaml      string
			user, pass, key string
		}{
			{"inherited", "output.elasticsearch: {username: es, password: espw}\n", "es", "espw", ""},
			{"api key inherited", "output.elasticsearch: {api_key: 'id:k'}\n", "", "", "id:k"},
			{"own kept", "output.elasticsearch: {username: es, password: espw}\nsetup.kibana.api_key: 'kid:kk'\n", "", "", "kid:kk"},
			{"output disabled", "output.elasticsearch: {enabled: false, username: es}\n", "", "", ""},
		} {
			l, err := load(t, tc.yaml)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			k := l.Setup.Kibana
			if k.Username != tc.user || k.Password != tc.pass || k.APIKey != tc.key {
				t.Errorf("%s: kibana credentials %q %q %q, want %q %q %q", tc.name, k.Username, k.Password, k.APIKey, tc.user, tc.pass, tc.key)
			}
		}
	})
}
