#!/usr/bin/env bash
# promtool, Prometheus' own rule test runner, built from the Go module proxy like the control
# plane binaries (scripts/control-plane.sh): the wrapper module tests/promtool/ pins
# github.com/prometheus/prometheus, and the binary is cached outside the repository.
#
# Usage:
#   scripts/promtool.sh build [--print-bin]
#       Build (once; cached by version). With --print-bin, print the binary's path on stdout.
#
# tests/chart.rs (the_shipped_alert_rules_pass_promtool) renders the chart's PrometheusRule with
# helm and runs `promtool check rules` and `promtool test rules` with tests/alerts/*.test.yaml
# against the rendered groups: the rules that ship, not a copy.
#
# Built with the `remove_all_sd` tag: promtool's rule tests need no service discovery, and
# leaving out the cloud SDKs shortens the build.
#
# Environment: SCO_CACHE_DIR as scripts/control-plane.sh.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$REPO_ROOT/tests/promtool"
TOOL=promtool
# shellcheck source=scripts/lib/go-tool.sh
source "$REPO_ROOT/scripts/lib/go-tool.sh"

VERSION="$(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" { print $3; exit }
    $1 == "github.com/prometheus/prometheus" && $2 ~ /^v/ { print $2; exit }' "$SRC/go.mod")"
[[ -n "$VERSION" ]] || die "no github.com/prometheus/prometheus version in $SRC/go.mod"
BIN="$CACHE_ROOT/bin/prometheus-$VERSION/promtool"

go_tool_build() {
    CGO_ENABLED=0 go build -trimpath -tags remove_all_sd \
        -ldflags "-s -w -X github.com/prometheus/common/version.Version=$VERSION" \
        -o "$1" github.com/prometheus/prometheus/cmd/promtool
}

go_tool_main "$@"
