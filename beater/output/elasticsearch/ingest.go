package elasticsearch

import (
	"encoding/json"
	"fmt"
)

// IngestPipelineName is the ingest pipeline that `setup` installs and the
// index template names as the data stream's final pipeline. It sets
// event.ingested, the time Elasticsearch received the document: Elastic's
// detection rules, and the promotion rule that spawnbeat's Kibana assets
// carry, use it as their timestamp, so that a document delivered late (the
// agent buffered it while Elasticsearch was unreachable) is still seen by
// the next rule run.
//
// It is the final pipeline, not the default one, because a request's
// pipeline parameter replaces the default pipeline but never the final one
// (index settings index.default_pipeline and index.final_pipeline): every
// document gets event.ingested whatever pipeline a user adds, and the
// default slot stays free for the user's own (for instance with
// setup.template.settings.index.default_pipeline). Fleet stamps
// event.ingested from its final pipeline for the same reason.
const IngestPipelineName = "spawnbeat-event-ingested"

// ingestPipelineVersion is the pipeline's version field, raised when its
// processors change.
const ingestPipelineVersion = 1

// IngestPipeline returns the ingest pipeline as indented JSON, the body of
// PUT _ingest/pipeline/<IngestPipelineName>.
func IngestPipeline() ([]byte, error) {
	p := map[string]any{
		"description": "spawnbeat: sets event.ingested to the time Elasticsearch received the document. " +
			"The logs-spawnbeat.process index template runs it as the final pipeline.",
		"version": ingestPipelineVersion,
		"processors": []any{
			map[string]any{"set": map[string]any{
				"description": "The ingest time, which detection rules use as their timestamp override",
				"field":       "event.ingested",
				"value":       "{{{_ingest.timestamp}}}",
			}},
		},
		"_meta": map[string]any{"managed_by": "spawnbeat"},
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode ingest pipeline: %w", err)
	}
	return append(b, '\n'), nil
}

// finalPipeline is the final pipeline the template gives the data stream:
// spawnbeat's, unless setup.template.settings.index.final_pipeline names
// another (or "_none").
func finalPipeline(setup *SetupConfig) string {
	if v, ok := setup.Template.Settings.Index["final_pipeline"]; ok {
		s, _ := v.(string)
		return s
	}
	return IngestPipelineName
}
