#!/usr/bin/env bash
# Brings up a Navarch cluster on this machine with the course app running
# on it (shared/course/SCENARIO.md, as it stands at the end of lesson 4):
#
#   1. installs containerd, runc, the CNI plugins and nftables if missing
#      (hack/install-deps.sh) and builds _output/navarch (hack/build.sh);
#   2. starts `navarch server` (control plane + node agent) in the
#      background and waits until it is ready and its node is Ready;
#   3. builds the course images and imports them (hack/build-images.sh);
#   4. creates the course's TLS files (examples/course/kubernetes/tls) if
#      missing, the Secret tls-certs, the ConfigMaps nginx-frontend-conf and
#      nginx-proxy-conf, and applies the Deployments auth, hello and frontend
#      and their Services (examples/course/kubernetes);
#   5. waits until the frontend answers through its LoadBalancer address and
#      prints where to point curl and kubectl.
#
# Idempotent: a server already running from this data dir is left alone,
# images and objects that did not change are not touched again.
#
#   ./hack/up.sh [--no-course]     (--no-course: steps 1 and 2 only)
#
# Environment: NAVARCH_DATA_DIR (default /var/lib/navarch), NAVARCH_PORT
# (6443), NAVARCH_WAIT (seconds to wait for the frontend, default 180).
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir="${NAVARCH_DATA_DIR:-/var/lib/navarch}"
port="${NAVARCH_PORT:-6443}"
wait_s="${NAVARCH_WAIT:-180}"
bin="$PWD/_output/navarch"
course=examples/course/kubernetes

with_course=true
case "${1:-}" in
"") ;;
--no-course) with_course=false ;;
*)
	echo "up.sh: unknown argument $1 (usage: hack/up.sh [--no-course])" >&2
	exit 2
	;;
esac

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
kubectl() { "$bin" kubectl "$@"; }

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every half second until it
# succeeds; fails naming WHAT after SECONDS, or as soon as the server is gone.
wait_for() {
	local seconds=$1 what=$2
	shift 2
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
			echo "up.sh: navarch server exited while waiting for $what; last log lines:" >&2
			tail -n 20 "$data_dir/server.log" >&2
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			echo "up.sh: $what not there after ${seconds}s" >&2
			return 1
		fi
		sleep 0.5
	done
}

server_ready() { [[ -f "$KUBECONFIG" ]] && kubectl get --raw /readyz; }
wait_for 60 "the API server (/readyz)" server_ready

if ! $with_course; then
	cat <<-MSG

		Navarch is ready.
		  export KUBECONFIG=$KUBECONFIG
		  $bin kubectl get namespaces
		Stop it with ./hack/down.sh (--purge also deletes $data_dir).
	MSG
	exit 0
fi

# Images go into the node's containerd, which is up once the node is Ready.
node_ready() {
	[[ $(kubectl get nodes -o 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}') == *True* ]]
}
wait_for 120 "a Ready node" node_ready
NAVARCH_DATA_DIR="$data_dir" NAVARCH_BINARY="$bin" ./hack/build-images.sh --import

# The course's TLS files: a CA and the frontend's key pair, made once.
tls="$course/tls"
if [[ ! -f "$tls/ca.pem" || ! -f "$tls/ca-key.pem" || ! -f "$tls/cert.pem" || ! -f "$tls/key.pem" ]]; then
	go run ./examples/course/cmd/tlsgen -out "$tls"
fi

# create --dry-run | apply: creates what is missing, updates what changed
# and leaves the rest unchanged.
kubectl create secret generic tls-certs --from-file="$tls/ca.pem" --from-file="$tls/ca-key.pem" \
	--from-file="$tls/cert.pem" --from-file="$tls/key.pem" --dry-run=client -o yaml | kubectl apply -f -
kubectl create configmap nginx-frontend-conf --from-file="$course/nginx/frontend.conf" --dry-run=client -o yaml |
	kubectl apply -f -
kubectl create configmap nginx-proxy-conf --from-file="$course/nginx/proxy.conf" --dry-run=client -o yaml |
	kubectl apply -f -
kubectl apply -f "$course/deployments/auth.yaml" -f "$course/deployments/hello.yaml" \
	-f "$course/deployments/frontend.yaml" -f "$course/services/auth.yaml" \
	-f "$course/services/hello.yaml" -f "$course/services/frontend.yaml"

frontend_ip() { kubectl get service frontend -o 'jsonpath={.status.loadBalancer.ingress[0].ip}'; }
frontend_answers() {
	local ip
	ip=$(frontend_ip)
	[[ -n "$ip" ]] && [[ $(curl -sk --max-time 2 "https://$ip/") == *'"message":"Hello"'* ]]
}
if ! wait_for "$wait_s" "an answer from the frontend (curl -k https://<frontend EXTERNAL-IP>/)" frontend_answers; then
	echo "up.sh: the cluster is up (export KUBECONFIG=$KUBECONFIG) but the course app does not answer; what it looks like:" >&2
	kubectl get deployments,pods,services -o wide >&2 || true
	kubectl get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 15 >&2 || true
	exit 1
fi
ip=$(frontend_ip)

cat <<MSG

Navarch is ready, with the course app (auth, hello and frontend).
  export KUBECONFIG=$KUBECONFIG
  $bin kubectl get pods,services          # or any stock kubectl 1.32+
  curl -k https://$ip/                    # {"message":"Hello"}
  curl -k -u user:password https://$ip/login
  curl --cacert $tls/ca.pem --resolve frontend:443:$ip https://frontend/
Images: localhost/{monolith,auth,hello}:1.0.0, {auth,hello}:2.0.0, localhost/nginx:1.22,
localhost/tools:1.0 (kubectl run tools --rm -it --image=localhost/tools:1.0 -- sh).
Stop it with ./hack/down.sh (--purge also deletes $data_dir).
MSG
