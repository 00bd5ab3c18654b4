package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/module/process"
)

// The capabilities spawnbeat keeps (include/uapi/linux/capability.h).
const (
	capDACReadSearch   = 2  // read any process's /proc files, rule and certificate files
	capSetPCap         = 8  // (not kept) to drop from the bounding set
	capNetBindService  = 10 // a monitoring port below 1024
	capNetAdmin        = 12 // the proc connector: subscribe, SO_RCVBUFFORCE
	capSysPtrace       = 19 // /proc/PID/exe, cwd and environ of other users' processes
	capSysNice         = 23 // priority_boost
	capPerfmon         = 38 // exec_args: a tracing BPF program, reading kernel memory
	capBPF             = 39 // exec_args: BPF maps and programs
	capabilitiesToKeep = 1<<capDACReadSearch | 1<<capNetAdmin | 1<<capSysPtrace
)

// reexecNarrowed is set by main only (in-process tests never exec): it
// narrows the capability bounding set to keep and re-executes spawnbeat.
var reexecNarrowed func(keep uint64) error

// keptCapabilities is what spawnbeat run needs with cfg.
func keptCapabilities(cfg *config.Config) uint64 {
	keep := uint64(capabilitiesToKeep)
	c := cfg.Spawnbeat.Capture
	if c.PriorityBoost > 0 {
		keep |= 1 << capSysNice
	}
	if c.ExecArgs != process.ArgsProc && c.Mode != process.ModePoll {
		keep |= 1<<capPerfmon | 1<<capBPF
	}
	if cfg.HTTP.Enabled && cfg.HTTP.Port < 1024 {
		keep |= 1 << capNetBindService
	}
	return keep
}

// excessCapabilities lists the capabilities in this thread's bounding set
// that keep does not hold.
func excessCapabilities(keep uint64) ([]int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil, fmt.Errorf("read cap_last_cap: %w", err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || last > 63 {
		return nil, fmt.Errorf("cap_last_cap %q", b)
	}
	var excess []int
	for c := 0; c <= last; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("read bounding set: %w", err)
		}
		if in == 1 {
			excess = append(excess, c)
		}
	}
	return excess, nil
}

// narrowAndReexec drops from this thread's bounding set every capability
// keep does not hold and executes spawnbeat again, with the same pid and
// arguments. As root, an exec grants the bounding set as the permitted and
// effective sets, so the new image holds only keep, in every thread it
// starts. Without CAP_SETPCAP it narrows the permitted set instead, which
// no_new_privs keeps through the exec. It returns only when it did not
// exec: nothing to narrow, or a failure.
func narrowAndReexec(keep uint64) error {
	// The bounding set is per thread and the exec carries the calling
	// thread's: the drops and the exec must run on one thread. Unlocked on
	// return, so that capture is not tied to it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// Nothing to narrow when what this thread may use is within keep: the
	// second image, or an unprivileged user given just those (file
	// capabilities), who could not drop from the bounding set anyway.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if permitted := uint64(data[1].Permitted)<<32 | uint64(data[0].Permitted); permitted&^keep == 0 {
		return nil
	}
	if effective := uint64(data[1].Effective)<<32 | uint64(data[0].Effective); effective&(1<<capSetPCap) == 0 {
		// The bounding set cannot shrink without CAP_SETPCAP (a systemd
		// unit's CapabilityBoundingSet= leaves it out). Narrowing the
		// permitted set does the same under no_new_privs, set below: an
		// exec then gains nothing beyond the permitted set it had.
		if err := narrowPermitted(keep, &hdr, &data); err != nil {
			return err
		}
	} else {
		excess, err := excessCapabilities(keep)
		if err != nil || len(excess) == 0 {
			return err
		}
		for _, c := range excess {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
				return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
			}
		}
	}
	// spawnbeat runs no program: no exec of the new image (if it were made
	// to run one) may gain privileges either, set-user-ID or file
	// capabilities. Like the bounding set, inherited by every thread.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	if err := syscall.Exec(selfPath(), os.Args, os.Environ()); err != nil {
		return fmt.Errorf("re-execute with fewer capabilities: %w", err)
	}
	return nil
}

// narrowPermitted lowers this thread's permitted and effective sets to
// keep and clears its inheritable and ambient sets; no CAP_SETPCAP needed.
func narrowPermitted(keep uint64, hdr *unix.CapUserHeader, data *[2]unix.CapUserData) error {
	for i := range data {
		k := uint32(keep >> (32 * i))
		data[i].Permitted &= k
		data[i].Effective &= k
		data[i].Inheritable = 0
	}
	if err := unix.Capset(hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	return nil
}

// selfPath is the path to re-execute this binary by: its own, so that the
// new image keeps its name (the kernel names a process, and each thread,
// after the file exec'd: through /proc/self/exe, ps and pgrep would show
// "exe"); or /proc/self/exe when that path no longer holds the running
// file (replaced or removed since: an upgrade).
func selfPath() string {
	const self = "/proc/self/exe"
	path, err := os.Readlink(self)
	if err != nil {
		return self
	}
	running, err1 := os.Stat(self)
	named, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(running, named) {
		return self
	}
	return path
}

// capabilitySet is a capability line (CapEff, CapBnd) of this process's
// status, for the log.
func capabilitySet(name string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
