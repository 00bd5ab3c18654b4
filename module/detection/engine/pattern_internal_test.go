package engine

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompilePattern(t *testing.T) {
	tests := []struct {
		pat  string
		kind patKind
		lit  string
		yes  []string
		no   []string
	}{
		{"bash", patExact, "bash", []string{"bash"}, []string{"bas", "bash ", "Bash"}},
		{"python*", patPrefix, "python", []string{"python", "python3.11"}, []string{"ipython"}},
		{"*sh", patSuffix, "sh", []string{"sh", "/bin/bash"}, []string{"shell"}},
		{"*pty.spawn*", patContains, "pty.spawn", []string{"pty.spawn", "import pty; pty.spawn(x)"}, []string{"pty_spawn"}},
		{"*", patAny, "", []string{"", "x"}, nil},
		{"**", patAny, "", []string{"", "x"}, nil},
		{"a**b", patGlob, "", []string{"ab", "axxb"}, []string{"a", "ba"}},
		{"b?sh", patGlob, "", []string{"bash", "bosh", "bésh"}, []string{"bsh", "baash"}},
		{"*/bin/*sh", patGlob, "", []string{"/usr/bin/bash", "/bin/sh"}, []string{"/usr/bin/bash5"}},
		// A backslash is an ordinary character: no escapes.
		{`a\*`, patPrefix, `a\`, []string{`a\`, `a\b`}, []string{"a*", "ab"}},
		{`?:\Users\*`, patGlob, "", []string{`C:\Users\bob`}, []string{`C:/Users/bob`, `C:\Users`}},
		{`*\x*\x*`, patGlob, "", []string{`printf '\x41\x42'`}, []string{"xx", `\x`}},
		{`x\`, patExact, `x\`, []string{`x\`}, []string{"x"}},
		{"?", patGlob, "", []string{"a", "é"}, []string{"", "ab"}},
		{"*a*b*c*", patGlob, "", []string{"abc", "xxaxxbxxcxx"}, []string{"acb"}},
		{"", patExact, "", []string{""}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.pat, func(t *testing.T) {
			p := compilePattern(tt.pat)
			if diff := cmp.Diff([]any{tt.kind, tt.lit}, []any{p.kind, p.lit}); diff != "" {
				t.Errorf("classification (-want +got):\n%s", diff)
			}
			for _, s := range tt.yes {
				if !p.match(s) {
					t.Errorf("%q does not match %q", tt.pat, s)
				}
			}
			for _, s := range tt.no {
				if p.match(s) {
					t.Errorf("%q matches %q", tt.pat, s)
				}
			}
		})
	}
}

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bash", "bash"},
		{"BaSH -C", "bash -c"},
		{"ÉCOLE", "école"},
		{string(make([]byte, foldBufSize+1)), string(make([]byte, foldBufSize+1))},
	}
	for _, tt := range tests {
		t.Run(tt.want[:min(len(tt.want), 10)], func(t *testing.T) {
			var buf [foldBufSize]byte
			if got := fold(&buf, tt.in); got != tt.want {
				t.Errorf("fold(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTranslateLucene(t *testing.T) {
	tests := []struct {
		name        string
		re          string
		insensitive bool
		yes, no     []string
	}{
		{"anchored", "ab", false, []string{"ab"}, []string{"xab", "abx"}},
		{"dot matches newline", "a.b", false, []string{"a\nb", "axb"}, []string{"ab"}},
		{"caret and dollar are literal", "^a$", false, []string{"^a$"}, []string{"a"}},
		{"class and repeat", "[0-9]{1,3}\\.[0-9]{1,3}", false, []string{"10.1", "255.255"}, []string{"1000.1", "1.a"}},
		{"negated class", "-[^-]*[uz][^-]*", true, []string{"-xzv", "-U"}, []string{"--u", "-abc"}},
		{"predefined classes", `/var/run/\w+\.(pid|lock)`, false, []string{"/var/run/foo_1.pid"}, []string{"/var/run/.pid", "/var/run/a b.pid"}},
		{"space class", `/[a-z0-9\s_\-\\./]+\s`, true, []string{"/tmp/My File "}, []string{"/tmp/x"}},
		{"digit class", `\d+`, false, []string{"123"}, []string{"12a"}},
		{"escaped literal", `a\+b`, false, []string{"a+b"}, []string{"aab"}},
		{"quoted string", `"a.b"c`, false, []string{"a.bc"}, []string{"axbc"}},
		{"any string", `a@`, false, []string{"a", "abc"}, []string{"b"}},
		{"empty language", `a|#`, false, []string{"a"}, []string{"", "#"}},
		{"stacked repetition", `a*+b?*`, false, []string{"", "aab", "bb"}, []string{"c"}},
		{"case-insensitive", `php?[0-9]?\.?[0-9]{0,2}`, true, []string{"PHP7.4", "ph", "php"}, []string{"php10.40"}},
		{"alternation groups", `(ab|cd)+`, false, []string{"abcdab"}, []string{"abc"}},
		{"literal dash at end of class", `[a-]+`, false, []string{"a-a"}, []string{"b"}},
		{"closing bracket first in class", `[]a]+`, false, []string{"]a"}, []string{"b"}},
		{"escapes in class", `[\]\^\d]+`, false, []string{"]^7"}, []string{"a", "\\"}},
		{"negated class escape", `\S\W\D`, false, []string{"a.b"}, []string{" .b", "a_b", "a.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re, err := translateLucene(tt.re, tt.insensitive)
			if err != nil {
				t.Fatalf("translateLucene(%q): %v", tt.re, err)
			}
			for _, s := range tt.yes {
				if !re.MatchString(s) {
					t.Errorf("%q (%s) does not match %q", tt.re, re, s)
				}
			}
			for _, s := range tt.no {
				if re.MatchString(s) {
					t.Errorf("%q (%s) matches %q", tt.re, re, s)
				}
			}
		})
	}
}

func TestTranslateLuceneErrors(t *testing.T) {
	tests := []struct {
		re          string
		unsupported bool
	}{
		{"a&b", true},
		{"~a", true},
		{"<1-10>", true},
		{"*a", false},
		{"(a", false},
		{"[a", false},
		{`a\`, false},
		{`[a\`, false},
		{"a{2,1}", false},
		{"a{5000}", false},
		{`"abc`, false},
		{"a)", false},
	}
	for _, tt := range tests {
		t.Run(tt.re, func(t *testing.T) {
			_, err := translateLucene(tt.re, false)
			if err == nil {
				t.Fatalf("translateLucene(%q) succeeded", tt.re)
			}
			if got := errors.Is(err, errRegexUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(err, errRegexUnsupported) = %v, want %v (%v)", got, tt.unsupported, err)
			}
		})
	}
}
