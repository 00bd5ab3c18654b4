package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/spawnbeat/spawnbeat/beater"
	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/config/keystore"
)

// withSecrets writes a config file and a keystore under path.data of a
// fresh home directory, and returns the config.Source for them.
func withSecrets(t *testing.T, text string, secrets map[string]string, overrides ...string) config.Source {
	t.Helper()
	home := t.TempDir()
	ks := keystore.New(filepath.Join(home, "data", keystore.FileName))
	for k, v := range secrets {
		if err := ks.Set(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ks.Save(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(home, "spawnbeat.yml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.Source{File: file, Explicit: true, StrictPerms: true, Overrides: append([]string{"path.home=" + home}, overrides...)}
}

func TestKeystoreReferences(t *testing.T) {
	t.Setenv("SB_TEST_FROM_ENV", "env-user")
	t.Setenv("SB_TEST_BOTH", "from-the-environment")
	src := withSecrets(t, `
output.elasticsearch:
  hosts: ["http://es:9200"]
  username: ${SB_TEST_FROM_ENV}
  password: ${ES_PWD}
  headers:
    X-Token: "Bearer ${TOKEN}"
  path: ${COMMAS}
name: ${SB_TEST_BOTH}
`, map[string]string{
		"ES_PWD":       "0123", // a number to YAML: must stay the string
		"COMMAS":       "[a, b],c",
		"TOKEN":        "t0k ${HOME}", // not a reference
		"SB_TEST_BOTH": "from-the-keystore",
		"NS":           "prod",
	}, "spawnbeat.namespace=${NS}")
	l, err := loadSource(src)
	if err != nil {
		t.Fatal(err)
	}
	es := esOutput(t, l)
	got := map[string]string{
		"password":  es.Password,
		"path":      es.Path,
		"username":  es.Username,
		"header":    es.Headers["X-Token"],
		"name":      l.Name,
		"namespace": l.Spawnbeat.Namespace,
	}
	want := map[string]string{
		"password":  "0123",
		"path":      "[a, b],c", // not a list
		"username":  "env-user",
		"header":    "Bearer t0k ${HOME}",
		"name":      "from-the-keystore", // the keystore before the environment
		"namespace": "prod",              // in -E too
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolved settings (-want +got):\n%s", diff)
	}
	if dir, _ := filepath.Split(l.Keystore); l.Keystore == "" || filepath.Clean(dir) != l.Path.Data {
		t.Errorf("Keystore = %q, want it under path.data %q", l.Keystore, l.Path.Data)
	}
}

func TestKeystoreCannotChangeSettings(t *testing.T) {
	// `keystore add` refuses keys named like settings; a keystore written
	// otherwise still cannot change the configuration with them.
	for _, k := range []string{"name", "max_procs", "output", "path"} {
		if err := config.CheckKeystoreKey(k, beater.Settings()); !errors.Is(err, keystore.ErrKey) {
			t.Errorf("config.CheckKeystoreKey(%q, beater.Settings()) = %v, want ErrKey", k, err)
		}
	}
	if err := config.CheckKeystoreKey("ES_PWD", beater.Settings()); err != nil {
		t.Errorf("config.CheckKeystoreKey(ES_PWD, beater.Settings()) = %v", err)
	}
	l, err := loadSource(withSecrets(t, "spawnbeat.namespace: ${NS}\n", map[string]string{"name": "evil", "max_procs": "1", "NS": "prod"}))
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "" || l.MaxProcs != 0 || l.Spawnbeat.Namespace != "prod" {
		t.Errorf("name = %q, max_procs = %d, namespace %q: a keystore key changed a setting", l.Name, l.MaxProcs, l.Spawnbeat.Namespace)
	}
}

func TestUndefinedReferenceNamesTheKey(t *testing.T) {
	src := withSecrets(t, `output.elasticsearch:
  hosts: ["http://es:9200"]
  username: elastic
  password: ${ES_PWD}
`, map[string]string{"OTHER": "x"}, "name=${SB_TEST_NOT_SET}")
	_, err := loadSource(src)
	if err == nil {
		t.Fatal("no error for references nothing defines")
	}
	for _, want := range []string{
		src.File + ":4: output.elasticsearch.password: ${ES_PWD} is not defined: no key ES_PWD in the keystore, no environment variable ES_PWD",
		"-E: name: ${SB_TEST_NOT_SET} is not defined",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Without a keystore the message is the same: the key is named.
	_, err = load(t, "name: ${SB_TEST_NOT_SET}\n")
	if err == nil || !strings.Contains(err.Error(), ":1: name: ${SB_TEST_NOT_SET} is not defined") {
		t.Errorf("without a keystore: %v", err)
	}
	// A default still applies.
	if l, err := load(t, "name: ${SB_TEST_NOT_SET:fallback}\n"); err != nil || l.Name != "fallback" {
		t.Errorf("default: %v, name %q", err, l.Name)
	}
}

func TestExportHidesKeystoreValues(t *testing.T) {
	const secret = "s3cr3t-value"
	t.Setenv("SB_TEST_USER", "user-from-env")
	src := withSecrets(t, `
output.elasticsearch:
  hosts: ["http://elastic:${ES_PWD}@es:9200"]
  username: ${SB_TEST_USER}
  password: ${ES_PWD}
name: "agent-${ES_PWD}"
spawnbeat.namespace: ${NS}
`, map[string]string{"ES_PWD": secret, "NS": "prod"}, "spawnbeat.capture.proc_root=/${ES_PWD}")
	l, err := loadSource(src)
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.Export()
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	if strings.Contains(text, secret) {
		t.Errorf("export shows the keystore value:\n%s", text)
	}
	for _, want := range []string{"http://elastic:${ES_PWD}@es:9200", "name: agent-${ES_PWD}", "password: xxxxx", "username: user-from-env", "namespace: ${NS}", "proc_root: /${ES_PWD}"} {
		if !strings.Contains(text, want) {
			t.Errorf("export lacks %q:\n%s", want, text)
		}
	}
	if _, ok := m["ES_PWD"]; ok {
		t.Errorf("export lists the keystore's keys as settings:\n%s", text)
	}
	// The configuration in force has the values.
	if l.Name != "agent-"+secret || esOutput(t, l).Password != secret {
		t.Errorf("name %q, password %q", l.Name, esOutput(t, l).Password)
	}
}

func TestBrokenKeystoreStopsTheLoad(t *testing.T) {
	src := withSecrets(t, "name: ${ES_PWD}\n", map[string]string{"ES_PWD": "x"})
	home := strings.TrimPrefix(src.Overrides[0], "path.home=")
	ks := filepath.Join(home, "data", keystore.FileName)

	if err := os.Chmod(ks, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadSource(src)
	if !errors.Is(err, keystore.ErrInsecure) || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), ks) {
		t.Errorf("keystore readable by others: %v", err)
	}
	src.StrictPerms = false
	if l, err := loadSource(src); err != nil || l.Name != "x" {
		t.Errorf("with strict perms off: %v", err)
	}

	if err := os.WriteFile(ks, []byte("ES_PWD: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSource(src); !errors.Is(err, keystore.ErrCorrupt) || !strings.Contains(err.Error(), ks) {
		t.Errorf("corrupt keystore: %v", err)
	}
}

func TestKeystorePath(t *testing.T) {
	t.Setenv("SB_TEST_DATA", "/srv/sb-data")
	dir := t.TempDir()
	for _, tc := range []struct {
		name      string
		text      string
		overrides []string
		want      string
	}{
		{"path.home", "", []string{"path.home=" + dir}, filepath.Join(dir, "data", keystore.FileName)},
		{"path.data in the file", "path.data: /var/lib/spawnbeat\n", nil, "/var/lib/spawnbeat/" + keystore.FileName},
		{"path.data from the environment", "path.data: ${SB_TEST_DATA}\n", nil, "/srv/sb-data/" + keystore.FileName},
		{"-E over the file", "path.data: /a\n", []string{"path.data=/b"}, "/b/" + keystore.FileName},
		// A reference to a key not yet added must not stop `keystore add`.
		{"undefined reference elsewhere", "path.data: /a\noutput.elasticsearch.password: ${NOT_YET}\n", nil, "/a/" + keystore.FileName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.KeystorePath(config.Source{File: write(t, tc.text), Explicit: true, StrictPerms: true, Overrides: tc.overrides})
			if err != nil || got != tc.want {
				t.Errorf("config.KeystorePath = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
