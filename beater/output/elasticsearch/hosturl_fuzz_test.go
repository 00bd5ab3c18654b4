package elasticsearch

import "testing"

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
