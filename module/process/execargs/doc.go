// Package execargs takes each exec's image in the kernel, at the exec,
// before the process can exit.
//
// The proc connector tells an exec but not what was exec'd; reading
// /proc/PID after the event races the process's exit, and a process that
// exits within microseconds (a /bin/true) is often a zombie, its
// arguments, executable and working directory gone, by the time the
// event is read. A Tap attaches a small BPF program to the
// sched_process_exec tracepoint, which runs in the exec'ing process right
// before the kernel sends the proc connector's exec event: it copies the
// new image's argument block (mm->arg_start to arg_end) and comm, walks
// the executable's and the working directory's dentries up to the root of
// their mount tree (as d_path does for /proc/PID/exe and cwd), and reads
// the process group and session, into a ring buffer that spawnbeat reads,
// without a system call, when the exec event arrives. The event and its
// record are paired by process and kernel time. The paths run from the
// root of the mount tree: what /proc shows an agent that is not itself
// under chroot (a process in a container has its container's paths).
//
// The program is C (exec.c), compiled by cilium/ebpf's bpf2go into an
// object embedded in the binary (exec_bpfel.o, with its Go bindings in
// exec_bpfel.go; both committed, so building spawnbeat needs no clang).
// It reads kernel structs only through CO-RE relocations on the members
// that vmlinux.h declares, which the loader resolves against the running
// kernel's BTF. Loading it needs CAP_BPF and CAP_PERFMON and a kernel with
// BTF and BPF ring buffers (5.8 and later); where any is missing, Open
// fails and spawnbeat reads /proc alone.
package execargs
