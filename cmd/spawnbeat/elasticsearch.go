package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// setupTimeout bounds `setup` and `test output`.
const setupTimeout = 2 * time.Minute

// loadES loads the configuration and returns it with output.elasticsearch,
// or an error when that is not the enabled output.
func (g *globals) loadES(cmd *cobra.Command) (*config.Loaded, elasticsearch.Config, error) {
	cfg, err := g.load(cmd)
	if err != nil {
		return nil, elasticsearch.Config{}, err
	}
	es := cfg.Output.Elasticsearch
	if es == nil || !es.Enabled {
		return nil, elasticsearch.Config{}, fmt.Errorf("%w (enable it in the config or with -E 'output.elasticsearch.hosts=[\"https://es:9200\"]')", errNotElasticsearch)
	}
	return cfg, es.Config, nil
}

func newExportTemplateCommand(g *globals) *cobra.Command {
	return newExportJSONCommand(g, "template", "Print the index template (composable, data_stream, mappings from fields.yml)",
		func(cfg *config.Loaded) ([]byte, error) {
			return elasticsearch.Template(ecs.FieldsYAML, cfg.Setup.SetupConfig)
		})
}

func newExportILMCommand(g *globals) *cobra.Command {
	return newExportJSONCommand(g, "ilm-policy", "Print the lifecycle policy",
		func(cfg *config.Loaded) ([]byte, error) { return elasticsearch.ILMPolicy(cfg.Setup.ILM) })
}

// newExportJSONCommand prints what build makes of the configuration.
func newExportJSONCommand(g *globals, use, short string, build func(*config.Loaded) ([]byte, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			out, err := build(cfg)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out)
			return err
		},
	}
}

func newTestOutputCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "output",
		Short: "Check that Elasticsearch is reachable, accepts the credentials, has the template and takes writes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, es, err := g.loadES(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), setupTimeout)
			defer cancel()
			if err := elasticsearch.TestOutput(ctx, es, cfg.Setup.SetupConfig, cmd.OutOrStdout()); err != nil {
				return &exitError{Code: statusError, Err: err}
			}
			return nil
		},
	}
}
