#!/usr/bin/env python3
"""Writes N Standard Webhooks signatures for one 1 KiB JSON body: `id timestamp signature` per
line, the body to BODY_FILE. wrk's Lua cannot compute HMAC, so requests are signed up front; each
has its own webhook-id, so every request is a new durable intake (none is an idempotent replay)."""
import base64, hashlib, hmac, json, sys, time

secret, count, out_path, body_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
key = base64.b64decode(secret.removeprefix("whsec_"))
filler = "x" * 1024
body = json.dumps({"name": "Bench Sender", "email": "bench@example.com", "subject": "Load test", "message": ""})
body = json.dumps({"name": "Bench Sender", "email": "bench@example.com", "subject": "Load test",
                   "message": filler[: 1024 - len(body)]})
assert len(body.encode()) == 1024, len(body.encode())
ts = str(int(time.time()))
with open(body_path, "w") as f:
    f.write(body)
with open(out_path, "w") as f:
    for i in range(count):
        msg_id = f"msg_bench_{ts}_{i}"
        mac = hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
        f.write(f"{msg_id} {ts} v1,{base64.b64encode(mac).decode()}\n")
