package execargs

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// A record, as the program writes it into the ring buffer: a header, then
// the exec'd file's path and the working directory as name components,
// then the first bytes of the argument block (NUL-terminated arguments, as
// /proc/PID/cmdline shows them).
//
// A path is its components from the last to the first, each ending in a
// NUL ("true\x00bin\x00usr\x00" is /usr/bin/true), as the program finds
// them walking the dentries up to the root of the mount tree, the way
// d_path does for /proc/PID/exe. A path the walk cannot finish (a
// deleted or unreachable file, a pseudo file such as a memfd, or one
// longer than pathsMax) is left out, its flag not set.
const (
	offTime   = 0  // u64: bpf_ktime_get_ns at the exec (CLOCK_MONOTONIC, as the proc connector's timestamp)
	offTGID   = 8  // u32: the process
	offLen    = 12 // u32: the argument block's length in the process
	offErr    = 16 // s32: bpf_probe_read_user's result; not 0: no argument bytes follow
	offPGID   = 20 // u32: the process group, when flagIDs
	offSID    = 24 // u32: the session, when flagIDs
	offFlags  = 28 // u32: flag bits, below
	offExeN   = 32 // u32: the exe path's bytes
	offPathsN = 36 // u32: the exe and cwd paths' bytes (the walk's cursor while it runs)
	offComm   = 40 // [16]byte: the new comm (the file's name, cut to 15 bytes), NUL-padded
	commLen   = 16 // TASK_COMM_LEN
	headerLen = offComm + commLen

	// recordMax is the largest record: the per-CPU scratch buffer it is
	// built in (a per-CPU array value may be at most 32 KiB). Paths take
	// at most pathsMax bytes; argument lists longer than argsMax arrive
	// cut (see Tap.Take).
	recordMax = 32 << 10
	pathsMax  = 4 << 10
	argsMax   = recordMax - headerLen - pathsMax

	// nameMax is the room a component needs: NAME_MAX and its NUL.
	nameMax = 256
	// walkMax bounds a path's walk: its components and the mounts it
	// crosses.
	walkMax = 64
)

// Flag bits.
const (
	flagExe = 1 << iota // the exe path was found
	flagCwd             // the cwd path was found
	flagIDs             // PGID and SID were read
)

// bpfRBNoWakeup is BPF_RB_NO_WAKEUP: the ring is read when the exec event
// arrives, never polled, so no reader needs waking.
const bpfRBNoWakeup = 1

// offsets are the kernel struct offsets the program reads through.
type offsets struct {
	taskMM, taskFS, taskSignal uint32 // task_struct.mm, fs, signal
	mmArgStart                 uint32 // mm_struct.arg_start; arg_end follows it
	mmExeFile                  uint32 // mm_struct.exe_file
	fileDentry                 uint32 // file.f_path.dentry; .mnt is 8 bytes before it
	fsPwdDentry                uint32 // fs_struct.pwd.dentry; .mnt is 8 bytes before it
	dentryParent, dentryName   uint32 // dentry.d_parent, dentry.d_name.name
	dentryUnhashed             uint32 // dentry.d_hash.pprev: NULL when unhashed (deleted)
	mountMnt                   uint32 // mount.mnt, the vfsmount a path points to
	mountParent                uint32 // mount.mnt_parent; mnt_mountpoint follows it
	vfsmountRoot               uint32 // vfsmount.mnt_root
	signalPGID                 uint32 // signal_struct.pids[PIDTYPE_PGID]; [PIDTYPE_SID] follows it
	pidNr                      uint32 // pid.numbers[0].nr: the number in the initial namespace
}

// kernelOffsets finds the offsets in the running kernel's BTF, and checks
// the layouts the program relies on: a field read with its neighbour in
// one copy must have it right after.
func kernelOffsets() (offsets, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return offsets{}, fmt.Errorf("kernel BTF: %w", err)
	}
	var o offsets
	var argEnd, pathMnt, pathDentry, mountPoint, pids, numbers, nr uint32
	for _, f := range []struct {
		typ, member string
		off         *uint32
	}{
		{"task_struct", "mm", &o.taskMM},
		{"task_struct", "fs", &o.taskFS},
		{"task_struct", "signal", &o.taskSignal},
		{"mm_struct", "arg_start", &o.mmArgStart},
		{"mm_struct", "arg_end", &argEnd},
		{"mm_struct", "exe_file", &o.mmExeFile},
		{"file", "f_path.dentry", &o.fileDentry},
		{"fs_struct", "pwd.dentry", &o.fsPwdDentry},
		{"path", "mnt", &pathMnt},
		{"path", "dentry", &pathDentry},
		{"dentry", "d_parent", &o.dentryParent},
		{"dentry", "d_name.name", &o.dentryName},
		{"dentry", "d_hash.pprev", &o.dentryUnhashed},
		{"mount", "mnt", &o.mountMnt},
		{"mount", "mnt_parent", &o.mountParent},
		{"mount", "mnt_mountpoint", &mountPoint},
		{"vfsmount", "mnt_root", &o.vfsmountRoot},
		{"signal_struct", "pids", &pids},
		{"pid", "numbers", &numbers},
		{"upid", "nr", &nr},
	} {
		if *f.off, err = offsetOf(spec, f.typ, f.member); err != nil {
			return offsets{}, err
		}
	}
	pgid, err := enumValue(spec, "pid_type", "PIDTYPE_PGID")
	if err != nil {
		return offsets{}, err
	}
	sid, err := enumValue(spec, "pid_type", "PIDTYPE_SID")
	if err != nil {
		return offsets{}, err
	}
	o.signalPGID = pids + 8*pgid
	o.pidNr = numbers + nr
	for _, pair := range []struct {
		what        string
		first, next uint32
	}{
		{"mm_struct.arg_start, arg_end", o.mmArgStart, argEnd},
		{"path.mnt, dentry", pathMnt, pathDentry},
		{"mount.mnt_parent, mnt_mountpoint", o.mountParent, mountPoint},
		{"signal_struct.pids[PIDTYPE_PGID], [PIDTYPE_SID]", o.signalPGID, pids + 8*sid},
	} {
		if pair.next != pair.first+8 {
			return offsets{}, fmt.Errorf("kernel BTF: %s at %d and %d, not 8 bytes apart", pair.what, pair.first, pair.next)
		}
	}
	return o, nil
}

// offsetOf returns the byte offset of member in struct typ: a name, or a
// dotted path through nested structs ("f_path.dentry"), looking into
// anonymous structs and unions on the way (mm_struct keeps its fields in
// one).
func offsetOf(spec *btf.Spec, typ, member string) (uint32, error) {
	var st *btf.Struct
	if err := spec.TypeByName(typ, &st); err != nil {
		return 0, fmt.Errorf("kernel BTF: struct %s: %w", typ, err)
	}
	var t btf.Type = st
	off := uint32(0)
	for name := range strings.SplitSeq(member, ".") {
		m, at, ok := find(t, name)
		if !ok {
			return 0, fmt.Errorf("kernel BTF: struct %s has no member %s", typ, member)
		}
		t, off = m.Type, off+at
	}
	return off, nil
}

// enumValue returns the value of name in enum typ.
func enumValue(spec *btf.Spec, typ, name string) (uint32, error) {
	var e *btf.Enum
	if err := spec.TypeByName(typ, &e); err != nil {
		return 0, fmt.Errorf("kernel BTF: enum %s: %w", typ, err)
	}
	for _, v := range e.Values {
		if v.Name == name {
			return uint32(v.Value), nil
		}
	}
	return 0, fmt.Errorf("kernel BTF: enum %s has no %s", typ, name)
}

// find returns the member called name of struct or union t, and its
// offset.
func find(t btf.Type, name string) (btf.Member, uint32, bool) {
	var members []btf.Member
	switch c := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = c.Members
	case *btf.Union:
		members = c.Members
	default:
		return btf.Member{}, 0, false
	}
	for _, m := range members {
		if m.Name == name {
			return m, m.Offset.Bytes(), true
		}
		if m.Name == "" {
			if in, off, ok := find(m.Type, name); ok {
				return in, m.Offset.Bytes() + off, true
			}
		}
	}
	return btf.Member{}, 0, false
}

// program is the raw tracepoint program for sched_process_exec. In C:
//
//	rec = scratch[this CPU]
//	rec->time = bpf_ktime_get_ns()
//	rec->tgid = bpf_get_current_pid_tgid() >> 32
//	bpf_get_current_comm(rec->comm, 16)
//	rec->flags = rec->exe_n = rec->paths_n = 0
//	task = current; mm = task->mm
//	rec->pgid, rec->sid = task->signal->pids[PGID, SID]->numbers[0].nr; flags |= IDS
//	walk(&mm->exe_file->f_path, EXE)
//	walk(&task->fs->pwd, CWD)
//	start = mm->arg_start; len = mm->arg_end - start
//	rec->len = len
//	n = min(len, argsMax)
//	args = rec->paths + rec->paths_n
//	rec->err = bpf_probe_read_user(args, n, start)
//	if rec->err: n = 0
//	bpf_ringbuf_output(ring, rec, headerLen + rec->paths_n + n, BPF_RB_NO_WAKEUP)
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
		n     = asm.R7 // bytes of arguments copied
		start = asm.R8 // arg_start
		size  = asm.R9 // arg_end - arg_start
	)
	const (
		fpTask = -8  // current
		fpMM   = -48 // current->mm
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
		asm.StoreImm(rec, offFlags, 0, asm.Word),
		asm.StoreImm(rec, offExeN, 0, asm.Word),
		asm.StoreImm(rec, offPathsN, 0, asm.Word),

		asm.FnGetCurrentTask.Call(),
		asm.StoreMem(asm.R10, fpTask, asm.R0, asm.DWord),
	}
	p = append(p, readKernel(fpMM, 8, asm.R0, o.taskMM, "out")...)

	// The process group and session, as getpgid and getsid would say.
	p = append(p, asm.LoadMem(asm.R1, asm.R10, fpTask, asm.DWord))
	p = append(p, readKernel(-16, 8, asm.R1, o.taskSignal, "exe")...)
	p = append(p, asm.LoadMem(asm.R1, asm.R10, -16, asm.DWord))
	p = append(p, readKernel(-32, 16, asm.R1, o.signalPGID, "exe")...) // the PGID's and the SID's struct pid
	for _, id := range []struct {
		fp  int16
		off int16
	}{{-32, offPGID}, {-24, offSID}} {
		p = append(p, asm.LoadMem(asm.R1, asm.R10, id.fp, asm.DWord))
		p = append(p, readKernel(-16, 4, asm.R1, o.pidNr, "exe")...)
		p = append(p,
			asm.LoadMem(asm.R1, asm.R10, -16, asm.Word),
			asm.StoreMem(rec, id.off, asm.R1, asm.Word),
		)
	}
	p = append(p, setFlag(rec, flagIDs)...)

	// The exe, mm->exe_file->f_path, as /proc/PID/exe shows it; the
	// working directory, task->fs->pwd.
	p = append(p, pathOf("exe", fpMM, o.mmExeFile, o.fileDentry, "cwd")...)
	p = append(p, walk("exe", flagExe, o, rec)...)
	p = append(p, pathOf("cwd", fpTask, o.taskFS, o.fsPwdDentry, "args")...)
	p = append(p, walk("cwd", flagCwd, o, rec)...)

	// The arguments, after the paths.
	p = append(p, asm.LoadMem(asm.R1, asm.R10, fpMM, asm.DWord).WithSymbol("args"))
	p = append(p, readKernel(-32, 16, asm.R1, o.mmArgStart, "out")...) // arg_start, arg_end
	return append(p,
		asm.LoadMem(start, asm.R10, -32, asm.DWord),
		asm.LoadMem(size, asm.R10, -32+8, asm.DWord),
		asm.Sub.Reg(size, start),
		asm.StoreMem(rec, offLen, size, asm.Word),

		// n = min(size, argsMax), unsigned: a nonsensical negative size is huge
		asm.Mov.Reg(n, size),
		asm.JLE.Imm(n, argsMax, "copy"),
		asm.Mov.Imm(n, argsMax),
		asm.LoadMem(asm.R2, rec, offPathsN, asm.Word).WithSymbol("copy"),
		asm.JGT.Imm(asm.R2, pathsMax, "out"), // never: the walks keep it below
		asm.Mov.Reg(asm.R1, rec),
		asm.Add.Imm(asm.R1, headerLen),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.Mov.Reg(asm.R2, n),
		asm.Mov.Reg(asm.R3, start),
		asm.FnProbeReadUser.Call(),
		asm.StoreMem(rec, offErr, asm.R0, asm.Word),
		asm.JEq.Imm(asm.R0, 0, "send"),
		asm.Mov.Imm(n, 0),

		asm.LoadMem(asm.R3, rec, offPathsN, asm.Word).WithSymbol("send"),
		asm.JGT.Imm(asm.R3, pathsMax, "out"),
		asm.Add.Reg(asm.R3, n),
		asm.Add.Imm(asm.R3, headerLen),
		asm.LoadMapPtr(asm.R1, ring.FD()),
		asm.Mov.Reg(asm.R2, rec),
		asm.Mov.Imm(asm.R4, bpfRBNoWakeup),
		asm.FnRingbufOutput.Call(),

		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
}

// pathOf, at label, loads a struct path for walk (mm->exe_file->f_path,
// task->fs->pwd): the object whose address is at fp+base holds at offset
// ptr a pointer to the struct that holds the path, whose dentry is at
// offset dentry; the dentry goes into R8, the vfsmount to fp-32. A failed
// read goes on at next.
func pathOf(label string, base int16, ptr, dentry uint32, next string) asm.Instructions {
	p := asm.Instructions{asm.LoadMem(asm.R1, asm.R10, base, asm.DWord).WithSymbol(label)}
	p = append(p, readKernel(-16, 8, asm.R1, ptr, next)...)
	p = append(p, asm.LoadMem(asm.R1, asm.R10, -16, asm.DWord))
	p = append(p, readKernel(-32, 16, asm.R1, dentry-8, next)...) // mnt, dentry
	return append(p, asm.LoadMem(asm.R8, asm.R10, -24, asm.DWord))
}

// walk appends the path whose dentry is in R8 and vfsmount at fp-32 to
// the record's paths, its components from the last to the first, as
// d_path (fs/d_path.c) walks them: up the dentries to the mount's root,
// then on from the dentry the mount sits on, until the root of the mount
// tree. Done, it sets flag (and, for the exe, exe_n). A walk that cannot
// finish (a read fails, a dentry that is its own parent but no mount's
// root, too many components, or too long) takes back the components it
// added. So does a deleted file or directory (d_unlinked: unhashed, and
// not a root), whose path /proc shows with " (deleted)".
//
// Each iteration reloads the cursor from the record, where the verifier
// does not track its value: the states of two ways through an iteration
// are then alike, and it checks the loop once per count.
func walk(name string, flag uint32, o offsets, rec asm.Register) asm.Instructions {
	const (
		count = asm.R7
		d     = asm.R8 // the dentry
		m     = asm.R9 // its struct mount
	)
	var (
		start = name + "_start"
		loop  = name + "_loop"
		comp  = name + "_component"
		found = name + "_found"
		fail  = name + "_fail"
		done  = name + "_done"
	)
	p := readKernel(-16, 8, d, o.dentryUnhashed, fail)
	p = append(p,
		asm.LoadMem(asm.R1, asm.R10, -16, asm.DWord),
		asm.JNE.Imm(asm.R1, 0, start),
	)
	p = append(p, readKernel(-16, 8, d, o.dentryParent, fail)...)
	p = append(p,
		asm.LoadMem(asm.R1, asm.R10, -16, asm.DWord),
		asm.JNE.Reg(asm.R1, d, fail), // unhashed, not a root: deleted
		asm.LoadMem(m, asm.R10, -32, asm.DWord).WithSymbol(start),
		asm.Sub.Imm(m, int32(o.mountMnt)),
		asm.Mov.Imm(count, 0),
		asm.JGE.Imm(count, walkMax, fail).WithSymbol(loop),
		asm.Add.Imm(count, 1),
	)
	p = append(p, readKernel(-16, 8, d, o.dentryParent, fail)...)
	p = append(p, readKernel(-24, 8, m, o.mountMnt+o.vfsmountRoot, fail)...)
	p = append(p,
		asm.LoadMem(asm.R1, asm.R10, -24, asm.DWord),
		asm.JNE.Reg(d, asm.R1, comp),
	)
	// At the mount's root: on to where it is mounted, unless it is the
	// root of the tree (its own parent).
	p = append(p, readKernel(-40, 16, m, o.mountParent, fail)...) // mnt_parent, mnt_mountpoint
	p = append(p,
		asm.LoadMem(asm.R1, asm.R10, -40, asm.DWord),
		asm.JEq.Reg(asm.R1, m, found),
		asm.LoadMem(d, asm.R10, -32, asm.DWord),
		asm.Mov.Reg(m, asm.R1),
		asm.Ja.Label(loop),

		// A component: its name, then on to the parent.
		asm.LoadMem(asm.R1, asm.R10, -16, asm.DWord).WithSymbol(comp),
		asm.JEq.Reg(d, asm.R1, fail),
	)
	p = append(p, readKernel(-40, 8, d, o.dentryName, fail)...)
	p = append(p,
		asm.LoadMem(asm.R2, rec, offPathsN, asm.Word),
		asm.JGT.Imm(asm.R2, pathsMax-nameMax, fail),
		asm.Mov.Reg(asm.R1, rec),
		asm.Add.Imm(asm.R1, headerLen),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.Mov.Imm(asm.R2, nameMax),
		asm.LoadMem(asm.R3, asm.R10, -40, asm.DWord),
		asm.FnProbeReadKernelStr.Call(),
		asm.JSLE.Imm(asm.R0, 0, fail),
		asm.LoadMem(asm.R1, rec, offPathsN, asm.Word),
		asm.Add.Reg(asm.R1, asm.R0),
		asm.StoreMem(rec, offPathsN, asm.R1, asm.Word),
		asm.LoadMem(d, asm.R10, -16, asm.DWord),
		asm.Ja.Label(loop),
	)
	set := setFlag(rec, flag)
	set[0] = set[0].WithSymbol(found)
	p = append(p, set...)
	if flag == flagExe {
		p = append(p,
			asm.LoadMem(asm.R1, rec, offPathsN, asm.Word),
			asm.StoreMem(rec, offExeN, asm.R1, asm.Word),
		)
	}
	return append(p,
		asm.Ja.Label(done),
		asm.LoadMem(asm.R1, rec, offExeN, asm.Word).WithSymbol(fail),
		asm.StoreMem(rec, offPathsN, asm.R1, asm.Word),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(done), // a no-op to carry the label
	)
}

// setFlag sets flag in the record's flags.
func setFlag(rec asm.Register, flag uint32) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, rec, offFlags, asm.Word),
		asm.Or.Imm(asm.R1, int32(flag)),
		asm.StoreMem(rec, offFlags, asm.R1, asm.Word),
	}
}

// readKernel is bpf_probe_read_kernel(fp+at, size, src+off) onto the
// stack; the program goes on at fail when it fails.
func readKernel(at int16, size int32, src asm.Register, off uint32, fail string) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R3, src),
		asm.Add.Imm(asm.R3, int32(off)),
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, int32(at)),
		asm.Mov.Imm(asm.R2, size),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, fail),
	}
}
