package procfs

// PFKthread is PF_KTHREAD from include/linux/sched.h: the task is a kernel
// thread (Stat.Flags).
const PFKthread = 0x00200000

// PFExiting is PF_EXITING from include/linux/sched.h: the task is in
// do_exit; its mm, and with it cmdline and exe, may already be gone.
const PFExiting = 0x00000004

// kthreaddPID is the PID of kthreadd, the parent of every kernel thread.
const kthreaddPID = 2

// Stat is the part of /proc/PID/stat spawnbeat uses (proc(5) fields 1–9
// and 22). It is a plain value: copy it freely; no locking is done.
type Stat struct {
	PID        int
	Comm       string // the kernel's task name, at most 15 bytes
	State      byte   // R, S, D, Z, T, t, X, I…
	PPID       int
	PGID       int
	SID        int
	TTY        uint32 // tty_nr: the controlling terminal's device number, 0 for none
	TPGID      int    // foreground process group of the terminal, -1 for none
	Flags      uint32 // PF_* flags of the task
	StartTicks uint64 // start time in clock ticks after boot (FS.ClockTicks)
}

// IsKernelThread reports whether the task is a kernel thread: flagged
// PF_KTHREAD, or kthreadd itself or one of its children.
func (s *Stat) IsKernelThread() bool {
	return s.Flags&PFKthread != 0 || s.PID == kthreaddPID || s.PPID == kthreaddPID
}

// IsZombie reports whether the process has exited and awaits its reaping
// (state Z, or X while it is being torn down).
func (s *Stat) IsZombie() bool { return s.State == 'Z' || s.State == 'X' }

// IsExiting reports whether the process is in do_exit (PF_EXITING) or
// already a zombie.
func (s *Stat) IsExiting() bool { return s.Flags&PFExiting != 0 || s.IsZombie() }

// TTYDevice splits tty_nr into the major and minor device numbers, as
// new_decode_dev in include/linux/kdev_t.h does.
func TTYDevice(ttyNr uint32) (major, minor uint32) {
	return (ttyNr >> 8) & 0xfff, (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00)
}

// Creds are the credentials of /proc/PID/status; a plain value.
type Creds struct {
	UID, EUID, SUID, FSUID uint32 // real, effective, saved, file-system user ids
	GID, EGID, SGID, FSGID uint32 // likewise for groups
	CapPrm, CapEff         uint64 // permitted and effective capability sets
	// CapBnd is the bounding set: what the process and its descendants can
	// ever gain. Inherited at fork and kept across exec; a container
	// runtime narrows it for an unprivileged container.
	CapBnd    uint64
	HasCaps   bool // the CapPrm and CapEff lines were present
	HasCapBnd bool // the CapBnd line was present
}

// ReadState says how much of a process Read could read.
type ReadState uint8

// Read states. The zero value means nothing was read.
const (
	// ReadComplete: stat, status, cmdline, exe and cwd were read (a kernel
	// thread has no cmdline and no exe; that is still complete), less what
	// Missing says the caller is to complete.
	ReadComplete ReadState = iota + 1
	// ReadZombie: the process has exited but is not reaped, or was in the
	// middle of exiting (PF_EXITING) when a part was found missing: its
	// cmdline, exe and cwd are gone (parts read before are kept); stat and
	// status were read.
	ReadZombie
	// ReadExited: the process was reaped while it was being read; only
	// the parts before that (at least stat) were read.
	ReadExited
	// ReadPartial: the process was alive, but some parts could not be
	// read; see Process.Missing. Causes: permission denied (ptrace access
	// to exe and cwd of a process with capabilities the reader lacks, even
	// as root), or a read in the middle of execve, when the new exe shows
	// but the new argv does not yet (the proc connector's EXEC event comes
	// after that window).
	ReadPartial
)

// String returns the state's name as spawnbeat.read_state writes it.
func (s ReadState) String() string {
	switch s {
	case ReadComplete:
		return "complete"
	case ReadZombie:
		return "zombie"
	case ReadExited:
		return "exited"
	case ReadPartial:
		return "partial"
	}
	return ""
}

// Parts is a set of the files Read reads, to say which were missing.
type Parts uint8

// Parts of a process.
const (
	PartStatus Parts = 1 << iota
	PartCmdline
	PartExe
	PartCwd
	// PartStat: stat was not read. Stat then holds only PID, and PGID and
	// SID when ReadExec asked the kernel for them (see ReadExec).
	PartStat
)

// Process is what Read reads about one process. Its strings and Args never
// alias a Reader's buffers: they are immutable and may be kept and shared
// freely, across goroutines too, after the next Read. The Process value
// itself is overwritten by each Read into it: it is not safe for concurrent
// use.
type Process struct {
	Stat
	Creds

	// Args is argv: nil when unknown (zombie, exited, kernel thread),
	// empty or more when the cmdline was read.
	Args []string
	// ArgsTruncated says the cmdline was longer than the Reader's cap:
	// Args holds the arguments within the first MaxArgBytes bytes, the last
	// of them possibly cut.
	ArgsTruncated bool
	// ArgsRewritten says the process overwrote its argv with a title
	// (setproctitle): the kernel returned a string without NUL separators,
	// and Args is that title split on spaces.
	ArgsRewritten bool

	Exe        string // target of /proc/PID/exe, without the " (deleted)" suffix
	ExeDeleted bool   // the executable was deleted (or replaced) after exec
	Cwd        string // target of /proc/PID/cwd

	// ContainerID and EnvVars are not read by Read: Reader.ContainerID and
	// Reader.EnvVars read them, for the callers that need them.
	ContainerID string
	EnvVars     []string // "NAME=value" bindings of the variables asked for

	ReadState ReadState
	Missing   Parts // parts that could not be read
}
