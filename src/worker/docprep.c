#include "worker/docprep.h"

#include "common/clock.h"
#include "common/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the shared memory budget ------------------------------------------------------------
 * A byte count under a mutex, and the workers waiting for it. Reserving and registering as a
 * waiter happen under one lock, so a release cannot slip between a failed reservation and
 * the registration and leave a worker waiting for nothing. */

struct ct_docbudget {
  pthread_mutex_t mu;
  ct_docbudget_stats_t st;
  ct_list_t waiters; /* ct_docprep_t by their budget_wait node */
};

int ct_docbudget_new(uint64_t total, ct_docbudget_t **out) {
  ct_docbudget_t *b = calloc(1, sizeof *b);
  if (b == NULL)
    return CT_ENOMEM;
  if (pthread_mutex_init(&b->mu, NULL) != 0) {
    free(b);
    return CT_ENOMEM;
  }
  b->st.total = total;
  ct_list_init(&b->waiters);
  *out = b;
  return 0;
}

void ct_docbudget_free(ct_docbudget_t *b) {
  if (b == NULL)
    return;
  pthread_mutex_destroy(&b->mu);
  free(b);
}

void ct_docbudget_stats(ct_docbudget_t *b, ct_docbudget_stats_t *out) {
  if (b == NULL) {
    *out = (ct_docbudget_stats_t){0};
    return;
  }
  pthread_mutex_lock(&b->mu);
  *out = b->st;
  pthread_mutex_unlock(&b->mu);
}

/* Takes d->reserve bytes, or puts `d` on the wait list and returns false. */
static bool reserve(ct_docprep_t *d) {
  ct_docbudget_t *b = d->budget;
  if (b == NULL)
    return true;
  pthread_mutex_lock(&b->mu);
  bool ok = b->st.reserved + d->reserve <= b->st.total;
  if (ok) {
    b->st.reserved += d->reserve;
    if (b->st.reserved > b->st.peak)
      b->st.peak = b->st.reserved;
  } else {
    b->st.waits++;
    if (ct_list_empty(&d->budget_wait))
      ct_list_insert_tail(&b->waiters, &d->budget_wait);
  }
  pthread_mutex_unlock(&b->mu);
  return ok;
}

/* Gives d->reserve bytes back and wakes every worker that waits (each tries again on its own
 * loop; the few that lose wait again). */
static void release(ct_docprep_t *d) {
  ct_docbudget_t *b = d->budget;
  if (b == NULL)
    return;
  pthread_mutex_lock(&b->mu);
  b->st.reserved -= d->reserve;
  while (!ct_list_empty(&b->waiters)) {
    ct_docprep_t *w = ct_container_of(ct_list_first(&b->waiters), ct_docprep_t, budget_wait);
    ct_list_remove(&w->budget_wait);
    uv_async_send(&w->wake);
  }
  pthread_mutex_unlock(&b->mu);
}

/* ---- preparations ----------------------------------------------------------------------- */

ct_doc_limits_t ct_docprep_limits(const ct_config_t *cfg) {
  return (ct_doc_limits_t){.stream_max = (uint64_t)cfg->document_stream_max_mb << 20,
                           .decoded_max = (uint64_t)cfg->document_decoded_max_mb << 20,
                           .ratio_max = cfg->document_max_ratio,
                           .memory_max = (uint64_t)cfg->document_memory_mb << 20};
}

static void pump(ct_docprep_t *d);

static void on_wake(uv_async_t *h) { pump(h->data); }

int ct_docprep_init(ct_docprep_t *d, uv_loop_t *loop, const ct_config_t *cfg,
                    ct_docbudget_t *budget, ct_keycache_t *keys) {
  memset(d, 0, sizeof *d);
  if (uv_async_init(loop, &d->wake, on_wake) != 0)
    return CT_EIO;
  d->wake.data = d;
  d->loop = loop;
  d->capacity = cfg->document_jobs > 0 ? cfg->document_jobs : 1;
  snprintf(d->root, sizeof d->root, "%s", cfg->document_root);
  snprintf(d->ca_file, sizeof d->ca_file, "%s", cfg->ca_file);
  d->fetch_timeout_ms = cfg->document_fetch_timeout_ms;
  d->limits = ct_docprep_limits(cfg);
  d->keys = keys;
  d->budget = budget;
  /* A budget smaller than one document's allowance would never let one run: then a
   * preparation takes the whole budget (configuration checks refuse this anyway). */
  d->reserve = d->limits.memory_max;
  if (budget != NULL && d->reserve > budget->st.total)
    d->reserve = budget->st.total;
  ct_list_init(&d->waiting);
  ct_list_init(&d->budget_wait);
  ct_docprep_set_tenants(d, cfg);
  return 0;
}

void ct_docprep_close(ct_docprep_t *d) {
  d->closed = true;
  if (d->budget != NULL) {
    pthread_mutex_lock(&d->budget->mu);
    if (!ct_list_empty(&d->budget_wait))
      ct_list_remove(&d->budget_wait);
    pthread_mutex_unlock(&d->budget->mu);
  }
  uv_close((uv_handle_t *)&d->wake, NULL);
}

void ct_docprep_set_tenants(ct_docprep_t *d, const ct_config_t *cfg) {
  d->n_tenants = cfg->n_tenants;
  memcpy(d->tenants, cfg->tenants, cfg->n_tenants * sizeof cfg->tenants[0]);
}

/* An https URL source, fetched on the pool thread under the rules of the job's tenant
 * (document.h, "Document URLs"). */
static int fetch(const ct_docprep_t *d, const ct_job_t *job, ct_bytes_t *out,
                 ct_doc_error_t *err) {
  ct_doc_url_policy_t policy = {.ca_file = d->ca_file, .timeout_ms = d->fetch_timeout_ms};
  for (size_t i = 0; i < d->n_tenants; i++) {
    const ct_tenant_conf_t *tc = &d->tenants[i];
    if (job->tenant != NULL && strcmp(tc->name, job->tenant) == 0) {
      policy.hosts = tc->document_url_hosts;
      policy.networks = tc->document_url_networks;
      policy.n_networks = tc->n_document_url_networks;
      break;
    }
  }
  return ct_document_fetch_url(&policy, job->invoice->document->url, out, err);
}

/* Runs on a pool thread: everything blocking about a document. */
static void work(uv_work_t *req) {
  ct_task_t *t = req->data;
  const ct_docprep_t *d = t->docprep;
  const ct_job_t *job = t->lease.job;
  const ct_document_t *doc = job->invoice->document;
  ct_bytes_t fetched = {0};
  t->doc_error = (ct_doc_error_t){0};
  if (doc->source_case == CARTEIRO__V1__DOCUMENT__SOURCE_URL &&
      fetch(d, job, &fetched, &t->doc_error) != 0)
    return;
  bool url = doc->source_case == CARTEIRO__V1__DOCUMENT__SOURCE_URL;
  ct_doc_prepare_t how = {.root = d->root,
                          .fetched = url ? &fetched : NULL,
                          .limits = d->limits,
                          .keys = d->keys,
                          .now_ms = ct_now_ms()};
  int rc = ct_document_prepare(job, &how, &t->doc, &t->doc_error);
  ct_bytes_free(&fetched);
  if (rc == 0)
    ct_document_sha256(t->doc.data, t->doc.len, t->doc_sha256);
}

static void launch(ct_docprep_t *d, ct_task_t *t);

/* Back on the loop: give the memory back, report, and start what waits. */
static void after(uv_work_t *req, int status) {
  ct_task_t *t = req->data;
  ct_docprep_t *d = t->docprep;
  d->running--;
  release(d);
  t->docprep = NULL;
  if (status == UV_ECANCELED) {
    t->doc_error = (ct_doc_error_t){.reason = "document_fetch_failed", .transient = true};
    snprintf(t->doc_error.detail, sizeof t->doc_error.detail, "preparation cancelled");
  }
  t->doc_ready = t->doc_error.reason == NULL;
  pump(d);
  d->done(d->arg, t);
}

/* Starts waiting tasks while this worker has room and the budget has memory. */
static void pump(ct_docprep_t *d) {
  /* Closed at shutdown, after the waiting tasks went back to the spool (ct_docprep_drain):
   * nothing may register for a wake-up on a closed handle. */
  if (d->closed)
    return;
  while (!ct_list_empty(&d->waiting) && d->running < d->capacity && reserve(d)) {
    ct_task_t *next = ct_container_of(ct_list_first(&d->waiting), ct_task_t, wait);
    ct_list_remove(&next->wait);
    launch(d, next);
  }
}

static void launch(ct_docprep_t *d, ct_task_t *t) {
  d->running++;
  t->docprep = d;
  t->doc_work.data = t;
  if (uv_queue_work(d->loop, &t->doc_work, work, after) != 0) {
    d->running--;
    release(d);
    t->docprep = NULL;
    t->doc_error = (ct_doc_error_t){.reason = "document_fetch_failed", .transient = true};
    snprintf(t->doc_error.detail, sizeof t->doc_error.detail, "could not queue the work");
    d->done(d->arg, t);
  }
}

void ct_docprep_start(ct_docprep_t *d, ct_task_t *t) {
  ct_list_insert_tail(&d->waiting, &t->wait);
  pump(d);
}

void ct_docprep_drain(ct_docprep_t *d, ct_list_t *out) { ct_list_splice_tail(out, &d->waiting); }
