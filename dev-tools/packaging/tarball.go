package packaging

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"time"
)

// tarTop is the tar.gz's top folder, its name without .tar.gz.
func tarTop(version string, a Arch) string {
	return fmt.Sprintf("%s-%s-linux-%s", Name, version, a.Tar)
}

// writeTarGz writes the tar.gz: tarLayout under top/, owned by root.
func writeTarGz(w io.Writer, top string, stage staged, bin string, mtime time.Time) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	add := func(h *tar.Header, src string) error {
		h.Uname, h.Gname, h.ModTime, h.Format = "root", "root", mtime, tar.FormatPAX
		if src == "" {
			return tw.WriteHeader(h)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	}
	if err := add(&tar.Header{Typeflag: tar.TypeDir, Name: top + "/", Mode: 0o755}, ""); err != nil {
		return err
	}
	for _, e := range tarLayout() {
		name := path.Join(top, e.dst)
		var err error
		switch e.src {
		case "":
			err = add(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: int64(e.mode)}, "")
		case binary:
			err = add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(e.mode)}, bin)
		default:
			err = add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(e.mode)}, stage.path(e.src))
		}
		if err != nil {
			return fmt.Errorf("tar %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
