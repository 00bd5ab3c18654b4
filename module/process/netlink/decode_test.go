package netlink

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Datagrams captured on 6.18.44 amd64 (see testdata/); the ack is the
// kernel's answer to a PROC_CN_MCAST_LISTEN sent with ack 0.
const (
	rawAck    = "4c000000030000001204000000000000010000000100000012040000010000002800000000000000000000004bb2b9659e000000000000000000000000000000000000000000000000000000"
	rawFork   = "4c000000030000004d1400000000000001000000010000004d1400000000000028000000010000000100000093acad20af0000006e4d00006c4d0000724d0000724d00000000000000000000"
	rawExec   = "4c000000030000004e1400000000000001000000010000004e140000000000002800000002000000010000007ec30c21af000000724d0000724d000000000000000000000000000000000000"
	rawExit3  = "4c00000003000000521500000000000001000000010000005215000000000000280000000000008000000000ef02ff21af000000744d0000744d000000030000110000006e4d00006c4d0000"
	rawUID    = "4c000000030000005515000000000000010000000100000055150000000000002800000004000000000000007bf60322af000000754d0000754d0000feff0000feff00000000000000000000"
	rawGID    = "4c00000003000000541500000000000001000000010000005415000000000000280000004000000000000000f4bc0322af000000754d0000754d0000feff0000feff00000000000000000000"
	rawComm   = "4c000000030000006514000000000000010000000100000065140000000000002800000000020000010000005d65bd26af0000007c4d00007c4d0000737061776e626561742d636f6d6d0000"
	rawCore   = "4c0000000300000069140000000000000100000001000000691400000000000028000000000000400100000008f22a27af0000007f4d00007f4d00006e4d00006c4d00000000000000000000"
	rawPtrace = "4c000000030000006d1400000000000001000000010000006d140000000000002800000000010000010000009ffe5627af000000804d0000804d000000000000000000000000000000000000"
	rawSID    = "4c00000003000000591500000000000001000000010000005915000000000000280000008000000000000000bfa74222af000000764d0000764d000000000000000000000000000000000000"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func commOf(s string) Comm {
	var c Comm
	copy(c[:], s)
	return c
}

// withLen returns a copy of a datagram with nlmsg_len (and, when cnLen >=
// 0, cn_msg.len) overwritten.
func withLen(b []byte, nlLen, cnLen int) []byte {
	b = append([]byte(nil), b...)
	binary.NativeEndian.PutUint32(b[offNlmsgLen:], uint32(nlLen))
	if cnLen >= 0 {
		binary.NativeEndian.PutUint16(b[offCnLen:], uint16(cnLen))
	}
	return b
}

func TestDecodeRecorded(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Event
	}{
		{name: "ack", raw: rawAck, want: Event{What: WhatNone, Timestamp: 0x9e65b9b24b, Seq: 0x412, Ack: 1}},
		{name: "fork", raw: rawFork, want: Event{What: WhatFork, CPU: 1, Timestamp: 0xaf20adac93, Seq: 0x144d,
			ParentPID: 0x4d6e, ParentTGID: 0x4d6c, ChildPID: 0x4d72, ChildTGID: 0x4d72, PID: 0x4d72, TGID: 0x4d72}},
		{name: "exec", raw: rawExec, want: Event{What: WhatExec, CPU: 1, Timestamp: 0xaf210cc37e, Seq: 0x144e, PID: 0x4d72, TGID: 0x4d72}},
		{name: "exit 3", raw: rawExit3, want: Event{What: WhatExit, Timestamp: 0xaf21ff02ef, Seq: 0x1552, PID: 0x4d74, TGID: 0x4d74,
			ExitCode: 3 << 8, ExitSignal: 17, ParentPID: 0x4d6e, ParentTGID: 0x4d6c}},
		{name: "uid", raw: rawUID, want: Event{What: WhatUID, Timestamp: 0xaf2203f67b, Seq: 0x1555, PID: 0x4d75, TGID: 0x4d75, RUID: 65534, EUID: 65534}},
		{name: "gid", raw: rawGID, want: Event{What: WhatGID, Timestamp: 0xaf2203bcf4, Seq: 0x1554, PID: 0x4d75, TGID: 0x4d75, RGID: 65534, EGID: 65534}},
		{name: "sid", raw: rawSID, want: Event{What: WhatSID, Timestamp: 0xaf2242a7bf, Seq: 0x1559, PID: 0x4d76, TGID: 0x4d76}},
		{name: "comm", raw: rawComm, want: Event{What: WhatComm, CPU: 1, Timestamp: 0xaf26bd655d, Seq: 0x1465, PID: 0x4d7c, TGID: 0x4d7c, Comm: commOf("spawnbeat-comm")}},
		{name: "coredump", raw: rawCore, want: Event{What: WhatCoredump, CPU: 1, Timestamp: 0xaf272af208, Seq: 0x1469, PID: 0x4d7f, TGID: 0x4d7f, ParentPID: 0x4d6e, ParentTGID: 0x4d6c}},
		{name: "ptrace detach", raw: rawPtrace, want: Event{What: WhatPtrace, CPU: 1, Timestamp: 0xaf2756fe9f, Seq: 0x146d, PID: 0x4d80, TGID: 0x4d80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(mustHex(t, tt.raw), nil)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff([]Event{tt.want}, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	fork := mustHex(t, rawFork)
	exec := mustHex(t, rawExec)
	otherConnector := append([]byte(nil), exec...)
	binary.NativeEndian.PutUint32(otherConnector[offCnIdx:], 0xa) // CN_W1_IDX
	noop := withLen(make([]byte, NLMSG_HDRLEN), NLMSG_HDRLEN, -1)
	binary.NativeEndian.PutUint16(noop[offNlmsgType:], NLMSG_NOOP)
	nlErr := append([]byte(nil), noop...)
	binary.NativeEndian.PutUint16(nlErr[offNlmsgType:], NLMSG_ERROR)
	unknown := append([]byte(nil), exec...)
	binary.NativeEndian.PutUint32(unknown[offWhat:], 0x1000)
	execEvent := Event{What: WhatExec, CPU: 1, Timestamp: 0xaf210cc37e, Seq: 0x144e, PID: 0x4d72, TGID: 0x4d72}
	forkEvent := Event{What: WhatFork, CPU: 1, Timestamp: 0xaf20adac93, Seq: 0x144d,
		ParentPID: 0x4d6e, ParentTGID: 0x4d6c, ChildPID: 0x4d72, ChildTGID: 0x4d72, PID: 0x4d72, TGID: 0x4d72}

	tests := []struct {
		name    string
		in      []byte
		want    []Event
		wantErr bool
	}{
		{name: "empty", in: nil},
		{name: "short header", in: fork[:10], wantErr: true},
		{name: "nlmsg_len beyond datagram", in: withLen(fork, len(fork)+4, -1), wantErr: true},
		{name: "nlmsg_len below header", in: withLen(fork, 8, -1), wantErr: true},
		{name: "no room for cn_msg", in: withLen(fork, NLMSG_HDRLEN+8, -1)[:NLMSG_HDRLEN+8], wantErr: true},
		{name: "cn_msg len beyond message", in: withLen(fork, len(fork), 200), wantErr: true},
		{name: "proc_event header cut", in: withLen(fork, len(fork), 8), wantErr: true},
		{name: "fork data cut", in: withLen(fork, len(fork), procHeaderLen+8), wantErr: true},
		{name: "exec data exact", in: withLen(exec, len(exec), procHeaderLen+dataExec), want: []Event{execEvent}},
		{name: "noop skipped", in: noop},
		{name: "nlmsg error", in: nlErr, wantErr: true},
		{name: "other connector skipped", in: otherConnector},
		{name: "unknown type kept with header only", in: unknown,
			want: []Event{{What: 0x1000, CPU: 1, Timestamp: 0xaf210cc37e, Seq: 0x144e}}},
		{name: "two messages in one datagram", in: append(append([]byte(nil), fork...), exec...),
			want: []Event{forkEvent, execEvent}},
		{name: "good then garbage", in: append(append([]byte(nil), fork...), 1, 2, 3),
			want: []Event{forkEvent}, wantErr: true},
		{name: "unpadded last message", in: append(append([]byte(nil), noop[:NLMSG_HDRLEN]...), withLen(exec, len(exec)-1, procHeaderLen+dataExec)[:len(exec)-1]...),
			want: []Event{execEvent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Decode error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("Decode error %v does not wrap ErrMalformed", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeAppends(t *testing.T) {
	dst := make([]Event, 1, 4)
	dst[0].PID = 42
	got, err := Decode(mustHex(t, rawExec), dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].PID != 42 || got[1].What != WhatExec || &got[0] != &dst[0] {
		t.Errorf("Decode did not append in place: %+v", got)
	}
}

func TestWaitStatus(t *testing.T) {
	tests := []struct {
		name                 string
		raw                  uint32
		wantExited           bool
		wantCode             int
		wantSignaled         bool
		wantSignal, wantCore bool
	}{
		{name: "exit 0", raw: 0, wantExited: true},
		{name: "exit 3", raw: 3 << 8, wantExited: true, wantCode: 3},
		{name: "SIGSEGV with core", raw: 11 | 0x80, wantSignaled: true, wantSignal: true, wantCore: true},
		{name: "SIGKILL", raw: 9, wantSignaled: true, wantSignal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{What: WhatExit, ExitCode: tt.raw}
			ws := e.WaitStatus()
			if ws.Exited() != tt.wantExited || (tt.wantExited && ws.ExitStatus() != tt.wantCode) ||
				ws.Signaled() != tt.wantSignaled || ws.CoreDump() != tt.wantCore {
				t.Errorf("WaitStatus(%#x): exited %v code %d signaled %v core %v", tt.raw, ws.Exited(), ws.ExitStatus(), ws.Signaled(), ws.CoreDump())
			}
		})
	}
}

func TestWhatText(t *testing.T) {
	for _, w := range []What{WhatNone, WhatFork, WhatExec, WhatUID, WhatGID, WhatSID, WhatPtrace, WhatComm, WhatCoredump, WhatExit, 0x1000} {
		t.Run(w.String(), func(t *testing.T) {
			b, err := w.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var got What
			if err := got.UnmarshalText(b); err != nil {
				t.Fatalf("UnmarshalText(%q): %v", b, err)
			}
			if got != w {
				t.Errorf("round trip of %#x via %q = %#x", uint32(w), b, uint32(got))
			}
		})
	}
	var w What
	if err := w.UnmarshalText([]byte("spawn")); !errors.Is(err, ErrMalformed) {
		t.Errorf("UnmarshalText(spawn) = %v, want ErrMalformed", err)
	}
}

func TestEventMaskString(t *testing.T) {
	tests := []struct {
		mask EventMask
		want string
	}{
		{0, "none"},
		{MaskDefault, "fork|exec|exit"},
		{EventMask(WhatComm | WhatSID), "sid|comm"},
		{EventMask(WhatExec) | 0x8, "exec|0x8"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.mask.String(); got != tt.want {
				t.Errorf("EventMask(%#x).String() = %q, want %q", uint32(tt.mask), got, tt.want)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name string
		op   uint32
	}{
		{name: "listen", op: PROC_CN_MCAST_LISTEN},
		{name: "ignore", op: PROC_CN_MCAST_IGNORE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Conn{seq: 0x1234567}
			b := c.request(tt.op)
			ne := binary.NativeEndian
			got := []uint32{
				ne.Uint32(b[0:]), uint32(ne.Uint16(b[4:])), // nlmsg_len, nlmsg_type
				ne.Uint32(b[16:]), ne.Uint32(b[20:]), // cb_id idx, val
				ne.Uint32(b[24:]), ne.Uint32(b[28:]), // seq, ack
				uint32(ne.Uint16(b[32:])), ne.Uint32(b[36:]), // len, op
			}
			want := []uint32{40, NLMSG_DONE, CN_IDX_PROC, CN_VAL_PROC, 0x1234567, 0x1234567, 4, tt.op}
			if diff := cmp.Diff(want, got); diff != "" || len(b) != 40 {
				t.Errorf("request of %d bytes (-want +got):\n%s", len(b), diff)
			}
		})
	}
}
