package elasticsearch

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://elastic:pw@es:9200/p": "https://elastic:xxxxx@es:9200/p",
		"elastic:pw@es:9200":           "elastic:xxxxx@es:9200",
		"http://u:p@ss:w/rd@es:9200":   "http://u:xxxxx@es:9200",
		"https://es:9200":              "https://es:9200",
		"https://token@es:9200":        "https://token@es:9200",
		"http://es:99999999/a@b":       "http://es:xxxxx@b", // too much hidden, never too little
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestErrorsHideURLPasswords checks that a host or proxy setting that does
// not parse is named in the error without its password, which may have come
// from the keystore; and that a private key is never quoted.
func TestErrorsHideURLPasswords(t *testing.T) {
	const secret = "pa55word-from-the-keystore"
	for _, tc := range []struct {
		name string
		set  func(*Config)
	}{
		{"bad port", func(c *Config) { c.Hosts = []string{"http://elastic:" + secret + "@es:99999"} }},
		{"bad port without scheme", func(c *Config) { c.Hosts = []string{"elastic:" + secret + "@es:0"} }},
		{"does not parse", func(c *Config) { c.Hosts = []string{"http://elastic:" + secret + "@es:9200/%zz"} }},
		{"no host", func(c *Config) { c.Hosts = []string{"http://elastic:" + secret + "@:9200"} }},
		{"proxy", func(c *Config) { c.ProxyURL = "http://proxy:" + secret + "@%zz" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.set(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the password: %v", err)
			}
			if _, err := c.HostURLs(); err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("HostURLs shows the password: %v", err)
			}
		})
	}
	c := DefaultConfig()
	c.SSL.Certificate = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
	c.SSL.Key = "MIIEv" + secret // a key whose PEM armour was lost
	_, err := c.TLSConfig()
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "ssl.key") {
		t.Errorf("TLSConfig with a damaged key: %v", err)
	}
}
