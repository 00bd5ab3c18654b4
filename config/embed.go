package config

import spawnbeat "github.com/spawnbeat/spawnbeat"

// DefaultYAML is the configuration spawnbeat runs on when no file is found:
// the commented _meta/spawnbeat.yml, embedded by the root package.
var DefaultYAML = spawnbeat.ConfigYAML

// ReferenceYAML documents every setting (_meta/spawnbeat.reference.yml).
var ReferenceYAML = spawnbeat.ReferenceYAML
