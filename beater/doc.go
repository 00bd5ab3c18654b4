// Package beater is the agent: it wires the stages — capture (module/process),
// detection (module/detection), the queue (beater/pipeline) and the output
// (beater/output/…) — each run by one goroutine and joined by bounded
// channels, and shuts them down in order so that what was captured is
// delivered or kept in the queue.
package beater
