/* A task: one leased job on its way through the engine, and the messages the engine's threads
 * pass each other. Tasks come from a fixed pool sized to max_inflight + gap_wait_max (the
 * latter for jobs waiting out a recipient gap, see gap_wait), so the engine's memory is the
 * same whether a thousand or millions of jobs wait in the spool.
 *
 *   control ──TAKE(empty tasks)──▶ spooler ──TAKEN(leased tasks)──▶ control
 *   control ──tasks──▶ worker ──(deliver)──▶ spooler ──settle, SETTLED──▶ control (recycle)
 *
 * Where a task is, is its state, changed only by ct_task_set_state (curl's mstate habit):
 *
 *   free ─▶ taking ─▶ queued ─▶ ready ─▶ inflight ─▶ ready ─▶ ... ─▶ settling ─▶ free
 *            │  ╰──────────────────────────────────────────────────────▲  (taken while stopping)
 *            ╰─▶ free (the take came back short)
 *   ready ⇄ doc | parked | gap_wait | slot_wait | resume;  ready ─▶ warm_wait ─▶ resume ─▶ ready
 *
 *   free       on the control loop's free list
 *   taking     lent to a take request at the spooler (no job yet)
 *   queued     leased, posted to a worker's inbox
 *   ready      in its worker's hands, between two gates (only ever inside a call)
 *   doc        its document is being read, checked and locked (worker/docprep.h), or waits
 *              for a preparation slot
 *   parked     on the worker's timer heap: a rate token or a recipient gap, counted in flight
 *   gap_wait   on the worker's timer heap for the recipient gap between two parts, NOT counted
 *              in flight (the control loop takes other jobs meanwhile) and without its
 *              document; at most gap_wait_max such tasks in the whole pool (worker.c)
 *   slot_wait  on its account's list, waiting for a concurrency slot
 *   warm_wait  on its account's list, waiting for the worker's first connection to it
 *   resume     to be stepped on the next loop turn
 *   inflight   its request is with the transport: only the transport's callback moves it
 *   settling   its outcome is at the spooler, being made durable
 *
 * What a task holds is separate from where it is: a concurrency slot (holds_slot), a rate
 * token (has_token), the account's first-connection probe (warm_probe), its document
 * (doc_ready). A parked task may hold a slot and a token; an inflight one a slot; a task in
 * gap_wait holds none of these, nor its document.
 */
#ifndef CT_WORKER_TASK_H
#define CT_WORKER_TASK_H

#include "common/list.h"
#include "dispatch/outcome.h"
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
  CT_MSG_SLOTS,   /* worker -> control: tasks gave back their in-flight slot (gap_wait); `ptr`
                     is the worker's atomic_bool saying the message is posted */
} ct_msg_type_t;

typedef struct {
  ct_list_t node;
  ct_msg_type_t type;
  void *ptr;
  int from; /* worker index, -1 for the spooler */
} ct_msg_t;

typedef enum {
  CT_TASK_FREE,
  CT_TASK_TAKING,
  CT_TASK_QUEUED,
  CT_TASK_READY,
  CT_TASK_DOC,
  CT_TASK_PARKED,
  CT_TASK_GAP_WAIT,
  CT_TASK_SLOT_WAIT,
  CT_TASK_WARM_WAIT,
  CT_TASK_RESUME,
  CT_TASK_INFLIGHT,
  CT_TASK_SETTLING,
  CT_TASK__N
} ct_task_state_t;

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
  ct_task_state_t state;  /* see the top; changed only by ct_task_set_state */
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

/* "free", "taking", ..., "settling"; "unknown" out of range. */
const char *ct_task_state_name(ct_task_state_t s);

/* Moves `t` to state `to`: the one place a task's whereabouts change. Asserts that the move
 * is one the diagram at the top allows, and traces "job=ID ready -> inflight" at debug level
 * (nothing is formatted otherwise). Called on whichever thread holds the task. */
void ct_task_set_state(ct_task_t *t, ct_task_state_t to);

/* Writes the lease's outcome for the spooler from a decision of dispatch/outcome.h (never
 * CT_NEXT_CONTINUE): t->settle (with the task's progress, its attempt if any and the earlier
 * accepted parts), t->end for the control loop's counters, and t->reason. An ACK stamps the
 * receipt's delivered_at_ms with `now_ms`. */
void ct_task_settle(ct_task_t *t, const ct_outcome_t *o, int64_t now_ms);

#endif
