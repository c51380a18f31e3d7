#!/usr/bin/env bash
# A throwaway SMTP server for the tests and bench/actions.sh: aiosmtpd (PyPI) on 127.0.0.1 only,
# with a self-signed certificate, AUTH PLAIN/LOGIN and every message written to a folder.
#
#   scripts/smtp.sh start DIR   starts it and writes DIR/env (source it for the tests)
#   scripts/smtp.sh stop DIR    stops it (DIR is left for inspection; delete it yourself)
#
# DIR/env exports ASTRALISD_TEST_SMTP_HOST, _PORT (STARTTLS offered; AUTH only after TLS),
# _TLS_PORT (implicit TLS), _CA_FILE (the certificate to trust), _USER/_PASSWORD, _MAILDIR
# (received messages: new/NNNNNN.eml + NNNNNN.json with the envelope) and _CONNECTIONS (one line
# per accepted connection). Recipients `reject-*@…` get 550, `defer-*@…` get 451.
# The server is scripts/smtp_server.py; aiosmtpd is installed with pip when missing (idempotent).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
command=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

stop() { stop_pid_file "$dir/smtp.pid"; }

case "$command" in
stop) stop; exit 0 ;;
start) ;;
*) usage ;;
esac

command -v python3 >/dev/null || { echo "error: python3 is required for the test SMTP server" >&2; exit 1; }
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    echo "==> installing aiosmtpd (PyPI) for the test SMTP server"
    python3 -m pip install --quiet aiosmtpd 2>/dev/null || python3 -m pip install --quiet --break-system-packages aiosmtpd
fi
stop
rm -rf "$dir/mail" "$dir/connections.log"
mkdir -p "$dir/mail/new" "$dir/mail/tmp"

if [[ ! -f "$dir/cert.pem" ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
fi

port=$(free_port)
tls_port=$(free_port)
user=replies
password="smtp-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
nohup python3 "$here/smtp_server.py" "$dir" "$port" "$tls_port" "$user" "$password" >"$dir/smtp.log" 2>&1 &
echo $! >"$dir/smtp.pid"
for _ in $(seq 100); do
    grep -q '^ready' "$dir/smtp.log" 2>/dev/null && break
    kill -0 "$(cat "$dir/smtp.pid")" 2>/dev/null || { cat "$dir/smtp.log" >&2; echo "error: the SMTP server did not start" >&2; exit 1; }
    sleep 0.1
done
grep -q '^ready' "$dir/smtp.log" || { echo "error: the SMTP server did not become ready" >&2; exit 1; }

cat >"$dir/env" <<ENV
export ASTRALISD_TEST_SMTP_HOST=127.0.0.1
export ASTRALISD_TEST_SMTP_PORT=$port
export ASTRALISD_TEST_SMTP_TLS_PORT=$tls_port
export ASTRALISD_TEST_SMTP_CA_FILE=$dir/cert.pem
export ASTRALISD_TEST_SMTP_USER=$user
export ASTRALISD_TEST_SMTP_PASSWORD=$password
export ASTRALISD_TEST_SMTP_MAILDIR=$dir/mail
export ASTRALISD_TEST_SMTP_CONNECTIONS=$dir/connections.log
ENV
echo "SMTP server on 127.0.0.1:$port (STARTTLS) and :$tls_port (TLS); environment in $dir/env"
