#!/usr/bin/env python3
"""Python's side of bench/mail.sh: the same work `astralisd parse --bench` does, with the standard
library. Every file is read into memory first; then, ITERATIONS times over all of them:
BytesParser(policy=default) parses the message, every part is walked (into message/rfc822 too),
each leaf's content is decoded (get_content: text to str, base64/QP to bytes), non-body parts
are hashed with SHA-256, the text body is picked (get_body plain, else html) and the main
headers are read. One thread, like the astralisd side. Prints the same key=value line.

    python_mail_parse.py DIR ITERATIONS
"""
import hashlib
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path


def full_parse(raw, parser):
    msg = parser.parsebytes(raw)
    for header in ("From", "To", "Cc", "Subject", "Date", "Message-ID"):
        msg.get(header)
    body = msg.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    attachments = 0
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type() == "message/rfc822":
            continue
        try:
            content = part.get_content()
        except Exception:  # a malformed part; astralisd records a defect and goes on
            content = part.get_payload(decode=True) or b""
        if part is body:
            continue
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        hashlib.sha256(content).hexdigest()
        attachments += 1
    return attachments, len(text.encode("utf-8", "surrogateescape"))


def main():
    folder, iterations = Path(sys.argv[1]), int(sys.argv[2])
    messages = [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]
    parser = BytesParser(policy=policy.default)
    parsed = attachments = text_bytes = 0
    start = time.perf_counter()
    for _ in range(iterations):
        for raw in messages:
            a, t = full_parse(raw, parser)
            parsed += 1
            attachments += a
            text_bytes += t
    seconds = time.perf_counter() - start
    total = sum(len(m) for m in messages) * iterations
    print(f"files={len(messages)} iterations={iterations} parsed={parsed} refused=0 attachments={attachments} "
          f"text_bytes={text_bytes} bytes={total} seconds={seconds:.4f} "
          f"messages_per_second={parsed / seconds:.1f} mb_per_second={total / 1e6 / seconds:.2f}")


if __name__ == "__main__":
    main()
