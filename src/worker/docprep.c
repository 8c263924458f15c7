#include "worker/docprep.h"

#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ct_docprep_init(ct_docprep_t *d, uv_loop_t *loop, size_t capacity) {
  memset(d, 0, sizeof *d);
  d->loop = loop;
  d->capacity = capacity > 0 ? capacity : 1;
  ct_list_init(&d->waiting);
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
