#ifndef CGMIME_SHIM_H
#define CGMIME_SHIM_H

// GMime 3 for Swift. GObject type checks and casts are macros, which Swift cannot call, so each
// one the Mail module needs gets a typed static inline wrapper here. Nothing here owns memory.

#include <gmime/gmime.h>
#include <iconv.h>

static inline gboolean cgmime_is_multipart(GMimeObject *object) { return GMIME_IS_MULTIPART(object); }
static inline gboolean cgmime_is_part(GMimeObject *object) { return GMIME_IS_PART(object); }
static inline gboolean cgmime_is_message_part(GMimeObject *object) { return GMIME_IS_MESSAGE_PART(object); }

static inline GMimeMultipart *cgmime_as_multipart(GMimeObject *object) { return GMIME_MULTIPART(object); }
static inline GMimePart *cgmime_as_part(GMimeObject *object) { return GMIME_PART(object); }
static inline GMimeMessagePart *cgmime_as_message_part(GMimeObject *object) { return GMIME_MESSAGE_PART(object); }
static inline GMimeObject *cgmime_message_as_object(GMimeMessage *message) { return GMIME_OBJECT(message); }

static inline gboolean cgmime_address_is_mailbox(InternetAddress *address) { return INTERNET_ADDRESS_IS_MAILBOX(address); }
static inline gboolean cgmime_address_is_group(InternetAddress *address) { return INTERNET_ADDRESS_IS_GROUP(address); }
static inline const char *cgmime_mailbox_addr(InternetAddress *address) {
    return internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
}
static inline InternetAddressList *cgmime_group_members(InternetAddress *address) {
    return internet_address_group_get_members(INTERNET_ADDRESS_GROUP(address));
}

// Building messages (replies): upcasts from the concrete part types to GMimeObject / GMimePart.
static inline GMimeObject *cgmime_text_part_as_object(GMimeTextPart *part) { return GMIME_OBJECT(part); }
static inline GMimePart *cgmime_text_part_as_part(GMimeTextPart *part) { return GMIME_PART(part); }
static inline GMimeObject *cgmime_part_as_object(GMimePart *part) { return GMIME_OBJECT(part); }
static inline GMimeObject *cgmime_multipart_as_object(GMimeMultipart *multipart) { return GMIME_OBJECT(multipart); }

/// Drops one reference of any GObject (message, stream, parser, address list...).
static inline void cgmime_unref(gpointer object) { g_object_unref(object); }

/// A memory stream holding its own copy of `length` bytes.
static inline GMimeStream *cgmime_stream_mem_new_copy(const void *bytes, size_t length) {
    return g_mime_stream_mem_new_with_buffer((const char *)bytes, length);
}
static inline GByteArray *cgmime_stream_mem_bytes(GMimeStream *stream) {
    return g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
}

/// A stream reading `encoded` with its transfer encoding (base64, quoted-printable, uuencode)
/// removed, as g_mime_data_wrapper_write_to_stream does; other encodings read as they are.
/// Returns a new reference (or NULL).
static inline GMimeStream *cgmime_decoding_stream(GMimeStream *encoded, GMimeContentEncoding encoding) {
    GMimeStream *filtered = g_mime_stream_filter_new(encoded);
    if (filtered == NULL) return NULL;
    switch (encoding) {
    case GMIME_CONTENT_ENCODING_BASE64:
    case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
    case GMIME_CONTENT_ENCODING_UUENCODE: {
        GMimeFilter *filter = g_mime_filter_basic_new(encoding, FALSE);
        if (filter != NULL) {
            g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), filter);
            g_object_unref(filter);
        }
        break;
    }
    default:
        break;
    }
    return filtered;
}

/// iconv_open's failure value is `(iconv_t) -1`, which Swift cannot spell.
static inline gboolean cgmime_iconv_is_valid(iconv_t cd) { return cd != (iconv_t)-1; }

#endif
