package esserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// errSyntax is the cause of every JSON syntax error found by jsonScanner.
var errSyntax = errors.New("json syntax error")

// tokKind is the kind of a JSON scalar.
type tokKind uint8

const (
	tokString tokKind = iota + 1
	tokNumber
	tokTrue
	tokFalse
	tokNull
)

// javaToken is the name Elasticsearch (Jackson) gives a token kind in its
// error messages.
func (k tokKind) javaToken() string {
	switch k {
	case tokString:
		return "VALUE_STRING"
	case tokNumber:
		return "VALUE_NUMBER"
	case tokTrue:
		return "VALUE_TRUE"
	case tokFalse:
		return "VALUE_FALSE"
	default:
		return "VALUE_NULL"
	}
}

// jsonScanner walks one JSON document without allocating, calling a visitor
// for object boundaries, keys and scalars. It is not safe for concurrent use;
// a document validator owns one per call.
type jsonScanner struct {
	b []byte
	i int
}

// scanVisitor receives the document's structure.
type scanVisitor interface {
	// enterObject is called at "{" for the value at the current path.
	enterObject(at int) error
	// key is called with the raw bytes of a key (without quotes) and
	// whether it contains escapes; it is followed by exactly one value.
	key(raw []byte, escaped bool) error
	// leaveKey is called after the key's value.
	leaveKey()
	// scalar is called for each string, number, true, false or null; for a
	// string raw excludes the quotes.
	scalar(kind tokKind, raw []byte, escaped bool, at int) error
	// enterArray / leaveArray bracket an array at the current path.
	enterArray()
	leaveArray()
}

func (s *jsonScanner) syntax(format string, args ...any) error {
	return fmt.Errorf("[1:%d] "+format+": %w", append([]any{s.i + 1}, append(args, errSyntax)...)...)
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// document scans one value followed only by whitespace.
func (s *jsonScanner) document(v scanVisitor) error {
	s.ws()
	if err := s.value(v, 0); err != nil {
		return err
	}
	s.ws()
	if s.i != len(s.b) {
		return s.syntax("unexpected character after the document")
	}
	return nil
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 512

func (s *jsonScanner) value(v scanVisitor, depth int) error {
	if depth > maxDepth {
		return s.syntax("nesting deeper than %d", maxDepth)
	}
	if s.i >= len(s.b) {
		return s.syntax("unexpected end of input")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		if err := v.enterObject(s.i); err != nil {
			return err
		}
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		for {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return s.syntax("expected a field name")
			}
			raw, esc, err := s.str()
			if err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return s.syntax("expected ':'")
			}
			s.i++
			s.ws()
			if err := v.key(raw, esc); err != nil {
				return err
			}
			if err := s.value(v, depth+1); err != nil {
				return err
			}
			v.leaveKey()
			s.ws()
			if s.i >= len(s.b) {
				return s.syntax("unexpected end of input in object")
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == '}' {
				s.i++
				return nil
			}
			return s.syntax("expected ',' or '}'")
		}
	case c == '[':
		v.enterArray()
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			v.leaveArray()
			return nil
		}
		for {
			s.ws()
			if err := s.value(v, depth+1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.syntax("unexpected end of input in array")
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == ']' {
				s.i++
				v.leaveArray()
				return nil
			}
			return s.syntax("expected ',' or ']'")
		}
	case c == '"':
		at := s.i
		raw, esc, err := s.str()
		if err != nil {
			return err
		}
		return v.scalar(tokString, raw, esc, at)
	case c == '-' || (c >= '0' && c <= '9'):
		at := s.i
		raw, err := s.num()
		if err != nil {
			return err
		}
		return v.scalar(tokNumber, raw, false, at)
	case c == 't':
		return s.lit("true", tokTrue, v)
	case c == 'f':
		return s.lit("false", tokFalse, v)
	case c == 'n':
		return s.lit("null", tokNull, v)
	default:
		return s.syntax("unexpected character %q", rune(c))
	}
}

func (s *jsonScanner) lit(word string, k tokKind, v scanVisitor) error {
	at := s.i
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.syntax("invalid literal")
	}
	s.i += len(word)
	return v.scalar(k, s.b[at:s.i], false, at)
}

// str scans a string starting at the opening quote.
func (s *jsonScanner) str() (raw []byte, escaped bool, err error) {
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return nil, false, s.syntax("unterminated escape")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, false, s.syntax("short unicode escape")
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return nil, false, s.syntax("invalid unicode escape")
					}
				}
				s.i += 6
			default:
				return nil, false, s.syntax("invalid escape")
			}
		case c < 0x20:
			return nil, false, s.syntax("control character in string")
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, s.syntax("invalid UTF-8")
			}
			s.i += size
		}
	}
	return nil, false, s.syntax("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// num scans a number per RFC 8259.
func (s *jsonScanner) num() ([]byte, error) {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && isDigit(s.b[s.i]):
		for s.i < len(s.b) && isDigit(s.b[s.i]) {
			s.i++
		}
	default:
		return nil, s.syntax("invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.i >= len(s.b) || !isDigit(s.b[s.i]) {
			return nil, s.syntax("invalid number")
		}
		for s.i < len(s.b) && isDigit(s.b[s.i]) {
			s.i++
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.i >= len(s.b) || !isDigit(s.b[s.i]) {
			return nil, s.syntax("invalid number")
		}
		for s.i < len(s.b) && isDigit(s.b[s.i]) {
			s.i++
		}
	}
	return s.b[start:s.i], nil
}

// unquote returns the string content of a scanned string, decoding escapes
// only when there are some.
func unquote(raw []byte, escaped bool) string {
	if !escaped {
		return string(raw)
	}
	var out string
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	if err := json.Unmarshal(q, &out); err != nil {
		return string(raw)
	}
	return out
}
