#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, starts the servers the tests
# need on 127.0.0.1 (none yet: the embedded SQLite store needs none; PostgreSQL, Redis, Dovecot
# and friends join here with their issues), builds, checks the systemd unit, runs `swift test`.
# Idempotent. With CI=true a check that cannot run fails instead of skipping.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh

# systemd provides systemd-analyze for the unit's hardening score.
ensure_packages "${BUILD_PACKAGES[@]}" systemd
ensure_swift

echo "==> building"
swift build --product astralisd
swift build --build-tests
export ASTRALISD_TEST_BIN="$(swift build --show-bin-path)/astralisd"

echo "==> checking the systemd unit"
bash scripts/check-systemd-unit.sh

echo "==> running the tests"
swift test --skip-build
