package pipeline

import "errors"

// Sentinel errors of the package; compare with errors.Is.
var (
	// ErrClosed is returned by a queue or loop used after Close.
	ErrClosed = errors.New("pipeline: queue closed")
	// ErrFull means the queue was full and the newest event was dropped
	// (counted); TryPut reports it as false.
	ErrFull = errors.New("pipeline: queue full")
	// ErrTooLarge is returned by Put for an event that can never fit
	// (larger than the disk queue's max_size, or its ID longer than 65535
	// bytes); it is counted as dropped.
	ErrTooLarge = errors.New("pipeline: event too large for the queue")
	// ErrAckOrder is returned by Ack for a batch that is not the oldest
	// unacknowledged one.
	ErrAckOrder = errors.New("pipeline: batch acknowledged out of order")
	// ErrCorrupt reports on-disk queue state that cannot be trusted, such
	// as a segment file with a foreign header.
	ErrCorrupt = errors.New("pipeline: corrupt disk queue")
	// ErrInvalidConfig wraps every configuration problem reported by
	// Config.Validate.
	ErrInvalidConfig = errors.New("pipeline: invalid config")
	// ErrLocked is returned by OpenDisk when another process holds the
	// queue directory.
	ErrLocked = errors.New("pipeline: disk queue in use by another process")
)
