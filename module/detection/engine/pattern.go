package engine

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// patKind is how a wildcard pattern is matched, chosen once at load time.
type patKind uint8

const (
	patExact    patKind = iota // no wildcard
	patPrefix                  // lit*
	patSuffix                  // *lit
	patContains                // *lit*
	patAny                     // * (matches every string)
	patGlob                    // anything else
)

// globElem is one element of a general wildcard pattern.
type globElem struct {
	star bool // *
	one  bool // ?
	r    rune // literal rune otherwise
}

// pattern is one compiled wildcard pattern (the operand of ":" and like).
type pattern struct {
	kind patKind
	lit  string     // exact/prefix/suffix/contains
	glob []globElem // patGlob
}

// compilePattern parses an Elasticsearch EQL wildcard pattern: * matches
// any run of characters and ? exactly one. There is no escape character: a
// backslash is an ordinary character, as Elasticsearch's
// StringUtils.toLikePattern maps * and ? to the LIKE wildcards and escapes
// nothing else, and as Elastic's rules rely on ("?:\\Users\\*",
// "*\\x*\\x*" for hex escapes on a command line).
func compilePattern(p string) pattern {
	var elems []globElem
	for _, r := range p {
		switch r {
		case '*':
			if len(elems) == 0 || !elems[len(elems)-1].star { // ** == *
				elems = append(elems, globElem{star: true})
			}
		case '?':
			elems = append(elems, globElem{one: true})
		default:
			elems = append(elems, globElem{r: r})
		}
	}
	// Classify: a literal run with stars only at the ends takes a fast path.
	lead := len(elems) > 0 && elems[0].star
	trail := len(elems) > 1 && elems[len(elems)-1].star
	mid := elems
	if lead {
		mid = mid[1:]
	}
	if trail {
		mid = mid[:len(mid)-1]
	}
	var b strings.Builder
	for _, e := range mid {
		if e.star || e.one {
			return pattern{kind: patGlob, glob: elems}
		}
		b.WriteRune(e.r)
	}
	lit := b.String()
	switch {
	case lead && len(mid) == 0:
		return pattern{kind: patAny}
	case lead && trail:
		return pattern{kind: patContains, lit: lit}
	case lead:
		return pattern{kind: patSuffix, lit: lit}
	case trail:
		return pattern{kind: patPrefix, lit: lit}
	}
	return pattern{kind: patExact, lit: lit}
}

func (p *pattern) match(s string) bool {
	switch p.kind {
	case patExact:
		return s == p.lit
	case patPrefix:
		return strings.HasPrefix(s, p.lit)
	case patSuffix:
		return strings.HasSuffix(s, p.lit)
	case patContains:
		return strings.Contains(s, p.lit)
	case patAny:
		return true
	}
	return globMatch(p.glob, s)
}

// globMatch matches s against a general pattern with one-star backtracking,
// linear in practice and never exponential.
func globMatch(p []globElem, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			e := p[pi]
			switch {
			case e.star:
				starP, starS = pi, si
				pi++
				continue
			case e.one:
				_, n := utf8.DecodeRuneInString(s[si:])
				si += n
				pi++
				continue
			default:
				r, n := utf8.DecodeRuneInString(s[si:])
				if r == e.r {
					si += n
					pi++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi].star {
		pi++
	}
	return pi == len(p)
}

// foldBufSize is the stack buffer for lower-casing a value; longer values
// take the allocating path.
const foldBufSize = 512

// fold lower-cases s for case-insensitive matching. ASCII strings that fit
// are lowered into buf without allocating; the result aliases buf and is
// valid only until buf is reused. Other strings go through strings.ToLower.
func fold(buf *[foldBufSize]byte, s string) string {
	if len(s) > foldBufSize {
		return strings.ToLower(s)
	}
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
		if c >= 'A' && c <= 'Z' {
			upper = true
		}
	}
	if !upper {
		return s
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	// The string never outlives this evaluation: matchers only compare it.
	return unsafe.String(&buf[0], len(s))
}
