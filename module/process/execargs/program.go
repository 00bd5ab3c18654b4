package execargs

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// A record, as the program writes it into the ring buffer: a header, then
// the first bytes of the argument block (NUL-terminated arguments, as
// /proc/PID/cmdline shows them).
const (
	offTime   = 0  // u64: bpf_ktime_get_ns at the exec (CLOCK_MONOTONIC, as the proc connector's timestamp)
	offTGID   = 8  // u32: the process
	offLen    = 12 // u32: the argument block's length in the process
	offErr    = 16 // s32: bpf_probe_read_user's result; not 0: no bytes follow
	offComm   = 24 // [16]byte: the new comm (the file's name, cut to 15 bytes), NUL-padded
	commLen   = 16 // TASK_COMM_LEN
	headerLen = offComm + commLen

	// recordMax is the largest record: the per-CPU scratch buffer it is
	// built in (a per-CPU array value may be at most 32 KiB). Argument
	// lists longer than argsMax bytes arrive cut (see Tap.Take).
	recordMax = 32 << 10
	argsMax   = recordMax - headerLen
)

// bpfRBNoWakeup is BPF_RB_NO_WAKEUP: the ring is read when the exec event
// arrives, never polled, so no reader needs waking.
const bpfRBNoWakeup = 1

// offsets are the kernel struct offsets the program reads through.
type offsets struct {
	taskMM     uint32 // task_struct.mm
	mmArgStart uint32 // mm_struct.arg_start; arg_end follows it (kernelOffsets checks)
}

// kernelOffsets finds the offsets in the running kernel's BTF.
func kernelOffsets() (offsets, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return offsets{}, fmt.Errorf("kernel BTF: %w", err)
	}
	var o offsets
	var start, end uint32
	for _, f := range []struct {
		typ, member string
		off         *uint32
	}{
		{"task_struct", "mm", &o.taskMM},
		{"mm_struct", "arg_start", &start},
		{"mm_struct", "arg_end", &end},
	} {
		if *f.off, err = offsetOf(spec, f.typ, f.member); err != nil {
			return offsets{}, err
		}
	}
	if end != start+8 {
		// The program reads both with one 16-byte copy.
		return offsets{}, fmt.Errorf("kernel BTF: mm_struct.arg_end at %d, not right after arg_start at %d", end, start)
	}
	o.mmArgStart = start
	return o, nil
}

// offsetOf returns the byte offset of member in struct typ, looking into
// anonymous structs and unions (mm_struct keeps its fields in one).
func offsetOf(spec *btf.Spec, typ, member string) (uint32, error) {
	var st *btf.Struct
	if err := spec.TypeByName(typ, &st); err != nil {
		return 0, fmt.Errorf("kernel BTF: struct %s: %w", typ, err)
	}
	off, ok := find(st, member)
	if !ok {
		return 0, fmt.Errorf("kernel BTF: struct %s has no member %s", typ, member)
	}
	return off, nil
}

func find(t btf.Type, name string) (uint32, bool) {
	var members []btf.Member
	switch c := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = c.Members
	case *btf.Union:
		members = c.Members
	default:
		return 0, false
	}
	for _, m := range members {
		if m.Name == name {
			return m.Offset.Bytes(), true
		}
		if m.Name == "" {
			if off, ok := find(m.Type, name); ok {
				return m.Offset.Bytes() + off, true
			}
		}
	}
	return 0, false
}

// program is the raw tracepoint program for sched_process_exec. In C:
//
//	rec = scratch[this CPU]
//	rec->time = bpf_ktime_get_ns()
//	rec->tgid = bpf_get_current_pid_tgid() >> 32
//	bpf_get_current_comm(rec->comm, 16)
//	mm = current->mm; start = mm->arg_start; len = mm->arg_end - start
//	rec->len = len
//	n = min(len, argsMax)
//	rec->err = bpf_probe_read_user(rec->args, n, start)
//	if rec->err: n = 0
//	bpf_ringbuf_output(ring, rec, headerLen + n, BPF_RB_NO_WAKEUP)
//
// current is the exec'ing task with its new image installed: the
// tracepoint fires in exec_binprm after the new mm is in place and just
// before proc_exec_connector. The arguments were written to the new stack
// by the exec itself, so their pages are present and the copy, which may
// not fault, finds them. A full ring drops the record (the exec then
// falls back to /proc).
func program(o offsets, scratch, ring *ebpf.Map) asm.Instructions {
	const (
		rec   = asm.R6 // the scratch record
		start = asm.R8 // arg_start
		n     = asm.R7 // bytes copied
		size  = asm.R9 // arg_end - arg_start
	)
	p := asm.Instructions{
		// rec = bpf_map_lookup_elem(scratch, &key{0})
		asm.StoreImm(asm.R10, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, scratch.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(rec, asm.R0),

		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(rec, offTime, asm.R0, asm.DWord),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(rec, offTGID, asm.R0, asm.Word),
		asm.Mov.Reg(asm.R1, rec),
		asm.Add.Imm(asm.R1, offComm),
		asm.Mov.Imm(asm.R2, commLen),
		asm.FnGetCurrentComm.Call(),

		asm.FnGetCurrentTask.Call(),
	}
	p = append(p, readKernel(-16, 8, asm.R0, o.taskMM)...) // mm = current->mm
	p = append(p, asm.LoadMem(asm.R0, asm.R10, -16, asm.DWord))
	p = append(p, readKernel(-32, 16, asm.R0, o.mmArgStart)...) // arg_start, arg_end
	return append(p,
		asm.LoadMem(start, asm.R10, -32, asm.DWord),
		asm.LoadMem(size, asm.R10, -32+8, asm.DWord),
		asm.Sub.Reg(size, start),
		asm.StoreMem(rec, offLen, size, asm.Word),

		// n = min(size, argsMax), unsigned: a nonsensical negative size is huge
		asm.Mov.Reg(n, size),
		asm.JLE.Imm(n, argsMax, "copy"),
		asm.Mov.Imm(n, argsMax),
		asm.Mov.Reg(asm.R1, rec).WithSymbol("copy"),
		asm.Add.Imm(asm.R1, headerLen),
		asm.Mov.Reg(asm.R2, n),
		asm.Mov.Reg(asm.R3, start),
		asm.FnProbeReadUser.Call(),
		asm.StoreMem(rec, offErr, asm.R0, asm.Word),
		asm.JEq.Imm(asm.R0, 0, "send"),
		asm.Mov.Imm(n, 0),

		asm.LoadMapPtr(asm.R1, ring.FD()).WithSymbol("send"),
		asm.Mov.Reg(asm.R2, rec),
		asm.Mov.Reg(asm.R3, n),
		asm.Add.Imm(asm.R3, headerLen),
		asm.Mov.Imm(asm.R4, bpfRBNoWakeup),
		asm.FnRingbufOutput.Call(),

		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
}

// readKernel is bpf_probe_read_kernel(fp+at, size, src+off) onto the
// stack; the program ends (at "out") when it fails.
func readKernel(at int16, size int32, src asm.Register, off uint32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R3, src),
		asm.Add.Imm(asm.R3, int32(off)),
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, int32(at)),
		asm.Mov.Imm(asm.R2, size),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
	}
}
