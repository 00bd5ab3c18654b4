package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/elastic/go-ucfg"

	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/config/bytesize"
)

// Defaults of the queue settings.
const (
	DefaultMemEvents     = 4096
	DefaultFlushMin      = DefaultBatchSize // a full batch is worth sending at once
	DefaultFlushTimeout  = time.Second      // Beats uses 10s; a security agent wants alerts out within a second
	DefaultMaxSize       = bytesize.GiB
	DefaultSegmentSize   = 16 * bytesize.MiB // small enough that acked data is freed soon, large enough to keep the file count low
	DefaultFsyncInterval = time.Second
	DefaultDiskDirName   = "diskqueue" // under path.data when queue.disk.path is empty

	// MinSegmentSize is the smallest queue.disk.segment_size accepted.
	MinSegmentSize = 4 * bytesize.KiB
)

// Fsync policies of the disk queue (queue.disk.fsync).
const (
	FsyncAlways   = "always"   // fsync every write and every ack: survives power loss, slowest
	FsyncInterval = "interval" // fsync at most every fsync_interval: power loss may lose that much
	FsyncNever    = "never"    // leave it to the kernel: survives a process crash, not a power loss
)

// Queue types: the names under queue. (see QueueType).
const (
	QueueMem  = "mem"  // the memory queue, the default
	QueueDisk = "disk" // the disk queue, under path.data
)

// MemConfig is queue.mem.*.
type MemConfig struct {
	Events int         `config:"events"` // capacity in events
	Flush  FlushConfig `config:"flush"`
}

// FlushConfig says when the delivery loop sends a batch: as soon as
// MinEvents are queued, or when the oldest queued event has waited Timeout.
// MinEvents 0 or 1 sends every event at once.
type FlushConfig struct {
	MinEvents int           `config:"min_events"`
	Timeout   time.Duration `config:"timeout"`
}

// DiskConfig is queue.disk.*.
type DiskConfig struct {
	// Path is the queue directory; empty means <path.data>/diskqueue,
	// resolved by the caller through ResolvePath.
	Path          string        `config:"path"`
	MaxSize       bytesize.Size `config:"max_size"`     // bytes of segment files on disk
	SegmentSize   bytesize.Size `config:"segment_size"` // a segment is closed once it reaches this size
	Fsync         string        `config:"fsync"`        // FsyncAlways, FsyncInterval or FsyncNever
	FsyncInterval time.Duration `config:"fsync_interval"`
	// Flush batches reads like the memory queue's flush settings (an
	// addition to the Beats disk queue, which has none).
	Flush FlushConfig `config:"flush"`
}

// DefaultMemConfig returns queue.mem's defaults.
func DefaultMemConfig() MemConfig {
	return MemConfig{Events: DefaultMemEvents, Flush: FlushConfig{MinEvents: DefaultFlushMin, Timeout: DefaultFlushTimeout}}
}

// DefaultDiskConfig returns queue.disk's defaults.
func DefaultDiskConfig() DiskConfig {
	return DiskConfig{
		MaxSize:       DefaultMaxSize,
		SegmentSize:   DefaultSegmentSize,
		Fsync:         FsyncInterval,
		FsyncInterval: DefaultFsyncInterval,
		Flush:         FlushConfig{MinEvents: DefaultFlushMin, Timeout: DefaultFlushTimeout},
	}
}

// UnpackMem reads queue.mem over DefaultMemConfig and validates it.
func UnpackMem(raw *ucfg.Config) (MemConfig, error) { return config.Unpack(raw, DefaultMemConfig()) }

// UnpackDisk reads queue.disk over DefaultDiskConfig and validates it.
func UnpackDisk(raw *ucfg.Config) (DiskConfig, error) { return config.Unpack(raw, DefaultDiskConfig()) }

// ResolvePath returns the queue directory: Path, or dataDir/diskqueue.
func (c DiskConfig) ResolvePath(dataDir string) string {
	if c.Path != "" {
		return c.Path
	}
	return strings.TrimRight(dataDir, "/") + "/" + DefaultDiskDirName
}

// Validate returns every problem of c at once, each a *config.KeyError
// naming its key below queue.mem, joined into one error that wraps
// ErrInvalidConfig; nil when c is usable.
func (c *MemConfig) Validate() error { return invalidSettings(QueueMem, c.problems()) }

// Validate returns every problem of c at once, each a *config.KeyError
// naming its key below queue.disk, joined into one error that wraps
// ErrInvalidConfig; nil when c is usable.
func (c *DiskConfig) Validate() error { return invalidSettings(QueueDisk, c.problems()) }

func invalidSettings(queue string, problems []error) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("queue.%s: %w: %w", queue, ErrInvalidConfig, errors.Join(problems...))
}

func invalid(key, format string, args ...any) error {
	return &config.KeyError{Key: key, Err: fmt.Errorf(format, args...)}
}

func (c MemConfig) problems() []error {
	var errs []error
	if c.Events < 1 {
		errs = append(errs, invalid("events", "must be at least 1, got %d", c.Events))
	}
	errs = append(errs, c.Flush.problems()...)
	if c.Events >= 1 && c.Flush.MinEvents > c.Events {
		errs = append(errs, invalid("flush.min_events", "%d exceeds events %d: a batch could never fill", c.Flush.MinEvents, c.Events))
	}
	return errs
}

func (c FlushConfig) problems() []error {
	var errs []error
	if c.MinEvents < 0 {
		errs = append(errs, invalid("flush.min_events", "must not be negative, got %d", c.MinEvents))
	}
	if c.Timeout < 0 {
		errs = append(errs, invalid("flush.timeout", "must not be negative, got %s", c.Timeout))
	}
	return errs
}

func (c DiskConfig) problems() []error {
	var errs []error
	if c.SegmentSize < MinSegmentSize {
		errs = append(errs, invalid("segment_size", "must be at least %d bytes, got %d", MinSegmentSize, c.SegmentSize))
	}
	switch {
	case c.MaxSize < MinSegmentSize:
		errs = append(errs, invalid("max_size", "must be at least %d bytes, got %d", MinSegmentSize, c.MaxSize))
	case c.MaxSize < c.SegmentSize:
		errs = append(errs, invalid("max_size", "%d is smaller than segment_size %d", c.MaxSize, c.SegmentSize))
	}
	switch c.Fsync {
	case FsyncAlways, FsyncNever:
	case FsyncInterval:
		if c.FsyncInterval <= 0 {
			errs = append(errs, invalid("fsync_interval", "must be positive with fsync %q, got %s", FsyncInterval, c.FsyncInterval))
		}
	default:
		errs = append(errs, invalid("fsync", "must be %q, %q or %q, got %q", FsyncAlways, FsyncInterval, FsyncNever, c.Fsync))
	}
	errs = append(errs, c.Flush.problems()...)
	return errs
}
