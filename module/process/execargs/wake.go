package execargs

import (
	"bytes"
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

// Way is one way an exec may need reading at once: its name (the
// executable's base name) matches one of Names, or any name when Names is
// nil, and its parent's matches one of Parents, or any when Parents is
// nil.
type Way struct {
	Names, Parents []Name
}

// MaxWakeWays is how many ways SetWake takes (a bit each in the
// program's maps), and MaxWakeNames how many distinct names each side
// (exec.c's WAKE_NAMES_MAX).
const (
	MaxWakeWays  = 64
	MaxWakeNames = 1024
)

// SetWake replaces the ways that make an exec wake the reader at once;
// the record of any other exec waits for the reader's next read, and
// none wakes it until SetWake is called. The kernel compares the first 15
// bytes of a name (a comm's length): a longer Text counts as a prefix of
// its first 15 bytes, which can only wake the reader for more execs,
// never fewer. While it runs, every exec wakes the reader. It may be
// called from any goroutine, but not from two at once.
func (t *Tap) SetWake(ways []Way) error {
	if len(ways) > MaxWakeWays {
		return fmt.Errorf("set the execs that wake the reader: %d ways, more than %d", len(ways), MaxWakeWays)
	}
	names, parents := map[execWakeKey]uint64{}, map[execWakeKey]uint64{}
	var anyName execWakeAnyWays // the ways that take any name, or any parent's
	for i, w := range ways {
		bit := uint64(1) << i
		anyName.Name |= addWay(names, w.Names, bit)
		anyName.Parent |= addWay(parents, w.Parents, bit)
	}
	if len(names) > MaxWakeNames || len(parents) > MaxWakeNames {
		return fmt.Errorf("set the execs that wake the reader: %d and %d names, more than %d", len(names), len(parents), MaxWakeNames)
	}
	zero, all := uint32(0), execWakeAnyWays{Name: ^uint64(0), Parent: ^uint64(0)}
	if err := t.objs.WakeAny.Put(&zero, &all); err != nil {
		return fmt.Errorf("set the execs that wake the reader: %w", err)
	}
	if err := errors.Join(replaceNames(t.objs.WakeNames, names), replaceNames(t.objs.WakeParents, parents)); err != nil {
		return err // every exec keeps waking the reader
	}
	if err := t.objs.WakeAny.Put(&zero, &anyName); err != nil {
		return fmt.Errorf("set the execs that wake the reader: %w", err)
	}
	return nil
}

// addWay adds bit to the entries of names, and returns it when there are
// none: any name will do.
func addWay(entries map[execWakeKey]uint64, names []Name, bit uint64) (anyName uint64) {
	if names == nil {
		return bit
	}
	for _, n := range names {
		entries[wakeKey(n)] |= bit
	}
	return 0
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

// replaceNames makes m hold entries, each with the bits of the entries
// it starts with as well: the trie returns only the longest match.
func replaceNames(m *ebpf.Map, entries map[execWakeKey]uint64) error {
	for k, bits := range entries {
		for p, more := range entries {
			if n := p.Prefixlen / 8; p.Prefixlen < k.Prefixlen && bytes.Equal(p.Name[:n], k.Name[:n]) {
				bits |= more
			}
		}
		if err := m.Put(&k, bits); err != nil {
			return fmt.Errorf("set the wake name %q: %w", k.Name[:k.Prefixlen/8], err)
		}
	}
	var (
		k     execWakeKey
		v     uint64
		stale []execWakeKey
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if _, ok := entries[k]; !ok {
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
