#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H

// libcurl for Swift: its header, a table of its functions loaded at run time, and typed wrappers
// for the variadic ones.

#include <curl/curl.h>
#include <dlfcn.h>
#include <stdio.h>

// libcurl is opened with dlopen when the first message is sent, not linked: through libssh2,
// Kerberos and LDAP it brings about 4 MB of libraries (OpenSSL's libcrypto alone is 2.9 MB
// resident) that a daemon which never sends mail would otherwise carry from start-up. The
// header is still libcurl's own, so every type and constant is checked at compile time; only
// the functions are reached through this table.
typedef struct ccurl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *handle);
    CURLcode (*easy_perform)(CURL *handle);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *string);
    void (*slist_free_all)(struct curl_slist *list);
    char *(*version)(void);
    // Variadic in libcurl (CURLcode (*)(CURL *, CURLoption, ...)), which Swift cannot import;
    // the typed wrappers below cast them back and call them as variadic functions.
    void *easy_setopt;
    void *easy_getinfo;
} ccurl_api;

typedef CURLcode (*ccurl_setopt_function)(CURL *handle, CURLoption option, ...);
typedef CURLcode (*ccurl_getinfo_function)(CURL *handle, CURLINFO info, ...);

// Opens the first of `names` (sonames) that loads and fills `api`. Returns 0, or -1 with the
// reason in `error` (dlerror's text for the last name tried, or the missing symbol).
static inline int ccurl_load(const char *const *names, int count, ccurl_api *api, char *error, size_t error_size) {
    void *library = NULL;
    error[0] = 0;
    for (int index = 0; index < count && library == NULL; index++) {
        library = dlopen(names[index], RTLD_NOW | RTLD_LOCAL);
        if (library == NULL) {
            const char *why = dlerror();
            snprintf(error, error_size, "%s", why ? why : names[index]);
        }
    }
    if (library == NULL) return -1;
#define CCURL_SYMBOL(field, name) \
    do { \
        *(void **)(&api->field) = dlsym(library, name); \
        if (api->field == NULL) { snprintf(error, error_size, "libcurl has no symbol %s", name); dlclose(library); return -1; } \
    } while (0)
    CCURL_SYMBOL(global_init, "curl_global_init");
    CCURL_SYMBOL(easy_init, "curl_easy_init");
    CCURL_SYMBOL(easy_cleanup, "curl_easy_cleanup");
    CCURL_SYMBOL(easy_perform, "curl_easy_perform");
    CCURL_SYMBOL(easy_strerror, "curl_easy_strerror");
    CCURL_SYMBOL(slist_append, "curl_slist_append");
    CCURL_SYMBOL(slist_free_all, "curl_slist_free_all");
    CCURL_SYMBOL(version, "curl_version");
    CCURL_SYMBOL(easy_setopt, "curl_easy_setopt");
    CCURL_SYMBOL(easy_getinfo, "curl_easy_getinfo");
#undef CCURL_SYMBOL
    return 0;
}

// The table's functions, called through it. `ccurl_load` fills every field or fails, so a
// loaded table has no NULL entry.
static inline CURLcode ccurl_global_init(const ccurl_api *api, long flags) { return api->global_init(flags); }
static inline char *ccurl_version(const ccurl_api *api) { return api->version(); }
static inline CURL *ccurl_easy_init(const ccurl_api *api) { return api->easy_init(); }
static inline void ccurl_easy_cleanup(const ccurl_api *api, CURL *handle) { api->easy_cleanup(handle); }
static inline CURLcode ccurl_easy_perform(const ccurl_api *api, CURL *handle) { return api->easy_perform(handle); }
static inline const char *ccurl_easy_strerror(const ccurl_api *api, CURLcode code) { return api->easy_strerror(code); }
static inline struct curl_slist *ccurl_slist_append(const ccurl_api *api, struct curl_slist *list, const char *string) {
    return api->slist_append(list, string);
}
static inline void ccurl_slist_free_all(const ccurl_api *api, struct curl_slist *list) { api->slist_free_all(list); }

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call, so each argument
// type gets a typed wrapper. Nothing here owns memory.
static inline CURLcode ccurl_setopt_long(const ccurl_api *api, CURL *handle, CURLoption option, long value) {
    return ((ccurl_setopt_function)api->easy_setopt)(handle, option, value);
}
static inline CURLcode ccurl_setopt_string(const ccurl_api *api, CURL *handle, CURLoption option, const char *value) {
    return ((ccurl_setopt_function)api->easy_setopt)(handle, option, value);
}
static inline CURLcode ccurl_setopt_pointer(const ccurl_api *api, CURL *handle, CURLoption option, void *value) {
    return ((ccurl_setopt_function)api->easy_setopt)(handle, option, value);
}
static inline CURLcode ccurl_setopt_slist(const ccurl_api *api, CURL *handle, CURLoption option, struct curl_slist *value) {
    return ((ccurl_setopt_function)api->easy_setopt)(handle, option, value);
}
typedef size_t (*ccurl_io_callback)(char *buffer, size_t size, size_t count, void *userdata);
static inline CURLcode ccurl_setopt_io_callback(const ccurl_api *api, CURL *handle, CURLoption option, ccurl_io_callback callback) {
    return ((ccurl_setopt_function)api->easy_setopt)(handle, option, callback);
}
typedef int (*ccurl_debug_callback)(CURL *handle, curl_infotype type, char *data, size_t size, void *userdata);
static inline CURLcode ccurl_setopt_debug_callback(const ccurl_api *api, CURL *handle, ccurl_debug_callback callback) {
    return ((ccurl_setopt_function)api->easy_setopt)(handle, CURLOPT_DEBUGFUNCTION, callback);
}
static inline CURLcode ccurl_setopt_debug_data(const ccurl_api *api, CURL *handle, void *userdata) {
    return ((ccurl_setopt_function)api->easy_setopt)(handle, CURLOPT_DEBUGDATA, userdata);
}
static inline CURLcode ccurl_getinfo_long(const ccurl_api *api, CURL *handle, CURLINFO info, long *value) {
    return ((ccurl_getinfo_function)api->easy_getinfo)(handle, info, value);
}

// The option and info constants are enum values built by macros; Swift imports them, but these
// names keep the Swift side free of casts.
static const CURLoption CCURL_URL = CURLOPT_URL;
static const CURLoption CCURL_USE_SSL = CURLOPT_USE_SSL;
static const CURLoption CCURL_USERNAME = CURLOPT_USERNAME;
static const CURLoption CCURL_PASSWORD = CURLOPT_PASSWORD;
static const CURLoption CCURL_LOGIN_OPTIONS = CURLOPT_LOGIN_OPTIONS;
static const CURLoption CCURL_XOAUTH2_BEARER = CURLOPT_XOAUTH2_BEARER;
static const CURLoption CCURL_MAIL_FROM = CURLOPT_MAIL_FROM;
static const CURLoption CCURL_MAIL_RCPT = CURLOPT_MAIL_RCPT;
static const CURLoption CCURL_READFUNCTION = CURLOPT_READFUNCTION;
static const CURLoption CCURL_READDATA = CURLOPT_READDATA;
static const CURLoption CCURL_UPLOAD = CURLOPT_UPLOAD;
static const CURLoption CCURL_INFILESIZE_LARGE = CURLOPT_INFILESIZE_LARGE;
static const CURLoption CCURL_CAINFO = CURLOPT_CAINFO;
static const CURLoption CCURL_ERRORBUFFER = CURLOPT_ERRORBUFFER;
static const CURLoption CCURL_CONNECTTIMEOUT_MS = CURLOPT_CONNECTTIMEOUT_MS;
static const CURLoption CCURL_TIMEOUT_MS = CURLOPT_TIMEOUT_MS;
static const CURLoption CCURL_NOSIGNAL = CURLOPT_NOSIGNAL;
static const CURLoption CCURL_VERBOSE = CURLOPT_VERBOSE;
static const CURLoption CCURL_FORBID_REUSE = CURLOPT_FORBID_REUSE;
static const CURLoption CCURL_MAXCONNECTS = CURLOPT_MAXCONNECTS;
static const CURLoption CCURL_PROTOCOLS_STR = CURLOPT_PROTOCOLS_STR;
static const CURLoption CCURL_SSL_VERIFYPEER = CURLOPT_SSL_VERIFYPEER;
static const CURLoption CCURL_SSL_VERIFYHOST = CURLOPT_SSL_VERIFYHOST;
static const CURLINFO CCURL_INFO_RESPONSE_CODE = CURLINFO_RESPONSE_CODE;
static const CURLINFO CCURL_INFO_NUM_CONNECTS = CURLINFO_NUM_CONNECTS;

static const curl_infotype CCURL_DEBUG_HEADER_IN = CURLINFO_HEADER_IN;
static const long CCURL_GLOBAL_DEFAULT = CURL_GLOBAL_DEFAULT;
static const long CCURL_USESSL_ALL = CURLUSESSL_ALL;
static const long CCURL_USESSL_NONE = CURLUSESSL_NONE;
static const size_t CCURL_READFUNC_ABORT = CURL_READFUNC_ABORT;
static const size_t CCURL_ERROR_SIZE = CURL_ERROR_SIZE;

#endif
