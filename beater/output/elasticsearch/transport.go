package elasticsearch

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/spawnbeat/spawnbeat/beater/endpoint"
)

// byteCounter counts request bodies as they go on the wire (after the
// encoder's gzip), for Stats.BytesSent.
type byteCounter struct {
	next http.RoundTripper
	sent *atomic.Uint64
}

// RoundTrip implements http.RoundTripper.
func (b byteCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.ContentLength > 0 {
		b.sent.Add(uint64(req.ContentLength))
	}
	return b.next.RoundTrip(req)
}

// newHTTPTransport builds the transport shared by one host's client.
func (c *Config) newHTTPTransport() (*http.Transport, error) {
	tc, err := c.SSL.Client()
	if err != nil {
		return nil, err
	}
	proxy := http.ProxyFromEnvironment
	if c.ProxyURL != "" {
		pu, err := url.Parse(c.ProxyURL)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // it quotes the URL, password included
			}
			return nil, fmt.Errorf("parse proxy_url %q: %w", endpoint.Redact(c.ProxyURL), err)
		}
		proxy = http.ProxyURL(pu)
	}
	dialer := &net.Dialer{Timeout: min(c.Timeout, 30*time.Second), KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 proxy,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   min(c.Timeout, 10*time.Second),
		IdleConnTimeout:       c.IdleConnectionTimeout,
		MaxIdleConnsPerHost:   max(c.Worker, 2),
		ResponseHeaderTimeout: c.Timeout,
		ForceAttemptHTTP2:     false, // Elasticsearch speaks HTTP/1.1
	}, nil
}
