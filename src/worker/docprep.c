#include "worker/docprep.h"

#include "common/error.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ct_docprep_init(ct_docprep_t *d, uv_loop_t *loop, size_t capacity) {
  memset(d, 0, sizeof *d);
  d->loop = loop;
  d->capacity = capacity > 0 ? capacity : 1;
  ct_list_init(&d->waiting);
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
  int rc = ct_document_prepare(job, d->root, url ? &fetched : NULL, &t->doc, &t->doc_error);
  ct_bytes_free(&fetched);
  if (rc == 0)
    ct_document_sha256(t->doc.data, t->doc.len, t->doc_sha256);
}

static void launch(ct_docprep_t *d, ct_task_t *t);

/* Back on the loop: report, and start the next waiting preparation. */
static void after(uv_work_t *req, int status) {
  ct_task_t *t = req->data;
  ct_docprep_t *d = t->docprep;
  d->running--;
  t->docprep = NULL;
  if (status == UV_ECANCELED) {
    t->doc_error = (ct_doc_error_t){.reason = "document_fetch_failed", .transient = true};
    snprintf(t->doc_error.detail, sizeof t->doc_error.detail, "preparation cancelled");
  }
  t->doc_ready = t->doc_error.reason == NULL;
  if (!ct_list_empty(&d->waiting) && d->running < d->capacity) {
    ct_task_t *next = ct_container_of(ct_list_first(&d->waiting), ct_task_t, wait);
    ct_list_remove(&next->wait);
    launch(d, next);
  }
  d->done(d->arg, t);
}

static void launch(ct_docprep_t *d, ct_task_t *t) {
  d->running++;
  t->docprep = d;
  t->doc_work.data = t;
  if (uv_queue_work(d->loop, &t->doc_work, work, after) != 0) {
    d->running--;
    t->docprep = NULL;
    t->doc_error = (ct_doc_error_t){.reason = "document_fetch_failed", .transient = true};
    snprintf(t->doc_error.detail, sizeof t->doc_error.detail, "could not queue the work");
    d->done(d->arg, t);
  }
}

void ct_docprep_start(ct_docprep_t *d, ct_task_t *t) {
  if (d->running < d->capacity)
    launch(d, t);
  else
    ct_list_insert_tail(&d->waiting, &t->wait);
}

void ct_docprep_drain(ct_docprep_t *d, ct_list_t *out) { ct_list_splice_tail(out, &d->waiting); }
