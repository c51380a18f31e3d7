#!/usr/bin/env python3
"""Writes N realistic email files into DIR for bench/mail.sh, in a fixed mix of five shapes:
plain text; HTML + text alternative with an inline image; a PDF attachment of ~100 KB as base64 (75 KiB decoded);
a non-UTF-8 message (ISO-8859-1 body, windows-1252 HTML, RFC 2047 subject and an RFC 2231 file
name); a forwarded message (message/rfc822) carrying its own attachment. Deterministic (seeded).

    make_mail_corpus.py DIR N
"""
import random
import re
import sys
from email.message import EmailMessage
from email.policy import SMTP
from email.header import Header
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

WORDS = ("invoice quote delivery schedule meeting project budget approval contract review payment "
         "order shipment account renewal support request proposal report summary update question").split()


def sentence(rng, n=14):
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def paragraph(rng, sentences=5):
    return " ".join(sentence(rng) for _ in range(sentences))


def pdf_bytes(rng, size):
    # A PDF-shaped binary: header, random stream bytes (incompressible, like a scan), trailer.
    head = b"%PDF-1.7\n1 0 obj << /Length " + str(size).encode() + b" >> stream\n"
    return head + rng.randbytes(size) + b"\nendstream endobj\n%%EOF\n"


def base(rng, i, subject):
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Client {i} <client{i}@example.com>"
    msg["To"] = "inbox@astralis.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<bench-{i}@example.com>"
    when = datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(minutes=i)
    msg["Date"] = format_datetime(when)
    return msg


def plain(rng, i):
    msg = base(rng, i, f"Question about order {i}")
    msg.set_content("\n\n".join(paragraph(rng) for _ in range(4)))
    return msg.as_bytes()


def alternative(rng, i):
    msg = base(rng, i, f"Newsletter {i}: project update")
    paragraphs = [paragraph(rng) for _ in range(6)]
    msg.set_content("\n\n".join(paragraphs))
    html = "<html><head><style>p {color: #333}</style></head><body>" + "".join(
        f"<p>{p}</p><table><tr><td>{i}</td><td>&euro; {rng.randint(10, 999)}</td></tr></table>" for p in paragraphs
    ) + '<img src="cid:logo@example.com"></body></html>'
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(rng.randbytes(6000), maintype="image", subtype="png", cid="<logo@example.com>")
    return msg.as_bytes()


def with_pdf(rng, i):
    msg = base(rng, i, f"Invoice 2026-{i:05d}")
    msg.set_content(paragraph(rng))
    msg.add_attachment(pdf_bytes(rng, 75 * 1024), maintype="application", subtype="pdf", filename=f"invoice-2026-{i:05d}.pdf")
    return msg.as_bytes()


def latin(rng, i):
    msg = base(rng, i, "placeholder")
    text = f"Bonjour, voici la facture n° {i}. Prix: 1 234,50 € — à régler avant le 15 mars. Grüße, Jürgen Müller.\n" + paragraph(rng)
    msg.set_content(text.replace("€", "EUR").replace("—", "-"), charset="iso-8859-1", cte="quoted-printable")
    msg.add_alternative(f"<p>{text}</p>", subtype="html", charset="windows-1252", cte="quoted-printable")
    msg.add_attachment(rng.randbytes(4000), maintype="application", subtype="octet-stream", filename=f"relevé-{i}.xlsx")
    # An ISO-8859-1 encoded-word subject, as older European clients write it (the policy would
    # re-encode it as UTF-8, so it is put in the bytes directly).
    subject = Header(f"Réservation pour la réunion n° {i}, Müller & Søn", "iso-8859-1").encode()
    return re.sub(rb"^Subject: placeholder\r?\n", b"Subject: " + subject.encode() + b"\n", msg.as_bytes(), count=1, flags=re.M)


def forwarded(rng, i):
    inner = base(rng, i + 1_000_000, f"Contract draft v{i}")
    inner.set_content(paragraph(rng))
    inner.add_attachment(pdf_bytes(rng, 20 * 1024), maintype="application", subtype="pdf", filename=f"contract-v{i}.pdf")
    msg = base(rng, i, f"Fwd: Contract draft v{i}")
    msg.set_content("See the forwarded message below.\n\n" + paragraph(rng, 2))
    msg.add_attachment(inner)
    return msg.as_bytes()


SHAPES = [plain, alternative, with_pdf, latin, forwarded]


def main():
    folder, count = Path(sys.argv[1]), int(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20260301)
    for i in range(count):
        shape = SHAPES[i % len(SHAPES)]
        (folder / f"{i:06d}-{shape.__name__}.eml").write_bytes(shape(rng, i))


if __name__ == "__main__":
    main()
