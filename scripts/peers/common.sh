# scripts/peers/common.sh: what the Go peers' build scripts share (timing, messages, errors
# with hints). Source it after setting PEER_SCRIPT to the script's name.
now_ms() { date +%s%3N; }
T0=$(now_ms)
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%03ds' $((d / 1000)) $((d % 1000)); }
say() { printf '%s: %s\n' "$PEER_SCRIPT" "$*" >&2; }
die() {
    printf '%s: ERROR: %s\n' "$PEER_SCRIPT" "$1" >&2
    shift
    local line
    for line in "$@"; do printf '  hint: %s\n' "$line" >&2; done
    exit 1
}
