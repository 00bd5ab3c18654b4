package cache

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

var (
	boot = time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	t0   = boot.Add(100 * time.Second) // tick 10000
)

func newTable(opts Options) *Table {
	if opts.BootTime.IsZero() {
		opts.BootTime = boot
	}
	opts.HostID = "host-1"
	return New(opts)
}

// proc is a process as procfs reads it.
func proc(pid, ppid int, ticks uint64, exe string, args ...string) *procfs.Process {
	return &procfs.Process{
		Stat:      procfs.Stat{PID: pid, PPID: ppid, Comm: exe, State: 'S', StartTicks: ticks, SID: ppid, PGID: pid},
		Creds:     procfs.Creds{UID: 1000, EUID: 1000, GID: 100, EGID: 100},
		Args:      args,
		Exe:       "/usr/bin/" + exe,
		Cwd:       "/home/u",
		ReadState: procfs.ReadComplete,
	}
}

// at returns the time of a tick.
func at(ticks uint64) time.Time { return boot.Add(time.Duration(ticks) * 10 * time.Millisecond) }

// view is what a test compares of an entry.
type view struct {
	PID, PPID  int
	StartTicks uint64
	Exe        string
	Args       []string
	Source     Source
	Exited     bool
	ExitCode   int
	Removed    bool
}

func viewOf(e *Entry) view {
	if e == nil {
		return view{}
	}
	return view{e.PID, e.PPID, e.StartTicks, e.Image.Exe, e.Image.Args, e.Source, e.Exited, e.ExitCode, e.Removed()}
}

func parentView(t *testing.T, tab *Table, e *Entry) view {
	t.Helper()
	p, ok := tab.Parent(e)
	if !ok {
		return view{}
	}
	return viewOf(p)
}

func TestForkExecParent(t *testing.T) {
	tests := []struct {
		name       string
		run        func(tab *Table) *Entry // returns the entry under test
		want       view
		wantParent view
		wantStats  Stats
	}{
		{
			name: "fork without exec reports the parent's image as its own",
			run: func(tab *Table) *Entry {
				tab.Upsert(proc(100, 1, 5000, "python3.11", "python3"), t0)
				return tab.Fork(100, 200, at(10001))
			},
			want:       view{PID: 200, PPID: 100, StartTicks: 10001, Exe: "/usr/bin/python3.11", Args: []string{"python3"}, Source: SourceFork},
			wantParent: view{PID: 100, PPID: 1, StartTicks: 5000, Exe: "/usr/bin/python3.11", Args: []string{"python3"}, Source: SourceScan},
			wantStats:  Stats{Entries: 2, Live: 2},
		},
		{
			name: "exec replaces the image, keeps pid, start and parent",
			run: func(tab *Table) *Entry {
				tab.Upsert(proc(100, 1, 5000, "python3.11", "python3", "-c", "import pty; pty.spawn('/bin/sh')"), t0)
				tab.Fork(100, 200, at(10001))
				return tab.Exec(proc(200, 100, 10000, "dash", "/bin/sh"), at(10002))
			},
			want:       view{PID: 200, PPID: 100, StartTicks: 10000, Exe: "/usr/bin/dash", Args: []string{"/bin/sh"}, Source: SourceExec},
			wantParent: view{PID: 100, PPID: 1, StartTicks: 5000, Exe: "/usr/bin/python3.11", Args: []string{"python3", "-c", "import pty; pty.spawn('/bin/sh')"}, Source: SourceScan},
			wantStats:  Stats{Entries: 2, Live: 2},
		},
		{
			name: "parent exited before the exec is handled: its image is still there",
			run: func(tab *Table) *Entry {
				tab.Upsert(proc(100, 1, 5000, "python3.11", "python3"), t0)
				tab.Fork(100, 200, at(10001))
				tab.Exit(100, 0, at(10002))
				// /proc now names init as the parent: the child was reparented.
				return tab.Exec(proc(200, 1, 10001, "dash", "sh"), at(10003))
			},
			want:       view{PID: 200, PPID: 100, StartTicks: 10001, Exe: "/usr/bin/dash", Args: []string{"sh"}, Source: SourceExec},
			wantParent: view{PID: 100, PPID: 1, StartTicks: 5000, Exe: "/usr/bin/python3.11", Args: []string{"python3"}, Source: SourceScan, Exited: true},
			wantStats:  Stats{Entries: 2, Live: 1},
		},
		{
			name: "parent expired and left the table: the child keeps it",
			run: func(tab *Table) *Entry {
				tab.Upsert(proc(100, 1, 5000, "python3.11", "python3"), t0)
				tab.Fork(100, 200, at(10001))
				tab.Exit(100, 0, at(10002))
				tab.Sweep(at(10002).Add(DefaultGrace))
				return tab.Exec(proc(200, 1, 10001, "dash", "sh"), at(10002).Add(DefaultGrace+time.Second))
			},
			want:       view{PID: 200, PPID: 100, StartTicks: 10001, Exe: "/usr/bin/dash", Args: []string{"sh"}, Source: SourceExec},
			wantParent: view{PID: 100, PPID: 1, StartTicks: 5000, Exe: "/usr/bin/python3.11", Args: []string{"python3"}, Source: SourceScan, Exited: true, Removed: true},
			wantStats:  Stats{Entries: 1, Live: 1, Expired: 1},
		},
		{
			name: "exec without a fork event links the parent /proc names",
			run: func(tab *Table) *Entry {
				tab.Upsert(proc(100, 1, 5000, "bash", "bash"), t0)
				return tab.Exec(proc(300, 100, 10005, "id", "id", "-u"), at(10006))
			},
			want:       view{PID: 300, PPID: 100, StartTicks: 10005, Exe: "/usr/bin/id", Args: []string{"id", "-u"}, Source: SourceExec},
			wantParent: view{PID: 100, PPID: 1, StartTicks: 5000, Exe: "/usr/bin/bash", Args: []string{"bash"}, Source: SourceScan},
			wantStats:  Stats{Entries: 2, Live: 2},
		},
		{
			name: "a /proc parent that started after the child is a reused pid, not the parent",
			run: func(tab *Table) *Entry {
				tab.Upsert(proc(100, 1, 20000, "bash", "bash"), t0)
				e, _ := tab.Upsert(proc(300, 100, 10005, "id", "id"), t0)
				return e
			},
			want:      view{PID: 300, PPID: 100, StartTicks: 10005, Exe: "/usr/bin/id", Args: []string{"id"}, Source: SourceScan},
			wantStats: Stats{Entries: 2, Live: 2},
		},
		{
			name: "exec whose read failed: the image is unknown, not the pre-exec one",
			run: func(tab *Table) *Entry {
				tab.Upsert(proc(100, 1, 5000, "bash", "bash"), t0)
				tab.Fork(100, 200, at(10001))
				return tab.Exec(&procfs.Process{Stat: procfs.Stat{PID: 200}}, at(10002))
			},
			want:       view{PID: 200, PPID: 100, StartTicks: 10001, Source: SourceExec},
			wantParent: view{PID: 100, PPID: 1, StartTicks: 5000, Exe: "/usr/bin/bash", Args: []string{"bash"}, Source: SourceScan},
			wantStats:  Stats{Entries: 2, Live: 2},
		},
		{
			name: "exec event handled after a scan found the process a zombie",
			run: func(tab *Table) *Entry {
				tab.Upsert(proc(100, 1, 5000, "bash", "bash"), t0)
				tab.Fork(100, 200, at(10001))
				tab.Upsert(&procfs.Process{Stat: procfs.Stat{PID: 200, PPID: 100, StartTicks: 10001, State: 'Z'}, ReadState: procfs.ReadZombie}, at(10003))
				return tab.Exec(proc(200, 100, 10001, "true", "true"), at(10002))
			},
			want:       view{PID: 200, PPID: 100, StartTicks: 10001, Exe: "/usr/bin/true", Args: []string{"true"}, Source: SourceExec, Exited: true},
			wantParent: view{PID: 100, PPID: 1, StartTicks: 5000, Exe: "/usr/bin/bash", Args: []string{"bash"}, Source: SourceScan},
			wantStats:  Stats{Entries: 2, Live: 1},
		},
		{
			name: "fork from an unknown parent has no image",
			run: func(tab *Table) *Entry {
				return tab.Fork(100, 200, at(10001))
			},
			want:      view{PID: 200, PPID: 100, StartTicks: 10001, Source: SourceFork},
			wantStats: Stats{Entries: 1, Live: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newTable(Options{})
			e := tt.run(tab)
			if diff := cmp.Diff(tt.want, viewOf(e)); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantParent, parentView(t, tab, e)); diff != "" {
				t.Errorf("parent (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStats, tab.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPIDReuse(t *testing.T) {
	tab := newTable(Options{})
	tab.Upsert(proc(1, 0, 1, "init", "init"), t0)
	tab.Fork(1, 100, at(10000))
	first := tab.Exec(proc(100, 1, 10000, "python3.11", "python3", "-c", "x"), at(10001))
	child := tab.Fork(100, 101, at(10002))
	tab.Exit(100, 0, at(10003))

	// PID 100 is reused by a new process before the grace period ends.
	second := tab.Fork(1, 100, at(10500))
	tab.Exec(proc(100, 1, 10500, "nginx", "nginx"), at(10501))

	got, ok := tab.Get(100)
	if !ok || got != second {
		t.Fatalf("Get(100) = %+v, %v; want the new process", viewOf(got), ok)
	}
	if first.EntityID == second.EntityID {
		t.Errorf("old and new process share entity id %q", first.EntityID)
	}
	if !first.Removed() {
		t.Error("the old entry is still in the table")
	}
	// The old process's child still finds its parent's image, not nginx.
	p, ok := tab.Parent(child)
	if !ok || p != first {
		t.Fatalf("Parent(child) = %+v, %v; want the old process", viewOf(p), ok)
	}
	if diff := cmp.Diff([]string{"python3", "-c", "x"}, p.Image.Args); diff != "" {
		t.Errorf("old parent's args (-want +got):\n%s", diff)
	}
	// A new child of the new process gets nginx.
	c2 := tab.Fork(100, 102, at(10502))
	if c2.Image.Exe != "/usr/bin/nginx" {
		t.Errorf("new child's exe %q, want nginx's", c2.Image.Exe)
	}
	if diff := cmp.Diff(Stats{Entries: 4, Live: 4, Replaced: 1}, tab.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	// Lost events: an exec for a PID whose live entry has another start
	// time is a new process.
	third := tab.Exec(proc(102, 100, 20000, "sh", "sh"), at(20001))
	if third == c2 || !c2.Removed() {
		t.Errorf("exec with another start time reused the entry")
	}
}

func TestEvictionOrder(t *testing.T) {
	tab := newTable(Options{MaxEntries: 3})
	tab.Fork(1, 10, at(1))
	tab.Fork(1, 11, at(2))
	tab.Fork(1, 12, at(3))
	tab.Exit(12, 0, at(4)) // exited entries go first, even the youngest
	tab.Exit(11, 0, at(5))

	steps := []struct {
		name      string
		pid       int
		wantGone  int
		wantStats Stats
	}{
		{name: "oldest exited first", pid: 13, wantGone: 12, wantStats: Stats{Entries: 3, Live: 2, Evictions: 1}},
		{name: "next exited", pid: 14, wantGone: 11, wantStats: Stats{Entries: 3, Live: 3, Evictions: 2}},
		{name: "then the oldest live", pid: 15, wantGone: 10, wantStats: Stats{Entries: 3, Live: 3, Evictions: 3, EvictedLive: 1}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			tab.Fork(1, s.pid, at(10))
			if _, ok := tab.Get(s.wantGone); ok {
				t.Errorf("pid %d still in the table", s.wantGone)
			}
			if _, ok := tab.Get(s.pid); !ok {
				t.Errorf("new pid %d not in the table", s.pid)
			}
			if diff := cmp.Diff(s.wantStats, tab.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if tab.Len() != 3 {
				t.Errorf("Len() = %d, want 3", tab.Len())
			}
		})
	}
}

func TestSweep(t *testing.T) {
	grace := 30 * time.Second
	tests := []struct {
		name      string
		now       time.Time
		wantPIDs  []int
		wantSwept int
	}{
		{name: "none past grace", now: at(100).Add(grace - time.Nanosecond), wantPIDs: []int{10, 11, 12, 13}},
		{name: "exactly at grace", now: at(100).Add(grace), wantPIDs: []int{11, 12, 13}, wantSwept: 1},
		{name: "two past grace", now: at(200).Add(grace), wantPIDs: []int{12, 13}, wantSwept: 2},
		{name: "live entries stay forever", now: at(300).Add(time.Hour), wantPIDs: []int{13}, wantSwept: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newTable(Options{Grace: grace})
			for pid := 10; pid <= 13; pid++ {
				tab.Fork(1, pid, at(1))
			}
			tab.Exit(10, 1, at(100))
			tab.Exit(11, 2, at(200))
			tab.Exit(12, 3, at(300))
			if n := tab.Sweep(tt.now); n != tt.wantSwept {
				t.Errorf("Sweep() = %d, want %d", n, tt.wantSwept)
			}
			var got []int
			for pid := 10; pid <= 13; pid++ {
				if _, ok := tab.Get(pid); ok {
					got = append(got, pid)
				}
			}
			if diff := cmp.Diff(tt.wantPIDs, got); diff != "" {
				t.Errorf("pids left (-want +got):\n%s", diff)
			}
			if st := tab.Stats(); st.Expired != uint64(tt.wantSwept) || st.Entries != uint64(len(tt.wantPIDs)) {
				t.Errorf("stats %+v, want %d expired, %d entries", st, tt.wantSwept, len(tt.wantPIDs))
			}
		})
	}
}

func TestUpsert(t *testing.T) {
	scan := at(20000)
	tests := []struct {
		name      string
		setup     func(tab *Table)
		scanned   *procfs.Process
		want      view
		wantNew   bool
		wantStats Stats
	}{
		{
			name:      "new process",
			wantNew:   true,
			scanned:   proc(100, 1, 5000, "sshd", "sshd: root"),
			want:      view{PID: 100, PPID: 1, StartTicks: 5000, Exe: "/usr/bin/sshd", Args: []string{"sshd: root"}, Source: SourceScan},
			wantStats: Stats{Entries: 1, Live: 1},
		},
		{
			name: "a newer exec image is not clobbered",
			setup: func(tab *Table) {
				tab.Fork(1, 100, at(19000))
				tab.Exec(proc(100, 1, 19000, "python3.11", "python3"), scan.Add(time.Millisecond))
			},
			scanned:   proc(100, 1, 19000, "bash", "bash"), // read before the exec
			want:      view{PID: 100, PPID: 1, StartTicks: 19000, Exe: "/usr/bin/python3.11", Args: []string{"python3"}, Source: SourceExec},
			wantStats: Stats{Entries: 1, Live: 1},
		},
		{
			name: "an older fork image is replaced",
			setup: func(tab *Table) {
				tab.Upsert(proc(1, 0, 1, "init", "init"), at(100))
				tab.Fork(1, 100, at(19000))
			},
			scanned:   proc(100, 1, 19000, "cron", "cron", "-f"),
			want:      view{PID: 100, PPID: 1, StartTicks: 19000, Exe: "/usr/bin/cron", Args: []string{"cron", "-f"}, Source: SourceScan},
			wantStats: Stats{Entries: 2, Live: 2},
		},
		{
			name: "a less complete read does not replace a complete image",
			setup: func(tab *Table) {
				tab.Exec(proc(100, 1, 19000, "cron", "cron"), at(19001))
			},
			scanned:   &procfs.Process{Stat: procfs.Stat{PID: 100, PPID: 1, StartTicks: 19000, State: 'S'}, ReadState: procfs.ReadPartial},
			want:      view{PID: 100, PPID: 1, StartTicks: 19000, Exe: "/usr/bin/cron", Args: []string{"cron"}, Source: SourceExec},
			wantStats: Stats{Entries: 1, Live: 1},
		},
		{
			name:    "another start time is another process",
			wantNew: true,
			setup: func(tab *Table) {
				tab.Exec(proc(100, 1, 9000, "cron", "cron"), at(9001))
			},
			scanned:   proc(100, 1, 19000, "nginx", "nginx"),
			want:      view{PID: 100, PPID: 1, StartTicks: 19000, Exe: "/usr/bin/nginx", Args: []string{"nginx"}, Source: SourceScan},
			wantStats: Stats{Entries: 1, Live: 1, Replaced: 1},
		},
		{
			name: "an exited process is not brought back",
			setup: func(tab *Table) {
				tab.Exec(proc(100, 1, 19000, "cron", "cron"), at(19001))
				tab.Exit(100, 0, at(19500))
			},
			scanned:   proc(100, 1, 19000, "cron", "cron"),
			want:      view{PID: 100, PPID: 1, StartTicks: 19000, Exe: "/usr/bin/cron", Args: []string{"cron"}, Source: SourceExec, Exited: true},
			wantStats: Stats{Entries: 1},
		},
		{
			name:      "a zombie is recorded as exited",
			wantNew:   true,
			scanned:   &procfs.Process{Stat: procfs.Stat{PID: 100, PPID: 1, StartTicks: 19000, State: 'Z', Comm: "sleep"}, ReadState: procfs.ReadZombie},
			want:      view{PID: 100, PPID: 1, StartTicks: 19000, Source: SourceScan, Exited: true},
			wantStats: Stats{Entries: 1},
		},
		{
			name: "a fork-derived start within the slack is the same process",
			setup: func(tab *Table) {
				tab.Fork(1, 100, at(19003))
			},
			scanned:   proc(100, 1, 19000, "cron", "cron"),
			want:      view{PID: 100, PPID: 1, StartTicks: 19000, Exe: "/usr/bin/cron", Args: []string{"cron"}, Source: SourceScan},
			wantStats: Stats{Entries: 1, Live: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newTable(Options{})
			if tt.setup != nil {
				tt.setup(tab)
			}
			tab.BeginScan(scan)
			e, isNew := tab.Upsert(tt.scanned, scan)
			if isNew != tt.wantNew {
				t.Errorf("Upsert reported new = %v, want %v", isNew, tt.wantNew)
			}
			if got, _ := tab.Get(tt.scanned.PID); got != e {
				t.Errorf("Get after Upsert is not the returned entry")
			}
			if diff := cmp.Diff(tt.want, viewOf(e)); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStats, tab.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEndScan(t *testing.T) {
	tab := newTable(Options{})
	tab.Upsert(proc(1, 0, 1, "init", "init"), at(100))
	tab.Upsert(proc(50, 1, 200, "lost", "lost"), at(100)) // exits while events are lost
	tab.Upsert(proc(60, 1, 300, "kept", "kept"), at(100))

	scanStart := at(1000)
	tab.BeginScan(scanStart)
	tab.Upsert(proc(1, 0, 1, "init", "init"), at(1001))
	tab.Fork(1, 70, at(1002)) // started during the scan, after the PID list
	tab.Upsert(proc(60, 1, 300, "kept", "kept"), at(1003))
	if n := tab.EndScan(at(1004)); n != 1 {
		t.Errorf("EndScan() = %d, want 1", n)
	}
	var got []view
	for _, pid := range []int{1, 50, 60, 70} {
		e, _ := tab.Get(pid)
		got = append(got, view{PID: pid, Exited: e.Exited})
	}
	want := []view{{PID: 1}, {PID: 50, Exited: true}, {PID: 60}, {PID: 70}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exited after the scan (-want +got):\n%s", diff)
	}
	if e, _ := tab.Get(50); e.HasExitCode {
		t.Error("vanished process has an exit code")
	}
	if st := tab.Stats(); st.Vanished != 1 || st.Live != 3 {
		t.Errorf("stats %+v, want 1 vanished, 3 live", st)
	}
}

func TestExit(t *testing.T) {
	tab := newTable(Options{})
	if e := tab.Exit(42, 0, t0); e != nil {
		t.Error("Exit of an unknown pid returned an entry")
	}
	tab.Fork(1, 42, t0)
	e := tab.Exit(42, 137, t0.Add(time.Second))
	if e == nil || !e.Exited || e.ExitCode != 137 || !e.HasExitCode || !e.ExitAt.Equal(t0.Add(time.Second)) {
		t.Errorf("Exit = %+v", e)
	}
	// A repeated exit does not move the exit time (nor the sweep order).
	tab.Exit(42, 137, t0.Add(time.Hour))
	if !e.ExitAt.Equal(t0.Add(time.Second)) {
		t.Errorf("second Exit moved ExitAt to %v", e.ExitAt)
	}
}

func TestEntityID(t *testing.T) {
	base := New(Options{HostID: "h", BootID: "b1", BootTime: boot})
	id := func(o Options, pid int, ticks uint64) string {
		e, _ := New(o).Upsert(proc(pid, 1, ticks, "x"), t0)
		return e.EntityID
	}
	refEntry, _ := base.Upsert(proc(100, 1, 5000, "x"), t0)
	ref := refEntry.EntityID
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{name: "same host, boot, pid and start", got: id(Options{HostID: "h", BootID: "b1", BootTime: boot.Add(time.Millisecond)}, 100, 5000), same: true},
		{name: "other start", got: id(Options{HostID: "h", BootID: "b1", BootTime: boot}, 100, 5001)},
		{name: "other pid", got: id(Options{HostID: "h", BootID: "b1", BootTime: boot}, 101, 5000)},
		{name: "other boot", got: id(Options{HostID: "h", BootID: "b2", BootTime: boot}, 100, 5000)},
		{name: "other host", got: id(Options{HostID: "h2", BootID: "b1", BootTime: boot}, 100, 5000)},
	}
	if len(ref) != 20 {
		t.Fatalf("entity id %q has %d characters, want 20", ref, len(ref))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.got == ref) != tt.same {
				t.Errorf("id %q vs %q: same = %v, want %v", tt.got, ref, tt.got == ref, tt.same)
			}
		})
	}

	// The id is fixed at the fork and kept when /proc's exact start
	// arrives.
	tab := New(Options{HostID: "h", BootID: "b1", BootTime: boot})
	e := tab.Fork(1, 100, at(5001))
	forkID := e.EntityID
	tab.Exec(proc(100, 1, 5000, "x"), at(5002))
	if e.EntityID != forkID || e.StartTicks != 5000 {
		t.Errorf("after exec: id %q ticks %d; want %q, 5000", e.EntityID, e.StartTicks, forkID)
	}
}

func TestImageName(t *testing.T) {
	tests := []struct {
		name string
		img  Image
		want string
	}{
		{name: "basename of the executable", img: Image{Comm: "python3", Exe: "/usr/bin/python3.11"}, want: "python3.11"},
		{name: "task name when the executable is unknown", img: Image{Comm: "sh"}, want: "sh"},
		{name: "nothing known", img: Image{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.img.Name(); got != tt.want {
				t.Errorf("Name() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStatsConcurrent(t *testing.T) {
	tab := newTable(Options{MaxEntries: 64, Grace: time.Millisecond})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			now := at(uint64(i))
			tab.Fork(1, 1000+i%100, now)
			tab.Exit(1000+i%100, 0, now)
			tab.Sweep(now)
		}
	}()
	for {
		select {
		case <-done:
			if st := tab.Stats(); st.Entries > 64 {
				t.Errorf("Entries %d beyond the bound", st.Entries)
			}
			return
		default:
			_ = tab.Stats()
		}
	}
}

// BenchmarkForkExecExit runs the table's per-process cycle in steady state.
func BenchmarkForkExecExit(b *testing.B) {
	tab := newTable(Options{MaxEntries: 65536, Grace: 30 * time.Second})
	parent := proc(1000, 1, 100, "bash", "bash")
	tab.Upsert(parent, t0)
	img := proc(0, 1000, 0, "true", "/bin/true", "--flag")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		now := t0.Add(time.Duration(i) * time.Millisecond)
		pid := 2000 + i%30000
		tab.Fork(1000, pid, now)
		img.PID = pid
		img.StartTicks = tab.ticksAt(now)
		tab.Exec(img, now)
		tab.Exit(pid, 0, now)
		if i%1000 == 0 {
			tab.Sweep(now)
		}
	}
}

// TestCredentials checks that a fork child inherits its parent's
// credentials, that SetUIDs and SetGIDs change them for one live process
// only, and that nothing is reported for unknown, uncredentialed or exited
// processes.
func TestCredentials(t *testing.T) {
	tab := newTable(Options{})
	parent := proc(100, 1, 10, "bash", "bash")
	tab.Exec(parent, at(10))
	tab.Fork(100, 101, at(11))
	tab.Fork(100, 102, at(12))
	tab.Fork(999, 103, at(13)) // parent unknown: no image, no credentials

	if !tab.SetUIDs(101, 1000, 0) || !tab.SetGIDs(101, 100, 0) {
		t.Fatal("SetUIDs/SetGIDs on a live fork child reported no credentials")
	}
	type ids struct{ UID, EUID, GID, EGID uint32 }
	creds := func(pid int) (ids, bool) {
		var c procfs.Creds
		ok := tab.Creds(pid, &c)
		return ids{c.UID, c.EUID, c.GID, c.EGID}, ok
	}
	tests := []struct {
		pid    int
		want   ids
		wantOK bool
	}{
		{pid: 100, want: ids{1000, 1000, 100, 100}, wantOK: true},
		{pid: 101, want: ids{1000, 0, 100, 0}, wantOK: true},
		{pid: 102, want: ids{1000, 1000, 100, 100}, wantOK: true}, // its sibling's change is not its own
		{pid: 103},
		{pid: 104},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.pid), func(t *testing.T) {
			got, ok := creds(tt.pid)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("Creds(%d) = %+v, %v; want %+v, %v", tt.pid, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if tab.SetUIDs(103, 0, 0) || tab.SetUIDs(104, 0, 0) {
		t.Error("SetUIDs reported credentials for a process the table has none for")
	}
	tab.Exit(102, 0, at(20))
	if _, ok := creds(102); ok || tab.SetGIDs(102, 0, 0) {
		t.Error("an exited process still reports credentials")
	}
}

// TestPrevious follows process.previous through a fork and execs: the
// image inherited at the fork comes first, each exec adds the image it
// replaced, an image read after the exec is not a previous one, an unknown
// image is skipped, and a long chain keeps the first and the latest.
func TestPrevious(t *testing.T) {
	tab := newTable(Options{})
	tab.Exec(proc(100, 1, 9000, "bash", "-bash"), at(9000))
	child := tab.Fork(100, 200, at(10000))
	if child.Previous != nil {
		t.Fatalf("fork child's Previous = %v, want none before an exec", child.Previous)
	}
	tab.Exec(proc(200, 100, 10000, "zoom", "zoom", "--url"), at(10001))
	tab.Exec(proc(200, 100, 10000, "sh", "sh", "-c", "x"), at(10002))
	want := []PriorImage{{Exe: "/usr/bin/bash", Args: []string{"-bash"}}, {Exe: "/usr/bin/zoom", Args: []string{"zoom", "--url"}}}
	if diff := cmp.Diff(want, child.Previous); diff != "" {
		t.Errorf("after two execs (-want +got):\n%s", diff)
	}

	// A scan that read the new image before its exec event was handled.
	tab.BeginScan(at(10004))
	tab.Upsert(proc(200, 100, 10000, "python3", "python3"), at(10004))
	tab.EndScan(at(10004))
	tab.Exec(proc(200, 100, 10000, "python3", "python3"), at(10003))
	if diff := cmp.Diff(want, child.Previous); diff != "" {
		t.Errorf("exec already seen by a scan (-want +got):\n%s", diff)
	}

	// An exec whose /proc read found nothing leaves an unknown image.
	gone := &procfs.Process{Stat: procfs.Stat{PID: 200, StartTicks: 10000}}
	tab.Exec(gone, at(10005))
	n := len(child.Previous)
	tab.Exec(proc(200, 100, 10000, "ls", "ls"), at(10006))
	if got := child.Previous[len(child.Previous)-1]; len(child.Previous) != n || got.Exe != "/usr/bin/python3" {
		t.Errorf("after an unknown image: %d images, last %v; want %d, the last known (python3)", len(child.Previous), got, n)
	}

	for i := range 20 {
		tab.Exec(proc(200, 100, 10000, "e"+strconv.Itoa(i)), at(10010+uint64(i)))
	}
	if len(child.Previous) != maxPrevious {
		t.Fatalf("%d previous images, want at most %d", len(child.Previous), maxPrevious)
	}
	if first, last := child.Previous[0].Exe, child.Previous[maxPrevious-1].Exe; first != "/usr/bin/bash" || last != "/usr/bin/e18" {
		t.Errorf("kept %s first and %s last, want the fork's bash and the latest replaced image, e18", first, last)
	}
}

// TestKnowsNoTTY checks when the table vouches that a process has no
// controlling terminal, so that stat need not be read at its exec.
func TestKnowsNoTTY(t *testing.T) {
	const pts0 = 136 << 8 // /dev/pts/0: major 136, minor 0
	// member is a process of session sid, read from /proc with stat.
	member := func(pid, sid int, tty uint32) *procfs.Process {
		p := proc(pid, 1, 5000, "bash")
		p.SID, p.TTY = sid, tty
		return p
	}
	tests := []struct {
		name string
		// build returns the entry asked about and the session getsid gives.
		build func(tab *Table) (*Entry, int)
		want  bool
	}{
		{"fork of a process without terminal", func(tab *Table) (*Entry, int) {
			tab.Upsert(member(100, 50, 0), t0)
			return tab.Fork(100, 101, t0), 50
		}, true},
		{"the parent has a terminal, which it may have lost since", func(tab *Table) (*Entry, int) {
			tab.Upsert(member(100, 50, pts0), t0)
			return tab.Fork(100, 101, t0), 50
		}, false},
		{"the child leads a session of its own (setsid)", func(tab *Table) (*Entry, int) {
			tab.Upsert(member(100, 50, 0), t0)
			return tab.Fork(100, 101, t0), 101
		}, false},
		{"the parent called setsid after its image was read", func(tab *Table) (*Entry, int) {
			tab.Upsert(member(100, 50, 0), t0)
			return tab.Fork(100, 101, t0), 100
		}, false},
		{"the parent leads its session and may have gained a terminal", func(tab *Table) (*Entry, int) {
			tab.Upsert(member(100, 100, 0), t0)
			return tab.Fork(100, 101, t0), 100
		}, false},
		{"a grandchild of a leader through a fork that did not exec", func(tab *Table) (*Entry, int) {
			tab.Upsert(member(100, 100, 0), t0)
			tab.Fork(100, 101, t0)
			return tab.Fork(101, 102, t0), 100
		}, false},
		{"a fork of a process whose exec the table vouched for", func(tab *Table) (*Entry, int) {
			tab.Upsert(member(100, 50, 0), t0)
			tab.Fork(100, 101, t0)
			p := proc(101, 0, 0, "python3")
			p.SID = 50
			tab.Exec(p, t0.Add(time.Millisecond))
			return tab.Fork(101, 102, t0.Add(2*time.Millisecond)), 50
		}, true},
		{"an exec'd image whose stat could not be read", func(tab *Table) (*Entry, int) {
			tab.Upsert(member(100, 50, 0), t0)
			tab.Fork(100, 101, t0)
			p := proc(101, 0, 0, "python3")
			p.SID, p.Missing = 50, procfs.PartStat
			return tab.Exec(p, t0.Add(time.Millisecond)), 50
		}, false},
		{"a fork of an unknown parent", func(tab *Table) (*Entry, int) {
			return tab.Fork(100, 101, t0), 50
		}, false},
		{"an exited process", func(tab *Table) (*Entry, int) {
			tab.Upsert(member(100, 50, 0), t0)
			tab.Fork(100, 101, t0)
			return tab.Exit(101, 0, t0.Add(time.Millisecond)), 50
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newTable(Options{})
			e, sid := tt.build(tab)
			if e == nil {
				t.Fatal("no entry")
			}
			if got := e.KnowsNoTTY(sid); got != tt.want {
				t.Errorf("KnowsNoTTY = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestStartKept checks that process.start does not move during a
// process's life once documents carry it: a fork event's time stays when
// /proc's clock ticks arrive, while a start that was only a guess (the
// exec's time, for a process whose fork was not seen) takes the ticks.
func TestStartKept(t *testing.T) {
	tab := newTable(Options{})
	tab.Upsert(proc(100, 1, 5000, "bash"), t0)
	forkAt := at(10000).Add(3 * time.Millisecond) // between two ticks
	e := tab.Fork(100, 101, forkAt)
	id := e.EntityID
	tab.Exec(proc(101, 100, 10000, "sleep"), forkAt.Add(time.Millisecond))
	if !e.Start.Equal(forkAt) || e.StartTicks != 10000 || e.EntityID != id {
		t.Errorf("forked: start %v, ticks %d, id %q; want the fork's %v, 10000, %q", e.Start, e.StartTicks, e.EntityID, forkAt, id)
	}

	guess := at(20000).Add(5 * time.Millisecond)
	p := proc(200, 100, 0, "sh") // stat unread: no ticks
	g := tab.Exec(p, guess)
	id = g.EntityID
	tab.Upsert(proc(200, 100, 20000, "sh"), guess.Add(time.Second))
	if !g.Start.Equal(at(20000)) || g.EntityID != id {
		t.Errorf("guessed: start %v, id %q; want the ticks' %v, %q", g.Start, g.EntityID, at(20000), id)
	}
}
