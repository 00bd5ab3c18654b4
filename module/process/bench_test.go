package process

import (
	"testing"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/module/detection"
	"github.com/spawnbeat/spawnbeat/module/detection/rules"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
	"github.com/spawnbeat/spawnbeat/module/process/execargs"
	"github.com/spawnbeat/spawnbeat/module/process/netlink"
)

// BenchmarkHandleBatch is the per-process cost of the capture stage on a
// fork, exec and exit batch: the /proc read (of a fake tree on tmpfs or
// disk, so without the kernel's cost of rendering a live process), the
// table update, and building and handing on the exec and end documents.
func BenchmarkHandleBatch(b *testing.B) {
	s := benchSource(b)
	s.sink = func(*ecs.Event) {}
	evs := benchBatch()
	b.ReportAllocs()
	for b.Loop() {
		s.handleBatch(evs)
	}
}

// BenchmarkPeriod is a storm period that handles one process, as the
// capture goroutine does with the exec program: the fork, the exec with its
// image, the exit, and the exec and end documents evaluated by the built-in
// rules, encoded and copied out (beater's stages.process, with a copy for
// the memory queue's; this package cannot import the queue).
//
// warm repeats it back to back, as benchmarks do. cold first reads
// through evictBytes, as a storm's processes sweep the caches between two
// periods, so that it also measures bringing the period's code and data
// back: on the machines measured that is most of a period's cost, and what
// a change to the capture path should shrink (docs/performance.md, "A
// period's cost is memory brought back"). cold/warm is the ratio to watch;
// the absolute cold figure depends on the machine's caches.
func BenchmarkPeriod(b *testing.B) {
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			s := benchSource(b)
			sink := newBenchSink(b)
			s.sink = sink.process
			evs := benchBatch()
			fork, exec, exit := evs[0], evs[1], evs[2]
			im := execargs.Image{
				Args: []byte("python3\x00-c\x00import pty; pty.spawn('/bin/sh')\x00"),
				Comm: []byte("python3"), Exe: []byte("/usr/bin/python3.11"), Cwd: []byte("/tmp"),
				IDs: true, PGID: 1001, SID: 1000, TTY: 0x8800,
			}
			evict := make([]byte, evictBytes)
			for i := 0; i < len(evict); i += 4096 {
				evict[i] = 1 // backed by pages of its own, not the shared zero page
			}
			period := func() {
				s.handle(&fork, nil, false)
				image := im // Take's image is valid until the next call; the completer copies it
				p, ttyKnown := s.fill.exec(exec.TGID, &image, true)
				s.handle(&exec, p, ttyKnown)
				s.handle(&exit, nil, false)
				s.fill.release()
			}
			// Untimed: the queue's buffers, the heap and the table as a
			// running agent has them.
			for range warmPeriods {
				period()
			}
			var sum byte
			b.ReportAllocs()
			for b.Loop() {
				if cold {
					b.StopTimer()
					for i := 0; i < len(evict); i += 64 {
						sum += evict[i]
					}
					b.StartTimer()
				}
				period()
			}
			evictSum = sum
		})
	}
}

// evictBytes is what BenchmarkPeriod's cold run reads through before each
// period: more than the L2 and L3 caches of the VMs measured (with 8 MiB,
// cold took under 3x warm: the L3 still held much of the working set).
const evictBytes = 64 << 20

// warmPeriods run before BenchmarkPeriod's timed ones: enough to use each
// of the copy ring's buffers once.
const warmPeriods = 4096

// evictSum keeps the eviction's loads from being optimised away.
var evictSum byte

// benchSource is a Source on a fake /proc with a shell and its python.
func benchSource(b *testing.B) *Source {
	bash := fakeProc{pid: 1000, ppid: 1, comm: "bash", state: 'S', uid: 1000, gid: 100,
		args: []string{"-bash"}, exe: "/usr/bin/bash", cwd: "/home/alice"}
	python := fakeProc{pid: 1001, ppid: 1000, comm: "python3", state: 'S', uid: 1000, gid: 100,
		args: []string{"python3", "-c", "import pty; pty.spawn('/bin/sh')"}, exe: "/usr/bin/python3.11", cwd: "/tmp"}
	s := fakeSource(b, bash, python)
	s.scan(false)
	return s
}

// benchBatch is a process's fork, exec and exit.
func benchBatch() []netlink.Event {
	return []netlink.Event{
		{What: netlink.WhatFork, Timestamp: 1, ParentPID: 1000, ParentTGID: 1000, ChildPID: 1001, ChildTGID: 1001},
		{What: netlink.WhatExec, Timestamp: 2, PID: 1001, TGID: 1001},
		{What: netlink.WhatExit, Timestamp: 3, PID: 1001, TGID: 1001, ExitCode: 0},
	}
}

// benchSink is the beater's sink without its counters and queue: the
// built-in rules, the encoder, and a copy of the document into one of a
// ring of reused buffers, as the memory queue keeps them.
type benchSink struct {
	det     *detection.Detector
	enc     ecs.Encoder
	scratch []byte
	bodies  [4096][]byte // queue.mem.events at its default
	next    int
}

func newBenchSink(b *testing.B) *benchSink {
	set, err := rules.Load(rules.Options{}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	det, err := detection.New(set, detection.Options{}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	return &benchSink{det: det}
}

func (k *benchSink) process(ev *ecs.Event) {
	k.det.Evaluate(ev)
	k.scratch = k.enc.Append(k.scratch[:0], ev)
	k.bodies[k.next] = append(k.bodies[k.next][:0], k.scratch...)
	k.next = (k.next + 1) % len(k.bodies)
}
