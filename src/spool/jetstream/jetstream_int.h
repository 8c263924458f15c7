/* Internals of the JetStream spool backend (see the essay in jetstream.c). */
#ifndef CT_SPOOL_JETSTREAM_INT_H
#define CT_SPOOL_JETSTREAM_INT_H

#include "spool/spool_int.h"

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

#endif
