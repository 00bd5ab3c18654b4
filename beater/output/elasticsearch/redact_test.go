package elasticsearch

import (
	"strings"
	"testing"
)

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
	_, err := c.SSL.Client()
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "ssl.key") {
		t.Errorf("Client() with a damaged key: %v", err)
	}
}
