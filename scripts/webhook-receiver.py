#!/usr/bin/env python3
"""A Standard Webhooks receiver on 127.0.0.1 for tests and bench/actions-webhooks.sh.

It verifies every request with the published algorithm (https://www.standardwebhooks.com),
written here independently of astralisd's signer: the key is base64-decoded from the part after
"whsec_", the signed content is "<webhook-id>.<webhook-timestamp>.<raw body>", the signature is
base64(HMAC-SHA256), compared in constant time against each space-separated "v1,<sig>" entry,
and the timestamp must be within 5 minutes.

Behaviour is chosen by path (counters are per path + webhook-id):
  /ok                      204
  /flaky/N                 503 for the first N attempts of a webhook-id, then 200
  /status/CODE             always CODE (the body says "receiver says CODE")
  /retry-after/SECONDS     429 with Retry-After: SECONDS on the first attempt, then 200
  /slow/SECONDS            waits SECONDS, then 200
  /redirect                302 to /ok on the same server
A request whose signature does not verify is answered 401 and recorded with valid=false.
GET /_log returns every recorded request as JSON: [{path, id, timestamp, valid, status, host,
received_at, body}]; GET /_count returns {"requests": n, "valid": n, "unique_ids": n}.

Usage: webhook-receiver.py --secret whsec_... --port-file FILE [--port 0] [--quiet-log]
The chosen port is written to --port-file once the server listens.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 300


def verify(key: bytes, msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
    if not msg_id or not timestamp or not header:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - ts) > TOLERANCE:
        return False
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in header.split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


class State:
    def __init__(self, key, keep_bodies):
        self.key = key
        self.keep_bodies = keep_bodies
        self.lock = threading.Lock()
        self.log = []
        self.attempts = {}
        self.valid = 0
        self.ids = set()


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, code, body=b"", headers=()):
            self.send_response(code)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_GET(self):
            with state.lock:
                if self.path == "/_log":
                    data = json.dumps(state.log).encode()
                elif self.path == "/_count":
                    data = json.dumps({"requests": len(state.log), "valid": state.valid, "unique_ids": len(state.ids)}).encode()
                else:
                    data = None
            if data is None:
                self.reply(404)
            else:
                self.reply(200, data, [("Content-Type", "application/json")])

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            msg_id = self.headers.get("webhook-id", "")
            timestamp = self.headers.get("webhook-timestamp", "")
            signature = self.headers.get("webhook-signature", "")
            valid = verify(state.key, msg_id, timestamp, body, signature)
            parts = [p for p in self.path.split("/") if p]
            with state.lock:
                n = state.attempts.get((self.path, msg_id), 0) + 1
                state.attempts[(self.path, msg_id)] = n
            code, extra, reply_body = 200, [], b""
            if not valid:
                code, reply_body = 401, b"signature does not verify"
            elif parts[:1] == ["ok"]:
                code = 204
            elif parts[:1] == ["flaky"] and len(parts) == 2:
                code = 503 if n <= int(parts[1]) else 200
                if code == 503:
                    reply_body = b"try again later"
            elif parts[:1] == ["status"] and len(parts) == 2:
                code = int(parts[1])
                reply_body = ("receiver says %d" % code).encode()
            elif parts[:1] == ["retry-after"] and len(parts) == 2:
                if n == 1:
                    code, extra = 429, [("Retry-After", parts[1])]
            elif parts[:1] == ["slow"] and len(parts) == 2:
                time.sleep(float(parts[1]))
            elif parts[:1] == ["redirect"]:
                code, extra = 302, [("Location", "http://127.0.0.1:%d/ok" % self.server.server_address[1])]
            else:
                code = 404
            entry = {
                "path": self.path, "id": msg_id, "timestamp": timestamp, "valid": valid, "status": code,
                "host": self.headers.get("Host", ""), "received_at": time.time(),
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
            if state.keep_bodies:
                entry["body"] = body.decode("utf-8", "replace")
            with state.lock:
                state.log.append(entry)
                if valid:
                    state.valid += 1
                    state.ids.add(msg_id)
            try:
                self.reply(code, reply_body, extra)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def server_bind(self):
        # HTTPServer.server_bind looks up the host's FQDN, which can hang without DNS.
        import socketserver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def main():
    # A parent (a test runner) may have SIGTERM blocked or ignored, which exec inherits: restore
    # the defaults so that stopping the receiver works.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--no-bodies", action="store_true", help="do not keep bodies in /_log (bench)")
    args = parser.parse_args()
    encoded = args.secret[6:] if args.secret.startswith("whsec_") else args.secret
    state = State(base64.b64decode(encoded), keep_bodies=not args.no_bodies)
    server = Server(("127.0.0.1", args.port), make_handler(state))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
