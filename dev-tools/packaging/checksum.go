package packaging

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeChecksum writes path.sha512 in sha512sum's format, as Beats publish
// theirs ("<hex>  <file name>"), so that `sha512sum -c` checks the package
// beside it, and returns its path.
func writeChecksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	sum := path + ".sha512"
	line := hex.EncodeToString(h.Sum(nil)) + "  " + filepath.Base(path) + "\n"
	if err := os.WriteFile(sum, []byte(line), 0o644); err != nil {
		return "", fmt.Errorf("write checksum: %w", err)
	}
	return sum, nil
}
