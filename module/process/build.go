package process

import (
	"strconv"
	"strings"
	"time"

	"github.com/spawnbeat/spawnbeat/module/process/cache"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// builder makes the ECS document of a table entry: the process, its
// parent and leaders as the table knows them, with user and group names
// (procfs.Names) and the agent's and host's fields. It belongs to the
// Source's goroutine.
type builder struct {
	host      *ecs.Host
	agent     *ecs.Agent
	namespace string // data_stream.namespace
	table     *cache.Table
	names     *procfs.Names
	// hostCaps is the capability bounding set of the host's init (pid 1
	// under the proc root), which a privileged container's processes
	// keep whole; HasCapBnd false when it could not be read.
	hostCaps procfs.Creds

	seq      uint64            // event.sequence
	ids      map[uint32]string // formatted user and group ids
	cmdlines [2]joined         // the last command lines built, newest first
}

// build fills ev, a zeroed document, for ent.
func (b *builder) build(ev *ecs.Event, action, typ string, at time.Time, ent *cache.Entry) {
	b.seq++
	ev.Timestamp = at
	ev.Event = ecs.Meta{
		Kind:     ecs.KindEvent,
		Type:     typ,
		Action:   action,
		Created:  time.Now(),
		Sequence: b.seq,
	}
	ev.Host, ev.Agent, ev.Namespace = b.host, b.agent, b.namespace

	p := &ev.Process
	b.info(&p.Info, ent)
	if parent, ok := b.table.Parent(ent); ok {
		b.info(&p.Parent, parent)
	} else if ent.PPID > 0 {
		p.Parent.PID = ent.PPID // known from the kernel or /proc, its image is not
	}
	if leader, typ := b.table.EntryLeader(ent); leader != nil {
		b.leader(&p.EntryLeader, ent, leader)
		p.EntryLeader.EntryMetaType = typ.String()
	}
	b.leaderByPID(&p.SessionLeader, ent, ent.Image.SID)
	b.leaderByPID(&p.GroupLeader, ent, ent.Image.PGID)
	if action == ecs.ActionExec && len(ent.Previous) > 0 {
		p.Previous = make([]ecs.Previous, len(ent.Previous))
		for i, im := range ent.Previous {
			p.Previous[i] = ecs.Previous{Executable: im.Exe, Args: im.Args}
		}
	}
	if action == ecs.ActionEnd {
		p.End = ent.ExitAt
		p.ExitCode, p.HasExitCode = ent.ExitCode, ent.HasExitCode
	}
	ev.Container.ID = ent.Image.ContainerID
	if ev.Container.ID != "" {
		ev.Container.Privileged = b.privileged(&ent.Image)
	}
	ev.Spawnbeat.ReadState = readState(ent)
	ev.AssignID()
}

// privileged is container.security_context.privileged: whether the
// bounding set of the image holds every capability init's holds, as
// Docker's and Kubernetes' privileged containers keep it (an unprivileged
// one gets 14 capabilities by default). Unknown when either set is
// unknown.
func (b *builder) privileged(im *cache.Image) ecs.Tristate {
	host := b.hostCaps.CapBnd
	switch {
	case im.ReadState == 0 || !im.HasCapBnd || !b.hostCaps.HasCapBnd:
		return ecs.Unknown
	case im.CapBnd&host == host:
		return ecs.True
	}
	return ecs.False
}

// readState is spawnbeat.read_state: how much of the process /proc showed.
// An exec'd process with nothing read was gone before it could be read;
// a fork child of an unknown parent has no state to report.
func readState(ent *cache.Entry) string {
	if st := ent.Image.ReadState; st != 0 {
		return st.String()
	}
	if ent.Source == cache.SourceExec {
		return procfs.ReadExited.String()
	}
	return ""
}

// info copies what the table knows of a process into an ECS process object.
// Strings and argument slices are shared, never copied: the table never
// modifies them.
func (b *builder) info(dst *ecs.Info, e *cache.Entry) {
	im := &e.Image
	dst.PID = e.PID
	dst.EntityID = e.EntityID
	dst.Name = im.Name()
	dst.Executable = im.Exe
	dst.Args = im.Args
	dst.ArgsTruncated = im.ArgsTruncated
	dst.CommandLine = b.commandLine(im.Args)
	dst.WorkingDirectory = im.Cwd
	dst.EnvVars = im.EnvVars
	dst.Start = e.Start
	if im.ReadState == 0 {
		return // nothing was read: no credentials, no terminal
	}
	dst.User = b.user(im.EUID)
	dst.Group = b.group(im.EGID)
	dst.RealUser = b.user(im.UID)
	dst.RealGroup = b.group(im.GID)
	if im.TTY != 0 {
		major, minor := procfs.TTYDevice(im.TTY)
		dst.TTY = ecs.TTY{Major: int(major), Minor: int(minor), Valid: true}
		dst.Interactive = ecs.True
	} else {
		dst.Interactive = ecs.False
	}
}

func (b *builder) user(uid uint32) ecs.ID {
	name, _ := b.names.User(uid)
	return ecs.ID{ID: b.idString(uid), Name: name}
}

func (b *builder) group(gid uint32) ecs.ID {
	name, _ := b.names.Group(gid)
	return ecs.ID{ID: b.idString(gid), Name: name}
}

// maxIDStrings bounds the cache of formatted user and group ids.
const maxIDStrings = 4096

// idString formats a user or group id, from a cache: a document carries
// four of them, and a host has few distinct ones.
func (b *builder) idString(id uint32) string {
	if str, ok := b.ids[id]; ok {
		return str
	}
	if b.ids == nil || len(b.ids) >= maxIDStrings {
		b.ids = make(map[uint32]string, 64)
	}
	str := strconv.FormatUint(uint64(id), 10)
	b.ids[id] = str
	return str
}

// commandLine is process.command_line: args joined by spaces. The last
// two results are kept: a process's documents (exec, end) and its parent's
// fields in them alternate, and the children of one process (a shell loop,
// a build) share its args slice as their parent's.
func (b *builder) commandLine(args []string) string {
	if len(args) == 0 {
		return ""
	}
	for i := range b.cmdlines {
		if c := &b.cmdlines[i]; len(args) == len(c.args) && &args[0] == &c.args[0] {
			return c.line
		}
	}
	b.cmdlines[1] = b.cmdlines[0]
	b.cmdlines[0] = joined{args, strings.Join(args, " ")}
	return b.cmdlines[0].line
}

// joined is a command line and the args it was joined from.
type joined struct {
	args []string // shared with the table
	line string
}

// leaderByPID fills a session or process-group leader of ent from the
// table, for Kibana's Session View; absent when the leader is unknown.
func (b *builder) leaderByPID(dst *ecs.Leader, ent *cache.Entry, pid int) {
	if pid <= 0 {
		return
	}
	if e, ok := b.table.Get(pid); ok {
		b.leader(dst, ent, e)
	}
}

// leader fills dst with leader e of process ent.
func (b *builder) leader(dst *ecs.Leader, ent, e *cache.Entry) {
	dst.PID = e.PID
	dst.EntityID = e.EntityID
	dst.Name = e.Image.Name()
	dst.Executable = e.Image.Exe
	dst.Args = e.Image.Args
	dst.Start = e.Start
	dst.SameAsProcess = ecs.False
	if e == ent {
		dst.SameAsProcess = ecs.True
	}
}
