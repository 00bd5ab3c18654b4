package netlink

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// source is the seam around recvfrom: the proc connector socket, or a
// recording replayed by NewReplay. A source is used by one reading
// goroutine; close may be called from any goroutine.
type source interface {
	// recv reads one datagram into p. It returns the datagram's full
	// length (which may exceed len(p): truncated) and the sender's netlink
	// port id (0 for the kernel). With wait false it returns unix.EAGAIN
	// instead of waiting when no datagram is queued.
	recv(p []byte, wait bool) (n int, from uint32, err error)
	// close releases the source and wakes a waiting recv.
	close() error
}

// socket is a NETLINK_CONNECTOR socket on Go's runtime poller: the fd is
// non-blocking and wrapped in an os.File, so a recv waiting for data parks
// its goroutine rather than a thread, and closing the file wakes it. (A
// blocking read on a thread of its own cost more CPU per datagram here:
// the runtime takes the idle thread's P away and sysmon polls after it.)
//
// One recvmmsg reads every queued datagram, up to readAhead, into a ring
// that recv hands out one by one; a short read means the socket is empty,
// which spares the read that would only fail with EAGAIN.
type socket struct {
	file *os.File
	rc   syscall.RawConn

	// The ring, owned by the reading goroutine.
	slots   [readAhead][datagramBuffer]byte
	names   [readAhead]unix.RawSockaddrNetlink
	iovs    [readAhead]unix.Iovec
	msgs    [readAhead]mmsghdr
	next    int    // first slot not handed out yet
	ready   int    // slots filled by the last recvmmsg
	drained bool   // the last recvmmsg found the socket empty
	readAt  uint64 // the kernel's clock just before the last recvmmsg
	now     kernelNow

	// State of the current fill, kept here so that fillFn and fillNow,
	// bound once, need no per-call closure allocation.
	wait    bool
	err     error
	fillFn  func(fd uintptr) bool
	fillNow func(fd uintptr)
}

// readAhead is how many datagrams one recvmmsg may return: a storm queues
// them faster than one per wake-up.
const readAhead = 32

// mmsghdr is struct mmsghdr (include/linux/socket.h), which x/sys/unix
// does not define.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// openSocket creates the socket, sizes its receive buffer, attaches the
// filter and binds it to the proc connector's multicast group. A polled
// socket is on the runtime poller, so a recv can wait for it; one that is
// not can only be read with wait false, and its datagrams wake no thread.
func openSocket(rcvbuf int, mask EventMask, leadersOnly, polled bool) (s *socket, forced bool, err error) {
	flags := unix.SOCK_DGRAM | unix.SOCK_CLOEXEC
	if polled {
		flags |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(unix.AF_NETLINK, flags, NETLINK_CONNECTOR)
	if err != nil {
		return nil, false, fmt.Errorf("socket NETLINK_CONNECTOR: %w", classify(err))
	}
	closeFD := true
	defer func() {
		if closeFD {
			_ = unix.Close(fd)
		}
	}()
	// SO_RCVBUFFORCE (CAP_NET_ADMIN) ignores net.core.rmem_max; SO_RCVBUF is
	// capped by it (socket(7)).
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err == nil {
		forced = true
	} else if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
		return nil, false, fmt.Errorf("setsockopt SO_RCVBUF %d: %w", rcvbuf, err)
	}
	if err := attachFilter(fd, mask, leadersOnly); err != nil {
		return nil, false, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: CN_IDX_PROC}); err != nil {
		return nil, false, fmt.Errorf("bind proc connector group %d: %w", CN_IDX_PROC, classify(err))
	}
	// os.NewFile registers a non-blocking fd with the runtime poller, and
	// leaves a blocking one off it (recv reads with MSG_DONTWAIT either way).
	f := os.NewFile(uintptr(fd), "netlink-connector")
	closeFD = false
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("netlink socket raw conn: %w", err)
	}
	s = &socket{file: f, rc: rc, now: newKernelNow()}
	for i := range s.msgs {
		s.iovs[i].Base = &s.slots[i][0]
		s.iovs[i].SetLen(datagramBuffer)
		h := &s.msgs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&s.names[i]))
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
	}
	s.fillFn = s.fill
	s.fillNow = func(fd uintptr) { s.fill(fd) }
	return s, forced, nil
}

func (s *socket) recv(p []byte, wait bool) (int, uint32, error) {
	if len(p) == 0 {
		return 0, 0, fmt.Errorf("recvmmsg: empty buffer: %w", unix.EINVAL)
	}
	if s.next == s.ready {
		if !wait && s.drained {
			return 0, 0, unix.EAGAIN
		}
		s.wait = wait
		var err error
		if wait {
			err = s.rc.Read(s.fillFn)
		} else {
			// A read that does not wait needs no poller, and no deadline
			// that passed meanwhile may cut it short: Conn.Receive relies
			// on it to see everything queued.
			err = s.rc.Control(s.fillNow)
		}
		if err != nil {
			return 0, 0, err // the file was closed, or a deadline passed
		}
		if s.err != nil {
			return 0, 0, s.err
		}
	}
	i := s.next
	s.next++
	n := int(s.msgs[i].len) // the full length (MSG_TRUNC)
	copy(p, s.slots[i][:min(n, datagramBuffer)])
	return n, s.names[i].Pid, nil
}

// fill is the RawConn.Read callback: it reads the queued datagrams into
// the ring, and returns false to wait for the poller to report the socket
// readable.
func (s *socket) fill(fd uintptr) bool {
	for i := range s.msgs {
		s.msgs[i].hdr.Namelen = unix.SizeofSockaddrNetlink
		s.msgs[i].hdr.Flags = 0
	}
	for {
		s.readAt = s.now.ns()
		// MSG_TRUNC makes netlink report the real length of a datagram
		// larger than its slot (netlink(7)). MSG_DONTWAIT: the call never
		// blocks, so it is raw, unannounced to the scheduler; an announced
		// one wakes the runtime's sysmon thread, which costs more here than
		// the read (see procfs's sys.go).
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&s.msgs[0])), readAhead, unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			s.next, s.ready, s.err = 0, int(n), nil
			s.drained = n < readAhead
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			s.drained = true
			if s.wait {
				return false
			}
		}
		s.next, s.ready, s.err = 0, 0, errno
		return true
	}
}

// discard drops every datagram queued on the socket and any ENOBUFS
// pending on it.
func (s *socket) discard() error {
	s.next, s.ready, s.drained = 0, 0, false
	for {
		s.wait = false
		if err := s.rc.Control(s.fillNow); err != nil {
			return err
		}
		switch {
		case errors.Is(s.err, unix.EAGAIN):
			s.next, s.ready = 0, 0
			return nil
		case s.err != nil && !errors.Is(s.err, unix.ENOBUFS):
			return s.err
		}
	}
}

// send writes one message to the kernel (port id 0).
func (s *socket) send(msg []byte) error {
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return !errors.Is(serr, unix.EAGAIN)
	})
	if err != nil {
		return err
	}
	return serr
}

// attachFilter sets the socket filter of fd to filterProgram's, replacing
// the one attached before (the kernel swaps them atomically).
func attachFilter(fd int, mask EventMask, leadersOnly bool) error {
	prog := filterProgram(mask, leadersOnly)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("setsockopt SO_ATTACH_FILTER: %w", err)
	}
	return nil
}

// setFilter replaces the socket's filter (see attachFilter).
func (s *socket) setFilter(mask EventMask, leadersOnly bool) error {
	var err error
	if cerr := s.rc.Control(func(fd uintptr) { err = attachFilter(int(fd), mask, leadersOnly) }); cerr != nil {
		return cerr
	}
	return err
}

func (s *socket) setReadDeadline(t time.Time) error { return s.file.SetReadDeadline(t) }

func (s *socket) setsockoptInt(level, opt, v int) error {
	var serr error
	err := s.rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) })
	if err != nil {
		return err
	}
	return serr
}

func (s *socket) getsockoptInt(level, opt int) (int, error) {
	var (
		v    int
		serr error
	)
	err := s.rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) })
	if err != nil {
		return 0, err
	}
	return v, serr
}

func (s *socket) close() error { return s.file.Close() }

// classify wraps the errnos that mean "no proc connector for us" in the
// package's sentinels, keeping the errno in the chain.
func classify(err error) error {
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT),
		// The connector's kernel socket exists only in the initial network
		// namespace; elsewhere, sending to port 0 finds no one.
		errors.Is(err, unix.ECONNREFUSED):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}
