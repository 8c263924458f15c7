/* A job's delivery progress, kept in a Receipt message between attempts: which parts of which
 * channel were accepted (never sent again) and which channels failed for good (never tried
 * again). The receipt is owned by the task and freed like any unpacked protobuf message. */
#ifndef CT_WORKER_PROGRESS_H
#define CT_WORKER_PROGRESS_H

#include "job/job.h"

#include <stdbool.h>
#include <stdint.h>

/* Was part `part` of `channel` accepted? */
bool ct_progress_has_part(const ct_receipt_t *r, ct_channel_t channel, unsigned part);

/* When was it accepted (Unix ms), or 0. */
int64_t ct_progress_part_time(const ct_receipt_t *r, ct_channel_t channel, unsigned part);

/* Did `channel` fail for good? */
bool ct_progress_failed(const ct_receipt_t *r, ct_channel_t channel);

/* The provider's id for an accepted part (a WhatsApp media id, say), or NULL. */
const char *ct_progress_part_id(const ct_receipt_t *r, ct_channel_t channel, unsigned part);

/* Records an accepted part, creating the receipt (for `job_id`) when *r is NULL, with the
 * SHA-256 of the document it carried (NULL when none). Errors: CT_ENOMEM (nothing changed). */
int ct_progress_add_part(ct_receipt_t **r, const char *job_id, ct_channel_t channel,
                         unsigned part, const char *provider, const char *message_id,
                         const char *document_sha256, int64_t at_ms);

/* Records a channel that failed for good. Errors: CT_ENOMEM. */
int ct_progress_add_failed(ct_receipt_t **r, const char *job_id, ct_channel_t channel);

/* Whether delivery `d` of `job` is complete: some channel of it has every one of its parts
 * (as its provider adapter counts them) accepted. */
bool ct_progress_delivery_done(const ct_job_t *job, const ct_receipt_t *r, size_t d);

/* Whether nothing is left to send for `job`: every delivery is complete. */
bool ct_progress_job_done(const ct_job_t *job, const ct_receipt_t *r);

void ct_progress_free(ct_receipt_t *r);

#endif
