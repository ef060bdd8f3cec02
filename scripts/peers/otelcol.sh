#!/usr/bin/env bash
# scripts/peers/otelcol.sh: build the OpenTelemetry Collector that Vigil's
# tests use as a real peer, with the collector's official builder (ocb), from
# the Go module proxy. Pinned and cached; a no-op when the binary is there.
#
#   scripts/peers/otelcol.sh        progress on stderr; the binary's path is
#                                   the last (only) line on stdout
#
# What it builds: scripts/peers/otelcol-builder.yaml (components and versions
# are listed there). The binary goes to
#   ~/.cache/vigil/otelcol-<key>/otelcol-vigil
# where <key> is the first 12 hex digits of the sha256 of the manifest, the
# builder version and this script's version (OTELCOL_SCRIPT_VERSION): change
# any of them and the next run builds anew beside the old binary. The builder
# itself is cached in ~/.cache/vigil/ocb-<version>/. VIGIL_CACHE_DIR replaces
# ~/.cache/vigil. Go's own caches (~/.cache/go-build, ~/go/pkg/mod) are used
# as configured (GOCACHE, GOMODCACHE, GOFLAGS, GOPROXY are left alone).
#
# Cost of a cold build (empty Go module and build caches), measured on this
# project's 2-core machine: about 375 s of CPU (builder ~50 s, collector
# ~325 s) plus ~2 GB of module downloads. Wall clock: 4.2 min on a quiet
# machine (builder 52 s, collector 3 min 22 s), 7.5-9 min while other builds
# shared the cores (load average 6-10). Well within CI's 90 minutes next to
# the ~25 min of Rust build and tests. Warm (binary cached): ~0.05 s; a
# manifest change with warm Go caches: ~15 s.
#
# Needs: Go 1.26 or newer (the v0.161.0 modules' go.mod say so; the machine
# has 1.26.8) and the Go module proxy.
set -euo pipefail

# Bump when a change to this script must invalidate cached binaries.
OTELCOL_SCRIPT_VERSION=1
# The builder's release; keep it on the manifest's release line.
OCB_VERSION=v0.161.0

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFEST=$HERE/otelcol-builder.yaml
CACHE=${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}

now_ms() { date +%s%3N; }
T0=$(now_ms)
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%03ds' $((d / 1000)) $((d % 1000)); }
say() { printf 'otelcol.sh: %s\n' "$*" >&2; }
die() {
    printf 'otelcol.sh: ERROR: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '  hint: %s\n' "$line" >&2; done
    exit 1
}

[[ -f $MANIFEST ]] || die "$MANIFEST is missing"
KEY=$( { cat "$MANIFEST"; printf 'ocb %s\nscript %s\n' "$OCB_VERSION" "$OTELCOL_SCRIPT_VERSION"; } |
    sha256sum | cut -c1-12)
OUT_DIR=$CACHE/otelcol-$KEY
BIN=$OUT_DIR/otelcol-vigil

# ------------------------------------------------------------ cached? --
if [[ -x $BIN ]] && v=$("$BIN" --version 2>/dev/null); then
    say "cached: $v ($BIN)"
    printf '%s\n' "$BIN"
    exit 0
fi
[[ -e $BIN ]] && say "$BIN exists but does not run; rebuilding"

# ------------------------------------------------------------- go? --
command -v go >/dev/null 2>&1 ||
    die "go not found on PATH" \
        "building the collector needs Go 1.26 or newer and the Go module proxy" \
        "install Go, or set VIGIL_OTELCOL to an otelcol binary built from $MANIFEST"
GO_VERSION=$(go env GOVERSION 2>/dev/null || go version)
HINT_PROXY="needs the Go module proxy ($(go env GOPROXY 2>/dev/null)); $GO_VERSION found"
say "building otelcol-vigil (key $KEY) with $GO_VERSION; a cold build takes 4-9 min"

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/otelcol-$KEY.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ------------------------------------------------------ the builder --
OCB_DIR=$CACHE/ocb-$OCB_VERSION
OCB=$OCB_DIR/builder
if [[ -x $OCB ]] && "$OCB" version >/dev/null 2>&1; then
    say "builder: cached ($OCB)"
else
    T=$(now_ms)
    say "builder: go install go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
    mkdir -p "$WORK/ocb"
    GOBIN=$WORK/ocb go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION" >&2 ||
        die "go install of the collector builder $OCB_VERSION failed (output above)" \
            "$HINT_PROXY" \
            "or set VIGIL_OTELCOL to an otelcol binary built from $MANIFEST"
    mkdir -p "$OCB_DIR"
    mv -f "$WORK/ocb/builder" "$OCB.tmp.$$"
    mv -f "$OCB.tmp.$$" "$OCB"
    say "builder: built in $(secs_since "$T")"
fi

# ---------------------------------------------------- the collector --
# The manifest's dist.output_path is relative (./dist), so ocb generates the
# sources and the binary inside $WORK.
T=$(now_ms)
say "collector: ocb --config $MANIFEST (generate, go get, compile)"
(cd "$WORK" && "$OCB" --config "$MANIFEST") >&2 ||
    die "ocb failed to build the collector (output above)" \
        "$HINT_PROXY" \
        "a module missing from the proxy shows as 'not available' or '403': move every version in $MANIFEST to one release line that the proxy serves" \
        "or set VIGIL_OTELCOL to an otelcol binary built from $MANIFEST"
[[ -x $WORK/dist/otelcol-vigil ]] ||
    die "ocb reported success but $WORK/dist/otelcol-vigil is missing" \
        "check dist.name and dist.output_path in $MANIFEST"
say "collector: built in $(secs_since "$T")"

# Install atomically: a concurrent run sees either no binary or a whole one.
mkdir -p "$OUT_DIR"
mv -f "$WORK/dist/otelcol-vigil" "$BIN.tmp.$$"
mv -f "$BIN.tmp.$$" "$BIN"
v=$("$BIN" --version 2>&1) || die "the new binary does not run: $v"
say "done in $(secs_since "$T0"): $v"
printf '%s\n' "$BIN"
