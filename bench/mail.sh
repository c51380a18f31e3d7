#!/usr/bin/env bash
# Mail benchmark: MIME parse throughput of astralisd (GMime, `astralisd parse --bench`) next to
# Python's `email` package (BytesParser(policy=default)) over the same generated corpus, one
# thread each, files in memory, doing the same work: parse, walk every part (also inside
# forwarded messages), decode every body and attachment, SHA-256 each attachment, pick the text
# body. Numbers only; nothing here asserts. End-to-end IMAP numbers are not measured here yet.
#
#   bench/mail.sh            # MESSAGES=1000 ITERATIONS=3 to tune; SCRATCH_PATH=.build-release
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages "${BUILD_PACKAGES[@]}" python3
ensure_swift

MESSAGES="${MESSAGES:-1000}"
ITERATIONS="${ITERATIONS:-3}"

scratch="${SCRATCH_PATH:-$root/.build-release}"
swift build -c release --product astralisd --scratch-path "$scratch" >/dev/null
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/astralisd"
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

# --- IMAP end to end (placeholder) -------------------------------------------------------------
# To come with the IMAP sources (another branch): 1,000 messages APPENDed to Dovecot → items
# committed (messages/s), and IDLE latency from APPEND to committed intake (p50/p99).
echo "IMAP end-to-end: not measured by this script yet"
