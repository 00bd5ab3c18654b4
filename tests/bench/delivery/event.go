package main

import (
	"strconv"
	"time"

	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// generator fills one ecs.Event per call with a realistic exec of a
// short-lived command under an interactive bash in an ssh session, varying
// the fields that vary on a real host. With full it writes every field the
// agent writes, the Session View leaders included (about 2.7 KB, what
// spawnbeat ships for such a process); without, the process and its parent
// (about 1.5 KB). It is not safe for concurrent use: it
// reuses its event and argument buffers.
type generator struct {
	ev    ecs.Event
	full  bool
	cmds  []command
	host  *ecs.Host
	base  time.Time
	seq   uint64
	args  []string
	pArgs []string
	num   []byte
}

// command is one program the generator "starts".
type command struct {
	name, exe string
	args      []string
}

// benchCommands are cycled through so that documents differ in shape a
// little, as an exec stream does.
func benchCommands() []command {
	return []command{
		{"curl", "/usr/bin/curl", []string{"curl", "-fsS", "-o", "/tmp/a.tgz", "https://ci.internal/build/"}},
		{"git", "/usr/bin/git", []string{"git", "log", "--oneline", "-n", "20", "origin/main"}},
		{"grep", "/usr/bin/grep", []string{"grep", "-rn", "func New", "module/process/"}},
		{"python3.11", "/usr/bin/python3.11", []string{"/usr/bin/python3", "bin/report.py", "--day"}},
	}
}

func newGenerator(namespace string, full bool) *generator {
	host := &ecs.Host{
		Name: "bench-01", Hostname: "bench-01", ID: "3d1219c7c4c5404aaa1f6d2a48adfda4", Architecture: "x86_64",
		IP:  []string{"10.0.2.15"},
		MAC: []string{"52-54-00-12-34-56"},
		OS: ecs.OS{Type: "linux", Family: "debian", Name: "Debian GNU/Linux", Platform: "debian",
			Version: "12.8", Kernel: "6.1.0-28-amd64", Full: "Debian GNU/Linux 12 (bookworm)"},
	}
	g := &generator{full: full, cmds: benchCommands(), host: host, base: time.Now().UTC(), num: make([]byte, 0, 24)}
	g.ev = ecs.Event{
		Host:      host,
		Agent:     ecs.NewAgent("0.1.0", "bench-01", "6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c10"),
		Namespace: namespace,
		Spawnbeat: ecs.Extra{ReadState: "complete"},
	}
	alice := ecs.ID{ID: "1000", Name: "alice"}
	p := &g.ev.Process
	p.Parent = ecs.Info{
		PID: 3900, EntityID: ecs.EntityID(host.ID, 3900, 870000), Name: "bash", Executable: "/usr/bin/bash",
		Args: []string{"-bash"}, CommandLine: "-bash", WorkingDirectory: "/home/alice",
		Start: g.base.Add(-time.Hour),
	}
	p.User, p.Group = alice, alice
	p.WorkingDirectory = "/home/alice/src/spawnbeat"
	if full {
		host.IP = append(host.IP, "fe80::5054:ff:fe12:3456")
		p.Parent.User, p.Parent.Group, p.Parent.RealUser, p.Parent.RealGroup = alice, alice, alice, alice
		p.Parent.TTY, p.Parent.Interactive = ecs.TTY{Major: 136, Minor: 0, Valid: true}, ecs.True
		p.SessionLeader = ecs.Leader{PID: 3900, EntityID: p.Parent.EntityID, Name: "bash", Executable: "/usr/bin/bash", Args: []string{"-bash"}, Start: p.Parent.Start}
		p.EntryLeader = ecs.Leader{PID: 812, EntityID: ecs.EntityID(host.ID, 812, 5000), Name: "sshd", Executable: "/usr/sbin/sshd", Args: []string{"sshd: alice [priv]"}, Start: g.base.Add(-2 * time.Hour)}
		p.RealUser, p.RealGroup = alice, alice
		p.TTY, p.Interactive = ecs.TTY{Major: 136, Minor: 0, Valid: true}, ecs.True
	}
	return g
}

// next fills the event for the n-th process start and appends its JSON to
// dst. It returns the extended buffer and the document's id.
func (g *generator) next(dst []byte) ([]byte, string) {
	g.seq++
	n := g.seq
	c := &g.cmds[n%uint64(len(g.cmds))]
	e := &g.ev
	ts := g.base.Add(time.Duration(n) * 137 * time.Microsecond)
	pid := 10000 + int(n%4000000)
	e.Timestamp = ts
	e.Event = ecs.Meta{Kind: ecs.KindEvent, Type: "start", Action: ecs.ActionExec,
		Created: ts.Add(180 * time.Microsecond), Sequence: n}

	// The last argument carries the sequence number, so that no two
	// documents are the same and gzip sees what it would see on a host.
	g.num = strconv.AppendUint(g.num[:0], n, 10)
	g.args = append(g.args[:0], c.args...)
	last := len(g.args) - 1
	g.args[last] = g.args[last] + string(g.num)

	p := &e.Process
	p.PID = pid
	p.EntityID = ecs.EntityID(g.host.ID, pid, 900000+n)
	p.Name, p.Executable = c.name, c.exe
	p.Args = g.args
	p.CommandLine = joinArgs(g.args)
	p.Start = ts
	if g.full {
		p.GroupLeader = ecs.Leader{PID: pid, EntityID: p.EntityID, Name: c.name, Executable: c.exe, Args: g.args, Start: ts}
	}
	e.AssignID()
	return e.AppendJSON(dst), e.Event.ID
}

func joinArgs(args []string) string {
	n := len(args)
	for _, a := range args {
		n += len(a)
	}
	b := make([]byte, 0, n)
	for i, a := range args {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, a...)
	}
	return string(b)
}
