// Package engine owns the compilation and evaluation of EQL queries (parsed
// by package eql) over documents: compile once at rule load, then Match on
// every event. One Program type serves two document shapes through a
// Resolver: spawnbeat's typed *ecs.Event on the agent's hot path (ECS) and
// decoded JSON documents for offline testing (JSON). Both resolvers produce
// the same Value (missing, string, strings, number, bool), so the semantics
// below are shared.
//
// Semantics are Elasticsearch's, which runs a single-event EQL query as
// Query DSL (https://www.elastic.co/guide/en/elasticsearch/reference/current/eql-syntax.html,
// and in its source x-pack/plugin/eql …/planner/QueryTranslator.java and
// x-pack/plugin/ql …/planner/ExpressionTranslators.java):
//
//   - Every leaf (==, <, <=, >, >=, in, in~, :, like, like~, regex, regex~)
//     is a query that a missing field does not match. A multi-valued field
//     matches when any element matches.
//   - !=, not in, and not (…) are bool.must_not around the positive leaf:
//     they match when the field is missing, and `args != "x"` fails on
//     ["x","y"] because one element equals. There is no three-valued logic:
//     `not (a > 3)` matches when a is missing.
//   - `field == null` matches an absent field, `field != null` a present one
//     (Elasticsearch rewrites them to exists queries); <, >, … against null
//     never match.
//   - ==, !=, in, like and regex are case-sensitive; ":", in~, like~, regex~
//     and the ~ functions ignore case (Unicode lower-casing, with an ASCII
//     fast path that does not allocate).
//   - In ":" and like (and like~), * matches any run of characters and ?
//     exactly one. There is no escape: a backslash is an ordinary character
//     (Elasticsearch's StringUtils.toLikePattern escapes nothing, and
//     Elastic's rules match Windows paths and hex escapes with patterns such
//     as "?:\\Users\\*" and "*\\x*"). == never treats * as a wildcard.
//     ":" and like with a list match when any pattern matches. Patterns are
//     classified once at load time into exact, prefix, suffix, contains and
//     general glob matchers; long lists of exact strings become a set.
//   - regex and regex~ take Lucene regular expression syntax (Elasticsearch's
//     regexp query), anchored to the whole value. They are translated once
//     at load time into Go regexps; see translateLucene for the supported
//     operators (. ? * + {n,m} | () [] "literal" \d \s \w and negations, @,
//     #). Lucene's intersection &, complement ~ and interval <n-m> are
//     rejected with a CompileError.
//   - Numbers compare numerically. A string (keyword) field compared with a
//     number uses the number's text form, as Elasticsearch builds a keyword
//     term or range from it: user.id == 0 matches "0", and ranges are
//     lexicographic. A number field compared with a string parses the
//     string as a number, or matches nothing. Booleans compare only with
//     booleans (true is neither 1 nor "true"), and only with == and !=.
//   - Wildcard and regex patterns match only string values.
//   - Functions (add, between, cidrMatch, concat, divide, endsWith, indexOf,
//     length, modulo, multiply, number, startsWith, string, stringContains,
//     substring, subtract, and between~, endsWith~, indexOf~, startsWith~,
//     stringContains~) return null when an argument is null and take the
//     first element of a multi-valued argument. A function or field used
//     directly as a condition holds when it is the boolean true.
//   - divide() of two whole numbers truncates, as Elasticsearch does for
//     integers (the engine keeps numbers as float64 and cannot tell 7.0 from 7).
//   - null inside an in/":"/like list matches a missing field.
//   - ?field (an optional field) behaves like field: Elasticsearch only
//     relaxes the mapping check, and an absent field is missing either way.
//
// Operator by operator, on a missing field / on an array field (any element)
// / in negation:
//
//	a == v    false / some element equals v    / a != v: true on missing, false if some element equals
//	a < v …   false / some element compares     / not (a < v): true on missing
//	a in (…)  false / some element in the list  / a not in (…), not a in (…): true on missing
//	a in~ (…) false / likewise, ignoring case   / likewise
//	a : p     false / some element matches p    / not a : p: true on missing
//	a like p  false / some element matches p    / not: true on missing
//	a regex r false / some element matches r    / not: true on missing
//	a == null true  / false                     / a != null: present (any element)
//	f(a, …)   null (so every comparison with it is false, == null true)
//
// Evaluation: Compile turns the tree into closures over the document type,
// resolving every field once through the Resolver. A Resolver's Field may
// offer direct string, string-slice and number readers next to the general
// Value reader; the ECS resolver does for every string field and for pid and
// args_count, so the common leaves (==, in, :, like on process.name,
// process.args, ...) read struct fields without building a Value.
// Case-insensitive tests on ASCII values fold in place. The operands of an
// and are ordered by estimated cost and selectivity, tests on fields that
// are the same for every process event (host.os.type, event.type,
// event.action) last; the branches of an or keep their order. On the shared
// 2-core build machine (BenchmarkEval, CPU time of the benchmark thread) the
// Python-tty rule takes about 170-250 ns on a matching event and 30 ns on a
// non-matching one, and the 236 single-event Linux rules 8-15 µs per event,
// all with 0 allocations.
//
// A Program is immutable and safe for concurrent use. Match does not
// allocate on the ECS path except for the string-building functions
// (concat, string), timestamps compared as strings, and case-insensitive
// tests on non-ASCII or very long (>512 byte) values.
package engine
