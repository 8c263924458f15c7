/* A worker: one thread running one libuv loop with one transport, delivering the tasks the
 * control loop hands it. Everything a task does between its lease and its outcome happens
 * here, on this one thread, so task state needs no locks; only the provider accounts'
 * throttles are shared with the other workers. */
#ifndef CT_WORKER_WORKER_H
#define CT_WORKER_WORKER_H

#include "common/mailbox.h"
#include "config/config.h"
#include "dispatch/accounts.h"
#include "worker/doccache.h"
#include "worker/docprep.h"
#include "worker/spooler.h"
#include "worker/task.h"

#include <stdatomic.h>

typedef struct ct_worker ct_worker_t;

typedef struct {
  int index;
  const ct_config_t *cfg;    /* the snapshot to start with (kept alive by the control loop) */
  ct_accounts_t *accounts;   /* shared by all workers */
  ct_spooler_t *spooler;     /* where finished tasks go */
  ct_mailbox_t *control;     /* where RELOADED and EXITED go */
  size_t capacity;           /* most tasks this worker may hold at once */
  ct_doccache_t *doccache;   /* prepared documents, shared by all workers; may be NULL */
  ct_docbudget_t *docbudget; /* memory of all document preparations; may be NULL */
  ct_keycache_t *keycache;   /* PDF locking key material, shared; NULL = none kept */
  atomic_size_t *gap_waiting; /* tasks of all workers in gap_wait (task.h); NULL = none may */
  size_t gap_wait_max;       /* ... at most this many */
} ct_worker_options_t;

/* Sets the worker up on the calling thread and starts its thread.
 * Errors: CT_ENOMEM, CT_EIO (loop or transport could not be created). */
int ct_worker_start(ct_worker_t **out, const ct_worker_options_t *opts);

/* Posts a message (CT_MSG_TASK, CT_MSG_STOP, CT_MSG_ABORT, CT_MSG_RELOAD) from any thread.
 * The worker posts CT_MSG_SLOTS to `control` when tasks give back their in-flight slot to
 * wait out a recipient gap (gap_wait in task.h). */
void ct_worker_post(ct_worker_t *w, ct_msg_t *msg);

/* After the worker posted CT_MSG_EXITED: joins its thread and frees it. */
void ct_worker_join(ct_worker_t *w);

#endif
