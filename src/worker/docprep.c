#include "worker/docprep.h"

#include "common/clock.h"
#include "common/error.h"

#include <curl/curl.h>
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

/* An https URL source, fetched with a blocking libcurl easy handle on the pool thread: https
 * only (redirects too), TLS verified, a total timeout, and a size cap enforced while reading so
 * a huge answer is cut off rather than buffered. */
typedef struct {
  ct_bytes_t *out;
  size_t cap;
  bool too_big;
} sink_t;

static size_t on_data(char *ptr, size_t size, size_t n, void *arg) {
  sink_t *s = arg;
  size_t len = size * n;
  if (s->out->len + len > s->cap) {
    s->too_big = true;
    return 0;
  }
  uint8_t *grown = realloc(s->out->data, s->out->len + len);
  if (grown == NULL)
    return 0;
  memcpy(grown + s->out->len, ptr, len);
  s->out->data = grown;
  s->out->len += len;
  return len;
}

static int fetch(const ct_docprep_t *d, const char *url, ct_bytes_t *out, ct_doc_error_t *err) {
  CURL *c = curl_easy_init();
  if (c == NULL) {
    *err = (ct_doc_error_t){.reason = "document_fetch_failed", .transient = true};
    snprintf(err->detail, sizeof err->detail, "could not start an HTTP client");
    return CT_EINVAL;
  }
  sink_t sink = {.out = out, .cap = CT_DOCUMENT_MAX};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)d->fetch_timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CT_DOCUMENT_MAX);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  if (d->ca_file[0] != '\0')
    curl_easy_setopt(c, CURLOPT_CAINFO, d->ca_file);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  if (rc == CURLE_OK && status >= 200 && status <= 299)
    return 0;
  ct_bytes_free(out);
  if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
    *err = (ct_doc_error_t){.reason = "document_too_large", .transient = false};
    snprintf(err->detail, sizeof err->detail, "the document URL answered more than %zu bytes",
             CT_DOCUMENT_MAX);
  } else if (rc == CURLE_OK) {
    /* 404 and 410 will not change; other statuses (5xx, 429, 403 of an expiring link) may. */
    bool gone = status == 404 || status == 410;
    *err = (ct_doc_error_t){.reason = gone ? "document_not_found" : "document_fetch_failed",
                            .transient = !gone};
    snprintf(err->detail, sizeof err->detail, "the document URL answered HTTP %ld", status);
  } else {
    *err = (ct_doc_error_t){.reason = "document_fetch_failed",
                            .transient = rc != CURLE_UNSUPPORTED_PROTOCOL};
    snprintf(err->detail, sizeof err->detail, "fetching the document URL: %s%s",
             curl_easy_strerror(rc), rc == CURLE_OPERATION_TIMEDOUT ? " (timeout)" : "");
  }
  return CT_EINVAL;
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
      fetch(d, doc->url, &fetched, &t->doc_error) != 0)
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
