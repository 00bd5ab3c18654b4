// Package cputime reads the CPU time of the calling OS thread, which the
// detection benchmarks report next to wall time: the build machines are
// shared, and the time a benchmark's own (locked) thread ran says more
// about its cost than the wall clock does.
package cputime

import "syscall"

// rusageThread is RUSAGE_THREAD (getrusage(2), Linux since 2.6.26).
const rusageThread = 1

// Thread returns the user and system CPU time the calling thread has used,
// in nanoseconds, or 0 if getrusage fails. Call it from a goroutine locked
// to its thread (runtime.LockOSThread).
func Thread() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
