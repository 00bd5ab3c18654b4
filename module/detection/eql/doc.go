// Package eql owns the lexer, parser and abstract syntax tree of the Elastic
// Event Query Language as Elastic's detection rules use it, following
// Elasticsearch's grammar (x-pack/plugin/eql/src/main/antlr/EqlBase.g4) and
// its reference (https://www.elastic.co/guide/en/elasticsearch/reference/current/eql-syntax.html).
//
// ParseStatement accepts single-event queries, `<category> where
// <condition>` and `any where <condition>`, and sequences:
//
//	sequence [by k1, k2...] [with maxspan=N(ms|s|m|h|d)]
//	  [q1] [by ...] [with runs=N]
//	  ![q2] [by ...]                  (a missing event)
//	  ...
//	[until [q] [by ...]]
//
// with Elasticsearch's checks: at least two steps once runs are expanded
// (until not counted), runs from 1 to 100, the same number of join keys on
// every step and on until, join keys that are fields (?field for one that
// may be null), a positive whole maxspan, "by" before "with", and maxspan
// whenever a step is a missing event. Parse is the single-event form: it
// refuses a sequence. Samples, joins and pipes are recognised and rejected
// with an error wrapping ErrUnsupported that carries the position of their
// keyword, so that a rule loader can tell "valid EQL this agent cannot run"
// from a syntax error.
//
// Syntax covered:
//   - and, or, not with the precedence not > and > or; parentheses;
//   - == != < <= > >= between value expressions;
//   - predicates `:`, like, like~, regex, regex~ with one constant or a
//     parenthesised list of constants; in, in~, not in with a list of
//     expressions; `not field in (...)` is the logical not of the in;
//   - field names with dots, @timestamp, `backquoted names` (a doubled
//     backquote is a literal one), ?optional fields;
//   - null, true, false, integers, decimals with exponents, negative numbers
//     (unary minus), + - * / % arithmetic;
//   - strings in double quotes with the escapes \" \' \\ \b \f \n \r \t and
//     \u{X..X} (2 to 8 hex digits); raw strings """...""" and ?"..." where a
//     backslash is literal; single-quoted strings are an error, as in
//     Elasticsearch;
//   - function calls name(args) and name~(args) for the case-insensitive
//     variants; the parser accepts any name, the engine checks names and
//     arity;
//   - // line and /* block */ comments.
//
// Nesting is bounded (MaxDepth) so that hostile input cannot exhaust the
// stack.
package eql
