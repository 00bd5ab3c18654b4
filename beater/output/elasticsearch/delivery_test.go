package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zapcore"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/beater/tlsconfig"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// TestPublishUnderFaults sends many events through a server that throttles
// whole requests and single items, fails with 503 and cuts connections
// (half of them after applying the bulk): every event must arrive exactly
// once, none dropped, and every 409 the server answered must be counted as
// a duplicate.
func TestPublishUnderFaults(t *testing.T) {
	total := 100_000
	if testing.Short() || raceEnabled {
		total = 20_000
	}
	tests := []struct {
		name   string
		faults esserver.Faults
		gzip   int
		worker int
		div    int // fraction of total, to keep the run short
		bulk   int // small enough for every fault to occur
	}{
		{"faults gzip", esserver.Faults{RequestStatus429: 0.08, RequestStatus503: 0.08, ItemStatus429: 0.02, CutConnection: 0.1, Seed: 1}, 1, 1, 1, 200},
		{"faults plain two workers", esserver.Faults{RequestStatus429: 0.08, RequestStatus503: 0.08, ItemStatus429: 0.02, CutConnection: 0.15, Seed: 2}, 0, 2, 5, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total := total / tc.div
			srv := startES(t, esserver.Options{})
			cfg := testConfig(srv.URL())
			cfg.CompressionLevel = tc.gzip
			cfg.Worker = tc.worker
			cfg.BulkMaxSize = tc.bulk
			setupES(t, cfg)
			srv.SetFaults(tc.faults)
			o := newOutput(t, cfg, nil)

			evs := makeEvents("ev", total, "default", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			const batch = 10_000
			for off := 0; off < len(evs); off += batch {
				if err := o.Publish(ctx, evs[off:min(off+batch, len(evs))]); err != nil {
					t.Fatalf("Publish at %d: %v", off, err)
				}
			}
			srv.SetFaults(esserver.Faults{})

			index := cfg.Index()
			docs := srv.Docs(index)
			if diff := cmp.Diff(idsOf(evs), keys(docs)); diff != "" {
				t.Errorf("ids in %s (-want +got):\n%s", index, diff)
			}
			if got := srv.Count(index); got != total {
				t.Errorf("Count(%s) = %d, want %d", index, got, total)
			}
			st, ss := o.Stats(), srv.Stats()
			if ss.Request429 == 0 || ss.Request503 == 0 || ss.Rejected429 == 0 || ss.CutAfterApply == 0 {
				t.Fatalf("fault plan did not bite: %+v", ss)
			}
			// Every event was created once on the server. The output saw
			// each creation either as a 201 (acked) or, when the answer was
			// cut, as a 409 on the retry (duplicate): so acked+duplicates
			// is the total and the server created exactly total. The
			// server also counts 409s and item 429s inside answers it cut,
			// which the output never saw: those are upper bounds.
			type counts struct {
				Created, Settled, Dropped, DeadLettered uint64
				Request429, Status5xx                   uint64
			}
			want := counts{
				Created: uint64(total), Settled: uint64(total),
				Request429: uint64(ss.Request429), Status5xx: uint64(ss.Request503),
			}
			got := counts{uint64(ss.Created), st.Acked + st.Duplicates, st.Dropped, st.DeadLettered, st.Request429, st.Status5xx}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("output counters against server counters (-want +got):\n%s", diff)
			}
			if st.Duplicates == 0 || st.Duplicates > uint64(ss.Conflicts409) {
				t.Errorf("Duplicates = %d, want 1..%d (the server's 409s)", st.Duplicates, ss.Conflicts409)
			}
			if st.Item429 == 0 || st.Item429 > uint64(ss.Rejected429) {
				t.Errorf("Item429 = %d, want 1..%d (the server's item 429s)", st.Item429, ss.Rejected429)
			}
			if st.RetriedItems == 0 || st.BulkRequests <= uint64(total/cfg.BulkMaxSize) {
				t.Errorf("no retries counted: %+v", st)
			}
			if st.Errors[KindConnection.String()] == 0 {
				t.Errorf("cut connections not counted: %v", st.Errors)
			}
			if tc.gzip > 0 && st.BytesSent >= st.BytesRaw/2 {
				t.Errorf("gzip: sent %d bytes for %d raw", st.BytesSent, st.BytesRaw)
			}
			if st.Batches != uint64((total+batch-1)/batch) || st.PublishCount != st.Batches || st.PublishSum <= 0 {
				t.Errorf("batch counters: %+v", st)
			}
		})
	}
}

// TestNonIndexable checks both policies on documents the mapping refuses:
// drop counts them, dead_letter_index writes them to the dead-letter index
// with the error and the original document; the others arrive either way.
func TestNonIndexable(t *testing.T) {
	bad := func(i int) bool { return i%10 == 3 }
	const n = 200
	tests := []struct {
		name       string
		dlq        string
		wantDrop   uint64
		wantDead   uint64
		wantDLQLen int
	}{
		{name: "drop", wantDrop: n / 10},
		{name: "dead letter", dlq: "spawnbeat-dlq", wantDead: n / 10, wantDLQLen: n / 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startES(t, esserver.Options{})
			cfg := testConfig(srv.URL())
			cfg.BulkMaxSize = 64
			cfg.NonIndexablePolicy.DeadLetterIndex = tc.dlq
			setupES(t, cfg)
			log, logs := observed(zapcore.WarnLevel)
			o := newOutput(t, cfg, log)
			evs := makeEvents("m", n, "default", bad)
			if err := o.Publish(context.Background(), evs); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			var good []pipeline.Event
			var badIDs []string
			for i, e := range evs {
				if bad(i) {
					badIDs = append(badIDs, e.ID)
				} else {
					good = append(good, e)
				}
			}
			if diff := cmp.Diff(idsOf(good), keys(srv.Docs(cfg.Index()))); diff != "" {
				t.Errorf("ids in the data stream (-want +got):\n%s", diff)
			}
			st := o.Stats()
			if st.Dropped != tc.wantDrop || st.DeadLettered != tc.wantDead || st.DeadLetterFailed != 0 {
				t.Errorf("Dropped, DeadLettered, DeadLetterFailed = %d, %d, %d; want %d, %d, 0",
					st.Dropped, st.DeadLettered, st.DeadLetterFailed, tc.wantDrop, tc.wantDead)
			}
			if got := st.Errors[KindNonIndexable.String()]; got != uint64(len(badIDs)) {
				t.Errorf("non_indexable errors = %d, want %d", got, len(badIDs))
			}
			if logs.Len() == 0 {
				t.Errorf("no warning logged for refused events")
			}
			for _, e := range logs.All() {
				for _, f := range e.Context {
					if strings.Contains(f.String, "not-a-pid") {
						t.Errorf("event body logged at %s: %v", e.Level, f)
					}
				}
			}
			if tc.dlq == "" {
				return
			}
			dl := srv.Docs(tc.dlq)
			if len(dl) != tc.wantDLQLen {
				t.Fatalf("dead-letter index holds %d documents, want %d", len(dl), tc.wantDLQLen)
			}
			var d deadLetter
			if err := json.Unmarshal(dl[badIDs[0]], &d); err != nil {
				t.Fatalf("dead-letter document %s: %v", badIDs[0], err)
			}
			if d.Event.ID != badIDs[0] || d.Error.Status != 400 || d.Error.Type == "" || d.Spawnbeat.DeadLetter.Index != cfg.Index() {
				t.Errorf("dead-letter document: %+v", d)
			}
			if d.Message != string(evs[3].Body) {
				t.Errorf("dead-letter message = %s, want the original document %s", d.Message, evs[3].Body)
			}
		})
	}
}

// TestTLSAndAuth runs delivery and TestOutput over TLS with a CA file,
// inline CA, verification none, an API key and basic auth, and checks that
// wrong credentials fail clearly instead of looping silently.
func TestTLSAndAuth(t *testing.T) {
	ca, err := esserver.NewTestCA()
	if err != nil {
		t.Fatalf("NewTestCA: %v", err)
	}
	srvTLS, err := ca.ServerConfig()
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    esserver.Options
		edit    func(*Config)
		wantErr string // in TestOutput's error; empty: all checks pass
	}{
		{
			name: "tls ca file basic auth",
			opts: esserver.Options{TLS: srvTLS, Username: "elastic", Password: "changeme"},
			edit: func(c *Config) {
				c.SSL.CertificateAuthorities = []string{caFile}
				c.Username, c.Password = "elastic", "changeme"
			},
		},
		{
			name: "tls inline ca api key",
			opts: esserver.Options{TLS: srvTLS, APIKeys: []string{"kid:ksecret"}},
			edit: func(c *Config) {
				c.SSL.CertificateAuthorities = []string{string(ca.PEM())}
				c.APIKey = "kid:ksecret"
			},
		},
		{
			name: "tls verification none",
			opts: esserver.Options{TLS: srvTLS},
			edit: func(c *Config) { c.SSL.VerificationMode = tlsconfig.VerifyNone; c.Protocol = "https" },
		},
		{
			name: "tls verification certificate",
			opts: esserver.Options{TLS: srvTLS},
			edit: func(c *Config) {
				c.SSL.CertificateAuthorities = []string{caFile}
				c.SSL.VerificationMode = tlsconfig.VerifyCertificate
			},
		},
		{
			name:    "tls unknown ca",
			opts:    esserver.Options{TLS: srvTLS},
			edit:    func(c *Config) { c.Protocol = "https" },
			wantErr: "certificate",
		},
		{
			name: "wrong password",
			opts: esserver.Options{Username: "elastic", Password: "changeme"},
			edit: func(c *Config) {
				c.Username, c.Password = "elastic", "wrong"
			},
			wantErr: "401 security_exception",
		},
		{
			name:    "wrong api key",
			opts:    esserver.Options{APIKeys: []string{"kid:ksecret"}},
			edit:    func(c *Config) { c.APIKey = "kid:nope" },
			wantErr: "401 security_exception",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startES(t, tc.opts)
			hostPort := strings.TrimPrefix(strings.TrimPrefix(srv.URL(), "https://"), "http://")
			cfg := testConfig(hostPort)
			tc.edit(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			if tc.wantErr != "" {
				var report bytes.Buffer
				err := TestOutput(ctx, cfg, DefaultSetupConfig(), &report)
				if !errors.Is(err, ErrCheckFailed) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("TestOutput error = %v, want ErrCheckFailed with %q", err, tc.wantErr)
				}
				if !strings.Contains(report.String(), "ERROR") {
					t.Errorf("report does not show the failure:\n%s", report.String())
				}
				publishFailsVisibly(t, cfg, tc.wantErr)
				return
			}
			setupES(t, cfg)
			o := newOutput(t, cfg, nil)
			evs := makeEvents("tls", 500, "default", nil)
			if err := o.Publish(ctx, evs); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if got := srv.Count(cfg.Index()); got != len(evs) {
				t.Errorf("Count = %d, want %d", got, len(evs))
			}
			var report bytes.Buffer
			if err := TestOutput(ctx, cfg, DefaultSetupConfig(), &report); err != nil {
				t.Fatalf("TestOutput: %v\n%s", err, report.String())
			}
			for _, want := range []string{"connection... OK", "version: 8.17.0", "index template logs-spawnbeat.process... OK", "repeated create 409"} {
				if !strings.Contains(report.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, report.String())
				}
			}
			if cfg.hasCredentials() && !strings.Contains(report.String(), "auth... OK") {
				t.Errorf("report lacks the auth check:\n%s", report.String())
			}
		})
	}
}

// publishFailsVisibly checks that Publish against a server refusing the
// connection or the credentials logs the reason, shows it in Stats and
// returns when its context ends.
func publishFailsVisibly(t *testing.T, cfg Config, want string) {
	t.Helper()
	log, logs := observed(zapcore.WarnLevel)
	o := newOutput(t, cfg, log)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := o.Publish(ctx, makeEvents("x", 3, "default", nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish error = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Publish returned %s after its context ended", d)
	}
	st := o.Stats()
	if st.Acked != 0 || st.Dropped != 0 {
		t.Errorf("Acked %d, Dropped %d; want 0, 0", st.Acked, st.Dropped)
	}
	if !strings.Contains(st.LastError, strings.SplitN(want, " ", 2)[0]) {
		t.Errorf("Stats.LastError = %q, want it to contain %q", st.LastError, want)
	}
	if logs.Len() == 0 {
		t.Errorf("nothing logged")
	}
	if strings.Contains(want, "security_exception") {
		if logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("credentials").Len() == 0 {
			t.Errorf("no error line about the credentials; got %v", logs.All())
		}
		if st.Errors[KindAuth.String()] == 0 {
			t.Errorf("auth errors not counted: %v", st.Errors)
		}
	}
}

// TestTwoHostsOneDown: with one of two nodes down everything arrives
// through the other, the down node is held back between attempts and tried
// again once its hold-back ends, and after it recovers it takes its share.
func TestTwoHostsOneDown(t *testing.T) {
	up := startES(t, esserver.Options{})
	down := startES(t, esserver.Options{})
	cfg := testConfig(down.URL(), up.URL())
	cfg.BulkMaxSize = 50
	cfg.Backoff = BackoffConfig{Init: 300 * time.Millisecond, Max: 600 * time.Millisecond}
	setupES(t, testConfig(up.URL()))
	setupES(t, testConfig(down.URL()))
	down.Down(true)
	o := newOutput(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connErrs := func() uint64 { return o.Stats().Errors[KindConnection.String()] }
	waitRetry := func() {
		t.Helper()
		if d := time.Until(o.Stats().Hosts[0].RetryAt); d > 0 {
			time.Sleep(d + 10*time.Millisecond)
		}
	}

	start := time.Now()
	evs := makeEvents("h", 1000, "default", nil)
	if err := o.Publish(ctx, evs); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	elapsed := time.Since(start)
	if diff := cmp.Diff(idsOf(evs), keys(up.Docs(cfg.Index()))); diff != "" {
		t.Errorf("ids on the live node (-want +got):\n%s", diff)
	}
	st := o.Stats()
	// Each attempt on the down node is one connection error; between
	// attempts it is held back for at least backoff.init.
	if maxTries := 1 + uint64(elapsed/cfg.Backoff.Init); connErrs() < 1 || connErrs() > maxTries {
		t.Errorf("down node tried %d times in %s, want 1..%d (20 requests)", connErrs(), elapsed, maxTries)
	}
	if !st.Hosts[0].Down || st.Hosts[0].Failures == 0 || st.Hosts[1].Down {
		t.Errorf("host stats = %+v, want the first down", st.Hosts)
	}

	waitRetry()
	before := connErrs()
	if err := o.Publish(ctx, makeEvents("again", 200, "default", nil)); err != nil {
		t.Fatalf("Publish while down: %v", err)
	}
	if connErrs() <= before {
		t.Errorf("down node not tried again after its hold-back (%d connection errors before and after)", before)
	}

	down.Down(false)
	waitRetry()
	more := makeEvents("later", 1000, "default", nil)
	if err := o.Publish(ctx, more); err != nil {
		t.Fatalf("Publish after recovery: %v", err)
	}
	if got := up.Count(cfg.Index()) + down.Count(cfg.Index()); got != len(evs)+200+len(more) {
		t.Errorf("documents on both nodes = %d, want %d", got, len(evs)+200+len(more))
	}
	if down.Count(cfg.Index()) == 0 {
		t.Errorf("the recovered node got nothing")
	}
	if st := o.Stats(); st.Hosts[0].Down || st.Dropped != 0 {
		t.Errorf("after recovery: hosts %+v, dropped %d", st.Hosts, st.Dropped)
	}
}

// TestPublishCancelled: Publish against a node that stays down returns
// the context's error promptly and leaves the events unacknowledged.
func TestPublishCancelled(t *testing.T) {
	srv := startES(t, esserver.Options{})
	cfg := testConfig(srv.URL())
	srv.Down(true)
	o := newOutput(t, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Publish(ctx, makeEvents("c", 10, "default", nil)) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Publish = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish did not return after cancel")
	}
	if st := o.Stats(); st.Acked != 0 || st.Errors[KindConnection.String()] == 0 {
		t.Errorf("stats after a down node: %+v", st)
	}
	if err := o.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := o.Publish(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

// TestSetupKeepsExisting: setup installs the policy and template, keeps
// them on a second run, and TestOutput then passes.
func TestSetupKeepsExisting(t *testing.T) {
	srv := startES(t, esserver.Options{})
	cfg := testConfig(srv.URL())
	var report bytes.Buffer
	ctx := context.Background()
	err := TestOutput(ctx, cfg, DefaultSetupConfig(), &report)
	if !errors.Is(err, ErrCheckFailed) || !strings.Contains(err.Error(), "run spawnbeat setup") {
		t.Fatalf("TestOutput before setup = %v, want the missing template", err)
	}
	setupES(t, cfg)
	setupES(t, cfg) // kept, not an error
	report.Reset()
	if err := TestOutput(ctx, cfg, DefaultSetupConfig(), &report); err != nil {
		t.Fatalf("TestOutput after setup: %v\n%s", err, report.String())
	}
}

// TestPublishRoutesByNamespace: each document lands in the data stream its
// event names (its own data_stream.namespace's), an event that names none in
// the configured one.
func TestPublishRoutesByNamespace(t *testing.T) {
	srv := startES(t, esserver.Options{})
	cfg := testConfig(srv.URL())
	setupES(t, cfg)
	o := newOutput(t, cfg, nil)
	evs := append(makeEvents("d", 50, "default", nil), makeEvents("p", 30, "prod", nil)...)
	evs = append(evs, pipeline.Event{ID: "bare", Body: []byte(`{"@timestamp":"2026-11-27T06:00:00Z","message":"no data_stream"}`)})
	if err := o.Publish(context.Background(), evs); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := map[string]int{
		"logs-spawnbeat.process-default": srv.Count("logs-spawnbeat.process-default"),
		"logs-spawnbeat.process-prod":    srv.Count("logs-spawnbeat.process-prod"),
	}
	want := map[string]int{"logs-spawnbeat.process-default": 51, "logs-spawnbeat.process-prod": 30}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("documents per data stream (-want +got):\n%s", diff)
	}
}
