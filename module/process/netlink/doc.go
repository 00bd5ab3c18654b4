// Package netlink reads process events from the Linux proc connector: the
// NETLINK_CONNECTOR socket on which the kernel multicasts fork, exec, exit,
// uid, gid, sid, comm, ptrace and coredump events (CN_IDX_PROC).
//
// It owns the sockets and their setup (receive buffer, classic BPF filter
// on the event type, PROC_CN_MCAST_LISTEN/IGNORE): exec events arrive on a
// socket the runtime polls, the others on a side socket that wakes nobody
// and is read with it, and Receive merges the two in the kernel's order
// (see Conn). It decodes the datagrams at fixed offsets without
// allocating (Decode), rejects datagrams that do not come from the kernel,
// turns ENOBUFS into a counted, reported loss (ErrLost) after which the
// caller resyncs from /proc, and converts the kernel's monotonic
// timestamps to wall-clock time (Clock). NewReplay runs recorded datagrams
// through the same reader without privileges.
//
// It does not read /proc, track processes or build documents: those are
// the procfs, cache and ecs packages' jobs.
package netlink
