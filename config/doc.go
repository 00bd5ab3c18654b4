// Package config owns spawnbeat's settings: the typed structs with their
// defaults, loading from YAML (go-ucfg) with ${ENV:default} expansion and -E
// overrides, the strict-permissions check, unknown-key detection and
// validation that reports every problem at once, each with its file, line
// and key. It hands parsed values on and never changes running state.
package config
