package rules

import (
	"slices"
	"sort"
	"strings"

	"github.com/spawnbeat/spawnbeat/module/detection/eql"
)

// NamePattern is a name, lowercased, or the literal start of one.
type NamePattern struct {
	Text   string // lowercased
	Prefix bool   // a name that starts with Text; else a name equal to Text
}

// ExecMatch is one way an exec document can match a set's rules: its
// process.name matches one of Names (any name when Names is nil) and its
// process.parent.name one of Parents (any when Parents is nil), compared
// case-insensitively.
//
// Case-insensitively means ASCII letters fold; every other byte compares as
// it is, and Text holds only ASCII (a rule's literal is cut before its
// first non-ASCII byte, leaving a Prefix). One more rule for the comparer:
// a name holding any non-ASCII byte must count as a match. The engine's
// case-insensitive tests fold with Unicode's rules, which relate a few
// non-ASCII letters to ASCII ones (U+212A KELVIN SIGN to "k", U+0130 LATIN
// CAPITAL LETTER I WITH DOT ABOVE to "i", U+017F LATIN SMALL LETTER LONG S
// to "s"), so a process named "\u212Ash" matches `process.name : "ksh"`
// although no ASCII fold relates it to "ksh".
type ExecMatch struct {
	Names   []NamePattern // process.name
	Parents []NamePattern // process.parent.name
}

// MaxExecNames bounds the distinct names on each side: past it,
// ExecMatches gives up (ok false).
const MaxExecNames = 1024

// maxAlternatives bounds the alternatives of one condition, and so the
// ways ExecMatches returns (the exec program has a bit for each of 64). An
// `and` whose two sides would multiply past it keeps one side alone; an
// `or` past it merges its alternatives into one wider alternative.
const maxAlternatives = 64

// ExecMatches returns the ways an exec document can match a rule of s:
// every exec document that some rule matches takes one of them (each list
// sorted, without duplicates). ok is false when some rule cannot be
// narrowed so: then any exec may match.
//
// A rule narrows when every way its query can hold tests process.name or
// process.parent.name positively against string literals: ==, in, in~,
// ":", like, like~ (the literal start of a wildcard pattern, up to its
// first * or ?) and startsWith/startsWith~. Negations (!=, not in, not),
// regex, other functions, comparisons with fields, null, the empty string
// and patterns that start with a wildcard narrow nothing. The answer is
// necessary, not sufficient: a document that takes a way may still match
// no rule. Sequence rules are not narrowed: one makes ok false. An empty
// set gives ok true and no ways.
func (s *Set) ExecMatches() (ways []ExecMatch, ok bool) {
	var alts []alternative
	for _, r := range s.rules {
		if r.IsSequence() {
			return nil, false
		}
		q, err := eql.Parse(r.Query)
		if err != nil { // it compiled when loaded: not expected
			return nil, false
		}
		alts = append(alts, condition(q.Where)...)
	}
	if len(alts) == 0 {
		return nil, true
	}
	merged := merge(alts)
	names, parents := map[NamePattern]bool{}, map[NamePattern]bool{}
	for i, a := range merged {
		if !a.narrows() {
			return nil, false
		}
		// A way that another takes in whole adds nothing (the built-ins
		// differ only in how many shells they name); of two equal ways,
		// the first stays.
		if slices.ContainsFunc(merged[:i], a.within) || slices.ContainsFunc(merged[i+1:], func(b alternative) bool { return a.within(b) && !b.within(a) }) {
			continue
		}
		ways = append(ways, ExecMatch{Names: a.names, Parents: a.parents})
		for _, p := range a.names {
			names[p] = true
		}
		for _, p := range a.parents {
			parents[p] = true
		}
	}
	if len(names) > MaxExecNames || len(parents) > MaxExecNames {
		return nil, false
	}
	return ways, true
}

// within reports whether every document that a allows, b allows too.
func (a alternative) within(b alternative) bool {
	return covered(a.names, b.names) && covered(a.parents, b.parents)
}

// covered reports whether every name that pats allows, by allows too (a
// nil list allows any name).
func covered(pats, by []NamePattern) bool {
	if by == nil {
		return true
	}
	if pats == nil {
		return false
	}
	for _, p := range pats {
		if !slices.ContainsFunc(by, func(q NamePattern) bool {
			return q == p || q.Prefix && strings.HasPrefix(p.Text, q.Text)
		}) {
			return false
		}
	}
	return true
}

// alternative is one way for a condition to hold: process.name matches one
// of names and process.parent.name one of parents. A nil list is "any
// name"; a list is never empty otherwise.
type alternative struct {
	names, parents []NamePattern
}

func (a alternative) narrows() bool { return a.names != nil || a.parents != nil }

// anyName is the condition that narrows nothing.
func anyName() []alternative { return []alternative{{}} }

// condition returns a necessary condition for e to hold, as alternatives
// of which at least one holds (never empty).
func condition(e eql.Expr) []alternative {
	switch e := e.(type) {
	case *eql.BinaryExpr:
		x, y := condition(e.X), condition(e.Y)
		if e.Op == eql.Or {
			return merge(append(x[:len(x):len(x)], y...))
		}
		return both(x, y)
	case *eql.PredicateExpr:
		if e.Negated {
			return anyName()
		}
		var wildcards bool
		switch e.Op {
		case eql.In:
		case eql.Colon, eql.Like:
			wildcards = true
		default: // regex
			return anyName()
		}
		var pats []NamePattern
		for _, v := range e.Values {
			p, ok := literalPattern(v, wildcards)
			if !ok {
				return anyName()
			}
			pats = append(pats, p)
		}
		return leaf(e.X, pats)
	case *eql.CompareExpr:
		if e.Op != eql.Eq {
			return anyName()
		}
		field, value := e.X, e.Y
		if _, ok := field.(*eql.FieldRef); !ok {
			field, value = value, field
		}
		p, ok := literalPattern(value, false)
		if !ok {
			return anyName()
		}
		return leaf(field, []NamePattern{p})
	case *eql.CallExpr:
		if e.Name != "startsWith" || len(e.Args) != 2 {
			return anyName()
		}
		p, ok := literalPattern(e.Args[1], false)
		if !ok {
			return anyName()
		}
		p.Prefix = true
		return leaf(e.Args[0], []NamePattern{p})
	}
	return anyName() // not, fields and constants as conditions, ...
}

// leaf is the condition "field matches one of pats", narrowing only for the
// two name fields.
func leaf(field eql.Expr, pats []NamePattern) []alternative {
	f, ok := field.(*eql.FieldRef)
	switch {
	case !ok || len(pats) == 0:
		return anyName()
	case f.Name == "process.name":
		return []alternative{{names: unionPatterns(pats)}}
	case f.Name == "process.parent.name":
		return []alternative{{parents: unionPatterns(pats)}}
	}
	return anyName()
}

// literalPattern turns a string literal into the pattern every value it
// matches satisfies, ignoring case: the whole text, or with wildcards (*
// and ?, which Elasticsearch's patterns cannot escape) the text before the
// first one, as a prefix. The text stops at the first non-ASCII byte too,
// so that lower-casing touches ASCII letters only. ok is false for a
// literal that is not a string or leaves no text.
func literalPattern(e eql.Expr, wildcards bool) (NamePattern, bool) {
	lit, ok := e.(*eql.Literal)
	if !ok || lit.Kind != eql.StringLit {
		return NamePattern{}, false
	}
	text := lit.Str
	cut := len(text)
	if wildcards {
		if i := strings.IndexAny(text, "*?"); i >= 0 {
			cut = i
		}
	}
	for i := 0; i < cut; i++ {
		if text[i] >= 0x80 {
			cut = i
			break
		}
	}
	if cut == 0 {
		return NamePattern{}, false
	}
	return NamePattern{Text: asciiLower(text[:cut]), Prefix: cut < len(text)}, true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// both is the condition that x and y hold: each pair of alternatives, with
// the names of whichever side has them (the shorter list when both do),
// and the parents likewise. Past maxAlternatives pairs it keeps the side
// with fewer alternatives alone: merge leaves a side either one
// alternative or only alternatives that narrow, and one alternative
// cannot reach the bound with the other side's at most maxAlternatives.
func both(x, y []alternative) []alternative {
	if len(x)*len(y) > maxAlternatives {
		if len(x) <= len(y) {
			return x
		}
		return y
	}
	out := make([]alternative, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			out = append(out, alternative{names: narrower(a.names, b.names), parents: narrower(a.parents, b.parents)})
		}
	}
	return merge(out)
}

// narrower returns the list of a and b that allows fewer names, as far as
// their lengths tell: both are necessary, so either will do.
func narrower(a, b []NamePattern) []NamePattern {
	if a == nil || (b != nil && len(b) < len(a)) {
		return b
	}
	return a
}

// merge simplifies alternatives without losing any document they allow: an
// alternative that narrows nothing makes the whole "any"; those with names
// only join into one, those with parents only likewise; past
// maxAlternatives everything joins into one alternative, which keeps
// names (or parents) only if every alternative has them.
func merge(alts []alternative) []alternative {
	var namesOnly, parentsOnly alternative
	out := make([]alternative, 0, len(alts))
	for _, a := range alts {
		switch {
		case !a.narrows():
			return anyName()
		case a.parents == nil:
			namesOnly.names = append(namesOnly.names, a.names...)
		case a.names == nil:
			parentsOnly.parents = append(parentsOnly.parents, a.parents...)
		default:
			out = append(out, a)
		}
	}
	if namesOnly.names != nil {
		out = append(out, alternative{names: unionPatterns(namesOnly.names)})
	}
	if parentsOnly.parents != nil {
		out = append(out, alternative{parents: unionPatterns(parentsOnly.parents)})
	}
	if len(out) <= maxAlternatives {
		return out
	}
	var one alternative
	allNames, allParents := true, true
	for _, a := range out {
		allNames = allNames && a.names != nil
		allParents = allParents && a.parents != nil
		one.names = append(one.names, a.names...)
		one.parents = append(one.parents, a.parents...)
	}
	one.names, one.parents = unionPatterns(one.names), unionPatterns(one.parents)
	if !allNames {
		one.names = nil
	}
	if !allParents {
		one.parents = nil
	}
	return []alternative{one}
}

// unionPatterns sorts pats by text and drops duplicates and the patterns
// a prefix already covers, in place; nil stays nil.
func unionPatterns(pats []NamePattern) []NamePattern {
	if len(pats) == 0 {
		return pats
	}
	sort.Slice(pats, func(i, j int) bool {
		if pats[i].Text != pats[j].Text {
			return pats[i].Text < pats[j].Text
		}
		return pats[i].Prefix && !pats[j].Prefix // a prefix first, to cover its equal
	})
	// The texts a prefix covers sort right after it, so the latest prefix
	// kept is the only one that can cover the next pattern.
	out := pats[:0]
	var cover string // the latest prefix kept, or ""
	for _, p := range pats {
		if cover != "" && strings.HasPrefix(p.Text, cover) || len(out) > 0 && out[len(out)-1] == p {
			continue
		}
		out = append(out, p)
		if p.Prefix {
			cover = p.Text
		}
	}
	return out
}
