package beater

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/output"
	"github.com/spawnbeat/spawnbeat/beater/output/console"
	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/beater/output/file"
	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// outputs are the outputs spawnbeat can send to. Adding one is a package
// under beater/output (its name, settings, Unpack and Open) and one line
// here.
func outputs() output.Registry {
	return output.Registry{
		output.New(elasticsearch.Name, elasticsearch.Unpack, elasticsearch.Open),
		output.New(file.Name, file.Unpack, file.Open),
		output.New(console.Name, console.Unpack, console.Open),
	}
}

// queues are the queue types events can wait in, one line each.
func queues() pipeline.QueueTypes {
	return pipeline.QueueTypes{
		pipeline.MemQueueType(),
		pipeline.DiskQueueType(),
	}
}

// queue opens the configured queue (memory by default, or disk under
// path.data) and returns it with its flush settings.
func (b *Beater) queue() (pipeline.Queue, pipeline.FlushConfig, error) {
	return queues().Open(b.cfg.Queue, b.cfg.Path.Data, b.log)
}

// output opens the one enabled output.
func (b *Beater) output() (output.Group, error) {
	return outputs().Open(b.cfg.Output, output.Info{
		DataDir: b.cfg.Path.Data, Namespace: b.cfg.Spawnbeat.Namespace, Stdout: os.Stdout, Log: b.log,
	})
}

// setup installs the index template and lifecycle policy on start when the
// Elasticsearch output is enabled and setup.template.enabled says so, as
// Beats do. A failure is logged, not fatal: the cluster may be down now and
// the events wait in the queue.
func (b *Beater) setup(ctx context.Context, s SetupSettings) {
	if s.Elasticsearch == nil || !s.Index.Template.Enabled {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := elasticsearch.Setup(ctx, *s.Elasticsearch, s.Index, ecs.FieldsYAML, b.log); err != nil {
		b.log.Warn("index setup failed; run `spawnbeat setup` once Elasticsearch is reachable", zap.Error(err))
	}
}
