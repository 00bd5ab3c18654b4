/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel types exec.c reads, cut down to the members it touches.
 *
 * Every struct carries preserve_access_index: clang records each member
 * access as a CO-RE relocation (by name, not offset), and the loader
 * (cilium/ebpf) finds the member in the running kernel's BTF
 * (/sys/kernel/btf/vmlinux) and patches the offset in. So the order and
 * the offsets below do not matter, and neither do the members left out;
 * only the names and the kinds of the members must match the kernel's.
 * Made by hand from `bpftool btf dump file /sys/kernel/btf/vmlinux format c`
 * on 6.18.
 */
#ifndef SPAWNBEAT_VMLINUX_H
#define SPAWNBEAT_VMLINUX_H

typedef unsigned char __u8;
typedef short int __s16;
typedef short unsigned int __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long int __s64;
typedef long long unsigned int __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

/* include/uapi/linux/bpf.h */
enum bpf_map_type {
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LPM_TRIE = 11,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_F_NO_PREALLOC = 1,
};

enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

/* include/linux/pid.h */
enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX,
};

struct upid {
	int nr; /* the number in the namespace ns; numbers[0] is the initial namespace's */
};

struct pid {
	struct upid numbers[1];
};

/* include/linux/tty_driver.h, include/linux/tty.h */
struct tty_driver {
	int major;
	int minor_start;
};

struct tty_struct {
	int index;
	struct tty_driver *driver;
};

/* include/linux/sched/signal.h */
struct signal_struct {
	struct pid *pids[PIDTYPE_MAX];
	struct tty_struct *tty; /* NULL when the process has no controlling terminal */
};

/* include/linux/dcache.h, include/linux/list_bl.h */
struct hlist_bl_node {
	struct hlist_bl_node **pprev; /* NULL when unhashed */
};

struct qstr {
	const unsigned char *name;
};

struct dentry {
	struct hlist_bl_node d_hash;
	struct dentry *d_parent;
	struct qstr d_name;
};

/* include/linux/mount.h, fs/mount.h */
struct vfsmount {
	struct dentry *mnt_root;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt; /* what a struct path points to */
};

/* include/linux/path.h, include/linux/fs.h, include/linux/fs_struct.h */
struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
};

struct fs_struct {
	struct path pwd;
};

/* include/linux/mm_types.h */
struct mm_struct {
	struct file *exe_file;
	unsigned long arg_start, arg_end;
};

/* include/linux/sched.h */
struct task_struct {
	struct task_struct *real_parent; /* the parent now (init or a subreaper once the forker exited) */
	char comm[16];
	struct mm_struct *mm;
	struct fs_struct *fs;
	struct signal_struct *signal;
};

#pragma clang attribute pop

#endif /* SPAWNBEAT_VMLINUX_H */
