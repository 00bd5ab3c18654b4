package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spawnbeat/spawnbeat/config/bytesize"
)

// Defaults of the queue settings.
const (
	DefaultMemEvents     = 4096
	DefaultFlushMin      = 1600
	DefaultFlushTimeout  = time.Second // Beats uses 10s; a security agent wants alerts out within a second
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

// Config is the queue.* section. At most one of Mem and Disk may be set; the
// zero Config selects the memory queue with DefaultMemConfig. Config is a
// plain value, not safe for concurrent mutation.
type Config struct {
	Mem  *MemConfig  `config:"mem"`
	Disk *DiskConfig `config:"disk"`
}

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

// DefaultConfig returns the queue defaults: neither section set, which
// selects the memory queue with DefaultMemConfig. Keeping both nil lets a user
// configure queue.disk alone without tripping the one-of check.
func DefaultConfig() Config { return Config{} }

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

// InitDefaults lets go-ucfg fill a queue.mem section with defaults before
// unpacking the user's keys over them.
func (c *MemConfig) InitDefaults() { *c = DefaultMemConfig() }

// InitDefaults lets go-ucfg fill a queue.disk section with defaults before
// unpacking the user's keys over them.
func (c *DiskConfig) InitDefaults() { *c = DefaultDiskConfig() }

// FlushSettings returns the flush settings of the selected queue.
func (c Config) FlushSettings() FlushConfig {
	switch {
	case c.Disk != nil:
		return c.Disk.Flush
	case c.Mem != nil:
		return c.Mem.Flush
	default:
		return DefaultMemConfig().Flush
	}
}

// ResolvePath returns the queue directory: Path, or dataDir/diskqueue.
func (c DiskConfig) ResolvePath(dataDir string) string {
	if c.Path != "" {
		return c.Path
	}
	return strings.TrimRight(dataDir, "/") + "/" + DefaultDiskDirName
}

// Validate returns every problem of c at once, each naming its key path and
// wrapping ErrInvalidConfig; nil when c is usable.
func (c Config) Validate() error {
	var errs []error
	if c.Mem != nil && c.Disk != nil {
		errs = append(errs, fmt.Errorf("queue: only one of queue.mem and queue.disk may be configured: %w", ErrInvalidConfig))
	}
	if c.Mem != nil {
		errs = append(errs, c.Mem.problems("queue.mem")...)
	}
	if c.Disk != nil {
		errs = append(errs, c.Disk.problems("queue.disk")...)
	}
	return errors.Join(errs...)
}

func invalid(key, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", key, fmt.Sprintf(format, args...), ErrInvalidConfig)
}

func (c MemConfig) problems(prefix string) []error {
	var errs []error
	if c.Events < 1 {
		errs = append(errs, invalid(prefix+".events", "must be at least 1, got %d", c.Events))
	}
	errs = append(errs, c.Flush.problems(prefix+".flush")...)
	if c.Events >= 1 && c.Flush.MinEvents > c.Events {
		errs = append(errs, invalid(prefix+".flush.min_events", "%d exceeds %s.events %d: a batch could never fill", c.Flush.MinEvents, prefix, c.Events))
	}
	return errs
}

func (c FlushConfig) problems(prefix string) []error {
	var errs []error
	if c.MinEvents < 0 {
		errs = append(errs, invalid(prefix+".min_events", "must not be negative, got %d", c.MinEvents))
	}
	if c.Timeout < 0 {
		errs = append(errs, invalid(prefix+".timeout", "must not be negative, got %s", c.Timeout))
	}
	return errs
}

func (c DiskConfig) problems(prefix string) []error {
	var errs []error
	if c.SegmentSize < MinSegmentSize {
		errs = append(errs, invalid(prefix+".segment_size", "must be at least %d bytes, got %d", MinSegmentSize, c.SegmentSize))
	}
	switch {
	case c.MaxSize < MinSegmentSize:
		errs = append(errs, invalid(prefix+".max_size", "must be at least %d bytes, got %d", MinSegmentSize, c.MaxSize))
	case c.MaxSize < c.SegmentSize:
		errs = append(errs, invalid(prefix+".max_size", "%d is smaller than %s.segment_size %d", c.MaxSize, prefix, c.SegmentSize))
	}
	switch c.Fsync {
	case FsyncAlways, FsyncNever:
	case FsyncInterval:
		if c.FsyncInterval <= 0 {
			errs = append(errs, invalid(prefix+".fsync_interval", "must be positive with fsync %q, got %s", FsyncInterval, c.FsyncInterval))
		}
	default:
		errs = append(errs, invalid(prefix+".fsync", "must be %q, %q or %q, got %q", FsyncAlways, FsyncInterval, FsyncNever, c.Fsync))
	}
	errs = append(errs, c.Flush.problems(prefix+".flush")...)
	return errs
}
