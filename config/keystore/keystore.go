package keystore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// FileName is the keystore's name under path.data.
const FileName = "spawnbeat.keystore"

// Format v1: the header line, then base64(salt | nonce | AES-256-GCM
// ciphertext of the JSON secrets) and a newline. The header is the GCM
// additional data, so it cannot be changed without the file failing to open.
// Salt, nonce, derivation and iterations are Beats' (libbeat/keystore).
const (
	magic      = "spawnbeat keystore "
	version    = "v1"
	header     = magic + version + "\n"
	saltLen    = 64
	nonceLen   = 12
	iterations = 10000
	keyLen     = 32 // AES-256

	// password is empty, as Beats': the file mode is the protection.
	password = ""

	// MaxValueLen bounds one secret; MaxFileLen the file, so that a stray
	// file at the keystore's path is refused rather than read whole.
	MaxValueLen = 64 << 10
	MaxFileLen  = 1 << 20
)

// Errors, for errors.Is. A keystore that does not exist is fs.ErrNotExist.
var (
	ErrCorrupt  = errors.New("not a readable spawnbeat keystore")
	ErrInsecure = errors.New("keystore permissions too open")
	ErrExists   = errors.New("keystore already exists")
	ErrKey      = errors.New("invalid key name")
	ErrValue    = errors.New("invalid secret value")
)

// Store is a keystore read into memory. It is not safe for concurrent use:
// the command or the config load that opened it owns it. Values handed out
// are copies.
type Store struct {
	path    string
	secrets map[string][]byte
}

// New returns an empty keystore that Save writes to path.
func New(path string) *Store {
	return &Store{path: path, secrets: map[string][]byte{}}
}

// Open reads the keystore at path. With strictPerms it refuses a file that
// group or others can read or write, or that neither root nor the current
// user owns, as Beats do. A missing file is an error that wraps
// fs.ErrNotExist.
func Open(path string, strictPerms bool) (*Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open keystore: %w", err)
	}
	defer f.Close()
	if strictPerms {
		if err := checkPerms(f); err != nil {
			return nil, err
		}
	}
	raw, err := io.ReadAll(io.LimitReader(f, MaxFileLen+1))
	if err != nil {
		return nil, fmt.Errorf("read keystore %s: %w", path, err)
	}
	if len(raw) > MaxFileLen {
		return nil, fmt.Errorf("keystore %s: larger than %d MiB: %w", path, MaxFileLen>>20, ErrCorrupt)
	}
	secrets, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("keystore %s: %w", path, err)
	}
	return &Store{path: path, secrets: secrets}, nil
}

// Exists reports whether a file is at path. Errors other than "no such
// file" (a directory that cannot be searched) are returned.
func Exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("keystore: %w", err)
}

func checkPerms(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat keystore: %w", err)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return fmt.Errorf("keystore %s can be read or written by group or others (mode %#o): %w; run `chmod 600 %s`, or start with --strict.perms=false",
			f.Name(), mode, ErrInsecure, f.Name())
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok && s.Uid != 0 && int(s.Uid) != os.Geteuid() {
		return fmt.Errorf("keystore %s is owned by uid %d, neither root nor the user running spawnbeat: %w; use --strict.perms=false to allow it",
			f.Name(), s.Uid, ErrInsecure)
	}
	return nil
}

// Path is where the keystore is read from and saved to.
func (s *Store) Path() string { return s.path }

// Keys returns the key names, sorted.
func (s *Store) Keys() []string {
	keys := make([]string, 0, len(s.secrets))
	for k := range s.secrets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Has reports whether key is in the keystore.
func (s *Store) Has(key string) bool {
	_, ok := s.secrets[key]
	return ok
}

// Values returns every key with its value, for the configuration's
// ${KEY} references.
func (s *Store) Values() map[string]string {
	m := make(map[string]string, len(s.secrets))
	for k, v := range s.secrets {
		m[k] = string(v)
	}
	return m
}

// Set stores value under key, replacing any value it had.
func (s *Store) Set(key string, value []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	switch {
	case len(value) == 0:
		return fmt.Errorf("%s: empty value: %w", key, ErrValue)
	case len(value) > MaxValueLen:
		return fmt.Errorf("%s: value longer than %d KiB: %w", key, MaxValueLen>>10, ErrValue)
	}
	s.secrets[key] = bytes.Clone(value)
	return nil
}

// Delete removes key and reports whether it was there.
func (s *Store) Delete(key string) bool {
	_, ok := s.secrets[key]
	delete(s.secrets, key)
	return ok
}

// CheckKey accepts the names that a ${KEY} reference can name on its own:
// a letter or underscore, then letters, digits, underscores and hyphens. A
// dot would make go-ucfg look for a nested setting, and ":" or "}" end the
// reference.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key: %w", ErrKey)
	}
	for i, c := range key {
		ok := c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') ||
			(i > 0 && (c == '-' || ('0' <= c && c <= '9')))
		if !ok {
			return fmt.Errorf("%q: a key is a letter or _, then letters, digits, _ and -: %w", key, ErrKey)
		}
	}
	return nil
}

// Save writes the keystore atomically with mode 0600, creating its
// directory (0750) if needed: a temporary file in the same directory is
// written, synced and renamed over the keystore, then the directory is
// synced so that the rename survives a crash.
func (s *Store) Save() error {
	data, err := encode(s.secrets)
	if err != nil {
		return fmt.Errorf("save keystore %s: %w", s.path, err)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("save keystore: %w", err)
	}
	// CreateTemp makes the file 0600 before anything is written to it.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save keystore: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("save keystore: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("save keystore: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save keystore: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("save keystore: %w", err)
	}
	committed = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save keystore: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save keystore: sync directory %s: %w", dir, err)
	}
	return nil
}

// encode seals the secrets: header, then base64(salt | nonce | ciphertext).
func encode(secrets map[string][]byte) ([]byte, error) {
	plain, err := json.Marshal(secrets)
	if err != nil {
		return nil, fmt.Errorf("encode secrets: %w", err)
	}
	salt := make([]byte, saltLen, saltLen+nonceLen+len(plain)+16)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("random salt: %w", err)
	}
	gcm, err := newGCM(salt)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("random nonce: %w", err)
	}
	sealed := gcm.Seal(append(salt, nonce...), nonce, plain, []byte(header))
	out := make([]byte, 0, len(header)+base64.StdEncoding.EncodedLen(len(sealed))+1)
	out = append(out, header...)
	out = base64.StdEncoding.AppendEncode(out, sealed)
	out = append(out, '\n')
	if len(out) > MaxFileLen {
		return nil, fmt.Errorf("the keystore would exceed %d MiB: %w", MaxFileLen>>20, ErrValue)
	}
	return out, nil
}

func decode(raw []byte) (map[string][]byte, error) {
	body, ok := bytes.CutPrefix(raw, []byte(header))
	if !ok {
		if v, found := bytes.CutPrefix(raw, []byte(magic)); found {
			v, _, _ = bytes.Cut(v, []byte("\n"))
			v = v[:min(len(v), 16)]
			return nil, fmt.Errorf("format %q, this spawnbeat reads %q: %w", v, version, ErrCorrupt)
		}
		return nil, fmt.Errorf("no keystore header: %w", ErrCorrupt)
	}
	sealed, err := base64.StdEncoding.AppendDecode(nil, bytes.TrimSpace(body))
	if err != nil {
		return nil, fmt.Errorf("damaged (%w): %w", err, ErrCorrupt)
	}
	if len(sealed) < saltLen+nonceLen+16 {
		return nil, fmt.Errorf("damaged (truncated): %w", ErrCorrupt)
	}
	salt, nonce, ciphertext := sealed[:saltLen], sealed[saltLen:saltLen+nonceLen], sealed[saltLen+nonceLen:]
	gcm, err := newGCM(salt)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, []byte(header))
	if err != nil {
		return nil, fmt.Errorf("damaged (it does not decrypt: %w): %w", err, ErrCorrupt)
	}
	secrets := map[string][]byte{}
	if err := json.Unmarshal(plain, &secrets); err != nil {
		return nil, fmt.Errorf("damaged (%w): %w", err, ErrCorrupt)
	}
	return secrets, nil
}

func newGCM(salt []byte) (cipher.AEAD, error) {
	key, err := pbkdf2.Key(sha512.New, password, salt, iterations, keyLen)
	if err != nil {
		return nil, fmt.Errorf("derive keystore key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keystore cipher: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keystore cipher: %w", err)
	}
	return gcm, nil
}
