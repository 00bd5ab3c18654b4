package netlink

// Kernel constants, with their kernel names, from the UAPI headers
// include/uapi/linux/netlink.h (nlmsghdr, NLMSG_*, SOL_NETLINK),
// include/uapi/linux/connector.h (cn_msg, CN_IDX_PROC, CN_VAL_PROC) and
// include/uapi/linux/cn_proc.h (proc_event, PROC_EVENT_*, PROC_CN_MCAST_*).
// They are part of the kernel ABI and never change.

//nolint:revive // kernel names on purpose, so they can be grepped in the headers.
const (
	// linux/netlink.h
	NETLINK_CONNECTOR = 11
	NLMSG_HDRLEN      = 16 // sizeof(struct nlmsghdr), already NLMSG_ALIGNTO-aligned
	NLMSG_ALIGNTO     = 4
	NLMSG_NOOP        = 0x1
	NLMSG_ERROR       = 0x2
	NLMSG_DONE        = 0x3
	NLMSG_OVERRUN     = 0x4

	// linux/connector.h
	CN_IDX_PROC = 0x1
	CN_VAL_PROC = 0x1
	CN_MSG_LEN  = 20 // sizeof(struct cn_msg): cb_id{idx,val}, seq, ack, len(u16), flags(u16)

	// linux/cn_proc.h: enum proc_cn_mcast_op
	PROC_CN_MCAST_LISTEN = 1
	PROC_CN_MCAST_IGNORE = 2

	// linux/cn_proc.h: enum proc_cn_event (enum what before 6.6)
	PROC_EVENT_NONE         = 0x00000000
	PROC_EVENT_FORK         = 0x00000001
	PROC_EVENT_EXEC         = 0x00000002
	PROC_EVENT_UID          = 0x00000004
	PROC_EVENT_GID          = 0x00000040
	PROC_EVENT_SID          = 0x00000080
	PROC_EVENT_PTRACE       = 0x00000100
	PROC_EVENT_COMM         = 0x00000200
	PROC_EVENT_NONZERO_EXIT = 0x20000000 // a subscription flag only; events carry PROC_EVENT_EXIT
	PROC_EVENT_COREDUMP     = 0x40000000
	PROC_EVENT_EXIT         = 0x80000000

	// TASK_COMM_LEN (linux/sched.h) sizes comm_proc_event.comm.
	TASK_COMM_LEN = 16
)

// Offsets into a proc connector datagram: nlmsghdr, then cn_msg, then
// struct proc_event {what u32; cpu u32; timestamp_ns aligned_u64; union event_data}.
// The union follows a 16-byte header, so every field is at a fixed offset.
const (
	offNlmsgLen   = 0
	offNlmsgType  = 4
	offCnIdx      = NLMSG_HDRLEN + 0
	offCnVal      = NLMSG_HDRLEN + 4
	offCnSeq      = NLMSG_HDRLEN + 8
	offCnAck      = NLMSG_HDRLEN + 12
	offCnLen      = NLMSG_HDRLEN + 16
	offEvent      = NLMSG_HDRLEN + CN_MSG_LEN // start of struct proc_event in the datagram
	procHeaderLen = 16                        // what, cpu, timestamp_ns
	// offWhat is where a socket filter finds proc_event.what in the first
	// message of a datagram.
	offWhat = offEvent
)
