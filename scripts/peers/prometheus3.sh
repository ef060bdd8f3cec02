#!/usr/bin/env bash
# scripts/peers/prometheus3.sh: build the Prometheus 3 server that Vigil's
# remote-write tests use as a real peer (the Debian package is 2.42, which
# has no remote-write 2.0 receiver and no native-histogram ingestion without
# a feature flag). Built from its Go module with `go install`, pinned and
# cached; a no-op when the binary is there.
#
#   scripts/peers/prometheus3.sh    progress on stderr; the binary's path is
#                                   the last (only) line on stdout
#
# What it builds: github.com/prometheus/prometheus/cmd/prometheus at
# PROMETHEUS_MODULE_VERSION (the Go module's v0.3XX.Y is Prometheus 3.XX.Y),
# with `-tags remove_all_sd`: no service-discovery plugins (AWS, Azure,
# Kubernetes, ...), which the tests never use, so the build is smaller and
# faster. No web UI assets either (the `builtinassets` tag is off): the HTTP
# API works, the UI pages do not. `--version` reports the release through
# the same -ldflags that Prometheus' own Makefile sets.
#
# The binary goes to ~/.cache/vigil/prometheus3-<key>/prometheus, where <key>
# is the first 12 hex digits of the sha256 of the module version, the build
# tags and this script's version (PROMETHEUS3_SCRIPT_VERSION): change any of
# them and the next run builds anew beside the old binary. VIGIL_CACHE_DIR
# replaces ~/.cache/vigil. Go's own caches (~/.cache/go-build, ~/go/pkg/mod)
# are used as configured (GOCACHE, GOMODCACHE, GOFLAGS, GOPROXY are left
# alone).
#
# Cost of a cold build (empty Go module and build caches), measured on this
# project's 2-core machine: about 330 s of CPU (280 s user, 48 s system) and
# ~1 GB of module downloads (GOMODCACHE +1.0 GB, GOCACHE +0.85 GB). Wall
# clock: 4 min 16 s (256 s) with a `cargo check` sharing the cores (load
# average 3-4); expect 3.5-8 min depending on load. Warm Go caches (e.g.
# after a PROMETHEUS3_SCRIPT_VERSION bump): 8.4 s. Cached binary: ~0.09 s.
# The otelcol build (otelcol.sh) shares many modules (gRPC, OpenTelemetry,
# protobuf), so after it this build is somewhat faster.
#
# Needs: Go 1.26.7 or newer (v0.316.0's go.mod says `go 1.26.7`; the machine
# has 1.26.8) and the Go module proxy.
set -euo pipefail

# Bump when a change to this script must invalidate cached binaries.
PROMETHEUS3_SCRIPT_VERSION=1
# Prometheus 3.16.0. The newest release the Go proxy served that builds with
# the machine's Go 1.26 (no GOTOOLCHAIN needed).
PROMETHEUS_MODULE_VERSION=v0.316.0
PROMETHEUS_VERSION=3.16.0
MODULE=github.com/prometheus/prometheus
TAGS=remove_all_sd

CACHE=${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}

now_ms() { date +%s%3N; }
T0=$(now_ms)
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%03ds' $((d / 1000)) $((d % 1000)); }
say() { printf 'prometheus3.sh: %s\n' "$*" >&2; }
die() {
    printf 'prometheus3.sh: ERROR: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '  hint: %s\n' "$line" >&2; done
    exit 1
}

KEY=$(printf 'module %s@%s\ntags %s\nscript %s\n' "$MODULE" "$PROMETHEUS_MODULE_VERSION" \
    "$TAGS" "$PROMETHEUS3_SCRIPT_VERSION" | sha256sum | cut -c1-12)
OUT_DIR=$CACHE/prometheus3-$KEY
BIN=$OUT_DIR/prometheus

# The binary runs when `--version` works and names the pinned release.
runs() { "$1" --version 2>/dev/null | head -n1 | grep -qF "version $PROMETHEUS_VERSION"; }

# ------------------------------------------------------------ cached? --
if [[ -x $BIN ]] && runs "$BIN"; then
    say "cached: $("$BIN" --version 2>&1 | head -n1) ($BIN)"
    printf '%s\n' "$BIN"
    exit 0
fi
[[ -e $BIN ]] && say "$BIN exists but does not run; rebuilding"

# ------------------------------------------------------------- go? --
command -v go >/dev/null 2>&1 ||
    die "go not found on PATH" \
        "building Prometheus 3 needs Go 1.26.7 or newer and the Go module proxy" \
        "install Go, or set VIGIL_PROMETHEUS3 to a Prometheus $PROMETHEUS_VERSION binary"
GO_VERSION=$(go env GOVERSION 2>/dev/null || go version)
say "building Prometheus $PROMETHEUS_VERSION ($MODULE@$PROMETHEUS_MODULE_VERSION, key $KEY)"
say "with $GO_VERSION; a cold build takes 3.5-8 min"

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/prometheus3-$KEY.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# `go install pkg@version` builds in module mode from the proxy's go.mod and
# go.sum (checked against the checksum database), outside any module of
# ours. It refuses modules with replace directives; this one has none.
V=github.com/prometheus/common/version
LDFLAGS="-s -w -X $V.Version=$PROMETHEUS_VERSION -X $V.Revision=$PROMETHEUS_MODULE_VERSION"
LDFLAGS+=" -X $V.Branch=$PROMETHEUS_MODULE_VERSION -X $V.BuildUser=vigil-scripts-peers"
LDFLAGS+=" -X $V.BuildDate=go-module-proxy"
say "go install -trimpath -tags $TAGS $MODULE/cmd/prometheus@$PROMETHEUS_MODULE_VERSION"
GOBIN=$WORK go install -trimpath -tags "$TAGS" -ldflags "$LDFLAGS" \
    "$MODULE/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" >&2 ||
    die "go install of Prometheus $PROMETHEUS_MODULE_VERSION failed (output above)" \
        "needs the Go module proxy ($(go env GOPROXY 2>/dev/null)); $GO_VERSION found" \
        "'requires go >= 1.27': pick an older PROMETHEUS_MODULE_VERSION in $0, or export GOTOOLCHAIN=go1.27.3" \
        "or set VIGIL_PROMETHEUS3 to a Prometheus $PROMETHEUS_VERSION binary"
[[ -x $WORK/prometheus ]] ||
    die "go install reported success but $WORK/prometheus is missing"

# Install atomically: a concurrent run sees either no binary or a whole one.
mkdir -p "$OUT_DIR"
mv -f "$WORK/prometheus" "$BIN.tmp.$$"
mv -f "$BIN.tmp.$$" "$BIN"
runs "$BIN" ||
    die "the new binary does not report version $PROMETHEUS_VERSION: $("$BIN" --version 2>&1 | head -n1)"
say "built in $(secs_since "$T0"): $("$BIN" --version 2>&1 | head -n1)"
printf '%s\n' "$BIN"
