package rules

import (
	"crypto/sha1" //nolint:gosec // UUID version 5 is defined with SHA-1 (RFC 9562); not a security use.
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/eql"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// ruleFile is the part of Elastic's detection-rules TOML format spawnbeat
// reads. Unknown keys (note, setup, from, integration, ...) are ignored.
type ruleFile struct {
	Metadata struct {
		CreationDate string `toml:"creation_date"`
		UpdatedDate  string `toml:"updated_date"`
		Maturity     string `toml:"maturity"`
		Version      *int64 `toml:"version"`
	} `toml:"metadata"`
	Rule struct {
		RuleID            string       `toml:"rule_id"`
		UUID              string       `toml:"uuid"`
		Name              string       `toml:"name"`
		Description       string       `toml:"description"`
		Type              string       `toml:"type"`
		Language          string       `toml:"language"`
		Query             string       `toml:"query"`
		RiskScore         float64      `toml:"risk_score"`
		Severity          string       `toml:"severity"`
		References        []string     `toml:"references"`
		Author            []string     `toml:"author"`
		License           string       `toml:"license"`
		Version           *int64       `toml:"version"`
		Index             []string     `toml:"index"`
		Tags              []string     `toml:"tags"`
		TimestampOverride string       `toml:"timestamp_override"`
		Threat            []threatTOML `toml:"threat"`
	} `toml:"rule"`
}

type threatTOML struct {
	Framework string          `toml:"framework"`
	Tactic    refTOML         `toml:"tactic"`
	Technique []techniqueTOML `toml:"technique"`
}

type techniqueTOML struct {
	ID           string    `toml:"id"`
	Name         string    `toml:"name"`
	Reference    string    `toml:"reference"`
	Subtechnique []refTOML `toml:"subtechnique"`
}

type refTOML struct {
	ID        string `toml:"id"`
	Name      string `toml:"name"`
	Reference string `toml:"reference"`
}

// UnsupportedError is returned by Parse for a rule that parsed but cannot
// run inline. It wraps ErrUnsupported and the reason; it is not modified
// once returned and is safe to share.
type UnsupportedError struct {
	Rule   Unsupported
	Reason error
}

// Error names the file, the rule and the reason.
func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s: rule %s (%s) unsupported: %s", e.Rule.File, e.Rule.RuleID, e.Rule.Name, e.Rule.Reason)
}

// Unwrap returns ErrUnsupported and the reason.
func (e *UnsupportedError) Unwrap() []error { return []error{ErrUnsupported, e.Reason} }

// Parse decodes and compiles one rule file. name is used in positions
// (FILE:LINE:COL) and as Rule.File. builtin marks embedded rules.
//
// The error is a *Problem (errors.Is ErrSyntax or ErrInvalid) or an
// *UnsupportedError (errors.Is ErrUnsupported).
func Parse(name string, data []byte, builtin bool) (*Rule, error) {
	text := string(data)
	var f ruleFile
	if _, err := toml.Decode(text, &f); err != nil {
		return nil, tomlProblem(name, text, err)
	}
	lay := scanLayout(text)
	r := &f.Rule
	version := int64(1)
	switch {
	case r.Version != nil:
		version = *r.Version
	case f.Metadata.Version != nil:
		version = *f.Metadata.Version
	}
	ver := strconv.FormatInt(version, 10)
	problem := func(key string, cause error, format string, args ...any) *Problem {
		line, col := lay.keyPosition(key)
		return &Problem{
			File: name, Line: line, Col: col, Msg: fmt.Sprintf(format, args...),
			RuleID: r.RuleID, Name: r.Name, Version: ver, Err: cause,
		}
	}
	switch {
	case r.RuleID == "":
		return nil, problem("rule.rule_id", ErrInvalid, "missing rule.rule_id")
	case r.Name == "":
		return nil, problem("rule.name", ErrInvalid, "missing rule.name")
	}
	unsupported := func(reason string, cause error) error {
		return &UnsupportedError{
			Rule:   Unsupported{File: name, RuleID: r.RuleID, Name: r.Name, Version: ver, Reason: reason},
			Reason: cause,
		}
	}
	if r.Type != "eql" {
		return nil, unsupported(fmt.Sprintf("rule type %q (only eql runs inline)", r.Type), ErrUnsupported)
	}
	if r.Language != "" && r.Language != "eql" {
		return nil, unsupported(fmt.Sprintf("query language %q", r.Language), ErrUnsupported)
	}
	if strings.TrimSpace(r.Query) == "" {
		return nil, problem("rule.query", ErrInvalid, "missing rule.query")
	}
	sev := ecs.SeverityNumber(r.Severity)
	if sev == 0 {
		return nil, problem("rule.severity", ErrInvalid, "rule.severity %q: want low, medium, high or critical", r.Severity)
	}
	if r.RiskScore < 0 || r.RiskScore > 100 {
		return nil, problem("rule.risk_score", ErrInvalid, "rule.risk_score %v: want 0 to 100", r.RiskScore)
	}

	st, err := eql.ParseStatement(r.Query)
	if err != nil {
		if errors.Is(err, eql.ErrUnsupported) {
			return nil, unsupported(err.Error(), err)
		}
		var se *eql.SyntaxError
		if errors.As(err, &se) {
			p := problem("rule.query", errors.Join(ErrSyntax, err), "EQL: %s", se.Msg)
			if line, col, ok := lay.queryPosition(r.Query, se.Line, se.Col); ok {
				p.Line, p.Col = line, col
			}
			return nil, p
		}
		return nil, problem("rule.query", errors.Join(ErrSyntax, err), "EQL: %v", err)
	}
	compileProblem := func(err error) error {
		var ce *engine.CompileError
		if !errors.As(err, &ce) {
			return problem("rule.query", errors.Join(ErrInvalid, err), "EQL compile: %v", err)
		}
		if errors.Is(err, engine.ErrUnsupported) {
			return unsupported(fmt.Sprintf("%d:%d: %s", ce.Pos.Line, ce.Pos.Col, ce.Msg), err)
		}
		msg := ce.Msg
		if ce.Name != "" {
			msg = ce.Name + ": " + msg
		}
		if ce.Err != nil {
			msg += ": " + ce.Err.Error()
		}
		p := problem("rule.query", errors.Join(ErrInvalid, err), "EQL compile: %s", msg)
		if line, col, ok := lay.queryPosition(r.Query, ce.Pos.Line, ce.Pos.Col); ok {
			p.Line, p.Col = line, col
		}
		return p
	}
	rule := &Rule{File: name, Builtin: builtin, Query: r.Query}
	switch q := st.(type) {
	case *eql.Query:
		if rule.ECS, err = engine.Compile[*ecs.Event](q, engine.ECS()); err != nil {
			return nil, compileProblem(err)
		}
		if rule.JSON, err = engine.Compile[map[string]any](q, engine.JSON()); err != nil {
			return nil, compileProblem(err)
		}
		rule.Unresolved = unresolved(rule.ECS.Unresolved(), lay, r.Query)
	case *eql.Sequence:
		if rule.ECSSequence, err = engine.CompileSequence[*ecs.Event](q, engine.ECS()); err != nil {
			return nil, compileProblem(err)
		}
		if rule.JSONSequence, err = engine.CompileSequence[map[string]any](q, engine.JSON()); err != nil {
			return nil, compileProblem(err)
		}
		rule.Unresolved = unresolved(rule.ECSSequence.Unresolved(), lay, r.Query)
	}

	meta := &ecs.Rule{
		ID:          r.RuleID,
		UUID:        r.UUID,
		Name:        r.Name,
		Version:     ver,
		Description: strings.TrimSpace(r.Description),
		Author:      strings.Join(r.Author, ", "),
		License:     r.License,
		Ruleset:     "custom",
		RiskScore:   r.RiskScore,
		Severity:    r.Severity,
		Threat:      threats(r.Threat),
	}
	if meta.UUID == "" {
		meta.UUID = stableUUID(r.RuleID, ver)
	}
	if len(r.References) > 0 {
		meta.Reference = r.References[0]
	}
	switch {
	case isElastic(r.Author, r.License):
		meta.Ruleset = "elastic"
	case builtin:
		meta.Ruleset = "spawnbeat" // spawnbeat's own rules
	}
	rule.idLine, rule.idCol = lay.keyPosition("rule.rule_id")
	rule.Meta = meta
	return rule, nil
}

// unresolved places the fields the engine does not fill in the file and
// looks for the fields a misspelt name may have meant.
func unresolved(fs []engine.UnresolvedField, lay *layout, query string) []UnresolvedField {
	if len(fs) == 0 {
		return nil
	}
	out := make([]UnresolvedField, len(fs))
	for i, f := range fs {
		out[i] = UnresolvedField{Field: f.Name, Optional: f.Optional, Similar: similarFields(f.Name)}
		if line, col, ok := lay.queryPosition(query, f.Pos.Line, f.Pos.Col); ok {
			out[i].Line, out[i].Col = line, col
		}
	}
	return out
}

// tomlProblem turns a BurntSushi/toml error into a positioned Problem.
// Syntax errors are toml.ParseError with a position; type mismatches found
// while decoding are plain errors, `toml: line N (last key "K"): message`,
// placed here at key K.
func tomlProblem(name, text string, err error) *Problem {
	p := &Problem{File: name, Line: 1, Col: 1, Msg: err.Error(), Err: errors.Join(ErrSyntax, err)}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		p.Line, p.Col = max(pe.Position.Line, 1), max(pe.Position.Col, 1)
		p.Msg = "TOML: " + pe.Message
		if pe.LastKey != "" {
			p.Msg += " (last key " + strconv.Quote(pe.LastKey) + ")"
		}
		return p
	}
	msg, ok := strings.CutPrefix(err.Error(), "toml: ")
	if !ok {
		return p
	}
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ' '); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, rest[i+1:]
			}
		}
	}
	if rest, ok := strings.CutPrefix(msg, "(last key "); ok {
		if i := strings.Index(rest, "): "); i > 0 {
			if key, err := strconv.Unquote(rest[:i]); err == nil {
				p.Msg = "TOML: " + rest[i+3:] + " (last key " + rest[:i] + ")"
				l := scanLayout(text)
				if _, found := l.keys[key]; found || line == 0 {
					p.Line, p.Col = l.keyPosition(key)
					return p
				}
			}
		}
	}
	if line > 0 {
		p.Line, p.Col = line, 1
	}
	return p
}

func isElastic(authors []string, license string) bool {
	for _, a := range authors {
		if a == "Elastic" {
			return true
		}
	}
	// Elastic's own files spell it both ways ("License" and "Licence").
	return strings.HasPrefix(license, "Elastic Licen")
}

func threats(in []threatTOML) []ecs.Threat {
	if len(in) == 0 {
		return nil
	}
	out := make([]ecs.Threat, 0, len(in))
	for _, t := range in {
		th := ecs.Threat{
			Framework: t.Framework,
			Tactic:    ecs.Ref(t.Tactic),
		}
		for _, tech := range t.Technique {
			th.Technique = append(th.Technique, ecs.Ref{ID: tech.ID, Name: tech.Name, Reference: tech.Reference})
			for _, sub := range tech.Subtechnique {
				th.Subtechnique = append(th.Subtechnique, ecs.Ref(sub))
			}
		}
		out = append(out, th)
	}
	return out
}

// uuidNamespace is the namespace of the name-based UUIDs spawnbeat derives
// for rules without one; fixed so that a rule keeps its UUID across hosts
// and restarts.
const uuidNamespace = "\x6b\x1e\x3a\x52\x9d\x4f\x4c\x0e\x8a\x61\x2f\x55\x0c\x7d\x93\x10"

// stableUUID derives a version 5 UUID (RFC 9562) from the rule_id and the
// version.
func stableUUID(ruleID, version string) string {
	h := sha1.New() //nolint:gosec // see import
	h.Write([]byte(uuidNamespace))
	h.Write([]byte(ruleID))
	h.Write([]byte{0})
	h.Write([]byte(version))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[b>>4], hex[b&0x0f])
	}
	return string(out)
}
