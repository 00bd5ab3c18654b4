package netlink

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// filterAccept is what an accepting classic BPF program returns: the number
// of bytes of the packet to keep, here all of them.
const filterAccept = 0xffffffff

// singleMessageLen is the length of a datagram holding one proc connector
// message: nlmsghdr, cn_msg and a struct proc_event of 40 bytes (its union
// has been 24 bytes since comm_proc_event was added in 2.6.29).
const singleMessageLen = NLMSG_HDRLEN + CN_MSG_LEN + procHeaderLen + dataExit

// filterProgram returns the classic BPF socket filter (SO_ATTACH_FILTER)
// that lets the kernel queue only proc connector messages whose
// proc_event.what is selected by mask, plus acknowledgements
// (PROC_EVENT_NONE), which Open waits for. With leadersOnly it also drops
// the events of threads other than a thread-group leader: the fork that
// creates a thread (child pid != child tgid), and a thread's exit or
// credential change (pid != tgid). On a host running threaded programs
// most fork and exit events are of threads, and each would wake the
// reader for nothing. Everything dropped takes no room in the receive
// buffer.
//
// The filter sees the datagram from its nlmsghdr and can judge only the
// first message. The proc connector sends one message per datagram
// (cn_netlink_send_mult), but should a kernel ever batch, a datagram
// longer than one message is accepted whole and Receive applies the mask
// in user space, so the filter never drops a selected event. A datagram
// too short to hold the loaded fields is dropped, because a load past the
// end ends a classic BPF program with 0.
func filterProgram(mask EventMask, leadersOnly bool) []unix.SockFilter {
	const (
		ldAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		ldLen  = unix.BPF_LD | unix.BPF_W | unix.BPF_LEN
		tax    = unix.BPF_MISC | unix.BPF_TAX
		jeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jeqX   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X
		jgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
		jsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		retK   = unix.BPF_RET | unix.BPF_K
		// Every event's data starts with the pid and tgid it is about,
		// except fork's, which starts with the parent's.
		offPID       = offEvent + procHeaderLen
		offTGID      = offPID + 4
		offChildPID  = offPID + 8
		offChildTGID = offPID + 12
	)
	drop, accept := 9, 10
	if leadersOnly {
		drop, accept = 18, 19
	}
	// j is a conditional jump's offset: relative to the next instruction.
	j := func(from, to int) uint8 { return uint8(to - from - 1) }
	prog := []unix.SockFilter{
		/* 0 */ {Code: ldLen},
		/* 1 */ {Code: jgtK, K: singleMessageLen, Jt: j(1, accept), Jf: 0},
		/* 2 */ {Code: ldAbsW, K: offCnIdx},
		/* 3 */ {Code: jeqK, K: bpfWord(CN_IDX_PROC), Jt: 0, Jf: j(3, drop)},
		/* 4 */ {Code: ldAbsW, K: offCnVal},
		/* 5 */ {Code: jeqK, K: bpfWord(CN_VAL_PROC), Jt: 0, Jf: j(5, drop)},
		/* 6 */ {Code: ldAbsW, K: offWhat},
		/* 7 */ {Code: jeqK, K: bpfWord(PROC_EVENT_NONE), Jt: j(7, accept), Jf: 0},
		/* 8 */ {Code: jsetK, K: bpfWord(uint32(mask)), Jt: j(8, accept), Jf: j(8, drop)},
	}
	if leadersOnly {
		prog[8].Jt = 0
		prog = append(prog,
			/* 9 */ unix.SockFilter{Code: jeqK, K: bpfWord(PROC_EVENT_FORK), Jt: 0, Jf: j(9, 14)},
			/* 10 */ unix.SockFilter{Code: ldAbsW, K: offChildTGID},
			/* 11 */ unix.SockFilter{Code: tax},
			/* 12 */ unix.SockFilter{Code: ldAbsW, K: offChildPID},
			/* 13 */ unix.SockFilter{Code: jeqX, Jt: j(13, accept), Jf: j(13, drop)},
			/* 14 */ unix.SockFilter{Code: ldAbsW, K: offTGID},
			/* 15 */ unix.SockFilter{Code: tax},
			/* 16 */ unix.SockFilter{Code: ldAbsW, K: offPID},
			/* 17 */ unix.SockFilter{Code: jeqX, Jt: j(17, accept), Jf: j(17, drop)},
		)
	}
	return append(prog,
		unix.SockFilter{Code: retK, K: 0},            // drop
		unix.SockFilter{Code: retK, K: filterAccept}, // accept
	)
}

// bpfWord converts a host-order u32 field value to what a classic BPF word
// load (BPF_LD|BPF_W|BPF_ABS) yields for it: such loads read in network
// (big-endian) byte order, while netlink fields are in host order. Bitwise
// tests (jset) still work, since swapping bytes moves bits consistently.
func bpfWord(v uint32) uint32 {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return binary.BigEndian.Uint32(b[:])
}
