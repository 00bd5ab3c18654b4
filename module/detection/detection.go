package detection

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/rules"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// ErrNoRules is returned by New for a nil rule set.
var ErrNoRules = errors.New("no rule set")

// Bounds of the alert message, so that a megabyte argument list does not
// become a megabyte message.
const (
	maxMessageArgs = 512 // bytes of the command line quoted in the message
	maxMessage     = 1024
)

// evictionReportEvery is how many documents pass between two looks at the
// sequence rules' eviction counters, to log the rules that evicted.
const evictionReportEvery = 4096

// Options configures a Detector. It is a plain value; zero fields take the
// engine's defaults.
type Options struct {
	// MaxPending bounds the partial sequences each sequence rule holds
	// (engine.DefaultMaxPending when 0).
	MaxPending int
	// MaxSpan is how long a partial sequence of a rule without maxspan is
	// held (engine.DefaultMaxSpan when 0).
	MaxSpan time.Duration
}

// Detector evaluates the rule set in force on every document and turns a
// matching document into an alert in place. It is safe for concurrent use:
// Evaluate reads the current set through an atomic pointer, and Install
// swaps it (the Watcher's callback) without stopping evaluation. The
// partial sequences of sequence rules are state: Evaluate updates them
// under a mutex, so documents are evaluated one at a time, in the order
// Evaluate is called (capture calls it from one goroutine, in the kernel's
// order).
type Detector struct {
	log       *zap.Logger
	opts      Options
	current   atomic.Pointer[installed]
	evaluated atomic.Uint64
	alerts    atomic.Uint64

	seqMu sync.Mutex // serialises the use of every installed Tracker

	mu      sync.Mutex                     // guards hits and retired, touched by Install and Stats
	hits    map[string]*atomic.Uint64      // matches per rule_id, kept across reloads
	retired map[string]engine.TrackerStats // counts of trackers a reload replaced, per rule_id
}

// installed is a rule set with its per-rule counters and the sequence
// rules' trackers, index-aligned with set.Rules(), so the hot path never
// looks anything up by name.
type installed struct {
	set      *rules.Set
	hits     []*atomic.Uint64
	trackers []*engine.Tracker // nil for single-event rules
	sequence bool              // some rule is a sequence
	reported []uint64          // evictions already logged, per rule (under seqMu)
}

// New returns a Detector evaluating set. log may be nil.
func New(set *rules.Set, opts Options, log *zap.Logger) (*Detector, error) {
	if set == nil {
		return nil, ErrNoRules
	}
	if log == nil {
		log = zap.NewNop()
	}
	d := &Detector{
		log:     log.Named("detection"),
		opts:    opts,
		hits:    map[string]*atomic.Uint64{},
		retired: map[string]engine.TrackerStats{},
	}
	d.Install(set)
	return d, nil
}

// Install makes set the rule set in force and returns the previous one.
// Documents being evaluated finish with the set they started with. A
// sequence rule whose query is unchanged keeps its partial sequences
// across the swap; any other starts empty. A nil set is ignored.
func (d *Detector) Install(set *rules.Set) *rules.Set {
	if set == nil {
		return d.Rules()
	}
	old := d.current.Load()
	keep := map[string]*engine.Tracker{}
	if old != nil {
		for i, r := range old.set.Rules() {
			if t := old.trackers[i]; t != nil {
				keep[r.Meta.ID+"\x00"+r.Query] = t
			}
		}
	}
	in := &installed{
		set:      set,
		hits:     make([]*atomic.Uint64, set.Len()),
		trackers: make([]*engine.Tracker, set.Len()),
		reported: make([]uint64, set.Len()),
	}
	d.mu.Lock()
	for i, r := range set.Rules() {
		c, ok := d.hits[r.Meta.ID]
		if !ok {
			c = new(atomic.Uint64)
			d.hits[r.Meta.ID] = c
		}
		in.hits[i] = c
		if !r.IsSequence() {
			continue
		}
		in.sequence = true
		k := r.Meta.ID + "\x00" + r.Query
		if t, ok := keep[k]; ok {
			in.trackers[i] = t
			in.reported[i] = t.Stats().Evicted
			delete(keep, k)
			continue
		}
		in.trackers[i] = r.ECSSequence.NewTracker(engine.Limits{MaxPending: d.opts.MaxPending, MaxSpan: d.opts.MaxSpan})
	}
	// The counts of trackers that go keep adding up under their rule_id.
	for k, t := range keep {
		id, _, _ := strings.Cut(k, "\x00")
		d.retired[id] = addStats(d.retired[id], t.Stats())
	}
	d.mu.Unlock()
	d.current.Store(in)
	d.log.Info("rule set installed", zap.Int("rules", set.Len()))
	if old == nil {
		return nil
	}
	return old.set
}

func addStats(a, b engine.TrackerStats) engine.TrackerStats {
	return engine.TrackerStats{
		Evicted:   a.Evicted + b.Evicted,
		Expired:   a.Expired + b.Expired,
		Cancelled: a.Cancelled + b.Cancelled,
	}
}

// Rules returns the rule set in force.
func (d *Detector) Rules() *rules.Set {
	if in := d.current.Load(); in != nil {
		return in.set
	}
	return nil
}

// Evaluate runs every rule on ev. On one or more matches it turns ev into an
// alert in place: event.kind "alert", ev.Rules the matching rules (reusing
// ev.Rules' backing array), ev.RiskScore the highest risk score,
// ev.Severity the highest numeric severity and ev.Message a bounded
// sentence; it returns true. A sequence rule matches the document that
// completes it, and ev.Sequences then names the rule and the event.id
// values of the sequence's earlier documents. Without a match ev is left
// untouched. ev is owned by the caller for the duration of the call.
func (d *Detector) Evaluate(ev *ecs.Event) bool {
	n := d.evaluated.Add(1)
	in := d.current.Load()
	if in == nil || ev == nil {
		return false
	}
	matched := ev.Rules[:0]
	var sequences []ecs.SequenceMatch
	if in.sequence {
		d.seqMu.Lock()
		defer d.seqMu.Unlock()
	}
	for i, r := range in.set.Rules() {
		if t := in.trackers[i]; t != nil {
			earlier, ok := r.ECSSequence.Eval(t, ev, ev.Event.ID)
			if !ok {
				continue
			}
			sequences = append(sequences, ecs.SequenceMatch{RuleID: r.Meta.ID, EventIDs: earlier})
		} else if !r.ECS.Match(ev) {
			continue
		}
		matched = append(matched, r.Meta)
		in.hits[i].Add(1)
	}
	if in.sequence && n%evictionReportEvery == 0 {
		d.reportEvictions(in)
	}
	if len(matched) == 0 {
		return false
	}
	d.alerts.Add(1)
	ev.Rules = matched
	ev.Sequences = sequences
	ev.Event.Kind = ecs.KindAlert
	ev.RiskScore, ev.Severity = 0, 0
	for _, m := range matched {
		ev.RiskScore = max(ev.RiskScore, m.RiskScore)
		ev.Severity = max(ev.Severity, ecs.SeverityNumber(m.Severity))
	}
	ev.Message = message(ev)
	if ce := d.log.Check(zap.DebugLevel, "alert"); ce != nil {
		ids := make([]string, len(matched))
		for i, m := range matched {
			ids[i] = m.ID
		}
		ce.Write(zap.Strings("rule.id", ids), zap.Int("process.pid", ev.Process.PID), zap.String("message", ev.Message))
	}
	return true
}

// reportEvictions warns about the sequence rules that evicted partial
// sequences since the last report: a sign that the rule's pending cap is
// too small for the host, or that something floods its first step. The
// caller holds seqMu.
func (d *Detector) reportEvictions(in *installed) {
	for i, t := range in.trackers {
		if t == nil {
			continue
		}
		st := t.Stats()
		if st.Evicted == in.reported[i] {
			continue
		}
		r := in.set.Rules()[i]
		d.log.Warn("sequence rule at its cap of pending partial sequences: some were evicted (spawnbeat.detection.sequences.max_pending)",
			zap.String("rule.id", r.Meta.ID), zap.String("rule.name", r.Meta.Name),
			zap.Uint64("evicted", st.Evicted-in.reported[i]), zap.Int64("pending", st.Pending))
		in.reported[i] = st.Evicted
	}
}

// message builds the alert sentence, e.g.
//
//	Interactive Terminal Spawned via Python: bash (pid 1234) started by python3.11 (pid 1200): python3 -c import pty; pty.spawn("/bin/bash")
//
// Names and the quoted command line are cut at fixed lengths on rune
// boundaries.
func message(ev *ecs.Event) string {
	var b strings.Builder
	b.Grow(256)
	for i, r := range ev.Rules {
		if i > 0 {
			b.WriteString(", ")
		}
		if b.Len() > maxMessage/2 {
			b.WriteString("…")
			break
		}
		b.WriteString(r.Name)
	}
	b.WriteString(": ")
	writeProcess(&b, &ev.Process.Info)
	if ev.Process.Parent.PID != 0 || ev.Process.Parent.Name != "" {
		b.WriteString(" started by ")
		writeProcess(&b, &ev.Process.Parent)
		if len(ev.Process.Parent.Args) > 0 {
			b.WriteString(": ")
			writeBounded(&b, ev.Process.Parent.Args, maxMessageArgs)
		}
	} else if len(ev.Process.Args) > 0 {
		b.WriteString(": ")
		writeBounded(&b, ev.Process.Args, maxMessageArgs)
	}
	s := b.String()
	if len(s) > maxMessage {
		s = truncate(s, maxMessage-len("…")) + "…"
	}
	return s
}

func writeProcess(b *strings.Builder, p *ecs.Info) {
	name := p.Name
	if name == "" {
		name = "unknown process"
	}
	b.WriteString(truncate(name, 128))
	if p.PID != 0 {
		var num [20]byte // strconv.Itoa would allocate for pids >= 100
		b.WriteString(" (pid ")
		b.Write(strconv.AppendInt(num[:0], int64(p.PID), 10))
		b.WriteByte(')')
	}
}

// writeBounded writes args joined by spaces, at most limit bytes.
func writeBounded(b *strings.Builder, args []string, limit int) {
	n := 0
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
			n++
		}
		if n+len(a) > limit {
			b.WriteString(truncate(a, max(limit-n, 0)))
			b.WriteString("…")
			return
		}
		b.WriteString(a)
		n += len(a)
	}
}

// truncate cuts s to at most n bytes without splitting a rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Stats is a snapshot of the Detector's counters for the monitoring
// endpoint: a value the caller owns.
type Stats struct {
	Evaluated uint64            `json:"evaluated"` // documents evaluated
	Alerts    uint64            `json:"alerts"`    // documents that matched at least one rule
	Rules     int               `json:"rules"`     // rules in force
	Matches   map[string]uint64 `json:"matches"`   // matches per rule_id since start, across reloads
	// Sequences are the partial sequences of each sequence rule in force,
	// by rule_id: held now, and evicted, expired and cancelled since
	// start (across reloads).
	Sequences map[string]engine.TrackerStats `json:"sequences,omitempty"`
}

// Stats returns a snapshot of the counters.
func (d *Detector) Stats() Stats {
	s := Stats{
		Evaluated: d.evaluated.Load(),
		Alerts:    d.alerts.Load(),
		Matches:   map[string]uint64{},
	}
	in := d.current.Load()
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, c := range d.hits {
		s.Matches[id] = c.Load()
	}
	if in == nil {
		return s
	}
	s.Rules = in.set.Len()
	for i, t := range in.trackers {
		if t == nil {
			continue
		}
		if s.Sequences == nil {
			s.Sequences = map[string]engine.TrackerStats{}
		}
		id := in.set.Rules()[i].Meta.ID
		st := addStats(d.retired[id], t.Stats())
		st.Pending = t.Stats().Pending
		s.Sequences[id] = st
	}
	return s
}
