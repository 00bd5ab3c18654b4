package ecs

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Constant values of every document.
const (
	// Dataset is event.dataset and data_stream.dataset.
	Dataset = "spawnbeat.process"
	// Module is event.module.
	Module = "spawnbeat"
	// DataStreamType is data_stream.type.
	DataStreamType = "logs"
	// DefaultNamespace is data_stream.namespace when Event.Namespace is empty.
	DefaultNamespace = "default"
)

// DataStreamNamespace is data_stream.namespace: e.Namespace, or
// DefaultNamespace when it is empty.
func (e *Event) DataStreamNamespace() string {
	if e.Namespace == "" {
		return DefaultNamespace
	}
	return e.Namespace
}

// AppendJSON appends e as one JSON document (nested objects, no trailing
// newline) to dst and returns the extended buffer. Only present fields are
// written (see Event); constants (event.category, event.dataset,
// event.module, ecs.version, data_stream.*) are always written.
//
// AppendJSON does not allocate when dst has room for the document, so a
// caller that reuses dst[:0] encodes with zero allocations per event. It does
// not modify e; call AssignID first if event.id should be set.
//
// rule.* fields are scalars when one rule matched and arrays of the distinct
// non-empty values, in rule order, when several did. threat.* fields are
// always arrays of the distinct values across all matching rules' threats,
// since a single rule may map to several techniques.
func (e *Event) AppendJSON(dst []byte) []byte { return e.appendJSON(dst, nil) }

// Encoder appends documents as AppendJSON does, but encodes the ecs, host
// and agent objects, the same in every document of a run, only when an
// event's Host or Agent is not the previous event's: they were a sixth of
// the encoding time. The zero value is ready; an Encoder is owned by one
// goroutine.
type Encoder struct {
	host  *Host  // of the memo; held, so that its address is not reused
	agent *Agent // likewise
	memo  []byte // ,"ecs":{…},"host":{…},"agent":{…}
}

// Append appends e as one JSON document to dst, like e.AppendJSON(dst).
func (enc *Encoder) Append(dst []byte, e *Event) []byte { return e.appendJSON(dst, enc) }

// constants returns the memo for e's host and agent.
func (enc *Encoder) constants(e *Event) []byte {
	if enc.memo == nil || enc.host != e.Host || enc.agent != e.Agent {
		// Written after "{" so that the first key takes no comma; the memo
		// starts with the one that follows the event object.
		w := writer{b: append(enc.memo[:0], '{')}
		w.constants(e.Host, e.Agent)
		w.b[0] = ','
		enc.host, enc.agent, enc.memo = e.Host, e.Agent, w.b
	}
	return enc.memo
}

func (e *Event) appendJSON(dst []byte, enc *Encoder) []byte {
	w := writer{b: dst}
	w.b = append(w.b, '{')

	w.time("@timestamp", e.Timestamp)
	w.meta(e) // never empty: event.category is always written
	if enc != nil {
		w.b = append(w.b, enc.constants(e)...)
	} else {
		w.constants(e.Host, e.Agent)
	}

	w.process(&e.Process)
	if e.Container.ID != "" {
		cm := w.open("container")
		w.str("id", e.Container.ID)
		sm := w.open("security_context")
		w.tristate("privileged", e.Container.Privileged)
		w.close(sm)
		w.close(cm)
	}

	// The effective user and group at the top level, as Elastic Defend
	// does, with the real ones under Ext.real (Defend's extension, which
	// Elastic's rules query).
	w.idWithReal("user", &e.Process.User, &e.Process.RealUser)
	w.idWithReal("group", &e.Process.Group, &e.Process.RealGroup)

	m := w.open("data_stream")
	w.str("type", DataStreamType)
	w.str("dataset", Dataset)
	w.str("namespace", e.DataStreamNamespace())
	w.close(m)

	w.str("message", e.Message)
	w.rules(e.Rules)
	w.threats(e.Rules)

	m = w.open("spawnbeat")
	w.str("read_state", e.Spawnbeat.ReadState)
	w.sequences(e.Sequences)
	pm := w.open("process")
	w.boolTrue("args_truncated", e.Process.ArgsTruncated)
	if same := e.Process.TTYSameAsParent(); same != Unknown {
		tm := w.open("tty")
		w.tristate("same_as_parent", same)
		w.close(tm)
	}
	if e.Process.Parent.PID != 0 {
		ppm := w.open("parent")
		w.boolTrue("args_truncated", e.Process.Parent.ArgsTruncated)
		w.close(ppm)
	}
	w.close(pm)
	w.close(m)

	w.b = append(w.b, '}')
	return w.b
}

func (w *writer) meta(e *Event) {
	m := w.open("event")
	w.str("kind", e.Event.Kind)
	w.key("category")
	w.b = append(w.b, `["process"]`...)
	if e.Event.Type != "" {
		w.key("type")
		w.b = append(w.b, '[')
		w.b = appendString(w.b, e.Event.Type)
		w.b = append(w.b, ']')
	}
	w.str("action", e.Event.Action)
	w.str("dataset", Dataset)
	w.str("module", Module)
	w.time("created", e.Event.Created)
	w.str("id", e.Event.ID)
	if e.Event.Sequence != 0 {
		w.key("sequence")
		w.b = strconv.AppendUint(w.b, e.Event.Sequence, 10)
	}
	w.float("risk_score", e.RiskScore)
	w.int("severity", e.Severity)
	w.close(m)
}

// constants writes the ecs object and, when present, host and agent.
func (w *writer) constants(h *Host, a *Agent) {
	m := w.open("ecs")
	w.str("version", Version)
	w.close(m)
	if h != nil {
		w.host(h)
	}
	if a != nil {
		m := w.open("agent")
		w.str("type", a.Type)
		w.str("version", a.Version)
		w.str("id", a.ID)
		w.str("name", a.Name)
		w.str("ephemeral_id", a.EphemeralID)
		w.close(m)
	}
}

func (w *writer) host(h *Host) {
	m := w.open("host")
	w.str("name", h.Name)
	w.str("hostname", h.Hostname)
	w.str("id", h.ID)
	w.str("architecture", h.Architecture)
	w.strs("ip", h.IP, false)
	w.strs("mac", h.MAC, false)
	om := w.open("os")
	w.str("type", h.OS.Type)
	w.str("family", h.OS.Family)
	w.str("name", h.OS.Name)
	w.str("platform", h.OS.Platform)
	w.str("version", h.OS.Version)
	w.str("kernel", h.OS.Kernel)
	w.str("full", h.OS.Full)
	w.close(om)
	w.close(m)
}

func (w *writer) process(p *Process) {
	m := w.open("process")
	w.info(&p.Info)
	w.time("end", p.End)
	if p.HasExitCode {
		w.key("exit_code")
		w.b = strconv.AppendInt(w.b, int64(p.ExitCode), 10)
	}
	if p.Parent.PID != 0 {
		pm := w.open("parent")
		w.info(&p.Parent)
		w.close(pm)
	}
	w.previous(p.Previous)
	w.leader("entry_leader", &p.EntryLeader)
	w.leader("session_leader", &p.SessionLeader)
	w.leader("group_leader", &p.GroupLeader)
	w.close(m)
}

func (w *writer) info(i *Info) {
	w.int("pid", i.PID)
	w.str("entity_id", i.EntityID)
	w.str("name", i.Name)
	w.str("executable", i.Executable)
	w.args(i.Args)
	w.str("command_line", i.CommandLine)
	w.str("working_directory", i.WorkingDirectory)
	w.time("start", i.Start)
	w.strs("env_vars", i.EnvVars, false)
	w.id("user", &i.User)
	w.id("group", &i.Group)
	w.id("real_user", &i.RealUser)
	w.id("real_group", &i.RealGroup)
	if i.TTY.Valid {
		tm := w.open("tty")
		cm := w.open("char_device")
		w.key("major")
		w.b = strconv.AppendInt(w.b, int64(i.TTY.Major), 10)
		w.key("minor")
		w.b = strconv.AppendInt(w.b, int64(i.TTY.Minor), 10)
		w.close(cm)
		w.close(tm)
	}
	w.tristate("interactive", i.Interactive)
}

// tristate writes t as a boolean; nothing when it is unknown.
func (w *writer) tristate(k string, t Tristate) {
	switch t {
	case True:
		w.key(k)
		w.b = append(w.b, "true"...)
	case False:
		w.key(k)
		w.b = append(w.b, "false"...)
	}
}

// previous writes process.previous, an array of objects, when not empty.
// sequences writes spawnbeat.sequence, an array of objects.
func (w *writer) sequences(ms []SequenceMatch) {
	w.objects("sequence", len(ms), func(i int) {
		w.str("rule_id", ms[i].RuleID)
		w.strs("event_ids", ms[i].EventIDs, true)
	})
}

func (w *writer) previous(ps []Previous) {
	w.objects("previous", len(ps), func(i int) {
		w.str("executable", ps[i].Executable)
		w.args(ps[i].Args)
	})
}

// objects writes an array of n objects under k, nothing when n is 0; elem
// writes the fields of the i-th.
func (w *writer) objects(k string, n int, elem func(i int)) {
	if n == 0 {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = append(w.b, '{')
		elem(i)
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ']')
}

func (w *writer) leader(k string, l *Leader) {
	if l.PID == 0 {
		return
	}
	m := w.open(k)
	w.int("pid", l.PID)
	w.str("entity_id", l.EntityID)
	w.str("name", l.Name)
	w.str("executable", l.Executable)
	w.args(l.Args)
	w.time("start", l.Start)
	w.tristate("same_as_process", l.SameAsProcess)
	if l.EntryMetaType != "" {
		em := w.open("entry_meta")
		w.str("type", l.EntryMetaType)
		w.close(em)
	}
	w.close(m)
}

// args writes args and args_count when args is known (non-nil), including
// an empty argv as [] and 0.
func (w *writer) args(args []string) {
	if args == nil {
		return
	}
	w.strs("args", args, true)
	w.key("args_count")
	w.b = strconv.AppendInt(w.b, int64(len(args)), 10)
}

func (w *writer) id(k string, id *ID) {
	if id.ID == "" && id.Name == "" {
		return
	}
	m := w.open(k)
	w.str("id", id.ID)
	w.str("name", id.Name)
	w.close(m)
}

// idWithReal writes an effective id with the real one under Ext.real.
func (w *writer) idWithReal(k string, effective, real *ID) {
	if *real == (ID{}) {
		w.id(k, effective)
		return
	}
	m := w.open(k)
	w.str("id", effective.ID)
	w.str("name", effective.Name)
	ext := w.open("Ext")
	w.id("real", real)
	w.close(ext)
	w.close(m)
}

// ruleField selects one rule.* value.
type ruleField func(r *Rule) string

func (w *writer) rules(rs []*Rule) {
	if len(rs) == 0 {
		return
	}
	m := w.open("rule")
	w.ruleValues(rs, "id", func(r *Rule) string { return r.ID })
	w.ruleValues(rs, "uuid", func(r *Rule) string { return r.UUID })
	w.ruleValues(rs, "name", func(r *Rule) string { return r.Name })
	w.ruleValues(rs, "version", func(r *Rule) string { return r.Version })
	w.ruleValues(rs, "description", func(r *Rule) string { return r.Description })
	w.ruleValues(rs, "reference", func(r *Rule) string { return r.Reference })
	w.ruleValues(rs, "author", func(r *Rule) string { return r.Author })
	w.ruleValues(rs, "license", func(r *Rule) string { return r.License })
	w.ruleValues(rs, "ruleset", func(r *Rule) string { return r.Ruleset })
	w.close(m)
}

// ruleValues writes a scalar for one rule and an array of the distinct
// non-empty values for several.
func (w *writer) ruleValues(rs []*Rule, k string, get ruleField) {
	if len(rs) == 1 {
		if rs[0] != nil {
			w.str(k, get(rs[0]))
		}
		return
	}
	mark := len(w.b)
	w.key(k)
	w.b = append(w.b, '[')
	n := 0
	for i, r := range rs {
		if r == nil {
			continue
		}
		v := get(r)
		if v == "" || ruleSeen(rs[:i], v, get) {
			continue
		}
		if n > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendString(w.b, v)
		n++
	}
	if n == 0 {
		w.b = w.b[:mark]
		return
	}
	w.b = append(w.b, ']')
}

func ruleSeen(rs []*Rule, v string, get ruleField) bool {
	for _, r := range rs {
		if r != nil && get(r) == v {
			return true
		}
	}
	return false
}

// threatField selects the k-th value of one threat.* field of a Threat;
// ok is false once k is past the last value.
type threatField func(t *Threat, k int) (v string, ok bool)

func (w *writer) threats(rs []*Rule) {
	if len(rs) == 0 {
		return
	}
	m := w.open("threat")
	w.threatValues(rs, "framework", func(t *Threat, k int) (string, bool) { return t.Framework, k == 0 })
	tm := w.open("tactic")
	w.threatValues(rs, "id", func(t *Threat, k int) (string, bool) { return t.Tactic.ID, k == 0 })
	w.threatValues(rs, "name", func(t *Threat, k int) (string, bool) { return t.Tactic.Name, k == 0 })
	w.threatValues(rs, "reference", func(t *Threat, k int) (string, bool) { return t.Tactic.Reference, k == 0 })
	w.close(tm)
	tm = w.open("technique")
	w.threatValues(rs, "id", func(t *Threat, k int) (string, bool) { return refAt(t.Technique, k).ID, k < len(t.Technique) })
	w.threatValues(rs, "name", func(t *Threat, k int) (string, bool) { return refAt(t.Technique, k).Name, k < len(t.Technique) })
	w.threatValues(rs, "reference", func(t *Threat, k int) (string, bool) {
		return refAt(t.Technique, k).Reference, k < len(t.Technique)
	})
	sm := w.open("subtechnique")
	w.threatValues(rs, "id", func(t *Threat, k int) (string, bool) {
		return refAt(t.Subtechnique, k).ID, k < len(t.Subtechnique)
	})
	w.threatValues(rs, "name", func(t *Threat, k int) (string, bool) {
		return refAt(t.Subtechnique, k).Name, k < len(t.Subtechnique)
	})
	w.threatValues(rs, "reference", func(t *Threat, k int) (string, bool) {
		return refAt(t.Subtechnique, k).Reference, k < len(t.Subtechnique)
	})
	w.close(sm)
	w.close(tm)
	w.close(m)
}

func refAt(refs []Ref, k int) Ref {
	if k < len(refs) {
		return refs[k]
	}
	return Ref{}
}

// threatValues writes the distinct non-empty values of one threat.* field
// across every threat of every rule, in order, as an array.
func (w *writer) threatValues(rs []*Rule, k string, get threatField) {
	mark := len(w.b)
	w.key(k)
	w.b = append(w.b, '[')
	n := 0
	for ri, r := range rs {
		if r == nil {
			continue
		}
		for ti := range r.Threat {
			for vi := 0; ; vi++ {
				v, ok := get(&r.Threat[ti], vi)
				if !ok {
					break
				}
				if v == "" || threatSeen(rs, ri, ti, vi, v, get) {
					continue
				}
				if n > 0 {
					w.b = append(w.b, ',')
				}
				w.b = appendString(w.b, v)
				n++
			}
		}
	}
	if n == 0 {
		w.b = w.b[:mark]
		return
	}
	w.b = append(w.b, ']')
}

// threatSeen reports whether v occurs before position (ri, ti, vi). The
// quadratic scan avoids a set allocation; rules and threats per event are few.
func threatSeen(rs []*Rule, ri, ti, vi int, v string, get threatField) bool {
	for i := 0; i <= ri; i++ {
		r := rs[i]
		if r == nil {
			continue
		}
		for j := range r.Threat {
			if i == ri && j > ti {
				return false
			}
			for k := 0; ; k++ {
				if i == ri && j == ti && k >= vi {
					return false
				}
				got, ok := get(&r.Threat[j], k)
				if !ok {
					break
				}
				if got == v {
					return true
				}
			}
		}
	}
	return false
}

// writer appends JSON to b. Objects are opened eagerly and removed again
// by close when nothing was written into them, so that an object whose
// fields are all absent is absent too. It is not safe for concurrent use.
type writer struct {
	b []byte
}

// key writes a separating comma when needed, then "k":. Keys are constant
// identifiers and need no escaping.
func (w *writer) key(k string) {
	if n := len(w.b); n > 0 {
		if c := w.b[n-1]; c != '{' && c != '[' {
			w.b = append(w.b, ',')
		}
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// open starts object k and returns the mark that close needs.
func (w *writer) open(k string) int {
	mark := len(w.b)
	w.key(k)
	w.b = append(w.b, '{')
	return mark
}

// close ends the object opened at mark, or removes it (with its key and
// comma) when it is empty.
func (w *writer) close(mark int) {
	if w.b[len(w.b)-1] == '{' {
		w.b = w.b[:mark]
		return
	}
	w.b = append(w.b, '}')
}

func (w *writer) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.b = appendString(w.b, v)
}

// strs writes vs as an array; an empty vs is written only when always.
func (w *writer) strs(k string, vs []string, always bool) {
	if len(vs) == 0 && !always {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendString(w.b, v)
	}
	w.b = append(w.b, ']')
}

func (w *writer) int(k string, v int) {
	if v == 0 {
		return
	}
	w.key(k)
	w.b = strconv.AppendInt(w.b, int64(v), 10)
}

func (w *writer) boolTrue(k string, v bool) {
	if !v {
		return
	}
	w.key(k)
	w.b = append(w.b, "true"...)
}

// float writes v like encoding/json does; NaN and infinities have no JSON
// form and are left out.
func (w *writer) float(k string, v float64) {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	w.key(k)
	format := byte('f')
	if abs := math.Abs(v); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, v, format, -1, 64)
}

func (w *writer) time(k string, t time.Time) {
	if t.IsZero() {
		return
	}
	w.key(k)
	w.b = append(w.b, '"')
	w.b = appendTime(w.b, t)
	w.b = append(w.b, '"')
}

const hexDigits = "0123456789abcdef"

// load64 reads 8 bytes of s little-endian; the compiler merges the loads
// into one.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainASCII8 reports whether none of the 8 bytes in x needs attention:
// each is below 0x80, at least 0x20, and neither '"' nor '\\'. It uses the
// classic "has zero byte" bit trick on x and on x XOR the special bytes.
func plainASCII8(x uint64) bool {
	const (
		lo = 0x0101010101010101
		hi = 0x8080808080808080
	)
	hasZero := func(v uint64) uint64 { return (v - lo) & ^v & hi }
	bad := x&hi | // non-ASCII
		(x-0x20*lo)&^x&hi | // a byte below 0x20
		hasZero(x^('"'*lo)) |
		hasZero(x^('\\'*lo))
	return bad == 0
}

// appendString appends s as a JSON string. Invalid UTF-8 bytes become
// U+FFFD (one per byte, as encoding/json does), control characters are
// written as \u00XX, and U+2028/U+2029 are escaped because JavaScript
// consumers of the JSON treat them as line ends.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip 8 plain ASCII bytes at a time: arguments and paths are
		// mostly that, and this is the encoder's hottest loop.
		for i+8 <= len(s) && plainASCII8(load64(s[i:i+8])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			if c == '"' || c == '\\' {
				b = append(b, '\\', c)
			} else {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
