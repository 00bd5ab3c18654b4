package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/spawnbeat/spawnbeat/beater"
	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// setupTimeout bounds `setup` and `test output`.
const setupTimeout = 2 * time.Minute

// loadSetup loads the configuration and returns its setup settings.
func (g *globals) loadSetup(cmd *cobra.Command) (beater.SetupSettings, error) {
	cfg, err := g.load(cmd)
	if err != nil {
		return beater.SetupSettings{}, err
	}
	return beater.ReadSetup(cfg.Config)
}

// loadES is loadSetup with output.elasticsearch, or an error when that is
// not the enabled output.
func (g *globals) loadES(cmd *cobra.Command) (beater.SetupSettings, error) {
	s, err := g.loadSetup(cmd)
	if err != nil {
		return beater.SetupSettings{}, err
	}
	if s.Elasticsearch == nil {
		return beater.SetupSettings{}, fmt.Errorf("%w (enable it in the config or with -E 'output.elasticsearch.hosts=[\"https://es:9200\"]')", errNotElasticsearch)
	}
	return s, nil
}

func newExportTemplateCommand(g *globals) *cobra.Command {
	return newExportJSONCommand(g, "template", "Print the index template (composable, data_stream, mappings from fields.yml)",
		func(s beater.SetupSettings) ([]byte, error) { return elasticsearch.Template(ecs.FieldsYAML, s.Index) })
}

func newExportILMCommand(g *globals) *cobra.Command {
	return newExportJSONCommand(g, "ilm-policy", "Print the lifecycle policy",
		func(s beater.SetupSettings) ([]byte, error) { return elasticsearch.ILMPolicy(s.Index.ILM) })
}

// newExportJSONCommand prints what build makes of the setup settings.
func newExportJSONCommand(g *globals, use, short string, build func(beater.SetupSettings) ([]byte, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.loadSetup(cmd)
			if err != nil {
				return err
			}
			out, err := build(s)
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
			s, err := g.loadES(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), setupTimeout)
			defer cancel()
			err = elasticsearch.TestOutput(ctx, *s.Elasticsearch, s.Index, cmd.OutOrStdout())
			if errors.Is(err, elasticsearch.ErrCheckFailed) {
				// The report printed each failed check with its error:
				// only the verdict is left to say.
				return &exitError{Code: statusError, Err: elasticsearch.ErrCheckFailed}
			}
			if err != nil {
				return &exitError{Code: statusError, Err: err}
			}
			return nil
		},
	}
}
