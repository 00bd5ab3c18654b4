package engine

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spawnbeat/spawnbeat/module/detection/eql"
)

// Getter reads one field from a document as a Value. It must not modify the
// document and must be safe for concurrent use.
type Getter[T any] func(doc T) Value

// Field reads one field from documents of type T. Get is always set. A
// resolver may also set String (for a single-valued string field, "" meaning
// absent), Strings (for a multi-valued string field, empty meaning absent) or
// Number (for a single-valued numeric field):
// the compiler then reads the strings directly, without building a Value,
// on the hot path. All three must agree and be safe for concurrent use.
type Field[T any] struct {
	Get     Getter[T]
	String  func(doc T) string
	Strings func(doc T) []string
	// Number, when set, reads a single-valued numeric field; ok is false
	// when the field is absent.
	Number func(doc T) (n float64, ok bool)
}

// Resolver maps field names and event categories to accessors on documents
// of type T. It is consulted once per field at compile time, never per
// event. Implementations must be safe for concurrent use.
type Resolver[T any] interface {
	// Field returns the reader of a dotted field name. filled is false when
	// documents of this type never carry the field; its Get then always
	// returns a Missing Value.
	Field(name string) (f Field[T], filled bool)
	// Category returns the test for "<category> where". "any" matches
	// every document.
	Category(name string) func(doc T) bool
}

// Program is a compiled query. It is immutable and safe for concurrent use;
// Match does not allocate on the ECS path for the operators Elastic's rules
// use (string functions such as concat and string may allocate).
type Program[T any] struct {
	query      *eql.Query
	category   func(T) bool
	root       func(T) bool
	fields     []string
	unresolved []UnresolvedField
}

// UnresolvedField is a field a query references that the resolver never
// fills: every condition on it sees a missing field. A plain value.
type UnresolvedField struct {
	Name string
	// Optional is true when every reference writes it ?name. Elasticsearch
	// reads an optional field that no searched index maps as null; a field
	// that is neither mapped nor optional fails the whole query ("Unknown
	// column"). See the package documentation.
	Optional bool
	// Pos is the first reference in the query text: the first not written
	// ?name, unless Optional.
	Pos eql.Pos
}

// Compile turns a parsed query into a Program over documents of type T.
// Errors are *CompileError.
func Compile[T any](q *eql.Query, r Resolver[T]) (*Program[T], error) {
	if q == nil || q.Where == nil {
		return nil, &CompileError{Msg: "empty query"}
	}
	c := &compiler[T]{r: r, fields: fieldUses{}}
	root, err := c.boolean(q.Where)
	if err != nil {
		return nil, err
	}
	p := &Program[T]{query: q, category: r.Category(q.Category), root: root}
	p.fields, p.unresolved = c.fields.lists()
	return p, nil
}

// Match reports whether doc matches the query.
func (p *Program[T]) Match(doc T) bool {
	if p.category != nil && !p.category(doc) {
		return false
	}
	return p.root(doc)
}

// Fields lists the fields the query references, sorted. The caller must not
// modify the slice.
func (p *Program[T]) Fields() []string { return p.fields }

// Unresolved lists the referenced fields that the resolver never fills,
// sorted by name; conditions on them behave as on an absent field. The
// caller must not modify the slice.
func (p *Program[T]) Unresolved() []UnresolvedField { return p.unresolved }

// Query returns the query the Program was compiled from.
func (p *Program[T]) Query() *eql.Query { return p.query }

// compiler holds the state of one Compile call.
type compiler[T any] struct {
	r      Resolver[T]
	fields fieldUses
}

// fieldUse is what a query does with one field name.
type fieldUse struct {
	filled   bool // the resolver fills it
	required bool // some reference is not written ?name
	pos      eql.Pos
}

// fieldUses records the fields a query references, by name.
type fieldUses map[string]*fieldUse

// add records one reference: the position kept is the first reference's,
// until a reference not written ?name comes, whose position wins.
func (u fieldUses) add(ref *eql.FieldRef, filled bool) {
	f, ok := u[ref.Name]
	if !ok {
		u[ref.Name] = &fieldUse{filled: filled, required: !ref.Optional, pos: ref.Pos}
		return
	}
	if !ref.Optional && !f.required {
		f.required, f.pos = true, ref.Pos
	}
}

// merge adds the fields of a sequence's step, compiled with the same
// resolver.
func (u fieldUses) merge(p interface {
	Fields() []string
	Unresolved() []UnresolvedField
}) {
	for _, x := range p.Unresolved() {
		u.add(&eql.FieldRef{Name: x.Name, Optional: x.Optional, Pos: x.Pos}, false)
	}
	for _, name := range p.Fields() {
		if _, ok := u[name]; !ok {
			u[name] = &fieldUse{filled: true}
		}
	}
}

// lists returns every referenced name and the unresolved fields, sorted.
func (u fieldUses) lists() (names []string, unresolved []UnresolvedField) {
	for name, f := range u {
		names = append(names, name)
		if !f.filled {
			unresolved = append(unresolved, UnresolvedField{Name: name, Optional: !f.required, Pos: f.pos})
		}
	}
	sort.Strings(names)
	sort.Slice(unresolved, func(i, j int) bool { return unresolved[i].Name < unresolved[j].Name })
	return names, unresolved
}

func errAt(e eql.Expr, name, msg string, err error) *CompileError {
	return &CompileError{Pos: e.Position(), Name: name, Msg: msg, Err: err}
}

// boolean compiles an expression used as a condition.
func (c *compiler[T]) boolean(e eql.Expr) (func(T) bool, error) {
	switch e := e.(type) {
	case *eql.BinaryExpr:
		var exprs []eql.Expr
		flattenLogic(e.Op, e, &exprs)
		if e.Op == eql.And {
			c.orderOperands(exprs)
		}
		parts := make([]func(T) bool, len(exprs))
		for i, x := range exprs {
			p, err := c.boolean(x)
			if err != nil {
				return nil, err
			}
			parts[i] = p
		}
		if e.Op == eql.And {
			return allOf(parts), nil
		}
		return anyOf(parts), nil
	case *eql.NotExpr:
		x, err := c.boolean(e.X)
		if err != nil {
			return nil, err
		}
		return func(doc T) bool { return !x(doc) }, nil
	case *eql.CompareExpr:
		return c.compare(e)
	case *eql.PredicateExpr:
		return c.predicate(e)
	case *eql.Literal:
		switch e.Kind {
		case eql.BoolLit:
			b := e.Bool
			return func(T) bool { return b }, nil
		case eql.NullLit:
			return func(T) bool { return false }, nil
		}
		return nil, errAt(e, "", "a "+litKindName(e.Kind)+" is not a condition", nil)
	case *eql.ArithExpr, *eql.NegExpr:
		return nil, errAt(e, "", "an arithmetic expression is not a condition", nil)
	}
	// A field or a function call used as a condition: true when it holds
	// the boolean true (any element, for arrays).
	v, err := c.value(e)
	if err != nil {
		return nil, err
	}
	return func(doc T) bool {
		val := v(doc)
		for i := 0; i < val.Len(); i++ {
			if x := val.At(i); x.Kind == Bool && x.Bool {
				return true
			}
		}
		return false
	}, nil
}

// flattenLogic lists the operands of a chain of the same operator.
// The parser builds chains left-deep, so the left spine is walked in a
// loop: a rule with thousands of or-ed terms costs no stack depth.
func flattenLogic(op eql.LogicOp, e eql.Expr, out *[]eql.Expr) {
	var rights []eql.Expr
	for {
		b, ok := e.(*eql.BinaryExpr)
		if !ok || b.Op != op {
			break
		}
		rights = append(rights, b.Y)
		e = b.X
	}
	*out = append(*out, e)
	for i := len(rights) - 1; i >= 0; i-- {
		if b, ok := rights[i].(*eql.BinaryExpr); ok && b.Op == op {
			flattenLogic(op, b, out) // parenthesised on the right: rare and shallow
			continue
		}
		*out = append(*out, rights[i])
	}
}

// orderOperands sorts the operands of an and so that evaluation stops
// early: cheap operands likely to fail first (rank = cost / P(false)).
// Every operand is a pure predicate, so the order changes speed only, never
// the result. The probabilities are a fixed heuristic: a test on a field
// that is the same for every process event of a stream (host.os.type,
// event.type, event.action, ...) almost always passes, any other test
// rarely. The branches of an or keep the rule author's order, which tends to
// put the likelier branch first.
func (c *compiler[T]) orderOperands(xs []eql.Expr) {
	rank := func(x eql.Expr) float64 {
		c, p := c.estimate(x)
		return c / max(1-p, 1e-3)
	}
	sort.SliceStable(xs, func(i, j int) bool { return rank(xs[i]) < rank(xs[j]) })
}

// readCost is the relative cost of reading a field: a direct string read,
// a string slice (several elements to test), or a Value built by a Getter.
func (c *compiler[T]) readCost(name string) float64 {
	f, _ := c.r.Field(name)
	switch {
	case f.String != nil, f.Number != nil:
		return 1
	case f.Strings != nil:
		return 3
	}
	return 4
}

// estimate returns a rough evaluation cost and probability of being true.
func (c *compiler[T]) estimate(e eql.Expr) (cost, p float64) {
	switch e := e.(type) {
	case *eql.BinaryExpr:
		cx, px := c.estimate(e.X)
		cy, py := c.estimate(e.Y)
		if e.Op == eql.And {
			return cx + cy, px * py
		}
		return cx + cy, 1 - (1-px)*(1-py)
	case *eql.NotExpr:
		cost, p := c.estimate(e.X)
		return cost, 1 - p
	case *eql.CompareExpr:
		f, ok := e.X.(*eql.FieldRef)
		if _, lit := e.Y.(*eql.Literal); !ok || !lit {
			return 10, 0.5
		}
		p := 0.1
		if steadyField(f.Name) {
			p = 0.99
		}
		if e.Op == eql.Neq {
			p = 1 - p
		}
		return c.readCost(f.Name), p
	case *eql.PredicateExpr:
		f, ok := e.X.(*eql.FieldRef)
		if !ok {
			return 10, 0.5
		}
		per := 1.0
		for _, v := range e.Values {
			if l, ok := v.(*eql.Literal); ok && l.Kind == eql.StringLit && strings.ContainsAny(l.Str, "*?") {
				per += 0.5
			}
			if e.Op == eql.Regex {
				per += 20
			}
		}
		cost := c.readCost(f.Name) * per
		p := 0.1
		if steadyField(f.Name) {
			p = 0.99
		}
		if e.Negated {
			p = 1 - p
		}
		return cost, p
	}
	return 10, 0.5
}

// steadyField reports fields whose value is the same for (almost) every
// process event: tests on them rarely decide an and.
func steadyField(name string) bool {
	switch name {
	case "host.os.type", "event.type", "event.action", "event.category", "event.kind",
		"event.module", "event.dataset", "data_stream.type", "data_stream.dataset":
		return true
	}
	return false
}

func allOf[T any](ps []func(T) bool) func(T) bool {
	if len(ps) == 2 {
		a, b := ps[0], ps[1]
		return func(doc T) bool { return a(doc) && b(doc) }
	}
	return func(doc T) bool {
		for _, p := range ps {
			if !p(doc) {
				return false
			}
		}
		return true
	}
}

func anyOf[T any](ps []func(T) bool) func(T) bool {
	if len(ps) == 2 {
		a, b := ps[0], ps[1]
		return func(doc T) bool { return a(doc) || b(doc) }
	}
	return func(doc T) bool {
		for _, p := range ps {
			if p(doc) {
				return true
			}
		}
		return false
	}
}

func litKindName(k eql.LiteralKind) string {
	switch k {
	case eql.StringLit:
		return "string"
	case eql.IntLit, eql.FloatLit:
		return "number"
	case eql.BoolLit:
		return "boolean"
	}
	return "null"
}

// value compiles an expression that yields a Value.
func (c *compiler[T]) value(e eql.Expr) (Getter[T], error) {
	switch e := e.(type) {
	case *eql.FieldRef:
		return c.field(e).Get, nil
	case *eql.Literal:
		v := literalValue(e)
		return func(T) Value { return v }, nil
	case *eql.CallExpr:
		return c.call(e)
	case *eql.ArithExpr:
		x, err := c.value(e.X)
		if err != nil {
			return nil, err
		}
		y, err := c.value(e.Y)
		if err != nil {
			return nil, err
		}
		op := e.Op
		return func(doc T) Value { return arith(op, x(doc).first(), y(doc).first()) }, nil
	case *eql.NegExpr:
		x, err := c.value(e.X)
		if err != nil {
			return nil, err
		}
		return func(doc T) Value {
			v := x(doc).first()
			if v.Kind != Number {
				return Value{}
			}
			return NumberValue(-v.Num)
		}, nil
	}
	// A condition used as a value (e.g. an argument): a boolean.
	p, err := c.boolean(e)
	if err != nil {
		return nil, err
	}
	return func(doc T) Value { return BoolValue(p(doc)) }, nil
}

// field resolves a field reference and records it.
func (c *compiler[T]) field(e *eql.FieldRef) Field[T] {
	f, filled := c.r.Field(e.Name)
	c.fields.add(e, filled)
	if f.Get == nil {
		f = Field[T]{Get: func(T) Value { return Value{} }}
	}
	return f
}

func literalValue(l *eql.Literal) Value {
	switch l.Kind {
	case eql.StringLit:
		return Value{Kind: String, Str: l.Str}
	case eql.IntLit, eql.FloatLit:
		return NumberValue(l.Num)
	case eql.BoolLit:
		return BoolValue(l.Bool)
	}
	return Value{}
}

// operand is a comparison constant prepared at load time.
type operand struct {
	kind  Kind // String, Number or Bool
	str   string
	num   float64
	numOK bool // str parses as a number, or kind == Number
	b     bool
}

func newOperand(v Value) operand {
	o := operand{kind: v.Kind, str: v.Str, num: v.Num, b: v.Bool}
	switch v.Kind {
	case String:
		if f, err := strconv.ParseFloat(strings.TrimSpace(v.Str), 64); err == nil {
			o.num, o.numOK = f, true
		}
	case Number:
		o.str, o.numOK = formatNumber(v.Num), true
	}
	return o
}

// cmpScalar compares one scalar element with an operand. Number fields
// compare numerically (a string operand is parsed as a number, as
// Elasticsearch does for a numeric field); string (keyword) fields compare
// as strings, a number operand in its canonical text form (Elasticsearch
// turns it into a keyword term or range); booleans compare only with
// booleans and only for equality.
func cmpScalar(op eql.CompareOp, e Value, o *operand) bool {
	var c int
	switch e.Kind {
	case String:
		if o.kind == Bool {
			return false
		}
		c = strings.Compare(e.Str, o.str)
	case Number:
		if !o.numOK {
			return false
		}
		switch {
		case e.Num < o.num:
			c = -1
		case e.Num > o.num:
			c = 1
		case e.Num != o.num: // NaN
			return false
		}
	case Bool:
		if o.kind != Bool || (op != eql.Eq && op != eql.Neq) {
			return false
		}
		if e.Bool == o.b {
			c = 0
		} else {
			c = 1
		}
	default:
		return false
	}
	switch op {
	case eql.Eq:
		return c == 0
	case eql.Lt:
		return c < 0
	case eql.Le:
		return c <= 0
	case eql.Gt:
		return c > 0
	case eql.Ge:
		return c >= 0
	}
	return false
}

// anyCmp reports whether any element of v compares true with o.
func anyCmp(op eql.CompareOp, v Value, o *operand) bool {
	switch v.Kind {
	case Missing:
		return false
	case Strings:
		for _, s := range v.Strs {
			if cmpScalar(op, Value{Kind: String, Str: s}, o) {
				return true
			}
		}
		return false
	case List:
		for i := range v.List {
			if cmpScalar(op, v.List[i], o) {
				return true
			}
		}
		return false
	}
	return cmpScalar(op, v, o)
}

// flip mirrors an operator for swapped operands: 3 < x is x > 3.
func flip(op eql.CompareOp) eql.CompareOp {
	switch op {
	case eql.Lt:
		return eql.Gt
	case eql.Le:
		return eql.Ge
	case eql.Gt:
		return eql.Lt
	case eql.Ge:
		return eql.Le
	}
	return op
}

// compare compiles X <op> Y. != is the negation of == (Elasticsearch's
// must_not): it matches a missing field and fails when any element equals.
func (c *compiler[T]) compare(e *eql.CompareExpr) (func(T) bool, error) {
	x, y, op := e.X, e.Y, e.Op
	if _, ok := x.(*eql.Literal); ok {
		if _, ok := y.(*eql.Literal); !ok {
			x, y, op = y, x, flip(op)
		}
	}
	neg := false
	if op == eql.Neq {
		op, neg = eql.Eq, true
	}
	get, err := c.value(x)
	if err != nil {
		return nil, err
	}
	var p func(T) bool
	var f Field[T]
	if ref, ok := x.(*eql.FieldRef); ok {
		f = c.field(ref)
	}
	if lit, ok := y.(*eql.Literal); ok {
		if lit.Kind == eql.NullLit {
			if op != eql.Eq {
				return func(T) bool { return false }, nil
			}
			// field == null: absent; field != null: present.
			p = func(doc T) bool { return get(doc).Kind == Missing }
		} else {
			f.Get = get
			p = literalCompare(op, f, newOperand(literalValue(lit)))
		}
	} else {
		other, err := c.value(y)
		if err != nil {
			return nil, err
		}
		p = func(doc T) bool {
			a, b := get(doc), other(doc)
			for j := 0; j < b.Len(); j++ {
				o := newOperand(b.At(j))
				if anyCmp(op, a, &o) {
					return true
				}
			}
			return false
		}
	}
	if neg {
		return func(doc T) bool { return !p(doc) }, nil
	}
	return p, nil
}

// matcher tests a value against a constant list: the set of in, the
// patterns of ":" and like, the regexps of regex. Built once at load time.
type matcher struct {
	insensitive bool // strings are lower-cased before exact and pattern tests
	exact       map[string]struct{}
	exactList   []string // instead of exact for short lists
	pats        []pattern
	res         []*regexp.Regexp
	nums        []float64
	bools       [2]bool // bools[1]: true matches; bools[0]: false matches
	null        bool    // a missing field matches (null in the list)
}

const setThreshold = 8

func (m *matcher) addExact(s string) {
	if m.insensitive {
		s = strings.ToLower(s)
	}
	m.exactList = append(m.exactList, s)
}

func (m *matcher) addNumber(f float64) { m.nums = append(m.nums, f) }

// finish turns a long exact list into a set.
func (m *matcher) finish() {
	if len(m.exactList) > setThreshold {
		m.exact = make(map[string]struct{}, len(m.exactList))
		for _, s := range m.exactList {
			m.exact[s] = struct{}{}
		}
		m.exactList = nil
	}
}

// match reports whether any element of v matches.
func (m *matcher) match(v Value) bool {
	switch v.Kind {
	case Missing:
		return m.null
	case String:
		return m.matchString(v.Str)
	case Strings:
		for _, s := range v.Strs {
			if m.matchString(s) {
				return true
			}
		}
		return false
	}
	for i := 0; i < v.Len(); i++ {
		e := v.At(i)
		switch e.Kind {
		case String:
			if m.matchString(e.Str) {
				return true
			}
		case Number:
			for _, f := range m.nums {
				if e.Num == f {
					return true
				}
			}
		case Bool:
			if m.bools[boolIndex(e.Bool)] {
				return true
			}
		}
	}
	return false
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *matcher) matchString(s string) bool {
	for _, re := range m.res {
		if re.MatchString(s) {
			return true
		}
	}
	if m.insensitive {
		return m.matchFolded(s)
	}
	return m.matchPlain(s)
}

// matchFolded tests s case-insensitively. The patterns are lower-case
// already. ASCII values, the common case, are compared with an ASCII fold
// in place; only a set lookup, a contains or a general glob needs the value
// lower-cased into a buffer, and non-ASCII values go through strings.ToLower.
func (m *matcher) matchFolded(s string) bool {
	if !isASCII(s) {
		return m.matchFoldedSlow(s)
	}
	for _, x := range m.exactList {
		if len(x) == len(s) && asciiEqualLower(s, x) {
			return true
		}
	}
	slow := m.exact != nil
	for i := range m.pats {
		p := &m.pats[i]
		switch p.kind {
		case patExact:
			if len(p.lit) == len(s) && asciiEqualLower(s, p.lit) {
				return true
			}
		case patPrefix:
			if len(s) >= len(p.lit) && asciiEqualLower(s[:len(p.lit)], p.lit) {
				return true
			}
		case patSuffix:
			if len(s) >= len(p.lit) && asciiEqualLower(s[len(s)-len(p.lit):], p.lit) {
				return true
			}
		case patContains:
			if asciiContainsLower(s, p.lit) {
				return true
			}
		case patAny:
			return true
		default:
			slow = true
		}
	}
	if slow {
		return m.matchFoldedSlow(s)
	}
	return false
}

func (m *matcher) matchFoldedSlow(s string) bool {
	var buf [foldBufSize]byte
	return m.matchPlain(fold(&buf, s))
}

// isASCII reports whether s is all ASCII, eight bytes at a time.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiEqualLower reports whether the ASCII string s, lower-cased, equals
// lower (already lower-case); len(s) == len(lower).
func asciiEqualLower(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// asciiContainsLower is a case-insensitive strings.Contains for an ASCII s
// and a lower-case needle.
func asciiContainsLower(s, lower string) bool {
	if lower == "" {
		return true
	}
	c0 := lower[0]
	u0 := c0
	if c0 >= 'a' && c0 <= 'z' {
		u0 = c0 - ('a' - 'A')
	}
	for i := 0; i+len(lower) <= len(s); i++ {
		if c := s[i]; (c == c0 || c == u0) && asciiEqualLower(s[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

func (m *matcher) matchPlain(s string) bool {
	if m.exact != nil {
		if _, ok := m.exact[s]; ok {
			return true
		}
	}
	for _, x := range m.exactList {
		if x == s {
			return true
		}
	}
	for i := range m.pats {
		if m.pats[i].match(s) {
			return true
		}
	}
	return false
}

// literalCompare is X <op> constant, with fast paths for string fields
// read directly (the most common leaf of all is a string field == a string).
func literalCompare[T any](op eql.CompareOp, f Field[T], o operand) func(T) bool {
	switch {
	case f.String != nil && op == eql.Eq && o.kind == String:
		str, lit := f.String, o.str
		return func(doc T) bool {
			s := str(doc)
			return s == lit && s != ""
		}
	case f.String != nil:
		str := f.String
		return func(doc T) bool {
			s := str(doc)
			return s != "" && cmpScalar(op, Value{Kind: String, Str: s}, &o)
		}
	case f.Strings != nil && op == eql.Eq && o.kind == String:
		strs, lit := f.Strings, o.str
		return func(doc T) bool {
			for _, s := range strs(doc) {
				if s == lit {
					return true
				}
			}
			return false
		}
	case f.Strings != nil:
		strs := f.Strings
		return func(doc T) bool {
			for _, s := range strs(doc) {
				if cmpScalar(op, Value{Kind: String, Str: s}, &o) {
					return true
				}
			}
			return false
		}
	}
	if f.Number != nil {
		num := f.Number
		if !o.numOK {
			return func(T) bool { return false } // a number never equals a non-numeric string
		}
		lit := o.num
		return func(doc T) bool {
			n, ok := num(doc)
			if !ok {
				return false
			}
			switch op {
			case eql.Eq:
				return n == lit
			case eql.Lt:
				return n < lit
			case eql.Le:
				return n <= lit
			case eql.Gt:
				return n > lit
			case eql.Ge:
				return n >= lit
			}
			return false
		}
	}
	get := f.Get
	return func(doc T) bool { return anyCmp(op, get(doc), &o) }
}

// matcherPredicate returns the test of a value against m, reading string
// fields directly when the resolver allows it.
func matcherPredicate[T any](m *matcher, f Field[T]) func(T) bool {
	switch {
	case f.String != nil:
		str := f.String
		return func(doc T) bool {
			s := str(doc)
			if s == "" {
				return m.null
			}
			return m.matchString(s)
		}
	case f.Strings != nil:
		strs := f.Strings
		return func(doc T) bool {
			ss := strs(doc)
			if len(ss) == 0 {
				return m.null
			}
			for _, s := range ss {
				if m.matchString(s) {
					return true
				}
			}
			return false
		}
	}
	get := f.Get
	return func(doc T) bool { return m.match(get(doc)) }
}

// predicate compiles in, in~, not in, ":", like, like~, regex, regex~.
// Every form is a positive leaf query in Elasticsearch; "not in" and any
// enclosing not negate it as a whole.
func (c *compiler[T]) predicate(e *eql.PredicateExpr) (func(T) bool, error) {
	get, err := c.value(e.X)
	if err != nil {
		return nil, err
	}
	allConst := true
	for _, v := range e.Values {
		if _, ok := v.(*eql.Literal); !ok {
			allConst = false
		}
	}
	var p func(T) bool
	if allConst {
		m, err := c.buildMatcher(e)
		if err != nil {
			return nil, err
		}
		f := Field[T]{Get: get}
		if ref, ok := e.X.(*eql.FieldRef); ok {
			f = c.field(ref)
		}
		p = matcherPredicate(m, f)
	} else {
		// in (...) with expressions: equality with any of them.
		vals := make([]Getter[T], len(e.Values))
		for i, v := range e.Values {
			if vals[i], err = c.value(v); err != nil {
				return nil, err
			}
		}
		insensitive := e.Insensitive
		p = func(doc T) bool {
			a := get(doc)
			for _, vf := range vals {
				b := vf(doc)
				for j := 0; j < b.Len(); j++ {
					bj := b.At(j)
					if insensitive && bj.Kind == String {
						for i := 0; i < a.Len(); i++ {
							if ai := a.At(i); ai.Kind == String && strings.EqualFold(ai.Str, bj.Str) {
								return true
							}
						}
						continue
					}
					o := newOperand(bj)
					if anyCmp(eql.Eq, a, &o) {
						return true
					}
				}
			}
			return false
		}
	}
	if e.Negated {
		return func(doc T) bool { return !p(doc) }, nil
	}
	return p, nil
}

func (c *compiler[T]) buildMatcher(e *eql.PredicateExpr) (*matcher, error) {
	m := &matcher{insensitive: e.Insensitive}
	for _, v := range e.Values {
		lit := v.(*eql.Literal)
		switch lit.Kind {
		case eql.NullLit:
			m.null = true
		case eql.BoolLit:
			if e.Op == eql.Regex {
				return nil, errAt(lit, "regex", "the pattern must be a string", nil)
			}
			m.bools[boolIndex(lit.Bool)] = true
		case eql.IntLit, eql.FloatLit:
			if e.Op == eql.Regex {
				return nil, errAt(lit, "regex", "the pattern must be a string", nil)
			}
			m.addNumber(lit.Num)
			m.addExact(formatNumber(lit.Num))
		case eql.StringLit:
			switch e.Op {
			case eql.In:
				m.addExact(lit.Str)
				if f, err := strconv.ParseFloat(strings.TrimSpace(lit.Str), 64); err == nil {
					m.addNumber(f)
				}
			case eql.Colon, eql.Like:
				s := lit.Str
				if m.insensitive {
					s = strings.ToLower(s)
				}
				pat := compilePattern(s)
				if pat.kind == patExact {
					m.exactList = append(m.exactList, pat.lit)
					if f, err := strconv.ParseFloat(strings.TrimSpace(pat.lit), 64); err == nil {
						m.addNumber(f)
					}
				} else {
					m.pats = append(m.pats, pat)
				}
			case eql.Regex:
				re, err := translateLucene(lit.Str, e.Insensitive)
				if err != nil {
					return nil, errAt(lit, fieldName(e.X), "invalid regex "+strconv.Quote(lit.Str), err)
				}
				m.res = append(m.res, re)
			}
		}
	}
	m.finish()
	return m, nil
}

func fieldName(e eql.Expr) string {
	if f, ok := e.(*eql.FieldRef); ok {
		return f.Name
	}
	return ""
}
