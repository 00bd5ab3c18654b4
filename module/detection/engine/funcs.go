package engine

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spawnbeat/spawnbeat/module/detection/eql"
)

// Functions follow Elasticsearch's EQL function reference
// (https://www.elastic.co/guide/en/elasticsearch/reference/current/eql-function-ref.html).
// Every function returns null (a Missing Value) when a required argument is
// null; an array argument contributes its first element (Elasticsearch
// evaluates functions in a script over doc values). The names ending in ~
// (between~, endsWith~, indexOf~, startsWith~, stringContains~) ignore case.

// funcSpec describes one function: its arity and whether it has a ~ form.
type funcSpec struct {
	min, max    int // max < 0: variadic
	insensitive bool
}

func lookupFunc(name string) (funcSpec, bool) {
	switch name {
	case "add", "subtract", "multiply", "divide", "modulo":
		return funcSpec{2, 2, false}, true
	case "between":
		return funcSpec{3, 4, true}, true
	case "cidrMatch":
		return funcSpec{2, -1, false}, true
	case "concat":
		return funcSpec{1, -1, false}, true
	case "endsWith", "startsWith", "stringContains":
		return funcSpec{2, 2, true}, true
	case "indexOf":
		return funcSpec{2, 3, true}, true
	case "length", "string":
		return funcSpec{1, 1, false}, true
	case "number":
		return funcSpec{1, 2, false}, true
	case "substring":
		return funcSpec{2, 3, false}, true
	}
	return funcSpec{}, false
}

func (c *compiler[T]) call(e *eql.CallExpr) (Getter[T], error) {
	spec, ok := lookupFunc(e.Name)
	if !ok {
		return nil, errAt(e, e.Name, "unknown function", nil)
	}
	if e.Insensitive && !spec.insensitive {
		return nil, errAt(e, e.Name+"~", "function has no case-insensitive form", nil)
	}
	if len(e.Args) < spec.min || (spec.max >= 0 && len(e.Args) > spec.max) {
		want := strconv.Itoa(spec.min)
		switch {
		case spec.max < 0:
			want = "at least " + want
		case spec.max != spec.min:
			want += " to " + strconv.Itoa(spec.max)
		}
		return nil, errAt(e, e.Name, "takes "+want+" arguments, got "+strconv.Itoa(len(e.Args)), nil)
	}
	if e.Name == "cidrMatch" {
		return c.cidrMatch(e)
	}
	args := make([]Getter[T], len(e.Args))
	for i, a := range e.Args {
		g, err := c.value(a)
		if err != nil {
			return nil, err
		}
		args[i] = g
	}
	fold := e.Insensitive
	switch e.Name {
	case "add", "subtract", "multiply", "divide", "modulo":
		op := map[string]eql.ArithOp{"add": eql.Add, "subtract": eql.Sub, "multiply": eql.Mul, "divide": eql.Div, "modulo": eql.Mod}[e.Name]
		a, b := args[0], args[1]
		return func(doc T) Value { return arith(op, a(doc).first(), b(doc).first()) }, nil
	case "startsWith", "endsWith", "stringContains":
		test := strings.HasPrefix
		switch {
		case e.Name == "endsWith" && fold:
			test = hasSuffixFold
		case e.Name == "endsWith":
			test = strings.HasSuffix
		case e.Name == "stringContains" && fold:
			test = containsFold
		case e.Name == "stringContains":
			test = strings.Contains
		case fold:
			test = hasPrefixFold
		}
		a, b := args[0], args[1]
		// stringContains with an empty string on either side is false, as in
		// Elasticsearch's StringUtils.stringContains.
		emptyFalse := e.Name == "stringContains"
		return func(doc T) Value {
			s, ok1 := str(a(doc))
			sub, ok2 := str(b(doc))
			if !ok1 || !ok2 {
				return Value{}
			}
			if emptyFalse && (s == "" || sub == "") {
				return BoolValue(false)
			}
			return BoolValue(test(s, sub))
		}, nil
	case "length":
		a := args[0]
		return func(doc T) Value {
			s, ok := str(a(doc))
			if !ok {
				return Value{}
			}
			return NumberValue(float64(utf8.RuneCountInString(s)))
		}, nil
	case "string":
		a := args[0]
		return func(doc T) Value {
			v := a(doc).first()
			switch v.Kind {
			case String:
				return v
			case Number:
				return Value{Kind: String, Str: formatNumber(v.Num)}
			case Bool:
				return Value{Kind: String, Str: strconv.FormatBool(v.Bool)}
			}
			return Value{}
		}, nil
	case "number":
		return numberFunc(args), nil
	case "concat":
		return func(doc T) Value {
			var b strings.Builder
			for _, a := range args {
				v := a(doc).first()
				switch v.Kind {
				case Missing:
					return Value{} // null in, null out
				case String:
					b.WriteString(v.Str)
				case Number:
					b.WriteString(formatNumber(v.Num))
				case Bool:
					b.WriteString(strconv.FormatBool(v.Bool))
				}
			}
			return Value{Kind: String, Str: b.String()}
		}, nil
	case "substring":
		return substringFunc(args), nil
	case "indexOf":
		return indexOfFunc(args, fold), nil
	case "between":
		return betweenFunc(args, fold), nil
	}
	return nil, errAt(e, e.Name, "unknown function", nil)
}

// str returns the first element of v as a string.
func str(v Value) (string, bool) {
	v = v.first()
	if v.Kind != String {
		return "", false
	}
	return v.Str, true
}

func num(v Value) (float64, bool) {
	v = v.first()
	if v.Kind != Number {
		return 0, false
	}
	return v.Num, true
}

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

func hasSuffixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[len(s)-len(p):], p)
}

func containsFold(s, sub string) bool { return indexFold(s, sub, 0) >= 0 }

// indexFold is a case-insensitive strings.Index from byte offset start,
// without allocating.
func indexFold(s, sub string, start int) int {
	for i := start; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// arith applies + - * / % to two numbers; anything else, and division by
// zero, is null. Division of two whole numbers truncates, as Elasticsearch
// does for integers.
func arith(op eql.ArithOp, a, b Value) Value {
	if a.Kind != Number || b.Kind != Number {
		return Value{}
	}
	x, y := a.Num, b.Num
	switch op {
	case eql.Add:
		return NumberValue(x + y)
	case eql.Sub:
		return NumberValue(x - y)
	case eql.Mul:
		return NumberValue(x * y)
	case eql.Div:
		if y == 0 {
			return Value{}
		}
		if x == math.Trunc(x) && y == math.Trunc(y) {
			return NumberValue(math.Trunc(x / y))
		}
		return NumberValue(x / y)
	case eql.Mod:
		if y == 0 {
			return Value{}
		}
		return NumberValue(math.Mod(x, y))
	}
	return Value{}
}

func numberFunc[T any](args []Getter[T]) Getter[T] {
	return func(doc T) Value {
		v := args[0](doc).first()
		if v.Kind == Number {
			return v
		}
		if v.Kind != String {
			return Value{}
		}
		// As Elasticsearch's ToNumberFunctionProcessor: a "0x" prefix means
		// base 16 unless a base is given; base 10 allows decimals.
		s := v.Str
		hex := strings.HasPrefix(s, "0x")
		base := 10
		if hex {
			base = 16
		}
		if len(args) > 1 {
			if bv := args[1](doc); bv.Kind != Missing {
				b, ok := num(bv)
				if !ok {
					return Value{}
				}
				base = int(b)
			}
		}
		if hex && base == 16 {
			s = s[2:]
		}
		if base == 10 {
			if !isDecimal(s) {
				return Value{}
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return Value{}
			}
			return NumberValue(f)
		}
		if base < 2 || base > 36 {
			return Value{}
		}
		n, err := strconv.ParseInt(s, base, 64)
		if err != nil {
			return Value{}
		}
		return NumberValue(float64(n))
	}
}

// isDecimal accepts what Java's DecimalFormat parses in full: an optional
// minus, digits, an optional fraction and an optional E exponent (no
// spaces, no "inf", no hex).
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == 'E' || c == '-' && (i == 0 || s[i-1] == 'E')) {
			return false
		}
	}
	return true
}

// substringFunc is substring(source, start[, end]) with Python-style
// negative offsets, in characters.
func substringFunc[T any](args []Getter[T]) Getter[T] {
	return func(doc T) Value {
		s, ok := str(args[0](doc))
		if !ok {
			return Value{}
		}
		n := utf8.RuneCountInString(s)
		sv := args[1](doc)
		if sv.Kind == Missing {
			return Value{Kind: String, Str: s} // no start: the whole string
		}
		start, ok := num(sv)
		if !ok {
			return Value{}
		}
		end := float64(n)
		if len(args) > 2 {
			if v := args[2](doc); v.Kind != Missing {
				if end, ok = num(v); !ok {
					return Value{}
				}
			}
		}
		i, j := pyIndex(int(start), n), pyIndex(int(end), n)
		if i >= j {
			return Value{Kind: String, Str: ""}
		}
		return Value{Kind: String, Str: runeSlice(s, i, j)}
	}
}

func pyIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return min(max(i, 0), n)
}

// runeSlice returns s[i:j] counted in runes, without allocating.
func runeSlice(s string, i, j int) string {
	bi, bj, r := len(s), len(s), 0
	for off := range s {
		if r == i {
			bi = off
		}
		if r == j {
			bj = off
			break
		}
		r++
	}
	return s[bi:bj]
}

// indexOfFunc is indexOf(source, substring[, start]): the first index at or
// after start (in bytes, as the strings are ASCII in practice), or null.
func indexOfFunc[T any](args []Getter[T], fold bool) Getter[T] {
	return func(doc T) Value {
		s, ok1 := str(args[0](doc))
		sub, ok2 := str(args[1](doc))
		if !ok1 || !ok2 {
			return Value{}
		}
		start := 0
		if len(args) > 2 {
			if v := args[2](doc); v.Kind != Missing {
				f, ok := num(v)
				if !ok {
					return Value{}
				}
				start = max(int(f), 0)
			}
		}
		if start > len(s) {
			return Value{}
		}
		var i int
		if fold {
			i = indexFold(s, sub, start)
		} else if i = strings.Index(s[start:], sub); i >= 0 {
			i += start
		}
		if i < 0 {
			return Value{}
		}
		return NumberValue(float64(i))
	}
}

// betweenFunc is between(source, left, right[, greedy]): the text after the
// first left and before the first (or, greedy, last) right that follows.
func betweenFunc[T any](args []Getter[T], fold bool) Getter[T] {
	return func(doc T) Value {
		s, ok1 := str(args[0](doc))
		l, ok2 := str(args[1](doc))
		r, ok3 := str(args[2](doc))
		if !ok1 || !ok2 || !ok3 {
			return Value{}
		}
		if l == "" || r == "" {
			return Value{Kind: String, Str: s} // as Elasticsearch: nothing to cut
		}
		greedy := false
		if len(args) > 3 {
			g := args[3](doc).first()
			if g.Kind != Bool {
				return Value{}
			}
			greedy = g.Bool
		}
		find := strings.Index
		if fold {
			find = func(s, sub string) int { return indexFold(s, sub, 0) }
		}
		i := find(s, l)
		if i < 0 {
			return Value{Kind: String, Str: ""}
		}
		rest := s[i+len(l):]
		var j int
		if greedy {
			j = lastIndex(rest, r, fold)
		} else {
			j = find(rest, r)
		}
		if j < 0 {
			return Value{Kind: String, Str: ""}
		}
		return Value{Kind: String, Str: rest[:j]}
	}
}

func lastIndex(s, sub string, fold bool) int {
	if !fold {
		return strings.LastIndex(s, sub)
	}
	for i := len(s) - len(sub); i >= 0; i-- {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// cidrMatch(ip, cidr, ...) needs constant CIDR blocks, parsed at load time.
func (c *compiler[T]) cidrMatch(e *eql.CallExpr) (Getter[T], error) {
	ip, err := c.value(e.Args[0])
	if err != nil {
		return nil, err
	}
	var prefixes []netip.Prefix
	for _, a := range e.Args[1:] {
		lit, ok := a.(*eql.Literal)
		if !ok || lit.Kind != eql.StringLit {
			return nil, errAt(a, "cidrMatch", "CIDR blocks must be string constants", nil)
		}
		pfx, err := netip.ParsePrefix(lit.Str)
		if err != nil {
			addr, aerr := netip.ParseAddr(lit.Str)
			if aerr != nil {
				return nil, errAt(a, "cidrMatch", "invalid CIDR block "+strconv.Quote(lit.Str), err)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		prefixes = append(prefixes, pfx.Masked())
	}
	return func(doc T) Value {
		v := ip(doc)
		if v.Kind == Missing {
			return Value{}
		}
		for i := 0; i < v.Len(); i++ {
			s, ok := str(v.At(i))
			if !ok {
				continue
			}
			addr, err := netip.ParseAddr(s)
			if err != nil {
				continue
			}
			addr = addr.Unmap()
			for _, p := range prefixes {
				if p.Contains(addr) {
					return BoolValue(true)
				}
			}
		}
		return BoolValue(false)
	}, nil
}
