/* Fuzzes the protobuf decoder and everything a decoded job goes through next: re-encoding,
 * the JSON view (plain and masked) and, for jobs the JSON mapping can represent, the JSON
 * round trip, which must give back the same protobuf bytes.
 */
#include "job/job.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool utf8_ok(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p != '\0') {
    unsigned char c = *p;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80) {
      p++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      lo = c == 0xe0 ? 0xa0 : 0x80;
      hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      lo = c == 0xf0 ? 0x90 : 0x80;
      hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
      return false;
    }
    if (p[1] < lo || p[1] > hi)
      return false;
    for (size_t i = 2; i < n; i++)
      if (p[i] < 0x80 || p[i] > 0xbf)
        return false;
    p += n;
  }
  return true;
}

/* The JSON mapping cannot carry unknown protobuf fields, strings that are not UTF-8, or two
 * map entries with one key; any other job must survive it unchanged. */
static bool message_clean(const ProtobufCMessage *m) {
  if (m == NULL)
    return true;
  if (m->n_unknown_fields > 0)
    return false;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)m + f->offset;
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
      continue;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
      if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)base;
        for (size_t k = 0; k < n; k++)
          if (!message_clean(arr[k]))
            return false;
      }
      continue;
    }
    if (f->type == PROTOBUF_C_TYPE_STRING) {
      const char *s = *(const char *const *)base;
      if (s != NULL && !utf8_ok(s))
        return false;
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
      if (!message_clean(*(const ProtobufCMessage *const *)base))
        return false;
    }
  }
  return true;
}

static bool job_clean(const ct_job_t *job) {
  if (!message_clean(&job->base))
    return false;
  const ct_notification_t *nt = job->notification;
  for (size_t i = 0; nt != NULL && i < nt->n_params; i++)
    for (size_t k = 0; k < i; k++)
      if (strcmp(nt->params[i]->key, nt->params[k]->key) == 0)
        return false;
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ct_job_t *job;
  char err[256];
  if (ct_job_decode_pb(data, size, &job, err, sizeof err) != 0)
    return 0;
  uint8_t *a;
  size_t alen;
  if (ct_job_encode_pb(job, &a, &alen) != 0)
    abort();

  /* Our own encoding decodes and re-encodes to itself. */
  ct_job_t *again;
  if (ct_job_decode_pb(a, alen, &again, err, sizeof err) != 0)
    abort();
  uint8_t *b;
  size_t blen;
  if (ct_job_encode_pb(again, &b, &blen) != 0 || blen != alen || memcmp(a, b, alen) != 0)
    abort();
  free(b);
  ct_job_free(again);

  json_t *masked = ct_job_to_json(job, CT_JSON_MASK_PII);
  json_decref(masked);
  json_t *j = ct_job_to_json(job, 0);
  if (j == NULL)
    abort(); /* only allocation failure may give NULL */
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (text != NULL && job_clean(job)) {
    if (ct_job_decode_json(text, strlen(text), &again, err, sizeof err) != 0)
      abort();
    if (ct_job_encode_pb(again, &b, &blen) != 0 || blen != alen || memcmp(a, b, alen) != 0)
      abort();
    free(b);
    ct_job_free(again);
  }
  free(text);
  free(a);
  ct_job_free(job);
  return 0;
}
