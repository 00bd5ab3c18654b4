package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errNoURL means the child server never said where it listens.
var errNoURL = errors.New("esserver did not report its URL")

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (proc(5)); 100 on every Linux architecture Go supports.
const clockTicks = 100

// buildServer builds tests/esserver/cmd/esserver into dir.
func buildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "esserver")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/spawnbeat/spawnbeat/tests/esserver/cmd/esserver")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build esserver: %w", err)
	}
	return bin, nil
}

// server is a test server running in a child process. It is not safe for
// concurrent use.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// startServer runs bin on a free loopback port and waits for its URL.
func startServer(bin string) (*server, error) {
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start esserver: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start esserver %s: %w", bin, err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		// "serving Elasticsearch 8.17.0 at http://127.0.0.1:PORT"; the
		// rest of its log (the counters at exit) is discarded.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), " at http://"); ok {
				urls <- "http://" + strings.TrimSpace(u)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		s.done <- cmd.Wait()
	}()
	select {
	case s.url = <-urls:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("esserver exited before serving (%w): %w", err, errNoURL)
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-s.done
		return nil, fmt.Errorf("esserver after 10s: %w", errNoURL)
	}
}

// cpu returns the child's user+system CPU time so far.
func (s *server) cpu() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read esserver cpu: %w", err)
	}
	return parseStatCPU(b)
}

// parseStatCPU returns utime+stime from the contents of /proc/PID/stat.
// comm (field 2) may hold spaces and parentheses, so fields are counted
// from the last ")"; utime and stime are fields 14 and 15 (proc(5)).
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no ')' in %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), so field k is f[k-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after comm, want at least 13", len(f))
	}
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc stat cpu field %q: %w", s, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// stop ends the child with SIGTERM (SIGKILL after 10 s).
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("esserver exit: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("esserver ignored SIGTERM for 10s")
	}
}
