// Package fields reads fields.yml, the one declaration of the fields
// spawnbeat writes (_meta/fields.yml), and generates from it the Go code
// that must follow it: the detection engine's field readers (Generate,
// run by `go generate ./module/detection/engine`).
//
// The file is in Beats' fields.yml layout (sections with key and title,
// fields with name, type, description, groups with fields). Each field
// also says how spawnbeat's typed document, an *ecs.Event named e, carries
// it, in four keys of its own that Beats' tools and the index template
// ignore:
//
//	go         on a leaf: the Go expression of its value, e.g. e.Process.Name
//	go_type    on a leaf, when the value is not the type's default Go type:
//	           "[]string" (a multi-valued keyword) or "Value" (an expression
//	           that already is an engine.Value, for arrays of objects and
//	           rule.*/threat.*, which hand-written helpers compute)
//	go_let     on a group: "name := expression", a variable that the
//	           expressions of its fields (and go_absent) may use
//	go_absent  on a group or leaf: a Go condition under which the field
//	           (every field of the group) is absent from the document
//
// The default Go types and the default absence follow the encoder's rule
// that a zero value is not written: keyword-like types (keyword, wildcard,
// match_only_text, text, constant_keyword, ip) are a string, absent when
// empty; numbers (long, integer, float, scaled_float) any Go number,
// absent when zero unless the leaf has go_absent, which then alone decides
// (so that an exit code or a terminal minor of 0 is a value); date a
// time.Time, absent when zero; boolean a bool (absent when false) or an
// ecs.Tristate (absent when unknown).
//
// Parse checks the whole file and reports every problem at once, each
// with the dotted name of the field. It is pure: the same bytes give the
// same leaves.
package fields

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrInvalid marks a fields.yml that Parse rejects.
var ErrInvalid = errors.New("invalid fields.yml")

// Go types a leaf's go_type may name.
const (
	GoStrings = "[]string"
	GoValue   = "Value"
)

// field is one entry of fields.yml. Only the keys spawnbeat uses are known:
// an unknown key is a problem, so that a typo is not silently ignored.
type field struct {
	Key           string       `yaml:"key"`
	Title         string       `yaml:"title"`
	Name          string       `yaml:"name"`
	Type          string       `yaml:"type"`
	Description   string       `yaml:"description"`
	Example       any          `yaml:"example"`
	IgnoreAbove   int          `yaml:"ignore_above"`
	ScalingFactor float64      `yaml:"scaling_factor"`
	MultiFields   []multiField `yaml:"multi_fields"`
	Fields        []field      `yaml:"fields"`

	Go       string `yaml:"go"`
	GoType   string `yaml:"go_type"`
	GoLet    string `yaml:"go_let"`
	GoAbsent string `yaml:"go_absent"`
}

type multiField struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// Leaf is a field that documents carry a value for (not a group), with
// how an *ecs.Event carries it. A plain value.
type Leaf struct {
	Name   string  // dotted: process.parent.name
	Type   string  // Elasticsearch type: keyword, long, date, ...
	Go     string  // Go expression of the value
	GoType string  // "", GoStrings or GoValue
	Absent string  // the leaf's own go_absent, or ""
	Scopes []Scope // the enclosing groups that have go_let or go_absent, outermost first
}

// Scope is what an enclosing group contributes to a leaf's reader.
type Scope struct {
	Group  string // dotted name of the group
	Let    string // "name := expression", or ""
	Absent string // go_absent, or ""
}

// LetName is the variable a Scope's Let declares ("" when none).
func (s Scope) LetName() string {
	name, _, _ := strings.Cut(s.Let, ":=")
	return strings.TrimSpace(name)
}

// Reader kinds: how a leaf's value reaches the engine.
const (
	KindString  = "string"  // a string; "" is absent
	KindStrings = "strings" // a []string; empty is absent
	KindNumber  = "number"  // any Go number
	KindDate    = "date"    // a time.Time
	KindBool    = "bool"    // a bool or an ecs.Tristate
	KindValue   = "value"   // an engine.Value
)

// Kind is the reader kind of the leaf, from its type and go_type; Parse
// has checked that the two fit.
func (l Leaf) Kind() string {
	if l.GoType == GoValue {
		return KindValue
	}
	switch {
	case stringTypes[l.Type]:
		if l.GoType == GoStrings {
			return KindStrings
		}
		return KindString
	case numberTypes[l.Type]:
		return KindNumber
	case l.Type == "date":
		return KindDate
	case l.Type == "boolean":
		return KindBool
	}
	return ""
}

var (
	stringTypes = map[string]bool{
		"keyword": true, "wildcard": true, "match_only_text": true, "text": true,
		"constant_keyword": true, "ip": true,
	}
	numberTypes = map[string]bool{"long": true, "integer": true, "float": true, "scaled_float": true}
	// multiTypes are the types a multi_field may have.
	multiTypes = map[string]bool{"keyword": true, "wildcard": true, "match_only_text": true, "text": true}
)

// Parse reads fields.yml and returns its leaves in file order, or every
// problem it finds (errors.Is ErrInvalid).
func Parse(data []byte) ([]Leaf, error) {
	var sections []field
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&sections); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p := &parse{}
	if len(sections) == 0 {
		p.problem("", "no sections")
	}
	seen := map[string]bool{}
	for _, s := range sections {
		if s.Key == "" || s.Title == "" || len(s.Fields) == 0 {
			p.problem("section "+s.Key, "a section needs key, title and fields")
		}
		p.walk("", s.Fields, nil, seen)
	}
	if len(p.problems) > 0 {
		return nil, fmt.Errorf("%w:\n%s", ErrInvalid, strings.Join(p.problems, "\n"))
	}
	return p.leaves, nil
}

// parse holds the state of one Parse call.
type parse struct {
	leaves   []Leaf
	problems []string
}

func (p *parse) problem(name, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if name != "" {
		msg = name + ": " + msg
	}
	p.problems = append(p.problems, msg)
}

// walk checks the fields under prefix and collects their leaves. seen
// holds every dotted name so far, across sections: a field declared twice
// would give the template two mappings and the engine two readers.
func (p *parse) walk(prefix string, fs []field, scopes []Scope, seen map[string]bool) {
	for _, f := range fs {
		name := prefix + f.Name
		switch {
		case f.Name == "" || strings.Contains(f.Name, "."):
			p.problem(prefix+"?", "a name must be one non-empty path element, got %q", f.Name)
			continue
		case seen[name]:
			p.problem(name, "declared twice")
		case f.Description == "":
			p.problem(name, "no description")
		}
		seen[name] = true
		if f.Type == "group" {
			p.group(name, f, scopes, seen)
			continue
		}
		p.leaf(name, f, scopes)
	}
}

func (p *parse) group(name string, f field, scopes []Scope, seen map[string]bool) {
	if len(f.Fields) == 0 {
		p.problem(name, "a group needs fields")
	}
	if f.Go != "" || f.GoType != "" {
		p.problem(name, "go and go_type belong on fields, not groups (a group takes go_let and go_absent)")
	}
	if f.GoLet != "" || f.GoAbsent != "" {
		s := Scope{Group: name, Let: f.GoLet, Absent: f.GoAbsent}
		if s.Let != "" {
			p.checkLet(name, s, scopes)
		}
		if s.Absent != "" {
			p.checkExpr(name, "go_absent", s.Absent)
		}
		scopes = append(scopes[:len(scopes):len(scopes)], s)
	}
	p.walk(name+".", f.Fields, scopes, seen)
}

func (p *parse) leaf(name string, f field, scopes []Scope) {
	if len(f.Fields) != 0 {
		p.problem(name, "a field of type %q has fields (only a group has)", f.Type)
	}
	if f.Type == "scaled_float" && f.ScalingFactor <= 0 {
		p.problem(name, "scaled_float needs scaling_factor")
	}
	for _, m := range f.MultiFields {
		if m.Name == "" || !multiTypes[m.Type] {
			p.problem(name, "bad multi_field %q of type %q", m.Name, m.Type)
		}
	}
	if f.GoLet != "" {
		p.problem(name, "go_let belongs on groups")
	}
	l := Leaf{Name: name, Type: f.Type, Go: f.Go, GoType: f.GoType, Absent: f.GoAbsent, Scopes: scopes}
	switch {
	case !stringTypes[f.Type] && !numberTypes[f.Type] && f.Type != "date" && f.Type != "boolean":
		p.problem(name, "type %q: no Go reader for it (want a keyword-like, numeric, date or boolean type)", f.Type)
	case f.GoType != "" && f.GoType != GoValue && !(f.GoType == GoStrings && stringTypes[f.Type]):
		p.problem(name, "go_type %q does not fit type %q (want %q on keyword-like types, or %q)", f.GoType, f.Type, GoStrings, GoValue)
	}
	if f.Go == "" {
		p.problem(name, "no go expression: say how an *ecs.Event named e carries the field")
	} else {
		p.checkExpr(name, "go", f.Go)
	}
	if f.GoAbsent != "" {
		p.checkExpr(name, "go_absent", f.GoAbsent)
	}
	p.leaves = append(p.leaves, l)
}

// reserved are the identifiers the generated readers use themselves.
var reserved = map[string]bool{"e": true, "v": true}

func (p *parse) checkLet(name string, s Scope, outer []Scope) {
	v, expr, ok := strings.Cut(s.Let, ":=")
	v, expr = strings.TrimSpace(v), strings.TrimSpace(expr)
	if !ok || !token.IsIdentifier(v) || expr == "" {
		p.problem(name, "go_let %q: want \"name := expression\"", s.Let)
		return
	}
	if reserved[v] {
		p.problem(name, "go_let %q: %s is taken by the generated code", s.Let, v)
	}
	for _, o := range outer {
		if o.LetName() == v {
			p.problem(name, "go_let %q: %s is already declared by %s", s.Let, v, o.Group)
		}
	}
	p.checkExpr(name, "go_let", expr)
}

func (p *parse) checkExpr(name, key, expr string) {
	if _, err := parser.ParseExpr(expr); err != nil {
		p.problem(name, "%s %q: not a Go expression: %v", key, expr, err)
	}
}

// uses reports whether the Go expression expr names the variable v (as an
// operand, not as a field or method selected from something else). expr
// must parse; Parse has checked that it does.
func uses(expr, v string) bool {
	x, err := parser.ParseExpr(expr)
	if err != nil {
		return false
	}
	found := false
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			// Only the operand: in p.Name, Name is not a variable.
			ast.Inspect(n.X, visit)
			return false
		case *ast.Ident:
			found = found || n.Name == v
		}
		return !found
	}
	ast.Inspect(x, visit)
	return found
}
