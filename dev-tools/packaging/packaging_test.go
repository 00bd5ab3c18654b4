package packaging

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/config"
)

func TestFileNames(t *testing.T) {
	var got []string
	for _, a := range Arches() {
		for _, f := range AllFormats() {
			got = append(got, FileName(f, "1.2.3", a))
		}
	}
	want := []string{
		"spawnbeat-1.2.3-amd64.deb", "spawnbeat-1.2.3-x86_64.rpm", "spawnbeat-1.2.3-linux-x86_64.tar.gz",
		"spawnbeat-1.2.3-arm64.deb", "spawnbeat-1.2.3-aarch64.rpm", "spawnbeat-1.2.3-linux-arm64.tar.gz",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("file names (-want +got):\n%s", diff)
	}
	if _, err := LookupArch("mips"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("LookupArch(mips) = %v, want ErrUnsupported", err)
	}
}

// TestTarHoldsThePackagedFiles: the tar.gz ships the same files as the
// .deb and .rpm (binary, both configurations, rules.d, the unit, README,
// copyright), with the same modes; only what a system install needs (the
// /usr/bin wrapper, the environment file, lintian's overrides, the data
// and log folders, made at the first run) is left out.
func TestTarHoldsThePackagedFiles(t *testing.T) {
	modes := func(es []entry, skip ...string) map[string]fs.FileMode {
		m := map[string]fs.FileMode{}
		for _, e := range es {
			key := e.src
			if key == "" {
				key = filepath.Base(e.dst) + "/"
			}
			if !slices.Contains(skip, key) {
				m[key] = e.mode
			}
		}
		return m
	}
	sys := modes(systemLayout(Deb), "bin/spawnbeat", "default/spawnbeat", "deb/lintian-overrides", "spawnbeat/")
	if diff := cmp.Diff(sys, modes(tarLayout())); diff != "" {
		t.Errorf("tar.gz layout differs from the .deb's (-deb +tar):\n%s", diff)
	}
}

// TestStagedConfigIsTheEmbeddedOne: the packaged spawnbeat.yml and reference
// are the binary's embedded ones, and every packaging file is staged.
func TestStagedConfigIsTheEmbeddedOne(t *testing.T) {
	s, err := stageFiles(t.TempDir(), filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"spawnbeat.yml": config.DefaultYAML, "spawnbeat.reference.yml": config.ReferenceYAML} {
		if got, err := os.ReadFile(s.path(name)); err != nil || string(got) != string(want) {
			t.Errorf("staged %s differs from the embedded one (%v)", name, err)
		}
	}
	for _, format := range []string{Deb, RPM} {
		for _, e := range systemLayout(format) {
			if e.src == "" || e.src == binary {
				continue
			}
			if _, err := os.Stat(s.path(e.src)); err != nil {
				t.Errorf("%s: %s not staged: %v", format, e.src, err)
			}
		}
		a, b, c := maintainerScripts(format)
		for _, script := range []string{a, b, c} {
			if _, err := os.Stat(s.path(script)); err != nil {
				t.Errorf("%s: script %s not staged: %v", format, script, err)
			}
		}
	}
}

// builtOnce is the amd64 build every test of this package inspects
// (building takes most of the tests' time).
var builtOnce struct {
	arts []Artifact
	err  error
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtOnce.dir != "" {
		os.RemoveAll(builtOnce.dir)
	}
	os.Exit(code)
}

var testMTime = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// builtDir is a folder that lives as long as the test binary.
func builtDir(t *testing.T) string {
	t.Helper()
	if builtOnce.dir == "" {
		dir, err := os.MkdirTemp("", "spawnbeat-dist-")
		if err != nil {
			t.Fatal(err)
		}
		builtOnce.dir = dir
	}
	return builtOnce.dir
}

// built returns the artifacts of one Build of every format for amd64.
func built(t *testing.T) []Artifact {
	t.Helper()
	if builtOnce.arts == nil && builtOnce.err == nil {
		dir := builtDir(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		builtOnce.arts, builtOnce.err = Build(ctx, Options{
			Version: "0.1.0", Commit: "test", SourceDir: filepath.Join("..", ".."), OutDir: dir,
			Arches: []string{"amd64"}, MTime: testMTime,
		})
	}
	if builtOnce.err != nil {
		t.Fatalf("Build: %v", builtOnce.err)
	}
	return builtOnce.arts
}

func artifact(t *testing.T, format string) Artifact {
	t.Helper()
	for _, a := range built(t) {
		if a.Format == format {
			return a
		}
	}
	t.Fatalf("no %s built", format)
	return Artifact{}
}

func TestBuildWritesChecksums(t *testing.T) {
	arts := built(t)
	if len(arts) != 3 {
		t.Fatalf("%d artifacts, want 3: %+v", len(arts), arts)
	}
	for _, a := range arts {
		if filepath.Base(a.Path) != FileName(a.Format, "0.1.0", a.Arch) {
			t.Errorf("%s: want the name %s", a.Path, FileName(a.Format, "0.1.0", a.Arch))
		}
		b, err := os.ReadFile(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha512.Sum512(b)
		want := hex.EncodeToString(sum[:]) + "  " + filepath.Base(a.Path) + "\n"
		if got, err := os.ReadFile(a.Checksum); err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want %q", a.Checksum, got, err, want)
		}
		if sha512sum, err := exec.LookPath("sha512sum"); err == nil {
			cmd := exec.Command(sha512sum, "-c", filepath.Base(a.Checksum))
			cmd.Dir = filepath.Dir(a.Checksum)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("sha512sum -c %s: %v\n%s", a.Checksum, err, out)
			}
		}
	}
}

// TestTarGz: the tar.gz runs from its top folder: the binary at the top,
// the configuration beside it, rules.d, all owned by root with their modes.
func TestTarGz(t *testing.T) {
	a := artifact(t, TarGz)
	f, err := os.Open(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	got := map[string]string{}
	top := "spawnbeat-0.1.0-linux-x86_64/"
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = fs.FileMode(h.Mode).String() + " " + h.Uname + ":" + h.Gname
		if !h.ModTime.Equal(testMTime) {
			t.Errorf("%s: time %s, want %s", h.Name, h.ModTime, testMTime)
		}
		if h.Name == top+"spawnbeat" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			checkELF(t, b, "amd64")
		}
	}
	want := map[string]string{
		top:                             "-rwxr-xr-x root:root",
		top + "spawnbeat":               "-rwxr-xr-x root:root",
		top + "spawnbeat.yml":           "-rw------- root:root",
		top + "spawnbeat.reference.yml": "-rw-r--r-- root:root",
		top + "rules.d/":                "-rwxr-x--- root:root",
		top + "spawnbeat.service":       "-rw-r--r-- root:root",
		top + "README.md":               "-rw-r--r-- root:root",
		top + "copyright":               "-rw-r--r-- root:root",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tar.gz entries (-want +got):\n%s", diff)
	}
}

// checkELF checks that b is a static linux executable for goarch, stamped
// with the test build's version and commit.
func checkELF(t *testing.T, b []byte, goarch string) {
	t.Helper()
	arch, err := LookupArch(goarch)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("binary is not ELF: %v", err)
	}
	defer ef.Close()
	if ef.Machine.String() != arch.ELF || ef.Type != elf.ET_EXEC {
		t.Errorf("binary: machine %s, type %s; want %s, ET_EXEC", ef.Machine, ef.Type, arch.ELF)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has an interpreter: want a static binary (CGO_ENABLED=0)")
		}
	}
	if !strings.Contains(string(b), "0.1.0") {
		t.Errorf("binary lacks its version")
	}
}

// TestCrossCompileArm64: the arm64 build is an AArch64 static executable.
// It cannot run here; docs/packaging.md (Architectures) says what was checked where.
func TestCrossCompileArm64(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the arm64 build is skipped")
	}
	out := filepath.Join(t.TempDir(), "spawnbeat")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := Compile(ctx, filepath.Join("..", ".."), "arm64", "0.1.0", "test", out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkELF(t, b, "arm64")
}

// TestTarGzRunsFromItsFolder: extracted, the tar.gz's spawnbeat runs from
// its top folder on the configuration beside it, rules.d included.
func TestTarGzRunsFromItsFolder(t *testing.T) {
	tarTool := requireTool(t, "tar")
	dir := t.TempDir()
	run(t, tarTool, "-xzf", artifact(t, TarGz).Path, "-C", dir)
	top := filepath.Join(dir, "spawnbeat-0.1.0-linux-x86_64")
	for args, want := range map[string]string{
		"test config":   "Config OK (spawnbeat.yml)",
		"export config": "- " + filepath.Join(top, "rules.d", "*.toml"),
		"version":       "spawnbeat version 0.1.0 (amd64), commit test",
	} {
		cmd := exec.Command("./spawnbeat", strings.Fields(args)...)
		cmd.Dir = top
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("./spawnbeat %s: %v, want %q in:\n%s", args, err, want, out)
		}
	}
}
