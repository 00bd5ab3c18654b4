package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// launchers is how many goroutines start a storm's processes.
const launchers = 2

// kind is one sort of storm process.
type kind struct {
	Name string // as the table shows it
	Tag  string // in markers: short, no dashes
	argv func(marker string) []string
}

// stormKinds are the storms: a process that exits at once (its /proc entry is
// often gone before anyone reads it) and one that lives ≥ 5 ms. The marker
// is always a whole argument; "; exit 0" keeps dash from exec'ing sleep in
// place of itself, so the sh process keeps its own argv while it lives.
func stormKinds() []kind {
	return []kind{
		{Name: "/bin/true", Tag: "true", argv: func(m string) []string { return []string{"/bin/true", m} }},
		{Name: "sh -c 'sleep 0.005'", Tag: "sh", argv: func(m string) []string { return []string{"/bin/sh", "-c", "sleep 0.005; exit 0", m} }},
	}
}

// launcher starts processes with stdio on /dev/null and reaps each in the
// background. It is safe for concurrent use.
type launcher struct {
	attr syscall.ProcAttr
	wg   sync.WaitGroup
}

func newLauncher(devnull *os.File) *launcher {
	fd := devnull.Fd()
	return &launcher{attr: syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{"PATH=/usr/bin:/bin", "LC_ALL=C"},
		Files: []uintptr{fd, fd, fd},
	}}
}

// start fork+execs argv (Go's ForkExec is a vfork-style clone, like
// posix_spawn) and returns the child's pid once the exec has succeeded.
func (l *launcher) start(argv []string) (int, error) {
	for attempt := 0; ; attempt++ {
		pid, err := syscall.ForkExec(argv[0], argv, &l.attr)
		if err == nil {
			l.wg.Add(1)
			go l.reap(pid)
			return pid, nil
		}
		// EAGAIN: the process limit, briefly, at the maximum rate.
		if !errors.Is(err, syscall.EAGAIN) || attempt == 100 {
			return 0, fmt.Errorf("launch %s: %w", argv[0], err)
		}
		time.Sleep(time.Millisecond)
	}
}

// reap waits for pid only, never for -1: spawnbeat and forkstat are the
// harness's children too, and os/exec must reap those itself.
func (l *launcher) reap(pid int) {
	defer l.wg.Done()
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}

// wait returns once every process started so far has been reaped.
func (l *launcher) wait() { l.wg.Wait() }

// markers names the processes of one storm: prefix + index, a whole
// argument that no other process carries. A value, safe for concurrent use.
type markers struct {
	prefix string
	n      int
}

func (m markers) marker(i int) string { return m.prefix + strconv.Itoa(i) }

// index finds the storm index carried by args: the digits that follow the
// prefix in any argument (the marker may sit inside a longer argument, as
// in the attacks' python -c code).
func (m markers) index(args []string) (int, bool) {
	for _, a := range args {
		at := strings.Index(a, m.prefix)
		if at < 0 {
			continue
		}
		digits := a[at+len(m.prefix):]
		end := 0
		for end < len(digits) && digits[end] >= '0' && digits[end] <= '9' {
			end++
		}
		i, err := strconv.Atoi(digits[:end])
		if err == nil && i >= 0 && i < m.n {
			return i, true
		}
	}
	return 0, false
}

// storm is what one storm launched: a value owned by its caller.
type storm struct {
	pids    []int // pids[i] carries marker i; 0 when its launch failed
	failed  int
	elapsed time.Duration // first launch to last
	err     error         // the first launch error, if any
}

// run launches m.n processes of kind k from two goroutines: at rate per
// second in total (each on its own schedule, catching up when late), or as
// fast as they can when rate is 0.
func (l *launcher) run(ctx context.Context, k kind, m markers, rate int) storm {
	st := storm{pids: make([]int, m.n)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	begin := time.Now()
	for g := range launchers {
		wg.Go(func() {
			for i := g; i < m.n && ctx.Err() == nil; i += launchers {
				if rate > 0 {
					due := begin.Add(time.Duration(i) * time.Second / time.Duration(rate))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				pid, err := l.start(k.argv(m.marker(i)))
				if err != nil {
					mu.Lock()
					st.failed++
					if st.err == nil {
						st.err = err
					}
					mu.Unlock()
					continue
				}
				st.pids[i] = pid // each index is written by one goroutine only
			}
		})
	}
	wg.Wait()
	st.elapsed = time.Since(begin)
	return st
}
