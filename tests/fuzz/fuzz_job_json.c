/* Fuzzes the JSON decoder. Whatever it accepts must encode to protobuf, and survive both
 * round trips unchanged: JSON -> job -> JSON -> job and job -> protobuf -> job. The masked
 * view is exercised too.
 */
#include "job/job.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ct_job_t *job;
  char err[256];
  if (ct_job_decode_json((const char *)data, size, &job, err, sizeof err) != 0)
    return 0;
  uint8_t *a, *b;
  size_t alen, blen;
  if (ct_job_encode_pb(job, &a, &alen) != 0)
    abort();

  ct_job_t *again;
  if (ct_job_decode_pb(a, alen, &again, err, sizeof err) != 0)
    abort();
  if (ct_job_encode_pb(again, &b, &blen) != 0 || blen != alen || memcmp(a, b, alen) != 0)
    abort();
  free(b);
  ct_job_free(again);

  json_t *masked = ct_job_to_json(job, CT_JSON_MASK_PII);
  json_decref(masked);
  json_t *j = ct_job_to_json(job, 0);
  if (j == NULL)
    abort();
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (text == NULL)
    abort();
  /* Decoded JSON has UTF-8 strings, distinct keys and no unknown fields: always representable. */
  if (ct_job_decode_json(text, strlen(text), &again, err, sizeof err) != 0)
    abort();
  if (ct_job_encode_pb(again, &b, &blen) != 0 || blen != alen || memcmp(a, b, alen) != 0)
    abort();
  free(b);
  ct_job_free(again);
  free(text);
  free(a);
  ct_job_free(job);
  return 0;
}
