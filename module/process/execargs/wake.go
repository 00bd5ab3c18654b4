package execargs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
)

// Name is a process name, or the start of one, whose execs wake the
// reader at once (SetWake). Compared case-insensitively.
type Name struct {
	Text   string
	Prefix bool // any name that starts with Text; else the name Text
}

// MaxWakeNames is how many names each list of SetWake may hold (exec.c's
// WAKE_NAMES_MAX).
const MaxWakeNames = 1024

// SetWake replaces the names whose execs wake the reader at once: an exec
// whose name (the executable's base name) matches one of names, or whose
// parent's matches one of parents. The record of any other exec waits for
// the reader's next read, and none wakes it until SetWake is called. The
// kernel compares the first 15 bytes of a name (a comm's length): a longer
// Text counts as a prefix of its first 15 bytes, which can only wake the
// reader for more execs, never fewer. It may be called from any
// goroutine, but not from two at once.
func (t *Tap) SetWake(names, parents []Name) error {
	if len(names) > MaxWakeNames || len(parents) > MaxWakeNames {
		return fmt.Errorf("set the names that wake the reader: %d and %d names, more than %d", len(names), len(parents), MaxWakeNames)
	}
	return errors.Join(replaceNames(t.objs.WakeNames, names), replaceNames(t.objs.WakeParents, parents))
}

// WakeFD is the ring's file descriptor: the kernel wakes its pollers when
// the program writes the record of an exec with a watched name (SetWake),
// and for no other record. In an edge-triggered epoll, each such record
// is an edge.
func (t *Tap) WakeFD() int { return t.objs.ExecRing.FD() }

// wakeKey is n as the program looks it up: lowercased, cut to 15 bytes,
// and with its NUL when it is a whole name, so that it matches no longer
// one.
func wakeKey(n Name) execWakeKey {
	text := strings.ToLower(n.Text)
	if len(text) > commLen-1 {
		text, n.Prefix = text[:commLen-1], true
	}
	k := execWakeKey{Prefixlen: uint32(8 * len(text))}
	copy(k.Name[:], text)
	if !n.Prefix {
		k.Prefixlen += 8 // the NUL, already in Name
	}
	return k
}

// replaceNames makes m hold the keys of names: the new ones first, then
// the old ones that are no longer named go, so that a name in both sets
// never stops matching meanwhile.
func replaceNames(m *ebpf.Map, names []Name) error {
	want := make(map[execWakeKey]bool, len(names))
	for _, n := range names {
		k := wakeKey(n)
		if err := m.Put(&k, uint8(1)); err != nil {
			return fmt.Errorf("set wake name %q: %w", n.Text, err)
		}
		want[k] = true
	}
	var (
		k     execWakeKey
		v     uint8
		stale []execWakeKey
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if !want[k] {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("list the wake names: %w", err)
	}
	for i := range stale {
		if err := m.Delete(&stale[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove a wake name: %w", err)
		}
	}
	return nil
}
