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
# test certificate) serve the IMAP tests; python3 + pip run aiosmtpd, the SMTP server of the reply tests.
ensure_packages "${BUILD_PACKAGES[@]}" systemd dovecot-core dovecot-imapd openssl python3 python3-pip
# Radicale (Debian) serves the CalDAV provider tests (scripts/radicale.sh).
# python3-tz is only a Recommends of python3-vobject, but Radicale needs it to read VTIMEZONEs
# (without it every PUT with a time zone is a 400).
ensure_packages radicale python3-tz
ensure_swift

echo "==> starting Dovecot for the IMAP tests"
dovecot_dir="$(mktemp -d "${TMPDIR:-/tmp}/astralisd-dovecot.XXXXXX")"
trap 'bash "$root/scripts/dovecot.sh" stop "$dovecot_dir"; rm -rf "$dovecot_dir"' EXIT
bash scripts/dovecot.sh start "$dovecot_dir"
# shellcheck disable=SC1091
source "$dovecot_dir/env"

echo "==> starting the SMTP server for the reply tests (aiosmtpd from PyPI)"
smtp_dir="$(mktemp -d "${TMPDIR:-/tmp}/astralisd-smtp.XXXXXX")"
trap 'bash "$root/scripts/dovecot.sh" stop "$dovecot_dir"; rm -rf "$dovecot_dir"; bash "$root/scripts/smtp.sh" stop "$smtp_dir"; rm -rf "$smtp_dir"' EXIT
bash scripts/smtp.sh start "$smtp_dir"
# shellcheck disable=SC1091
source "$smtp_dir/env"

echo "==> starting Radicale for the CalDAV tests"
radicale_dir="$(mktemp -d "${TMPDIR:-/tmp}/astralisd-radicale.XXXXXX")"
trap 'bash "$root/scripts/dovecot.sh" stop "$dovecot_dir"; rm -rf "$dovecot_dir"; bash "$root/scripts/smtp.sh" stop "$smtp_dir"; rm -rf "$smtp_dir"; bash "$root/scripts/radicale.sh" stop "$radicale_dir"; rm -rf "$radicale_dir"' EXIT
bash scripts/radicale.sh start "$radicale_dir"
# shellcheck disable=SC1091
source "$radicale_dir/env"

echo "==> building"
swift build --product astralisd
swift build --product astralisd-extract
swift build --build-tests
export ASTRALISD_TEST_BIN="$(swift build --show-bin-path)/astralisd"

echo "==> checking the systemd unit"
bash scripts/check-systemd-unit.sh

echo "==> checking the rules JSON Schema against rules.example.json"
# python3-jsonschema (Debian 12: 4.10, draft 2020-12) validates the published schema.
if ! python3 -c 'import jsonschema' 2>/dev/null; then
    ensure_packages python3 python3-jsonschema || true
fi
if python3 -c 'import jsonschema' 2>/dev/null; then
    python3 scripts/check-rules-schema.py
elif [[ "${CI:-}" == "true" ]]; then
    echo "error: python3 with jsonschema is required to check schemas/rules.schema.json" >&2
    exit 1
else
    echo "skipping the rules schema check: python3 jsonschema is not installed and could not be installed"
fi

echo "==> validating openapi.yaml (openapi-spec-validator from PyPI)"
pytools="$root/.build/pytools"
if ! PYTHONPATH="$pytools" python3 -c 'import openapi_spec_validator' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check --target "$pytools" openapi-spec-validator || true
fi
if PYTHONPATH="$pytools" python3 -c 'import openapi_spec_validator' 2>/dev/null; then
    PYTHONPATH="$pytools" python3 -c 'from openapi_spec_validator import validate; from openapi_spec_validator.readers import read_from_filename; validate(read_from_filename("openapi.yaml")[0]); print("openapi.yaml: valid OpenAPI 3.1")'
elif [[ "${CI:-}" == "true" ]]; then
    echo "error: openapi-spec-validator could not be installed from PyPI" >&2
    exit 1
else
    echo "skipping the OpenAPI check: openapi-spec-validator is not installed and could not be installed"
fi

echo "==> installing Python's icalendar (PyPI) for the iCalendar tests"
if ! PYTHONPATH="$pytools" python3 -c 'import icalendar' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check --target "$pytools" icalendar || true
fi
if ! PYTHONPATH="$pytools" python3 -c 'import icalendar' 2>/dev/null && [[ "${CI:-}" == "true" ]]; then
    echo "error: the icalendar package could not be installed from PyPI" >&2
    exit 1
fi
export ASTRALISD_TEST_PYTHONPATH="$pytools"

echo "==> running the tests"
swift test --skip-build
