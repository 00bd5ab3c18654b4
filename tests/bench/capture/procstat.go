package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat (proc(5)): the
// kernel's USER_HZ, 100 on every architecture Linux ships for mainstream
// use, independent of CONFIG_HZ.
const userHZ = 100

// errProcFormat reports a /proc file whose layout was not as proc(5) says.
var errProcFormat = errors.New("unexpected /proc format")

// cpuTime returns the CPU time (user + system, all threads, living and
// exited) that process pid has used so far, from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time of %d: %w", pid, err)
	}
	// comm may hold spaces and parentheses: the fields start after the last ")".
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return 0, fmt.Errorf("read cpu time of %d: no comm: %w", pid, errProcFormat)
	}
	fields := bytes.Fields(raw[end+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("read cpu time of %d: %d fields: %w", pid, len(fields)+2, errProcFormat)
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read cpu time of %d: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// memory is a process's resident set size: peak (VmHWM) and now (VmRSS).
type memory struct {
	PeakKiB, NowKiB uint64
}

// readMemory reads VmHWM and VmRSS from /proc/PID/status.
func readMemory(pid int) (memory, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("read memory of %d: %w", pid, err)
	}
	var m memory
	var found int
	for line := range bytes.Lines(raw) {
		var dst *uint64
		switch {
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &m.PeakKiB
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &m.NowKiB
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 2 {
			return memory{}, fmt.Errorf("read memory of %d: %q: %w", pid, line, errProcFormat)
		}
		v, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("read memory of %d: %w", pid, err)
		}
		*dst = v
		found++
	}
	if found != 2 {
		return memory{}, fmt.Errorf("read memory of %d: VmHWM or VmRSS missing: %w", pid, errProcFormat)
	}
	return m, nil
}
