package rules

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// Sentinel errors of the package; compare with errors.Is.
var (
	// ErrSyntax marks a TOML syntax error or an EQL syntax error in a query.
	ErrSyntax = errors.New("syntax error")
	// ErrInvalid marks a rule that parses but cannot be used: a missing
	// rule_id, name or query, a bad severity, a query that does not compile.
	ErrInvalid = errors.New("invalid rule")
	// ErrDuplicate marks a rule_id defined by two user files.
	ErrDuplicate = errors.New("duplicate rule_id")
	// ErrUnsupported marks a rule spawnbeat cannot run inline (a type other
	// than eql, a sample, join or pipe, a sequence with missing events).
	// Such a rule is listed, not failed.
	ErrUnsupported = errors.New("unsupported rule")
	// ErrNoMatch marks a literal rule path that does not exist.
	ErrNoMatch = errors.New("no rule file")
	// ErrPermissions marks a rule file refused by Options.StrictPerms.
	ErrPermissions = errors.New("unsafe rule file permissions")
)

// Rule is one loaded, compiled rule. It is immutable once loaded and safe
// for concurrent use; events point at Meta and never modify it.
type Rule struct {
	Meta    *ecs.Rule // rule.* and threat.* of an alert
	File    string    // the file it came from ("builtin/NAME.toml" for built-ins)
	Builtin bool      // embedded in the binary
	Query   string    // EQL text as written in the file

	// Replaces is the file of the built-in rule this user rule overrides, or "".
	Replaces string

	// ECS evaluates a single-event rule on spawnbeat's typed documents (the
	// hot path); nil for a sequence rule.
	ECS *engine.Program[*ecs.Event]
	// JSON evaluates a single-event rule on decoded JSON documents (rules
	// test); nil for a sequence rule.
	JSON *engine.Program[map[string]any]
	// ECSSequence and JSONSequence are a sequence rule's compiled query on
	// the same two document types; nil for a single-event rule. Their
	// partial matches live in an engine.Tracker each evaluator owns.
	ECSSequence  *engine.Sequence[*ecs.Event]
	JSONSequence *engine.Sequence[map[string]any]

	// Unresolved lists the fields the query references that spawnbeat
	// never fills, sorted: the rule loads, but every condition on them
	// sees a missing field (a negated one is then always true).
	Unresolved []UnresolvedField

	idLine, idCol int // where rule_id is set, for duplicate reports
}

// Problem is a rule file that could not be loaded, with the place in the
// file. Its Error() is "FILE:LINE:COL: message", or "FILE: message" for a
// problem with the whole file (unreadable, missing). Problems wrap one of
// ErrSyntax, ErrInvalid, ErrDuplicate, ErrNoMatch, ErrPermissions, or the
// I/O or glob-pattern error behind them. A Problem is not modified once
// returned and is safe to share between goroutines.
type Problem struct {
	File      string
	Line, Col int // 1-based; 0 when the problem concerns the whole file
	Msg       string
	RuleID    string // when known
	Name      string // when known
	Version   string // when known
	Err       error  // the sentinel and cause, for errors.Is/As
}

// Error formats the problem as FILE:LINE:COL: message.
func (p *Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
}

// Unwrap returns the sentinel and the cause.
func (p *Problem) Unwrap() error { return p.Err }

// Unsupported is a rule that parsed but cannot run inline. It is a plain
// value, safe to copy and share.
type Unsupported struct {
	File    string
	RuleID  string
	Name    string
	Version string
	Reason  string // e.g. the EQL parser's "1:1: sample: unsupported EQL construct", or `rule type "threshold" ...`
}

// UnresolvedField is a field a rule's query references that spawnbeat
// never fills. It is a plain value, safe to copy and share.
type UnresolvedField struct {
	Field string
	// Optional is true when the query writes it ?field everywhere: the rule
	// allows for its absence, and Elasticsearch reads such a field as null
	// where no index maps it. A field neither mapped nor optional makes
	// Elasticsearch refuse the whole query ("Unknown column").
	Optional bool
	// Line and Col place the first reference in the file (the first not
	// written ?field, unless Optional); 0 when it could not be placed.
	Line, Col int
	// Similar lists fields spawnbeat fills whose names are a typo away,
	// closest first: what a misspelt name may have meant.
	Similar []string
}

// Warning is an unresolved field of a loaded rule, with the rule. It is a
// plain value, safe to copy and share.
type Warning struct {
	File   string
	RuleID string
	Name   string
	UnresolvedField
}

// Place is FILE:LINE:COL, or FILE when the reference was not placed.
func (w Warning) Place() string {
	if w.Line == 0 {
		return w.File
	}
	return fmt.Sprintf("%s:%d:%d", w.File, w.Line, w.Col)
}

// Message says what the warning means, without its place.
func (w Warning) Message() string {
	if w.Optional {
		return fmt.Sprintf("rule %s (%s) references ?%s, which spawnbeat never fills: it reads as null", w.RuleID, w.Name, w.Field)
	}
	msg := fmt.Sprintf("rule %s (%s) references %s, which spawnbeat never fills", w.RuleID, w.Name, w.Field)
	if len(w.Similar) > 0 {
		msg += " (did you mean " + strings.Join(w.Similar, " or ") + "?)"
	}
	return msg + "; every condition on it sees a missing field: write ?" + w.Field + " if the rule allows for that"
}

// String formats the warning as PLACE: MESSAGE.
func (w Warning) String() string { return w.Place() + ": " + w.Message() }

// Set is a loaded rule set: the compiled rules, the problems, the
// unsupported rules and the warnings. It is immutable once built and safe
// for concurrent use; the slices its methods return are shared and must
// not be modified.
type Set struct {
	rules       []*Rule
	byID        map[string]*Rule
	problems    []*Problem
	unsupported []Unsupported
	warnings    []Warning
	files       []string
	digest      [32]byte // of the user files' names and bytes, to skip no-op reloads
}

func newSet(rs []*Rule, problems []*Problem, unsupported []Unsupported, files []string) *Set {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Meta.ID < rs[j].Meta.ID })
	s := &Set{
		rules:       rs,
		byID:        make(map[string]*Rule, len(rs)),
		problems:    problems,
		unsupported: unsupported,
		files:       files,
	}
	for _, r := range rs {
		s.byID[r.Meta.ID] = r
		for _, f := range r.Unresolved {
			s.warnings = append(s.warnings, Warning{File: r.File, RuleID: r.Meta.ID, Name: r.Meta.Name, UnresolvedField: f})
		}
	}
	return s
}

// IsSequence reports whether r is a sequence rule (ECSSequence and
// JSONSequence set) rather than a single-event one (ECS and JSON set).
func (r *Rule) IsSequence() bool { return r.ECSSequence != nil }

// Rules returns the compiled rules, sorted by rule_id.
func (s *Set) Rules() []*Rule { return s.rules }

// HasSequences reports whether some rule of the set is a sequence.
func (s *Set) HasSequences() bool {
	for _, r := range s.rules {
		if r.IsSequence() {
			return true
		}
	}
	return false
}

// Len is the number of compiled rules.
func (s *Set) Len() int { return len(s.rules) }

// Lookup returns the rule with the given rule_id, or nil.
func (s *Set) Lookup(ruleID string) *Rule { return s.byID[ruleID] }

// Problems returns the files or rules that failed to load, in load order.
func (s *Set) Problems() []*Problem { return s.problems }

// Unsupported returns the rules that parsed but cannot run inline.
func (s *Set) Unsupported() []Unsupported { return s.unsupported }

// Warnings returns the unresolved fields of the loaded rules, by rule_id
// and field; those written ?field have Optional set.
func (s *Set) Warnings() []Warning { return s.warnings }

// Log reports, for whoever runs the set, the rules that cannot run inline
// (Info) and the fields rules reference that spawnbeat never fills: Warn
// for each one not written ?field, naming the file, the place, the rule
// and the field, Debug for the optional ones. The agent calls it when it
// starts and on every reload.
func (s *Set) Log(log *zap.Logger) {
	for _, u := range s.unsupported {
		log.Info("rule not supported", zap.String("file", u.File), zap.String("rule.id", u.RuleID),
			zap.String("rule.name", u.Name), zap.String("reason", u.Reason))
	}
	for _, w := range s.warnings {
		level := zap.WarnLevel
		msg := "rule references a field spawnbeat never fills: every condition on it sees a missing field (write ?field if the rule allows for that)"
		if w.Optional {
			level, msg = zap.DebugLevel, "rule references an optional field spawnbeat never fills: it reads as null"
		}
		if ce := log.Check(level, msg); ce != nil {
			ce.Write(zap.String("file", w.File), zap.Int("line", w.Line), zap.Int("col", w.Col),
				zap.String("rule.id", w.RuleID), zap.String("rule.name", w.Name), zap.String("field", w.Field),
				zap.Strings("similar", w.Similar))
		}
	}
}

// Files returns the user rule files that were read, in load order.
func (s *Set) Files() []string { return s.files }

// Err joins every problem, or returns nil when the set loaded cleanly.
// Unsupported rules and warnings are not errors.
func (s *Set) Err() error {
	if len(s.problems) == 0 {
		return nil
	}
	errs := make([]error, len(s.problems))
	for i, p := range s.problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}
