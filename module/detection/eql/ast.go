package eql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Query is a parsed single-event query. A Query is immutable after Parse
// and safe for concurrent use.
type Query struct {
	// Category is the event category before "where" ("process", "file",
	// ...), or "any".
	Category string
	// Where is the condition.
	Where Expr
	// Pos is the position of the category.
	Pos Pos
}

// String renders the query in canonical EQL; Parse(q.String()) yields an
// equal tree.
func (q *Query) String() string {
	cat := q.Category
	if cat != "any" && !isPlainIdent(cat) {
		cat = quoteIdent(cat)
	}
	return cat + " where " + q.Where.String()
}

// Pos is a 1-based line and column (in bytes) in the query text.
type Pos struct{ Line, Col int }

// Expr is a node of the condition tree: *BinaryExpr, *NotExpr, *CompareExpr,
// *PredicateExpr, *ArithExpr, *NegExpr, *CallExpr, *FieldRef or *Literal.
// Nodes are not modified after Parse returns; concurrent reads are safe.
type Expr interface {
	// Position is where the expression starts in the query text.
	Position() Pos
	// String renders the expression as EQL with only the parentheses
	// precedence needs; parsing the text gives an equal tree.
	String() string
	expr()
}

// LogicOp is "and" or "or".
type LogicOp uint8

// Logical operators.
const (
	And LogicOp = iota
	Or
)

// String returns "and" or "or".
func (o LogicOp) String() string {
	if o == And {
		return "and"
	}
	return "or"
}

// BinaryExpr is X and Y, or X or Y.
type BinaryExpr struct {
	Op   LogicOp
	X, Y Expr
	Pos  Pos
}

// NotExpr is not X.
type NotExpr struct {
	X   Expr
	Pos Pos
}

// CompareOp is a comparison operator.
type CompareOp uint8

// Comparison operators.
const (
	Eq  CompareOp = iota // ==
	Neq                  // !=
	Lt                   // <
	Le                   // <=
	Gt                   // >
	Ge                   // >=
)

// String returns the operator's EQL text.
func (o CompareOp) String() string {
	return [...]string{Eq: "==", Neq: "!=", Lt: "<", Le: "<=", Gt: ">", Ge: ">="}[o]
}

// CompareExpr is X <op> Y.
type CompareExpr struct {
	Op   CompareOp
	X, Y Expr
	Pos  Pos
}

// PredicateOp is the keyword of a predicate with a value list.
type PredicateOp uint8

// Predicate operators. The case-insensitive forms (in~, like~, regex~) are
// the same operator with PredicateExpr.Insensitive set; ":" is always
// case-insensitive.
const (
	In    PredicateOp = iota // in, in~, not in
	Colon                    // :
	Like                     // like, like~
	Regex                    // regex, regex~
)

// PredicateExpr is X in (...), X : v, X like (...), X regex v and their
// case-insensitive and negated forms.
type PredicateExpr struct {
	Op          PredicateOp
	Insensitive bool   // in~, like~, regex~, and always for ":"
	Negated     bool   // X not in (...)
	X           Expr   // the tested value, usually a field
	Values      []Expr // constants, except for in, which allows expressions
	Pos         Pos    // position of the operator
}

// ArithOp is an arithmetic operator.
type ArithOp uint8

// Arithmetic operators.
const (
	Add ArithOp = iota
	Sub
	Mul
	Div
	Mod
)

// String returns the operator's EQL text.
func (o ArithOp) String() string {
	return [...]string{Add: "+", Sub: "-", Mul: "*", Div: "/", Mod: "%"}[o]
}

// ArithExpr is X <op> Y.
type ArithExpr struct {
	Op   ArithOp
	X, Y Expr
	Pos  Pos
}

// NegExpr is -X for a non-constant X (a negative number literal is folded
// into the Literal).
type NegExpr struct {
	X   Expr
	Pos Pos
}

// CallExpr is a function call; Name has no trailing "~", Insensitive says
// whether it had one.
type CallExpr struct {
	Name        string
	Insensitive bool
	Args        []Expr
	Pos         Pos
}

// FieldRef is a field name, dotted as in the document ("process.parent.name").
type FieldRef struct {
	Name     string
	Optional bool // written ?name: the field may not exist in the mapping
	Pos      Pos
}

// LiteralKind is the type of a constant.
type LiteralKind uint8

// Literal kinds.
const (
	NullLit LiteralKind = iota
	StringLit
	IntLit
	FloatLit
	BoolLit
)

// Literal is a constant: null, a string, a number or a boolean.
type Literal struct {
	Kind LiteralKind
	Str  string  // StringLit
	Num  float64 // IntLit and FloatLit
	Int  int64   // IntLit
	Bool bool    // BoolLit
	Pos  Pos
}

func (*BinaryExpr) expr()    {}
func (*NotExpr) expr()       {}
func (*CompareExpr) expr()   {}
func (*PredicateExpr) expr() {}
func (*ArithExpr) expr()     {}
func (*NegExpr) expr()       {}
func (*CallExpr) expr()      {}
func (*FieldRef) expr()      {}
func (*Literal) expr()       {}

// Position implements Expr.
func (e *BinaryExpr) Position() Pos { return e.Pos }

// Position implements Expr.
func (e *NotExpr) Position() Pos { return e.Pos }

// Position implements Expr.
func (e *CompareExpr) Position() Pos { return e.Pos }

// Position implements Expr.
func (e *PredicateExpr) Position() Pos { return e.Pos }

// Position implements Expr.
func (e *ArithExpr) Position() Pos { return e.Pos }

// Position implements Expr.
func (e *NegExpr) Position() Pos { return e.Pos }

// Position implements Expr.
func (e *CallExpr) Position() Pos { return e.Pos }

// Position implements Expr.
func (e *FieldRef) Position() Pos { return e.Pos }

// Position implements Expr.
func (e *Literal) Position() Pos { return e.Pos }

// Precedence levels of the printer, from the loosest: or, and, not,
// comparison, additive, multiplicative, unary minus, predicate, primary.
const (
	levelOr = iota + 1
	levelAnd
	levelNot
	levelCompare
	levelAdd
	levelMul
	levelUnary
	levelPredicate
	levelPrimary
)

func level(e Expr) int {
	switch e := e.(type) {
	case *BinaryExpr:
		if e.Op == Or {
			return levelOr
		}
		return levelAnd
	case *NotExpr:
		return levelNot
	case *CompareExpr:
		return levelCompare
	case *ArithExpr:
		if e.Op == Add || e.Op == Sub {
			return levelAdd
		}
		return levelMul
	case *NegExpr:
		return levelUnary
	case *PredicateExpr:
		return levelPredicate
	case *Literal:
		if (e.Kind == IntLit || e.Kind == FloatLit) && (e.Num < 0 || e.Int < 0 || e.Num == 0 && math.Signbit(e.Num)) {
			return levelUnary // printed with a leading minus
		}
	}
	return levelPrimary
}

// format prints e, in parentheses when it binds more loosely than atLeast.
// It adds no parentheses that the grammar does not need, so that printing
// and parsing again never nests deeper than the original.
func format(b *strings.Builder, e Expr, atLeast int) {
	if level(e) < atLeast {
		b.WriteByte('(')
		defer b.WriteByte(')')
	}
	switch e := e.(type) {
	case *BinaryExpr:
		l := level(e)
		format(b, e.X, l)
		b.WriteString(" " + e.Op.String() + " ")
		format(b, e.Y, l+1)
	case *NotExpr:
		b.WriteString("not ")
		format(b, e.X, levelNot)
	case *CompareExpr:
		format(b, e.X, levelAdd)
		b.WriteString(" " + e.Op.String() + " ")
		format(b, e.Y, levelAdd)
	case *ArithExpr:
		l := level(e)
		format(b, e.X, l)
		b.WriteString(" " + e.Op.String() + " ")
		format(b, e.Y, l+1)
	case *NegExpr:
		b.WriteString("-")
		format(b, e.X, levelUnary)
	case *PredicateExpr:
		format(b, e.X, levelPrimary)
		if e.Negated {
			b.WriteString(" not")
		}
		switch e.Op {
		case In:
			b.WriteString(" in")
		case Colon:
			b.WriteString(" :")
		case Like:
			b.WriteString(" like")
		case Regex:
			b.WriteString(" regex")
		}
		if e.Insensitive && e.Op != Colon {
			b.WriteString("~")
		}
		b.WriteString(" (")
		for i, v := range e.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			format(b, v, levelOr)
		}
		b.WriteString(")")
	case *CallExpr:
		b.WriteString(e.Name)
		if e.Insensitive {
			b.WriteString("~")
		}
		b.WriteString("(")
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			format(b, a, levelOr)
		}
		b.WriteString(")")
	case *FieldRef:
		b.WriteString(e.String())
	case *Literal:
		b.WriteString(e.String())
	}
}

func exprString(e Expr) string {
	var b strings.Builder
	format(&b, e, 0)
	return b.String()
}

// String renders the expression as EQL with the parentheses it needs.
func (e *BinaryExpr) String() string { return exprString(e) }

// String renders the expression as EQL with the parentheses it needs.
func (e *NotExpr) String() string { return exprString(e) }

// String renders the expression as EQL with the parentheses it needs.
func (e *CompareExpr) String() string { return exprString(e) }

// String renders the expression as EQL with the parentheses it needs.
func (e *PredicateExpr) String() string { return exprString(e) }

// String renders the expression as EQL with the parentheses it needs.
func (e *ArithExpr) String() string { return exprString(e) }

// String renders the expression as EQL with the parentheses it needs.
func (e *NegExpr) String() string { return exprString(e) }

// String renders the call as EQL.
func (e *CallExpr) String() string { return exprString(e) }

// String renders the field as EQL, backquoting parts that need it.
func (e *FieldRef) String() string {
	var b strings.Builder
	if e.Optional {
		b.WriteString("?")
	}
	for i, part := range strings.Split(e.Name, ".") {
		if i > 0 {
			b.WriteString(".")
		}
		if isPlainIdent(part) {
			b.WriteString(part)
		} else {
			b.WriteString(quoteIdent(part))
		}
	}
	return b.String()
}

// String renders the constant as EQL.
func (e *Literal) String() string {
	switch e.Kind {
	case StringLit:
		return QuoteString(e.Str)
	case IntLit:
		return strconv.FormatInt(e.Int, 10)
	case FloatLit:
		s := strconv.FormatFloat(e.Num, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") { // keep it a decimal literal
			s += ".0"
		}
		return s
	case BoolLit:
		return strconv.FormatBool(e.Bool)
	}
	return "null"
}

// QuoteString renders s as an EQL double-quoted string literal.
func QuoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u{%02x}`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isKeyword reports whether s is reserved and cannot be an unquoted identifier.
func isKeyword(s string) bool {
	switch s {
	case "and", "any", "by", "false", "in", "join", "like", "maxspan", "not", "null", "of", "or",
		"regex", "sample", "sequence", "true", "until", "where", "with", "in~", "like~", "regex~":
		return true
	}
	return false
}

func isPlainIdent(s string) bool {
	if s == "" || isKeyword(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLetter(c) || c == '_' || (c == '@' && i == 0) || (i > 0 && isDigit(c)) {
			continue
		}
		return false
	}
	return true
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
