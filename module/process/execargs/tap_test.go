package execargs

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// requireRoot skips a privileged test outside root, except under CI=true,
// where privileged tests must run.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("privileged test needs root; CI=true requires it to run")
	}
	t.Skip("privileged test: needs root (runs under CI=true)")
}

func openTap(t *testing.T) *Tap {
	t.Helper()
	requireRoot(t)
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

// TestTapShortLived: the arguments of processes that exited and were
// reaped before anyone looked are in the tap, as the exec had them.
func TestTapShortLived(t *testing.T) {
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

// TestTapCut: a list longer than a record arrives cut, its start intact.
func TestTapCut(t *testing.T) {
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

// TestTapTimes: a record is an exec's only when it came before the
// event's time: the proc connector's event follows the tracepoint.
func TestTapTimes(t *testing.T) {
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

// TestTapProgramStats: while the kernel counts BPF run time, Stats has
// the program's, the cost the exec'ing processes pay.
func TestTapProgramStats(t *testing.T) {
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
