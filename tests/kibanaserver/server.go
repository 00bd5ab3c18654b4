package kibanaserver

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// DefaultVersion is the Kibana version reported when Options.Version is
// empty.
const DefaultVersion = "8.17.0"

// ErrInvalidOptions is returned by Start for an inconsistent Options value.
var ErrInvalidOptions = errors.New("kibanaserver: invalid options")

// Options configure a Server. The zero value is a plain-HTTP Kibana
// without security that reports DefaultVersion and has only the default
// space. Start copies what it needs; the TLS config must not be modified
// afterwards.
type Options struct {
	// Version is reported as version.number by GET /api/status.
	Version string
	// Username and Password, when Username is set, are the only Basic
	// credentials accepted; every request must then authenticate.
	Username, Password string
	// APIKeys are "id:key" pairs accepted as "Authorization: ApiKey
	// base64(id:key)"; when non-empty every request must authenticate.
	APIKeys []string
	// TLS, when set, makes the server speak HTTPS only.
	TLS *tls.Config
	// Addr is the listen address; empty means "127.0.0.1:0".
	Addr string
	// BasePath is Kibana's server.basePath ("/kibana"): every API path
	// starts with it.
	BasePath string
	// Spaces are the spaces that exist besides "default".
	Spaces []string
	// Logf, when set, receives one line per notable server event. It must
	// be safe for concurrent use.
	Logf func(format string, args ...any)
}

// Faults is a fault-injection plan, a plain value passed to SetFaults.
type Faults struct {
	// Status, when non-zero, answers matching requests with this status
	// and the body Kibana gives it, before they reach their handler (after
	// authentication and the kbn-xsrf check).
	Status int
	// Path limits Status and Cut to requests whose API path (without the
	// base path and the space prefix) starts with it; empty matches all.
	Path string
	// Cut closes matching requests' connections without an answer.
	Cut bool
	// Latency is added before every answer.
	Latency time.Duration
	// ObjectErrors fail chosen objects inside a 200 import answer, as
	// Kibana reports an object it could not write: the key is "type:id"
	// for a saved object and "rule:<rule_id>" for a detection rule, the
	// value the message.
	ObjectErrors map[string]string
	// Level is the overall status GET /api/status reports (default
	// "available"); "unavailable" and "critical" answer 503, as Kibana
	// does.
	Level string
}

// Request is one request as the server saw it, for tests to inspect.
type Request struct {
	Method string
	Path   string // as sent, with base path and space prefix
	Query  string
	Space  string // the space of a /s/<id>/ path; "default" otherwise
	XSRF   string // the kbn-xsrf header
	Header http.Header
	// Principal is who the request authenticated as: "user:<name>",
	// "api_key:<id>", "anonymous" when security is off, "" when it was
	// refused.
	Principal string
	Status    int // the answer's status; 0 when the connection was cut
}

// Server is an in-memory Kibana. It is safe for concurrent use.
type Server struct {
	opts    Options
	version string
	uuid    string
	scheme  string
	apiKeys map[string]string // id -> key

	store *store

	mu       sync.Mutex // guards the fields below
	faults   Faults
	requests []Request
	hs       *http.Server
	ln       net.Listener
	addr     string
	closed   bool
	serve    sync.WaitGroup
}

// Start listens on Options.Addr and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Username == "" && opts.Password != "" {
		return nil, fmt.Errorf("start: password without username: %w", ErrInvalidOptions)
	}
	if opts.BasePath != "" && (!strings.HasPrefix(opts.BasePath, "/") || strings.HasSuffix(opts.BasePath, "/")) {
		// Kibana's own rule for server.basePath.
		return nil, fmt.Errorf("start: base path %q must start with a slash and not end with one: %w", opts.BasePath, ErrInvalidOptions)
	}
	s := &Server{
		opts:    opts,
		version: opts.Version,
		uuid:    randomUUID(),
		scheme:  "http",
		apiKeys: make(map[string]string, len(opts.APIKeys)),
		store:   newStore(),
	}
	if s.version == "" {
		s.version = DefaultVersion
	}
	for _, k := range opts.APIKeys {
		id, key, ok := strings.Cut(k, ":")
		if !ok || id == "" || key == "" {
			return nil, fmt.Errorf("start: api key %q is not id:key: %w", id+":<redacted>", ErrInvalidOptions)
		}
		s.apiKeys[id] = key
	}
	for _, sp := range opts.Spaces {
		if !spaceIDPattern.MatchString(sp) {
			return nil, fmt.Errorf("start: space %q is not a space identifier: %w", sp, ErrInvalidOptions)
		}
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("start listen %s: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	if opts.TLS != nil {
		s.scheme = "https"
		ln = tls.NewListener(ln, opts.TLS)
	}
	s.ln = ln
	s.hs = &http.Server{
		Handler:           http.HandlerFunc(s.handle),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(logfWriter{s}, "", 0),
	}
	s.serve.Add(1)
	go func() {
		defer s.serve.Done()
		_ = s.hs.Serve(ln) // returns when Close closes the listener
	}()
	return s, nil
}

// URL is the base URL of the server with its base path:
// "http://127.0.0.1:PORT[/base]".
func (s *Server) URL() string { return s.scheme + "://" + s.addr + s.opts.BasePath }

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

// SetFaults replaces the active fault plan.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

func (s *Server) faultPlan() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Requests returns a copy of every request seen so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// logfWriter feeds net/http's error log into Options.Logf.
type logfWriter struct{ s *Server }

func (w logfWriter) Write(p []byte) (int, error) {
	w.s.logf("kibanaserver: http: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// spaceIDPattern is the form of a space identifier, and of the /s/<id>/
// prefix Kibana's spaces plugin strips (spaces_url_parser.ts).
var spaceIDPattern = regexp.MustCompile(`^[a-z0-9_-]+$`)

// reply is one request being answered.
type reply struct {
	w      http.ResponseWriter
	r      *http.Request
	srv    *Server
	space  string // "default" or the /s/<id>/ space
	api    string // the path without base path and space prefix
	rec    Request
	status int
}

// handle is the entry point of every request: base path, space prefix,
// latency, authentication, kbn-xsrf, faults, then the route.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	rs := &reply{w: w, r: r, srv: s, space: defaultSpace}
	rs.rec = Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, XSRF: r.Header.Get("kbn-xsrf"), Header: r.Header.Clone()}
	defer func() {
		rs.rec.Space, rs.rec.Status = rs.space, rs.status
		s.record(rs.rec)
	}()
	plan := s.faultPlan()
	if plan.Latency > 0 {
		t := time.NewTimer(plan.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	p, ok := strings.CutPrefix(r.URL.Path, s.opts.BasePath)
	if !ok || (p != "" && !strings.HasPrefix(p, "/")) {
		rs.boom(http.StatusNotFound, "Not Found", nil)
		return
	}
	if rest, ok := strings.CutPrefix(p, "/s/"); ok {
		id, tail, _ := strings.Cut(rest, "/")
		if spaceIDPattern.MatchString(id) {
			rs.space, p = id, "/"+tail
		}
	}
	rs.api = p
	principal, ok := s.authenticate(rs)
	if !ok {
		return
	}
	rs.rec.Principal = principal
	// Kibana's XSRF check runs after authentication (onPostAuth) and
	// applies to every method that may change something
	// (lifecycle_handlers.ts).
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("kbn-xsrf") == "" && r.Header.Get("kbn-version") == "" {
		rs.boom(http.StatusBadRequest, "Request must contain a kbn-xsrf header.", nil)
		return
	}
	if plan.Path == "" || strings.HasPrefix(p, plan.Path) {
		if plan.Cut {
			s.logf("kibanaserver: cutting %s %s", r.Method, r.URL.Path)
			cut(w)
			return
		}
		if plan.Status != 0 {
			s.logf("kibanaserver: answering %s %s with %d", r.Method, r.URL.Path, plan.Status)
			rs.boom(plan.Status, faultMessage(plan.Status), nil)
			return
		}
	}
	s.route(rs, plan)
}

// faultMessage is the message Kibana's answers carry for an injected
// status: hapi's Boom messages, and Kibana's own while it starts.
func faultMessage(status int) string {
	switch status {
	case http.StatusInternalServerError:
		return "An internal server error occurred."
	case http.StatusServiceUnavailable:
		return "Kibana server is not ready yet"
	case http.StatusForbidden:
		return "Forbidden"
	}
	return http.StatusText(status)
}

// authenticate checks the Authorization header when security is on and
// answers 401 itself on failure: Kibana's body for a request without
// credentials is {"message":"Unauthorized"}, for bad ones the security
// exception Elasticsearch gave it.
func (s *Server) authenticate(rs *reply) (string, bool) {
	if s.opts.Username == "" && len(s.apiKeys) == 0 {
		return "anonymous", true
	}
	h := rs.r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	msg := "Unauthorized"
	switch {
	case strings.EqualFold(scheme, "Basic") && s.opts.Username != "":
		u, p, ok := rs.r.BasicAuth()
		if ok && subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) == 1 {
			return "user:" + u, true
		}
		msg = fmt.Sprintf("[security_exception\n\tRoot causes:\n\t\tsecurity_exception: unable to authenticate user [%s] for REST request [/_security/_authenticate]]: unable to authenticate user [%s] for REST request [/_security/_authenticate]", u, u)
	case strings.EqualFold(scheme, "ApiKey") && len(s.apiKeys) > 0:
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		id, key, _ := strings.Cut(string(raw), ":")
		if want, ok := s.apiKeys[id]; err == nil && ok && subtle.ConstantTimeCompare([]byte(key), []byte(want)) == 1 {
			return "api_key:" + id, true
		}
		msg = "[security_exception\n\tRoot causes:\n\t\tsecurity_exception: unable to authenticate with provided credentials and anonymous access is not allowed for this request]: unable to authenticate with provided credentials and anonymous access is not allowed for this request"
	}
	rs.boom(http.StatusUnauthorized, msg, nil)
	return "", false
}

// cut closes the client connection without an HTTP answer.
func cut(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, like a process that died mid-request
	}
	_ = conn.Close()
}

// boomBody is the body of Kibana's HTTP errors (hapi's Boom payload).
type boomBody struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
	Attributes any    `json:"attributes,omitempty"`
}

// boom answers with Kibana's error body for status.
func (rs *reply) boom(status int, message string, attributes any) {
	rs.json(status, boomBody{StatusCode: status, Error: http.StatusText(status), Message: message, Attributes: attributes})
}

// siemError answers as the Security app's routes do
// (buildSiemResponse().error): {"message", "status_code"}.
func (rs *reply) siemError(status int, message string) {
	rs.json(status, map[string]any{"message": message, "status_code": status})
}

// json encodes v and writes it with status.
func (rs *reply) json(status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"statusCode":500,"error":"Internal Server Error","message":"An internal server error occurred."}`)
	}
	rs.raw(status, "application/json; charset=utf-8", body)
}

func (rs *reply) raw(status int, contentType string, body []byte) {
	rs.status = status
	h := rs.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", fmt.Sprint(len(body)))
	rs.w.WriteHeader(status)
	_, _ = rs.w.Write(body)
}

// randomUUID returns a random version-4 UUID, the form of Kibana's
// generated ids.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
