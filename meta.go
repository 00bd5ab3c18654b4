// Package spawnbeat holds the files under _meta that the binary embeds:
// the one copy of each, so that nothing is kept in step by hand.
//
// Go embeds only files at or below the embedding package's directory, and
// _meta sits at the repository root, so this package lives there too. It
// imports nothing of the project, so that any package may import it. The
// Kibana pattern names a directory, which go:embed accepts although its name
// starts with "_"; files inside it whose names start with "." or "_" are
// left out, as for any embedded directory.
package spawnbeat

import (
	"embed"
)

// Kibana is _meta/kibana: the Kibana assets (saved objects, detection
// rules) that `spawnbeat setup` loads and `spawnbeat export kibana` prints.
// Package beater/kibana reads it; its doc describes the layout.
//
//go:embed _meta/kibana
var Kibana embed.FS

// FieldsYAML is _meta/fields.yml: every field spawnbeat writes, with its
// Elasticsearch type, in Beats' fields.yml layout, and how the detection
// engine reads it from a document (the go keys). The index template is built
// from it at run time and the engine's field readers are generated from it
// (go generate ./module/detection/engine). Treat it as read-only.
//
//go:embed _meta/fields.yml
var FieldsYAML []byte

// ConfigYAML is _meta/spawnbeat.yml: the commented configuration spawnbeat
// runs on when no file is found, and the one the packages install. Treat it
// as read-only.
//
//go:embed _meta/spawnbeat.yml
var ConfigYAML []byte

// ReferenceYAML is _meta/spawnbeat.reference.yml, which documents every
// setting. Treat it as read-only.
//
//go:embed _meta/spawnbeat.reference.yml
var ReferenceYAML []byte
