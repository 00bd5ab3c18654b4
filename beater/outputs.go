package beater

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/output/console"
	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/beater/output/file"
	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// queue opens the configured queue (memory by default, or disk under path.data).
func (b *Beater) queue() (pipeline.Queue, error) {
	return pipeline.Open(b.cfg.Queue, b.cfg.Path.Data, b.log)
}

// output opens the one enabled output. It returns with it what /stats
// shows of it: a function that snapshots its counters, nil for an output
// that keeps none.
func (b *Beater) output() (pipeline.Output, func() any, error) {
	o := b.cfg.Output
	switch {
	case o.Elasticsearch != nil && o.Elasticsearch.Enabled:
		out, err := elasticsearch.New(o.Elasticsearch.Config, b.log)
		if err != nil {
			return nil, nil, err
		}
		return out, func() any { return out.Stats() }, nil
	case o.Console != nil && o.Console.Enabled:
		return console.New(*o.Console, os.Stdout), nil, nil
	default:
		out, err := file.New(*o.File, b.log)
		if err != nil {
			return nil, nil, err
		}
		return out, func() any { return out.Stats() }, nil
	}
}

// setup installs the index template and lifecycle policy on start when the
// Elasticsearch output is enabled and setup.template.enabled says so, as
// Beats do. A failure is logged, not fatal: the cluster may be down now and
// the events wait in the queue.
func (b *Beater) setup(ctx context.Context) {
	es := b.cfg.Output.Elasticsearch
	if es == nil || !es.Enabled || !b.cfg.Setup.Template.Enabled {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := elasticsearch.Setup(ctx, es.Config, b.cfg.Setup.SetupConfig, ecs.FieldsYAML, b.log); err != nil {
		b.log.Warn("index setup failed; run `spawnbeat setup` once Elasticsearch is reachable", zap.Error(err))
	}
}
