package process

import (
	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/module/process/cache"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/module/process/netlink"
	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// handleBatch applies a batch of kernel events in order: an exec's image
// is taken and its process made (completer) right before it is applied.
func (s *Source) handleBatch(evs []netlink.Event) {
	for i := range evs {
		e := &evs[i]
		if e.What != netlink.WhatExec {
			s.handle(e, nil, false)
			continue
		}
		im, ok := s.kernel.image(e)
		p, ttyKnown := s.fill.exec(e.TGID, &im, ok)
		s.handle(e, p, ttyKnown)
	}
	s.fill.release()
}

// handle applies one kernel event to the table and emits its document;
// for an exec, p is the process that exec'd, and ttyKnown says its
// terminal is known without stat. Threads are skipped: a process starts
// and ends when its thread-group leader does.
func (s *Source) handle(e *netlink.Event, p *procfs.Process, ttyKnown bool) {
	at := s.kernel.clock.Time(e.Timestamp)
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
		s.settle(p, ttyKnown)
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

// settle completes the stat part of an exec'd process that was not read
// (procfs.PartStat): its start and parent, which the table keeps from the
// fork, and its terminal, which the exec's image gave (ttyKnown) or the
// entry may vouch for (KnowsNoTTY). Otherwise, or while lost events may
// have left the table a stale entry for a reused PID, stat is read now,
// microseconds after the rest: a zombie still shows it.
func (s *Source) settle(p *procfs.Process, ttyKnown bool) {
	if p.Missing&procfs.PartStat == 0 || p.ReadState == 0 {
		return
	}
	if e, ok := s.table.Get(p.PID); ok && !s.lost && (ttyKnown || e.KnowsNoTTY(p.SID)) {
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

// creds fills in the credentials of an exec'd process, which were not
// read: from the table — the parent's at the fork, updated by the uid and
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
