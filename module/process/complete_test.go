package process

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"os/exec"

	"github.com/spawnbeat/spawnbeat/module/process/execargs"
	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// TestCompleteExec: arguments taken at the exec stand for cmdline when
// whole, and stand in for it, cut, only when it is gone; with the exec's
// exe, cwd and ids too, nothing is read, even of a reaped process. (It was
// procfs's TestReadExecAt, when procfs knew the exec's image.)
func TestCompleteExec(t *testing.T) {
	fs, err := procfs.NewFS("")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	r := fs.NewReader(1024)
	c := &completer{rd: r, log: zap.NewNop(), stats: &counters{}}
	cmd := exec.Command("/bin/sh", "-c", "sleep 30; :", "read-exec-argv")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	live := []string{"/bin/sh", "-c", "sleep 30; :", "read-exec-argv"}
	deadline := time.Now().Add(5 * time.Second)
	for { // until the child has exec'd sh
		var p procfs.Process
		if err := r.ReadExec(pid, &p); err == nil && slices.Equal(p.Args, live) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	long := []byte(strings.Repeat("y", 2000) + "\x00")
	read := func(im execargs.Image) procfs.Process {
		t.Helper()
		p, _ := c.exec(pid, &im, true)
		return *p
	}
	check := func(what string, p procfs.Process, args []string, truncated bool, state procfs.ReadState, comm string) {
		t.Helper()
		if !slices.Equal(p.Args, args) || p.ArgsTruncated != truncated || p.ReadState != state || p.Comm != comm {
			t.Errorf("%s: args %.40q (truncated %v), state %v, comm %q; want %.40q (%v), %v, %q",
				what, p.Args, p.ArgsTruncated, p.ReadState, p.Comm, args, truncated, state, comm)
		}
	}

	// Different from the live cmdline and comm, to show which were used.
	whole := execargs.Image{Args: []byte("exec\x00time\x00"), Comm: []byte("execcomm")}
	check("whole, live", read(whole), []string{"exec", "time"}, false, procfs.ReadComplete, "execcomm")
	check("cut, live", read(execargs.Image{Args: []byte("exec\x00ti"), Cut: true}), live, false, procfs.ReadComplete, "")
	check("whole, past the cap", read(execargs.Image{Args: long}), []string{strings.Repeat("y", 1024)}, true, procfs.ReadComplete, "")

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var s procfs.Stat
	for r.ReadStat(pid, &s) == nil && s.State != 'Z' && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	// /proc tells a zombie; the exec's argv and comm stand. Without the
	// exec's comm, stat's names it.
	z := read(whole)
	check("whole, zombie", z, []string{"exec", "time"}, false, procfs.ReadZombie, "execcomm")
	// The session is the test's: 0 where its leader is outside our PID
	// namespace (a CI container), which getsid reports as 0.
	pgid, _ := unix.Getpgid(0)
	sid, _ := unix.Getsid(0)
	if z.PGID != pgid || z.SID != sid {
		t.Errorf("whole, zombie: pgid %d, sid %d; want %d, %d", z.PGID, z.SID, pgid, sid)
	}
	check("cut, zombie", read(execargs.Image{Args: []byte("exec\x00ti"), Cut: true}), []string{"exec", "ti"}, true, procfs.ReadZombie, "sh")

	_ = cmd.Wait() // reaped
	check("whole, reaped", read(whole), []string{"exec", "time"}, false, procfs.ReadExited, "execcomm")

	// With the exec's exe, cwd, group and session too, nothing is read:
	// the image is the exec's, complete, though the process is gone.
	image := whole
	image.Exe, image.Cwd, image.IDs, image.PGID, image.SID = []byte("/exec/exe"), []byte("/exec/cwd"), true, 7, 8
	p := read(image)
	check("image, reaped", p, []string{"exec", "time"}, false, procfs.ReadComplete, "execcomm")
	if p.Exe != "/exec/exe" || p.Cwd != "/exec/cwd" || p.PGID != 7 || p.SID != 8 || p.Missing != procfs.PartStat|procfs.PartStatus {
		t.Errorf("image, reaped: exe %q, cwd %q, pgid %d, sid %d, missing %b; want the exec's, stat and status missing", p.Exe, p.Cwd, p.PGID, p.SID, p.Missing)
	}
	// A cut list needs cmdline, which is gone: the image still stands.
	image.Args, image.Cut = []byte("exec\x00ti"), true
	check("image, cut, reaped", read(image), []string{"exec", "ti"}, true, procfs.ReadComplete, "execcomm")
	// Without the session, /proc is read as before.
	image.Cut, image.IDs = false, false
	check("image without ids, reaped", read(image), []string{"exec", "ti"}, false, procfs.ReadExited, "execcomm")
}
