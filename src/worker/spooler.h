/* The spooler: the one thread that talks to the spool while the daemon runs.
 *
 * SQLite blocks (a commit waits for fsync), so it never runs on an event loop. The spooler
 * waits on a queue; each time it wakes it takes everything queued, records all the finished
 * tasks' outcomes in one transaction (group commit: one fsync for however many finished
 * meanwhile), answers take requests, and posts the results to the control loop's mailbox.
 * A failed commit (disk full, I/O error) loses nothing: the spool keeps the outcomes in its
 * outcome journal (sqlite/sqlite.c), or, when it cannot, they stay queued and are retried
 * every second with their leases held. While outcomes wait, no new jobs are taken. Once the
 * engine stops (ct_spooler_stopping), outcomes still unrecorded shortly after the shutdown
 * grace are given up, so that a stop always ends: their jobs are sent again after a restart. */
#ifndef CT_WORKER_SPOOLER_H
#define CT_WORKER_SPOOLER_H

#include "common/mailbox.h"
#include "worker/task.h"

typedef struct ct_spooler ct_spooler_t;

/* Opens the spool at `path` as its owner (on the calling thread, so that CT_EBUSY and other
 * open errors are reported at once) and starts the thread. Results go to `control`.
 * Errors: those of ct_spool_open, CT_ENOMEM. */
int ct_spooler_start(ct_spooler_t **out, const ct_spool_options_t *opts, ct_mailbox_t *control);

/* Asks the spooler to keep a statistics snapshot (for metrics and readiness). Counting scans
 * the spool's indexes, which fills SQLite's page cache (bounded, but larger with a larger
 * spool), so it is done only when something reads the snapshot. */
void ct_spooler_want_stats(ct_spooler_t *s);

/* The latest spool statistics (refreshed every couple of seconds by the spooler thread once
 * wanted). False until the first snapshot. Any thread. */
bool ct_spooler_stats(ct_spooler_t *s, ct_spool_stats_t *out);

/* Whether the spool can record outcomes (failing commits, the outcome journal), as of the
 * spooler's last call into it: for readiness and metrics. Any thread; no I/O. Zeroes until
 * the first settle or take. */
void ct_spooler_health(ct_spooler_t *s, ct_spool_health_t *out);

/* The engine has begun to stop and gives requests in flight `grace_ms` to finish: outcomes
 * that still cannot be recorded a little after that (GIVE_UP_AFTER_GRACE_MS) are given up,
 * their tasks returned as released. Any thread. */
void ct_spooler_stopping(ct_spooler_t *s, int64_t grace_ms);

/* Webhook events to store (CT_MSG_EVENTS), from the webhook listener. The spooler stores every
 * batch queued meanwhile in one transaction (group commit) and answers each with
 * CT_MSG_EVENTS_STORED: rc 0 and results[i] (0 stored, CT_EDUPLICATE already known), or rc a
 * CT_E* code and nothing stored. */
typedef struct {
  ct_msg_t msg;
  ct_event_list_t events; /* owned by the request */
  int *results;           /* events.n results, filled by the spooler */
  int rc;
} ct_events_req_t;

/* The latest webhook event counts (refreshed with the statistics). False until the first. */
bool ct_spooler_event_stats(ct_spooler_t *s, ct_event_stats_t *out);

/* Queues a message (CT_MSG_TAKE, CT_MSG_TASK, CT_MSG_ENQUEUE, CT_MSG_EVENTS or CT_MSG_STOP)
 * from any thread. */
void ct_spooler_post(ct_spooler_t *s, ct_msg_t *msg);
void ct_spooler_post_all(ct_spooler_t *s, ct_list_t *msgs);

/* Waits for the thread (which exits after CT_MSG_STOP once everything queued is durable),
 * closes the spool and frees `s`. */
void ct_spooler_join(ct_spooler_t *s);

#endif
