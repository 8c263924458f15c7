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

#endif
