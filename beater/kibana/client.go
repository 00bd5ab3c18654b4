package kibana

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// rulesAPIVersion is the public version of the detection engine's rules
// API (Kibana 8.11 and later read it from the elastic-api-version header;
// older ones ignore the header).
const rulesAPIVersion = "2023-10-31"

// maxAnswer bounds how much of an answer is read: import answers list
// every object, which for spawnbeat's assets is a few KiB.
const maxAnswer = 16 << 20

// Client talks to one Kibana through its HTTP API, as libbeat's Kibana
// client does: every request carries the credentials, the configured
// headers and kbn-xsrf; requests in a space go under /s/<space.id>. It is
// safe for concurrent use.
type Client struct {
	base   *url.URL // scheme://host:port[/base path], without the space
	space  string
	http   *http.Client
	header http.Header
}

// New builds a client from cfg; it sends nothing.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("setup.kibana: %w", err)
	}
	base, err := cfg.BaseURL()
	if err != nil {
		return nil, fmt.Errorf("setup.kibana.host: %w", err)
	}
	tc, err := cfg.SSL.Client()
	if err != nil {
		return nil, fmt.Errorf("setup.kibana.%w", err)
	}
	dialer := &net.Dialer{Timeout: min(cfg.Timeout, 30*time.Second), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   min(cfg.Timeout, 10*time.Second),
		ResponseHeaderTimeout: cfg.Timeout,
		IdleConnTimeout:       30 * time.Second,
	}
	h := http.Header{}
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	switch {
	case cfg.APIKey != "":
		h.Set("Authorization", "ApiKey "+cfg.encodedAPIKey())
	case cfg.Username != "":
		r := http.Request{Header: h}
		r.SetBasicAuth(cfg.Username, cfg.Password)
	}
	// Kibana refuses a write without it (cross-site request forgery
	// protection); any value does.
	h.Set("kbn-xsrf", "true")
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "spawnbeat")
	return &Client{
		base:  base,
		space: cfg.SpaceID,
		http: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// A redirect means the URL is wrong (a login page, a base
			// path missing): say so rather than post to wherever it goes.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		header: h,
	}, nil
}

// Close releases idle connections. It is safe to call more than once.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// URL is Kibana's URL with the space, for messages: "http://kibana:5601",
// "https://kibana:5601/base/s/soc".
func (c *Client) URL() string { return c.base.String() + c.spacePrefix() }

func (c *Client) spacePrefix() string {
	if c.space == "" {
		return ""
	}
	return "/s/" + c.space
}

// Status is what GET /api/status says about Kibana.
type Status struct {
	Version string // version.number, e.g. "8.17.0"
	Level   string // status.overall.level: available, degraded, unavailable, critical
	Summary string // status.overall.summary
}

// olderThan reports whether version (major.minor.patch, with an optional
// -suffix such as -SNAPSHOT) is older than minimum; a version that cannot
// be read counts as older.
func olderThan(version, minimum string) bool {
	parse := func(v string) ([3]int, bool) {
		var out [3]int
		v, _, _ = strings.Cut(v, "-")
		parts := strings.Split(v, ".")
		if len(parts) == 0 || len(parts) > 3 {
			return out, false
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return out, false
			}
			out[i] = n
		}
		return out, true
	}
	have, ok := parse(version)
	want, _ := parse(minimum)
	if !ok {
		return true
	}
	for i := range have {
		if have[i] != want[i] {
			return have[i] < want[i]
		}
	}
	return false
}

// Status reads GET /api/status, the request libbeat starts with. Kibana
// answers 503 with the same body while it is not available.
func (c *Client) Status(ctx context.Context) (Status, error) {
	const op = "read Kibana's status"
	status, body, u, err := c.do(ctx, request{method: http.MethodGet, path: c.base.Path + "/api/status"})
	if err != nil {
		return Status{}, fmt.Errorf("%s: %w", op, err)
	}
	var b struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
		Status struct {
			Overall struct {
				Level   string `json:"level"`
				Summary string `json:"summary"`
			} `json:"overall"`
		} `json:"status"`
	}
	parsed := json.Unmarshal(body, &b) == nil && b.Version.Number != ""
	st := Status{Version: b.Version.Number, Level: b.Status.Overall.Level, Summary: b.Status.Overall.Summary}
	switch {
	case status == http.StatusServiceUnavailable && parsed:
		return st, fmt.Errorf("%s: Kibana %s at %s is not available (%s: %s): %w", op, st.Version, c.base, st.Level, st.Summary, ErrUnreachable)
	case status != http.StatusOK:
		return st, statusError(op, u, status, body)
	case !parsed:
		// An anonymous request to a Kibana that allows it gets the level
		// only.
		return st, fmt.Errorf("%s: %s answered without version.number (%s): is it Kibana, and are the credentials set?", op, u, shorten(string(body), 120))
	}
	return st, nil
}

// CheckVersion refuses a Kibana older than minimum, naming both versions.
func CheckVersion(st Status, url, minimum string) error {
	if olderThan(st.Version, minimum) {
		return fmt.Errorf("the Kibana at %s is version %s, older than %s, the oldest that spawnbeat's saved objects and detection rules are written for: %w",
			url, st.Version, minimum, ErrUnsupportedVersion)
	}
	return nil
}

// CheckSpace makes sure the configured space exists (GET
// /api/spaces/space/<id>): Kibana's import APIs would otherwise store the
// objects in a space nobody can open. Nothing to check for the default
// space.
func (c *Client) CheckSpace(ctx context.Context) error {
	if c.space == "" {
		return nil
	}
	op := fmt.Sprintf("check space %q", c.space)
	status, body, u, err := c.do(ctx, request{method: http.MethodGet, path: c.base.Path + "/api/spaces/space/" + c.space})
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", op, err)
	case status == http.StatusNotFound:
		return fmt.Errorf("%s: Kibana at %s has no space %q (create it in Stack Management > Spaces, or fix setup.kibana.space.id): %w",
			op, c.base, c.space, ErrSpaceNotFound)
	case status != http.StatusOK:
		return statusError(op, u, status, body)
	}
	return nil
}

// Connect builds a client, reads Kibana's status, refuses a version older
// than MinimumKibanaVersion (the assets' shapes) and checks the space. The
// caller closes the client.
func Connect(ctx context.Context, cfg Config) (*Client, Status, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, Status{}, err
	}
	st, err := c.Status(ctx)
	if err == nil {
		err = CheckVersion(st, c.base.String(), MinimumKibanaVersion)
	}
	if err == nil {
		err = c.CheckSpace(ctx)
	}
	if err != nil {
		c.Close()
		return nil, st, err
	}
	return c, st, nil
}

// request is one call of the HTTP API. path is absolute (base path and
// space included).
type request struct {
	method, path string
	query        string
	contentType  string
	header       http.Header // on top of the client's
	body         []byte
}

// do sends one request and reads the whole answer. It returns the
// request's URL without its query, for messages. Only a failure to get an
// answer is an error; every status is the caller's to judge.
func (c *Client) do(ctx context.Context, r request) (int, []byte, string, error) {
	u := *c.base
	u.Path, u.RawQuery = r.path, r.query
	shown := u.Scheme + "://" + u.Host + u.Path
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
	if err != nil {
		return 0, nil, shown, fmt.Errorf("build %s %s: %w", r.method, shown, err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, shown, fmt.Errorf("%s %s: %w: %w", r.method, shown, ErrUnreachable, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return res.StatusCode, nil, shown, fmt.Errorf("read the answer to %s %s: %w: %w", r.method, shown, ErrUnreachable, err)
	}
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		return res.StatusCode, b, shown, fmt.Errorf("%s %s: redirected to %q (is setup.kibana.host or path right?)", r.method, shown, res.Header.Get("Location"))
	}
	return res.StatusCode, b, shown, nil
}

// multipartFile wraps ndjson as the one part Kibana's import APIs read: a
// file named *.ndjson in the form field "file".
func multipartFile(ndjson []byte) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	ph := textproto.MIMEHeader{}
	ph.Set("Content-Disposition", `form-data; name="file"; filename="spawnbeat.ndjson"`)
	ph.Set("Content-Type", "application/ndjson")
	part, err := w.CreatePart(ph)
	if err == nil {
		_, err = part.Write(ndjson)
	}
	if err == nil {
		err = w.Close()
	}
	return buf.Bytes(), w.FormDataContentType(), err
}

// countObjects counts the NDJSON lines that hold something.
func countObjects(ndjson []byte) int {
	n := 0
	for line := range bytes.SplitSeq(ndjson, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
	}
	return n
}
