// Package detection runs the detection rules inline, on every process
// document, milliseconds after the exec. It owns the Detector: the rule set
// in force (swapped atomically when the rules.Watcher reloads), the in-place
// turning of a matching document into an alert (event.kind "alert", rule.*,
// threat.* through ev.Rules, event.risk_score, event.severity and a
// readable message), the partial sequences of the sequence rules (one
// engine.Tracker per rule, kept across a reload that leaves the rule's
// query unchanged; the document that completes a sequence is the alert and
// names the earlier documents in ev.Sequences), and the counters the
// monitoring endpoint reports.
//
// Loading and compiling rules is module/detection/rules' job; evaluating
// one query is module/detection/engine's.
package detection
