package elasticsearch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
)

func TestClassifyItem(t *testing.T) {
	tests := []struct {
		status int
		want   itemClass
	}{
		{200, classAcked}, {201, classAcked}, {409, classDuplicate}, {429, classRetry},
		{500, classRetry}, {503, classRetry}, {400, classNonIndexable}, {404, classNonIndexable},
		{413, classNonIndexable}, {0, classNonIndexable},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			if got := classifyItem(tc.status); got != tc.want {
				t.Errorf("classifyItem(%d) = %d, want %d", tc.status, got, tc.want)
			}
		})
	}
}

func TestBulkEncoder(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		body    string
		want    string
		wantErr error
	}{
		{"plain", "a1", `{"x":1}`, "{\"create\":{\"_index\":\"i\",\"_id\":\"a1\"}}\n{\"x\":1}\n", nil},
		{"id escaped", "q\"\\é\n", `{}`, "{\"create\":{\"_index\":\"i\",\"_id\":\"q\\\"\\\\é\\n\"}}\n{}\n", nil},
		{"pretty body compacted", "p", "{\n  \"x\": [1,\n 2]\n}", "{\"create\":{\"_index\":\"i\",\"_id\":\"p\"}}\n{\"x\":[1,2]}\n", nil},
		{"broken body with newline refused", "b", "{\"x\":\n", "", errDocumentNewline},
	}
	for _, tc := range tests {
		for _, level := range []int{0, 1, 9} {
			t.Run(tc.name+"/gzip="+strconv.Itoa(level), func(t *testing.T) {
				e := newBulkEncoder(level)
				err := e.AddCreate("i", tc.id, []byte(tc.body))
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("AddCreate error = %v, want %v", err, tc.wantErr)
				}
				got := bodyText(t, e)
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
				if e.Raw() != len(tc.want) {
					t.Errorf("Raw() = %d, want %d", e.Raw(), len(tc.want))
				}
				if tc.wantErr != nil {
					return
				}
				var action struct {
					Create struct {
						Index string `json:"_index"`
						ID    string `json:"_id"`
					} `json:"create"`
				}
				line, _, _ := strings.Cut(got, "\n")
				if err := json.Unmarshal([]byte(line), &action); err != nil || action.Create.ID != tc.id {
					t.Errorf("action line %s does not round-trip the id %q: %v", line, tc.id, err)
				}
			})
		}
	}
}

// TestBulkEncoderReset: a reused encoder sends each body alone, compressed
// or not, and says how it is encoded.
func TestBulkEncoderReset(t *testing.T) {
	for _, level := range []int{0, 1} {
		e := newBulkEncoder(level)
		wantEnc := map[int]string{0: "", 1: "gzip"}[level]
		if e.ContentEncoding() != wantEnc {
			t.Errorf("level %d: ContentEncoding() = %q, want %q", level, e.ContentEncoding(), wantEnc)
		}
		for round := range 3 {
			e.Reset()
			var want strings.Builder
			for i := range 50 {
				id := fmt.Sprintf("r%d-%d", round, i)
				doc := fmt.Sprintf(`{"round":%d,"i":%d,"pad":%q}`, round, i, strings.Repeat("x", i*40))
				if err := e.AddCreate("idx", id, []byte(doc)); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&want, "{\"create\":{\"_index\":\"idx\",\"_id\":%q}}\n%s\n", id, doc)
			}
			if diff := cmp.Diff(want.String(), bodyText(t, e)); diff != "" {
				t.Errorf("level %d round %d: body (-want +got):\n%s", level, round, diff)
			}
		}
	}
}

// bodyText ends e's body and returns it uncompressed.
func bodyText(t *testing.T, e *bulkEncoder) string {
	t.Helper()
	b, err := e.Body()
	if err != nil {
		t.Fatalf("Body: %v", err)
	}
	if e.ContentEncoding() != "gzip" {
		return string(b)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	return string(plain)
}

func TestBulkResponseDecodeReusesWithoutLeaks(t *testing.T) {
	var r bulkResponse
	if err := r.decode([]byte(`{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad","caused_by":{"type":"x","reason":"y"}}}}]}`)); err != nil {
		t.Fatal(err)
	}
	if r.Items[1].Create.Error == nil || r.Items[1].Create.Error.String() != "mapper_parsing_exception: bad (caused by x: y)" {
		t.Fatalf("first decode: %+v", r.Items[1].Create.Error)
	}
	if err := r.decode([]byte(`{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}},{"create":{"status":409}}]}`)); err != nil {
		t.Fatal(err)
	}
	var got []bulkItemResult
	for _, it := range r.Items {
		got = append(got, it.Create)
	}
	want := []bulkItemResult{{Status: 201}, {Status: 201}, {Status: 409}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("second decode kept old values (-want +got):\n%s", diff)
	}
	if err := r.decode([]byte(`{"items":`)); err == nil {
		t.Errorf("truncated answer decoded without error")
	}
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		name, body, typ, reason string
	}{
		{"es error", `{"error":{"type":"security_exception","reason":"unable to authenticate user [elastic]"},"status":401}`, "security_exception", "unable to authenticate user [elastic]"},
		{"with cause", `{"error":{"type":"a","reason":"r","caused_by":{"type":"b","reason":"c"}},"status":400}`, "a", "r (caused by b: c)"},
		{"string error", `{"error":"Incorrect HTTP method","status":405}`, "", "Incorrect HTTP method"},
		{"proxy html", "<html>bad gateway</html>\n", "", "<html>bad gateway</html>"},
		{"empty", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, reason := parseErrorBody([]byte(tc.body))
			if typ != tc.typ || reason != tc.reason {
				t.Errorf("parseErrorBody = %q, %q; want %q, %q", typ, reason, tc.typ, tc.reason)
			}
		})
	}
}

func TestPublicReason(t *testing.T) {
	in := "[1:141] failed to parse field [process.pid] of type [long] in document with id 'm-3'. Preview of field's value: 'secret'"
	if got := publicReason(in); strings.Contains(got, "secret") || !strings.Contains(got, "process.pid") {
		t.Errorf("publicReason = %q", got)
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(10*time.Millisecond, 80*time.Millisecond, 7)
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 10 * time.Millisecond, 10 * time.Millisecond},
		{1, 10 * time.Millisecond, 20 * time.Millisecond},
		{2, 10 * time.Millisecond, 40 * time.Millisecond},
		{3, 10 * time.Millisecond, 80 * time.Millisecond},
		{30, 10 * time.Millisecond, 80 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.attempt), func(t *testing.T) {
			var hi time.Duration
			for range 500 {
				d := b.Wait(tc.attempt)
				if d < tc.min || d > tc.max {
					t.Fatalf("Wait(%d) = %s, want within [%s, %s]", tc.attempt, d, tc.min, tc.max)
				}
				hi = max(hi, d)
			}
			if tc.attempt >= 2 && hi <= tc.max/2 {
				t.Errorf("Wait(%d) never above %s: no jitter up to the ceiling", tc.attempt, tc.max/2)
			}
		})
	}
}

func TestNodePool(t *testing.T) {
	a, b := &node{url: "a"}, &node{url: "b"}
	p := &nodePool{nodes: []*node{a, b}, bo: newBackoff(time.Second, 4*time.Second, 1)}
	now := time.Unix(1000, 0)
	var order []string
	for range 4 {
		n, _ := p.pick(now)
		order = append(order, n.url)
	}
	if diff := cmp.Diff([]string{"a", "b", "a", "b"}, order); diff != "" {
		t.Errorf("round robin (-want +got):\n%s", diff)
	}
	p.markDown(a, now)
	for range 3 {
		if n, _ := p.pick(now); n != b {
			t.Fatalf("picked %s while a is down", n.url)
		}
	}
	p.markDown(b, now)
	if n, wait := p.pick(now); n != nil || wait != time.Second {
		t.Fatalf("pick with both down = %v, %s; want nil, 1s", n, wait)
	}
	if n, _ := p.pick(now.Add(time.Second)); n == nil {
		t.Fatalf("no node after the hold-back")
	}
	p.markUp(a)
	// b's hold-back has ended, but it has not answered since: only an
	// answer brings a node up.
	if st := p.stats(); st[0].Down || st[0].Failures != 0 || !st[1].Down || st[1].Failures != 1 {
		t.Errorf("stats = %+v, want a up and b still down", st)
	}
}

// fakeES is a scripted bulk endpoint: answer gets the request number and
// the ids in the request and returns status and body.
type fakeES struct {
	mu     sync.Mutex
	reqs   [][]string // ids per bulk request
	index  []string   // _index per item, in arrival order
	answer func(n int, ids []string, docs []string) (int, string)
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/" {
		_, _ = io.WriteString(w, `{"version":{"number":"8.17.0"},"tagline":"You Know, for Search"}`)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	var ids, docs []string
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	f.mu.Lock()
	for sc.Scan() {
		var a struct {
			Create struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			f.mu.Unlock()
			http.Error(w, "bad action line", 400)
			return
		}
		ids = append(ids, a.Create.ID)
		f.index = append(f.index, a.Create.Index)
		sc.Scan()
		docs = append(docs, sc.Text())
	}
	n := len(f.reqs)
	f.reqs = append(f.reqs, ids)
	f.mu.Unlock()
	status, out := f.answer(n, ids, docs)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, out)
}

// items renders a bulk answer from statuses.
func items(statuses ...int) string {
	var b strings.Builder
	b.WriteString(`{"errors":true,"items":[`)
	for i, s := range statuses {
		if i > 0 {
			b.WriteByte(',')
		}
		if s >= 300 {
			fmt.Fprintf(&b, `{"create":{"status":%d,"error":{"type":"t%d","reason":"r%d"}}}`, s, s, s)
		} else {
			fmt.Fprintf(&b, `{"create":{"status":%d}}`, s)
		}
	}
	b.WriteString("]}")
	return b.String()
}

func evsN(n int) []pipeline.Event {
	evs := make([]pipeline.Event, n)
	for i := range evs {
		evs[i] = pipeline.Event{ID: fmt.Sprintf("e%d", i), Body: []byte(fmt.Sprintf(`{"@timestamp":"2026-11-27T06:00:00Z","n":%d}`, i))}
	}
	return evs
}

// TestPublishClassification scripts bulk answers and checks what is
// resent, what each counter says and where dead letters go.
func TestPublishClassification(t *testing.T) {
	tests := []struct {
		name     string
		events   int
		edit     func(*Config)
		answer   func(n int, ids, docs []string) (int, string)
		wantReqs [][]string
		want     Stats // only the counters compared below
		wantDLQ  int   // items sent to the dead-letter index
	}{
		{
			name:   "per item",
			events: 6,
			answer: func(n int, _, _ []string) (int, string) {
				if n == 0 {
					return 200, items(201, 409, 429, 503, 400, 201)
				}
				return 200, items(201, 201)
			},
			wantReqs: [][]string{{"e0", "e1", "e2", "e3", "e4", "e5"}, {"e2", "e3"}},
			want:     Stats{Acked: 4, Duplicates: 1, RetriedItems: 2, Dropped: 1, Item429: 1, Status5xx: 1, BulkRequests: 2, Batches: 1},
		},
		{
			name:   "dead letter",
			events: 3,
			edit:   func(c *Config) { c.NonIndexablePolicy.DeadLetterIndex = "dlq" },
			answer: func(n int, _, _ []string) (int, string) {
				switch n {
				case 0:
					return 200, items(201, 400, 400)
				case 1:
					return 200, items(201, 400) // the second dead letter is refused too
				}
				return 200, items(201)
			},
			wantReqs: [][]string{{"e0", "e1", "e2"}, {"e1", "e2"}},
			want:     Stats{Acked: 1, DeadLettered: 1, DeadLetterFailed: 1, Dropped: 1, BulkRequests: 2, Batches: 1},
			wantDLQ:  2,
		},
		{
			name:   "max retries",
			events: 2,
			edit:   func(c *Config) { c.MaxRetries = 1 },
			answer: func(n int, _, _ []string) (int, string) {
				if n == 0 {
					return 200, items(201, 429)
				}
				return 200, items(429)
			},
			wantReqs: [][]string{{"e0", "e1"}, {"e1"}},
			want:     Stats{Acked: 1, Dropped: 1, Item429: 2, RetriedItems: 1, BulkRequests: 2, Batches: 1},
		},
		{
			name:   "whole request 400 bisects to the bad document",
			events: 4,
			answer: func(_ int, ids, docs []string) (int, string) {
				for _, d := range docs {
					if strings.Contains(d, `"n":2`) {
						return 400, `{"error":{"type":"illegal_argument_exception","reason":"Malformed content"},"status":400}`
					}
				}
				st := make([]int, len(ids))
				for i := range st {
					st[i] = 201
				}
				return 200, items(st...)
			},
			wantReqs: [][]string{{"e0", "e1", "e2", "e3"}, {"e0", "e1"}, {"e2", "e3"}, {"e2"}, {"e3"}},
			want:     Stats{Acked: 3, Dropped: 1, RetriedItems: 6, BulkRequests: 5, Batches: 1},
		},
		{
			name:   "whole request failures retry everything",
			events: 2,
			answer: func(n int, _, _ []string) (int, string) {
				switch n {
				case 0:
					return 429, `{"error":{"type":"es_rejected_execution_exception","reason":"queue full"},"status":429}`
				case 1:
					return 502, `<html>bad gateway</html>`
				case 2:
					return 404, `{"error":"no handler","status":404}`
				case 3:
					return 200, `{"errors":false,"items":[{"create":{"status":201}}]}` // one answer for two items
				}
				return 200, items(201, 201)
			},
			wantReqs: [][]string{{"e0", "e1"}, {"e0", "e1"}, {"e0", "e1"}, {"e0", "e1"}, {"e0", "e1"}},
			want:     Stats{Acked: 2, RetriedItems: 8, Request429: 1, Status5xx: 1, BulkRequests: 5, Batches: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeES{answer: tc.answer}
			srv := httptest.NewServer(f)
			defer srv.Close()
			cfg := testConfig(srv.URL)
			cfg.CompressionLevel = 1
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			o := newOutput(t, cfg, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := o.Publish(ctx, evsN(tc.events)); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			f.mu.Lock()
			reqs, index := f.reqs, f.index
			f.mu.Unlock()
			if diff := cmp.Diff(tc.wantReqs, reqs); diff != "" {
				t.Errorf("ids per request (-want +got):\n%s", diff)
			}
			st := o.Stats()
			got := Stats{
				Acked: st.Acked, Duplicates: st.Duplicates, RetriedItems: st.RetriedItems, Dropped: st.Dropped,
				DeadLettered: st.DeadLettered, DeadLetterFailed: st.DeadLetterFailed, Item429: st.Item429,
				Request429: st.Request429, Status5xx: st.Status5xx, BulkRequests: st.BulkRequests, Batches: st.Batches,
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			dlq := 0
			for _, ix := range index {
				if ix == "dlq" {
					dlq++
				}
			}
			if dlq != tc.wantDLQ {
				t.Errorf("%d items went to the dead-letter index, want %d", dlq, tc.wantDLQ)
			}
		})
	}
}

// FuzzBulkResponse: any answer body decodes or fails cleanly, and the
// classification of whatever decoded never panics.
func FuzzBulkResponse(f *testing.F) {
	f.Add([]byte(items(201, 409, 429, 503, 400)))
	f.Add([]byte(`{"errors":false,"items":[{"create":{"status":201}}]}`))
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":400,"error":"plain string"}}]}`))
	f.Add([]byte(`{"error":{"type":"security_exception","reason":"x"},"status":401}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(_ *testing.T, b []byte) {
		var r bulkResponse
		if err := r.decode(b); err != nil {
			return
		}
		for _, it := range r.Items {
			_ = classifyItem(it.Create.Status)
			_ = it.Create.Error.String()
			_ = it.Create.Error.reasonWithCause()
		}
		_, _ = parseErrorBody(b)
	})
}

// BenchmarkBulk measures encoding a bulk_max_size body of realistic
// documents into the reused buffer.
func BenchmarkBulk(b *testing.B) {
	evs := makeEvents("bench", DefaultBulkMaxSize, "default", nil)
	var e bulkEncoder
	var size int64
	for _, ev := range evs {
		size += int64(len(ev.Body))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Reset()
		for i := range evs {
			if err := e.AddCreate("logs-spawnbeat.process-default", evs[i].ID, evs[i].Body); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestIndexNames(t *testing.T) {
	tests := []struct {
		name, index, want string
	}{
		{"configured", "logs-spawnbeat.process-default", "logs-spawnbeat.process-default"},
		{"another namespace", "logs-spawnbeat.process-prod", "logs-spawnbeat.process-prod"},
		{"none", "", "logs-spawnbeat.process-default"},
		{"not spawnbeat's", "logs-other-prod", "logs-spawnbeat.process-default"},
		{"invalid namespace", "logs-spawnbeat.process-Bad-NS", "logs-spawnbeat.process-default"},
		{"empty namespace", "logs-spawnbeat.process-", "logs-spawnbeat.process-default"},
	}
	n := indexNames{def: "logs-spawnbeat.process-default"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // computed, then cached
				if got := n.For(tc.index); got != tc.want {
					t.Errorf("For(%q) = %q, want %q", tc.index, got, tc.want)
				}
			}
		})
	}
	index := "logs-spawnbeat.process-prod"
	if allocs := testing.AllocsPerRun(100, func() { _ = n.For(index) }); allocs != 0 {
		t.Errorf("For allocates %.0f times per event for a known index", allocs)
	}
}

// TestBulkResponseScan: the usual answers are read by the scan, in every
// form Elasticsearch may write them, and everything else goes to
// encoding/json with the same result it always gave.
func TestBulkResponseScan(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		scanned bool // read by scanStatuses without encoding/json
		want    bulkResponse
		wantErr bool
	}{
		{"usual", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`, true,
			bulkResponse{Items: []bulkItem{{bulkItemResult{Status: 201}}, {bulkItemResult{Status: 201}}}}, false},
		{"whitespace and key order", " {\n \"items\" : [ { \"create\" : { \"status\" : 409 } } ] ,\t\"errors\" : true }\r\n", true,
			bulkResponse{Errors: true, Items: []bulkItem{{bulkItemResult{Status: 409}}}}, false},
		{"empty", `{}`, true, bulkResponse{}, false},
		{"no items", `{"errors":false,"items":[]}`, true, bulkResponse{}, false},
		{"status 0", `{"items":[{"create":{"status":0}}]}`, true, bulkResponse{Items: []bulkItem{{bulkItemResult{Status: 0}}}}, false},
		{"item with error", `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}`, false,
			bulkResponse{Errors: true, Items: []bulkItem{{bulkItemResult{Status: 201}}, {bulkItemResult{Status: 400, Error: &esError{Type: "mapper_parsing_exception", Reason: "bad"}}}}}, false},
		{"another action", `{"items":[{"index":{"status":201}}]}`, false, bulkResponse{Items: []bulkItem{{}}}, false},
		{"escaped key", `{"items":[{"create":{"st\u0061tus":201}}]}`, false, bulkResponse{Items: []bulkItem{{bulkItemResult{Status: 201}}}}, false},
		{"key in another case", `{"Errors":true}`, false, bulkResponse{Errors: true}, false},
		{"items null", `{"items":null}`, false, bulkResponse{}, false},
		{"duplicate key", `{"errors":true,"errors":false}`, false, bulkResponse{}, false},
		{"unknown key", `{"took":3,"items":[{"create":{"status":201}}]}`, false, bulkResponse{Items: []bulkItem{{bulkItemResult{Status: 201}}}}, false},
		{"leading zero", `{"items":[{"create":{"status":0201}}]}`, false, bulkResponse{}, true},
		{"fraction", `{"items":[{"create":{"status":201.5}}]}`, false, bulkResponse{}, true},
		{"truncated", `{"errors":false,"items":[{"create":{"status":201}}`, false, bulkResponse{}, true},
		{"trailing data", `{"errors":false}x`, false, bulkResponse{}, true},
		{"not JSON", `<html>`, false, bulkResponse{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var scan bulkResponse
			if got := scan.scanStatuses([]byte(tc.body)); got != tc.scanned {
				t.Errorf("scanStatuses = %v, want %v", got, tc.scanned)
			}
			var r bulkResponse
			r.Items = make([]bulkItem, 3)
			r.Items[0].Create = bulkItemResult{Status: 500, Error: &esError{Type: "stale"}} // must not leak into the answer
			err := r.decode([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("decode error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if diff := cmp.Diff(tc.want, r, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzBulkResponseDecode holds the scan to encoding/json: whatever answer
// the scan accepts, encoding/json accepts too, with the same result.
func FuzzBulkResponseDecode(f *testing.F) {
	for _, seed := range []string{
		`{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`,
		`{"errors":true,"items":[{"create":{"status":429}},{"create":{"status":409}}]}`,
		`{"errors":true,"items":[{"create":{"status":400,"error":{"type":"x","reason":"y"}}}]}`,
		` { "items" : [ ] } `, `{}`, `{"items":[{"create":{"status":0}}]}`, `{"items":[{"create":{"status":20}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var scan bulkResponse
		if !scan.scanStatuses(body) {
			return
		}
		var ref bulkResponse
		if err := ref.decodeJSON(body); err != nil {
			t.Fatalf("scan accepted %q, encoding/json refused it: %v", body, err)
		}
		if diff := cmp.Diff(ref, scan, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%q: scan and encoding/json differ (-json +scan):\n%s", body, diff)
		}
	})
}

// BenchmarkBulkResponse decodes the answer to a full bulk that had no
// errors (1,600 items), with the scan and with encoding/json.
func BenchmarkBulkResponse(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"errors":false,"items":[`)
	for i := range DefaultBulkMaxSize {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"create":{"status":201}}`)
	}
	body.WriteString(`]}`)
	for _, bc := range []struct {
		name   string
		decode func(*bulkResponse, []byte) error
	}{{"scan", (*bulkResponse).decode}, {"encoding-json", (*bulkResponse).decodeJSON}} {
		b.Run(bc.name, func(b *testing.B) {
			var r bulkResponse
			b.SetBytes(int64(body.Len()))
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.decode(&r, body.Bytes()); err != nil || len(r.Items) != DefaultBulkMaxSize {
					b.Fatalf("decode: %v, %d items", err, len(r.Items))
				}
			}
		})
	}
}
