#ifndef CTESSERACT_SHIM_H
#define CTESSERACT_SHIM_H

// Tesseract's C API and Leptonica (image decoding, scaling, deskew, PNG encoding). Leptonica's
// `pixDestroy` takes a `PIX **`; the wrapper lets Swift free a pix it holds by value.

#include <tesseract/capi.h>
#include <leptonica/allheaders.h>

static inline void ctess_pix_destroy(PIX *pix) {
    PIX *p = pix;
    pixDestroy(&p);
}

/// Leptonica prints warnings to stderr for hostile input; the child keeps stderr for its own
/// reason lines, so messages below errors are silenced once at start.
static inline void ctess_quiet(void) {
    setMsgSeverity(L_SEVERITY_ERROR);
}

/// A 32 bpp pix from cairo RGB24/ARGB32 rows (native 0x00RRGGBB words) — Leptonica keeps
/// 0xRRGGBBAA words — so rendered PDF pages go through the same deskew and OCR path as images.
static inline PIX *ctess_pix_from_xrgb(const unsigned char *data, int width, int height, int stride) {
    PIX *pix = pixCreate(width, height, 32);
    if (pix == NULL) return NULL;
    l_uint32 *dest = pixGetData(pix);
    int wpl = pixGetWpl(pix);
    for (int y = 0; y < height; y++) {
        const l_uint32 *row = (const l_uint32 *)(data + (size_t)y * stride);
        l_uint32 *line = dest + (size_t)y * wpl;
        for (int x = 0; x < width; x++) line[x] = row[x] << 8;
    }
    return pix;
}

#endif
