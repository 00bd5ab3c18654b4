// Package netlink reads process events from the Linux proc connector: the
// NETLINK_CONNECTOR socket on which the kernel multicasts fork, exec, exit,
// uid, gid, sid, comm, ptrace and coredump events (CN_IDX_PROC).
//
// It owns the socket and its setup (receive buffer, classic BPF filter on
// the event type, PROC_CN_MCAST_LISTEN/IGNORE), decoding the datagrams at
// fixed offsets without allocating (Decode), rejecting datagrams that do
// not come from the kernel, turning ENOBUFS into a counted, reported loss
// (ErrLost) after which the caller resyncs from /proc, and converting the
// kernel's monotonic timestamps to wall-clock time (Clock). NewReplay runs
// recorded datagrams through the same reader without privileges.
//
// It does not read /proc, track processes or build documents: those are
// the procfs, cache and ecs packages' jobs.
package netlink
