package packaging

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Name is the package's name, and the binary's.
const Name = "spawnbeat"

// Formats Build can write.
const (
	Deb   = "deb"
	RPM   = "rpm"
	TarGz = "tar.gz"
)

// AllFormats lists every format, in the order Build writes them.
func AllFormats() []string { return []string{Deb, RPM, TarGz} }

// Arch names one target architecture as Go and each format name it.
type Arch struct {
	GOARCH string // amd64, arm64
	Deb    string // dpkg --print-architecture
	RPM    string // uname -m
	Tar    string // Beats' tar.gz suffix: linux-<Tar>
	ELF    string // the binary's ELF machine, as file(1) and debug/elf name it
}

// Arches lists the supported architectures.
func Arches() []Arch {
	return []Arch{
		{GOARCH: "amd64", Deb: "amd64", RPM: "x86_64", Tar: "x86_64", ELF: "EM_X86_64"},
		{GOARCH: "arm64", Deb: "arm64", RPM: "aarch64", Tar: "arm64", ELF: "EM_AARCH64"},
	}
}

// LookupArch returns the Arch of a GOARCH name.
func LookupArch(goarch string) (Arch, error) {
	for _, a := range Arches() {
		if a.GOARCH == goarch {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("architecture %q: %w", goarch, ErrUnsupported)
}

// ErrUnsupported marks an architecture or format Build does not know.
var ErrUnsupported = errors.New("not supported")

// DefaultMaintainer is the .deb's Maintainer and the .rpm's Packager.
const DefaultMaintainer = "spawnbeat maintainers <maintainers@spawnbeat.dev>"

// Options says what Build makes.
type Options struct {
	Version string // package and binary version, e.g. 0.1.0
	Commit  string // stamped into the binary (spawnbeat version)
	// SourceDir is the repository's root: the module built and the README
	// shipped.
	SourceDir string
	OutDir    string   // where the artifacts go (build/distributions)
	Arches    []string // GOARCH names; all of Arches() when empty
	Formats   []string // all of AllFormats() when empty
	// Maintainer of the .deb (DefaultMaintainer when empty).
	Maintainer string
	// MTime is every file's time in the packages, so that two builds of
	// one commit are byte for byte the same; now when zero.
	MTime time.Time
}

// Artifact is one file Build wrote.
type Artifact struct {
	Path     string // the package
	Checksum string // its .sha512 file
	Format   string
	Arch     Arch
}

// FileName is Beats' name of a package: spawnbeat-<version>-amd64.deb,
// spawnbeat-<version>-x86_64.rpm, spawnbeat-<version>-linux-x86_64.tar.gz.
func FileName(format, version string, a Arch) string {
	switch format {
	case Deb:
		return fmt.Sprintf("%s-%s-%s.deb", Name, version, a.Deb)
	case RPM:
		return fmt.Sprintf("%s-%s-%s.rpm", Name, version, a.RPM)
	}
	return fmt.Sprintf("%s-%s-linux-%s.tar.gz", Name, version, a.Tar)
}

// Build compiles spawnbeat for each architecture and writes each format's
// package and its .sha512 into opts.OutDir.
func Build(ctx context.Context, opts Options) ([]Artifact, error) {
	if opts.Version == "" || opts.SourceDir == "" || opts.OutDir == "" {
		return nil, errors.New("packaging: Version, SourceDir and OutDir are required")
	}
	if opts.Maintainer == "" {
		opts.Maintainer = DefaultMaintainer
	}
	if opts.MTime.IsZero() {
		opts.MTime = time.Now().UTC().Truncate(time.Second)
	}
	formats := opts.Formats
	if len(formats) == 0 {
		formats = AllFormats()
	}
	for _, f := range formats {
		if !slices.Contains(AllFormats(), f) {
			return nil, fmt.Errorf("format %q: %w", f, ErrUnsupported)
		}
	}
	goarches := opts.Arches
	if len(goarches) == 0 {
		for _, a := range Arches() {
			goarches = append(goarches, a.GOARCH)
		}
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", opts.OutDir, err)
	}
	work, err := os.MkdirTemp("", "spawnbeat-package-")
	if err != nil {
		return nil, fmt.Errorf("packaging work folder: %w", err)
	}
	defer os.RemoveAll(work)
	stage, err := stageFiles(filepath.Join(work, "files"), opts.SourceDir)
	if err != nil {
		return nil, err
	}

	var out []Artifact
	for _, goarch := range goarches {
		arch, err := LookupArch(goarch)
		if err != nil {
			return nil, err
		}
		bin := filepath.Join(work, goarch, Name)
		if err := Compile(ctx, opts.SourceDir, goarch, opts.Version, opts.Commit, bin); err != nil {
			return nil, err
		}
		for _, format := range formats {
			path := filepath.Join(opts.OutDir, FileName(format, opts.Version, arch))
			if err := writePackage(format, path, stage, bin, arch, opts); err != nil {
				return nil, err
			}
			sum, err := writeChecksum(path)
			if err != nil {
				return nil, err
			}
			out = append(out, Artifact{Path: path, Checksum: sum, Format: format, Arch: arch})
		}
	}
	return out, nil
}

func writePackage(format, path string, stage staged, bin string, arch Arch, opts Options) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	switch format {
	case Deb, RPM:
		err = writeNFPM(f, format, stage, bin, arch, opts)
	default:
		err = writeTarGz(f, tarTop(opts.Version, arch), stage, bin, opts.MTime)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
