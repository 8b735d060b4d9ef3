#!/usr/bin/env bash
# Installs Helm 3 into _output/bin/helm for the course's Helm step and its
# end-to-end test. Debian has no Helm package, so it is built from source
# through the Go module proxy, at a pinned version (the one whose
# Kubernetes libraries match Navarch's minor version). Idempotent: a helm
# of that version already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

version="v3.22.0"
bin="$PWD/_output/bin"
if [[ -x "$bin/helm" ]] && "$bin/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$version"; then
	echo "install-helm: helm $version already in $bin"
	exit 0
fi
echo "install-helm: building helm $version into $bin (a few minutes the first time)"
mkdir -p "$bin"
GOBIN="$bin" CGO_ENABLED=0 go install -trimpath -ldflags "-X helm.sh/helm/v3/internal/version.version=$version" "helm.sh/helm/v3/cmd/helm@$version"
"$bin/helm" version --short
