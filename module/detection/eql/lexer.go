package eql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tEOF         tokKind = iota
	tWord                // identifier or keyword, possibly with a trailing ~ (in~, like~, startsWith~)
	tQIdent              // `backquoted identifier`, Text is the unquoted name
	tString              // Text is the decoded value
	tInt                 // Text is the literal
	tFloat               // Text is the literal
	tEq                  // ==
	tNeq                 // !=
	tLt                  // <
	tLe                  // <=
	tGt                  // >
	tGe                  // >=
	tColon               // :
	tAssign              // =
	tPlus                // +
	tMinus               // -
	tStar                // *
	tSlash               // /
	tPercent             // %
	tDot                 // .
	tComma               // ,
	tLParen              // (
	tRParen              // )
	tLBrack              // [
	tRBrack              // ]
	tPipe                // |
	tQuestion            // ? (optional field marker)
	tMissingOpen         // ![ (a sequence's missing-event step)
)

// String names the token kind for error messages.
func (k tokKind) String() string {
	switch k {
	case tEOF:
		return "end of query"
	case tWord:
		return "identifier"
	case tQIdent:
		return "quoted identifier"
	case tString:
		return "string"
	case tInt:
		return "integer"
	case tFloat:
		return "number"
	}
	return strconv.Quote([...]string{tEq: "==", tNeq: "!=", tLt: "<", tLe: "<=", tGt: ">", tGe: ">=",
		tColon: ":", tAssign: "=", tPlus: "+", tMinus: "-", tStar: "*", tSlash: "/", tPercent: "%", tDot: ".",
		tComma: ",", tLParen: "(", tRParen: ")", tLBrack: "[", tRBrack: "]", tPipe: "|", tQuestion: "?",
		tMissingOpen: "!["}[k])
}

// token is one lexical token with its 1-based position.
type token struct {
	kind      tokKind
	text      string
	line, col int
}

// describe renders the token for "found ..." in error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tWord:
		return strconv.Quote(t.text)
	case tQIdent:
		return "`" + t.text + "`"
	case tString:
		return "string " + strconv.Quote(t.text)
	case tInt, tFloat:
		return "number " + t.text
	}
	return t.kind.String()
}

// lexer splits a query into tokens. It is used by one parser at a time.
type lexer struct {
	src       string
	pos       int
	line, col int // of src[pos]
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) errAt(line, col int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// advance moves over n bytes, keeping line and column.
func (l *lexer) advance(n int) {
	for i := 0; i < n && l.pos < len(l.src); i++ {
		if l.src[l.pos] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.pos++
	}
}

func (l *lexer) peekByte(off int) byte {
	if l.pos+off < len(l.src) {
		return l.src[l.pos+off]
	}
	return 0
}

// skipSpace skips whitespace and comments. Block comments nest, as in
// Elasticsearch's BRACKETED_COMMENT rule.
func (l *lexer) skipSpace() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '/' && l.peekByte(1) == '/':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.advance(1)
			}
		case c == '/' && l.peekByte(1) == '*':
			line, col := l.line, l.col
			l.advance(2)
			depth := 1
			for depth > 0 {
				if l.pos >= len(l.src) {
					return l.errAt(line, col, `unterminated comment: expected "*/" before end of query`)
				}
				switch {
				case l.src[l.pos] == '*' && l.peekByte(1) == '/':
					depth--
					l.advance(2)
				case l.src[l.pos] == '/' && l.peekByte(1) == '*':
					depth++
					l.advance(2)
				default:
					l.advance(1)
				}
			}
		default:
			return nil
		}
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	t := token{line: l.line, col: l.col}
	if l.pos >= len(l.src) {
		t.kind = tEOF
		return t, nil
	}
	c := l.src[l.pos]
	switch {
	case isLetter(c) || c == '_' || c == '@':
		start := l.pos
		l.advance(1)
		for l.pos < len(l.src) && (isLetter(l.src[l.pos]) || isDigit(l.src[l.pos]) || l.src[l.pos] == '_') {
			l.advance(1)
		}
		if l.peekByte(0) == '~' {
			l.advance(1)
		}
		t.kind, t.text = tWord, l.src[start:l.pos]
		return t, nil
	case isDigit(c) || c == '.' && isDigit(l.peekByte(1)):
		return l.number(t)
	case c == '"':
		if strings.HasPrefix(l.src[l.pos:], `"""`) {
			return l.tripleString(t)
		}
		return l.quotedString(t)
	case c == '?' && l.peekByte(1) == '"':
		return l.rawString(t)
	case c == '\'':
		return t, l.errAt(t.line, t.col, `unexpected "'": use double quotes ["] to define string literals, not single quotes [']`)
	case c == '`':
		return l.quotedIdent(t)
	}
	two := ""
	if l.pos+1 < len(l.src) {
		two = l.src[l.pos : l.pos+2]
	}
	switch two {
	case "==":
		t.kind = tEq
	case "!=":
		t.kind = tNeq
	case "<=":
		t.kind = tLe
	case ">=":
		t.kind = tGe
	case "![":
		t.kind = tMissingOpen
	}
	if t.kind != tEOF {
		l.advance(2)
		return t, nil
	}
	switch c {
	case '<':
		t.kind = tLt
	case '>':
		t.kind = tGt
	case ':':
		t.kind = tColon
	case '=':
		t.kind = tAssign
	case '+':
		t.kind = tPlus
	case '-':
		t.kind = tMinus
	case '*':
		t.kind = tStar
	case '/':
		t.kind = tSlash
	case '%':
		t.kind = tPercent
	case '.':
		t.kind = tDot
	case ',':
		t.kind = tComma
	case '(':
		t.kind = tLParen
	case ')':
		t.kind = tRParen
	case '[':
		t.kind = tLBrack
	case ']':
		t.kind = tRBrack
	case '|':
		t.kind = tPipe
	case '?':
		t.kind = tQuestion
	default:
		r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
		return t, l.errAt(t.line, t.col, "unexpected character %q: expected a field, a value or an operator", r)
	}
	l.advance(1)
	return t, nil
}

// number lexes INTEGER_VALUE or DECIMAL_VALUE (digits, optional fraction,
// optional exponent).
func (l *lexer) number(t token) (token, error) {
	start := l.pos
	t.kind = tInt
	for isDigit(l.peekByte(0)) {
		l.advance(1)
	}
	if l.peekByte(0) == '.' && !isLetter(l.peekByte(1)) {
		t.kind = tFloat
		l.advance(1)
		for isDigit(l.peekByte(0)) {
			l.advance(1)
		}
	}
	if c := l.peekByte(0); c == 'e' || c == 'E' {
		off := 1
		if s := l.peekByte(1); s == '+' || s == '-' {
			off = 2
		}
		if isDigit(l.peekByte(off)) {
			t.kind = tFloat
			l.advance(off)
			for isDigit(l.peekByte(0)) {
				l.advance(1)
			}
		}
	}
	if c := l.peekByte(0); isLetter(c) || c == '_' {
		return t, l.errAt(l.line, l.col, "unexpected %q after number %s: expected an operator", c, l.src[start:l.pos])
	}
	t.text = l.src[start:l.pos]
	return t, nil
}

// timeValue lexes a maxspan value, the digits and unit letters right after
// "=" ("30s", "5 m", "1.5h"), which the general number rule would refuse.
// It returns the number's text, the unit (possibly "") and their position.
func (l *lexer) timeValue() (num, unit string, line, col int, err error) {
	if err := l.skipSpace(); err != nil {
		return "", "", 0, 0, err
	}
	line, col = l.line, l.col
	start := l.pos
	for isDigit(l.peekByte(0)) || l.peekByte(0) == '.' {
		l.advance(1)
	}
	num = l.src[start:l.pos]
	if num == "" {
		return "", "", line, col, nil
	}
	if err := l.skipSpace(); err != nil {
		return "", "", 0, 0, err
	}
	start = l.pos
	for isLetter(l.peekByte(0)) {
		l.advance(1)
	}
	return num, l.src[start:l.pos], line, col, nil
}

// quotedString lexes "..." with Elasticsearch's escapes.
func (l *lexer) quotedString(t token) (token, error) {
	l.advance(1)
	var b strings.Builder
	escaped := false // b holds the value so far
	plain := l.pos
	for {
		if l.pos >= len(l.src) {
			return t, l.errAt(t.line, t.col, `unterminated string: expected closing "`)
		}
		switch c := l.src[l.pos]; c {
		case '"':
			if escaped {
				b.WriteString(l.src[plain:l.pos])
				t.text = b.String()
			} else {
				t.text = l.src[plain:l.pos]
			}
			l.advance(1)
			t.kind = tString
			return t, nil
		case '\r', '\n':
			return t, l.errAt(l.line, l.col, `line break in string: expected closing " (use \n, or a """raw string""")`)
		case '\\':
			escaped = true
			b.WriteString(l.src[plain:l.pos])
			line, col := l.line, l.col
			e := l.peekByte(1)
			l.advance(2)
			switch e {
			case '"', '\'', '\\':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, err := l.unicodeEscape(line, col)
				if err != nil {
					return t, err
				}
				b.WriteRune(r)
			default:
				return t, l.errAt(line, col, `invalid escape sequence "\%c": expected one of \" \' \\ \b \f \n \r \t \u{hex}`, e)
			}
			plain = l.pos
		default:
			l.advance(1)
		}
	}
}

// unicodeEscape reads {hex} after \u.
func (l *lexer) unicodeEscape(line, col int) (rune, error) {
	if l.peekByte(0) != '{' {
		return 0, l.errAt(line, col, `invalid unicode escape: expected "\u{" followed by 2 to 8 hex digits and "}"`)
	}
	l.advance(1)
	start := l.pos
	for l.pos < len(l.src) && l.src[l.pos] != '}' && l.pos-start <= 8 {
		l.advance(1)
	}
	hex := l.src[start:l.pos]
	if l.peekByte(0) != '}' || len(hex) < 2 || len(hex) > 8 {
		return 0, l.errAt(line, col, `invalid unicode escape: expected "\u{" followed by 2 to 8 hex digits and "}"`)
	}
	l.advance(1)
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || v > utf8.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
		return 0, l.errAt(line, col, "invalid unicode escape \\u{%s}: expected a Unicode code point", hex)
	}
	return rune(v), nil
}

// tripleString lexes """...""": no escapes, no line breaks, as in
// Elasticsearch; up to two extra quotes before the closing ones belong to
// the value.
func (l *lexer) tripleString(t token) (token, error) {
	l.advance(3)
	start := l.pos
	for {
		if l.pos >= len(l.src) {
			return t, l.errAt(t.line, t.col, `unterminated raw string: expected closing """`)
		}
		c := l.src[l.pos]
		if c == '\r' || c == '\n' {
			return t, l.errAt(l.line, l.col, `line break in raw string: expected closing """`)
		}
		if strings.HasPrefix(l.src[l.pos:], `"""`) {
			end := l.pos
			// """a""""" → a"" : extra quotes before the final three are content.
			for i := 0; i < 2 && strings.HasPrefix(l.src[end+1:], `"""`); i++ {
				end++
			}
			t.kind, t.text = tString, l.src[start:end]
			l.advance(end - l.pos + 3)
			return t, nil
		}
		l.advance(1)
	}
}

// rawString lexes ?"...": a backslash is literal, \" is a quote kept with
// its backslash, as in Elasticsearch's grammar.
func (l *lexer) rawString(t token) (token, error) {
	l.advance(2)
	start := l.pos
	for {
		if l.pos >= len(l.src) {
			return t, l.errAt(t.line, t.col, `unterminated raw string: expected closing "`)
		}
		c := l.src[l.pos]
		switch c {
		case '\r', '\n':
			return t, l.errAt(l.line, l.col, `line break in raw string: expected closing "`)
		case '\\':
			if l.peekByte(1) == '"' {
				l.advance(2)
				continue
			}
		case '"':
			t.kind, t.text = tString, l.src[start:l.pos]
			l.advance(1)
			return t, nil
		}
		l.advance(1)
	}
}

// quotedIdent lexes `name`, where “ is a literal backquote.
func (l *lexer) quotedIdent(t token) (token, error) {
	l.advance(1)
	var b strings.Builder
	for {
		if l.pos >= len(l.src) {
			return t, l.errAt(t.line, t.col, "unterminated quoted identifier: expected closing `")
		}
		c := l.src[l.pos]
		if c == '`' {
			if l.peekByte(1) == '`' {
				b.WriteByte('`')
				l.advance(2)
				continue
			}
			l.advance(1)
			if b.Len() == 0 {
				return t, l.errAt(t.line, t.col, "empty quoted identifier: expected a field name between backquotes")
			}
			t.kind, t.text = tQIdent, b.String()
			return t, nil
		}
		b.WriteByte(c)
		l.advance(1)
	}
}
