// Command delivery is spawnbeat's rerunnable delivery benchmark.
//
//	go run ./tests/bench/delivery [-events 200000] [-reps 3] [-quick] [-procs 1] [-check]
//
// It pushes synthetic exec documents (a filled ecs.Event per process start,
// about 1.5 KB, encoded with ecs.Event.AppendJSON, its pid, arguments,
// sequence and time varying per event) through the real queue
// (pipeline.NewMemQueue or pipeline.OpenDisk, at their defaults) and
// the real output (elasticsearch.New, bulk creates into a data stream whose
// template elasticsearch.Setup installed) into the Elasticsearch test server,
// with gzip off and on (compression_level 0 and 1).
//
// The server runs in a child process (tests/esserver/cmd/esserver, built on
// the fly unless -esserver names a binary), one fresh server per run, so
// that getrusage of this process is the agent side alone: encoding, queue,
// bulk encoding, gzip, HTTP and their garbage collection. The agent side
// runs with GOMAXPROCS=-procs (1 by default: "one core").
//
// For each combination it reports the median over -reps runs of documents
// per second (first Put to last acknowledgement), the agent's CPU per
// 10,000 documents, the server's CPU per 10,000 documents (read from
// /proc/PID/stat of the child, for information) and the bytes per document
// on the wire. Every run is verified: the server's _count of the data stream
// must equal -events and the output must have dropped nothing, or the
// program exits non-zero. With -check it also exits non-zero when a target
// is missed (memory queue >= 50,000 docs/s; disk queue no worse than 2x
// slower than memory).
//
// It owns nothing but itself; see README.md for the measured table.
package main
