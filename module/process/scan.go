package process

import (
	"context"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/module/process/cache"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// scanState is what the /proc scans (at start, after lost events, and
// each poll in poll mode) keep between runs: buffers, and the pace of the
// resyncs.
type scanState struct {
	pids    []int
	hits    []scanHit      // scanWith: what a scan found, before found sees it
	live    []*cache.Entry // poll mode: the processes the last poll found
	scratch procfs.Process

	lastResync time.Time
	warnLost   struct { // the sampled warning about lost events
		at             time.Time
		resyncs, added int
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
// were new to the table, and false when /proc could not be listed (which
// it logs: the callers only need to know that the scan saw nothing).
func (s *Source) scanWith(found func(ent *cache.Entry, what scanned, at time.Time)) (added int, ok bool) {
	now := time.Now()
	s.table.BeginScan(now)
	pids, err := s.fs.PIDs(s.scans.pids[:0])
	s.scans.pids = pids
	if err != nil {
		s.log.Warn("list processes", zap.Error(err))
		return 0, false
	}
	for _, pid := range pids {
		p := &s.scans.scratch
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
		s.scans.hits = append(s.scans.hits, scanHit{ent, what})
	}
	for i, h := range s.scans.hits {
		found(h.ent, h.what, now)
		s.scans.hits[i] = scanHit{} // drop the pointer
	}
	s.scans.hits = s.scans.hits[:0]
	s.table.EndScan(time.Now())
	return added, true
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
	s.scans.lastResync = time.Now()
	s.scans.warnLost.resyncs++
	s.scans.warnLost.added += added
	if s.scans.lastResync.Sub(s.scans.warnLost.at) >= resyncWarnEvery {
		s.log.Warn("the kernel dropped process events (socket buffer full); resynchronised from /proc",
			zap.Int("resyncs", s.scans.warnLost.resyncs), zap.Int("processes_added", s.scans.warnLost.added),
			zap.Uint64("kernel_losses_total", s.Stats().Kernel.Lost), zap.Int("receive_buffer", s.opts.ReceiveBuffer))
		s.scans.warnLost.at, s.scans.warnLost.resyncs, s.scans.warnLost.added = s.scans.lastResync, 0, 0
	}
}

// pollScan is poll mode's start-up scan: it seeds the table and the list
// of live processes that the first poll compares with, so that a process
// that exits before the first poll still gets its end document.
func (s *Source) pollScan() {
	emitExisting := s.opts.ScanExisting && s.opts.Existing
	s.scans.live = s.scans.live[:0]
	_, _ = s.scanWith(func(ent *cache.Entry, _ scanned, at time.Time) {
		if emitExisting {
			s.emit(ecs.ActionExisting, "info", at, ent)
		}
		if !ent.Exited {
			s.scans.live = append(s.scans.live, ent)
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
	prev := s.scans.live
	s.scans.live = s.scans.live[len(s.scans.live):]
	_, ok := s.scanWith(func(ent *cache.Entry, what scanned, _ time.Time) {
		if ent.Exited {
			return
		}
		s.scans.live = append(s.scans.live, ent)
		if what == scanNew && s.opts.Exec {
			s.emit(ecs.ActionExec, "start", ent.Start, ent)
		}
	})
	if !ok {
		s.scans.live = prev
		return
	}
	for _, ent := range prev {
		if ent.Exited && s.opts.End {
			s.emit(ecs.ActionEnd, "end", ent.ExitAt, ent)
		}
	}
	s.table.Sweep(time.Now())
}
