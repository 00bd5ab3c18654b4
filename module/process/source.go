package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// Where an exec'd process's arguments come from (spawnbeat.capture.exec_args);
// any other value ("" too) is ArgsAuto.
const (
	ArgsAuto   = "auto"   // taken in the kernel at the exec where it allows (execargs), else from /proc
	ArgsKernel = "kernel" // taken in the kernel at the exec; fail to start when it cannot be
	ArgsProc   = "proc"   // read from /proc after the exec event
)

// Options configure a Source. A plain value; New copies it.
type Options struct {
	Mode          string        // ModeAuto, ModeNetlink or ModePoll
	ExecArgs      string        // ArgsAuto (also ""), ArgsKernel or ArgsProc
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
//
// Its parts follow an exec from the kernel to the sink (see the package
// doc): kernel, fill, table, docs; the scans seed and repair the table.
type Source struct {
	opts Options
	log  *zap.Logger
	fs   procfs.FS
	rd   *procfs.Reader // shared by fill and the scans, on the one goroutine

	kernel kernel       // the proc connector's events, the exec program's images
	fill   completer    // an exec's process, from its image and /proc
	table  *cache.Table // every process seen, exited ones for a grace period
	docs   builder      // documents from the table's entries
	scans  scanState    // the /proc scans' buffers and pace
	doc    ecs.Event    // the document being built and lent to the sink
	sink   Sink         //
	boot   time.Time    // wall-clock time of boot, which /proc's start times count from
	// lost says the kernel dropped events that no resync has made up for
	// yet: a missed exit and fork may leave the table an entry of an
	// earlier process with the same PID (settle).
	lost    bool
	started atomic.Bool // the start-up scan is done and events are being handled
	stats   counters
}

type counters struct {
	emitted, resyncs, resyncAdded, resyncExecs, readErrors atomic.Uint64
	complete, zombie, exited, partial                      atomic.Uint64
	mode                                                   atomic.Value // string
}

// countRead counts the read state of an exec'd process.
func (c *counters) countRead(st procfs.ReadState) {
	switch st {
	case procfs.ReadComplete:
		c.complete.Add(1)
	case procfs.ReadZombie:
		c.zombie.Add(1)
	case procfs.ReadPartial:
		c.partial.Add(1)
	default:
		c.exited.Add(1)
	}
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
		opts: opts,
		log:  log.Named("capture"),
		fs:   fs,
		rd:   fs.NewReader(opts.MaxArgsBytes),
		boot: bootTime(),
	}
	s.table = cache.New(cache.Options{
		MaxEntries: opts.CacheEntries,
		Grace:      opts.ExitGrace,
		HostID:     host.ID,
		BootID:     bootID(opts.ProcRoot),
		BootTime:   s.boot,
		ClockTicks: fs.ClockTicks(),
	})
	s.fill = completer{rd: s.rd, envVars: opts.EnvVars, log: s.log, stats: &s.stats}
	s.docs = builder{
		host: host, agent: agent, namespace: opts.Namespace, table: s.table,
		names: procfs.NewNames(filepath.Dir(filepath.Clean(opts.ProcRoot)), procfs.DefaultNamesRecheck, log),
	}
	if err := s.rd.ReadStatus(1, &s.scans.scratch); err == nil && s.scans.scratch.HasCapBnd {
		s.docs.hostCaps = s.scans.scratch.Creds
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
	conn, err := s.kernel.open(s.opts, s.log, s.mask())
	if err != nil {
		return err
	}
	defer s.kernel.closeTap(s.log)
	if conn == nil {
		s.stats.mode.Store(ModePoll)
		s.pollScan()
		s.started.Store(true)
		return s.poll(ctx)
	}
	s.stats.mode.Store(ModeNetlink)
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
			if s.kernel.waiting() {
				conn.Hurry()
			}
		}
		if resyncPending {
			due := s.scans.lastResync.Add(resyncEvery)
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
				if err := s.kernel.clock.Refresh(); err != nil {
					s.log.Warn("refresh the event clock", zap.Error(err))
				}
				lastClock = now
			}
		}
	}
}

// WakeFor narrows the execs that a storm must not delay to those of ways,
// by their names (process.name) and their parents' (process.parent.name):
// the exec program wakes the Source at once for them, and a storm's other
// execs wait up to coalesceWatched rather than coalesceEvery before they
// are read. Detection calls it with the ways its rules can match an exec.
// WakeForAll undoes it; it is the start. Safe to call from any goroutine,
// before or during Run.
func (s *Source) WakeFor(ways []execargs.Way) {
	s.kernel.setWake(wakeFor{some: true, ways: ways}, s.log)
}

// WakeForAll makes every exec count (see WakeFor).
func (s *Source) WakeForAll() { s.kernel.setWake(wakeFor{}, s.log) }

// emit builds the document for ent and lends it to the sink.
func (s *Source) emit(action, typ string, at time.Time, ent *cache.Entry) {
	ev := &s.doc
	*ev = ecs.Event{}
	s.docs.build(ev, action, typ, at, ent)
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
	s.kernel.stats(&st)
	return st
}
