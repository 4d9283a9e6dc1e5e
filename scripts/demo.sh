#!/usr/bin/env bash
# The operator's main job, for a newcomer.
#
# - With a cluster configured (KUBECONFIG set, or ~/.kube/config present): installs the CRD and
#   runs the operator against that cluster, talking to the real providers.
# - Otherwise: starts a local control plane (real etcd + kube-apiserver on 127.0.0.1, built
#   from Go modules by scripts/control-plane.sh), starts the fake providers, applies the
#   examples, runs the operator against them and prints `kubectl get socialconnections` so you
#   can watch it work.
#
# Runs until Ctrl-C, then stops and cleans up everything it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

log() { printf '==> %s\n' "$*" >&2; }

echo_build() { log "building the operator (first run takes a few minutes)"; cargo build --locked --workspace --bins >&2; }

if [[ -n "${KUBECONFIG:-}" || -f "$HOME/.kube/config" ]]; then
    echo_build
    log "using the cluster from ${KUBECONFIG:-$HOME/.kube/config}"
    kubectl apply --server-side -f crds/
    exec target/debug/social-connection-operator run "$@"
fi

pids=()
dir=$(mktemp -d "${TMPDIR:-/tmp}/sco-demo.XXXXXX")
cleanup() {
    trap - EXIT INT TERM
    log "stopping"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    bash scripts/control-plane.sh stop --dir "$dir/cp" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo_build
log "starting a local control plane (etcd + kube-apiserver on 127.0.0.1)"
bash scripts/control-plane.sh start --dir "$dir/cp" --watch-pid $$ >&2
set -a; . "$dir/cp/env"; set +a
export KUBECONFIG
kubectl=("$KUBECTL")

log "starting the fake providers"
target/debug/fake-providers --env-file "$dir/endpoints.env" >"$dir/fakes.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s "$dir/endpoints.env" ]] && break; sleep 0.1; done
[[ -s "$dir/endpoints.env" ]] || { log "the fake providers did not start: $(cat "$dir/fakes.log")"; exit 1; }
SOCIAL_PROVIDER_ENDPOINTS=$(sed -n 's/^SOCIAL_PROVIDER_ENDPOINTS=//p' "$dir/endpoints.env")
export SOCIAL_PROVIDER_ENDPOINTS

log "installing the CRD and applying examples/ into namespace social-demo"
"${kubectl[@]}" apply --server-side -f crds/ >&2
"${kubectl[@]}" wait --for=condition=Established --timeout=60s crd/socialconnections.social.connections.dev >&2
"${kubectl[@]}" create namespace social-demo >&2
"${kubectl[@]}" apply -n social-demo -k examples/ >&2

log "starting the operator (its log: $dir/operator.log)"
target/debug/social-connection-operator run --health-addr 127.0.0.1:0 \
    --default-redirect-url https://app.example.com/oauth/callback >"$dir/operator.log" 2>&1 &
pids+=($!)

sleep 5
while true; do
    echo
    date -u +"%Y-%m-%dT%H:%M:%SZ  kubectl get socialconnections -n social-demo -o wide"
    "${kubectl[@]}" get socialconnections -n social-demo -o wide || true
    echo "(KUBECONFIG=$KUBECONFIG; try: $KUBECTL describe socialconnection -n social-demo facebook-page; Ctrl-C to stop)"
    sleep 30 &
    wait $! || true
done
