#!/usr/bin/env python3
"""Writes the document benchmark corpus: text PDFs (Helvetica, several pages of invoice-like
lines) written object by object, no libraries needed. Usage: make_documents.py DIR FILES PAGES"""
import os
import random
import sys

def pdf(pages):
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + i * 2} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for lines in pages:
        content_id = len(objects) + 2
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>")
        body = "BT /F1 11 Tf 56 790 Td 14 TL\n" + "".join(f"({line}) Tj T*\n" for line in lines) + "ET"
        objects.append(f"<< /Length {len(body)} >>\nstream\n{body}\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects):
        offsets.append(len(out))
        out += f"{i + 1} 0 obj\n{obj}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for o in offsets:
        out += f"{o:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)

def main():
    folder, files, pages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(7)
    words = "invoice total amount due net tax vat order delivery customer payment terms bank account reference item quantity price".split()
    for f in range(files):
        doc = []
        for p in range(pages):
            lines = [f"INVOICE {1000 + f}-{p + 1}   Page {p + 1} of {pages}"]
            for n in range(50):
                lines.append(" ".join(rng.choice(words).capitalize() for _ in range(6)) + f"  {rng.randint(1, 99999) / 100:.2f} EUR")
            doc.append(lines)
        with open(os.path.join(folder, f"doc{f:03d}.pdf"), "wb") as out:
            out.write(pdf(doc))

if __name__ == "__main__":
    main()
