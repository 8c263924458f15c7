/* The transport a worker sees: a router over the two HTTP clients.
 *
 * With kind CT_TRANSPORT_AUTO every request first goes to the native HTTP/2 client (h2/).
 * That client keeps one record per origin; when an origin's TLS handshake ends with ALPN
 * other than h2, it hands the origin's waiting requests back here (on_fallback) and answers
 * every later send for the origin with CT__H2_NOT_H2, so they come back here too, and go to
 * libcurl. With CT_TRANSPORT_CURL every request goes to libcurl.
 *
 * The libcurl transport is made at its first request: a daemon whose providers all speak h2
 * never opens a CURLM. Closing closes whichever clients exist; `done` runs after the last of
 * them reports closed, with the router already freed.
 */
#include "transport/transport_int.h"

#include "common/error.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Origins a forced-libcurl router has already reported to the registry. */
#define SEEN_CAP CT_TRANSPORT_MAX_ORIGINS

struct ct_transport {
  uv_loop_t *loop;
  ct_transport_options_t opts; /* ca_file points at ca_copy */
  char *ca_copy;
  ct__counters_t counters;
  ct__h2_t *h2;     /* NULL when every origin goes to libcurl */
  ct__curl_t *curl; /* NULL until the first request that needs it */
  bool closing;
  int closing_parts; /* clients whose close has not reported yet */
  void (*done)(void *arg);
  void *done_arg;
  uint64_t seen[SEEN_CAP];
  size_t n_seen;
};

static int ensure_curl(ct_transport_t *t) {
  if (t->curl != NULL) {
    return 0;
  }
  return ct__curl_new(t->loop, &t->opts, &t->counters, &t->curl);
}

/* With transport = curl, tell the registry about each origin once. */
static void note_forced(ct_transport_t *t, const char *url) {
  ct__url_t u;
  if (ct__url_parse(url, &u) != 0) {
    return;
  }
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < u.origin_len; i++) {
    h = (h ^ (unsigned char)u.origin[i]) * 1099511628211ull;
  }
  for (size_t i = 0; i < t->n_seen; i++) {
    if (t->seen[i] == h) {
      return;
    }
  }
  if (t->n_seen < SEEN_CAP) {
    t->seen[t->n_seen++] = h;
  }
  ct__registry_origin(u.origin, u.origin_len, CT_TRANSPORT_LIBCURL, CT_TRANSPORT_FORCED);
}

static void fail_now(ct_http_request_t *req, ct_transport_cb cb, void *arg, const char *detail) {
  ct_http_response_t resp = {
      .failure = CT_HTTP_OTHER,
      .body = "",
      .retry_after_ms = -1,
      .detail = detail,
  };
  ct_http_request_free(req);
  cb(arg, &resp);
}

/* The native client found an origin without h2: libcurl sends the request instead. */
static void on_fallback(void *router, ct_http_request_t *req, ct_transport_cb cb, void *arg) {
  ct_transport_t *t = router;
  if (t->closing) {
    fail_now(req, cb, arg, "transport closed");
    return;
  }
  int rc = ensure_curl(t);
  if (rc == 0) {
    rc = ct__curl_send(t->curl, req, cb, arg);
  }
  if (rc != 0) {
    fail_now(req, cb, arg, "could not hand the request to libcurl");
  }
}

int ct_transport_new(uv_loop_t *loop, const ct_transport_options_t *opts, ct_transport_t **out) {
  assert(loop != NULL && opts != NULL && out != NULL);
  int err = CT_ENOMEM;
  ct_transport_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    goto fail;
  }
  t->loop = loop;
  t->opts = *opts;
  if (opts->ca_file != NULL) {
    t->ca_copy = strdup(opts->ca_file);
    if (t->ca_copy == NULL) {
      goto fail_t;
    }
    t->opts.ca_file = t->ca_copy;
  }
  if (opts->kind == CT_TRANSPORT_AUTO) {
    err = ct__h2_new(loop, &t->opts, &t->counters, on_fallback, t, &t->h2);
  } else {
    err = ensure_curl(t); /* fail here, not at the first request, when libcurl cannot start */
  }
  if (err != 0) {
    goto fail_ca;
  }
  ct__registry_attach(&t->counters);
  *out = t;
  return 0;

fail_ca:
  free(t->ca_copy);
fail_t:
  free(t);
fail:
  return err;
}

int ct_transport_send(ct_transport_t *t, ct_http_request_t *req, ct_transport_cb cb, void *arg) {
  assert(t != NULL && req != NULL && req->url != NULL && cb != NULL);
  if (t->closing) {
    return CT_ESTATE;
  }
  if (t->h2 != NULL) {
    int rc = ct__h2_send(t->h2, req, cb, arg);
    if (rc != CT__H2_NOT_H2 && rc != CT_EINVAL) {
      return rc;
    }
  } else {
    note_forced(t, req->url);
  }
  int rc = ensure_curl(t);
  if (rc != 0) {
    return rc;
  }
  return ct__curl_send(t->curl, req, cb, arg);
}

uint32_t ct_transport_inflight(const ct_transport_t *t) {
  return (t->h2 != NULL ? ct__h2_inflight(t->h2) : 0) +
         (t->curl != NULL ? ct__curl_inflight(t->curl) : 0);
}

static void on_part_closed(void *arg) {
  ct_transport_t *t = arg;
  if (--t->closing_parts > 0) {
    return;
  }
  void (*done)(void *) = t->done;
  void *done_arg = t->done_arg;
  ct__registry_detach(&t->counters);
  free(t->ca_copy);
  free(t);
  if (done != NULL) {
    done(done_arg);
  }
}

void ct_transport_close(ct_transport_t *t, void (*done)(void *arg), void *arg) {
  assert(t != NULL && !t->closing);
  t->closing = true;
  t->done = done;
  t->done_arg = arg;
  /* Both counted first: neither close reports synchronously, but the count must be whole
   * before either could. */
  t->closing_parts = (t->h2 != NULL) + (t->curl != NULL);
  if (t->h2 != NULL) {
    ct__h2_close(t->h2, on_part_closed, t);
  }
  if (t->curl != NULL) {
    ct__curl_close(t->curl, on_part_closed, t);
  }
}

ct__curl_t *ct__transport_curl(ct_transport_t *t) { return t->curl; }

ct__h2_t *ct__transport_h2(ct_transport_t *t) { return t->h2; }
