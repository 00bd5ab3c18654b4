package procfs

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	tail := " 1 2 3 34817 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 987654321 0 0"
	tests := []struct {
		name     string
		in       string
		want     Stat
		wantComm string
		wantErr  bool
	}{
		{
			name:     "plain",
			in:       "42 (sleep) S" + tail + "\n",
			want:     Stat{PID: 42, State: 'S', PPID: 1, PGID: 2, SID: 3, TTY: 34817, TPGID: -1, Flags: 4194304, StartTicks: 987654321},
			wantComm: "sleep",
		},
		{
			name:     "comm with spaces and parentheses",
			in:       "42 (a) b (c) R" + tail,
			want:     Stat{PID: 42, State: 'R', PPID: 1, PGID: 2, SID: 3, TTY: 34817, TPGID: -1, Flags: 4194304, StartTicks: 987654321},
			wantComm: "a) b (c",
		},
		{
			name:     "comm that looks like fields",
			in:       "42 (x) S 9 9 9 9) Z" + tail,
			want:     Stat{PID: 42, State: 'Z', PPID: 1, PGID: 2, SID: 3, TTY: 34817, TPGID: -1, Flags: 4194304, StartTicks: 987654321},
			wantComm: "x) S 9 9 9 9",
		},
		{
			name:     "empty comm",
			in:       "42 () S" + tail,
			want:     Stat{PID: 42, State: 'S', PPID: 1, PGID: 2, SID: 3, TTY: 34817, TPGID: -1, Flags: 4194304, StartTicks: 987654321},
			wantComm: "",
		},
		{
			name:     "largest start time",
			in:       "1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551615",
			want:     Stat{PID: 1, State: 'S', PGID: 1, SID: 1, TPGID: -1, Flags: 4194560, StartTicks: 1<<64 - 1},
			wantComm: "init",
		},
		{name: "empty", in: "", wantErr: true},
		{name: "no parentheses", in: "42 sleep S" + tail, wantErr: true},
		{name: "no pid", in: "(sleep) S" + tail, wantErr: true},
		{name: "bad pid", in: "4x2 (sleep) S" + tail, wantErr: true},
		{name: "closing before opening", in: "42 )sleep( S" + tail, wantErr: true},
		{name: "too few fields", in: "42 (sleep) S 1 2 3", wantErr: true},
		{name: "two-letter state", in: "42 (sleep) SS" + tail, wantErr: true},
		{name: "bad ppid", in: "42 (sleep) S x 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", wantErr: true},
		{name: "negative start time", in: "42 (sleep) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5", wantErr: true},
		{name: "flags beyond 32 bits", in: "42 (sleep) S 1 2 3 0 -1 4294967296 0 0 0 0 0 0 0 0 20 0 1 0 5", wantErr: true},
		{name: "start time overflows", in: "42 (sleep) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551616", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Stat
			comm, err := parseStat([]byte(tt.in), &got)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("parseStat(%q) = %v, want ErrMalformed", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseStat(%q): %v", tt.in, err)
			}
			if string(comm) != tt.wantComm {
				t.Errorf("comm = %q, want %q", comm, tt.wantComm)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseStat mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Creds
		wantErr bool
	}{
		{
			name: "ids and capabilities",
			in:   "Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t5 27\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n",
			want: Creds{UID: 1, EUID: 2, SUID: 3, FSUID: 4, GID: 5, EGID: 6, SGID: 7, FSGID: 8, CapPrm: 0x1ffffffffff, CapEff: 0xa80425fb, CapBnd: 0xa80425fb, HasCaps: true, HasCapBnd: true},
		},
		{
			name: "no bounding set line",
			in:   "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapPrm:\tff\nCapEff:\tff\n",
			want: Creds{CapPrm: 0xff, CapEff: 0xff, HasCaps: true},
		},
		{
			name: "no capability lines, no final newline",
			in:   "Uid:\t0\t0\t0\t0\nGid:\t4294967295\t0\t0\t65534",
			want: Creds{GID: 4294967295, FSGID: 65534},
		},
		{
			name: "only one capability line",
			in:   "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\tff\n",
			want: Creds{CapEff: 0xff},
		},
		{
			name: "similar keys are not ids",
			in:   "Uidx:\t9\t9\t9\t9\nUid:\t1\t1\t1\t1\nGid:\t2\t2\t2\t2\nNoColonLine\n",
			want: Creds{UID: 1, EUID: 1, SUID: 1, FSUID: 1, GID: 2, EGID: 2, SGID: 2, FSGID: 2},
		},
		{name: "empty", in: "", wantErr: true},
		{name: "no Gid", in: "Uid:\t0\t0\t0\t0\n", wantErr: true},
		{name: "three uids", in: "Uid:\t0\t0\t0\nGid:\t0\t0\t0\t0\n", wantErr: true},
		{name: "uid beyond 32 bits", in: "Uid:\t4294967296\t0\t0\t0\nGid:\t0\t0\t0\t0\n", wantErr: true},
		{name: "bad capability", in: "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\txyz\n", wantErr: true},
		{name: "bad bounding set", in: "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapBnd:\t-1\n", wantErr: true},
		{name: "capability too long", in: "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t00000000000000000\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Creds
			err := parseStatus([]byte(tt.in), &got)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("parseStatus = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseStatus: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseStatus mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitCmdline(t *testing.T) {
	tests := []struct {
		name          string
		in            string
		truncated     bool
		want          []string
		wantRewritten bool
	}{
		{name: "empty: unknown", in: "", want: nil},
		{name: "one argument", in: "python3\x00", want: []string{"python3"}},
		{name: "arguments", in: "python3\x00-c\x00import pty; pty.spawn(\"/bin/bash\")\x00", want: []string{"python3", "-c", `import pty; pty.spawn("/bin/bash")`}},
		{name: "empty argument inside", in: "a\x00\x00b\x00", want: []string{"a", "", "b"}},
		{name: "title padded with NULs", in: "nginx: worker process\x00\x00\x00\x00", want: []string{"nginx: worker process"}},
		{name: "only NULs", in: "\x00\x00\x00", want: []string{""}},
		{name: "rewritten title split on spaces", in: "sshd: root@pts/0   ", want: []string{"sshd:", "root@pts/0"}, wantRewritten: true},
		{name: "rewritten title of spaces", in: "   ", want: []string{}, wantRewritten: true},
		{name: "truncated keeps the cut argument", in: "a\x00bcd", truncated: true, want: []string{"a", "bcd"}},
		{name: "truncated without NUL is one argument", in: "aaaa bbbb", truncated: true, want: []string{"aaaa bbbb"}},
		{name: "truncated after a separator", in: "a\x00b\x00", truncated: true, want: []string{"a", "b"}},
		{name: "invalid UTF-8 kept as is", in: "\xff\xfe\x00\x01\x1b[31m\x00", want: []string{"\xff\xfe", "\x01\x1b[31m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := splitCmdline([]byte(tt.in), tt.truncated)
			var got []string
			if c.known {
				got = c.args(string(c.data), make([]string, 0, c.n))
				if len(got) != c.n {
					t.Errorf("counted %d arguments, split %d", c.n, len(got))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("args mismatch (-want +got):\n%s", diff)
			}
			if c.rewritten != tt.wantRewritten {
				t.Errorf("rewritten = %v, want %v", c.rewritten, tt.wantRewritten)
			}
		})
	}
}

func TestTTYDevice(t *testing.T) {
	tests := []struct {
		name             string
		ttyNr            uint32
		wantMaj, wantMin uint32
	}{
		{name: "none", ttyNr: 0},
		{name: "pts/0", ttyNr: 34816, wantMaj: 136, wantMin: 0},
		{name: "pts/3", ttyNr: 34819, wantMaj: 136, wantMin: 3},
		{name: "tty1", ttyNr: 1025, wantMaj: 4, wantMin: 1},
		{name: "pts/300 (minor above 255)", ttyNr: 136<<8 | 300&0xff | (300&^0xff)<<12, wantMaj: 136, wantMin: 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maj, minor := TTYDevice(tt.ttyNr)
			if maj != tt.wantMaj || minor != tt.wantMin {
				t.Errorf("TTYDevice(%d) = %d:%d, want %d:%d", tt.ttyNr, maj, minor, tt.wantMaj, tt.wantMin)
			}
		})
	}
}
