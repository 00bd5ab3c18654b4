package ecs

import spawnbeat "github.com/spawnbeat/spawnbeat"

// FieldsYAML is _meta/fields.yml, embedded by the root package: every field
// AppendJSON can write, with its Elasticsearch type, in Beats' fields.yml
// layout. The index template is built from it, and the detection engine's
// field readers are generated from it. Treat it as read-only.
var FieldsYAML = spawnbeat.FieldsYAML
