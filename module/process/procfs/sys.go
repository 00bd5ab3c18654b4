package procfs

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The per-exec read path's system calls, on NUL-terminated byte paths that
// the Reader builds in buffers it reuses (unix.Openat and unix.Readlinkat
// copy their string argument to the heap on every call).
//
// They are raw: they do not tell the Go scheduler that the thread is in the
// kernel. A call that does wakes the runtime's monitor thread (sysmon) if
// it sleeps, and sysmon then polls every 20 µs for a while; on the build
// machines' VMs that wake-up and its context switches cost several times
// the call itself: sysmon took a quarter of spawnbeat's CPU in an exec
// storm. Opening, closing and reading stat, status and the links, getpgid
// and getsid return at once. Reading cmdline may not: it reads the process's memory under its
// mmap lock, and may have to fault the arguments' pages in. A raw call
// cannot be stopped for a garbage collection, so a stuck one would stall
// the whole runtime rather than capture alone. So cmdline is read raw only
// for a process that just exec'd (Reader.ReadExec), whose arguments the
// exec has just written; the start-up scan and the poller, which read
// long-running processes, announce it (mayWait).

// atFDCWD is unix.AT_FDCWD as a variable: the negative constant does not
// convert to uintptr.
var atFDCWD = unix.AT_FDCWD

// openFile opens the NUL-terminated path read-only.
func openFile(path []byte) (int, error) {
	for {
		r, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(atFDCWD),
			uintptr(unsafe.Pointer(&path[0])), uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(r), nil
	}
}

// closeFile closes a read-only fd: nothing can be lost, so the error is not
// looked at.
func closeFile(fd int) {
	_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// readlink reads the target of the NUL-terminated path into buf and returns
// its length.
func readlink(path []byte, buf []byte) (int, error) {
	r, _, errno := unix.RawSyscall6(unix.SYS_READLINKAT, uintptr(atFDCWD),
		uintptr(unsafe.Pointer(&path[0])), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// readFile reads the file at the NUL-terminated path into buf[:0], growing
// it up to limit bytes. It returns the bytes read and whether the file held
// more than limit bytes. mayWait marks a read that can block (see above).
func readFile(path []byte, buf []byte, limit int, mayWait bool) ([]byte, bool, error) {
	fd, err := openFile(path)
	if err != nil {
		return buf[:0], false, err
	}
	b, more, err := readFD(fd, buf, limit, mayWait)
	closeFile(fd)
	return b, more, err
}

// readFD reads fd until EOF or limit bytes into buf[:0], growing buf as
// needed. /proc files report size 0, so the end is found by reading. A read
// that returns less than asked is taken as the end, which saves the final
// empty read: the per-process files fill a read as far as their content
// goes (single_open seq_files for stat and status, get_mm_cmdline's loop
// for cmdline; a setproctitle title is at most one page and returned
// whole), as do regular files.
func readFD(fd int, buf []byte, limit int, mayWait bool) ([]byte, bool, error) {
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
		n, err := read(fd, b[len(b):cap(b)], mayWait)
		if errors.Is(err, unix.EINTR) {
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

// read is read(2) into the non-empty p, announced to the scheduler only if
// it mayWait.
func read(fd int, p []byte, mayWait bool) (int, error) {
	call := unix.RawSyscall
	if mayWait {
		call = unix.Syscall
	}
	r, _, errno := call(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// getpgid and getsid return the process group and the session of process
// pid of our PID namespace, as the kernel holds them now.
func getpgid(pid int) (int, error) { return idOf(unix.SYS_GETPGID, pid) }
func getsid(pid int) (int, error)  { return idOf(unix.SYS_GETSID, pid) }

func idOf(call uintptr, pid int) (int, error) {
	r, _, errno := unix.RawSyscall(call, uintptr(pid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
