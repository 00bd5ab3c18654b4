package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Errors of this package. Open and Receive wrap them, so compare with
// errors.Is.
var (
	// ErrUnsupported means there is no proc connector for this process:
	// the kernel lacks CONFIG_PROC_EVENTS, or the process is not in the
	// initial network, user and PID namespaces. Fall back to polling /proc.
	ErrUnsupported = errors.New("netlink: proc connector not available")
	// ErrPermission means the process lacks CAP_NET_ADMIN (in the initial
	// user namespace), which subscribing needs.
	ErrPermission = errors.New("netlink: no permission to subscribe to the proc connector")
	// ErrLost means the kernel dropped messages because the receive buffer
	// was full (ENOBUFS). The Conn stays usable; the caller should resync
	// from /proc and call Receive again.
	ErrLost = errors.New("netlink: proc connector messages lost (ENOBUFS)")
	// ErrClosed is returned by Receive after Close. Such errors also match
	// net.ErrClosed.
	ErrClosed = errors.New("netlink: connection closed")
	// ErrInvalidOptions reports Options that Open cannot use.
	ErrInvalidOptions = errors.New("netlink: invalid options")
)

// DefaultReceiveBuffer is the socket receive buffer Open asks for when
// Options.ReceiveBuffer is 0. A proc event is a 76-byte datagram, but the
// kernel charges its skb's truesize, about 700 bytes (measured on 6.18),
// against a buffer it doubles on set: 8 MiB holds some 20,000 events,
// over ten seconds of the fastest exec storm this kind of machine makes.
const DefaultReceiveBuffer = 8 << 20

const (
	// datagramBuffer is the size of the read buffer and of each of the
	// sockets' read-ahead slots. A proc connector datagram is 76 bytes;
	// 512 leaves room for growth (a longer one is dropped and counted,
	// Stats.Truncated) and packs a period's datagrams into a few pages
	// instead of one page each: each page touched after a wake-up costs
	// its TLB miss again, and fewer cost 0.92-0.98x the CPU of page-sized
	// slots side by side (docs/performance.md).
	datagramBuffer = 512
	// maxBatch caps the events one Receive returns, so that a storm does
	// not starve the caller.
	maxBatch = 256
	// ackTimeout bounds Open's wait for the kernel's answer to
	// PROC_CN_MCAST_LISTEN. The kernel answers synchronously, so the wait
	// is only long when no answer comes at all.
	ackTimeout = 2 * time.Second
	// sideTickMin and sideTickMax bound the tick at which Receive reads
	// the side socket when no exec wakes it, which is the longest an exit
	// or a fork waits to be returned. The tick doubles while it finds
	// nothing, so that an idle agent wakes about once a second (each
	// wake-up of a timer costs the Go runtime several context switches),
	// and a tick that finds events brings it back to sideTickMin. At the
	// default buffer the side socket holds some 20,000 events: a fork storm
	// without execs overflows it between two ticks only past 20,000 events
	// a second, and then loses them as counted losses (ErrLost).
	sideTickMin = 100 * time.Millisecond //nolint:revive // Min: the minimum, not minutes
	sideTickMax = time.Second
	// stormQuietTicks is how many Coalesce periods in a row without an
	// exec end a storm (see Conn).
	stormQuietTicks = 8
	// stormExecs is how many execs, each read less than a Coalesce period
	// after the one before, begin a storm (see Conn). Two are not enough:
	// a program that starts another (python's pty.spawn of a shell, a
	// shell's pipeline) makes two execs within a few ms, and its next exec
	// would then wait a period.
	stormExecs = 4
	// coalesceMinBuffer is the smallest receive buffer (as granted, that
	// is doubled) with which Open keeps Options.Coalesce: in a storm the
	// side socket queues every event for a period, and at ~700 bytes of
	// truesize an event, 1 MiB holds some 1,500 (a few ms of the fastest
	// storms). With less, a storm's period overflows it.
	coalesceMinBuffer = 1 << 20
)

// Options configure Open and NewReplay. A plain value; Open copies it.
type Options struct {
	// ReceiveBuffer is the socket receive buffer size in bytes, set with
	// SO_RCVBUFFORCE, or SO_RCVBUF (capped by net.core.rmem_max) when
	// forcing is not permitted. 0 means DefaultReceiveBuffer.
	ReceiveBuffer int
	// Events selects the event types to receive; the kernel drops the
	// others before queueing them (a socket filter). 0 means MaskDefault
	// (fork, exec, exit).
	Events EventMask
	// LeadersOnly drops the events of threads other than a thread-group
	// leader — a thread's creation, exit or credential change — in the
	// kernel (and in user space for a replay): a process starts and ends
	// with its leader, and threaded programs make many more of them.
	LeadersOnly bool
	// Coalesce, when not 0, spaces out the wake-ups of an exec storm
	// (with a receive buffer of 1 MiB or more, as granted; see
	// coalesceMinBuffer): once stormExecs execs in a row wake Receive each
	// less than a Coalesce period after the one before, the exec socket
	// stops waking it, and the exec events are read with the others from
	// the side socket every Coalesce period, until stormQuietTicks periods
	// in a row find none (see Conn). An exec then waits at most a period
	// more; execs rarer than that wake Receive at once, as without it.
	// SetCoalesce changes the period of the storms to come.
	Coalesce time.Duration
	// Wake, when not nil, ends a storm period's wait early: its file
	// descriptor turns readable, an edge, for an exec that must be read
	// at once (the exec program's ring, for the execs the rules watch).
	Wake Waker
}

// Waker is what may end a storm period's wait early (Options.Wake).
type Waker interface {
	// WakeFD is a file descriptor whose every wake-up of its pollers
	// stands for an exec to read at once; it stays the Waker's.
	WakeFD() int
}

func (o Options) withDefaults() (Options, error) {
	if o.ReceiveBuffer == 0 {
		o.ReceiveBuffer = DefaultReceiveBuffer
	}
	if o.Events == 0 {
		o.Events = MaskDefault
	}
	if o.ReceiveBuffer < 0 {
		return o, fmt.Errorf("receive buffer %d: %w", o.ReceiveBuffer, ErrInvalidOptions)
	}
	if o.Events&^MaskAll != 0 {
		return o, fmt.Errorf("event mask %#x has unknown bits %#x: %w", uint32(o.Events), uint32(o.Events&^MaskAll), ErrInvalidOptions)
	}
	return o, nil
}

// Stats are a Conn's counters since Open: a snapshot, a plain value.
type Stats struct {
	Datagrams uint64 // datagrams read from the socket (or recording)
	Events    uint64 // events returned by Receive
	Lost      uint64 // receives that failed with ENOBUFS: each means one or more messages dropped by the kernel
	Rejected  uint64 // datagrams from a sender other than the kernel (nl_pid != 0), dropped
	Malformed uint64 // datagrams that did not decode in full; the events before the fault are kept
	Truncated uint64 // datagrams larger than the read buffer, dropped
	Filtered  uint64 // events decoded but not selected by Options.Events, dropped
	Storms    uint64 // exec storms whose wake-ups were spaced out (Options.Coalesce)
	Woken     uint64 // storm periods ended early by the Waker (Options.Wake)
}

type counters struct {
	datagrams, events, lost, rejected, malformed, truncated, filtered, storms, woken atomic.Uint64
}

// Conn receives proc connector events.
//
// When the events selected are exec and others, Open subscribes with two
// sockets. Only the exec socket is on the runtime poller: an exec wakes
// Receive at once, because what the caller reads of the process (its
// exec image, its /proc entry) must be read before it is gone. The others (fork, exit, credential changes) queue on the side
// socket, which wakes nobody: Receive reads it after every exec, and every
// tick when no exec comes (see sideTickMin), and merges both by the
// kernel's timestamps. Each wake-up costs a thread a context switch, and
// a process makes three events; reading them in one wake-up cut the CPU
// per exec (docs/performance.md, History).
//
// A wake-up costs the reading thread a context switch, so a storm of execs
// would wake it once per exec. With Options.Coalesce, Receive counts the
// storm as begun when stormExecs execs in a row wake it each less than a
// period after the one before (a wake-up may read several): the
// side socket's filter then lets exec events in too, the exec socket's
// lets none, and Receive reads the side socket every period, taking what
// queued meanwhile in one go. stormQuietTicks periods in a row without an
// exec end the storm, and the filters go back. (Each switch of a filter
// costs the kernel a compile of it, some 100 µs: a storm that ended at its
// first quiet period came and went dozens of times a second.) Each switch
// lets execs into the new socket before it stops them at the old one, so
// that none is missed; an exec that reached both is returned once.
//
// With Options.Wake, the Waker's signal ends a period's sleep at once:
// the exec program's ring signals for an exec a rule could match, so that
// SetCoalesce may set a longer period for the rest.
//
// The merge returns only events older than the cutoff, the moment just
// before the polled socket's last read (which found it drained); the side
// socket is read after that read. An event is queued after its timestamp
// is taken, and in a process's own events, or a fork and its child's, each
// is queued before the next one's timestamp is taken. So whatever came
// before a returned event in those chains was queued before the cutoff,
// and both reads saw it: the fork of an exec'd process, the exec of an
// exited one. Newer events wait for the next Receive: execs at once, the
// others until the next exec or tick. One read of each socket per
// wake-up.
//
// A Conn is used by one reading goroutine: Receive, SetReadDeadline.
// Close, Stats and Clock are safe to call from any goroutine; Close wakes
// a blocked Receive.
type Conn struct {
	src  source
	sock *socket // the polled socket; nil for a replay
	side *socket // the socket of the events other than exec; nil if none
	// timer paces a storm's reads (Options.Coalesce); nil without.
	timer *periodTimer
	// period is the storm period (ns) SetCoalesce asked for; armed is
	// the one the timer runs, owned by the reading goroutine.
	period atomic.Int64
	armed  time.Duration
	opts   Options
	log    *zap.Logger
	clk    *Clock

	// Owned by the reading goroutine. The slices are allocated once;
	// Receive returns events or merged, valid until the next Receive.
	buf         []byte
	events      []Event       // from src
	sideEvents  []Event       // from side
	merged      []Event       // events and sideEvents in the kernel's order
	carry       []Event       // from src, not returned yet (see Receive)
	sideCarry   []Event       // from side, not returned yet
	lostPending bool          // an ENOBUFS seen while a batch was being gathered
	behind      bool          // the last Receive left datagrams queued (maxBatch)
	tickEvery   time.Duration // the side socket's tick, sideTickMin to sideTickMax (Coalesce in a storm)
	tickDue     time.Time
	polledMask  EventMask // the events each socket selects outside a storm
	sideMask    EventMask
	storm       bool      // execs come through the side socket, read every Coalesce
	quiet       int       // the storm's ticks in a row without an exec
	hurry       bool      // the next storm wait is cut to hurryAfter (Hurry)
	lastWake    time.Time // the last wake-up by an exec, outside a storm
	burst       int       // execs read in wake-ups each less than Coalesce after the last, outside a storm
	deadline    time.Time // the caller's (SetReadDeadline)

	seq       uint32 // cn_msg.seq and .ack of our requests
	closed    atomic.Bool
	closeOnce sync.Once
	stats     counters
}

// Open subscribes to the proc connector: it opens a NETLINK_CONNECTOR
// socket, sizes its receive buffer, attaches a socket filter for
// opts.Events, joins the CN_IDX_PROC group, sends PROC_CN_MCAST_LISTEN and
// waits for the kernel's acknowledgement. It needs CAP_NET_ADMIN and the
// initial network, user and PID namespaces; errors wrap ErrPermission or
// ErrUnsupported when those are missing, so the caller can fall back to
// polling /proc. log is narrowed with Named("netlink").
func Open(opts Options, log *zap.Logger) (*Conn, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open proc connector: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("netlink")
	if err := checkNetAdmin(); err != nil {
		return nil, fmt.Errorf("open proc connector: %w", err)
	}
	clk, err := NewClock()
	if err != nil {
		return nil, fmt.Errorf("open proc connector: %w", err)
	}
	polledMask, sideMask := splitMask(opts.Events)
	var side *socket
	if sideMask != 0 {
		// Bound to the group, the side socket receives what the kernel
		// sends; the polled socket's LISTEN below makes old kernels send.
		if side, _, err = openSocket(opts.ReceiveBuffer, sideMask, opts.LeadersOnly, false); err != nil {
			return nil, fmt.Errorf("open proc connector: %w", err)
		}
	}
	sock, forced, err := openSocket(opts.ReceiveBuffer, polledMask, opts.LeadersOnly, true)
	if err != nil {
		if side != nil {
			_ = side.close()
		}
		return nil, fmt.Errorf("open proc connector: %w", err)
	}
	c := newConn(sock, opts, log, clk)
	c.sock, c.side = sock, side
	c.polledMask, c.sideMask = polledMask, sideMask
	c.seq = uint32(time.Now().UnixNano()) | 1 // nonzero: tells our ack from others' (ack 0 → 1)
	if err := c.subscribe(); err != nil {
		// No IGNORE: before 6.6 it would take away another listener's LISTEN.
		if side != nil {
			_ = side.close()
		}
		_ = sock.close()
		return nil, fmt.Errorf("open proc connector: %w", err)
	}
	got, err := sock.getsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		got = -1
	}
	if !forced {
		log.Warn("SO_RCVBUFFORCE not permitted, receive buffer capped by net.core.rmem_max",
			zap.Int("requested_bytes", opts.ReceiveBuffer), zap.Int("granted_bytes", got))
	}
	if opts.Coalesce > 0 && got < coalesceMinBuffer {
		// A storm's period must fit in the side socket, which then
		// queues every event.
		c.opts.Coalesce = 0
		log.Info("exec storms are read at each exec: the receive buffer is too small to queue a period of one",
			zap.Int("receive_buffer_bytes", got), zap.Int("needed_bytes", coalesceMinBuffer))
	}
	if c.opts.Coalesce > 0 && side != nil {
		wake := -1
		if opts.Wake != nil {
			wake = opts.Wake.WakeFD()
		}
		if c.timer, err = newPeriodTimer(wake); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("open proc connector: %w", err)
		}
		c.period.Store(int64(c.opts.Coalesce))
	}
	log.Info("subscribed to the proc connector",
		zap.Stringer("events", opts.Events), zap.Bool("side_socket", side != nil),
		zap.Int("receive_buffer_bytes", got), zap.Bool("forced", forced))
	return c, nil
}

// splitMask divides the selected events between the polled socket and the
// side socket: exec alone is polled when others are selected too.
func splitMask(m EventMask) (polled, side EventMask) {
	if !m.Has(WhatExec) || m == EventMask(WhatExec) {
		return m, 0
	}
	return EventMask(WhatExec), m &^ EventMask(WhatExec)
}

// NewReplay returns a Conn that reads datagrams from a recording instead
// of a socket, through the same Receive path (sender check, decoding,
// event mask, loss accounting). The recording is text: lines starting
// with "#" are comments (the header names the kernel), each other line is
// "<sender nl_pid> <datagram in hex>", and a line "ENOBUFS" stands for a
// receive that failed with ENOBUFS. When the recording ends, Receive
// returns an error matching io.EOF. Options.ReceiveBuffer is ignored.
func NewReplay(r io.Reader, opts Options, log *zap.Logger) (*Conn, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("replay proc connector: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	clk, err := NewClock()
	if err != nil {
		return nil, fmt.Errorf("replay proc connector: %w", err)
	}
	return newConn(newReplaySource(r), opts, log.Named("netlink"), clk), nil
}

func newConn(src source, opts Options, log *zap.Logger, clk *Clock) *Conn {
	return &Conn{
		src:        src,
		opts:       opts,
		log:        log,
		clk:        clk,
		buf:        make([]byte, datagramBuffer),
		events:     make([]Event, 0, maxBatch+8),
		sideEvents: make([]Event, 0, maxBatch+8),
		merged:     make([]Event, 0, 2*maxBatch+16),
		carry:      make([]Event, 0, maxBatch+8),
		sideCarry:  make([]Event, 0, maxBatch+8),
	}
}

// Clock returns the clock, captured at Open, that converts the events'
// Timestamp to wall-clock time. Refresh it now and then (see Clock).
func (c *Conn) Clock() *Clock { return c.clk }

// Stats returns a snapshot of the counters.
func (c *Conn) Stats() Stats {
	s := &c.stats
	return Stats{
		Datagrams: s.datagrams.Load(),
		Events:    s.events.Load(),
		Lost:      s.lost.Load(),
		Rejected:  s.rejected.Load(),
		Malformed: s.malformed.Load(),
		Truncated: s.truncated.Load(),
		Filtered:  s.filtered.Load(),
		Storms:    s.storms.Load(),
		Woken:     s.woken.Load(),
	}
}

// SetReadDeadline sets a deadline for Receive, which then fails with an
// error matching os.ErrDeadlineExceeded. A zero t means no deadline. It is
// a no-op on a replay.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.deadline = t
	return c.armDeadline()
}

// armDeadline sets the polled socket's deadline to the caller's or to the
// side socket's next tick, whichever comes first.
func (c *Conn) armDeadline() error {
	if c.sock == nil {
		return nil
	}
	d := c.deadline
	if c.side != nil && (d.IsZero() || c.tickDue.Before(d)) {
		d = c.tickDue
	}
	if err := c.sock.setReadDeadline(d); err != nil {
		return fmt.Errorf("set read deadline: %w", c.closedOr(err))
	}
	return nil
}

// Receive blocks until at least one selected event arrives and returns
// the events of every datagram already queued, up to a batch of a few
// hundred; in a storm, a sleep the Waker or Hurry cut short returns even
// no events, so that the caller can tell whether to Hurry. The returned slice and its contents are valid until the next
// Receive: they live in one buffer that the Conn allocated once.
//
// Datagrams from senders other than the kernel, malformed or truncated
// datagrams and unselected events are dropped and counted (Stats), not
// returned as errors. Receive returns an error matching
//   - ErrLost when the kernel dropped messages (ENOBUFS): the Conn stays
//     usable; resync from /proc, then call Receive again;
//   - ErrClosed and net.ErrClosed after Close;
//   - os.ErrDeadlineExceeded after a deadline set with SetReadDeadline;
//   - io.EOF at the end of a replay.
func (c *Conn) Receive() ([]Event, error) {
	if c.lostPending && len(c.carry)+len(c.sideCarry) == 0 {
		c.lostPending = false
		return nil, fmt.Errorf("receive: %w", ErrLost)
	}
	if c.side != nil {
		return c.receiveMerged()
	}
	// One socket, or a replay: the events in the order read. carry holds
	// what came before the subscription's acknowledgement.
	evs, err := c.gather(append(c.events[:0], c.carry...), c.src, len(c.carry) == 0)
	c.events, c.carry = evs, c.carry[:0]
	if err != nil {
		return nil, err
	}
	c.stats.events.Add(uint64(len(evs)))
	return evs, nil
}

// receiveMerged is Receive with the side socket (see Conn).
func (c *Conn) receiveMerged() ([]Event, error) {
	if c.tickDue.IsZero() {
		if err := c.nextTick(true); err != nil {
			return nil, err
		}
	}
	for {
		// Wait on the polled socket unless execs are at hand. Side events
		// carried over wait for the next exec or tick, as do those queued
		// after a side read.
		wait := len(c.carry) == 0 && !c.behind
		// In a storm no exec wakes the reader: it sleeps a period, then
		// reads what queued; only the Waker may end the sleep early.
		tick := c.storm && wait
		early := false // the sleep was cut short: return even no events
		if tick {
			var err error
			if early, err = c.stormWait(); err != nil {
				return nil, fmt.Errorf("receive: %w", c.closedOr(err))
			}
			wait = false
		}
		c.sock.drained = false // on the poller: only a read tells
		c.sock.readAt = 0
		polled, err := c.gather(append(c.events[:0], c.carry...), c.src, wait)
		c.events, c.carry = polled, c.carry[:0]
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		expired := err != nil
		callerDue := (expired || tick) && !c.deadline.IsZero() && !time.Now().Before(c.deadline)
		if expired {
			// The last read was made before the wait: read again, so that
			// the cutoff below is now.
			c.sock.drained = false
			if polled, err = c.gather(polled, c.src, false); err != nil {
				return nil, err
			}
			c.events = polled
		}
		// The cutoff: the moment before the polled socket's last read,
		// which found it drained (else it stopped at maxBatch, below).
		cutoff := c.sock.readAt
		if cutoff == 0 {
			cutoff = math.MaxUint64 // no read: the batch came whole from carry and ring, at maxBatch
		}
		c.side.drained = false // not on the poller: only a read tells
		side, err := c.gather(append(c.sideEvents[:0], c.sideCarry...), c.side, false)
		c.sideEvents, c.sideCarry = side, c.sideCarry[:0]
		if err != nil {
			return nil, err
		}
		if tick {
			if !early { // a storm ends after quiet periods, whole ones
				c.quiet++
			}
			if hasExec(side) {
				c.quiet = 0
			}
			if c.quiet >= stormQuietTicks {
				if err := c.setStorm(false); err != nil {
					return nil, err
				}
				if err := c.nextTick(true); err != nil {
					return nil, err
				}
			}
		}
		if expired && !callerDue {
			if err := c.nextTick(len(side) > 0); err != nil {
				return nil, err
			}
		}
		if !expired && !c.storm && c.opts.Coalesce > 0 && len(polled) > 0 {
			if c.burstAt(time.Now(), len(polled)) { // the polled socket has execs alone
				if err := c.setStorm(true); err != nil {
					return nil, err
				}
				// No tick: the storm's sleeps read the side socket.
				c.tickDue = time.Time{}
				if err := c.armDeadline(); err != nil {
					return nil, err
				}
			}
		}
		c.behind = false
		for _, evs := range [][]Event{polled, side} {
			if len(evs) >= maxBatch {
				// Datagrams are left queued: what they hold may be older
				// than cutoff, but not older than the last event read.
				c.behind = true
				cutoff = min(cutoff, evs[len(evs)-1].Timestamp)
			}
		}
		c.merged, c.carry, c.sideCarry = mergeBefore(cutoff, polled, side, c.merged[:0], c.carry, c.sideCarry)
		switch {
		case len(c.merged) > 0:
			c.stats.events.Add(uint64(len(c.merged)))
			return c.merged, nil
		case callerDue:
			return nil, fmt.Errorf("receive: %w", os.ErrDeadlineExceeded)
		case c.lostPending:
			c.lostPending = false
			return nil, fmt.Errorf("receive: %w", ErrLost)
		case early:
			// The exec the Waker announced has not come yet: the caller
			// may want to Hurry.
			return nil, nil
		}
	}
}

// burstAt counts execs, read by a wake-up at now outside a storm, and
// reports whether a storm begins: stormExecs in a row, each read less
// than a Coalesce period after the one before.
func (c *Conn) burstAt(now time.Time, execs int) bool {
	if c.lastWake.IsZero() || now.Sub(c.lastWake) >= c.opts.Coalesce {
		c.burst = 0
	}
	c.burst += execs
	c.lastWake = now
	return c.burst >= stormExecs
}

// hasExec reports whether evs holds an exec event.
func hasExec(evs []Event) bool {
	for i := range evs {
		if evs[i].What == WhatExec {
			return true
		}
	}
	return false
}

// setStorm moves the exec events to the side socket (on) or back to the
// polled one (off); see Conn. The socket that is to take them lets them in
// before the other stops them.
func (c *Conn) setStorm(on bool) error {
	exec := EventMask(WhatExec)
	steps := []struct {
		s    *socket
		mask EventMask
	}{{c.side, c.sideMask | exec}, {c.sock, c.polledMask &^ exec}}
	if !on {
		steps = []struct {
			s    *socket
			mask EventMask
		}{{c.sock, c.polledMask}, {c.side, c.sideMask}}
	}
	for _, st := range steps {
		if err := st.s.setFilter(st.mask, c.opts.LeadersOnly); err != nil {
			return fmt.Errorf("receive: %w", c.closedOr(err))
		}
	}
	every := time.Duration(0)
	if on {
		every = time.Duration(c.period.Load())
	}
	if err := c.timer.set(every); err != nil {
		return fmt.Errorf("receive: %w", c.closedOr(err))
	}
	c.armed, c.hurry = every, false
	c.storm, c.quiet = on, 0
	c.lastWake, c.burst = time.Time{}, 0
	if on {
		c.stats.storms.Add(1)
	}
	return nil
}

// hurryAfter is how long a hurried storm wait lasts (Hurry): the exec
// event follows its record within microseconds, unless the exec'ing
// process was preempted in between.
const hurryAfter = time.Millisecond

// SetCoalesce sets the storm period (Options.Coalesce) from the next
// period on; d must be positive. With Options.Wake, a longer period delays
// only the execs the Waker does not announce. Safe from any goroutine; a
// no-op without Coalesce.
func (c *Conn) SetCoalesce(d time.Duration) {
	if d > 0 {
		c.period.Store(int64(d))
	}
}

// Hurry cuts the next storm wait to hurryAfter: the caller has the record
// of an exec the Waker announced, whose event has not arrived. Outside a
// storm an exec wakes Receive anyway.
func (c *Conn) Hurry() { c.hurry = c.storm }

// stormWait sleeps until the storm's next read, at the period asked for
// last (SetCoalesce), and reports whether it was cut short: hurried, or
// woken by the Waker.
func (c *Conn) stormWait() (early bool, err error) {
	every := time.Duration(c.period.Load())
	switch {
	case c.hurry:
		err = c.timer.setFirst(hurryAfter, every)
	case every != c.armed:
		err = c.timer.set(every)
	}
	if err != nil {
		return false, err
	}
	hurried := c.hurry
	c.armed, c.hurry = every, false
	woken, err := c.timer.wait()
	if woken {
		c.stats.woken.Add(1)
	}
	return woken || hurried, err
}

// nextTick arms the side socket's next tick: sideTickMin after a tick that
// found events, twice the last one (up to sideTickMax) after one that found
// none.
func (c *Conn) nextTick(found bool) error {
	c.tickEvery = min(2*c.tickEvery, sideTickMax)
	if found {
		c.tickEvery = sideTickMin
	}
	c.tickDue = time.Now().Add(c.tickEvery)
	return c.armDeadline()
}

// gather appends to dst the selected events of the datagrams queued on src,
// up to maxBatch in dst, waiting for the first one if wait. An ENOBUFS
// after some events is kept in lostPending, reported by the next Receive.
func (c *Conn) gather(dst []Event, src source, wait bool) ([]Event, error) {
	for {
		wait = wait && len(dst) == 0
		if !wait && len(dst) >= maxBatch {
			return dst, nil
		}
		n, from, err := src.recv(c.buf, wait)
		if err != nil {
			if c.closed.Load() {
				return dst, fmt.Errorf("receive: %w", c.closedErr())
			}
			if errors.Is(err, unix.ENOBUFS) {
				c.stats.lost.Add(1)
				if wait {
					return dst, fmt.Errorf("receive: %w", ErrLost)
				}
				c.lostPending = true // report it after the events already gathered
				return dst, nil
			}
			if !wait && errors.Is(err, unix.EAGAIN) {
				return dst, nil
			}
			return dst, fmt.Errorf("receive: %w", err)
		}
		dst = c.ingest(dst, c.buf, n, from)
	}
}

// mergeBefore appends to merged the events of polled and side older than
// cutoff, in the order of their timestamps (side first on a tie: a fork
// before its child's exec), and the newer ones to polledRest and sideRest.
// Each list keeps its own order.
func mergeBefore(cutoff uint64, polled, side, merged, polledRest, sideRest []Event) ([]Event, []Event, []Event) {
	i, j := 0, 0
	for {
		for ; i < len(polled) && polled[i].Timestamp >= cutoff; i++ {
			polledRest = append(polledRest, polled[i])
		}
		for ; j < len(side) && side[j].Timestamp >= cutoff; j++ {
			sideRest = append(sideRest, side[j])
		}
		switch {
		case i == len(polled) && j == len(side):
			return merged, polledRest, sideRest
		case j == len(side) || i < len(polled) && polled[i].Timestamp < side[j].Timestamp:
			merged = appendOnce(merged, &polled[i])
			i++
		default:
			merged = appendOnce(merged, &side[j])
			j++
		}
	}
}

// appendOnce appends e to merged, unless it is an exec event that merged
// ends with already: both sockets may receive an exec while a storm begins
// or ends (see Conn). An exec is one process's, at one kernel time.
func appendOnce(merged []Event, e *Event) []Event {
	if n := len(merged); n > 0 && e.What == WhatExec {
		if last := &merged[n-1]; last.What == WhatExec && last.TGID == e.TGID && last.Timestamp == e.Timestamp {
			return merged
		}
	}
	return append(merged, *e)
}

// ingest decodes one received datagram of length n and appends its
// selected events to dst.
func (c *Conn) ingest(dst []Event, buf []byte, n int, from uint32) []Event {
	c.stats.datagrams.Add(1)
	if from != 0 {
		// Only the kernel may speak for the proc connector; any local
		// process can unicast to our port id.
		c.stats.rejected.Add(1)
		if ce := c.log.Check(zap.DebugLevel, "dropped datagram from a non-kernel sender"); ce != nil {
			ce.Write(zap.Uint32("sender_nl_pid", from), zap.Int("bytes", n))
		}
		return dst
	}
	if n > len(buf) {
		c.stats.truncated.Add(1)
		return dst
	}
	start := len(dst)
	events, err := Decode(buf[:n], dst)
	if err != nil {
		c.stats.malformed.Add(1)
		if ce := c.log.Check(zap.DebugLevel, "malformed datagram"); ce != nil {
			ce.Write(zap.Error(err), zap.Binary("datagram", buf[:n]))
		}
	}
	// Apply the mask in user space too: the socket filter looks only at a
	// datagram's first message, and a replay has no socket filter.
	kept := start
	for i := start; i < len(events); i++ {
		if !c.opts.Events.Has(events[i].What) || c.opts.LeadersOnly && !events[i].aboutLeader() {
			if events[i].What != WhatNone {
				c.stats.filtered.Add(1)
			}
			continue
		}
		events[kept] = events[i]
		kept++
	}
	return events[:kept]
}

// subscribeAttempts bounds how often subscribe asks again when the
// kernel's answer may have been dropped by a full socket.
const subscribeAttempts = 3

// subscribe sends PROC_CN_MCAST_LISTEN and waits for the kernel's
// acknowledgement, keeping events that arrive before it for Receive.
//
// The socket is bound to the multicast group already, so on a busy host
// with a small receive buffer other listeners' events can fill it and the
// acknowledgement be dropped (ENOBUFS). The socket is therefore emptied
// just before each request — the kernel answers within the send — and the
// request is repeated when a loss was seen; since 6.6 the kernel counts a
// repeated LISTEN from one socket once.
func (c *Conn) subscribe() error {
	for attempt := 1; ; attempt++ {
		err := c.requestListen()
		if !errors.Is(err, errNoAck) {
			return err
		}
		if !c.lostPending || attempt == subscribeAttempts {
			// The kernel silently ignores requests from outside the initial
			// user and PID namespaces (drivers/connector/cn_proc.c).
			return fmt.Errorf("no acknowledgement of PROC_CN_MCAST_LISTEN within %v (not in the initial user and PID namespaces?): %w",
				ackTimeout, ErrUnsupported)
		}
		c.log.Debug("the acknowledgement of PROC_CN_MCAST_LISTEN may have been dropped (socket full); asking again",
			zap.Int("attempt", attempt))
	}
}

// errNoAck means no acknowledgement came within ackTimeout.
var errNoAck = errors.New("no acknowledgement")

// requestListen empties the socket, sends PROC_CN_MCAST_LISTEN once and
// waits for its acknowledgement.
func (c *Conn) requestListen() error {
	if err := c.sock.discard(); err != nil {
		return fmt.Errorf("empty the socket: %w", err)
	}
	c.carry, c.lostPending = c.carry[:0], false
	if err := c.sock.send(c.request(PROC_CN_MCAST_LISTEN)); err != nil {
		return fmt.Errorf("send PROC_CN_MCAST_LISTEN: %w", classify(err))
	}
	if err := c.sock.setReadDeadline(time.Now().Add(ackTimeout)); err != nil {
		return fmt.Errorf("set ack deadline: %w", err)
	}
	defer func() { _ = c.sock.setReadDeadline(time.Time{}) }()
	for {
		n, from, err := c.sock.recv(c.buf, true)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errNoAck
		}
		if errors.Is(err, unix.ENOBUFS) {
			c.stats.lost.Add(1)
			c.lostPending = true
			continue
		}
		if err != nil {
			return fmt.Errorf("receive acknowledgement: %w", err)
		}
		if from != 0 || n > len(c.buf) {
			c.carry = c.ingest(c.carry, c.buf, n, from) // counts it
			continue
		}
		c.events, _ = Decode(c.buf[:n], c.events[:0])
		acked, ackErr := false, uint32(0)
		for _, e := range c.events {
			// Since 4.x the kernel overwrites cn_msg.seq with its own per-CPU
			// counter (send_msg in cn_proc.c); only ack+1 identifies our request.
			if e.What == WhatNone && e.Ack == c.seq+1 {
				acked, ackErr = true, e.AckErr
			}
		}
		// Events that came before the ack are returned by the first Receive.
		c.carry = c.ingest(c.carry, c.buf, n, from)
		if !acked {
			continue
		}
		if ackErr != 0 {
			return fmt.Errorf("PROC_CN_MCAST_LISTEN refused: %w", classify(unix.Errno(ackErr)))
		}
		return nil
	}
}

// request builds a cn_msg carrying a proc_cn_mcast_op. It uses the 4-byte
// form that every kernel accepts (6.6 added an 8-byte struct proc_input
// with a kernel-side event filter, which older kernels silently ignore).
func (c *Conn) request(op uint32) []byte {
	const payload = 4
	b := make([]byte, NLMSG_HDRLEN+CN_MSG_LEN+payload)
	ne := binary.NativeEndian
	ne.PutUint32(b[offNlmsgLen:], uint32(len(b)))
	ne.PutUint16(b[offNlmsgType:], NLMSG_DONE)
	ne.PutUint32(b[offCnIdx:], CN_IDX_PROC)
	ne.PutUint32(b[offCnVal:], CN_VAL_PROC)
	ne.PutUint32(b[offCnSeq:], c.seq)
	ne.PutUint32(b[offCnAck:], c.seq) // echoed back as ack+1
	ne.PutUint16(b[offCnLen:], payload)
	ne.PutUint32(b[offEvent:], op)
	return b
}

// Close unsubscribes (PROC_CN_MCAST_IGNORE) and closes the socket, waking
// a blocked Receive. It is safe to call from any goroutine and more than
// once; later calls return nil.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.close() })
	return err
}

func (c *Conn) close() error {
	c.closed.Store(true)
	var errs []error
	if c.timer != nil {
		if err := c.timer.close(); err != nil {
			errs = append(errs, fmt.Errorf("close storm timer: %w", err))
		}
	}
	if c.side != nil {
		if err := c.side.close(); err != nil {
			errs = append(errs, fmt.Errorf("close side socket: %w", err))
		}
	}
	if c.sock != nil {
		// The kernel counts listeners to decide whether to build events at
		// all, and (since 6.6) stops delivering to an ignoring socket.
		if err := c.sock.send(c.request(PROC_CN_MCAST_IGNORE)); err != nil {
			errs = append(errs, fmt.Errorf("send PROC_CN_MCAST_IGNORE: %w", err))
		}
	}
	if err := c.src.close(); err != nil {
		errs = append(errs, fmt.Errorf("close socket: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close proc connector: %w", err)
	}
	return nil
}

// closedErr matches both ErrClosed and net.ErrClosed.
func (c *Conn) closedErr() error {
	return fmt.Errorf("%w (%w)", ErrClosed, net.ErrClosed)
}

func (c *Conn) closedOr(err error) error {
	if c.closed.Load() {
		return c.closedErr()
	}
	return err
}

// checkNetAdmin fails with ErrPermission when CAP_NET_ADMIN is not
// effective. The kernel's refusal otherwise arrives only as an
// acknowledgement multicast to existing listeners, so it could look like
// a timeout.
func checkNetAdmin() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if data[0].Effective&(1<<unix.CAP_NET_ADMIN) == 0 {
		return fmt.Errorf("CAP_NET_ADMIN is not effective: %w", ErrPermission)
	}
	return nil
}
