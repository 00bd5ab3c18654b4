// Package endpoint turns a host setting written the way Beats accept it
// ("host", "host:port" or "scheme://host:port/path") into the URL a client
// sends to, as libbeat does for output.elasticsearch.hosts and
// setup.kibana.host.
package endpoint

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Defaults fill in what a host setting leaves out.
type Defaults struct {
	Scheme string // for a host written without "://"
	Port   int    // for a host without a port
	Path   string // for a host without a path (a base path, "/kibana")
}

// Scheme is the scheme of a host written without one: protocol when it is
// set, https when TLS settings are given, http otherwise.
func Scheme(protocol string, tls bool) string {
	switch {
	case protocol != "":
		return protocol
	case tls:
		return "https"
	}
	return "http"
}

// URL parses h, fills in d where h leaves it out, and checks that the
// result is an http or https URL with a host name and a valid port. The
// URL has no query, fragment or trailing slash.
func URL(h string, d Defaults) (*url.URL, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return nil, errors.New("empty host")
	}
	raw := h
	if !strings.Contains(h, "://") {
		raw = d.Scheme + "://" + h
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%q: %w", Redact(h), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("no host name in %q", Redact(h))
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(d.Port))
	} else if p, err := strconv.Atoi(u.Port()); err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("bad port in %q", Redact(h))
	}
	if (u.Path == "" || u.Path == "/") && d.Path != "" {
		u.Path = "/" + strings.Trim(d.Path, "/")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// Redact hides the password in a URL's user information, for error
// messages about a setting that may not even parse as a URL:
// "https://elastic:pw@es:9200" becomes "https://elastic:xxxxx@es:9200". The
// password may have come from the keystore. A path with an "@" in it may be
// redacted too: a message that hides too much is the safe side.
func Redact(s string) string {
	prefix, rest, ok := strings.Cut(s, "://")
	if ok {
		prefix += "://"
	} else {
		prefix, rest = "", s
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return prefix + user + ":xxxxx" + rest[at:]
}
