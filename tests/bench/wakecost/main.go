// Command wakecost measures what one wake-up costs a Go program that does
// nothing else: the floor under every storm period of the capture, which
// wakes its reader every 10 ms (module/process/netlink's Coalesce).
//
//	go run ./tests/bench/wakecost [-n 1000] [-every 10ms]
//
// It sleeps -n times for -every in each of three ways and prints the CPU
// (utime+stime of the whole process, every thread) per wake-up, and the
// context switches per wake-up of all its threads:
//
//   - timerfd: a periodic timerfd on the runtime's poller, read raw, as
//     the capture's storm clock is (the goroutine parks, its P is freed);
//   - ticker: a time.Ticker (a runtime timer);
//   - nanosleep: a raw nanosleep that keeps the thread and its P.
//
// No root is needed. Nothing is asserted; the figures are the machine's.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 1000, "wake-ups per way")
	every := flag.Duration("every", 10*time.Millisecond, "time between wake-ups")
	flag.Parse()
	if *n < 1 || *every <= 0 {
		fmt.Fprintln(os.Stderr, "wakecost: -n must be at least 1 and -every positive")
		os.Exit(2)
	}
	fmt.Printf("| way | wake-ups | every | CPU µs per wake-up | context switches per wake-up |\n|---|--:|--:|--:|--:|\n")
	for _, w := range []struct {
		name string
		run  func(n int, every time.Duration) error
	}{{"timerfd on the poller", viaTimerfd}, {"time.Ticker", viaTicker}, {"raw nanosleep", viaNanosleep}} {
		cpu0, sw0 := cpuTime(), switches()
		if err := w.run(*n, *every); err != nil {
			fmt.Fprintf(os.Stderr, "wakecost: %s: %v\n", w.name, err)
			os.Exit(1)
		}
		cpu, sw := cpuTime()-cpu0, switches()-sw0
		fmt.Printf("| %s | %d | %v | %.0f | %.1f |\n", w.name, *n, *every,
			float64(cpu.Microseconds())/float64(*n), float64(sw)/float64(*n))
	}
}

func viaTimerfd(n int, every time.Duration) error {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("timerfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "wakecost-timer")
	defer f.Close()
	ts := unix.NsecToTimespec(every.Nanoseconds())
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		return fmt.Errorf("timerfd_settime: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var buf [8]byte
	read := func(fd uintptr) bool {
		_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		return !errors.Is(errno, unix.EAGAIN)
	}
	for range n {
		if err := rc.Read(read); err != nil {
			return err
		}
	}
	return nil
}

func viaTicker(n int, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for range n {
		<-t.C
	}
	return nil
}

func viaNanosleep(n int, every time.Duration) error {
	ts := unix.NsecToTimespec(every.Nanoseconds())
	for range n {
		if _, _, errno := unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0); errno != 0 && errno != unix.EINTR {
			return errno
		}
	}
	return nil
}

// cpuTime is the process's CPU so far, every thread's.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// switches counts the context switches of all the process's threads,
// voluntary and not.
func switches() int {
	tasks, _ := os.ReadDir("/proc/self/task")
	total := 0
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/status")
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			var v int
			if _, err := fmt.Sscanf(line, "voluntary_ctxt_switches: %d", &v); err == nil {
				total += v
			} else if _, err := fmt.Sscanf(line, "nonvoluntary_ctxt_switches: %d", &v); err == nil {
				total += v
			}
		}
	}
	return total
}
