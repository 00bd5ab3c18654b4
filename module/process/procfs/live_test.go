package procfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// startChild starts path with argv (argv[0] as given) in dir and stops it
// at the end of the test.
func startChild(t testing.TB, path, dir string, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := &exec.Cmd{Path: path, Args: argv, Dir: dir}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func liveReader(t testing.TB, maxArgBytes int) *Reader {
	t.Helper()
	fs, err := NewFS("")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return fs.NewReader(maxArgBytes)
}

// TestReadLive reads the test process and children it started from the
// real /proc; it needs no privilege.
func TestReadLive(t *testing.T) {
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	// sh waits for its sleep and ignores its extra arguments, which sleep
	// would reject.
	shArgv := func(extra ...string) []string {
		return append([]string{"sh", "-c", "sleep 30; :"}, extra...)
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spaced := filepath.Join(dir, "a dir (with) spaces")
	if err := os.Mkdir(spaced, 0o755); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", 128<<10-1) // MAX_ARG_STRLEN counts the NUL

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		path          string
		argv          []string // nil: read the test process itself
		dir           string
		maxArgBytes   int
		wantArgs      []string
		wantExe       string
		wantCwd       string
		wantComm      string
		wantTruncated bool
	}{
		{
			name:     "self",
			wantArgs: os.Args, wantExe: self, wantCwd: wd,
			wantComm: truncComm(filepath.Base(self)),
		},
		{
			name:     "child with custom argv0 and cwd",
			path:     "/bin/sh",
			argv:     []string{"custom argv0", "-c", "sleep 30; :", "it's (quoted)"},
			dir:      spaced,
			wantArgs: []string{"custom argv0", "-c", "sleep 30; :", "it's (quoted)"},
			wantExe:  sh, wantCwd: spaced, wantComm: "sh",
		},
		{
			name:     "child with a 128 KiB argument, default cap",
			path:     "/bin/sh",
			argv:     shArgv(huge),
			dir:      dir,
			wantArgs: append(shArgv()[:3:3], huge[:DefaultMaxArgBytes-len("sh\x00-c\x00sleep 30; :\x00")]),
			wantExe:  sh, wantCwd: dir, wantComm: "sh",
			wantTruncated: true,
		},
		{
			name:        "child with over 1 MiB of arguments, large cap",
			path:        "/bin/sh",
			argv:        shArgv(slices.Repeat([]string{huge}, 9)...),
			dir:         dir,
			maxArgBytes: 2 << 20,
			wantArgs:    shArgv(slices.Repeat([]string{huge}, 9)...),
			wantExe:     sh, wantCwd: dir, wantComm: "sh",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := liveReader(t, tt.maxArgBytes)
			pid, ppid := os.Getpid(), os.Getppid()
			if tt.argv != nil {
				pid, ppid = startChild(t, tt.path, tt.dir, tt.argv...).Process.Pid, os.Getpid()
			}
			var p Process
			// A just-started child may not have exec'd yet: wait for it.
			deadline := time.Now().Add(5 * time.Second)
			for {
				if err := r.Read(pid, &p); err != nil {
					t.Fatalf("Read(%d): %v", pid, err)
				}
				// Mid-execve the new exe shows before the new argv does.
				if (p.Exe == tt.wantExe && p.ReadState == ReadComplete) || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if diff := cmp.Diff(tt.wantArgs, p.Args); diff != "" {
				t.Errorf("Args mismatch (-want +got):\n%s", diff)
			}
			got := []any{p.PID, p.PPID, p.Comm, p.Exe, p.Cwd, p.ArgsTruncated, p.ReadState, p.UID, p.EUID, p.GID}
			want := []any{pid, ppid, tt.wantComm, tt.wantExe, tt.wantCwd, tt.wantTruncated, ReadComplete,
				uint32(os.Getuid()), uint32(os.Geteuid()), uint32(os.Getgid())} //nolint:gosec // ids fit
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pid, ppid, comm, exe, cwd, truncated, state, uid, euid, gid (-want +got):\n%s", diff)
			}
			if p.StartTicks == 0 {
				t.Error("StartTicks = 0")
			}
		})
	}
}

// truncComm is what the kernel keeps of a task name: TASK_COMM_LEN-1 bytes.
func truncComm(s string) string {
	if len(s) > 15 {
		return s[:15]
	}
	return s
}

// TestReadLiveZombieAndGone follows a child through its exit: zombie until
// reaped, then gone.
func TestReadLiveZombieAndGone(t *testing.T) {
	r := liveReader(t, 0)
	cmd := &exec.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "30"}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Not reaped yet: it becomes a zombie as soon as it has died.
	var p Process
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := r.Read(pid, &p); err != nil {
			t.Fatalf("Read(%d) of an unreaped child: %v", pid, err)
		}
		// On its way there it may be read in do_exit, also as ReadZombie.
		if p.State == 'Z' || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	// That read may have had the arguments before the exit: read again,
	// now that it stays a zombie until reaped.
	if err := r.Read(pid, &p); err != nil {
		t.Fatalf("Read(%d) of a zombie: %v", pid, err)
	}
	if p.ReadState != ReadZombie || p.State != 'Z' || p.Args != nil || p.Exe != "" {
		t.Errorf("unreaped child: state %v %q args %q exe %q; want zombie, Z, nil, empty", p.ReadState, p.State, p.Args, p.Exe)
	}
	if p.PPID != os.Getpid() || p.UID != uint32(os.Getuid()) { //nolint:gosec // ids fit
		t.Errorf("zombie ppid %d uid %d; want %d %d", p.PPID, p.UID, os.Getpid(), os.Getuid())
	}
	_ = cmd.Wait()
	if err := r.Read(pid, &p); !errors.Is(err, ErrGone) {
		t.Errorf("Read(%d) after reaping = %v, want ErrGone", pid, err)
	}
	var s Stat
	if err := r.ReadStat(pid, &s); !errors.Is(err, ErrGone) {
		t.Errorf("ReadStat(%d) after reaping = %v, want ErrGone", pid, err)
	}
}

// TestIntegrationReadAll reads every process on the host. As root it must
// read all of them completely, except those that exit meanwhile.
func TestIntegrationReadAll(t *testing.T) {
	testenv.RequireRoot(t) // to read every process's exe and cwd
	fs, err := NewFS("")
	if err != nil {
		t.Fatal(err)
	}
	pids, err := fs.PIDs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, os.Getpid()) || !slices.Contains(pids, 1) {
		t.Fatalf("PIDs() = %d pids without 1 or this process %d", len(pids), os.Getpid())
	}
	r := fs.NewReader(0)
	var p Process
	if err := r.Read(os.Getpid(), &p); err != nil {
		t.Fatal(err)
	}
	ourCaps := p.CapEff
	var kthreads, complete int
	for _, pid := range pids {
		err := r.Read(pid, &p)
		for try := 0; try < 10 && err == nil && p.ReadState == ReadPartial; try++ {
			// Mid-execve a process shows its new comm and exe before its
			// new argv: look again once it has settled, which on a loaded
			// machine may take a few scheduling rounds.
			time.Sleep(20 * time.Millisecond)
			err = r.Read(pid, &p)
		}
		switch {
		case errors.Is(err, ErrGone):
			continue
		case err != nil:
			t.Errorf("Read(%d): %v", pid, err)
			continue
		}
		switch p.ReadState {
		case ReadComplete:
			complete++
		case ReadZombie, ReadExited:
		case ReadPartial:
			// ptrace_may_access refuses exe and cwd of a process with
			// capabilities we lack (cap_ptrace_access_check), even to root.
			if p.Missing&^(PartExe|PartCwd) != 0 || p.CapPrm&^ourCaps == 0 {
				t.Errorf("Read(%d) %q: partial, missing %b, caps %x within ours %x", pid, p.Comm, p.Missing, p.CapPrm, ourCaps)
			}
		default:
			t.Errorf("Read(%d) %q: state %v, missing %b; want complete as root", pid, p.Comm, p.ReadState, p.Missing)
		}
		if p.IsKernelThread() {
			kthreads++
			if p.Args != nil || p.Exe != "" {
				t.Errorf("kernel thread %d %q has args %q exe %q", pid, p.Comm, p.Args, p.Exe)
			}
		} else if p.ReadState == ReadComplete && (p.Exe == "" || p.Args == nil) {
			t.Errorf("user process %d %q read complete without exe or args", pid, p.Comm)
		}
	}
	if kthreads == 0 || complete == 0 {
		t.Errorf("read %d kernel threads and %d complete processes; want some of each", kthreads, complete)
	}
	if _, err := fs.BootTime(); err != nil {
		t.Errorf("BootTime: %v", err)
	}
}

// BenchmarkProcRead reads a live child's stat, status, cmdline, exe and cwd.
func BenchmarkProcRead(b *testing.B) {
	benchmarkRead(b, (*Reader).Read, 0)
}

// BenchmarkReadExec reads a live child as an exec event has it read:
// cmdline, exe, cwd, getpgid and getsid.
func BenchmarkReadExec(b *testing.B) {
	benchmarkRead(b, (*Reader).ReadExec, PartStat|PartStatus)
}

func benchmarkRead(b *testing.B, read func(*Reader, int, *Process) error, missing Parts) {
	r := liveReader(b, 0)
	cmd := startChild(b, "/bin/sh", "/tmp", "sh", "-c", "sleep 600; :", "value with spaces")
	pid := cmd.Process.Pid
	var p Process
	for {
		if err := r.Read(pid, &p); err != nil {
			b.Fatal(err)
		}
		if p.Comm == "sh" && len(p.Args) == 4 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := read(r, pid, &p); err != nil {
			b.Fatal(err)
		}
	}
	if p.ReadState != ReadComplete || p.Missing != missing {
		b.Fatalf("state %v, missing %b; want complete, %b", p.ReadState, p.Missing, missing)
	}
}

// BenchmarkReadStat reads only a live child's stat, as a scan does.
func BenchmarkReadStat(b *testing.B) {
	r := liveReader(b, 0)
	pid := startChild(b, "/bin/sleep", "/tmp", "sleep", "600").Process.Pid
	var s Stat
	b.ReportAllocs()
	for b.Loop() {
		if err := r.ReadStat(pid, &s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProcReadOSBaseline reads the same five files the plain way
// (os.ReadFile, os.Readlink, strings.Split), for comparison with
// BenchmarkProcRead on the same loaded machine.
func BenchmarkProcReadOSBaseline(b *testing.B) {
	cmd := startChild(b, "/bin/sh", "/tmp", "sh", "-c", "sleep 600; :", "value with spaces")
	dir := "/proc/" + strconv.Itoa(cmd.Process.Pid)
	time.Sleep(50 * time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range []string{"stat", "status"} {
			if _, err := os.ReadFile(dir + "/" + f); err != nil {
				b.Fatal(err)
			}
		}
		c, err := os.ReadFile(dir + "/cmdline")
		if err != nil {
			b.Fatal(err)
		}
		_ = strings.Split(string(c), "\x00")
		for _, l := range []string{"exe", "cwd"} {
			if _, err := os.Readlink(dir + "/" + l); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestReadExec checks which path ReadExec takes: without stat for a live
// process of our PID namespace, with it for an exiting one or under a
// root that numbers processes otherwise (a test tree).
func TestReadExec(t *testing.T) {
	t.Run("test tree: stat read", func(t *testing.T) {
		fs := fakeFS(t)
		if fs.live {
			t.Fatal("the test tree is taken for our PID namespace's proc")
		}
		r := fs.NewReader(0)
		var full, got Process
		if err := r.Read(2739, &full); err != nil {
			t.Fatal(err)
		}
		if err := r.ReadExec(2739, &got); err != nil {
			t.Fatal(err)
		}
		full.Creds, full.Missing = Creds{}, PartStatus
		if diff := cmp.Diff(full, got); diff != "" {
			t.Errorf("ReadExec mismatch with Read less status (-want +got):\n%s", diff)
		}
	})

	r := liveReader(t, 0)
	if !r.fs.live {
		t.Fatal("/proc is not taken for our PID namespace's proc")
	}
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"sh", "-c", "sleep 30; :", "read-exec"}
	cmd := &exec.Cmd{Path: "/bin/sh", Args: argv, Dir: dir, SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("live: stat left to the caller", func(t *testing.T) {
		var p Process
		deadline := time.Now().Add(5 * time.Second)
		for { // until the child has exec'd sh (mid-execve, exe shows before argv)
			if err := r.ReadExec(pid, &p); err != nil {
				t.Fatalf("ReadExec(%d): %v", pid, err)
			}
			if (p.Exe == sh && p.ReadState == ReadComplete) || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		want := Process{
			Stat:      Stat{PID: pid, PGID: pid, SID: sid},
			Args:      argv,
			Exe:       sh,
			Cwd:       dir,
			ReadState: ReadComplete,
			Missing:   PartStat | PartStatus,
		}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("ReadExec(%d) mismatch (-want +got):\n%s", pid, diff)
		}
	})

	t.Run("zombie: stat read", func(t *testing.T) {
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		var s Stat
		deadline := time.Now().Add(5 * time.Second)
		for r.ReadStat(pid, &s) == nil && s.State != 'Z' && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		var p Process
		if err := r.ReadExec(pid, &p); err != nil {
			t.Fatalf("ReadExec(%d) of a zombie: %v", pid, err)
		}
		if p.ReadState != ReadZombie || p.Missing&PartStat != 0 || p.PPID != os.Getpid() || p.PGID != pid || p.Comm != "sh" {
			t.Errorf("zombie: state %v, missing %b, ppid %d, pgid %d, comm %q; want zombie, stat read, %d, %d, sh",
				p.ReadState, p.Missing, p.PPID, p.PGID, p.Comm, os.Getpid(), pid)
		}
	})
}
