package elasticsearch

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

var tlsVersions = map[string]uint16{
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// pemOrFile returns inline PEM as is and reads anything else as a file.
func pemOrFile(key, v string) ([]byte, error) {
	if strings.Contains(v, "-----BEGIN") {
		return []byte(v), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		if key == "ssl.key" {
			// Not PEM, maybe a damaged key from the keystore: never quoted.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("read %s: neither PEM text nor a file that can be read: %w", key, err)
		}
		return nil, fmt.Errorf("read %s %q: %w", key, v, err)
	}
	return b, nil
}

// TLSConfig builds the client TLS configuration from the ssl section, or
// returns nil when TLS settings do not apply (plain http hosts get Go's
// defaults anyway if they redirect to https).
func (c *Config) TLSConfig() (*tls.Config, error) {
	if c.SSL.Enabled != nil && !*c.SSL.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	if len(c.SSL.SupportedProtocols) > 0 {
		tc.MinVersion, tc.MaxVersion = 0, 0
		for _, p := range c.SSL.SupportedProtocols {
			v, ok := tlsVersions[p]
			if !ok {
				return nil, fmt.Errorf("ssl.supported_protocols %q: %w", p, ErrInvalidConfig)
			}
			if tc.MinVersion == 0 || v < tc.MinVersion {
				tc.MinVersion = v
			}
			if v > tc.MaxVersion {
				tc.MaxVersion = v
			}
		}
	}
	if len(c.SSL.CertificateAuthorities) > 0 {
		pool := x509.NewCertPool()
		for _, ca := range c.SSL.CertificateAuthorities {
			b, err := pemOrFile("ssl.certificate_authorities", ca)
			if err != nil {
				return nil, err
			}
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("ssl.certificate_authorities %q: no PEM certificate found: %w", shorten(ca), ErrInvalidConfig)
			}
		}
		tc.RootCAs = pool
	}
	if c.SSL.Certificate != "" {
		certPEM, err := pemOrFile("ssl.certificate", c.SSL.Certificate)
		if err != nil {
			return nil, err
		}
		keyPEM, err := pemOrFile("ssl.key", c.SSL.Key)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("ssl.certificate/ssl.key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	switch c.SSL.VerificationMode {
	case VerifyNone:
		tc.InsecureSkipVerify = true //nolint:gosec // the user asked for verification_mode: none
	case VerifyCertificate:
		// Verify the chain ourselves and skip only the host name check.
		tc.InsecureSkipVerify = true //nolint:gosec // chain verified in VerifyConnection
		roots := tc.RootCAs
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: server sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return fmt.Errorf("tls: verify certificate chain: %w", err)
			}
			return nil
		}
	}
	// full and strict: Go verifies the chain and the host name against the
	// SAN (Go ignores the CN since 1.15), which is what strict asks for.
	return tc, nil
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// byteCounter counts request bodies as they go on the wire (after the
// client's gzip), for Stats.BytesSent.
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
	tc, err := c.TLSConfig()
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
			return nil, fmt.Errorf("parse proxy_url %q: %w", redactURL(c.ProxyURL), err)
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
