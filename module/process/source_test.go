package process

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/module/process/netlink"
	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// fakeProc is one process of a fake /proc tree.
type fakeProc struct {
	pid, ppid int
	sid       int    // session and process group; 0: ppid's
	tty       uint32 // tty_nr
	start     uint64 // start time in ticks; 0: 1000+pid
	comm      string
	state     byte
	uid, gid  uint32
	args      []string // nil: empty cmdline (zombie)
	exe, cwd  string   // "": no link (zombie)
	cgroup    string   // /proc/PID/cgroup; "": the root cgroup
	environ   []string // /proc/PID/environ
}

// writeProc writes p under root/proc as the kernel shows it: stat
// (proc(5)), status with the Uid and Gid lines, NUL-separated cmdline, and
// exe and cwd symlinks.
func writeProc(t testing.TB, root string, p fakeProc) {
	t.Helper()
	dir := filepath.Join(root, "proc", fmt.Sprint(p.pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sid := p.sid
	if sid == 0 {
		sid = p.ppid
	}
	start := p.start
	if start == 0 {
		start = 1000 + uint64(p.pid)
	}
	stat := fmt.Sprintf("%d (%s) %c %d %d %d %d -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n",
		p.pid, p.comm, p.state, p.ppid, sid, sid, p.tty, start)
	status := fmt.Sprintf("Name:\t%s\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n",
		p.comm, p.uid, p.uid, p.uid, p.uid, p.gid, p.gid, p.gid, p.gid)
	var cmdline string
	if p.args != nil {
		cmdline = strings.Join(p.args, "\x00") + "\x00"
	}
	cgroup := p.cgroup
	if cgroup == "" {
		cgroup = "0::/\n"
	}
	var environ string
	for _, kv := range p.environ {
		environ += kv + "\x00"
	}
	for name, body := range map[string]string{"stat": stat, "status": status, "cmdline": cmdline, "cgroup": cgroup, "environ": environ} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"exe": p.exe, "cwd": p.cwd} {
		if target == "" {
			continue
		}
		link := filepath.Join(dir, name)
		_ = os.Remove(link) // a process written again: its exec
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
}

// collect makes s keep a copy of every document it emits.
func collect(s *Source) *[]ecs.Event {
	var docs []ecs.Event
	s.sink = func(ev *ecs.Event) { docs = append(docs, *ev) }
	return &docs
}

// fakeSource returns a Source over a fake /proc tree holding procs and an
// /etc with user alice (1000) and group users (100).
func fakeSource(t testing.TB, procs ...fakeProc) *Source {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/bash\n",
		"etc/group":  "root:x:0:\nusers:x:100:\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		writeProc(t, root, p)
	}
	host := &ecs.Host{Name: "h", ID: "host-id", OS: ecs.OS{Type: "linux"}}
	s, err := New(Options{
		Mode: ModeNetlink, ProcRoot: filepath.Join(root, "proc"),
		Exec: true, End: true, Existing: true, ScanExisting: true, Namespace: "ns",
	}, host, ecs.NewAgent("1.0", "a", "agent-id"), zap.NewNop())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	clk, err := netlink.NewClock()
	if err != nil {
		t.Fatalf("NewClock: %v", err)
	}
	s.kernel.clock = clk
	return s
}

func TestHandleBatch(t *testing.T) {
	bash := fakeProc{pid: 1000, ppid: 1, sid: 1000, comm: "bash", state: 'S', uid: 1000, gid: 100,
		args: []string{"-bash"}, exe: "/usr/bin/bash", cwd: "/home/alice"}
	python := fakeProc{pid: 1001, ppid: 1000, comm: "python3", state: 'S', uid: 1000, gid: 100,
		args: []string{"python3", "-c", "import pty"}, exe: "/usr/bin/python3.11", cwd: "/tmp"}
	zombie := fakeProc{pid: 1003, ppid: 1000, comm: "true", state: 'Z', uid: 1000, gid: 100}
	alice, users := ecs.ID{ID: "1000", Name: "alice"}, ecs.ID{ID: "100", Name: "users"}
	bashInfo := ecs.Info{PID: 1000, Name: "bash", Executable: "/usr/bin/bash", Args: []string{"-bash"},
		CommandLine: "-bash", WorkingDirectory: "/home/alice",
		User: alice, Group: users, RealUser: alice, RealGroup: users, Interactive: ecs.False}
	leader := ecs.Leader{PID: 1000, Name: "bash", Executable: "/usr/bin/bash", Args: []string{"-bash"}, SameAsProcess: ecs.False}
	// bash leads its session and was started by init: a service's entry.
	entry := leader
	entry.EntryMetaType = "init"

	const t0 = uint64(5_000_000_000)
	fork := func(child int) netlink.Event {
		return netlink.Event{What: netlink.WhatFork, Timestamp: t0, ParentPID: 1000, ParentTGID: 1000, ChildPID: child, ChildTGID: child}
	}
	execEv := func(pid int) netlink.Event {
		return netlink.Event{What: netlink.WhatExec, Timestamp: t0 + 1000, PID: pid, TGID: pid}
	}
	exit := func(pid int, status uint32) netlink.Event {
		return netlink.Event{What: netlink.WhatExit, Timestamp: t0 + 2000, PID: pid, TGID: pid, ParentPID: 1000, ParentTGID: 1000, ExitCode: status}
	}
	// Documents are compared without the fields derived from clocks and
	// hashes; entity ids are checked for presence.
	doc := func(action, typ string, ts uint64, info ecs.Info, state string) ecs.Event {
		return ecs.Event{
			Event:     ecs.Meta{Kind: ecs.KindEvent, Type: typ, Action: action},
			Process:   ecs.Process{Info: info, Parent: bashInfo, EntryLeader: entry, SessionLeader: leader, GroupLeader: leader},
			Namespace: "ns",
			Spawnbeat: ecs.Extra{ReadState: state},
			Timestamp: time.Unix(0, int64(ts)), // replaced by the clock's conversion below
		}
	}
	pyInfo := ecs.Info{PID: 1001, Name: "python3.11", Executable: "/usr/bin/python3.11",
		Args: []string{"python3", "-c", "import pty"}, CommandLine: "python3 -c import pty", WorkingDirectory: "/tmp",
		User: alice, Group: users, RealUser: alice, RealGroup: users, Interactive: ecs.False}
	// Nothing read: no session or group, only the entry leader that the
	// fork passed on.
	noLeaders := func(ev ecs.Event) ecs.Event {
		ev.Process.SessionLeader, ev.Process.GroupLeader = ecs.Leader{}, ecs.Leader{}
		return ev
	}
	withPrevious := func(ev ecs.Event, prev ...ecs.Previous) ecs.Event {
		ev.Process.Previous = prev
		return ev
	}
	withExit := func(ev ecs.Event, code int) ecs.Event {
		ev.Process.ExitCode, ev.Process.HasExitCode = code, true
		return ev
	}

	tests := []struct {
		name   string
		procs  []fakeProc
		events []netlink.Event
		want   []ecs.Event
	}{
		{
			name:   "complete exec",
			procs:  []fakeProc{bash, python},
			events: []netlink.Event{fork(1001), execEv(1001)},
			want:   []ecs.Event{doc(ecs.ActionExec, "start", t0+1000, pyInfo, "complete")},
		},
		{
			name:   "gone before the read: nothing invented",
			procs:  []fakeProc{bash},
			events: []netlink.Event{fork(1002), execEv(1002)},
			want: []ecs.Event{withPrevious(noLeaders(doc(ecs.ActionExec, "start", t0+1000, ecs.Info{PID: 1002}, "exited")),
				ecs.Previous{Executable: "/usr/bin/bash", Args: []string{"-bash"}})}, // the image its fork gave it
		},
		{
			name:   "zombie: name from comm, credentials, no args",
			procs:  []fakeProc{bash, zombie},
			events: []netlink.Event{fork(1003), execEv(1003)},
			want: []ecs.Event{doc(ecs.ActionExec, "start", t0+1000, ecs.Info{PID: 1003, Name: "true",
				User: alice, Group: users, RealUser: alice, RealGroup: users, Interactive: ecs.False}, "zombie")},
		},
		{
			name:   "exit code in the same batch",
			procs:  []fakeProc{bash, python},
			events: []netlink.Event{fork(1001), execEv(1001), exit(1001, 3<<8)},
			want: []ecs.Event{
				doc(ecs.ActionExec, "start", t0+1000, pyInfo, "complete"),
				withExit(doc(ecs.ActionEnd, "end", t0+2000, pyInfo, "complete"), 3),
			},
		},
		{
			name:   "killed by SIGKILL",
			procs:  []fakeProc{bash, python},
			events: []netlink.Event{fork(1001), execEv(1001), exit(1001, uint32(unix.SIGKILL))},
			want: []ecs.Event{
				doc(ecs.ActionExec, "start", t0+1000, pyInfo, "complete"),
				withExit(doc(ecs.ActionEnd, "end", t0+2000, pyInfo, "complete"), 137),
			},
		},
		{
			name:   "thread exit is no process end",
			procs:  []fakeProc{bash, python},
			events: []netlink.Event{fork(1001), execEv(1001), {What: netlink.WhatExit, Timestamp: t0 + 2000, PID: 1005, TGID: 1001}},
			want:   []ecs.Event{doc(ecs.ActionExec, "start", t0+1000, pyInfo, "complete")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeSource(t, tt.procs...)
			got := collect(s)
			s.scan(false)
			s.handleBatch(tt.events)
			for _, ev := range *got {
				if ev.Process.EntityID == "" || ev.Process.Parent.EntityID == "" || ev.Event.ID == "" {
					t.Errorf("%s document of %d: entity ids %q/%q, event.id %q: want all set",
						ev.Event.Action, ev.Process.PID, ev.Process.EntityID, ev.Process.Parent.EntityID, ev.Event.ID)
				}
			}
			want := make([]ecs.Event, len(tt.want))
			for i, w := range tt.want {
				w.Timestamp = s.kernel.clock.Time(uint64(w.Timestamp.UnixNano()))
				if w.Event.Action == ecs.ActionEnd {
					w.Process.End = w.Timestamp
				}
				want[i] = w
			}
			opts := cmp.Options{
				cmpopts.IgnoreFields(ecs.Event{}, "Host", "Agent"),
				cmpopts.IgnoreFields(ecs.Meta{}, "Created", "ID", "Sequence"),
				cmpopts.IgnoreFields(ecs.Info{}, "EntityID", "Start"),
				cmpopts.IgnoreFields(ecs.Leader{}, "EntityID", "Start"),
			}
			if diff := cmp.Diff(want, *got, opts); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name   string
		status unix.WaitStatus
		want   int
	}{
		{name: "success", status: 0, want: 0},
		{name: "exit 3", status: 3 << 8, want: 3},
		{name: "exit 255", status: 255 << 8, want: 255},
		{name: "SIGKILL", status: unix.WaitStatus(unix.SIGKILL), want: 137},
		{name: "SIGSEGV with core", status: unix.WaitStatus(unix.SIGSEGV) | 0x80, want: 139},
		{name: "SIGTERM", status: unix.WaitStatus(unix.SIGTERM), want: 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.status); got != tt.want {
				t.Errorf("exitCode(%#x) = %d, want %d", uint32(tt.status), got, tt.want)
			}
		})
	}
}

func TestResync(t *testing.T) {
	bash := fakeProc{pid: 1000, ppid: 1, sid: 1000, comm: "bash", state: 'S', uid: 1000, gid: 100,
		args: []string{"-bash"}, exe: "/usr/bin/bash", cwd: "/home/alice"}
	s := fakeSource(t, bash)
	docs := collect(s)
	s.scan(false)
	// 1001 and 1002 forked; then the socket overflowed: 1001's exec, 1002's
	// exit and all of 1003's events were lost.
	s.handleBatch([]netlink.Event{
		{What: netlink.WhatFork, ParentPID: 1000, ParentTGID: 1000, ChildPID: 1001, ChildTGID: 1001},
		{What: netlink.WhatFork, ParentPID: 1000, ParentTGID: 1000, ChildPID: 1002, ChildTGID: 1002},
	})
	root := filepath.Dir(s.fs.Root())
	writeProc(t, root, fakeProc{pid: 1001, ppid: 1000, comm: "python3", state: 'S', uid: 1000, gid: 100,
		args: []string{"python3"}, exe: "/usr/bin/python3.11", cwd: "/tmp"})
	writeProc(t, root, fakeProc{pid: 1003, ppid: 1000, comm: "sh", state: 'S', uid: 1000, gid: 100,
		args: []string{"sh", "-c", "x"}, exe: "/usr/bin/dash", cwd: "/tmp"})
	s.lost = true // as listen marks an ENOBUFS
	s.resync()
	if s.lost {
		t.Error("the table still counts as stale after the resync: stat read at every exec from now on")
	}
	type seen struct {
		Action, Name, Parent string
		PID                  int
	}
	var got []seen
	for _, ev := range *docs {
		got = append(got, seen{Action: ev.Event.Action, PID: ev.Process.PID, Name: ev.Process.Name, Parent: ev.Process.Parent.Name})
	}
	want := []seen{
		{Action: ecs.ActionExec, PID: 1001, Name: "python3.11", Parent: "bash"},
		{Action: ecs.ActionExec, PID: 1003, Name: "dash", Parent: "bash"},
	}
	less := func(a, b seen) bool { return a.PID < b.PID }
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(less)); diff != "" {
		t.Errorf("resync documents (-want +got):\n%s", diff)
	}
	st := s.Stats()
	if st.Resyncs != 1 || st.ResyncAdded != 1 || st.ResyncExecs != 2 || st.Table.Vanished != 1 {
		t.Errorf("stats resyncs %d, added %d, execs %d, vanished %d: want 1, 1, 2, 1 (1002 exited unseen)",
			st.Resyncs, st.ResyncAdded, st.ResyncExecs, st.Table.Vanished)
	}
}

// TestScanExisting checks the start-up scan's documents when pids have
// wrapped: /proc lists the child (pid 200) before its parent (3000), and
// the child's document still has its parent and entry leader.
func TestScanExisting(t *testing.T) {
	sshd := fakeProc{pid: 3000, ppid: 1, sid: 3000, comm: "sshd", state: 'S',
		args: []string{"sshd: alice"}, exe: "/usr/sbin/sshd", cwd: "/"}
	shell := fakeProc{pid: 3001, ppid: 3000, sid: 3001, comm: "bash", state: 'S', uid: 1000, gid: 100,
		args: []string{"-bash"}, exe: "/usr/bin/bash", cwd: "/home/alice"}
	vim := fakeProc{pid: 200, ppid: 3001, sid: 3001, start: 5000, comm: "vim", state: 'S', uid: 1000, gid: 100,
		args: []string{"vim"}, exe: "/usr/bin/vim", cwd: "/home/alice"}
	s := fakeSource(t, sshd, shell, vim)
	docs := collect(s)
	s.scan(true)
	type seen struct {
		PID            int
		Parent         string
		Entry          int
		EntryType      string
		EntryIsProcess ecs.Tristate
	}
	var got []seen
	for _, ev := range *docs {
		if ev.Event.Action != ecs.ActionExisting {
			t.Errorf("scan emitted %q, want only %q", ev.Event.Action, ecs.ActionExisting)
		}
		p := &ev.Process
		got = append(got, seen{p.PID, p.Parent.Name, p.EntryLeader.PID, p.EntryLeader.EntryMetaType, p.EntryLeader.SameAsProcess})
	}
	want := []seen{
		{PID: 200, Parent: "bash", Entry: 3001, EntryType: "sshd", EntryIsProcess: ecs.False},
		{PID: 3000, Entry: 3000, EntryType: "init", EntryIsProcess: ecs.True}, // its parent, pid 1, is not in the fake /proc
		{PID: 3001, Parent: "sshd", Entry: 3001, EntryType: "sshd", EntryIsProcess: ecs.True},
	}
	less := func(a, b seen) bool { return a.PID < b.PID }
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(less)); diff != "" {
		t.Errorf("existing documents (-want +got):\n%s", diff)
	}
}

// TestContainerID checks container.id: read from the cgroups of a process
// the scan finds and of one a container runtime was or forked, inherited
// by the other exec'd processes from what they had at the fork.
func TestContainerID(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	id2 := strings.Repeat("fedcba9876543210", 4)
	inContainer := func(id string) string { return "0::/system.slice/docker-" + id + ".scope\n" }
	shim := fakeProc{pid: 800, ppid: 1, sid: 800, comm: "containerd-shim", state: 'S',
		args: []string{"containerd-shim-runc-v2"}, exe: "/usr/bin/containerd-shim-runc-v2", cwd: "/"}
	nginx := fakeProc{pid: 900, ppid: 800, sid: 900, comm: "nginx", state: 'S',
		args: []string{"nginx"}, exe: "/usr/sbin/nginx", cwd: "/", cgroup: inContainer(id)}
	runc := fakeProc{pid: 950, ppid: 800, sid: 950, comm: "runc", state: 'S',
		args: []string{"runc", "init"}, exe: "/usr/bin/runc", cwd: "/"}
	bash := fakeProc{pid: 1000, ppid: 1, sid: 1000, comm: "bash", state: 'S',
		args: []string{"-bash"}, exe: "/usr/bin/bash", cwd: "/"}
	s := fakeSource(t, shim, nginx, runc, bash)
	docs := collect(s)
	s.scan(true)

	root := filepath.Dir(s.fs.Root())
	// nginx's worker: its cgroup file says nothing, and is not read.
	writeProc(t, root, fakeProc{pid: 901, ppid: 900, sid: 900, comm: "nginx", state: 'S',
		args: []string{"nginx: worker"}, exe: "/usr/sbin/nginx", cwd: "/"})
	// runc init, moved into a new container, execs its entrypoint.
	writeProc(t, root, fakeProc{pid: 950, ppid: 800, sid: 950, comm: "redis-server", state: 'S',
		args: []string{"redis-server"}, exe: "/usr/bin/redis-server", cwd: "/", cgroup: inContainer(id2)})
	// A host shell's child.
	writeProc(t, root, fakeProc{pid: 1001, ppid: 1000, sid: 1000, comm: "ls", state: 'S',
		args: []string{"ls"}, exe: "/usr/bin/ls", cwd: "/"})
	const t0 = uint64(5_000_000_000)
	s.handleBatch([]netlink.Event{
		{What: netlink.WhatFork, Timestamp: t0, ParentPID: 900, ParentTGID: 900, ChildPID: 901, ChildTGID: 901},
		{What: netlink.WhatExec, Timestamp: t0 + 1, PID: 901, TGID: 901},
		{What: netlink.WhatExec, Timestamp: t0 + 2, PID: 950, TGID: 950},
		{What: netlink.WhatFork, Timestamp: t0 + 3, ParentPID: 1000, ParentTGID: 1000, ChildPID: 1001, ChildTGID: 1001},
		{What: netlink.WhatExec, Timestamp: t0 + 4, PID: 1001, TGID: 1001},
	})
	type seen struct {
		Action    string
		PID       int
		Container string
	}
	var got []seen
	for _, ev := range *docs {
		got = append(got, seen{ev.Event.Action, ev.Process.PID, ev.Container.ID})
	}
	want := []seen{
		{ecs.ActionExisting, 800, ""},
		{ecs.ActionExisting, 900, id},
		{ecs.ActionExisting, 950, ""},
		{ecs.ActionExisting, 1000, ""},
		{ecs.ActionExec, 901, id},
		{ecs.ActionExec, 950, id2},
		{ecs.ActionExec, 1001, ""},
	}
	less := func(a, b seen) bool { return a.Action < b.Action || a.Action == b.Action && a.PID < b.PID }
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(less)); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
}

// TestEnvVars checks process.env_vars: only the variables configured, read
// by the scan and at each exec.
func TestEnvVars(t *testing.T) {
	bash := fakeProc{pid: 1000, ppid: 1, sid: 1000, comm: "bash", state: 'S', args: []string{"-bash"},
		exe: "/usr/bin/bash", cwd: "/", environ: []string{"PATH=/usr/bin", "HISTFILE=/dev/null"}}
	s := fakeSource(t, bash)
	s.opts.EnvVars = []string{"HISTFILE", "LD_PRELOAD"}
	s.fill.envVars = s.opts.EnvVars
	docs := collect(s)
	s.scan(true)
	writeProc(t, filepath.Dir(s.fs.Root()), fakeProc{pid: 1001, ppid: 1000, sid: 1000, comm: "true", state: 'S',
		args: []string{"true"}, exe: "/usr/bin/true", cwd: "/", environ: []string{"LD_PRELOAD=/tmp/x.so", "PATH=/usr/bin"}})
	s.handleBatch([]netlink.Event{
		{What: netlink.WhatFork, Timestamp: 1, ParentPID: 1000, ParentTGID: 1000, ChildPID: 1001, ChildTGID: 1001},
		{What: netlink.WhatExec, Timestamp: 2, PID: 1001, TGID: 1001},
	})
	type seen struct {
		Action         string
		Env, ParentEnv []string
	}
	var got []seen
	for _, ev := range *docs {
		got = append(got, seen{ev.Event.Action, ev.Process.EnvVars, ev.Process.Parent.EnvVars})
	}
	want := []seen{
		{Action: ecs.ActionExisting, Env: []string{"HISTFILE=/dev/null"}},
		{Action: ecs.ActionExec, Env: []string{"LD_PRELOAD=/tmp/x.so"}, ParentEnv: []string{"HISTFILE=/dev/null"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
}

// TestExecCredentials checks where an exec'd process's user and group come
// from: the table (inherited at the fork, updated by the kernel's uid and
// gid events), and status only for a process the table does not know.
func TestExecCredentials(t *testing.T) {
	bash := fakeProc{pid: 1000, ppid: 1, sid: 1000, comm: "bash", state: 'S', uid: 1000, gid: 100,
		args: []string{"-bash"}, exe: "/usr/bin/bash", cwd: "/home/alice"}
	child := fakeProc{pid: 1001, ppid: 1000, comm: "sudo", state: 'S', uid: 1000, gid: 100,
		args: []string{"sudo", "id"}, exe: "/usr/bin/sudo", cwd: "/home/alice"}
	fork := netlink.Event{What: netlink.WhatFork, Timestamp: 1, ParentPID: 1000, ParentTGID: 1000, ChildPID: 1001, ChildTGID: 1001}
	exec := netlink.Event{What: netlink.WhatExec, Timestamp: 4, PID: 1001, TGID: 1001}
	type ids struct{ User, RealUser, Group, RealGroup string }
	tests := []struct {
		name     string
		events   []netlink.Event
		noStatus bool // 1001's status cannot be read
		want     ids
	}{
		{
			name:     "inherited at the fork, status not read",
			events:   []netlink.Event{fork, exec},
			noStatus: true,
			want:     ids{"1000", "1000", "100", "100"},
		},
		{
			name: "set-user-ID exec: the uid and gid events come first",
			events: []netlink.Event{fork,
				{What: netlink.WhatUID, Timestamp: 2, PID: 1001, TGID: 1001, RUID: 1000, EUID: 0},
				{What: netlink.WhatGID, Timestamp: 3, PID: 1001, TGID: 1001, RGID: 100, EGID: 0},
				exec},
			noStatus: true,
			want:     ids{"0", "1000", "0", "100"},
		},
		{
			name: "a thread's own uid change is not the process's",
			events: []netlink.Event{fork,
				{What: netlink.WhatUID, Timestamp: 2, PID: 1005, TGID: 1001, RUID: 0, EUID: 0},
				exec},
			noStatus: true,
			want:     ids{"1000", "1000", "100", "100"},
		},
		{
			name:   "no fork seen: the table does not know it, status is read",
			events: []netlink.Event{exec},
			want:   ids{"1000", "1000", "100", "100"},
		},
		{
			name:     "no fork seen and no status: no credentials",
			events:   []netlink.Event{exec},
			noStatus: true,
			want:     ids{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeSource(t, bash)
			docs := collect(s)
			s.scan(false)
			root := filepath.Dir(s.fs.Root())
			writeProc(t, root, child)
			if tt.noStatus {
				if err := os.Remove(filepath.Join(s.fs.Root(), "1001", "status")); err != nil {
					t.Fatal(err)
				}
			}
			s.handleBatch(tt.events)
			var got []ids
			for _, ev := range *docs {
				if ev.Event.Action == ecs.ActionExec && ev.Process.PID == 1001 {
					p := &ev.Process
					got = append(got, ids{p.User.ID, p.RealUser.ID, p.Group.ID, p.RealGroup.ID})
				}
			}
			if diff := cmp.Diff([]ids{tt.want}, got); diff != "" {
				t.Errorf("exec document ids (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSettle checks how an exec'd process read without stat gets its
// start, parent and terminal: from the table when it vouches for them,
// else from stat, read late.
func TestSettle(t *testing.T) {
	const pts1 = 136<<8 | 1
	shell := fakeProc{pid: 3000, ppid: 1, sid: 300, comm: "bash", state: 'S', args: []string{"bash"}, exe: "/bin/bash", cwd: "/"}
	// The fake tree shows the child with a terminal: whoever reads stat
	// sees it; a vouched-for image says none, as the table knows.
	child := fakeProc{pid: 4000, ppid: 3000, sid: 300, tty: pts1, comm: "sleep", state: 'S', args: []string{"sleep", "1"}, exe: "/bin/sleep", cwd: "/"}
	// read is a process as ReadExec reads it without stat.
	read := func(pid int, tty uint32) *procfs.Process {
		return &procfs.Process{
			Stat: procfs.Stat{PID: pid, PGID: pid, SID: 300, TTY: tty}, Args: []string{"sleep", "1"}, Exe: "/bin/sleep", Cwd: "/",
			ReadState: procfs.ReadComplete, Missing: procfs.PartStat | procfs.PartStatus,
		}
	}
	tests := []struct {
		name     string
		forked   bool // the table saw the child's fork
		lost     bool // events were lost, no resync since
		ttyKnown bool // the exec's image gave the terminal (the read's)
		pid      int
		wantTTY  uint32
		wantPPID int  // 0: left to the table
		wantStat bool // PartStat cleared
	}{
		{name: "forked child of a shell without terminal: the table vouches", forked: true, pid: 4000, wantStat: true},
		{name: "the exec's image gave the terminal: the table's start and parent", forked: true, ttyKnown: true, pid: 4000, wantTTY: pts1, wantStat: true},
		{name: "the image's terminal, events lost since: stat read", forked: true, lost: true, ttyKnown: true, pid: 4000, wantTTY: pts1, wantPPID: 3000, wantStat: true},
		{name: "events lost since: stat read", forked: true, lost: true, pid: 4000, wantTTY: pts1, wantPPID: 3000, wantStat: true},
		{name: "fork not seen: stat read", pid: 4000, wantTTY: pts1, wantPPID: 3000, wantStat: true},
		{name: "reaped before stat: unknown", pid: 4001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeSource(t, shell)
			s.scan(false) // the shell
			if tt.forked {
				s.table.Fork(3000, 4000, time.Now())
			}
			writeProc(t, filepath.Dir(s.opts.ProcRoot), child)
			s.lost = tt.lost
			var tty uint32
			if tt.ttyKnown {
				tty = pts1
			}
			p := read(tt.pid, tty)
			s.settle(p, tt.ttyKnown)
			if p.TTY != tt.wantTTY || p.PPID != tt.wantPPID || (p.Missing&procfs.PartStat == 0) != tt.wantStat {
				t.Errorf("tty %#x, ppid %d, stat settled %v; want %#x, %d, %v",
					p.TTY, p.PPID, p.Missing&procfs.PartStat == 0, tt.wantTTY, tt.wantPPID, tt.wantStat)
			}
			if p.PID != tt.pid || p.PGID == 0 || p.SID != 300 {
				t.Errorf("pid %d pgid %d sid %d: lost what the read had", p.PID, p.PGID, p.SID)
			}
		})
	}
}
