package engine

import (
	"strconv"
)

// Kind is the type of a resolved field value. It is a plain value.
type Kind uint8

// Value kinds. Missing covers absent fields, JSON null and empty arrays,
// which Elasticsearch does not index either.
const (
	Missing Kind = iota
	String
	Strings // a multi-valued keyword field such as process.args
	Number
	Bool
	List // a multi-valued field of other or mixed types (JSON only)
)

// Value is one field's value in a document, as both resolvers produce it.
// A Value borrows its strings and slices from the document; it is valid as
// long as the document is not modified, and as safe for concurrent reads as
// the document it came from.
type Value struct {
	Kind Kind
	Str  string   // String
	Strs []string // Strings
	Num  float64  // Number
	Bool bool     // Bool
	List []Value  // List: scalar Values only, never Missing
}

// Len is the number of scalar values: 0 for Missing, 1 for a scalar.
func (v Value) Len() int {
	switch v.Kind {
	case Missing:
		return 0
	case Strings:
		return len(v.Strs)
	case List:
		return len(v.List)
	}
	return 1
}

// At is the i-th scalar value (0 <= i < Len()).
func (v Value) At(i int) Value {
	switch v.Kind {
	case Strings:
		return Value{Kind: String, Str: v.Strs[i]}
	case List:
		return v.List[i]
	}
	return v
}

// first is the first scalar, or Missing.
func (v Value) first() Value {
	if v.Len() == 0 {
		return Value{}
	}
	return v.At(0)
}

// StringValue returns a String Value, or Missing for "".
func StringValue(s string) Value {
	if s == "" {
		return Value{}
	}
	return Value{Kind: String, Str: s}
}

// StringsValue returns a Strings Value, or Missing for an empty slice.
func StringsValue(s []string) Value {
	if len(s) == 0 {
		return Value{}
	}
	return Value{Kind: Strings, Strs: s}
}

// NumberValue returns a Number Value.
func NumberValue(f float64) Value { return Value{Kind: Number, Num: f} }

// BoolValue returns a Bool Value.
func BoolValue(b bool) Value { return Value{Kind: Bool, Bool: b} }

// formatNumber renders a number as Elasticsearch renders a numeric term:
// integers without a fraction.
func formatNumber(f float64) string {
	if f == float64(int64(f)) && f < 1e18 && f > -1e18 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
