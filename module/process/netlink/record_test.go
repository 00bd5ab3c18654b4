package netlink

import (
	"bufio"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

var record = flag.Bool("record", false, "record proc connector datagrams on this kernel into testdata/ (root)")

// recordStep is one scenario of the recording: a child process that makes
// the kernel report certain events.
type recordStep struct {
	name string
	cmd  func() *exec.Cmd
	// after runs once the child started (ptrace needs the tracer's thread).
	after func(t *testing.T, pid int)
}

func recordSteps() []recordStep {
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return []recordStep{
		{name: "true", cmd: func() *exec.Cmd { return exec.Command("/bin/true", "spawnbeat-record") }},
		{name: "exit3", cmd: func() *exec.Cmd { return exec.Command("/bin/sh", "-c", "exit 3") }},
		{name: "setuid", cmd: func() *exec.Cmd {
			c := exec.Command("/bin/true")
			c.SysProcAttr = nobody
			return c
		}},
		{name: "setsid", cmd: func() *exec.Cmd {
			c := exec.Command("/bin/true")
			c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			return c
		}},
		{name: "comm", cmd: func() *exec.Cmd {
			return exec.Command("/bin/sh", "-c", "printf spawnbeat-comm > /proc/self/comm")
		}},
		{name: "killed", cmd: func() *exec.Cmd {
			// SIGSEGV dumps core (none is written with ulimit -c 0): coredump event.
			return exec.Command("/bin/sh", "-c", "ulimit -c 0; kill -SEGV $$")
		}},
		{name: "ptrace", cmd: func() *exec.Cmd {
			c := exec.Command("/bin/true")
			c.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
			return c
		}, after: func(t *testing.T, pid int) {
			// The child stops at exec; detaching reports a ptrace event.
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
				t.Fatalf("wait4 traced child: %v", err)
			}
			if err := unix.PtraceDetach(pid); err != nil {
				t.Fatalf("ptrace detach: %v", err)
			}
		}},
	}
}

// TestRecord captures real datagrams into testdata/ when run as root with
//
//	go test -run TestRecord ./module/process/netlink/ -args -record
//
// It keeps only the datagrams about the processes it starts, so the
// recording holds nothing of the rest of the host, and writes a "# step"
// comment naming each scenario's pid for TestReplayRecordings.
func TestRecord(t *testing.T) {
	if !*record {
		t.Skip("run with -record to record datagrams")
	}
	testenv.RequireRoot(t)
	c := openTest(t, Options{Events: MaskAll})
	kernel, err := kernelRelease()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "proc-"+kernel+".rec")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "# spawnbeat proc connector recording (go test -run TestRecord -record)\n")
	fmt.Fprintf(w, "# kernel: %s %s\n", kernel, runtime.GOARCH)
	fmt.Fprintf(w, "# date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "# format: one datagram per line, \"<sender nl_pid> <hex>\"; \"ENOBUFS\" = a failed receive\n")

	runtime.LockOSThread() // ptrace requests must come from the tracing thread
	defer runtime.UnlockOSThread()
	ours := map[int]bool{}
	for _, st := range recordSteps() {
		cmd := st.cmd()
		if err := cmd.Start(); err != nil {
			t.Fatalf("step %s: %v", st.name, err)
		}
		pid := cmd.Process.Pid
		ours[pid] = true
		if st.after != nil {
			st.after(t, pid)
		}
		_ = cmd.Wait() // non-zero exits are part of the scenarios
		fmt.Fprintf(w, "# step %s pid=%d\n", st.name, pid)
	}
	// Read back everything queued; keep the datagrams about our children.
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, datagramBuffer)
	kept := 0
	for {
		n, from, err := c.src.recv(buf, true)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		events, err := Decode(buf[:n], nil)
		if err != nil || len(events) != 1 {
			t.Fatalf("decode %x: %v %v", buf[:n], events, err)
		}
		e := events[0]
		if !ours[e.TGID] && !ours[e.ChildTGID] {
			continue
		}
		fmt.Fprintf(w, "%d %s\n", from, hex.EncodeToString(buf[:n]))
		kept++
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d datagrams into %s", kept, path)
}

func kernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return strings.TrimRight(string(u.Release[:]), "\x00"), nil
}
