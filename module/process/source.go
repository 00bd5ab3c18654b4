package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/module/process/cache"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/module/process/execargs"
	"github.com/spawnbeat/spawnbeat/module/process/netlink"
	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// Capture modes (spawnbeat.capture.mode).
const (
	ModeAuto    = "auto"
	ModeNetlink = "netlink"
	ModePoll    = "poll"
)

// Where an exec'd process's arguments come from (spawnbeat.capture.exec_args).
const (
	ArgsAuto   = "auto"   // taken in the kernel at the exec where it allows (execargs), else /proc
	ArgsKernel = "kernel" // taken in the kernel at the exec; fail to start when it cannot be
	ArgsProc   = "proc"   // read from /proc after the exec event
)

// Options configure a Source. A plain value; New copies it.
type Options struct {
	Mode          string        // ModeAuto, ModeNetlink or ModePoll
	ExecArgs      string        // ArgsAuto ("" too), ArgsKernel or ArgsProc
	ReceiveBuffer int           // proc connector socket buffer in bytes (0: netlink.DefaultReceiveBuffer)
	PollPeriod    time.Duration // poll mode: time between /proc scans
	ProcRoot      string        // where /proc is mounted ("": /proc); etc/passwd and etc/group are read beside it
	ScanExisting  bool          // emit "existing" documents for the processes found at start (with Existing)
	// Documents to emit.
	Exec, End, Existing, Fork bool
	MaxArgsBytes              int           // cap on the cmdline bytes kept (0: procfs.DefaultMaxArgBytes)
	EnvVars                   []string      // environment variables reported in process.env_vars, by name; none: environ is not read
	CacheEntries              int           // process table bound (0: cache.DefaultMaxEntries)
	ExitGrace                 time.Duration // how long an exited process stays in the table (0: cache.DefaultGrace)
	Namespace                 string        // data_stream.namespace
}

// sweepEvery is how often exited processes past their grace are removed.
const sweepEvery = time.Second

// clockEvery is how often the realtime-monotonic offset that dates the
// kernel's events is measured again, to follow clock steps (NTP) and
// suspends.
const clockEvery = time.Minute

// Sink takes each document a Source builds, on the Source's goroutine.
// The document is lent for the call only (the Source reuses it): the sink
// copies what it keeps. A sink must not block: while it runs, nobody reads
// the kernel's socket, and a full socket loses events.
type Sink func(ev *ecs.Event)

// Source captures process events and emits ECS documents to a Sink. Run is
// called once, by the goroutine that then owns the Source's state and calls
// the sink; Stats may be called from any goroutine.
type Source struct {
	opts  Options
	log   *zap.Logger
	host  *ecs.Host
	agent *ecs.Agent

	fs    procfs.FS
	rd    *procfs.Reader
	names *procfs.Names
	table *cache.Table
	boot  time.Time
	clock *netlink.Clock // nil in poll mode
	// hostCaps is the capability bounding set of the host's init (pid 1
	// under the proc root), which a privileged container's processes
	// keep whole; HasCapBnd false when it could not be read.
	hostCaps procfs.Creds

	sink    Sink
	doc     ecs.Event // the document being built and lent to the sink
	seq     uint64
	scratch procfs.Process
	arrived []arrival      // exec'd processes read by onExec, until handleBatch meets their exec
	exec    procfs.Process // the exec'd process handleBatch hands to handle
	pids    []int
	hits    []scanHit      // scanWith: what a scan found, before found sees it
	live    []*cache.Entry // poll mode: the processes the last poll found
	conn    atomic.Pointer[netlink.Conn]
	tap     atomic.Pointer[execargs.Tap] // nil: arguments are read from /proc
	atExec  procfs.AtExec                // what the tap took for the exec at hand
	started atomic.Bool                  // the start-up scan is done and events are being handled

	ids      map[uint32]string // formatted user and group ids (build)
	cmdlines [2]joined         // the last command lines built, newest first

	lastResync time.Time
	// lost says the kernel dropped events that no resync has made up for
	// yet: a missed exit and fork may leave the table an entry of an
	// earlier process with the same PID (settle).
	lost     bool
	warnLost struct { // the sampled warning about lost events
		at             time.Time
		resyncs, added int
	}

	stats counters
}

type counters struct {
	emitted, resyncs, resyncAdded, resyncExecs, readErrors atomic.Uint64
	complete, zombie, exited, partial                      atomic.Uint64
	mode                                                   atomic.Value // string
}

// Stats are the Source's counters.
type Stats struct {
	Mode        string // netlink or poll
	Emitted     uint64 // documents handed to the sink
	Resyncs     uint64 // /proc scans after the kernel reported lost events
	ResyncAdded uint64 // processes those scans found that no event had announced
	ResyncExecs uint64 // exec documents those scans emitted for live processes whose exec event was lost
	ReadErrors  uint64 // /proc reads that failed other than by the process exiting
	// How much of each exec'd process /proc still showed (spawnbeat.read_state).
	ReadComplete, ReadZombie, ReadExited, ReadPartial uint64
	Kernel                                            netlink.Stats  // the proc connector's own counters (lost = ENOBUFS)
	ExecArgs                                          execargs.Stats // arguments taken in the kernel at the exec (zero when read from /proc)
	Table                                             cache.Stats
}

// New prepares a Source; nothing is opened until Run.
func New(opts Options, host *ecs.Host, agent *ecs.Agent, log *zap.Logger) (*Source, error) {
	if opts.ProcRoot == "" {
		// The names cache and the boot id are found relative to it.
		opts.ProcRoot = procfs.DefaultRoot
	}
	fs, err := procfs.NewFS(opts.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", opts.ProcRoot, err)
	}
	s := &Source{
		opts:  opts,
		log:   log.Named("capture"),
		host:  host,
		agent: agent,
		fs:    fs,
		rd:    fs.NewReader(opts.MaxArgsBytes),
		names: procfs.NewNames(filepath.Dir(filepath.Clean(opts.ProcRoot)), procfs.DefaultNamesRecheck, log),
		boot:  bootTime(),
	}
	s.table = cache.New(cache.Options{
		MaxEntries: opts.CacheEntries,
		Grace:      opts.ExitGrace,
		HostID:     host.ID,
		BootID:     bootID(opts.ProcRoot),
		BootTime:   s.boot,
		ClockTicks: fs.ClockTicks(),
	})
	if err := s.rd.ReadStatus(1, &s.scratch); err == nil && s.scratch.HasCapBnd {
		s.hostCaps = s.scratch.Creds
	} else {
		s.log.Warn("cannot read the capability bounding set of init: container.security_context.privileged is left out",
			zap.String("proc_root", opts.ProcRoot), zap.Error(err))
	}
	s.stats.mode.Store("")
	return s, nil
}

// bootTime is the wall-clock time of boot with sub-second precision: /proc's
// start times count from it (CLOCK_BOOTTIME), while /proc/stat's btime is
// rounded to the second.
func bootTime() time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Time{}
	}
	return time.Now().Add(-time.Duration(ts.Nano()))
}

// bootID names this boot (/proc/sys/kernel/random/boot_id), so that entity
// ids differ across reboots even though pids and start ticks repeat.
func bootID(procRoot string) string {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/random/boot_id"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Run captures until ctx ends, handing every document to sink. It opens
// the proc connector (or, where it cannot be used and the mode allows,
// polls /proc), scans /proc to seed the table, then handles every event.
func (s *Source) Run(ctx context.Context, sink Sink) error {
	s.sink = sink
	conn, err := s.open()
	if err != nil {
		return err
	}
	defer s.closeTap()
	if conn == nil {
		s.pollScan()
		s.started.Store(true)
		return s.poll(ctx)
	}
	// The table is always seeded, so that children of processes started
	// before spawnbeat get parent fields; documents only when asked.
	s.scan(s.opts.ScanExisting && s.opts.Existing)
	s.log.Info("start-up scan of /proc done", zap.Int("processes", s.table.Len()))
	s.started.Store(true)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	return s.listen(ctx, conn)
}

// ready reports whether Run has subscribed (or chosen to poll) and
// finished its start-up scan.
func (s *Source) ready() bool { return s.started.Load() }

// open subscribes to the proc connector as the mode says; nil means poll.
func (s *Source) open() (*netlink.Conn, error) {
	if s.opts.Mode == ModePoll {
		s.log.Info("capturing by polling /proc, as configured", zap.Duration("poll_period", s.opts.PollPeriod))
		s.stats.mode.Store(ModePoll)
		return nil, nil
	}
	// The tap first, so that every exec the connector reports has its record.
	if err := s.openTap(); err != nil {
		return nil, err
	}
	conn, err := netlink.Open(netlink.Options{
		ReceiveBuffer: s.opts.ReceiveBuffer, Events: s.mask(), LeadersOnly: true, OnExec: s.onExec,
	}, s.log)
	switch {
	case err == nil:
		s.clock = conn.Clock()
		s.conn.Store(conn)
		s.log.Info("capturing with the kernel's proc connector", zap.Int("receive_buffer", s.opts.ReceiveBuffer))
		s.stats.mode.Store(ModeNetlink)
		return conn, nil
	case s.opts.Mode == ModeAuto && (errors.Is(err, netlink.ErrUnsupported) || errors.Is(err, netlink.ErrPermission)):
		s.closeTap() // polling has no exec events to pair it with
		s.log.Warn("the proc connector cannot be used; polling /proc instead: processes that live shorter than the poll period are missed",
			zap.Error(err), zap.Duration("poll_period", s.opts.PollPeriod))
		s.stats.mode.Store(ModePoll)
		return nil, nil
	}
	s.closeTap()
	return nil, fmt.Errorf("open the proc connector: %w", err)
}

func (s *Source) closeTap() {
	if t := s.tap.Swap(nil); t != nil {
		if err := t.Close(); err != nil {
			s.log.Warn("close the exec argument tap", zap.Error(err))
		}
	}
}

// openTap loads the program that takes each exec's arguments in the
// kernel, unless the arguments are to be read from /proc. In auto, a
// kernel that does not allow it leaves /proc alone, and the log says why.
func (s *Source) openTap() error {
	if s.opts.ExecArgs == ArgsProc {
		s.log.Info("reading exec'd processes' arguments, executable and working directory from /proc, as configured")
		return nil
	}
	t, err := execargs.Open()
	// Open parsed the kernel's BTF: some 5 MiB of heap, garbage now, that
	// the runtime would otherwise keep for a long while.
	debug.FreeOSMemory()
	switch {
	case err == nil:
		s.tap.Store(t)
		s.log.Info("taking exec'd processes' arguments in the kernel at each exec, with their executable, working directory, process group and session (BPF on sched_process_exec)")
		return nil
	case s.opts.ExecArgs == ArgsKernel:
		return fmt.Errorf("take exec arguments in the kernel: %w", err)
	}
	s.log.Warn("exec arguments cannot be taken in the kernel; reading them, the executable and the working directory from /proc after each exec event, which misses those of processes that exit within a millisecond or so",
		zap.Error(err))
	return nil
}

func (s *Source) mask() netlink.EventMask {
	// Fork is needed even without fork documents: it names the parent at
	// the time of the exec and lets children inherit their parent's image.
	// The uid and gid events keep the inherited credentials right, so that
	// an exec'd process's status need not be read.
	return netlink.EventMask(netlink.WhatFork | netlink.WhatExec | netlink.WhatExit | netlink.WhatUID | netlink.WhatGID)
}

func (s *Source) listen(ctx context.Context, conn *netlink.Conn) error {
	lastSweep, lastClock := time.Now(), time.Now()
	resyncPending := false
	for {
		evs, err := conn.Receive()
		switch {
		case errors.Is(err, netlink.ErrLost):
			resyncPending = true
			s.lost = true
		case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil:
			// The wait for a spaced-out resync is over.
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("receive process events: %w", err)
		default:
			s.handleBatch(evs)
		}
		if resyncPending {
			due := s.lastResync.Add(resyncEvery)
			if !time.Now().Before(due) {
				s.resync()
				resyncPending = false
				due = time.Time{}
			}
			// Wake up for the resync even if no event comes; a zero
			// deadline clears it.
			if err := conn.SetReadDeadline(due); err != nil && ctx.Err() == nil {
				return fmt.Errorf("receive process events: %w", err)
			}
		}
		if now := time.Now(); now.Sub(lastSweep) >= sweepEvery {
			s.table.Sweep(now)
			lastSweep = now
			if now.Sub(lastClock) >= clockEvery {
				if err := s.clock.Refresh(); err != nil {
					s.log.Warn("refresh the event clock", zap.Error(err))
				}
				lastClock = now
			}
		}
	}
}

// arrival is an exec'd process read when its exec event came off the
// socket, kept until the event is handled.
type arrival struct {
	pid int
	at  uint64 // the exec event's kernel timestamp
	p   procfs.Process
}

// maxArrived bounds arrived: an exec event whose batch an error cut short
// is never handled, and its read must not stay forever.
const maxArrived = 1024

// onExec is the netlink Conn's OnExec: it reads the process that just
// exec'd the moment its event is decoded. A short-lived process loses its
// cmdline, exe and cwd when it exits (exit_mm), often within a millisecond
// of the exec, so the read comes before the rest of the socket is read,
// before the events are merged in order, and before any table update,
// document build or hand-off.
func (s *Source) onExec(e *netlink.Event) {
	if len(s.arrived) == maxArrived {
		s.arrived = slices.Delete(s.arrived, 0, 1)
	}
	s.arrived = append(s.arrived, arrival{pid: e.TGID, at: e.Timestamp, p: procfs.Process{Stat: procfs.Stat{PID: e.TGID}}})
	a := &s.arrived[len(s.arrived)-1]
	s.read(a.pid, &a.p, s.atExecOf(e))
}

// atExecOf returns what the tap took at exec e, or nil.
func (s *Source) atExecOf(e *netlink.Event) *procfs.AtExec {
	t := s.tap.Load()
	if t == nil {
		return nil
	}
	im, ok := t.Take(e.TGID, e.Timestamp)
	if !ok {
		return nil
	}
	s.atExec = procfs.AtExec{Args: im.Args, Cut: im.Cut, Comm: im.Comm, Exe: im.Exe, Cwd: im.Cwd, IDs: im.IDs, PGID: im.PGID, SID: im.SID}
	return &s.atExec
}

// handleBatch applies a batch of kernel events in order.
func (s *Source) handleBatch(evs []netlink.Event) {
	for i := range evs {
		var p *procfs.Process
		if evs[i].What == netlink.WhatExec {
			p = s.execd(&evs[i])
		}
		s.handle(&evs[i], p)
	}
	s.exec = procfs.Process{} // let the strings go
}

// execd returns the process of exec event e as onExec read it, or as read
// now for an event that did not come through onExec (a test's).
func (s *Source) execd(e *netlink.Event) *procfs.Process {
	for k := range s.arrived {
		if a := &s.arrived[k]; a.pid == e.TGID && a.at == e.Timestamp {
			s.exec = a.p
			s.arrived = slices.Delete(s.arrived, k, k+1)
			return &s.exec
		}
	}
	s.exec = procfs.Process{Stat: procfs.Stat{PID: e.TGID}}
	s.read(e.TGID, &s.exec, s.atExecOf(e))
	return &s.exec
}

// handle applies one kernel event; for an exec, p is the process as read
// from /proc. Threads are skipped: a process starts and ends when its
// thread-group leader does.
func (s *Source) handle(e *netlink.Event, p *procfs.Process) {
	at := s.clock.Time(e.Timestamp)
	switch e.What {
	case netlink.WhatFork:
		if e.ChildPID != e.ChildTGID {
			return
		}
		ent := s.table.Fork(e.ParentTGID, e.ChildTGID, at)
		if s.opts.Fork && ent != nil {
			s.emit(ecs.ActionFork, "start", at, ent)
		}
	case netlink.WhatUID:
		if e.PID == e.TGID { // a thread's own credentials are not the process's
			s.table.SetUIDs(e.TGID, e.RUID, e.EUID)
		}
	case netlink.WhatGID:
		if e.PID == e.TGID {
			s.table.SetGIDs(e.TGID, e.RGID, e.EGID)
		}
	case netlink.WhatExec:
		s.settle(p)
		s.creds(p)
		p.ContainerID = s.containerOf(p)
		ent := s.table.Exec(p, at)
		if s.opts.Exec && ent != nil {
			s.emit(ecs.ActionExec, "start", at, ent)
		}
	case netlink.WhatExit:
		if e.PID != e.TGID {
			return
		}
		ent := s.table.Exit(e.TGID, exitCode(e.WaitStatus()), at)
		if s.opts.End && ent != nil {
			s.emit(ecs.ActionEnd, "end", at, ent)
		}
	}
}

// exitCode is process.exit_code: the exit status, or 128+signal for a
// process killed by a signal (the shell's convention).
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// read reads the process that just exec'd into p, without its
// credentials (see creds), and counts how much /proc still showed. at,
// if not nil, is what the tap took at the exec.
func (s *Source) read(pid int, p *procfs.Process, at *procfs.AtExec) {
	var err error
	if at != nil {
		err = s.rd.ReadExecAt(pid, p, *at)
	} else {
		err = s.rd.ReadExec(pid, p)
	}
	switch {
	case errors.Is(err, procfs.ErrGone):
		s.countRead(procfs.ReadExited)
	case err != nil:
		s.stats.readErrors.Add(1)
		s.log.Debug("read exec'd process", zap.Int("process.pid", pid), zap.Error(err))
		s.countRead(procfs.ReadExited)
	default:
		s.countRead(p.ReadState)
		if len(s.opts.EnvVars) > 0 && p.ReadState != procfs.ReadZombie {
			p.EnvVars, _ = s.rd.EnvVars(pid, s.opts.EnvVars, true) // none when gone since
		}
	}
}

// containerOf returns container.id for exec'd process p: the one it had
// before the exec (a fork inherits its parent's cgroups), or read from its
// cgroups when the table does not know it or when a container runtime ran
// in it or forked it.
func (s *Source) containerOf(p *procfs.Process) string {
	e, _ := s.table.Get(p.PID)
	if keepsContainer(e) {
		if parent, ok := s.table.Parent(e); !ok || !cache.IsContainerRuntime(parent.Image.Name()) {
			return e.Image.ContainerID
		}
	}
	id, err := s.rd.ContainerID(p.PID)
	if err != nil && e != nil && !e.Exited && e.Image.ReadState != 0 {
		return e.Image.ContainerID // exited since: what it had at the fork
	}
	if id != "" {
		// The runtime set the container's capability bounding set before
		// the exec, too: read it (container.security_context.privileged).
		// Gone since: the creds from the table stand.
		_ = s.rd.ReadStatus(p.PID, p)
	}
	return id
}

// keepsContainer reports whether the container.id that the table holds for
// e still stands: e is a live process whose image was read, and no
// container runtime runs in it (runc and its kind move the container's
// first process into the container's cgroups before it execs).
func keepsContainer(e *cache.Entry) bool {
	return e != nil && !e.Exited && e.Image.ReadState != 0 && !cache.IsContainerRuntime(e.Image.Name())
}

// settle completes the stat part of an exec'd process that read left out
// (procfs.PartStat): its start and parent, which the table keeps from the
// fork, and its terminal, which the entry may vouch for (KnowsNoTTY).
// Otherwise, or while lost events may have left the table a stale entry
// for a reused PID, stat is read now, microseconds after the rest: a
// zombie still shows it.
func (s *Source) settle(p *procfs.Process) {
	if p.Missing&procfs.PartStat == 0 || p.ReadState == 0 {
		return
	}
	if e, ok := s.table.Get(p.PID); ok && !s.lost && e.KnowsNoTTY(p.SID) {
		p.Missing &^= procfs.PartStat
		return
	}
	read := p.Stat
	if err := s.rd.ReadStat(p.PID, &p.Stat); err != nil {
		// Reaped since: the table's start and parent, if it has them.
		p.Stat = read
		return
	}
	p.Missing &^= procfs.PartStat
}

// creds fills in the credentials of an exec'd process, which read left
// out: from the table — the parent's at the fork, updated by the uid and
// gid events since, which the kernel sends before the exec event when the
// exec itself changes them (a set-user-ID file) — or, for a process the
// table does not know, from status now. When neither has them they are
// unknown, not root's: an image with ReadState zero carries none (build).
func (s *Source) creds(p *procfs.Process) {
	if p.Missing&procfs.PartStatus == 0 || p.ReadState == 0 {
		return
	}
	if s.table.Creds(p.PID, &p.Creds) {
		p.Missing &^= procfs.PartStatus
		return
	}
	if err := s.rd.ReadStatus(p.PID, p); err != nil {
		p.ReadState = 0
	}
}

func (s *Source) countRead(st procfs.ReadState) {
	switch st {
	case procfs.ReadComplete:
		s.stats.complete.Add(1)
	case procfs.ReadZombie:
		s.stats.zombie.Add(1)
	case procfs.ReadPartial:
		s.stats.partial.Add(1)
	default:
		s.stats.exited.Add(1)
	}
}

// scan reads every process in /proc into the table at start, emitting
// "existing" documents when asked.
func (s *Source) scan(emitExisting bool) {
	_, _ = s.scanWith(func(ent *cache.Entry, _ scanned, at time.Time) {
		if emitExisting {
			s.emit(ecs.ActionExisting, "info", at, ent)
		}
	})
}

// scanned says what a scan learned about one process.
type scanned uint8

const (
	scanKnown  scanned = iota // the table knew the process and its image
	scanNew                   // the table did not know the process
	scanExeced                // a fork child the table knew runs another image now: its exec went unseen
)

// scanHit is one process a scan read.
type scanHit struct {
	ent  *cache.Entry
	what scanned
}

// scanWith reads every user process of /proc into the table, then calls
// found for each (by then the table holds its parent and leaders, which
// /proc lists in pid order, not in the order they started), and marks the
// ones that vanished unnoticed as exited. It returns how many processes
// were new to the table.
func (s *Source) scanWith(found func(ent *cache.Entry, what scanned, at time.Time)) (added int, err error) {
	now := time.Now()
	s.table.BeginScan(now)
	pids, err := s.fs.PIDs(s.pids[:0])
	s.pids = pids
	if err != nil {
		s.log.Warn("list processes", zap.Error(err))
		return 0, err
	}
	for _, pid := range pids {
		p := &s.scratch
		if err := s.rd.Read(pid, p); err != nil || p.IsKernelThread() {
			continue // gone since the listing, unreadable, or a kernel thread
		}
		old, _ := s.table.Get(pid)
		if keepsContainer(old) && old.Image.Exe == p.Exe && slices.Equal(old.Image.Args, p.Args) {
			p.ContainerID = old.Image.ContainerID // a poll, or a resync, meeting a process again
		} else {
			p.ContainerID, _ = s.rd.ContainerID(pid) // "" when gone since
		}
		if len(s.opts.EnvVars) > 0 {
			p.EnvVars, _ = s.rd.EnvVars(pid, s.opts.EnvVars, false)
		}
		var forked *cache.Image
		if old != nil && old.Source == cache.SourceFork && old.Image.ReadState == procfs.ReadComplete {
			im := old.Image // the inherited image, before Upsert replaces it
			forked = &im
		}
		ent, isNew := s.table.Upsert(p, now)
		what := scanKnown
		switch {
		case isNew:
			added++
			what = scanNew
		case forked != nil && ent == old && ent.Source == cache.SourceScan &&
			(ent.Image.Exe != forked.Exe || !slices.Equal(ent.Image.Args, forked.Args)):
			what = scanExeced
		}
		s.hits = append(s.hits, scanHit{ent, what})
	}
	for i, h := range s.hits {
		found(h.ent, h.what, now)
		s.hits[i] = scanHit{} // drop the pointer
	}
	s.hits = s.hits[:0]
	s.table.EndScan(time.Now())
	return added, nil
}

// resyncEvery spaces the /proc scans of a sustained overflow: a scan
// takes milliseconds per hundred processes, during which the socket is not
// read and overflows again, so back-to-back scans would keep the Source
// behind for as long as the storm lasts.
const resyncEvery = 250 * time.Millisecond

// resyncWarnEvery samples the warning about lost events.
const resyncWarnEvery = 10 * time.Second

// resync runs after the kernel dropped events (ENOBUFS): the table learns
// the processes it missed, so that their children still get parent fields,
// and live processes whose exec event was lost get their exec document
// now (timed at their start, or at the scan for a fork child that exec'd
// unseen), so that detection still sees them.
func (s *Source) resync() {
	s.stats.resyncs.Add(1)
	execs := 0
	added, _ := s.scanWith(func(ent *cache.Entry, what scanned, at time.Time) {
		if !s.opts.Exec || ent.Exited {
			return
		}
		switch what {
		case scanNew:
			s.emit(ecs.ActionExec, "start", ent.Start, ent)
			execs++
		case scanExeced:
			s.emit(ecs.ActionExec, "start", at, ent)
			execs++
		}
	})
	s.stats.resyncAdded.Add(uint64(added))
	s.stats.resyncExecs.Add(uint64(execs))
	s.lost = false
	s.lastResync = time.Now()
	s.warnLost.resyncs++
	s.warnLost.added += added
	if s.lastResync.Sub(s.warnLost.at) >= resyncWarnEvery {
		s.log.Warn("the kernel dropped process events (socket buffer full); resynchronised from /proc",
			zap.Int("resyncs", s.warnLost.resyncs), zap.Int("processes_added", s.warnLost.added),
			zap.Uint64("kernel_losses_total", s.Stats().Kernel.Lost), zap.Int("receive_buffer", s.opts.ReceiveBuffer))
		s.warnLost.at, s.warnLost.resyncs, s.warnLost.added = s.lastResync, 0, 0
	}
}

// pollScan is poll mode's start-up scan: it seeds the table and the list
// of live processes that the first poll compares with, so that a process
// that exits before the first poll still gets its end document.
func (s *Source) pollScan() {
	emitExisting := s.opts.ScanExisting && s.opts.Existing
	s.live = s.live[:0]
	_, _ = s.scanWith(func(ent *cache.Entry, _ scanned, at time.Time) {
		if emitExisting {
			s.emit(ecs.ActionExisting, "info", at, ent)
		}
		if !ent.Exited {
			s.live = append(s.live, ent)
		}
	})
}

// poll finds new and vanished processes every poll period.
func (s *Source) poll(ctx context.Context) error {
	t := time.NewTicker(s.opts.PollPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.pollOnce()
	}
}

// pollOnce emits an exec document for every process that appeared since
// the last poll and an end document for every one that vanished (without
// exit code: polling cannot know it).
func (s *Source) pollOnce() {
	prev := s.live
	s.live = s.live[len(s.live):]
	_, err := s.scanWith(func(ent *cache.Entry, what scanned, _ time.Time) {
		if ent.Exited {
			return
		}
		s.live = append(s.live, ent)
		if what == scanNew && s.opts.Exec {
			s.emit(ecs.ActionExec, "start", ent.Start, ent)
		}
	})
	if err != nil {
		s.live = prev
		return
	}
	for _, ent := range prev {
		if ent.Exited && s.opts.End {
			s.emit(ecs.ActionEnd, "end", ent.ExitAt, ent)
		}
	}
	s.table.Sweep(time.Now())
}

// emit builds the document for ent and lends it to the sink.
func (s *Source) emit(action, typ string, at time.Time, ent *cache.Entry) {
	ev := &s.doc
	*ev = ecs.Event{}
	s.build(ev, action, typ, at, ent)
	s.sink(ev)
	s.stats.emitted.Add(1)
}

// Stats returns a snapshot of the counters.
func (s *Source) Stats() Stats {
	st := Stats{
		Mode:         s.stats.mode.Load().(string),
		Emitted:      s.stats.emitted.Load(),
		Resyncs:      s.stats.resyncs.Load(),
		ResyncAdded:  s.stats.resyncAdded.Load(),
		ResyncExecs:  s.stats.resyncExecs.Load(),
		ReadErrors:   s.stats.readErrors.Load(),
		ReadComplete: s.stats.complete.Load(),
		ReadZombie:   s.stats.zombie.Load(),
		ReadExited:   s.stats.exited.Load(),
		ReadPartial:  s.stats.partial.Load(),
		Table:        s.table.Stats(),
	}
	if c := s.conn.Load(); c != nil {
		st.Kernel = c.Stats()
	}
	if t := s.tap.Load(); t != nil {
		st.ExecArgs = t.Stats()
	}
	return st
}
