#!/usr/bin/env bash
# Outbound webhook benchmark: deliveries per second from the daemon's real sender (lease →
# sign → POST over the shared HTTP client → delivery record + job done in one transaction) to a
# local Standard Webhooks receiver (scripts/webhook-receiver.py, which verifies every signature).
# COUNT `webhook.deliver` jobs are written into a stopped daemon's database, the daemon is
# started, and the rate is measured at the receiver from the first to the last valid delivery.
# Numbers only; nothing here asserts. bench/actions.sh calls this script.
#
#   bench/actions-webhooks.sh       # COUNT=2000 CONCURRENCY=16 BODY_BYTES=1500 to tune;
#                                   # BENCH_BIN=path/to/astralisd to skip the release build
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages python3

COUNT="${COUNT:-2000}"
CONCURRENCY="${CONCURRENCY:-16}"
BODY_BYTES="${BODY_BYTES:-1500}"
SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

if [[ -n "${BENCH_BIN:-}" ]]; then
    bin="$BENCH_BIN"
else
    ensure_packages "${BUILD_PACKAGES[@]}"
    ensure_swift
    scratch="${SCRATCH_PATH:-$root/.build-release}"
    swift build -c release --product astralisd --scratch-path "$scratch" >/dev/null
    swift build -c release --product astralisd-extract --scratch-path "$scratch" >/dev/null
    bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/astralisd"
fi

work="$(mktemp -d /tmp/astralisd-webhook-bench.XXXXXX)"
recv_pid=""
daemon_pid=""
cleanup() {
    [[ -n "$daemon_pid" ]] && kill "$daemon_pid" 2>/dev/null || true
    [[ -n "$recv_pid" ]] && kill "$recv_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

python3 scripts/webhook-receiver.py --secret "$SECRET" --port-file "$work/port" --no-bodies &
recv_pid=$!
for _ in $(seq 300); do [[ -f "$work/port" ]] && break; sleep 0.1; done
port="$(cat "$work/port")"

read -r web_port admin_port < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
cat > "$work/config.json" <<JSON
{
  "state_dir": "$work/state",
  "listen": {"webhooks": "127.0.0.1:$web_port", "admin": "127.0.0.1:$admin_port"},
  "workers": {"concurrency": $CONCURRENCY, "poll_interval_ms": 50, "backoff_base_seconds": 0.1},
  "log": {"level": "warning"},
  "organizations": [{
    "id": "bench", "name": "Bench",
    "pipelines": [{"id": "sales", "name": "Sales", "stages": [{"id": "new", "name": "New"}]}],
    "default_route": {"pipeline": "sales", "title": "{{payload.name}}"},
    "sources": [{"id": "form", "type": "webhook", "auth": {"type": "none"}}],
    "outbound_webhooks": [{"id": "sink", "url": "http://127.0.0.1:$port/ok", "secret": {"value": "$SECRET"},
                           "allow_private": true, "allow_insecure": true}]
  }]
}
JSON
"$bin" check --config "$work/config.json" >/dev/null

wait_ready() {
    for _ in $(seq 600); do
        curl -fsS "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "astralisd did not become ready; log:" >&2; cat "$work/daemon.log" >&2; exit 1
}

# First start creates and migrates the database; then the jobs go in while it is stopped.
"$bin" run --config "$work/config.json" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
wait_ready
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""

python3 - "$work/state/astralisd.sqlite" "$COUNT" "$BODY_BYTES" <<'PY'
import json, sqlite3, sys, time
db, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = sqlite3.connect(db)
now = time.time()
filler = "x" * max(0, size - 200)
rows = []
for i in range(count):
    intake = f"in_bench_{i:06d}"
    body = json.dumps({"type": "intake.forwarded", "timestamp": "2026-12-02T00:00:00Z",
                       "data": {"organization": "bench", "webhook": "sink", "intake": {"id": intake}, "filler": filler}},
                      sort_keys=True, separators=(",", ":"))
    payload = json.dumps({"organization": "bench", "webhook": "sink", "intake": intake,
                          "message_id": f"msg_{intake}_sink", "body": body}, sort_keys=True)
    rows.append((f"job_whk_{intake}_sink", "webhook.deliver", payload, "ready", 0, 8, now, now, now))
conn.executemany("INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)", rows)
conn.commit()
PY

"$bin" run --config "$work/config.json" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
deadline=$((SECONDS + 600))
while :; do
    valid=$(curl -fsS "http://127.0.0.1:$port/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["valid"])')
    [[ "$valid" -ge "$COUNT" ]] && break
    if (( SECONDS > deadline )); then echo "only $valid of $COUNT delivered in 600 s" >&2; break; fi
    sleep 0.2
done
# Let the last completions commit before reading the store's view.
sleep 1
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""

curl -fsS "http://127.0.0.1:$port/_log" > "$work/log.json"
python3 - "$work/log.json" "$work/state/astralisd.sqlite" "$COUNT" "$CONCURRENCY" "$BODY_BYTES" <<'PY'
import json, sqlite3, sys
log = json.load(open(sys.argv[1]))
count, concurrency, size = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
valid = [e for e in log if e["valid"]]
ids = {e["id"] for e in valid}
times = sorted(e["received_at"] for e in valid)
span = times[-1] - times[0] if len(times) > 1 else 0
rate = (len(times) - 1) / span if span > 0 else 0
conn = sqlite3.connect(sys.argv[2])
delivered = conn.execute("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'delivered'").fetchone()[0]
done = conn.execute("SELECT COUNT(*) FROM jobs WHERE kind = 'webhook.deliver' AND state = 'done'").fetchone()[0]
print()
print(f"outbound webhooks: {count} signed deliveries of ~{size} B, workers.concurrency={concurrency}, receiver: Python ThreadingHTTPServer")
print(f"requests received {len(log)}, valid signatures {len(valid)}, distinct webhook-ids {len(ids)}")
print(f"store: deliveries recorded delivered {delivered}, jobs done {done}")
print(f"deliveries_per_second={rate:.0f} seconds={span:.2f}")
PY
