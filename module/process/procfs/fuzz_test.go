package procfs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFiles adds the named file of every process in the fake tree as a
// seed, followed by extra values.
func seedFiles(f *testing.F, name string, extra ...any) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "proc", "*", name))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no %s seeds in testdata: %v", name, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]any{b}, extra...)...)
	}
}

func FuzzParseStat(f *testing.F) {
	seedFiles(f, "stat")
	f.Add([]byte("1 ((() S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Stat
		comm, err := parseStat(b, &s)
		if err != nil {
			return
		}
		// The comm is exactly what lies between the first "(" and the
		// last ")".
		want := b[bytes.IndexByte(b, '(')+1 : bytes.LastIndexByte(b, ')')]
		if !bytes.Equal(comm, want) {
			t.Fatalf("comm %q, want %q", comm, want)
		}
		if s.State == 0 {
			t.Fatal("parsed without a state")
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	seedFiles(f, "status")
	f.Add([]byte("Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nCapPrm:\tff\nCapEff:\t0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Creds
		if err := parseStatus(b, &c); err != nil {
			return
		}
		// A successful parse found Uid and Gid lines: re-rendering what
		// was parsed must parse to the same.
		var buf strings.Builder
		buf.WriteString("Uid:\t" + u32(c.UID) + "\t" + u32(c.EUID) + "\t" + u32(c.SUID) + "\t" + u32(c.FSUID) + "\n")
		buf.WriteString("Gid:\t" + u32(c.GID) + "\t" + u32(c.EGID) + "\t" + u32(c.SGID) + "\t" + u32(c.FSGID) + "\n")
		var again Creds
		if err := parseStatus([]byte(buf.String()), &again); err != nil {
			t.Fatalf("re-parse %q: %v", buf.String(), err)
		}
		c.CapPrm, c.CapEff, c.CapBnd, c.HasCaps, c.HasCapBnd = 0, 0, 0, false, false
		if again != c {
			t.Fatalf("round trip %+v, want %+v", again, c)
		}
	})
}

func u32(v uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

func FuzzSplitCmdline(f *testing.F) {
	seedFiles(f, "cmdline", false)
	f.Add([]byte("a\x00\x00b\x00"), false)
	f.Add([]byte("title with spaces"), false)
	f.Add([]byte("cut\x00argu"), true)
	f.Fuzz(func(t *testing.T, b []byte, truncated bool) {
		c := splitCmdline(b, truncated)
		if !c.known {
			if len(b) != 0 {
				t.Fatalf("%q: argv unknown", b)
			}
			return
		}
		args := c.args(string(c.data), make([]string, 0, c.n))
		if len(args) != c.n {
			t.Fatalf("%q: counted %d, split %d", b, c.n, len(args))
		}
		if cap(args) != c.n {
			t.Fatalf("%q: args grew beyond the counted capacity", b)
		}
		if c.sep == 0 {
			// NUL-split arguments join back to the kept bytes, which are a
			// prefix of the input.
			joined := strings.Join(args, "\x00")
			if joined != string(c.data) || !bytes.HasPrefix(b, c.data) {
				t.Fatalf("%q: args %q do not rebuild %q", b, args, c.data)
			}
			return
		}
		for _, a := range args {
			if a == "" || strings.Contains(a, " ") {
				t.Fatalf("%q: title field %q", b, a)
			}
		}
		if strings.Join(args, "") != strings.ReplaceAll(string(b), " ", "") {
			t.Fatalf("%q: title fields %q lose bytes", b, args)
		}
	})
}

func FuzzParseIDLine(f *testing.F) {
	for _, s := range []string{
		"root:x:0:0:root:/root:/bin/bash",
		"staff:x:50:alice,bob",
		"+nisuser::::::",
		"# comment",
		"a:b:4294967296:",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		id, name, ok := parseIDLine(line)
		if !ok {
			return
		}
		if len(name) == 0 || bytes.IndexByte(name, ':') >= 0 {
			t.Fatalf("%q: name %q", line, name)
		}
		// The id is the third field, as written.
		fields := bytes.Split(bytes.TrimSpace(line), []byte{':'})
		if len(fields) < 3 || string(fields[2]) != u32(id) && strings.TrimLeft(string(fields[2]), "0") != strings.TrimLeft(u32(id), "0") {
			t.Fatalf("%q: id %d is not field 3", line, id)
		}
	})
}
