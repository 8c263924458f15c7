/* The spool: where accepted jobs live until they are delivered or dead-lettered.
 *
 * A job is in one of these states:
 *
 *   enqueue ──▶ READY ──take──▶ INFLIGHT ──ack──▶ DELIVERED (receipt kept, then expired)
 *                 ▲                │ │
 *                 └──── retry ─────┘ └──dead──▶ DEAD ──replay──▶ READY
 *                                                   └──purge──▶ (gone)
 *
 * INFLIGHT exists only in the memory of the process that owns the spool (a lease): on disk an
 * in-flight job is still READY, so a crash re-delivers exactly what was in flight and nothing
 * else. Only the owner (opened with `owner = true`, which takes an exclusive lock) may take
 * and settle; any number of other processes (the CLI) may enqueue, read, replay and purge at
 * the same time.
 *
 * Every mutating call is one transaction, made durable (fsync) before it returns 0: a job
 * reported enqueued survives a power cut. Callers batch (group commit): one call for a
 * thousand jobs costs about as much as one for a single job.
 *
 * The interface is backend-neutral; backends live in sub-folders: sqlite/ (a file, one owner)
 * and jetstream/ (a NATS JetStream cluster, chosen by a "nats://" location, where several
 * processes may own the spool at once: see the essay in jetstream/jetstream.c).
 *
 * A handle may be shared between threads: calls on it are serialized. Besides the errors each
 * function lists, any call may return CT_EINVAL when its arguments break the contract (NULL
 * where a pointer is required, a call into the spool from a ct_spool_dlq_list visitor), and
 * any call that writes may return CT_ELOCKED when another process holds the write lock past
 * busy_timeout_ms.
 */
#ifndef CT_SPOOL_SPOOL_H
#define CT_SPOOL_SPOOL_H

#include "event/event.h"
#include "job/job.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ct_spool ct_spool_t;

typedef enum {
  CT_STATE_READY = 0,
  CT_STATE_INFLIGHT = 1,
  CT_STATE_DELIVERED = 2,
  CT_STATE_DEAD = 3,
} ct_job_state_t;

/* "ready", "inflight", "delivered", "dead". */
const char *ct_job_state_name(ct_job_state_t state);

/* Settings of the JetStream backend. Zero fields take the defaults in brackets; parameters in
 * the location's query string ("nats://a:4222,nats://b:4222?stream=JOBS&replicas=3") override
 * both, so that CLI commands given only a location reach the same streams as the daemon. */
typedef struct {
  const char *stream;           /* work-queue stream of jobs [CARTEIRO_JOBS] */
  const char *dlq_stream;       /* stream of dead letters [CARTEIRO_DLQ] */
  const char *consumer;         /* the durable pull consumer all owners share [carteiro] */
  const char *subject;          /* subject prefix: PREFIX.jobs.<tenant>, PREFIX.dlq.<tenant>.<reason>
                                   [carteiro] */
  int replicas;                 /* replicas of the streams and buckets open creates [1] */
  int64_t ack_wait_ms;          /* a delivery not acknowledged (or kept alive) within this is
                                   delivered again [30 s] */
  int64_t max_deliver;          /* deliveries of one job by the server; -1 = unlimited [-1].
                                   The last one is not handed out: the job goes to the DLQ
                                   with reason "max_deliveries" (so N allows N-1 tries) */
  int64_t max_ack_pending;      /* un-acknowledged deliveries across all owners [100000] */
  int64_t duplicate_window_ms;  /* enqueue is idempotent by id within this window [1 h] */
  const char *creds_file;       /* NATS user credentials (JWT + seed) */
  const char *ca_file;          /* CA for TLS to the servers (turns TLS on) */
  const char *cert_file;        /* client certificate and key for mutual TLS */
  const char *key_file;
} ct_spool_nats_options_t;

typedef struct {
  const char *path;             /* spool file, created 0600 if missing; or the servers of a
                                   JetStream spool: "nats://host:port[,nats://...][?k=v&...]"
                                   (any other "scheme://" is CT_EINVAL) */
  const ct_spool_nats_options_t *nats; /* JetStream settings; NULL = defaults */
  bool owner;                   /* take and settle: the exclusive owner lock (SQLite); a
                                   consumer of the shared pull consumer (JetStream) */
  bool readonly;                /* open for reading only (inspection commands) */
  int64_t receipt_retention_ms; /* how long receipts of delivered jobs are kept; 0 = 30 days */
  int busy_timeout_ms;          /* wait this long for another writer; 0 = 5000 */
  size_t outcome_journal;       /* owner of a SQLite spool: reserve a side journal (PATH.outcomes)
                                   for this many outcomes, where settle keeps what the database
                                   cannot commit (disk full, I/O errors); 0 = no journal. See
                                   ct_spool_settle and the essay in sqlite/sqlite.c */
  int64_t event_retention_ms;   /* how long webhook events are kept (and known as duplicates)
                                   once received; 0 = 7 days */
} ct_spool_options_t;

/* Opens (creating and migrating as needed) the spool at opts->path.
 * With an outcome journal (owner, SQLite), open creates it with all its room allocated, or
 * finds the outcomes an earlier owner left in it and records them in the spool before
 * anything is taken. If they cannot be recorded yet (the disk is still full), open succeeds
 * all the same: their jobs stay leased (not taken again) and take refuses until they are.
 * Errors: CT_EBUSY (owner requested and another process owns it), CT_EPERM, CT_ENOENT
 * (readonly and missing, or the directory is missing), CT_ECORRUPT (not a spool, or damaged;
 * or an outcome journal that is not one), CT_ESCHEMA (written by a newer carteiro; or, when
 * readonly, by an older one: open it read-write once to migrate), CT_EINVAL (owner and
 * readonly together), CT_ELOCKED, CT_ENOSPC (also: no room to create the outcome journal),
 * CT_EIO, CT_ENOMEM. *out is set only on success. */
int ct_spool_open(ct_spool_t **out, const ct_spool_options_t *opts);

/* Closes the spool, releasing the owner lock. Leases still outstanding are simply forgotten:
 * their jobs are READY for the next owner. NULL is a no-op. */
void ct_spool_close(ct_spool_t *sp);

/* Stores `n` validated, normalized jobs in one durable transaction. results[i] is 0 when jobs[i]
 * was stored, CT_EDUPLICATE when a job with its id already exists (in any state, including a
 * duplicate within the same batch). A job is due at max(not_before_ms, now_ms).
 * Returns 0 once committed; on error nothing of the batch is stored and results is untouched.
 * (One exception: when the disk fails the commit's fsync, CT_EIO, the batch may surface after
 * a restart. Enqueue it again; what was stored comes back CT_EDUPLICATE.)
 * Errors: CT_ENOSPC, CT_EIO, CT_EPERM (readonly), CT_ELOCKED (another writer held the lock
 * past busy_timeout_ms), CT_EINVAL (a job without id or tenant), CT_ENOMEM. */
int ct_spool_enqueue(ct_spool_t *sp, ct_job_t *const *jobs, size_t n, int64_t now_ms,
                     int *results);

/* A job handed to the owner by ct_spool_take. */
typedef struct {
  int64_t seq;            /* the spool's handle for this job; pass it back to ct_spool_settle */
  ct_job_t *job;          /* decoded job, owned by the lease */
  ct_receipt_t *progress; /* parts already accepted by earlier attempts, or NULL */
  uint32_t attempts;      /* failed attempts (transient or permanent outcomes) so far, since
                             enqueue or the last replay: what max_attempts is measured on */
  int64_t due_ms;
  int64_t enqueued_ms;
} ct_lease_t;

/* Frees what a lease owns (not the struct itself). The job stays INFLIGHT until settled. */
void ct_lease_free(ct_lease_t *lease);

/* Leases up to `max` jobs that are READY, due at or before now_ms and not already leased:
 * higher priority first, then earliest due, then enqueue order. *n is set to the number
 * written to out[0..]. Owner only (CT_EPERM otherwise). Reads only; no fsync.
 * A stored job that no longer decodes is not leased: it is moved to the DLQ with reason
 * "undecodable" (more than 64 of them in one take: CT_ECORRUPT).
 * When the outcome journal holds outcomes, take first records them in the spool (one durable
 * transaction) and leases nothing if that fails: no new work while outcomes cannot be
 * committed. Errors: CT_EPERM, CT_ECORRUPT, CT_EIO, CT_ENOMEM; with outcomes in the journal
 * also CT_ENOSPC and CT_ELOCKED. */
int ct_spool_take(ct_spool_t *sp, int64_t now_ms, size_t max, ct_lease_t *out, size_t *n);

typedef enum {
  CT_SETTLE_ACK,     /* delivered: keep `receipt` (NULL: keep the progress as the receipt) */
  CT_SETTLE_RETRY,   /* back to READY, due at `due_ms`; `receipt` (optional) = parts done
                        (NULL: the earlier progress stays) */
  CT_SETTLE_DEAD,    /* to the DLQ with `reason` (NULL or "": "unspecified"); progress kept */
  CT_SETTLE_RELEASE, /* back to READY unchanged (shutdown, window not open): no attempt */
} ct_settle_kind_t;

typedef struct {
  int64_t seq;                 /* from the lease */
  ct_settle_kind_t kind;
  const ct_attempt_t *attempt; /* appended to the job's history when not NULL */
  const ct_attempt_t *const *earlier; /* appended before `attempt`, in order (the parts this
                                         lease had accepted before it); n_earlier of them */
  size_t n_earlier;
  const ct_receipt_t *receipt; /* ACK: the receipt; RETRY: progress so far (may be NULL) */
  int64_t due_ms;              /* RETRY and RELEASE: when it is due again (0 = now) */
  const char *reason;          /* DEAD: "permanent_failure", "deadline_exceeded", ... */
  int result;                  /* out: 0, or CT_ESTATE when seq is not leased */
} ct_settle_t;

/* Records the outcomes of `n` leased jobs in one durable transaction and ends their leases.
 * An op whose seq is not leased (including a seq already settled earlier in the same batch)
 * gets result CT_ESTATE and changes nothing.
 * Returns 0 once committed; on error nothing is recorded, the results are untouched and the
 * leases are kept, so the caller may try again. Owner only.
 * With an outcome journal, a batch the spool cannot commit for the disk (CT_ENOSPC, CT_EIO)
 * is written to the journal instead (one write, one fdatasync) and settle returns 0: the
 * outcomes are durable and their leases end for the caller, but their jobs are not taken
 * again until the journal has been recorded in the spool (by a later take or settle, or the
 * next open). ct_spool_health tells when that is happening. Only when the journal has no room
 * left for the whole batch, or fails itself, does settle return the error.
 * Errors: CT_EPERM, CT_ELOCKED, CT_ENOSPC, CT_EIO, CT_EINVAL (unknown kind), CT_ENOMEM. */
int ct_spool_settle(ct_spool_t *sp, ct_settle_t *ops, size_t n, int64_t now_ms);

/* Selects dead letters (and, for ct_spool_job_get, any job). Zero/NULL fields (and empty
 * strings) match all. */
typedef struct {
  const char *reason;
  const char *tenant;
  const char *provider;   /* provider of the last failed attempt */
  ct_channel_t channel;   /* channel of the last failed attempt; CT_CHANNEL_NONE = any */
  int64_t since_ms;       /* dead at or after */
  int64_t until_ms;       /* dead before */
  const char *job_id;     /* exactly this job */
  size_t limit;           /* at most this many (oldest first); 0 = no limit */
} ct_dlq_filter_t;

typedef struct {
  int64_t seq;
  const char *job_id;
  const char *tenant;
  const char *reason;
  ct_channel_t channel;   /* of the last failed attempt */
  const char *provider;   /* of the last failed attempt, "" if none */
  int64_t dead_at_ms;
  uint32_t attempts;
} ct_dlq_entry_t;

/* Calls `visit` for each matching dead letter, oldest first; the entry is valid during the
 * call only, and `visit` must not call the spool (such calls fail with CT_EINVAL). A non-zero
 * return from `visit` stops the walk and is returned.
 * Errors: CT_EIO, CT_ENOMEM. */
int ct_spool_dlq_list(ct_spool_t *sp, const ct_dlq_filter_t *f,
                      int (*visit)(const ct_dlq_entry_t *e, void *arg), void *arg);

/* Moves matching dead letters back to READY, due now, with their attempt count reset and the
 * channels they failed on for good forgotten (replaying says "the cause is fixed"); the
 * history and the parts already delivered are kept, so nothing is sent twice. *count =
 * number moved. Works while a daemon owns the spool: the owner's
 * next take sees them. Errors: CT_EPERM (readonly), CT_ENOSPC, CT_EIO, CT_ELOCKED. */
int ct_spool_replay(ct_spool_t *sp, const ct_dlq_filter_t *f, int64_t now_ms, size_t *count);

/* Deletes matching dead letters for good. *count = number deleted. Errors as replay. */
int ct_spool_purge(ct_spool_t *sp, const ct_dlq_filter_t *f, size_t *count);

/* A dead letter with what the spool stores for it: for callers that need more than the
 * summary (export, a replay that checks what was already delivered). Everything is owned by
 * the spool and valid during the visit only. */
typedef struct {
  ct_dlq_entry_t entry;
  const ct_job_t *job;          /* NULL when the stored job does not decode ("undecodable") */
  const ct_receipt_t *progress; /* parts accepted before the job died, or NULL */
  ct_attempt_t *const *attempts; /* every attempt ever recorded, oldest first; NULL (and
                                    n_attempts 0) unless asked for */
  size_t n_attempts;
} ct_dlq_record_t;

/* Like ct_spool_dlq_list, with each dead letter's job, progress and (when `with_attempts`)
 * attempt history decoded. All of it is read in one snapshot, oldest first; `visit` must not
 * call the spool, and a non-zero return from it stops the walk and is returned.
 * Errors: CT_ECORRUPT (a stored receipt or attempt does not decode; a job that does not decode
 * is passed as NULL instead), CT_EIO, CT_ENOMEM. */
int ct_spool_dlq_read(ct_spool_t *sp, const ct_dlq_filter_t *f, bool with_attempts,
                      int (*visit)(const ct_dlq_record_t *r, void *arg), void *arg);

/* Replays exactly the dead letters with the `n` given ids, as ct_spool_replay does (due now,
 * attempts reset, failed channels forgotten, history and accepted parts kept), in one durable
 * transaction. An id that is absent or not DEAD (already replayed, purged, never dead) is left
 * alone and not counted. *count = number moved. n = 0 moves nothing.
 * Errors: CT_EPERM (readonly), CT_ECORRUPT (a stored receipt does not decode; nothing moved),
 * CT_ENOSPC, CT_EIO, CT_ELOCKED, CT_EINVAL (a NULL id), CT_ENOMEM. */
int ct_spool_replay_ids(ct_spool_t *sp, const char *const *ids, size_t n, int64_t now_ms,
                        size_t *count);

/* Stores `n` dead letters (from another spool's export) directly as DEAD jobs, in one durable
 * transaction: the job as it is (no validation: the caller validates), every attempt as its
 * history, the reason (NULL or "": "unspecified") and dead_at_ms (0: now_ms) as the time it
 * died. Its attempt count is the number of failed (transient or permanent) attempts in the
 * history, and its DLQ channel and provider those of the last failed one, as if the jobs had
 * died here; the accepted parts are not part of a DeadLetter, so an imported job has no
 * progress. results[i] is 0 when stored, CT_EDUPLICATE when a job with its id already
 * exists (in any state, or earlier in the same batch). On error nothing is stored and
 * results is untouched.
 * Errors: CT_EINVAL (a dead letter without a job, or a job without id or tenant), CT_EPERM
 * (readonly), CT_ENOSPC, CT_EIO, CT_ELOCKED, CT_ENOMEM. */
int ct_spool_dlq_import(ct_spool_t *sp, const ct_dead_letter_t *const *dls, size_t n,
                        int64_t now_ms, int *results);

/* Everything the spool knows about one job. */
typedef struct {
  int64_t seq;
  ct_job_state_t state;   /* INFLIGHT when the calling process holds its lease */
  ct_job_t *job;
  ct_attempt_t **attempts; /* oldest first */
  size_t n_attempts;
  ct_receipt_t *receipt;  /* DELIVERED: the receipt; READY, DEAD: progress, or NULL */
  char *reason;           /* DEAD: the reason; else NULL */
  int64_t enqueued_ms;
  int64_t updated_ms;
  int64_t due_ms;
} ct_job_info_t;

/* Looks a job up by id; *out is set only on success. Free it with ct_job_info_free.
 * Errors: CT_ENOTFOUND, CT_ECORRUPT, CT_EIO, CT_ENOMEM. */
int ct_spool_job_get(ct_spool_t *sp, const char *id, ct_job_info_t *out);
void ct_job_info_free(ct_job_info_t *info);

#define CT_SPOOL_MAX_REASONS 32

typedef struct {
  uint64_t ready;          /* READY on disk (includes this process's in-flight) */
  uint64_t due;            /* READY and due at now_ms */
  uint64_t inflight;       /* leased by this process */
  uint64_t delivered;      /* receipts still retained */
  uint64_t dead;
  int64_t oldest_due_ms;   /* earliest due time among READY jobs; 0 when none */
  struct {
    char reason[64];
    uint64_t count;
  } dlq[CT_SPOOL_MAX_REASONS]; /* dead letters by reason, largest first */
  size_t n_dlq;
  uint64_t file_bytes;     /* spool size on disk (main file + WAL) */
} ct_spool_stats_t;

/* Keeps the owner's leases alive: a backend whose leases expire by themselves (JetStream's
 * ack wait) extends each lease it has held for a while. The owner calls it about once a
 * second while it holds leases; backends whose leases live as long as the process (SQLite)
 * do nothing. Errors: CT_EIO (the extension did not reach the server; the caller just calls
 * again later). */
int ct_spool_keepalive(ct_spool_t *sp, int64_t now_ms);

/* Errors: CT_EIO. */
int ct_spool_stats(ct_spool_t *sp, int64_t now_ms, ct_spool_stats_t *out);

/* Whether the owner can record outcomes: what readiness and metrics show. */
typedef struct {
  uint64_t commit_failures; /* settles (and recordings of the journal) that failed for the
                               disk or the server's storage (CT_ENOSPC, CT_EIO) since open */
  bool failing;             /* the last such attempt failed; cleared by one that commits */
  uint64_t journaled;       /* outcomes in the outcome journal, not yet in the spool */
  uint64_t journal_used_bytes;
  uint64_t journal_capacity_bytes; /* 0: no outcome journal */
} ct_spool_health_t;

/* Fills *out from counters the handle keeps: no I/O, but it waits for a call running on the
 * handle (a commit waiting on fsync), so an event loop should not call it. Backends without a
 * journal count failed settles. Errors: CT_EINVAL. */
int ct_spool_health(ct_spool_t *sp, ct_spool_health_t *out);

/* Deletes receipts (DELIVERED jobs, with their attempt history) delivered more than the
 * retention period before now_ms. *count = number removed. Dead letters never expire; only
 * purge removes them. Errors as replay. */
int ct_spool_expire(ct_spool_t *sp, int64_t now_ms, size_t *count);

/* ---- Webhook events ----------------------------------------------------------------------
 *
 * Every event a provider sends (event/event.h) is stored here before the provider is answered
 * 200, and only once: providers retry for up to a day and send duplicates, so an event is
 * known by its event_id for the whole event retention, whatever became of it.
 *
 *   events_put ──▶ PENDING ──events_take──▶ (leased) ──events_ack──▶ DONE ──expire──▶ (gone)
 *                     ▲                          │
 *                     └──── events_retry(due) ───┘
 *
 * As with jobs, a lease lives only in the memory of the owner: a crash leaves the event
 * PENDING, to be taken again (the processor must be idempotent, as it must be anyway).
 * Inbound messages (kind INBOUND) are also kept on their own, by account and provider message
 * id, for the conversation features (ct_spool_inbound_list); they are personal data, stored
 * like jobs (0600 files, or the cluster's streams). DONE events and inbound messages are
 * removed by ct_spool_events_expire once received more than event_retention_ms ago; a PENDING
 * event is never dropped (oldest_pending_ms in the stats shows one that waits too long).
 */

/* Stores events[0..n) in one durable transaction (an event's received_ms, when 0, becomes
 * now_ms). results[i] is 0 when events[i] was stored,
 * CT_EDUPLICATE when an event with its event_id is already stored (in any state, or earlier in
 * the same batch). Returns 0 once committed; on error nothing is stored and results is
 * untouched. Errors: CT_EINVAL (an event without event_id or account), CT_EPERM (readonly),
 * CT_ENOSPC, CT_EIO, CT_ELOCKED, CT_ENOMEM. */
int ct_spool_events_put(ct_spool_t *sp, const ct_event_t *const *events, size_t n,
                        int64_t now_ms, int *results);

/* A PENDING event handed to the owner by ct_spool_events_take. */
typedef struct {
  int64_t seq;       /* the spool's handle, for events_ack and events_retry */
  uint32_t attempts; /* times it was given back with events_retry */
  ct_event_t event;  /* owned by the lease */
} ct_event_lease_t;

/* Frees what a lease owns. The event stays leased until acked or retried. */
void ct_event_lease_free(ct_event_lease_t *lease);

/* Leases up to `max` PENDING events due at or before now_ms and not already leased, in the
 * order they were stored. *n is set to the number written to out[0..]. Owner only. An event
 * that no longer decodes is not handed out: it is marked DONE (and logged). Errors: CT_EPERM,
 * CT_EIO, CT_ENOMEM. */
int ct_spool_events_take(ct_spool_t *sp, int64_t now_ms, size_t max, ct_event_lease_t *out,
                         size_t *n);

/* Marks leased events applied (DONE), in one durable transaction, and ends their leases.
 * results[i] is 0, or CT_ESTATE when seqs[i] is not leased (changing nothing); on JetStream,
 * which acknowledges one by one, CT_EIO for one the server could not be told (its lease
 * stays). On error nothing is recorded and the leases stay. Owner only. Errors: CT_EPERM, CT_ENOSPC, CT_EIO,
 * CT_ELOCKED, CT_ENOMEM. */
int ct_spool_events_ack(ct_spool_t *sp, const int64_t *seqs, size_t n, int64_t now_ms,
                        int *results);

/* Gives leased events back PENDING, not to be taken before due_ms (a status for a message
 * whose send is not recorded yet waits for it), counting an attempt. Results and errors as
 * events_ack. */
int ct_spool_events_retry(ct_spool_t *sp, const int64_t *seqs, size_t n, int64_t due_ms,
                          int *results);

typedef struct {
  uint64_t pending;         /* events stored and not yet applied (this process's leases too) */
  uint64_t done;            /* applied, kept for dedupe until the retention passes */
  uint64_t inbound;         /* inbound messages kept */
  int64_t oldest_pending_ms; /* received_ms of the oldest PENDING event; 0 when none */
} ct_event_stats_t;

/* Errors: CT_EIO, CT_ENOMEM. */
int ct_spool_events_stats(ct_spool_t *sp, ct_event_stats_t *out);

/* Deletes DONE events and inbound messages received before now_ms - event_retention_ms.
 * *count = events removed. Errors: CT_EPERM, CT_ENOSPC, CT_EIO, CT_ELOCKED. */
int ct_spool_events_expire(ct_spool_t *sp, int64_t now_ms, size_t *count);

/* Selects inbound messages: account and sender ("" or NULL: any), at or after since_ms, at
 * most `limit` (0: no limit), oldest first. */
typedef struct {
  const char *account;
  const char *from;
  int64_t since_ms;
  size_t limit;
} ct_inbound_filter_t;

/* Calls `visit` with each matching inbound message (valid during the call only; `visit` must
 * not call the spool); a non-zero return stops the walk and is returned.
 * Errors: CT_ECORRUPT (a stored message does not decode), CT_EIO, CT_ENOMEM. */
int ct_spool_inbound_list(ct_spool_t *sp, const ct_inbound_filter_t *f,
                          int (*visit)(const ct_event_t *e, void *arg), void *arg);

#endif
