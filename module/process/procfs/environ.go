package procfs

import (
	"bytes"
	"fmt"
)

// maxEnvironBytes bounds the read of an environment: the variables rules
// look for (LD_PRELOAD, HISTFILE, …) are set by a shell or a loader, not
// buried under megabytes.
const maxEnvironBytes = 64 << 10

// EnvVars returns the bindings ("NAME=value") of the variables named in
// names that process pid's environment holds, in its order, or nil when it
// holds none. A just-exec'd process's environment is read with a raw
// system call, as its cmdline is (see ReadExec); execd says it is one. It
// returns an error wrapping ErrGone when the process is gone; a zombie's
// environment is empty.
func (r *Reader) EnvVars(pid int, names []string, execd bool) ([]string, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("read process %d: %w", pid, ErrBadPID)
	}
	r.pidPath(pid, "/")
	b, _, err := readFile(r.file("environ"), r.buf, maxEnvironBytes, !execd)
	r.buf = b[:0]
	if isGone(err) {
		return nil, wrapRead(pid, "environ", err)
	}
	if err != nil {
		return nil, fmt.Errorf("read process %d environ: %w", pid, err)
	}
	return pickEnv(b, names, nil), nil
}

// pickEnv appends to dst the NUL-separated bindings of environ whose name
// is one of names. A binding cut by the read limit is dropped.
func pickEnv(environ []byte, names []string, dst []string) []string {
	for len(environ) > 0 {
		i := bytes.IndexByte(environ, 0)
		if i < 0 {
			break // the last binding, cut short
		}
		kv := environ[:i]
		environ = environ[i+1:]
		name, _, ok := bytes.Cut(kv, []byte{'='})
		if !ok {
			continue
		}
		for _, n := range names {
			if string(name) == n {
				dst = append(dst, string(kv))
				break
			}
		}
	}
	return dst
}
