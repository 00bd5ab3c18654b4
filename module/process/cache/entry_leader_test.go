package cache

import (
	"testing"

	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// Terminals as tty_nr (major<<8 | minor).
const (
	pts3   = 136<<8 | 3 // /dev/pts/3
	tty1   = 4<<8 | 1   // a virtual console
	ttyS0  = 4<<8 | 64  // a serial line
	noTTY  = 0
	ticks0 = 5000
)

// member is a process as /proc shows it, with its session, process group
// and terminal.
func member(pid, ppid, sid, pgid int, tty uint32, exe string) *procfs.Process {
	p := proc(pid, ppid, ticks0+uint64(pid), exe, exe)
	p.SID, p.PGID, p.TTY = sid, pgid, tty
	return p
}

func TestEntryLeader(t *testing.T) {
	tests := []struct {
		name     string
		run      func(tab *Table) *Entry // returns the entry under test
		wantPID  int                     // the entry leader's; 0: none
		wantType EntryType
	}{
		{
			name: "a service is its own entry leader, of type init",
			run: func(tab *Table) *Entry {
				e, _ := tab.Upsert(member(300, 1, 300, 300, noTTY, "cron"), t0)
				return e
			},
			wantPID: 300, wantType: EntryInit,
		},
		{
			name: "a service's child takes its entry leader",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(300, 1, 300, 300, noTTY, "cron"), t0)
				e, _ := tab.Upsert(member(310, 300, 300, 310, noTTY, "dash"), t0)
				return e
			},
			wantPID: 300, wantType: EntryInit,
		},
		{
			name: "a shell sshd started leads an sshd session, and its commands belong to it",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(500, 1, 500, 500, noTTY, "sshd"), t0)
				tab.Fork(500, 600, at(ticks0+600))
				tab.Exec(member(600, 500, 600, 600, pts3, "bash"), at(ticks0+601))
				tab.Fork(600, 700, at(ticks0+700))
				return tab.Exec(member(700, 600, 600, 700, pts3, "ls"), at(ticks0+701))
			},
			wantPID: 600, wantType: EntrySSHD,
		},
		{
			name: "a fork child without exec belongs to its parent's session entry",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(500, 1, 500, 500, noTTY, "sshd"), t0)
				tab.Fork(500, 600, at(ticks0+600))
				tab.Exec(member(600, 500, 600, 600, pts3, "bash"), at(ticks0+601))
				return tab.Fork(600, 700, at(ticks0+700))
			},
			wantPID: 600, wantType: EntrySSHD,
		},
		{
			name: "an exec is evaluated again: sshd's privilege-separated child, then the user's shell",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(500, 1, 500, 500, noTTY, "sshd"), t0)
				child := tab.Fork(500, 600, at(ticks0+600))
				if leader, typ := tab.EntryLeader(child); leader == nil || leader.PID != 500 || typ != EntryInit {
					t.Errorf("before its exec: entry leader %v of type %v, want sshd's (500, init)", leader, typ)
				}
				return tab.Exec(member(600, 500, 600, 600, pts3, "bash"), at(ticks0+601))
			},
			wantPID: 600, wantType: EntrySSHD,
		},
		{
			name: "a container's first process, started by containerd's shim",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(800, 1, 800, 800, noTTY, "containerd-shim-runc-v2"), t0)
				tab.Upsert(member(900, 800, 900, 900, noTTY, "nginx"), t0)
				e, _ := tab.Upsert(member(901, 900, 900, 900, noTTY, "nginx"), t0)
				return e
			},
			wantPID: 900, wantType: EntryContainer,
		},
		{
			name: "runc under the shim is plumbing, not a container's entry",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(800, 1, 800, 800, noTTY, "containerd-shim-runc-v2"), t0)
				e, _ := tab.Upsert(member(850, 800, 850, 850, noTTY, "runc"), t0)
				return e
			},
			wantPID: 800, wantType: EntryInit,
		},
		{
			name: "a shell on a pty from AWS SSM's session worker",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(1000, 1, 1000, 1000, noTTY, "ssm-session-worker"), t0)
				e, _ := tab.Upsert(member(1001, 1000, 1001, 1001, pts3, "sh"), t0)
				return e
			},
			wantPID: 1001, wantType: EntrySSM,
		},
		{
			name: "login on a virtual console",
			run: func(tab *Table) *Entry {
				e, _ := tab.Upsert(member(400, 1, 400, 400, tty1, "login"), t0)
				return e
			},
			wantPID: 400, wantType: EntryConsole,
		},
		{
			name: "a session on a serial line",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(400, 1, 400, 400, noTTY, "agetty"), t0)
				e, _ := tab.Upsert(member(410, 400, 410, 410, ttyS0, "bash"), t0)
				return e
			},
			wantPID: 410, wantType: EntryTerminal,
		},
		{
			name: "a session leader nothing explains is its own, of unknown type",
			run: func(tab *Table) *Entry {
				e, _ := tab.Upsert(member(60, 50, 60, 60, pts3, "tmux"), t0) // parent 50 unknown
				return e
			},
			wantPID: 60, wantType: EntryUnknown,
		},
		{
			name: "the session leader's entry when the parent has none",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(60, 50, 60, 60, pts3, "tmux"), t0)
				e, _ := tab.Upsert(member(70, 65, 60, 70, pts3, "vim"), t0) // parent 65 unknown
				return e
			},
			wantPID: 60, wantType: EntryUnknown,
		},
		{
			name: "the scan meets children before their parents",
			run: func(tab *Table) *Entry {
				e, _ := tab.Upsert(member(310, 300, 300, 310, noTTY, "dash"), t0)
				tab.Upsert(member(300, 1, 300, 300, noTTY, "cron"), t0)
				return e
			},
			wantPID: 300, wantType: EntryInit,
		},
		{
			name: "init has none",
			run: func(tab *Table) *Entry {
				e, _ := tab.Upsert(member(1, 0, 1, 1, noTTY, "systemd"), t0)
				return e
			},
		},
		{
			name: "kernel threads have none",
			run: func(tab *Table) *Entry {
				tab.Upsert(member(2, 0, 0, 0, noTTY, "kthreadd"), t0)
				e, _ := tab.Upsert(member(40, 2, 0, 0, noTTY, "kworker/0:1"), t0)
				return e
			},
		},
		{
			name: "a process in no known session has none",
			run: func(tab *Table) *Entry {
				e, _ := tab.Upsert(member(70, 65, 60, 70, noTTY, "vim"), t0)
				return e
			},
		},
		{
			name: "session and group leaders naming each other end the search",
			run: func(tab *Table) *Entry {
				a := member(70, 65, 71, 70, noTTY, "a")
				b := member(71, 66, 72, 70, noTTY, "b")
				a.StartTicks, b.StartTicks = ticks0, ticks0 // each started "before" the other
				tab.Upsert(b, t0)
				e, _ := tab.Upsert(a, t0)
				return e
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newTable(Options{})
			e := tt.run(tab)
			leader, typ := tab.EntryLeader(e)
			gotPID := 0
			if leader != nil {
				gotPID = leader.PID
			}
			if gotPID != tt.wantPID || typ != tt.wantType {
				t.Errorf("entry leader %d of type %q, want %d of type %q", gotPID, typ, tt.wantPID, tt.wantType)
			}
			if (leader == nil) != (typ == EntryNone) {
				t.Errorf("leader %v with type %q: a leader must have a type, and only a leader", leader, typ)
			}
		})
	}
}
