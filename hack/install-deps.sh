#!/usr/bin/env bash
# Installs what the node agent needs on a Debian machine: containerd (with
# its ctr tool), runc, the CNI plugins (bridge, host-local, portmap,
# loopback in /usr/lib/cni) and nftables; and curl, which hack/up.sh and
# the course use to reach the services. Idempotent: packages already
# installed are left alone and nothing is fetched. Needs root.
set -euo pipefail

packages=(containerd runc containernetworking-plugins nftables curl)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-deps: ${packages[*]} already installed"
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Debian's package enables a system containerd service; Navarch runs its
# own containerd under its data dir, so the system one is not needed. It
# is left as the package set it up (stopping it is the admin's choice).
