/* Document preparation for one worker: reading (or fetching), checking and password-
 * protecting an invoice PDF off the event loop, on libuv's thread pool.
 *
 * Two bounds. At most `capacity` preparations run per worker, so a burst of large PDFs cannot
 * occupy the pool (and with it every loop's file and DNS work). And all the workers'
 * preparations together hold at most the memory budget (ct_docbudget_t, document_memory_
 * budget_mb): each reserves its document's whole allowance (document_memory_mb, which the
 * document module enforces: ct_doc_limits_t.memory_max) before it is queued on the pool, and
 * gives it back when it ends. A preparation that finds the budget spent waits, in FIFO order
 * with the others of its worker; whichever worker gives memory back wakes the workers that
 * wait (a uv_async each). So eight workers with four document jobs each never hold more than
 * the budget, whatever the documents are. */
#ifndef CT_WORKER_DOCPREP_H
#define CT_WORKER_DOCPREP_H

#include "common/list.h"
#include "config/config.h"
#include "document/document.h"
#include "worker/task.h"

#include <uv.h>

/* The memory budget of all document preparations, shared by the workers. Thread-safe. */
typedef struct ct_docbudget ct_docbudget_t;

typedef struct {
  uint64_t total;    /* the budget, bytes */
  uint64_t reserved; /* held by running preparations now */
  uint64_t peak;     /* most ever held at once */
  uint64_t waits;    /* times a preparation found the budget spent and waited */
} ct_docbudget_stats_t;

/* A budget of `total` bytes (> 0). Returns 0 with *out set, or CT_ENOMEM. */
int ct_docbudget_new(uint64_t total, ct_docbudget_t **out);

/* Frees the budget. Every ct_docprep_t using it must be closed first. NULL is a no-op. */
void ct_docbudget_free(ct_docbudget_t *b);

/* The counters, as of now. NULL gives zeros. */
void ct_docbudget_stats(ct_docbudget_t *b, ct_docbudget_stats_t *out);

typedef struct {
  uv_loop_t *loop;
  /* Copies, fixed at start: pool threads read them while a reload may free the snapshot. */
  char root[512];            /* document root for path sources */
  char ca_file[512];         /* for https URL sources; "" = system bundle */
  int64_t fetch_timeout_ms;
  /* The tenants' document URL rules (document_url_hosts, document_url_allow_networks), by
   * tenant name; a tenant without a section has none: any host, public addresses only. */
  ct_tenant_conf_t tenants[CT_CONFIG_MAX_TENANTS];
  size_t n_tenants;
  ct_doc_limits_t limits;    /* what one document may make qpdf decode and hold */
  ct_keycache_t *keys;       /* locking key material, shared; NULL = derived per document */
  ct_docbudget_t *budget;    /* shared; NULL = no shared bound */
  uint64_t reserve;          /* what one preparation reserves from the budget */
  size_t capacity;
  size_t running;
  ct_list_t waiting;         /* tasks (by their `wait` node) not yet started */
  ct_list_t budget_wait;     /* on the budget's list while it waits for memory */
  uv_async_t wake;           /* another worker gave memory back */
  bool closed;               /* ct_docprep_close ran: nothing starts any more */
  /* Called on the loop when a task's document is ready (task->doc set) or failed
   * (task->doc_error set). */
  void (*done)(void *arg, ct_task_t *t);
  void *arg;
} ct_docprep_t;

/* Sets `d` up on `loop` (the worker's, from its thread) with the document settings of `cfg`
 * (document_root, ca_file, document_fetch_timeout, document_jobs and the limits), sharing
 * `budget` and `keys` (either may be NULL). Returns 0, or CT_EIO when the wake-up handle cannot
 * be made (nothing to undo then). The caller sets done/arg before the first start. */
int ct_docprep_init(ct_docprep_t *d, uv_loop_t *loop, const ct_config_t *cfg,
                    ct_docbudget_t *budget, ct_keycache_t *keys);

/* On the loop, at shutdown, once no preparation runs: leaves the budget's wait list and closes
 * the wake-up handle (the loop must run once more to finish closing it). */
void ct_docprep_close(ct_docprep_t *d);

/* Copies the tenants' document URL rules from `cfg` (fixed from then on, like `root`). */
void ct_docprep_set_tenants(ct_docprep_t *d, const ct_config_t *cfg);

/* Starts (or queues) the preparation of `t`'s document. */
void ct_docprep_start(ct_docprep_t *d, ct_task_t *t);

/* Removes the queued (not started) tasks into `out`, for shutdown. Running ones finish. */
void ct_docprep_drain(ct_docprep_t *d, ct_list_t *out);

/* The limits of the configuration `cfg` (document_stream_max_mb and friends). */
ct_doc_limits_t ct_docprep_limits(const ct_config_t *cfg);

#endif
