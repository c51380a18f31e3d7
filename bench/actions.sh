#!/usr/bin/env bash
# Actions benchmark: automatic replies per second to a local SMTP server (aiosmtpd, started here
# with scripts/smtp.sh: STARTTLS + AUTH PLAIN, every message written to a folder), through the
# daemon's real reply path — GMime composes each reply, libcurl sends it (`astralisd smtp-bench`)
# — with connection reuse (TLS + AUTH once per connection) and with one connection per message.
# Then the outbound webhooks benchmark, when bench/actions-webhooks.sh exists. Numbers only;
# nothing here asserts. Target: at least 200 replies/s with reuse.
#
#   bench/actions.sh     # REPLIES=2000 CONCURRENCY=4 to tune; CONFIGURATION=debug for a debug build;
#                        # SCRATCH_PATH=.build-release
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages "${BUILD_PACKAGES[@]}" python3 python3-pip openssl
ensure_swift

REPLIES="${REPLIES:-2000}"
CONCURRENCY="${CONCURRENCY:-4}"
CONFIGURATION="${CONFIGURATION:-release}"

if [[ "$CONFIGURATION" == "release" ]]; then
    scratch="${SCRATCH_PATH:-$root/.build-release}"
else
    scratch="${SCRATCH_PATH:-$root/.build}"
fi
swift build -c "$CONFIGURATION" --product astralisd --scratch-path "$scratch" >/dev/null
swift build -c "$CONFIGURATION" --product astralisd-extract --scratch-path "$scratch" >/dev/null
bin="$(swift build -c "$CONFIGURATION" --scratch-path "$scratch" --show-bin-path)/astralisd"

work="$(mktemp -d /tmp/astralisd-actions-bench.XXXXXX)"
trap 'bash "$root/scripts/smtp.sh" stop "$work/smtp"; rm -rf "$work"' EXIT
bash scripts/smtp.sh start "$work/smtp" >/dev/null
# shellcheck disable=SC1091
source "$work/smtp/env"
export ASTRALISD_BENCH_SMTP_PASSWORD="$ASTRALISD_TEST_SMTP_PASSWORD"

run() {
    "$bin" smtp-bench --port "$ASTRALISD_TEST_SMTP_PORT" --tls starttls --ca-file "$ASTRALISD_TEST_SMTP_CA_FILE" \
        --username "$ASTRALISD_TEST_SMTP_USER" --concurrency "$CONCURRENCY" "$@"
}
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

# One short untimed run (lazy initialisation, the server's first connections).
run --count 50 >/dev/null
reuse=$(run --count "$REPLIES")
fresh_count=$((REPLIES / 4))
fresh=$(run --count "$fresh_count" --no-reuse)
received=$(find "$ASTRALISD_TEST_SMTP_MAILDIR/new" -name '*.eml' | wc -l)

echo
echo "astralisd replies benchmark ($(nproc) cores, $CONFIGURATION build, aiosmtpd $(python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)') on 127.0.0.1,"
echo "STARTTLS + AUTH PLAIN, $CONCURRENCY replies in flight, each reply composed with GMime: text + HTML alternative)"
echo
printf '%-34s %10s %8s %12s %10s %12s\n' "mode" "replies" "failed" "connections" "seconds" "replies/s"
for mode in reuse fresh; do
    line=${!mode}
    label="connection reuse"
    [[ $mode == fresh ]] && label="one connection per message"
    printf '%-34s %10s %8s %12s %10s %12s\n' "$label" "$(field "$line" replies)" "$(field "$line" failed)" \
        "$(field "$line" connections)" "$(field "$line" seconds)" "$(field "$line" replies_per_second)"
done
echo "messages the server wrote to disk: $received (includes the 50 warm-up replies)"

if [[ -x bench/actions-webhooks.sh || -f bench/actions-webhooks.sh ]]; then
    echo
    bash bench/actions-webhooks.sh
fi
