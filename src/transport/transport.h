/* The transport: sends HTTP requests on one worker's event loop and calls back with the
 * response. One transport per loop thread; never shared between threads.
 *
 * The interface hides the HTTP client so that a leaner nghttp2-native transport can replace
 * the libcurl one (curl/) on the hot path later without touching providers or workers.
 */
#ifndef CT_TRANSPORT_TRANSPORT_H
#define CT_TRANSPORT_TRANSPORT_H

#include "transport/http.h"

#include <stdint.h>
#include <uv.h>

typedef struct ct_transport ct_transport_t;

typedef struct {
  const char *ca_file;           /* CA bundle to verify servers with; NULL = system default */
  int64_t connect_timeout_ms;
  int64_t request_timeout_ms;    /* whole request, connect included */
  uint32_t max_host_connections; /* TCP connections per host */
  uint32_t max_streams;          /* concurrent HTTP/2 streams per connection */
  uint32_t max_total_connections;
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

#endif
