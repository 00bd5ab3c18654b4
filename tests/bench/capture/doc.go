// Command capture is spawnbeat's rerunnable capture benchmark.
//
//	go run ./tests/bench/capture [-n 2000] [-rate 500,0] [-reps 3] [-attacks 100] [-quick] [-baseline OLD]
//
// It owns nothing but itself: it builds spawnbeat, runs it as root on a
// temporary home with the file output, launches exec storms of short-lived
// processes with unique marker arguments (at fixed rates and at the
// machine's maximum) from launcher processes (this binary re-executed with
// SPAWNBEAT_BENCH_LAUNCHER=1, each forking its share and reaping it with
// wait4(-1)), runs forkstat side by side on the same storms, and
// reports per storm how many execs reached the output, how many with their
// full arguments and their parent's, the kernel's ENOBUFS losses, CPU per
// 1,000 execs and resident memory of both tools. It then runs real
// pty.spawn attacks one after another and reports the detection latency
// (event.created − @timestamp of each alert document) and whether every
// attack produced exactly one alert.
//
// With -baseline, another spawnbeat binary (an older build) runs side by
// side on every storm, and the report gives each run's CPU ratio of the
// two: the load of a shared machine moves both alike, so the ratio shows
// what a change did better than two separate runs do.
//
// Every measurement is repeated (-reps) and the table shows medians. The
// harness asserts nothing about timings; it exits non-zero only when it
// cannot run (not root, build failure, spawnbeat failing to start).
package main
