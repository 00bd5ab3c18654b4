package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/elastic/go-ucfg"
	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/output"
	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/config"
)

// Name is the output's name: its settings are output.file.
const Name = "file"

// Config is output.file.
type Config struct {
	Path          string `config:"path"`            // directory; defaults to path.data (output.Info.DataDir)
	Filename      string `config:"filename"`        // base name, without extension
	RotateEveryKB int    `config:"rotate_every_kb"` // rotate when the file would exceed this size
	NumberOfFiles int    `config:"number_of_files"` // files kept, the current one included
	Permissions   uint32 `config:"permissions"`     // mode of created files
}

// DefaultConfig returns output.file's defaults.
func DefaultConfig() Config {
	return Config{
		Filename:      "spawnbeat",
		RotateEveryKB: 10 * 1024,
		NumberOfFiles: 7,
		Permissions:   0o600,
	}
}

// Unpack reads output.file's settings over the defaults and validates them.
func Unpack(raw *ucfg.Config) (Config, error) { return config.Unpack(raw, DefaultConfig()) }

// Validate reports every problem of the settings at once, each a
// *config.KeyError naming its key below output.file.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.KeyError{Key: key, Err: fmt.Errorf(format, args...)})
	}
	if c.Filename == "" || filepath.Base(c.Filename) != c.Filename {
		bad("filename", "%q must be a plain file name", c.Filename)
	}
	if c.RotateEveryKB < 1 {
		bad("rotate_every_kb", "must be at least 1, got %d", c.RotateEveryKB)
	}
	if c.NumberOfFiles < 2 || c.NumberOfFiles > 1024 {
		bad("number_of_files", "must be between 2 and 1024, got %d", c.NumberOfFiles)
	}
	if c.Permissions&^0o777 != 0 {
		bad("permissions", "%#o is not a file mode", c.Permissions)
	}
	return errors.Join(errs...)
}

// Dir is the directory the output writes to: Path, or dataDir when Path is
// empty.
func (c *Config) Dir(dataDir string) string {
	if c.Path == "" {
		return dataDir
	}
	return c.Path
}

// Open opens the output for the agent, under info.DataDir unless the
// settings name a directory.
func Open(cfg Config, info output.Info) (output.Group, error) {
	cfg.Path = cfg.Dir(info.DataDir)
	out, err := New(cfg, info.Log)
	if err != nil {
		return output.Group{}, err
	}
	return output.Group{Output: out, BatchSize: pipeline.DefaultBatchSize, Stats: func() any { return out.Stats() }}, nil
}

// retryDelay is how long Publish waits before writing again after a failed
// write (a full disk, a removed directory).
const retryDelay = time.Second

// Output appends documents to a rotating file. Publish and Close are called
// from the delivery goroutine only; Stats may be read from any goroutine.
type Output struct {
	cfg  Config
	log  *zap.Logger
	file *os.File
	w    *bufio.Writer
	size int64

	written, failures atomic.Uint64
}

// Stats counts what the output wrote.
type Stats struct {
	Written  uint64 // documents written
	Failures uint64 // failed write attempts (each retried)
}

// New opens (or creates) the current file for appending.
func New(cfg Config, log *zap.Logger) (*Output, error) {
	if err := os.MkdirAll(cfg.Path, 0o750); err != nil {
		return nil, fmt.Errorf("create output directory %s: %w", cfg.Path, err)
	}
	o := &Output{cfg: cfg, log: log.Named("output.file")}
	if err := o.open(); err != nil {
		return nil, err
	}
	o.log.Info("writing events", zap.String("path", o.Path()))
	return o, nil
}

// Path is the file being written now.
func (o *Output) Path() string {
	return filepath.Join(o.cfg.Path, o.cfg.Filename+".ndjson")
}

func (o *Output) open() error {
	f, err := os.OpenFile(o.Path(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, os.FileMode(o.cfg.Permissions))
	if err != nil {
		return fmt.Errorf("open output file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("stat output file: %w", err)
	}
	o.file, o.size = f, st.Size()
	if o.w == nil {
		o.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		o.w.Reset(f)
	}
	return nil
}

// Publish writes the batch, whole lines only, and flushes it. A failed write
// is retried until it succeeds or ctx ends, so that nothing is acknowledged
// that is not in the file.
func (o *Output) Publish(ctx context.Context, batch []pipeline.Event) error {
	for {
		err := o.write(batch)
		if err == nil {
			o.written.Add(uint64(len(batch)))
			return nil
		}
		o.failures.Add(1)
		o.log.Warn("write failed; retrying", zap.Error(err), zap.Int("events", len(batch)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryDelay):
		}
	}
}

func (o *Output) write(batch []pipeline.Event) error {
	if o.file == nil {
		if err := o.open(); err != nil {
			return err
		}
	}
	limit := int64(o.cfg.RotateEveryKB) * 1024
	committed := o.size // bytes of whole lines already in the current file
	for _, ev := range batch {
		n := int64(len(ev.Body) + 1)
		if o.size > 0 && o.size+n > limit {
			if err := o.rotate(); err != nil {
				o.abort(committed)
				return err
			}
			committed = 0
		}
		// bufio keeps the first error and reports it at Flush.
		_, _ = o.w.Write(ev.Body)
		_ = o.w.WriteByte('\n')
		o.size += n
	}
	if err := o.w.Flush(); err != nil {
		o.abort(committed)
		return fmt.Errorf("write %s: %w", o.Path(), err)
	}
	return nil
}

// abort drops a failed batch: the file is cut back to its last whole line,
// so that the retry, which writes the batch again, leaves whole lines only.
func (o *Output) abort(committed int64) {
	if o.file == nil {
		return
	}
	_ = o.file.Truncate(committed)
	_ = o.file.Close()
	o.file = nil
	o.w.Reset(nil)
}

func (o *Output) rotate() error {
	if err := o.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", o.Path(), err)
	}
	if err := o.file.Close(); err != nil {
		return fmt.Errorf("close %s: %w", o.Path(), err)
	}
	o.file = nil
	base := o.Path()
	for i := o.cfg.NumberOfFiles - 1; i > 0; i-- {
		from := base + "." + strconv.Itoa(i-1)
		if i == 1 {
			from = base
		}
		if err := os.Rename(from, base+"."+strconv.Itoa(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", from, err)
		}
	}
	return o.open()
}

// Stats returns a snapshot of the counters.
func (o *Output) Stats() Stats {
	return Stats{Written: o.written.Load(), Failures: o.failures.Load()}
}

// Close flushes and closes the file; it is safe to call twice.
func (o *Output) Close() error {
	if o.file == nil {
		return nil
	}
	err := o.w.Flush()
	if cerr := o.file.Close(); err == nil {
		err = cerr
	}
	o.file = nil
	return err
}
