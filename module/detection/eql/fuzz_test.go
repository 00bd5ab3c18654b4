package eql_test

import (
	"errors"
	"testing"

	"github.com/spawnbeat/spawnbeat/module/detection/eql"
)

// FuzzParse checks that no input panics or hangs the parser, that every
// error is a *SyntaxError or wraps ErrUnsupported, and that an accepted
// statement (a query or a sequence) prints to text that parses back to the
// same tree.
func FuzzParse(f *testing.F) {
	for _, r := range loadCorpus(f) {
		f.Add(r.Query)
	}
	for _, s := range []string{
		`any where a == "\u{1F600}" and b : ("x*", "?y") or not c in~ ("A")`,
		`process where ?a.b regex~ """[a-z]+\d""" and length(x) >= -1.5e3`,
		"process where /* c */ `f``g` != null // x",
		`process where ((((a))))`,
		`sequence [process where true] [process where true]`,
		"sequence by host.id, ?a.b with maxspan=30s\n [process where x] by c with runs=3\n ![any where y] by d\nuntil [file where z] by e",
		`sequence with maxspan=5 m [any where a] [any where b] | head 1`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		q, err := eql.ParseStatement(src)
		if err != nil {
			var se *eql.SyntaxError
			if !errors.As(err, &se) && !errors.Is(err, eql.ErrUnsupported) {
				t.Fatalf("Parse(%q) error %T %v: want *SyntaxError or ErrUnsupported", src, err, err)
			}
			if se != nil && (se.Line < 1 || se.Col < 1) {
				t.Fatalf("Parse(%q): position %d:%d", src, se.Line, se.Col)
			}
			return
		}
		text := q.String()
		again, err := eql.ParseStatement(text)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q fails: %v", src, text, err)
		}
		if again.String() != text {
			t.Fatalf("round trip of %q: %q != %q", src, again.String(), text)
		}
	})
}
