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

// periodTimer is the storm's clock (see Conn): a periodic timerfd and,
// when there is one, the Waker's file descriptor, together in an epoll
// instance on the runtime poller. Waiting for it parks the reading
// goroutine and frees its P, so that when the agent has nothing else to do
// the runtime sleeps whole: one thread waits in epoll for the next period,
// and sysmon, which polls every 20 µs to 10 ms while any P runs, sleeps
// too. (A raw nanosleep kept the P: sysmon never slept, and preempted the
// sleeper every 10 ms. A runtime timer, a read deadline say, moved earlier
// than the netpoller's wait wakes the thread in it to re-arm: the timerfd
// is an event like any other socket's.) Used by the reading goroutine;
// close may be called from any goroutine and wakes a wait.
type periodTimer struct {
	file  *os.File // the epoll instance
	rc    syscall.RawConn
	timer int // the timerfd, in the epoll instance
	wake  int // the Waker's fd, edge-triggered in the epoll instance; -1 for none

	buf    [8]byte // the expirations count, read and ignored
	evs    [2]unix.EpollEvent
	woken  bool // the last wait was ended by the Waker
	readFn func(fd uintptr) bool
}

// newPeriodTimer makes a stopped clock; wake is the Waker's file
// descriptor, or -1.
func newPeriodTimer(wake int) (t *periodTimer, err error) {
	t = &periodTimer{timer: -1, wake: wake}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	defer func() {
		if err != nil {
			_ = unix.Close(ep)
			if t.timer >= 0 {
				_ = unix.Close(t.timer)
			}
		}
	}()
	if t.timer, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, t.timer, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(t.timer)}); err != nil {
		return nil, fmt.Errorf("epoll_ctl the storm timer: %w", err)
	}
	if wake >= 0 {
		// Edge-triggered: the ring of the exec program, say, stays
		// readable while it holds records; only its wake-ups count.
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(wake)}); err != nil {
			return nil, fmt.Errorf("epoll_ctl the storm's waker: %w", err)
		}
	}
	// Non-blocking, so that os.NewFile puts it on the runtime poller.
	if err := unix.SetNonblock(ep, true); err != nil {
		return nil, fmt.Errorf("storm clock: %w", err)
	}
	t.file = os.NewFile(uintptr(ep), "netlink-storm-clock")
	if t.rc, err = t.file.SyscallConn(); err != nil {
		_ = t.file.Close()
		ep = -1
		return nil, fmt.Errorf("storm clock raw conn: %w", err)
	}
	t.readFn = t.read
	return t, nil
}

// set starts the timer, expiring every period from now, or stops it when
// every is 0.
func (t *periodTimer) set(every time.Duration) error {
	return t.setFirst(every, every)
}

// setFirst starts the timer, expiring first after first, then every
// period.
func (t *periodTimer) setFirst(first, every time.Duration) error {
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(every.Nanoseconds()), Value: unix.NsecToTimespec(first.Nanoseconds())}
	// Raw: it never blocks (see socket.fill).
	_, _, errno := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(t.timer), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("timerfd_settime: %w", errno)
	}
	return nil
}

// wait returns at the timer's next expiration, at once if one passed
// since the last wait, or when the Waker signals (woken).
func (t *periodTimer) wait() (woken bool, err error) {
	t.woken = false
	err = t.rc.Read(t.readFn)
	return t.woken, err
}

// read is the RawConn.Read callback: it takes what the epoll instance
// holds, consuming the timer's expirations, and returns false to wait for
// the poller when it holds nothing.
func (t *periodTimer) read(fd uintptr) bool {
	for {
		// Raw, with no wait: it never blocks.
		n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&t.evs[0])), uintptr(len(t.evs)), 0, 0, 0)
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			return true // the next wait meets it again
		case n == 0:
			return false
		}
		for _, ev := range t.evs[:n] {
			if int(ev.Fd) == t.wake {
				t.woken = true
				continue
			}
			for {
				_, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(t.timer), uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
				if errno != unix.EINTR {
					break // the count, or EAGAIN: another read took it
				}
			}
		}
		return true
	}
}

func (t *periodTimer) close() error {
	err := t.file.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	if err == nil {
		err = unix.Close(t.timer)
	}
	return err
}
