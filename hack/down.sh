#!/usr/bin/env bash
# Stops the server hack/up.sh started. Its pods' containers keep running
# (their shims outlive containerd) and the next up.sh adopts them again.
#
#   ./hack/down.sh [--purge]
#
# --purge first deletes every workload and pod (and waits for their
# containers to stop), then stops the server, removes what the node agent
# left on the host (service rules, the pod bridge) and deletes the data dir.
# The built images under _output/images stay for the next up.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir="${NAVARCH_DATA_DIR:-/var/lib/navarch}"
pid_file="$data_dir/server.pid"
bin="$PWD/_output/navarch"

purge=false
case "${1:-}" in
"") ;;
--purge) purge=true ;;
*)
	echo "down.sh: unknown argument $1 (usage: hack/down.sh [--purge])" >&2
	exit 2
	;;
esac

running=false
if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
	running=true
fi

if $purge && $running && [[ -x "$bin" ]]; then
	export KUBECONFIG="$data_dir/kubeconfig"
	"$bin" kubectl delete deployments,statefulsets,daemonsets,replicasets,cronjobs,jobs,pods \
		--all --all-namespaces --wait=true --timeout=90s ||
		echo "down.sh: not every pod was deleted in time; purging anyway" >&2
fi

if $running; then
	pid=$(cat "$pid_file")
	kill "$pid"
	for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "down.sh: navarch server (pid $pid) still running after 30s; see $data_dir/server.log" >&2
		exit 1
	fi
	echo "stopped navarch server (pid $pid)"
fi
rm -f "$pid_file"

if $purge; then
	if [[ -x "$bin" ]]; then
		"$bin" agent --cleanup
	fi
	rm -rf "$data_dir"
	echo "deleted $data_dir"
fi
