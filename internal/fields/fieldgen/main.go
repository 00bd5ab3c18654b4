// Command fieldgen writes the detection engine's field readers from
// _meta/fields.yml (see package fields). `go generate
// ./module/detection/engine` runs it; a test there fails when the
// committed file is not what it would write.
package main

import (
	"flag"
	"fmt"
	"os"

	spawnbeat "github.com/spawnbeat/spawnbeat"
	"github.com/spawnbeat/spawnbeat/internal/fields"
)

func main() {
	out := flag.String("o", "", "file to write (required)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: fieldgen -o FILE")
		os.Exit(2)
	}
	src, err := fields.Generate(spawnbeat.FieldsYAML)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fieldgen: _meta/fields.yml: %v\n", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil { //nolint:gosec // a source file, readable like the rest of the tree
		fmt.Fprintf(os.Stderr, "fieldgen: %v\n", err)
		os.Exit(1)
	}
}
