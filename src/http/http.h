/* The embedded HTTP server (libh2o on the daemon's control loop; HTTP/1.1 and HTTP/2, TLS
 * optional): the billing platform's ingest API, and the surfaces SREs and probes use.
 *
 *   POST /v1/jobs          enqueue one job or a batch (JSON or protobuf, optionally zstd)
 *   GET  /v1/jobs/{id}     a job's state, attempts and receipt (personal data masked)
 *   GET  /v1/status        the on-call screen's figures as JSON (carteiro status)
 *   GET  /metrics          Prometheus text exposition
 *   GET  /healthz          alive
 *   GET  /readyz           ready to take work
 *
 * Every /v1 route needs "Authorization: Bearer <token>". The server owns no state of the
 * engine: it asks the engine through ct_http_engine_t, always on the loop thread. */
#ifndef CT_HTTP_HTTP_H
#define CT_HTTP_HTTP_H

#include "job/job.h"
#include "spool/spool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ct_http_server ct_http_server_t;

typedef struct {
  const char *host;        /* address to bind, default "127.0.0.1" */
  uint16_t port;           /* 0: pick a free port (see ct_http_port) */
  const char *token;       /* the bearer token /v1 routes require; NULL refuses them all */
  size_t max_body;         /* larger request bodies get 413 (default 32 MiB) */
  const char *tls_cert;    /* PEM files to serve HTTPS; NULL for plain HTTP */
  const char *tls_key;
} ct_http_options_t;

/* Called once the jobs handed to enqueue are durable (rc 0, results[i] = 0 stored or
 * CT_EDUPLICATE) or could not be stored (rc a CT_E* code; nothing stored). */
typedef void (*ct_http_enqueue_done_cb)(void *arg, int rc, const int *results);

/* What the server asks of the engine. Every hook runs on the server's loop thread. */
typedef struct {
  void *ctx;
  /* Takes ownership of jobs[0..n) (validated and normalized) and the array, stores them
   * durably and calls done(arg, ...) later, on the loop thread. */
  void (*enqueue)(void *ctx, ct_job_t **jobs, size_t n, ct_http_enqueue_done_cb done,
                  void *arg);
  /* Counts records answered "rejected" (invalid, or refused with an all-or-nothing batch),
   * for the metrics; those never reach enqueue. May be NULL. */
  void (*rejected)(void *ctx, size_t n);
  /* True when new work must be refused for now (spool over its high-water mark, disk nearly
   * full): the server answers 503 with Retry-After: *retry_after_s. */
  bool (*saturated)(void *ctx, int *retry_after_s);
  /* Looks a job up. Errors as ct_spool_job_get. */
  int (*job_get)(void *ctx, const char *id, ct_job_info_t *out);
  /* False, with a short reason in `why`, when the engine is not ready to take work. */
  bool (*ready)(void *ctx, char *why, size_t cap);
  /* Writes the Prometheus exposition through write(wctx, text, len). */
  void (*metrics)(void *ctx, void (*write)(void *wctx, const char *s, size_t n), void *wctx);
  /* Optional (NULL: GET /v1/status answers 404). The status document as a new JSON object
   * (see worker/status.h), or NULL when out of memory. The server adds the records it
   * refused to "enqueue" before sending it. */
  json_t *(*status)(void *ctx);
} ct_http_engine_t;

/* Starts listening on `loop`. Errors: CT_EIO (bind, TLS set-up), CT_ENOMEM, CT_EINVAL. */
int ct_http_start(uv_loop_t *loop, const ct_http_options_t *opts, const ct_http_engine_t *engine,
                  ct_http_server_t **out);

/* The port actually bound. */
uint16_t ct_http_port(const ct_http_server_t *s);

/* Stops accepting and closes connections. The server stays alive until every enqueue it
 * handed to the engine has called back (a request whose client went away in the meantime is
 * simply not answered), then frees itself and calls done(arg) from the loop. */
void ct_http_stop(ct_http_server_t *s, void (*done)(void *arg), void *arg);

#endif
