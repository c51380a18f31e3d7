#ifndef CETPAN_SHIM_H
#define CETPAN_SHIM_H

// libetpan's IMAP client plus small typed helpers, so Swift never walks libetpan's clists or
// builds its command structures. Every helper returns a MAILIMAP_* code (or -1 for a local
// failure with a message in `err`) and hands back malloc'd memory the caller frees with free().
//
// libetpan does not verify TLS certificates (its GnuTLS stream only encrypts), so the peer's
// chain is verified here with GnuTLS against the system trust store or a configured CA file,
// including the host name, right after the handshake and before any credential is sent.

#include <libetpan/libetpan.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cetpan_set_sni(struct mailstream_ssl_context *context, void *host) {
    if (host != NULL) mailstream_ssl_set_server_name(context, (char *)host);
}

/// Implicit TLS (imaps), with SNI.
static inline int cetpan_ssl_connect(mailimap *session, const char *host, uint16_t port) {
    return mailimap_ssl_connect_with_callback(session, host, port, cetpan_set_sni, (void *)host);
}

/// STARTTLS on an established plain connection, with SNI.
static inline int cetpan_starttls(mailimap *session, const char *host) {
    return mailimap_socket_starttls_with_callback(session, cetpan_set_sni, (void *)host);
}

/// Verifies the TLS peer's certificate chain and host name. 0 when trusted, -1 with a reason.
static inline int cetpan_verify_peer(mailimap *session, const char *host, const char *ca_file, char *err, size_t err_len) {
    carray *chain = mailstream_get_certificate_chain(session->imap_stream);
    if (chain == NULL || carray_count(chain) == 0) {
        if (chain != NULL) mailstream_certificate_chain_free(chain);
        snprintf(err, err_len, "the server presented no TLS certificate");
        return -1;
    }
    unsigned int count = carray_count(chain);
    gnutls_x509_crt_t *certs = calloc(count, sizeof(gnutls_x509_crt_t));
    int result = -1;
    unsigned int imported = 0;
    gnutls_x509_trust_list_t trust = NULL;
    if (certs == NULL) { snprintf(err, err_len, "out of memory"); goto done; }
    for (; imported < count; imported++) {
        MMAPString *der = carray_get(chain, imported);
        gnutls_datum_t datum = { (unsigned char *)der->str, (unsigned int)der->len };
        if (gnutls_x509_crt_init(&certs[imported]) < 0) { snprintf(err, err_len, "cannot allocate a certificate"); goto done; }
        if (gnutls_x509_crt_import(certs[imported], &datum, GNUTLS_X509_FMT_DER) < 0) {
            gnutls_x509_crt_deinit(certs[imported]);
            snprintf(err, err_len, "the server's certificate %u cannot be parsed", imported);
            goto done;
        }
    }
    if (gnutls_x509_trust_list_init(&trust, 0) < 0) { snprintf(err, err_len, "cannot allocate a trust list"); goto done; }
    int loaded = (ca_file != NULL && ca_file[0] != 0)
        ? gnutls_x509_trust_list_add_trust_file(trust, ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0)
        : gnutls_x509_trust_list_add_system_trust(trust, 0, 0);
    if (loaded <= 0) {
        snprintf(err, err_len, "no trusted CA certificate could be loaded from %s", (ca_file != NULL && ca_file[0] != 0) ? ca_file : "the system trust store");
        goto done;
    }
    gnutls_typed_vdata_st data[1];
    data[0].type = GNUTLS_DT_DNS_HOSTNAME;
    data[0].data = (unsigned char *)host;
    data[0].size = 0;
    unsigned int status = 0;
    int verified = gnutls_x509_trust_list_verify_crt2(trust, certs, count, data, 1, 0, &status, NULL);
    if (verified < 0) {
        snprintf(err, err_len, "certificate verification failed: %s", gnutls_strerror(verified));
        goto done;
    }
    if (status != 0) {
        gnutls_datum_t text = { NULL, 0 };
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0 && text.data != NULL) {
            snprintf(err, err_len, "%s", (const char *)text.data);
            gnutls_free(text.data);
        } else {
            snprintf(err, err_len, "the server's certificate is not trusted (status %u)", status);
        }
        goto done;
    }
    result = 0;
done:
    if (trust != NULL) gnutls_x509_trust_list_deinit(trust, 1);
    for (unsigned int i = 0; i < imported; i++) gnutls_x509_crt_deinit(certs[i]);
    free(certs);
    mailstream_certificate_chain_free(chain);
    return result;
}

/// Refreshes the capability list the session keeps (after the greeting, STARTTLS and login).
static inline int cetpan_refresh_capabilities(mailimap *session) {
    struct mailimap_capability_data *data = NULL;
    int r = mailimap_capability(session, &data);
    if (data != NULL) mailimap_capability_data_free(data);
    return r;
}

static inline uint32_t cetpan_uidvalidity(mailimap *session) {
    return session->imap_selection_info ? session->imap_selection_info->sel_uidvalidity : 0;
}

/// The message count of the selected folder as the server last reported it (SELECT, or any
/// untagged EXISTS since, which libetpan records whatever command it answered).
static inline uint32_t cetpan_exists(mailimap *session) {
    return session->imap_selection_info ? session->imap_selection_info->sel_exists : 0;
}

static inline uint32_t cetpan_uidnext(mailimap *session) {
    return session->imap_selection_info ? session->imap_selection_info->sel_uidnext : 0;
}

/// The server's last response text (for error messages), or "".
static inline const char *cetpan_response(mailimap *session) {
    return session->imap_response ? session->imap_response : "";
}

static inline int cetpan_idle_fd(mailimap *session) {
    return mailimap_idle_get_fd(session);
}

/// True when libetpan already read server data during IDLE that poll() on the fd would not see.
static inline int cetpan_idle_buffered(mailimap *session) {
    return session->imap_stream != NULL && session->imap_stream->read_buffer_len > 0;
}

/// UID FETCH first:* (UID RFC822.SIZE). Returns parallel arrays of UIDs > first-1 (the server
/// answers "n:*" with the last message even when its UID is lower; those are dropped).
static inline int cetpan_fetch_sizes(mailimap *session, uint32_t first, uint32_t **uids, uint32_t **sizes, size_t *count) {
    *uids = NULL; *sizes = NULL; *count = 0;
    struct mailimap_set *set = mailimap_set_new_interval(first, 0);
    struct mailimap_fetch_type *type = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_uid());
    mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_rfc822_size());
    clist *result = NULL;
    int r = mailimap_uid_fetch(session, set, type, &result);
    mailimap_fetch_type_free(type);
    mailimap_set_free(set);
    if (r != MAILIMAP_NO_ERROR) return r;
    size_t capacity = clist_count(result);
    *uids = calloc(capacity ? capacity : 1, sizeof(uint32_t));
    *sizes = calloc(capacity ? capacity : 1, sizeof(uint32_t));
    if (*uids == NULL || *sizes == NULL) { free(*uids); free(*sizes); *uids = NULL; *sizes = NULL; mailimap_fetch_list_free(result); return MAILIMAP_ERROR_MEMORY; }
    for (clistiter *it = clist_begin(result); it != NULL; it = clist_next(it)) {
        struct mailimap_msg_att *att = clist_content(it);
        uint32_t uid = 0, size = 0;
        for (clistiter *i = clist_begin(att->att_list); i != NULL; i = clist_next(i)) {
            struct mailimap_msg_att_item *item = clist_content(i);
            if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || item->att_data.att_static == NULL) continue;
            struct mailimap_msg_att_static *s = item->att_data.att_static;
            if (s->att_type == MAILIMAP_MSG_ATT_UID) uid = s->att_data.att_uid;
            else if (s->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE) size = s->att_data.att_rfc822_size;
        }
        if (uid >= first && uid != 0) { (*uids)[*count] = uid; (*sizes)[*count] = size; (*count)++; }
    }
    mailimap_fetch_list_free(result);
    return MAILIMAP_NO_ERROR;
}

/// A UID set of `count` single UIDs.
static inline struct mailimap_set *cetpan_set(const uint32_t *uids, size_t count) {
    struct mailimap_set *set = mailimap_set_new_empty();
    if (set == NULL) return NULL;
    for (size_t i = 0; i < count; i++) mailimap_set_add_single(set, uids[i]);
    return set;
}

/// UID FETCH uids BODY.PEEK[]: whole messages without setting \Seen. The caller passes output
/// arrays of `count` entries; `*found` says how many were filled (expunged messages are missing).
/// Each `bodies[i]` is malloc'd and freed by the caller.
static inline int cetpan_fetch_bodies(mailimap *session, const uint32_t *uids, size_t count,
                                      uint32_t *found_uids, char **bodies, size_t *lengths, size_t *found) {
    *found = 0;
    struct mailimap_set *set = cetpan_set(uids, count);
    if (set == NULL) return MAILIMAP_ERROR_MEMORY;
    struct mailimap_fetch_type *type = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_uid());
    mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL)));
    clist *result = NULL;
    int r = mailimap_uid_fetch(session, set, type, &result);
    mailimap_fetch_type_free(type);
    mailimap_set_free(set);
    if (r != MAILIMAP_NO_ERROR) return r;
    for (clistiter *it = clist_begin(result); it != NULL && *found < count; it = clist_next(it)) {
        struct mailimap_msg_att *att = clist_content(it);
        uint32_t seen_uid = 0;
        struct mailimap_msg_att_body_section *body = NULL;
        for (clistiter *i = clist_begin(att->att_list); i != NULL; i = clist_next(i)) {
            struct mailimap_msg_att_item *item = clist_content(i);
            if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || item->att_data.att_static == NULL) continue;
            struct mailimap_msg_att_static *s = item->att_data.att_static;
            if (s->att_type == MAILIMAP_MSG_ATT_UID) seen_uid = s->att_data.att_uid;
            else if (s->att_type == MAILIMAP_MSG_ATT_BODY_SECTION) body = s->att_data.att_body_section;
        }
        int wanted = 0;
        for (size_t k = 0; k < count; k++) if (uids[k] == seen_uid) wanted = 1;
        if (!wanted || seen_uid == 0 || body == NULL) continue;
        size_t n = body->sec_body_part ? body->sec_length : 0;
        char *copy = malloc(n ? n : 1);
        if (copy == NULL) { mailimap_fetch_list_free(result); return MAILIMAP_ERROR_MEMORY; }
        if (n) memcpy(copy, body->sec_body_part, n);
        found_uids[*found] = seen_uid;
        bodies[*found] = copy;
        lengths[*found] = n;
        (*found)++;
    }
    mailimap_fetch_list_free(result);
    return MAILIMAP_NO_ERROR;
}

/// UID FETCH uid BODY.PEEK[]<offset.length>: one piece of a message without setting \Seen.
/// *found is 0 when the message is gone; *body (malloc'd, freed by the caller) holds up to
/// `length` bytes — fewer at the end of the message, none past it.
static inline int cetpan_fetch_partial(mailimap *session, uint32_t uid, uint32_t offset, uint32_t length,
                                       char **body, size_t *body_length, int *found) {
    *body = NULL; *body_length = 0; *found = 0;
    struct mailimap_set *set = mailimap_set_new_single(uid);
    if (set == NULL) return MAILIMAP_ERROR_MEMORY;
    struct mailimap_fetch_type *type = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_uid());
    mailimap_fetch_type_new_fetch_att_list_add(type,
        mailimap_fetch_att_new_body_peek_section_partial(mailimap_section_new(NULL), offset, length));
    clist *result = NULL;
    int r = mailimap_uid_fetch(session, set, type, &result);
    mailimap_fetch_type_free(type);
    mailimap_set_free(set);
    if (r != MAILIMAP_NO_ERROR) return r;
    for (clistiter *it = clist_begin(result); it != NULL; it = clist_next(it)) {
        struct mailimap_msg_att *att = clist_content(it);
        uint32_t seen_uid = 0;
        struct mailimap_msg_att_body_section *section = NULL;
        for (clistiter *i = clist_begin(att->att_list); i != NULL; i = clist_next(i)) {
            struct mailimap_msg_att_item *item = clist_content(i);
            if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || item->att_data.att_static == NULL) continue;
            struct mailimap_msg_att_static *s = item->att_data.att_static;
            if (s->att_type == MAILIMAP_MSG_ATT_UID) seen_uid = s->att_data.att_uid;
            else if (s->att_type == MAILIMAP_MSG_ATT_BODY_SECTION) section = s->att_data.att_body_section;
        }
        if (seen_uid != uid) continue;
        // Past the end a server may answer "" or NIL: found, no bytes.
        size_t n = (section != NULL && section->sec_body_part != NULL) ? section->sec_length : 0;
        if (n > length) n = length;
        char *copy = malloc(n ? n : 1);
        if (copy == NULL) { mailimap_fetch_list_free(result); return MAILIMAP_ERROR_MEMORY; }
        if (n) memcpy(copy, section->sec_body_part, n);
        *body = copy;
        *body_length = n;
        *found = 1;
        break;
    }
    mailimap_fetch_list_free(result);
    return MAILIMAP_NO_ERROR;
}

static inline struct mailimap_flag *cetpan_flag(const char *name) {
    if (strcasecmp(name, "\\Seen") == 0) return mailimap_flag_new_seen();
    if (strcasecmp(name, "\\Deleted") == 0) return mailimap_flag_new_deleted();
    if (strcasecmp(name, "\\Flagged") == 0) return mailimap_flag_new_flagged();
    if (strcasecmp(name, "\\Answered") == 0) return mailimap_flag_new_answered();
    if (strcasecmp(name, "\\Draft") == 0) return mailimap_flag_new_draft();
    char *copy = strdup(name);
    return copy ? mailimap_flag_new_flag_keyword(copy) : NULL;
}

/// UID STORE uids +FLAGS.SILENT (flag).
static inline int cetpan_add_flag(mailimap *session, const uint32_t *uids, size_t count, const char *name) {
    struct mailimap_flag *flag = cetpan_flag(name);
    if (flag == NULL) return MAILIMAP_ERROR_MEMORY;
    struct mailimap_flag_list *list = mailimap_flag_list_new_empty();
    mailimap_flag_list_add(list, flag);
    struct mailimap_store_att_flags *att = mailimap_store_att_flags_new_add_flags_silent(list);
    struct mailimap_set *set = cetpan_set(uids, count);
    int r = set ? mailimap_uid_store(session, set, att) : MAILIMAP_ERROR_MEMORY;
    mailimap_store_att_flags_free(att);
    if (set) mailimap_set_free(set);
    return r;
}

static inline int cetpan_uid_move(mailimap *session, const uint32_t *uids, size_t count, const char *folder) {
    struct mailimap_set *set = cetpan_set(uids, count);
    if (set == NULL) return MAILIMAP_ERROR_MEMORY;
    int r = mailimap_uid_move(session, set, folder);
    mailimap_set_free(set);
    return r;
}

static inline int cetpan_uid_copy(mailimap *session, const uint32_t *uids, size_t count, const char *folder) {
    struct mailimap_set *set = cetpan_set(uids, count);
    if (set == NULL) return MAILIMAP_ERROR_MEMORY;
    int r = mailimap_uid_copy(session, set, folder);
    mailimap_set_free(set);
    return r;
}

/// UID EXPUNGE uids (UIDPLUS): removes only these messages, not others marked \Deleted by someone else.
static inline int cetpan_uid_expunge(mailimap *session, const uint32_t *uids, size_t count) {
    struct mailimap_set *set = cetpan_set(uids, count);
    if (set == NULL) return MAILIMAP_ERROR_MEMORY;
    int r = mailimap_uid_expunge(session, set);
    mailimap_set_free(set);
    return r;
}

static inline int cetpan_append(mailimap *session, const char *folder, const char *bytes, size_t length) {
    return mailimap_append(session, folder, NULL, NULL, bytes, length);
}

/// UID FETCH uid (FLAGS): 1 in *has when the message carries `name`, *found 0 when it is gone.
static inline int cetpan_has_flag(mailimap *session, uint32_t uid, const char *name, int *has, int *found) {
    *has = 0; *found = 0;
    struct mailimap_set *set = mailimap_set_new_single(uid);
    struct mailimap_fetch_type *type = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_uid());
    mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_flags());
    clist *result = NULL;
    int r = mailimap_uid_fetch(session, set, type, &result);
    mailimap_fetch_type_free(type);
    mailimap_set_free(set);
    if (r != MAILIMAP_NO_ERROR) return r;
    for (clistiter *it = clist_begin(result); it != NULL; it = clist_next(it)) {
        struct mailimap_msg_att *att = clist_content(it);
        uint32_t seen_uid = 0;
        int flagged = 0;
        for (clistiter *i = clist_begin(att->att_list); i != NULL; i = clist_next(i)) {
            struct mailimap_msg_att_item *item = clist_content(i);
            if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC && item->att_data.att_static != NULL
                && item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID) {
                seen_uid = item->att_data.att_static->att_data.att_uid;
            } else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC && item->att_data.att_dyn != NULL && item->att_data.att_dyn->att_list != NULL) {
                for (clistiter *f = clist_begin(item->att_data.att_dyn->att_list); f != NULL; f = clist_next(f)) {
                    struct mailimap_flag_fetch *fetched = clist_content(f);
                    if (fetched == NULL || fetched->fl_type != MAILIMAP_FLAG_FETCH_OTHER || fetched->fl_flag == NULL) continue;
                    struct mailimap_flag *flag = fetched->fl_flag;
                    const char *text = NULL;
                    switch (flag->fl_type) {
                    case MAILIMAP_FLAG_SEEN: text = "\\Seen"; break;
                    case MAILIMAP_FLAG_DELETED: text = "\\Deleted"; break;
                    case MAILIMAP_FLAG_FLAGGED: text = "\\Flagged"; break;
                    case MAILIMAP_FLAG_ANSWERED: text = "\\Answered"; break;
                    case MAILIMAP_FLAG_DRAFT: text = "\\Draft"; break;
                    case MAILIMAP_FLAG_KEYWORD: text = flag->fl_data.fl_keyword; break;
                    case MAILIMAP_FLAG_EXTENSION: text = flag->fl_data.fl_extension; break;
                    default: break;
                    }
                    if (text != NULL && strcasecmp(text, name) == 0) flagged = 1;
                }
            }
        }
        if (seen_uid == uid) { *found = 1; *has = flagged; }
    }
    mailimap_fetch_list_free(result);
    return MAILIMAP_NO_ERROR;
}

#endif
