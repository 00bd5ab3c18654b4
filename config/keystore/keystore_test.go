package keystore

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func path(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "data", FileName)
}

// saved writes a keystore with secrets and returns its path.
func saved(t *testing.T, secrets map[string]string) string {
	t.Helper()
	p := path(t)
	s := New(p)
	for k, v := range secrets {
		if err := s.Set(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	want := map[string]string{
		"ES_PWD":   "hunter2",
		"LEADING0": "0123",          // stays a string
		"SPACES":   "  a b  ",       // kept as is
		"REF":      "${HOME}",       // not a reference
		"BINARY":   "\x00\xff\n\r!", // any bytes
		"_x-y":     strings.Repeat("z", MaxValueLen),
	}
	p := saved(t, want)
	s, err := Open(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, s.Values()); diff != "" {
		t.Errorf("values after a round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"BINARY", "ES_PWD", "LEADING0", "REF", "SPACES", "_x-y"}, s.Keys()); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if s.Path() != p {
		t.Errorf("Path() = %q, want %q", s.Path(), p)
	}
}

func TestFileModeAndNoPlaintext(t *testing.T) {
	old := setUmask(0)
	defer setUmask(old)
	p := saved(t, map[string]string{"ES_PWD": "plain-secret-value"})
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("keystore mode %#o, want 0600 (even with umask 0)", mode)
	}
	dir, err := os.Stat(filepath.Dir(p))
	if err != nil {
		t.Fatal(err)
	}
	if mode := dir.Mode().Perm(); mode != 0o750 {
		t.Errorf("created directory mode %#o, want 0750", mode)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte(header)) {
		t.Errorf("file does not start with the header %q: %.40q", header, raw)
	}
	if bytes.Contains(raw, []byte("plain-secret-value")) || bytes.Contains(raw, []byte("ES_PWD")) {
		t.Error("key or value readable in the file")
	}
	// Two saves of the same secrets differ: fresh salt and nonce each time.
	s, err := Open(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(p)
	if bytes.Equal(raw, again) {
		t.Error("two saves wrote the same bytes")
	}
}

func TestSaveIsAtomic(t *testing.T) {
	p := saved(t, map[string]string{"A": "1"})
	s, err := Open(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("B", []byte("2")); err != nil {
		t.Fatal(err)
	}
	// The old file stays reachable through a descriptor opened before the
	// save: rename replaces the name, it does not rewrite the file.
	before, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	oldBytes := new(bytes.Buffer)
	if _, err := oldBytes.ReadFrom(before); err != nil {
		t.Fatal(err)
	}
	if old, err := decode(oldBytes.Bytes()); err != nil || len(old) != 1 {
		t.Errorf("the file open before the save was changed in place: %v, %d keys", err, len(old))
	}
	entries, err := os.ReadDir(filepath.Dir(p))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != FileName {
		t.Errorf("directory after save holds %v, want only %s (no temporary file left)", entries, FileName)
	}
	s, err = Open(p, true)
	if err != nil || !s.Has("A") || !s.Has("B") {
		t.Fatalf("after save: %v, keys %v", err, s.Keys())
	}
}

func TestFailedSaveLeavesNoTrace(t *testing.T) {
	t.Run("rename fails", func(t *testing.T) {
		// A directory where the keystore should be: the rename fails (as
		// root too) after the temporary file was written.
		p := path(t)
		if err := os.MkdirAll(filepath.Join(p, "x"), 0o750); err != nil {
			t.Fatal(err)
		}
		s := New(p)
		_ = s.Set("A", []byte("1"))
		if err := s.Save(); err == nil {
			t.Fatal("save over a directory succeeded")
		}
		entries, _ := os.ReadDir(filepath.Dir(p))
		if len(entries) != 1 || entries[0].Name() != FileName || !entries[0].IsDir() {
			t.Errorf("directory after a failed save holds %v, want only the directory in the way", entries)
		}
	})
	t.Run("too large", func(t *testing.T) {
		p := saved(t, map[string]string{"A": "1"})
		s, err := Open(p, true)
		if err != nil {
			t.Fatal(err)
		}
		for i := range MaxFileLen / MaxValueLen {
			_ = s.Set(fmt.Sprintf("K%d", i), bytes.Repeat([]byte("v"), MaxValueLen))
		}
		if err := s.Save(); !errors.Is(err, ErrValue) {
			t.Fatalf("save past the size limit: %v, want ErrValue", err)
		}
		if s, err := Open(p, true); err != nil || len(s.Keys()) != 1 {
			t.Fatalf("old keystore after a failed save: %v", err)
		}
	})
}

func TestMissing(t *testing.T) {
	_, err := Open(path(t), true)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	ok, err := Exists(path(t))
	if ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
}

func TestPermissions(t *testing.T) {
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		p := saved(t, map[string]string{"A": "1"})
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Open(p, true)
		if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), "--strict.perms=false") {
			t.Errorf("mode %#o: err = %v, want ErrInsecure with the fix", mode, err)
		}
		if _, err := Open(p, false); err != nil {
			t.Errorf("mode %#o without strict perms: %v", mode, err)
		}
	}
	p := saved(t, map[string]string{"A": "1"})
	if err := os.Chmod(p, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, true); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestCorrupt(t *testing.T) {
	good, err := os.ReadFile(saved(t, map[string]string{"ES_PWD": "hunter2"}))
	if err != nil {
		t.Fatal(err)
	}
	body := good[len(header):]
	sealed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no keystore header"},
		{"yaml", []byte("ES_PWD: hunter2\n"), "no keystore header"},
		{"beats keystore", []byte("v1" + string(body)), "no keystore header"},
		{"future version", []byte("spawnbeat keystore v9\n" + string(body)), `format "v9"`},
		{"header only", []byte(header), "truncated"},
		{"not base64", []byte(header + "!!!!\n"), "damaged"},
		{"truncated", []byte(header + base64.StdEncoding.EncodeToString(sealed[:len(sealed)-5])), "does not decrypt"},
		{"one bit flipped", []byte(header + base64.StdEncoding.EncodeToString(flipped)), "does not decrypt"},
		{"header changed", append([]byte("spawnbeat keystore v1 \n"), body...), "format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := path(t)
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(p, true)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("err = %v, want ErrCorrupt naming the file and saying %q", err, tc.want)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	p := path(t)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte("A"), MaxFileLen+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, true); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v", err)
	}
}

func TestKeysAndValues(t *testing.T) {
	s := New(path(t))
	for _, k := range []string{"ES_PWD", "a", "_", "x-1", "Key9"} {
		if err := s.Set(k, []byte("v")); err != nil {
			t.Errorf("Set(%q): %v", k, err)
		}
	}
	for _, k := range []string{"", "1A", "-a", "a.b", "a b", "a:b", "a}", "${A}", "é"} {
		if err := s.Set(k, []byte("v")); !errors.Is(err, ErrKey) {
			t.Errorf("Set(%q) = %v, want ErrKey", k, err)
		}
	}
	if err := s.Set("EMPTY", nil); !errors.Is(err, ErrValue) {
		t.Errorf("empty value: %v", err)
	}
	if err := s.Set("BIG", make([]byte, MaxValueLen+1)); !errors.Is(err, ErrValue) {
		t.Errorf("value over the limit: %v", err)
	}
	v := []byte("abc")
	_ = s.Set("COPY", v)
	v[0] = 'X'
	if got := s.Values()["COPY"]; got != "abc" {
		t.Errorf("Set kept the caller's slice: %q", got)
	}
	if !s.Delete("COPY") || s.Delete("COPY") || s.Has("COPY") {
		t.Error("Delete")
	}
}

func FuzzDecode(f *testing.F) {
	p := filepath.Join(f.TempDir(), FileName)
	s := New(p)
	_ = s.Set("ES_PWD", []byte("hunter2"))
	if err := s.Save(); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	f.Add(good)
	f.Add([]byte(header))
	f.Add([]byte(header + "AAAA\n"))
	f.Add([]byte("v1AAAA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		secrets, err := decode(data)
		if err == nil && secrets == nil {
			t.Fatal("no error and no secrets")
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
	})
}

// BenchmarkOpen is what the keystore adds to every start (and to each
// keystore command): mostly the PBKDF2 derivation, by design.
func BenchmarkOpen(b *testing.B) {
	p := filepath.Join(b.TempDir(), FileName)
	s := New(p)
	for i := range 10 {
		_ = s.Set(fmt.Sprintf("KEY_%d", i), []byte("a-secret-of-moderate-length"))
	}
	if err := s.Save(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(p, true); err != nil {
			b.Fatal(err)
		}
	}
}
