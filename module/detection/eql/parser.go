package eql

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxDepth bounds the nesting of parentheses, not, unary minus and function
// calls, so that hostile input cannot exhaust the stack.
const MaxDepth = 200

// Parse parses a single-event EQL query. Errors are a *SyntaxError (which
// wraps ErrSyntax), or an *UnsupportedError wrapping ErrUnsupported for
// samples, joins and pipes, positioned at their keyword, and for a
// sequence, which ParseStatement parses.
func Parse(src string) (*Query, error) {
	st, err := ParseStatement(src)
	if err != nil {
		return nil, err
	}
	q, ok := st.(*Query)
	if !ok {
		pos := st.Position()
		return nil, &UnsupportedError{Line: pos.Line, Col: pos.Col, What: "sequence"}
	}
	return q, nil
}

// ParseStatement parses a single-event query (*Query) or a sequence
// (*Sequence). Errors are as for Parse; a sequence with a missing-event
// step (![...]) parses, and the engine decides whether it can run it.
func ParseStatement(src string) (Statement, error) {
	p := &parser{lex: newLexer(src)}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var (
		st  Statement
		err error
	)
	if p.isWord("sequence") {
		st, err = p.sequence()
	} else {
		st, err = p.query()
	}
	if err != nil {
		return nil, err
	}
	if err := p.expectEnd(); err != nil {
		return nil, err
	}
	return st, nil
}

// parser is a recursive-descent parser with one token of lookahead.
type parser struct {
	lex   *lexer
	tok   token
	depth int
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) pos() Pos { return Pos{p.tok.line, p.tok.col} }

func (p *parser) errf(format string, args ...any) error {
	return &SyntaxError{Line: p.tok.line, Col: p.tok.col, Msg: fmt.Sprintf(format, args...)}
}

// expected reports what was expected at the current token.
func (p *parser) expected(what string) error {
	return p.errf("expected %s, found %s", what, p.tok.describe())
}

func (p *parser) isWord(w string) bool { return p.tok.kind == tWord && p.tok.text == w }

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errf("expression nested deeper than %d levels", MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) unsupported(what string) error {
	return &UnsupportedError{Line: p.tok.line, Col: p.tok.col, What: what}
}

// query parses an event filter, `<category> where <condition>`, up to the
// end of its condition.
func (p *parser) query() (*Query, error) {
	if p.tok.kind == tWord {
		switch p.tok.text {
		case "sample":
			return nil, p.unsupported("sample")
		case "join":
			return nil, p.unsupported("join")
		}
	}
	q := &Query{Pos: p.pos()}
	switch {
	case p.tok.kind == tWord && (p.tok.text == "any" || !isKeyword(p.tok.text) && !strings.HasSuffix(p.tok.text, "~")):
		q.Category = p.tok.text
	case p.tok.kind == tQIdent:
		q.Category = p.tok.text
	case p.tok.kind == tString:
		// Elasticsearch accepts a quoted event category too.
		q.Category = p.tok.text
	default:
		return nil, p.expected(`an event category (such as "process" or "any") or "sequence"`)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if !p.isWord("where") {
		return nil, p.expected(`"where"`)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	where, err := p.orExpr()
	if err != nil {
		return nil, err
	}
	q.Where = where
	return q, nil
}

func (p *parser) expectEnd() error {
	switch p.tok.kind {
	case tEOF:
		return nil
	case tPipe:
		return p.unsupported("pipe")
	}
	return p.expected(`"and", "or", a pipe or the end of the query`)
}

func (p *parser) orExpr() (Expr, error) {
	x, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.isWord("or") {
		pos := x.Position()
		if err := p.advance(); err != nil {
			return nil, err
		}
		y, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		x = &BinaryExpr{Op: Or, X: x, Y: y, Pos: pos}
	}
	return x, nil
}

func (p *parser) andExpr() (Expr, error) {
	x, err := p.notExpr()
	if err != nil {
		return nil, err
	}
	for p.isWord("and") {
		pos := x.Position()
		if err := p.advance(); err != nil {
			return nil, err
		}
		y, err := p.notExpr()
		if err != nil {
			return nil, err
		}
		x = &BinaryExpr{Op: And, X: x, Y: y, Pos: pos}
	}
	return x, nil
}

func (p *parser) notExpr() (Expr, error) {
	if !p.isWord("not") {
		return p.comparison()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	pos := p.pos()
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.notExpr()
	if err != nil {
		return nil, err
	}
	return &NotExpr{X: x, Pos: pos}, nil
}

func compareOp(k tokKind) (CompareOp, bool) {
	switch k {
	case tEq:
		return Eq, true
	case tNeq:
		return Neq, true
	case tLt:
		return Lt, true
	case tLe:
		return Le, true
	case tGt:
		return Gt, true
	case tGe:
		return Ge, true
	}
	return 0, false
}

// comparison is valueExpression: one operator expression, optionally
// compared with another. Comparisons do not chain.
func (p *parser) comparison() (Expr, error) {
	x, err := p.additive()
	if err != nil {
		return nil, err
	}
	op, ok := compareOp(p.tok.kind)
	if !ok {
		if p.tok.kind == tAssign {
			return nil, p.errf(`unexpected "=": expected "==" for equality`)
		}
		return x, nil
	}
	pos := p.pos()
	if err := p.advance(); err != nil {
		return nil, err
	}
	y, err := p.additive()
	if err != nil {
		return nil, err
	}
	if _, again := compareOp(p.tok.kind); again {
		return nil, p.errf("unexpected %s: comparisons cannot be chained, expected \"and\" or \"or\"", p.tok.describe())
	}
	return &CompareExpr{Op: op, X: x, Y: y, Pos: pos}, nil
}

func (p *parser) additive() (Expr, error) {
	x, err := p.multiplicative()
	if err != nil {
		return nil, err
	}
	for n := 0; p.tok.kind == tPlus || p.tok.kind == tMinus; n++ {
		// Arithmetic chains nest left-deep; bound them like nesting.
		if n >= MaxDepth {
			return nil, p.errf("arithmetic expression longer than %d terms", MaxDepth)
		}
		op := Add
		if p.tok.kind == tMinus {
			op = Sub
		}
		pos := p.pos()
		if err := p.advance(); err != nil {
			return nil, err
		}
		y, err := p.multiplicative()
		if err != nil {
			return nil, err
		}
		x = &ArithExpr{Op: op, X: x, Y: y, Pos: pos}
	}
	return x, nil
}

func (p *parser) multiplicative() (Expr, error) {
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	for n := 0; p.tok.kind == tStar || p.tok.kind == tSlash || p.tok.kind == tPercent; n++ {
		if n >= MaxDepth {
			return nil, p.errf("arithmetic expression longer than %d terms", MaxDepth)
		}
		op := Mul
		switch p.tok.kind {
		case tSlash:
			op = Div
		case tPercent:
			op = Mod
		}
		pos := p.pos()
		if err := p.advance(); err != nil {
			return nil, err
		}
		y, err := p.unary()
		if err != nil {
			return nil, err
		}
		x = &ArithExpr{Op: op, X: x, Y: y, Pos: pos}
	}
	return x, nil
}

func (p *parser) unary() (Expr, error) {
	if p.tok.kind != tMinus && p.tok.kind != tPlus {
		return p.predicated()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	neg := p.tok.kind == tMinus
	pos := p.pos()
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	if !neg {
		return x, nil
	}
	if lit, ok := x.(*Literal); ok && (lit.Kind == IntLit || lit.Kind == FloatLit) {
		lit.Num, lit.Int, lit.Pos = -lit.Num, -lit.Int, pos
		return lit, nil
	}
	return &NegExpr{X: x, Pos: pos}, nil
}

// predicated is a primary expression with an optional in/:/like/regex
// predicate.
func (p *parser) predicated() (Expr, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	pred := &PredicateExpr{X: x, Pos: p.pos()}
	switch {
	case p.isWord("not"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.isWord("in") && !p.isWord("in~") {
			return nil, p.expected(`"in" or "in~" after "not"`)
		}
		pred.Negated = true
		return p.inList(pred)
	case p.isWord("in"), p.isWord("in~"):
		return p.inList(pred)
	case p.tok.kind == tColon:
		pred.Op, pred.Insensitive = Colon, true
	case p.isWord("like"):
		pred.Op = Like
	case p.isWord("like~"):
		pred.Op, pred.Insensitive = Like, true
	case p.isWord("regex"):
		pred.Op = Regex
	case p.isWord("regex~"):
		pred.Op, pred.Insensitive = Regex, true
	default:
		return x, nil
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tLParen {
		c, err := p.constant()
		if err != nil {
			return nil, err
		}
		pred.Values = []Expr{c}
		return pred, nil
	}
	values, err := p.listTail(p.constant)
	if err != nil {
		return nil, err
	}
	pred.Values = values
	return pred, nil
}

// inList parses "in (expr, ...)" or "in~ (...)"; the current token is in/in~.
func (p *parser) inList(pred *PredicateExpr) (Expr, error) {
	pred.Op, pred.Insensitive = In, p.tok.text == "in~"
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tLParen {
		return nil, p.expected(`"(" to start the list of values`)
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	values, err := p.listTail(p.orExpr)
	if err != nil {
		return nil, err
	}
	pred.Values = values
	return pred, nil
}

// listTail parses "elem, elem, ...)" after a "(", the current token, and
// consumes the closing parenthesis.
func (p *parser) listTail(elem func() (Expr, error)) ([]Expr, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	var values []Expr
	for {
		v, err := elem()
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		if p.tok.kind == tComma {
			if err := p.advance(); err != nil {
				return nil, err
			}
			continue
		}
		if p.tok.kind != tRParen {
			return nil, p.expected(`"," or ")"`)
		}
		return values, p.advance()
	}
}

// constant parses a literal, allowing a leading minus on numbers.
func (p *parser) constant() (Expr, error) {
	pos := p.pos()
	neg := false
	if p.tok.kind == tMinus {
		neg = true
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tInt && p.tok.kind != tFloat {
			return nil, p.expected("a number after \"-\"")
		}
	}
	lit, ok, err := p.literal()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, p.expected("a string, number, boolean or null")
	}
	if neg {
		lit.Num, lit.Int = -lit.Num, -lit.Int
	}
	lit.Pos = pos
	return lit, nil
}

// literal parses the current token as a constant if it is one.
func (p *parser) literal() (*Literal, bool, error) {
	lit := &Literal{Pos: p.pos()}
	switch {
	case p.tok.kind == tString:
		lit.Kind, lit.Str = StringLit, p.tok.text
	case p.tok.kind == tInt:
		v, err := strconv.ParseInt(p.tok.text, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(p.tok.text, 64)
			if ferr != nil {
				return nil, false, p.errf("number %s out of range", p.tok.text)
			}
			lit.Kind, lit.Num = FloatLit, f
			break
		}
		lit.Kind, lit.Int, lit.Num = IntLit, v, float64(v)
	case p.tok.kind == tFloat:
		f, err := strconv.ParseFloat(p.tok.text, 64)
		if err != nil {
			return nil, false, p.errf("number %s out of range", p.tok.text)
		}
		lit.Kind, lit.Num = FloatLit, f
	case p.isWord("true"), p.isWord("false"):
		lit.Kind, lit.Bool = BoolLit, p.tok.text == "true"
	case p.isWord("null"):
		lit.Kind = NullLit
	default:
		return nil, false, nil
	}
	return lit, true, p.advance()
}

func (p *parser) primary() (Expr, error) {
	lit, ok, err := p.literal()
	if err != nil {
		return nil, err
	}
	if ok {
		return lit, nil
	}
	pos := p.pos()
	switch p.tok.kind {
	case tLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.expected(`")"`)
		}
		return x, p.advance()
	case tQuestion:
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tWord && p.tok.kind != tQIdent {
			return nil, p.expected(`a field name after "?"`)
		}
		f, err := p.field(pos)
		if err != nil {
			return nil, err
		}
		f.Optional = true
		return f, nil
	case tQIdent:
		return p.field(pos)
	case tWord:
		if isKeyword(p.tok.text) {
			return nil, p.expected("a field, a value or a function call")
		}
		// A word followed by "(" is a function call.
		save := *p.lex
		name := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tLParen {
			return p.call(name, pos)
		}
		if strings.HasSuffix(name.text, "~") {
			return nil, &SyntaxError{Line: name.line, Col: name.col,
				Msg: fmt.Sprintf(`unexpected %q: "~" is only allowed on function names and in~, like~, regex~`, name.text)}
		}
		*p.lex, p.tok = save, name
		return p.field(pos)
	}
	return nil, p.expected("a field, a value, a function call or \"(\"")
}

// call parses the arguments of a function; the current token is "(".
func (p *parser) call(name token, pos Pos) (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	c := &CallExpr{Name: strings.TrimSuffix(name.text, "~"), Insensitive: strings.HasSuffix(name.text, "~"), Pos: pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tRParen {
		return c, p.advance()
	}
	for {
		a, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		c.Args = append(c.Args, a)
		if p.tok.kind == tComma {
			if err := p.advance(); err != nil {
				return nil, err
			}
			continue
		}
		if p.tok.kind != tRParen {
			return nil, p.expected(`"," or ")" in the arguments of ` + c.Name)
		}
		return c, p.advance()
	}
}

// field parses a dotted field name; the current token is its first part.
func (p *parser) field(pos Pos) (*FieldRef, error) {
	var parts []string
	for {
		switch {
		case p.tok.kind == tQIdent:
			parts = append(parts, p.tok.text)
		case p.tok.kind == tWord && !strings.HasSuffix(p.tok.text, "~") && (len(parts) > 0 || !isKeyword(p.tok.text)):
			parts = append(parts, p.tok.text)
		default:
			return nil, p.expected("a field name")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch p.tok.kind {
		case tDot:
			if err := p.advance(); err != nil {
				return nil, err
			}
			continue
		case tLBrack:
			// field[0] indexes an array (Elasticsearch: LB INTEGER_VALUE+
			// RB); any other "[" after a join key starts the next step.
			save, at := *p.lex, p.tok
			if err := p.advance(); err == nil && p.tok.kind == tInt {
				*p.lex, p.tok = save, at
				return nil, p.unsupported("array index in field name")
			}
			*p.lex, p.tok = save, at
		}
		return &FieldRef{Name: strings.Join(parts, "."), Pos: pos}, nil
	}
}
