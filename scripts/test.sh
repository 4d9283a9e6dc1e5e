#!/usr/bin/env bash
# Runs every test of the project: unit and provider tests, the fake providers' own tests, the
# Helm chart tests and the end-to-end suite against a real kube-apiserver and etcd.
#
# The end-to-end harness (tests/e2e/support.rs) starts the control plane itself through
# scripts/control-plane.sh; building it first here makes its (cached) cost visible and its
# failures plain. Everything a fresh machine needs beyond Go and Rust is built from the package
# registries by these scripts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

t0=$SECONDS
# Lint first: a formatting slip or a clippy warning fails in seconds, before the long suite.
echo "==> cargo fmt --check and cargo clippy (warnings are errors)" >&2
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> lint clean after $((SECONDS - t0))s" >&2

echo "==> building the control plane (etcd, kube-apiserver, kubectl, helm; cached after the first run)" >&2
bash scripts/control-plane.sh build >&2
echo "==> control plane ready to start after $((SECONDS - t0))s" >&2
t1=$SECONDS
echo "==> building Mailpit (SMTP server of the notification tests; cached after the first run)" >&2
bash scripts/mailpit.sh build >&2
echo "==> Mailpit ready after $((SECONDS - t1))s" >&2
t1=$SECONDS
echo "==> building promtool (the chart's alert rule tests; cached after the first run)" >&2
bash scripts/promtool.sh build >&2
echo "==> promtool ready after $((SECONDS - t1))s" >&2
t1=$SECONDS
echo "==> building kstatus-check (Flux's status library, for tests/e2e/kstatus.rs; cached after the first run)" >&2
bash scripts/kstatus.sh build >&2
echo "==> kstatus-check ready after $((SECONDS - t1))s" >&2
# The notification tests make their SMTP server's CA and certificate with openssl.
if ! command -v openssl >/dev/null; then
    echo "==> installing openssl (Debian package)" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >&2
fi

# The connect flow's browser tests (tests/e2e/connect.rs) drive headless Chromium through
# chromedriver, both from Debian's packages (about 65 s cold on this machine: apt-get update plus
# the download and install of chromium and chromium-driver; nothing once installed).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    t2=$SECONDS
    echo "==> installing chromium and chromium-driver (Debian packages)" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2
    echo "==> chromium ready after $((SECONDS - t2))s" >&2
fi

echo "==> cargo test (unit, providers, fakes, chart, end-to-end)" >&2
# End-to-end tests mostly wait on the API server and the operator: run them wide.
cargo test --workspace --locked --no-fail-fast -- --test-threads "${SCO_TEST_THREADS:-8}"

# The scale benchmark in its quick mode (N = 200, debug build), so that it cannot rot: it fails
# on wrong behaviour (a connection without status, more than one provider call per first
# check, writes or calls while nothing is due, an update that never shows), never on timings.
echo "==> quick benchmark (scripts/bench.sh --quick; figures only, see BENCHMARKS.md)" >&2
bash scripts/bench.sh --quick
echo "==> all tests passed in $((SECONDS - t0))s" >&2
