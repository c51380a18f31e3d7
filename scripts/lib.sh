# Shared by the set-up scripts: install only the Debian packages that are missing.
# shellcheck shell=bash

# ensure_packages PKG... — apt-get installs whichever of PKG are not installed yet (idempotent).
ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        echo "==> installing Debian packages: ${missing[*]}"
        local sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# ensure_swift — the Swift toolchain is not a Debian package; say where to get it.
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: no 'swift' on PATH. Install Swift 6.1 or later for Debian 12 (https://www.swift.org/install/linux/) and run this again." >&2
        exit 1
    fi
}

# Debian packages the daemon builds and runs against.
BUILD_PACKAGES=(libsqlite3-dev libgmime-3.0-dev libetpan-dev libgnutls28-dev pkg-config curl ca-certificates libcurl4-gnutls-dev)
# Documents (docs/documents.md): poppler-glib + cairo (PDF text, rendering), Tesseract + Leptonica
# (OCR, image decoding), English and orientation data for Tesseract, zlib (Flate bomb check), and
# the URW base-35 fonts: poppler renders PDFs that name a standard font without embedding it
# (Helvetica, Times...) with these metric-compatible faces; without them fontconfig substitutes
# DejaVu, whose wider glyphs OCR reads worse ("4711" came back as "4/711").
BUILD_PACKAGES+=(libpoppler-glib-dev libcairo2-dev libtesseract-dev libleptonica-dev tesseract-ocr-eng tesseract-ocr-osd zlib1g-dev fonts-urw-base35)
# Scheduling (docs/scheduling.md): libical 3.0 for iCalendar invitations, iTIP replies, recurrences.
BUILD_PACKAGES+=(libical-dev)

# Test servers (scripts/dovecot.sh, smtp.sh, radicale.sh): a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Stops the process whose pid is in FILE (TERM, up to 5 s, then KILL) and removes FILE.
stop_pid_file() {
    local file=$1 pid
    [[ -f "$file" ]] || return 0
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
}

# How a release is built for installing and for the idle-memory bench (docs/architecture.md#memory):
# the Swift runtime and Foundation linked in (no toolchain needed where it runs, fewer shared
# objects to load at start), and without `-export-dynamic`, which the static runtime's link
# arguments add: exporting every symbol made the loader touch a 1.2 MB dynamic symbol table
# and kept the linker from dropping unused code (6 MB less idle RSS without it).
#
# Then, to pack the code start-up runs (docs/architecture.md#memory): every function in its own
# section (the toolchain's runtime archives mostly are already), linked by the toolchain's lld with
# scripts/link-order.txt as symbol-ordering file and scripts/link-order.ld placing the executed
# sections without a symbol of their own (scripts/gen-link-order.sh regenerates both; names and
# objects that no longer exist are ignored), and with DT_RELR packed relative relocations (glibc 2.36+,
# Debian 12): 3.4 MB of .rela.dyn that the loader read at every start shrink to 50 KB. Segments
# are 64 KiB-aligned so that file offsets and addresses share the kernel's 64 KiB fault-around
# grid (with lld's default 4 KiB, a binary read into large page-cache folios, as after a reboot,
# had 2 MB more text resident).
RELEASE_BUILD=(-c release --static-swift-stdlib -Xlinker --no-export-dynamic
    -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcxx -ffunction-sections
    -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker -z -Xlinker max-page-size=65536
    -Xlinker "--symbol-ordering-file=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/link-order.txt"
    -Xlinker --no-warn-symbol-ordering
    -Xlinker -T -Xlinker "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/link-order.ld")

# The webhook benchmarks' daemon config (bench/webhooks.sh, bench/idle.sh): one signed webhook
# source on SQLite, listening on the given ports; the source's secret comes from BENCH_SECRET.
#   write_webhook_bench_config FILE STATE_DIR WEBHOOK_PORT ADMIN_PORT
write_webhook_bench_config() {
    cat > "$1" <<JSON
{
  "state_dir": "$2",
  "listen": {"webhooks": "127.0.0.1:$3", "admin": "127.0.0.1:$4"},
  "log": {"level": "warning"},
  "organizations": [{
    "id": "bench",
    "pipelines": [{"id": "inbox", "stages": [{"id": "new"}]}],
    "default_route": {"pipeline": "inbox", "title": "{{payload.subject}} from {{payload.name}}"},
    "sources": [{"id": "bench", "type": "webhook", "auth": {"type": "standard-webhooks", "secrets": [{"env": "BENCH_SECRET"}]}, "max_body_bytes": 65536}]
  }]
}
JSON
}
