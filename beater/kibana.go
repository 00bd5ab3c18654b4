package beater

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/kibana"
)

// kibanaTimeout bounds loading the Kibana saved objects at start.
const kibanaTimeout = 2 * time.Minute

// loadKibana loads the Kibana saved objects when setup.dashboards.enabled
// says so, before anything is captured. As in Beats, a failure stops the
// agent: the user asked for the dashboards at start, and the error says
// what Kibana refused. The detection rule is left to `spawnbeat setup`, so
// that a rule a SOC has tuned or disabled is not replaced each time an
// agent starts.
func (b *Beater) loadKibana(ctx context.Context, s SetupSettings) error {
	d := s.Dashboards
	if !d.Enabled {
		return nil
	}
	c, err := kibana.ReadContent(d.Directory)
	if err != nil {
		return fmt.Errorf("setup.dashboards.enabled: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, kibanaTimeout)
	defer cancel()
	rep, err := kibana.Load(ctx, s.Kibana, c, kibana.Parts{SavedObjects: true})
	for _, w := range rep.Warnings {
		b.log.Warn("Kibana warns about the import", zap.String("warning", w))
	}
	if err != nil {
		return fmt.Errorf("setup.dashboards.enabled: load the Kibana saved objects: %w", err)
	}
	b.log.Info("Kibana saved objects loaded", zap.Int("saved_objects", rep.SavedObjects),
		zap.String("kibana", rep.Kibana), zap.String("source", c.Source))
	return nil
}
