package execargs

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"
)

// rec builds a record as the program writes it.
func rec(tgid uint32, time uint64, args string, full int, errno int32) []byte {
	h := execExecHeader{Time: time, Tgid: tgid, ArgsLen: uint32(full), ArgsErr: errno}
	copy(h.Comm[:], "comm")
	b := append(make([]byte, 0, headerLen+len(args)), unsafe.Slice((*byte)(unsafe.Pointer(&h)), headerLen)...)
	if errno == 0 {
		b = append(b, args...)
	}
	return b
}

// header returns the header of record r, to change it.
func header(r []byte) *execExecHeader { return (*execExecHeader)(unsafe.Pointer(&r[0])) }

// imaged adds to record r the exe and cwd components given (nil: not
// found), and the process group, session and terminal.
func imaged(r []byte, exe, cwd []string, pgid, sid, tty uint32) []byte {
	args := append([]byte(nil), r[headerLen:]...)
	r = r[:headerLen]
	flags := flagIDs
	for _, p := range []struct {
		comps []string
		flag  execExecFlag
	}{{exe, flagExe}, {cwd, flagCwd}} {
		if p.comps != nil {
			flags |= p.flag
			for _, c := range p.comps {
				r = append(r, c+"\x00"...)
			}
		}
		if p.flag == flagExe {
			header(r).ExeLen = uint32(len(r) - headerLen)
		}
	}
	h := header(r)
	h.PathsLen = uint32(len(r) - headerLen)
	h.Flags, h.Pgid, h.Sid, h.Tty = flags, pgid, sid, tty
	return append(r, args...)
}

func newTestTap(recs ...[]byte) *Tap {
	t := &Tap{}
	for _, r := range recs {
		t.keep(r)
	}
	t.ring = &ring{cons: make([]byte, 8), prod: make([]byte, 8)} // empty
	t.keepFn = t.keep
	return t
}

func TestTake(t *testing.T) {
	tap := newTestTap(
		rec(10, 100, "sh\x00-c\x00x\x00", 8, 0),
		rec(11, 105, "a\x00", 2, 0),
		rec(10, 110, "ls\x00", 3, 0), // 10 exec'd again
		rec(12, 120, "", 50, -14),    // the copy failed (EFAULT)
		rec(13, 130, "long\x00", 40000, 0),
	)
	check := func(tgid int, at uint64, want string, wantCut, wantOK bool) {
		t.Helper()
		ex, ok := tap.Take(tgid, at)
		if ok != wantOK || ex.Cut != wantCut || !bytes.Equal(ex.Args, []byte(want)) || ok && string(ex.Comm) != "comm" {
			t.Errorf("Take(%d, %d) = %q (comm %q), %v, %v; want %q (comm), %v, %v", tgid, at, ex.Args, ex.Comm, ex.Cut, ok, want, wantCut, wantOK)
		}
	}
	check(10, 101, "sh\x00-c\x00x\x00", false, true) // the first exec's event
	check(11, 104, "", false, false)                 // a record after the event is not its own
	check(11, 106, "a\x00", false, true)
	check(10, 111, "ls\x00", false, true)
	check(12, 121, "", false, false) // no bytes: /proc is read instead
	check(13, 131, "long\x00", true, true)
	check(14, 140, "", false, false) // no record at all
	if want := (Stats{Taken: 4, Cut: 1, Missed: 3}); tap.Stats() != want {
		t.Errorf("Stats = %+v, want %+v", tap.Stats(), want)
	}
}

// TestTakeImage: the paths' components, last first, are joined into
// paths; a path not found is nil, the root has no components.
func TestTakeImage(t *testing.T) {
	tap := newTestTap(
		imaged(rec(10, 100, "true\x00x\x00", 7, 0), []string{"true", "bin", "usr"}, []string{"b c", "a"}, 10, 3, 0x8802),
		imaged(rec(11, 100, "sh\x00", 3, 0), nil, []string{}, 1, 1, 0),
	)
	ex, ok := tap.Take(10, 101)
	if !ok || string(ex.Exe) != "/usr/bin/true" || string(ex.Cwd) != "/a/b c" || !ex.IDs || ex.PGID != 10 || ex.SID != 3 || ex.TTY != 0x8802 || string(ex.Args) != "true\x00x\x00" {
		t.Errorf("Take(10) = exe %q, cwd %q, ids %v %d %d tty %#x, args %q", ex.Exe, ex.Cwd, ex.IDs, ex.PGID, ex.SID, ex.TTY, ex.Args)
	}
	ex, ok = tap.Take(11, 101)
	if !ok || ex.Exe != nil || string(ex.Cwd) != "/" || string(ex.Args) != "sh\x00" {
		t.Errorf("Take(11) = exe %q, cwd %q, args %q; want no exe, cwd /", ex.Exe, ex.Cwd, ex.Args)
	}
}

// TestTakeSkipsEarlierExec: when an exec event was lost, the next exec of
// the same process takes its own record, and the earlier one is dropped.
func TestTakeSkipsEarlierExec(t *testing.T) {
	tap := newTestTap(
		rec(10, 100, "first\x00", 6, 0),
		rec(10, 200, "second\x00", 7, 0),
	)
	if ex, _ := tap.Take(10, 201); string(ex.Args) != "second\x00" {
		t.Fatalf("Take = %q, want the later exec's", ex.Args)
	}
	if _, ok := tap.Take(10, 300); ok {
		t.Error("the earlier exec's record was left to be taken")
	}
	tap.compact()
	if len(tap.pending) != 0 || len(tap.arena) != 0 {
		t.Errorf("left %d records, %d bytes", len(tap.pending), len(tap.arena))
	}
}

// TestTakeExpires: a record whose event never comes is given up, and the
// bytes of those left are kept intact when others are dropped.
func TestTakeExpires(t *testing.T) {
	tap := newTestTap(
		rec(10, 100, "lost\x00", 5, 0),
		rec(11, 200, "kept\x00", 5, 0),
		rec(12, 300, "taken\x00", 6, 0),
	)
	if _, ok := tap.Take(12, 301); !ok {
		t.Fatal("not taken")
	}
	if _, ok := tap.Take(99, 100+expireAfter+1); ok {
		t.Fatal("took another process's record")
	}
	if ex, ok := tap.Take(11, 100+expireAfter+2); !ok || string(ex.Args) != "kept\x00" {
		t.Errorf("Take = %q, %v; want the record still pending", ex.Args, ok)
	}
	if st := tap.Stats(); st.Expired != 1 {
		t.Errorf("Expired = %d, want 1", st.Expired)
	}
}

// TestKeepBounded: records nobody claims do not pile up.
func TestKeepBounded(t *testing.T) {
	tap := newTestTap()
	for i := range maxPending + 10 {
		tap.keep(rec(uint32(i+1), uint64(i), "x\x00", 2, 0))
	}
	if len(tap.pending) > maxPending {
		t.Errorf("%d pending records, bound %d", len(tap.pending), maxPending)
	}
	if ex, ok := tap.Take(maxPending+10, maxPending+10); !ok || string(ex.Args) != "x\x00" {
		t.Errorf("the newest record: %q, %v", ex.Args, ok)
	}
	if st := tap.Stats(); st.Expired < 10 {
		t.Errorf("Expired = %d, want at least 10", st.Expired)
	}

	// Long command lines: bounded by their bytes.
	long := strings.Repeat("y", argsMax)
	for i := range 500 {
		tap.keep(rec(uint32(i+1), uint64(i), long, argsMax, 0))
		if len(tap.arena) > maxPendingBytes {
			t.Fatalf("%d pending bytes after %d long records, bound %d", len(tap.arena), i+1, maxPendingBytes)
		}
	}
	if ex, ok := tap.Take(500, 500); !ok || len(ex.Args) != argsMax {
		t.Errorf("the newest long record: %d bytes, %v", len(ex.Args), ok)
	}
}

// TestRingEach reads records laid out as the kernel lays them: 8-byte
// headers, 8-byte alignment, a discarded record, one that wraps (the data
// is mapped twice), and one still being written, which stops the read.
func TestRingEach(t *testing.T) {
	const size = 128
	var mem [size]byte
	write := func(pos uint64, b []byte) {
		for i, c := range b {
			mem[(pos+uint64(i))%size] = c
		}
	}
	put := func(pos uint64, n uint32, payload string) {
		write(pos, binary.NativeEndian.AppendUint32(nil, n))
		write(pos+ringHeader, []byte(payload))
	}
	// Start near the end so that the third record wraps.
	put(88, 3, "abc")                // 88..104
	put(104, ringDiscard|5, "xxxxx") // 104..120
	put(120, 12, "wrapping-rec")     // 120..140: its bytes wrap at 128
	put(144, ringBusy|4, "busy")     // not committed yet
	r := &ring{cons: make([]byte, 8), prod: make([]byte, 8), mask: size - 1}
	r.data = append(mem[:], mem[:]...) // mapped twice
	binary.NativeEndian.PutUint64(r.cons, 88)
	binary.NativeEndian.PutUint64(r.prod, 160)
	var got []string
	r.each(func(rec []byte) { got = append(got, string(rec)) })
	if len(got) != 2 || got[0] != "abc" || got[1] != "wrapping-rec" {
		t.Errorf("records %q, want abc and wrapping-rec", got)
	}
	if pos := binary.NativeEndian.Uint64(r.cons); pos != 144 {
		t.Errorf("consumer position %d, want 144 (stopped at the busy record)", pos)
	}
}

// BenchmarkTake pairs exec events with records as a storm does: a batch of
// records is read from the ring, then each event takes its own. The ring
// here is empty; keep stands for its read (a copy of each record).
func BenchmarkTake(b *testing.B) {
	const batch = 8
	recs := make([][]byte, batch)
	for i := range recs {
		recs[i] = imaged(rec(uint32(1000+i), uint64(i), "/bin/true\x00spawnbeat-bench-marker-000123\x00", 40, 0),
			[]string{"true", "bin", "usr"}, []string{"spawnbeat", "work"}, 1000, 1, 0)
	}
	tap := newTestTap()
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range recs {
			tap.keep(r)
		}
		for i := range batch {
			if _, ok := tap.Take(1000+i, batch); !ok {
				b.Fatal("not taken")
			}
		}
	}
}

// FuzzKeep feeds records of any bytes (a kernel that wrote another
// layout) through keep and Take: nothing may panic, and what Take returns
// stays within the record.
func FuzzKeep(f *testing.F) {
	f.Add(rec(10, 100, "sh\x00-c\x00x\x00", 8, 0), 10, uint64(101))
	f.Add(rec(10, 100, "", 50, -14), 10, uint64(101))
	f.Add(imaged(rec(10, 100, "sh\x00", 3, 0), []string{"sh", "bin"}, []string{}, 1, 1, 0), 10, uint64(101))
	f.Add([]byte{1, 2, 3}, 0, uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, tgid int, at uint64) {
		tap := newTestTap(b, b)
		ex, ok := tap.Take(tgid, at)
		if ok && (len(ex.Args) > len(b) || len(ex.Comm) > commLen || len(ex.Exe)+len(ex.Cwd) > len(b)+2) {
			t.Fatalf("Take returned %d args bytes, %d comm bytes and %d path bytes from a %d-byte record",
				len(ex.Args), len(ex.Comm), len(ex.Exe)+len(ex.Cwd), len(b))
		}
	})
}
