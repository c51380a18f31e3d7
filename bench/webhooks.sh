#!/usr/bin/env bash
# Webhook intake benchmark: durable signed webhooks per second and latency, next to GET /healthz
# on the same server (the framework's ceiling), plus RSS idle and under load and the time from
# exec to READY=1. Numbers only; nothing here asserts. Loopback only.
#
#   bench/webhooks.sh            # DURATION=10 CONNECTIONS=64 THREADS=2 to tune
#   BIN=path/to/astralisd bench/webhooks.sh   # measures a given binary, no build
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages "${BUILD_PACKAGES[@]}" wrk python3 sqlite3 bc
ensure_swift

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
WEBHOOK_PORT="${WEBHOOK_PORT:-18080}"
ADMIN_PORT="${ADMIN_PORT:-19090}"

if [[ -n "${BIN:-}" ]]; then
    bin="$BIN"  # a given binary (e.g. a scripts/lib.sh RELEASE_BUILD one), no build
else
    scratch="${SCRATCH_PATH:-$root/.build}"
    swift build -c release --product astralisd --scratch-path "$scratch" >/dev/null
    swift build -c release --product astralisd-extract --scratch-path "$scratch" >/dev/null
    bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/astralisd"
fi
work="$(mktemp -d /tmp/astralisd-bench.XXXXXX)"
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT

secret="whsec_$(head -c 32 /dev/urandom | base64)"
write_webhook_bench_config "$work/config.json" "$work/state" "$WEBHOOK_PORT" "$ADMIN_PORT"
export BENCH_SECRET="$secret"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

read -r ready_ms pid < <(python3 bench/ready.py "$work/daemon.log" "$bin" run --config "$work/config.json")
sleep 1
idle_rss=$(rss_kb "$pid")

# Enough distinct signed requests for the run at well above the target rate.
count=$((DURATION * 40000))
python3 bench/make_requests.py "$secret" "$count" "$work/signatures.txt" "$work/body.json"
export BENCH_SIGNATURES="$work/signatures.txt" BENCH_BODY="$work/body.json" BENCH_THREADS="$THREADS"

peak_rss=0
sample_rss() { while kill -0 "$pid" 2>/dev/null; do r=$(rss_kb "$pid" || echo 0); [[ $r -gt $peak_rss ]] && peak_rss=$r; echo "$peak_rss" > "$work/peak"; sleep 0.2; done; }
sample_rss & sampler=$!

before=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^astralisd_webhooks_accepted_total/ {s+=$2} END {print s+0}')
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/signed.lua "http://127.0.0.1:$WEBHOOK_PORT/hooks/bench" > "$work/wrk-hooks.txt"
after=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^astralisd_webhooks_accepted_total/ {s+=$2} END {print s+0}')
kill "$sampler" 2>/dev/null || true
load_rss=$(cat "$work/peak")

# Processing: how fast the worker turns the accepted backlog into items once the burst is over.
intakes_with() { curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk -v s="$1" '$1 == "astralisd_intakes{status=\""s"\"}" {printf "%d", $2}'; }
backlog_start=$(date +%s.%N)
backlog=$(( $(intakes_with received) + $(intakes_with processing) ))
deadline=$(( $(date +%s) + 300 ))
while (( $(intakes_with received) + $(intakes_with processing) > 0 )) && (( $(date +%s) < deadline )); do sleep 0.5; done
left=$(( $(intakes_with received) + $(intakes_with processing) ))
drain_rate=$(awk -v n="$((backlog - left))" -v t="$(echo "$(date +%s.%N) - $backlog_start" | bc)" 'BEGIN {printf "%.0f", n / t}')

wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$ADMIN_PORT/healthz" > "$work/wrk-health.txt"

rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$1"; }
hooks_rate=$(rate "$work/wrk-hooks.txt"); health_rate=$(rate "$work/wrk-health.txt")
accepted=$((after - before))
durable_rate=$(awk -v a="$accepted" -v d="$DURATION" 'BEGIN {printf "%.0f", a / d}')
intakes=$(sqlite3 "$work/state/astralisd.sqlite" "select count(*) from intakes" 2>/dev/null || echo "?")

echo
echo "astralisd webhook intake benchmark ($(nproc) cores, ${DURATION}s, $CONNECTIONS connections, $THREADS wrk threads)"
printf '%-34s %18s %18s\n' "" "POST /hooks (signed)" "GET /healthz"
printf '%-34s %18s %18s\n' "requests/s (wrk)" "$hooks_rate" "$health_rate"
printf '%-34s %18s %18s\n' "accepted durable webhooks/s (202)" "$durable_rate" "-"
printf '%-34s %18s %18s\n' "latency p50" "$(pct "$work/wrk-hooks.txt" 50%)" "$(pct "$work/wrk-health.txt" 50%)"
printf '%-34s %18s %18s\n' "latency p99" "$(pct "$work/wrk-hooks.txt" 99%)" "$(pct "$work/wrk-health.txt" 99%)"
printf '%-34s %18s\n' "durable rate / healthz rate" "$(awk -v a="$durable_rate" -v b="$health_rate" 'BEGIN {printf "%.1f%%", 100 * a / b}')"
printf '%-34s %18s\n' "wrk errors / non-2xx" "$(grep '^BENCH' "$work/wrk-hooks.txt" | sed 's/BENCH //')"
printf '%-34s %18s\n' "intake rows in the store" "$intakes"
printf '%-34s %18s\n' "backlog after the burst" "$backlog intakes"
printf '%-34s %18s\n' "processed after the burst" "$drain_rate intakes/s ($left left after 300 s cap)"
printf '%-34s %18s\n' "RSS idle" "$((idle_rss / 1024)) MB"
printf '%-34s %18s\n' "RSS peak under load" "$((load_rss / 1024)) MB"
printf '%-34s %18s\n' "exec to READY=1" "${ready_ms} ms"
