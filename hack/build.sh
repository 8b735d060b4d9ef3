#!/usr/bin/env bash
# Builds the Navarch binary: _output/navarch (static, stripped, -trimpath)
# with its version stamped in, and the symlink _output/kubectl -> navarch
# (invoked under that name, the binary is kubectl).
#
# Environment:
#   NAVARCH_VERSION  overrides the version (default: git describe --always
#                    --dirty, or v0.1.0-dev outside a git checkout)
#   SOURCE_DATE_EPOCH  build date to stamp, for reproducible builds
#                    (default: now)
#   GOOS, GOARCH     cross-compile as usual
set -euo pipefail
cd "$(dirname "$0")/.."

out_dir=_output
module=github.com/navarch/navarch

# The Kubernetes version kubectl reports is the one of the k8s.io modules
# we build with (client-go v0.37.2 is Kubernetes v1.37.2). It must agree
# with what the server says it serves (internal/version.Kubernetes).
client_go=$(go list -m -f '{{.Version}}' k8s.io/client-go)
kube_version=v1.${client_go#v0.}
kube_major=${kube_version#v}
kube_major=${kube_major%%.*}
kube_minor=${kube_version#v*.}
kube_minor=${kube_minor%%.*}
served=$(sed -n 's/^[[:space:]]*Kubernetes[[:space:]]*=[[:space:]]*"\(v[^"]*\)".*/\1/p' internal/version/version.go)
if [[ "$served" != "$kube_version" ]]; then
	echo "build.sh: internal/version.Kubernetes is ${served:-missing} but go.mod has k8s.io/client-go $client_go ($kube_version); update one of them" >&2
	exit 1
fi

if [[ -z "${NAVARCH_VERSION:-}" ]]; then
	NAVARCH_VERSION=$(git describe --always --dirty 2>/dev/null || echo v0.1.0-dev)
fi
commit=$(git rev-parse HEAD 2>/dev/null || echo "")
if [[ -n "${SOURCE_DATE_EPOCH:-}" ]]; then
	build_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
else
	build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi

ldflags=(
	-s -w
	-X "$module/internal/version.navarch=$NAVARCH_VERSION"
	-X "$module/internal/version.gitCommit=$commit"
	-X "$module/internal/version.buildDate=$build_date"
)
# kubectl's `version --client` reads component-base; client-go's copy
# feeds the User-Agent header. Without these, kubectl reports
# v0.0.0-master+$Format:%H$. gitCommit is the commit this binary was
# built from (the Kubernetes release commit is not ours to claim).
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=(
		-X "$pkg.gitVersion=$kube_version"
		-X "$pkg.gitMajor=$kube_major"
		-X "$pkg.gitMinor=$kube_minor"
		-X "$pkg.gitCommit=$commit"
		-X "$pkg.gitTreeState=clean"
		-X "$pkg.buildDate=$build_date"
	)
done

mkdir -p "$out_dir"
CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags[*]}" -o "$out_dir/navarch" ./cmd/navarch
ln -sfn navarch "$out_dir/kubectl"
echo "built $out_dir/navarch ($NAVARCH_VERSION, Kubernetes $kube_version) and $out_dir/kubectl -> navarch"
