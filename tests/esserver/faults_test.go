package esserver

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/google/go-cmp/cmp"
)

// docsBody is a bulk of n creates into the data stream with ids
// prefix-0..n-1.
func docsBody(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"create\":{\"_index\":%q,\"_id\":\"%s-%d\"}}\n{\"@timestamp\":\"2026-11-27T06:00:00Z\",\"i\":%d}\n", ds, prefix, i, i)
	}
	return b.String()
}

func TestFaultsWholeRequest(t *testing.T) {
	tests := []struct {
		name     string
		faults   Faults
		status   int
		errType  string
		counters func(Stats) []int64
		want     []int64
	}{
		{"429", Faults{RequestStatus429: 1}, 429, "es_rejected_execution_exception",
			func(s Stats) []int64 { return []int64{s.Request429, s.Request503} }, []int64{1, 0}},
		{"503", Faults{RequestStatus503: 1}, 503, "cluster_block_exception",
			func(s Stats) []int64 { return []int64{s.Request429, s.Request503} }, []int64{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			es := client(t, s, nil)
			putTemplate(t, es, "spawnbeat", logsTemplate)
			s.SetFaults(tt.faults)
			status, _, raw := bulk(t, es, docsBody("a", 3))
			if status != tt.status {
				t.Fatalf("status = %d, want %d: %s", status, tt.status, raw)
			}
			if got := errorType(t, raw); got != tt.errType {
				t.Errorf("error.type = %q, want %q", got, tt.errType)
			}
			if d := cmp.Diff(tt.want, tt.counters(s.Stats())); d != "" {
				t.Errorf("counters (-want +got):\n%s", d)
			}
			if got := s.Count(ds); got != 0 {
				t.Errorf("a refused bulk stored %d documents", got)
			}
			// Only _bulk is refused: other APIs keep working.
			if st, _ := do(t, es, http.MethodGet, "/", ""); st != http.StatusOK {
				t.Errorf("GET / under bulk faults = %d", st)
			}
		})
	}
	t.Run("the client retries 429 when told to", func(t *testing.T) {
		s := start(t, Options{})
		es := client(t, s, func(c *elasticsearch.Config) {
			c.DisableRetry = false
			c.RetryOnStatus = []int{429, 502, 503, 504}
			c.MaxRetries = 5
			c.RetryBackoff = func(int) time.Duration { return time.Millisecond }
		})
		putTemplate(t, es, "spawnbeat", logsTemplate)
		// Seed 3 with p=0.5: some refusals, then an accepted request.
		s.SetFaults(Faults{RequestStatus429: 0.5, Seed: 3})
		status, res, raw := bulk(t, es, docsBody("r", 2))
		if status != http.StatusOK || res.Errors {
			t.Fatalf("status = %d: %s", status, raw)
		}
		if st := s.Stats(); st.Request429 == 0 || s.Count(ds) != 2 {
			t.Errorf("Request429 = %d, Count = %d; want some refusals and 2 documents", st.Request429, s.Count(ds))
		}
	})
}

func TestFaultsItem429(t *testing.T) {
	run := func(seed int64) ([]itemSummary, Stats) {
		s := start(t, Options{})
		es := client(t, s, nil)
		putTemplate(t, es, "spawnbeat", logsTemplate)
		s.SetFaults(Faults{ItemStatus429: 0.3, Seed: seed})
		_, res, raw := bulk(t, es, docsBody("x", 40))
		if len(res.Items) != 40 {
			t.Fatalf("items = %d: %s", len(res.Items), raw)
		}
		if got := int64(s.Count(ds)); got != s.Stats().Created {
			t.Errorf("Count = %d, Created = %d", got, s.Stats().Created)
		}
		return res.summary(), s.Stats()
	}
	a, stA := run(7)
	b, _ := run(7)
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("same seed, different draws (-first +second):\n%s", d)
	}
	rejected := 0
	for _, it := range a {
		switch it {
		case itemSummary{"create", 429, "es_rejected_execution_exception"}:
			rejected++
		case itemSummary{"create", 201, ""}:
		default:
			t.Errorf("unexpected item %+v", it)
		}
	}
	if rejected == 0 || rejected == 40 || int64(rejected) != stA.Rejected429 {
		t.Errorf("rejected %d of 40, Stats().Rejected429 = %d", rejected, stA.Rejected429)
	}
	c, _ := run(8)
	if cmp.Equal(a, c) {
		t.Errorf("seeds 7 and 8 drew the same rejections")
	}
}

func TestFaultsCutConnection(t *testing.T) {
	s := start(t, Options{})
	es := client(t, s, nil)
	putTemplate(t, es, "spawnbeat", logsTemplate)
	s.SetFaults(Faults{CutConnection: 1, Seed: 11})
	const requests, per = 12, 5
	for r := range requests {
		res, err := es.Bulk(strings.NewReader(docsBody(fmt.Sprint("r", r), per)))
		if err == nil {
			res.Body.Close()
			t.Fatalf("request %d: got status %d, want a cut connection", r, res.StatusCode)
		}
	}
	st := s.Stats()
	after := st.CutAfterApply
	if st.Cut != requests || after == 0 || after == requests {
		t.Fatalf("Cut = %d, CutAfterApply = %d; want %d cuts, some before and some after applying", st.Cut, after, requests)
	}
	if got := s.Count(ds); got != int(after)*per {
		t.Errorf("Count = %d, want %d (documents of the requests cut after applying)", got, after*per)
	}
	// The client retries every request once the node behaves: the ones
	// that had landed now answer 409 per item, the others 201.
	s.SetFaults(Faults{})
	conflicts := 0
	for r := range requests {
		_, res, _ := bulk(t, es, docsBody(fmt.Sprint("r", r), per))
		for _, it := range res.summary() {
			if it.Status == 409 {
				conflicts++
			}
		}
	}
	if conflicts != int(after)*per {
		t.Errorf("409s on retry = %d, want %d", conflicts, after*per)
	}
	if got := s.Count(ds); got != requests*per {
		t.Errorf("Count after retries = %d, want %d", got, requests*per)
	}
}

func TestFaultsLatency(t *testing.T) {
	tests := []struct {
		name    string
		latency time.Duration
	}{
		{"none", 0},
		{"150ms", 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			es := client(t, s, nil)
			s.SetFaults(Faults{Latency: tt.latency})
			t0 := time.Now()
			res, err := es.Info()
			if err != nil {
				t.Fatalf("Info: %v", err)
			}
			res.Body.Close()
			if el := time.Since(t0); el < tt.latency {
				t.Errorf("answered after %v, want at least %v", el, tt.latency)
			}
		})
	}
}

func TestDownAndUp(t *testing.T) {
	s := start(t, Options{})
	es := client(t, s, nil)
	putTemplate(t, es, "spawnbeat", logsTemplate)
	if status, _, raw := bulk(t, es, docsBody("before", 3)); status != 200 {
		t.Fatalf("bulk: %s", raw)
	}
	url := s.URL()

	// A request in flight when the node goes down fails.
	s.SetFaults(Faults{Latency: 5 * time.Second})
	errc := make(chan error, 1)
	go func() {
		res, err := es.Info()
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Requests < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	s.Down(true)
	select {
	case err := <-errc:
		if err == nil {
			t.Errorf("request in flight survived Down(true)")
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("request in flight not cut by Down(true)")
	}
	s.SetFaults(Faults{})

	if _, err := es.Info(); err == nil {
		t.Errorf("Info succeeded while down")
	}
	s.Down(true) // idempotent
	s.Down(false)
	if s.URL() != url {
		t.Errorf("URL changed from %s to %s", url, s.URL())
	}
	res, err := es.Info()
	if err != nil {
		t.Fatalf("Info after Down(false): %v", err)
	}
	res.Body.Close()
	if got := s.Count(ds); got != 3 {
		t.Errorf("Count after restart = %d, want 3 (data survives)", got)
	}
	if status, res, raw := bulk(t, es, docsBody("after", 2)); status != 200 || res.Errors {
		t.Errorf("bulk after restart: %d %s", status, raw)
	}
	if st := s.Stats(); st.DownCuts == 0 {
		t.Errorf("Stats().DownCuts = 0 after cutting a request")
	}
}
