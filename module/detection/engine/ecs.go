package engine

import (
	"slices"
	"time"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

//go:generate go run github.com/spawnbeat/spawnbeat/internal/fields/fieldgen -o ecs_fields_gen.go

// ECS returns the Resolver over spawnbeat's typed event. It knows every field
// _meta/fields.yml declares, and reads each as the encoder writes it: the
// readers are generated from fields.yml (ecs_fields_gen.go), whose go keys
// say where an ecs.Event keeps each field and when it is absent (empty
// strings and slices, zero numbers and times, process.parent.* when
// Parent.PID is 0, a leader's fields when its PID is 0, ...).
// TestResolverMatchesEncoder holds the readers to the encoded documents.
// event.type and event.category are one-element arrays in the document; a
// one-element array and a scalar behave identically under every operator,
// so they resolve to scalars. Category "process" and "any" match every
// non-nil event, other categories none. The Resolver is safe for concurrent
// use.
func ECS() Resolver[*ecs.Event] {
	return ecsResolver{fields: ecsFieldReaders()}
}

type ecsResolver struct {
	fields map[string]Field[*ecs.Event] // read-only after construction
}

// Field implements Resolver.
func (r ecsResolver) Field(name string) (Field[*ecs.Event], bool) {
	if f, ok := r.fields[name]; ok {
		return f, true
	}
	return Field[*ecs.Event]{Get: func(*ecs.Event) Value { return Value{} }}, false
}

// Category implements Resolver.
func (r ecsResolver) Category(name string) func(*ecs.Event) bool {
	if name == "process" || name == "any" {
		return func(e *ecs.Event) bool { return e != nil }
	}
	return func(*ecs.Event) bool { return false }
}

// Timestamp implements Timestamper: @timestamp in Unix milliseconds, as
// Elasticsearch's date type keeps it, without formatting it.
func (ecsResolver) Timestamp(e *ecs.Event) (int64, bool) {
	if e == nil || e.Timestamp.IsZero() {
		return 0, false
	}
	return e.Timestamp.UnixMilli(), true
}

// ECSFields lists the field names the ECS resolver fills, for documentation
// and tests.
func ECSFields() []string {
	m := ecsFieldReaders()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func timeValue(t time.Time) Value {
	if t.IsZero() {
		return Value{}
	}
	// Only rules that compare timestamps pay for the formatting, which is
	// the encoder's (RFC 3339 in UTC, the fraction without trailing zeros).
	return Value{Kind: String, Str: t.UTC().Format(time.RFC3339Nano)}
}

// boolValue is a boolean field: a bool is written only when true (the
// encoder's boolTrue), a Tristate only when known.
func boolValue[B bool | ecs.Tristate](b B) Value {
	switch v := any(b).(type) {
	case bool:
		if v {
			return BoolValue(true)
		}
	case ecs.Tristate:
		switch v {
		case ecs.True:
			return BoolValue(true)
		case ecs.False:
			return BoolValue(false)
		}
	}
	return Value{}
}

// stringField is a single-valued keyword field; "" is absent.
func stringField[T any](f func(T) string) Field[T] {
	return Field[T]{String: f, Get: func(doc T) Value { return StringValue(f(doc)) }}
}

// stringsField is a multi-valued keyword field; an empty slice is absent.
func stringsField[T any](f func(T) []string) Field[T] {
	return Field[T]{Strings: f, Get: func(doc T) Value { return StringsValue(f(doc)) }}
}

// numberField is a single-valued numeric field.
func numberField[T any](f func(T) (float64, bool)) Field[T] {
	return Field[T]{Number: f, Get: func(doc T) Value {
		n, ok := f(doc)
		if !ok {
			return Value{}
		}
		return NumberValue(n)
	}}
}

// objectsString, objectsStrings and objectsCount read a field of an array
// of objects (process.previous, spawnbeat.sequence): the values of every
// element, as Elasticsearch flattens them. One element, the common case,
// is read without a copy.

// objectsString is a keyword field of each element; empty ones are absent.
func objectsString[E any](es []E, get func(*E) string) Value {
	if len(es) == 1 {
		return StringValue(get(&es[0]))
	}
	var vs []string
	for i := range es {
		if v := get(&es[i]); v != "" {
			vs = append(vs, v)
		}
	}
	return StringsValue(vs)
}

// objectsStrings is a multi-valued keyword field of each element.
func objectsStrings[E any](es []E, get func(*E) []string) Value {
	if len(es) == 1 {
		return StringsValue(get(&es[0]))
	}
	var vs []string
	for i := range es {
		vs = append(vs, get(&es[i])...)
	}
	return StringsValue(vs)
}

// objectsCount is the length of a list of each element where the list is
// known (non-nil), as the encoder writes args_count beside args.
func objectsCount[E any](es []E, get func(*E) []string) Value {
	var ns []Value
	for i := range es {
		if l := get(&es[i]); l != nil {
			ns = append(ns, NumberValue(float64(len(l))))
		}
	}
	return listValue(ns)
}

// listValue is the Value of several scalars: Missing for none, the scalar
// itself for one.
func listValue(vs []Value) Value {
	switch len(vs) {
	case 0:
		return Value{}
	case 1:
		return vs[0]
	}
	return Value{Kind: List, List: vs}
}

// ruleValues is a rule.* field as the encoder writes it: the rule's value
// when one rule matched, the distinct non-empty values in rule order when
// several did. Only alerts carry rules, and detection reads a document
// before it becomes one, so the copy costs only `rules test` on alerts.
func ruleValues(rs []*ecs.Rule, get func(*ecs.Rule) string) Value {
	if len(rs) == 1 {
		if rs[0] == nil {
			return Value{}
		}
		return StringValue(get(rs[0]))
	}
	var vs []string
	for _, r := range rs {
		if r == nil {
			continue
		}
		if v := get(r); v != "" && !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	return StringsValue(vs)
}

// threatValues is a threat.* field as the encoder writes it: the distinct
// non-empty values, in order, that each calls add with for every threat of
// every rule.
func threatValues(rs []*ecs.Rule, each func(t *ecs.Threat, add func(string))) Value {
	if len(rs) == 0 {
		return Value{}
	}
	var vs []string
	add := func(v string) {
		if v != "" && !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	for _, r := range rs {
		if r == nil {
			continue
		}
		for i := range r.Threat {
			each(&r.Threat[i], add)
		}
	}
	if len(vs) == 1 {
		return StringValue(vs[0])
	}
	return StringsValue(vs)
}
