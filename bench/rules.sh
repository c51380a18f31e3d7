#!/usr/bin/env bash
# Rules benchmark: decisions per second on one core for generated rules files of 10, 100 and
# 1,000 rules (the example's kinds of conditions, mostly not matching, so every rule is evaluated)
# over four realistic intakes (an invoice email with a PDF and extracted fields, a web form, a
# newsletter, a support email): first RulesRouter.decide with the full structured trace a stored
# decision carries (measure=decide...), then evaluation with the compact trace only
# (measure=evaluate+compact_trace, for comparison); then the wall time of `astralisd rules test`
# for one message with rules.example.json, process start-up included. Numbers only; nothing asserts.
#
#   bench/rules.sh              # SECONDS_EACH=3 COUNTS="10 100 1000" to tune
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages "${BUILD_PACKAGES[@]}" util-linux
ensure_swift

SECONDS_EACH="${SECONDS_EACH:-3}"
COUNTS="${COUNTS:-10 100 1000}"
scratch="${SCRATCH_PATH:-$root/.build}"
swift build -c release --product astralisd --scratch-path "$scratch" >/dev/null
swift build -c release --product astralisd-extract --scratch-path "$scratch" >/dev/null
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/astralisd"
work="$(mktemp -d /tmp/astralisd-rules-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "==> rule evaluation on one core (taskset -c 0), ${SECONDS_EACH}s each"
for count in $COUNTS; do
    taskset -c 0 "$bin" rules bench --config astralisd.example.json --count "$count" --seconds "$SECONDS_EACH"
done

echo "==> astralisd rules test, one message, start-up included (best of 5)"
cat > "$work/invoice.json" <<'JSON'
{"name": "Vendor Billing", "email": "billing@vendor.example", "subject": "Invoice INV-2041", "message": "Please find our invoice attached."}
JSON
best=""
for _ in 1 2 3 4 5; do
    start=$(date +%s%N)
    "$bin" rules test --config astralisd.example.json --input "$work/invoice.json" --source contact-form >/dev/null
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    if [[ -z "$best" || $ms -lt $best ]]; then best=$ms; fi
done
echo "rules_test_wall_ms=$best (12 rules, rules.example.json)"
