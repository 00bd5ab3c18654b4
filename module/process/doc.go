// Package process is the process dataset: it turns the kernel's process
// events (the proc connector, module/process/netlink) and reads of /proc
// (module/process/procfs) into ECS documents (module/process/ecs), keeping
// a process table (module/process/cache) so that every document carries its
// parent's fields even when the parent has already exited.
//
// A Source is run by one goroutine, which owns the table, the /proc reader
// and the netlink socket; Stats may be read from any goroutine.
package process
