#!/usr/bin/env python3
"""Starts a command with NOTIFY_SOCKET set and prints the milliseconds until it sends READY=1,
then leaves it running and prints its pid. Usage: ready.py LOGFILE CMD...
(READY_TIMEOUT: seconds to wait for READY=1, default 30.)"""
import os, socket, subprocess, sys, tempfile, time

log = open(sys.argv[1], "w")
path = os.path.join(tempfile.mkdtemp(), "notify.sock")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
sock.settimeout(float(os.environ.get("READY_TIMEOUT", "30")))
env = dict(os.environ, NOTIFY_SOCKET=path)
start = time.monotonic()
proc = subprocess.Popen(sys.argv[2:], env=env, stdout=log, stderr=log, start_new_session=True)
while True:
    data = sock.recv(4096).decode()
    if "READY=1" in data.split("\n"):
        break
elapsed = (time.monotonic() - start) * 1000
print(f"{elapsed:.1f} {proc.pid}")
