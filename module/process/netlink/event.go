package netlink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// What is the type of a proc connector event (proc_event.what). It is a
// plain value, safe for concurrent use.
type What uint32

// Event types, as the kernel numbers them (linux/cn_proc.h).
const (
	WhatNone     What = PROC_EVENT_NONE // an acknowledgement of a subscription request
	WhatFork     What = PROC_EVENT_FORK
	WhatExec     What = PROC_EVENT_EXEC
	WhatUID      What = PROC_EVENT_UID
	WhatGID      What = PROC_EVENT_GID
	WhatSID      What = PROC_EVENT_SID
	WhatPtrace   What = PROC_EVENT_PTRACE
	WhatComm     What = PROC_EVENT_COMM
	WhatCoredump What = PROC_EVENT_COREDUMP
	WhatExit     What = PROC_EVENT_EXIT
)

var whatNames = [...]struct {
	w    What
	name string
}{
	{WhatNone, "none"}, {WhatFork, "fork"}, {WhatExec, "exec"}, {WhatUID, "uid"},
	{WhatGID, "gid"}, {WhatSID, "sid"}, {WhatPtrace, "ptrace"}, {WhatComm, "comm"},
	{WhatCoredump, "coredump"}, {WhatExit, "exit"},
}

// String returns the event type's short name ("fork", "exec", ...), or its
// number in hex when the kernel sent a type this package does not know.
func (w What) String() string {
	for _, n := range whatNames {
		if n.w == w {
			return n.name
		}
	}
	return "0x" + strconv.FormatUint(uint64(w), 16)
}

// MarshalText encodes the type as its String, for golden files and logs.
func (w What) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (w *What) UnmarshalText(b []byte) error {
	for _, n := range whatNames {
		if n.name == string(b) {
			*w = n.w
			return nil
		}
	}
	// Types unknown to this package are written as hex by String.
	if hexDigits, ok := bytes.CutPrefix(b, []byte("0x")); ok {
		if v, err := strconv.ParseUint(string(hexDigits), 16, 32); err == nil {
			*w = What(v)
			return nil
		}
	}
	return fmt.Errorf("parse event type %q: %w", b, ErrMalformed)
}

// EventMask selects event types; bit i is set when the What with that bit
// is wanted. It is the OR of What values; a plain value, safe for
// concurrent use.
type EventMask uint32

// Masks of commonly used event sets.
const (
	// MaskDefault is what process start/end tracking needs.
	MaskDefault = EventMask(WhatFork | WhatExec | WhatExit)
	// MaskAll selects every event type the kernel reports.
	MaskAll = EventMask(WhatFork | WhatExec | WhatUID | WhatGID | WhatSID |
		WhatPtrace | WhatComm | WhatCoredump | WhatExit)
)

// String lists the selected types, e.g. "fork|exec|exit".
func (m EventMask) String() string {
	var b []byte
	for _, n := range whatNames {
		if m.Has(n.w) {
			if len(b) > 0 {
				b = append(b, '|')
			}
			b = append(b, n.name...)
		}
	}
	if rest := uint32(m) &^ uint32(MaskAll); rest != 0 {
		if len(b) > 0 {
			b = append(b, '|')
		}
		b = append(b, "0x"...)
		b = strconv.AppendUint(b, uint64(rest), 16)
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// Has reports whether m selects w. WhatNone is never selected.
func (m EventMask) Has(w What) bool { return w != WhatNone && uint32(m)&uint32(w) == uint32(w) }

// Comm is a task's command name (TASK_COMM_LEN bytes, NUL-padded), as in
// /proc/PID/comm. It is a plain array value, safe to copy and share.
type Comm [TASK_COMM_LEN]byte

// Bytes returns the name up to its first NUL. It aliases c.
func (c *Comm) Bytes() []byte {
	if i := bytes.IndexByte(c[:], 0); i >= 0 {
		return c[:i]
	}
	return c[:]
}

// String returns the name up to its first NUL.
func (c Comm) String() string { return string(c.Bytes()) }

// MarshalText encodes the name as text.
func (c Comm) MarshalText() ([]byte, error) { return c.Bytes(), nil }

// UnmarshalText sets the name; it fails when b is longer than TASK_COMM_LEN.
func (c *Comm) UnmarshalText(b []byte) error {
	if len(b) > len(c) {
		return fmt.Errorf("parse comm %q: longer than %d bytes: %w", b, len(c), ErrMalformed)
	}
	*c = Comm{}
	copy(c[:], b)
	return nil
}

// Event is one decoded proc connector event. It is one flat value type, so
// that a slice of them is decoded without allocating; which fields are set
// depends on What:
//
//	all        What, CPU, Timestamp, Seq
//	fork       ParentPID/ParentTGID (the forking task), ChildPID/ChildTGID,
//	           and PID/TGID = the child
//	exec       PID, TGID
//	uid        PID, TGID, RUID, EUID (the new credentials)
//	gid        PID, TGID, RGID, EGID
//	sid        PID, TGID (the new session leader)
//	ptrace     PID, TGID (the tracee), TracerPID, TracerTGID (0 on detach)
//	comm       PID, TGID, Comm (the new name)
//	coredump   PID, TGID, ParentPID, ParentTGID
//	exit       PID, TGID, ExitCode, ExitSignal, ParentPID, ParentTGID
//	none       AckErr, Ack (an acknowledgement of a (un)subscription)
//
// PID is the kernel's task (thread) id and TGID its thread group (process)
// id: fork and exit are reported for threads too, and a process starts or
// ends when PID == TGID.
//
// An Event is a plain value: a copy is safe to keep and share. The events
// Receive returns sit in the Conn's buffer and are overwritten by the next
// Receive, so copy the ones you keep.
type Event struct {
	What      What   `json:"what"`
	CPU       uint32 `json:"cpu"`
	Timestamp uint64 `json:"timestamp_ns"` // CLOCK_MONOTONIC nanoseconds (ktime_get_ns); see Clock
	// Seq is cn_msg.seq: the kernel's per-CPU message counter, so a gap on
	// one CPU means messages dropped, or removed by the socket filter.
	Seq uint32 `json:"seq"`

	PID        int `json:"pid,omitempty"`
	TGID       int `json:"tgid,omitempty"`
	ParentPID  int `json:"parent_pid,omitempty"`
	ParentTGID int `json:"parent_tgid,omitempty"`
	ChildPID   int `json:"child_pid,omitempty"`
	ChildTGID  int `json:"child_tgid,omitempty"`
	TracerPID  int `json:"tracer_pid,omitempty"`
	TracerTGID int `json:"tracer_tgid,omitempty"`

	// ExitCode is the kernel's task->exit_code, a wait(2) status: see WaitStatus.
	ExitCode uint32 `json:"exit_code,omitempty"`
	// ExitSignal is the signal the parent is sent (task->exit_signal:
	// normally SIGCHLD, 0xffffffff (-1) for threads), not the signal that
	// killed the task.
	ExitSignal uint32 `json:"exit_signal,omitempty"`

	RUID uint32 `json:"ruid,omitempty"`
	EUID uint32 `json:"euid,omitempty"`
	RGID uint32 `json:"rgid,omitempty"`
	EGID uint32 `json:"egid,omitempty"`

	Comm Comm `json:"comm,omitzero"`

	AckErr uint32 `json:"ack_err,omitempty"` // none: the request's errno, 0 on success
	Ack    uint32 `json:"ack,omitempty"`     // none: cn_msg.ack, the request's ack + 1
}

// aboutLeader reports whether e is about a thread-group leader (or about
// no task): a fork that creates a process, not a thread; an exit or
// credential change of the leader. An exec always is: the kernel makes
// the exec'ing thread the leader first (de_thread).
func (e *Event) aboutLeader() bool {
	switch e.What {
	case WhatNone, WhatExec:
		return true
	case WhatFork:
		return e.ChildPID == e.ChildTGID
	}
	return e.PID == e.TGID
}

// WaitStatus returns an exit event's ExitCode as a wait status, whose
// Exited/ExitStatus and Signaled/Signal methods tell how the task ended.
func (e *Event) WaitStatus() unix.WaitStatus { return unix.WaitStatus(e.ExitCode) }

// Sizes of each event type's part of union event_data (linux/cn_proc.h).
const (
	dataAck      = 4
	dataFork     = 16
	dataExec     = 8
	dataID       = 16
	dataSID      = 8
	dataPtrace   = 16
	dataComm     = 8 + TASK_COMM_LEN
	dataCoredump = 16
	dataExit     = 24
)

// ErrMalformed reports a datagram that is not a well-formed proc connector
// message. The kernel never sends one; Decode returns it for other input.
var ErrMalformed = errors.New("netlink: malformed proc connector message")

// Decode appends the events in datagram to dst and returns the extended
// slice. A datagram holds one or more netlink messages (the proc connector
// sends one per datagram, but Decode does not rely on it); messages that
// are not from the proc connector (other cn_msg ids, NLMSG_NOOP) are
// skipped. Fields are read at fixed offsets in host byte order, as the
// kernel writes them. Decode does not allocate when dst has room, keeps no
// reference to datagram, and is safe for concurrent use.
//
// On a malformed message it returns the events decoded before it and an
// error wrapping ErrMalformed.
func Decode(datagram []byte, dst []Event) ([]Event, error) {
	b := datagram
	for off := 0; len(b) > 0; {
		if len(b) < NLMSG_HDRLEN {
			return dst, fmt.Errorf("decode message at %d: %d bytes left, need a %d-byte header: %w",
				off, len(b), NLMSG_HDRLEN, ErrMalformed)
		}
		n := int(binary.NativeEndian.Uint32(b[offNlmsgLen:]))
		if n < NLMSG_HDRLEN || n > len(b) {
			return dst, fmt.Errorf("decode message at %d: nlmsg_len %d out of range [%d, %d]: %w",
				off, n, NLMSG_HDRLEN, len(b), ErrMalformed)
		}
		msg := b[:n]
		switch typ := binary.NativeEndian.Uint16(b[offNlmsgType:]); typ {
		case NLMSG_NOOP:
		case NLMSG_ERROR, NLMSG_OVERRUN:
			return dst, fmt.Errorf("decode message at %d: nlmsg_type %d: %w", off, typ, ErrMalformed)
		default:
			var err error
			if dst, err = decodeCN(msg, dst); err != nil {
				return dst, fmt.Errorf("decode message at %d: %w", off, err)
			}
		}
		// Messages are padded to NLMSG_ALIGNTO; the last one may not be.
		step := (n + NLMSG_ALIGNTO - 1) &^ (NLMSG_ALIGNTO - 1)
		if step > len(b) {
			step = len(b)
		}
		b = b[step:]
		off += step
	}
	return dst, nil
}

// decodeCN decodes one netlink message that carries a cn_msg.
func decodeCN(msg []byte, dst []Event) ([]Event, error) {
	if len(msg) < offEvent {
		return dst, fmt.Errorf("cn_msg header: message of %d bytes: %w", len(msg), ErrMalformed)
	}
	ne := binary.NativeEndian
	if ne.Uint32(msg[offCnIdx:]) != CN_IDX_PROC || ne.Uint32(msg[offCnVal:]) != CN_VAL_PROC {
		return dst, nil // another connector's message
	}
	cnLen := int(ne.Uint16(msg[offCnLen:]))
	if cnLen > len(msg)-offEvent {
		return dst, fmt.Errorf("cn_msg len %d exceeds the %d bytes after it: %w", cnLen, len(msg)-offEvent, ErrMalformed)
	}
	p := msg[offEvent : offEvent+cnLen]
	if len(p) < procHeaderLen {
		return dst, fmt.Errorf("proc_event of %d bytes, need %d: %w", len(p), procHeaderLen, ErrMalformed)
	}
	e := Event{
		What:      What(ne.Uint32(p[0:])),
		CPU:       ne.Uint32(p[4:]),
		Timestamp: ne.Uint64(p[8:]),
		Seq:       ne.Uint32(msg[offCnSeq:]),
	}
	d := p[procHeaderLen:]
	need := 0
	switch e.What {
	case WhatNone:
		need = dataAck
	case WhatFork:
		need = dataFork
	case WhatExec:
		need = dataExec
	case WhatUID, WhatGID:
		need = dataID
	case WhatSID:
		need = dataSID
	case WhatPtrace:
		need = dataPtrace
	case WhatComm:
		need = dataComm
	case WhatCoredump:
		need = dataCoredump
	case WhatExit:
		need = dataExit
	}
	if len(d) < need {
		return dst, fmt.Errorf("%s event data of %d bytes, need %d: %w", e.What, len(d), need, ErrMalformed)
	}
	// pid_t is a signed 32-bit int in the kernel.
	i32 := func(off int) int { return int(int32(ne.Uint32(d[off:]))) }
	switch e.What {
	case WhatNone:
		e.AckErr = ne.Uint32(d)
		e.Ack = ne.Uint32(msg[offCnAck:])
	case WhatFork:
		e.ParentPID, e.ParentTGID = i32(0), i32(4)
		e.ChildPID, e.ChildTGID = i32(8), i32(12)
		e.PID, e.TGID = e.ChildPID, e.ChildTGID
	case WhatExec, WhatSID:
		e.PID, e.TGID = i32(0), i32(4)
	case WhatUID:
		e.PID, e.TGID = i32(0), i32(4)
		e.RUID, e.EUID = ne.Uint32(d[8:]), ne.Uint32(d[12:])
	case WhatGID:
		e.PID, e.TGID = i32(0), i32(4)
		e.RGID, e.EGID = ne.Uint32(d[8:]), ne.Uint32(d[12:])
	case WhatPtrace:
		e.PID, e.TGID = i32(0), i32(4)
		e.TracerPID, e.TracerTGID = i32(8), i32(12)
	case WhatComm:
		e.PID, e.TGID = i32(0), i32(4)
		copy(e.Comm[:], d[8:8+TASK_COMM_LEN])
	case WhatCoredump:
		e.PID, e.TGID = i32(0), i32(4)
		e.ParentPID, e.ParentTGID = i32(8), i32(12)
	case WhatExit:
		e.PID, e.TGID = i32(0), i32(4)
		e.ExitCode, e.ExitSignal = ne.Uint32(d[8:]), ne.Uint32(d[12:])
		e.ParentPID, e.ParentTGID = i32(16), i32(20)
	}
	return append(dst, e), nil
}
