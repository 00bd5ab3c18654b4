package procfs

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw *at system calls on NUL-terminated byte paths. unix.Openat and
// unix.Readlinkat copy their string argument to the heap on every call; the
// per-exec read path avoids that by building its paths in buffers the Reader
// reuses (see Reader.cpath).

// openat opens the NUL-terminated path relative to dirfd read-only.
func openat(dirfd int, path []byte, flags int) (int, error) {
	for {
		r, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd),
			uintptr(unsafe.Pointer(&path[0])), uintptr(flags|unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(r), nil
	}
}

// readlinkat reads the target of the NUL-terminated path relative to dirfd
// into buf and returns its length.
func readlinkat(dirfd int, path []byte, buf []byte) (int, error) {
	r, _, errno := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd),
		uintptr(unsafe.Pointer(&path[0])), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// readAt reads the file at the NUL-terminated path relative to dirfd into
// buf[:0], growing it up to limit bytes. It returns the bytes read and
// whether the file held more than limit bytes.
func readAt(dirfd int, path []byte, buf []byte, limit int) ([]byte, bool, error) {
	fd, err := openat(dirfd, path, 0)
	if err != nil {
		return buf[:0], false, err
	}
	b, more, err := readFD(fd, buf, limit)
	_ = unix.Close(fd) // read-only: nothing to lose on close
	return b, more, err
}

// readFD reads fd until EOF or limit bytes into buf[:0], growing buf as
// needed. /proc files report size 0, so the end is found by reading. A read
// that returns less than asked is taken as the end, which saves the final
// empty read: the per-process files fill a read as far as their content
// goes (single_open seq_files for stat and status, get_mm_cmdline's loop
// for cmdline; a setproctitle title is at most one page and returned
// whole), as do regular files.
func readFD(fd int, buf []byte, limit int) ([]byte, bool, error) {
	b := buf[:0]
	for {
		if len(b) == cap(b) {
			if len(b) >= limit+1 {
				return b[:limit], true, nil
			}
			n := min(2*cap(b)+512, limit+1)
			nb := make([]byte, len(b), n)
			copy(nb, b)
			b = nb
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return b, false, err
		}
		if n == 0 {
			if len(b) > limit {
				return b[:limit], true, nil
			}
			return b, false, nil
		}
		short := n < cap(b)-len(b)
		b = b[:len(b)+n]
		if short {
			if len(b) > limit {
				return b[:limit], true, nil
			}
			return b, false, nil
		}
	}
}
