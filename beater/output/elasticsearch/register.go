package elasticsearch

import (
	"github.com/elastic/go-ucfg"

	"github.com/spawnbeat/spawnbeat/beater/output"
	"github.com/spawnbeat/spawnbeat/config"
)

// Name is the output's name: its settings are output.elasticsearch.
const Name = "elasticsearch"

// Open opens the output for the agent: documents that name no data stream
// go to spawnbeat.namespace's (info.Namespace).
func Open(cfg Config, info output.Info) (output.Group, error) {
	cfg.Namespace = info.Namespace
	out, err := New(cfg, info.Log)
	if err != nil {
		return output.Group{}, err
	}
	return output.Group{Output: out, BatchSize: cfg.BulkMaxSize, Stats: func() any { return out.Stats() }}, nil
}

// UnpackSetup reads the setup section's setup.template and setup.ilm over
// DefaultSetupConfig and validates them.
func UnpackSetup(raw *ucfg.Config) (SetupConfig, error) {
	return config.Unpack(raw, DefaultSetupConfig())
}
