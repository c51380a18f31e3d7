#!/usr/bin/env bash
# Installs what is missing, builds astralisd (release), and runs it in the foreground with the
# example configuration: webhooks on 127.0.0.1:8080, admin on 127.0.0.1:9090, state in ./var.
# Idempotent: run it again and it only rebuilds what changed. Extra arguments go to `astralisd run`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}"
ensure_swift
echo "==> building astralisd (release)"
swift build "${RELEASE_BUILD[@]}" --product astralisd
swift build "${RELEASE_BUILD[@]}" --product astralisd-extract
bin="$(swift build -c release --show-bin-path)/astralisd"
"$bin" check --config astralisd.example.json
echo "==> starting astralisd; Ctrl-C stops it"
exec "$bin" run --config astralisd.example.json "$@"
