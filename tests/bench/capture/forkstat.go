package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// forkstat is a running forkstat (Debian package forkstat) printing exec
// events with each process's command line, one a line, to a file. It is not
// safe for concurrent use.
type forkstat struct {
	*child
	out  string
	tail lineTail
}

// startForkstat runs `forkstat -e exec -l` with its output in dir. Its
// readiness is proven by the caller's probe process, not by its header,
// which it prints before it has subscribed.
func startForkstat(path, dir string) (*forkstat, error) {
	out := filepath.Join(dir, "forkstat.out")
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start forkstat: %w", err)
	}
	defer f.Close() // the child has its own descriptor
	// -e exec: exec events only; -l: line-buffered, so the file is current.
	cmd := exec.Command(path, "-e", "exec", "-l")
	cmd.Stdout = f
	c, err := startChild("forkstat", cmd)
	if err != nil {
		return nil, err
	}
	return &forkstat{child: c, out: out, tail: lineTail{path: out}}, nil
}

// seenExec reports whether forkstat has printed an exec line whose
// command line ends with the argument marker. It reads only what was
// appended since its last call.
func (f *forkstat) seenExec(marker string) (bool, error) {
	found := false
	err := f.tail.scan(func(line []byte) {
		if found || !bytes.Contains(line, []byte(marker)) {
			return
		}
		if _, cmdline, ok := parseForkstatExec(line); ok {
			found = bytes.HasSuffix(cmdline, []byte(" "+marker))
		}
	})
	return found, err
}

// eachExec calls fn with the pid and command line of every exec line of
// the output.
func (f *forkstat) eachExec(fn func(pid int, cmdline []byte)) error {
	t := lineTail{path: f.out}
	return t.scan(func(line []byte) {
		if pid, cmdline, ok := parseForkstatExec(line); ok {
			fn(pid, cmdline)
		}
	})
}

// parseForkstatExec parses one line of `forkstat -e exec`:
//
//	06:46:40 exec  23445                 /bin/true hello-marker-1
//
// time, event, pid, then (Info and Duration being empty for exec) the
// command line: argv joined by spaces, or "<unknown>" when forkstat could
// not read it. Header lines ("Time Event PID …") are not exec lines.
func parseForkstatExec(line []byte) (pid int, cmdline []byte, ok bool) {
	rest := line
	var tok [3][]byte
	for i := range tok {
		rest = bytes.TrimLeft(rest, " \t")
		end := bytes.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		tok[i], rest = rest[:end], rest[end:]
	}
	if string(tok[1]) != "exec" {
		return 0, nil, false
	}
	pid, err := strconv.Atoi(string(tok[2]))
	if err != nil {
		return 0, nil, false
	}
	return pid, bytes.TrimSpace(rest), true
}
