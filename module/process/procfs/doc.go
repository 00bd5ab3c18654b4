// Package procfs owns spawnbeat's reading of the Linux /proc file system:
// per-process stat, status, cmdline, exe and cwd read into buffers that a
// Reader reuses across calls, the PID list, boot time and clock ticks, and a
// small user/group name cache over /etc/passwd and /etc/group.
//
// Everything hangs off a configurable root (FS), so that tests read the fake
// tree in testdata/proc and a container can read the host's /proc mounted
// elsewhere.
//
// A process that vanished while it was being read is a normal outcome, not a
// failure: Read reports it with ErrGone (nothing could be read) or with a
// ReadState (ReadZombie, ReadExited, ReadPartial) saying how much was read.
//
// Layout of /proc/PID/stat and /proc/PID/status: proc(5) and
// fs/proc/array.c; /proc/PID/cmdline: get_mm_cmdline in fs/proc/base.c.
package procfs
