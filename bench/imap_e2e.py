#!/usr/bin/env python3
"""IMAP end-to-end helpers for bench/mail.sh, against the Dovecot of scripts/dovecot.sh
(ASTRALISD_TEST_IMAP_* in the environment; STARTTLS with the test CA).

  imap_e2e.py append FOLDER CORPUS_DIR          create FOLDER, APPEND every file of CORPUS_DIR
  imap_e2e.py wait DB COUNT START_EPOCH TIMEOUT  wait until COUNT items exist in the daemon's
                                                 SQLite DB; print messages/s from START_EPOCH to
                                                 the last item's commit
  imap_e2e.py latency DB FOLDER COUNT            APPEND COUNT messages one at a time to a folder the
                                                 running daemon IDLEs on; print p50/p99 of
                                                 APPEND-completed → intake committed
"""
import imaplib, os, sqlite3, ssl, sys, time, uuid


def connect():
    env = os.environ
    ctx = ssl.create_default_context(cafile=env["ASTRALISD_TEST_IMAP_CA_FILE"])
    imap = imaplib.IMAP4(env.get("ASTRALISD_TEST_IMAP_HOST", "127.0.0.1"), int(env["ASTRALISD_TEST_IMAP_PORT"]))
    imap.starttls(ssl_context=ctx)
    imap.login(env["ASTRALISD_TEST_IMAP_USER2"], env["ASTRALISD_TEST_IMAP_PASSWORD2"])
    return imap


def append(folder, corpus):
    imap = connect()
    imap.create(folder)
    files = sorted(os.listdir(corpus))
    start = time.monotonic()
    for name in files:
        with open(os.path.join(corpus, name), "rb") as f:
            typ, data = imap.append(folder, None, None, f.read())
            if typ != "OK":
                sys.exit(f"APPEND failed: {data}")
    elapsed = time.monotonic() - start
    imap.logout()
    print(f"appended={len(files)} seconds={elapsed:.2f}")


def open_db(path):
    # Read-only; the daemon writes in WAL mode, readers never block it.
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


def wait(db_path, count, start_epoch, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            db = open_db(db_path)
            n, last = db.execute("SELECT count(*), max(created_at) FROM items").fetchone()
            db.close()
        except sqlite3.OperationalError:
            n, last = 0, None  # the daemon has not created its database yet
        if n >= count:
            db = open_db(db_path)
            last_intake = db.execute("SELECT max(received_at) FROM intakes").fetchone()[0]
            db.close()
            seconds = last - start_epoch
            intake_seconds = last_intake - start_epoch
            print(f"items={n} seconds={seconds:.2f} messages_per_second={n / seconds:.1f} "
                  f"intake_seconds={intake_seconds:.2f} intakes_per_second={n / intake_seconds:.1f}")
            return
        time.sleep(0.05)
    sys.exit(f"timed out: {n} of {count} items after {timeout} s")


def latency(db_path, folder, count):
    imap = connect()
    samples = []
    for i in range(count):
        message_id = f"{uuid.uuid4()}@bench.example"
        raw = (f"From: Bench <bench@example.com>\r\nTo: inbox@example.com\r\nSubject: latency {i}\r\n"
               f"Message-ID: <{message_id}>\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\n\r\nbody {i}\r\n").encode()
        typ, data = imap.append(folder, None, None, raw)
        appended = time.time()
        if typ != "OK":
            sys.exit(f"APPEND failed: {data}")
        deadline = appended + 30
        received = None
        while time.time() < deadline and received is None:
            db = open_db(db_path)
            row = db.execute("SELECT received_at FROM intakes WHERE json_extract(metadata, '$.message_id') = ?", (message_id,)).fetchone()
            db.close()
            if row:
                received = row[0]
            else:
                time.sleep(0.002)
        if received is None:
            sys.exit(f"message {i} never became an intake")
        # received_at is taken just before the intake's commit; the commit follows within milliseconds.
        samples.append(max(0.0, received - appended))
        time.sleep(0.2)
    imap.logout()
    samples.sort()
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
    print(f"samples={len(samples)} p50_ms={p50 * 1000:.1f} p99_ms={p99 * 1000:.1f} max_ms={samples[-1] * 1000:.1f}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "append":
        append(sys.argv[2], sys.argv[3])
    elif cmd == "wait":
        wait(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    elif cmd == "latency":
        latency(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
