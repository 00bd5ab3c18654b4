package process

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/module/process/execargs"
	"github.com/spawnbeat/spawnbeat/module/process/netlink"
)

// kernel is where the kernel's records come in: the proc connector's
// events (netlink: fork, exec, exit and credential changes, merged there
// in the kernel's order) and, where the program could be loaded, each
// exec's image (execargs), paired here with its exec event. Its conn and
// tap are read by Stats from any goroutine, and the wake-up settings are
// set from any (setWake); the rest belongs to the Source's.
type kernel struct {
	conn  atomic.Pointer[netlink.Conn]
	tap   atomic.Pointer[execargs.Tap] // nil: no images; /proc gives everything
	clock *netlink.Clock               // dates the events; nil in poll mode

	// wake is what Source.WakeFor asked for last, applied to the tap and
	// the conn once they are open; mu orders it against open.
	mu   sync.Mutex
	wake wakeFor
}

// wakeFor names the execs that storms must not delay (Source.WakeFor).
type wakeFor struct {
	some bool // only these: a storm's others may wait coalesceWatched
	ways []execargs.Way
}

// open loads the exec program as execArgs says, then subscribes to the
// proc connector as mode says. It returns nil, nil when the Source is to
// poll /proc instead.
func (k *kernel) open(opts Options, log *zap.Logger, events netlink.EventMask) (*netlink.Conn, error) {
	if opts.Mode == ModePoll {
		log.Info("capturing by polling /proc, as configured", zap.Duration("poll_period", opts.PollPeriod))
		return nil, nil
	}
	// The program first, so that every exec the connector reports has its
	// record.
	if err := k.openTap(opts.ExecArgs, log); err != nil {
		return nil, err
	}
	nopts := netlink.Options{ReceiveBuffer: opts.ReceiveBuffer, Events: events, LeadersOnly: true}
	if t := k.tap.Load(); t != nil {
		nopts.Coalesce, nopts.Wake = coalesceEvery, t
	}
	conn, err := netlink.Open(nopts, log)
	switch {
	case err == nil:
		k.clock = conn.Clock()
		k.mu.Lock()
		k.conn.Store(conn)
		k.applyWake(log)
		k.mu.Unlock()
		log.Info("capturing with the kernel's proc connector", zap.Int("receive_buffer", opts.ReceiveBuffer))
		return conn, nil
	case opts.Mode == ModeAuto && (errors.Is(err, netlink.ErrUnsupported) || errors.Is(err, netlink.ErrPermission)):
		k.closeTap(log) // polling has no exec events to pair it with
		log.Warn("the proc connector cannot be used; polling /proc instead: processes that live shorter than the poll period are missed",
			zap.Error(err), zap.Duration("poll_period", opts.PollPeriod))
		return nil, nil
	}
	k.closeTap(log)
	return nil, fmt.Errorf("open the proc connector: %w", err)
}

// openTap loads the program that takes each exec's image in the kernel,
// unless the image is to be read from /proc. In auto, a kernel that does
// not allow it leaves /proc alone, and the log says why.
func (k *kernel) openTap(execArgs string, log *zap.Logger) error {
	if execArgs == ArgsProc {
		log.Info("reading exec'd processes' arguments, executable and working directory from /proc, as configured")
		return nil
	}
	t, err := execargs.Open()
	// Loading parsed the kernel's BTF for the relocations: some 5 MiB of
	// heap, garbage now, that the runtime would otherwise keep a while.
	debug.FreeOSMemory()
	switch {
	case err == nil:
		k.tap.Store(t)
		log.Info("taking exec'd processes' arguments in the kernel at each exec, with their executable, working directory, process group, session and terminal (BPF on sched_process_exec)")
		return nil
	case execArgs == ArgsKernel:
		return fmt.Errorf("take exec arguments in the kernel: %w", err)
	}
	log.Warn("exec arguments cannot be taken in the kernel; reading them, the executable and the working directory from /proc after each exec event, which misses those of processes that exit within a millisecond or so",
		zap.Error(err))
	return nil
}

func (k *kernel) closeTap(log *zap.Logger) {
	if t := k.tap.Swap(nil); t != nil {
		if err := t.Close(); err != nil {
			log.Warn("close the exec program", zap.Error(err))
		}
	}
}

// image returns the image the program took at exec event e, valid until
// the next call; ok is false when there is none (no program, a full ring).
func (k *kernel) image(e *netlink.Event) (im execargs.Image, ok bool) {
	t := k.tap.Load()
	if t == nil {
		return execargs.Image{}, false
	}
	return t.Take(e.TGID, e.Timestamp)
}

// setWake asks for w, and applies it if the kernel is open.
func (k *kernel) setWake(w wakeFor, log *zap.Logger) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.wake = w
	k.applyWake(log)
}

// applyWake gives the tap the names that wake the reader and the conn its
// storm period: coalesceWatched when those names are all that detection
// needs at once, else coalesceEvery. Each change goes in the order that
// never lets an exec that needs it wait the longer period. mu is held.
func (k *kernel) applyWake(log *zap.Logger) {
	t, c := k.tap.Load(), k.conn.Load()
	if t == nil || c == nil {
		return
	}
	if k.wake.some {
		err := t.SetWake(k.wake.ways)
		if err == nil {
			c.SetCoalesce(coalesceWatched)
			log.Info("in an exec storm, the execs the rules can match are read at once and the others every 40 ms",
				zap.Int("ways", len(k.wake.ways)))
			return
		}
		log.Warn("cannot have the exec program wake spawnbeat for the execs the rules can match; exec storms are read every 10 ms instead",
			zap.Error(err))
	} else {
		log.Info("the rules may match any exec: in an exec storm, execs are read every 10 ms")
	}
	c.SetCoalesce(coalesceEvery)
	if err := t.SetWake(nil); err != nil {
		log.Warn("clear the names that wake spawnbeat", zap.Error(err))
	}
}

// waiting reports whether the exec program woke the reader for an exec
// whose event has not arrived yet (see netlink.Conn.Hurry): one written
// within the last hurryFor; an older one's event was lost.
func (k *kernel) waiting() bool {
	t := k.tap.Load()
	return t != nil && t.Waiting(hurryFor)
}

// hurryFor bounds how long the reader hurries after an exec the program
// woke it for (kernel.waiting).
const hurryFor = 20 * time.Millisecond

// stats fills the kernel's counters into st.
func (k *kernel) stats(st *Stats) {
	if c := k.conn.Load(); c != nil {
		st.Kernel = c.Stats()
	}
	if t := k.tap.Load(); t != nil {
		st.ExecArgs = t.Stats()
	}
}

// coalesceEvery spaces out the reads of an exec storm (netlink's
// Options.Coalesce): a wake-up costs the reading thread a context switch,
// some 40 µs on the VMs measured, and at one exec per wake-up that was a
// quarter of the agent's CPU. During a storm an exec then waits up to this
// long more before it is handled; its image was taken at the exec, so
// nothing is lost by the wait. 10 ms keeps that wait within the detection
// latency's 10 ms budget, and cost 0.71-0.92x the CPU of 5 ms side by side
// (docs/performance.md). Without the exec program, /proc must be read as
// soon as possible, and execs wake the reader one by one.
const coalesceEvery = 10 * time.Millisecond

// coalesceWatched is the storm period when the rules can only match execs
// of some names (Source.WakeFor): the exec program wakes the reader at
// once for those, so detection waits for no period, and the rest, whose
// documents only go to the output (which batches them for a second
// anyway), wait up to this long. It cost 0.64-0.78x the CPU of 10 ms side
// by side (docs/performance.md).
const coalesceWatched = 40 * time.Millisecond
