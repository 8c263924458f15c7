/* The engine's side of the webhook listener (http/http.h, ct_http_webhooks_start): events the
 * listener verified and parsed go to the spooler thread, which stores them (group commit with
 * whatever else came in meanwhile) before the listener answers the provider 200; and the
 * Prometheus families of what the listener counted. Runs on the control loop.
 *
 *   listener ──store(events)──▶ control ──CT_MSG_EVENTS──▶ spooler (events_put, fsync)
 *            ◀──done(rc, results)── control ◀──CT_MSG_EVENTS_STORED──┘
 *
 * Applying the stored events to jobs (receipts, fallback) is the event processor's work,
 * off this path: it takes them from the spool (ct_spool_events_take). */
#ifndef CT_WORKER_WEBHOOKS_H
#define CT_WORKER_WEBHOOKS_H

#include "config/config.h"
#include "http/http.h"
#include "worker/spooler.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  const ct_config_t *cfg;  /* the configuration in force (the control loop swaps it on reload) */
  ct_spooler_t *spooler;
  uint64_t pending;        /* stores handed to the spooler, not yet answered */
  uint64_t pending_events; /* ... and the events they hold (at most CT_WEBHOOKS_MAX_PENDING) */
  bool closed;             /* stopping: refuse new stores */
} ct_webhooks_t;

/* Events waiting for the spooler at most (a slow disk, a flood): past it a store is refused
 * (503, and the provider sends the events again later). About 2 KiB each. */
#define CT_WEBHOOKS_MAX_PENDING 50000

/* Starts the listener on cfg->webhook_listen for `w` (cfg and spooler set), and logs the URL
 * to register for each account with webhooks (and each account whose keys are missing or
 * unusable). Errors: those of ct_http_webhooks_start. */
int ct_webhooks_start(ct_webhooks_t *w, uv_loop_t *loop, ct_http_server_t **out);

/* Fills the listener's hooks for `w`. */
void ct_webhooks_engine(ct_webhooks_t *w, ct_http_webhook_engine_t *out);

/* The spooler answered a store (CT_MSG_EVENTS_STORED): calls the listener back, frees it. */
void ct_webhooks_stored(ct_webhooks_t *w, ct_events_req_t *req);

/* Writes the webhook families of the Prometheus exposition through write(wctx, ...): what the
 * listener `s` counted per account (NULL: none running) and the spool's event counts (`st`,
 * NULL before the spooler's first). */
void ct_webhooks_metrics(const ct_http_server_t *s, const ct_event_stats_t *st,
                         void (*write)(void *wctx, const char *text, size_t n), void *wctx);

#endif
