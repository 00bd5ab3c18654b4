package netlink

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// encodeEvent lays an event out as the kernel does, in one datagram. It is
// the inverse of Decode for the fields each event type carries.
func encodeEvent(e Event) []byte {
	const size = offEvent + procHeaderLen + dataExit // sizeof(struct proc_event) is 40
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[offNlmsgLen:], size)
	ne.PutUint16(b[offNlmsgType:], NLMSG_DONE)
	ne.PutUint32(b[offCnIdx:], CN_IDX_PROC)
	ne.PutUint32(b[offCnVal:], CN_VAL_PROC)
	ne.PutUint32(b[offCnSeq:], e.Seq)
	ne.PutUint32(b[offCnAck:], e.Ack)
	ne.PutUint16(b[offCnLen:], procHeaderLen+dataExit)
	p := b[offEvent:]
	ne.PutUint32(p[0:], uint32(e.What))
	ne.PutUint32(p[4:], e.CPU)
	ne.PutUint64(p[8:], e.Timestamp)
	d := p[procHeaderLen:]
	put := func(off int, v int) { ne.PutUint32(d[off:], uint32(int32(v))) }
	switch e.What {
	case WhatNone:
		ne.PutUint32(d, e.AckErr)
	case WhatFork:
		put(0, e.ParentPID)
		put(4, e.ParentTGID)
		put(8, e.ChildPID)
		put(12, e.ChildTGID)
	case WhatExec, WhatSID:
		put(0, e.PID)
		put(4, e.TGID)
	case WhatUID:
		put(0, e.PID)
		put(4, e.TGID)
		ne.PutUint32(d[8:], e.RUID)
		ne.PutUint32(d[12:], e.EUID)
	case WhatGID:
		put(0, e.PID)
		put(4, e.TGID)
		ne.PutUint32(d[8:], e.RGID)
		ne.PutUint32(d[12:], e.EGID)
	case WhatPtrace:
		put(0, e.PID)
		put(4, e.TGID)
		put(8, e.TracerPID)
		put(12, e.TracerTGID)
	case WhatComm:
		put(0, e.PID)
		put(4, e.TGID)
		copy(d[8:], e.Comm[:])
	case WhatCoredump:
		put(0, e.PID)
		put(4, e.TGID)
		put(8, e.ParentPID)
		put(12, e.ParentTGID)
	case WhatExit:
		put(0, e.PID)
		put(4, e.TGID)
		ne.PutUint32(d[8:], e.ExitCode)
		ne.PutUint32(d[12:], e.ExitSignal)
		put(16, e.ParentPID)
		put(20, e.ParentTGID)
	}
	return b
}

// FuzzDecode feeds Decode arbitrary datagrams, seeded with the recordings.
// Decode must not panic, must account for its input, and whatever it
// decodes must survive a round trip through the kernel layout. The socket
// filter must accept or drop every input without faulting.
func FuzzDecode(f *testing.F) {
	for _, d := range recordedDatagrams(f) {
		f.Add(d)
	}
	f.Add(mustHex(f, rawAck))
	f.Add(append(mustHex(f, rawFork), mustHex(f, rawExec)...))
	f.Add([]byte{})
	f.Add(make([]byte, NLMSG_HDRLEN))
	progs := [][]unix.SockFilter{filterProgram(MaskAll, false), filterProgram(MaskAll, true)}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := Decode(data, nil)
		// Each event needs a message of at least this many bytes.
		if least := offEvent + procHeaderLen; len(events)*least > len(data) {
			t.Fatalf("%d events from %d bytes (err %v)", len(events), len(data), err)
		}
		prefix := []Event{{PID: -7}}
		again, err2 := Decode(data, prefix)
		if (err == nil) != (err2 == nil) || len(again) != len(events)+1 || again[0].PID != -7 {
			t.Fatalf("Decode with a prefix differs: %d vs %d events, errors %v / %v", len(again)-1, len(events), err2, err)
		}
		for _, e := range events {
			known := false
			for _, n := range whatNames {
				known = known || n.w == e.What
			}
			if !known {
				continue
			}
			if e.What != WhatNone {
				e.Ack = 0 // only acknowledgements carry cn_msg.ack
			}
			rt, err := Decode(encodeEvent(e), nil)
			if err != nil {
				t.Fatalf("round trip of %+v: %v", e, err)
			}
			if diff := cmp.Diff([]Event{e}, rt); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
		}
		for _, prog := range progs {
			if _, err := runFilter(prog, data); err != nil {
				t.Fatalf("filter: %v", err)
			}
		}
	})
}
