// Package beater is the agent: it wires the stages — capture (module/process),
// detection (module/detection), the queue (beater/pipeline) and the output
// (beater/output/…) — and shuts them down in order so that what was
// captured is delivered or kept in the queue. Capture, detection and
// encoding run inline on the capture goroutine, which owns them; the
// bounded queue joins it to the delivery loop's goroutine (see stages).
package beater
