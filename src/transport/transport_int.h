/* Shared between the files of the transport module (the router in transport.c, the libcurl
 * transport in curl/, the native HTTP/2 transport in h2/) and their unit tests; not a public
 * interface.
 *
 *   response.c  what a response's headers say (Retry-After, X-Message-Id), without I/O
 *   url.c       an https URL split into its origin and path, without I/O
 *   registry.c  the process-wide counters and the origin table behind ct_transport_stats
 *   curl/       ct__curl_*: libcurl multi on the loop (HTTP/1.1 origins, transport = curl)
 *   h2/         ct__h2_*: nghttp2 + OpenSSL on the loop (origins that negotiate h2)
 */
#ifndef CT_TRANSPORT_TRANSPORT_INT_H
#define CT_TRANSPORT_TRANSPORT_INT_H

#include "transport/http.h"
#include "transport/transport.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Response bodies are kept up to this many bytes; the rest is read and dropped. Providers
 * answer with small JSON documents, so 64 KiB only cuts what is not worth keeping. */
#define CT__HTTP_BODY_CAP (64 * 1024)

/* X-Message-Id values longer than this are dropped rather than truncated: a shortened id
 * would never match the provider's status webhooks. */
#define CT__HTTP_MSGID_CAP 256

/* ---- response.c ---------------------------------------------------------------------------- */

/* Parses a Retry-After value (`len` bytes, already trimmed, not NUL-terminated): a number of
 * seconds, or an HTTP-date turned into the milliseconds from `now_ms` (Unix epoch ms) until
 * then, 0 when it is in the past. Returns -1 for anything else. */
int64_t ct__retry_after(const char *value, size_t len, int64_t now_ms);

/* What a response's header fields told us. The parser owns no memory: `message_id` is a
 * capacity-bounded buffer inside this struct. */
typedef struct {
  int64_t retry_after_ms;              /* -1 when absent */
  char message_id[CT__HTTP_MSGID_CAP]; /* NUL-terminated */
  size_t message_id_len;               /* 0 when absent */
} ct__resp_headers_t;

/* Forgets every header seen so far (a new response starts: a 1xx, a redirect, or the first). */
void ct__resp_headers_reset(ct__resp_headers_t *h);

/* Feeds one header field: `name` (any case) and `value` (surrounding blanks allowed), neither
 * NUL-terminated. Retry-After and X-Message-Id are recorded; other fields are ignored. */
void ct__resp_headers_field(ct__resp_headers_t *h, const char *name, size_t name_len,
                            const char *value, size_t value_len, int64_t now_ms);

/* Feeds one HTTP/1-style header line as libcurl delivers it (with its CRLF, not
 * NUL-terminated). A status line ("HTTP/...") resets `h`; "Name: value" lines go to
 * ct__resp_headers_field; other lines are ignored. */
void ct__resp_headers_line(ct__resp_headers_t *h, const char *line, size_t len, int64_t now_ms);

/* ---- url.c --------------------------------------------------------------------------------- */

/* An absolute https URL in pieces; pointers go into the URL string, nothing is copied. */
typedef struct {
  const char *origin;  /* "https://host[:port]", the part that names the server */
  size_t origin_len;
  const char *host;    /* without brackets for an IPv6 literal */
  size_t host_len;
  uint16_t port;       /* 443 when the URL names none */
  const char *path;    /* "/..." with the query; "/" when the URL has no path */
  size_t path_len;
  const char *authority; /* "host[:port]" as written, for :authority */
  size_t authority_len;
} ct__url_t;

/* Splits `url`. Errors: CT_EINVAL (not https, no host, a bad port, user info, a fragment
 * start or a blank or control character in the URL). `out` is set only on success. */
int ct__url_parse(const char *url, ct__url_t *out);

/* ---- registry.c ---------------------------------------------------------------------------- */

/* One transport's counters, written by its loop thread alone and read by ct_transport_stats
 * from any thread (relaxed atomics: a figure may be a request behind, never torn). */
typedef struct ct__counters {
  _Atomic uint64_t requests[CT_TRANSPORT_CLIENTS];
  _Atomic uint64_t h2_connections;    /* native connections opened (TLS and h2 agreed) */
  _Atomic uint64_t h2_goaway;         /* GOAWAY frames received */
  _Atomic uint64_t h2_refused;        /* streams the server did not process, sent again */
  _Atomic uint64_t h2_ping_timeouts;  /* connections found dead by an unanswered PING */
  struct ct__counters *next;          /* registry.c's list of live counter blocks */
} ct__counters_t;

/* Adds `c` (zeroed by the caller) to the figures ct_transport_stats sums. */
void ct__registry_attach(ct__counters_t *c);

/* Folds `c` into the totals kept for closed transports and forgets it; `c` may be freed
 * after this returns. */
void ct__registry_detach(ct__counters_t *c);

/* Records which client `origin` (origin_len bytes, e.g. "https://host:port") goes to, and
 * why. The first word for an origin wins; later calls only change it when `why` differs
 * (a server that stopped offering h2). Origins past CT_TRANSPORT_MAX_ORIGINS are counted in
 * ct_transport_stats_t.origins_dropped. */
void ct__registry_origin(const char *origin, size_t origin_len, ct_transport_client_t client,
                         ct_transport_reason_t why);

/* Increments one relaxed counter (one writer thread). */
static inline void ct__count(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

/* ---- the two clients, as the router in transport.c drives them ----------------------------- */

typedef struct ct__curl ct__curl_t;

/* As ct_transport_new/send/inflight/close, for the libcurl transport alone. */
int ct__curl_new(uv_loop_t *loop, const ct_transport_options_t *opts, ct__counters_t *counters,
                 ct__curl_t **out);
int ct__curl_send(ct__curl_t *c, ct_http_request_t *req, ct_transport_cb cb, void *arg);
uint32_t ct__curl_inflight(const ct__curl_t *c);
void ct__curl_close(ct__curl_t *c, void (*done)(void *arg), void *arg);
/* Idle (reusable) easy handles the libcurl transport holds, for tests of the free-list bound. */
uint32_t ct__curl_idle_handles(const ct__curl_t *c);

typedef struct ct__h2 ct__h2_t;

/* Where the native transport hands back requests for an origin that turned out not to speak
 * h2 (ALPN chose http/1.1 or nothing): the router sends them with libcurl. `req` is handed
 * over as to ct_transport_send; `cb`/`arg` are the caller's. Runs on the loop, never inside
 * ct__h2_send. */
typedef void (*ct__h2_fallback_cb)(void *router, ct_http_request_t *req, ct_transport_cb cb,
                                   void *arg);

/* ct__h2_send's answer when the URL's origin is known not to speak h2: nothing was taken. */
#define CT__H2_NOT_H2 1

int ct__h2_new(uv_loop_t *loop, const ct_transport_options_t *opts, ct__counters_t *counters,
               ct__h2_fallback_cb fallback, void *router, ct__h2_t **out);
/* As ct_transport_send; also CT__H2_NOT_H2 (see above) and CT_EINVAL (a URL it cannot
 * split; the router gives those to libcurl, which reports them as curl would). */
int ct__h2_send(ct__h2_t *h, ct_http_request_t *req, ct_transport_cb cb, void *arg);
uint32_t ct__h2_inflight(const ct__h2_t *h);
void ct__h2_close(ct__h2_t *h, void (*done)(void *arg), void *arg);

/* The router's parts, for tests. */
ct__curl_t *ct__transport_curl(ct_transport_t *t);
ct__h2_t *ct__transport_h2(ct_transport_t *t);

#endif
