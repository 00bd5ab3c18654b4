package esserver

import (
	"encoding/json"
	"time"
)

// Elasticsearch 8 installs index templates of priority 100 for logs-*-*
// and metrics-*-* (reference: "Index templates": "Elasticsearch has
// built-in index templates, each with a priority of 100, for the following
// index patterns: logs-*-*, metrics-*-*, ..."), so a write to
// logs-<dataset>-<namespace> creates a data stream even before any setup,
// and a user template of the same priority over those patterns is refused.
// These are reduced to what this server models: data_stream, the lifecycle
// policy, date_detection off, strings mapped as keyword (ecs@mappings) and
// index.mapping.ignore_malformed (logs@settings since 8.9).
var builtinTemplates = map[string]string{
	"logs": `{"index_patterns":["logs-*-*"],"priority":100,"data_stream":{"hidden":false,"allow_custom_routing":false},
 "composed_of":["logs@mappings","logs@settings","logs@custom","ecs@mappings"],"ignore_missing_component_templates":["logs@custom"],
 "_meta":{"description":"default logs template installed by x-pack","managed":true},"allow_auto_create":true,
 "template":{"settings":{"index":{"lifecycle":{"name":"logs"},"mapping":{"ignore_malformed":true}}},
  "mappings":{"date_detection":false,"dynamic_templates":[{"ecs_strings":{"match_mapping_type":"string","mapping":{"type":"keyword","ignore_above":1024}}}],
   "properties":{"@timestamp":{"type":"date"},"data_stream":{"properties":{"type":{"type":"constant_keyword"},"dataset":{"type":"constant_keyword"},"namespace":{"type":"constant_keyword"}}}}}}}`,
	"metrics": `{"index_patterns":["metrics-*-*"],"priority":100,"data_stream":{"hidden":false,"allow_custom_routing":false},
 "composed_of":["metrics@mappings","data-streams@mappings","metrics@settings","metrics@tsdb-settings","metrics@custom","ecs@mappings"],
 "ignore_missing_component_templates":["metrics@custom"],
 "_meta":{"description":"default metrics template installed by x-pack","managed":true},"allow_auto_create":true,
 "template":{"settings":{"index":{"lifecycle":{"name":"metrics"},"mapping":{"ignore_malformed":true}}},
  "mappings":{"date_detection":false,"dynamic_templates":[{"ecs_strings":{"match_mapping_type":"string","mapping":{"type":"keyword","ignore_above":1024}}}],
   "properties":{"@timestamp":{"type":"date"}}}}}`,
}

// builtinPolicies are the lifecycle policies the built-in templates name.
var builtinPolicies = map[string]string{
	"logs":    `{"phases":{"hot":{"min_age":"0ms","actions":{"rollover":{"max_primary_shard_size":"50gb","max_age":"30d"}}}},"_meta":{"description":"default policy for the logs index template installed by x-pack","managed":true}}`,
	"metrics": `{"phases":{"hot":{"min_age":"0ms","actions":{"rollover":{"max_primary_shard_size":"50gb","max_age":"30d"}}}},"_meta":{"description":"default policy for the metrics index template installed by x-pack","managed":true}}`,
}

// installBuiltins adds the built-in templates and policies; st.mu must be
// held or the store not yet shared.
func (st *store) installBuiltins() {
	for name, body := range builtinTemplates {
		var tb struct {
			IndexPatterns []string `json:"index_patterns"`
			Priority      int64    `json:"priority"`
			Template      struct {
				Mappings json.RawMessage `json:"mappings"`
				Settings json.RawMessage `json:"settings"`
			} `json:"template"`
		}
		if err := json.Unmarshal([]byte(body), &tb); err != nil {
			continue // TestBuiltinTemplates proves the literals parse
		}
		st.templates[name] = &indexTemplate{name: name, raw: json.RawMessage(body), patterns: tb.IndexPatterns,
			priority: tb.Priority, dataStream: true, mappings: tb.Template.Mappings, settings: tb.Template.Settings}
	}
	for name, body := range builtinPolicies {
		st.policies[name] = &ilmPolicy{version: 1, modified: time.Unix(0, 0).UTC(), policy: json.RawMessage(body)}
	}
}
