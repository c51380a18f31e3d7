#ifndef CPOPPLER_SHIM_H
#define CPOPPLER_SHIM_H

// poppler-glib (PDF text layer, page rendering) and cairo (the raster pages are rendered into).
// Swift cannot pass a Swift closure as cairo's PNG write callback with a growable buffer easily,
// so the PNG encoder to memory lives here. Nothing here owns memory beyond one call, except the
// buffer `cpoppler_surface_to_png` returns, which the caller frees with `g_free`.

#include <poppler.h>
#include <cairo.h>
#include <string.h>
#include <zlib.h>

/// Offset of the first `needle` in `haystack`, or -1 (memmem is a GNU extension Swift does not see).
static inline long cpoppler_find(const unsigned char *haystack, size_t length, const unsigned char *needle, size_t count) {
    if (count == 0 || length < count) return -1;
    const unsigned char *at = haystack;
    const unsigned char *end = haystack + length - count + 1;
    while (at < end) {
        at = (const unsigned char *)memchr(at, needle[0], (size_t)(end - at));
        if (at == NULL) return -1;
        if (memcmp(at, needle, count) == 0) return (long)(at - haystack);
        at++;
    }
    return -1;
}

/// Bytes a zlib (Flate) stream of `length` bytes inflates to, counted without keeping them and
/// stopping once past `limit` (then limit + 1). A corrupt stream counts what came out before the error.
static inline long long cpoppler_inflated_size(const unsigned char *data, size_t length, long long limit) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) return 0;
    unsigned char out[65536];
    long long total = 0;
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)(length > 0x7fffffff ? 0x7fffffff : length);
    for (;;) {
        zs.next_out = out;
        zs.avail_out = sizeof out;
        int rc = inflate(&zs, Z_NO_FLUSH);
        total += (long long)(sizeof out - zs.avail_out);
        if (total > limit) { total = limit + 1; break; }
        if (rc != Z_OK) break;
        if (zs.avail_in == 0 && zs.avail_out != 0) break;
    }
    inflateEnd(&zs);
    return total;
}

typedef struct {
    unsigned char *data;
    size_t length;
    size_t capacity;
} cpoppler_buffer;

static cairo_status_t cpoppler_png_write(void *closure, const unsigned char *data, unsigned int length) {
    cpoppler_buffer *buffer = (cpoppler_buffer *)closure;
    if (buffer->length + length > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 16384;
        while (capacity < buffer->length + length) capacity *= 2;
        unsigned char *grown = (unsigned char *)g_try_realloc(buffer->data, capacity);
        if (grown == NULL) return CAIRO_STATUS_NO_MEMORY;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, data, length);
    buffer->length += length;
    return CAIRO_STATUS_SUCCESS;
}

/// PNG bytes of `surface` (NULL on failure); free with g_free.
static inline unsigned char *cpoppler_surface_to_png(cairo_surface_t *surface, size_t *length) {
    cpoppler_buffer buffer = { NULL, 0, 0 };
    if (cairo_surface_write_to_png_stream(surface, cpoppler_png_write, &buffer) != CAIRO_STATUS_SUCCESS) {
        g_free(buffer.data);
        *length = 0;
        return NULL;
    }
    *length = buffer.length;
    return buffer.data;
}

/// Renders `page` on white into a new RGB24 surface at `scale` (1.0 = 72 dpi).
static inline cairo_surface_t *cpoppler_render_page(PopplerPage *page, double scale, int width, int height) {
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surface);
        return NULL;
    }
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, scale, scale);
    poppler_page_render_for_printing(page, cr);
    cairo_destroy(cr);
    cairo_surface_flush(surface);
    return surface;
}

#endif
