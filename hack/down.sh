#!/usr/bin/env bash
# Stops the server hack/up.sh started; --purge also deletes its data dir.
set -euo pipefail
data_dir="${NAVARCH_DATA_DIR:-/var/lib/navarch}"
pid_file="$data_dir/server.pid"
if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
	pid=$(cat "$pid_file")
	kill "$pid"
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	echo "stopped navarch server (pid $pid)"
fi
rm -f "$pid_file"
if [[ "${1:-}" == "--purge" ]]; then
	rm -rf "$data_dir"
	echo "deleted $data_dir"
fi
