package engine

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of Limits.
const (
	DefaultMaxPending = 4096
	DefaultMaxSpan    = time.Hour
)

// freeListCap bounds the partial sequences and key entries a Tracker keeps
// for reuse, so that a storm's peak does not stay allocated.
const freeListCap = 64

// Limits bounds the partial sequences of one rule.
type Limits struct {
	// MaxPending is the most partial sequences held at once; 0 means
	// DefaultMaxPending.
	MaxPending int
	// MaxSpan is how long a partial sequence of a query without maxspan
	// is held, from its first event; 0 means DefaultMaxSpan.
	MaxSpan time.Duration
}

// TrackerStats counts what happened to a Tracker's partial sequences. It is
// a plain value.
type TrackerStats struct {
	Pending   int64  `json:"pending"`   // held now
	Evicted   uint64 `json:"evicted"`   // dropped to stay within MaxPending
	Expired   uint64 `json:"expired"`   // dropped once older than maxspan (or MaxSpan)
	Cancelled uint64 `json:"cancelled"` // dropped by an until event
}

// Tracker holds the partial sequences of one sequence rule: for each join
// key, at most one partial sequence waiting at each step, as in
// Elasticsearch's state machine (a newer one replaces the older). Memory is
// bounded by Limits: partial sequences expire by maxspan, and past
// MaxPending the least advanced, longest waiting one is evicted (or the new
// one is dropped when every held one is more advanced).
//
// A Tracker is owned by one goroutine at a time (Sequence.Eval); Stats may
// be called concurrently with it.
type Tracker struct {
	limits  Limits
	seed    maphash.Seed
	keys    map[uint64]*keyEntry // by hash of the key values; collisions chained
	byStart list                 // every partial, in order of their first event
	byStage []list               // partials waiting at step i, in order of arrival there
	pending int

	freeP *partial  // reusable partials, linked through next[startList]
	freeK *keyEntry // reusable key entries, linked through chain
	nFree [2]int    // lengths of freeP, freeK
	slots int       // steps a partial can wait at: steps-1
	span  int64     // how long a partial lives from its first event, ms
	key   []byte    // the encoded join key being looked up (reused)

	matched []bool // per step, for the document being evaluated

	stats struct {
		pending                     atomic.Int64
		evicted, expired, cancelled atomic.Uint64
	}
}

// list link indexes of a partial.
const (
	startList = iota
	stageList
)

// Inline capacities: most sequences have a few steps, so a partial and a
// key entry are one allocation each.
const (
	inlineIDs   = 4
	inlineSlots = 4
)

// partial is a sequence matched up to step stage (0-based).
type partial struct {
	entry      *keyEntry
	stage      int
	start      int64    // @timestamp of its first event, ms
	ids        []string // event.id of each matched event, first first
	prev, next [2]*partial
	idsArr     [inlineIDs]string
}

// keyEntry holds the partial sequences of one join key.
type keyEntry struct {
	hash     uint64
	key      string     // the encoded join key (appendKey), a copy
	slots    []*partial // slots[i]: the partial waiting after step i
	used     int        // non-nil slots
	chain    *keyEntry  // next entry with the same hash
	slotsArr [inlineSlots]*partial
}

// list is an intrusive doubly linked list of partials through link which.
type list struct {
	head, tail *partial
	which      int
}

func (l *list) pushBack(p *partial) {
	w := l.which
	p.prev[w], p.next[w] = l.tail, nil
	if l.tail != nil {
		l.tail.next[w] = p
	} else {
		l.head = p
	}
	l.tail = p
}

func (l *list) remove(p *partial) {
	w := l.which
	if p.prev[w] != nil {
		p.prev[w].next[w] = p.next[w]
	} else {
		l.head = p.next[w]
	}
	if p.next[w] != nil {
		p.next[w].prev[w] = p.prev[w]
	} else {
		l.tail = p.prev[w]
	}
	p.prev[w], p.next[w] = nil, nil
}

// newTracker makes the Tracker of a sequence of steps steps whose maxspan
// is maxSpan ms (0: none, l.MaxSpan applies).
func newTracker(steps int, maxSpan int64, l Limits) *Tracker {
	if l.MaxPending <= 0 {
		l.MaxPending = DefaultMaxPending
	}
	if l.MaxSpan <= 0 {
		l.MaxSpan = DefaultMaxSpan
	}
	t := &Tracker{
		limits:  l,
		seed:    maphash.MakeSeed(),
		keys:    map[uint64]*keyEntry{},
		byStart: list{which: startList},
		byStage: make([]list, steps-1),
		slots:   steps - 1,
		span:    maxSpan,
		matched: make([]bool, steps),
	}
	if maxSpan <= 0 {
		t.span = l.MaxSpan.Milliseconds()
	}
	for i := range t.byStage {
		t.byStage[i].which = stageList
	}
	return t
}

// Stats returns the Tracker's counters. It is safe to call concurrently
// with Eval.
func (t *Tracker) Stats() TrackerStats {
	return TrackerStats{
		Pending:   t.stats.pending.Load(),
		Evicted:   t.stats.evicted.Load(),
		Expired:   t.stats.expired.Load(),
		Cancelled: t.stats.cancelled.Load(),
	}
}

// Limits returns the bounds the Tracker was made with, defaults filled in.
func (t *Tracker) Limits() Limits { return t.limits }

// expire drops the partial sequences whose first event is more than their
// span before now. Partials are created in arrival order, so those of the
// longest standing come first; a partial behind a younger one (@timestamp
// going backwards) is dropped when it reaches the front or is looked up.
func (t *Tracker) expire(now int64) {
	for p := t.byStart.head; p != nil; p = t.byStart.head {
		if now-p.start <= t.span {
			return
		}
		t.drop(p, &t.stats.expired)
	}
}

// appendKey appends v's encoding to a join key: a kind byte, then the
// value, lengths first, so that different keys never encode alike.
func appendKey(b []byte, v Value) []byte {
	switch v.Kind {
	case String:
		b = append(b, 's')
		b = binary.AppendUvarint(b, uint64(len(v.Str)))
		return append(b, v.Str...)
	case Strings:
		b = append(b, 'S')
		b = binary.AppendUvarint(b, uint64(len(v.Strs)))
		for _, s := range v.Strs {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		return b
	case Number:
		b = append(b, 'n')
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Num))
	case Bool:
		if v.Bool {
			return append(b, 't')
		}
		return append(b, 'f')
	case List:
		b = append(b, 'l')
		b = binary.AppendUvarint(b, uint64(len(v.List)))
		for _, e := range v.List {
			b = appendKey(b, e)
		}
		return b
	}
	return append(b, '0') // missing: an optional key's null
}

// hash hashes t.key.
func (t *Tracker) hash() uint64 { return maphash.Bytes(t.seed, t.key) }

// lookup returns the entry of the key in t.key, or nil.
func (t *Tracker) lookup(h uint64) *keyEntry {
	for e := t.keys[h]; e != nil; e = e.chain {
		if e.key == string(t.key) {
			return e
		}
	}
	return nil
}

// entry returns the entry of the key in t.key, creating it.
func (t *Tracker) entry(h uint64) *keyEntry {
	if e := t.lookup(h); e != nil {
		return e
	}
	e := t.freeK
	if e != nil {
		t.freeK, e.chain = e.chain, nil
		t.nFree[1]--
	} else {
		e = &keyEntry{}
		if e.slots = e.slotsArr[:]; t.slots <= inlineSlots {
			e.slots = e.slotsArr[:t.slots]
		} else {
			e.slots = make([]*partial, t.slots)
		}
	}
	e.hash, e.key = h, string(t.key)
	e.chain = t.keys[h]
	t.keys[h] = e
	return e
}

// release unlinks an entry that holds no partial and keeps it for reuse.
func (t *Tracker) release(e *keyEntry) {
	prev := (*keyEntry)(nil)
	for cur := t.keys[e.hash]; cur != nil; prev, cur = cur, cur.chain {
		if cur != e {
			continue
		}
		switch {
		case prev != nil:
			prev.chain = e.chain
		case e.chain != nil:
			t.keys[e.hash] = e.chain
		default:
			delete(t.keys, e.hash)
		}
		break
	}
	e.key, e.chain = "", nil
	if t.nFree[1] < freeListCap {
		e.chain, t.freeK = t.freeK, e
		t.nFree[1]++
	}
}

// start puts a new partial sequence at step 0 for the key in t.key,
// replacing the one waiting there.
func (t *Tracker) start(h uint64, now int64, id string) {
	e := t.entry(h)
	if old := e.slots[0]; old != nil {
		t.drop(old, nil)
		// The entry may have been released with its last partial.
		e = t.entry(h)
	} else if t.pending >= t.limits.MaxPending && !t.evict() {
		if e.used == 0 {
			t.release(e)
		}
		t.stats.evicted.Add(1)
		return
	}
	p := t.freeP
	if p != nil {
		t.freeP, p.next[startList] = p.next[startList], nil
		t.nFree[0]--
	} else {
		p = &partial{}
		p.ids = p.idsArr[:0]
	}
	p.entry, p.stage, p.start = e, 0, now
	p.ids = append(p.ids[:0], strings.Clone(id))
	e.slots[0] = p
	e.used++
	t.byStart.pushBack(p)
	t.byStage[0].pushBack(p)
	t.pending++
	t.stats.pending.Store(int64(t.pending))
}

// evict drops the partial sequence at the earliest step that has waited
// there longest, to make room for a new one at step 0. It returns false,
// dropping nothing, when no partial is waiting at step 0: every one held
// has matched more steps than the newcomer, which is then the one to go.
func (t *Tracker) evict() bool {
	p := t.byStage[0].head
	if p == nil {
		return false
	}
	t.drop(p, &t.stats.evicted)
	return true
}

// advance moves p from the step before `to` to step to, adding the event
// id, and replaces the partial sequence waiting there.
func (t *Tracker) advance(p *partial, to int, id string) {
	e := p.entry
	if old := e.slots[to]; old != nil {
		t.drop(old, nil)
	}
	e.slots[p.stage] = nil
	t.byStage[p.stage].remove(p)
	p.stage = to
	p.ids = append(p.ids, strings.Clone(id))
	e.slots[to] = p
	t.byStage[to].pushBack(p)
}

// drop removes p; counter, when not nil, counts why.
func (t *Tracker) drop(p *partial, counter *atomic.Uint64) {
	e := p.entry
	e.slots[p.stage] = nil
	e.used--
	t.byStart.remove(p)
	t.byStage[p.stage].remove(p)
	t.pending--
	t.stats.pending.Store(int64(t.pending))
	if counter != nil {
		counter.Add(1)
	}
	if e.used == 0 {
		t.release(e)
	}
	clear(p.ids)
	p.ids, p.entry = p.ids[:0], nil
	if t.nFree[0] < freeListCap {
		p.next[startList], t.freeP = t.freeP, p
		t.nFree[0]++
	}
}

// cancel drops every partial sequence of e (an until event).
func (t *Tracker) cancel(e *keyEntry) {
	for _, p := range e.slots {
		if p != nil {
			t.drop(p, &t.stats.cancelled)
		}
	}
}
