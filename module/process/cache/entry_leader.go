package cache

import (
	"strings"

	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// EntryType is process.entry_leader.entry_meta.type: how the session that
// a process belongs to was entered. Kibana's Session View groups processes
// by their entry leader, and Elastic's container rules test the type.
type EntryType uint8

// Entry types, as Elastic Defend and Auditbeat's add_session_metadata name
// them.
const (
	EntryNone      EntryType = iota // no entry leader (init, kernel threads, or none found)
	EntryInit                       // a service: a session leader started by init
	EntrySSHD                       // a session leader started by sshd
	EntrySSM                        // a session leader on a pty started by AWS SSM's session worker
	EntryContainer                  // a session leader started by a container runtime
	EntryTerminal                   // a session leader on a serial terminal
	EntryConsole                    // login on a virtual console
	EntryUnknown                    // a session leader that is none of the above
)

// String is the ECS keyword; empty for EntryNone.
func (t EntryType) String() string {
	switch t {
	case EntryInit:
		return "init"
	case EntrySSHD:
		return "sshd"
	case EntrySSM:
		return "ssm"
	case EntryContainer:
		return "container"
	case EntryTerminal:
		return "terminal"
	case EntryConsole:
		return "console"
	case EntryUnknown:
		return "unknown"
	}
	return ""
}

// entryMemo is an entry's evaluated entry leader; an exec or a scan that
// replaces the image clears it.
type entryMemo struct {
	state  uint8 // entryPending, entryEvaluating or entryDone
	leader *Entry
	typ    EntryType
}

const (
	entryPending uint8 = iota
	entryEvaluating
	entryDone
)

// containerRuntimes start containers' first processes; the names are
// prefixes (containerd-shim-runc-v2).
var containerRuntimes = []string{"containerd-shim", "runc", "crun", "conmon"}

// IsContainerRuntime reports whether name (a process name) is a container
// runtime's: it starts containers, moving its child into their cgroups.
func IsContainerRuntime(name string) bool { return hasPrefix(name, containerRuntimes) }

// plumbing are the executables of entry mechanisms themselves: a session
// they lead is not told apart by its parent (a runc under a shim is no
// container's entry).
var plumbing = []string{"runc", "crun", "containerd-shim", "calico-node", "check-status", "conmon"}

// EntryLeader returns the process through which e's session was entered,
// and how, or nil and EntryNone. It decides as Auditbeat's
// add_session_metadata does: a session leader is its own entry leader when
// its terminal or parent tells how the session began (serial terminal,
// console login, init, sshd, SSM, container runtime); any other process
// takes the entry leader of its parent, else of its session leader, else
// of its process group leader; a session leader none of them gives one is
// its own, of unknown type. The answer is kept until e's image changes.
func (t *Table) EntryLeader(e *Entry) (*Entry, EntryType) {
	switch e.entry.state {
	case entryDone:
		return e.entry.leader, e.entry.typ
	case entryEvaluating:
		return nil, EntryNone // a cycle through session or group leaders
	}
	e.entry.state = entryEvaluating
	leader, typ := t.evaluateEntry(e)
	e.entry = entryMemo{state: entryDone, leader: leader, typ: typ}
	return leader, typ
}

func (t *Table) evaluateEntry(e *Entry) (*Entry, EntryType) {
	if e.PID <= 2 || e.PPID == 2 {
		return nil, EntryNone // init, kthreadd and kernel threads
	}
	im := &e.Image
	known := im.ReadState != 0 // sid, pgid and tty were read
	parent, _ := t.Parent(e)
	leadsSession := known && e.PID == im.SID
	if leadsSession {
		if typ := t.entryType(e, parent); typ != EntryNone {
			return e, typ
		}
	}
	if known {
		for _, rel := range []*Entry{parent, t.relative(e, im.SID), t.relative(e, im.PGID)} {
			if rel == nil {
				continue
			}
			if leader, typ := t.EntryLeader(rel); leader != nil {
				return leader, typ
			}
		}
	} else if parent != nil {
		// Nothing read (gone before it): its session is unknown, so the
		// entry its fork passed on.
		if leader, typ := t.EntryLeader(parent); leader != nil {
			return leader, typ
		}
	}
	if leadsSession {
		return e, EntryUnknown
	}
	return nil, EntryNone
}

// entryType tells how the session that e leads was entered, from its
// terminal and its parent; EntryNone when neither tells.
func (t *Table) entryType(e, parent *Entry) EntryType {
	name := e.Image.Name()
	tty := ttyKindOf(e.Image.TTY)
	switch {
	case tty == ttySerial:
		return EntryTerminal
	case tty == ttyVirtualConsole && name == "login":
		return EntryConsole
	case e.PPID == 1:
		return EntryInit
	case parent == nil || hasPrefix(name, plumbing):
		return EntryNone
	}
	parentName := parent.Image.Name()
	switch {
	case tty == ttyPTS && parentName == "ssm-session-worker":
		return EntrySSM
	case parentName == "sshd" && name != "sshd":
		return EntrySSHD
	case IsContainerRuntime(parentName):
		return EntryContainer
	}
	return EntryNone
}

// relative returns the live or recently exited process pid (e's session
// or group leader) if it is another process that started before e.
func (t *Table) relative(e *Entry, pid int) *Entry {
	r := t.byPID[pid]
	if r == nil || r == e || !t.startedBefore(r, e) {
		return nil
	}
	return r
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

type ttyKind uint8

const (
	ttyNone ttyKind = iota
	ttyVirtualConsole
	ttySerial
	ttyPTS
)

// ttyKindOf classifies a tty_nr by the kernel's device numbers
// (Documentation/admin-guide/devices.txt): major 4 is tty0-63 (virtual
// consoles) and ttyS0-191 (serial); majors 136-143 are the Unix98 ptys.
func ttyKindOf(ttyNr uint32) ttyKind {
	if ttyNr == 0 {
		return ttyNone
	}
	major, minor := procfs.TTYDevice(ttyNr)
	switch {
	case major == 4 && minor < 64:
		return ttyVirtualConsole
	case major == 4:
		return ttySerial
	case major >= 136 && major <= 143:
		return ttyPTS
	}
	return ttyNone
}
