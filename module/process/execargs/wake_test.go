package execargs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestWakeKey(t *testing.T) {
	for _, c := range []struct {
		name Name
		text string
		bits uint32
	}{
		{Name{Text: "Bash"}, "bash", 40},                                               // lowercased, with its NUL
		{Name{Text: "python", Prefix: true}, "python", 48},                             // no NUL: any name that starts so
		{Name{Text: "a-very-long-program-name"}, "a-very-long-pro", 120},               // cut to a comm's 15 bytes: a prefix
		{Name{Text: "exactly-15-byte"}, "exactly-15-byte", 128},                        // 15 bytes and the NUL
		{Name{Text: "", Prefix: true}, "", 0},                                          // every name
		{Name{Text: "a-very-long-program-name", Prefix: true}, "a-very-long-pro", 120}, // a prefix stays one
	} {
		k := wakeKey(c.name)
		var want [commLen]byte
		copy(want[:], c.text)
		if k.Name != want || k.Prefixlen != c.bits {
			t.Errorf("wakeKey(%+v) = %q/%d, want %q/%d", c.name, k.Name, k.Prefixlen, want, c.bits)
		}
	}
}

// TestIntegrationTapWake: the record of an exec whose name or parent's
// name is watched wakes the ring's pollers and says so (Waiting, Woke);
// any other exec's wakes no one.
func TestIntegrationTapWake(t *testing.T) {
	tap := openTap(t)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(tap.WakeFD())}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, tap.WakeFD(), &ev); err != nil {
		t.Fatal(err)
	}
	// Copies of /bin/true under names no other process on the machine
	// runs, whose execs the names below would take too.
	dir := t.TempDir()
	probe := filepath.Join(dir, "sbwakeprobe")
	long, kelvin := filepath.Join(dir, "SB-Very-Long-Program-Name"), filepath.Join(dir, "\u212Asbwake")
	for _, path := range []string{probe, long, kelvin} {
		if b, err := os.ReadFile("/bin/true"); err != nil || os.WriteFile(path, b, 0o755) != nil {
			t.Fatalf("copy /bin/true: %v", err)
		}
	}
	// wakes runs path and reports whether its record woke the epoll,
	// checking that Waiting agrees until the record is taken.
	wakes := func(path string) bool {
		t.Helper()
		_, _ = unix.EpollWait(ep, make([]unix.EpollEvent, 1), 0) // an edge left by an earlier record
		cmd := exec.Command(path, "wake")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		n, err := unix.EpollWait(ep, make([]unix.EpollEvent, 1), 300)
		if err != nil {
			t.Fatal(err)
		}
		if waiting := tap.Waiting(time.Minute); waiting != (n == 1) {
			t.Errorf("%s: woke %v, Waiting %v", path, n == 1, waiting)
		}
		if _, ok := tap.Take(cmd.Process.Pid, monotonic(t)); !ok {
			t.Fatalf("%s: no record", path)
		}
		if tap.Waiting(time.Minute) {
			t.Errorf("%s: Waiting after its record was taken", path)
		}
		return n == 1
	}

	if wakes(probe) {
		t.Error("an exec woke the reader before any name was set")
	}
	parent, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self := filepath.Base(parent)
	for _, c := range []struct {
		what string
		ways []Way
		path string
		want bool
	}{
		{"a whole name, any case", []Way{{Names: []Name{{Text: "SBWakeProbe"}}}}, probe, true},
		{"a name it only starts with", []Way{{Names: []Name{{Text: "sbwake"}}}}, probe, false},
		{"a prefix", []Way{{Names: []Name{{Text: "sbwake", Prefix: true}}}}, probe, true},
		{"another name", []Way{{Names: []Name{{Text: "sbwakeprobf"}}}}, probe, false},
		{"no name at all", []Way{{Names: []Name{}}}, probe, false},
		{"a long name, by its first 15 bytes", []Way{{Names: []Name{{Text: "sb-very-long-program-name-indeed"}}}}, long, true},
		{"the parent's name", []Way{{Parents: []Name{{Text: self}}}}, probe, true},
		{"the parent's name, not the exec'd one's", []Way{{Parents: []Name{{Text: "sbwakeprobe"}}}}, probe, false},
		{"a name and another parent", []Way{{Names: []Name{{Text: "sbwakeprobe"}}, Parents: []Name{{Text: "init"}}}}, probe, false},
		{"a name and its parent", []Way{{Names: []Name{{Text: "sbwakeprobe"}}, Parents: []Name{{Text: self}}}}, probe, true},
		{"the second way", []Way{{Names: []Name{{Text: "false"}}}, {Names: []Name{{Text: "sbwakeprobe"}}, Parents: []Name{{Text: self[:3], Prefix: true}}}}, probe, true},
		// The trie returns "sbwakeprobe" for the probe, not "sb": its
		// entry must carry the first way too.
		{"a prefix's way behind a longer name", []Way{
			{Names: []Name{{Text: "sb", Prefix: true}}, Parents: []Name{{Text: self}}},
			{Names: []Name{{Text: "sbwakeprobe"}}, Parents: []Name{{Text: "init"}}},
		}, probe, true},
		// The rules fold the Kelvin sign to "k": a non-ASCII name may
		// match any name.
		{"a non-ASCII name", []Way{{Names: []Name{{Text: "ksbwake"}}, Parents: []Name{{Text: self}}}}, kelvin, true},
		{"no ways", nil, probe, false},
	} {
		if err := tap.SetWake(c.ways); err != nil {
			t.Fatalf("%s: SetWake: %v", c.what, err)
		}
		if got := wakes(c.path); got != c.want {
			t.Errorf("%s: %s woke the reader: %v, want %v", c.what, c.path, got, c.want)
		}
	}
	if st := tap.Stats(); st.Woke != 8 {
		t.Errorf("Stats.Woke = %d, want 8", st.Woke)
	}
	if err := tap.SetWake(make([]Way, MaxWakeWays+1)); err == nil {
		t.Error("SetWake took more ways than the maps have bits")
	}
	many := make([]Name, MaxWakeNames+1)
	for i := range many {
		many[i] = Name{Text: strconv.Itoa(i)}
	}
	if err := tap.SetWake([]Way{{Names: many}}); err == nil {
		t.Error("SetWake took more names than the map holds")
	}
}
