// Package output is what every output has in common, as libbeat's outputs
// package is: each output (beater/output/elasticsearch, file, console)
// reads its own settings, output.<name>, and opens itself, and registers
// with one line in the beater (see Registry). The config package knows of
// an output only its name and its settings' schema, given to it by the
// registry; it checks that exactly one output is enabled and hands that
// one's settings on as given.
package output

import (
	"fmt"
	"io"

	"github.com/elastic/go-ucfg"
	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/config"
)

// Info is what an output is opened with besides its own settings. A plain
// value.
type Info struct {
	// DataDir is path.data, where an output that writes files writes when
	// its settings name no directory.
	DataDir string
	// Namespace is spawnbeat.namespace: the data stream namespace of a
	// document that names none.
	Namespace string
	Stdout    io.Writer // where an output for people and pipes writes
	Log       *zap.Logger
}

// Group is an opened output: what the delivery loop publishes to, and how.
type Group struct {
	Output    pipeline.Output
	BatchSize int        // the most events one Publish takes
	Stats     func() any // a snapshot of its counters for /stats; nil when it keeps none
}

// Type is one output spawnbeat can send to, as it registers: its name and
// settings (config.Section) and how it opens.
type Type struct {
	Settings config.Section
	open     func(raw *ucfg.Config, info Info) (Group, error)
}

// New returns the Type of the output called name (output.<name>): unpack
// reads its settings over their defaults and validates them, each problem
// a *config.KeyError naming its key below output.<name>; open opens it.
func New[T any](name string, unpack func(*ucfg.Config) (T, error), open func(T, Info) (Group, error)) Type {
	return Type{
		Settings: config.Own(name, unpack),
		open: func(raw *ucfg.Config, info Info) (Group, error) {
			settings, err := unpack(raw)
			if err != nil {
				return Group{}, err // names the output: its settings were checked by Load
			}
			return open(settings, info)
		},
	}
}

// Registry is the outputs spawnbeat knows, in the order they are listed.
// A plain value.
type Registry []Type

// Sections is what config checks: each output's name and settings.
func (r Registry) Sections() []config.Section {
	out := make([]config.Section, len(r))
	for i, t := range r {
		out[i] = t.Settings
	}
	return out
}

// Open opens the output ns names with its settings.
func (r Registry) Open(ns config.Namespace, info Info) (Group, error) {
	for _, t := range r {
		if t.Settings.Key == ns.Name {
			if info.Log == nil {
				info.Log = zap.NewNop()
			}
			return t.open(ns.Config, info)
		}
	}
	return Group{}, fmt.Errorf("output %q is not one spawnbeat knows", ns.Name)
}
