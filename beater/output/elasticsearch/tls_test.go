package elasticsearch

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// TestTLSConfig checks how the ssl settings turn into a tls.Config: CA
// files and inline PEM, a client certificate, protocol bounds, the
// verification modes, and clear errors for unreadable material.
func TestTLSConfig(t *testing.T) {
	ca, err := esserver.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.ServerConfig("client.test")
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificates[0].Certificate[0]})
	keyDER, err := x509.MarshalPKCS8PrivateKey(leaf.Certificates[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	no := false
	tests := []struct {
		name    string
		ssl     SSLConfig
		check   func(*testing.T, *tls.Config)
		wantErr string
	}{
		{
			name: "defaults",
			ssl:  SSLConfig{VerificationMode: VerifyFull},
			check: func(t *testing.T, c *tls.Config) {
				if c.MinVersion != tls.VersionTLS12 || c.MaxVersion != tls.VersionTLS13 || c.InsecureSkipVerify || c.RootCAs != nil {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "ca file, client certificate inline, TLSv1.3 only",
			ssl: SSLConfig{VerificationMode: VerifyStrict, CertificateAuthorities: []string{caFile},
				Certificate: string(certPEM), Key: string(keyPEM), SupportedProtocols: []string{"TLSv1.3"}},
			check: func(t *testing.T, c *tls.Config) {
				if c.RootCAs == nil || len(c.Certificates) != 1 || c.MinVersion != tls.VersionTLS13 || c.MaxVersion != tls.VersionTLS13 {
					t.Errorf("config: %+v", c)
				}
			},
		},
		{
			name: "none skips verification",
			ssl:  SSLConfig{VerificationMode: VerifyNone},
			check: func(t *testing.T, c *tls.Config) {
				if !c.InsecureSkipVerify || c.VerifyConnection != nil {
					t.Errorf("none: %+v", c)
				}
			},
		},
		{
			name: "certificate verifies the chain itself",
			ssl:  SSLConfig{VerificationMode: VerifyCertificate, CertificateAuthorities: []string{string(ca.PEM())}},
			check: func(t *testing.T, c *tls.Config) {
				if !c.InsecureSkipVerify || c.VerifyConnection == nil {
					t.Fatalf("certificate: %+v", c)
				}
				good := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf.Certificates[0].Leaf}}
				if good.PeerCertificates[0] == nil {
					cert, err := x509.ParseCertificate(leaf.Certificates[0].Certificate[0])
					if err != nil {
						t.Fatal(err)
					}
					good.PeerCertificates[0] = cert
				}
				if err := c.VerifyConnection(good); err != nil {
					t.Errorf("chain from the CA refused: %v", err)
				}
				other, err := esserver.NewTestCA()
				if err != nil {
					t.Fatal(err)
				}
				otherLeaf, err := other.ServerConfig()
				if err != nil {
					t.Fatal(err)
				}
				bad, err := x509.ParseCertificate(otherLeaf.Certificates[0].Certificate[0])
				if err != nil {
					t.Fatal(err)
				}
				if err := c.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{bad}}); err == nil {
					t.Errorf("chain from another CA accepted")
				}
			},
		},
		{
			name:  "disabled",
			ssl:   SSLConfig{Enabled: &no, VerificationMode: VerifyFull},
			check: func(t *testing.T, c *tls.Config) { t.Helper(); checkNil(t, c) },
		},
		{name: "missing ca file", ssl: SSLConfig{VerificationMode: VerifyFull, CertificateAuthorities: []string{filepath.Join(dir, "nope.pem")}}, wantErr: "nope.pem"},
		{name: "ca without pem", ssl: SSLConfig{VerificationMode: VerifyFull, CertificateAuthorities: []string{"-----BEGIN garbage"}}, wantErr: "no PEM certificate"},
		{name: "key does not match", ssl: SSLConfig{VerificationMode: VerifyFull, Certificate: string(certPEM), Key: string(ca.PEM())}, wantErr: "ssl.certificate/ssl.key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.SSL = tc.ssl
			got, err := c.TLSConfig()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("TLSConfig error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("TLSConfig: %v", err)
			}
			tc.check(t, got)
		})
	}
}

func checkNil(t *testing.T, c *tls.Config) {
	t.Helper()
	if c != nil {
		t.Errorf("TLSConfig = %+v, want nil when disabled", c)
	}
}

// FuzzHostURL: any host string yields a usable URL or an error, never a
// panic, and accepted URLs always carry a scheme, host and port.
func FuzzHostURL(f *testing.F) {
	for _, s := range []string{"localhost", "es:9200", "https://es/p/", "[::1]:9201", "http://:9200", "h:0", "ftp://x", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c := DefaultConfig()
		u, err := c.hostURL(h)
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "" {
			t.Fatalf("hostURL(%q) = %s", h, u)
		}
	})
}
