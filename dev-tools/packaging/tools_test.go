package packaging

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// requireTool returns the path of a distribution tool the test runs. Tests
// that need one skip where it is not installed, except with CI=true, where
// .ci/run installs them all and they must run.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true requires this test to run (.ci/run installs it)", name)
	}
	t.Skipf("%s is not installed (apt-get install it; CI does)", name)
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// The paths every system package must install, with mode and owner.
var wantInstalled = map[string]string{
	"/usr/share/spawnbeat/bin/spawnbeat":     "-rwxr-xr-x root/root",
	"/usr/bin/spawnbeat":                     "-rwxr-xr-x root/root",
	"/etc/spawnbeat/spawnbeat.yml":           "-rw------- root/root",
	"/etc/spawnbeat/spawnbeat.reference.yml": "-rw-r--r-- root/root",
	"/etc/spawnbeat/rules.d":                 "drwxr-x--- root/root",
	"/var/lib/spawnbeat":                     "drwxr-x--- root/root",
	"/var/log/spawnbeat":                     "drwxr-x--- root/root",
	"/usr/share/doc/spawnbeat/copyright":     "-rw-r--r-- root/root",
	"/usr/share/doc/spawnbeat/README.md":     "-rw-r--r-- root/root",
}

func wantFor(format string) map[string]string {
	want := map[string]string{}
	for k, v := range wantInstalled {
		want[k] = v
	}
	want[UnitPath(format)] = "-rw-r--r-- root/root"
	want[EnvFilePath(format)] = "-rw------- root/root"
	if format == Deb {
		want["/usr/share/doc/spawnbeat/changelog.Debian.gz"] = "-rw-r--r-- root/root"
		want["/usr/share/lintian/overrides/spawnbeat"] = "-rw-r--r-- root/root"
	}
	return want
}

// listed keeps the listed paths that are not implicit parent directories
// (0755 directories the layout does not name), as "mode owner/group".
func listed(t *testing.T, got map[string]string, format string) map[string]string {
	t.Helper()
	want := wantFor(format)
	out := map[string]string{}
	for p, v := range got {
		if _, named := want[p]; !named && strings.HasPrefix(v, "drwxr-xr-x root/root") {
			continue
		}
		out[p] = v
	}
	return out
}

// TestDebContents checks the .deb with dpkg-deb: files, modes, owners,
// control fields, conffiles and maintainer scripts.
func TestDebContents(t *testing.T) {
	dpkgDeb := requireTool(t, "dpkg-deb")
	deb := artifact(t, Deb).Path

	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(run(t, dpkgDeb, "-c", deb)), "\n") {
		// drwxr-x--- root/root         0 2026-12-01 12:00 ./var/lib/spawnbeat/
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		p := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
		// nfpm writes the changelog it makes with numeric ids only: 0/0 is root.
		got[p] = f[0] + " " + strings.Replace(f[1], "0/0", "root/root", 1)
	}
	if diff := cmp.Diff(wantFor(Deb), listed(t, got, Deb)); diff != "" {
		t.Errorf("dpkg-deb -c (-want +got):\n%s", diff)
	}

	for field, want := range map[string]string{
		"Package": "spawnbeat", "Version": "0.1.0-1", "Architecture": "amd64",
		"Maintainer": DefaultMaintainer, "Section": "admin", "Priority": "optional",
	} {
		if got := strings.TrimSpace(run(t, dpkgDeb, "-f", deb, field)); got != want {
			t.Errorf("control %s = %q, want %q", field, got, want)
		}
	}
	conffiles := strings.Fields(run(t, dpkgDeb, "-I", deb, "conffiles"))
	var etc []string
	for p := range wantFor(Deb) {
		if strings.HasPrefix(p, "/etc/") && !strings.HasSuffix(p, "rules.d") {
			etc = append(etc, p)
		}
	}
	slices.Sort(etc)
	slices.Sort(conffiles)
	if diff := cmp.Diff(etc, conffiles); diff != "" {
		t.Errorf("conffiles: every file under /etc (-want +got):\n%s", diff)
	}
	for script, file := range map[string]string{"postinst": "deb/postinst", "prerm": "deb/prerm", "postrm": "deb/postrm"} {
		want, err := packagedFiles.ReadFile("files/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if got := run(t, dpkgDeb, "-I", deb, script); got != string(want) {
			t.Errorf("%s in the .deb differs from files/%s", script, file)
		}
	}
}

// TestRPMContents checks the .rpm with rpm: files, modes, owners, config
// files, scripts, version and architecture.
func TestRPMContents(t *testing.T) {
	rpm := requireTool(t, "rpm")
	pkg := artifact(t, RPM).Path

	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(run(t, rpm, "-qlvp", pkg)), "\n") {
		// drwxr-x---    2 root     root        0 Dec  1 12:00 /var/lib/spawnbeat
		f := strings.Fields(line)
		if len(f) < 9 {
			t.Fatalf("rpm -qlvp line %q", line)
		}
		got[f[len(f)-1]] = f[0] + " " + f[2] + "/" + f[3]
	}
	if diff := cmp.Diff(wantFor(RPM), listed(t, got, RPM)); diff != "" {
		t.Errorf("rpm -qlvp (-want +got):\n%s", diff)
	}
	config := strings.Fields(run(t, rpm, "-qp", "--configfiles", pkg))
	wantConfig := []string{"/etc/spawnbeat/spawnbeat.reference.yml", "/etc/spawnbeat/spawnbeat.yml", "/etc/sysconfig/spawnbeat"}
	if diff := cmp.Diff(wantConfig, config); diff != "" {
		t.Errorf("rpm --configfiles (-want +got):\n%s", diff)
	}
	// %config(noreplace): an upgrade never overwrites a changed file.
	for _, line := range strings.Split(run(t, rpm, "-qp", "--queryformat", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", pkg), "\n") {
		if f := strings.Fields(line); len(f) == 2 && slices.Contains(wantConfig, f[1]) && f[0] != "cn" {
			t.Errorf("%s: file flags %q, want cn (config, noreplace)", f[1], f[0])
		}
	}
	scripts := run(t, rpm, "-qp", "--scripts", pkg)
	for _, s := range []struct{ section, file string }{
		{"postinstall scriptlet", "rpm/post"}, {"preuninstall scriptlet", "rpm/preun"}, {"postuninstall scriptlet", "rpm/postun"},
	} {
		body, err := packagedFiles.ReadFile("files/" + s.file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(scripts, s.section) || !strings.Contains(scripts, strings.TrimSpace(string(body))) {
			t.Errorf("rpm --scripts lacks the %s of files/%s:\n%s", s.section, s.file, scripts)
		}
	}
	if got := run(t, rpm, "-qp", "--queryformat", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}", pkg); got != "spawnbeat 0.1.0-1 x86_64" {
		t.Errorf("rpm name, version, arch = %q", got)
	}
	if cl := run(t, rpm, "-qp", "--changelog", pkg); !strings.Contains(cl, "- 0.1.0-1") {
		t.Errorf("rpm changelog lacks 0.1.0-1:\n%s", cl)
	}
}

// TestMaintainerScriptsParse runs sh -n on every maintainer script, and
// checks that the Debian ones touch files only through ${DPKG_ROOT}.
func TestMaintainerScriptsParse(t *testing.T) {
	for _, format := range []string{Deb, RPM} {
		a, b, c := maintainerScripts(format)
		for _, name := range []string{a, b, c, "bin/spawnbeat"} {
			body, err := packagedFiles.ReadFile("files/" + name)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "-n")
			cmd.Stdin = bytes.NewReader(body)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("sh -n files/%s: %v\n%s", name, err, out)
			}
			if format != Deb || name == "bin/spawnbeat" {
				continue
			}
			for i, line := range strings.Split(string(body), "\n") {
				if f := strings.Fields(line); len(f) > 0 && (f[0] == "rm" || f[0] == "mkdir") && !strings.Contains(line, "${DPKG_ROOT:-}") {
					t.Errorf("files/%s:%d: %q touches a path without ${DPKG_ROOT}", name, i+1, line)
				}
			}
		}
	}
}

// TestLintian: lintian reports no error on the .deb (the Beats layout's
// two are overridden by the overrides the package ships), and the warnings
// are exactly those the README lists.
func TestLintian(t *testing.T) {
	lintian := requireTool(t, "lintian")
	deb := artifact(t, Deb).Path
	cmd := exec.Command(lintian, "--tag-display-limit", "0", "--show-overrides", deb)
	out, err := cmd.CombinedOutput()
	var errors, warnings, overridden []string
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "E: "):
			errors = append(errors, line)
		case strings.HasPrefix(line, "W: "):
			warnings = append(warnings, strings.TrimPrefix(line, "W: spawnbeat: "))
		case strings.HasPrefix(line, "O: "):
			overridden = append(overridden, strings.TrimPrefix(line, "O: spawnbeat: "))
		}
	}
	if len(errors) > 0 || (err != nil && len(warnings) == 0) {
		t.Errorf("lintian: %v; errors:\n%s\n\noutput:\n%s", err, strings.Join(errors, "\n"), out)
	}
	wantOverridden := []string{
		"arch-dependent-file-in-usr-share [usr/share/spawnbeat/bin/spawnbeat]",
		"statically-linked-binary [usr/share/spawnbeat/bin/spawnbeat]",
	}
	if diff := cmp.Diff(wantOverridden, overridden); diff != "" {
		t.Errorf("lintian overrides in use (-want +got):\n%s", diff)
	}
	// Listed, each with its reason, in the README's Install section.
	wantWarnings := []string{
		"initial-upload-closes-no-bugs [usr/share/doc/spawnbeat/changelog.Debian.gz:1]",
		"no-manual-page [usr/bin/spawnbeat]",
		"non-standard-dir-perm 0750 != 0755 [etc/spawnbeat/rules.d/]",
		"non-standard-dir-perm 0750 != 0755 [var/lib/spawnbeat/]",
		"non-standard-dir-perm 0750 != 0755 [var/log/spawnbeat/]",
		"non-standard-file-perm 0600 != 0644 [etc/default/spawnbeat]",
		"non-standard-file-perm 0600 != 0644 [etc/spawnbeat/spawnbeat.yml]",
	}
	if diff := cmp.Diff(wantWarnings, warnings); diff != "" {
		t.Errorf("lintian warnings (-want +got); update the README's list with the reason:\n%s", diff)
	}
}

// TestRPMLint: rpmlint reports no error on the .rpm with the filters kept
// beside the scripts (files/rpm/spawnbeat.rpmlintrc, one reason each).
func TestRPMLint(t *testing.T) {
	rpmlint := requireTool(t, "rpmlint")
	pkg := artifact(t, RPM).Path
	cmd := exec.Command(rpmlint, "-r", filepath.Join("files", "rpm", "spawnbeat.rpmlintrc"), pkg)
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`(\d+) errors, (\d+) warnings`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("rpmlint: %v, no summary:\n%s", err, out)
	}
	if n, _ := strconv.Atoi(string(m[1])); n != 0 || err != nil {
		t.Errorf("rpmlint: %s errors (%v):\n%s", m[1], err, out)
	}
	var warnings []string
	for _, line := range strings.Split(string(out), "\n") {
		if _, w, ok := strings.Cut(line, ": W: "); ok {
			warnings = append(warnings, w)
		}
	}
	// Listed, each with its reason, in the README's Install section.
	wantWarnings := []string{
		"position-independent-executable-suggested /usr/share/spawnbeat/bin/spawnbeat",
		"only-non-binary-in-usr-lib",
		"non-coherent-filename spawnbeat-0.1.0-x86_64.rpm spawnbeat-0.1.0-1.x86_64.rpm",
		"no-manual-page-for-binary spawnbeat",
		"log-files-without-logrotate ['/var/log/spawnbeat']",
		"invalid-license LicenseRef-spawnbeat-undeclared",
	}
	if diff := cmp.Diff(wantWarnings, warnings); diff != "" {
		t.Errorf("rpmlint warnings (-want +got); update the README's list with the reason:\n%s", diff)
	}
}
