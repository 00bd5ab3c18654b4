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
	fields map[string]Getter[*ecs.Event] // read-only after construction
}

func (r ecsResolver) Field(name string) (Getter[*ecs.Event], bool) {
	if g, ok := r.fields[name]; ok {
		return g, true
	}
	return func(*ecs.Event) Value { return Value{} }, false
}

func (r ecsResolver) Category(name string) func(*ecs.Event) bool {
	if name == "process" || name == "any" {
		return func(e *ecs.Event) bool { return e != nil }
	}
	return func(*ecs.Event) bool { return false }
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

func pidValue(pid int) Value {
	if pid == 0 {
		return Value{}
	}
	return NumberValue(float64(pid))
}

func argsCount(args []string) Value {
	if args == nil {
		return Value{}
	}
	return NumberValue(float64(len(args)))
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

func ecsFields() map[string]Getter[*ecs.Event] {
	type G = Getter[*ecs.Event]
	m := map[string]G{
		"@timestamp":     func(e *ecs.Event) Value { return timeValue(e.Timestamp) },
		"ecs.version":    func(*ecs.Event) Value { return StringValue(ecs.Version) },
		"message":        func(e *ecs.Event) Value { return StringValue(e.Message) },
		"event.kind":     func(e *ecs.Event) Value { return StringValue(e.Event.Kind) },
		"event.category": func(*ecs.Event) Value { return StringValue("process") },
		"event.type":     func(e *ecs.Event) Value { return StringValue(e.Event.Type) },
		"event.action":   func(e *ecs.Event) Value { return StringValue(e.Event.Action) },
		"event.outcome":  func(e *ecs.Event) Value { return StringValue(e.Event.Outcome) },
		"event.created":  func(e *ecs.Event) Value { return timeValue(e.Event.Created) },
		"event.id":       func(e *ecs.Event) Value { return StringValue(e.Event.ID) },
		"event.sequence": func(e *ecs.Event) Value {
			if e.Event.Sequence == 0 {
				return Value{}
			}
			return NumberValue(float64(e.Event.Sequence))
		},
		"event.dataset": func(*ecs.Event) Value { return StringValue("spawnbeat.process") },
		"event.module":  func(*ecs.Event) Value { return StringValue("spawnbeat") },
		"event.risk_score": func(e *ecs.Event) Value {
			if e.RiskScore == 0 {
				return Value{}
			}
			return NumberValue(e.RiskScore)
		},
		"event.severity": func(e *ecs.Event) Value {
			if e.Severity == 0 {
				return Value{}
			}
			return NumberValue(float64(e.Severity))
		},
		"data_stream.type":      func(*ecs.Event) Value { return StringValue("logs") },
		"data_stream.dataset":   func(*ecs.Event) Value { return StringValue("spawnbeat.process") },
		"data_stream.namespace": func(e *ecs.Event) Value { return StringValue(e.Namespace) },

		// user.* and group.* are the process's effective ids.
		"user.id":    func(e *ecs.Event) Value { return StringValue(e.Process.User.ID) },
		"user.name":  func(e *ecs.Event) Value { return StringValue(e.Process.User.Name) },
		"group.id":   func(e *ecs.Event) Value { return StringValue(e.Process.Group.ID) },
		"group.name": func(e *ecs.Event) Value { return StringValue(e.Process.Group.Name) },

		"process.end": func(e *ecs.Event) Value { return timeValue(e.Process.End) },
		"process.exit_code": func(e *ecs.Event) Value {
			if !e.Process.HasExitCode {
				return Value{}
			}
			return NumberValue(float64(e.Process.ExitCode))
		},
	}
	host := func(f func(h *ecs.Host) Value) G {
		return func(e *ecs.Event) Value {
			if e.Host == nil {
				return Value{}
			}
			return f(e.Host)
		}
	}
	m["host.name"] = host(func(h *ecs.Host) Value { return StringValue(h.Name) })
	m["host.hostname"] = host(func(h *ecs.Host) Value { return StringValue(h.Hostname) })
	m["host.id"] = host(func(h *ecs.Host) Value { return StringValue(h.ID) })
	m["host.architecture"] = host(func(h *ecs.Host) Value { return StringValue(h.Architecture) })
	m["host.ip"] = host(func(h *ecs.Host) Value { return StringsValue(h.IP) })
	m["host.mac"] = host(func(h *ecs.Host) Value { return StringsValue(h.MAC) })
	m["host.os.type"] = host(func(h *ecs.Host) Value { return StringValue(h.OS.Type) })
	m["host.os.family"] = host(func(h *ecs.Host) Value { return StringValue(h.OS.Family) })
	m["host.os.name"] = host(func(h *ecs.Host) Value { return StringValue(h.OS.Name) })
	m["host.os.platform"] = host(func(h *ecs.Host) Value { return StringValue(h.OS.Platform) })
	m["host.os.version"] = host(func(h *ecs.Host) Value { return StringValue(h.OS.Version) })
	m["host.os.kernel"] = host(func(h *ecs.Host) Value { return StringValue(h.OS.Kernel) })
	m["host.os.full"] = host(func(h *ecs.Host) Value { return StringValue(h.OS.Full) })

	agent := func(f func(a *ecs.Agent) Value) G {
		return func(e *ecs.Event) Value {
			if e.Agent == nil {
				return Value{}
			}
			return f(e.Agent)
		}
	}
	m["agent.type"] = agent(func(a *ecs.Agent) Value { return StringValue(a.Type) })
	m["agent.version"] = agent(func(a *ecs.Agent) Value { return StringValue(a.Version) })
	m["agent.id"] = agent(func(a *ecs.Agent) Value { return StringValue(a.ID) })
	m["agent.name"] = agent(func(a *ecs.Agent) Value { return StringValue(a.Name) })
	m["agent.ephemeral_id"] = agent(func(a *ecs.Agent) Value { return StringValue(a.EphemeralID) })

	addInfo(m, "process.", false)
	addInfo(m, "process.parent.", true)
	addLeader(m, "process.entry_leader.", func(e *ecs.Event) *ecs.Leader { return &e.Process.EntryLeader })
	addLeader(m, "process.session_leader.", func(e *ecs.Event) *ecs.Leader { return &e.Process.SessionLeader })
	addLeader(m, "process.group_leader.", func(e *ecs.Event) *ecs.Leader { return &e.Process.GroupLeader })
	return m
}

// addInfo adds the fields of the process (parent false) or of its parent,
// which is absent as a whole when Parent.PID is 0. Each getter is one
// closure around the field read, to keep the hot path short.
func addInfo(m map[string]Getter[*ecs.Event], prefix string, parent bool) {
	add := func(name string, f func(i *ecs.Info) Value) {
		if parent {
			m[prefix+name] = func(e *ecs.Event) Value {
				if e.Process.Parent.PID == 0 {
					return Value{}
				}
				return f(&e.Process.Parent)
			}
			return
		}
		m[prefix+name] = func(e *ecs.Event) Value { return f(&e.Process.Info) }
	}
	add("pid", func(i *ecs.Info) Value { return pidValue(i.PID) })
	add("entity_id", func(i *ecs.Info) Value { return StringValue(i.EntityID) })
	add("name", func(i *ecs.Info) Value { return StringValue(i.Name) })
	add("executable", func(i *ecs.Info) Value { return StringValue(i.Executable) })
	add("args", func(i *ecs.Info) Value { return StringsValue(i.Args) })
	add("args_count", func(i *ecs.Info) Value { return argsCount(i.Args) })
	add("command_line", func(i *ecs.Info) Value { return StringValue(i.CommandLine) })
	add("working_directory", func(i *ecs.Info) Value { return StringValue(i.WorkingDirectory) })
	add("start", func(i *ecs.Info) Value { return timeValue(i.Start) })
	add("user.id", func(i *ecs.Info) Value { return StringValue(i.User.ID) })
	add("user.name", func(i *ecs.Info) Value { return StringValue(i.User.Name) })
	add("group.id", func(i *ecs.Info) Value { return StringValue(i.Group.ID) })
	add("group.name", func(i *ecs.Info) Value { return StringValue(i.Group.Name) })
	add("real_user.id", func(i *ecs.Info) Value { return StringValue(i.RealUser.ID) })
	add("real_user.name", func(i *ecs.Info) Value { return StringValue(i.RealUser.Name) })
	add("real_group.id", func(i *ecs.Info) Value { return StringValue(i.RealGroup.ID) })
	add("real_group.name", func(i *ecs.Info) Value { return StringValue(i.RealGroup.Name) })
	add("tty.char_device.major", func(i *ecs.Info) Value {
		if !i.TTY.Valid {
			return Value{}
		}
		return NumberValue(float64(i.TTY.Major))
	})
	add("tty.char_device.minor", func(i *ecs.Info) Value {
		if !i.TTY.Valid {
			return Value{}
		}
		return NumberValue(float64(i.TTY.Minor))
	})
	add("interactive", func(i *ecs.Info) Value { return tristate(i.Interactive) })
}

func addLeader(m map[string]Getter[*ecs.Event], prefix string, leader func(*ecs.Event) *ecs.Leader) {
	add := func(name string, f func(l *ecs.Leader) Value) {
		m[prefix+name] = func(e *ecs.Event) Value { return f(leader(e)) }
	}
	add("pid", func(l *ecs.Leader) Value { return pidValue(l.PID) })
	add("entity_id", func(l *ecs.Leader) Value { return StringValue(l.EntityID) })
	add("name", func(l *ecs.Leader) Value { return StringValue(l.Name) })
	add("executable", func(l *ecs.Leader) Value { return StringValue(l.Executable) })
	add("args", func(l *ecs.Leader) Value { return StringsValue(l.Args) })
	add("args_count", func(l *ecs.Leader) Value { return argsCount(l.Args) })
	add("start", func(l *ecs.Leader) Value { return timeValue(l.Start) })
}
