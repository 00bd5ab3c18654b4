package cache_test

import (
	"fmt"
	"time"

	"github.com/spawnbeat/spawnbeat/module/process/cache"
	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// The capture stage feeds the table from proc connector events and /proc
// reads; the ECS builder takes the process and its parent from it.
func ExampleTable() {
	boot := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	tab := cache.New(cache.Options{HostID: "host", BootID: "boot", BootTime: boot})
	now := boot.Add(time.Hour)

	// Found by the start-up scan.
	tab.Upsert(&procfs.Process{
		Stat:      procfs.Stat{PID: 100, PPID: 1, Comm: "python3", StartTicks: 1000},
		Args:      []string{"python3", "-c", "import pty; pty.spawn('/bin/sh')"},
		Exe:       "/usr/bin/python3.11",
		ReadState: procfs.ReadComplete,
	}, now)

	// FORK, then python exits before the child's EXEC is handled.
	child := tab.Fork(100, 200, now.Add(time.Millisecond))
	fmt.Printf("forked: %s %q\n", child.Image.Name(), child.Image.Args)
	tab.Exit(100, 0, now.Add(2*time.Millisecond))

	// EXEC: what procfs read for pid 200.
	e := tab.Exec(&procfs.Process{
		Stat:      procfs.Stat{PID: 200, PPID: 1, Comm: "sh", StartTicks: 360000},
		Args:      []string{"/bin/sh"},
		Exe:       "/usr/bin/dash",
		ReadState: procfs.ReadComplete,
	}, now.Add(3*time.Millisecond))
	parent, _ := tab.Parent(e)
	fmt.Printf("exec: %s %q, parent %d %s %q exited=%v\n", e.Image.Name(), e.Image.Args, parent.PID, parent.Image.Name(), parent.Image.Args, parent.Exited)
	// Output:
	// forked: python3.11 ["python3" "-c" "import pty; pty.spawn('/bin/sh')"]
	// exec: dash ["/bin/sh"], parent 100 python3.11 ["python3" "-c" "import pty; pty.spawn('/bin/sh')"] exited=true
}
