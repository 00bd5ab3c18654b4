package process

import (
	"errors"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/module/process/execargs"
	"github.com/spawnbeat/spawnbeat/module/process/procfs"
)

// completer makes the process an exec event announced. An image from the
// exec program with the executable, the working directory, the process
// group, session and terminal is the process as it was at its exec:
// nothing is read, but the rest of an argument list longer than the
// record holds. Otherwise /proc is read, as
// procfs.Reader.ReadExec reads a just-exec'd process, and what the image
// does hold stands for what /proc shows no longer or never showed (a
// process gone, an argv rewritten since). Its credentials and its start
// and parent are left to the process table (Source.creds, Source.settle).
// It counts how much of each process was had (spawnbeat.read_state). It
// belongs to the Source's goroutine.
type completer struct {
	rd      *procfs.Reader
	envVars []string // process.env_vars to read; none: environ is not read
	log     *zap.Logger
	stats   *counters

	p   procfs.Process // the process made last, lent until the next exec
	str []byte         // the one string an image's comm, exe and cwd are cut from
}

// exec returns the process pid that exec'd, its image im when ok. The
// process is lent until the next call. ttyKnown says its terminal is the
// image's, exact, though stat was not read.
func (c *completer) exec(pid int, im *execargs.Image, ok bool) (p *procfs.Process, ttyKnown bool) {
	p = &c.p
	var err error
	switch {
	case ok && im.Exe != nil && im.Cwd != nil && im.IDs:
		c.fromImage(p, pid, im, procfs.ReadComplete)
		if im.Cut {
			c.restOfArgs(pid, p)
		}
	case ok:
		err = c.rd.ReadExec(pid, p)
		if err == nil {
			c.overlay(p, im)
		} else {
			c.fromImage(p, pid, im, procfs.ReadExited) // gone since the exec
		}
	default:
		err = c.rd.ReadExec(pid, p)
	}
	switch {
	case err != nil && !errors.Is(err, procfs.ErrGone):
		c.stats.readErrors.Add(1)
		c.log.Debug("read exec'd process", zap.Int("process.pid", pid), zap.Error(err))
	case err == nil && len(c.envVars) > 0 && p.ReadState != procfs.ReadZombie:
		p.EnvVars, _ = c.rd.EnvVars(pid, c.envVars, true) // none when gone since
	}
	c.stats.countRead(p.ReadState)
	return p, ok && im.IDs
}

// restOfArgs reads the whole argument list of p, whose image had only
// its start, from cmdline; gone since, the start stands.
func (c *completer) restOfArgs(pid int, p *procfs.Process) {
	args, truncated, rewritten, err := c.rd.ReadCmdline(pid)
	if err == nil && args != nil {
		p.Args, p.ArgsTruncated, p.ArgsRewritten = args, truncated, rewritten
	}
}

// release lets the strings of the last process go.
func (c *completer) release() { c.p = procfs.Process{} }

// args returns the image's argument bytes as cmdline would give them at
// the Reader's cap, and whether the list went on past them.
func (c *completer) args(im *execargs.Image) ([]byte, bool) {
	b, more := im.Args, im.Cut
	if limit := c.rd.MaxArgBytes(); len(b) > limit {
		b, more = b[:limit], true
	}
	return b, more
}

// fromImage makes p from the image alone, with read state st. Parts the
// image lacks are missing; stat and status are the table's to complete.
func (c *completer) fromImage(p *procfs.Process, pid int, im *execargs.Image, st procfs.ReadState) {
	*p = procfs.Process{Stat: procfs.Stat{PID: pid}, ReadState: st, Missing: procfs.PartStat | procfs.PartStatus}
	b, more := c.args(im)
	p.Args, p.ArgsRewritten = procfs.SplitCmdline(b, more)
	p.ArgsTruncated = more && p.Args != nil
	if p.Args == nil {
		p.Missing |= procfs.PartCmdline
	}
	c.str = append(append(append(c.str[:0], im.Comm...), im.Exe...), im.Cwd...)
	str := string(c.str)
	p.Comm = str[:len(im.Comm)]
	p.Exe = str[len(im.Comm) : len(im.Comm)+len(im.Exe)]
	p.Cwd = str[len(im.Comm)+len(im.Exe):]
	if im.Exe == nil {
		p.Missing |= procfs.PartExe
	}
	if im.Cwd == nil {
		p.Missing |= procfs.PartCwd
	}
	if im.IDs {
		p.PGID, p.SID, p.TTY = im.PGID, im.SID, im.TTY
	}
}

// overlay lays what image im holds over p, read from /proc after it: the
// exec's argv when whole (exact, and never a title set since; a cut one
// only when cmdline is gone), its comm, its paths where it has them, and
// its process group, session and terminal.
func (c *completer) overlay(p *procfs.Process, im *execargs.Image) {
	if !im.Cut || p.Args == nil {
		b, more := c.args(im)
		if args, rewritten := procfs.SplitCmdline(b, more); args != nil {
			p.Args, p.ArgsRewritten, p.ArgsTruncated = args, rewritten, more
			p.Missing &^= procfs.PartCmdline
		}
	}
	if len(im.Comm) > 0 {
		p.Comm = string(im.Comm)
	}
	if im.Exe != nil {
		p.Exe, p.ExeDeleted = string(im.Exe), false
		p.Missing &^= procfs.PartExe
	}
	if im.Cwd != nil {
		p.Cwd = string(im.Cwd)
		p.Missing &^= procfs.PartCwd
	}
	if im.IDs {
		p.PGID, p.SID, p.TTY = im.PGID, im.SID, im.TTY
	}
}
