package execargs

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// ringSize is the ring buffer's data size, a power of two of pages. The
// ring is emptied at every exec event; 1 MiB holds some 5,000 records of a
// typical command line (seconds of the fastest exec storm), and at least
// 31 of the longest. Its pages are mapped in twice, so they count twice
// in spawnbeat's RSS.
const ringSize = 1 << 20

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

// Tap is the loaded program and the records it wrote. Take is called by
// one goroutine; Stats by any.
type Tap struct {
	scratch, ringMap *ebpf.Map
	prog             *ebpf.Program
	link             link.Link
	ring             *ring
	keepFn           func(rec []byte)

	pending []record // read from the ring, not yet claimed
	arena   []byte   // their bytes: comm, paths, then the arguments
	paths   []byte   // the paths of the last Take, joined

	taken, cut, missed, expired atomic.Uint64
	mu                          sync.Mutex // Close against Stats' read of prog
}

// record is one exec's record, its bytes in Tap.arena: the comm, the
// paths' components, then the arguments copied.
type record struct {
	time        uint64
	tgid        uint32
	full        uint32 // the argument block's length in the process
	pgid, sid   uint32
	flags       uint32
	exeN, pathN int  // the exe's bytes, and the exe's and cwd's, after the comm
	off, n      int  // the record's bytes in the arena
	copied      bool // the arguments were copied
	done        bool // claimed or expired: dropped at the next Take
}

// Stats are a Tap's counters.
type Stats struct {
	Taken   uint64 // exec events paired with their record
	Cut     uint64 // of those, argument lists longer than a record holds (/proc is read for the rest)
	Missed  uint64 // exec events without a usable record (a full ring, or a failed copy)
	Expired uint64 // records no exec event claimed (the kernel dropped the event)
	// The program's run time (ns) and runs, charged to the exec'ing
	// processes: counted by the kernel only while the sysctl
	// kernel.bpf_stats_enabled is 1 (it costs a clock read per run).
	ProgramNS, ProgramRuns uint64
}

// Open loads the program and attaches it. The error says what the kernel
// or the process lacks.
func Open() (*Tap, error) {
	o, err := kernelOffsets()
	if err != nil {
		return nil, err
	}
	t := &Tap{}
	if err := t.load(o); err != nil {
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

func (t *Tap) load(o offsets) error {
	var err error
	t.scratch, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "spawnbeat_rec", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: recordMax, MaxEntries: 1,
	})
	if err != nil {
		return fmt.Errorf("create the scratch map: %w", err)
	}
	t.ringMap, err = ebpf.NewMap(&ebpf.MapSpec{Name: "spawnbeat_ring", Type: ebpf.RingBuf, MaxEntries: ringSize})
	if err != nil {
		return fmt.Errorf("create the ring buffer: %w", err)
	}
	t.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "spawnbeat_exec",
		Type:         ebpf.RawTracepoint,
		Instructions: program(o, t.scratch, t.ringMap),
		License:      "Dual BSD/GPL", // the probe_read helpers are GPL-only
	})
	if err != nil {
		return fmt.Errorf("load the exec program: %w", err)
	}
	t.link, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_process_exec", Program: t.prog})
	if err != nil {
		return fmt.Errorf("attach to sched_process_exec: %w", err)
	}
	t.ring, err = mapRing(t.ringMap.FD(), ringSize)
	return err
}

// Take returns what the record of the exec of process tgid that the proc
// connector reported at kernel time at says, valid until the next Take:
// its arguments, whether the list went on past them, its comm, and, where
// the program could tell them, its executable, working directory, process
// group and session. ok is false when there is no usable record for it.
func (t *Tap) Take(tgid int, at uint64) (ex procfs.AtExec, ok bool) {
	t.compact()
	t.ring.each(t.keepFn)
	best := -1
	for i := range t.pending {
		r := &t.pending[i]
		switch {
		case r.done:
		case r.time+expireAfter < at:
			r.done = true
			t.expired.Add(1)
		case r.tgid == uint32(tgid) && r.time <= at:
			// The latest exec of tgid up to at is this event's; an
			// earlier one's event is past (handled, or lost).
			if best >= 0 {
				t.pending[best].done = true
			}
			best = i
		}
	}
	if best < 0 {
		t.missed.Add(1)
		return procfs.AtExec{}, false
	}
	r := &t.pending[best]
	r.done = true
	if !r.copied {
		t.missed.Add(1)
		return procfs.AtExec{}, false
	}
	t.taken.Add(1)
	b := t.arena[r.off : r.off+r.n]
	comm := b[:commLen]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	ex = procfs.AtExec{Args: b[commLen+r.pathN:], Comm: comm, IDs: r.flags&flagIDs != 0, PGID: int(r.pgid), SID: int(r.sid)}
	ex.Cut = int(r.full) > len(ex.Args)
	if ex.Cut {
		t.cut.Add(1)
	}
	t.paths = t.paths[:0]
	if r.flags&flagExe != 0 {
		ex.Exe, t.paths = joinPath(t.paths, b[commLen:commLen+r.exeN])
	}
	if r.flags&flagCwd != 0 {
		ex.Cwd, t.paths = joinPath(t.paths, b[commLen+r.exeN:commLen+r.pathN])
	}
	return ex, true
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
			t.pending[0].done = true
			t.expired.Add(1)
		}
		t.compact()
	}
	r := record{
		time:  order.Uint64(rec[offTime:]),
		tgid:  order.Uint32(rec[offTGID:]),
		full:  order.Uint32(rec[offLen:]),
		pgid:  order.Uint32(rec[offPGID:]),
		sid:   order.Uint32(rec[offSID:]),
		flags: order.Uint32(rec[offFlags:]),
		exeN:  int(order.Uint32(rec[offExeN:])),
		pathN: int(order.Uint32(rec[offPathsN:])),
		off:   len(t.arena),
	}
	if r.exeN > r.pathN || r.pathN > len(rec)-headerLen {
		return // not the program's
	}
	r.copied = int32(order.Uint32(rec[offErr:])) == 0
	end := headerLen + r.pathN // the comm and the paths, without arguments unless copied
	if r.copied {
		end = len(rec)
	}
	t.arena = append(t.arena, rec[offComm:end]...)
	r.n = len(t.arena) - r.off
	t.pending = append(t.pending, r)
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
	st := Stats{Taken: t.taken.Load(), Cut: t.cut.Load(), Missed: t.missed.Load(), Expired: t.expired.Load()}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.prog != nil {
		if ps, err := t.prog.Stats(); err == nil {
			st.ProgramNS, st.ProgramRuns = uint64(ps.Runtime), ps.RunCount
		}
	}
	return st
}

// Close detaches the program and frees the ring.
func (t *Tap) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	if t.ring != nil {
		errs = append(errs, t.ring.close())
	}
	if t.link != nil {
		errs = append(errs, t.link.Close())
	}
	if t.prog != nil {
		errs = append(errs, t.prog.Close())
		t.prog = nil
	}
	if t.ringMap != nil {
		errs = append(errs, t.ringMap.Close())
	}
	if t.scratch != nil {
		errs = append(errs, t.scratch.Close())
	}
	return errors.Join(errs...)
}
