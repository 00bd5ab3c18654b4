package eql_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/detection/eql"
)

// seqShape prints a sequence's structure compactly for tests.
func seqShape(s *eql.Sequence) string {
	var b strings.Builder
	keys := func(ks []*eql.FieldRef) {
		for _, k := range ks {
			b.WriteString(" " + k.String())
		}
	}
	b.WriteString("by")
	keys(s.By)
	b.WriteString(" maxspan=" + s.MaxSpan.String())
	for _, st := range s.Steps {
		b.WriteString(" |")
		if st.Missing {
			b.WriteString("!")
		}
		b.WriteString(st.Query.Category + ": " + sexpr(st.Query.Where) + " by")
		keys(st.By)
		if st.Runs != 1 {
			b.WriteString(" runs=" + strings.Repeat("I", st.Runs))
		}
	}
	if s.Until != nil {
		b.WriteString(" | until " + sexpr(s.Until.Query.Where) + " by")
		keys(s.Until.By)
	}
	return b.String()
}

func TestParseSequence(t *testing.T) {
	tests := []struct {
		name, src, want string
		maxSpan         time.Duration
	}{
		{"minimal", `sequence [process where a] [file where b]`, `by maxspan=0s |process: a by |file: b by`, 0},
		{"by and maxspan", "sequence by host.id, ?process.entity_id with maxspan=30s\n [any where a] [any where b]",
			`by host.id ?process.entity_id maxspan=30s |any: a by |any: b by`, 30 * time.Second},
		{"maxspan alone", `sequence with maxspan=5m [any where a] [any where b]`, `by maxspan=5m0s |any: a by |any: b by`, 5 * time.Minute},
		{"maxspan ms", `sequence with maxspan=250ms [any where a] [any where b]`, `by maxspan=250ms |any: a by |any: b by`, 250 * time.Millisecond},
		{"maxspan hours days", `sequence with maxspan = 2 d [any where a] [any where b]`, `by maxspan=48h0m0s |any: a by |any: b by`, 48 * time.Hour},
		{"maxspan h", `sequence with maxspan=1h [any where a] [any where b]`, `by maxspan=1h0m0s |any: a by |any: b by`, time.Hour},
		{"step keys", `sequence [any where a] by x.y, z [any where b] by p, q`, `by maxspan=0s |any: a by x.y z |any: b by p q`, 0},
		{"runs", `sequence by k [any where a] by d with runs=3 [any where b] by c with runs=2`, `by k maxspan=0s |any: a by d runs=III |any: b by c runs=II`, 0},
		{"single step with runs", `sequence by k [any where a] with runs=2`, `by k maxspan=0s |any: a by runs=II`, 0},
		{"until", `sequence by k [any where a] [any where b] until [any where c]`, `by k maxspan=0s |any: a by |any: b by | until c by`, 0},
		{"until with keys", `sequence [any where a] by x [any where b] by y until [any where c] by z`, `by maxspan=0s |any: a by x |any: b by y | until c by z`, 0},
		{"missing event", `sequence with maxspan=1h [any where a] ![any where b] [any where c]`, `by maxspan=1h0m0s |any: a by |!any: b by |any: c by`, time.Hour},
		{"key followed by step", "sequence [any where a] by process.entity_id\n[any where b] by ?y", `by maxspan=0s |any: a by process.entity_id |any: b by ?y`, 0},
		{"comments", "sequence /* c */ by k // x\n [any where a] // y\n [any where b]", `by k maxspan=0s |any: a by |any: b by`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := eql.ParseStatement(tt.src)
			if err != nil {
				t.Fatalf("ParseStatement(%q): %v", tt.src, err)
			}
			s, ok := st.(*eql.Sequence)
			if !ok {
				t.Fatalf("got %T", st)
			}
			if diff := cmp.Diff(tt.want, seqShape(s)); diff != "" {
				t.Errorf("shape (-want +got):\n%s", diff)
			}
			if s.MaxSpan != tt.maxSpan {
				t.Errorf("MaxSpan = %v, want %v", s.MaxSpan, tt.maxSpan)
			}
			again, err := eql.ParseStatement(s.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", s.String(), err)
			}
			if diff := cmp.Diff(seqShape(s), seqShape(again.(*eql.Sequence))); diff != "" {
				t.Errorf("round trip of %q (-want +got):\n%s", s.String(), diff)
			}
		})
	}
}

func TestSequenceExpanded(t *testing.T) {
	st, err := eql.ParseStatement(`sequence [any where a] with runs=2 [any where b] [any where c] with runs=3`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range st.(*eql.Sequence).Expanded() {
		got = append(got, sexpr(s.Query.Where))
	}
	if diff := cmp.Diff([]string{"a", "a", "b", "c", "c", "c"}, got); diff != "" {
		t.Errorf("Expanded (-want +got):\n%s", diff)
	}
}

// TestParseSequenceErrors checks the errors Elasticsearch's parser gives
// (LogicalPlanBuilder), each at its place.
func TestParseSequenceErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      *eql.SyntaxError
	}{
		{"one step", `sequence [any where a]`, &eql.SyntaxError{Line: 1, Col: 1, Msg: `a sequence needs at least 2 steps (with runs counted, until not), found 1`}},
		{"one step and until", `sequence [any where a] until [any where b]`, &eql.SyntaxError{Line: 1, Col: 1, Msg: `a sequence needs at least 2 steps (with runs counted, until not), found 1`}},
		{"no steps", `sequence by a`, &eql.SyntaxError{Line: 1, Col: 14, Msg: `expected "[" to start the first step of the sequence, found end of query`}},
		{"inconsistent keys", `sequence [any where a] by x [any where b]`, &eql.SyntaxError{Line: 1, Col: 29, Msg: `inconsistent number of join keys: expected 1 after the sequence's own, found 0`}},
		{"inconsistent until keys", `sequence [any where a] by x [any where b] by y until [any where c]`, &eql.SyntaxError{Line: 1, Col: 48, Msg: `inconsistent number of join keys: expected 1 after the sequence's own, found 0`}},
		{"by after with", `sequence with maxspan=1s by x [any where a] [any where b]`, &eql.SyntaxError{Line: 1, Col: 26, Msg: `specify "sequence by" before "with maxspan", not after`}},
		{"no unit", `sequence with maxspan=10 [any where a] [any where b]`, &eql.SyntaxError{Line: 1, Col: 23, Msg: `no time unit after maxspan=10: did you mean 10s?`}},
		{"bad unit", `sequence with maxspan=10y [any where a] [any where b]`, &eql.SyntaxError{Line: 1, Col: 23, Msg: `unrecognized time unit "y" in maxspan=10y: use one of ms, s, m, h, d`}},
		{"decimal", `sequence with maxspan=1.5h [any where a] [any where b]`, &eql.SyntaxError{Line: 1, Col: 23, Msg: `decimal time interval 1.5 not supported: use a positive integer and a smaller unit`}},
		{"zero", `sequence with maxspan=0s [any where a] [any where b]`, &eql.SyntaxError{Line: 1, Col: 23, Msg: `maxspan=0s: want a positive whole number of s that fits in 292 years`}},
		{"no value", `sequence with maxspan= [any where a] [any where b]`, &eql.SyntaxError{Line: 1, Col: 24, Msg: `expected a time value such as 30s after "maxspan="`}},
		{"runs zero", `sequence [any where a] with runs=0 [any where b]`, &eql.SyntaxError{Line: 1, Col: 34, Msg: `runs=0: want a whole number from 1 to 100`}},
		{"runs too many", `sequence [any where a] with runs=101 [any where b]`, &eql.SyntaxError{Line: 1, Col: 34, Msg: `runs=101: want a whole number from 1 to 100`}},
		{"unknown option", `sequence [any where a] with repeat=2 [any where b]`, &eql.SyntaxError{Line: 1, Col: 29, Msg: `expected "runs" after a step's "with" ("maxspan" goes after "sequence"), found "repeat"`}},
		{"runs on until", `sequence [any where a] [any where b] until [any where c] with runs=2`, &eql.SyntaxError{Line: 1, Col: 58, Msg: `"with runs" is not allowed on until`}},
		{"function key", `sequence by length(x) [any where a] [any where b]`, &eql.SyntaxError{Line: 1, Col: 13, Msg: `a join key must be a field, found length(x)`}},
		{"unclosed step", `sequence [any where a [any where b]`, &eql.SyntaxError{Line: 1, Col: 23, Msg: `expected "]" to close the step, found "["`}},
		{"junk after", `sequence [any where a] [any where b] foo`, &eql.SyntaxError{Line: 1, Col: 38, Msg: `expected "[", "by", "with", "until", a pipe or the end of the query, found "foo"`}},
		{"missing needs maxspan", `sequence [any where a] ![any where b]`, &eql.SyntaxError{Line: 1, Col: 1, Msg: `a sequence with missing events (![...]) needs "with maxspan"`}},
		{"only missing", `sequence with maxspan=1s ![any where a] ![any where b]`, &eql.SyntaxError{Line: 1, Col: 1, Msg: `a sequence needs at least one step that is not a missing event`}},
		{"missing until", `sequence [any where a] [any where b] until ![any where c]`, &eql.SyntaxError{Line: 1, Col: 44, Msg: `a missing event (![...]) cannot be an until condition`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eql.ParseStatement(tt.src)
			var se *eql.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseStatement(%q) err = %v, want *SyntaxError", tt.src, err)
			}
			if diff := cmp.Diff(tt.want, se); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSequenceUnsupported(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want eql.UnsupportedError
	}{
		{`sequence [any where a] [any where b] | head 1`, eql.UnsupportedError{Line: 1, Col: 38, What: "pipe"}},
		// After a join key, "[" starts a step; "[0]" is an array index.
		{`sequence [any where a] by x [any where b[0] == 1] by y`, eql.UnsupportedError{Line: 1, Col: 41, What: "array index in field name"}},
	} {
		_, err := eql.ParseStatement(tt.src)
		var ue *eql.UnsupportedError
		if !errors.As(err, &ue) || *ue != tt.want {
			t.Errorf("ParseStatement(%q) err = %v, want %+v", tt.src, err, tt.want)
		}
	}
}
