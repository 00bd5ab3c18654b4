package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// DefaultNamesRecheck is how often Names looks at the files' modification
// time at most.
const DefaultNamesRecheck = time.Second

// Names resolves user and group ids to names from <root>/etc/passwd and
// <root>/etc/group, without cgo and without NSS: users that exist only in
// LDAP or sssd are not found, and their documents carry the id alone. The
// tables are reloaded when a file's size, modification time or inode
// changes, checked at most once per recheck interval. Names is safe for
// concurrent use.
type Names struct {
	log     *zap.Logger
	recheck time.Duration

	mu     sync.Mutex
	users  idFile
	groups idFile
}

// idFile is one colon-separated id database (passwd(5), group(5)); both
// have the name in field 1 and the numeric id in field 3.
type idFile struct {
	path    string
	names   map[uint32]string
	checked time.Time
	mod     time.Time
	size    int64
	ino     uint64
	failed  bool // the last load failed; logged once until it succeeds
}

// NewNames returns a name cache over <root>/etc/passwd and
// <root>/etc/group ("" means "/"). recheck <= 0 means DefaultNamesRecheck.
// Nothing is read until the first lookup.
func NewNames(root string, recheck time.Duration, log *zap.Logger) *Names {
	if root == "" {
		root = "/"
	}
	if recheck <= 0 {
		recheck = DefaultNamesRecheck
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Names{
		log:     log.Named("names"),
		recheck: recheck,
		users:   idFile{path: filepath.Join(root, "etc", "passwd")},
		groups:  idFile{path: filepath.Join(root, "etc", "group")},
	}
}

// User returns the name of user uid and whether it is known.
func (n *Names) User(uid uint32) (string, bool) { return n.lookup(&n.users, uid) }

// Group returns the name of group gid and whether it is known.
func (n *Names) Group(gid uint32) (string, bool) { return n.lookup(&n.groups, gid) }

func (n *Names) lookup(f *idFile, id uint32) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	if f.names == nil || now.Sub(f.checked) >= n.recheck {
		f.checked = now
		n.refresh(f)
	}
	name, ok := f.names[id]
	return name, ok
}

// refresh reloads f when the file changed since the last load.
func (n *Names) refresh(f *idFile) {
	fi, err := os.Stat(f.path)
	if err != nil {
		n.failed(f, err)
		return
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	if f.names != nil && fi.ModTime().Equal(f.mod) && fi.Size() == f.size && ino == f.ino {
		return
	}
	names, err := loadIDFile(f.path)
	if err != nil {
		n.failed(f, err)
		return
	}
	f.names, f.mod, f.size, f.ino, f.failed = names, fi.ModTime(), fi.Size(), ino, false
	n.log.Debug("loaded id names", zap.String("path", f.path), zap.Int("entries", len(names)))
}

// failed keeps the last good table (or an empty one) and logs the failure
// once until a load succeeds again.
func (n *Names) failed(f *idFile, err error) {
	if f.names == nil {
		f.names = map[uint32]string{}
	}
	if f.failed {
		return
	}
	f.failed = true
	if errors.Is(err, fs.ErrNotExist) {
		n.log.Debug("id names file missing", zap.String("path", f.path))
		return
	}
	n.log.Warn("cannot read id names", zap.String("path", f.path), zap.Error(err))
}

// loadIDFile parses a passwd- or group-format file: name:password:id:...
// Comment, blank and malformed lines are skipped; the first entry for an id
// wins, as getpwuid(3) does with files.
func loadIDFile(path string) (map[uint32]string, error) {
	f, err := os.Open(path) // path is the configured root's etc file
	if err != nil {
		return nil, err //nolint:wrapcheck // *PathError names the file
	}
	defer f.Close() // read-only
	names := make(map[uint32]string)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if id, name, ok := parseIDLine(sc.Bytes()); ok {
			if _, dup := names[id]; !dup {
				names[id] = string(name)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err //nolint:wrapcheck // caller logs it with the path
	}
	return names, nil
}

// parseIDLine parses one passwd or group line.
func parseIDLine(line []byte) (uint32, []byte, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-' {
		return 0, nil, false // NIS compat entries are not names
	}
	name, rest, ok := bytes.Cut(line, []byte{':'})
	if !ok || len(name) == 0 {
		return 0, nil, false
	}
	_, rest, ok = bytes.Cut(rest, []byte{':'}) // password
	if !ok {
		return 0, nil, false
	}
	idb, _, _ := bytes.Cut(rest, []byte{':'})
	id, ok := parseUint(idb)
	if !ok || id > 1<<32-1 {
		return 0, nil, false
	}
	return uint32(id), name, true
}
