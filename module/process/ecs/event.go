package ecs

import "time"

// Version is the ECS version spawnbeat's documents follow.
const Version = "8.11.0"

// Actions of a process document (event.action).
const (
	ActionExec     = "exec"     // a process image started (execve)
	ActionFork     = "fork"     // a new process that has not exec'd yet (opt-in)
	ActionEnd      = "end"      // a process exited
	ActionExisting = "existing" // found running by the start-up scan
)

// Event kinds (event.kind).
const (
	KindEvent = "event"
	KindAlert = "alert"
)

// Event is one document. Zero values mean "absent": an empty string, a nil
// slice, a zero time or a zero PID is not written, so that a field spawnbeat
// could not read is missing from the document, never invented.
type Event struct {
	Timestamp time.Time // @timestamp: the kernel's event time
	Event     Meta
	Process   Process
	Container Container
	Host      *Host  // read once at start, shared by every event
	Agent     *Agent // likewise
	Namespace string // data_stream.namespace

	// Alert fields, filled in place by detection when rules match.
	Rules     []*Rule
	RiskScore float64 // event.risk_score: the highest of the matching rules
	Severity  int     // event.severity: numeric, the highest
	Message   string
	// Sequences are the sequence rules this document completed, each with
	// the event.id values of the sequence's earlier documents
	// (spawnbeat.sequence).
	Sequences []SequenceMatch

	Spawnbeat Extra // non-ECS fields, declared in _meta/fields.yml
}

// SequenceMatch is one element of spawnbeat.sequence: a sequence rule that
// the document completed, and the documents before it in the sequence.
type SequenceMatch struct {
	RuleID   string   // rule.id of the sequence rule
	EventIDs []string // event.id of the sequence's earlier documents, first first
}

// Container is the container.* object: absent for a process outside any.
type Container struct {
	ID string // container.id: the runtime's 64-hex-digit id, from the process's cgroups
	// Privileged is container.security_context.privileged: the process's
	// capability bounding set holds every capability the host's init's
	// does, as a privileged container's (--privileged) do; unknown when
	// the set was never read.
	Privileged Tristate
}

// Meta is the event.* object.
type Meta struct {
	Kind     string    // event.kind: KindEvent or KindAlert
	Type     string    // event.type, written as a one-element array: "start", "end", "info"
	Action   string    // event.action
	Created  time.Time // event.created: when spawnbeat built the document
	ID       string    // event.id: unique per document, also the Elasticsearch _id
	Sequence uint64    // event.sequence: per-agent monotonic counter
}

// Process is the process.* object of a document.
type Process struct {
	Info
	Parent        Info   // process.parent.*; absent when Parent.PID == 0
	EntryLeader   Leader // process.entry_leader.*
	SessionLeader Leader // process.session_leader.*
	GroupLeader   Leader // process.group_leader.*

	// Previous is process.previous: the images the process had before
	// this exec, oldest first, starting with the one inherited at its fork
	// (exec documents only).
	Previous []Previous

	End         time.Time // process.end (action "end")
	ExitCode    int       // process.exit_code, when HasExitCode
	HasExitCode bool
}

// Info holds the fields shared by a process and its parent.
type Info struct {
	PID              int
	EntityID         string
	Name             string   // basename of the resolved executable
	Executable       string   // /proc/PID/exe
	Args             []string // argv exactly; nil = unknown, empty = no arguments
	CommandLine      string   // args joined by spaces
	WorkingDirectory string
	Start            time.Time
	EnvVars          []string // env_vars: "NAME=value", the variables configured only

	User      ID // effective
	Group     ID
	RealUser  ID
	RealGroup ID

	TTY         TTY
	Interactive Tristate // process.interactive: has a controlling terminal

	ArgsTruncated bool // spawnbeat.*.args_truncated: argv was longer than the cap
}

// ArgsCount is len(Args); it is written only when Args is known.
func (i *Info) ArgsCount() int { return len(i.Args) }

// TTYSameAsParent is spawnbeat.process.tty.same_as_parent: whether the
// process's controlling terminal is the one the document names for its
// parent (process.tty and process.parent.tty, the same device). Rules need
// it because EQL cannot compare two fields. It is unknown when the process
// has no terminal, has no known parent, or when the parent's terminal is
// unknown (its image was never read); False when the parent has none or
// another. The parent's terminal is the one the process table holds for
// it: what its stat said at its exec or at the start-up scan.
func (p *Process) TTYSameAsParent() Tristate {
	if !p.TTY.Valid || p.Parent.PID == 0 || p.Parent.Interactive == Unknown {
		return Unknown
	}
	if p.Parent.TTY.Valid && p.Parent.TTY.Major == p.TTY.Major && p.Parent.TTY.Minor == p.TTY.Minor {
		return True
	}
	return False
}

// Leader is a process.{entry,session,group}_leader.* object for Kibana's Session View.
type Leader struct {
	PID           int
	EntityID      string
	Name          string
	Executable    string
	Args          []string
	Start         time.Time
	SameAsProcess Tristate // same_as_process: the leader is the document's process
	EntryMetaType string   // entry_meta.type, on the entry leader only
}

// Previous is one element of process.previous.
type Previous struct {
	Executable string
	Args       []string // nil = unknown
}

// ID is a numeric user or group id with its resolved name, as ECS keywords.
// An empty ID means unknown.
type ID struct {
	ID   string
	Name string
}

// TTY is process.tty.char_device; written only when Valid.
type TTY struct {
	Major, Minor int
	Valid        bool
}

// Tristate is a boolean that may be unknown.
type Tristate uint8

// Tristate values.
const (
	Unknown Tristate = iota
	False
	True
)

// Extra holds spawnbeat's own fields (spawnbeat.*).
type Extra struct {
	// ReadState says how much of the process spawnbeat could read from /proc
	// when it handled the event: "complete", "zombie" (exited, not yet
	// reaped: cmdline, exe and cwd are gone), or "exited" (already reaped).
	ReadState string
}

// Host is the host.* object, read once.
type Host struct {
	Name         string
	Hostname     string
	ID           string
	Architecture string
	IP           []string
	MAC          []string
	OS           OS
}

// OS is host.os.*.
type OS struct {
	Type     string // always "linux"
	Family   string
	Name     string
	Platform string
	Version  string
	Kernel   string
	Full     string
}

// Agent is the agent.* object.
type Agent struct {
	Type        string
	Version     string
	ID          string
	Name        string
	EphemeralID string
}

// Rule is the metadata of a detection rule that detection copies into an
// alert (rule.*, threat.*). Loaded rules own their Rule; events point at it
// and never modify it.
type Rule struct {
	ID          string // rule_id
	UUID        string
	Name        string
	Version     string
	Description string
	Reference   string // first reference URL
	Author      string // authors joined by ", "
	License     string
	Ruleset     string // "elastic" for Elastic's rules, "spawnbeat" for spawnbeat's own built-ins, "custom" otherwise
	RiskScore   float64
	Severity    string // "low", "medium", "high", "critical"
	Threat      []Threat
}

// Threat is one MITRE ATT&CK mapping of a rule.
type Threat struct {
	Framework    string
	Tactic       Ref
	Technique    []Ref
	Subtechnique []Ref
}

// Ref is an ATT&CK object reference.
type Ref struct {
	ID, Name, Reference string
}

// SeverityNumber maps a rule's severity word to ECS event.severity.
func SeverityNumber(s string) int {
	switch s {
	case "low":
		return 21
	case "medium":
		return 47
	case "high":
		return 73
	case "critical":
		return 99
	}
	return 0
}
