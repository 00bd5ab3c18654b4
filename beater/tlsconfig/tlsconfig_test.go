package tlsconfig

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

// TestClient checks how the ssl settings turn into a tls.Config: CA
// files and inline PEM, a client certificate, protocol bounds, the
// verification modes, and clear errors for unreadable material.
func TestClient(t *testing.T) {
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
		ssl     Settings
		check   func(*testing.T, *tls.Config)
		wantErr string
	}{
		{
			name: "defaults",
			ssl:  Settings{VerificationMode: VerifyFull},
			check: func(t *testing.T, c *tls.Config) {
				if c.MinVersion != tls.VersionTLS12 || c.MaxVersion != tls.VersionTLS13 || c.InsecureSkipVerify || c.RootCAs != nil {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "ca file, client certificate inline, TLSv1.3 only",
			ssl: Settings{VerificationMode: VerifyStrict, CertificateAuthorities: []string{caFile},
				Certificate: string(certPEM), Key: string(keyPEM), SupportedProtocols: []string{"TLSv1.3"}},
			check: func(t *testing.T, c *tls.Config) {
				if c.RootCAs == nil || len(c.Certificates) != 1 || c.MinVersion != tls.VersionTLS13 || c.MaxVersion != tls.VersionTLS13 {
					t.Errorf("config: %+v", c)
				}
			},
		},
		{
			name: "none skips verification",
			ssl:  Settings{VerificationMode: VerifyNone},
			check: func(t *testing.T, c *tls.Config) {
				if !c.InsecureSkipVerify || c.VerifyConnection != nil {
					t.Errorf("none: %+v", c)
				}
			},
		},
		{
			name: "certificate verifies the chain itself",
			ssl:  Settings{VerificationMode: VerifyCertificate, CertificateAuthorities: []string{string(ca.PEM())}},
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
			ssl:   Settings{Enabled: &no, VerificationMode: VerifyFull},
			check: func(t *testing.T, c *tls.Config) { t.Helper(); checkNil(t, c) },
		},
		{name: "missing ca file", ssl: Settings{VerificationMode: VerifyFull, CertificateAuthorities: []string{filepath.Join(dir, "nope.pem")}}, wantErr: "nope.pem"},
		{name: "ca without pem", ssl: Settings{VerificationMode: VerifyFull, CertificateAuthorities: []string{"-----BEGIN garbage"}}, wantErr: "no PEM certificate"},
		{name: "key does not match", ssl: Settings{VerificationMode: VerifyFull, Certificate: string(certPEM), Key: string(ca.PEM())}, wantErr: "ssl.certificate/ssl.key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ssl.Client()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Client error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Client: %v", err)
			}
			tc.check(t, got)
		})
	}
}

func checkNil(t *testing.T, c *tls.Config) {
	t.Helper()
	if c != nil {
		t.Errorf("Client() = %+v, want nil when disabled", c)
	}
}

func TestProblems(t *testing.T) {
	s := Settings{VerificationMode: "sometimes", SupportedProtocols: []string{"TLSv1.3", "SSLv3"}, Certificate: "cert.pem"}
	var msgs []string
	for _, err := range s.Problems() {
		msgs = append(msgs, err.Error())
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{
		`ssl.verification_mode: must be full, strict, certificate or none, got "sometimes"`,
		`ssl.supported_protocols.1: must be TLSv1.2 or TLSv1.3, got "SSLv3"`,
		"ssl.certificate: certificate and key must be given together",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if d := Default(); len(d.Problems()) != 0 {
		t.Errorf("defaults have problems: %v", d.Problems())
	}
}

func TestWanted(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name string
		s    Settings
		want bool
	}{
		{"defaults", Default(), false},
		{"a CA", Settings{CertificateAuthorities: []string{"ca.pem"}}, true},
		{"a client certificate", Settings{Certificate: "c.pem", Key: "k.pem"}, true},
		{"enabled", Settings{Enabled: &yes}, true},
		{"disabled despite a CA", Settings{Enabled: &no, CertificateAuthorities: []string{"ca.pem"}}, false},
	} {
		if got := tc.s.Wanted(); got != tc.want {
			t.Errorf("%s: Wanted() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
