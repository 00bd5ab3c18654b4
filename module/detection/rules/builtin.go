package rules

import "embed"

// builtinFS holds the built-in rules, loaded unless Options.DisableBuiltin.
//
//go:embed builtin/*.toml
var builtinFS embed.FS
