#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, starts the servers the tests
# need on 127.0.0.1 (Dovecot for the IMAP tests, via scripts/dovecot.sh; PostgreSQL, Redis and
# friends join here with their issues), builds, checks the systemd unit, runs `swift test`.
# Idempotent. With CI=true a check that cannot run fails instead of skipping.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh

# systemd provides systemd-analyze for the unit's hardening score; Dovecot and OpenSSL (for its
# test certificate) serve the IMAP tests.
ensure_packages "${BUILD_PACKAGES[@]}" systemd dovecot-core dovecot-imapd openssl python3
ensure_swift

echo "==> starting Dovecot for the IMAP tests"
dovecot_dir="$(mktemp -d "${TMPDIR:-/tmp}/astralisd-dovecot.XXXXXX")"
trap 'bash "$root/scripts/dovecot.sh" stop "$dovecot_dir"; rm -rf "$dovecot_dir"' EXIT
bash scripts/dovecot.sh start "$dovecot_dir"
# shellcheck disable=SC1091
source "$dovecot_dir/env"

echo "==> building"
swift build --product astralisd
swift build --build-tests
export ASTRALISD_TEST_BIN="$(swift build --show-bin-path)/astralisd"

echo "==> checking the systemd unit"
bash scripts/check-systemd-unit.sh

echo "==> running the tests"
swift test --skip-build
