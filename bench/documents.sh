#!/usr/bin/env bash
# Document benchmark: PDF text-layer extraction per page (astralisd, poppler-glib, in process)
# next to `pdftotext` on the same files; OCR per page (astralisd: Leptonica + Tesseract C API)
# next to the `tesseract` CLI on the same PNGs at the same settings (eng, --psm 3, 300 dpi, one
# thread: OMP_THREAD_LIMIT=1, no orientation/deskew); OCR throughput with 1 and 2 workers; field
# accuracy on the invoice corpus when the invoice extractor is present. Numbers only; nothing
# here asserts.
#
#   bench/documents.sh     # FILES=20 PAGES=5 OCR_PAGES=6; SCRATCH_PATH=.build-release; DEBUG=1: debug build
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
ensure_packages "${BUILD_PACKAGES[@]}" python3 poppler-utils tesseract-ocr
ensure_swift

FILES="${FILES:-20}"
PAGES="${PAGES:-5}"
OCR_PAGES="${OCR_PAGES:-6}"

if [[ "${DEBUG:-}" == "1" ]]; then
    swift build --product astralisd >/dev/null
    swift build --product astralisd-extract >/dev/null
    bin="$(swift build --show-bin-path)/astralisd"
    extractor="$(dirname "$bin")/astralisd-extract"
    build="debug"
else
    scratch="${SCRATCH_PATH:-$root/.build-release}"
    swift build -c release --product astralisd --scratch-path "$scratch" >/dev/null
    swift build -c release --product astralisd-extract --scratch-path "$scratch" >/dev/null
    bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/astralisd"
    extractor="$(dirname "$bin")/astralisd-extract"
    build="release"
fi
work="$(mktemp -d /tmp/astralisd-doc-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export OMP_THREAD_LIMIT=1

now() { date +%s.%N; }
ms_per() { awk -v s="$1" -v n="$2" 'BEGIN {printf "%.2f", s * 1000 / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
json() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

python3 bench/make_documents.py "$work/pdf" "$FILES" "$PAGES"
pages=$((FILES * PAGES))

# PDF text layer. Each side once untimed (page cache, lazy initialisation), then measured.
"$extractor" --bench "$work/pdf" --no-thumbnails >/dev/null
line=$("$extractor" --bench "$work/pdf" --no-thumbnails)
ours=$(json "$line" seconds)
for f in "$work"/pdf/*.pdf; do pdftotext -layout "$f" /dev/null; done
start=$(now)
for f in "$work"/pdf/*.pdf; do pdftotext "$f" /dev/null; done
theirs=$(awk -v a="$(now)" -v b="$start" 'BEGIN {print a - b}')
# Per file through the sandboxed child, as the daemon does it (process start included, like pdftotext).
start=$(now)
for f in "$work"/pdf/*.pdf; do "$bin" extract "$f" --json >/dev/null; done
child=$(awk -v a="$(now)" -v b="$start" 'BEGIN {print a - b}')

# OCR: the first OCR_PAGES pages rendered to 300 dpi grayscale PNGs.
mkdir -p "$work/png"
n=0
for f in "$work"/pdf/*.pdf; do
    pdftoppm -r 300 -gray -png -f 1 -l 1 "$f" "$work/png/$(basename "$f" .pdf)"
    n=$((n + 1)); [[ $n -ge $OCR_PAGES ]] && break
done
"$extractor" --bench "$work/png" --no-auto-rotate --no-thumbnails --workers 1 >/dev/null
ocr1=$("$extractor" --bench "$work/png" --no-auto-rotate --no-thumbnails --workers 1)
ocr2=$("$extractor" --bench "$work/png" --no-auto-rotate --no-thumbnails --workers 2)
ocr_rot=$("$extractor" --bench "$work/png" --workers 1)
start=$(now)
for f in "$work"/png/*.png; do tesseract "$f" - -l eng --psm 3 --dpi 300 >/dev/null 2>&1; done
tess=$(awk -v a="$(now)" -v b="$start" 'BEGIN {print a - b}')
ocr_n=$(json "$ocr1" pages)

echo
echo "astralisd document benchmark ($(nproc) cores, $build build, $(pdftotext -v 2>&1 | head -1), $(tesseract --version 2>&1 | head -1))"
echo "corpus: $FILES text PDFs x $PAGES pages (A4, ~50 lines each); OCR: $ocr_n pages at 300 dpi"
echo
printf '%-44s %14s %14s %8s\n' "per page" "astralisd" "reference" "ratio"
printf '%-44s %11s ms %11s ms %8s\n' "PDF text layer (in process vs pdftotext)" "$(ms_per "$ours" $pages)" "$(ms_per "$theirs" $pages)" "$(ratio "$ours" "$theirs")"
printf '%-44s %11s ms %11s ms %8s\n' "PDF text layer (sandboxed child per file)" "$(ms_per "$child" $pages)" "$(ms_per "$theirs" $pages)" "$(ratio "$child" "$theirs")"
printf '%-44s %11s ms %11s ms %8s\n' "OCR (1 worker vs tesseract CLI)" "$(ms_per "$(json "$ocr1" seconds)" "$ocr_n")" "$(ms_per "$tess" "$ocr_n")" "$(ratio "$(json "$ocr1" seconds)" "$tess")"
printf '%-44s %11s ms\n' "OCR with orientation + deskew (1 worker)" "$(ms_per "$(json "$ocr_rot" seconds)" "$ocr_n")"
echo
printf '%-44s %14s\n' "OCR throughput, 1 worker (pages/s)" "$(awk -v n="$ocr_n" -v s="$(json "$ocr1" seconds)" 'BEGIN {printf "%.2f", n / s}')"
printf '%-44s %14s\n' "OCR throughput, 2 workers (pages/s)" "$(awk -v n="$ocr_n" -v s="$(json "$ocr2" seconds)" 'BEGIN {printf "%.2f", n / s}')"
printf '%-44s %14s\n' "speed-up with 2 workers" "$(ratio "$(json "$ocr1" seconds)" "$(json "$ocr2" seconds)")"
echo
if [[ -d Tests/InboundTests/DocumentCorpus ]] && grep -rq "InvoiceExtractor" Sources/Inbound 2>/dev/null && ! grep -q "TODO(merge invoice branch)" Sources/Inbound/Documents/DocumentFieldsExtractor.swift; then
    echo "field accuracy: run the invoice corpus suite: swift test --filter DocumentCorpus"
else
    echo "field accuracy: the invoice extractor and its corpus are not on this branch (see the invoice branch)"
fi
echo "targets: PDF within 1.2x pdftotext, OCR within 1.1x tesseract CLI, >= 1.7x with 2 workers"
