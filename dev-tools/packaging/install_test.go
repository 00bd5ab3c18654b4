package packaging

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// maxExposure is the highest exposure `systemd-analyze security` may rate
// the unit (a unit written the way Beats ship theirs rates 9.6 here).
const maxExposure = 4.5

// TestSystemdUnit: systemd-analyze verify finds nothing to say about the
// packaged unit, and rates its exposure at most maxExposure.
func TestSystemdUnit(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	dpkgDeb := requireTool(t, "dpkg-deb")
	root := t.TempDir()
	run(t, dpkgDeb, "-x", artifact(t, Deb).Path, root)
	unit, err := os.ReadFile(filepath.Join(root, UnitPath(Deb)))
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart's binary exists: point it at the
	// extracted one (the only change).
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "spawnbeat.service")
	text := strings.Replace(string(unit), "ExecStart="+homeDir, "ExecStart="+root+homeDir, 1)
	if text == string(unit) {
		t.Fatal("the unit's ExecStart does not start with " + homeDir)
	}
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", copyPath)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		// verify exits 0 on unknown keys and bad values: its output counts.
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	cmd = exec.Command(analyze, "security", "--offline=true", "--no-pager", copyPath)
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for spawnbeat.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	exposure, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security --offline=true: exposure %.1f (target %.1f)", exposure, maxExposure)
	if exposure > maxExposure {
		t.Errorf("exposure %.1f, want at most %.1f:\n%s", exposure, maxExposure, out)
	}
}

// throwawayRoot is a dpkg --root target: dpkg's database in DIR, and the
// maintainer scripts run on the host with DPKG_ROOT=DIR
// (--force-script-chrootless). The host's package database is not touched.
type throwawayRoot struct {
	t    *testing.T
	dir  string
	dpkg string
}

func newThrowawayRoot(t *testing.T) *throwawayRoot {
	t.Helper()
	r := &throwawayRoot{t: t, dir: t.TempDir(), dpkg: requireTool(t, "dpkg")}
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(r.dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// dpkgRun runs dpkg on the throwaway root with its own log.
func (r *throwawayRoot) dpkgRun(args ...string) string {
	r.t.Helper()
	base := []string{"--root=" + r.dir, "--force-script-chrootless", "--log=" + filepath.Join(r.dir, "dpkg.log")}
	return run(r.t, r.dpkg, append(base, args...)...)
}

func (r *throwawayRoot) path(p string) string { return filepath.Join(r.dir, p) }

func (r *throwawayRoot) read(p string) string {
	r.t.Helper()
	b, err := os.ReadFile(r.path(p))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

func (r *throwawayRoot) exists(p string) bool {
	_, err := os.Lstat(r.path(p))
	return err == nil
}

// spawnbeat runs the installed /usr/bin/spawnbeat (the wrapper) as typed,
// chrooted into the root, in a private mount namespace that lends the
// wrapper's /bin/sh and its libraries to it.
func (r *throwawayRoot) spawnbeat(args ...string) (string, error) {
	r.t.Helper()
	return r.spawnbeatIn("", args...)
}

// spawnbeatIn is spawnbeat with stdin.
func (r *throwawayRoot) spawnbeatIn(stdin string, args ...string) (string, error) {
	r.t.Helper()
	var mounts []string
	for _, lend := range []string{"/usr/bin/dash:/bin/sh", "/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu", "/lib64:/lib64"} {
		src, dst, _ := strings.Cut(lend, ":")
		if fi, err := os.Stat(src); err != nil {
			r.t.Fatalf("lend %s to the chroot: %v", src, err)
		} else if fi.IsDir() {
			mounts = append(mounts, "mkdir -p "+r.path(dst))
		} else {
			mounts = append(mounts, "mkdir -p "+filepath.Dir(r.path(dst)), ": > "+r.path(dst))
		}
		mounts = append(mounts, "mount --bind "+src+" "+r.path(dst))
	}
	script := strings.Join(mounts, " && ") + ` && exec chroot "$0" /usr/bin/spawnbeat "$@"`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, r.dir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func fileMode(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().String()
}

// A detection rule a user drops into rules.d.
const userRule = `[metadata]
creation_date = "2026/12/01"
maturity = "production"
updated_date = "2026/12/01"

[rule]
author = ["spawnbeat tests"]
description = "A user's rule."
from = "now-9m"
index = ["logs-spawnbeat.process-*"]
language = "eql"
license = "Elastic License v2"
name = "User rule from rules.d"
risk_score = 21
rule_id = "0d9d1c6a-0000-4000-8000-000000000001"
severity = "low"
type = "eql"
query = '''
process where event.type == "start" and process.name == "user-rule-marker"
'''
`

// TestIntegrationDebInstallUpgradePurge installs the .deb into a throwaway
// root, runs the installed spawnbeat on the installed configuration,
// upgrades to a second build whose packaged configuration changed (the
// user's edit, rules, keystore and disk queue survive; dpkg's conffile
// question answered by --force-confold), then removes and purges it.
func TestIntegrationDebInstallUpgradePurge(t *testing.T) {
	testenv.RequireRoot(t)
	requireTool(t, "unshare")
	requireTool(t, "chroot")
	hostStatus, err := os.Stat("/var/lib/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}
	r := newThrowawayRoot(t)
	v1 := artifact(t, Deb).Path
	v2 := secondDeb(t)

	r.dpkgRun("-i", v1)
	for p, want := range map[string]string{
		"/etc/spawnbeat/spawnbeat.yml": "-rw-------", "/etc/spawnbeat/rules.d": "drwxr-x---",
		"/var/lib/spawnbeat": "drwxr-x---", "/var/log/spawnbeat": "drwxr-x---",
		"/usr/share/spawnbeat/bin/spawnbeat": "-rwxr-xr-x", "/usr/bin/spawnbeat": "-rwxr-xr-x",
	} {
		if got := fileMode(t, r.path(p)); got != want {
			t.Errorf("installed %s: mode %s, want %s", p, got, want)
		}
	}
	if out, err := r.spawnbeat("test", "config"); err != nil || out != "Config OK (/etc/spawnbeat/spawnbeat.yml)\n" {
		t.Fatalf("spawnbeat test config: %v\n%s", err, out)
	}
	// The packaged config loads the user's rules from rules.d: none yet is fine.
	if out, err := r.spawnbeat("export", "config"); err != nil || !strings.Contains(out, "- /etc/spawnbeat/rules.d/*.toml") ||
		!strings.Contains(out, "data: /var/lib/spawnbeat") {
		t.Errorf("spawnbeat export config: %v; want rules from /etc/spawnbeat/rules.d and path.data /var/lib/spawnbeat:\n%s", err, out)
	}

	// The user's changes, and what the agent keeps under path.data: a
	// secret in the keystore, named in the configuration.
	for _, args := range [][]string{{"keystore", "create"}, {"keystore", "add", "SB_NAME", "--stdin"}} {
		if out, err := r.spawnbeatIn("edited-by-the-user", args...); err != nil {
			t.Fatalf("spawnbeat %v: %v\n%s", args, err, out)
		}
	}
	edited := r.read("/etc/spawnbeat/spawnbeat.yml") + "name: ${SB_NAME}\n"
	kept := map[string]string{
		"/etc/spawnbeat/spawnbeat.yml":            edited,
		"/etc/spawnbeat/rules.d/user.toml":        userRule,
		"/var/lib/spawnbeat/spawnbeat.keystore":   r.read("/var/lib/spawnbeat/spawnbeat.keystore"),
		"/var/lib/spawnbeat/diskqueue/000001.seg": "queued documents",
		"/var/lib/spawnbeat/meta.json":            `{"uuid":"kept"}`,
		"/var/log/spawnbeat/spawnbeat.log":        "a log line\n",
	}
	for p, body := range kept {
		if err := os.MkdirAll(filepath.Dir(r.path(p)), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(r.path(p), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := r.spawnbeat("rules", "list"); err != nil || !regexp.MustCompile(`User rule from rules.d +loaded`).MatchString(out) {
		t.Errorf("spawnbeat rules list: %v, want the rule dropped into rules.d, loaded:\n%s", err, out)
	}

	r.dpkgRun("--force-confold", "-i", v2)
	for p, body := range kept {
		if got := r.read(p); got != body {
			t.Errorf("after the upgrade %s = %q, want the user's %q", p, got, body)
		}
	}
	if dist := r.read("/etc/spawnbeat/spawnbeat.yml.dpkg-dist"); !strings.Contains(dist, secondBuildMark) {
		t.Errorf("spawnbeat.yml.dpkg-dist lacks the new packaged config")
	}
	if out, err := r.spawnbeat("version"); err != nil || !strings.HasPrefix(out, "spawnbeat version 0.1.1 ") {
		t.Errorf("after the upgrade spawnbeat version: %v %q, want 0.1.1", err, out)
	}
	if out, err := r.spawnbeat("test", "config"); err != nil || !strings.Contains(out, "Config OK") {
		t.Errorf("after the upgrade spawnbeat test config: %v\n%s", err, out)
	}
	if out, err := r.spawnbeat("keystore", "list"); err != nil || strings.TrimSpace(out) != "SB_NAME" {
		t.Errorf("after the upgrade spawnbeat keystore list: %v %q, want SB_NAME", err, out)
	}

	r.dpkgRun("--remove", "spawnbeat")
	for _, gone := range []string{"/usr/share/spawnbeat/bin/spawnbeat", "/usr/bin/spawnbeat", UnitPath(Deb)} {
		if r.exists(gone) {
			t.Errorf("after remove %s is still there", gone)
		}
	}
	for _, stays := range []string{"/etc/spawnbeat/spawnbeat.yml", "/etc/default/spawnbeat", "/var/lib/spawnbeat/spawnbeat.keystore", "/var/log/spawnbeat/spawnbeat.log"} {
		if !r.exists(stays) {
			t.Errorf("remove (not purge) removed %s", stays)
		}
	}
	if err := os.MkdirAll(r.path("/etc/systemd/system/multi-user.target.wants"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(UnitPath(Deb), r.path("/etc/systemd/system/multi-user.target.wants/spawnbeat.service")); err != nil {
		t.Fatal(err)
	}
	r.dpkgRun("--purge", "spawnbeat")
	for _, gone := range []string{"/etc/spawnbeat", "/etc/default/spawnbeat", "/var/lib/spawnbeat", "/var/log/spawnbeat",
		"/etc/systemd/system/multi-user.target.wants/spawnbeat.service"} {
		if r.exists(gone) {
			t.Errorf("after purge %s is still there", gone)
		}
	}
	if out := r.dpkgRun("-l"); strings.Contains(out, "spawnbeat") {
		t.Errorf("dpkg still lists spawnbeat after purge:\n%s", out)
	}
	if st, err := os.Stat("/var/lib/dpkg/status"); err != nil || !st.ModTime().Equal(hostStatus.ModTime()) {
		t.Errorf("the host's dpkg status changed (%v)", err)
	}
	for _, p := range []string{"/etc/spawnbeat", "/usr/share/spawnbeat", "/var/lib/spawnbeat"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists on the host: the test must touch only its throwaway root", p)
		}
	}
}

// secondBuildMark is in the packaged spawnbeat.yml of buildSecondDeb only.
const secondBuildMark = "# The packaged configuration of the second test build."

var secondOnce struct {
	path string
	err  error
}

// secondDeb builds 0.1.1, once per test run, with a changed packaged
// spawnbeat.yml, so that dpkg finds the user's changes and the package's
// in one conffile.
func secondDeb(t *testing.T) string {
	t.Helper()
	if secondOnce.path == "" && secondOnce.err == nil {
		secondOnce.path, secondOnce.err = buildSecondDeb(builtDir(t))
	}
	if secondOnce.err != nil {
		t.Fatal(secondOnce.err)
	}
	return secondOnce.path
}

func buildSecondDeb(work string) (string, error) {
	work = filepath.Join(work, "second")
	stage, err := stageFiles(filepath.Join(work, "files"), filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	cfg, err := os.ReadFile(stage.path("spawnbeat.yml"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(stage.path("spawnbeat.yml"), append([]byte(secondBuildMark+"\n"), cfg...), 0o644); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(work, "spawnbeat")
	if err := Compile(ctx, filepath.Join("..", ".."), "amd64", "0.1.1", "test", bin); err != nil {
		return "", err
	}
	arch, _ := LookupArch("amd64")
	path := filepath.Join(work, FileName(Deb, "0.1.1", arch))
	opts := Options{Version: "0.1.1", Maintainer: DefaultMaintainer, MTime: testMTime}
	return path, writePackage(Deb, path, stage, bin, arch, opts)
}
