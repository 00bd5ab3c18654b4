package execargs

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// BenchmarkRingRead compares the Tap's reader of the ring (ring.go: the
// mapping read in place, no system call) with cilium/ebpf's ringbuf.Reader,
// on what a wake-up of a storm finds: a batch of records of a typical
// size, read and released. Each iteration first has the kernel write the
// batch (a small socket filter run batch times in one BPF_PROG_TEST_RUN);
// read-ns/batch times the reading alone.
func BenchmarkRingRead(b *testing.B) {
	testenv.RequireRoot(b)
	const batch, size = 16, 160
	ringMap, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer ringMap.Close()
	// A fixture, not the capture program: write size bytes of the stack
	// to the ring.
	insns := asm.Instructions{asm.Mov.Imm(asm.R1, 0)}
	for off := int16(-size); off < 0; off += 8 {
		insns = append(insns, asm.StoreMem(asm.R10, off, asm.R1, asm.DWord))
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.SocketFilter,
		License: "Dual BSD/GPL",
		Instructions: append(insns,
			asm.LoadMapPtr(asm.R1, ringMap.FD()),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -size),
			asm.Mov.Imm(asm.R3, size),
			asm.Mov.Imm(asm.R4, 1), // BPF_RB_NO_WAKEUP, as the capture program
			asm.FnRingbufOutput.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer prog.Close()
	filled := 0
	data := make([]byte, 64)
	fill := func() {
		if _, err := prog.Run(&ebpf.RunOptions{Data: data, Repeat: batch}); err != nil {
			b.Fatal(err)
		}
		filled += batch
	}
	b.Run("mapped", func(b *testing.B) {
		r, err := mapRing(ringMap.FD(), 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		defer r.close()
		n := 0
		filled = 0
		count := func([]byte) { n++ }
		var read time.Duration
		b.ReportAllocs()
		for b.Loop() {
			fill()
			start := time.Now()
			r.each(count)
			read += time.Since(start)
		}
		b.ReportMetric(float64(read.Nanoseconds())/float64(b.N), "read-ns/batch")
		if n < filled { // more when a test run was interrupted and retried
			b.Fatalf("read %d records, want %d", n, filled)
		}
	})
	b.Run("cilium-ringbuf", func(b *testing.B) {
		rd, err := ringbuf.NewReader(ringMap)
		if err != nil {
			b.Fatal(err)
		}
		defer rd.Close()
		rd.SetDeadline(time.Unix(1, 0)) // never wait: the records are there
		var rec ringbuf.Record
		n := 0
		filled = 0
		var read time.Duration
		b.ReportAllocs()
		for b.Loop() {
			fill()
			start := time.Now()
			for {
				err := rd.ReadInto(&rec)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			read += time.Since(start)
		}
		b.ReportMetric(float64(read.Nanoseconds())/float64(b.N), "read-ns/batch")
		if n < filled { // more when a test run was interrupted and retried
			b.Fatalf("read %d records, want %d", n, filled)
		}
	})
}
