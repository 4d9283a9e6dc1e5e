# Shared by the scripts that build a Go test tool from the Go module proxy and cache it outside
# the repository (scripts/kstatus.sh, scripts/promtool.sh). Source it after setting:
#   TOOL  the tool's name, for messages
#   SRC   its wrapper module (tests/<tool>/)
#   BIN   where the cached binary goes (keyed by version)
# and define go_tool_build TMP (builds the binary to TMP from inside SRC).
# Then `go_tool_main "$@"` handles `build [--print-bin]`.

log() { printf '%s: %s\n' "$TOOL" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The cache every build script shares (scripts/control-plane.sh documents SCO_CACHE_DIR).
CACHE_ROOT="${SCO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/social-connection-operator}"

# Builds BIN once, under a lock, so that concurrent callers wait for one build.
ensure_built() {
    [[ -x "$BIN" ]] && return 0
    command -v go >/dev/null || die "go is required to build $TOOL"
    mkdir -p "$(dirname "$BIN")"
    exec 9>"$(dirname "$BIN")/.build.lock"
    flock 9
    [[ -x "$BIN" ]] && return 0
    local tmp="$BIN.tmp.$$" start=$SECONDS
    log "building $TOOL ${VERSION:-} (a cold build can take minutes)"
    if ! (cd "$SRC" && go_tool_build "$tmp"); then
        rm -f "$tmp"
        die "building $TOOL failed"
    fi
    mv -f "$tmp" "$BIN"
    log "built $BIN in $((SECONDS - start))s"
    exec 9>&-
}

go_tool_main() {
    case "${1:-}" in
    build)
        ensure_built
        if [[ "${2:-}" == --print-bin ]]; then
            printf '%s\n' "$BIN"
        fi
        ;;
    *) die "usage: $0 build [--print-bin]" ;;
    esac
}
