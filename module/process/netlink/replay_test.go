package netlink

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func recordings(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.rec"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in testdata/ (%v): record with go test -run TestRecord -args -record", err)
	}
	return files
}

// recordedDatagrams returns every datagram of every recording.
func recordedDatagrams(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, file := range recordings(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line == "" || line[0] == '#' || line == "ENOBUFS" {
				continue
			}
			_, h, _ := strings.Cut(line, " ")
			b, err := hex.DecodeString(h)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			out = append(out, b)
		}
	}
	return out
}

// replayAll receives every event of a recording until io.EOF, returning
// the events and the number of ErrLost seen.
func replayAll(t *testing.T, r io.Reader, opts Options) (*Conn, []Event, int) {
	t.Helper()
	c, err := NewReplay(r, opts, nil)
	if err != nil {
		t.Fatalf("NewReplay: %v", err)
	}
	var all []Event
	lost := 0
	for {
		events, err := c.Receive()
		if errors.Is(err, io.EOF) {
			return c, all, lost
		}
		if errors.Is(err, ErrLost) {
			lost++
			continue
		}
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		all = append(all, events...)
	}
}

func TestReplayGolden(t *testing.T) {
	for _, file := range recordings(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c, got, lost := replayAll(t, f, Options{Events: MaskAll})
			if lost != 0 {
				t.Errorf("recording reported %d losses", lost)
			}
			if s := c.Stats(); s.Events != uint64(len(got)) || s.Datagrams != uint64(len(got)) {
				t.Errorf("Stats = %+v, want %d datagrams and events", s, len(got))
			}
			golden := strings.TrimSuffix(file, ".rec") + ".golden.json"
			if *update {
				b, err := json.MarshalIndent(got, "", "\t")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (rewrite with -update)", err)
			}
			var want []Event
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("%s: %v", golden, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("replay of %s mismatch (-want +got):\n%s", file, diff)
			}
		})
	}
}

// steps reads the "# step <name> pid=<pid>" comments of a recording.
func steps(t *testing.T, file string) map[string]int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var name string
		var pid int
		if n, _ := fmt.Sscanf(sc.Text(), "# step %s pid=%d", &name, &pid); n == 2 {
			out[name] = pid
		}
	}
	return out
}

// TestReplayRecordings checks what each recorded scenario must show,
// independently of the golden files.
func TestReplayRecordings(t *testing.T) {
	type check struct {
		step string
		desc string
		ok   func(e Event, pid int) bool
	}
	exited := func(code int) func(Event, int) bool {
		return func(e Event, pid int) bool {
			ws := e.WaitStatus()
			return e.What == WhatExit && e.PID == pid && e.TGID == pid && ws.Exited() && ws.ExitStatus() == code
		}
	}
	checks := []check{
		{"true", "fork of the child", func(e Event, pid int) bool {
			return e.What == WhatFork && e.ChildPID == pid && e.ChildTGID == pid && e.ParentTGID > 0
		}},
		{"true", "exec", func(e Event, pid int) bool { return e.What == WhatExec && e.PID == pid && e.TGID == pid }},
		{"true", "exit 0", exited(0)},
		{"exit3", "exit 3", exited(3)},
		{"setuid", "gid 65534", func(e Event, pid int) bool {
			return e.What == WhatGID && e.TGID == pid && e.RGID == 65534 && e.EGID == 65534
		}},
		{"setuid", "uid 65534", func(e Event, pid int) bool {
			return e.What == WhatUID && e.TGID == pid && e.RUID == 65534 && e.EUID == 65534
		}},
		{"setsid", "sid", func(e Event, pid int) bool { return e.What == WhatSID && e.PID == pid }},
		{"comm", "comm", func(e Event, pid int) bool {
			return e.What == WhatComm && e.PID == pid && e.Comm.String() == "spawnbeat-comm"
		}},
		{"killed", "coredump", func(e Event, pid int) bool { return e.What == WhatCoredump && e.PID == pid && e.ParentTGID > 0 }},
		{"killed", "killed by SIGSEGV", func(e Event, pid int) bool {
			return e.What == WhatExit && e.PID == pid && e.WaitStatus().Signaled() && e.WaitStatus().Signal() == syscall.SIGSEGV
		}},
		{"ptrace", "ptrace detach", func(e Event, pid int) bool { return e.What == WhatPtrace && e.PID == pid && e.TracerPID == 0 }},
	}
	for _, file := range recordings(t) {
		pids := steps(t, file)
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		_, events, _ := replayAll(t, f, Options{Events: MaskAll})
		f.Close()
		for _, ch := range checks {
			t.Run(filepath.Base(file)+"/"+ch.step+"/"+ch.desc, func(t *testing.T) {
				pid, ok := pids[ch.step]
				if !ok {
					t.Fatalf("recording has no step %q", ch.step)
				}
				for _, e := range events {
					if ch.ok(e, pid) {
						return
					}
				}
				t.Errorf("no event for step %s (pid %d): %s", ch.step, pid, ch.desc)
			})
		}
	}
}

func TestReplayMask(t *testing.T) {
	datagrams := recordedDatagrams(t)
	var all []Event
	for _, d := range datagrams {
		var err error
		if all, err = Decode(d, all); err != nil {
			t.Fatal(err)
		}
	}
	for _, mask := range []EventMask{MaskDefault, EventMask(WhatExec), EventMask(WhatComm | WhatSID)} {
		t.Run(mask.String(), func(t *testing.T) {
			var want []Event
			for _, e := range all {
				if mask.Has(e.What) {
					want = append(want, e)
				}
			}
			c, got, _ := replayAll(t, bytes.NewReader(recordingOf(datagrams)), Options{Events: mask})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mask %s (-want +got):\n%s", mask, diff)
			}
			if s := c.Stats(); s.Filtered != uint64(len(all)-len(want)) {
				t.Errorf("Stats().Filtered = %d, want %d", s.Filtered, len(all)-len(want))
			}
		})
	}
}

// recordingOf writes datagrams in the recording format, from the kernel.
func recordingOf(datagrams [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("# built by a test\n")
	for _, d := range datagrams {
		fmt.Fprintf(&b, "0 %x\n", d)
	}
	return b.Bytes()
}

// TestReplayFaults runs loss, foreign senders, truncation and malformed
// datagrams through Receive.
func TestReplayFaults(t *testing.T) {
	fork, exec, exit := mustHex(t, rawFork), mustHex(t, rawExec), mustHex(t, rawExit3)
	huge := append(append([]byte(nil), exec...), make([]byte, datagramBuffer)...)
	huge = withLen(huge, len(huge), -1)
	type step struct {
		events  []What // events of one Receive
		wantErr error
	}
	tests := []struct {
		name      string
		recording string
		want      []step
		wantStats Stats
	}{
		{
			name:      "loss between datagrams",
			recording: fmt.Sprintf("0 %x\nENOBUFS\n0 %x\n", fork, exec),
			// The event gathered before the failure comes first, then the loss.
			want:      []step{{events: []What{WhatFork}}, {wantErr: ErrLost}, {events: []What{WhatExec}}, {wantErr: io.EOF}},
			wantStats: Stats{Datagrams: 2, Events: 2, Lost: 1},
		},
		{
			name:      "loss first",
			recording: fmt.Sprintf("ENOBUFS\n0 %x\n", exec),
			want:      []step{{wantErr: ErrLost}, {events: []What{WhatExec}}, {wantErr: io.EOF}},
			wantStats: Stats{Datagrams: 1, Events: 1, Lost: 1},
		},
		{
			name:      "foreign sender rejected",
			recording: fmt.Sprintf("4242 %x\n0 %x\n", fork, exec),
			want:      []step{{events: []What{WhatExec}}, {wantErr: io.EOF}},
			wantStats: Stats{Datagrams: 2, Events: 1, Rejected: 1},
		},
		{
			name:      "truncated dropped",
			recording: fmt.Sprintf("0 %x\n0 %x\n", huge, exit),
			want:      []step{{events: []What{WhatExit}}, {wantErr: io.EOF}},
			wantStats: Stats{Datagrams: 2, Events: 1, Truncated: 1},
		},
		{
			name:      "malformed dropped",
			recording: fmt.Sprintf("0 %x\n0 %x\n", withLen(fork, 300, -1), exit),
			want:      []step{{events: []What{WhatExit}}, {wantErr: io.EOF}},
			wantStats: Stats{Datagrams: 2, Events: 1, Malformed: 1},
		},
		{
			name:      "batched datagram masked in user space",
			recording: fmt.Sprintf("0 %x%x\n", mustHex(t, rawComm), exec),
			want:      []step{{events: []What{WhatExec}}, {wantErr: io.EOF}},
			wantStats: Stats{Datagrams: 1, Events: 1, Filtered: 1},
		},
		{
			name:      "unselected filtered",
			recording: fmt.Sprintf("0 %x\n0 %x\n", mustHex(t, rawComm), exec),
			want:      []step{{events: []What{WhatExec}}, {wantErr: io.EOF}},
			wantStats: Stats{Datagrams: 2, Events: 1, Filtered: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewReplay(strings.NewReader(tt.recording), Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.want {
				events, err := c.Receive()
				if st.wantErr != nil {
					if !errors.Is(err, st.wantErr) {
						t.Fatalf("Receive %d: error %v, want %v", i, err, st.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Receive %d: %v", i, err)
				}
				var got []What
				for _, e := range events {
					got = append(got, e.What)
				}
				if diff := cmp.Diff(st.events, got); diff != "" {
					t.Errorf("Receive %d (-want +got):\n%s", i, diff)
				}
			}
			if diff := cmp.Diff(tt.wantStats, c.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplayBadRecording(t *testing.T) {
	tests := []struct{ name, recording string }{
		{"no sender", "4c000000\n"},
		{"bad sender", "x 4c000000\n"},
		{"bad hex", "0 4c00zz\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewReplay(strings.NewReader(tt.recording), Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Receive(); err == nil || errors.Is(err, io.EOF) {
				t.Errorf("Receive = %v, want a parse error", err)
			}
		})
	}
}

func TestReplayClose(t *testing.T) {
	c, err := NewReplay(bytes.NewReader(recordingOf(recordedDatagrams(t))), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if _, err := c.Receive(); !errors.Is(err, ErrClosed) {
		t.Errorf("Receive after Close = %v, want ErrClosed", err)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		want    Options
		wantErr error
	}{
		{name: "defaults", in: Options{}, want: Options{ReceiveBuffer: DefaultReceiveBuffer, Events: MaskDefault}},
		{name: "kept", in: Options{ReceiveBuffer: 4096, Events: MaskAll}, want: Options{ReceiveBuffer: 4096, Events: MaskAll}},
		{name: "negative buffer", in: Options{ReceiveBuffer: -1}, wantErr: ErrInvalidOptions},
		{name: "unknown event bit", in: Options{Events: 0x8}, wantErr: ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("withDefaults error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("withDefaults (-want +got):\n%s", diff)
				}
				return
			}
			if _, err := NewReplay(strings.NewReader(""), tt.in, nil); !errors.Is(err, tt.wantErr) {
				t.Errorf("NewReplay error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
