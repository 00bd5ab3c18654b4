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
	arena   []byte   // their bytes: comm, then the arguments

	taken, cut, missed, expired atomic.Uint64
	mu                          sync.Mutex // Close against Stats' read of prog
}

// record is one exec's record, its bytes in Tap.arena: the comm, then
// the arguments copied.
type record struct {
	time   uint64
	tgid   uint32
	full   uint32 // the argument block's length in the process
	off, n int    // comm and the bytes copied; n is commLen when the copy failed
	done   bool   // claimed or expired: dropped at the next Take
}

// Exec is what a record says of an exec: its arguments, NUL-terminated,
// whether the list went on past them, and the process's comm.
type Exec struct {
	Args []byte
	Cut  bool
	Comm []byte
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
// connector reported at kernel time at says, valid until the next Take.
// ok is false when there is no usable record for it.
func (t *Tap) Take(tgid int, at uint64) (ex Exec, ok bool) {
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
		return Exec{}, false
	}
	r := &t.pending[best]
	r.done = true
	if r.n == commLen {
		t.missed.Add(1)
		return Exec{}, false
	}
	t.taken.Add(1)
	comm := t.arena[r.off : r.off+commLen]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	ex = Exec{Args: t.arena[r.off+commLen : r.off+r.n], Cut: int(r.full) > r.n-commLen, Comm: comm}
	if ex.Cut {
		t.cut.Add(1)
	}
	return ex, true
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
		time: order.Uint64(rec[offTime:]),
		tgid: order.Uint32(rec[offTGID:]),
		full: order.Uint32(rec[offLen:]),
		off:  len(t.arena),
		n:    commLen,
	}
	t.arena = append(t.arena, rec[offComm:headerLen]...)
	if int32(order.Uint32(rec[offErr:])) == 0 {
		r.n += len(rec) - headerLen
		t.arena = append(t.arena, rec[headerLen:]...)
	}
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
