package procfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where the kernel's proc file system is normally mounted.
const DefaultRoot = "/proc"

// UserHZ is the unit of the clock-tick fields of /proc (starttime, utime…):
// USER_HZ, fixed at 100 by the kernel ABI on every architecture spawnbeat
// supports. NewFS reads the real value from the auxiliary vector
// (AT_CLKTCK) and falls back to this.
const UserHZ = 100

// atClkTck is AT_CLKTCK from include/uapi/linux/auxvec.h: the frequency of
// times(2), i.e. USER_HZ.
const atClkTck = 17

// Sentinel errors. Compare with errors.Is.
var (
	// ErrGone means the process no longer exists (ENOENT or ESRCH while
	// reading /proc/PID): a normal outcome for short-lived processes.
	ErrGone = errors.New("process gone")
	// ErrMalformed means a /proc file did not have the expected layout.
	ErrMalformed = errors.New("malformed proc file")
	// ErrNotDir means the configured root is not a directory.
	ErrNotDir = errors.New("not a directory")
)

// FS is a proc file system mounted at a root directory. It is a small value,
// safe for concurrent use; the buffers for per-process reads belong to the
// Readers made with NewReader.
type FS struct {
	root string
	hz   uint64
	// live says the root is the proc of this process's PID namespace: its
	// PIDs are the ones system calls take (getpgid, getsid). False for a
	// test tree, or a host's /proc mounted in a container of its own.
	live bool
}

// NewFS returns the proc file system at root ("" means DefaultRoot). The
// root must be a directory.
func NewFS(root string) (FS, error) {
	if root == "" {
		root = DefaultRoot
	}
	fi, err := os.Stat(root)
	if err != nil {
		return FS{}, fmt.Errorf("open proc root %s: %w", root, err)
	}
	if !fi.IsDir() {
		return FS{}, fmt.Errorf("open proc root %s: %w", root, ErrNotDir)
	}
	root = filepath.Clean(root)
	return FS{root: root, hz: clockTicks(), live: ownsPIDs(root)}, nil
}

// ownsPIDs reports whether the proc file system at root numbers processes
// as this process's PID namespace does: its self link names our PID.
func ownsPIDs(root string) bool {
	self, err := os.Readlink(filepath.Join(root, "self"))
	return err == nil && self == strconv.Itoa(os.Getpid())
}

// clockTicks returns AT_CLKTCK from this process's auxiliary vector, or
// UserHZ when it is missing.
func clockTicks() uint64 {
	auxv, err := unix.Auxv()
	if err != nil {
		return UserHZ
	}
	for _, kv := range auxv {
		if kv[0] == atClkTck && kv[1] > 0 {
			return uint64(kv[1])
		}
	}
	return UserHZ
}

// Root returns the directory the FS reads.
func (fs FS) Root() string { return fs.root }

// ClockTicks returns the number of clock ticks per second of the tick fields
// (Stat.StartTicks).
func (fs FS) ClockTicks() uint64 { return fs.hz }

// StartTime converts a start time in clock ticks after boot to wall-clock
// time, given the boot time.
func (fs FS) StartTime(boot time.Time, ticks uint64) time.Time {
	hz := fs.hz
	if hz == 0 {
		hz = UserHZ
	}
	sec := ticks / hz
	nsec := (ticks % hz) * uint64(time.Second) / hz
	return boot.Add(time.Duration(sec)*time.Second + time.Duration(nsec)) // ticks since boot fit easily
}

// BootTime returns the boot time from the btime line of <root>/stat. The
// kernel reports it in whole seconds.
func (fs FS) BootTime() (time.Time, error) {
	name := filepath.Join(fs.root, "stat")
	b, err := os.ReadFile(name)
	if err != nil {
		return time.Time{}, fmt.Errorf("read boot time %s: %w", name, err)
	}
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			sec, ok := parseInt(bytes.TrimSpace(v))
			if !ok || sec <= 0 {
				return time.Time{}, fmt.Errorf("read boot time %s: bad btime %q: %w", name, v, ErrMalformed)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("read boot time %s: no btime line: %w", name, ErrMalformed)
}

// PIDs appends the PIDs of the processes (thread-group leaders) in the root
// to dst[:0] and returns it, in directory order. Entries that are not
// numeric directories (self, sys, net…) are skipped.
func (fs FS) PIDs(dst []int) ([]int, error) {
	dst = dst[:0]
	fd, err := unix.Open(fs.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return dst, fmt.Errorf("list pids %s: %w", fs.root, err)
	}
	defer unix.Close(fd) // read-only directory
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return dst, fmt.Errorf("list pids %s: %w", fs.root, err)
		}
		if n <= 0 {
			return dst, nil
		}
		dst = appendDirentPIDs(dst, buf[:n])
	}
}

// appendDirentPIDs appends the numeric directory names of a buffer of
// linux_dirent64 records (include/linux/dirent.h): d_ino u64, d_off s64,
// d_reclen u16, d_type u8, d_name NUL-terminated.
func appendDirentPIDs(dst []int, b []byte) []int {
	const nameOff = 19
	for len(b) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < nameOff || reclen > len(b) {
			return dst
		}
		typ := b[18]
		name := b[nameOff:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if typ == unix.DT_DIR || typ == unix.DT_UNKNOWN {
			if v, ok := parseUint(name); ok && v > 0 && v <= 1<<31-1 && name[0] != '0' {
				dst = append(dst, int(v))
			}
		}
		b = b[reclen:]
	}
	return dst
}
