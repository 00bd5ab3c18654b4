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

// periodTimer is a periodic timerfd on the runtime poller: the storm's
// clock (see Conn). Waiting for it parks the reading goroutine and frees
// its P, so that when the agent has nothing else to do the runtime sleeps
// whole: one thread waits in epoll for the next period, and sysmon, which
// polls every 20 µs to 10 ms while any P runs, sleeps too. (A raw
// nanosleep kept the P: sysmon never slept, and preempted the sleeper
// every 10 ms. A runtime timer, a read deadline say, moved earlier than
// the netpoller's wait wakes the thread in it to re-arm: the timerfd is
// an event like any other socket's.) Used by the reading goroutine; close
// may be called from any goroutine and wakes a wait.
type periodTimer struct {
	file *os.File
	rc   syscall.RawConn

	buf    [8]byte // the expirations count, read and ignored
	readFn func(fd uintptr) bool
}

func newPeriodTimer() (*periodTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-storm-timer")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("storm timer raw conn: %w", err)
	}
	t := &periodTimer{file: f, rc: rc}
	t.readFn = t.read
	return t, nil
}

// set starts the timer, expiring every period from now, or stops it when
// every is 0.
func (t *periodTimer) set(every time.Duration) error {
	ts := unix.NsecToTimespec(every.Nanoseconds())
	spec := unix.ItimerSpec{Interval: ts, Value: ts}
	var serr error
	err := t.rc.Control(func(fd uintptr) {
		// Raw: it never blocks (see socket.fill).
		_, _, errno := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
		if errno != 0 {
			serr = errno
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("timerfd_settime: %w", serr)
	}
	return nil
}

// wait returns at the timer's next expiration, at once if one passed
// since the last wait.
func (t *periodTimer) wait() error {
	return t.rc.Read(t.readFn)
}

// read is the RawConn.Read callback: it consumes the expirations, and
// returns false to wait for the poller when there are none.
func (t *periodTimer) read(fd uintptr) bool {
	for {
		_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		return true // an expiration, or an error the next wait meets again
	}
}

func (t *periodTimer) close() error {
	if err := t.file.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
