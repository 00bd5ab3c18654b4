//go:build ignore

// The program that takes each exec's image in the kernel, at the exec.
//
// It runs on the sched_process_exec tracepoint, in the exec'ing process,
// with its new image in place and just before the kernel sends the proc
// connector's exec event (exec_binprm in fs/exec.c). It writes one record
// into the ring buffer: the process, its comm, process group, session and
// controlling terminal, the executable's and the working directory's paths
// walked as d_path walks them, and the first ARGS_MAX bytes of the argument
// block. The Go side (tap.go) pairs the record with the exec event.
//
// Kernel structs are read only through BPF_CORE_READ on the members that
// vmlinux.h declares: the loader relocates each access against the running
// kernel's BTF. Regenerate the Go bindings and objects with `go generate`
// in this directory (clang, llvm and libbpf-dev from Debian).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL"; // the probe_read helpers are GPL-only

#define TASK_COMM_LEN 16
#define RECORD_MAX (32 << 10) // a per-CPU array value may be at most 32 KiB
#define PATHS_MAX (4 << 10)   // the exe's and the cwd's paths together
#define NAME_MAX 256          // a component and its NUL
#define WALK_MAX 64           // components and mount crossings of one path

// What a record holds (exec_header.flags).
enum exec_flag {
	EXEC_FLAG_EXE = 1, // the exe's path was found
	EXEC_FLAG_CWD = 2, // the cwd's path was found
	EXEC_FLAG_IDS = 4, // pgid, sid and tty were read
	EXEC_FLAG_WAKE = 8, // a watched name: the record woke the reader
};

// exec_header starts every record. After it come the exe's path, then the
// cwd's, each as its components from the last to the first, each ending
// in a NUL ("true\0bin\0usr\0" is /usr/bin/true); then the argument bytes
// copied (NUL-terminated arguments, as /proc/PID/cmdline shows them).
struct exec_header {
	__u64 time;      // bpf_ktime_get_ns at the exec: CLOCK_MONOTONIC, as the proc connector's timestamp
	__u32 tgid;      // the process
	__u32 args_len;  // the argument block's length in the process
	__s32 args_err;  // bpf_probe_read_user's result; not 0: no argument bytes follow
	__u32 pgid;      // the process group, with EXEC_FLAG_IDS
	__u32 sid;       // the session, with EXEC_FLAG_IDS
	__u32 tty;       // the controlling terminal as /proc/PID/stat's tty_nr; 0 for none; with EXEC_FLAG_IDS
	enum exec_flag flags;
	__u32 exe_len;   // the exe path's bytes
	__u32 paths_len; // the exe's and the cwd's paths' bytes (the walk's cursor while it runs)
	__u8 comm[TASK_COMM_LEN]; // the new comm (the file's name, cut to 15 bytes), NUL-padded
};

#define ARGS_MAX (RECORD_MAX - sizeof(struct exec_header) - PATHS_MAX)

struct exec_record {
	struct exec_header h;
	__u8 data[PATHS_MAX + ARGS_MAX];
};

// The record is built here, not on the 512-byte stack.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_record);
} exec_scratch SEC(".maps");

// The records, read by the Go side when the exec event arrives. 1 MiB
// holds some 5,000 records of a typical command line.
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} exec_ring SEC(".maps");

// Which execs wake the reader at once (Tap.SetWake): the rules' ways of
// matching an exec, up to 64, each a bit. An exec's name (the executable's
// base name, or the comm when its path could not be walked) is looked up
// in wake_names, its parent's in wake_parents: each entry holds the bits
// of the ways that accept the names it stands for, and wake_any the bits
// of the ways that accept any name, or any parent's. The exec wakes the
// reader when some way accepts both. An entry is a name, lowercased and
// cut to TASK_COMM_LEN - 1 bytes, with its NUL (a whole name) or without
// (a prefix); the trie finds the longest entry the name starts with,
// whose bits include those of the shorter ones (the Go side sees to it).
// The other records wake no one: the reader takes them at its next read.
struct wake_key {
	__u32 prefixlen; // the bits of name that must match
	__u8 name[TASK_COMM_LEN];
};

struct wake_any_ways {
	__u64 name;   // the ways that accept any name
	__u64 parent; // the ways that accept any parent's name
};

#define WAKE_NAMES_MAX 1024

// The two tries share one definition.
struct wake_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WAKE_NAMES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct wake_key);
	__type(value, __u64);
};

struct wake_trie wake_names SEC(".maps");
struct wake_trie wake_parents SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wake_any_ways);
} wake_any SEC(".maps");

// ways looks name up in names, lowercased and cut to TASK_COMM_LEN - 1
// bytes, as the entries are, and returns the bits of the ways that accept
// it; name has TASK_COMM_LEN readable bytes. A name with a non-ASCII byte
// is accepted by every way: the rules compare names with Unicode's case
// folding, which maps a few non-ASCII letters to ASCII ones (the Kelvin
// sign to "k"), and only ASCII is folded here.
static __always_inline __u64 ways(void *names, const __u8 *name)
{
	struct wake_key key = {.prefixlen = TASK_COMM_LEN * 8};
	for (int i = 0; i < TASK_COMM_LEN - 1; i++) {
		__u8 c = name[i];
		if (!c)
			break;
		if (c >= 0x80)
			return ~0ULL;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		key.name[i] = c;
	}
	__u64 *bits = bpf_map_lookup_elem(names, &key);
	return bits ? *bits : 0;
}

// parent_ways returns the bits of the ways that accept the name of the
// parent of task: its executable's base name, or its comm when it has
// none (a kernel thread).
static __always_inline __u64 parent_ways(struct task_struct *task)
{
	__u8 name[TASK_COMM_LEN] = {};
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	struct file *exe = BPF_CORE_READ(parent, mm, exe_file);
	if (exe)
		bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(exe, f_path.dentry, d_name.name));
	else
		bpf_probe_read_kernel_str(name, sizeof(name), &parent->comm);
	return ways(&wake_parents, name);
}

// wakes tells whether some way accepts the exec of rec by task.
static __always_inline int wakes(struct exec_record *rec, struct task_struct *task)
{
	__u32 zero = 0;
	struct wake_any_ways *any = bpf_map_lookup_elem(&wake_any, &zero);
	if (!any)
		return 0;
	// The exe's base name is its path's first component.
	__u64 w = any->name | ways(&wake_names, rec->h.flags & EXEC_FLAG_EXE ? rec->data : rec->h.comm);
	if (!w)
		return 0; // no way: the parent need not be read
	return (w & (any->parent | parent_ways(task))) != 0;
}

// encode_tty is tty_nr as /proc/PID/stat prints it: new_encode_dev of
// tty_devnum (MKDEV(driver->major, driver->minor_start) + index).
static __always_inline __u32 encode_tty(struct tty_struct *tty)
{
	if (!tty)
		return 0;
	__u32 major = BPF_CORE_READ(tty, driver, major);
	__u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

// walk appends the path of dentry d on vfs to the record, its components
// from the last to the first, as d_path (fs/d_path.c) walks them: up the
// dentries to the mount's root, then on from the dentry the mount sits on,
// until the root of the mount tree. It returns 0, having taken back
// what it appended, when it cannot finish: a read fails, a dentry is its
// own parent but no mount's root (a pseudo file such as a memfd), too many
// components, or too long. So does a deleted file or directory (unhashed,
// not a root: d_unlinked), whose path /proc shows with " (deleted)".
static __always_inline int walk(struct exec_record *rec, struct vfsmount *vfs, struct dentry *d)
{
	__u32 start = rec->h.paths_len;
	if (!d || !vfs)
		return 0;
	if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
		return 0; // d_unlinked
	struct mount *m = container_of(vfs, struct mount, mnt);
	for (int i = 0; i < WALK_MAX; i++) {
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (d == BPF_CORE_READ(m, mnt.mnt_root)) {
			struct mount *up = BPF_CORE_READ(m, mnt_parent);
			if (up == m)
				return 1; // the root of the mount tree
			d = BPF_CORE_READ(m, mnt_mountpoint);
			m = up;
			continue;
		}
		if (d == parent)
			break; // its own parent, no mount's root
		// The cursor is read back from the record, where the verifier
		// does not track its value: the states of the ways through an
		// iteration are then alike, and it checks the loop once per count.
		__u32 off = *(volatile __u32 *)&rec->h.paths_len;
		if (off > PATHS_MAX - NAME_MAX)
			break;
		const unsigned char *name = BPF_CORE_READ(d, d_name.name);
		long n = bpf_probe_read_kernel_str(&rec->data[off], NAME_MAX, name);
		if (n <= 0)
			break;
		rec->h.paths_len = off + n;
		d = parent;
	}
	rec->h.paths_len = start;
	return 0;
}

SEC("raw_tracepoint/sched_process_exec")
int exec_image(void *ctx)
{
	__u32 zero = 0;
	struct exec_record *rec = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!rec)
		return 0;

	rec->h.time = bpf_ktime_get_ns();
	rec->h.tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(rec->h.comm, sizeof(rec->h.comm));
	rec->h.flags = 0;
	rec->h.exe_len = 0;
	rec->h.paths_len = 0;
	rec->h.pgid = rec->h.sid = rec->h.tty = 0;

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	if (!mm)
		return 0;

	// The process group, session and terminal, as getpgid, getsid and
	// stat's tty_nr would say: numbers[0] is the initial PID namespace's,
	// as the proc connector's pids.
	struct signal_struct *signal = BPF_CORE_READ(task, signal);
	if (signal) {
		rec->h.pgid = BPF_CORE_READ(signal, pids[PIDTYPE_PGID], numbers[0].nr);
		rec->h.sid = BPF_CORE_READ(signal, pids[PIDTYPE_SID], numbers[0].nr);
		rec->h.tty = encode_tty(BPF_CORE_READ(signal, tty));
		rec->h.flags |= EXEC_FLAG_IDS;
	}

	// The exe, mm->exe_file->f_path, as /proc/PID/exe shows it.
	struct file *exe = BPF_CORE_READ(mm, exe_file);
	if (exe && walk(rec, BPF_CORE_READ(exe, f_path.mnt), BPF_CORE_READ(exe, f_path.dentry))) {
		rec->h.flags |= EXEC_FLAG_EXE;
		rec->h.exe_len = rec->h.paths_len;
	}
	// The working directory, task->fs->pwd.
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	if (fs && walk(rec, BPF_CORE_READ(fs, pwd.mnt), BPF_CORE_READ(fs, pwd.dentry)))
		rec->h.flags |= EXEC_FLAG_CWD;

	// The arguments, after the paths. The exec wrote them to the new stack,
	// so their pages are present and the copy, which may not fault, finds
	// them.
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long size = BPF_CORE_READ(mm, arg_end) - start;
	rec->h.args_len = size;
	__u64 n = size;
	if (n > ARGS_MAX)
		n = ARGS_MAX; // unsigned: a nonsensical negative size is huge
	__u32 off = *(volatile __u32 *)&rec->h.paths_len;
	if (off > PATHS_MAX)
		return 0; // never: the walks keep it below
	rec->h.args_err = bpf_probe_read_user(&rec->data[off], n, (const void *)start);
	if (rec->h.args_err)
		n = 0;
	__u64 wake = BPF_RB_NO_WAKEUP;
	if (wakes(rec, task)) {
		rec->h.flags |= EXEC_FLAG_WAKE;
		wake = BPF_RB_FORCE_WAKEUP;
	}
	// A full ring drops the record: the exec then falls back to /proc.
	bpf_ringbuf_output(&exec_ring, rec, sizeof(rec->h) + off + n, wake);
	return 0;
}
