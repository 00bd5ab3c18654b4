// Package spawnbeat holds the files under _meta that the binary embeds.
//
// Go embeds only files at or below the embedding package's directory, and
// _meta sits at the repository root, so this package lives there too. The
// pattern names the directory, which go:embed accepts although its name
// starts with "_"; files inside it whose names start with "." or "_" are
// left out, as for any embedded directory.
package spawnbeat

import "embed"

// Kibana is _meta/kibana: the Kibana assets (saved objects, detection
// rules) that `spawnbeat setup` loads and `spawnbeat export kibana` prints.
// Package beater/kibana reads it; its doc describes the layout.
//
//go:embed _meta/kibana
var Kibana embed.FS
