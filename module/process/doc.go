// Package process is the process dataset, spawnbeat's capture stage: it
// turns the kernel's process events (the proc connector, module/process/netlink)
// and reads of /proc (module/process/procfs) into ECS documents
// (module/process/ecs), keeping a process table (module/process/cache) so
// that every document carries its parent's fields even when the parent has
// already exited.
//
// It owns the Source: choosing between the proc connector and polling
// /proc, the start-up scan that seeds the table, the handling of each batch
// of kernel events, the /proc resync after the kernel dropped events
// (ENOBUFS; spaced out during a sustained overflow, with exec documents for
// the live processes whose exec was lost), and the hand-off of each
// document to a Sink on the capture goroutine (the beater's detection,
// encoding and queueing; it must not block).
//
// The race with /proc: a short-lived process loses its cmdline and exe when
// it exits (exit_mm), often within a millisecond of the exec. Its arguments
// and comm are therefore taken in the kernel at the exec where BPF allows
// it (module/process/execargs; spawnbeat.capture.exec_args), and the Source
// reads the rest of each exec'd process the moment its exec event is
// decoded (netlink's OnExec hook), before the rest of the socket is read
// and the events are merged in order; what could not be read is absent
// from the document and spawnbeat.read_state says why ("zombie",
// "exited"), never guessed. TestIntegrationArgsShare checks that a /bin/true
// storm has every process's arguments with the tap, and measures the share
// read completely without it.
//
// What the table knows is not read again: an exec'd process's credentials
// (its fork's, kept right by the uid and gid events) and, for a live one
// whose fork it saw, its start and parent, and its terminal when the table
// can vouch that there is none (cache.Entry.KnowsNoTTY). stat is then not
// read at all (Source.settle); that halves the files opened per exec.
//
// A Source is run by one goroutine, which owns the table, the /proc reader
// and the netlink socket; Stats may be read from any goroutine.
package process
