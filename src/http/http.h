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
 * engine: it asks the engine through ct_http_engine_t, always on the loop thread.
 *
 * The webhook listener (ct_http_webhooks_start) is a second server of the same kind on its
 * own address, the one that faces the providers (through a proxy):
 *
 *   GET  /webhooks/{account}   a verification handshake (WhatsApp)
 *   POST /webhooks/{account}   a provider's callback: statuses, inbound messages
 *
 * A POST is checked by the account's provider hooks (provider/provider.h) over the raw bytes,
 * turned into events, stored durably by the engine, and only then answered 200. */
#ifndef CT_HTTP_HTTP_H
#define CT_HTTP_HTTP_H

#include "config/config.h"
#include "event/event.h"
#include "job/job.h"
#include "provider/provider.h"
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

/* ---- the webhook listener (webhook.c) ---- */

typedef struct {
  const char *host;        /* address to bind, default "127.0.0.1" */
  uint16_t port;           /* 0: pick a free port (ct_http_port) */
  size_t max_body;         /* larger bodies get 413 (default 4 MiB) */
  const char *tls_cert;    /* PEM files to serve HTTPS; NULL for plain HTTP */
  const char *tls_key;
  const char *public_url;  /* how providers reach the listener ("https://hooks.example.com",
                              webhook_public_url): the URL Twilio signs is this followed by the
                              path and query as received. NULL or "": the request's own scheme
                              and Host, right only without a proxy in front */
} ct_http_webhook_options_t;

/* Called once the events handed to store are durable (rc 0; results[i] 0 stored or
 * CT_EDUPLICATE already known), or could not be stored (rc a CT_E* code; then the provider is
 * answered 503 and sends them again). */
typedef void (*ct_http_events_done_cb)(void *arg, int rc, const int *results);

typedef struct {
  void *ctx;
  /* The configuration in force: the accounts and their webhook keys. Read on every request,
   * so a reload (SIGHUP) applies to the next one. */
  const ct_config_t *(*config)(void *ctx);
  /* Takes the events (the list, emptied) and stores them durably; calls done(arg, ...) later
   * on the loop thread. */
  void (*store)(void *ctx, ct_event_list_t *events, ct_http_events_done_cb done, void *arg);
} ct_http_webhook_engine_t;

/* What the listener counted for one account. */
typedef struct {
  uint64_t requests;              /* POSTs and GETs to its route */
  uint64_t stored;                /* events stored */
  uint64_t duplicates;            /* events already stored (answered 200 all the same) */
  uint64_t skipped;               /* batch elements that were no event (no id, no status) */
  uint64_t refused[CT_WEBHOOK_CHECK_COUNT]; /* by the provider's check: unsigned, forged...;
                                                [CT_WEBHOOK_CHALLENGE] counts handshakes passed */
  uint64_t malformed;             /* 400: authentic, but not the provider's format */
  uint64_t too_large;             /* 413 */
  uint64_t unavailable;           /* 503: the events could not be stored (or stopping) */
} ct_http_webhook_counts_t;

/* Starts the webhook listener on `loop`. Stop it with ct_http_stop, which waits for the stores
 * in flight. Errors: CT_EIO (bind, TLS set-up), CT_ENOMEM, CT_EINVAL. */
int ct_http_webhooks_start(uv_loop_t *loop, const ct_http_webhook_options_t *opts,
                           const ct_http_webhook_engine_t *engine, ct_http_server_t **out);

/* Calls visit for each account the listener has counted (loop thread). */
void ct_http_webhook_counts(const ct_http_server_t *s,
                            void (*visit)(void *arg, const char *account,
                                          const ct_http_webhook_counts_t *c),
                            void *arg);

#endif
