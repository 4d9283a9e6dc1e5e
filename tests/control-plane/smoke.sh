#!/usr/bin/env bash
# Smoke test of the local control plane (scripts/control-plane.sh): starts one
# in a temporary directory and checks what the e2e suite relies on:
#   server version, namespaces, RBAC (auth can-i), a CRD with a structural
#   schema and a status subresource, server-side apply of status, TokenRequest
#   for a ServiceAccount (and that the token authenticates and is authorised
#   through RBAC), creating objects in a new namespace without the namespace
#   controller, and helm lint/template/install.
# Prints "smoke: N passed, N failed" last; exits non-zero on any failure.
#
# Usage: tests/control-plane/smoke.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cp_sh="$here/../../scripts/control-plane.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/sco-smoke.XXXXXX")"
dir="$work/cp"
cleanup() { "$cp_sh" stop --dir "$dir" || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$cp_sh" start --dir "$dir" --watch-pid $$
# shellcheck disable=SC1091
set -a && . "$dir/env" && set +a
export PATH="$BIN_DIR:$PATH"

passed=0 failed=0
check() {
    local name="$1"
    shift
    local out
    if out="$("$@" 2>&1)"; then
        passed=$((passed + 1))
        echo "ok   - $name"
    else
        failed=$((failed + 1))
        echo "FAIL - $name"
        printf '       %s\n' "${out//$'\n'/$'\n       '}"
    fi
}

server_version_matches() {
    kubectl version -o json | python3 -c '
import json, sys
v = json.load(sys.stdin)["serverVersion"]
assert v["gitVersion"] == sys.argv[1], v
assert v["major"] == "1" and v["minor"] == sys.argv[1].split(".")[1], v
' "$K8S_VERSION"
}
check "server version is $K8S_VERSION" server_version_matches
check "list namespaces" kubectl get ns default kube-system
check "auth can-i (admin is cluster-admin)" kubectl auth can-i '*' '*' --all-namespaces
cannot() { ! "$@"; }
check "auth can-i (RBAC denies others)" cannot kubectl auth can-i list secrets --as=system:serviceaccount:x:y

ns="smoke-$RANDOM"
check "create namespace" kubectl create namespace "$ns"
check "create objects in the new namespace" kubectl -n "$ns" create configmap c1 --from-literal=a=b

crd() {
    kubectl apply -f - <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.example.com
spec:
  group: smoke.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
          status:
            type: object
            properties:
              phase: {type: string}
EOF
    kubectl wait --for=condition=Established crd/widgets.smoke.example.com --timeout=60s
}
check "create CRD with structural schema and status subresource" crd

cr() {
    kubectl -n "$ns" apply --server-side --field-manager=smoke -f - <<'EOF'
apiVersion: smoke.example.com/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
EOF
}
# CRs are served shortly after Established; retry briefly.
retry() { local _; for _ in 1 2 3 4 5 6 7 8 9 10; do "$@" && return 0; sleep 1; done; return 1; }
check "server-side apply a namespaced CR" retry cr

status_ssa() {
    kubectl -n "$ns" apply --server-side --field-manager=smoke-status --subresource=status -f - <<'EOF'
apiVersion: smoke.example.com/v1
kind: Widget
metadata: {name: w1}
status: {phase: Ready}
EOF
    [[ "$(kubectl -n "$ns" get widget w1 -o jsonpath='{.status.phase}/{.spec.size}')" == "Ready/3" ]]
}
check "server-side apply of the status subresource" status_ssa

token_works() {
    local token server
    kubectl -n "$ns" create serviceaccount op
    kubectl -n "$ns" create role widgets --verb=get,list,watch --resource=widgets.smoke.example.com
    kubectl -n "$ns" create rolebinding op-widgets --role=widgets --serviceaccount="$ns:op"
    token="$(kubectl -n "$ns" create token op --duration=10m)"
    server="$KUBE_APISERVER_URL"
    local as_sa=(kubectl --kubeconfig=/dev/null --server="$server"
        --certificate-authority="$dir/pki/ca.crt" --token="$token")
    "${as_sa[@]}" auth whoami -o jsonpath='{.status.userInfo.username}' | grep -qx "system:serviceaccount:$ns:op"
    "${as_sa[@]}" -n "$ns" get widget w1
    ! "${as_sa[@]}" -n "$ns" get configmaps 2>/dev/null
}
check "TokenRequest (kubectl create token) authenticates and RBAC applies" token_works

audit_logged() {
    # The ServiceAccount's requests of token_works, at Metadata level: its get of w1 (200) and
    # its refused list of configmaps (403); nothing of the admin's.
    python3 - "$dir/audit.log" "system:serviceaccount:$ns:op" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
mine = [e for e in events if e["user"]["username"] == sys.argv[2]]
assert all(e["user"]["username"].startswith("system:serviceaccount:") for e in events), "only ServiceAccounts are audited"
assert all(e["level"] == "Metadata" and "requestObject" not in e for e in events)
got = {(e["verb"], e.get("objectRef", {}).get("resource"), e["responseStatus"]["code"]) for e in mine}
assert ("get", "widgets", 200) in got and ("list", "configmaps", 403) in got, got
PY
}
check "the audit log records ServiceAccount requests at Metadata level" audit_logged

apiserver_restarts() {
    "$cp_sh" stop-apiserver --dir "$dir"
    ! kubectl get ns default --request-timeout=2s 2>/dev/null
    "$cp_sh" start-apiserver --dir "$dir"
    # Same port, same certificates, same etcd data.
    kubectl -n "$ns" get widget w1
}
check "stop-apiserver / start-apiserver keep the port, certificates and data" apiserver_restarts

helm_works() {
    helm create "$work/demo" >/dev/null
    helm lint "$work/demo"
    helm template demo "$work/demo" >/dev/null
    # No controller-manager/scheduler: objects are stored but no pod runs, so
    # no --wait.
    helm install demo "$work/demo" -n "$ns"
    kubectl -n "$ns" get deployment demo
    helm uninstall demo -n "$ns"
}
check "helm lint/template/install/uninstall" helm_works

echo "smoke: $passed passed, $failed failed"
[[ $failed == 0 ]]
