package procfs

import (
	"bytes"
	"fmt"
)

// Parsers of /proc files. They scan bytes in place and never allocate on
// success: strings are made by the caller, once, from the returned slices.

// statFields is the number of space-separated fields after the comm's
// closing ")" that parseStat needs: state (field 3 of proc(5)) up to
// starttime (field 22).
const statFields = 22 - 2

// parseStat parses /proc/PID/stat into s, except s.Comm, and returns the
// comm bytes (a subslice of b). The comm is taken between the first "(" and
// the last ")", because a comm may itself contain spaces and parentheses.
func parseStat(b []byte, s *Stat) ([]byte, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return nil, fmt.Errorf("parse stat: no (comm): %w", ErrMalformed)
	}
	pid, ok := parseInt(bytes.TrimSpace(b[:open]))
	if !ok {
		return nil, fmt.Errorf("parse stat: bad pid: %w", ErrMalformed)
	}
	comm := b[open+1 : closing]
	rest := b[closing+1:]

	var f [statFields][]byte
	n := 0
	for n < statFields {
		// Fields are separated by single spaces; tolerate runs.
		for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\n') {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		f[n] = rest[:end]
		rest = rest[end:]
		n++
	}
	if n < statFields {
		return nil, fmt.Errorf("parse stat: %d fields after comm, want %d: %w", n, statFields, ErrMalformed)
	}
	if len(f[0]) != 1 {
		return nil, fmt.Errorf("parse stat: bad state: %w", ErrMalformed)
	}
	var (
		ppid, pgrp, sid, tty, tpgid int64
		flags, start                uint64
	)
	if ppid, ok = parseInt(f[1]); !ok {
		return nil, fmt.Errorf("parse stat: bad ppid: %w", ErrMalformed)
	}
	if pgrp, ok = parseInt(f[2]); !ok {
		return nil, fmt.Errorf("parse stat: bad pgrp: %w", ErrMalformed)
	}
	if sid, ok = parseInt(f[3]); !ok {
		return nil, fmt.Errorf("parse stat: bad session: %w", ErrMalformed)
	}
	if tty, ok = parseInt(f[4]); !ok {
		return nil, fmt.Errorf("parse stat: bad tty_nr: %w", ErrMalformed)
	}
	if tpgid, ok = parseInt(f[5]); !ok {
		return nil, fmt.Errorf("parse stat: bad tpgid: %w", ErrMalformed)
	}
	if flags, ok = parseUint(f[6]); !ok || flags > 1<<32-1 {
		return nil, fmt.Errorf("parse stat: bad flags: %w", ErrMalformed)
	}
	if start, ok = parseUint(f[19]); !ok {
		return nil, fmt.Errorf("parse stat: bad starttime: %w", ErrMalformed)
	}
	s.PID = int(pid)
	s.State = f[0][0]
	s.PPID = int(ppid)
	s.PGID = int(pgrp)
	s.SID = int(sid)
	s.TTY = uint32(tty) // tty_nr is a dev_t the kernel prints as %d
	s.TPGID = int(tpgid)
	s.Flags = uint32(flags)
	s.StartTicks = start
	return comm, nil
}

// parseStatus parses the Uid, Gid, CapPrm and CapEff lines of
// /proc/PID/status into c. Uid and Gid are required; the capability lines
// are optional (HasCaps says whether both were found).
func parseStatus(b []byte, c *Creds) error {
	var (
		seen uint8
		err  error
	)
	const (
		seenUID = 1 << iota
		seenGID
		seenPrm
		seenEff
		seenBnd
	)
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		key, val := line[:colon], line[colon+1:]
		switch string(key) { // no allocation: the compiler compares in place
		case "Uid":
			if !parseIDs(val, &c.UID, &c.EUID, &c.SUID, &c.FSUID) {
				return fmt.Errorf("parse status: bad Uid line: %w", ErrMalformed)
			}
			seen |= seenUID
		case "Gid":
			if !parseIDs(val, &c.GID, &c.EGID, &c.SGID, &c.FSGID) {
				return fmt.Errorf("parse status: bad Gid line: %w", ErrMalformed)
			}
			seen |= seenGID
		case "CapPrm":
			if c.CapPrm, err = parseCapLine(key, val); err != nil {
				return err
			}
			seen |= seenPrm
		case "CapEff":
			if c.CapEff, err = parseCapLine(key, val); err != nil {
				return err
			}
			seen |= seenEff
		case "CapBnd":
			if c.CapBnd, err = parseCapLine(key, val); err != nil {
				return err
			}
			seen |= seenBnd
		}
	}
	if seen&(seenUID|seenGID) != seenUID|seenGID {
		return fmt.Errorf("parse status: no Uid or Gid line: %w", ErrMalformed)
	}
	c.HasCaps = seen&(seenPrm|seenEff) == seenPrm|seenEff
	c.HasCapBnd = seen&seenBnd != 0
	return nil
}

// parseCapLine parses the hexadecimal set of a status line named key.
func parseCapLine(key, val []byte) (uint64, error) {
	v, ok := parseHex(bytes.TrimSpace(val))
	if !ok {
		return 0, fmt.Errorf("parse status: bad %s line: %w", key, ErrMalformed)
	}
	return v, nil
}

// parseIDs parses the four tab-separated ids (real, effective, saved, fs) of
// a Uid or Gid line.
func parseIDs(b []byte, realID, eff, saved, fs *uint32) bool {
	dst := [4]*uint32{realID, eff, saved, fs}
	for i := range dst {
		for len(b) > 0 && (b[0] == '\t' || b[0] == ' ') {
			b = b[1:]
		}
		end := bytes.IndexAny(b, "\t ")
		if end < 0 {
			end = len(b)
		}
		v, ok := parseUint(b[:end])
		if !ok || v > 1<<32-1 {
			return false
		}
		*dst[i] = uint32(v)
		b = b[end:]
	}
	return true
}

// cmdline describes how /proc/PID/cmdline splits into arguments.
type cmdline struct {
	data      []byte // the bytes the arguments are taken from
	known     bool   // argv was read: Args is non-nil, even if empty
	n         int    // number of arguments
	sep       byte   // separator: NUL, or ' ' for a rewritten title
	rewritten bool
}

// splitCmdline decides how to split the raw cmdline b (at most the capped
// length; truncated says the file was longer).
//
// An intact argv is NUL-separated with a trailing NUL. When the last byte of
// the argument area is not NUL, the process has overwritten its argv
// (setproctitle(3)) and the kernel returns a single string up to the first
// NUL, without terminator (get_mm_proctitle in fs/proc/base.c): that title
// is split on spaces, the way ps(1) shows it. Titles that kept the NUL are
// often padded with NULs; trailing NULs are therefore all dropped, which
// also drops genuinely empty trailing arguments (a known, accepted loss, as
// in other /proc readers).
func splitCmdline(b []byte, truncated bool) cmdline {
	if len(b) == 0 {
		return cmdline{}
	}
	if !truncated && bytes.IndexByte(b, 0) < 0 {
		// Rewritten title: split on runs of spaces.
		t := bytes.Trim(b, " ")
		return cmdline{data: t, known: true, n: countFields(t, ' '), sep: ' ', rewritten: true}
	}
	if truncated {
		// The cap fell right after a separator: the next argument is
		// unknown, not empty.
		b = bytes.TrimSuffix(b, []byte{0})
	} else {
		b = bytes.TrimRight(b, "\x00")
	}
	if len(b) == 0 {
		// Only NULs: the title was blanked. One empty argument says argv
		// exists but is empty, unlike nil (unknown).
		return cmdline{data: b, known: true, n: 1, sep: 0}
	}
	return cmdline{data: b, known: true, n: bytes.Count(b, []byte{0}) + 1, sep: 0}
}

// SplitCmdline splits b, the bytes of a /proc/PID/cmdline (at most a cap;
// more says the file went on past them), into arguments as Read does (see
// splitCmdline): substrings of one new string, nil when b is empty.
// rewritten says the process had replaced its argv with a title.
func SplitCmdline(b []byte, more bool) (args []string, rewritten bool) {
	cl := splitCmdline(b, more)
	if !cl.known {
		return nil, false
	}
	return cl.args(string(cl.data), make([]string, 0, cl.n)), cl.rewritten
}

// countFields counts the sep-separated non-empty fields of b.
func countFields(b []byte, sep byte) int {
	n := 0
	in := false
	for _, c := range b {
		if c == sep {
			in = false
		} else if !in {
			in = true
			n++
		}
	}
	return n
}

// args splits s (the string made from c.data) into dst, which must have
// capacity c.n; substrings share s's memory.
func (c cmdline) args(s string, dst []string) []string {
	if c.sep == ' ' {
		start := -1
		for i := 0; i < len(s); i++ {
			if s[i] == ' ' {
				if start >= 0 {
					dst = append(dst, s[start:i])
					start = -1
				}
			} else if start < 0 {
				start = i
			}
		}
		if start >= 0 {
			dst = append(dst, s[start:])
		}
		return dst
	}
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, s[start:i])
			start = i + 1
		}
	}
	return append(dst, s[start:])
}

// parseUint parses a non-empty decimal number without sign.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseInt parses a decimal number with an optional leading '-'.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true // range checked above
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// parseHex parses a non-empty hexadecimal number of at most 16 digits.
func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

// nextLine splits the first line off b, without its newline.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}
