/* A task: one leased job on its way through the engine, and the messages the engine's threads
 * pass each other. Tasks come from a fixed pool sized to max_inflight, so the engine's memory
 * is the same whether a thousand or millions of jobs wait in the spool.
 *
 *   control ──TAKE(empty tasks)──▶ spooler ──TAKEN(leased tasks)──▶ control
 *   control ──tasks──▶ worker ──(deliver)──▶ spooler ──settle, SETTLED──▶ control (recycle)
 */
#ifndef CT_WORKER_TASK_H
#define CT_WORKER_TASK_H

#include "common/list.h"
#include "document/document.h"
#include "spool/spool.h"

#include <uv.h>

#include <stdbool.h>
#include <stdint.h>

typedef enum {
  CT_MSG_TAKE,    /* control -> spooler: lease jobs into the tasks of a take request */
  CT_MSG_TAKEN,   /* spooler -> control: the take request, filled */
  CT_MSG_TASK,    /* control -> worker: deliver this task; worker -> spooler: settle it */
  CT_MSG_SETTLED, /* spooler -> control: the task's outcome is durable; recycle it */
  CT_MSG_STOP,    /* control -> worker/spooler: finish what is in hand, take nothing new */
  CT_MSG_ABORT,   /* control -> worker: the grace period is over, cancel requests in flight */
  CT_MSG_RELOAD,  /* control -> worker: switch to the configuration in `ptr` */
  CT_MSG_RELOADED,/* worker -> control: done switching; the old configuration is not in use */
  CT_MSG_EXITED,  /* worker/spooler -> control: the thread has finished */
  CT_MSG_ENQUEUE, /* control -> spooler: store new jobs (the HTTP ingest API) */
  CT_MSG_ENQUEUED,/* spooler -> control: they are durable (or could not be stored) */
  CT_MSG_EVENTS,  /* control -> spooler: store webhook events (ct_events_req_t, spooler.h) */
  CT_MSG_EVENTS_STORED, /* spooler -> control: they are durable (or could not be stored) */
} ct_msg_type_t;

typedef struct {
  ct_list_t node;
  ct_msg_type_t type;
  void *ptr;
  int from; /* worker index, -1 for the spooler */
} ct_msg_t;

/* How a delivery of the task ended, for the control thread's counters. */
typedef enum {
  CT_END_DELIVERED,
  CT_END_RETRY,
  CT_END_DEAD,
  CT_END_RELEASED, /* put back without an attempt: shutdown, pause, pacing */
} ct_end_t;

/* Accepted parts one lease can record besides its last attempt: a WhatsApp invoice is three
 * messages, and a job has at most a few deliveries. More are dropped from the history (the
 * receipt keeps every part regardless). */
#define CT_TASK_EARLIER 8

typedef struct ct_task {
  ct_msg_t msg;
  ct_lease_t lease;
  ct_receipt_t *progress; /* parts accepted and channels failed so far; owned, may be NULL */

  /* The outcome, filled by the worker for the spooler. */
  ct_settle_t settle;
  ct_end_t end;
  bool has_attempt;
  ct_attempt_t attempt;
  char provider[80];
  char error_code[32];
  char message[160];
  char reason[48];
  /* Parts this lease had accepted before `attempt`, kept for the history. */
  struct {
    ct_attempt_t a;
    char provider[80];
    char message[32];
  } earlier[CT_TASK_EARLIER];
  const ct_attempt_t *earlier_ptrs[CT_TASK_EARLIER];
  size_t n_earlier;

  /* Worker-side state. */
  struct ct_worker *owner;
  int account;            /* index into the accounts table, -1 none */
  ct_channel_t channel;   /* channel being worked on */
  unsigned part;          /* part being sent */
  bool holds_slot;        /* an account concurrency slot is held */
  bool has_token;         /* a rate token is reserved for the next send */
  uint64_t token;         /* ... under these bucket parameters (ct_bucket_valid) */
  bool warm_probe;        /* this task opens the worker's first connection to its account */
  int64_t wake_us;        /* when a waiting task resumes */
  size_t heap_pos;        /* position in the worker's timer heap */
  ct_list_t wait;         /* on an account's slot wait list */
  int64_t sent_us;
  uint64_t sent_gen;      /* the worker's configuration generation the request was built from
                             (a pointer could be reused by the next snapshot) */

  /* The invoice document for this lease: this lease's own copy, prepared (read, checked,
   * protected) or taken from the document cache an earlier lease of the job filled. */
  ct_bytes_t doc;
  char doc_sha256[65];
  bool doc_ready;
  ct_doc_error_t doc_error; /* set when preparation failed (reason != NULL) */
  uv_work_t doc_work;
  void *docprep;            /* the worker's ct_docprep_t while a preparation runs */
  ct_channel_t end_channel; /* channel of the last request, for counters */
} ct_task_t;

/* The take request the control thread sends the spooler. */
typedef struct {
  ct_msg_t msg;
  ct_list_t tasks;   /* in: empty tasks to fill; out: filled ones first, `filled` of them */
  size_t want;
  size_t filled;
  int error;         /* CT_E* from the take, 0 otherwise */
  bool want_empty;   /* in: when nothing is due, find out whether anything is READY at all */
  bool spool_empty;  /* out: nothing READY, now or later (set only when asked and filled == 0) */
} ct_take_req_t;

/* New jobs to store, from the ingest API. */
typedef struct {
  ct_msg_t msg;
  ct_job_t **jobs;
  size_t n;
  int *results;  /* n results, filled by the spooler */
  int rc;        /* the spool's answer; 0 when stored */
  void *cb;      /* the caller's continuation, opaque here */
  void *arg;
} ct_enqueue_req_t;

#endif
