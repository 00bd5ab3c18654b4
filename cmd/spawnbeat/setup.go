package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater"
	"github.com/spawnbeat/spawnbeat/beater/kibana"
	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// setupParts are what `spawnbeat setup` installs. No flag means all three.
type setupParts struct {
	indexManagement bool // template, lifecycle policy, ingest pipeline (Elasticsearch)
	dashboards      bool // the saved objects (Kibana)
	detection       bool // the detection rule (Kibana)
}

func (p setupParts) none() bool   { return !p.indexManagement && !p.dashboards && !p.detection }
func (p setupParts) kibana() bool { return p.dashboards || p.detection }

// runSetup installs the parts in order (index management first, so that
// the data stream's template exists before anything reads it), printing a
// line to out for each part once it is done, and stops at the first
// failure. Everything is checked before anything is sent: the
// Elasticsearch output for index management, the Kibana content for the
// Kibana parts (content is called only when a Kibana part is asked for).
func runSetup(ctx context.Context, s beater.SetupSettings, p setupParts, content func() (kibana.Content, error), out io.Writer, log *zap.Logger) error {
	if p.indexManagement {
		if s.Elasticsearch == nil {
			msg := "index management needs the Elasticsearch output: %w (enable it, e.g. -E 'output.elasticsearch.hosts=[\"https://es:9200\"]')"
			if p.kibana() {
				msg += "; to load only the Kibana assets, run `spawnbeat setup --dashboards --detection`"
			}
			return fmt.Errorf(msg, errNotElasticsearch)
		}
	}
	var c kibana.Content
	if p.kibana() {
		var err error
		if c, err = content(); err != nil {
			return fmt.Errorf("read the Kibana assets: %w", err)
		}
	}
	if p.indexManagement {
		setup := s.Index
		setup.Template.Enabled, setup.ILM.Enabled = true, true // what setup is for
		if err := elasticsearch.Setup(ctx, *s.Elasticsearch, setup, ecs.FieldsYAML, log); err != nil {
			return fmt.Errorf("index setup: %w", err)
		}
		fmt.Fprintln(out, "Index setup finished: template", setup.Template.Name, "and lifecycle policy", setup.ILM.PolicyName)
	}
	if !p.kibana() {
		return nil
	}
	rep, err := kibana.Load(ctx, s.Kibana, c, kibana.Parts{SavedObjects: p.dashboards, Rules: p.detection})
	for _, w := range rep.Warnings {
		log.Warn("Kibana warns about the import", zap.String("warning", w))
	}
	for _, what := range rep.Done {
		n := rep.SavedObjects
		if what == "detection rules" {
			n = rep.Rules
		}
		if n == 1 {
			what = strings.TrimSuffix(what, "s")
		}
		fmt.Fprintf(out, "Loaded %d %s from %s into %s\n", n, what, c.Source, rep.Kibana)
	}
	for _, what := range rep.Empty {
		fmt.Fprintf(out, "No %s in %s: none loaded into %s\n", what, c.Source, rep.Kibana)
	}
	if err != nil {
		return fmt.Errorf("load the Kibana assets: %w", err)
	}
	return nil
}

func newSetupCommand(g *globals) *cobra.Command {
	var p setupParts
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Install the index template, lifecycle policy and ingest pipeline, and the Kibana dashboards and detection rule",
		Long: `Install what spawnbeat's data needs: in Elasticsearch the index template, the
lifecycle policy and the ingest pipeline (--index-management, through
output.elasticsearch); in Kibana the data view, dashboard and saved search
(--dashboards) and the detection rule that promotes spawnbeat's alerts
(--detection), through setup.kibana. Without a flag, all three.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			log, closeLog, err := newLogger(cfg.Logging, cfg.Path.Logs, g.selectors, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeLog()
			s, err := beater.ReadSetup(cfg.Config)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), setupTimeout)
			defer cancel()
			content := func() (kibana.Content, error) { return kibana.ReadContent(s.Dashboards.Directory) }
			return runSetup(ctx, s, parseSetupParts(p), content, cmd.OutOrStdout(), log)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&p.indexManagement, "index-management", false, "install the index template, lifecycle policy and ingest pipeline in Elasticsearch")
	f.BoolVar(&p.dashboards, "dashboards", false, "load the data view, dashboard and saved search into Kibana")
	f.BoolVar(&p.detection, "detection", false, "load the detection rule that promotes spawnbeat's alerts into Kibana")
	return cmd
}

// newExportKibanaCommand prints the saved-object NDJSON that setup loads,
// for Stack Management > Saved objects > Import.
func newExportKibanaCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "kibana",
		Short: "Print the Kibana saved objects (NDJSON) that setup loads, for Stack Management > Saved objects > Import",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.loadSetup(cmd)
			if err != nil {
				return err
			}
			c, err := kibana.ReadContent(s.Dashboards.Directory)
			if err != nil {
				return fmt.Errorf("export kibana: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(c.SavedObjects)
			return err
		},
	}
}

// parseSetupParts returns the parts the flags select, all of them when none
// is given.
func parseSetupParts(p setupParts) setupParts {
	if p.none() {
		return setupParts{indexManagement: true, dashboards: true, detection: true}
	}
	return p
}
