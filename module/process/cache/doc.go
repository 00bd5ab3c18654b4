// Package cache owns spawnbeat's process table: every known process keyed by
// PID and start time (PIDs are reused), with the image it runs (args, exe,
// cwd, credentials, terminal, session), a link to the parent that forked it
// and an entity id.
//
// The table is what lets an exec document carry its parent's fields when
// the parent has already exited by the time the event is handled (exited
// entries stay for a grace period, and a child keeps its parent's entry
// even after it left the table), what gives a fork child its parent's image
// until it execs, and what a /proc scan seeds and resynchronises after lost
// events. It is bounded: when full it evicts the oldest exited entry, else
// the oldest entry, and counts it.
//
// It also tells each process's entry leader (EntryLeader): the process
// through which its session was entered, and how (init, sshd, container…),
// which Kibana's Session View and Elastic's container rules need.
//
// A Table belongs to one goroutine (the capture stage) and is not safe for
// concurrent use; only Stats may be called from any goroutine.
package cache
