package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/kibana"
	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/config"
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
func runSetup(ctx context.Context, cfg *config.Loaded, p setupParts, content func() (kibana.Content, error), out io.Writer, log *zap.Logger) error {
	var es elasticsearch.Config
	if p.indexManagement {
		o := cfg.Output.Elasticsearch
		if o == nil || !o.Enabled {
			msg := "index management needs the Elasticsearch output: %w (enable it, e.g. -E 'output.elasticsearch.hosts=[\"https://es:9200\"]')"
			if p.kibana() {
				msg += "; to load only the Kibana assets, run `spawnbeat setup --dashboards --detection`"
			}
			return fmt.Errorf(msg, errNotElasticsearch)
		}
		es = o.Config
	}
	var c kibana.Content
	if p.kibana() {
		var err error
		if c, err = content(); err != nil {
			return fmt.Errorf("read the Kibana assets: %w", err)
		}
	}
	if p.indexManagement {
		setup := cfg.Setup.SetupConfig
		setup.Template.Enabled, setup.ILM.Enabled = true, true // what setup is for
		if err := elasticsearch.Setup(ctx, es, setup, ecs.FieldsYAML, log); err != nil {
			return fmt.Errorf("index setup: %w", err)
		}
		fmt.Fprintln(out, "Index setup finished: template", setup.Template.Name, "and lifecycle policy", setup.ILM.PolicyName)
	}
	if !p.kibana() {
		return nil
	}
	rep, err := kibana.Load(ctx, cfg.Setup.Kibana, c, kibana.Parts{SavedObjects: p.dashboards, Rules: p.detection})
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

// parseSetupParts returns the parts the flags select, all of them when none
// is given.
func parseSetupParts(p setupParts) setupParts {
	if p.none() {
		return setupParts{indexManagement: true, dashboards: true, detection: true}
	}
	return p
}
