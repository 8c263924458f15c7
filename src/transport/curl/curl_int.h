/* Shared between the files of the libcurl transport (and its unit tests); not a public
 * interface. transport.c drives libcurl on libuv; response.c turns what libcurl reports
 * (result codes, header lines) into the fields of ct_http_response_t, without I/O. */
#ifndef CT_TRANSPORT_CURL_CURL_INT_H
#define CT_TRANSPORT_CURL_CURL_INT_H

#include "transport/http.h"
#include "transport/transport.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

/* Response bodies are kept up to this many bytes; the rest is read and dropped. Providers
 * answer with small JSON documents, so 64 KiB only cuts what is not worth keeping. */
#define CT__CURL_BODY_CAP (64 * 1024)

/* X-Message-Id values longer than this are dropped rather than truncated: a shortened id
 * would never match the provider's status webhooks. */
#define CT__CURL_MSGID_CAP 256

/* Reused easy handles kept per transport: max_host_connections * max_streams (what can run
 * at once), clamped to this range so that memory stays bounded whatever the options say. */
#define CT__CURL_IDLE_MIN 16u
#define CT__CURL_IDLE_MAX 1024u

/* The failure class of a finished transfer's result code (CURLE_OK gives CT_HTTP_OK). */
ct_http_failure_t ct__curl_failure(CURLcode code);

/* Parses a Retry-After value (`len` bytes, already trimmed, not NUL-terminated): a number of
 * seconds, or an HTTP-date turned into the milliseconds from `now_ms` (Unix epoch ms) until
 * then, 0 when it is in the past. Returns -1 for anything else. */
int64_t ct__curl_retry_after(const char *value, size_t len, int64_t now_ms);

/* What one response header line told us. The parser owns no memory: `message_id` is a
 * capacity-bounded buffer inside this struct. */
typedef struct {
  int64_t retry_after_ms;                 /* -1 when absent */
  char message_id[CT__CURL_MSGID_CAP];    /* NUL-terminated */
  size_t message_id_len;                  /* 0 when absent */
} ct__curl_headers_t;

/* Forgets every header seen so far (a new response starts: a 1xx, a redirect, or the first). */
void ct__curl_headers_reset(ct__curl_headers_t *h);

/* Feeds one header line as libcurl delivers it (with its CRLF, not NUL-terminated). A status
 * line ("HTTP/...") resets `h`; Retry-After and X-Message-Id (any case) are recorded; other
 * lines are ignored. */
void ct__curl_headers_line(ct__curl_headers_t *h, const char *line, size_t len, int64_t now_ms);

/* Idle (reusable) easy handles the transport holds, for tests of the free-list bound. */
uint32_t ct__transport_idle_handles(const ct_transport_t *t);

#endif
