#!/usr/bin/env bash
# Mailpit, a real SMTP server with an HTTP API for reading what arrived, for the notification
# end-to-end tests (tests/e2e/notify.rs). Built from the Go module proxy, like the control
# plane (scripts/control-plane.sh), and cached outside the repository by version.
#
# Usage:
#   scripts/mailpit.sh build [--print-path]
#       Build once (cached). With --print-path, print the binary's path on stdout.
#
# Environment:
#   SCO_CACHE_DIR   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/social-connection-operator)
set -euo pipefail

# Pinned: the tests read Mailpit's /api/v1 answers.
MAILPIT_MODULE="github.com/axllent/mailpit"
MAILPIT_VERSION="v1.27.11"

CACHE_ROOT="${SCO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/social-connection-operator}"
BIN_DIR="$CACHE_ROOT/bin/mailpit-$MAILPIT_VERSION"
BIN="$BIN_DIR/mailpit"

log() { printf 'mailpit: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cmd_build() {
    local print_path=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --print-path) print_path=1 ;;
        *) die "build: unknown argument $1" ;;
        esac
        shift
    done
    if [[ ! -x "$BIN" ]]; then
        command -v go >/dev/null || die "go is required to build Mailpit"
        mkdir -p "$BIN_DIR"
        # Serialise concurrent builds (several test binaries may start at once).
        exec 9>"$BIN_DIR/.build.lock"
        flock 9
        if [[ ! -x "$BIN" ]]; then
            local tmp start=$SECONDS
            tmp="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
            log "building $MAILPIT_MODULE@$MAILPIT_VERSION (a cold build takes a minute or two)"
            # go install MODULE@VERSION builds with the module's own go.mod and go.sum, checked
            # against the checksum database; CGO_ENABLED=0 gives a static binary.
            if ! GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$MAILPIT_MODULE@$MAILPIT_VERSION"; then
                rm -rf "$tmp"
                die "building Mailpit failed"
            fi
            mv -f "$tmp/mailpit" "$BIN"
            rm -rf "$tmp"
            log "built $BIN in $((SECONDS - start))s"
        fi
    fi
    if [[ $print_path == 1 ]]; then
        echo "$BIN"
    fi
}

case "${1:-}" in
build) shift; cmd_build "$@" ;;
*) sed -n '2,11p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
