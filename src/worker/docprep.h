/* Document preparation for one worker: reading (or fetching), checking and password-
 * protecting an invoice PDF off the event loop, on libuv's thread pool, with at most
 * `capacity` preparations running per worker so a burst of large PDFs cannot occupy the pool
 * (and with it every loop's file and DNS work). Tasks over the limit wait in FIFO order. */
#ifndef CT_WORKER_DOCPREP_H
#define CT_WORKER_DOCPREP_H

#include "common/list.h"
#include "config/config.h"
#include "document/document.h"
#include "worker/task.h"

#include <uv.h>

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
  size_t capacity;
  size_t running;
  ct_list_t waiting;         /* tasks (by their `wait` node) not yet started */
  /* Called on the loop when a task's document is ready (task->doc set) or failed
   * (task->doc_error set). */
  void (*done)(void *arg, ct_task_t *t);
  void *arg;
} ct_docprep_t;

void ct_docprep_init(ct_docprep_t *d, uv_loop_t *loop, size_t capacity);

/* Copies the tenants' document URL rules from `cfg` (fixed from then on, like `root`). */
void ct_docprep_set_tenants(ct_docprep_t *d, const ct_config_t *cfg);

/* Starts (or queues) the preparation of `t`'s document. */
void ct_docprep_start(ct_docprep_t *d, ct_task_t *t);

/* Removes the queued (not started) tasks into `out`, for shutdown. Running ones finish. */
void ct_docprep_drain(ct_docprep_t *d, ct_list_t *out);

#endif
