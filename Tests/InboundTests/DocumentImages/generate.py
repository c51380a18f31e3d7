#!/usr/bin/env python3
"""Regenerates the image fixtures of DocumentImageTests (Tests/InboundTests/DocumentImages/).

A DEV TOOL, not run by CI: the files are committed. Needs python3 with Pillow (`pip install pillow`,
built with libtiff and libwebp, as the PyPI wheels are) and the DejaVu fonts (fonts-dejavu-core).
Deterministic: fixed text, no timestamps.

    python3 Tests/InboundTests/DocumentImages/generate.py

Output:
    two-pages.tif   a 2-page TIFF (1-bit, Group 4), 200 dpi, different text on each page
    receipt.webp    a lossless WebP of a receipt, 200 dpi
    rotated.png     a page turned 90 degrees clockwise (OSD must turn it back 270 degrees clockwise)
    upside-down.png the same page turned 180 degrees (Tesseract's layout analysis alone does not read it)
"""
import os

from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def page(lines, size=(1100, 1400), points=44):
    """White 8-bit page, black text lines from the top left."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, points)
    y = 90
    for line in lines:
        draw.text((80, y), line, font=font, fill=0)
        y += int(points * 1.6)
    return image


def main():
    first = page(["INVOICE 1001", "Page one of two", "Northwind Traders Ltd", "Issue date 2025-03-14"])
    second = page(["PAGE TWO", "Total due EUR 2002.50", "Pay within 30 days", "Thank you"])
    frames = [p.convert("1") for p in (first, second)]
    frames[0].save(os.path.join(HERE, "two-pages.tif"), save_all=True, append_images=frames[1:], compression="group4", dpi=(200, 200))

    receipt = page(["CORNER CAFE", "Receipt 5521", "2 Espresso 5.00", "1 Croissant 2.40", "TOTAL 7.40 EUR", "Paid by card"], size=(900, 1100), points=40)
    receipt.save(os.path.join(HERE, "receipt.webp"), lossless=True, quality=100, method=6)

    # Enough lines of text for Tesseract's orientation detection to be confident.
    upright = page([
        "QUOTATION Q-3141",
        "Valid until 2025-06-30",
        "Fabrikam Office Supplies",
        "Desk chairs 12 pieces",
        "Standing desks 4 pieces",
        "Monitor arms 8 pieces",
        "Delivery and assembly",
        "Total EUR 6,480.00",
        "Questions: sales@fabrikam.example",
    ], size=(1300, 1500), points=40)
    upright.transpose(Image.Transpose.ROTATE_270).save(os.path.join(HERE, "rotated.png"), dpi=(200, 200), optimize=True)
    upright.transpose(Image.Transpose.ROTATE_180).save(os.path.join(HERE, "upside-down.png"), dpi=(200, 200), optimize=True)


if __name__ == "__main__":
    main()
