//go:build mage

// Build targets for spawnbeat. Run them without installing mage:
//
//	go run github.com/magefile/mage -l        # list
//	go run github.com/magefile/mage test
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/magefile/mage/mg"
	"github.com/magefile/mage/sh"

	"github.com/spawnbeat/spawnbeat/dev-tools/packaging"
)

// Default is what `mage` alone runs.
var Default = Build

// Build compiles build/spawnbeat with the version and commit stamped in.
func Build() error {
	commit, _ := sh.Output("git", "rev-parse", "--short", "HEAD")
	return sh.RunV("go", "build", "-trimpath", "-o", "build/spawnbeat",
		"-ldflags", "-s -w -X main.version="+version()+" -X main.commit="+commit, "./cmd/spawnbeat")
}

// Package builds the .deb, .rpm and tar.gz of every architecture (amd64,
// arm64) with their .sha512 into build/distributions: VERSION overrides the
// version, PLATFORMS (e.g. "amd64") and FORMATS (e.g. "deb rpm") narrow
// what is built. The files are dated at the commit, so a rebuild of one
// commit gives the same bytes.
func Package(ctx context.Context) error {
	commit, _ := sh.Output("git", "rev-parse", "--short", "HEAD")
	mtime := time.Now().UTC()
	if ts, err := sh.Output("git", "log", "-1", "--format=%ct"); err == nil {
		var sec int64
		if _, err := fmt.Sscan(ts, &sec); err == nil {
			mtime = time.Unix(sec, 0).UTC()
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	arts, err := packaging.Build(ctx, packaging.Options{
		Version:   version(),
		Commit:    commit,
		SourceDir: wd,
		OutDir:    "build/distributions",
		Arches:    strings.Fields(os.Getenv("PLATFORMS")),
		Formats:   strings.Fields(os.Getenv("FORMATS")),
		MTime:     mtime,
	})
	for _, a := range arts {
		fmt.Println(a.Path)
	}
	return err
}

func version() string {
	if v := os.Getenv("VERSION"); v != "" {
		return v
	}
	return "0.1.0"
}

// Test runs every test with the race detector, one package at a time (the
// end-to-end tests watch every process on the host). Privileged tests need
// root; with CI=true they fail instead of skipping.
func Test() error {
	return sh.RunV("go", "test", "-race", "-count=1", "-p", "1", "./...")
}

// IntegTest runs the privileged (real proc connector, real processes) and
// end-to-end tests only; needs root. With ES_URL set, the Elasticsearch
// suite runs against that cluster too.
func IntegTest() error {
	return sh.RunWithV(map[string]string{"CI": "true"}, "go", "test", "-count=1", "-run", "TestIntegration|TestE2E|TestRealCluster", "./...")
}

// Bench runs the Go benchmarks (decode, /proc read, encode, rule eval, bulk)
// and the capture benchmark harness against forkstat.
func Bench() error {
	if err := sh.RunV("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "./..."); err != nil {
		return err
	}
	return sh.RunV("go", "run", "./tests/bench/capture")
}

// Fuzz runs each fuzz target for a short while (FUZZTIME, default 10s).
func Fuzz() error {
	t := os.Getenv("FUZZTIME")
	if t == "" {
		t = "10s"
	}
	out, err := sh.Output("go", "test", "-list", "^Fuzz", "./...")
	if err != nil {
		return err
	}
	return fuzzAll(out, t)
}

func fuzzAll(list, fuzztime string) error {
	var targets []string
	for _, line := range strings.Split(list, "\n") {
		if strings.HasPrefix(line, "Fuzz") {
			targets = append(targets, line)
			continue
		}
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "ok" {
			for _, t := range targets {
				if err := sh.RunV("go", "test", "-run", "^$", "-fuzz", "^"+t+"$", "-fuzztime", fuzztime, f[1]); err != nil {
					return fmt.Errorf("%s %s: %w", f[1], t, err)
				}
			}
			targets = nil
		}
	}
	return nil
}

// Lint runs go vet, gofmt and golangci-lint (when installed).
func Lint() error {
	mg.Deps(Fmt)
	if err := sh.RunV("go", "vet", "./..."); err != nil {
		return err
	}
	if _, err := sh.Output("golangci-lint", "version"); err != nil {
		fmt.Println("golangci-lint not installed; skipped (see .golangci.yml)")
		return nil
	}
	return sh.RunV("golangci-lint", "run", "./...")
}

// Fmt fails when a file is not gofmt'ed.
func Fmt() error {
	out, err := sh.Output("gofmt", "-l", ".")
	if err != nil {
		return err
	}
	if out != "" {
		return fmt.Errorf("not gofmt'ed:\n%s", out)
	}
	return nil
}

// Check fails when go.mod/go.sum or generated files are out of date.
func Check() error {
	mg.Deps(Update)
	if err := sh.RunV("go", "mod", "tidy"); err != nil {
		return err
	}
	return sh.RunV("git", "diff", "--exit-code")
}

// Update rewrites the generated files: the engine's field readers (from
// _meta/fields.yml) and the golden files.
func Update() error {
	if err := sh.RunV("go", "generate", "./module/detection/engine"); err != nil {
		return err
	}
	for _, pkg := range []string{"./module/process/ecs", "./beater/output/elasticsearch"} {
		if err := sh.RunV("go", "test", pkg, "-update"); err != nil {
			return err
		}
	}
	return nil
}

// Generate rewrites every generated file (go generate ./...): the BPF
// programs compiled from their C sources with their Go bindings, and the
// engine's field readers from _meta/fields.yml. The BPF step needs Debian's
// clang, llvm and libbpf-dev; building and testing do not.
func Generate() error {
	return sh.RunV("go", "generate", "./...")
}
