package esserver

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultVersion is the Elasticsearch version reported when Options.Version
// is empty.
const DefaultVersion = "8.17.0"

// maxContentLength mirrors Elasticsearch's default http.max_content_length
// (100mb): larger bodies answer 413.
const maxContentLength = 100 << 20

// Options configure a Server. The zero value is a plain-HTTP server without
// authentication that reports DefaultVersion. Start copies what it needs;
// the TLS config must not be modified afterwards.
type Options struct {
	// Version is reported as version.number by GET / (default "8.17.0").
	Version string
	// Username and Password, when Username is set, are the only Basic
	// credentials accepted; every request must then authenticate.
	Username, Password string
	// APIKeys are "id:key" pairs accepted as "Authorization: ApiKey
	// base64(id:key)"; when non-empty every request must authenticate.
	APIKeys []string
	// TLS, when set, makes the server speak HTTPS only.
	TLS *tls.Config
	// Logf, when set, receives one line per notable server event (listener
	// failures, injected faults). It must be safe for concurrent use.
	Logf func(format string, args ...any)
	// Addr is the listen address; empty means "127.0.0.1:0".
	Addr string
	// NoBuiltinTemplates leaves out the logs-*-* and metrics-*-* index
	// templates (priority 100) and their lifecycle policies that
	// Elasticsearch installs by default, as a cluster with
	// stack.templates.enabled: false would.
	NoBuiltinTemplates bool
}

// Faults is a fault-injection plan, a plain value passed to SetFaults.
// Probabilities are in [0, 1] (outside values are clamped); draws come from
// a generator seeded with Seed, in the order requests and items arrive, so a
// single client sending one request at a time sees the same faults on every
// run.
type Faults struct {
	// RequestStatus429 and RequestStatus503 are the probabilities that a
	// _bulk request is refused as a whole with 429 or 503, nothing applied.
	RequestStatus429, RequestStatus503 float64
	// ItemStatus429 is the probability that one bulk item is rejected with a
	// per-item 429 es_rejected_execution_exception (not applied).
	ItemStatus429 float64
	// CutConnection is the probability that a _bulk request's connection is
	// closed without a response; half of those are cut after the bulk was
	// applied, so a client that retries must then see 409s for its creates.
	CutConnection float64
	// Latency is added before every response.
	Latency time.Duration
	// Seed makes the draws deterministic.
	Seed int64
}

// Stats is a snapshot of the server's counters since Start, a plain value.
type Stats struct {
	Requests      int64 // HTTP requests that reached a handler
	Unauthorized  int64 // requests answered 401
	BulkRequests  int64 // _bulk requests received (including refused ones)
	BadRequests   int64 // whole-request 4xx answers to _bulk (malformed bodies)
	Items         int64 // bulk items parsed from accepted requests
	Created       int64 // items answered 201
	Updated       int64 // index/update items answered 200 (including noop)
	Deleted       int64 // delete items that removed a document
	NotFound      int64 // items answered 404
	Conflicts409  int64 // items answered 409
	Rejected429   int64 // items answered 429 by fault injection
	MappingErrors int64 // items answered 400 for a document the mapping refuses (including a missing @timestamp)
	ItemErrors400 int64 // other per-item 400s (op type, index name, unsupported updates)
	Request429    int64 // whole _bulk requests answered 429 by fault injection
	Request503    int64 // whole _bulk requests answered 503 by fault injection
	Cut           int64 // connections cut by fault injection (before and after applying)
	CutAfterApply int64 // of Cut, those cut after the bulk was applied
	DownCuts      int64 // connections closed because the node was down
	Ingested      int64 // documents that went through at least one ingest pipeline
}

type counters struct {
	requests, unauthorized, bulkRequests, badRequests, items, created, updated,
	deleted, notFound, conflicts, rejected429, mappingErrors, itemErrors400,
	request429, request503, cut, cutAfterApply, downCuts, ingested atomic.Int64
}

// Server is an in-memory Elasticsearch test node. It is safe for concurrent
// use: requests are served concurrently and the store serialises writes.
type Server struct {
	opts        Options
	version     string
	clusterUUID string
	nodeName    string
	scheme      string
	apiKeys     map[string]string // id -> key

	store *store
	c     counters

	faultMu sync.Mutex
	faults  Faults
	rng     *mrand.Rand

	mu     sync.Mutex // guards the fields below
	hs     *http.Server
	ln     net.Listener
	addr   string
	conns  map[net.Conn]struct{}
	down   bool
	closed bool
	serve  sync.WaitGroup
}

// Start listens on Options.Addr (default 127.0.0.1:0) and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Username == "" && opts.Password != "" {
		return nil, fmt.Errorf("start: password without username: %w", ErrInvalidOptions)
	}
	s := &Server{
		opts:        opts,
		version:     opts.Version,
		clusterUUID: randomID(16),
		nodeName:    "esserver-" + randomID(4),
		scheme:      "http",
		apiKeys:     make(map[string]string, len(opts.APIKeys)),
		conns:       make(map[net.Conn]struct{}),
	}
	if s.version == "" {
		s.version = DefaultVersion
	}
	for _, k := range opts.APIKeys {
		id, key, ok := strings.Cut(k, ":")
		if !ok || id == "" || key == "" {
			return nil, fmt.Errorf("start: api key %q is not id:key: %w", redactKey(k), ErrInvalidOptions)
		}
		s.apiKeys[id] = key
	}
	if opts.TLS != nil {
		s.scheme = "https"
	}
	s.store = newStore()
	if !opts.NoBuiltinTemplates {
		s.store.installBuiltins()
	}
	s.SetFaults(Faults{})
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("start listen %s: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	s.hs = &http.Server{
		Handler:           http.HandlerFunc(s.handle),
		ReadHeaderTimeout: 30 * time.Second,
		ConnState:         s.connState,
		// net/http's own complaints (TLS handshakes, bad requests) go to
		// Logf instead of the process-wide log package.
		ErrorLog: log.New(logfWriter{s}, "", 0),
	}
	s.mu.Lock()
	s.serveOn(ln)
	s.mu.Unlock()
	return s, nil
}

func redactKey(k string) string {
	id, _, _ := strings.Cut(k, ":")
	return id + ":<redacted>"
}

// serveOn starts serving ln; s.mu must be held.
func (s *Server) serveOn(ln net.Listener) {
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	s.ln = ln
	s.serve.Add(1)
	go func() {
		defer s.serve.Done()
		// Serve returns when the listener is closed by Down or Close.
		_ = s.hs.Serve(ln)
	}()
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateNew:
		if s.down || s.closed {
			// Accepted in the instant before the listener closed.
			s.c.downCuts.Add(1)
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	}
}

// URL is the base URL of the server, "http://127.0.0.1:PORT" or https.
func (s *Server) URL() string {
	return s.scheme + "://" + s.addr
}

// Addr is the listen address, host:port.
func (s *Server) Addr() string { return s.addr }

// Close stops the server and closes every connection. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.hs.Close()
	s.serve.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close server %s: %w", s.addr, err)
	}
	return nil
}

// Down takes the node down (true): the listener is closed, so new
// connections are refused, and every open connection is closed, so requests
// in flight fail. Down(false) serves again on the same address. The stored
// data survives, as it would on a restarted node.
func (s *Server) Down(d bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.down == d {
		return
	}
	s.down = d
	if d {
		if s.ln != nil {
			_ = s.ln.Close()
			s.ln = nil
		}
		for c := range s.conns {
			s.c.downCuts.Add(1)
			_ = c.Close()
			delete(s.conns, c)
		}
		return
	}
	var (
		ln  net.Listener
		err error
	)
	// The port was ours a moment ago; a fresh listen can race with the
	// kernel tearing down the old socket, so retry briefly.
	for range 50 {
		ln, err = net.Listen("tcp", s.addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.logf("esserver: listen again on %s: %v", s.addr, err)
		return
	}
	s.serveOn(ln)
}

// SetFaults replaces the active fault plan and reseeds its generator.
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
	seed := uint64(f.Seed)
	s.rng = mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func (s *Server) faultPlan() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

// draw reports whether an event of probability p happens.
func (s *Server) draw(p float64) bool {
	if p <= 0 {
		return false
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.rng.Float64() < p
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.c
	return Stats{
		Requests: c.requests.Load(), Unauthorized: c.unauthorized.Load(),
		BulkRequests: c.bulkRequests.Load(), BadRequests: c.badRequests.Load(),
		Items: c.items.Load(), Created: c.created.Load(), Updated: c.updated.Load(),
		Deleted: c.deleted.Load(), NotFound: c.notFound.Load(),
		Conflicts409: c.conflicts.Load(), Rejected429: c.rejected429.Load(),
		MappingErrors: c.mappingErrors.Load(), ItemErrors400: c.itemErrors400.Load(),
		Request429: c.request429.Load(), Request503: c.request503.Load(),
		Cut: c.cut.Load(), CutAfterApply: c.cutAfterApply.Load(), DownCuts: c.downCuts.Load(),
		Ingested: c.ingested.Load(),
	}
}

// Count returns the number of documents in a data stream, an index, or all
// of them matching a pattern with * wildcards.
func (s *Server) Count(index string) int {
	return s.store.count(index)
}

// Docs returns a copy of the documents (_id -> _source) in a data stream, an
// index or all of them matching a pattern; when a pattern spans several
// indices holding the same _id, one of them is returned. The sources are
// shared with the store and must not be modified.
func (s *Server) Docs(index string) map[string]json.RawMessage {
	return s.store.docs(index)
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// logfWriter feeds net/http's error log into Options.Logf.
type logfWriter struct{ s *Server }

func (w logfWriter) Write(p []byte) (int, error) {
	w.s.logf("esserver: http: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (s *Server) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// cut closes the client connection without an HTTP response.
func cut(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// RST instead of FIN, like a node that died mid-request.
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return true
}

// handle is the entry point of every request.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if s.isDown() {
		s.c.downCuts.Add(1)
		cut(w)
		return
	}
	s.c.requests.Add(1)
	// The v8 client refuses any 2xx answer without this header.
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	rs := &reply{w: w, r: r, srv: s}
	if lat := s.faultPlan().Latency; lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	user, ok := s.authenticate(rs)
	if !ok {
		return
	}
	rs.user = user
	s.route(rs)
}

// principal is who a request authenticated as.
type principal struct {
	username string
	apiKeyID string
}

// authenticate checks the Authorization header when security is on. It
// answers 401 itself and returns false on failure. Elasticsearch's answer
// carries WWW-Authenticate for each enabled scheme and a security_exception
// (docs: "Security privileges" / "User authentication").
func (s *Server) authenticate(rs *reply) (principal, bool) {
	if s.opts.Username == "" && len(s.apiKeys) == 0 {
		return principal{username: "_anonymous"}, true
	}
	h := rs.r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	var reason string
	switch {
	case h == "":
		reason = fmt.Sprintf("missing authentication credentials for REST request [%s]", rs.r.URL.RequestURI())
	case strings.EqualFold(scheme, "Basic") && s.opts.Username != "":
		u, p, ok := rs.r.BasicAuth()
		if ok && subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) == 1 {
			return principal{username: u}, true
		}
		reason = fmt.Sprintf("unable to authenticate user [%s] for REST request [%s]", u, rs.r.URL.RequestURI())
	case strings.EqualFold(scheme, "ApiKey") && len(s.apiKeys) > 0:
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err == nil {
			id, key, _ := strings.Cut(string(raw), ":")
			if want, ok := s.apiKeys[id]; ok && subtle.ConstantTimeCompare([]byte(key), []byte(want)) == 1 {
				return principal{username: s.opts.Username, apiKeyID: id}, true
			}
			reason = "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
		} else {
			reason = "unable to decode ApiKey credentials"
		}
	default:
		reason = fmt.Sprintf("missing authentication credentials for REST request [%s]", rs.r.URL.RequestURI())
	}
	s.c.unauthorized.Add(1)
	var challenges []string
	if s.opts.Username != "" {
		challenges = append(challenges, `Basic realm="security", charset="UTF-8"`)
	}
	if len(s.apiKeys) > 0 {
		challenges = append(challenges, "ApiKey")
	}
	for _, c := range challenges {
		rs.w.Header().Add("WWW-Authenticate", c)
	}
	e := newErr("security_exception", "%s", reason)
	e.Header = map[string][]string{"WWW-Authenticate": challenges}
	rs.error(http.StatusUnauthorized, e)
	return principal{}, false
}

// reply writes one JSON response, applying filter_path and gzip.
type reply struct {
	w    http.ResponseWriter
	r    *http.Request
	srv  *Server
	user principal
}

func (rs *reply) error(status int, e *esError) {
	rs.json(status, requestError(status, e))
}

// json encodes v and writes it with status.
func (rs *reply) json(status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		body = []byte(`{"error":{"type":"exception","reason":"encode response"},"status":500}`)
		status = http.StatusInternalServerError
	}
	rs.raw(status, body)
}

// raw writes an already encoded JSON body.
func (rs *reply) raw(status int, body []byte) {
	q := rs.r.URL.Query()
	if fp := q.Get("filter_path"); fp != "" {
		if filtered, err := filterPath(body, fp); err == nil {
			body = filtered
		}
	}
	h := rs.w.Header()
	h.Set("Content-Type", "application/json")
	if rs.r.Method == http.MethodHead {
		h.Set("Content-Length", fmt.Sprint(len(body)))
		rs.w.WriteHeader(status)
		return
	}
	// Elasticsearch compresses responses when the client accepts gzip
	// (http.compression defaults to true).
	if acceptsGzip(rs.r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		rs.w.WriteHeader(status)
		zw := gzip.NewWriter(rs.w)
		_, _ = zw.Write(body)
		_ = zw.Close()
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	rs.w.WriteHeader(status)
	_, _ = rs.w.Write(body)
}

func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		return !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0")
	}
	return false
}

// readBody reads the request body, gunzipping it when Content-Encoding says
// so. A body over maxContentLength is an error with status 413.
func (rs *reply) readBody() ([]byte, int, error) {
	if rs.r.Body == nil {
		return nil, 0, nil
	}
	rd := io.LimitReader(rs.r.Body, maxContentLength+1)
	switch enc := strings.ToLower(strings.TrimSpace(rs.r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("read gzip body: %w", err)
		}
		defer zr.Close()
		rd = io.LimitReader(zr, maxContentLength+1)
	case "deflate":
		return nil, http.StatusBadRequest, fmt.Errorf("read body: unsupported content encoding %q", enc)
	default:
		return nil, http.StatusBadRequest, fmt.Errorf("read body: unsupported content encoding %q", enc)
	}
	var buf bytes.Buffer
	if rs.r.ContentLength > 0 && rs.r.ContentLength < maxContentLength {
		buf.Grow(int(rs.r.ContentLength))
	}
	if _, err := buf.ReadFrom(rd); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	if buf.Len() > maxContentLength {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("read body: longer than %d bytes", maxContentLength)
	}
	return buf.Bytes(), 0, nil
}

// bodyError answers a body that could not be read.
func (rs *reply) bodyError(status int, err error) {
	if status == http.StatusRequestEntityTooLarge {
		rs.error(status, newErr("content_too_long_exception", "%v", err))
		return
	}
	rs.error(status, newErr("parse_exception", "%v", err))
}

// randomID returns a URL-safe random identifier from n random bytes,
// shaped like Elasticsearch's base64 auto-generated ids.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux.
	return base64.RawURLEncoding.EncodeToString(b)
}

// clampProb keeps a probability in [0, 1], NaN meaning 0.
func clampProb(p float64) float64 {
	if math.IsNaN(p) || p < 0 {
		return 0
	}
	return min(p, 1)
}
