package execargs

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// The record's layout, as bpf2go generated it from exec.c's struct
// exec_header: the header, then the exe's and the cwd's paths, then the
// argument bytes (see exec.c).
const (
	headerLen = int(unsafe.Sizeof(execExecHeader{}))
	commLen   = len(execExecHeader{}.Comm) // TASK_COMM_LEN
	// dataMax is the room after the header: pathsMax for the paths, the
	// rest for the arguments; argument lists longer than argsMax arrive
	// cut (see Tap.Take).
	dataMax  = len(execExecRecord{}.Data)
	pathsMax = 4 << 10 // exec.c's PATHS_MAX
	argsMax  = dataMax - pathsMax

	flagExe  = execExecFlagEXEC_FLAG_EXE
	flagCwd  = execExecFlagEXEC_FLAG_CWD
	flagIDs  = execExecFlagEXEC_FLAG_IDS
	flagWake = execExecFlagEXEC_FLAG_WAKE
)

// maxPending and maxPendingBytes bound the records read from the ring
// that no exec event has claimed yet, and their bytes (a storm of long
// command lines while the kernel drops exec events); expireAfter is how
// much older than the exec event at hand a record may be before it is
// given up (its event was lost). Its own event comes microseconds after
// it.
const (
	maxPending      = 4096
	maxPendingBytes = 4 << 20
	expireAfter     = 5e9 // ns
)

// Image is what the kernel held of an exec'd process at its exec: its
// argument list (NUL-terminated arguments, as /proc/PID/cmdline shows
// them, and whether the list went on past them), its comm then (the
// file's name, cut to 15 bytes), and, where the program could tell them,
// the executable's path, the working directory, the process group, the
// session and the controlling terminal. Its slices are the Tap's, valid
// until the next Take.
type Image struct {
	Args     []byte
	Cut      bool
	Comm     []byte
	Exe, Cwd []byte // nil when not known
	IDs      bool   // PGID, SID and TTY are known
	PGID     int
	SID      int
	TTY      uint32 // the controlling terminal as /proc/PID/stat's tty_nr; 0 for none
}

// Tap is the loaded program and the records it wrote. Take is called by
// one goroutine; Stats by any.
type Tap struct {
	objs   execObjects
	link   link.Link
	ring   *ring
	keepFn func(rec []byte)

	pending []record // read from the ring, not yet claimed
	arena   []byte   // their bytes: comm, paths, then the arguments
	paths   []byte   // the paths of the last Take, joined

	// wakes counts the pending records that woke the reader (flagWake)
	// and no event has claimed yet (Waiting).
	wakes int

	taken, cut, missed, expired, woke atomic.Uint64
	mu                                sync.Mutex // Close against Stats' read of the program
	closed                            bool
}

// record is one exec's record, its bytes in Tap.arena: the comm, the
// paths' components, then the arguments copied.
type record struct {
	time        uint64
	tgid        uint32
	full        uint32 // the argument block's length in the process
	pgid, sid   uint32
	tty         uint32
	flags       execExecFlag
	exeN, pathN int  // the exe's bytes, and the exe's and cwd's, after the comm
	off, n      int  // the record's bytes in the arena
	copied      bool // the arguments were copied
	wake        bool // a watched name: the record woke the reader
	done        bool // claimed or expired: dropped at the next Take
}

// Stats are a Tap's counters.
type Stats struct {
	Taken   uint64 // exec events paired with their record
	Cut     uint64 // of those, argument lists longer than a record holds (/proc is read for the rest)
	Missed  uint64 // exec events without a usable record (a full ring, or a failed copy)
	Expired uint64 // records no exec event claimed (the kernel dropped the event)
	Woke    uint64 // records of execs with a watched name, which woke the reader (SetWake)
	// The program's run time (ns) and runs, charged to the exec'ing
	// processes: counted by the kernel only while the sysctl
	// kernel.bpf_stats_enabled is 1 (it costs a clock read per run).
	ProgramNS, ProgramRuns uint64
}

// Open loads the program and attaches it. The loader relocates its
// reads of kernel structs against the running kernel's BTF (CO-RE). The
// error says what the kernel or the process lacks.
func Open() (*Tap, error) {
	t := &Tap{}
	if err := t.load(); err != nil {
		_ = t.Close()
		if errors.Is(err, unix.EPERM) {
			// cilium/ebpf's own hint blames RLIMIT_MEMLOCK, which memory
			// cgroups replaced in 5.11; a capability is what lacks.
			err = fmt.Errorf("%w; loading it needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)", err)
		}
		return nil, err
	}
	t.keepFn = t.keep
	return t, nil
}

func (t *Tap) load() error {
	if err := loadExecObjects(&t.objs, nil); err != nil {
		return fmt.Errorf("load the exec program: %w", err)
	}
	var err error
	t.link, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_process_exec", Program: t.objs.ExecImage})
	if err != nil {
		return fmt.Errorf("attach to sched_process_exec: %w", err)
	}
	t.ring, err = mapRing(t.objs.ExecRing.FD(), int(t.objs.ExecRing.MaxEntries()))
	return err
}

// Take returns what the record of the exec of process tgid that the proc
// connector reported at kernel time at says, valid until the next Take:
// its arguments, whether the list went on past them, its comm, and, where
// the program could tell them, its executable, working directory, process
// group and session. ok is false when there is no usable record for it.
func (t *Tap) Take(tgid int, at uint64) (im Image, ok bool) {
	t.compact()
	t.ring.each(t.keepFn)
	best := -1
	for i := range t.pending {
		r := &t.pending[i]
		switch {
		case r.done:
		case r.time+expireAfter < at:
			t.finish(r)
			t.expired.Add(1)
		case r.tgid == uint32(tgid) && r.time <= at:
			// The latest exec of tgid up to at is this event's; an
			// earlier one's event is past (handled, or lost).
			if best >= 0 {
				t.finish(&t.pending[best])
			}
			best = i
		}
	}
	if best < 0 {
		t.missed.Add(1)
		return Image{}, false
	}
	r := &t.pending[best]
	t.finish(r)
	if !r.copied {
		t.missed.Add(1)
		return Image{}, false
	}
	t.taken.Add(1)
	b := t.arena[r.off : r.off+r.n]
	comm := b[:commLen]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	im = Image{Args: b[commLen+r.pathN:], Comm: comm, IDs: r.flags&flagIDs != 0, PGID: int(r.pgid), SID: int(r.sid), TTY: r.tty}
	im.Cut = int(r.full) > len(im.Args)
	if im.Cut {
		t.cut.Add(1)
	}
	t.paths = t.paths[:0]
	if r.flags&flagExe != 0 {
		im.Exe, t.paths = joinPath(t.paths, b[commLen:commLen+r.exeN])
	}
	if r.flags&flagCwd != 0 {
		im.Cwd, t.paths = joinPath(t.paths, b[commLen+r.exeN:commLen+r.pathN])
	}
	return im, true
}

// joinPath appends to buf the path whose components comps holds from the
// last to the first, each NUL-terminated, and returns it and buf. No
// components is the root.
func joinPath(buf, comps []byte) (path, grown []byte) {
	start := len(buf)
	if len(comps) == 0 {
		buf = append(buf, '/')
	}
	for len(comps) > 0 {
		comps = comps[:len(comps)-1] // the last NUL
		i := bytes.LastIndexByte(comps, 0) + 1
		buf = append(buf, '/')
		buf = append(buf, comps[i:]...)
		comps = comps[:i]
	}
	return buf[start:len(buf):len(buf)], buf
}

// keep copies a record out of the ring into pending.
func (t *Tap) keep(rec []byte) {
	if len(rec) < headerLen {
		return
	}
	for len(t.pending) > 0 && (len(t.pending) >= maxPending || len(t.arena)+len(rec) > maxPendingBytes) {
		if !t.pending[0].done { // the oldest: its event is surely lost
			t.finish(&t.pending[0])
			t.expired.Add(1)
		}
		t.compact()
	}
	// The ring's records are 8-byte aligned, as is a Go allocation.
	h := (*execExecHeader)(unsafe.Pointer(&rec[0]))
	r := record{
		time:  h.Time,
		tgid:  h.Tgid,
		full:  h.ArgsLen,
		pgid:  h.Pgid,
		sid:   h.Sid,
		tty:   h.Tty,
		flags: h.Flags,
		exeN:  int(h.ExeLen),
		pathN: int(h.PathsLen),
		off:   len(t.arena),
	}
	if r.exeN > r.pathN || r.pathN > len(rec)-headerLen {
		return // not the program's
	}
	r.copied = h.ArgsErr == 0
	if r.flags&flagWake != 0 {
		r.wake = true
		t.wakes++
		t.woke.Add(1)
	}
	end := headerLen + r.pathN // the comm and the paths, without arguments unless copied
	if r.copied {
		end = len(rec)
	}
	t.arena = append(t.arena, h.Comm[:]...)
	t.arena = append(t.arena, rec[headerLen:end]...)
	r.n = len(t.arena) - r.off
	t.pending = append(t.pending, r)
}

// finish marks r claimed or given up.
func (t *Tap) finish(r *record) {
	if r.wake {
		t.wakes--
	}
	r.done = true
}

// Waiting reads the ring and reports whether a record that woke the
// reader, written within the last d, is still unclaimed: its exec event,
// which the kernel sends right after the record, had not arrived when
// the reader woke.
func (t *Tap) Waiting(d time.Duration) bool {
	t.ring.each(t.keepFn)
	if t.wakes == 0 {
		return false
	}
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		return false
	}
	since := uint64(now.Nano() - d.Nanoseconds())
	for i := range t.pending {
		if r := &t.pending[i]; r.wake && !r.done && r.time >= since {
			return true
		}
	}
	return false
}

// compact drops the records that are done, and their bytes.
func (t *Tap) compact() {
	kept, end := t.pending[:0], 0
	for _, r := range t.pending {
		if r.done {
			continue
		}
		// Records are in arena order: moving each to the end of the
		// kept ones never overwrites a later one.
		copy(t.arena[end:], t.arena[r.off:r.off+r.n])
		r.off = end
		end += r.n
		kept = append(kept, r)
	}
	t.pending = kept
	t.arena = t.arena[:end]
}

// Stats returns a snapshot of the counters.
func (t *Tap) Stats() Stats {
	st := Stats{Taken: t.taken.Load(), Cut: t.cut.Load(), Missed: t.missed.Load(), Expired: t.expired.Load(), Woke: t.woke.Load()}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed && t.objs.ExecImage != nil {
		if ps, err := t.objs.ExecImage.Stats(); err == nil {
			st.ProgramNS, st.ProgramRuns = uint64(ps.Runtime), ps.RunCount
		}
	}
	return st
}

// Close detaches the program and frees the ring. It may be called more
// than once.
func (t *Tap) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	if t.ring != nil {
		errs = append(errs, t.ring.close())
	}
	if t.link != nil {
		errs = append(errs, t.link.Close())
	}
	errs = append(errs, t.objs.Close())
	return errors.Join(errs...)
}
