package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spawnbeat/spawnbeat/config"
)

// ErrInvalid wraps every problem with the ssl settings.
var ErrInvalid = errors.New("invalid ssl settings")

// Verification modes of ssl.verification_mode, as in Beats.
const (
	VerifyFull        = "full"        // chain and host name
	VerifyStrict      = "strict"      // chain and host name; the name must be in the SAN
	VerifyCertificate = "certificate" // chain only, any host name
	VerifyNone        = "none"        // nothing: for tests only
)

var versions = map[string]uint16{
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// Settings is an ssl section. Build it with Default and unpack the user's
// settings on top (go-ucfg). A plain value: not safe for concurrent
// mutation, safe to read from several goroutines.
type Settings struct {
	// Enabled nil means "on when a host is https or ssl settings are given".
	Enabled                *bool    `config:"enabled"`
	CertificateAuthorities []string `config:"certificate_authorities,replace"` // files or inline PEM
	Certificate            string   `config:"certificate"`                     // file or inline PEM
	Key                    string   `config:"key"`                             // file or inline PEM
	VerificationMode       string   `config:"verification_mode"`
	// SupportedProtocols empty means TLSv1.2 and TLSv1.3. It has no default
	// list: go-ucfg merges lists index by index, so a default would leak
	// into the user's shorter one.
	SupportedProtocols []string `config:"supported_protocols,replace"`
}

// Default returns the defaults: full verification, TLS 1.2 and 1.3.
func Default() Settings { return Settings{VerificationMode: VerifyFull} }

// Problems lists every problem of the settings, each a *config.KeyError
// naming its key below the section that holds ssl ("ssl.verification_mode");
// nil when there is none.
func (s *Settings) Problems() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.KeyError{Key: key, Err: fmt.Errorf(format, args...)})
	}
	switch s.VerificationMode {
	case VerifyFull, VerifyStrict, VerifyCertificate, VerifyNone:
	default:
		bad("ssl.verification_mode", "must be full, strict, certificate or none, got %q", s.VerificationMode)
	}
	for i, p := range s.SupportedProtocols {
		if _, ok := versions[p]; !ok {
			bad(fmt.Sprintf("ssl.supported_protocols.%d", i), "must be TLSv1.2 or TLSv1.3, got %q", p)
		}
	}
	if (s.Certificate == "") != (s.Key == "") {
		bad("ssl.certificate", "certificate and key must be given together")
	}
	return errs
}

// Wanted says whether the settings ask for TLS: ssl.enabled explicitly, or
// certificate settings given. Clients use it to pick https for a host
// written without a scheme.
func (s *Settings) Wanted() bool {
	if s.Enabled != nil {
		return *s.Enabled
	}
	return len(s.CertificateAuthorities) > 0 || s.Certificate != ""
}

// Client builds the client TLS configuration, or returns nil when ssl is
// disabled (plain http hosts get Go's defaults anyway if they redirect to
// https). Files are read now, so a missing one is reported at once.
func (s *Settings) Client() (*tls.Config, error) {
	if s.Enabled != nil && !*s.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	if len(s.SupportedProtocols) > 0 {
		tc.MinVersion, tc.MaxVersion = 0, 0
		for _, p := range s.SupportedProtocols {
			v, ok := versions[p]
			if !ok {
				return nil, fmt.Errorf("ssl.supported_protocols %q: %w", p, ErrInvalid)
			}
			if tc.MinVersion == 0 || v < tc.MinVersion {
				tc.MinVersion = v
			}
			if v > tc.MaxVersion {
				tc.MaxVersion = v
			}
		}
	}
	if len(s.CertificateAuthorities) > 0 {
		pool := x509.NewCertPool()
		for _, ca := range s.CertificateAuthorities {
			b, err := pemOrFile("ssl.certificate_authorities", ca)
			if err != nil {
				return nil, err
			}
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("ssl.certificate_authorities %q: no PEM certificate found: %w", shorten(ca), ErrInvalid)
			}
		}
		tc.RootCAs = pool
	}
	if s.Certificate != "" {
		certPEM, err := pemOrFile("ssl.certificate", s.Certificate)
		if err != nil {
			return nil, err
		}
		keyPEM, err := pemOrFile("ssl.key", s.Key)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("ssl.certificate/ssl.key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	switch s.VerificationMode {
	case VerifyNone:
		tc.InsecureSkipVerify = true // the user asked for verification_mode: none
	case VerifyCertificate:
		// Verify the chain ourselves and skip only the host name check.
		tc.InsecureSkipVerify = true // chain verified in VerifyConnection
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

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
