package eql_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/module/detection/eql"
)

func TestParseCorpus(t *testing.T) {
	rules := loadCorpus(t)
	var single, sequences int
	seqStart := regexp.MustCompile(`(?m)^\s*sequence\b`)
	for _, r := range rules {
		t.Run(r.File, func(t *testing.T) {
			st, err := eql.ParseStatement(r.Query)
			if err != nil {
				t.Fatalf("ParseStatement: %v", err)
			}
			if seqStart.MatchString(r.Query) {
				sequences++
				s, ok := st.(*eql.Sequence)
				if !ok {
					t.Fatalf("a sequence rule parsed as %T", st)
				}
				// Parse, the single-event parser, refuses it at the keyword.
				_, err := eql.Parse(r.Query)
				var ue *eql.UnsupportedError
				if !errors.As(err, &ue) || ue.What != "sequence" {
					t.Fatalf("Parse err = %#v, want *UnsupportedError for sequence", err)
				}
				kw := strings.Index(r.Query, "sequence")
				line := strings.Count(r.Query[:kw], "\n") + 1
				col := kw - strings.LastIndex(r.Query[:kw], "\n")
				if ue.Line != line || ue.Col != col || s.Pos != (eql.Pos{Line: line, Col: col}) {
					t.Errorf("position %d:%d (sequence %v), want %d:%d", ue.Line, ue.Col, s.Pos, line, col)
				}
				if n := len(s.Expanded()); n < 2 || s.MaxSpan <= 0 {
					t.Errorf("%d steps, maxspan %v", n, s.MaxSpan)
				}
			} else {
				single++
				q, ok := st.(*eql.Query)
				if !ok || q.Category != "process" {
					t.Fatalf("parsed as %T, want a process query", st)
				}
			}
			// The canonical form parses back to the same text.
			again, err := eql.ParseStatement(st.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", st.String(), err)
			}
			if diff := cmp.Diff(st.String(), again.String()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	if single != 236 || sequences != 30 {
		t.Errorf("corpus has %d single-event and %d sequence rules, want 236 and 30", single, sequences)
	}
}

var treeCases = []struct {
	name, src, want string
}{
	{"precedence not>and>or", `any where not a == 1 and b == 2 or c == 3`, `any: (or (and (not (== a 1)) (== b 2)) (== c 3))`},
	{"parens", `any where a == 1 and (b == 2 or c == 3)`, `any: (and (== a 1) (or (== b 2) (== c 3)))`},
	{"not binds tighter than and", `any where not a and b`, `any: (and (not a) b)`},
	{"double not", `any where not not a`, `any: (not (not a))`},
	{"in", `process where process.name in ("a", "b")`, `process: (in process.name "a" "b")`},
	{"in~", `process where process.name in~ ("A")`, `process: (in~ process.name "A")`},
	{"not in", `process where process.name not in ("a")`, `process: (not-in process.name "a")`},
	{"not field in", `process where not process.name in ("a")`, `process: (not (in process.name "a"))`},
	{"colon single", `any where a : "x*"`, `any: (: a "x*")`},
	{"colon list", `any where a : ("x*", "y")`, `any: (: a "x*" "y")`},
	{"like", `any where a like "x*"`, `any: (like a "x*")`},
	{"like~ list", `any where a like~ ("x*", "Y?")`, `any: (like~ a "x*" "Y?")`},
	{"regex", `any where a regex "[0-9]+"`, `any: (regex a "[0-9]+")`},
	{"regex~", `any where a regex~ ("a.*", "b")`, `any: (regex~ a "a.*" "b")`},
	{"comparisons", `any where a >= 3 and b < -2 and c <= 1.5 and d > 0 and e != "x"`, `any: (and (and (and (and (>= a 3) (< b -2)) (<= c 1.5)) (> d 0)) (!= e "x"))`},
	{"null and bools", `any where a == null and b != null and c == true and d == false`, `any: (and (and (and (== a null) (!= b null)) (== c true)) (== d false))`},
	{"optional field", `any where ?process.parent.args like "x"`, `any: (like ?process.parent.args "x")`},
	{"backquoted field", "any where `my field`.x == 1 and `a``b` == 2", "any: (and (== my field.x 1) (== a`b 2))"},
	{"keyword after dot", `any where process.in == 1`, `any: (== process.in 1)`},
	{"at timestamp", `any where @timestamp > 1`, `any: (> @timestamp 1)`},
	{"escapes", `any where a == "q\"b\\s\n\t\r\u{41}\u{1F600}\'"`, `any: (== a "q\"b\\s\n\t\rA😀'")`},
	{"raw triple", `any where a regex """\d+\.x"""`, `any: (regex a "\\d+\\.x")`},
	{"raw triple with quotes", `any where a == """say "hi"""""`, `any: (== a "say \"hi\"\"")`},
	{"raw question", `any where a == ?"C:\temp\"x"`, `any: (== a "C:\\temp\\\"x")`},
	{"numbers", `any where a == 1e3 or b == .5 or c == 2. or d == -0.25 or e == 10`, `any: (or (or (or (or (== a 1000.0) (== b 0.5)) (== c 2.0)) (== d -0.25)) (== e 10))`},
	{"arithmetic", `any where a + 2 * b - c % 3 / d > 1`, `any: (> (- (+ a (* 2 b)) (/ (% c 3) d)) 1)`},
	{"unary minus", `any where -a == -(1)`, `any: (== (neg a) -1)`},
	{"functions", `any where startsWith~(process.name, "py") and length(x) > 3 and concat() == ""`, `any: (and (and (call startsWith~ process.name "py") (> (call length x) 3)) (== (call concat) ""))`},
	{"comments", "any where /* a /* nested */ comment */ a == 1 // trailing\n and b == 2", `any: (and (== a 1) (== b 2))`},
	{"quoted category", "`my category` where true", `my category: true`},
	{"field compare", `any where a == b`, `any: (== a b)`},
	{"in with expressions", `any where a in (b, "x", 1 + 2)`, `any: (in a b "x" (+ 1 2))`},
}

func TestParseTree(t *testing.T) {
	for _, tt := range treeCases {
		t.Run(tt.name, func(t *testing.T) {
			q, err := eql.Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.src, err)
			}
			if diff := cmp.Diff(tt.want, q.Category+": "+sexpr(q.Where)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			again, err := eql.Parse(q.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", q.String(), err)
			}
			if diff := cmp.Diff(sexpr(q.Where), sexpr(again.Where)); diff != "" {
				t.Errorf("round trip of %q (-want +got):\n%s", q.String(), diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      *eql.SyntaxError
	}{
		{"empty", ``, &eql.SyntaxError{Line: 1, Col: 1, Msg: `expected an event category (such as "process" or "any") or "sequence", found end of query`}},
		{"no where", `process a == 1`, &eql.SyntaxError{Line: 1, Col: 9, Msg: `expected "where", found "a"`}},
		{"missing operand", `process where a ==`, &eql.SyntaxError{Line: 1, Col: 19, Msg: `expected a field, a value, a function call or "(", found end of query`}},
		{"single equals", `process where a = 1`, &eql.SyntaxError{Line: 1, Col: 17, Msg: `unexpected "=": expected "==" for equality`}},
		{"unclosed paren", "process where (a == 1\n and b == 2", &eql.SyntaxError{Line: 2, Col: 12, Msg: `expected ")", found end of query`}},
		{"unclosed list", `process where a in ("x" "y")`, &eql.SyntaxError{Line: 1, Col: 25, Msg: `expected "," or ")", found string "y"`}},
		{"single quotes", `process where a == 'x'`, &eql.SyntaxError{Line: 1, Col: 20, Msg: `unexpected "'": use double quotes ["] to define string literals, not single quotes [']`}},
		{"bad escape", `process where a == "\q"`, &eql.SyntaxError{Line: 1, Col: 21, Msg: `invalid escape sequence "\q": expected one of \" \' \\ \b \f \n \r \t \u{hex}`}},
		{"bad unicode", `process where a == "\u{zz}"`, &eql.SyntaxError{Line: 1, Col: 21, Msg: `invalid unicode escape \u{zz}: expected a Unicode code point`}},
		{"unterminated string", `process where a == "x`, &eql.SyntaxError{Line: 1, Col: 20, Msg: `unterminated string: expected closing "`}},
		{"newline in string", "process where a == \"x\ny\"", &eql.SyntaxError{Line: 1, Col: 22, Msg: `line break in string: expected closing " (use \n, or a """raw string""")`}},
		{"unterminated comment", `process where a == 1 /* x`, &eql.SyntaxError{Line: 1, Col: 22, Msg: `unterminated comment: expected "*/" before end of query`}},
		{"chained comparison", `process where 1 < a < 3`, &eql.SyntaxError{Line: 1, Col: 21, Msg: `unexpected "<": comparisons cannot be chained, expected "and" or "or"`}},
		{"trailing junk", `process where a == 1 b`, &eql.SyntaxError{Line: 1, Col: 22, Msg: `expected "and", "or", a pipe or the end of the query, found "b"`}},
		{"like needs constant", `process where a like b`, &eql.SyntaxError{Line: 1, Col: 22, Msg: `expected a string, number, boolean or null, found "b"`}},
		{"not without in", `process where a not like "x"`, &eql.SyntaxError{Line: 1, Col: 21, Msg: `expected "in" or "in~" after "not", found "like"`}},
		{"keyword as field", `process where and == 1`, &eql.SyntaxError{Line: 1, Col: 15, Msg: `expected a field, a value or a function call, found "and"`}},
		{"tilde on field", `process where a~ == 1`, &eql.SyntaxError{Line: 1, Col: 15, Msg: `unexpected "a~": "~" is only allowed on function names and in~, like~, regex~`}},
		{"bad character", `process where a == #`, &eql.SyntaxError{Line: 1, Col: 20, Msg: `unexpected character '#': expected a field, a value or an operator`}},
		{"question without field", `process where ? == 1`, &eql.SyntaxError{Line: 1, Col: 17, Msg: `expected a field name after "?", found "=="`}},
		{"number then letter", `process where a == 12ab`, &eql.SyntaxError{Line: 1, Col: 22, Msg: `unexpected 'a' after number 12: expected an operator`}},
		{"arithmetic too long", "process where a == 1" + strings.Repeat(" + 1", eql.MaxDepth+1), &eql.SyntaxError{Line: 1, Col: 22 + 4*eql.MaxDepth, Msg: `arithmetic expression longer than 200 terms`}},
		{"too deep", "process where " + strings.Repeat("(", eql.MaxDepth+1) + "a" + strings.Repeat(")", eql.MaxDepth+1), &eql.SyntaxError{Line: 1, Col: 15 + eql.MaxDepth, Msg: `expression nested deeper than 200 levels`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eql.Parse(tt.src)
			var se *eql.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) err = %v, want *SyntaxError", tt.src, err)
			}
			if diff := cmp.Diff(tt.want, se); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, eql.ErrSyntax) {
				t.Errorf("errors.Is(err, ErrSyntax) = false")
			}
			if got, want := err.Error(), fmt.Sprintf("%d:%d: %s", tt.want.Line, tt.want.Col, tt.want.Msg); got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}

func TestParseUnsupported(t *testing.T) {
	tests := []struct {
		name, src string
		want      eql.UnsupportedError
	}{
		{"sequence", "sequence by host.id with maxspan=1m\n [process where true]\n [process where true]", eql.UnsupportedError{Line: 1, Col: 1, What: "sequence"}},
		{"indented sequence", "\n  sequence [process where true] [process where true]", eql.UnsupportedError{Line: 2, Col: 3, What: "sequence"}},
		{"sample", `sample by host.id [process where true] [process where true]`, eql.UnsupportedError{Line: 1, Col: 1, What: "sample"}},
		{"join", `join [process where true] [file where true]`, eql.UnsupportedError{Line: 1, Col: 1, What: "join"}},
		{"pipe", `process where true | head 5`, eql.UnsupportedError{Line: 1, Col: 20, What: "pipe"}},
		{"array index", `process where process.args[0] == "x"`, eql.UnsupportedError{Line: 1, Col: 27, What: "array index in field name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eql.Parse(tt.src)
			if !errors.Is(err, eql.ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
			var ue *eql.UnsupportedError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %T, want *UnsupportedError", err)
			}
			if diff := cmp.Diff(tt.want, *ue); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryString(t *testing.T) {
	deepNot := "process where " + strings.Repeat("not ", eql.MaxDepth) + "a"
	deepParen := "process where " + strings.Repeat("(", eql.MaxDepth-1) + "a == 1" + strings.Repeat(")", eql.MaxDepth-1)
	tests := []struct {
		name, src, want string
	}{
		{"minimal parentheses", `any where ((a == 1) and (b == 2)) or not (c : "x")`, `any where a == 1 and b == 2 or not c : ("x")`},
		{"needed parentheses kept", `any where (a or b) and not (c and d)`, `any where (a or b) and not (c and d)`},
		{"arithmetic", `any where (a + b) * (c - d) > -(e % 2)`, `any where (a + b) * (c - d) > -(e % 2)`},
		{"right-nested same operator", `any where a - (b - c) == 1 and (x and (y and z))`, `any where a - (b - c) == 1 and (x and (y and z))`},
		{"predicate on expression", `any where (a + 1) in (2, 3)`, `any where (a + 1) in (2, 3)`},
		{"negative literal", `any where a == -1 and b : (-2, "x")`, `any where a == -1 and b : (-2, "x")`},
		{"deep not", deepNot, deepNot},
		{"deep parentheses", deepParen, "process where a == 1"},
		{"quoted names", "`odd cat` where `a b`.c == \"\\u{01}\"", "`odd cat` where `a b`.c == \"\\u{01}\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := eql.Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, q.String()); diff != "" {
				t.Errorf("String (-want +got):\n%s", diff)
			}
			again, err := eql.Parse(q.String())
			if err != nil {
				t.Fatalf("reparse: %v", err)
			}
			if diff := cmp.Diff(sexpr(q.Where), sexpr(again.Where)); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}
