#!/usr/bin/env bash
# Mail benchmark: MIME parse throughput of astralisd (GMime, `astralisd parse --bench`) next to
# Python's `email` package (BytesParser(policy=default)) over the same generated corpus, one
# thread each, files in memory, doing the same work: parse, walk every part (also inside
# forwarded messages), decode every body and attachment, SHA-256 each attachment, pick the text
# body. Then IMAP end to end against a real Dovecot: a 1,000-message backlog → items
# (messages/s) and IDLE latency from APPEND to committed intake (p50/p99). Numbers only;
# nothing here asserts.
#
#   bench/mail.sh            # MESSAGES=1000 ITERATIONS=3 to tune; SCRATCH_PATH=.build-release
#   OCR=true bench/mail.sh   # the end-to-end daemon runs with documents.ocr false by default
#                            # (the target is "without OCR"); OCR=true measures with OCR
#   BENCH_BIN=.build/debug/astralisd MESSAGES=100 bench/mail.sh   # a given binary, no build
#                            # (not ASTRALISD_BIN: the daemon reads ASTRALISD_* as config overrides)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages "${BUILD_PACKAGES[@]}" python3
ensure_swift

MESSAGES="${MESSAGES:-1000}"
ITERATIONS="${ITERATIONS:-3}"

OCR="${OCR:-false}"
case "$OCR" in true|false) ;; *) echo "OCR must be true or false" >&2; exit 2 ;; esac

if [[ -n "${BENCH_BIN:-}" ]]; then
    bin="$BENCH_BIN"
else
    scratch="${SCRATCH_PATH:-$root/.build-release}"
    swift build -c release --product astralisd --scratch-path "$scratch" >/dev/null
    swift build -c release --product astralisd-extract --scratch-path "$scratch" >/dev/null
    bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/astralisd"
fi
work="$(mktemp -d /tmp/astralisd-mail-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

python3 bench/make_mail_corpus.py "$work/corpus" "$MESSAGES"
corpus_mb=$(du -sb "$work/corpus" | awk '{printf "%.1f", $1 / 1e6}')

# Each side once untimed over the corpus (page cache, lazy initialisation), then the measured run.
"$bin" parse --bench "$work/corpus" --iterations 1 >/dev/null
swift_line=$("$bin" parse --bench "$work/corpus" --iterations "$ITERATIONS")
python3 bench/python_mail_parse.py "$work/corpus" 1 >/dev/null
python_line=$(python3 bench/python_mail_parse.py "$work/corpus" "$ITERATIONS")

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

echo
echo "astralisd mail benchmark ($(nproc) cores, $(python3 --version), one thread per parser)"
if [[ -n "${BENCH_BIN:-}" ]]; then
    echo "binary: $bin (BENCH_BIN; figures of a debug build are not comparable with release ones)"
fi
echo "corpus: $MESSAGES messages, $corpus_mb MB (plain; HTML+text with inline image; 75 KiB PDF as base64;"
echo "        ISO-8859-1/windows-1252 with RFC 2047 subject and RFC 2231 filename; forwarded message/rfc822"
echo "        with its own PDF), $ITERATIONS passes"
echo
printf '%-28s %16s %16s %10s\n' "MIME parse" "astralisd" "Python email" "ratio"
for key in messages_per_second mb_per_second; do
    a=$(field "$swift_line" "$key"); p=$(field "$python_line" "$key")
    printf '%-28s %16s %16s %10s\n' "${key//_/ }" "$a" "$p" "$(awk -v a="$a" -v p="$p" 'BEGIN {printf "%.1fx", a / p}')"
done
for key in parsed refused attachments text_bytes seconds; do
    printf '%-28s %16s %16s\n' "$key" "$(field "$swift_line" "$key")" "$(field "$python_line" "$key")"
done
echo
echo "astralisd: $swift_line"
echo "python:    $python_line"
echo

# --- IMAP end to end ----------------------------------------------------------------------------
# A real Dovecot (scripts/dovecot.sh, loopback, STARTTLS) and the release daemon with one IMAP
# source (IDLE, processed action: move). 1) The corpus is APPENDed first; the clock starts when
# the daemon is launched and stops at the commit of the last item: messages/s through fetch,
# parse, durable intake, move, processing job, rules/default route and item commit. 2) With the
# daemon idling on the folder, LATENCY_SAMPLES single messages are APPENDed 0.2 s apart: time from
# APPEND completed to the intake's commit (its received_at), p50/p99.
LATENCY_SAMPLES="${LATENCY_SAMPLES:-100}"
ensure_packages dovecot-core dovecot-imapd openssl
# Its own folder, as scripts/test.sh does: Dovecot's unprivileged processes must reach it.
dovecot_dir="$(mktemp -d /tmp/astralisd-mail-bench-dovecot.XXXXXX)"
pid=""
trap 'kill $pid 2>/dev/null || true; bash scripts/dovecot.sh stop "$dovecot_dir" >/dev/null 2>&1 || true; rm -rf "$work" "$dovecot_dir"' EXIT
bash scripts/dovecot.sh start "$dovecot_dir" >/dev/null
# shellcheck disable=SC1091
set -a; source "$dovecot_dir/env"; set +a
folder="bench-$(date +%s)"
append_line=$(python3 bench/imap_e2e.py append "$folder" "$work/corpus")
cat > "$work/config.json" <<JSON
{
  "state_dir": "$work/state",
  "listen": {"webhooks": "127.0.0.1:${WEBHOOK_PORT:-18081}", "admin": "127.0.0.1:${ADMIN_PORT:-19091}"},
  "log": {"level": "warning"},
  "documents": {"ocr": $OCR},
  "organizations": [{
    "id": "bench",
    "pipelines": [{"id": "inbox", "stages": [{"id": "new"}]}],
    "default_route": {"pipeline": "inbox", "title": "{{subject}} from {{from}}"},
    "sources": [{
      "id": "mail", "type": "imap", "host": "127.0.0.1", "port": $ASTRALISD_TEST_IMAP_PORT, "tls": "starttls",
      "ca_file": "$ASTRALISD_TEST_IMAP_CA_FILE", "username": "$ASTRALISD_TEST_IMAP_USER2",
      "password": {"env": "BENCH_IMAP_PASSWORD"}, "folders": ["$folder"], "idle": true,
      "processed": {"action": "move", "folder": "$folder-done"}
    }]
  }]
}
JSON
export BENCH_IMAP_PASSWORD="$ASTRALISD_TEST_IMAP_PASSWORD2"
python3 -c "import imaplib,os,ssl; i=imaplib.IMAP4('127.0.0.1', int(os.environ['ASTRALISD_TEST_IMAP_PORT'])); i.starttls(ssl_context=ssl.create_default_context(cafile=os.environ['ASTRALISD_TEST_IMAP_CA_FILE'])); i.login(os.environ['ASTRALISD_TEST_IMAP_USER2'], os.environ['ASTRALISD_TEST_IMAP_PASSWORD2']); i.create('$folder-done')"
start_epoch=$(python3 -c 'import time; print(time.time())')
"$bin" run --config "$work/config.json" >"$work/daemon.log" 2>&1 &
pid=$!
e2e_line=$(python3 bench/imap_e2e.py wait "$work/state/astralisd.sqlite" "$MESSAGES" "$start_epoch" 600)
latency_line=$(python3 bench/imap_e2e.py latency "$work/state/astralisd.sqlite" "$folder" "$LATENCY_SAMPLES")

echo "IMAP end to end (Dovecot on loopback, STARTTLS, IDLE, processed action: move;"
echo "                 documents.ocr: $OCR, documents.concurrency: default = $(nproc) long-lived extraction workers)"
printf '%-40s %s\n' "APPEND of the corpus (python imaplib)" "$(field "$append_line" seconds) s"
printf '%-40s %s messages/s (%s items in %s s, start-up included)\n' "backlog → items committed" \
    "$(field "$e2e_line" messages_per_second)" "$(field "$e2e_line" items)" "$(field "$e2e_line" seconds)"
printf '%-40s %s messages/s (last intake durable after %s s)\n' "  of which fetch → durable intakes" \
    "$(field "$e2e_line" intakes_per_second)" "$(field "$e2e_line" intake_seconds)"
printf '%-40s p50 %s ms, p99 %s ms (max %s ms, %s samples)\n' "IDLE: APPEND → intake committed" \
    "$(field "$latency_line" p50_ms)" "$(field "$latency_line" p99_ms)" "$(field "$latency_line" max_ms)" "$(field "$latency_line" samples)"
