package engine_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/eql"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// FuzzEval parses, compiles and runs any query on a fixed event through
// both resolvers, the typed event and its encoded document: no panic, and
// the same answer from each.
func FuzzEval(f *testing.F) {
	for _, r := range loadCorpus(f) {
		f.Add(r.Query)
	}
	for _, s := range []string{
		`any where process.parent.args : "*PTY*" and length(process.name) == 4`,
		`process where process.args regex~ "[a-z/]+" or process.pid % 7 == 3`,
		`process where between(process.parent.command_line, "-c ", ";") == "import pty"`,
		`process where substring(process.name, -3, -1) == "as" and concat(process.pid, "x") != null`,
		`process where cidrMatch(process.name, "10.0.0.0/8") or indexOf~(process.executable, "BIN", 2) > 0`,
		`process where process.args like~ ("*\\**", "?") and not process.interactive`,
	} {
		f.Add(s)
	}
	ev := ttyEvent()
	doc := encodeJSON(f, ev)
	f.Fuzz(func(t *testing.T, src string) {
		q, err := eql.Parse(src)
		if err != nil {
			return
		}
		ep, err := engine.Compile(q, engine.ECS())
		if err != nil {
			if _, jerr := engine.Compile(q, engine.JSON()); jerr == nil {
				t.Fatalf("%q compiles for JSON but not ECS: %v", src, err)
			}
			return
		}
		jp, err := engine.Compile(q, engine.JSON())
		if err != nil {
			t.Fatalf("%q compiles for ECS but not JSON: %v", src, err)
		}
		if a, b := ep.Match(ev), jp.Match(doc); a != b {
			t.Fatalf("%q: ECS %v, JSON %v", src, a, b)
		}
		ep.Match(&ecs.Event{})
	})
}

// seqPalette is what FuzzSequence builds events from.
var (
	seqNames   = []string{"a", "b", "c", "sh"}
	seqParents = []string{"P1", "P2", ""}
	seqUsers   = []string{"u1", "u2"}
	seqSteps   = []time.Duration{0, time.Millisecond, 400 * time.Millisecond, 2 * time.Second}
)

// seqEvent is the i-th event of a fuzzed stream: byte b picks its name,
// parent, user and how far its @timestamp moves on (back, once in a while).
func seqEvent(b byte, i int, at *time.Time) *ecs.Event {
	step := seqSteps[b>>5&3]
	if b&0x80 != 0 && b&1 != 0 {
		step = -step
	}
	*at = at.Add(step)
	name := seqNames[b&3]
	ev := &ecs.Event{
		Timestamp: *at,
		Event:     ecs.Meta{Kind: ecs.KindEvent, Type: "start", Action: ecs.ActionExec, ID: "e" + strconv.Itoa(i)},
		Host:      &ecs.Host{ID: "h", OS: ecs.OS{Type: "linux"}},
		Process: ecs.Process{Info: ecs.Info{PID: 100 + i, EntityID: "E" + strconv.Itoa(i%5), Name: name, Args: []string{name, "-x"},
			User: ecs.ID{ID: seqUsers[b>>2&1], Name: seqUsers[b>>2&1]}}},
	}
	if p := seqParents[int(b>>3&3)%len(seqParents)]; p != "" {
		ev.Process.Parent = ecs.Info{PID: 7, EntityID: p, Name: "bash"}
	}
	return ev
}

// FuzzSequence parses a sequence and runs it over a stream the fuzzer
// picks, through both resolvers: no input may panic; a query that compiles
// for one resolver compiles for the other; both must complete the same
// sequences with the same earlier ids; a completion names Steps()-1
// earlier documents in the order they came, all before it; and the
// Tracker never holds more partial sequences than its limit.
func FuzzSequence(f *testing.F) {
	for _, r := range loadCorpus(f) {
		if strings.HasPrefix(strings.TrimSpace(r.Query), "sequence") {
			f.Add(r.Query, []byte{0, 1, 2, 3})
		}
	}
	f.Fuzz(func(t *testing.T, src string, script []byte) {
		st, err := eql.ParseStatement(src)
		if err != nil {
			return
		}
		s, ok := st.(*eql.Sequence)
		if !ok {
			return
		}
		es, err := engine.CompileSequence(s, engine.ECS())
		if err != nil {
			var ce *engine.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("CompileSequence(%q): %T %v, want *CompileError", src, err, err)
			}
			return
		}
		js, err := engine.CompileSequence(s, engine.JSON())
		if err != nil {
			t.Fatalf("compiles for ECS but not JSON: %v", err)
		}
		limits := engine.Limits{MaxPending: 4, MaxSpan: time.Second}
		et, jt := es.NewTracker(limits), js.NewTracker(limits)
		if len(script) > 512 {
			script = script[:512]
		}
		at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, b := range script {
			ev := seqEvent(b, i, &at)
			id := strconv.Itoa(i)
			e1, ok1 := es.Eval(et, ev, id)
			e2, ok2 := js.Eval(jt, encodeJSON(t, ev), id)
			if ok1 != ok2 || !slices.Equal(e1, e2) {
				t.Fatalf("event %d: ECS %v %v, JSON %v %v", i, ok1, e1, ok2, e2)
			}
			if ok1 {
				if len(e1) != es.Steps()-1 {
					t.Fatalf("event %d completed with %d earlier ids, want %d", i, len(e1), es.Steps()-1)
				}
				prev := -1
				for _, s := range e1 {
					n, err := strconv.Atoi(s)
					if err != nil || n <= prev || n >= i {
						t.Fatalf("event %d: earlier ids %v out of order", i, e1)
					}
					prev = n
				}
			}
			if p := et.Stats().Pending; p > int64(limits.MaxPending) || p < 0 {
				t.Fatalf("event %d: %d pending, limit %d", i, p, limits.MaxPending)
			}
		}
	})
}
