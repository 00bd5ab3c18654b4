package elasticsearch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/elastic/go-elasticsearch/v8"
)

// newNodes builds one client per configured host. sent counts request
// bytes on the wire; it may be nil.
func newNodes(cfg *Config, sent *atomic.Uint64) ([]*node, error) {
	urls, err := cfg.HostURLs()
	if err != nil {
		return nil, fmt.Errorf("hosts: %w: %w", ErrInvalidConfig, err)
	}
	header := http.Header{}
	for k, v := range cfg.Headers {
		header.Set(k, v)
	}
	nodes := make([]*node, 0, len(urls))
	for _, u := range urls {
		tr, err := cfg.newHTTPTransport()
		if err != nil {
			return nil, fmt.Errorf("transport for %s: %w", u.Redacted(), err)
		}
		var rt http.RoundTripper = tr
		if sent != nil {
			rt = byteCounter{next: tr, sent: sent}
		}
		esCfg := elasticsearch.Config{
			Addresses: []string{u.String()},
			Username:  cfg.Username,
			Password:  cfg.Password,
			APIKey:    cfg.encodedAPIKey(),
			Header:    header,
			Transport: rt,
			// Retries happen per item in the output, where they are
			// counted; the client's own would resend whole bodies blindly.
			// Bulk bodies come gzipped from the output's encoder, which
			// compresses while it builds them (the client's compression
			// would first need the whole body, then compress it again).
			DisableRetry: true,
		}
		c, err := elasticsearch.NewClient(esCfg)
		if err != nil {
			return nil, fmt.Errorf("client for %s: %w", u.Redacted(), err)
		}
		nodes = append(nodes, &node{url: u.Redacted(), client: c})
	}
	return nodes, nil
}

// ndjson is the content type of bulk bodies.
const ndjson = "application/x-ndjson"

// payload is a request body: its bytes, their content type, and the
// Content-Encoding they are in ("" for none).
type payload struct {
	data        []byte
	contentType string
	encoding    string
}

// response is a finished request: status and the body read into buf.
type response struct {
	status int
	body   []byte
}

// do sends one request through the node's client and reads the whole
// answer into buf (reused by the caller), so that the connection can be
// reused.
func (n *node) do(ctx context.Context, method, path string, body payload, buf *bytes.Buffer) (response, error) {
	var rd io.Reader
	if body.data != nil {
		rd = bytes.NewReader(body.data)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return response{}, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	if body.data != nil {
		req.Header.Set("Content-Type", body.contentType)
		if body.encoding != "" {
			req.Header.Set("Content-Encoding", body.encoding)
		}
	}
	res, err := n.client.Perform(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s%s: %w", method, n.url, pathOnly(path), err)
	}
	defer res.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(res.Body); err != nil {
		return response{status: res.StatusCode}, fmt.Errorf("read answer to %s %s%s: %w", method, n.url, pathOnly(path), err)
	}
	return response{status: res.StatusCode, body: buf.Bytes()}, nil
}

func pathOnly(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '?' {
			return p[:i]
		}
	}
	return p
}

// statusError builds a StatusError from an answer.
func (n *node) statusError(op string, r response) *StatusError {
	typ, reason := parseErrorBody(r.body)
	return &StatusError{Op: op, Host: n.url, Status: r.status, Type: typ, Reason: reason}
}
