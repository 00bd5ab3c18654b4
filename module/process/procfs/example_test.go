package procfs_test

import (
	"errors"
	"fmt"

	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// Reading processes from a fake /proc tree; production code passes "" for
// the real /proc.
func ExampleReader_Read() {
	fs, err := procfs.NewFS("testdata/proc")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := fs.NewReader(procfs.DefaultMaxArgBytes)
	var p procfs.Process
	for _, pid := range []int{8524, 8529, 2, 77777} {
		switch err := r.Read(pid, &p); {
		case errors.Is(err, procfs.ErrGone):
			fmt.Printf("%d: gone\n", pid)
		case err != nil:
			fmt.Printf("%d: %v\n", pid, err)
		default:
			fmt.Printf("%d: %s comm=%q args=%q exe=%q kthread=%v\n", pid, p.ReadState, p.Comm, p.Args, p.Exe, p.IsKernelThread())
		}
	}
	// Output:
	// 8524: complete comm="a) b (c" args=["/tmp/a) b (c" "300"] exe="/tmp/a) b (c" kthread=false
	// 8529: zombie comm="sleep" args=[] exe="" kthread=false
	// 2: complete comm="kthreadd" args=[] exe="" kthread=true
	// 77777: gone
}
