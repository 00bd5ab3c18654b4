package tests

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// A small KQL evaluator, enough for the detection rules and saved queries
// spawnbeat ships: field: value terms joined by and, or, not and
// parentheses, as Kibana's "KQL" page describes them. A value matches a
// keyword field's value exactly (case-sensitive), or by * wildcards when
// unquoted; on an array any element may match; numbers and booleans match
// their text. A missing field matches nothing, and not of that everything.
// Ranges, nested queries and field wildcards are not supported: the parser
// says so rather than guess.

type kqlNode interface {
	match(doc map[string]any) bool
}

type kqlAnd []kqlNode
type kqlOr []kqlNode
type kqlNot struct{ n kqlNode }
type kqlTerm struct {
	field, value string
	quoted       bool
}

func (a kqlAnd) match(d map[string]any) bool {
	for _, n := range a {
		if !n.match(d) {
			return false
		}
	}
	return true
}

func (o kqlOr) match(d map[string]any) bool {
	for _, n := range o {
		if n.match(d) {
			return true
		}
	}
	return false
}

func (n kqlNot) match(d map[string]any) bool { return !n.n.match(d) }

func (t kqlTerm) match(d map[string]any) bool {
	v := get(d, t.field)
	values, ok := v.([]any)
	if !ok {
		values = []any{v}
	}
	for _, x := range values {
		var s string
		switch x := x.(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			s = strconv.FormatBool(x)
		default:
			continue // missing, null or an object
		}
		if t.quoted || !strings.Contains(t.value, "*") {
			if s == t.value {
				return true
			}
			continue
		}
		pattern := "^" + strings.ReplaceAll(regexp.QuoteMeta(t.value), `\*`, ".*") + "$"
		if regexp.MustCompile(pattern).MatchString(s) {
			return true
		}
	}
	return false
}

// kqlParser is a recursive-descent parser over the query text:
// or := and ("or" and)*; and := not ("and" not)*; not := "not" not | atom;
// atom := "(" or ")" | field ":" value.
type kqlParser struct {
	s   string
	pos int
}

func parseKQL(q string) (kqlNode, error) {
	p := &kqlParser{s: q}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.skip(); p.pos != len(p.s) {
		return nil, fmt.Errorf("kql: unexpected %q at %d", p.s[p.pos:], p.pos)
	}
	return n, nil
}

func (p *kqlParser) skip() {
	for p.pos < len(p.s) && unicode.IsSpace(rune(p.s[p.pos])) {
		p.pos++
	}
}

// keyword consumes a case-insensitive word followed by a space or "(".
func (p *kqlParser) keyword(w string) bool {
	p.skip()
	end := p.pos + len(w)
	if end >= len(p.s) || !strings.EqualFold(p.s[p.pos:end], w) {
		return false
	}
	if c := p.s[end]; !unicode.IsSpace(rune(c)) && c != '(' {
		return false
	}
	p.pos = end
	return true
}

func (p *kqlParser) or() (kqlNode, error) {
	var out kqlOr
	for {
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if !p.keyword("or") {
			break
		}
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

func (p *kqlParser) and() (kqlNode, error) {
	var out kqlAnd
	for {
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if !p.keyword("and") {
			break
		}
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

func (p *kqlParser) not() (kqlNode, error) {
	if p.keyword("not") {
		n, err := p.not()
		return kqlNot{n}, err
	}
	return p.atom()
}

func (p *kqlParser) atom() (kqlNode, error) {
	p.skip()
	if p.pos < len(p.s) && p.s[p.pos] == '(' {
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.skip(); p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return nil, fmt.Errorf("kql: missing ) at %d", p.pos)
		}
		p.pos++
		return n, nil
	}
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] != ':' && !unicode.IsSpace(rune(p.s[p.pos])) {
		p.pos++
	}
	field := p.s[start:p.pos]
	if p.skip(); field == "" || p.pos >= len(p.s) || p.s[p.pos] != ':' {
		return nil, fmt.Errorf("kql: want field: value at %d", start)
	}
	if strings.Contains(field, "*") {
		return nil, fmt.Errorf("kql: field wildcards are not supported (%s)", field)
	}
	p.pos++
	p.skip()
	if p.pos < len(p.s) && strings.ContainsRune("<>{(", rune(p.s[p.pos])) {
		return nil, fmt.Errorf("kql: ranges, nested and grouped values are not supported (at %d)", p.pos)
	}
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		end := strings.IndexByte(p.s[p.pos+1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("kql: unterminated quote at %d", p.pos)
		}
		v := p.s[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return kqlTerm{field: field, value: v, quoted: true}, nil
	}
	start = p.pos
	for p.pos < len(p.s) && !unicode.IsSpace(rune(p.s[p.pos])) && p.s[p.pos] != ')' {
		p.pos++
	}
	if start == p.pos {
		return nil, fmt.Errorf("kql: %s: without a value", field)
	}
	return kqlTerm{field: field, value: p.s[start:p.pos]}, nil
}

func TestKQL(t *testing.T) {
	doc := map[string]any{
		"event":   map[string]any{"kind": "alert", "module": "spawnbeat", "severity": 73.0},
		"process": map[string]any{"args": []any{"/bin/sh", "-c", "x"}, "interactive": true},
		"rule":    map[string]any{"name": "Interactive Terminal Spawned via Python"},
	}
	tests := []struct {
		q    string
		want bool
	}{
		{"event.kind: alert and event.module: spawnbeat", true},
		{"event.kind: alert AND event.module: spawnbeat", true},
		{"event.kind: event and event.module: spawnbeat", false},
		{"event.kind: Alert", false},
		{`rule.name: "Interactive Terminal Spawned via Python"`, true},
		{`rule.name: Interactive*`, true},
		{`rule.name: "Interactive*"`, false},
		{"event.severity: 73", true},
		{"process.interactive: true", true},
		{"process.args: -c", true},
		{"process.args: -i", false},
		{"process.args: /bin/*", true},
		{"process.args: /usr/*", false},
		{"event.kind: event or event.module: spawnbeat", true},
		{"not event.kind: event", true},
		{"not host.name: x", true},
		{"host.name: x", false},
		{"(event.kind: event or event.kind: alert) and not event.module: endpoint", true},
	}
	for _, tt := range tests {
		n, err := parseKQL(tt.q)
		if err != nil {
			t.Errorf("parse %q: %v", tt.q, err)
			continue
		}
		if got := n.match(doc); got != tt.want {
			t.Errorf("%q on the document = %v, want %v", tt.q, got, tt.want)
		}
	}
	for _, q := range []string{"event.kind", "event.kind: alert and", "(event.kind: alert", "event.risk_score >= 47", "event.*: alert", `a: "x`} {
		if _, err := parseKQL(q); err == nil {
			t.Errorf("parse %q: no error", q)
		}
	}
}
