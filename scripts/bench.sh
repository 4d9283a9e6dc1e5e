#!/usr/bin/env bash
# Scale benchmark (BENCHMARKS.md): starts a local control plane (scripts/control-plane.sh) and
# the fake providers, creates N SocialConnections with their token Secrets, and prints, side by
# side with a baseline client that server-side-applies one status per object with the same
# concurrency: time to every first status, requests per connection while nothing is due and
# over one check interval, operator memory at N and after 10,000 unrelated 100 KiB Secrets,
# Secret-update-to-status latency, and how checks spread after an operator restart.
#
# Usage: scripts/bench.sh [--n N] [--quick] [--debug] [sco-bench options]
#   --n N      connections (default 1000; the README's figures use 1000 and 10000)
#   --quick    N = 200 with short windows; fails on wrong behaviour, never on timings
#              (scripts/test.sh runs it; it uses the debug build unless --release is given)
#   --debug / --release   which build of the operator and the bench to use (default release)
#   any other option goes to sco-bench (`--help` lists them: --namespaces, --concurrency,
#   --interval, --unrelated, --unrelated-kib, --latency-samples, --operator-arg, --keep-logs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=""
quick=0
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --debug) profile=debug ;;
    --release) profile=release ;;
    --quick) quick=1; args+=("$1") ;;
    *) args+=("$1") ;;
    esac
    shift
done
if [[ -z "$profile" ]]; then
    if [[ $quick == 1 ]]; then profile=debug; else profile=release; fi
fi

echo "==> control plane binaries (cached after the first build)" >&2
bash scripts/control-plane.sh build >&2

target="${CARGO_TARGET_DIR:-target}"
build=(cargo build --locked -p social-connection-operator -p sco-bench --bins)
[[ $profile == release ]] && build+=(--release)
echo "==> ${build[*]}" >&2
"${build[@]}" >&2

exec "$target/$profile/sco-bench" --operator "$target/$profile/social-connection-operator" "${args[@]}"
