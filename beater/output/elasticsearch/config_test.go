package elasticsearch

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-ucfg"
	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/beater/tlsconfig"
)

// TestConfigUnpack unpacks user settings over the defaults (Unpack, as the
// agent opens the output), including the non_indexable_policy forms.
func TestConfigUnpack(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]any
		want    func(*Config)
		wantErr string
	}{
		{
			name: "defaults",
			in:   map[string]any{},
			want: func(*Config) {},
		},
		{
			name: "everything",
			in: map[string]any{
				"hosts":             []any{"es1:9201", "https://es2/base"},
				"protocol":          "https",
				"path":              "/p",
				"headers":           map[string]any{"X-A": "b"},
				"api_key":           "id:key",
				"compression_level": 5,
				"bulk_max_size":     50,
				"worker":            3,
				"timeout":           "5s",
				"backoff":           map[string]any{"init": "2s", "max": "1m"},
				"max_retries":       7,
				"proxy_url":         "http://proxy:3128",
				"ssl":               map[string]any{"verification_mode": "certificate", "supported_protocols": []any{"TLSv1.3"}},
				"non_indexable_policy": map[string]any{
					"dead_letter_index": map[string]any{"index": "my-dlq"},
				},
			},
			want: func(c *Config) {
				c.Hosts = []string{"es1:9201", "https://es2/base"}
				c.Protocol, c.Path, c.Headers, c.APIKey = "https", "/p", map[string]string{"X-A": "b"}, "id:key"
				c.CompressionLevel, c.BulkMaxSize, c.Worker, c.Timeout = 5, 50, 3, 5*time.Second
				c.Backoff = BackoffConfig{Init: 2 * time.Second, Max: time.Minute}
				c.MaxRetries, c.ProxyURL = 7, "http://proxy:3128"
				c.SSL.VerificationMode, c.SSL.SupportedProtocols = tlsconfig.VerifyCertificate, []string{"TLSv1.3"}
				c.NonIndexablePolicy.DeadLetterIndex = "my-dlq"
			},
		},
		{
			name: "dead letter default index",
			in:   map[string]any{"non_indexable_policy": map[string]any{"dead_letter_index": map[string]any{}}},
			want: func(c *Config) { c.NonIndexablePolicy.DeadLetterIndex = DefaultDeadLetterIndex },
		},
		{
			name: "drop",
			in:   map[string]any{"non_indexable_policy": map[string]any{"drop": map[string]any{}}},
			want: func(*Config) {},
		},
		{
			name:    "unknown policy",
			in:      map[string]any{"non_indexable_policy": map[string]any{"keep": map[string]any{}}},
			wantErr: "unknown policy",
		},
		{
			name:    "validation runs on unpack",
			in:      map[string]any{"bulk_max_size": 0},
			wantErr: "bulk_max_size",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := ucfg.NewFrom(tc.in, ucfg.PathSep("."))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unpack(raw)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Unpack error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			want := DefaultConfig()
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidateReportsEveryProblem: one error names every bad key.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.Hosts = []string{"ftp://x", "h:99999"}
	c.Protocol = "gopher"
	c.APIKey, c.Username = "k", "u"
	c.CompressionLevel = 10
	c.BulkMaxSize = 0
	c.Worker = 0
	c.Timeout = 0
	c.Backoff = BackoffConfig{Init: 0, Max: -1}
	c.MaxRetries = -2
	c.Namespace = "Bad-NS"
	c.SSL.VerificationMode = "sometimes"
	c.SSL.SupportedProtocols = []string{"SSLv3"}
	c.SSL.Certificate = "cert.pem"
	c.ProxyURL = "::"
	err := c.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
	}
	for _, key := range []string{
		"hosts.0", "hosts.1", "protocol", "api_key", "compression_level", "bulk_max_size", "worker",
		"timeout", "backoff.init", "backoff.max", "max_retries", "namespace", "ssl.verification_mode",
		"ssl.supported_protocols.0", "ssl.certificate", "proxy_url",
	} {
		t.Run(key, func(t *testing.T) {
			if !strings.Contains(err.Error(), key+":") {
				t.Errorf("error does not name %s:\n%v", key, err)
			}
		})
	}
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
}

func TestHostURLs(t *testing.T) {
	yes := true
	tests := []struct {
		name  string
		edit  func(*Config)
		hosts []string
		want  []string
	}{
		{"bare host", nil, []string{"es"}, []string{"http://es:9200"}},
		{"host port", nil, []string{"10.0.0.1:9201"}, []string{"http://10.0.0.1:9201"}},
		{"full url with path", nil, []string{"https://es:443/base/"}, []string{"https://es:443/base"}},
		{"ipv6", nil, []string{"[::1]:9200"}, []string{"http://[::1]:9200"}},
		{"protocol and path settings", func(c *Config) { c.Protocol, c.Path = "https", "es" }, []string{"h:1", "http://k:2/own"}, []string{"https://h:1/es", "http://k:2/own"}},
		{"tls implies https", func(c *Config) { c.SSL.Enabled = &yes }, []string{"h"}, []string{"https://h:9200"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Hosts = tc.hosts
			if tc.edit != nil {
				tc.edit(&c)
			}
			us, err := c.HostURLs()
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(us))
			for i, u := range us {
				got[i] = u.String()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodedAPIKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"id:key", base64.StdEncoding.EncodeToString([]byte("id:key"))},
		{"aWQ6a2V5", "aWQ6a2V5"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c := Config{APIKey: tc.in}
			if got := c.encodedAPIKey(); got != tc.want {
				t.Errorf("encodedAPIKey() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSetupConfigValidate(t *testing.T) {
	s := DefaultSetupConfig()
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	s.Template.Name, s.Template.Pattern, s.ILM.PolicyName = "", "", ""
	err := s.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate = %v", err)
	}
	for _, key := range []string{"template.name", "template.pattern", "ilm.policy_name"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

// TestDefaultCompression: request bodies are gzipped at level 1 unless
// compression_level says otherwise (0 turns it off), as in Beats.
func TestDefaultCompression(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]any
		want int
	}{
		{map[string]any{"hosts": []string{"es:9200"}}, 1},
		{map[string]any{"hosts": []string{"es:9200"}, "compression_level": 0}, 0},
	} {
		raw, err := ucfg.NewFrom(tc.in, ucfg.PathSep("."))
		if err != nil {
			t.Fatal(err)
		}
		got := DefaultConfig()
		if err := raw.Unpack(&got); err != nil {
			t.Fatal(err)
		}
		if got.CompressionLevel != tc.want {
			t.Errorf("%v: compression_level %d, want %d", tc.in, got.CompressionLevel, tc.want)
		}
	}
}
