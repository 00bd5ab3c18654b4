package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater"
	"github.com/spawnbeat/spawnbeat/beater/kibana"
	"github.com/spawnbeat/spawnbeat/config"
	"github.com/spawnbeat/spawnbeat/tests/esserver"
	"github.com/spawnbeat/spawnbeat/tests/kibanaserver"
)

// fixtureContent is the Kibana package's NDJSON fixtures.
func fixtureContent(t *testing.T) kibana.Content {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "beater", "kibana", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return kibana.Content{Source: "the fixtures", SavedObjects: read("saved_objects.ndjson"), Rules: read("rules.ndjson")}
}

type setupEnv struct {
	es  *esserver.Server
	kb  *kibanaserver.Server
	cfg func(t *testing.T, overrides ...string) beater.SetupSettings
}

func newSetupEnv(t *testing.T) setupEnv {
	t.Helper()
	es, err := esserver.Start(esserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = es.Close() })
	kb, err := kibanaserver.Start(kibanaserver.Options{Username: "elastic", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kb.Close() })
	return setupEnv{es: es, kb: kb, cfg: func(t *testing.T, overrides ...string) beater.SetupSettings {
		t.Helper()
		l, err := config.Load(config.Source{File: filepath.Join(t.TempDir(), "absent.yml"), Default: config.DefaultYAML,
			Overrides: append([]string{"setup.kibana.host=" + kb.URL(), "setup.kibana.username=elastic", "setup.kibana.password=pw",
				"path.home=" + t.TempDir()}, overrides...)}, beater.Settings())
		if err != nil {
			t.Fatal(err)
		}
		s, err := beater.ReadSetup(l.Config)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

func (e setupEnv) withES() string { return `output.elasticsearch.hosts=["` + e.es.URL() + `"]` }

func TestRunSetup(t *testing.T) {
	all := setupParts{indexManagement: true, dashboards: true, detection: true}
	ctx := context.Background()
	t.Run("everything", func(t *testing.T) {
		e := newSetupEnv(t)
		var out bytes.Buffer
		if err := runSetup(ctx, e.cfg(t, e.withES()), all, func() (kibana.Content, error) { return fixtureContent(t), nil }, &out, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
		want := "Index setup finished: template logs-spawnbeat.process and lifecycle policy spawnbeat\n" +
			"Loaded 3 saved objects from the fixtures into Kibana 8.17.0 at " + e.kb.URL() + "\n" +
			"Loaded 1 detection rule from the fixtures into Kibana 8.17.0 at " + e.kb.URL() + "\n"
		if out.String() != want {
			t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
		}
		if len(e.kb.Objects("")) != 3 || len(e.kb.Rules("")) != 1 {
			t.Errorf("kibana holds %d objects, %d rules", len(e.kb.Objects("")), len(e.kb.Rules("")))
		}
	})
	t.Run("dashboards alone need no Elasticsearch", func(t *testing.T) {
		e := newSetupEnv(t)
		var out bytes.Buffer
		if err := runSetup(ctx, e.cfg(t), setupParts{dashboards: true}, func() (kibana.Content, error) { return fixtureContent(t), nil }, &out, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "Loaded 3 saved objects") || strings.Contains(out.String(), "rules") || len(e.kb.Rules("")) != 0 {
			t.Errorf("output %q, %d rules", out.String(), len(e.kb.Rules("")))
		}
	})
	t.Run("everything without the Elasticsearch output", func(t *testing.T) {
		e := newSetupEnv(t)
		var out bytes.Buffer
		err := runSetup(ctx, e.cfg(t), all, func() (kibana.Content, error) { return fixtureContent(t), nil }, &out, zap.NewNop())
		if !errors.Is(err, errNotElasticsearch) || !strings.Contains(err.Error(), "spawnbeat setup --dashboards --detection") {
			t.Errorf("err = %v", err)
		}
		if out.Len() != 0 || len(e.kb.Requests()) != 0 {
			t.Errorf("something was done: output %q, %d Kibana requests", out.String(), len(e.kb.Requests()))
		}
	})
	t.Run("unreadable assets stop everything", func(t *testing.T) {
		e := newSetupEnv(t)
		var out bytes.Buffer
		err := runSetup(ctx, e.cfg(t, e.withES()), all, func() (kibana.Content, error) { return kibana.Content{}, errors.New("dashboard/x.json: line 3: bad") }, &out, zap.NewNop())
		if err == nil || !strings.Contains(err.Error(), "read the Kibana assets: dashboard/x.json: line 3: bad") {
			t.Errorf("err = %v", err)
		}
		if out.Len() != 0 || e.es.Stats().Requests != 0 {
			t.Errorf("something was done: output %q, %d Elasticsearch requests", out.String(), e.es.Stats().Requests)
		}
	})
	t.Run("Kibana refuses: index management done and nothing claimed in Kibana", func(t *testing.T) {
		e := newSetupEnv(t)
		var out bytes.Buffer
		err := runSetup(ctx, e.cfg(t, e.withES(), "setup.kibana.password=wrong"), all, func() (kibana.Content, error) { return fixtureContent(t), nil }, &out, zap.NewNop())
		if !errors.Is(err, kibana.ErrUnauthorized) || !strings.Contains(err.Error(), "load the Kibana assets: read Kibana's status") {
			t.Errorf("err = %v", err)
		}
		if out.String() != "Index setup finished: template logs-spawnbeat.process and lifecycle policy spawnbeat\n" {
			t.Errorf("output %q", out.String())
		}
	})
	t.Run("rules fail after the saved objects", func(t *testing.T) {
		e := newSetupEnv(t)
		e.kb.SetFaults(kibanaserver.Faults{ObjectErrors: map[string]string{"rule:fixture-promote": "no"}})
		var out bytes.Buffer
		err := runSetup(ctx, e.cfg(t), setupParts{dashboards: true, detection: true}, func() (kibana.Content, error) { return fixtureContent(t), nil }, &out, zap.NewNop())
		if !errors.Is(err, kibana.ErrImport) || !strings.Contains(err.Error(), "rule fixture-promote: no (status 500)") {
			t.Errorf("err = %v", err)
		}
		if !strings.HasPrefix(out.String(), "Loaded 3 saved objects") || strings.Contains(out.String(), "detection rules") {
			t.Errorf("output %q", out.String())
		}
	})
	t.Run("no rules in the assets", func(t *testing.T) {
		e := newSetupEnv(t)
		c := fixtureContent(t)
		c.Rules, c.Source = nil, "/srv/assets"
		var out bytes.Buffer
		if err := runSetup(ctx, e.cfg(t), setupParts{detection: true}, func() (kibana.Content, error) { return c, nil }, &out, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
		if want := "No detection rules in /srv/assets: none loaded into Kibana 8.17.0 at " + e.kb.URL() + "\n"; out.String() != want {
			t.Errorf("output %q, want %q", out.String(), want)
		}
	})
}

func TestParseSetupParts(t *testing.T) {
	if got := parseSetupParts(setupParts{}); got != (setupParts{indexManagement: true, dashboards: true, detection: true}) {
		t.Errorf("no flag: %+v", got)
	}
	if got := parseSetupParts(setupParts{detection: true}); got != (setupParts{detection: true}) {
		t.Errorf("--detection: %+v", got)
	}
}
