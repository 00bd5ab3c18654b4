package rules

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
)

// streamDoc is one document of a rule's event stream.
type streamDoc struct {
	doc  map[string]any
	id   string // event.id
	step string // labels.step: the sequence step it is, or ""
}

// completion is a document that completed the sequence and its earlier
// documents' event.ids.
type completion struct {
	ID      string
	Earlier []string
}

// TestCorpusSequenceStreams runs every one of the 30 sequence rules of the
// corpus on an event stream written for it (testdata/sequences/RULE.ndjson:
// the attack as Elastic Defend, Auditbeat or spawnbeat record it, between
// unrelated processes, its steps marked labels.step). The rule must fire
// once, on the last step, naming the earlier steps; and it must stay silent
// on variants made from the stream: each step left out in turn, each
// step's join key values changed in turn (the step still matching its
// filter), and the steps spread over the rule's maxspan plus one
// millisecond (while spread over exactly maxspan they still fire).
func TestCorpusSequenceStreams(t *testing.T) {
	dir := corpusDir(t)
	files, err := filepath.Glob(filepath.Join("testdata", "sequences", "*.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	tested := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".ndjson")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name+".toml"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(name+".toml", data, false)
			if err != nil {
				t.Fatal(err)
			}
			if !r.IsSequence() {
				t.Fatal("not a sequence rule")
			}
			tested++
			stream := readStream(t, f)
			var steps []int // indexes of the step documents, in order
			for i, d := range stream {
				if d.step != "" {
					if d.step != fmt.Sprint(len(steps)+1) {
						t.Fatalf("%s: labels.step %s out of order", d.id, d.step)
					}
					steps = append(steps, i)
				}
			}
			seq := r.JSONSequence
			expanded := seq.Query().Expanded()
			if len(steps) != len(expanded) {
				t.Fatalf("%d step documents, the rule has %d steps", len(steps), len(expanded))
			}
			var earlier []string
			for _, i := range steps[:len(steps)-1] {
				earlier = append(earlier, stream[i].id)
			}
			want := []completion{{ID: stream[steps[len(steps)-1]].id, Earlier: earlier}}
			if diff := cmp.Diff(want, runStream(seq, stream)); diff != "" {
				t.Fatalf("the stream (-want +got):\n%s", diff)
			}

			for k, i := range steps {
				left := append(append([]streamDoc(nil), stream[:i]...), stream[i+1:]...)
				if got := runStream(seq, left); len(got) != 0 {
					t.Errorf("without step %d (%s) the rule fires: %v", k+1, stream[i].id, got)
				}
			}

			jsonR := engine.JSON()
			for k, i := range steps {
				st := expanded[k]
				filter, err := engine.Compile(st.Query, jsonR)
				if err != nil {
					t.Fatal(err)
				}
				broken := cloneStream(t, stream)
				doc := broken[i].doc
				var keys []string
				for _, key := range append(seq.Query().By[:len(seq.Query().By):len(seq.Query().By)], st.By...) {
					f, _ := jsonR.Field(key.Name)
					setField(doc, key.Name, otherValue(f.Get(doc)))
					keys = append(keys, key.Name)
				}
				if !filter.Match(doc) {
					t.Errorf("step %d with its join key changed (%s) no longer matches its filter", k+1, strings.Join(keys, ", "))
				}
				if got := runStream(seq, broken); len(got) != 0 {
					t.Errorf("with step %d's join key changed (%s) the rule fires: %v", k+1, strings.Join(keys, ", "), got)
				}
			}

			span := seq.MaxSpan()
			if span <= 0 {
				t.Fatal("every corpus sequence has a maxspan")
			}
			if got := runStream(seq, spread(t, stream, steps, span)); !cmp.Equal(got, want) {
				t.Errorf("steps spread over exactly maxspan %v: %v, want %v", span, got, want)
			}
			if got := runStream(seq, spread(t, stream, steps, span+time.Millisecond)); len(got) != 0 {
				t.Errorf("steps spread over maxspan %v + 1ms: the rule fires: %v", span, got)
			}
		})
	}
	if tested != 30 {
		t.Errorf("%d corpus sequence rules have a stream, want 30", tested)
	}
}

func readStream(t *testing.T, path string) []streamDoc {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []streamDoc
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		d := streamDoc{doc: doc}
		d.id, _ = getField(doc, "event.id").(string)
		d.step, _ = getField(doc, "labels.step").(string)
		if d.id == "" {
			t.Fatalf("%s:%d: no event.id", path, n)
		}
		if _, ok := doc["@timestamp"].(string); !ok {
			t.Fatalf("%s:%d: no @timestamp", path, n)
		}
		out = append(out, d)
	}
	return out
}

// runStream evaluates the documents in order with a fresh Tracker.
func runStream(seq *engine.Sequence[map[string]any], stream []streamDoc) []completion {
	tr := seq.NewTracker(engine.Limits{})
	var out []completion
	for _, d := range stream {
		if earlier, ok := seq.Eval(tr, d.doc, d.id); ok {
			out = append(out, completion{ID: d.id, Earlier: earlier})
		}
	}
	return out
}

func cloneStream(t *testing.T, stream []streamDoc) []streamDoc {
	t.Helper()
	out := make([]streamDoc, len(stream))
	for i, d := range stream {
		b, err := json.Marshal(d.doc)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		out[i] = streamDoc{doc: doc, id: d.id, step: d.step}
	}
	return out
}

// spread retimes the stream so that its first step is where it was and its
// last is span later, the steps between evenly apart and every other
// document where its place in the stream puts it.
func spread(t *testing.T, stream []streamDoc, steps []int, span time.Duration) []streamDoc {
	t.Helper()
	out := cloneStream(t, stream)
	first, last := steps[0], steps[len(steps)-1]
	t0, err := time.Parse(time.RFC3339Nano, out[first].doc["@timestamp"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// Position p of the stream (step or not) maps to a time: steps at their
	// share of span, others one millisecond after the step before them.
	at := make([]time.Duration, len(out))
	prev := -time.Duration(first) * time.Millisecond
	for i := range out {
		switch {
		case i == first:
			at[i] = 0
		case i == last:
			at[i] = span
		case out[i].step != "" && i > first && i < last:
			k := 0
			for steps[k] != i {
				k++
			}
			at[i] = span * time.Duration(k) / time.Duration(len(steps)-1)
		default:
			at[i] = prev + time.Millisecond
		}
		prev = at[i]
	}
	for i := range out {
		out[i].doc["@timestamp"] = t0.Add(at[i]).Format(time.RFC3339Nano)
	}
	return out
}

// otherValue is a value that differs from v in kind or content.
func otherValue(v engine.Value) any {
	switch v.Kind {
	case engine.String:
		return "changed-" + v.Str
	case engine.Number:
		return v.Num + 100000
	case engine.Strings:
		return []any{"changed"}
	}
	return "changed"
}

func getField(doc map[string]any, path string) any {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func setField(doc map[string]any, path string, v any) {
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
