#!/usr/bin/env bash
# Runs the whole Navarch test suite: static checks, unit tests, integration
# tests (in-process control plane on a real embedded etcd) and end-to-end
# tests (the built binary driven by the embedded kubectl).
#
#   ./hack/test.sh            everything (what CI runs), then the unit and
#                             integration tests again under -race
#   ./hack/test.sh -short     unit tests only, the fast inner loop
set -euo pipefail
cd "$(dirname "$0")/.."

short=""
if [[ "${1:-}" == "-short" ]]; then
	short="-short"
fi

if [[ $(id -u) -eq 0 && -z "$short" ]]; then
	# The end-to-end tests run pods on real containerd and program
	# nftables; they skip themselves (saying why) without these.
	echo "== install-deps"
	./hack/install-deps.sh || echo "install-deps failed: the tests that need containerd or nftables will skip and say so"
fi

if [[ -z "$short" ]]; then
	# Helm 3 for the course's Helm step (built from source: Debian has no
	# package); its test skips, saying why, if this fails.
	echo "== install-helm"
	./hack/install-helm.sh || echo "install-helm failed: the Helm end-to-end test will skip"
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './_output/*'))
if [[ -n "$unformatted" ]]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test"
# client-go's cache mutation detector, in the tests and in the servers and
# agents they start: informers keep a copy of each object and fail the
# process when one changes. The server's pod informer shares the watch
# cache's objects (docs/adr/003-in-process-pod-reads-and-creates.md), so
# a controller that modified one would change what every client is served.
export KUBE_CACHE_MUTATION_DETECTOR=true
# The end-to-end tests build the binary once into a temp dir.
go test -count=1 -timeout 45m $short ./...

if [[ -z "$short" ]]; then
	# The race detector over the unit tests and the in-process control
	# plane (controllers, scheduler, watch cache, API server on a real
	# etcd); the end-to-end tests run the built binary, without it.
	echo "== go test -race"
	go test -count=1 -timeout 20m -race -short ./internal/... ./test/integration/
fi
