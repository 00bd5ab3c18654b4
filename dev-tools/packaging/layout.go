package packaging

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/spawnbeat/spawnbeat/config"
)

// packagedFiles holds what the packages ship that is not built: the systemd unit,
// the maintainer scripts, the /usr/bin wrapper, copyright, changelog,
// lintian overrides and the environment file.
//
//go:embed files
var packagedFiles embed.FS

// The kinds of installed paths (nfpm's content types).
const (
	kindFile   = "file"
	kindDir    = "dir"
	kindConfig = "config|noreplace" // a conffile: an upgrade never overwrites the user's changes
	kindDoc    = "doc"              // RPM %doc; a plain file in the .deb
)

// binary stands for the compiled spawnbeat in an entry's src.
const binary = "<binary>"

// entry is one path a package installs.
type entry struct {
	src  string // staged file name, binary, or "" for a directory
	dst  string // absolute path on the target (relative to the top folder in the tar.gz)
	mode fs.FileMode
	kind string
}

// Where the Beats layout puts things.
const (
	homeDir   = "/usr/share/spawnbeat"
	configDir = "/etc/spawnbeat"
	dataDir   = "/var/lib/spawnbeat"
	logsDir   = "/var/log/spawnbeat"
	docDir    = "/usr/share/doc/spawnbeat"
)

// UnitPath is where each format installs the systemd unit: Debian 12
// keeps units in /lib (dpkg does not yet know /lib and /usr/lib are one),
// RPM distributions in /usr/lib.
func UnitPath(format string) string {
	if format == Deb {
		return "/lib/systemd/system/spawnbeat.service"
	}
	return "/usr/lib/systemd/system/spawnbeat.service"
}

// EnvFilePath is the service's optional environment file: /etc/default on
// Debian, /etc/sysconfig on RPM systems.
func EnvFilePath(format string) string {
	if format == Deb {
		return "/etc/default/spawnbeat"
	}
	return "/etc/sysconfig/spawnbeat"
}

// systemLayout is what the .deb (format Deb) or the .rpm installs.
func systemLayout(format string) []entry {
	es := []entry{
		{binary, homeDir + "/bin/spawnbeat", 0o755, kindFile},
		{"bin/spawnbeat", "/usr/bin/spawnbeat", 0o755, kindFile},
		{"spawnbeat.yml", configDir + "/spawnbeat.yml", 0o600, kindConfig},
		{"spawnbeat.reference.yml", configDir + "/spawnbeat.reference.yml", 0o644, kindConfig},
		{"", configDir + "/rules.d", 0o750, kindDir},
		{"default/spawnbeat", EnvFilePath(format), 0o600, kindConfig},
		{"systemd/spawnbeat.service", UnitPath(format), 0o644, kindFile},
		{"", dataDir, 0o750, kindDir},
		{"", logsDir, 0o750, kindDir},
		{"README.md", docDir + "/README.md", 0o644, kindDoc},
		{"doc/copyright", docDir + "/copyright", 0o644, kindDoc},
	}
	if format == Deb {
		es = append(es, entry{"deb/lintian-overrides", "/usr/share/lintian/overrides/spawnbeat", 0o644, kindFile})
	}
	return es
}

// tarLayout is the tar.gz's content, relative to its top folder: the same
// files, laid out to run from there (path.home is the working directory).
func tarLayout() []entry {
	return []entry{
		{binary, "spawnbeat", 0o755, kindFile},
		{"spawnbeat.yml", "spawnbeat.yml", 0o600, kindFile},
		{"spawnbeat.reference.yml", "spawnbeat.reference.yml", 0o644, kindFile},
		{"", "rules.d", 0o750, kindDir},
		{"systemd/spawnbeat.service", "spawnbeat.service", 0o644, kindFile},
		{"README.md", "README.md", 0o644, kindFile},
		{"doc/copyright", "copyright", 0o644, kindFile},
	}
}

// maintainerScripts maps nfpm's script slots to staged files, per format.
func maintainerScripts(format string) (postInstall, preRemove, postRemove string) {
	if format == Deb {
		return "deb/postinst", "deb/prerm", "deb/postrm"
	}
	return "rpm/post", "rpm/preun", "rpm/postun"
}

// staged is a folder holding every file the packages take from disk.
type staged string

func (s staged) path(name string) string { return filepath.Join(string(s), filepath.FromSlash(name)) }

// stageFiles writes the embedded files, the configuration files the binary
// embeds (so the package's spawnbeat.yml is the repository's one) and the
// README into dir.
func stageFiles(dir, sourceDir string) (staged, error) {
	s := staged(dir)
	err := fs.WalkDir(packagedFiles, "files", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := packagedFiles.ReadFile(p)
		if err != nil {
			return err
		}
		return writeStaged(s, path.Clean(p[len("files/"):]), b)
	})
	if err != nil {
		return "", fmt.Errorf("stage packaging files: %w", err)
	}
	readme, err := os.ReadFile(filepath.Join(sourceDir, "README.md"))
	if err != nil {
		return "", fmt.Errorf("stage README: %w", err)
	}
	for name, b := range map[string][]byte{
		"spawnbeat.yml":           config.DefaultYAML,
		"spawnbeat.reference.yml": config.ReferenceYAML,
		"README.md":               readme,
	} {
		if err := writeStaged(s, name, b); err != nil {
			return "", fmt.Errorf("stage %s: %w", name, err)
		}
	}
	return s, nil
}

func writeStaged(s staged, name string, b []byte) error {
	p := s.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}
