/* Internals of the JetStream spool backend (see the essay in jetstream.c). */
#ifndef CT_SPOOL_JETSTREAM_INT_H
#define CT_SPOOL_JETSTREAM_INT_H

#include "spool/spool_int.h"

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes inside a buffer someone else owns. */
typedef struct {
  const uint8_t *p;
  size_t len;
} ct__js_view_t;

/* The job record: what the spool knows about a job beyond the job itself. Kept in the state
 * bucket while a job that has been tried waits for its next try, and in the receipts bucket
 * once it is delivered. Encoding (little-endian):
 *
 *   "CTJ1" state:u8 last_channel:u8 attempts:u32 due_ms:i64 enqueued_ms:i64 updated_ms:i64
 *   provider:bytes reason:bytes receipt:bytes job:bytes n:u32 (attempt:bytes){n}
 *
 * where bytes = length:u32 then the bytes; receipt, job and each attempt are protobuf
 * (Receipt, Job, Attempt). A decoded record points into the buffer it was decoded from. */
typedef struct {
  int state;              /* ct_job_state_t: READY in the state bucket, DELIVERED in receipts */
  int last_channel;       /* of the last failed attempt */
  uint32_t attempts;      /* failed attempts since enqueue or the last replay */
  int64_t due_ms;
  int64_t enqueued_ms;
  int64_t updated_ms;
  ct__js_view_t provider; /* of the last failed attempt */
  ct__js_view_t reason;   /* unused today (dead letters live in the DLQ stream) */
  ct__js_view_t receipt;  /* progress, or the receipt once delivered; len 0 = none */
  ct__js_view_t job;      /* the Job (receipts only); len 0 = not kept */
  ct__js_view_t *history; /* every attempt, oldest first */
  size_t n_history;
} ct__js_rec_t;

/* Encodes `r` followed by `n_extra` more attempts into b; *len = its size.
 * Errors: CT_ENOMEM. */
int ct__js_rec_encode(const ct__js_rec_t *r, const ct__js_view_t *extra, size_t n_extra,
                      ct__spool_buf_t *b, size_t *len);
/* Errors: CT_ECORRUPT, CT_ENOMEM. Free with ct__js_rec_free (the views stay the caller's). */
int ct__js_rec_decode(const void *data, size_t len, ct__js_rec_t *out);
void ct__js_rec_free(ct__js_rec_t *r);

/* A job id as a KV key. Errors: CT_EINVAL (does not fit in cap). */
int ct__js_key(const char *id, char *out, size_t cap);
/* A string as one subject token. */
void ct__js_token(const char *s, char *out, size_t cap);

/* The settings of a spool (location.c): defaults, then opts->nats, then the location's query
 * string. servers is the location without its query string. */
#define CT__JS_NAME_MAX 128
typedef struct {
  char servers[1024];
  char stream[CT__JS_NAME_MAX], dlq[CT__JS_NAME_MAX], consumer[CT__JS_NAME_MAX],
      prefix[CT__JS_NAME_MAX];
  int replicas;
  int64_t ack_wait_ms, max_deliver, max_ack_pending, dup_window_ms;
  char creds[512], ca[512], cert[512], key[512];
} ct__js_conf_t;

/* Fills *c from opts (opts->path the location). Errors: CT_EINVAL, with a sentence saying
 * what is wrong in err (cap bytes, NUL-terminated; "" on success). *c is scratch on error. */
int ct__js_conf_make(const ct_spool_options_t *opts, ct__js_conf_t *c, char *err, size_t cap);

/* What the headers of a dead letter say (headers.c). Empty strings and NULL are left out. */
typedef struct {
  const char *job_id, *tenant, *reason, *provider;
  int channel;
  uint32_t attempts;
  int64_t dead_at_ms;
  const char *progress64; /* base64 Receipt of the parts accepted, or NULL */
  bool raw;               /* the payload is the bytes of a job that did not decode */
} ct__js_dead_t;

/* Sets the headers of dead letter m. Errors: CT_ENOMEM, CT_EINVAL (a value NATS refuses). */
int ct__js_dead_headers(natsMsg *m, const ct__js_dead_t *d);
/* Reads them back into e (strings point into m; a missing header is "" or 0; seq is m's). */
void ct__js_dead_entry(natsMsg *m, ct_dlq_entry_t *e);
bool ct__js_dead_is_raw(natsMsg *m);
/* The value of header key, or "" when there is none. */
const char *ct__js_hdr(natsMsg *m, const char *key);

/* ---- what events.c needs of the backend (jetstream.c) ---- */

/* The connection and the names the backend was opened with. Valid while it is open. */
typedef struct {
  natsConnection *nc;
  jsCtx *js;     /* with the publish ack handler of the batch below */
  jsCtx *js_ask; /* short API wait, for open's lookups */
  const char *prefix, *stream, *consumer;
  int replicas;
  int64_t ack_wait_ms, dup_window_ms, max_ack_pending;
  bool owner, readonly;
} ct__js_shared_t;

void ct__js_shared(ct__spool_backend_t *be, ct__js_shared_t *out);

/* The backend's batch of asynchronous publishes: begin for at most n publishes whose results
 * land in results[i] (0, CT_EDUPLICATE when the stream already had the message id or, with
 * Nats-Expected-Last-Subject-Sequence, the subject; CT_ENOSPC, CT_EIO); publish takes *m;
 * wait returns once every ack came (CT_EIO when some did not in time). */
int ct__js_batch_begin(ct__spool_backend_t *be, size_t n, int *results, uint64_t *seqs);
int ct__js_batch_publish(ct__spool_backend_t *be, natsMsg **m, size_t idx, const char *msg_id);
int ct__js_batch_wait(ct__spool_backend_t *be);

/* Find-or-create with open's retries (see the comment on ensure in jetstream.c). `find`
 * returns NATS_NOT_FOUND when the thing does not exist; `create` may be NULL. */
typedef natsStatus (*ct__js_find_fn)(ct__spool_backend_t *be, void *arg);
typedef natsStatus (*ct__js_create_fn)(ct__spool_backend_t *be, void *arg, jsErrCode *jerr);
int ct__js_ensure(ct__spool_backend_t *be, const char *what, ct__js_find_fn find,
                  ct__js_create_fn create, void *arg);

/* Logs a failed NATS call and maps its status to a CT_E* code. */
int ct__js_fail(const char *what, natsStatus s);

/* ---- webhook events (events.c) ---- */

typedef struct ct__js_events ct__js_events_t;

/* Finds or creates the events and inbound streams (and, for an owner, the events consumer).
 * Errors: as open. */
int ct__js_events_open(ct__spool_backend_t *be, const ct_spool_options_t *opts,
                       ct__js_events_t **out);
/* Forgets the leases (the server hands them out again after the ack wait) and frees. */
void ct__js_events_close(ct__js_events_t *ev);
int ct__js_events_put(ct__spool_backend_t *be, ct__js_events_t *ev,
                      const ct_event_t *const *events, size_t n, int64_t now_ms, int *results);
int ct__js_events_take(ct__spool_backend_t *be, ct__js_events_t *ev, int64_t now_ms, size_t max,
                       ct_event_lease_t *out, size_t *n);
int ct__js_events_ack(ct__js_events_t *ev, const int64_t *seqs, size_t n, int *results);
int ct__js_events_retry(ct__js_events_t *ev, const int64_t *seqs, size_t n, int64_t due_ms,
                        int64_t now_ms, int *results);
int ct__js_events_stats(ct__spool_backend_t *be, ct__js_events_t *ev, ct_event_stats_t *out);
int ct__js_inbound_list(ct__spool_backend_t *be, ct__js_events_t *ev,
                        const ct_inbound_filter_t *f,
                        int (*visit)(const ct_event_t *e, void *arg), void *arg);
/* Keeps event leases held longer than a third of the ack wait alive. */
int ct__js_events_keepalive(ct__js_events_t *ev, int64_t now_ms);

#endif
