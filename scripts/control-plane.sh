#!/usr/bin/env bash
# A real, minimal Kubernetes control plane (etcd + kube-apiserver) for the
# end-to-end tests and the local demo, built from source with nothing but Go.
#
# Why this exists: the machines this project runs on have no Docker (so no
# kind/k3d) and cannot download release binaries; only package registries are
# reachable. The Go module proxy is one, so etcd, kube-apiserver, kubectl and
# helm are compiled from published modules via the small wrapper modules in
# tests/control-plane/ and cached outside the repository.
#
# No kube-controller-manager or scheduler runs: nothing creates "default"
# ServiceAccounts, garbage-collects, deletes namespaces or runs pods. The tests
# create everything they need (including ServiceAccounts) in a fresh namespace.
#
# Usage:
#   scripts/control-plane.sh build [--print-bin-dir]
#       Build (once; cached by version) etcd, kube-apiserver, kubectl and helm.
#       Progress goes to stderr. With --print-bin-dir, print the directory
#       holding all four binaries (one line) on stdout.
#   scripts/control-plane.sh start --dir DIR [--watch-pid PID]
#       Build if needed, start etcd + kube-apiserver on free 127.0.0.1 ports
#       with state in DIR, wait until /readyz is ok and return. Writes
#       DIR/kubeconfig (admin = system:masters, certs embedded), DIR/pki/
#       (ca.crt, ...), DIR/*.log and DIR/env, KEY=value lines: KUBECONFIG,
#       SCO_CP_DIR, BIN_DIR, KUBECTL, HELM, KUBE_APISERVER_URL, APISERVER_PORT,
#       APISERVER_PID, ETCD_CLIENT_PORT, ETCD_PEER_PORT, ETCD_PID,
#       WATCHDOG_PID, K8S_VERSION, AUDIT_LOG. With --watch-pid, a watchdog
#       stops everything once PID has exited. If start fails, its servers are
#       stopped and DIR keeps only the logs (the error shows their tails).
#   scripts/control-plane.sh stop-apiserver --dir DIR
#       Stop only kube-apiserver of the control plane in DIR (TERM, then
#       KILL); etcd, the watchdog, the certificates and the data stay. For
#       fault tests: clients see connection refused until start-apiserver.
#   scripts/control-plane.sh start-apiserver --dir DIR
#       Start kube-apiserver again on the same port, with the same
#       certificates, etcd and audit log, wait until /readyz is ok, and
#       update APISERVER_PID in DIR/env. Fails if it is running already.
#   scripts/control-plane.sh stop --dir DIR [--keep-logs]
#       Stop everything started for DIR (TERM, then KILL) and delete DIR
#       (with --keep-logs, keep DIR/*.log and delete the rest).
#   scripts/control-plane.sh run
#       Foreground demo: start in a temporary dir, print the kubeconfig path
#       on stdout (hints on stderr), wait for Ctrl-C/TERM, then stop and
#       clean up.
#
# Audit log: kube-apiserver writes DIR/audit.log (JSON lines, one per
# request at stage ResponseComplete, plus ResponseStarted for watches) under
# the policy DIR/audit-policy.yaml: every request made by a ServiceAccount
# (group system:serviceaccounts) at level Metadata (user, verb, objectRef with
# resource/subresource/namespace/name, responseStatus.code, userAgent; never
# request or response bodies, so no Secret data), nothing else. The e2e suite
# reads it to prove the Helm chart grants exactly what the operator uses.
#
# tests/control-plane/smoke.sh checks everything the e2e suite relies on.
#
# Environment:
#   SCO_CACHE_DIR            cache root (default
#                            ${XDG_CACHE_HOME:-$HOME/.cache}/social-connection-operator)
#   SCO_CP_READY_TIMEOUT     seconds to wait for etcd/apiserver (default 120)
#   SCO_CP_STOP_GRACE        seconds between TERM and KILL on stop (default 10)
set -euo pipefail

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)"
CP_SRC="$REPO_ROOT/tests/control-plane"

CACHE_ROOT="${SCO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/social-connection-operator}"
READY_TIMEOUT="${SCO_CP_READY_TIMEOUT:-120}"
STOP_GRACE="${SCO_CP_STOP_GRACE:-10}"
# Marks a directory as one of ours, so `stop` never deletes anything else.
MARKER=".sco-control-plane"

log() { printf 'control-plane: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------
# Versions: the wrapper modules' go.mod files are the single source of truth.
# ---------------------------------------------------------------------------

# go_mod_version FILE MODULE: the required version of MODULE in FILE
# (handles both `require M v` and lines inside a `require (...)` block).
go_mod_version() {
    awk -v m="$2" '
        $1 == "require" && $2 == m { print $3; exit }
        $1 == m && $2 ~ /^v/ { print $2; exit }
    ' "$1"
}

K8S_VERSION="$(go_mod_version "$CP_SRC/apiserver/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(go_mod_version "$CP_SRC/etcd/go.mod" go.etcd.io/etcd/server/v3)"
HELM_VERSION="$(go_mod_version "$CP_SRC/helm/go.mod" helm.sh/helm/v3)"
[[ -n "$K8S_VERSION" && -n "$ETCD_VERSION" && -n "$HELM_VERSION" ]] ||
    die "could not read versions from $CP_SRC/*/go.mod"

K8S_BIN_DIR="$CACHE_ROOT/bin/k8s-$K8S_VERSION"
ETCD_BIN_DIR="$CACHE_ROOT/bin/etcd-$ETCD_VERSION"
HELM_BIN_DIR="$CACHE_ROOT/bin/helm-$HELM_VERSION"
# One directory with (relative) symlinks to all four binaries, so callers can
# simply put it first on PATH.
BIN_DIR="$CACHE_ROOT/bin/control-plane-k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"

ETCD_BIN="$ETCD_BIN_DIR/etcd"
APISERVER_BIN="$K8S_BIN_DIR/kube-apiserver"
KUBECTL_BIN="$K8S_BIN_DIR/kubectl"
HELM_BIN="$HELM_BIN_DIR/helm"

# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------

# module_meta DIR MODULE@VERSION FIELD: the commit hash (Origin.Hash; not every
# proxy answer has it) or the tag's commit time (Time) of a module, read from
# the local module cache, so version strings are reproducible.
module_meta() {
    (cd "$1" && go mod download -json "$2") | python3 -c '
import json, sys
info = json.load(sys.stdin)
field = sys.argv[1]
if field == "Hash":
    print((info.get("Origin") or {}).get("Hash") or "unknown")
else:
    print(info.get("Time") or "1970-01-01T00:00:00Z")
' "$3"
}

# go_build MODDIR PACKAGE OUTPUT LDFLAGS: build into a temporary file and
# rename it, so an interrupted build never leaves a half-written binary that a
# later run would take as cached.
go_build() {
    local moddir="$1" pkg="$2" out="$3" ldflags="$4" start tmp
    if [[ -x "$out" ]]; then
        return 0
    fi
    mkdir -p "$(dirname "$out")"
    tmp="$out.tmp.$$"
    log "building $(basename "$out") from $pkg (a cold build takes minutes)"
    start=$SECONDS
    # CGO_ENABLED=0: static binaries, no C toolchain needed (as upstream
    # release builds of these components). -trimpath/-s -w: smaller, no local
    # paths. Module downloads go through the configured GOPROXY.
    if ! (cd "$moddir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg"); then
        rm -f "$tmp"
        die "building $pkg failed"
    fi
    mv -f "$tmp" "$out"
    log "built $out in $((SECONDS - start))s"
}

cmd_build() {
    local print_bin_dir=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --print-bin-dir) print_bin_dir=1 ;;
        *) die "build: unknown argument $1" ;;
        esac
        shift
    done
    ensure_built
    if [[ $print_bin_dir == 1 ]]; then
        printf '%s\n' "$BIN_DIR"
    fi
}

ensure_built() {
    # Fast path: everything is cached (no Go invocation at all).
    if [[ -x "$ETCD_BIN" && -x "$APISERVER_BIN" && -x "$KUBECTL_BIN" && -x "$HELM_BIN" &&
        -L "$BIN_DIR/helm" ]]; then
        return 0
    fi
    command -v go >/dev/null || die "go is required to build the control plane"
    command -v python3 >/dev/null || die "python3 is required"
    mkdir -p "$CACHE_ROOT/bin"
    # Serialise concurrent builds (e.g. several test binaries starting at once).
    exec 9>"$CACHE_ROOT/bin/.build.lock"
    if command -v flock >/dev/null && ! flock -n 9; then
        log "another build is running; waiting for $CACHE_ROOT/bin/.build.lock"
        flock 9
    fi
    local total_start=$SECONDS

    # etcd: etcd's own version comes from go.etcd.io/etcd/api/v3/version,
    # which the module already carries; only the git SHA is stamped.
    go_build "$CP_SRC/etcd" go.etcd.io/etcd/server/v3 "$ETCD_BIN" \
        "-X go.etcd.io/etcd/api/v3/version.GitSHA=$(module_meta "$CP_SRC/etcd" "go.etcd.io/etcd/server/v3@$ETCD_VERSION" Hash)"

    # kube-apiserver and kubectl: stamp the version the way hack/lib/version.sh
    # does, so `kubectl version` and the server's /version (and its
    # compatibility version) report the real release instead of v0.0.0-master.
    if [[ ! -x "$APISERVER_BIN" || ! -x "$KUBECTL_BIN" ]]; then
        local minor commit date k8s_ldflags="" pkg
        minor="$(cut -d. -f2 <<<"$K8S_VERSION")"
        commit="$(module_meta "$CP_SRC/apiserver" "k8s.io/kubernetes@$K8S_VERSION" Hash)"
        date="$(module_meta "$CP_SRC/apiserver" "k8s.io/kubernetes@$K8S_VERSION" Time)"
        for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
            k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
            k8s_ldflags+=" -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
        done
        go_build "$CP_SRC/apiserver" . "$APISERVER_BIN" "$k8s_ldflags"
        go_build "$CP_SRC/apiserver" k8s.io/kubernetes/cmd/kubectl "$KUBECTL_BIN" "$k8s_ldflags"
    fi

    # helm: as helm's Makefile; the Kubernetes version helm assumes for
    # lint/template (.Capabilities) derives from its client-go version.
    if [[ ! -x "$HELM_BIN" ]]; then
        local cg cg_minor
        cg="$(go_mod_version "$CP_SRC/helm/go.mod" k8s.io/client-go)"
        cg_minor="$(cut -d. -f2 <<<"$cg")"
        go_build "$CP_SRC/helm" helm.sh/helm/v3/cmd/helm "$HELM_BIN" \
            "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
             -X helm.sh/helm/v3/internal/version.metadata= \
             -X helm.sh/helm/v3/internal/version.gitCommit=$(module_meta "$CP_SRC/helm" "helm.sh/helm/v3@$HELM_VERSION" Hash) \
             -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
             -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
             -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$cg_minor \
             -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
             -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$cg_minor"
    fi

    mkdir -p "$BIN_DIR"
    ln -sfn "../k8s-$K8S_VERSION/kube-apiserver" "$BIN_DIR/kube-apiserver"
    ln -sfn "../k8s-$K8S_VERSION/kubectl" "$BIN_DIR/kubectl"
    ln -sfn "../etcd-$ETCD_VERSION/etcd" "$BIN_DIR/etcd"
    ln -sfn "../helm-$HELM_VERSION/helm" "$BIN_DIR/helm"
    log "binaries ready in $BIN_DIR ($((SECONDS - total_start))s)"
    exec 9>&-
}

# ---------------------------------------------------------------------------
# helpers for start/stop
# ---------------------------------------------------------------------------

# abs_dir DIR: absolute path without requiring it to exist.
abs_dir() { realpath -m -- "$1"; }

# free_ports N: N distinct free TCP ports on 127.0.0.1, one per line. All
# sockets are held open together so the ports differ; another process can
# still grab one before we use it, which the start functions handle by retrying.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# alive PID: PID exists and is not a zombie (an exited process whose parent,
# e.g. a minimal init after our script exited, has not reaped it yet).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    if [[ -r "/proc/$1/stat" ]] && [[ "$(proc_stat_field "$1" 1)" == Z ]]; then
        return 1
    fi
    return 0
}

# pid_is_ours PID DIR: PID is alive and its command line mentions DIR (guards
# against killing an unrelated process that reused a recorded PID).
pid_is_ours() {
    local pid="$1" dir="$2"
    [[ -n "$pid" ]] && alive "$pid" || return 1
    if [[ -r "/proc/$pid/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir" || return 1
    fi
    return 0
}

# proc_start_time PID: kernel start time of PID (field 22 of /proc/PID/stat),
# used by the watchdog to notice PID reuse; empty where /proc is missing.
proc_start_time() {
    proc_stat_field "$1" 20
}

# proc_stat_field PID N: the Nth field after the command name in
# /proc/PID/stat (1 = state, 20 = start time); empty if PID is gone. The
# command name may contain spaces, hence cutting after its closing ')'.
proc_stat_field() {
    { sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null || true; } | awk -v n="$2" '{ print $n }'
}

# launch DIR NAME CMD...: start CMD detached from the caller's stdout/stderr
# (logs go to DIR/NAME.log), so e.g. `cargo test`, which waits for its
# children's pipes to close, is never held up. Sets LAUNCHED_PID.
launch() {
    local dir="$1" name="$2"
    shift 2
    "$@" </dev/null >>"$dir/$name.log" 2>&1 &
    LAUNCHED_PID=$!
    echo "$LAUNCHED_PID" >"$dir/$name.pid"
}

# wait_until SECONDS PID DESCRIPTION CMD...: poll CMD until it succeeds; fail
# early if PID died, or after SECONDS.
wait_until() {
    local timeout="$1" pid="$2" what="$3" deadline
    shift 3
    deadline=$((SECONDS + timeout))
    while ! "$@" >/dev/null 2>&1; do
        if ! alive "$pid"; then
            return 2
        fi
        if ((SECONDS >= deadline)); then
            log "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

show_log_tail() {
    local f
    for f in "$@"; do
        [[ -f "$f" ]] || continue
        log "last lines of $f:"
        tail -n 30 "$f" | sed 's/^/    /' >&2
    done
}

# ---------------------------------------------------------------------------
# certificates (openssl CLI)
# ---------------------------------------------------------------------------

gen_pki() {
    local pki="$1"
    mkdir -p "$pki"
    (
        cd "$pki"
        umask 077
        # RSA-2048 keys in PKCS#1 form: the most widely accepted by clients
        # (kubectl, kube-rs with rustls or openssl, Python, ...).
        openssl genrsa -traditional -out ca.key 2048 2>/dev/null
        openssl req -x509 -new -key ca.key -sha256 -days 3650 -out ca.crt \
            -subj "/CN=social-connection-operator-test-ca" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"

        # issue NAME SUBJECT EXTFILE-CONTENT: key + certificate signed by the CA.
        issue() {
            openssl genrsa -traditional -out "$1.key" 2048 2>/dev/null
            openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
            printf '%s\n' "$3" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
                -sha256 -days 3650 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
            rm -f "$1.csr" "$1.ext"
        }
        # Serving certificate: clients connect to 127.0.0.1 or localhost; the
        # in-cluster names and the kubernetes Service IP are included for
        # completeness.
        issue apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1"
        # Admin client certificate: O=system:masters is bound to cluster-admin.
        issue admin "/O=system:masters/CN=admin" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
        # ServiceAccount token signing key pair (TokenRequest / `kubectl create token`).
        openssl genrsa -traditional -out sa.key 2048 2>/dev/null
        openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    )
}

b64() { base64 <"$1" | tr -d '\n'; }

# write_audit_policy FILE: Metadata for every ServiceAccount request, None
# for everyone else (the admin's test traffic would only make the log big).
write_audit_policy() {
    cat >"$1" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
# One event per request (ResponseComplete; watches also at ResponseStarted).
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
EOF
}

write_kubeconfig() {
    local dir="$1" port="$2" pki="$1/pki"
    (
        umask 077
        cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sco-test
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: sco-test
  context:
    cluster: sco-test
    user: admin
    namespace: default
current-context: sco-test
EOF
    )
}

# ---------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------

file_size() { if [[ -e "$1" ]]; then wc -c <"$1"; else echo 0; fi; }

# port_was_taken LOG OFFSET: did the attempt whose output starts at byte
# OFFSET of LOG fail because its port was grabbed by someone else meanwhile?
port_was_taken() {
    tail -c +"$(($2 + 1))" "$1" | grep -q "address already in use"
}

# start_etcd DIR: start etcd on free ports, retrying on a port race.
# Sets ETCD_PID, ETCD_CLIENT_PORT, ETCD_PEER_PORT.
start_etcd() {
    local dir="$1" attempt ports rc log_offset
    for attempt in 1 2 3 4 5; do
        mapfile -t ports < <(free_ports 2)
        ETCD_CLIENT_PORT="${ports[0]}" ETCD_PEER_PORT="${ports[1]}"
        rm -rf "$dir/etcd-data"
        # --unsafe-no-fsync: the data is thrown away after the test run, and
        # fsync dominates etcd latency on slow disks.
        log_offset="$(file_size "$dir/etcd.log")"
        launch "$dir" etcd "$ETCD_BIN" \
            --name=sco \
            --data-dir="$dir/etcd-data" \
            --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
            --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
            --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
            --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
            --initial-cluster="sco=http://127.0.0.1:$ETCD_PEER_PORT" \
            --initial-cluster-state=new \
            --unsafe-no-fsync \
            --log-level=warn
        ETCD_PID=$LAUNCHED_PID
        rc=0
        wait_until "$READY_TIMEOUT" "$ETCD_PID" "etcd" \
            curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" || rc=$?
        if [[ $rc == 0 ]]; then
            return 0
        fi
        if [[ $rc == 2 ]] && port_was_taken "$dir/etcd.log" "$log_offset"; then
            log "etcd: port race (attempt $attempt), retrying with other ports"
            continue
        fi
        show_log_tail "$dir/etcd.log"
        die "etcd did not become healthy"
    done
    show_log_tail "$dir/etcd.log"
    die "etcd: no free ports after 5 attempts"
}

# start_apiserver DIR [PORT]: sets APISERVER_PID, APISERVER_PORT. With PORT
# (a restart), only that port is tried.
start_apiserver() {
    local dir="$1" fixed_port="${2:-}" pki="$1/pki" attempt rc log_offset
    for attempt in 1 2 3 4 5; do
        APISERVER_PORT="${fixed_port:-$(free_ports 1)}"
        log_offset="$(file_size "$dir/kube-apiserver.log")"
        launch "$dir" kube-apiserver "$APISERVER_BIN" \
            --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
            --bind-address=127.0.0.1 \
            --advertise-address=127.0.0.1 \
            --secure-port="$APISERVER_PORT" \
            --tls-cert-file="$pki/apiserver.crt" \
            --tls-private-key-file="$pki/apiserver.key" \
            --client-ca-file="$pki/ca.crt" \
            --authorization-mode=RBAC \
            --service-account-issuer=https://kubernetes.default.svc \
            --api-audiences=https://kubernetes.default.svc \
            --service-account-key-file="$pki/sa.pub" \
            --service-account-signing-key-file="$pki/sa.key" \
            --service-cluster-ip-range=10.0.0.0/24 \
            --cert-dir="$dir/apiserver-certs" \
            --profiling=false \
            --endpoint-reconciler-type=none \
            --audit-policy-file="$dir/audit-policy.yaml" \
            --audit-log-path="$dir/audit.log" \
            --audit-log-format=json \
            --audit-log-mode=blocking
        # --endpoint-reconciler-type=none: the "kubernetes" Service cannot get
        # a loopback endpoint (rejected by validation, logged every 10 s); no
        # pod runs here to need it. --authorization-mode=RBAC: no kubelets, so
        # no Node authorizer. --api-audiences equals the issuer, which is the
        # default audience of `kubectl create token`. Audit: see the header;
        # blocking mode writes each event before the answer is sent, so a
        # test that has its answer finds the event in the log.
        APISERVER_PID=$LAUNCHED_PID
        rc=0
        wait_until "$READY_TIMEOUT" "$APISERVER_PID" "kube-apiserver /readyz" \
            curl -fsS --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
            "https://127.0.0.1:$APISERVER_PORT/readyz" || rc=$?
        if [[ $rc == 0 ]]; then
            return 0
        fi
        if [[ $rc == 2 && -z "$fixed_port" ]] && port_was_taken "$dir/kube-apiserver.log" "$log_offset"; then
            log "kube-apiserver: port race (attempt $attempt), retrying with another port"
            continue
        fi
        show_log_tail "$dir/etcd.log" "$dir/kube-apiserver.log"
        die "kube-apiserver did not become ready"
    done
    show_log_tail "$dir/kube-apiserver.log"
    die "kube-apiserver: no free port after 5 attempts"
}

# start_watchdog DIR PID: stop everything for DIR once PID has exited. The
# watchdog is a separate invocation of this script (`_watchdog`), so its
# command line names DIR and `stop` can recognise it.
start_watchdog() {
    local dir="$1" pid="$2"
    launch "$dir" watchdog "$BASH" "$SCRIPT_PATH" _watchdog "$dir" "$pid" "$(proc_start_time "$pid")"
    WATCHDOG_PID=$LAUNCHED_PID
}

cmd_watchdog() {
    local dir="$1" pid="$2" started="${3:-}"
    # Survive the caller's terminal going away; the point is to clean up.
    trap '' HUP INT
    # The start time guards against PID reuse.
    while alive "$pid" && [[ "$(proc_start_time "$pid")" == "$started" ]]; do
        sleep 1
    done
    log "watched process $pid exited; stopping the control plane in $dir"
    SCO_CP_FROM_WATCHDOG=1 do_stop "$dir" 0
}

write_env() {
    local dir="$1" tmp="$1/env.tmp"
    # KEY=value lines (values shell-quoted only where needed): source it with
    # `set -a; . DIR/env; set +a`, or parse it by splitting at the first '='.
    {
        printf 'KUBECONFIG=%q\n' "$dir/kubeconfig"
        printf 'SCO_CP_DIR=%q\n' "$dir"
        printf 'BIN_DIR=%q\n' "$BIN_DIR"
        printf 'KUBECTL=%q\n' "$KUBECTL_BIN"
        printf 'HELM=%q\n' "$HELM_BIN"
        printf 'KUBE_APISERVER_URL=%q\n' "https://127.0.0.1:$APISERVER_PORT"
        printf 'APISERVER_PORT=%q\n' "$APISERVER_PORT"
        printf 'APISERVER_PID=%q\n' "$APISERVER_PID"
        printf 'ETCD_CLIENT_PORT=%q\n' "$ETCD_CLIENT_PORT"
        printf 'ETCD_PEER_PORT=%q\n' "$ETCD_PEER_PORT"
        printf 'ETCD_PID=%q\n' "$ETCD_PID"
        printf 'WATCHDOG_PID=%q\n' "${WATCHDOG_PID:-}"
        printf 'K8S_VERSION=%q\n' "$K8S_VERSION"
        printf 'AUDIT_LOG=%q\n' "$dir/audit.log"
    } >"$tmp"
    mv -f "$tmp" "$dir/env"
}

# do_start DIR WATCH_PID: the body of `start` (also used by `run`).
do_start() {
    local dir="$1" watch_pid="$2" t0=$SECONDS
    if [[ -e "$dir" && ! -e "$dir/$MARKER" && -n "$(ls -A "$dir" 2>/dev/null)" ]]; then
        die "$dir exists, is not empty and was not created by this script"
    fi
    if [[ -e "$dir/$MARKER" ]]; then
        local name
        for name in etcd kube-apiserver; do
            if pid_is_ours "$(cat "$dir/$name.pid" 2>/dev/null)" "$dir"; then
                die "a control plane is already running in $dir (stop it first)"
            fi
        done
        # Leftovers of a previous, dead run: start from scratch.
        do_stop "$dir" 0
    fi
    if [[ -n "$watch_pid" ]] && ! kill -0 "$watch_pid" 2>/dev/null; then
        die "--watch-pid $watch_pid: no such process"
    fi
    ensure_built
    command -v openssl >/dev/null || die "openssl is required"
    command -v curl >/dev/null || die "curl is required"
    command -v python3 >/dev/null || die "python3 is required"

    mkdir -p "$dir"
    touch "$dir/$MARKER"
    # From here on DIR is ours: a failed or interrupted start cleans it up.
    OWNED_DIR="$dir"
    log "starting etcd $ETCD_VERSION and kube-apiserver $K8S_VERSION in $dir"
    gen_pki "$dir/pki"
    write_audit_policy "$dir/audit-policy.yaml"
    start_etcd "$dir"
    start_apiserver "$dir"
    write_kubeconfig "$dir" "$APISERVER_PORT"
    WATCHDOG_PID=""
    if [[ -n "$watch_pid" ]]; then
        start_watchdog "$dir" "$watch_pid"
    fi
    write_env "$dir"
    log "ready in $((SECONDS - t0))s: KUBECONFIG=$dir/kubeconfig (https://127.0.0.1:$APISERVER_PORT)"
}

cmd_start() {
    local dir="" watch_pid=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --dir) dir="${2:?--dir needs a value}"; shift ;;
        --watch-pid) watch_pid="${2:?--watch-pid needs a value}"; shift ;;
        *) die "start: unknown argument $1" ;;
        esac
        shift
    done
    [[ -n "$dir" ]] || die "start: --dir DIR is required"
    dir="$(abs_dir "$dir")"
    # If start fails or is interrupted half-way, do not leave servers behind,
    # but keep the logs in DIR for diagnosis (a later start or stop removes
    # them). Nothing is touched if start failed before taking DIR over
    # (e.g. because a control plane is already running there).
    OWNED_DIR=""
    trap 'trap - EXIT; [[ -z "$OWNED_DIR" ]] || do_stop "$OWNED_DIR" 1; exit 1' INT TERM HUP
    trap '[[ $? == 0 || -z "$OWNED_DIR" ]] || do_stop "$OWNED_DIR" 1' EXIT
    do_start "$dir" "$watch_pid"
    trap - EXIT INT TERM HUP
}

# ---------------------------------------------------------------------------
# stop
# ---------------------------------------------------------------------------

# do_stop DIR KEEP_LOGS: stop the processes recorded in DIR and delete DIR
# (keeping *.log if KEEP_LOGS=1). Idempotent.
do_stop() {
    local dir="$1" keep_logs="$2" name pid deadline
    if [[ ! -e "$dir/$MARKER" ]]; then
        if [[ -e "$dir" ]]; then
            log "$dir was not created by this script; not touching it"
        fi
        return 0
    fi
    # The watchdog first (unless it is the one calling us), so it does not race
    # with us; then the apiserver before etcd, so it can shut down cleanly.
    for name in watchdog kube-apiserver etcd; do
        [[ $name == watchdog && -n "${SCO_CP_FROM_WATCHDOG:-}" ]] && continue
        pid="$(cat "$dir/$name.pid" 2>/dev/null || true)"
        pid_is_ours "$pid" "$dir" || continue
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + STOP_GRACE))
        while alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if alive "$pid"; then
            log "$name (pid $pid) did not stop after ${STOP_GRACE}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    if [[ $keep_logs == 1 ]]; then
        find "$dir" -mindepth 1 -maxdepth 1 ! -name '*.log' ! -name "$MARKER" -exec rm -rf {} +
    else
        rm -rf "$dir"
    fi
}

cmd_stop() {
    local dir="" keep_logs=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --dir) dir="${2:?--dir needs a value}"; shift ;;
        --keep-logs) keep_logs=1 ;;
        *) die "stop: unknown argument $1" ;;
        esac
        shift
    done
    [[ -n "$dir" ]] || die "stop: --dir DIR is required"
    do_stop "$(abs_dir "$dir")" "$keep_logs"
}

# ---------------------------------------------------------------------------
# stop-apiserver / start-apiserver (fault tests)
# ---------------------------------------------------------------------------

# env_value DIR KEY: the value of KEY in DIR/env (written by write_env with
# printf %q; the values we read are numbers and paths without spaces).
env_value() {
    local line
    line="$(grep -m1 "^$2=" "$1/env" 2>/dev/null)" || die "$1/env has no $2 (was the control plane started with start --dir $1?)"
    line="${line#*=}"
    [[ $line == "''" ]] && line=""
    printf '%s\n' "$line"
}

# dir_arg ARGS...: the absolute DIR of `--dir DIR`, the only argument.
dir_arg() {
    local dir=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --dir) dir="${2:?--dir needs a value}"; shift ;;
        *) die "unknown argument $1" ;;
        esac
        shift
    done
    [[ -n "$dir" ]] || die "--dir DIR is required"
    dir="$(abs_dir "$dir")"
    [[ -e "$dir/$MARKER" ]] || die "$dir holds no control plane started by this script"
    printf '%s\n' "$dir"
}

cmd_stop_apiserver() {
    local dir pid deadline
    dir="$(dir_arg "$@")"
    pid="$(cat "$dir/kube-apiserver.pid" 2>/dev/null || true)"
    if ! pid_is_ours "$pid" "$dir"; then
        log "kube-apiserver of $dir is not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_GRACE))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if alive "$pid"; then
        log "kube-apiserver (pid $pid) did not stop after ${STOP_GRACE}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    log "kube-apiserver of $dir stopped (etcd keeps running)"
}

cmd_start_apiserver() {
    local dir
    dir="$(dir_arg "$@")"
    if pid_is_ours "$(cat "$dir/kube-apiserver.pid" 2>/dev/null)" "$dir"; then
        die "kube-apiserver of $dir is running already"
    fi
    pid_is_ours "$(env_value "$dir" ETCD_PID)" "$dir" || die "etcd of $dir is not running; start the whole control plane again"
    ETCD_CLIENT_PORT="$(env_value "$dir" ETCD_CLIENT_PORT)"
    ETCD_PEER_PORT="$(env_value "$dir" ETCD_PEER_PORT)"
    ETCD_PID="$(env_value "$dir" ETCD_PID)"
    WATCHDOG_PID="$(env_value "$dir" WATCHDOG_PID)"
    start_apiserver "$dir" "$(env_value "$dir" APISERVER_PORT)"
    write_env "$dir"
    log "kube-apiserver of $dir ready again on port $APISERVER_PORT (pid $APISERVER_PID)"
}

# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------

cmd_run() {
    [[ $# == 0 ]] || die "run: no arguments expected"
    local dir
    dir="$(mktemp -d "${TMPDIR:-/tmp}/sco-control-plane.XXXXXX")"
    # shellcheck disable=SC2064
    trap "trap - EXIT INT TERM HUP; log 'stopping'; do_stop '$dir' 0; rm -rf '$dir'; exit 0" INT TERM HUP
    # shellcheck disable=SC2064
    trap "do_stop '$dir' 0; rm -rf '$dir'" EXIT
    # The watchdog watching this script covers a SIGKILLed `run`.
    do_start "$dir" "$$"
    cat >&2 <<EOF

Control plane is running (Ctrl-C to stop and delete it).
  export KUBECONFIG=$dir/kubeconfig
  export PATH=$BIN_DIR:\$PATH
  kubectl get ns
Logs: $dir/*.log

EOF
    printf '%s\n' "$dir/kubeconfig"
    while alive "$APISERVER_PID" && alive "$ETCD_PID"; do
        # `wait` (unlike a plain sleep) is interrupted at once by trapped signals.
        sleep 1 &
        wait $! || true
    done
    show_log_tail "$dir/etcd.log" "$dir/kube-apiserver.log"
    die "a control-plane process exited unexpectedly"
}

usage() {
    sed -n '/^# Usage:/,/^set -euo/p' "$SCRIPT_PATH" | sed '$d' | sed 's/^# \{0,1\}//' >&2
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
    build) cmd_build "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    stop-apiserver) cmd_stop_apiserver "$@" ;;
    start-apiserver) cmd_start_apiserver "$@" ;;
    run) cmd_run "$@" ;;
    _watchdog) cmd_watchdog "$@" ;; # internal, see start_watchdog
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
    esac
}

# On one line: bash reads scripts as it goes, so exiting right after main keeps
# a long-running instance (e.g. the watchdog) safe from edits to this file.
main "$@"; exit
