package cache

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// Defaults for Options.
const (
	DefaultMaxEntries = 65536
	DefaultGrace      = 30 * time.Second
	// DefaultStartSlack is how many clock ticks a start time derived from
	// a fork event's time may differ from the one /proc reports for the
	// same process: the fork event is stamped a little after the task's
	// start (and with CLOCK_MONOTONIC, which lags boot time by any time
	// spent suspended), and both are cut to 10 ms ticks.
	DefaultStartSlack = 5
)

// Options configure a Table. Zero values take the defaults. A plain value.
type Options struct {
	// MaxEntries bounds the table (DefaultMaxEntries).
	MaxEntries int
	// Grace is how long an exited process stays (DefaultGrace).
	Grace time.Duration
	// HostID and BootID (/proc/sys/kernel/random/boot_id) make entity ids
	// unique across hosts and boots, and the same across agent restarts.
	HostID string
	BootID string
	// BootTime turns start ticks into times and fork event times into
	// start ticks; it should be precise (wall clock minus CLOCK_BOOTTIME),
	// since /proc's btime is cut to seconds. Without it, fork children's
	// starts are the fork event times and their start ticks unknown.
	BootTime time.Time
	// ClockTicks is the unit of start ticks (procfs.FS.ClockTicks;
	// procfs.UserHZ when zero).
	ClockTicks uint64
	// StartSlack is DefaultStartSlack when zero.
	StartSlack uint64
}

// Source says where an entry's image came from.
type Source uint8

// Sources of an image.
const (
	// SourceFork: inherited from the parent at fork; not exec'd since.
	SourceFork Source = iota + 1
	// SourceExec: read from /proc after an exec event.
	SourceExec
	// SourceScan: read from /proc by a start-up scan or a resync.
	SourceScan
)

// String names the source.
func (s Source) String() string {
	switch s {
	case SourceFork:
		return "fork"
	case SourceExec:
		return "exec"
	case SourceScan:
		return "scan"
	}
	return ""
}

// Image is what a process runs: the fields an exec replaces and a fork
// copies. Its strings and Args are never modified once stored (an exec
// assigns a new Image), so a copy of an Image may be handed to other stages
// and read there concurrently.
type Image struct {
	Comm          string // kernel task name
	Exe           string
	ExeDeleted    bool
	Args          []string // nil when unknown
	ArgsTruncated bool
	Cwd           string

	UID, EUID, SUID, FSUID uint32
	GID, EGID, SGID, FSGID uint32
	CapBnd                 uint64 // capability bounding set, when HasCapBnd
	HasCapBnd              bool

	TTY       uint32 // tty_nr; procfs.TTYDevice splits it
	SID, PGID int
	// TTYUnsure says TTY may not be the terminal the process has: stat was
	// not read, or the image was inherited from a session leader, which
	// may have gained a terminal after its image was read (see KnowsNoTTY).
	TTYUnsure bool

	ContainerID string   // container.id: a fork inherits its parent's cgroups
	EnvVars     []string // process.env_vars: the bindings asked for (Options.EnvVars)

	// ReadState is how much of the image /proc gave (zero: nothing, for
	// example a fork child of an unknown parent).
	ReadState procfs.ReadState
}

// PriorImage is one of a process's earlier images (Entry.Previous).
type PriorImage struct {
	Exe  string
	Args []string
}

// maxPrevious bounds Entry.Previous: exec chains longer than a few images
// are rare, and a document carries them all.
const maxPrevious = 8

// ImageOf returns the image of a process read from /proc. It shares p's
// strings and Args, which procfs never modifies.
func ImageOf(p *procfs.Process) Image {
	return Image{
		Comm: p.Comm, Exe: p.Exe, ExeDeleted: p.ExeDeleted,
		Args: p.Args, ArgsTruncated: p.ArgsTruncated, Cwd: p.Cwd,
		UID: p.UID, EUID: p.EUID, SUID: p.SUID, FSUID: p.FSUID,
		GID: p.GID, EGID: p.EGID, SGID: p.SGID, FSGID: p.FSGID,
		CapBnd: p.CapBnd, HasCapBnd: p.HasCapBnd,
		TTY: p.TTY, SID: p.SID, PGID: p.PGID, TTYUnsure: p.Missing&procfs.PartStat != 0,
		ContainerID: p.ContainerID, EnvVars: p.EnvVars,
		ReadState: p.ReadState,
	}
}

// Name returns the base name of the executable, as ECS process.name wants
// it; when the executable could not be read (zombie, exited), the kernel's
// task name, which is the exec'd file's base name cut to 15 bytes.
func (im *Image) Name() string {
	if im.Exe != "" {
		return filepath.Base(im.Exe)
	}
	return im.Comm
}

// Entry is one process. Entries are owned by the Table's goroutine, which
// updates them in place (an exec replaces Image, an exit sets Exited); they
// are never reused for another process, so a pointer stays about the same
// process for as long as it is held. Other stages must get copies of the
// fields, not the pointer.
type Entry struct {
	PID        int
	PPID       int       // the parent at fork, or the one /proc named
	StartTicks uint64    // clock ticks after boot; 0 when unknown
	Start      time.Time // process start (from StartTicks, or the fork event time)
	EntityID   string    // stable id of this process, from host, boot, pid and start

	Image   Image
	Source  Source
	ImageAt time.Time // when Image was learned
	// Previous holds the images the process had before its execs, oldest
	// first: the one inherited at its fork, then each exec's but the
	// latest (process.previous). Only images the table knew count; at most
	// maxPrevious, keeping the first.
	Previous []PriorImage

	Exited      bool
	ExitAt      time.Time
	ExitCode    int
	HasExitCode bool // false when the exit was inferred from a scan

	startExact bool      // StartTicks came from /proc
	forked     bool      // Start is the time of the fork event
	parent     *Entry    // the parent's entry, kept after it leaves the table
	entry      entryMemo // the entry leader, once EntryLeader has evaluated it
	removed    bool      // no longer in the table
	seen       uint64    // scan generation that last saw it
	prev, next *Entry    // in the live or the exited list
}

// Removed reports whether the entry has left the table (expired, evicted
// or replaced by a new process with the same PID).
func (e *Entry) Removed() bool { return e.removed }

// KnowsNoTTY reports whether e, the entry of a live process that getsid
// now puts in session sid, vouches that the process has no controlling
// terminal, so that stat need not be read to learn it. Any process can
// lose its terminal unannounced (TIOCNOTTY, a hang-up), so only "none"
// can be vouched for. Only a session leader gains one (TIOCSCTTY, or
// opening a terminal without O_NOCTTY), and a process leads a session
// only after its own setsid. So the image must say none for sure (read
// from stat, or vouched for at its exec, and not inherited from a leader:
// TTYUnsure), the process must not lead its session, and the session must
// still be the image's: otherwise the process, or its parent before the
// fork, called setsid since the image was read.
func (e *Entry) KnowsNoTTY(sid int) bool {
	im := &e.Image
	return !e.Exited && im.ReadState != 0 && !im.TTYUnsure && im.TTY == 0 &&
		sid == im.SID && sid != e.PID
}

// Stats are the table's counters, a snapshot value.
type Stats struct {
	Entries     uint64 // entries in the table now
	Live        uint64 // of which not exited
	Evictions   uint64 // entries removed because the table was full
	EvictedLive uint64 // of the evictions, entries still running: raise MaxEntries
	Expired     uint64 // exited entries removed after the grace period
	Replaced    uint64 // entries displaced by a new process with the same PID
	Vanished    uint64 // live entries a scan no longer found: their exit was missed
}

// Table is the process table. It is not safe for concurrent use: one
// goroutine owns it. Stats may be called concurrently.
type Table struct {
	opts   Options
	byPID  map[int]*Entry
	live   list // by insertion: oldest first
	exited list // by exit: oldest first

	scanGen   uint64
	scanStart time.Time
	idBuf     []byte

	entries, liveN, evictions, evictedLive, expired, replaced, vanished atomic.Uint64
}

// New returns an empty table.
func New(opts Options) *Table {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.ClockTicks == 0 {
		opts.ClockTicks = procfs.UserHZ
	}
	if opts.StartSlack == 0 {
		opts.StartSlack = DefaultStartSlack
	}
	return &Table{
		opts:  opts,
		byPID: make(map[int]*Entry, min(opts.MaxEntries, 4096)),
		idBuf: make([]byte, 0, len(opts.HostID)+len(opts.BootID)+32),
	}
}

// Len returns the number of entries in the table.
func (t *Table) Len() int { return len(t.byPID) }

// Stats returns the counters. It is safe to call from any goroutine.
func (t *Table) Stats() Stats {
	return Stats{
		Entries:     t.entries.Load(),
		Live:        t.liveN.Load(),
		Evictions:   t.evictions.Load(),
		EvictedLive: t.evictedLive.Load(),
		Expired:     t.expired.Load(),
		Replaced:    t.replaced.Load(),
		Vanished:    t.vanished.Load(),
	}
}

// Get returns the entry for pid: the live process, or the most recent one
// that exited within the grace period.
func (t *Table) Get(pid int) (*Entry, bool) {
	e, ok := t.byPID[pid]
	return e, ok
}

// Parent returns the entry of e's parent: the process that forked it, even
// if that one has exited and left the table since. For an entry that came
// from a scan or an exec without a fork event, it is the process PPID names,
// if it started no later than e.
func (t *Table) Parent(e *Entry) (*Entry, bool) {
	if e.parent != nil {
		return e.parent, true
	}
	if e.removed {
		return nil, false
	}
	if p := t.byPID[e.PPID]; p != nil && p != e && t.startedBefore(p, e) {
		e.parent = p
		return p, true
	}
	return nil, false
}

// Fork records that parentPID forked childPID at time at. The child
// inherits the parent's image (Source SourceFork) until it execs. An entry
// still held for childPID belongs to an earlier process and is replaced.
// Callers pass thread-group leaders only: a new thread is no new process.
func (t *Table) Fork(parentPID, childPID int, at time.Time) *Entry {
	parent := t.byPID[parentPID]
	if parent != nil && parent.Exited {
		parent = nil // stale: that PID's process is gone, this is another
	}
	if old := t.byPID[childPID]; old != nil {
		t.replace(old)
	}
	ticks := t.ticksAt(at)
	e := &Entry{
		PID: childPID, PPID: parentPID,
		StartTicks: ticks, Start: at, forked: true,
		Source: SourceFork, ImageAt: at,
		parent: parent,
	}
	if parent != nil {
		e.Image = parent.Image
		if parent.PID == parent.Image.SID {
			e.Image.TTYUnsure = true
		}
	}
	e.EntityID = t.entityID(childPID, ticks, at)
	t.insert(e)
	return e
}

// Exec records that process p.PID executed a new image at time at; p is
// what procfs read after the exec event (only PID set when nothing could be
// read: the image is then unknown, never the pre-exec one). The entry keeps
// its PID, start and parent link. If the table has no live entry for the
// PID (other than one a scan found as a zombie), or one with another start
// time (events were lost), a new entry is made, linked to the parent that
// /proc names.
func (t *Table) Exec(p *procfs.Process, at time.Time) *Entry {
	e := t.byPID[p.PID]
	// An exit only inferred by a scan (a zombie) may come before the exec
	// event of the same process is handled: still the same process.
	if e != nil && (!e.Exited || !e.HasExitCode) && t.sameStart(e, p.StartTicks) {
		t.setStart(e, p.StartTicks)
		// An image learned after the exec (a scan that ran meanwhile) is
		// already the new one, not a previous one.
		if e.ImageAt.Before(at) && (e.Image.Exe != "" || e.Image.Args != nil) {
			e.Previous = appendPrior(e.Previous, PriorImage{Exe: e.Image.Exe, Args: e.Image.Args})
		}
		e.Image = ImageOf(p)
		e.Source = SourceExec
		e.ImageAt = at
		e.entry = entryMemo{}
		if p.PPID > 0 && e.parent == nil {
			e.PPID = p.PPID
		}
		return e
	}
	if e != nil {
		t.replace(e)
	}
	return t.add(p, SourceExec, at)
}

// appendPrior appends im to prev; a full prev loses its second image, so
// that the first (usually the fork's) and the latest stay.
func appendPrior(prev []PriorImage, im PriorImage) []PriorImage {
	if len(prev) == maxPrevious {
		prev = append(prev[:1], prev[2:]...)
	}
	return append(prev, im)
}

// SetUIDs records the real and effective user ids the kernel announced
// for the live process pid (a setuid call, or the exec of a set-user-ID
// file), and reports whether the table knew the process's credentials.
func (t *Table) SetUIDs(pid int, realID, effective uint32) bool {
	e := t.credsOf(pid)
	if e == nil {
		return false
	}
	e.Image.UID, e.Image.EUID = realID, effective
	return true
}

// SetGIDs is SetUIDs for the real and effective group ids.
func (t *Table) SetGIDs(pid int, realID, effective uint32) bool {
	e := t.credsOf(pid)
	if e == nil {
		return false
	}
	e.Image.GID, e.Image.EGID = realID, effective
	return true
}

// Creds copies the credentials the table holds for the live process pid
// into c and reports whether it holds any: a process read from /proc, or
// a fork child of one, kept up to date by SetUIDs and SetGIDs.
func (t *Table) Creds(pid int, c *procfs.Creds) bool {
	e := t.credsOf(pid)
	if e == nil {
		return false
	}
	im := &e.Image
	c.UID, c.EUID, c.SUID, c.FSUID = im.UID, im.EUID, im.SUID, im.FSUID
	c.GID, c.EGID, c.SGID, c.FSGID = im.GID, im.EGID, im.SGID, im.FSGID
	c.CapBnd, c.HasCapBnd = im.CapBnd, im.HasCapBnd // kept across exec, unlike the other sets
	return true
}

// credsOf returns the live entry of pid when its image carries credentials.
func (t *Table) credsOf(pid int) *Entry {
	e := t.byPID[pid]
	if e == nil || e.Exited || e.Image.ReadState == 0 {
		return nil
	}
	return e
}

// Exit records that pid exited with code at time at and returns its entry,
// or nil when pid is unknown. The entry stays for the grace period. Callers
// pass thread-group exits only.
func (t *Table) Exit(pid, code int, at time.Time) *Entry {
	e := t.byPID[pid]
	if e == nil {
		return nil
	}
	e.ExitCode, e.HasExitCode = code, true
	if !e.Exited {
		t.markExited(e, at)
	}
	return e
}

// BeginScan starts a /proc scan at time at (before the PID list is read).
// Upserts until EndScan belong to it.
func (t *Table) BeginScan(at time.Time) {
	t.scanGen++
	t.scanStart = at
}

// Upsert merges a process read by a /proc scan at time at, and reports
// whether it made a new entry. A new PID, or a PID now held by a process
// with another start time, gets a new entry (Source SourceScan). For the
// same process, the scanned image replaces the entry's only when it was
// read after the entry's image was learned and is no less complete, so a
// scan never clobbers a newer exec image. An exited entry is not brought
// back, and a zombie found by the scan is marked exited (without exit
// code).
func (t *Table) Upsert(p *procfs.Process, at time.Time) (*Entry, bool) {
	e := t.byPID[p.PID]
	if e != nil && t.sameStart(e, p.StartTicks) {
		e.seen = t.scanGen
		if e.Exited {
			return e, false
		}
		t.setStart(e, p.StartTicks)
		if at.After(e.ImageAt) && (p.ReadState == procfs.ReadComplete || e.Image.ReadState != procfs.ReadComplete) {
			e.Image = ImageOf(p)
			e.Source = SourceScan
			e.ImageAt = at
			e.entry = entryMemo{}
		}
		if e.parent == nil && p.PPID > 0 {
			e.PPID = p.PPID
		}
		if p.ReadState == procfs.ReadZombie || p.ReadState == procfs.ReadExited {
			t.markExited(e, at)
		}
		return e, false
	}
	if e != nil {
		t.replace(e)
	}
	e = t.add(p, SourceScan, at)
	e.seen = t.scanGen
	if p.ReadState == procfs.ReadZombie || p.ReadState == procfs.ReadExited {
		t.markExited(e, at)
	}
	return e, true
}

// EndScan ends the scan begun by BeginScan: live entries that started
// before the scan and that it did not see have exited unnoticed (their exit
// event was lost); they are marked exited at time at, without exit code,
// and counted as Vanished. It returns how many.
func (t *Table) EndScan(at time.Time) int {
	n := 0
	for e := t.live.head; e != nil; {
		next := e.next
		if e.seen != t.scanGen && e.Start.Before(t.scanStart) && e.ImageAt.Before(t.scanStart) {
			t.markExited(e, at)
			t.vanished.Add(1)
			n++
		}
		e = next
	}
	return n
}

// Sweep removes the entries that exited more than the grace period before
// now and returns how many. Call it periodically (every few seconds).
func (t *Table) Sweep(now time.Time) int {
	n := 0
	for e := t.exited.head; e != nil && !e.ExitAt.Add(t.opts.Grace).After(now); e = t.exited.head {
		t.remove(e)
		t.expired.Add(1)
		n++
	}
	t.publish()
	return n
}

// add makes and inserts a new entry from a /proc read.
func (t *Table) add(p *procfs.Process, src Source, at time.Time) *Entry {
	e := &Entry{
		PID: p.PID, PPID: p.PPID,
		Image: ImageOf(p), Source: src, ImageAt: at,
	}
	if p.StartTicks != 0 {
		e.StartTicks, e.startExact = p.StartTicks, true
		e.Start = t.startTime(p.StartTicks)
	} else {
		e.StartTicks = t.ticksAt(at)
		e.Start = at
	}
	e.EntityID = t.entityID(e.PID, e.StartTicks, e.Start)
	if parent := t.byPID[e.PPID]; parent != nil && parent != e && t.startedBefore(parent, e) {
		e.parent = parent
	}
	t.insert(e)
	return e
}

// insert adds e to the table, evicting first when it is full.
func (t *Table) insert(e *Entry) {
	for len(t.byPID) >= t.opts.MaxEntries {
		victim := t.exited.head
		if victim == nil {
			victim = t.live.head
			t.evictedLive.Add(1)
		}
		t.remove(victim)
		t.evictions.Add(1)
	}
	t.byPID[e.PID] = e
	if e.Exited {
		t.exited.pushBack(e)
	} else {
		t.live.pushBack(e)
	}
	t.publish()
}

// replace removes old, whose PID a new process now holds.
func (t *Table) replace(old *Entry) {
	t.remove(old)
	t.replaced.Add(1)
}

// remove takes e out of the table. Children keep their link to it, but its
// own link to its parent is cut, so that long-gone ancestors are freed.
func (t *Table) remove(e *Entry) {
	if e.removed {
		return
	}
	if t.byPID[e.PID] == e {
		delete(t.byPID, e.PID)
	}
	if e.Exited {
		t.exited.remove(e)
	} else {
		t.live.remove(e)
	}
	e.removed = true
	e.parent = nil
	t.publish()
}

// markExited moves a live entry to the exited list.
func (t *Table) markExited(e *Entry, at time.Time) {
	if e.Exited {
		return
	}
	t.live.remove(e)
	e.Exited, e.ExitAt = true, at
	t.exited.pushBack(e)
	t.publish()
}

// publish updates the gauges Stats reads.
func (t *Table) publish() {
	t.entries.Store(uint64(len(t.byPID)))
	t.liveN.Store(uint64(t.live.n)) // a count
}

// sameStart reports whether start ticks read from /proc can belong to e.
// Unknown starts are assumed to match.
func (t *Table) sameStart(e *Entry, ticks uint64) bool {
	if ticks == 0 || e.StartTicks == 0 {
		return true
	}
	if e.startExact {
		return e.StartTicks == ticks
	}
	return absDiff(e.StartTicks, ticks) <= t.opts.StartSlack
}

// setStart adopts the exact start ticks /proc read for e. The entity id is
// kept: it must not change during a process's life. So is a start taken
// from the fork event, which is finer than a clock tick and already in
// the process's documents.
func (t *Table) setStart(e *Entry, ticks uint64) {
	if ticks == 0 || e.startExact {
		return
	}
	e.StartTicks, e.startExact = ticks, true
	if !t.opts.BootTime.IsZero() && !e.forked {
		e.Start = t.startTime(ticks)
	}
}

// startedBefore reports whether p can be the parent of e: it did not start
// after e (beyond the slack), when both starts are known.
func (t *Table) startedBefore(p, e *Entry) bool {
	if p.StartTicks == 0 || e.StartTicks == 0 {
		return true
	}
	return p.StartTicks <= e.StartTicks+t.opts.StartSlack
}

// ticksAt converts an event time to clock ticks after boot (0 without a
// boot time).
func (t *Table) ticksAt(at time.Time) uint64 {
	if t.opts.BootTime.IsZero() || at.Before(t.opts.BootTime) {
		return 0
	}
	d := at.Sub(t.opts.BootTime)
	return uint64(d/time.Second)*t.opts.ClockTicks + uint64(d%time.Second)*t.opts.ClockTicks/uint64(time.Second) // d >= 0
}

// startTime converts ticks after boot to a time (zero without a boot time).
func (t *Table) startTime(ticks uint64) time.Time {
	if t.opts.BootTime.IsZero() {
		return time.Time{}
	}
	hz := t.opts.ClockTicks
	return t.opts.BootTime.Add(time.Duration(ticks/hz)*time.Second + time.Duration((ticks%hz)*uint64(time.Second)/hz)) // ticks since boot
}

// entityID derives a process's entity id: the first 15 bytes of
// SHA-256(host id, boot id, pid, start), base64url-encoded (20
// characters). The start is the start ticks, or the start time's
// nanoseconds when the ticks are unknown.
func (t *Table) entityID(pid int, ticks uint64, start time.Time) string {
	b := append(t.idBuf[:0], t.opts.HostID...)
	b = append(b, 0)
	b = append(b, t.opts.BootID...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(pid)) // bit pattern only
	if ticks != 0 {
		b = append(b, 't')
		b = binary.BigEndian.AppendUint64(b, ticks)
	} else {
		b = append(b, 'n')
		b = binary.BigEndian.AppendUint64(b, uint64(start.UnixNano())) // bit pattern only
	}
	t.idBuf = b
	sum := sha256.Sum256(b)
	var out [20]byte
	base64.RawURLEncoding.Encode(out[:], sum[:15])
	return string(out[:])
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// list is an intrusive doubly linked list of entries, oldest first.
type list struct {
	head, tail *Entry
	n          int
}

func (l *list) pushBack(e *Entry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
	l.n++
}

func (l *list) remove(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
	l.n--
}
