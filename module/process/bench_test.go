package process

import (
	"testing"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/module/process/netlink"
)

// BenchmarkHandleBatch is the per-process cost of the capture stage on a
// fork, exec and exit batch: the /proc read (of a fake tree on tmpfs or
// disk, so without the kernel's cost of rendering a live process), the
// table update, and building and handing on the exec and end documents.
func BenchmarkHandleBatch(b *testing.B) {
	bash := fakeProc{pid: 1000, ppid: 1, comm: "bash", state: 'S', uid: 1000, gid: 100,
		args: []string{"-bash"}, exe: "/usr/bin/bash", cwd: "/home/alice"}
	python := fakeProc{pid: 1001, ppid: 1000, comm: "python3", state: 'S', uid: 1000, gid: 100,
		args: []string{"python3", "-c", "import pty; pty.spawn('/bin/sh')"}, exe: "/usr/bin/python3.11", cwd: "/tmp"}
	s := fakeSource(b, bash, python)
	s.sink = func(*ecs.Event) {}
	s.scan(false)
	evs := []netlink.Event{
		{What: netlink.WhatFork, Timestamp: 1, ParentPID: 1000, ParentTGID: 1000, ChildPID: 1001, ChildTGID: 1001},
		{What: netlink.WhatExec, Timestamp: 2, PID: 1001, TGID: 1001},
		{What: netlink.WhatExit, Timestamp: 3, PID: 1001, TGID: 1001, ExitCode: 0},
	}
	b.ReportAllocs()
	for b.Loop() {
		s.handleBatch(evs)
	}
}
