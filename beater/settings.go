package beater

import (
	"fmt"

	"github.com/spawnbeat/spawnbeat/beater/kibana"
	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/beater/output/file"
	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/config"
)

// The sections of setup that their packages own: setup.template and
// setup.ilm (the Elasticsearch output's index management), setup.kibana
// and setup.dashboards (the Kibana client).
const (
	setupIndexKey      = "setup"
	setupKibanaKey     = "setup.kibana"
	setupDashboardsKey = "setup.dashboards"
)

// Settings lists the packages that own parts of spawnbeat.yml, for
// config.Load to check them: the outputs and queue types as they register
// (outputs, queues), the file output and the memory queue as defaults, and
// the setup sections.
func Settings() config.Owners {
	return config.Owners{
		Outputs:       outputs().Sections(),
		DefaultOutput: file.Name,
		Queues:        queues().Sections(),
		DefaultQueue:  pipeline.QueueMem,
		Sections: []config.Section{
			config.Own(setupIndexKey, elasticsearch.UnpackSetup),
			config.Own(setupKibanaKey, kibana.Unpack),
			config.Own(setupDashboardsKey, kibana.UnpackDashboards),
		},
	}
}

// SetupSettings are what `spawnbeat setup` installs with, and what the
// agent sets up at start. A plain value.
type SetupSettings struct {
	// Elasticsearch is the output's settings when it is the enabled
	// output, with spawnbeat.namespace; nil otherwise.
	Elasticsearch *elasticsearch.Config
	Index         elasticsearch.SetupConfig // setup.template, setup.ilm
	// Kibana is setup.kibana. It takes the Elasticsearch output's
	// credentials when it has none of its own, as Beats do: most users
	// have one user for both.
	Kibana     kibana.Config
	Dashboards kibana.DashboardsConfig // setup.dashboards
}

// ReadSetup reads the setup settings from cfg, which config.Load checked
// with Settings.
func ReadSetup(cfg *config.Config) (SetupSettings, error) {
	var s SetupSettings
	var err error
	if s.Index, err = elasticsearch.UnpackSetup(cfg.Section(setupIndexKey)); err != nil {
		return SetupSettings{}, fmt.Errorf("read setup: %w", err)
	}
	if s.Kibana, err = kibana.Unpack(cfg.Section(setupKibanaKey)); err != nil {
		return SetupSettings{}, fmt.Errorf("read setup.kibana: %w", err)
	}
	if s.Dashboards, err = kibana.UnpackDashboards(cfg.Section(setupDashboardsKey)); err != nil {
		return SetupSettings{}, fmt.Errorf("read setup.dashboards: %w", err)
	}
	if cfg.Output.Name != elasticsearch.Name {
		return s, nil
	}
	es, err := elasticsearch.Unpack(cfg.Output.Config)
	if err != nil {
		return SetupSettings{}, fmt.Errorf("read output.elasticsearch: %w", err)
	}
	es.Namespace = cfg.Spawnbeat.Namespace
	s.Elasticsearch = &es
	if k := &s.Kibana; !k.HasCredentials() {
		k.Username, k.Password, k.APIKey = es.Username, es.Password, es.APIKey
	}
	return s, nil
}
