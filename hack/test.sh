#!/usr/bin/env bash
# Runs the whole Navarch test suite: static checks, unit and integration
# tests, then the end-to-end tests against the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 ./...
