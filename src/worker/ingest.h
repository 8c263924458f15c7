/* The engine's answers to the HTTP server: see http/http.h. Runs on the control loop. */
#ifndef CT_WORKER_INGEST_H
#define CT_WORKER_INGEST_H

#include "config/config.h"
#include "dispatch/accounts.h"
#include "http/http.h"
#include "worker/doccache.h"
#include "worker/spooler.h"
#include "worker/task.h"

#include <stdbool.h>
#include <stdint.h>

/* The control loop's counters, read for metrics. */
typedef struct {
  uint64_t delivered, retried, dead, released;
  uint64_t by_channel[4];
  uint64_t inflight;
  uint64_t gap_waiting; /* leased, waiting out a recipient gap without an in-flight slot */
} ct_ingest_counters_t;

typedef struct {
  const ct_config_t *cfg;
  ct_accounts_t *accounts;
  ct_spooler_t *spooler;
  ct_spool_t *reader;         /* read-only connection for job lookups */
  const ct_ingest_counters_t *counters;
  const struct ct_rates *rates; /* per-second samples for /v1/status (worker/status.h) */
  ct_doccache_t *doccache;    /* prepared documents, for /metrics; may be NULL */
  ct_http_server_t *const *webhooks; /* the webhook listener, for /metrics; NULL or *NULL:
                                        none */
  char spool_dir[512];        /* for the free-space check */
  uint64_t pending;           /* enqueues handed to the spooler, not yet answered */
  uint64_t accepted, duplicates, rejected; /* records, as the HTTP answers counted them */
  bool closed;                /* stopping: refuse new work */
} ct_ingest_t;

/* Fills the server's hooks for `g`. */
void ct_ingest_engine(ct_ingest_t *g, ct_http_engine_t *out);

/* The spooler answered an enqueue (CT_MSG_ENQUEUED): calls the server back and frees it. */
void ct_ingest_enqueued(ct_ingest_t *g, ct_enqueue_req_t *req);

#endif
