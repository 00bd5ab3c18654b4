package packaging

import (
	"fmt"
	"io"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

const (
	summary     = "Every process start as an ECS document, with inline detection"
	description = `Linux agent in the style of Elastic Beats: it sees every process start
(the kernel's proc connector, a BPF program at each exec, /proc), writes each
as an Elastic Common Schema document with the process's and its parent's
arguments, runs Elastic's EQL detection rules on it inline and ships
everything to Elasticsearch, or to a file.`
	vendor   = "spawnbeat"
	homepage = "https://github.com/spawnbeat/spawnbeat"
	// license is what the RPM's License tag says; see files/doc/copyright.
	license = "LicenseRef-spawnbeat-undeclared"
	// release is the packages' revision: Debian's -1, RPM's Release. The
	// changelog's newest entry names VERSION-release.
	release = "1"
)

// descriptionOf is the package's description: a .deb's starts with its
// synopsis line, an RPM's summary is a tag of its own.
func descriptionOf(format string) string {
	if format == Deb {
		return summary + "\n" + description
	}
	return description
}

// writeNFPM writes the .deb or .rpm of one architecture with nfpm.
func writeNFPM(w io.Writer, format string, stage staged, bin string, arch Arch, opts Options) error {
	var contents files.Contents
	for _, e := range systemLayout(format) {
		c := &files.Content{
			Destination: e.dst,
			FileInfo:    &files.ContentFileInfo{Owner: "root", Group: "root", Mode: e.mode, MTime: opts.MTime},
		}
		switch {
		case e.kind == kindDir:
			c.Type = files.TypeDir
		case e.kind == kindDoc && format == RPM:
			c.Type = files.TypeRPMDoc
		case e.kind == kindDoc:
			c.Type = files.TypeFile
		default:
			c.Type = e.kind
		}
		switch e.src {
		case binary:
			c.Source = bin
		case "":
		default:
			c.Source = stage.path(e.src)
		}
		contents = append(contents, c)
	}
	post, preun, postun := maintainerScripts(format)
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:        Name,
		Arch:        arch.GOARCH,
		Platform:    "linux",
		Version:     opts.Version,
		Release:     release,
		Section:     "admin",
		Priority:    "optional",
		Maintainer:  opts.Maintainer,
		Description: descriptionOf(format),
		Vendor:      vendor,
		Homepage:    homepage,
		License:     license,
		Changelog:   stage.path("doc/changelog.yml"),
		MTime:       opts.MTime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Umask:    0o022,
			Scripts: nfpm.Scripts{
				PostInstall: stage.path(post),
				PreRemove:   stage.path(preun),
				PostRemove:  stage.path(postun),
			},
			RPM: nfpm.RPM{
				Summary:  summary,
				Group:    "System Environment/Daemons",
				Packager: opts.Maintainer,
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return fmt.Errorf("nfpm %s: %w", format, err)
	}
	var p nfpm.Packager = deb.Default
	if format == RPM {
		p = rpm.DefaultRPM
	}
	if err := p.Package(info, w); err != nil {
		return fmt.Errorf("nfpm %s: %w", format, err)
	}
	return nil
}
