package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
	"github.com/spawnbeat/spawnbeat/module/detection/rules"
)

// maxEventLine bounds one input line of `rules test`.
const maxEventLine = 64 << 20

// maxTestPending bounds the partial sequences of a rule in `rules test`:
// the largest spawnbeat.detection.sequences.max_pending.
const maxTestPending = 1 << 20

// newRulesCommand builds `spawnbeat rules list|check|test`.
func newRulesCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List, check and test detection rules",
		Long: `List, check and test detection rules.

A PATH is a rule file (Elastic detection-rules TOML), a directory (its *.toml
files) or a glob (quote it so that the shell leaves it alone). Exit status: 0
when every rule loads, 1 when a rule file has a problem (each is printed as
PATH:LINE:COL: message on stderr), 2 for a usage error.`,
		Args:          noArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError(errors.New("rules: missing subcommand (list, check or test)"))
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	cmd.AddCommand(newRulesListCommand(g), newRulesCheckCommand(), newRulesTestCommand())
	return cmd
}

func newRulesListCommand(g *globals) *cobra.Command {
	var (
		paths   []string
		builtin bool
	)
	cmd := &cobra.Command{
		Use:   "list [--rules PATH]... [--builtin=false]",
		Short: "List the rules that would be loaded, with their status",
		Long: `List the rules spawnbeat would load: the built-in rules (unless
--builtin=false) and those of every --rules PATH; without --rules, those the
configuration names (spawnbeat.detection.rules: an installed agent's
/etc/spawnbeat/rules.d). One rule a line, in columns:
RULE_ID, VERSION, NAME, STATUS and WARNINGS. STATUS is "loaded" (with
"replaces built-in" when a user rule takes a built-in's place), "unsupported:
REASON" (for example a sample query), or "error: PATH:LINE:COL: message".
A sequence rule's STATUS is "loaded, sequence".
WARNINGS names the fields a rule references that spawnbeat never fills
(?field for those the rule writes optional).
Exit status 1 when any rule file has an error.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("rules") {
				cfg, err := g.load(cmd)
				if err != nil {
					return &exitError{Code: statusError, Err: fmt.Errorf("rules list: %w", err)}
				}
				paths = cfg.Spawnbeat.Detection.Rules
				if !cmd.Flags().Changed("builtin") {
					builtin = cfg.Spawnbeat.Detection.Builtin
				}
			}
			set, _ := rules.Load(rules.Options{Paths: paths, DisableBuiltin: !builtin}, nil)
			if err := writeList(cmd.OutOrStdout(), set); err != nil {
				return &exitError{Code: statusError, Err: fmt.Errorf("rules list: %w", err)}
			}
			if n := len(set.Problems()); n > 0 {
				return &exitError{Code: statusError, Err: fmt.Errorf("rules list: %d rule file problem(s)", n)}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&paths, "rules", nil, "rule file, directory or glob (repeatable)")
	cmd.Flags().BoolVar(&builtin, "builtin", true, "include the built-in rules")
	return cmd
}

func writeList(w io.Writer, set *rules.Set) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE_ID\tVERSION\tNAME\tSTATUS\tWARNINGS")
	for _, r := range set.Rules() {
		status := "loaded"
		if r.IsSequence() {
			status += ", sequence"
		}
		if r.Replaces != "" {
			status += ", replaces built-in"
		}
		warn := ""
		if len(r.Unresolved) > 0 {
			names := make([]string, len(r.Unresolved))
			for i, f := range r.Unresolved {
				names[i] = f.Field
				if f.Optional {
					names[i] = "?" + f.Field
				}
			}
			warn = "unresolved fields: " + strings.Join(names, ", ")
		}
		row(tw, r.Meta.ID, r.Meta.Version, r.Meta.Name, status, warn)
	}
	for _, u := range set.Unsupported() {
		row(tw, u.RuleID, u.Version, u.Name, "unsupported: "+oneLine(u.Reason), "")
	}
	for _, p := range set.Problems() {
		row(tw, orDash(p.RuleID), orDash(p.Version), orDash(p.Name), "error: "+oneLine(p.Error()), "")
	}
	return tw.Flush()
}

// row writes one line of the listing; an empty last column is left out so
// that lines carry no trailing blanks.
func row(w io.Writer, id, version, name, status, warnings string) {
	if warnings == "" {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", id, version, name, status)
		return
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", id, version, name, status, warnings)
}

// noArgs rejects positional arguments as a usage error (exit status 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(fmt.Errorf("%s: unexpected argument %q", cmd.CommandPath(), args[0]))
	}
	return nil
}

func newRulesCheckCommand() *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "check [--strict] PATH...",
		Short: "Parse and compile rule files",
		Long: `Parse and compile the rule files of every PATH (the built-in rules are
not included). Exit status 0 when all load; otherwise every problem is printed
on stderr as PATH:LINE:COL: message (an EQL error's position is the place in
the file) and the exit status is 1. Rules that cannot run inline (samples,
joins, pipes, sequences with missing events, other rule types) are reported as
notes on stderr and do not fail the check.

A field a rule references that spawnbeat never fills is a warning, placed at
its first reference: the rule loads, and every condition on the field sees a
missing field (so "not process.parnet.name == ..." excludes nothing). With
--strict it is an error and fails the check, as Elasticsearch refuses a query
that names a field no index maps ("Unknown column"). A field written ?field is
optional: Elasticsearch reads it as null where it is not mapped, and the check
notes it without failing.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(errors.New("rules check: at least one PATH is required"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			failed := 0
			for _, p := range args {
				// A glob that matches nothing is worth failing a check for.
				if files, err := rules.Expand(p); err == nil && len(files) == 0 {
					fmt.Fprintf(stderr, "%s: no rule files match\n", p)
					failed++
				}
			}
			set, _ := rules.Load(rules.Options{Paths: args, DisableBuiltin: true}, nil)
			for _, p := range set.Problems() {
				fmt.Fprintln(stderr, oneLine(p.Error()))
				failed++
			}
			for _, u := range set.Unsupported() {
				fmt.Fprintf(stderr, "%s: note: rule %s (%s) is not run: %s\n", u.File, u.RuleID, u.Name, oneLine(u.Reason))
			}
			for _, w := range set.Warnings() {
				kind := "warning"
				switch {
				case w.Optional:
					kind = "note"
				case strict:
					kind = "error"
					failed++
				}
				fmt.Fprintf(stderr, "%s: %s: %s\n", w.Place(), kind, w.Message())
			}
			if failed > 0 {
				return &exitError{Code: statusError, Err: fmt.Errorf("rules check: %d problem(s)", failed)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK: %d rules loaded, %d unsupported, from %d files\n",
				set.Len(), len(set.Unsupported()), len(set.Files()))
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on fields spawnbeat never fills that are not written ?field")
	return cmd
}

func newRulesTestCommand() *cobra.Command {
	var (
		paths   []string
		builtin bool
		events  string
	)
	cmd := &cobra.Command{
		Use:   "test [--rules PATH]... [--builtin=false] --events FILE",
		Short: "Run rules on JSON documents and print which rules match each",
		Long: `Run the rules on ECS documents, one JSON object a line, read from FILE
("-" reads stdin). Fields may be nested objects or dotted keys. As in
Elasticsearch, "process where" needs event.category to contain "process".

For every input line, in order, exactly one line is printed on stdout:
  {"line": N, "rule_ids": ["...", ...]}
N counts from 1 and rule_ids are sorted; [] when nothing matched. A blank line
matches nothing. A line that is not a JSON object is reported on stderr as
FILE:N: error (stdin is called "stdin"), still gets its {"line": N,
"rule_ids": []} line, and makes the exit status 1 at the end.

Sequence rules run across the documents in the file's order, as the agent
runs them in the order events arrive: the line of the document that
completes a sequence lists the rule, and names the sequence's earlier lines:
  {"line": N, "rule_ids": [...], "sequences": [{"rule_id": "...", "lines": [A, B]}]}
A sequence step needs @timestamp (RFC 3339 or epoch milliseconds), as in
Elasticsearch; documents without one are noted on stderr once and take no
part in sequences.

The built-in rules are included unless --builtin=false. A rule file that fails
to load is reported on stderr as PATH:LINE:COL: message, the other rules still
run, and the exit status is 1. Exit status 2: usage error (no --events, no
rules at all, unknown flag).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if events == "" {
				return usageError(errors.New("rules test: --events FILE is required"))
			}
			if !builtin && len(paths) == 0 {
				return usageError(errors.New("rules test: no rules: give --rules PATH or keep the built-in rules"))
			}
			return runRulesTest(cmd, paths, builtin, events)
		},
	}
	cmd.Flags().StringArrayVar(&paths, "rules", nil, "rule file, directory or glob (repeatable)")
	cmd.Flags().BoolVar(&builtin, "builtin", true, "include the built-in rules")
	cmd.Flags().StringVar(&events, "events", "", `file of JSON documents, one a line ("-" for stdin)`)
	return cmd
}

func runRulesTest(cmd *cobra.Command, paths []string, builtin bool, events string) error {
	stderr := cmd.ErrOrStderr()
	set, _ := rules.Load(rules.Options{Paths: paths, DisableBuiltin: !builtin}, nil)
	failed := 0
	for _, p := range set.Problems() {
		fmt.Fprintln(stderr, oneLine(p.Error()))
		failed++
	}

	in, name := cmd.InOrStdin(), "stdin"
	if events != "-" {
		f, err := os.Open(events)
		if err != nil {
			return &exitError{Code: statusError, Err: fmt.Errorf("rules test: open events: %w", err)}
		}
		defer f.Close()
		in, name = f, events
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	// Each sequence rule's partial sequences, with the line number as the
	// id of every document, so that a completion names its lines. The cap
	// is the largest the agent accepts: a test file should not lose a
	// partial sequence to a bound the agent's configuration may not have.
	trackers := make([]*engine.Tracker, set.Len())
	for i, r := range set.Rules() {
		if r.IsSequence() {
			trackers[i] = r.JSONSequence.NewTracker(engine.Limits{MaxPending: maxTestPending})
		}
	}
	var (
		ids       []string
		sequences []sequenceLines
		buf       []byte
		untimed   int
	)
	n := 0
	for sc.Scan() {
		n++
		ids, sequences = ids[:0], sequences[:0]
		line := sc.Bytes()
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var doc map[string]any
			switch err := json.Unmarshal(trimmed, &doc); {
			case trimmed[0] != '{' && json.Valid(trimmed):
				fmt.Fprintf(stderr, "%s:%d: not a JSON object\n", name, n)
				failed++
			case err != nil:
				fmt.Fprintf(stderr, "%s:%d: invalid JSON: %v\n", name, n, err)
				failed++
			default:
				if _, ok := doc["@timestamp"]; !ok && set.HasSequences() {
					if untimed == 0 {
						fmt.Fprintf(stderr, "%s:%d: note: no @timestamp: sequence rules skip this document (and any other without one)\n", name, n)
					}
					untimed++
				}
				for i, r := range set.Rules() { // sorted by rule_id
					if t := trackers[i]; t != nil {
						earlier, ok := r.JSONSequence.Eval(t, doc, strconv.Itoa(n))
						if !ok {
							continue
						}
						sequences = append(sequences, sequenceLines{ruleID: r.Meta.ID, lines: earlier})
					} else if !r.JSON.Match(doc) {
						continue
					}
					ids = append(ids, r.Meta.ID)
				}
			}
		}
		buf = appendResult(buf[:0], n, ids, sequences)
		if _, err := out.Write(buf); err != nil {
			return &exitError{Code: statusError, Err: fmt.Errorf("rules test: write: %w", err)}
		}
	}
	if err := sc.Err(); err != nil {
		_ = out.Flush()
		return &exitError{Code: statusError, Err: fmt.Errorf("rules test: read %s after line %d: %w", name, n, err)}
	}
	if err := out.Flush(); err != nil {
		return &exitError{Code: statusError, Err: fmt.Errorf("rules test: write: %w", err)}
	}
	if failed > 0 {
		return &exitError{Code: statusError, Err: fmt.Errorf("rules test: %d problem(s)", failed)}
	}
	return nil
}

// sequenceLines is a sequence a line completed: the rule and the line
// numbers of its earlier documents.
type sequenceLines struct {
	ruleID string
	lines  []string // decimal line numbers
}

// appendResult writes {"line": N, "rule_ids": [...]}, with "sequences" when
// the line completed some, and a newline.
func appendResult(b []byte, n int, ids []string, sequences []sequenceLines) []byte {
	b = append(b, `{"line": `...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `, "rule_ids": [`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ", "...)
		}
		q, _ := json.Marshal(id) // a string always marshals
		b = append(b, q...)
	}
	b = append(b, ']')
	if len(sequences) > 0 {
		b = append(b, `, "sequences": [`...)
		for i, s := range sequences {
			if i > 0 {
				b = append(b, ", "...)
			}
			q, _ := json.Marshal(s.ruleID)
			b = append(b, `{"rule_id": `...)
			b = append(b, q...)
			b = append(b, `, "lines": [`...)
			b = append(b, strings.Join(s.lines, ", ")...)
			b = append(b, "]}"...)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a message on one output line.
func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", " ")
}
