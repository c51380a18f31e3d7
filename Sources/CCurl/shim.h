#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H

// libcurl for Swift. curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot
// call, so each argument type gets a typed static inline wrapper. Nothing here owns memory.

#include <curl/curl.h>

static inline CURLcode ccurl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode ccurl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode ccurl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode ccurl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}
typedef size_t (*ccurl_io_callback)(char *buffer, size_t size, size_t count, void *userdata);
static inline CURLcode ccurl_setopt_io_callback(CURL *handle, CURLoption option, ccurl_io_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}
typedef int (*ccurl_debug_callback)(CURL *handle, curl_infotype type, char *data, size_t size, void *userdata);
static inline CURLcode ccurl_setopt_debug_callback(CURL *handle, ccurl_debug_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_DEBUGFUNCTION, callback);
}
static inline CURLcode ccurl_setopt_debug_data(CURL *handle, void *userdata) {
    return curl_easy_setopt(handle, CURLOPT_DEBUGDATA, userdata);
}
static inline CURLcode ccurl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
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
