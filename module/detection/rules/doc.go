// Package rules loads detection rules written in Elastic's detection-rules
// TOML format ([metadata], [rule] with rule_id, name, type = "eql", query,
// risk_score, severity, [[rule.threat]]) and compiles their EQL queries with
// module/detection/eql and module/detection/engine.
//
// It owns the built-in rule set (embedded in the binary), the expansion of
// user rule paths (files, directories of *.toml, globs), the precedence
// between built-in and user rules, the reporting of every problem with the
// place it was found (FILE:LINE:COL, with an EQL error's position translated
// from the query string to the file), the fields rules name that spawnbeat
// never fills (placed in the file, with the declared fields a typo away;
// Set.Log reports them at start and on every reload), the Watcher that
// rebuilds the rule set when rule files change, and Set.ExecMatches, the
// process and parent names an exec needs for the set's rules to match it
// (what lets the kernel wake the agent only for such execs). A Set is
// immutable once built; module/detection evaluates it on the hot path.
package rules
