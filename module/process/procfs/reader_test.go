package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const capturedCaps = 0x1fffeffffff // CapEff of a root shell's children on the capture host

// testdataDir is where capture.sh ran; the captured cwd links point there.
const testdataDir = "/work/main/module/process/procfs/testdata"

func fakeFS(t testing.TB) FS {
	t.Helper()
	fs, err := NewFS(filepath.Join("testdata", "proc"))
	if err != nil {
		t.Fatalf("NewFS: %v", err)
	}
	return fs
}

func rootCreds(caps uint64) Creds {
	return Creds{CapPrm: caps, CapEff: caps, CapBnd: caps, HasCaps: true, HasCapBnd: true}
}

func TestReadFake(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		want Process
	}{
		{
			name: "kernel thread kthreadd",
			pid:  2,
			want: Process{
				Stat:      Stat{PID: 2, Comm: "kthreadd", State: 'S', TPGID: -1, Flags: 2129984, StartTicks: 20},
				Creds:     rootCreds(0x1ffffffffff),
				Cwd:       "/",
				ReadState: ReadComplete,
			},
		},
		{
			name: "kernel thread ksoftirqd",
			pid:  14,
			want: Process{
				Stat:      Stat{PID: 14, Comm: "ksoftirqd/0", State: 'S', PPID: 2, TPGID: -1, Flags: 69238848, StartTicks: 20},
				Creds:     rootCreds(0x1ffffffffff),
				Cwd:       "/",
				ReadState: ReadComplete,
			},
		},
		{
			name: "shell",
			pid:  2739,
			want: Process{
				Stat:      Stat{PID: 2739, Comm: "bash", State: 'S', PPID: 2738, PGID: 2739, SID: 2739, TPGID: -1, Flags: 4194560, StartTicks: 33921},
				Creds:     rootCreds(capturedCaps),
				Args:      []string{"bash", "/dev/fd/3"},
				Exe:       "/usr/bin/bash",
				Cwd:       "/work/main",
				ReadState: ReadComplete,
			},
		},
		{
			name: "comm with spaces and parentheses",
			pid:  8524,
			want: Process{
				Stat:      Stat{PID: 8524, Comm: "a) b (c", State: 'S', PPID: 8517, PGID: 8517, SID: 2739, TPGID: -1, Flags: 4194304, StartTicks: 49275},
				Creds:     rootCreds(capturedCaps),
				Args:      []string{"/tmp/a) b (c", "300"},
				Exe:       "/tmp/a) b (c",
				Cwd:       "/tmp/dir with space",
				ReadState: ReadComplete,
			},
		},
		{
			name: "deleted executable",
			pid:  8527,
			want: Process{
				Stat:       Stat{PID: 8527, Comm: "gone-sleep", State: 'S', PPID: 8517, PGID: 8517, SID: 2739, TPGID: -1, Flags: 4194304, StartTicks: 49277},
				Creds:      rootCreds(capturedCaps),
				Args:       []string{"/tmp/gone-sleep", "300"},
				Exe:        "/tmp/gone-sleep",
				ExeDeleted: true,
				Cwd:        testdataDir,
				ReadState:  ReadComplete,
			},
		},
		{
			name: "zombie",
			pid:  8529,
			want: Process{
				Stat:      Stat{PID: 8529, Comm: "sleep", State: 'Z', PPID: 8525, PGID: 8517, SID: 2739, TPGID: -1, Flags: 4227084, StartTicks: 49277},
				Creds:     rootCreds(capturedCaps),
				ReadState: ReadZombie,
				Missing:   PartCmdline | PartExe | PartCwd,
			},
		},
		{
			name: "title padded with NULs",
			pid:  8531,
			want: Process{
				Stat:      Stat{PID: 8531, Comm: "myproc: worker ", State: 'S', PPID: 8517, PGID: 8517, SID: 2739, TPGID: -1, Flags: 4194304, StartTicks: 49309},
				Creds:     rootCreds(capturedCaps),
				Args:      []string{"myproc: worker idle"},
				Exe:       "/usr/bin/perl",
				Cwd:       testdataDir,
				ReadState: ReadComplete,
			},
		},
		{
			name: "argv overwritten without NUL",
			pid:  9073,
			want: Process{
				Stat:          Stat{PID: 9073, Comm: "titleproc", State: 'S', PPID: 9059, PGID: 9059, SID: 2739, TPGID: -1, Flags: 4194304, StartTicks: 50415},
				Creds:         rootCreds(capturedCaps),
				Args:          []string{"title:", "worker", "(idle)", "for", "user"},
				ArgsRewritten: true,
				Exe:           "/tmp/titleproc",
				Cwd:           testdataDir,
				ReadState:     ReadComplete,
			},
		},
		{
			name: "reaped after cmdline",
			pid:  90008,
			want: Process{
				Stat:      Stat{PID: 90008},
				Args:      []string{"sleep", "300"},
				ReadState: ReadExited,
				Missing:   PartStat | PartStatus | PartExe | PartCwd,
			},
		},
		{
			name: "user process without exe",
			pid:  90003,
			want: Process{
				Stat: Stat{PID: 90003, Comm: "prog", State: 'S', PPID: 1, PGID: 90003, SID: 90003, TTY: 34816, TPGID: 90003, Flags: 4194304, StartTicks: 123456},
				Creds: Creds{
					UID: 1000, EUID: 1001, SUID: 1002, FSUID: 1003,
					GID: 2000, EGID: 2001, SGID: 2002, FSGID: 2003,
				},
				Args:      []string{"prog"}, // trailing empty arguments are indistinguishable from NUL padding
				Cwd:       "/home/u",
				ReadState: ReadPartial,
				Missing:   PartExe,
			},
		},
		{
			name: "comm ending in a parenthesis",
			pid:  90006,
			want: Process{
				Stat:      Stat{PID: 90006, Comm: "x) )", State: 'R', PPID: 1, PGID: 1, SID: 1, TPGID: -1, Flags: 4194304, StartTicks: 7},
				Args:      []string{"x"},
				ReadState: ReadExited,
				Missing:   PartStatus | PartExe | PartCwd,
			},
		},
		{
			name: "exiting, mm gone",
			pid:  90007,
			want: Process{
				Stat:      Stat{PID: 90007, Comm: "sleep", State: 'S', PPID: 8517, PGID: 8517, SID: 2739, TPGID: -1, Flags: 4194308, StartTicks: 49275},
				Creds:     rootCreds(capturedCaps),
				ReadState: ReadZombie,
				Missing:   PartCmdline | PartExe | PartCwd,
			},
		},
	}
	r := fakeFS(t).NewReader(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Process
			if err := r.Read(tt.pid, &got); err != nil {
				t.Fatalf("Read(%d): %v", tt.pid, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Read(%d) mismatch (-want +got):\n%s", tt.pid, diff)
			}
		})
	}
}

func TestReadFakeErrors(t *testing.T) {
	tests := []struct {
		name    string
		pid     int
		wantErr error
		notErr  error
	}{
		{name: "no such process", pid: 77777, wantErr: ErrGone},
		{name: "zero pid", pid: 0, wantErr: ErrBadPID},
		{name: "negative pid", pid: -5, wantErr: ErrBadPID},
		{name: "stat cut short", pid: 90002, wantErr: ErrMalformed},
		{name: "no cmdline: the directory is gone", pid: 90001, wantErr: ErrGone},
		{name: "status without Gid", pid: 90005, wantErr: ErrMalformed},
		{name: "regular file, not a process", pid: 4242, notErr: ErrGone},
	}
	r := fakeFS(t).NewReader(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Process
			err := r.Read(tt.pid, &p)
			if err == nil {
				t.Fatalf("Read(%d) = nil, want an error", tt.pid)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Read(%d) = %v, want errors.Is %v", tt.pid, err, tt.wantErr)
			}
			if tt.notErr != nil && errors.Is(err, tt.notErr) {
				t.Errorf("Read(%d) = %v, want not %v", tt.pid, err, tt.notErr)
			}
			if diff := cmp.Diff(Process{Stat: Stat{PID: tt.pid}}, p); diff != "" {
				t.Errorf("after an error, p holds more than the pid (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadStatFake(t *testing.T) {
	tests := []struct {
		name    string
		pid     int
		want    Stat
		wantErr error
	}{
		{name: "parenthesised comm", pid: 8524, want: Stat{PID: 8524, Comm: "a) b (c", State: 'S', PPID: 8517, PGID: 8517, SID: 2739, TPGID: -1, Flags: 4194304, StartTicks: 49275}},
		{name: "zombie", pid: 8529, want: Stat{PID: 8529, Comm: "sleep", State: 'Z', PPID: 8525, PGID: 8517, SID: 2739, TPGID: -1, Flags: 4227084, StartTicks: 49277}},
		{name: "gone", pid: 77777, wantErr: ErrGone},
		{name: "malformed", pid: 90002, wantErr: ErrMalformed},
	}
	r := fakeFS(t).NewReader(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Stat
			err := r.ReadStat(tt.pid, &got)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ReadStat(%d) = %v, want %v", tt.pid, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadStat(%d): %v", tt.pid, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadStat(%d) mismatch (-want +got):\n%s", tt.pid, diff)
			}
		})
	}
}

// writeProc makes a one-process tree under a temporary root, with the stat
// and status of the captured sleep and the given cmdline.
func writeProc(t *testing.T, pid int, cmdline []byte) FS {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(filepath.Join("testdata", "proc", "8525", "stat"))
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile(filepath.Join("testdata", "proc", "8525", "status"))
	if err != nil {
		t.Fatal(err)
	}
	stat = []byte(strconv.Itoa(pid) + strings.TrimPrefix(string(stat), "8525"))
	for name, b := range map[string][]byte{"stat": stat, "status": status, "cmdline": cmdline} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"exe": "/usr/bin/sleep", "cwd": "/"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestReadArgsCap(t *testing.T) {
	big := strings.Repeat("A", 128<<10) // MAX_ARG_STRLEN: the longest single argument
	var mib []string
	for i := 0; i < 9; i++ {
		mib = append(mib, strings.Repeat(string(rune('a'+i)), 128<<10))
	}
	tests := []struct {
		name          string
		cmdline       string
		maxArgBytes   int
		wantArgs      []string
		wantTruncated bool
	}{
		{
			name:          "huge argument cut at the default cap",
			cmdline:       "prog\x00" + big + "\x00tail\x00",
			wantArgs:      []string{"prog", big[:DefaultMaxArgBytes-len("prog\x00")]},
			wantTruncated: true,
		},
		{
			name:          "cap right after a separator",
			cmdline:       "ab\x00cd\x00ef\x00",
			maxArgBytes:   6,
			wantArgs:      []string{"ab", "cd"},
			wantTruncated: true,
		},
		{
			name:          "cap inside an argument",
			cmdline:       "ab\x00cd\x00ef\x00",
			maxArgBytes:   4,
			wantArgs:      []string{"ab", "c"},
			wantTruncated: true,
		},
		{
			name:        "exactly at the cap",
			cmdline:     "ab\x00cd\x00",
			maxArgBytes: 6,
			wantArgs:    []string{"ab", "cd"},
		},
		{
			name:        "argv over 1 MiB under the largest cap",
			cmdline:     strings.Join(mib, "\x00") + "\x00",
			maxArgBytes: MaxArgBytesLimit * 4, // lowered to the limit
			wantArgs:    mib,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := writeProc(t, 4321, []byte(tt.cmdline)).NewReader(tt.maxArgBytes)
			var p Process
			if err := r.Read(4321, &p); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(tt.wantArgs, p.Args); diff != "" {
				t.Errorf("Args mismatch (-want +got):\n%s", diff)
			}
			if p.ArgsTruncated != tt.wantTruncated {
				t.Errorf("ArgsTruncated = %v, want %v", p.ArgsTruncated, tt.wantTruncated)
			}
			if p.ReadState != ReadComplete {
				t.Errorf("ReadState = %v, want complete", p.ReadState)
			}
		})
	}
}

// TestReadNoAliasing checks that what Read returns survives the next Read,
// which reuses every buffer.
func TestReadNoAliasing(t *testing.T) {
	r := fakeFS(t).NewReader(0)
	var first, second Process
	if err := r.Read(8524, &first); err != nil {
		t.Fatal(err)
	}
	want := Process{Stat: first.Stat, Creds: first.Creds, Args: append([]string(nil), first.Args...), Exe: first.Exe, Cwd: first.Cwd, ReadState: first.ReadState}
	want.Comm = strings.Clone(first.Comm)
	for i := range want.Args {
		want.Args[i] = strings.Clone(want.Args[i])
	}
	want.Exe, want.Cwd = strings.Clone(first.Exe), strings.Clone(first.Cwd)
	for _, pid := range []int{2739, 9073, 8531, 2} {
		if err := r.Read(pid, &second); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("first result changed by later reads (-want +got):\n%s", diff)
	}
}
