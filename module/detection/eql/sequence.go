package eql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Statement is a parsed EQL statement: a *Query (one event) or a *Sequence.
// Statements are immutable after parsing and safe for concurrent use.
type Statement interface {
	// Position is where the statement starts in the query text.
	Position() Pos
	// String renders the statement in canonical EQL; parsing it again
	// yields an equal tree.
	String() string
	statement()
}

func (*Query) statement()    {}
func (*Sequence) statement() {}

// Position implements Statement.
func (q *Query) Position() Pos { return q.Pos }

// Position implements Statement.
func (s *Sequence) Position() Pos { return s.Pos }

// MaxRuns bounds `with runs=N`, as Elasticsearch does (1 to 100).
const MaxRuns = 100

// Sequence is a parsed sequence query:
//
//	sequence [by k1, k2...] [with maxspan=N(ms|s|m|h|d)]
//	  [step] [by ...] [with runs=N]
//	  ![missing step] [by ...]
//	  ...
//	[until [step] [by ...]]
type Sequence struct {
	// By are the join keys shared by every step (sequence by ...). A step's
	// full key is By followed by its own Step.By.
	By []*FieldRef
	// MaxSpan is `with maxspan=`: the longest time from the first to the
	// last event of a match; 0 when the query sets none.
	MaxSpan time.Duration
	// MaxSpanText is the maxspan as written after "=" ("30s"), or "".
	MaxSpanText string
	// Steps are the bracketed subqueries in order, as written: a step with
	// Runs > 1 stands for that many consecutive identical steps.
	Steps []*Step
	// Until is the expiration step (until [...]), or nil.
	Until *Step
	Pos   Pos // of the sequence keyword
}

// Step is one bracketed subquery of a sequence.
type Step struct {
	Query   *Query      // the event filter between the brackets
	By      []*FieldRef // the step's own join keys, after the sequence's
	Runs    int         // with runs=N; 1 when not written
	Missing bool        // written ![...]: an event that must not occur
	Pos     Pos         // of the opening bracket
}

// Expanded returns the steps with every `with runs=N` step repeated N
// times, which is what Elasticsearch runs (runs is shorthand for writing
// the step N times). The slice is new; the steps are shared.
func (s *Sequence) Expanded() []*Step {
	var out []*Step
	for _, st := range s.Steps {
		for i := 0; i < st.Runs; i++ {
			out = append(out, st)
		}
	}
	return out
}

// KeyCount is the number of join key positions every step has.
func (s *Sequence) KeyCount() int {
	if len(s.Steps) == 0 {
		return len(s.By)
	}
	return len(s.By) + len(s.Steps[0].By)
}

// String renders the sequence in canonical EQL, one step a line.
func (s *Sequence) String() string {
	var b strings.Builder
	b.WriteString("sequence")
	if len(s.By) > 0 {
		b.WriteString(" by ")
		writeKeys(&b, s.By)
	}
	if s.MaxSpanText != "" {
		b.WriteString(" with maxspan=" + s.MaxSpanText)
	}
	for _, st := range s.Steps {
		b.WriteString("\n  ")
		st.write(&b)
	}
	if s.Until != nil {
		b.WriteString("\nuntil ")
		s.Until.write(&b)
	}
	return b.String()
}

func (st *Step) write(b *strings.Builder) {
	if st.Missing {
		b.WriteByte('!')
	}
	b.WriteString("[")
	b.WriteString(st.Query.String())
	b.WriteString("]")
	if len(st.By) > 0 {
		b.WriteString(" by ")
		writeKeys(b, st.By)
	}
	if st.Runs > 1 {
		b.WriteString(" with runs=" + strconv.Itoa(st.Runs))
	}
}

func writeKeys(b *strings.Builder, keys []*FieldRef) {
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k.String())
	}
}

// timeUnits are maxspan's units, as Elasticsearch's parser accepts them
// (LogicalPlanBuilder.visitSequenceParams).
var timeUnits = map[string]time.Duration{
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
	"d":  24 * time.Hour,
}

// sequence parses a sequence query; the current token is "sequence". The
// grammar and its checks follow Elasticsearch's EqlBase.g4 (sequence,
// sequenceParams, sequenceTerm, joinKeys) and LogicalPlanBuilder.
func (p *parser) sequence() (*Sequence, error) {
	s := &Sequence{Pos: p.pos()}
	if err := p.advance(); err != nil {
		return nil, err
	}
	switch {
	case p.isWord("by"):
		keys, err := p.joinKeys()
		if err != nil {
			return nil, err
		}
		s.By = keys
		if p.isWord("with") {
			if err := p.maxSpan(s); err != nil {
				return nil, err
			}
		}
	case p.isWord("with"):
		if err := p.maxSpan(s); err != nil {
			return nil, err
		}
		if p.isWord("by") {
			return nil, p.errf(`specify "sequence by" before "with maxspan", not after`)
		}
	}
	for p.tok.kind == tLBrack || p.tok.kind == tMissingOpen {
		st, err := p.step(true)
		if err != nil {
			return nil, err
		}
		s.Steps = append(s.Steps, st)
	}
	if len(s.Steps) == 0 {
		return nil, p.expected(`"[" to start the first step of the sequence`)
	}
	if p.isWord("until") {
		untilPos := p.pos()
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tMissingOpen {
			return nil, p.errf("a missing event (![...]) cannot be an until condition")
		}
		if p.tok.kind != tLBrack {
			return nil, p.expected(`"[" after "until"`)
		}
		st, err := p.step(false)
		if err != nil {
			return nil, err
		}
		st.Pos = untilPos
		s.Until = st
	}
	switch p.tok.kind {
	case tEOF, tPipe:
	default:
		return nil, p.expected(`"[", "by", "with", "until", a pipe or the end of the query`)
	}
	return s, s.check()
}

// check applies Elasticsearch's checks on a whole sequence.
func (s *Sequence) check() error {
	errAt := func(pos Pos, format string, args ...any) error {
		return &SyntaxError{Line: pos.Line, Col: pos.Col, Msg: fmt.Sprintf(format, args...)}
	}
	// Every step, and until, has as many join keys as the first
	// (LogicalPlanBuilder: "Inconsistent number of join keys specified").
	want := len(s.Steps[0].By)
	others := s.Steps[1:len(s.Steps):len(s.Steps)]
	if s.Until != nil {
		others = append(others, s.Until)
	}
	for _, st := range others {
		if len(st.By) != want {
			return errAt(st.Pos, "inconsistent number of join keys: expected %d after the sequence's own, found %d", want, len(st.By))
		}
	}
	n, positive := 0, 0
	for _, st := range s.Steps {
		n += st.Runs
		if !st.Missing {
			positive += st.Runs
		}
	}
	switch {
	case n < 2:
		return errAt(s.Pos, "a sequence needs at least 2 steps (with runs counted, until not), found %d", n)
	case positive == 0:
		return errAt(s.Pos, "a sequence needs at least one step that is not a missing event")
	case positive < n && s.MaxSpan == 0:
		return errAt(s.Pos, `a sequence with missing events (![...]) needs "with maxspan"`)
	}
	return nil
}

// maxSpan parses `with maxspan=N<unit>`; the current token is "with".
func (p *parser) maxSpan(s *Sequence) error {
	if err := p.advance(); err != nil {
		return err
	}
	if !p.isWord("maxspan") {
		return p.expected(`"maxspan" after "with" (the sequence's option; "runs" goes after a step)`)
	}
	if err := p.advance(); err != nil {
		return err
	}
	if p.tok.kind != tAssign {
		return p.expected(`"=" after "maxspan"`)
	}
	// The lexer stands after "=": read the time value directly.
	num, unit, line, col, err := p.lex.timeValue()
	if err != nil {
		return err
	}
	at := func(format string, args ...any) error {
		return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case num == "":
		return at("expected a time value such as 30s after \"maxspan=\"")
	case strings.Contains(num, "."):
		return at("decimal time interval %s not supported: use a positive integer and a smaller unit", num)
	case unit == "":
		return at("no time unit after maxspan=%s: did you mean %ss?", num, num)
	}
	d, ok := timeUnits[unit]
	if !ok {
		return at("unrecognized time unit %q in maxspan=%s%s: use one of ms, s, m, h, d", unit, num, unit)
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > int64(math.MaxInt64/d) {
		return at("maxspan=%s%s: want a positive whole number of %s that fits in 292 years", num, unit, unit)
	}
	s.MaxSpan, s.MaxSpanText = time.Duration(v)*d, num+unit
	return p.advance()
}

// joinKeys parses "by key, key..."; the current token is "by". Elasticsearch
// accepts only fields as join keys (its LogicalPlanBuilder turns them into
// attributes); ?field marks one that may be null.
func (p *parser) joinKeys() ([]*FieldRef, error) {
	var keys []*FieldRef
	for {
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.additive()
		if err != nil {
			return nil, err
		}
		f, ok := x.(*FieldRef)
		if !ok {
			pos := x.Position()
			return nil, &SyntaxError{Line: pos.Line, Col: pos.Col, Msg: "a join key must be a field, found " + x.String()}
		}
		keys = append(keys, f)
		if p.tok.kind != tComma {
			return keys, nil
		}
	}
}

// step parses "[query] [by keys] [with runs=N]" or its missing-event form
// "![...]"; the current token is "[" or "![". runsOK is false for until.
func (p *parser) step(runsOK bool) (*Step, error) {
	st := &Step{Pos: p.pos(), Runs: 1, Missing: p.tok.kind == tMissingOpen}
	if err := p.advance(); err != nil {
		return nil, err
	}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	st.Query = q
	if p.tok.kind != tRBrack {
		return nil, p.expected(`"]" to close the step`)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.isWord("by") {
		keys, err := p.joinKeys()
		if err != nil {
			return nil, err
		}
		st.By = keys
	}
	if !p.isWord("with") {
		return st, nil
	}
	if !runsOK {
		return nil, p.errf(`"with runs" is not allowed on until`)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if !p.isWord("runs") {
		return nil, p.expected(`"runs" after a step's "with" ("maxspan" goes after "sequence")`)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tAssign {
		return nil, p.expected(`"=" after "runs"`)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tInt {
		return nil, p.expected("a whole number of runs")
	}
	n, err := strconv.Atoi(p.tok.text)
	if err != nil || n < 1 || n > MaxRuns {
		return nil, p.errf("runs=%s: want a whole number from 1 to %d", p.tok.text, MaxRuns)
	}
	st.Runs = n
	return st, p.advance()
}
