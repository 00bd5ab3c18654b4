package ecs

import _ "embed"

// FieldsYAML is fields.yml: every field AppendJSON can write, with its
// Elasticsearch type, in Beats' fields.yml layout. The index template
// generator reads it; _meta/fields.yml is a copy kept identical by
// TestMetaFieldsInSync. Treat it as read-only.
//
//go:embed fields.yml
var FieldsYAML []byte
