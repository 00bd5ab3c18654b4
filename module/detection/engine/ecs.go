package engine

import (
	"time"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// ECS returns the Resolver over spawnbeat's typed event. It knows every field
// an ecs.Event can carry, with the document's absence rules: empty strings,
// nil or empty slices, zero PIDs and zero times are absent; args_count is
// present only when args are known; process.parent.* is absent when
// Parent.PID is 0; tty.char_device.* only when valid; interactive only when
// known; exit_code only when set. event.type and event.category are
// one-element arrays in the document; a one-element array and a scalar
// behave identically under every operator, so they resolve to scalars.
// Category "process" and "any" match every non-nil event, other categories
// none. The Resolver is safe for concurrent use.
func ECS() Resolver[*ecs.Event] {
	return ecsResolver{fields: ecsFields()}
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
	m := ecsFields()
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
	// Only rules that compare timestamps pay for the formatting.
	return Value{Kind: String, Str: t.UTC().Format(time.RFC3339Nano)}
}

// numberIf is n when ok and absent otherwise: the document leaves out a
// number spawnbeat does not know (a zero PID, args never read, no tty).
func numberIf(ok bool, n float64) Value {
	if !ok {
		return Value{}
	}
	return NumberValue(n)
}

func tristate(t ecs.Tristate) Value {
	switch t {
	case ecs.True:
		return BoolValue(true)
	case ecs.False:
		return BoolValue(false)
	}
	return Value{}
}

// parentString is s when the event has a parent and "" (absent) when the
// parent PID is 0. It is small enough to inline, so that each parent field
// stays a single closure on the hot path.
func parentString(e *ecs.Event, s string) string {
	if e.Process.Parent.PID == 0 {
		return ""
	}
	return s
}

// hostField reads a host.* field; it is absent when the event has no host.
func hostField[V any](f func(*ecs.Host) V) func(*ecs.Event) V {
	return func(e *ecs.Event) V {
		if e.Host == nil {
			var absent V
			return absent
		}
		return f(e.Host)
	}
}

// stringField is a single-valued keyword field; "" is absent.
func stringField[T any](f func(T) string) Field[T] {
	return Field[T]{String: f, Get: func(doc T) Value { return StringValue(f(doc)) }}
}

// numberField is a single-valued numeric field.
func numberField[T any](f func(T) (float64, bool)) Field[T] {
	return Field[T]{Number: f, Get: func(doc T) Value {
		n, ok := f(doc)
		return numberIf(ok, n)
	}}
}

// numberFields gives the numeric fields rules compare most a direct reader.
func numberFields(m map[string]Field[*ecs.Event]) {
	m["process.pid"] = numberField(func(e *ecs.Event) (float64, bool) {
		return float64(e.Process.PID), e.Process.PID != 0
	})
	m["process.args_count"] = numberField(func(e *ecs.Event) (float64, bool) {
		return float64(len(e.Process.Args)), e.Process.Args != nil
	})
	m["process.parent.pid"] = numberField(func(e *ecs.Event) (float64, bool) {
		return float64(e.Process.Parent.PID), e.Process.Parent.PID != 0
	})
	m["process.parent.args_count"] = numberField(func(e *ecs.Event) (float64, bool) {
		return float64(len(e.Process.Parent.Args)), e.Process.Parent.PID != 0 && e.Process.Parent.Args != nil
	})
}

// stringsField is a multi-valued keyword field; an empty slice is absent.
func stringsField[T any](f func(T) []string) Field[T] {
	return Field[T]{Strings: f, Get: func(doc T) Value { return StringsValue(f(doc)) }}
}

func ecsFields() map[string]Field[*ecs.Event] {
	type E = *ecs.Event
	m := map[string]Field[E]{}
	str := map[string]func(E) string{
		"ecs.version":           func(E) string { return ecs.Version },
		"message":               func(e E) string { return e.Message },
		"event.kind":            func(e E) string { return e.Event.Kind },
		"event.category":        func(E) string { return "process" },
		"event.type":            func(e E) string { return e.Event.Type },
		"event.action":          func(e E) string { return e.Event.Action },
		"event.outcome":         func(e E) string { return e.Event.Outcome },
		"event.id":              func(e E) string { return e.Event.ID },
		"event.dataset":         func(E) string { return "spawnbeat.process" },
		"event.module":          func(E) string { return "spawnbeat" },
		"data_stream.type":      func(E) string { return "logs" },
		"data_stream.dataset":   func(E) string { return "spawnbeat.process" },
		"data_stream.namespace": func(e E) string { return e.Namespace },
		// user.* and group.* are the process's effective ids.
		"user.id":    func(e E) string { return e.Process.User.ID },
		"user.name":  func(e E) string { return e.Process.User.Name },
		"group.id":   func(e E) string { return e.Process.Group.ID },
		"group.name": func(e E) string { return e.Process.Group.Name },
		// Elastic Defend's extension: the real ids beside the effective ones.
		"user.Ext.real.id":    func(e E) string { return e.Process.RealUser.ID },
		"user.Ext.real.name":  func(e E) string { return e.Process.RealUser.Name },
		"group.Ext.real.id":   func(e E) string { return e.Process.RealGroup.ID },
		"group.Ext.real.name": func(e E) string { return e.Process.RealGroup.Name },
		"container.id":        func(e E) string { return e.Container.ID },
		// host.os.type is in almost every rule: read it in one step.
		"host.os.type": func(e E) string {
			if e.Host == nil {
				return ""
			}
			return e.Host.OS.Type
		},
		"host.name":         hostField(func(h *ecs.Host) string { return h.Name }),
		"host.hostname":     hostField(func(h *ecs.Host) string { return h.Hostname }),
		"host.id":           hostField(func(h *ecs.Host) string { return h.ID }),
		"host.architecture": hostField(func(h *ecs.Host) string { return h.Architecture }),
		"host.os.family":    hostField(func(h *ecs.Host) string { return h.OS.Family }),
		"host.os.name":      hostField(func(h *ecs.Host) string { return h.OS.Name }),
		"host.os.platform":  hostField(func(h *ecs.Host) string { return h.OS.Platform }),
		"host.os.version":   hostField(func(h *ecs.Host) string { return h.OS.Version }),
		"host.os.kernel":    hostField(func(h *ecs.Host) string { return h.OS.Kernel }),
		"host.os.full":      hostField(func(h *ecs.Host) string { return h.OS.Full }),
	}
	agent := func(f func(a *ecs.Agent) string) func(E) string {
		return func(e E) string {
			if e.Agent == nil {
				return ""
			}
			return f(e.Agent)
		}
	}
	str["agent.type"] = agent(func(a *ecs.Agent) string { return a.Type })
	str["agent.version"] = agent(func(a *ecs.Agent) string { return a.Version })
	str["agent.id"] = agent(func(a *ecs.Agent) string { return a.ID })
	str["agent.name"] = agent(func(a *ecs.Agent) string { return a.Name })
	str["agent.ephemeral_id"] = agent(func(a *ecs.Agent) string { return a.EphemeralID })
	for k, f := range str {
		m[k] = stringField(f)
	}
	m["container.security_context.privileged"] = Field[E]{Get: func(e E) Value {
		if e.Container.ID == "" {
			return Value{} // as in the document: no container, no security context
		}
		return tristate(e.Container.Privileged)
	}}
	m["host.ip"] = stringsField(hostField(func(h *ecs.Host) []string { return h.IP }))
	m["host.mac"] = stringsField(hostField(func(h *ecs.Host) []string { return h.MAC }))

	get := map[string]Getter[E]{
		"@timestamp":        func(e E) Value { return timeValue(e.Timestamp) },
		"event.created":     func(e E) Value { return timeValue(e.Event.Created) },
		"event.sequence":    func(e E) Value { return numberIf(e.Event.Sequence != 0, float64(e.Event.Sequence)) },
		"event.risk_score":  func(e E) Value { return numberIf(e.RiskScore != 0, e.RiskScore) },
		"event.severity":    func(e E) Value { return numberIf(e.Severity != 0, float64(e.Severity)) },
		"process.end":       func(e E) Value { return timeValue(e.Process.End) },
		"process.exit_code": func(e E) Value { return numberIf(e.Process.HasExitCode, float64(e.Process.ExitCode)) },
		// EQL cannot compare process.tty with process.parent.tty; the
		// document carries the comparison.
		"spawnbeat.process.tty.same_as_parent": func(e E) Value { return tristate(e.Process.TTYSameAsParent()) },
	}
	for k, g := range get {
		m[k] = Field[E]{Get: g}
	}
	infoFields(m)
	addInfo(m, "process.", false)
	addInfo(m, "process.parent.", true)
	numberFields(m)
	addLeader(m, "process.entry_leader.", func(e E) *ecs.Leader { return &e.Process.EntryLeader })
	addLeader(m, "process.session_leader.", func(e E) *ecs.Leader { return &e.Process.SessionLeader })
	addLeader(m, "process.group_leader.", func(e E) *ecs.Leader { return &e.Process.GroupLeader })
	return m
}

// addInfo adds the Value-only fields of the process (parent false) or of
// its parent, which is absent as a whole when Parent.PID is 0. pid and
// args_count have direct readers in numberFields.
func addInfo(m map[string]Field[*ecs.Event], prefix string, parent bool) {
	add := func(name string, f func(i *ecs.Info) Value) {
		if parent {
			m[prefix+name] = Field[*ecs.Event]{Get: func(e *ecs.Event) Value {
				if e.Process.Parent.PID == 0 {
					return Value{}
				}
				return f(&e.Process.Parent)
			}}
			return
		}
		m[prefix+name] = Field[*ecs.Event]{Get: func(e *ecs.Event) Value { return f(&e.Process.Info) }}
	}
	add("start", func(i *ecs.Info) Value { return timeValue(i.Start) })
	add("tty.char_device.major", func(i *ecs.Info) Value { return numberIf(i.TTY.Valid, float64(i.TTY.Major)) })
	add("tty.char_device.minor", func(i *ecs.Info) Value { return numberIf(i.TTY.Valid, float64(i.TTY.Minor)) })
	add("interactive", func(i *ecs.Info) Value { return tristate(i.Interactive) })
}

func addLeader(m map[string]Field[*ecs.Event], prefix string, leader func(*ecs.Event) *ecs.Leader) {
	m[prefix+"entity_id"] = stringField(func(e *ecs.Event) string { return leader(e).EntityID })
	m[prefix+"name"] = stringField(func(e *ecs.Event) string { return leader(e).Name })
	m[prefix+"executable"] = stringField(func(e *ecs.Event) string { return leader(e).Executable })
	m[prefix+"args"] = stringsField(func(e *ecs.Event) []string { return leader(e).Args })
	add := func(name string, f func(l *ecs.Leader) Value) {
		m[prefix+name] = Field[*ecs.Event]{Get: func(e *ecs.Event) Value { return f(leader(e)) }}
	}
	add("pid", func(l *ecs.Leader) Value { return numberIf(l.PID != 0, float64(l.PID)) })
	add("args_count", func(l *ecs.Leader) Value { return numberIf(l.Args != nil, float64(len(l.Args))) })
	add("start", func(l *ecs.Leader) Value { return timeValue(l.Start) })
	add("same_as_process", func(l *ecs.Leader) Value { return tristate(l.SameAsProcess) })
	if prefix == "process.entry_leader." {
		m[prefix+"entry_meta.type"] = stringField(func(e *ecs.Event) string { return leader(e).EntryMetaType })
	}
}

// infoFields adds the string fields of the process and of its parent, each
// as a single closure over the struct field: these are the fields rules
// test most, and every indirection costs on the hot path. The parent is
// absent as a whole when Parent.PID is 0.
func infoFields(m map[string]Field[*ecs.Event]) {
	type E = *ecs.Event
	m["process.entity_id"] = stringField(func(e E) string { return e.Process.EntityID })
	m["process.name"] = stringField(func(e E) string { return e.Process.Name })
	m["process.executable"] = stringField(func(e E) string { return e.Process.Executable })
	m["process.command_line"] = stringField(func(e E) string { return e.Process.CommandLine })
	m["process.working_directory"] = stringField(func(e E) string { return e.Process.WorkingDirectory })
	m["process.user.id"] = stringField(func(e E) string { return e.Process.User.ID })
	m["process.user.name"] = stringField(func(e E) string { return e.Process.User.Name })
	m["process.group.id"] = stringField(func(e E) string { return e.Process.Group.ID })
	m["process.group.name"] = stringField(func(e E) string { return e.Process.Group.Name })
	m["process.real_user.id"] = stringField(func(e E) string { return e.Process.RealUser.ID })
	m["process.real_user.name"] = stringField(func(e E) string { return e.Process.RealUser.Name })
	m["process.real_group.id"] = stringField(func(e E) string { return e.Process.RealGroup.ID })
	m["process.real_group.name"] = stringField(func(e E) string { return e.Process.RealGroup.Name })
	m["process.args"] = stringsField(func(e E) []string { return e.Process.Args })
	m["process.env_vars"] = stringsField(func(e E) []string { return e.Process.EnvVars })
	previousFields(m)

	m["process.parent.entity_id"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.EntityID) })
	m["process.parent.name"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.Name) })
	m["process.parent.executable"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.Executable) })
	m["process.parent.command_line"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.CommandLine) })
	m["process.parent.working_directory"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.WorkingDirectory) })
	m["process.parent.user.id"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.User.ID) })
	m["process.parent.user.name"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.User.Name) })
	m["process.parent.group.id"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.Group.ID) })
	m["process.parent.group.name"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.Group.Name) })
	m["process.parent.real_user.id"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.RealUser.ID) })
	m["process.parent.real_user.name"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.RealUser.Name) })
	m["process.parent.real_group.id"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.RealGroup.ID) })
	m["process.parent.real_group.name"] = stringField(func(e E) string { return parentString(e, e.Process.Parent.RealGroup.Name) })
	m["process.parent.args"] = stringsField(func(e E) []string {
		if e.Process.Parent.PID == 0 {
			return nil
		}
		return e.Process.Parent.Args
	})
}

// previousFields resolves process.previous.*, an array of objects: each
// field is the values of all its elements, as Elasticsearch flattens them.
// One element, the common case, is read without a copy.
func previousFields(m map[string]Field[*ecs.Event]) {
	m["process.previous.executable"] = Field[*ecs.Event]{Get: func(e *ecs.Event) Value {
		ps := e.Process.Previous
		if len(ps) == 1 {
			return StringValue(ps[0].Executable)
		}
		var vs []string
		for _, p := range ps {
			if p.Executable != "" {
				vs = append(vs, p.Executable)
			}
		}
		return StringsValue(vs)
	}}
	m["process.previous.args"] = Field[*ecs.Event]{Get: func(e *ecs.Event) Value {
		ps := e.Process.Previous
		if len(ps) == 1 {
			return StringsValue(ps[0].Args)
		}
		var vs []string
		for _, p := range ps {
			vs = append(vs, p.Args...)
		}
		return StringsValue(vs)
	}}
	m["process.previous.args_count"] = Field[*ecs.Event]{Get: func(e *ecs.Event) Value {
		var ns []Value
		for _, p := range e.Process.Previous {
			if p.Args != nil {
				ns = append(ns, NumberValue(float64(len(p.Args))))
			}
		}
		switch len(ns) {
		case 0:
			return Value{}
		case 1:
			return ns[0]
		}
		return Value{Kind: List, List: ns}
	}}
}
