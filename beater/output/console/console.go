// Package console is the console output: one JSON document a line on
// standard output, for debugging and for piping into other tools.
package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/elastic/go-ucfg"

	"github.com/spawnbeat/spawnbeat/beater/output"
	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/config"
)

// Name is the output's name: its settings are output.console.
const Name = "console"

// Config is output.console.
type Config struct {
	Pretty bool `config:"pretty"` // indent documents (slower; for people, not for pipes)
}

// DefaultConfig returns output.console's defaults.
func DefaultConfig() Config { return Config{} }

// Unpack reads output.console's settings over the defaults.
func Unpack(raw *ucfg.Config) (Config, error) { return config.Unpack(raw, DefaultConfig()) }

// Open opens the output for the agent, writing to info.Stdout.
func Open(cfg Config, info output.Info) (output.Group, error) {
	return output.Group{Output: New(cfg, info.Stdout), BatchSize: pipeline.DefaultBatchSize}, nil
}

// Output writes documents to a writer. It is used by the delivery goroutine only.
type Output struct {
	pretty bool
	w      *bufio.Writer
	indent bytes.Buffer
}

// New returns a console output writing to w (os.Stdout in the agent).
func New(cfg Config, w io.Writer) *Output {
	return &Output{pretty: cfg.Pretty, w: bufio.NewWriterSize(w, 64<<10)}
}

// Publish writes the batch and flushes it. A write error (a closed pipe) is
// returned only through ctx: the delivery loop keeps the batch and retries.
func (o *Output) Publish(ctx context.Context, batch []pipeline.Event) error {
	for _, ev := range batch {
		body := ev.Body
		if o.pretty {
			o.indent.Reset()
			if err := json.Indent(&o.indent, ev.Body, "", "  "); err == nil {
				body = o.indent.Bytes()
			}
		}
		_, _ = o.w.Write(body)
		_ = o.w.WriteByte('\n')
	}
	if err := o.w.Flush(); err != nil {
		<-ctx.Done()
		return fmt.Errorf("write to console: %w (%w)", err, ctx.Err())
	}
	return nil
}

// Close flushes what is buffered.
func (o *Output) Close() error { return o.w.Flush() }
