package eql_test

import (
	"strings"

	"github.com/spawnbeat/spawnbeat/module/detection/eql"
)

// sexpr prints the tree as a fully parenthesised prefix expression, so
// that tests see its exact shape.
func sexpr(e eql.Expr) string {
	switch e := e.(type) {
	case *eql.BinaryExpr:
		return "(" + e.Op.String() + " " + sexpr(e.X) + " " + sexpr(e.Y) + ")"
	case *eql.NotExpr:
		return "(not " + sexpr(e.X) + ")"
	case *eql.CompareExpr:
		return "(" + e.Op.String() + " " + sexpr(e.X) + " " + sexpr(e.Y) + ")"
	case *eql.ArithExpr:
		return "(" + e.Op.String() + " " + sexpr(e.X) + " " + sexpr(e.Y) + ")"
	case *eql.NegExpr:
		return "(neg " + sexpr(e.X) + ")"
	case *eql.PredicateExpr:
		op := [...]string{eql.In: "in", eql.Colon: ":", eql.Like: "like", eql.Regex: "regex"}[e.Op]
		if e.Insensitive && e.Op != eql.Colon {
			op += "~"
		}
		if e.Negated {
			op = "not-" + op
		}
		parts := []string{op, sexpr(e.X)}
		for _, v := range e.Values {
			parts = append(parts, sexpr(v))
		}
		return "(" + strings.Join(parts, " ") + ")"
	case *eql.CallExpr:
		name := e.Name
		if e.Insensitive {
			name += "~"
		}
		parts := []string{"call", name}
		for _, a := range e.Args {
			parts = append(parts, sexpr(a))
		}
		return "(" + strings.Join(parts, " ") + ")"
	case *eql.FieldRef:
		if e.Optional {
			return "?" + e.Name
		}
		return e.Name
	case *eql.Literal:
		return e.String()
	}
	return "?"
}
