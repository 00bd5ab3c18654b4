// Package process is the process dataset, spawnbeat's capture stage: it
// turns the kernel's process events into ECS documents, keeping a process
// table so that every document carries its parent's fields even when the
// parent has already exited.
//
// How an exec flows, in one direction: the exec'ing process runs the exec
// program (execargs) on sched_process_exec, which writes its image — the
// arguments, comm, executable and working directory, process group,
// session and terminal — into a ring buffer; microseconds later the
// kernel sends the proc connector's exec event. The Source's goroutine
// wakes on that event (in an exec storm, once a period, or at once when
// the program found the exec to be one a rule could match: WakeFor), and
// netlink returns it merged in the kernel's order with the fork, exit and
// credential events of the other socket (kernel.go). handleBatch (apply.go) then takes each exec's image by
// process and kernel time (kernel.image), makes the process from it,
// reading /proc only for what the image lacks or all of it when there is
// none (completer, complete.go), completes the credentials, start, parent
// and container from the table (creds, settle, containerOf), applies the
// event to the table (module/process/cache), and builds the document
// (builder, build.go) that it lends to the Sink: the beater's detection,
// encoding and queueing, which must not block. Nothing flows back up: the
// readers know nothing of the table or the documents.
//
// Files, in that order: kernel.go (the records in), apply.go (each event
// applied), complete.go (an exec's process), build.go (the document);
// source.go wires them (Run, the listen loop, Stats), and scan.go holds
// the /proc scans that seed the table at start, repair it after the kernel
// dropped events (ENOBUFS: spaced out during a sustained overflow, with
// exec documents for the live processes whose exec was lost) and stand in
// for the proc connector where it cannot be used (poll mode).
//
// What could not be had is absent from the document and
// spawnbeat.read_state says why ("zombie", "exited"), never guessed:
// without the exec program (spawnbeat.capture.exec_args: proc, or a kernel
// that refuses it) /proc is read after the event and races the exit of a
// short-lived process. TestIntegrationArgsShare checks that a /bin/true
// storm has every process's arguments with the program, and measures the
// share read completely without it.
//
// What the table knows is not read again: an exec'd process's credentials
// (its fork's, kept right by the uid and gid events) and, for a process
// whose fork it saw, its start and parent; its terminal is the image's,
// or, from /proc, what the table can vouch for (cache.Entry.KnowsNoTTY).
// stat is then not read at all (Source.settle).
//
// A Source is run by one goroutine, which owns the table, the /proc reader
// and the netlink socket; Stats may be read from any goroutine.
package process
