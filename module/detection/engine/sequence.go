package engine

import (
	"errors"
	"strconv"
	"time"

	"github.com/spawnbeat/spawnbeat/module/detection/eql"
)

// ErrUnsupported is wrapped by the CompileError of a query that parses but
// that the inline engine does not run (a sequence with missing events).
var ErrUnsupported = errors.New("not run inline")

// Sequence is a compiled sequence query over documents of type T. It is
// immutable and safe for concurrent use; the partial sequences live in a
// Tracker, which Eval updates. See the package documentation for the
// semantics.
type Sequence[T any] struct {
	query      *eql.Sequence
	steps      []seqStep[T] // the expanded steps (runs repeated), in order
	until      *seqStep[T]
	maxSpan    int64 // milliseconds; 0 when the query sets none
	timestamp  func(T) (ms int64, ok bool)
	fields     []string
	unresolved []UnresolvedField
}

// seqStep is one step (or the until condition) of a compiled sequence.
type seqStep[T any] struct {
	match *Program[T]
	keys  []Field[T] // the sequence's keys, then the step's own
	// optional[i] says keys[i] was written ?field: a missing value joins
	// with a missing value instead of keeping the event out of the step.
	optional []bool
}

// Timestamper is implemented by Resolvers that read @timestamp as Unix
// milliseconds without formatting it; CompileSequence falls back to the
// @timestamp field's Value (an RFC 3339 string or epoch milliseconds).
type Timestamper[T any] interface {
	Timestamp(doc T) (ms int64, ok bool)
}

// CompileSequence turns a parsed sequence into a Sequence over documents
// of type T. Errors are *CompileError; one wrapping ErrUnsupported marks a
// sequence that parses but does not run inline (missing events, whose
// trailing form can only be decided after maxspan has passed, long after
// the document that would carry the alert).
func CompileSequence[T any](s *eql.Sequence, r Resolver[T]) (*Sequence[T], error) {
	if s == nil || len(s.Steps) == 0 {
		return nil, &CompileError{Msg: "empty sequence"}
	}
	for _, st := range s.Steps {
		if st.Missing {
			return nil, &CompileError{Pos: st.Pos, Msg: "missing events (![...]) are not run inline", Err: ErrUnsupported}
		}
	}
	seq := &Sequence[T]{query: s, maxSpan: s.MaxSpan.Milliseconds()}
	fields := fieldUses{}
	compileStep := func(st *eql.Step) (seqStep[T], error) {
		p, err := Compile(st.Query, r)
		if err != nil {
			return seqStep[T]{}, err
		}
		fields.merge(p)
		out := seqStep[T]{match: p}
		for _, k := range append(append([]*eql.FieldRef(nil), s.By...), st.By...) {
			f, filled := r.Field(k.Name)
			fields.add(k, filled)
			out.keys = append(out.keys, f)
			out.optional = append(out.optional, k.Optional)
		}
		return out, nil
	}
	for _, st := range s.Steps {
		c, err := compileStep(st)
		if err != nil {
			return nil, err
		}
		for i := 0; i < st.Runs; i++ {
			seq.steps = append(seq.steps, c)
		}
	}
	if s.Until != nil {
		c, err := compileStep(s.Until)
		if err != nil {
			return nil, err
		}
		seq.until = &c
	}
	seq.fields, seq.unresolved = fields.lists()

	if ts, ok := r.(Timestamper[T]); ok {
		seq.timestamp = ts.Timestamp
	} else {
		f, _ := r.Field("@timestamp")
		seq.timestamp = func(doc T) (int64, bool) { return timestampMillis(f.Get(doc)) }
	}
	return seq, nil
}

// timestampMillis reads @timestamp as Elasticsearch's date type stores it:
// an RFC 3339 string or a number of epoch milliseconds, to the millisecond.
func timestampMillis(v Value) (int64, bool) {
	switch v = v.first(); v.Kind {
	case String:
		t, err := time.Parse(time.RFC3339Nano, v.Str)
		if err != nil {
			if ms, err := strconv.ParseInt(v.Str, 10, 64); err == nil {
				return ms, true
			}
			return 0, false
		}
		return t.UnixMilli(), true
	case Number:
		return int64(v.Num), true
	}
	return 0, false
}

// Query returns the query the Sequence was compiled from.
func (s *Sequence[T]) Query() *eql.Sequence { return s.query }

// Fields lists the fields the sequence references (conditions and join
// keys), sorted. The caller must not modify the slice.
func (s *Sequence[T]) Fields() []string { return s.fields }

// Unresolved lists the referenced fields that the resolver never fills,
// sorted by name. The caller must not modify the slice.
func (s *Sequence[T]) Unresolved() []UnresolvedField { return s.unresolved }

// Steps is the number of steps an event sequence must match, runs
// expanded.
func (s *Sequence[T]) Steps() int { return len(s.steps) }

// MaxSpan is the query's maxspan, or 0.
func (s *Sequence[T]) MaxSpan() time.Duration { return time.Duration(s.maxSpan) * time.Millisecond }

// NewTracker returns an empty Tracker for this sequence's partial matches,
// bounded by l.
func (s *Sequence[T]) NewTracker(l Limits) *Tracker {
	return newTracker(len(s.steps), s.maxSpan, l)
}

// Eval runs one document through the sequence, in arrival order: it
// completes, advances, starts and cancels the partial sequences held in t
// as Elasticsearch's sequence matcher would for a document that comes
// after every one before it. id names the document in the partial
// sequences it joins (the agent passes event.id). When doc completes a
// sequence, Eval returns true and the ids of the sequence's earlier
// documents, first first, in a new slice. t must be a Tracker this
// Sequence made; it is owned by the caller, who must not call Eval on it
// concurrently.
//
// A document that matches no step costs one Match per distinct step and
// no allocation; one that starts or advances a partial sequence allocates
// a bounded amount (its event.id and join key values are copied).
func (s *Sequence[T]) Eval(t *Tracker, doc T, id string) (earlier []string, completed bool) {
	if t.pending > 0 {
		if now, ok := s.timestamp(doc); ok {
			t.expire(now)
		}
	}
	// Which steps this document matches. A later step matters only when a
	// partial sequence waits at the step before it, so in the common case,
	// nothing pending, only the first step is evaluated. The steps of a
	// run share one program, evaluated once.
	var (
		prog    *Program[T]
		res     bool
		matched bool
	)
	last := len(s.steps) - 1
	for i := last; i >= 0; i-- {
		if i > 0 && t.byStage[i-1].head == nil {
			t.matched[i] = false
			continue
		}
		if st := &s.steps[i]; st.match != prog {
			prog, res = st.match, st.match.Match(doc)
		}
		t.matched[i] = res
		matched = matched || res
	}
	until := s.until != nil && (t.pending > 0 || t.matched[0]) && s.until.match.Match(doc)
	if !matched && !until {
		return nil, false
	}
	// Elasticsearch orders events by @timestamp and needs one on every
	// event; a document without it takes no part in a sequence.
	now, ok := s.timestamp(doc)
	if !ok {
		return nil, false
	}

	// Later steps first: each takes the partial sequence waiting at the step
	// before it, which an earlier event left there, before this event can
	// put a new one in its place.
	for i := last; i >= 1; i-- {
		if !t.matched[i] {
			continue
		}
		h, ok := s.key(&s.steps[i], doc, t)
		if !ok {
			continue
		}
		e := t.lookup(h)
		if e == nil || e.slots[i-1] == nil {
			continue
		}
		p := e.slots[i-1]
		if now-p.start > t.span {
			t.drop(p, &t.stats.expired)
			continue
		}
		if i == last {
			earlier = append(make([]string, 0, len(p.ids)), p.ids...)
			completed = true
			t.drop(p, nil)
			continue
		}
		t.advance(p, i, id)
	}
	if t.matched[0] {
		if h, ok := s.key(&s.steps[0], doc, t); ok {
			t.start(h, now, id)
		}
	}
	// until cancels the partial sequences of its key, including those this
	// document started or advanced: Elasticsearch rejects a match when an
	// until event lies between, inclusively, the partial sequence's last
	// event and the next step's (Ordinal.between), but only looks at until
	// events strictly before that next event (OrdinalGroup.before), so the
	// document that completes a sequence may also be an until event.
	if until {
		if h, ok := s.key(s.until, doc, t); ok {
			if e := t.lookup(h); e != nil {
				t.cancel(e)
			}
		}
	}
	return earlier, completed
}

// key encodes step's join key of doc into t.key and hashes it. ok is
// false when a key that is not optional is missing: Elasticsearch joins
// only on non-null values unless the field is written ?field.
func (s *Sequence[T]) key(st *seqStep[T], doc T, t *Tracker) (uint64, bool) {
	t.key = t.key[:0]
	for i, f := range st.keys {
		v := f.Get(doc)
		switch {
		case v.Kind == Missing && !st.optional[i]:
			return 0, false
		case v.Len() == 1:
			// A one-element array is its element, as Elasticsearch's
			// field extraction returns it.
			v = v.At(0)
		}
		t.key = appendKey(t.key, v)
	}
	return t.hash(), true
}
