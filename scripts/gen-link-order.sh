#!/usr/bin/env bash
# Regenerates the release build's code layout files (scripts/lib.sh RELEASE_BUILD,
# docs/architecture.md#memory), then relinks the binary with them:
#   scripts/link-order.txt  lld --symbol-ordering-file: the functions the daemon runs from exec
#                           to READY=1 and while idle, then those a few webhooks, /healthz,
#                           /readyz, /metrics and shutdown add;
#   scripts/link-order.ld   a linker-script fragment (INSERT BEFORE .text) gathering the executed
#                           code sections that have no symbol of their own to order by: Swift's
#                           unnamed private functions (.text..L__unnamed_N) and helpers whose name
#                           many objects define (.text.$sSqwxx ...), by object file.
# lld then places the code start-up runs in a few MB instead of touching nearly every 64 KiB
# fault-around window of a 31 MB .text. Names and objects that no longer exist are ignored by the
# linker (--no-warn-symbol-ordering; an unmatched script pattern is no error), so stale files never
# break the build; they only pack less. Regenerate after larger changes to start-up or to the
# dependencies (a few minutes: one relink with a link map, a run under callgrind, one relink).
#
# How: relinks BIN (a RELEASE_BUILD binary in its scratch directory) with a link map, runs it
# under valgrind's callgrind on the webhook benchmark's config, dumps after READY=1 and one idle
# second, sends the requests, stops the daemon (second dump), and maps the executed instruction
# addresses to symbols (nm) and to input sections (the link map).
#
#   scripts/gen-link-order.sh [BIN]    # BIN: default .build-release-static's astralisd
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages valgrind python3 binutils
BIN="${1:-$root/.build-release-static/x86_64-unknown-linux-gnu/release/astralisd}"
OUT_SYMBOLS="$root/scripts/link-order.txt"
OUT_SCRIPT="$root/scripts/link-order.ld"  # both are what RELEASE_BUILD links with
WEBHOOK_PORT="${WEBHOOK_PORT:-18080}"
ADMIN_PORT="${ADMIN_PORT:-19090}"
[[ -x "$BIN" ]] || { echo "no executable $BIN (build with scripts/lib.sh RELEASE_BUILD first)" >&2; exit 1; }
# -P: BIN may be given through the scratch directory's `release` symlink.
scratch="$(cd -P "$(dirname "$BIN")/../.." && pwd)"

work="$(mktemp -d /tmp/astralisd-order.XXXXXX)"
pid=""
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$work"' EXIT
echo "==> relinking $BIN with a link map" >&2
# Traced without the previous linker script: under valgrind, code gathered into .text.startup was
# not attributed to the executable in the first dump, so the start-up sections went missing.
printf '/* emptied by scripts/gen-link-order.sh while tracing */\n' > "$OUT_SCRIPT"
rm -f "$BIN"
swift build "${RELEASE_BUILD[@]}" --product astralisd --scratch-path "$scratch" -Xlinker "-Map=$work/link.map" >/dev/null
# valgrind 3.19 cannot read the Swift toolchain's DWARF 5; the symbol table is all it needs.
objcopy --strip-debug "$BIN" "$work/astralisd"
nm --defined-only "$work/astralisd" | awk '$2 ~ /^[tTwW]$/ {print $1, $3}' > "$work/functions"
export ASTRALISD_EXTRACT_BIN="${ASTRALISD_EXTRACT_BIN:-$(dirname "$BIN")/astralisd-extract}"
secret="whsec_$(head -c 32 /dev/urandom | base64)"
export BENCH_SECRET="$secret"
write_webhook_bench_config "$work/config.json" "$work/state" "$WEBHOOK_PORT" "$ADMIN_PORT"

echo "==> tracing start-up, idle and requests under callgrind" >&2
read -r ready_ms pid < <(READY_TIMEOUT=300 python3 bench/ready.py "$work/daemon.log" \
    valgrind --tool=callgrind --demangle=no --dump-instr=yes --callgrind-out-file="$work/cg.out" \
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

python3 - "$work" "$OUT_SYMBOLS" "$OUT_SCRIPT" <<'PY'
import bisect, collections, glob, re, sys
work, out_symbols, out_script = sys.argv[1:4]

functions = []  # (address, name) of every defined function symbol
for line in open(f"{work}/functions"):
    address, name = line.split(maxsplit=1)
    functions.append((int(address, 16), name.strip()))
# A name defined more than once (a local helper such as "$sSqwxx" or "objectdestroyTm" that many
# objects carry) would make lld move every copy, and with a copy inside one of the toolchain's
# runtime objects that are not split into function sections (_RegexParser.o: 475 kB in one .text)
# that whole object; such code is placed by the linker script instead, by object.
defined = collections.Counter(name for _, name in functions)

# Input code sections from the lld link map: (start, size, object, section).
line_re = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ {9}([/<].*):\(([^()]*)\)$")
sections = []
for line in open(f"{work}/link.map", errors="replace"):
    m = line_re.match(line)
    if m and m.group(4).startswith(".text") and int(m.group(2), 16) > 0:
        sections.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4)))
sections.sort()
starts = [s[0] for s in sections]

obs, fns = {}, {}  # callgrind's compressed names: defined once, used by the later dumps too

def executed(path):
    """(function names, instruction addresses) with cost in the astralisd object of one dump."""
    names, addresses = [], set()
    current, last = "", 0
    for line in open(path, errors="replace"):
        m = re.match(r"(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            table = obs if m.group(2) == "ob" else fns
            if m.group(4) is not None:
                table[m.group(3)] = m.group(4)
            if not m.group(1):
                if m.group(2) == "ob":
                    current = obs.get(m.group(3), "")
                elif current.endswith("/astralisd"):
                    names.append(re.sub(r"'\d+$", "", fns[m.group(3)]))  # recursion-depth suffix
            continue
        token = line.split(" ", 1)[0]
        if token.startswith("0x"):
            last = int(token, 16)
        elif token[:1] in "+-" and token[1:].isdigit():
            last += int(token)
        elif token != "*":
            continue
        if current.endswith("/astralisd"):
            addresses.add(last)
    return names, addresses

def pattern(obj, section):
    """A linker-script input section description: */Target.build/file.o or */libX.a:member."""
    m = re.search(r"([^/]+\.build/.*)$", obj) or re.search(r"(lib[^/]*\.a)\((.*)\)$", obj)
    if not m:
        return None
    path = m.group(1) if m.lastindex == 1 else f"{m.group(1)}:{m.group(2)}"
    return f"*/{path.replace(' ', '?')}({section})"

dumps = sorted(glob.glob(f"{work}/cg.out.*"), key=lambda p: int(p.rsplit(".", 1)[1])) + [f"{work}/cg.out"]
seen, seen_sections, symbol_lines, script_lines = set(), set(), [], []
for phase, path in enumerate(dumps, 1):
    names, addresses = executed(path)
    label = "start-up and idle" if phase == 1 else "requests and shutdown"
    fresh = [n for n in dict.fromkeys(names) if defined[n] == 1 and n not in seen]
    seen.update(fresh)
    symbol_lines.append(f"# phase {phase}: {len(fresh)} functions ({label})")
    symbol_lines += fresh
    # Executed code in its own section that no ordered symbol places.
    entries = []
    for address in sorted(addresses):
        i = bisect.bisect_right(starts, address) - 1
        if i < 0 or address >= starts[i] + sections[i][1]:
            continue
        start, size, obj, section = sections[i]
        if section == ".text" or (start, obj) in seen_sections:
            continue  # a whole object's code (ordered by its symbols), or already listed
        seen_sections.add((start, obj))
        if section.startswith(".text.") and section[6:] in seen:
            continue
        entry = pattern(obj, section)
        if entry:
            entries.append(entry)
    script_lines.append(f"    /* phase {phase}: {len(entries)} sections ({label}) */")
    script_lines += [f"    {e}" for e in entries]

with open(out_symbols, "w") as f:
    f.write("# Linker symbol-ordering file for astralisd (lld --symbol-ordering-file), generated by\n"
            "# scripts/gen-link-order.sh: the functions start-up and idle run, then those requests add.\n")
    f.write("\n".join(symbol_lines) + "\n")
with open(out_script, "w") as f:
    f.write("/* Generated by scripts/gen-link-order.sh: executed code sections without a symbol of their\n"
            "   own (unnamed private functions, helpers many objects define), gathered before .text (as .text.packed). */\n")
    f.write("SECTIONS {\n  .text.packed : {\n" + "\n".join(script_lines) + "\n  }\n} INSERT BEFORE .text;\n")
print(f"{out_symbols}: {len(seen)} functions; {out_script}: {len(seen_sections)} sections looked at")
PY

echo "==> relinking $BIN with the new files" >&2
rm -f "$BIN"
swift build "${RELEASE_BUILD[@]}" --product astralisd --scratch-path "$scratch" >/dev/null
