#!/usr/bin/env bash
# Idle footprint and start-up: starts the release daemon RUNS times on the webhook benchmark's
# config (one signed webhook source, SQLite state in a temp dir), waits for READY=1, idles 1 s, and
# records exec-to-READY plus VmRSS / RssAnon / RssFile; prints each run, then best and median.
# With MAPPINGS=1 the last run's per-mapping breakdown (bench/rss_by_mapping.sh) follows.
# CONFIG=astralisd.example.json runs that file instead (state in a temp dir, listeners moved to
# WEBHOOK_PORT / ADMIN_PORT through ASTRALISD_LISTEN__* overrides).
#
#   bench/idle.sh                  # builds as installed (scripts/lib.sh RELEASE_BUILD) into
#                                  # $SCRATCH_PATH (default .build-release-static)
#   BIN=path/to/astralisd RUNS=5 bench/idle.sh   # measures a given binary, no build
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
RUNS="${RUNS:-3}"
WEBHOOK_PORT="${WEBHOOK_PORT:-18080}"
ADMIN_PORT="${ADMIN_PORT:-19090}"
source scripts/lib.sh
if [[ -z "${BIN:-}" ]]; then
    ensure_packages "${BUILD_PACKAGES[@]}" python3
    ensure_swift
    scratch="${SCRATCH_PATH:-$root/.build-release-static}"
    swift build "${RELEASE_BUILD[@]}" --product astralisd --scratch-path "$scratch" >/dev/null
    swift build "${RELEASE_BUILD[@]}" --product astralisd-extract --scratch-path "$scratch" >/dev/null
    BIN="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/astralisd"
fi

work="$(mktemp -d /tmp/astralisd-idle.XXXXXX)"
pid=""
stop() { [[ -n "$pid" ]] && { kill "$pid" 2>/dev/null || true; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done; }; pid=""; }
trap 'stop; rm -rf "$work"' EXIT
write_webhook_bench_config "$work/config.json" "$work/state" "$WEBHOOK_PORT" "$ADMIN_PORT"
export BENCH_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
config="$work/config.json"
if [[ -n "${CONFIG:-}" ]]; then
    config="$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")"
    export ASTRALISD_LISTEN__WEBHOOKS="127.0.0.1:$WEBHOOK_PORT" ASTRALISD_LISTEN__ADMIN="127.0.0.1:$ADMIN_PORT"
fi

kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status"; }
printf '%-5s %10s %10s %10s %10s\n' run ready_ms VmRSS_kB RssAnon_kB RssFile_kB
: > "$work/results"
for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$work/state"
    read -r ready_ms pid < <(python3 bench/ready.py "$work/daemon.log" "$BIN" run --config "$config" --state-dir "$work/state")
    sleep 1
    line="$ready_ms $(kb VmRSS "$pid") $(kb RssAnon "$pid") $(kb RssFile "$pid")"
    echo "$line" >> "$work/results"
    printf '%-5s %10s %10s %10s %10s\n' "$i" $line
    if [[ $i -eq $RUNS && "${MAPPINGS:-0}" == 1 ]]; then echo; bench/rss_by_mapping.sh "$pid" "${TOP:-30}"; echo; fi
    stop
done
for col in 1 2 3 4; do
    sort -g -k"$col","$col" "$work/results" | awk -v c="$col" '{v[NR] = $c} END {printf "%s %s\n", v[1], v[int((NR + 1) / 2)]}'
done | paste -sd' ' | awk '{printf "%-5s %10s %10s %10s %10s\n%-5s %10s %10s %10s %10s\n", "best", $1, $3, $5, $7, "median", $2, $4, $6, $8}'
