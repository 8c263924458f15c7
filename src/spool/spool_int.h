/* Internals of the spool module: the backend interface and helpers shared by spool.c and the
 * backends. Nothing outside src/spool includes this file.
 *
 * spool.c is the backend-neutral layer. It checks arguments and permissions, fills in option
 * defaults, serializes calls on one handle, and forwards each call through a backend's
 * ct__spool_ops_t. A backend therefore gets only calls that are already known to be legal:
 *
 *   - every pointer argument that the public contract requires is non-NULL;
 *   - batch calls (enqueue, settle) have n > 0 and take has max > 0;
 *   - take and settle come only on an owner handle, mutating calls only on a writable one;
 *   - the dlq filter is never NULL (a NULL filter becomes a zeroed one);
 *   - no two calls on one handle run at the same time.
 *
 * A backend implements the contract of spool.h for everything else: durability, leases,
 * ordering, the exact errors, and leaving out-parameters alone on failure.
 */
#ifndef CT_SPOOL_SPOOL_INT_H
#define CT_SPOOL_SPOOL_INT_H

#include "spool/spool.h"

#include <stddef.h>
#include <stdint.h>

/* One open spool as a backend sees it; each backend defines the struct. */
typedef struct ct__spool_backend ct__spool_backend_t;

typedef struct {
  const char *name; /* "sqlite", "jetstream" */
  /* opts has its defaults filled in (retention and busy timeout are > 0). */
  int (*open)(ct__spool_backend_t **out, const ct_spool_options_t *opts);
  void (*close)(ct__spool_backend_t *be);
  int (*enqueue)(ct__spool_backend_t *be, ct_job_t *const *jobs, size_t n, int64_t now_ms,
                 int *results);
  int (*take)(ct__spool_backend_t *be, int64_t now_ms, size_t max, ct_lease_t *out, size_t *n);
  int (*settle)(ct__spool_backend_t *be, ct_settle_t *ops, size_t n, int64_t now_ms);
  int (*dlq_list)(ct__spool_backend_t *be, const ct_dlq_filter_t *f,
                  int (*visit)(const ct_dlq_entry_t *e, void *arg), void *arg);
  int (*replay)(ct__spool_backend_t *be, const ct_dlq_filter_t *f, int64_t now_ms,
                size_t *count);
  int (*purge)(ct__spool_backend_t *be, const ct_dlq_filter_t *f, size_t *count);
  /* n > 0 and no id NULL (replay_ids); n > 0, every dls[i]->job with id and tenant
   * (dlq_import). */
  int (*dlq_read)(ct__spool_backend_t *be, const ct_dlq_filter_t *f, bool with_attempts,
                  int (*visit)(const ct_dlq_record_t *r, void *arg), void *arg);
  int (*replay_ids)(ct__spool_backend_t *be, const char *const *ids, size_t n, int64_t now_ms,
                    size_t *count);
  int (*dlq_import)(ct__spool_backend_t *be, const ct_dead_letter_t *const *dls, size_t n,
                    int64_t now_ms, int *results);
  int (*job_get)(ct__spool_backend_t *be, const char *id, ct_job_info_t *out);
  int (*stats)(ct__spool_backend_t *be, int64_t now_ms, ct_spool_stats_t *out);
  int (*expire)(ct__spool_backend_t *be, int64_t now_ms, size_t *count);
  /* NULL when leases need no keeping alive. Owner only. */
  int (*keepalive)(ct__spool_backend_t *be, int64_t now_ms);
  /* NULL: spool.c counts failed settles itself. */
  void (*health)(ct__spool_backend_t *be, ct_spool_health_t *out);
  /* Webhook events (spool.h). n > 0, every event with event_id and account (events_put);
   * n > 0 (events_ack, events_retry); max > 0 (events_take); f never NULL (inbound_list). */
  int (*events_put)(ct__spool_backend_t *be, const ct_event_t *const *events, size_t n,
                    int64_t now_ms, int *results);
  int (*events_take)(ct__spool_backend_t *be, int64_t now_ms, size_t max, ct_event_lease_t *out,
                     size_t *n);
  int (*events_ack)(ct__spool_backend_t *be, const int64_t *seqs, size_t n, int64_t now_ms,
                    int *results);
  int (*events_retry)(ct__spool_backend_t *be, const int64_t *seqs, size_t n, int64_t due_ms,
                      int *results);
  int (*events_stats)(ct__spool_backend_t *be, ct_event_stats_t *out);
  int (*events_expire)(ct__spool_backend_t *be, int64_t now_ms, size_t *count);
  int (*inbound_list)(ct__spool_backend_t *be, const ct_inbound_filter_t *f,
                      int (*visit)(const ct_event_t *e, void *arg), void *arg);
} ct__spool_ops_t;

/* The backends. */
extern const ct__spool_ops_t ct__spool_sqlite_ops;
extern const ct__spool_ops_t ct__spool_jetstream_ops;

/* Attempts and receipts are stored as their protobuf encodings, like jobs. job/ offers an
 * encoder only for whole jobs, so the spool packs these two messages itself through the
 * types job.h exposes.
 *
 * A growable scratch buffer lets a batch pack many small records without a malloc each. */
typedef struct {
  uint8_t *data;
  size_t cap;
} ct__spool_buf_t;

/* Packs `attempt` (or `receipt`) into b->data, growing it as needed; *len = its size.
 * Errors: CT_ENOMEM. */
int ct__spool_pack_attempt(ct__spool_buf_t *b, const ct_attempt_t *attempt, size_t *len);
int ct__spool_pack_receipt(ct__spool_buf_t *b, const ct_receipt_t *receipt, size_t *len);

/* Decodes a stored attempt (or receipt). Errors: CT_ECORRUPT (the bytes do not decode). */
int ct__spool_unpack_attempt(const void *data, size_t len, ct_attempt_t **out);
int ct__spool_unpack_receipt(const void *data, size_t len, ct_receipt_t **out);

/* Free what the unpackers made. NULL is a no-op. */
void ct__spool_attempt_free(ct_attempt_t *attempt);
void ct__spool_receipt_free(ct_receipt_t *receipt);

void ct__spool_buf_free(ct__spool_buf_t *b);

#endif
