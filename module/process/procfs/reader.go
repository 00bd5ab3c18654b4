package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// DefaultMaxArgBytes is the default cap on the bytes of a cmdline that Read
// keeps. 32 KiB holds every ordinary command line whole (a shell's typical
// ARG_MAX use is a few hundred bytes; a long compiler or java command line
// a few KiB), while a hostile multi-megabyte argv costs a bounded read and a
// bounded document; the rest is dropped with Process.ArgsTruncated set.
const DefaultMaxArgBytes = 32 << 10

// MaxArgBytesLimit is the largest cap NewReader accepts; larger values are
// lowered to it. The kernel limits argv plus environment to a quarter of the
// stack rlimit (2 MiB with the usual 8 MiB stack), so 4 MiB covers any argv
// a default system can exec.
const MaxArgBytesLimit = 4 << 20

// maxFileBytes bounds the bytes read from stat and status. A status file
// with a huge Groups line is cut at a line boundary; the lines parsed come
// before it.
const maxFileBytes = 64 << 10

// maxLinkBytes bounds a readlink target: PATH_MAX (4096) plus the
// " (deleted)" suffix, with room to spare.
const maxLinkBytes = 8 << 10

// deletedSuffix is what d_path appends to the path of an unlinked file
// (fs/d_path.c).
const deletedSuffix = " (deleted)"

// ErrBadPID means a PID that cannot name a process (zero or negative).
var ErrBadPID = errors.New("invalid pid")

// Reader reads processes from an FS into buffers it owns and reuses across
// calls, so that a read allocates only the strings it returns. A Reader is
// not safe for concurrent use: give each goroutine its own.
type Reader struct {
	fs     FS
	maxArg int

	path []byte // NUL-terminated path of /proc/PID/<file>
	dir  int    // length of the /proc/PID/ prefix in path
	buf  []byte // stat and status contents
	args []byte // cmdline contents, at most maxArg+1 bytes
	link []byte // readlink target
	str  []byte // comm, exe, cwd and cmdline, made into one string
}

// NewReader returns a Reader that keeps at most maxArgBytes bytes of each
// cmdline (DefaultMaxArgBytes when maxArgBytes <= 0, at most
// MaxArgBytesLimit).
func (fs FS) NewReader(maxArgBytes int) *Reader {
	if maxArgBytes <= 0 {
		maxArgBytes = DefaultMaxArgBytes
	}
	maxArgBytes = min(maxArgBytes, MaxArgBytesLimit)
	return &Reader{
		fs:     fs,
		maxArg: maxArgBytes,
		path:   make([]byte, 0, len(fs.root)+32),
		buf:    make([]byte, 0, 4<<10),
		args:   make([]byte, 0, min(maxArgBytes+1, 4<<10)),
		link:   make([]byte, 4<<10+64),
		str:    make([]byte, 0, 4<<10),
	}
}

// MaxArgBytes returns the Reader's cap on cmdline bytes.
func (r *Reader) MaxArgBytes() int { return r.maxArg }

// ReadStat reads only /proc/PID/stat into s: the cheap read for a scan. It
// returns an error wrapping ErrGone when the process does not exist.
func (r *Reader) ReadStat(pid int, s *Stat) error {
	*s = Stat{}
	if pid <= 0 {
		return fmt.Errorf("read stat of %d: %w", pid, ErrBadPID)
	}
	b, _, err := readFile(r.pidPath(pid, "/stat"), r.buf, maxFileBytes, false)
	r.buf = b[:0]
	if err != nil {
		return wrapRead(pid, "stat", err)
	}
	comm, err := parseStat(b, s)
	if err != nil {
		return fmt.Errorf("read process %d: %w", pid, err)
	}
	if s.PID != pid {
		return fmt.Errorf("read process %d: stat names pid %d: %w", pid, s.PID, ErrMalformed)
	}
	s.Comm = string(comm)
	return nil
}

// Read reads process pid into p, which it overwrites. It returns nil
// whenever cmdline or stat could be read; p.ReadState then says how much
// else was (complete, zombie, exited mid-read, partial). It returns an
// error wrapping ErrGone when the process does not exist, ErrMalformed when
// a file is not what the kernel writes, or the system error of a failed read.
// With /proc mounted hidepid=invisible, other users' processes are
// indistinguishable from gone ones.
//
// The order races the process's exit: cmdline, exe and cwd vanish when it
// exits (exit_mm, exit_fs), so cmdline — the arguments, which the rules
// match on — comes first, then stat, which tells a zombie or a kernel
// thread, then exe and cwd; status, which a zombie still shows, comes
// last. Each file is opened by path: a directory descriptor would pin the
// process across the reads but cost two more system calls, and a PID is
// only reused after the kernel has cycled through every other one.
// After an error p holds only the PID.
func (r *Reader) Read(pid int, p *Process) error {
	return r.readProcess(pid, p, false)
}

// ReadExec is Read for a process that just exec'd. It skips status: the
// caller knows the credentials from the kernel's events (a fork copies
// them, and every change is announced), and status is the costliest file
// to read; p.Missing has PartStatus, and ReadStatus reads it when needed.
// And it reads cmdline with a raw system call (see sys.go): the exec has
// just written the arguments to the new stack, so they are in memory, and
// only the process's own loader holds its mmap lock, briefly.
//
// When the FS numbers processes as our PID namespace does, and cmdline,
// exe and cwd are all there (the process is alive), it skips stat too:
// opening and formatting it costs as much as cmdline. getpgid and getsid
// give PGID and SID, exact and cheap; the start, the parent and the
// terminal are what the caller's process table knows from the fork, and
// ReadStat reads them when it does not. p.Missing then has PartStat. A
// process found exiting takes Read's path, stat included.
func (r *Reader) ReadExec(pid int, p *Process) error {
	return r.readProcess(pid, p, true)
}

func (r *Reader) readProcess(pid int, p *Process, execd bool) error {
	*p = Process{Stat: Stat{PID: pid}}
	if err := r.read(pid, p, execd); err != nil {
		*p = Process{Stat: Stat{PID: pid}}
		return err
	}
	return nil
}

// ReadCmdline reads only /proc/PID/cmdline, at the Reader's cap, into
// arguments as Read does: nil for an empty cmdline (a zombie's);
// truncated says it went on past the cap, rewritten that the process
// replaced its argv with a title. It returns an error wrapping ErrGone
// when the process does not exist.
func (r *Reader) ReadCmdline(pid int) (args []string, truncated, rewritten bool, err error) {
	if pid <= 0 {
		return nil, false, false, fmt.Errorf("read process %d: %w", pid, ErrBadPID)
	}
	b, more, err := readFile(r.pidPath(pid, "/cmdline"), r.args, r.maxArg, false)
	r.args = b[:0]
	if err != nil {
		return nil, false, false, wrapRead(pid, "cmdline", err)
	}
	args, rewritten = SplitCmdline(b, more)
	return args, more && args != nil, rewritten, nil
}

// ReadStatus reads the credentials of process pid from status into p,
// clearing PartStatus from p.Missing. It returns an error wrapping ErrGone
// when the process no longer exists.
func (r *Reader) ReadStatus(pid int, p *Process) error {
	if pid <= 0 {
		return fmt.Errorf("read process %d: %w", pid, ErrBadPID)
	}
	r.pidPath(pid, "/")
	if err := r.readStatus(pid, p); err != nil {
		return err
	}
	p.Missing &^= PartStatus
	return nil
}

func (r *Reader) read(pid int, p *Process, execd bool) error {
	if pid <= 0 {
		return fmt.Errorf("read process %d: %w", pid, ErrBadPID)
	}
	r.pidPath(pid, "/")
	// cmdline first: of what a short-lived process loses at exit, its
	// arguments matter most (rules match on them).
	args, more, argsErr := readFile(r.file("cmdline"), r.args, r.maxArg, !execd)
	r.args = args[:0]
	if isGone(argsErr) {
		return wrapRead(pid, "cmdline", argsErr)
	}
	var cl cmdline
	if argsErr == nil && len(args) > 0 {
		cl = splitCmdline(args, more)
		p.ArgsTruncated = more
		p.ArgsRewritten = cl.rewritten
	}
	if execd && cl.known && r.fs.live && r.readLive(pid, p, cl) {
		return nil
	}
	b, _, err := readFile(r.file("stat"), r.buf, maxFileBytes, false)
	r.buf = b[:0]
	if isGone(err) && cl.known {
		// Reaped right after its arguments were read: keep them.
		p.Missing |= PartStat | PartStatus | PartExe | PartCwd
		p.ReadState = ReadExited
		l := r.startStr(nil, cl)
		l.exe, l.cwd = l.argEnd, l.argEnd
		r.finish(p, l, cl)
		return nil
	}
	if err != nil {
		return wrapRead(pid, "stat", err)
	}
	comm, err := parseStat(b, &p.Stat)
	if err != nil {
		return fmt.Errorf("read process %d: %w", pid, err)
	}
	if p.Stat.PID != pid {
		return fmt.Errorf("read process %d: stat names pid %d: %w", pid, p.Stat.PID, ErrMalformed)
	}
	// str holds comm, then the cmdline bytes, then exe, then cwd; comm is
	// copied out before buf is reused for status.
	l := r.startStr(comm, cl)

	if p.IsZombie() {
		// exe and cwd are unreadable once exit_mm and exit_fs have run,
		// and so is cmdline, unless it was read just before; the
		// credentials are still there.
		p.Missing |= PartExe | PartCwd
		if !cl.known {
			p.Missing |= PartCmdline
		}
		p.ReadState = ReadZombie
		if err := r.statusIf(!execd, pid, p); errors.Is(err, ErrGone) {
			p.ReadState = ReadExited // reaped since
		} else if err != nil {
			return err
		}
		l.exe, l.cwd = l.argEnd, l.argEnd
		r.finish(p, l, cl)
		return nil
	}

	state := ReadComplete
	kthread := p.IsKernelThread()
	anomaly := false // something a live user process always has was missing
	switch {
	case argsErr != nil:
		p.Missing |= PartCmdline
		state = ReadPartial
	case !cl.known && !kthread:
		p.Missing |= PartCmdline
		anomaly = true
	}

	exe, exeErr := r.readlink("exe")
	switch {
	case exeErr == nil:
		if e, ok := bytes.CutSuffix(exe, []byte(deletedSuffix)); ok {
			exe = e
			p.ExeDeleted = true
		}
		r.str = append(r.str, exe...)
	case isGone(exeErr):
		// ENOENT: no mm (kernel thread, or exiting), or reaped.
		if !kthread {
			p.Missing |= PartExe
			anomaly = true
		}
	default:
		p.Missing |= PartExe
		state = ReadPartial
	}
	l.exe = len(r.str)

	cwd, cwdErr := r.readlink("cwd")
	switch {
	case cwdErr == nil:
		r.str = append(r.str, cwd...)
	case isGone(cwdErr):
		p.Missing |= PartCwd
		if !kthread {
			anomaly = true
		}
	default:
		p.Missing |= PartCwd
		state = ReadPartial
	}
	l.cwd = len(r.str)

	switch err := r.statusIf(!execd, pid, p); {
	case errors.Is(err, ErrGone):
		// Reaped since: what was read stands, without credentials.
		p.ReadState = ReadExited
		r.finish(p, l, cl)
		return nil
	case err != nil:
		return err
	}
	if anomaly {
		// Did it exit while we read? Ask stat again.
		state = r.recheck()
	}
	p.ReadState = state
	r.finish(p, l, cl)
	return nil
}

// readLive ends ReadExec's read of a live process without stat (see
// ReadExec): exe, cwd, then the process group and session. It reports
// false, having set nothing in p, when one is missing; the caller then
// reads stat, which tells an exiting process from a part withheld.
func (r *Reader) readLive(pid int, p *Process, cl cmdline) bool {
	l := r.startStr(nil, cl)
	exe, err := r.readlink("exe")
	if err != nil {
		return false
	}
	exe, deleted := bytes.CutSuffix(exe, []byte(deletedSuffix))
	r.str = append(r.str, exe...)
	l.exe = len(r.str)
	cwd, err := r.readlink("cwd")
	if err != nil {
		return false
	}
	r.str = append(r.str, cwd...)
	l.cwd = len(r.str)
	pgid, err := getpgid(pid)
	if err != nil {
		return false
	}
	sid, err := getsid(pid)
	if err != nil {
		return false
	}
	p.PGID, p.SID = pgid, sid
	p.ExeDeleted = deleted
	p.Missing |= PartStat | PartStatus
	p.ReadState = ReadComplete
	r.finish(p, l, cl)
	return true
}

// startStr starts Reader.str with comm and the cmdline bytes, and returns
// their layout.
func (r *Reader) startStr(comm []byte, cl cmdline) layout {
	r.str = append(r.str[:0], comm...)
	l := layout{comm: len(r.str), argStart: len(r.str)}
	r.str = append(r.str, cl.data...)
	l.argEnd = len(r.str)
	return l
}

// statusIf reads status when asked to (see readStatus), and otherwise
// marks it missing.
func (r *Reader) statusIf(read bool, pid int, p *Process) error {
	if !read {
		p.Missing |= PartStatus
		return nil
	}
	return r.readStatus(pid, p)
}

// readStatus reads the credentials from status; when the process is gone
// it marks them missing and returns an error wrapping ErrGone.
func (r *Reader) readStatus(pid int, p *Process) error {
	b, more, err := readFile(r.file("status"), r.buf, maxFileBytes, false)
	r.buf = b[:0]
	switch {
	case isGone(err):
		p.Missing |= PartStatus
		return wrapRead(pid, "status", err)
	case err != nil:
		return fmt.Errorf("read process %d status: %w", pid, err)
	}
	if more {
		// Cut a huge file at its last whole line.
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
		}
	}
	if err := parseStatus(b, &p.Creds); err != nil {
		return fmt.Errorf("read process %d: %w", pid, err)
	}
	return nil
}

// recheck reads stat again after a part a live user process always has
// was missing, to tell an exit during the read (ReadExited; ReadZombie,
// also while still in do_exit) from a live process that withheld it
// (ReadPartial).
func (r *Reader) recheck() ReadState {
	b, _, err := readFile(r.file("stat"), r.buf, maxFileBytes, false)
	r.buf = b[:0]
	if err != nil {
		return ReadExited
	}
	var again Stat
	if _, err := parseStat(b, &again); err == nil && again.IsExiting() {
		return ReadZombie
	}
	return ReadPartial
}

// layout gives the end offsets in Reader.str of comm, exe (after the
// cmdline bytes) and cwd, and where the cmdline bytes lie.
type layout struct {
	comm, exe, cwd   int
	argStart, argEnd int
}

// finish makes the one string all of p's strings are cut from.
func (r *Reader) finish(p *Process, l layout, cl cmdline) {
	if l.exe == 0 {
		// Nothing after comm was read.
		l.argStart, l.argEnd, l.exe, l.cwd = l.comm, l.comm, l.comm, l.comm
	}
	s := string(r.str)
	p.Comm = s[:l.comm]
	p.Exe = s[l.argEnd:l.exe]
	p.Cwd = s[l.exe:l.cwd]
	if cl.known {
		p.Args = cl.args(s[l.argStart:l.argEnd], make([]string, 0, cl.n))
	}
}

// readlink reads the target of the process's link name into the Reader's
// link buffer, growing it for long targets.
func (r *Reader) readlink(name string) ([]byte, error) {
	for {
		n, err := readlink(r.file(name), r.link)
		if err != nil {
			return nil, err
		}
		if n < len(r.link) || len(r.link) >= maxLinkBytes {
			return r.link[:n], nil
		}
		r.link = make([]byte, min(2*len(r.link), maxLinkBytes))
	}
}

// pidPath builds the NUL-terminated path <root>/PID<suffix>, and keeps it
// (without the NUL) as the directory that file names are appended to.
func (r *Reader) pidPath(pid int, suffix string) []byte {
	p := append(r.path[:0], r.fs.root...)
	p = append(p, '/')
	p = strconv.AppendInt(p, int64(pid), 10)
	p = append(p, suffix...)
	r.dir = len(p)
	p = append(p, 0)
	r.path = p
	return p
}

// file returns the NUL-terminated path of name in the directory pidPath
// built last.
func (r *Reader) file(name string) []byte {
	r.path = append(append(r.path[:r.dir], name...), 0)
	return r.path
}

// isGone reports whether err says the process or its file is no longer
// there: ENOENT (reaped, or no mm for exe) or ESRCH (the task went away
// during the read).
func isGone(err error) bool {
	return err == unix.ENOENT || err == unix.ESRCH //nolint:errorlint // raw errno from the syscall
}

// wrapRead wraps a failed read of part of pid, mapping the
// process-is-gone errors to ErrGone.
func wrapRead(pid int, part string, err error) error {
	if isGone(err) {
		return fmt.Errorf("read process %d %s: %w", pid, part, ErrGone)
	}
	return fmt.Errorf("read process %d %s: %w", pid, part, err)
}
