package beater

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// boostPriority lowers the nice value of every thread of this process by
// boost, down to -20, as auditd's priority_boost does, and returns the new
// value. Under load the capture then runs sooner after each exec, while
// more short-lived processes still have their arguments in /proc; the
// price is CPU (fewer events per wake-up). Nice is per thread on Linux and
// a new thread takes its creator's, so every thread is reniced, in passes
// until one finds none left behind (the Go runtime may start threads
// meanwhile).
func boostPriority(boost int) (int, error) {
	// The system call returns 20 - nice; x/sys/unix does not convert.
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return 0, fmt.Errorf("getpriority: %w", err)
	}
	nice := max(20-prio-boost, -20)
	for range 10 {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return 0, fmt.Errorf("list threads: %w", err)
		}
		changed := false
		for _, d := range tids {
			tid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
			if err != nil || 20-p == nice {
				continue // gone (ESRCH), or done
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, unix.ESRCH) {
				return 0, fmt.Errorf("setpriority %d for thread %d: %w", nice, tid, err)
			}
			changed = true
		}
		if !changed {
			return nice, nil
		}
	}
	return nice, nil
}
