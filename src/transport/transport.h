/* The transport: sends HTTP requests on one worker's event loop and calls back with the
 * response. One transport per loop thread; never shared between threads.
 *
 * Two HTTP clients sit behind this interface, chosen per origin (scheme, host and port):
 *   - nghttp2 (h2/): the native HTTP/2 client, nghttp2 over OpenSSL on the loop, for every
 *     origin whose TLS handshake agrees on ALPN "h2" — the providers' APIs;
 *   - libcurl (curl/): for origins that answer ALPN with http/1.1 (or nothing), and for every
 *     origin when the options say CT_TRANSPORT_CURL (config: transport = curl).
 * The first request to an origin goes to the native client; if the server does not pick h2,
 * that request and every later one to the origin go to libcurl (the choice is remembered for
 * the transport's life). ct_transport_stats reports the choice per origin.
 */
#ifndef CT_TRANSPORT_TRANSPORT_H
#define CT_TRANSPORT_TRANSPORT_H

#include "transport/http.h"

#include <stdint.h>
#include <uv.h>

typedef struct ct_transport ct_transport_t;

/* Which clients a transport may use. */
typedef enum {
  CT_TRANSPORT_AUTO = 0, /* native HTTP/2 where ALPN says h2, libcurl elsewhere */
  CT_TRANSPORT_CURL,     /* libcurl for every origin */
} ct_transport_kind_t;

typedef struct {
  const char *ca_file;           /* CA bundle to verify servers with; NULL = system default */
  int64_t connect_timeout_ms;    /* TCP + TLS; 0 = 300 s */
  int64_t request_timeout_ms;    /* whole request, connect included; 0 = none */
  uint32_t max_host_connections; /* libcurl: TCP connections per host */
  uint32_t max_streams;          /* concurrent HTTP/2 streams per connection; the native client
                                    also keeps within the server's SETTINGS_MAX_CONCURRENT_STREAMS */
  uint32_t max_total_connections; /* libcurl: in all; 0 = no limit */
  ct_transport_kind_t kind;
  /* The native client opens connections to an origin as its requests need them (all streams
   * of the open ones busy), up to this many; 0 = 256. */
  uint32_t max_origin_connections;
  int64_t idle_timeout_ms;  /* native: an idle connection is closed after this; 0 = 60 s */
  int64_t ping_after_ms;    /* native: a PING after this long without a byte while streams
                               wait; 0 = 10 s */
  int64_t ping_timeout_ms;  /* native: no answer to it in this long ends the connection
                               (its streams fail as CT_HTTP_RESET); 0 = 10 s */
} ct_transport_options_t;

/* Called once per request, on the loop thread, when the request ends (answer or failure).
 * `resp` and everything it points to are valid during the call only. */
typedef void (*ct_transport_cb)(void *arg, const ct_http_response_t *resp);

/* Creates a transport on `loop` (which must outlive it).
 * Errors: CT_ENOMEM, CT_EIO (the HTTP client could not be initialised). */
int ct_transport_new(uv_loop_t *loop, const ct_transport_options_t *opts, ct_transport_t **out);

/* Starts sending `req` (POST). The transport takes what `req` owns (the caller's struct is
 * zeroed) and frees it when done. `cb` is always called exactly once, later, from the loop —
 * never from inside this call — unless this call fails.
 * Errors: CT_ENOMEM, CT_ESTATE (the transport is closing). */
int ct_transport_send(ct_transport_t *t, ct_http_request_t *req, ct_transport_cb cb, void *arg);

/* Requests currently in flight. */
uint32_t ct_transport_inflight(const ct_transport_t *t);

/* Aborts requests still in flight (their callbacks run with failure CT_HTTP_OTHER and detail
 * "transport closed"), closes connections and handles, and calls `done(arg)` from the loop
 * once every handle is closed; the transport is freed before `done` runs. */
void ct_transport_close(ct_transport_t *t, void (*done)(void *arg), void *arg);

/* ---- what the transports of this process did (for /metrics and `carteiro status`) -------- */

typedef enum {
  CT_TRANSPORT_NGHTTP2 = 0, /* the native HTTP/2 client */
  CT_TRANSPORT_LIBCURL,
  CT_TRANSPORT_CLIENTS
} ct_transport_client_t;

/* Why an origin goes to its client. */
typedef enum {
  CT_TRANSPORT_ALPN_H2 = 0, /* the TLS handshake agreed on h2 */
  CT_TRANSPORT_ALPN_OTHER,  /* the server chose http/1.1, or no protocol */
  CT_TRANSPORT_FORCED,      /* transport = curl */
} ct_transport_reason_t;

/* "nghttp2", "libcurl". */
const char *ct_transport_client_name(ct_transport_client_t c);
/* "alpn_h2", "alpn_http1", "forced". */
const char *ct_transport_reason_name(ct_transport_reason_t r);

#define CT_TRANSPORT_MAX_ORIGINS 32
#define CT_TRANSPORT_ORIGIN_MAX 160

typedef struct {
  char origin[CT_TRANSPORT_ORIGIN_MAX]; /* "https://host:port" (a provider's API, no path) */
  ct_transport_client_t client;
  ct_transport_reason_t reason;
} ct_transport_origin_t;

typedef struct {
  uint64_t requests[CT_TRANSPORT_CLIENTS]; /* requests handed to each client */
  uint64_t h2_connections;   /* native connections opened */
  uint64_t h2_goaway;        /* GOAWAY frames received */
  uint64_t h2_refused;       /* streams the server refused unprocessed (GOAWAY, REFUSED_STREAM),
                                sent again without counting as unanswered */
  uint64_t h2_ping_timeouts; /* connections ended for an unanswered PING */
  size_t n_origins;
  ct_transport_origin_t origins[CT_TRANSPORT_MAX_ORIGINS]; /* in order of first use */
  uint64_t origins_dropped; /* origins seen past the table's capacity */
} ct_transport_stats_t;

/* The figures of every transport of this process, live and closed, since it started.
 * Thread-safe; never fails. */
void ct_transport_stats(ct_transport_stats_t *out);

/* Writes those figures in the Prometheus text format (HELP, TYPE and samples of the
 * carteiro_transport_* families) through `write`, in pieces. Thread-safe. */
void ct_transport_metrics(void (*write)(void *ctx, const char *s, size_t n), void *ctx);

#endif
