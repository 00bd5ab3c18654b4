package execargs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

func openTap(t *testing.T) *Tap {
	t.Helper()
	testenv.RequireRoot(t)
	tap, err := Open()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := tap.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tap
}

// monotonic is the kernel's CLOCK_MONOTONIC now, the clock of the records
// and of the proc connector's events.
func monotonic(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

func cmdline(args ...string) []byte {
	return []byte(strings.Join(args, "\x00") + "\x00")
}

// TestIntegrationTapShortLived: the arguments of processes that exited and were
// reaped before anyone looked are in the tap, as the exec had them.
func TestIntegrationTapShortLived(t *testing.T) {
	tap := openTap(t)
	marker := "execargs-" + strconv.Itoa(os.Getpid())
	type run struct {
		pid  int
		args []string
	}
	var runs []run
	for i := range 50 {
		args := []string{"/bin/true", marker, strconv.Itoa(i), "with space", "ünïcode"}
		cmd := exec.Command(args[0], args[1:]...)
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{cmd.Process.Pid, args})
	}
	at := monotonic(t)
	for _, r := range runs {
		ex, ok := tap.Take(r.pid, at)
		if !ok || ex.Cut || !bytes.Equal(ex.Args, cmdline(r.args...)) || string(ex.Comm) != "true" {
			t.Errorf("Take(%d) = %q (comm %q), cut %v, ok %v; want %q (true)", r.pid, ex.Args, ex.Comm, ex.Cut, ok, cmdline(r.args...))
		}
	}
	if st := tap.Stats(); st.Taken != 50 || st.Missed != 0 || st.Cut != 0 {
		t.Errorf("Stats = %+v, want 50 taken", st)
	}
	// Taken once: a second Take of the same exec finds nothing.
	if _, ok := tap.Take(runs[0].pid, at); ok {
		t.Error("a record was taken twice")
	}
}

// TestIntegrationTapCut: a list longer than a record arrives cut, its start intact.
func TestIntegrationTapCut(t *testing.T) {
	tap := openTap(t)
	long := strings.Repeat("x", 20<<10)
	args := []string{"/bin/true", long, long}
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ex, ok := tap.Take(cmd.Process.Pid, monotonic(t))
	want := cmdline(args...)
	if !ok || !ex.Cut || len(ex.Args) != argsMax || !bytes.Equal(ex.Args, want[:argsMax]) {
		t.Fatalf("Take = %d bytes, cut %v, ok %v; want the first %d of %d, cut", len(ex.Args), ex.Cut, ok, argsMax, len(want))
	}
}

// TestIntegrationTapTimes: a record is an exec's only when it came before the
// event's time: the proc connector's event follows the tracepoint.
func TestIntegrationTapTimes(t *testing.T) {
	tap := openTap(t)
	before := monotonic(t)
	cmd := exec.Command("/bin/true", "times")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, ok := tap.Take(cmd.Process.Pid, before); ok {
		t.Error("a record dated after the event was taken")
	}
	if _, ok := tap.Take(cmd.Process.Pid, monotonic(t)); !ok {
		t.Error("the record was not taken")
	}
}

// TestIntegrationTapProgramStats: while the kernel counts BPF run time, Stats has
// the program's, the cost the exec'ing processes pay.
func TestIntegrationTapProgramStats(t *testing.T) {
	tap := openTap(t)
	on, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		t.Fatalf("enable BPF run-time stats: %v", err)
	}
	defer on.Close()
	for range 10 {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	st := tap.Stats()
	if st.ProgramRuns < 10 || st.ProgramNS == 0 {
		t.Errorf("program runs %d, %d ns; want at least 10 runs and some time", st.ProgramRuns, st.ProgramNS)
	}
	t.Logf("%d runs, %d ns each", st.ProgramRuns, st.ProgramNS/max(st.ProgramRuns, 1))
}

// TestIntegrationTapImage: the record has the executable's path and the working
// directory as /proc/PID/exe and cwd show them (symbolic links resolved, a
// mount crossed, the root), and the process group and session, as getpgid
// and getsid do; a deleted executable or directory has no path (/proc
// adds " (deleted)" to it).
func TestIntegrationTapImage(t *testing.T) {
	tap := openTap(t)
	dir := filepath.Join(t.TempDir(), "a dir", "ünï")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	// A copy of true on another file system (tmpfs), and one deleted.
	shm, err := os.MkdirTemp("/dev/shm", "execargs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(shm) })
	mounted := filepath.Join(shm, "true copy")
	deleted := filepath.Join(shm, "deleted")
	for _, p := range []string{mounted, deleted} {
		if err := exec.Command("cp", "/bin/true", p).Run(); err != nil {
			t.Fatal(err)
		}
	}
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}

	run := func(cwd string, cmd *exec.Cmd) Image {
		t.Helper()
		cmd.Dir = cwd
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		ex, ok := tap.Take(cmd.Process.Pid, monotonic(t))
		if !ok || !ex.IDs || ex.PGID != cmd.Process.Pid || ex.SID != sid {
			t.Errorf("%s: ok %v, ids %v %d %d; want %d %d", cmd.Path, ok, ex.IDs, ex.PGID, ex.SID, cmd.Process.Pid, sid)
		}
		return ex
	}
	check := func(what string, ex Image, exe, cwd []byte) {
		t.Helper()
		if !bytes.Equal(ex.Exe, exe) || !bytes.Equal(ex.Cwd, cwd) || (ex.Exe == nil) != (exe == nil) || (ex.Cwd == nil) != (cwd == nil) {
			t.Errorf("%s: exe %q, cwd %q; want %q, %q", what, ex.Exe, ex.Cwd, exe, cwd)
		}
	}
	check("sh", run(dir, exec.Command("/bin/sh", "-c", "exit 0")), []byte(sh), []byte(dir))
	check("on tmpfs, in /", run("/", exec.Command(mounted)), []byte(mounted), []byte("/"))
	// Deleted while it runs: sh unlinks it, then execs it from /proc.
	script := "exec 3<\"$1\"; rm \"$1\"; exec /proc/self/fd/3"
	check("deleted exe", run(dir, exec.Command("/bin/sh", "-c", script, "sh", deleted)), nil, []byte(dir))
	gone := filepath.Join(dir, "gone")
	if err := os.Mkdir(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	check("deleted cwd", run(gone, exec.Command("/bin/sh", "-c", "rmdir \"$PWD\"; exec /bin/true")), trueExe(t), nil)
}

// trueExe is /bin/true's path, symbolic links resolved.
func trueExe(t *testing.T) []byte {
	p, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	return []byte(p)
}

// TestIntegrationTapPathsAsProc: in another mount namespace, across a tmpfs, a bind
// mount of a file and a chroot, the paths the program walks are those
// /proc/PID/exe and cwd show, read from here.
func TestIntegrationTapPathsAsProc(t *testing.T) {
	tap := openTap(t)
	dir := t.TempDir()
	// Each script runs in a private mount namespace (unshare), sets up
	// its mounts under $1, and ends by exec'ing a sleep there.
	for _, tc := range []struct{ name, script string }{
		{"tmpfs", `mkdir "$1/t" && mount -t tmpfs none "$1/t" && cp /bin/sleep "$1/t/" && cd "$1/t" && exec ./sleep 10`},
		{"file bind mount", `touch "$1/bound" && mount --bind /bin/sleep "$1/bound" && mkdir "$1/d" && cd "$1/d" && exec ../bound 10`},
		{"chroot", `r="$1/root" && mkdir -p "$r/usr" "$r/tmp/in" && mount --bind /usr "$r/usr" &&
			ln -s usr/bin "$r/bin" && ln -s usr/lib "$r/lib" && ln -s usr/lib64 "$r/lib64" &&
			exec chroot "$r" /bin/sh -c 'cd /tmp/in && exec /bin/sleep 10'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", tc.script, "sh", sub)
			cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin") // mount, chroot
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			pid := start(t, cmd)
			proc := "/proc/" + strconv.Itoa(pid)
			var exe, cwd string
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				b, _ := os.ReadFile(proc + "/cmdline")
				if bytes.HasSuffix(b, []byte("\x0010\x00")) { // the sleep, at last
					exe, _ = os.Readlink(proc + "/exe")
					cwd, _ = os.Readlink(proc + "/cwd")
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no sleep after 5 s; stderr %q", stderr.String())
				}
			}
			ex, ok := tap.Take(pid, monotonic(t))
			if !ok || string(ex.Exe) != exe || string(ex.Cwd) != cwd || exe == "" || cwd == "" {
				t.Errorf("the tap says exe %q, cwd %q (ok %v); /proc says %q, %q", ex.Exe, ex.Cwd, ok, exe, cwd)
			}
			t.Logf("exe %s, cwd %s", ex.Exe, ex.Cwd)
		})
	}
}

// TestIntegrationTapTTY: the record names the controlling terminal as stat's tty_nr
// does: a pseudo-terminal made the controlling terminal of a new session,
// and none for a process in a session without one.
func TestIntegrationTapTTY(t *testing.T) {
	tap := openTap(t)
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	for _, tc := range []struct {
		name string
		attr *syscall.SysProcAttr
		tty  bool
	}{
		{"pseudo-terminal", &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}, true},
		{"none", &syscall.SysProcAttr{Setsid: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("/bin/sleep", "10")
			cmd.Stdin, cmd.SysProcAttr = pts, tc.attr
			pid := start(t, cmd)
			stat := waitExec(t, pid, "/bin/sleep\x0010\x00")
			ex, ok := tap.Take(pid, monotonic(t))
			if !ok || !ex.IDs || ex.TTY != stat.ttyNr || (stat.ttyNr != 0) != tc.tty || ex.SID != pid {
				t.Errorf("the tap says tty %#x, sid %d (ok %v, ids %v); /proc says tty_nr %#x, want a terminal: %v, session %d",
					ex.TTY, ex.SID, ok, ex.IDs, stat.ttyNr, tc.tty, pid)
			}
		})
	}
}

// TestIntegrationTapMemfd: a program exec'd from a memfd has no path the walk can
// take (/proc shows "/memfd:NAME (deleted)"); the rest of its image is
// there.
func TestIntegrationTapMemfd(t *testing.T) {
	tap := openTap(t)
	script := `import os, sys
fd = os.memfd_create("spawnbeat-test")
os.write(fd, open("/bin/sleep", "rb").read())
os.execv("/proc/self/fd/%d" % fd, ["memfd-sleep", "10"])`
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	pid := start(t, cmd)
	waitExec(t, pid, "memfd-sleep\x0010\x00")
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	cwd, _ := os.Getwd()
	ex, ok := tap.Take(pid, monotonic(t))
	if !ok || ex.Exe != nil || string(ex.Cwd) != cwd || string(ex.Args) != "memfd-sleep\x0010\x00" {
		t.Errorf("the tap says exe %q, cwd %q, args %q (ok %v); want no exe (/proc says %q), cwd %q", ex.Exe, ex.Cwd, ex.Args, ok, exe, cwd)
	}
	if !strings.HasPrefix(exe, "/memfd:spawnbeat-test") {
		t.Errorf("/proc says exe %q, want /memfd:spawnbeat-test (deleted)", exe)
	}
}

// start starts cmd, to be killed and reaped when the test ends, and
// returns its pid.
func start(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// procStat is what the tests compare from /proc/PID/stat.
type procStat struct{ ttyNr uint32 }

// waitExec waits until process pid shows cmdline, and returns its stat.
func waitExec(t *testing.T, pid int, cmdline string) procStat {
	t.Helper()
	proc := "/proc/" + strconv.Itoa(pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(proc + "/cmdline"); string(b) == cmdline {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not exec %q within 5 s", pid, cmdline)
		}
	}
	b, err := os.ReadFile(proc + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the comm's closing parenthesis: state, ppid, pgrp,
	// session, tty_nr (proc(5)).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	tty, err := strconv.ParseUint(f[4], 10, 32)
	if err != nil {
		t.Fatalf("stat %q: %v", b, err)
	}
	return procStat{ttyNr: uint32(tty)}
}
