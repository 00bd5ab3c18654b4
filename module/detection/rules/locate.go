package rules

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// layout records where things are in a rule file, so that problems found
// after decoding (a missing key, an EQL error inside the query) can name a
// line and column. BurntSushi/toml reports positions only for its own
// errors, so this is a small TOML scanner: it knows tables, keys, comments
// and the four string forms — enough to skip values correctly and to map
// every byte of the [rule] query string back to its offset in the file.
type layout struct {
	text   string
	tables map[string]int // table name -> offset of its header
	keys   map[string]int // dotted key -> offset of the key

	query      string // decoded [rule] query, as this scanner sees it
	queryOff   []int  // file offset of each byte of query, plus one past the end
	queryFound bool
}

// scanLayout scans text. It never fails: on input it does not understand it
// stops, and the caller falls back to coarser positions.
func scanLayout(text string) *layout {
	l := &layout{text: text, tables: map[string]int{}, keys: map[string]int{}}
	s := scanner{src: text}
	table := ""
	for !s.eof() {
		s.skipSpaceAndNewlines()
		if s.eof() {
			break
		}
		switch s.peek() {
		case '#':
			s.skipLine()
		case '[':
			start := s.pos
			name, ok := s.tableHeader()
			if !ok {
				return l
			}
			table = name
			if _, seen := l.tables[name]; !seen {
				l.tables[name] = start
			}
		default:
			start := s.pos
			key, ok := s.key()
			if !ok {
				return l
			}
			full := key
			if table != "" {
				full = table + "." + key
			}
			if _, seen := l.keys[full]; !seen {
				l.keys[full] = start
			}
			s.skipBlank()
			if full == "rule.query" && !l.queryFound {
				if val, offs, ok := s.stringValue(); ok {
					l.query, l.queryOff, l.queryFound = val, offs, true
					continue
				}
			}
			if !s.skipValue() {
				return l
			}
		}
	}
	return l
}

// position converts a byte offset in the file into a 1-based line and
// column (columns count bytes, as BurntSushi/toml's do).
func (l *layout) position(off int) (line, col int) {
	if off < 0 {
		off = 0
	}
	if off > len(l.text) {
		off = len(l.text)
	}
	line = 1 + strings.Count(l.text[:off], "\n")
	col = off - (strings.LastIndexByte(l.text[:off], '\n') + 1) + 1
	return line, col
}

// queryPosition translates a 1-based line/column inside the query string
// (as the EQL parser reports it) into the file's line/column. ok is false
// when the scanner's view of the query differs from the decoded one.
func (l *layout) queryPosition(decoded string, qline, qcol int) (line, col int, ok bool) {
	if !l.queryFound || l.query != decoded {
		return 0, 0, false
	}
	off := 0
	for i := 1; i < qline; i++ {
		nl := strings.IndexByte(l.query[off:], '\n')
		if nl < 0 {
			off = len(l.query)
			break
		}
		off += nl + 1
	}
	// Columns count bytes, in the EQL parser as in BurntSushi/toml.
	for i := 1; i < qcol && off < len(l.query) && l.query[off] != '\n'; i++ {
		off++
	}
	line, col = l.position(l.queryOff[off])
	return line, col, true
}

// keyPosition returns the place of a dotted key, or of the table that
// should hold it, or 1:1.
func (l *layout) keyPosition(key string) (line, col int) {
	if off, ok := l.keys[key]; ok {
		return l.position(off)
	}
	if i := strings.LastIndexByte(key, '.'); i > 0 {
		if off, ok := l.tables[key[:i]]; ok {
			return l.position(off)
		}
	}
	return 1, 1
}

type scanner struct {
	src string
	pos int
}

func (s *scanner) eof() bool  { return s.pos >= len(s.src) }
func (s *scanner) peek() byte { return s.src[s.pos] }

func (s *scanner) hasPrefix(p string) bool { return strings.HasPrefix(s.src[s.pos:], p) }

func (s *scanner) skipBlank() {
	for !s.eof() && (s.peek() == ' ' || s.peek() == '\t') {
		s.pos++
	}
}

func (s *scanner) skipSpaceAndNewlines() {
	for !s.eof() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) skipLine() {
	if i := strings.IndexByte(s.src[s.pos:], '\n'); i >= 0 {
		s.pos += i + 1
		return
	}
	s.pos = len(s.src)
}

// tableHeader reads [a.b] or [[a.b]] and returns "a.b".
func (s *scanner) tableHeader() (string, bool) {
	s.pos++ // [
	if !s.eof() && s.peek() == '[' {
		s.pos++
	}
	s.skipBlank()
	name, ok := s.dottedKey(']')
	if !ok {
		return "", false
	}
	for !s.eof() && (s.peek() == ']' || s.peek() == ' ' || s.peek() == '\t') {
		s.pos++
	}
	s.skipComment()
	return name, true
}

// key reads a dotted key up to and including the '='.
func (s *scanner) key() (string, bool) {
	k, ok := s.dottedKey('=')
	if !ok || s.eof() || s.peek() != '=' {
		return "", false
	}
	s.pos++
	return k, true
}

// dottedKey reads bare and quoted key parts separated by dots, stopping
// before end.
func (s *scanner) dottedKey(end byte) (string, bool) {
	var parts []string
	for {
		s.skipBlank()
		if s.eof() {
			return "", false
		}
		switch c := s.peek(); {
		case c == '"' || c == '\'':
			v, _, ok := s.singleLineString(c)
			if !ok {
				return "", false
			}
			parts = append(parts, v)
		case isBare(c):
			start := s.pos
			for !s.eof() && isBare(s.peek()) {
				s.pos++
			}
			parts = append(parts, s.src[start:s.pos])
		default:
			return "", false
		}
		s.skipBlank()
		if s.eof() {
			return "", false
		}
		switch s.peek() {
		case '.':
			s.pos++
		case end:
			return strings.Join(parts, "."), true
		default:
			return "", false
		}
	}
}

func isBare(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (s *scanner) skipComment() {
	s.skipBlank()
	if !s.eof() && s.peek() == '#' {
		s.skipLine()
	}
}

// skipValue skips one value: strings, arrays and inline tables (which may
// span lines and hold strings and comments), or a scalar up to the end of
// the line.
func (s *scanner) skipValue() bool {
	depth := 0
	for !s.eof() {
		switch c := s.peek(); c {
		case '"', '\'':
			if _, _, ok := s.stringValue(); !ok {
				return false
			}
		case '[', '{':
			depth++
			s.pos++
		case ']', '}':
			depth--
			s.pos++
		case '#':
			if depth == 0 {
				s.skipLine()
				return true
			}
			s.skipLine()
		case '\n':
			s.pos++
			if depth <= 0 {
				return true
			}
		default:
			s.pos++
		}
	}
	return true
}

// stringValue decodes the string at the current position (any of the four
// TOML forms) and returns it with the file offset of each of its bytes.
func (s *scanner) stringValue() (string, []int, bool) {
	switch {
	case s.hasPrefix(`'''`):
		return s.multiLine('\'')
	case s.hasPrefix(`"""`):
		return s.multiLine('"')
	case s.hasPrefix(`'`):
		return s.singleLineString('\'')
	case s.hasPrefix(`"`):
		return s.singleLineString('"')
	}
	return "", nil, false
}

func (s *scanner) singleLineString(q byte) (string, []int, bool) {
	s.pos++ // opening quote
	var b strings.Builder
	var offs []int
	for !s.eof() {
		c := s.peek()
		switch {
		case c == q:
			offs = append(offs, s.pos)
			s.pos++
			return b.String(), offs, true
		case c == '\n':
			return "", nil, false
		case c == '\\' && q == '"':
			if !s.escape(&b, &offs) {
				return "", nil, false
			}
		default:
			b.WriteByte(c)
			offs = append(offs, s.pos)
			s.pos++
		}
	}
	return "", nil, false
}

func (s *scanner) multiLine(q byte) (string, []int, bool) {
	delim := strings.Repeat(string(q), 3)
	s.pos += 3
	// A newline right after the opening delimiter is trimmed (TOML spec).
	if s.hasPrefix("\r\n") {
		s.pos += 2
	} else if s.hasPrefix("\n") {
		s.pos++
	}
	var b strings.Builder
	var offs []int
	for !s.eof() {
		if s.hasPrefix(delim) {
			// Up to two more quotes right before the closing delimiter
			// belong to the content.
			n := 3
			for n < 5 && s.pos+n < len(s.src) && s.src[s.pos+n] == q {
				n++
			}
			for i := 0; i < n-3; i++ {
				b.WriteByte(q)
				offs = append(offs, s.pos+i)
			}
			offs = append(offs, s.pos+n-3)
			s.pos += n
			return b.String(), offs, true
		}
		c := s.peek()
		if c == '\\' && q == '"' {
			if s.lineEndingBackslash() {
				continue
			}
			if !s.escape(&b, &offs) {
				return "", nil, false
			}
			continue
		}
		b.WriteByte(c)
		offs = append(offs, s.pos)
		s.pos++
	}
	return "", nil, false
}

// lineEndingBackslash consumes a backslash that ends a line in a
// multi-line basic string, with the whitespace and newlines after it.
func (s *scanner) lineEndingBackslash() bool {
	i := s.pos + 1
	for i < len(s.src) && (s.src[i] == ' ' || s.src[i] == '\t' || s.src[i] == '\r') {
		i++
	}
	if i >= len(s.src) || s.src[i] != '\n' {
		return false
	}
	for i < len(s.src) && (s.src[i] == ' ' || s.src[i] == '\t' || s.src[i] == '\r' || s.src[i] == '\n') {
		i++
	}
	s.pos = i
	return true
}

// escape decodes one backslash escape of a basic string; every decoded
// byte gets the offset of the backslash.
func (s *scanner) escape(b *strings.Builder, offs *[]int) bool {
	start := s.pos
	if s.pos+1 >= len(s.src) {
		return false
	}
	c := s.src[s.pos+1]
	s.pos += 2
	var r rune
	switch c {
	case 'b':
		r = '\b'
	case 't':
		r = '\t'
	case 'n':
		r = '\n'
	case 'f':
		r = '\f'
	case 'r':
		r = '\r'
	case 'e':
		r = 0x1b
	case '"':
		r = '"'
	case '\\':
		r = '\\'
	case 'x', 'u', 'U':
		n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
		if s.pos+n > len(s.src) {
			return false
		}
		v, err := strconv.ParseUint(s.src[s.pos:s.pos+n], 16, 32)
		if err != nil {
			return false
		}
		s.pos += n
		r = rune(v)
	default:
		return false
	}
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	b.Write(buf[:n])
	for i := 0; i < n; i++ {
		*offs = append(*offs, start)
	}
	return true
}
