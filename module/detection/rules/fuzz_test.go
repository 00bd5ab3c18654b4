package rules

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the rule parser: it must return a
// rule, a positioned *Problem or an *UnsupportedError, never panic.
func FuzzParse(f *testing.F) {
	for _, b := range builtinFiles() {
		f.Add(b.data)
	}
	seeds, _ := filepath.Glob("testdata/*/*.toml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("[rule]\nquery = \"\"\"\\\n  \\u0041 and \\\"x\\\"\"\"\"\n"))
	f.Add([]byte("[rule]\nrule_id='a'\nname='b'\ntype='eql'\nseverity='low'\nquery='''\r\nprocess where )'''\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz.toml", data, false)
		var p *Problem
		var u *UnsupportedError
		switch {
		case err == nil:
			if r == nil || r.Meta == nil || (r.ECS == nil || r.JSON == nil) == (r.ECSSequence == nil || r.JSONSequence == nil) {
				t.Fatalf("Parse returned no error and an incomplete rule %+v", r)
			}
		case errors.As(err, &p):
			if p.Line < 1 || p.Col < 1 {
				t.Fatalf("problem without a position: %v", p)
			}
		case errors.As(err, &u):
		default:
			t.Fatalf("error %v (%T): want *Problem or *UnsupportedError", err, err)
		}
		// The scanner must survive anything and stay within the text.
		l := scanLayout(string(data))
		if l.queryFound {
			for q := 1; q <= 3; q++ {
				if line, col, ok := l.queryPosition(l.query, q, 1+q*7); ok && (line < 1 || col < 1) {
					t.Fatalf("queryPosition(%d, %d) = %d:%d", q, 1+q*7, line, col)
				}
			}
		}
	})
}
