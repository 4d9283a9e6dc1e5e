#!/usr/bin/env bash
# kstatus-check: Flux's status library (sigs.k8s.io/cli-utils/pkg/kstatus, status.Compute) as a
# small command, built from the Go module proxy like the control plane binaries
# (scripts/control-plane.sh): the wrapper module tests/kstatus/ pins cli-utils, and the binary is
# cached outside the repository.
#
# Usage:
#   scripts/kstatus.sh build [--print-bin]
#       Build (once; cached by version). With --print-bin, print the binary's path on stdout.
#
# The end-to-end suite (tests/e2e/kstatus.rs) feeds it the SocialConnections of every state the
# operator produces and checks Current / InProgress / Failed as a person would expect them.
#
# Environment: SCO_CACHE_DIR as scripts/control-plane.sh.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$REPO_ROOT/tests/kstatus"
TOOL=kstatus
# shellcheck source=scripts/lib/go-tool.sh
source "$REPO_ROOT/scripts/lib/go-tool.sh"

VERSION="$(awk '$1 == "sigs.k8s.io/cli-utils" && $2 ~ /^v/ { print $2; exit }' "$SRC/go.mod")"
[[ -n "$VERSION" ]] || die "no sigs.k8s.io/cli-utils version in $SRC/go.mod"
# The program's own source is part of the cache key: a change to it builds anew.
SUM="$(sha256sum "$SRC/main.go" "$SRC/go.sum" | sha256sum | cut -c1-12)"
BIN="$CACHE_ROOT/bin/kstatus-check-$VERSION-$SUM/kstatus-check"

go_tool_build() {
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1" .
}

go_tool_main "$@"
