package engine_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/eql"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// caseEpoch is the time a document's MS offset counts from.
var caseEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// seqCase is one case of testdata/sequences.txt.
type seqCase struct {
	line   int
	query  string
	limits engine.Limits
	docs   []seqDoc
	want   map[string][]string // completing event.id → earlier event.ids
}

type seqDoc struct {
	id  string
	doc map[string]any
}

func loadSequenceCases(t *testing.T) []*seqCase {
	t.Helper()
	f, err := os.Open("testdata/sequences.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		cases []*seqCase
		cur   *seqCase
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		if kind != "query" && cur == nil {
			t.Fatalf("sequences.txt:%d: %s before the first query", n, kind)
		}
		switch kind {
		case "query":
			cur = &seqCase{line: n, query: rest, want: map[string][]string{}}
			cases = append(cases, cur)
		case "limits":
			var span string
			if _, err := fmt.Sscan(rest, &cur.limits.MaxPending, &span); err != nil {
				t.Fatalf("sequences.txt:%d: limits: %v", n, err)
			}
			if cur.limits.MaxSpan, err = time.ParseDuration(span); err != nil {
				t.Fatalf("sequences.txt:%d: limits: %v", n, err)
			}
		case "doc":
			parts := strings.SplitN(rest, " ", 3)
			if len(parts) != 3 {
				t.Fatalf("sequences.txt:%d: want doc ID MS JSON", n)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(parts[2]), &doc); err != nil {
				t.Fatalf("sequences.txt:%d: %v", n, err)
			}
			setPath(doc, "event.id", parts[0])
			if _, ok := doc["event"].(map[string]any)["category"]; !ok {
				setPath(doc, "event.category", []any{"process"})
			}
			if parts[1] != "-" {
				ms, err := strconv.ParseFloat(parts[1], 64)
				if err != nil {
					t.Fatalf("sequences.txt:%d: MS: %v", n, err)
				}
				ts := caseEpoch.Add(time.Duration(ms * float64(time.Millisecond)))
				doc["@timestamp"] = ts.Format(time.RFC3339Nano)
			}
			cur.docs = append(cur.docs, seqDoc{id: parts[0], doc: doc})
		case "match":
			ids := strings.Fields(rest)
			cur.want[ids[0]] = ids[1:]
		default:
			t.Fatalf("sequences.txt:%d: unknown kind %q", n, kind)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// setPath sets a dotted path in a nested document, creating objects.
func setPath(doc map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// runSequence evaluates docs in order and returns what completed.
func runSequence[T any](t *testing.T, s *engine.Sequence[T], l engine.Limits, ids []string, docs []T) map[string][]string {
	t.Helper()
	tr := s.NewTracker(l)
	got := map[string][]string{}
	for i, d := range docs {
		if earlier, ok := s.Eval(tr, d, ids[i]); ok {
			got[ids[i]] = earlier
		}
	}
	return got
}

func TestSequenceCases(t *testing.T) {
	cases := loadSequenceCases(t)
	ranECS := 0
	for _, c := range cases {
		t.Run(strconv.Itoa(c.line), func(t *testing.T) {
			st, err := eql.ParseStatement(c.query)
			if err != nil {
				t.Fatalf("line %d: parse: %v", c.line, err)
			}
			q, ok := st.(*eql.Sequence)
			if !ok {
				t.Fatalf("line %d: not a sequence", c.line)
			}
			ids := make([]string, len(c.docs))
			jdocs := make([]map[string]any, len(c.docs))
			for i, d := range c.docs {
				ids[i], jdocs[i] = d.id, d.doc
			}
			js, err := engine.CompileSequence(q, engine.JSON())
			if err != nil {
				t.Fatalf("line %d: compile: %v", c.line, err)
			}
			if diff := cmp.Diff(c.want, runSequence(t, js, c.limits, ids, jdocs)); diff != "" {
				t.Errorf("line %d: JSON completions (-want +got):\n%s", c.line, diff)
			}

			es, err := engine.CompileSequence(q, engine.ECS())
			if err != nil {
				t.Fatalf("line %d: compile ECS: %v", c.line, err)
			}
			jsonR, ecsR := engine.JSON(), engine.ECS()
			edocs := make([]*ecs.Event, len(c.docs))
			for i, d := range jdocs {
				ev, ok := jsonToECS(d)
				if !ok {
					t.Logf("line %d: not on ECS: %s is not a process event", c.line, ids[i])
					return
				}
				for _, f := range es.Fields() {
					jg, _ := jsonR.Field(f)
					eg, _ := ecsR.Field(f)
					if !cmp.Equal(scalar(jg.Get(d)), scalar(eg.Get(ev))) {
						t.Logf("line %d: not on ECS: %s differs on %s", c.line, f, ids[i])
						return
					}
				}
				edocs[i] = ev
			}
			ranECS++
			if diff := cmp.Diff(c.want, runSequence(t, es, c.limits, ids, edocs)); diff != "" {
				t.Errorf("line %d: ECS completions (-want +got):\n%s", c.line, diff)
			}
		})
	}
	t.Logf("%d sequence cases, %d also on ecs.Event", len(cases), ranECS)
	if len(cases) < 25 || ranECS < len(cases)*3/4 {
		t.Errorf("%d cases, %d on ECS: the table or the JSON→ECS conversion lost cases", len(cases), ranECS)
	}
}
