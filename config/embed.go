package config

import _ "embed"

// DefaultYAML is the configuration spawnbeat runs on when no file is found:
// the commented spawnbeat.yml (kept identical to _meta/spawnbeat.yml by a test).
//
//go:embed spawnbeat.yml
var DefaultYAML []byte

// ReferenceYAML documents every setting (_meta/spawnbeat.reference.yml).
//
//go:embed spawnbeat.reference.yml
var ReferenceYAML []byte
