#!/usr/bin/env bash
# Brings up a Navarch cluster on this machine: builds the binary, starts
# `navarch server` in the background and waits until it is ready.
# Idempotent: a server already running from this data dir is left alone.
#
# Environment: NAVARCH_DATA_DIR (default /var/lib/navarch), NAVARCH_PORT (6443).
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir="${NAVARCH_DATA_DIR:-/var/lib/navarch}"
port="${NAVARCH_PORT:-6443}"
bin="$PWD/_output/navarch"

./hack/install-deps.sh
./hack/build.sh >/dev/null
mkdir -p "$data_dir"

pid_file="$data_dir/server.pid"
if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
	echo "navarch server already running (pid $(cat "$pid_file"))"
else
	nohup "$bin" server --data-dir "$data_dir" --port "$port" >>"$data_dir/server.log" 2>&1 &
	echo $! >"$pid_file"
	echo "started navarch server (pid $!, log $data_dir/server.log)"
fi

export KUBECONFIG="$data_dir/kubeconfig"
for _ in $(seq 1 600); do
	if [[ -f "$KUBECONFIG" ]] && "$bin" kubectl get --raw /readyz >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
		echo "navarch server exited; last log lines:" >&2
		tail -n 20 "$data_dir/server.log" >&2
		exit 1
	fi
	sleep 0.1
done
"$bin" kubectl get --raw /readyz >/dev/null

cat <<MSG

Navarch is ready.
  export KUBECONFIG=$KUBECONFIG
  $bin kubectl get namespaces
  $bin kubectl get services -A
Stop it with ./hack/down.sh (--purge also deletes $data_dir).
MSG
