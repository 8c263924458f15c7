#include "worker/progress.h"

#include "common/error.h"
#include "provider/provider.h"

#include <stdlib.h>
#include <string.h>

bool ct_progress_has_part(const ct_receipt_t *r, ct_channel_t channel, unsigned part) {
  return ct_progress_part_time(r, channel, part) != 0;
}

int64_t ct_progress_part_time(const ct_receipt_t *r, ct_channel_t channel, unsigned part) {
  if (r == NULL)
    return 0;
  for (size_t i = 0; i < r->n_parts; i++)
    if ((ct_channel_t)r->parts[i]->channel == channel && r->parts[i]->part == part)
      return r->parts[i]->at_ms > 0 ? r->parts[i]->at_ms : 1;
  return 0;
}

const char *ct_progress_part_id(const ct_receipt_t *r, ct_channel_t channel, unsigned part) {
  if (r == NULL)
    return NULL;
  for (size_t i = 0; i < r->n_parts; i++)
    if ((ct_channel_t)r->parts[i]->channel == channel && r->parts[i]->part == part)
      return r->parts[i]->message_id;
  return NULL;
}

bool ct_progress_failed(const ct_receipt_t *r, ct_channel_t channel) {
  if (r == NULL)
    return false;
  for (size_t i = 0; i < r->n_failed_channels; i++)
    if ((ct_channel_t)r->failed_channels[i] == channel)
      return true;
  return false;
}

/* Makes an empty receipt for `job_id` whose strings are heap copies, as protobuf-c's
 * free_unpacked expects. */
static int ensure(ct_receipt_t **r, const char *job_id) {
  if (*r != NULL)
    return 0;
  ct_receipt_t *n = malloc(sizeof *n);
  if (n == NULL)
    return CT_ENOMEM;
  carteiro__v1__receipt__init(n);
  n->job_id = strdup(job_id);
  if (n->job_id == NULL) {
    free(n);
    return CT_ENOMEM;
  }
  *r = n;
  return 0;
}

int ct_progress_add_part(ct_receipt_t **r, const char *job_id, ct_channel_t channel,
                         unsigned part, const char *provider, const char *message_id,
                         const char *document_sha256, int64_t at_ms) {
  int rc = ensure(r, job_id);
  if (rc != 0)
    return rc;
  ct_receipt_part_t *p = malloc(sizeof *p);
  ct_receipt_part_t **parts = realloc((*r)->parts, ((*r)->n_parts + 1) * sizeof *parts);
  if (parts != NULL)
    (*r)->parts = parts;
  if (p == NULL || parts == NULL) {
    free(p);
    return CT_ENOMEM;
  }
  carteiro__v1__receipt_part__init(p);
  p->provider = strdup(provider);
  p->message_id = strdup(message_id);
  if (document_sha256 != NULL)
    p->document_sha256 = strdup(document_sha256);
  if (p->provider == NULL || p->message_id == NULL || p->document_sha256 == NULL) {
    free(p->provider);
    free(p->message_id);
    if (p->document_sha256 != protobuf_c_empty_string)
      free(p->document_sha256);
    free(p);
    return CT_ENOMEM;
  }
  p->channel = (Carteiro__V1__Channel)channel;
  p->part = part;
  p->at_ms = at_ms;
  (*r)->parts[(*r)->n_parts++] = p;
  return 0;
}

int ct_progress_add_failed(ct_receipt_t **r, const char *job_id, ct_channel_t channel) {
  if (ct_progress_failed(*r, channel))
    return 0;
  int rc = ensure(r, job_id);
  if (rc != 0)
    return rc;
  Carteiro__V1__Channel *v = realloc((*r)->failed_channels,
                                     ((*r)->n_failed_channels + 1) * sizeof *v);
  if (v == NULL)
    return CT_ENOMEM;
  (*r)->failed_channels = v;
  v[(*r)->n_failed_channels++] = (Carteiro__V1__Channel)channel;
  return 0;
}

bool ct_progress_delivery_done(const ct_job_t *job, const ct_receipt_t *r, size_t d) {
  const ct_delivery_t *dl = job->deliveries[d];
  for (size_t c = 0; c < dl->n_channels; c++) {
    const ct_provider_t *p = ct_provider_for((ct_channel_t)dl->channels[c]);
    if (p == NULL)
      continue;
    unsigned parts = p->parts(job), done = 0;
    while (done < parts && ct_progress_has_part(r, p->channel, done))
      done++;
    if (done == parts)
      return true;
  }
  return false;
}

bool ct_progress_job_done(const ct_job_t *job, const ct_receipt_t *r) {
  if (r == NULL || job->n_deliveries == 0)
    return false;
  for (size_t d = 0; d < job->n_deliveries; d++)
    if (!ct_progress_delivery_done(job, r, d))
      return false;
  return true;
}

void ct_progress_free(ct_receipt_t *r) {
  if (r != NULL)
    carteiro__v1__receipt__free_unpacked(r, NULL);
}
