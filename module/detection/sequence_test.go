package detection

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/rules"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// seqRule is a two-step sequence: a downloader, then a shell, under the
// same parent, within 5 seconds.
const seqRule = `sequence by process.parent.entity_id with maxspan=5s
  [process where process.name == "curl"]
  [process where process.name == "sh"]`

var seqEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// child is an exec document of name under the parent with entity id
// parent, ms milliseconds into the test, with event.id id.
func child(id, name, parent string, ms int) *ecs.Event {
	ev := execEvent(name, []string{name}, "bash", []string{"bash"})
	ev.Timestamp = seqEpoch.Add(time.Duration(ms) * time.Millisecond)
	ev.Event.ID = id
	ev.Process.Parent.EntityID = parent
	return ev
}

func seqDetector(t *testing.T, opts Options, extra ...string) *Detector {
	t.Helper()
	dir := t.TempDir()
	writeRule(t, dir, "seq", "high", 73, seqRule)
	for i, q := range extra {
		writeRule(t, dir, "extra"+strconv.Itoa(i), "low", 21, q)
	}
	d, err := New(load(t, rules.Options{Paths: []string{dir}, DisableBuiltin: true}), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEvaluateSequence: the document that completes a sequence becomes the
// alert, with rule.*, risk and severity as for a single event, and names
// the earlier documents by event.id; a single-event rule matching the same
// document joins it.
func TestEvaluateSequence(t *testing.T) {
	d := seqDetector(t, Options{}, `process where process.name == "sh"`)
	curl := child("e1", "curl", "P", 0)
	if d.Evaluate(curl) || curl.Event.Kind != ecs.KindEvent || curl.Sequences != nil {
		t.Fatalf("the first step alone is an alert: %+v", curl)
	}
	other := child("e2", "sh", "Q", 100) // another parent: the single rule only
	if !d.Evaluate(other) || other.Sequences != nil {
		t.Fatalf("sh under another parent: alert %v sequences %v", other.Event.Kind, other.Sequences)
	}
	sh := child("e3", "sh", "P", 4000)
	if !d.Evaluate(sh) {
		t.Fatal("the completing document is no alert")
	}
	want := alert{Kind: "alert", IDs: []string{"extra0", "seq"}, RiskScore: 73, Severity: 73}
	if diff := cmp.Diff(want, alertOf(sh)); diff != "" {
		t.Errorf("alert (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ecs.SequenceMatch{{RuleID: "seq", EventIDs: []string{"e1"}}}, sh.Sequences); diff != "" {
		t.Errorf("Sequences (-want +got):\n%s", diff)
	}
	// Out of maxspan: a curl and a shell 5.001 s apart.
	d.Evaluate(child("e4", "curl", "R", 10000))
	if late := child("e5", "sh", "R", 15001); len(evalSeq(d, late)) != 0 {
		t.Errorf("a shell 5001 ms after curl completed the sequence: %v", late.Sequences)
	}
	st := d.Stats()
	if got := st.Sequences["seq"]; got.Pending != 0 || got.Expired != 1 || got.Evicted != 0 {
		t.Errorf("Stats.Sequences[seq] = %+v, want 0 pending, 1 expired", got)
	}
	if st.Matches["seq"] != 1 {
		t.Errorf("Matches[seq] = %d, want 1", st.Matches["seq"])
	}
	// As /stats shows them, under detection.
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"sequences":{"seq":{"pending":0,"evicted":0,"expired":1,"cancelled":0}}`; !strings.Contains(string(js), want) {
		t.Errorf("Stats JSON %s lacks %s", js, want)
	}
}

// evalSeq evaluates ev and returns the sequences it completed.
func evalSeq(d *Detector, ev *ecs.Event) []ecs.SequenceMatch {
	d.Evaluate(ev)
	return ev.Sequences
}

// TestSequenceStateAcrossReload: a reload that keeps a sequence rule's
// query keeps its partial sequences; one that changes it starts afresh,
// and the counts carry on under the rule_id.
func TestSequenceStateAcrossReload(t *testing.T) {
	dir := t.TempDir()
	writeRule(t, dir, "seq", "high", 73, seqRule)
	opts := rules.Options{Paths: []string{dir}, DisableBuiltin: true}
	d, err := New(load(t, opts), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Evaluate(child("e1", "curl", "P", 0))
	writeRule(t, dir, "other", "low", 21, `process where process.name == "nc"`)
	d.Install(load(t, opts))
	if got := evalSeq(d, child("e2", "sh", "P", 1000)); len(got) != 1 {
		t.Fatalf("after a reload that kept the rule, the sequence did not complete: %v", got)
	}
	d.Evaluate(child("e3", "curl", "Q", 2000))
	d.Evaluate(child("e4", "curl", "R", 90000)) // expires e3: 88 s later
	writeRule(t, dir, "seq", "high", 73, seqRule+` until [process where process.name == "kill"]`)
	d.Install(load(t, opts))
	if got := evalSeq(d, child("e5", "sh", "R", 91000)); len(got) != 0 {
		t.Fatalf("a changed rule kept the old rule's partial sequences: %v", got)
	}
	if got := d.Stats().Sequences["seq"]; got.Expired != 1 || got.Pending != 0 {
		t.Errorf("Stats.Sequences[seq] = %+v, want the expiry counted before the reload and 0 pending", got)
	}
}

// TestSequenceStormKeepsAdvancedPartials is what the caps guarantee: a
// storm of unrelated first steps, far beyond max_pending, is bounded in
// memory, counted, logged, and cannot push out a partial sequence that
// has matched more steps than they have.
func TestSequenceStormKeepsAdvancedPartials(t *testing.T) {
	dir := t.TempDir()
	writeRule(t, dir, "three", "high", 73, `sequence by process.parent.entity_id with maxspan=1m
  [process where process.name == "curl"]
  [process where process.name == "chmod"]
  [process where process.name == "sh"]`)
	core, logs := observer.New(zap.WarnLevel)
	d, err := New(load(t, rules.Options{Paths: []string{dir}, DisableBuiltin: true}), Options{MaxPending: 64}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	d.Evaluate(child("a1", "curl", "ATTACK", 0))
	d.Evaluate(child("a2", "chmod", "ATTACK", 10))
	const storm = 10 * evictionReportEvery
	for i := 0; i < storm; i++ {
		d.Evaluate(child("s"+strconv.Itoa(i), "curl", "storm-"+strconv.Itoa(i), 20+i/1000))
	}
	st := d.Stats().Sequences["three"]
	if st.Pending != 64 || st.Evicted != storm-63 {
		t.Errorf("after the storm: %+v, want 64 pending and %d evicted", st, storm-63)
	}
	if got := evalSeq(d, child("a3", "sh", "ATTACK", 100)); len(got) != 1 || !cmp.Equal(got[0].EventIDs, []string{"a1", "a2"}) {
		t.Errorf("the attack's advanced partial sequence did not survive the storm: %v", got)
	}
	if n := logs.FilterMessageSnippet("evicted").Len(); n == 0 {
		t.Error("evictions were not logged")
	}
}

// TestEvaluateAllocations: with the 266 corpus rules, a document that
// starts, advances or completes no sequence allocates nothing, whether or
// not partial sequences are pending; one that starts sequences allocates
// a bounded amount.
func TestEvaluateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	d := corpusDetector(t, Options{})
	ls := execStream(1)[0] // ls -la /var/log from bash
	ls.Timestamp = seqEpoch
	if n := testing.AllocsPerRun(100, func() { d.Evaluate(ls) }); n != 0 || ls.Event.Kind != ecs.KindEvent {
		t.Errorf("a document matching nothing: %v allocations, kind %q; want 0", n, ls.Event.Kind)
	}
	stream := execStream(len(everyday))
	b64 := stream[7] // base64 -d in /tmp/build: starts two sequence rules
	b64.Timestamp = seqEpoch
	d.Evaluate(b64)
	if p := pendingTotal(d); p == 0 {
		t.Fatal("base64 -d started no sequence")
	}
	if n := testing.AllocsPerRun(100, func() { d.Evaluate(ls) }); n != 0 {
		t.Errorf("a document matching nothing while sequences are pending: %v allocations, want 0", n)
	}
	i := 0
	n := testing.AllocsPerRun(100, func() {
		i++
		b64.Event.ID = "b64-" // the same id: no formatting in the count
		b64.Process.Parent.EntityID = parents[i%len(parents)]
		d.Evaluate(b64)
	})
	t.Logf("a document starting two sequences: %v allocations", n)
	if n > 12 {
		t.Errorf("a document starting two sequences: %v allocations, want at most 12", n)
	}
}

// parents are parent entity ids for TestEvaluateAllocations.
var parents = func() []string {
	out := make([]string, 256)
	for i := range out {
		out[i] = "parent-" + strconv.Itoa(i)
	}
	return out
}()

func pendingTotal(d *Detector) int64 {
	var n int64
	for _, s := range d.Stats().Sequences {
		n += s.Pending
	}
	return n
}

// TestTrackerLimitsFromOptions: the Detector's Options reach the engine.
func TestTrackerLimitsFromOptions(t *testing.T) {
	d := seqDetector(t, Options{MaxPending: 100, MaxSpan: 2 * time.Minute})
	in := d.current.Load()
	for i, tr := range in.trackers {
		if tr == nil {
			continue
		}
		if got := tr.Limits(); got != (engine.Limits{MaxPending: 100, MaxSpan: 2 * time.Minute}) {
			t.Errorf("rule %s: Limits %+v", in.set.Rules()[i].Meta.ID, got)
		}
	}
}

// TestSequencesConcurrent evaluates from several goroutines while the set
// is reinstalled and Stats read (run with -race): sequence state is
// serialised, and every sequence completes exactly once.
func TestSequencesConcurrent(t *testing.T) {
	dir := t.TempDir()
	writeRule(t, dir, "seq", "high", 73, seqRule)
	opts := rules.Options{Paths: []string{dir}, DisableBuiltin: true}
	d, err := New(load(t, opts), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, pairs = 4, 200
	var wg sync.WaitGroup
	completed := make([]int, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < pairs; i++ {
				parent := "P" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				d.Evaluate(child("c"+parent, "curl", parent, i))
				if len(evalSeq(d, child("s"+parent, "sh", parent, i+1))) == 1 {
					completed[w]++
				}
			}
		}(w)
	}
	set := load(t, opts)
	for i := 0; i < 20; i++ {
		d.Install(set)
		_ = d.Stats()
	}
	wg.Wait()
	for w, n := range completed {
		if n != pairs {
			t.Errorf("worker %d: %d sequences completed, want %d", w, n, pairs)
		}
	}
}
