package kibana

import (
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-ucfg"
	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/beater/tlsconfig"
)

func TestBaseURL(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"default", func(*Config) {}, "http://localhost:5601"},
		{"host:port", func(c *Config) { c.Host = "kibana:5602" }, "http://kibana:5602"},
		{"URL with path", func(c *Config) { c.Host = "https://kibana/base/" }, "https://kibana:5601/base"},
		{"protocol and path", func(c *Config) { c.Host, c.Protocol, c.Path = "10.0.0.1", "https", "kibana/" }, "https://10.0.0.1:5601/kibana"},
		{"path does not override the URL's", func(c *Config) { c.Host, c.Path = "http://k:1/own", "/other" }, "http://k:1/own"},
		{"ssl implies https", func(c *Config) { c.SSL.Enabled = &yes }, "https://localhost:5601"},
		{"a CA implies https", func(c *Config) { c.SSL.CertificateAuthorities = []string{"ca.pem"} }, "https://localhost:5601"},
		{"ipv6", func(c *Config) { c.Host = "[::1]:5601" }, "http://[::1]:5601"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			u, err := c.BaseURL()
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != tc.want {
				t.Errorf("BaseURL() = %s, want %s", u, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	c.Host = "ftp://kibana"
	c.Protocol = "gopher"
	c.SpaceID = "My Space"
	c.APIKey, c.Username, c.Password = "id:key", "elastic", "pw"
	c.Timeout = 0
	c.SSL.VerificationMode = "sometimes"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`protocol: must be http or https, got "gopher"`,
		`host: unsupported scheme "ftp"`,
		`space.id: "My Space" is not a Kibana space identifier`,
		"api_key: cannot be combined with username/password",
		"timeout: must be > 0",
		"ssl.verification_mode: must be full, strict, certificate or none",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for host, want := range map[string]string{
		"http://elastic:pw@kibana": "credentials in",
		"kibana:99999":             "bad port",
		"http://:5601":             "no host name",
		"":                         "empty host",
	} {
		c := DefaultConfig()
		c.Host = host
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("host %q: %v, want %q", host, err, want)
		}
		if strings.Contains(host, "pw") && err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("the password reached the error: %v", err)
		}
	}
	c = DefaultConfig()
	c.Password = "pw"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "password: set without username") {
		t.Errorf("password alone: %v", err)
	}
	if d := DefaultConfig(); d.Validate() != nil {
		t.Errorf("defaults: %v", d.Validate())
	}
}

// TestUnpack unpacks settings over the defaults as the config package does
// (go-ucfg with dotted keys), the dotted space.id included.
func TestUnpack(t *testing.T) {
	raw, err := ucfg.NewFrom(map[string]any{
		"host": "https://kibana:5601", "space.id": "soc", "api_key": "id:key",
		"headers": map[string]any{"X-Proxy": "1"}, "timeout": "5s",
		"ssl": map[string]any{"certificate_authorities": []any{"/etc/ca.pem"}},
	}, ucfg.PathSep("."))
	if err != nil {
		t.Fatal(err)
	}
	got := DefaultConfig()
	if err := raw.Unpack(&got, ucfg.PathSep(".")); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Host, want.SpaceID, want.APIKey, want.Timeout = "https://kibana:5601", "soc", "id:key", 5*time.Second
	want.Headers = map[string]string{"X-Proxy": "1"}
	want.SSL = tlsconfig.Settings{VerificationMode: tlsconfig.VerifyFull, CertificateAuthorities: []string{"/etc/ca.pem"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("unpacked (-want +got):\n%s", d)
	}
	bad, _ := ucfg.NewFrom(map[string]any{"space.id": "Not Valid"}, ucfg.PathSep("."))
	c := DefaultConfig()
	if err := bad.Unpack(&c, ucfg.PathSep(".")); err == nil || !strings.Contains(err.Error(), "space.id") {
		t.Errorf("unpack of a bad space.id: %v, want Validate's error", err)
	}
}

func TestEncodedAPIKey(t *testing.T) {
	for in, want := range map[string]string{"id:key": "aWQ6a2V5", "aWQ6a2V5": "aWQ6a2V5"} {
		c := Config{APIKey: in}
		if got := c.encodedAPIKey(); got != want {
			t.Errorf("encodedAPIKey(%q) = %q, want %q", in, got, want)
		}
	}
}
