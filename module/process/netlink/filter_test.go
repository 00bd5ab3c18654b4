package netlink

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// runFilter executes a classic BPF program on pkt the way the kernel's
// socket filter does (net/core/filter.c): absolute loads read big-endian
// and a load past the end of the packet returns 0 (drop). It supports the
// instructions a socket filter for this package could use and fails on
// anything else, so a filter change it cannot model shows up here.
func runFilter(prog []unix.SockFilter, pkt []byte) (uint32, error) {
	var a, x uint32
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		load := func(size int) (uint32, bool) {
			off := int(ins.K)
			if off < 0 || off+size > len(pkt) {
				return 0, false
			}
			switch size {
			case 4:
				return binary.BigEndian.Uint32(pkt[off:]), true
			case 2:
				return uint32(binary.BigEndian.Uint16(pkt[off:])), true
			}
			return uint32(pkt[off]), true
		}
		jump := func(cond bool) {
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		}
		var ok bool
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if a, ok = load(4); !ok {
				return 0, nil
			}
		case unix.BPF_LD | unix.BPF_H | unix.BPF_ABS:
			if a, ok = load(2); !ok {
				return 0, nil
			}
		case unix.BPF_LD | unix.BPF_B | unix.BPF_ABS:
			if a, ok = load(1); !ok {
				return 0, nil
			}
		case unix.BPF_LD | unix.BPF_W | unix.BPF_LEN:
			a = uint32(len(pkt))
		case unix.BPF_LDX | unix.BPF_W | unix.BPF_IMM:
			x = ins.K
		case unix.BPF_MISC | unix.BPF_TAX:
			x = a
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(ins.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			jump(a == ins.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X:
			jump(a == x)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			jump(a > ins.K)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			jump(a >= ins.K)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			jump(a&ins.K != 0)
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= ins.K
		case unix.BPF_RET | unix.BPF_K:
			return ins.K, nil
		case unix.BPF_RET | unix.BPF_A:
			return a, nil
		default:
			return 0, fmt.Errorf("instruction %d: unsupported opcode %#x", pc, ins.Code)
		}
	}
	return 0, fmt.Errorf("program fell off its end")
}

func TestFilterProgram(t *testing.T) {
	datagrams := recordedDatagrams(t)
	short := mustHex(t, rawExec)[:offWhat+2]
	other := append([]byte(nil), mustHex(t, rawExec)...)
	binary.NativeEndian.PutUint32(other[offCnIdx:], 0xa)
	otherVal := append([]byte(nil), mustHex(t, rawExec)...)
	binary.NativeEndian.PutUint32(otherVal[offCnVal:], 0x2)

	masks := []EventMask{
		EventMask(WhatExec), MaskDefault, MaskAll,
		EventMask(WhatExit), EventMask(WhatUID | WhatGID | WhatSID | WhatComm),
		EventMask(WhatCoredump | WhatPtrace),
	}
	for _, mask := range masks {
		prog := filterProgram(mask, false)
		t.Run(mask.String(), func(t *testing.T) {
			for i, d := range datagrams {
				events, err := Decode(d, nil)
				if err != nil || len(events) != 1 {
					t.Fatalf("datagram %d: %v %v", i, events, err)
				}
				w := events[0].What
				want := mask.Has(w) || w == WhatNone
				got, err := runFilter(prog, d)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if (got != 0) != want {
					t.Errorf("datagram %d (%s): filter returned %#x, want accept %v", i, w, got, want)
				}
				if got != 0 && got < uint32(len(d)) {
					t.Errorf("datagram %d: filter keeps %d of %d bytes", i, got, len(d))
				}
			}
			for name, d := range map[string][]byte{"cut before what": short, "other cn idx": other, "other cn val": otherVal} {
				if got, err := runFilter(prog, d); err != nil || got != 0 {
					t.Errorf("%s: filter returned %#x, %v; want drop", name, got, err)
				}
			}
			// A batch is accepted whatever its first message, so that no
			// selected event behind it is lost.
			for _, first := range []string{rawFork, rawComm, rawExit3} {
				batch := append(mustHex(t, first), mustHex(t, rawExec)...)
				if got, err := runFilter(prog, batch); err != nil || got == 0 {
					t.Errorf("batch starting %s: filter returned %#x, %v; want accept", first[72:80], got, err)
				}
			}
		})
	}
}

// TestFilterLeadersOnly runs the leaders-only filter on events about
// processes and about threads of every kind it knows.
func TestFilterLeadersOnly(t *testing.T) {
	prog := filterProgram(MaskAll, true)
	tests := []struct {
		name string
		ev   Event
		want bool
	}{
		{"fork of a process", Event{What: WhatFork, ParentPID: 10, ParentTGID: 10, ChildPID: 11, ChildTGID: 11}, true},
		{"fork by a thread of a process", Event{What: WhatFork, ParentPID: 12, ParentTGID: 10, ChildPID: 13, ChildTGID: 13}, true},
		{"creation of a thread", Event{What: WhatFork, ParentPID: 10, ParentTGID: 10, ChildPID: 14, ChildTGID: 10}, false},
		{"exec", Event{What: WhatExec, PID: 10, TGID: 10}, true},
		{"exit of a process", Event{What: WhatExit, PID: 10, TGID: 10}, true},
		{"exit of a thread", Event{What: WhatExit, PID: 14, TGID: 10}, false},
		{"uid of a process", Event{What: WhatUID, PID: 10, TGID: 10, RUID: 1, EUID: 1}, true},
		{"uid of a thread", Event{What: WhatUID, PID: 14, TGID: 10}, false},
		{"gid of a thread", Event{What: WhatGID, PID: 14, TGID: 10}, false},
		{"comm of a thread", Event{What: WhatComm, PID: 14, TGID: 10}, false},
		{"acknowledgement", Event{What: WhatNone}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runFilter(prog, encodeEvent(tt.ev))
			if err != nil {
				t.Fatal(err)
			}
			if (got != 0) != tt.want {
				t.Errorf("filter returned %#x, want accept %v", got, tt.want)
			}
			if tt.ev.aboutLeader() != tt.want {
				t.Errorf("aboutLeader() = %v, want %v (the user-space check must agree)", !tt.want, tt.want)
			}
		})
	}
	// Without leadersOnly, the filter passes threads' events.
	thread := encodeEvent(Event{What: WhatExit, PID: 14, TGID: 10})
	if got, err := runFilter(filterProgram(MaskAll, false), thread); err != nil || got == 0 {
		t.Errorf("the plain filter dropped a thread's exit: %#x, %v", got, err)
	}
}

func TestBPFWord(t *testing.T) {
	// Whatever the host's byte order, a word load of the field's bytes
	// must equal bpfWord of its value.
	for _, v := range []uint32{0, 1, PROC_EVENT_EXEC, PROC_EVENT_EXIT, 0x01020304} {
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], v)
		if got, want := bpfWord(v), binary.BigEndian.Uint32(b[:]); got != want {
			t.Errorf("bpfWord(%#x) = %#x, want %#x", v, got, want)
		}
	}
}
