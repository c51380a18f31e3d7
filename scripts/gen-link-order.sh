#!/usr/bin/env bash
# Regenerates scripts/link-order.txt, the linker symbol-ordering file of the release build
# (scripts/lib.sh RELEASE_BUILD, docs/architecture.md#memory).
#
# The file lists the functions the daemon runs from exec to READY=1 and while idle, then those a
# few webhooks, /healthz, /readyz and /metrics add. lld places the code sections of these symbols
# first in .text, so the code start-up runs shares a few MB of pages instead of touching nearly
# every 64 KiB fault-around window of a 33 MB .text. Names that no longer exist are ignored by the
# linker (--no-warn-symbol-ordering), so a stale file never breaks the build; it only packs less.
# Regenerate after larger changes to start-up or to the dependencies (takes about a minute).
#
# How: runs a release binary (built with RELEASE_BUILD, so symbol names match) under valgrind's
# callgrind on the webhook benchmark's config, dumps the executed functions after READY=1 and one
# idle second, sends the requests, stops the daemon (second dump), and writes the executed
# function names of the astralisd executable: start-up/idle first, then request-only ones.
# Functions without a symbol (Swift emits some witness thunks as unnamed private functions) and
# names defined more than once cannot be ordered by symbol and are left out.
#
#   scripts/gen-link-order.sh [BIN] [OUT]    # BIN: default .build-release-static's astralisd
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages valgrind python3 binutils curl
BIN="${1:-$root/.build-release-static/x86_64-unknown-linux-gnu/release/astralisd}"
OUT="${2:-$root/scripts/link-order.txt}"
WEBHOOK_PORT="${WEBHOOK_PORT:-18080}"
ADMIN_PORT="${ADMIN_PORT:-19090}"
[[ -x "$BIN" ]] || { echo "no executable $BIN (build with scripts/lib.sh RELEASE_BUILD first)" >&2; exit 1; }

work="$(mktemp -d /tmp/astralisd-order.XXXXXX)"
pid=""
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# valgrind 3.19 cannot read the Swift toolchain's DWARF 5; the symbol table is all it needs.
objcopy --strip-debug "$BIN" "$work/astralisd"
export ASTRALISD_EXTRACT_BIN="${ASTRALISD_EXTRACT_BIN:-$(dirname "$BIN")/astralisd-extract}"
secret="whsec_$(head -c 32 /dev/urandom | base64)"
export BENCH_SECRET="$secret"
write_webhook_bench_config "$work/config.json" "$work/state" "$WEBHOOK_PORT" "$ADMIN_PORT"

read -r ready_ms pid < <(READY_TIMEOUT=300 python3 bench/ready.py "$work/daemon.log" \
    valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file="$work/cg.out" \
    "$work/astralisd" run --config "$work/config.json" --state-dir "$work/state")
echo "READY=1 under callgrind after $ready_ms ms" >&2
sleep 1
callgrind_control --dump=ready "$pid" >/dev/null

python3 - "$secret" "$WEBHOOK_PORT" "$ADMIN_PORT" <<'PY'
import base64, hashlib, hmac, json, sys, time, urllib.request
secret, hook_port, admin_port = sys.argv[1], sys.argv[2], sys.argv[3]
key = base64.b64decode(secret.removeprefix("whsec_"))
for i in range(20):
    body = json.dumps({"name": f"Sender {i}", "email": "order@example.com", "subject": "Link order", "message": "x" * 900})
    ts, msg_id = str(int(time.time())), f"msg_order_{i}"
    mac = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{hook_port}/hooks/bench", data=body.encode(), method="POST",
                                 headers={"content-type": "application/json", "webhook-id": msg_id,
                                          "webhook-timestamp": ts, "webhook-signature": f"v1,{mac}"})
    urllib.request.urlopen(req, timeout=60).read()
for path in ("healthz", "readyz", "metrics"):
    urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/{path}", timeout=60).read()
PY
sleep 3  # the jobs that route the intakes
kill "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
pid=""

nm --defined-only "$work/astralisd" | awk '$2 ~ /^[tTwW]$/ {print $3}' > "$work/functions"
python3 - "$work" "$OUT" <<'PY'
import collections, glob, re, sys
work, out = sys.argv[1], sys.argv[2]
# A name defined more than once (a local helper such as "$sSqwxx" or "objectdestroyTm" that many
# objects carry) would make lld move every copy, and with a copy inside one of the toolchain's
# runtime objects that are not split into function sections (_RegexParser.o: 475 KB in one .text)
# that whole object. Callgrind does not say which copy ran, so such names are left out.
defined = collections.Counter(line.strip() for line in open(f"{work}/functions"))

def executed(path):
    """Names of the functions with cost in the astralisd object of one callgrind dump."""
    obs, fns, names, cur = {}, {}, [], None
    for line in open(path, errors="replace"):
        m = re.match(r"(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        table = obs if m.group(2) == "ob" else fns
        if m.group(4) is not None:
            table[m.group(3)] = m.group(4)
        if m.group(1):
            continue
        if m.group(2) == "ob":
            cur = obs.get(m.group(3), "")
        elif cur.endswith("/astralisd"):
            name = re.sub(r"'\d+$", "", fns[m.group(3)])  # callgrind's recursion-depth suffix
            if defined[name] == 1:  # "0x..." (no symbol) and ambiguous names are skipped
                names.append(name)
    return names

dumps = sorted(glob.glob(f"{work}/cg.out.*"), key=lambda p: int(p.rsplit(".", 1)[1]))
final = f"{work}/cg.out"
phases = [executed(p) for p in dumps] + [executed(final)]
seen, lines = set(), []
for i, names in enumerate(phases):
    fresh = [n for n in dict.fromkeys(names) if n not in seen]
    seen.update(fresh)
    lines.append(f"# phase {i + 1}: {len(fresh)} functions ({'start-up and idle' if i == 0 else 'requests and shutdown'})")
    lines += fresh
with open(out, "w") as f:
    f.write("# Linker symbol-ordering file for astralisd (lld --symbol-ordering-file), generated by\n"
            "# scripts/gen-link-order.sh: the functions start-up and idle run, then those requests add.\n")
    f.write("\n".join(lines) + "\n")
print(f"{out}: {len(seen)} functions ({', '.join(str(len(set(p))) for p in phases)} per dump)")
PY
