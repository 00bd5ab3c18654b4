package endpoint

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	d := Defaults{Scheme: "http", Port: 5601}
	tests := []struct {
		host string
		d    Defaults
		want string
		err  string
	}{
		{"localhost", d, "http://localhost:5601", ""},
		{"k:1234", d, "http://k:1234", ""},
		{"https://k/base/", d, "https://k:5601/base", ""},
		{"10.0.0.1", Defaults{Scheme: "https", Port: 9200, Path: "es/"}, "https://10.0.0.1:9200/es", ""},
		{"http://k:1/own", Defaults{Scheme: "http", Port: 1, Path: "/other"}, "http://k:1/own", ""},
		{"[::1]:5601", d, "http://[::1]:5601", ""},
		{"http://k/p?x=1#f", d, "http://k:5601/p", ""},
		{"", d, "", "empty host"},
		{"ftp://k", d, "", `unsupported scheme "ftp"`},
		{"http://:80", d, "", "no host name"},
		{"k:0", d, "", "bad port"},
		{"k:99999", d, "", "bad port"},
		{"%zz", d, "", "invalid URL escape"},
	}
	for _, tc := range tests {
		u, err := URL(tc.host, tc.d)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("URL(%q) = %v, %v; want error %q", tc.host, u, err, tc.err)
			}
		case err != nil || u.String() != tc.want:
			t.Errorf("URL(%q) = %v, %v; want %s", tc.host, u, err, tc.want)
		}
	}
}

func TestScheme(t *testing.T) {
	for _, tc := range []struct {
		protocol string
		tls      bool
		want     string
	}{{"", false, "http"}, {"", true, "https"}, {"http", true, "http"}, {"https", false, "https"}} {
		if got := Scheme(tc.protocol, tc.tls); got != tc.want {
			t.Errorf("Scheme(%q, %v) = %q, want %q", tc.protocol, tc.tls, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://elastic:pw@es:9200/p": "https://elastic:xxxxx@es:9200/p",
		"elastic:pw@es:9200":           "elastic:xxxxx@es:9200",
		"http://u:p@ss:w/rd@es:9200":   "http://u:xxxxx@es:9200",
		"https://es:9200":              "https://es:9200",
		"https://token@es:9200":        "https://token@es:9200",
		"http://es:99999999/a@b":       "http://es:xxxxx@b", // too much hidden, never too little
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
