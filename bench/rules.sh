#!/usr/bin/env bash
# Rules benchmark: decisions per second on one core for generated rules files of 10, 100 and
# 1,000 rules (the example's kinds of conditions, mostly not matching, so every rule is evaluated)
# over four realistic intakes (an invoice email with a PDF and extracted fields, a web form, a
# newsletter, a support email). Three measures per count: `decide` (RulesRouter.decide: the
# destination, follow-ups and step trace, the structured trace recorded compactly),
# `decide+structured_trace` (the same, then every RuleTrace / ConditionTrace built) and
# `decide+structured_trace+json` (the same, then the decision serialised as the store writes it).
# Then the wall time of `astralisd rules test` for one message with rules.example.json, process
# start-up included. Numbers only; nothing asserts. The build is the installed one
# (scripts/lib.sh RELEASE_BUILD) in $SCRATCH_PATH (default .build-release-static, shared with
# bench/idle.sh); BIN=path/to/astralisd measures a given binary without building.
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
bin="${BIN:-}"
if [[ -z "$bin" ]]; then
    scratch="${SCRATCH_PATH:-$root/.build-release-static}"
    swift build "${RELEASE_BUILD[@]}" --product astralisd --scratch-path "$scratch" >/dev/null
    bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/astralisd"
fi
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
