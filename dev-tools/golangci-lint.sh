#!/usr/bin/env bash
# Runs golangci-lint at the version pinned below with the repository's
# .golangci.yml. When build/tools holds no binary of that version it builds
# one there first with `go install` (the Go module proxy is all it needs).
# Arguments go to golangci-lint; none means `run ./...`.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v2.15.0
tools="$PWD/build/tools"
if ! "$tools/golangci-lint" version 2>/dev/null | grep -q "version ${version#v} "; then
  GOBIN="$tools" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi
if [ $# -eq 0 ]; then
  set -- run ./...
fi
exec "$tools/golangci-lint" "$@"
