// Package pipeline carries encoded documents from the capture stage to the
// output with at-least-once delivery: bounded queues (memory, disk), batching,
// acknowledgements and their counters.
package pipeline
