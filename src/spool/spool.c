/* The backend-neutral spool layer: argument and permission checks, option defaults, one lock
 * per handle, and dispatch through the backend's ops table (see spool_int.h).
 *
 * Why a lock per handle: the daemon gives the spool its own writer thread, but inspection code
 * (metrics, the admin endpoint) may call ct_spool_stats from another thread. An error-checking
 * mutex also turns a re-entrant call from a ct_spool_dlq_list visitor, which would otherwise
 * deadlock, into CT_EINVAL.
 */
#include "spool/spool.h"

#include "common/error.h"
#include "common/log.h"
#include "spool/spool_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_RETENTION_MS ((int64_t)30 * 24 * 3600 * 1000)
#define DEFAULT_BUSY_TIMEOUT_MS 5000
#define DEFAULT_EVENT_RETENTION_MS ((int64_t)7 * 24 * 3600 * 1000)

struct ct_spool {
  const ct__spool_ops_t *ops;
  ct__spool_backend_t *be;
  bool owner;
  bool readonly;
  pthread_mutex_t mu;
  ct_spool_health_t health; /* for backends without a health op */
};

const char *ct_job_state_name(ct_job_state_t state) {
  switch (state) {
  case CT_STATE_READY:
    return "ready";
  case CT_STATE_INFLIGHT:
    return "inflight";
  case CT_STATE_DELIVERED:
    return "delivered";
  case CT_STATE_DEAD:
    return "dead";
  }
  return "unknown";
}

/* Picks the backend for a spool location: "nats://" (or "tls://") is a JetStream cluster; any
 * other "scheme://" is refused rather than taken for a file name. */
static int choose_backend(const char *path, const ct__spool_ops_t **out) {
  const char *sep = strstr(path, "://");
  if (sep != NULL) {
    bool scheme = sep > path;
    for (const char *p = path; p < sep; p++) {
      if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '+'))
        scheme = false;
    }
    if (scheme && (strncmp(path, "nats://", 7) == 0 || strncmp(path, "tls://", 6) == 0)) {
      *out = &ct__spool_jetstream_ops;
      return 0;
    }
    if (scheme)
      return CT_EINVAL;
  }
  *out = &ct__spool_sqlite_ops;
  return 0;
}

int ct_spool_open(ct_spool_t **out, const ct_spool_options_t *opts) {
  if (out == NULL || opts == NULL || opts->path == NULL || opts->path[0] == '\0')
    return CT_EINVAL;
  if (opts->owner && opts->readonly)
    return CT_EINVAL;
  if (opts->receipt_retention_ms < 0 || opts->busy_timeout_ms < 0 ||
      opts->event_retention_ms < 0)
    return CT_EINVAL;

  ct_spool_options_t o = *opts;
  if (o.receipt_retention_ms == 0)
    o.receipt_retention_ms = DEFAULT_RETENTION_MS;
  if (o.busy_timeout_ms == 0)
    o.busy_timeout_ms = DEFAULT_BUSY_TIMEOUT_MS;
  if (o.event_retention_ms == 0)
    o.event_retention_ms = DEFAULT_EVENT_RETENTION_MS;

  const ct__spool_ops_t *ops;
  int rc = choose_backend(o.path, &ops);
  if (rc != 0)
    return rc;

  ct_spool_t *sp = calloc(1, sizeof *sp);
  if (sp == NULL)
    return CT_ENOMEM;
  pthread_mutexattr_t attr;
  if (pthread_mutexattr_init(&attr) != 0) {
    rc = CT_ENOMEM;
    goto fail_sp;
  }
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  int err = pthread_mutex_init(&sp->mu, &attr);
  pthread_mutexattr_destroy(&attr);
  if (err != 0) {
    rc = CT_ENOMEM;
    goto fail_sp;
  }
  rc = ops->open(&sp->be, &o);
  if (rc != 0)
    goto fail_mutex;
  sp->ops = ops;
  sp->owner = o.owner;
  sp->readonly = o.readonly;
  ct_debug("spool: %s backend open (%s)", ops->name,
           o.owner ? "owner" : o.readonly ? "readonly" : "shared");
  *out = sp;
  return 0;

fail_mutex:
  pthread_mutex_destroy(&sp->mu);
fail_sp:
  free(sp);
  return rc;
}

void ct_spool_close(ct_spool_t *sp) {
  if (sp == NULL)
    return;
  sp->ops->close(sp->be);
  pthread_mutex_destroy(&sp->mu);
  free(sp);
}

/* Every entry point below runs its backend call between lock() and unlock(). */
static int lock(ct_spool_t *sp) { return pthread_mutex_lock(&sp->mu) == 0 ? 0 : CT_EINVAL; }

static void unlock(ct_spool_t *sp) { pthread_mutex_unlock(&sp->mu); }

int ct_spool_enqueue(ct_spool_t *sp, ct_job_t *const *jobs, size_t n, int64_t now_ms,
                     int *results) {
  if (sp == NULL || (n > 0 && (jobs == NULL || results == NULL)))
    return CT_EINVAL;
  if (sp->readonly)
    return CT_EPERM;
  for (size_t i = 0; i < n; i++) {
    if (jobs[i] == NULL || jobs[i]->id == NULL || jobs[i]->id[0] == '\0' ||
        jobs[i]->tenant == NULL)
      return CT_EINVAL;
  }
  if (n == 0)
    return 0;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->enqueue(sp->be, jobs, n, now_ms, results);
  unlock(sp);
  return rc;
}

int ct_spool_take(ct_spool_t *sp, int64_t now_ms, size_t max, ct_lease_t *out, size_t *n) {
  if (sp == NULL || n == NULL || (max > 0 && out == NULL))
    return CT_EINVAL;
  if (!sp->owner)
    return CT_EPERM;
  if (max == 0) {
    *n = 0;
    return 0;
  }
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->take(sp->be, now_ms, max, out, n);
  unlock(sp);
  return rc;
}

void ct_lease_free(ct_lease_t *lease) {
  if (lease == NULL)
    return;
  ct_job_free(lease->job);
  ct__spool_receipt_free(lease->progress);
  lease->job = NULL;
  lease->progress = NULL;
}

int ct_spool_settle(ct_spool_t *sp, ct_settle_t *ops, size_t n, int64_t now_ms) {
  if (sp == NULL || (n > 0 && ops == NULL))
    return CT_EINVAL;
  if (!sp->owner)
    return CT_EPERM;
  for (size_t i = 0; i < n; i++) {
    if (ops[i].kind < CT_SETTLE_ACK || ops[i].kind > CT_SETTLE_RELEASE)
      return CT_EINVAL;
  }
  if (n == 0)
    return 0;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->settle(sp->be, ops, n, now_ms);
  if (rc == CT_ENOSPC || rc == CT_EIO) {
    sp->health.commit_failures++;
    sp->health.failing = true;
  } else if (rc == 0) {
    sp->health.failing = false;
  }
  unlock(sp);
  return rc;
}

int ct_spool_health(ct_spool_t *sp, ct_spool_health_t *out) {
  if (sp == NULL || out == NULL)
    return CT_EINVAL;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  if (sp->ops->health != NULL)
    sp->ops->health(sp->be, out);
  else
    *out = sp->health;
  unlock(sp);
  return 0;
}

static const ct_dlq_filter_t match_all;

int ct_spool_dlq_list(ct_spool_t *sp, const ct_dlq_filter_t *f,
                      int (*visit)(const ct_dlq_entry_t *e, void *arg), void *arg) {
  if (sp == NULL || visit == NULL)
    return CT_EINVAL;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->dlq_list(sp->be, f != NULL ? f : &match_all, visit, arg);
  unlock(sp);
  return rc;
}

int ct_spool_replay(ct_spool_t *sp, const ct_dlq_filter_t *f, int64_t now_ms, size_t *count) {
  if (sp == NULL || count == NULL)
    return CT_EINVAL;
  if (sp->readonly)
    return CT_EPERM;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->replay(sp->be, f != NULL ? f : &match_all, now_ms, count);
  unlock(sp);
  return rc;
}

int ct_spool_purge(ct_spool_t *sp, const ct_dlq_filter_t *f, size_t *count) {
  if (sp == NULL || count == NULL)
    return CT_EINVAL;
  if (sp->readonly)
    return CT_EPERM;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->purge(sp->be, f != NULL ? f : &match_all, count);
  unlock(sp);
  return rc;
}

int ct_spool_dlq_read(ct_spool_t *sp, const ct_dlq_filter_t *f, bool with_attempts,
                      int (*visit)(const ct_dlq_record_t *r, void *arg), void *arg) {
  if (sp == NULL || visit == NULL)
    return CT_EINVAL;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->dlq_read(sp->be, f != NULL ? f : &match_all, with_attempts, visit, arg);
  unlock(sp);
  return rc;
}

int ct_spool_replay_ids(ct_spool_t *sp, const char *const *ids, size_t n, int64_t now_ms,
                        size_t *count) {
  if (sp == NULL || count == NULL || (n > 0 && ids == NULL))
    return CT_EINVAL;
  if (sp->readonly)
    return CT_EPERM;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] == NULL)
      return CT_EINVAL;
  }
  if (n == 0) {
    *count = 0;
    return 0;
  }
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->replay_ids(sp->be, ids, n, now_ms, count);
  unlock(sp);
  return rc;
}

int ct_spool_dlq_import(ct_spool_t *sp, const ct_dead_letter_t *const *dls, size_t n,
                        int64_t now_ms, int *results) {
  if (sp == NULL || (n > 0 && (dls == NULL || results == NULL)))
    return CT_EINVAL;
  if (sp->readonly)
    return CT_EPERM;
  for (size_t i = 0; i < n; i++) {
    const ct_job_t *job = dls[i] != NULL ? dls[i]->job : NULL;
    if (job == NULL || job->id == NULL || job->id[0] == '\0' || job->tenant == NULL)
      return CT_EINVAL;
  }
  if (n == 0)
    return 0;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->dlq_import(sp->be, dls, n, now_ms, results);
  unlock(sp);
  return rc;
}

int ct_spool_job_get(ct_spool_t *sp, const char *id, ct_job_info_t *out) {
  if (sp == NULL || id == NULL || out == NULL)
    return CT_EINVAL;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->job_get(sp->be, id, out);
  unlock(sp);
  return rc;
}

void ct_job_info_free(ct_job_info_t *info) {
  if (info == NULL)
    return;
  ct_job_free(info->job);
  for (size_t i = 0; i < info->n_attempts; i++)
    ct__spool_attempt_free(info->attempts[i]);
  free(info->attempts);
  ct__spool_receipt_free(info->receipt);
  free(info->reason);
  memset(info, 0, sizeof *info);
}

int ct_spool_stats(ct_spool_t *sp, int64_t now_ms, ct_spool_stats_t *out) {
  if (sp == NULL || out == NULL)
    return CT_EINVAL;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->stats(sp->be, now_ms, out);
  unlock(sp);
  return rc;
}

int ct_spool_expire(ct_spool_t *sp, int64_t now_ms, size_t *count) {
  if (sp == NULL || count == NULL)
    return CT_EINVAL;
  if (sp->readonly)
    return CT_EPERM;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->expire(sp->be, now_ms, count);
  unlock(sp);
  return rc;
}

int ct_spool_keepalive(ct_spool_t *sp, int64_t now_ms) {
  if (sp == NULL)
    return CT_EINVAL;
  if (!sp->owner)
    return CT_EPERM;
  if (sp->ops->keepalive == NULL)
    return 0;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->keepalive(sp->be, now_ms);
  unlock(sp);
  return rc;
}

/* Webhook events */

int ct_spool_events_put(ct_spool_t *sp, const ct_event_t *const *events, size_t n,
                        int64_t now_ms, int *results) {
  if (sp == NULL || (n > 0 && (events == NULL || results == NULL)))
    return CT_EINVAL;
  if (sp->readonly)
    return CT_EPERM;
  for (size_t i = 0; i < n; i++) {
    if (events[i] == NULL || events[i]->event_id[0] == '\0' || events[i]->account[0] == '\0')
      return CT_EINVAL;
  }
  if (n == 0)
    return 0;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->events_put(sp->be, events, n, now_ms, results);
  unlock(sp);
  return rc;
}

void ct_event_lease_free(ct_event_lease_t *lease) {
  if (lease != NULL)
    ct_event_clear(&lease->event);
}

int ct_spool_events_take(ct_spool_t *sp, int64_t now_ms, size_t max, ct_event_lease_t *out,
                         size_t *n) {
  if (sp == NULL || n == NULL || (max > 0 && out == NULL))
    return CT_EINVAL;
  if (!sp->owner)
    return CT_EPERM;
  if (max == 0) {
    *n = 0;
    return 0;
  }
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->events_take(sp->be, now_ms, max, out, n);
  unlock(sp);
  return rc;
}

/* events_ack and events_retry: the same checks. */
static int events_settle(ct_spool_t *sp, const int64_t *seqs, size_t n, int64_t ms, int *results,
                         bool ack) {
  if (sp == NULL || (n > 0 && (seqs == NULL || results == NULL)))
    return CT_EINVAL;
  if (!sp->owner)
    return CT_EPERM;
  if (n == 0)
    return 0;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = ack ? sp->ops->events_ack(sp->be, seqs, n, ms, results)
           : sp->ops->events_retry(sp->be, seqs, n, ms, results);
  unlock(sp);
  return rc;
}

int ct_spool_events_ack(ct_spool_t *sp, const int64_t *seqs, size_t n, int64_t now_ms,
                        int *results) {
  return events_settle(sp, seqs, n, now_ms, results, true);
}

int ct_spool_events_retry(ct_spool_t *sp, const int64_t *seqs, size_t n, int64_t due_ms,
                          int *results) {
  return events_settle(sp, seqs, n, due_ms, results, false);
}

int ct_spool_events_stats(ct_spool_t *sp, ct_event_stats_t *out) {
  if (sp == NULL || out == NULL)
    return CT_EINVAL;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->events_stats(sp->be, out);
  unlock(sp);
  return rc;
}

int ct_spool_events_expire(ct_spool_t *sp, int64_t now_ms, size_t *count) {
  if (sp == NULL || count == NULL)
    return CT_EINVAL;
  if (sp->readonly)
    return CT_EPERM;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->events_expire(sp->be, now_ms, count);
  unlock(sp);
  return rc;
}

static const ct_inbound_filter_t inbound_all;

int ct_spool_inbound_list(ct_spool_t *sp, const ct_inbound_filter_t *f,
                          int (*visit)(const ct_event_t *e, void *arg), void *arg) {
  if (sp == NULL || visit == NULL)
    return CT_EINVAL;
  int rc = lock(sp);
  if (rc != 0)
    return rc;
  rc = sp->ops->inbound_list(sp->be, f != NULL ? f : &inbound_all, visit, arg);
  unlock(sp);
  return rc;
}

/* Record codecs for attempts and receipts. */

static int buf_reserve(ct__spool_buf_t *b, size_t len) {
  if (len <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < len)
    cap *= 2;
  uint8_t *data = realloc(b->data, cap);
  if (data == NULL)
    return CT_ENOMEM;
  b->data = data;
  b->cap = cap;
  return 0;
}

void ct__spool_buf_free(ct__spool_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->cap = 0;
}

int ct__spool_pack_attempt(ct__spool_buf_t *b, const ct_attempt_t *attempt, size_t *len) {
  size_t need = carteiro__v1__attempt__get_packed_size(attempt);
  int rc = buf_reserve(b, need ? need : 1);
  if (rc != 0)
    return rc;
  *len = carteiro__v1__attempt__pack(attempt, b->data);
  return 0;
}

int ct__spool_pack_receipt(ct__spool_buf_t *b, const ct_receipt_t *receipt, size_t *len) {
  size_t need = carteiro__v1__receipt__get_packed_size(receipt);
  int rc = buf_reserve(b, need ? need : 1);
  if (rc != 0)
    return rc;
  *len = carteiro__v1__receipt__pack(receipt, b->data);
  return 0;
}

/* protobuf-c's unpack cannot tell a malformed record from an allocation failure; a stored
 * record that fails to unpack is reported as corrupt, the likelier cause. */
int ct__spool_unpack_attempt(const void *data, size_t len, ct_attempt_t **out) {
  ct_attempt_t *a = carteiro__v1__attempt__unpack(NULL, len, data);
  if (a == NULL)
    return CT_ECORRUPT;
  *out = a;
  return 0;
}

int ct__spool_unpack_receipt(const void *data, size_t len, ct_receipt_t **out) {
  ct_receipt_t *r = carteiro__v1__receipt__unpack(NULL, len, data);
  if (r == NULL)
    return CT_ECORRUPT;
  *out = r;
  return 0;
}

void ct__spool_attempt_free(ct_attempt_t *attempt) {
  if (attempt != NULL)
    carteiro__v1__attempt__free_unpacked(attempt, NULL);
}

void ct__spool_receipt_free(ct_receipt_t *receipt) {
  if (receipt != NULL)
    carteiro__v1__receipt__free_unpacked(receipt, NULL);
}
