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
//   - ?field (an optional field) reads the same as field. The difference
//     is at the mapping: Elasticsearch accepts a query only if every field
//     it names is mapped (explicitly, dynamically or at run time) in some
//     searched index, and refuses it as a whole otherwise, with a
//     verification error "Unknown column [x]" (and "did you mean [y]?");
//     ?x is replaced by null where no index maps it, so the query runs
//     (reference, https://www.elastic.co/docs/reference/query-languages/eql/eql-syntax,
//     "Optional fields": "If an EQL query contains a field that doesn't
//     exist, it returns an error. ... If an optional field doesn't exist,
//     the query replaces it with null instead of returning an error";
//     source: x-pack/plugin/eql/src/test/.../analysis/VerifierTests.java,
//     testMissingColumn, "1:11: Unknown column [xxx]", and testQueryOk,
//     accept("file where ?foo == 123"); added by elastic/elasticsearch#79677,
//     commit d4bf2dc8). The fields a Resolver fills are spawnbeat's
//     mapping: a field it never fills compiles to "always missing" (so
//     `not x == "v"` always holds), and Program.Unresolved and
//     Sequence.Unresolved list it with its place and whether every
//     reference wrote ?x. The agent warns about such a field when it loads
//     a rule, and `spawnbeat rules check --strict` refuses it, as
//     Elasticsearch would, unless the rule writes ?x.
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
// Value reader; the ECS resolver, generated from _meta/fields.yml, does for
// every keyword and numeric field, so the common leaves (==, in, :, like on
// process.name, process.args, ...) read struct fields without building a
// Value.
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
//
// # Sequences
//
// CompileSequence turns a parsed sequence into a Sequence; Eval runs one
// document through it, inline, in the order documents arrive (capture
// emits them in the kernel's order), against the partial sequences held
// in a Tracker. Elasticsearch runs a sequence by querying each step and
// matching the hits in @timestamp order; spawnbeat sees each event once,
// when it happens, and decides then. The semantics are Elasticsearch's
// (reference: https://www.elastic.co/docs/reference/query-languages/eql/eql-syntax,
// "Sequences" and "How sequence queries handle matches"; source:
// x-pack/plugin/eql/src/main/java/org/elasticsearch/xpack/eql/, below
// abbreviated to eql/), decision by decision:
//
//   - Steps. Each step's filter is a single-event query with the semantics
//     above. `with runs=N` is the step written N times in a row (reference,
//     "with runs statement"; parser/LogicalPlanBuilder expands it), N from 1
//     to 100; a sequence has at least two steps once runs are counted,
//     until not counted.
//   - One partial sequence per join key and step. A step's event takes the
//     partial sequence waiting at the step before it, with the same join
//     key, and moves it on; a newer partial sequence at a step replaces the
//     older one (reference, "How sequence queries handle matches": "If two
//     pending sequences are in the same state at the same time, the most
//     recent sequence overwrites the older one"). In the source,
//     execution/sequence/SequenceMatcher.match calls OrdinalGroup.trimBefore,
//     which takes the latest partial sequence before the event and drops it
//     with every older one; processing events in order, keeping only the
//     latest per step is the same.
//   - Order. A step takes only a partial sequence whose last event came
//     strictly before (OrdinalGroup.findBefore compares with < 0): one
//     document never fills two steps of one sequence, but it may complete
//     or advance one sequence and start another, as with runs (e1 e2 e3 e4
//     under runs=3 complete [e1 e2 e3] and [e2 e3 e4]). Eval works from the
//     last step to the first, so each step sees only what came before.
//     The order is arrival order; Elasticsearch's is @timestamp, then its
//     tiebreaker. They differ only where @timestamp runs backwards against
//     arrival: the kernel's events from different CPUs can, by
//     microseconds, for events that close together.
//   - Join keys. `sequence by` keys come first in every step's key, then
//     the step's own `by` keys; steps may name different fields in the
//     same positions, and must have as many (reference, "by keyword";
//     LogicalPlanBuilder: "Inconsistent number of join keys"). Keys join
//     when equal as values (execution/sequence/SequenceKey.equals,
//     Arrays.deepEquals): case-sensitive, a number is not its text, a
//     multi-valued field equals the same list, a one-element array its
//     element.
//   - Missing and null keys. A join key that is not optional must be
//     non-null: an event without it takes no part in that step. An
//     optional key (`by ?field`) may be null, and null joins null
//     (reference, "Optional by fields": "By default, a join key must be a
//     non-null field value"; elastic/elasticsearch#79677, commit d4bf2dc8:
//     "optional fields as keys can have null as a value, whereas
//     non-optional fields will be restricted to non-null values only").
//   - maxspan. The first and the last event's @timestamp are at most
//     maxspan apart, bound included: SequenceMatcher.exceedsMaxSpan rejects
//     only delta > maxspan, measured from the sequence's first event
//     (startOrdinal) at every step. @timestamp counts in milliseconds, as a
//     `date` field keeps it (spawnbeat's template maps @timestamp as date;
//     execution/search/Timestamp reads epoch milliseconds): 0.9 ms and
//     1000.4 ms are 1 s apart. Units ms, s, m, h, d; a positive whole
//     number (LogicalPlanBuilder.visitSequenceParams).
//   - until. An until event cancels the partial sequences of its own join
//     key, computed from until's `by` fields (eql/execution/sequence/
//     KeyToSequences keeps until events per key). It cancels a partial
//     sequence whose last event is the until event itself, since
//     Ordinal.between is inclusive at both ends, but not the sequence the
//     until event completes, since UntilGroup.before looks only at until
//     events strictly before the completing one. So a document may
//     complete a sequence and be an until event; everything it started or
//     advanced for that key is cancelled (reference, "until keyword": A B C
//     matches [A B], A C B does not).
//   - @timestamp. Elasticsearch requires a timestamp on every event
//     (reference, "Required fields"); a document without one takes no part.
//   - Missing events (`![...]`) parse but do not run inline: a trailing one
//     is decided only once maxspan has passed after the last step, after
//     the document that would carry the alert has gone; CompileSequence
//     returns a CompileError wrapping ErrUnsupported.
//
// Bounds, spawnbeat's own (Elasticsearch bounds a search by its result
// size and circuit breaker instead): a Tracker drops a partial sequence
// once more than maxspan has passed since its first event (Limits.MaxSpan
// for a query without maxspan), and holds at most Limits.MaxPending. Past
// that, the partial sequence waiting at the earliest step, the one that
// has waited there longest, is evicted; when every held one has gone
// beyond the first step, the new first step is dropped instead. So a flood
// of first steps evicts only first steps, oldest first, and never a
// partial sequence that has matched more; every eviction is counted.
//
// Cost: a document that matches no step evaluates the first step of each
// sequence, and a later step only where a partial sequence waits at the
// step before it; it allocates nothing. One that starts or advances a
// sequence copies its id and join key strings (two allocations, plus one
// for a new key entry and one for a new partial sequence when none is
// free for reuse); one that completes a sequence allocates the slice of
// earlier ids.
package engine
