package engine

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// errRegexUnsupported marks Lucene regexp operators that have no RE2
// equivalent.
var errRegexUnsupported = errors.New("not supported")

// translateLucene turns a Lucene regular expression (the syntax of
// Elasticsearch's regexp query, which EQL's regex runs as) into an anchored
// Go regexp. Lucene patterns always match the whole value; "." matches any
// character including a newline; ^ and $ are ordinary characters.
//
// Supported: . ? * + {n} {n,} {n,m} | ( ) [...] [^...] with ranges,
// "quoted literal strings", \ escapes (\X is a literal X), the classes
// \d \D \s \S \w \W (Lucene 8.6+), @ (any string) and # (the empty
// language). Not supported (a compile error): the & intersection, ~
// complement and <n-m> numeric interval operators.
func translateLucene(src string, insensitive bool) (*regexp.Regexp, error) {
	t := luceneTranslator{src: src}
	body, err := t.alternation(0)
	if err != nil {
		return nil, err
	}
	if t.pos < len(src) {
		return nil, fmt.Errorf("unexpected %q at offset %d", src[t.pos], t.pos)
	}
	flags := "(?s"
	if insensitive {
		flags += "i"
	}
	re, err := regexp.Compile(flags + ")^(?:" + body + ")$")
	if err != nil {
		return nil, fmt.Errorf("translate to Go regexp: %w", err)
	}
	return re, nil
}

type luceneTranslator struct {
	src string
	pos int
}

const maxRegexDepth = 100

func (t *luceneTranslator) peek() (rune, int) {
	if t.pos >= len(t.src) {
		return -1, 0
	}
	return utf8.DecodeRuneInString(t.src[t.pos:])
}

func (t *luceneTranslator) alternation(depth int) (string, error) {
	if depth > maxRegexDepth {
		return "", fmt.Errorf("nested deeper than %d groups", maxRegexDepth)
	}
	var parts []string
	for {
		s, err := t.sequence(depth)
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
		if r, _ := t.peek(); r != '|' {
			return strings.Join(parts, "|"), nil
		}
		t.pos++
	}
}

// sequence translates atoms with their repetitions up to | or ) or the end.
func (t *luceneTranslator) sequence(depth int) (string, error) {
	var b strings.Builder
	for {
		r, _ := t.peek()
		switch r {
		case -1, '|', ')':
			return b.String(), nil
		case '&', '~', '<':
			return "", fmt.Errorf("lucene operator %q at offset %d: %w", r, t.pos, errRegexUnsupported)
		case '*', '+', '?', '{':
			return "", fmt.Errorf("repetition %q at offset %d has nothing to repeat", r, t.pos)
		}
		atom, err := t.atom(depth)
		if err != nil {
			return "", err
		}
		// Lucene allows stacked repetitions (a*+, a{2}?); RE2 does not, so
		// each extra one wraps what came before in a group.
		for {
			q, ok, err := t.quantifier()
			if err != nil {
				return "", err
			}
			if !ok {
				break
			}
			atom = "(?:" + atom + ")" + q
		}
		b.WriteString(atom)
	}
}

// quantifier reads ? * + {n} {n,} {n,m}.
func (t *luceneTranslator) quantifier() (string, bool, error) {
	r, _ := t.peek()
	switch r {
	case '?', '*', '+':
		t.pos++
		return string(r), true, nil
	case '{':
	default:
		return "", false, nil
	}
	end := strings.IndexByte(t.src[t.pos:], '}')
	if end < 0 {
		return "", false, fmt.Errorf("unterminated repetition at offset %d: expected }", t.pos)
	}
	spec := t.src[t.pos+1 : t.pos+end]
	lo, hi, comma := spec, "", false
	if i := strings.IndexByte(spec, ','); i >= 0 {
		lo, hi, comma = spec[:i], spec[i+1:], true
	}
	nlo, err := strconv.Atoi(lo)
	if err != nil || nlo < 0 || nlo > 1000 {
		return "", false, fmt.Errorf("bad repetition {%s} at offset %d", spec, t.pos)
	}
	if hi != "" {
		nhi, err := strconv.Atoi(hi)
		if err != nil || nhi < nlo || nhi > 1000 {
			return "", false, fmt.Errorf("bad repetition {%s} at offset %d", spec, t.pos)
		}
	}
	t.pos += end + 1
	if comma {
		return "{" + lo + "," + hi + "}", true, nil
	}
	return "{" + lo + "}", true, nil
}

func (t *luceneTranslator) atom(depth int) (string, error) {
	r, n := t.peek()
	start := t.pos
	t.pos += n
	switch r {
	case '.':
		return ".", nil
	case '@':
		return ".*", nil
	case '#':
		return `[^\x00-\x{10FFFF}]`, nil
	case '(':
		inner, err := t.alternation(depth + 1)
		if err != nil {
			return "", err
		}
		if c, _ := t.peek(); c != ')' {
			return "", fmt.Errorf("unclosed group opened at offset %d", start)
		}
		t.pos++
		return "(?:" + inner + ")", nil
	case '[':
		return t.class(start)
	case '"':
		end := strings.IndexByte(t.src[t.pos:], '"')
		if end < 0 {
			return "", fmt.Errorf("unterminated quoted string at offset %d", start)
		}
		lit := t.src[t.pos : t.pos+end]
		t.pos += end + 1
		return "(?:" + regexp.QuoteMeta(lit) + ")", nil
	case '\\':
		s, ok := t.escape(quoteMeta)
		if !ok {
			return "", fmt.Errorf("trailing backslash")
		}
		return s, nil
	}
	return quoteMeta(r), nil
}

// escape translates the character after a backslash, which the caller has
// consumed: the classes \d \s \w and their negations stay as they are, any
// other character stands for itself, quoted by quote (outside and inside a
// character class need different quoting). ok is false at the end of the
// pattern.
func (t *luceneTranslator) escape(quote func(rune) string) (s string, ok bool) {
	e, m := t.peek()
	if e < 0 {
		return "", false
	}
	t.pos += m
	switch e {
	case 'd', 'D', 's', 'S', 'w', 'W':
		return `\` + string(e), true
	}
	return quote(e), true
}

func quoteMeta(r rune) string { return regexp.QuoteMeta(string(r)) }

// class translates [...]; the opening bracket is consumed.
func (t *luceneTranslator) class(start int) (string, error) {
	var b strings.Builder
	b.WriteByte('[')
	if r, _ := t.peek(); r == '^' {
		b.WriteByte('^')
		t.pos++
	}
	empty := true
	for {
		r, n := t.peek()
		switch {
		case r < 0:
			return "", fmt.Errorf("unclosed character class opened at offset %d", start)
		case r == ']' && !empty:
			t.pos++
			b.WriteByte(']')
			return b.String(), nil
		case r == '\\':
			t.pos += n
			s, ok := t.escape(classLiteral)
			if !ok {
				return "", fmt.Errorf("trailing backslash in character class")
			}
			b.WriteString(s)
		case r == '-' && !empty:
			// A range if something follows other than ]; else a literal -.
			t.pos += n
			if nx, _ := t.peek(); nx == ']' || nx < 0 {
				b.WriteString(`\-`)
			} else {
				b.WriteByte('-')
			}
		default:
			t.pos += n
			b.WriteString(classLiteral(r))
		}
		empty = false
	}
}

func classLiteral(r rune) string {
	switch r {
	case '\\', ']', '[', '^', '-':
		return `\` + string(r)
	}
	return string(r)
}
