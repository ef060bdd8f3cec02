#!/usr/bin/env bash
# scripts/peers/go-client.sh: build tests/go-client, a test peer written with
# the OpenTelemetry Go SDK (main.go's doc comment says what it sends).
# Cached; a no-op when the binary is there.
#
#   scripts/peers/go-client.sh      progress on stderr; the binary's path is
#                                   the last (only) line on stdout
#
# The binary goes to ~/.cache/vigil/go-client-<key>/go-client, where <key> is
# the first 12 hex digits of the sha256 of go.mod, go.sum, main.go and this
# script's version (GO_CLIENT_SCRIPT_VERSION). VIGIL_CACHE_DIR replaces
# ~/.cache/vigil. Go's own caches and settings are used as configured.
#
# Cost of a cold build (empty Go caches) on the 2-core machine: 50-110 s of
# CPU; 43 s of wall clock on a quiet machine, up to 2.4 min under load.
# Warm (binary cached): ~0.05 s.
#
# Needs: Go 1.26 or newer (go.mod's `go` line) and the Go module proxy.
set -euo pipefail

# Bump when a change to this script must invalidate cached binaries.
GO_CLIENT_SCRIPT_VERSION=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../../tests/go-client" && pwd)
CACHE=${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}

PEER_SCRIPT=go-client.sh
# shellcheck source=scripts/peers/common.sh
source "$HERE/common.sh"

for f in go.mod go.sum main.go; do
    [[ -f $SRC/$f ]] || die "$SRC/$f is missing"
done
KEY=$( { cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go"
         printf 'script %s\n' "$GO_CLIENT_SCRIPT_VERSION"; } | sha256sum | cut -c1-12)
OUT_DIR=$CACHE/go-client-$KEY
BIN=$OUT_DIR/go-client

# The binary runs when `-version` works (it prints the SDK's version).
runs() { "$1" -version >/dev/null 2>&1; }

if [[ -x $BIN ]] && runs "$BIN"; then
    say "cached: $("$BIN" -version) ($BIN)"
    printf '%s\n' "$BIN"
    exit 0
fi
[[ -e $BIN ]] && say "$BIN exists but does not run; rebuilding"

command -v go >/dev/null 2>&1 ||
    die "go not found on PATH" \
        "building tests/go-client needs Go 1.26 or newer and the Go module proxy" \
        "install Go, or set VIGIL_GO_CLIENT to a binary built from tests/go-client"
GO_VERSION=$(go env GOVERSION 2>/dev/null || go version)
say "building (key $KEY) with $GO_VERSION; a cold build takes 1-2.5 min"

mkdir -p "$OUT_DIR"
TMP=$BIN.tmp.$$
trap 'rm -f "$TMP"' EXIT
# -mod=readonly: go.mod/go.sum must already be tidy; never rewrite them here.
(cd "$SRC" && go build -mod=readonly -trimpath -o "$TMP" .) >&2 ||
    die "go build of tests/go-client failed (output above)" \
        "needs the Go module proxy ($(go env GOPROXY 2>/dev/null)); $GO_VERSION found" \
        "after editing imports, run \`go mod tidy\` in tests/go-client and commit go.mod and go.sum"
mv -f "$TMP" "$BIN"
runs "$BIN" || die "the new binary does not run: $BIN"
say "built in $(secs_since "$T0"): $("$BIN" -version)"
printf '%s\n' "$BIN"
