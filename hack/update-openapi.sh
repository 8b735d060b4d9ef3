#!/usr/bin/env bash
# Regenerates internal/apiserver/openapi/zz_generated.openapi.go: the OpenAPI
# definitions of every Go type the API server serves, produced by
# kube-openapi's openapi-gen from the k8s.io/api and k8s.io/apimachinery
# sources in the Go module cache.
#
# openapi-gen needs k8s.io/gengo/v2, which Navarch's go.mod must not gain, so
# the generator is built in a scratch module under a temp dir. That module
# pins kube-openapi, k8s.io/api and k8s.io/apimachinery to the versions in
# our go.mod, so the generator reads exactly the sources Navarch compiles.
# Re-runnable offline once the module cache holds the generator's
# dependencies; otherwise only the Go module proxy is contacted.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out_pkg="github.com/navarch/navarch/internal/apiserver/openapi"
out_dir="${root}/internal/apiserver/openapi"
out_file="zz_generated.openapi.go"

# The API packages of the served groups (keep in step with the groups
# internal/api registers and with generatedGroups in
# internal/apiserver/openapi/definitions.go), and the apimachinery packages
# their types use.
# Other k8s.io/api packages that served types reference (batch/v1 Job
# names scheduling/v1alpha3 types) are found and added below.
served=(
	k8s.io/api/core/v1
	k8s.io/api/apps/v1
	k8s.io/api/batch/v1
	k8s.io/api/networking/v1
	k8s.io/api/storage/v1
	k8s.io/api/coordination/v1
	k8s.io/api/discovery/v1
	k8s.io/api/events/v1
	k8s.io/api/autoscaling/v1
	k8s.io/api/policy/v1
	k8s.io/api/authentication/v1
	k8s.io/api/authorization/v1
)
machinery=(
	k8s.io/apimachinery/pkg/apis/meta/v1
	k8s.io/apimachinery/pkg/runtime
	k8s.io/apimachinery/pkg/util/intstr
	k8s.io/apimachinery/pkg/api/resource
	k8s.io/apimachinery/pkg/version
)

# Read-only: this script never changes Navarch's go.mod or go.sum.
module_version() {
	(cd "${root}" && GOWORK=off GOFLAGS=-mod=readonly go list -m -f '{{.Version}}' "$1")
}

# quietly runs a command, showing its output only when it fails.
quietly() {
	local log
	log="$(mktemp)"
	if ! "$@" >"${log}" 2>&1; then
		cat "${log}" >&2
		rm -f "${log}"
		echo "update-openapi: failed: $*" >&2
		return 1
	fi
	rm -f "${log}"
}
openapi_version="$(module_version k8s.io/kube-openapi)"
api_version="$(module_version k8s.io/api)"
apimachinery_version="$(module_version k8s.io/apimachinery)"

scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT

export GOWORK=off
export GOFLAGS=-mod=mod
(
	cd "${scratch}"
	quietly go mod init navarch.invalid/openapigen
	quietly go get \
		"k8s.io/kube-openapi@${openapi_version}" \
		"k8s.io/api@${api_version}" \
		"k8s.io/apimachinery@${apimachinery_version}"
	# The generator must see the same API sources as Navarch: fail rather
	# than generate from versions that the generator's own requirements
	# might have raised.
	for pin in "k8s.io/api ${api_version}" "k8s.io/apimachinery ${apimachinery_version}" \
		"k8s.io/kube-openapi ${openapi_version}"; do
		read -r module want <<<"${pin}"
		got="$(go list -m -f '{{.Version}}' "${module}")"
		if [[ "${got}" != "${want}" ]]; then
			echo "update-openapi: scratch module resolved ${module} ${got}, want ${want}" >&2
			exit 1
		fi
	done
	quietly go build -o "${scratch}/openapi-gen" k8s.io/kube-openapi/cmd/openapi-gen
)

# Every k8s.io/api package the served ones import holds types they embed or
# reference: without their definitions the documents would have dangling
# references.
deps="$(cd "${scratch}" && go list -deps -f '{{.ImportPath}}' "${served[@]}")"
mapfile -t api_packages < <(grep '^k8s.io/api/' <<<"${deps}" | sort)
inputs=("${api_packages[@]}" "${machinery[@]}")

# The header gengo prepends; it adds the "Code generated ... DO NOT EDIT."
# line itself.
printf '' >"${scratch}/header.txt"

# The generator writes into a scratch output dir first, so a failed run never
# leaves a half-written file in the tree.
mkdir -p "${scratch}/out"
(
	cd "${scratch}"
	"${scratch}/openapi-gen" \
		--output-dir "${scratch}/out" \
		--output-pkg "${out_pkg}" \
		--output-file "${out_file}" \
		--go-header-file "${scratch}/header.txt" \
		--report-filename "${scratch}/api-violations.txt" \
		"${inputs[@]}"
)

generated="${scratch}/out/${out_file}"
if ! grep -q '^// Code generated .* DO NOT EDIT\.$' "${generated}"; then
	echo "update-openapi: ${generated} lacks the generated-code header" >&2
	exit 1
fi
gofmt -l "${generated}" | { if read -r f; then echo "update-openapi: ${f} is not gofmt-clean" >&2; exit 1; fi; }
mkdir -p "${out_dir}"
cp "${generated}" "${out_dir}/${out_file}"
echo "update-openapi: wrote ${out_dir#"${root}"/}/${out_file} (kube-openapi ${openapi_version}, k8s.io/api ${api_version})"
