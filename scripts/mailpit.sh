#!/usr/bin/env bash
# Mailpit, a real SMTP server with an HTTP API for reading what arrived, for the notification
# end-to-end tests (tests/e2e/notify.rs). Built from the Go module proxy, like the control
# plane (scripts/control-plane.sh), and cached outside the repository by version.
#
# Usage:
#   scripts/mailpit.sh build [--print-bin]
#       Build once (cached). With --print-bin, print the binary's path on stdout.
#
# Environment:
#   SCO_CACHE_DIR   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/social-connection-operator)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOL=mailpit
# shellcheck source=scripts/lib/go-tool.sh
source "$REPO_ROOT/scripts/lib/go-tool.sh"

# Pinned: the tests read Mailpit's /api/v1 answers.
MAILPIT_MODULE="github.com/axllent/mailpit"
VERSION="v1.27.11"
BIN="$CACHE_ROOT/bin/mailpit-$VERSION/mailpit"
# `go install MODULE@VERSION` needs no module of ours: it runs in the cache directory.
SRC="$(dirname "$BIN")"

# go install builds with the module's own go.mod and go.sum, checked against the checksum
# database; CGO_ENABLED=0 gives a static binary.
go_tool_build() {
    local gobin
    gobin="$(mktemp -d "$SRC/.build.XXXXXX")"
    if ! GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$MAILPIT_MODULE@$VERSION"; then
        rm -rf "$gobin"
        return 1
    fi
    mv -f "$gobin/mailpit" "$1"
    rm -rf "$gobin"
}

go_tool_main "$@"
