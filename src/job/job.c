#include "job/job.h"

#include "common/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ct_channel_name(int channel) {
  switch (channel) {
  case CT_CHANNEL_WHATSAPP:
    return "whatsapp";
  case CT_CHANNEL_SMS:
    return "sms";
  case CT_CHANNEL_EMAIL:
    return "email";
  default:
    return NULL;
  }
}

int ct_channel_parse(const char *name, ct_channel_t *out) {
  static const ct_channel_t all[] = {CT_CHANNEL_WHATSAPP, CT_CHANNEL_SMS, CT_CHANNEL_EMAIL};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(name, ct_channel_name(all[i])) == 0) {
      *out = all[i];
      return 0;
    }
  }
  return CT_EINVAL;
}

const char *ct_outcome_name(int outcome) {
  switch (outcome) {
  case CARTEIRO__V1__OUTCOME__OUTCOME_ACCEPTED:
    return "accepted";
  case CARTEIRO__V1__OUTCOME__OUTCOME_TRANSIENT:
    return "transient";
  case CARTEIRO__V1__OUTCOME__OUTCOME_PERMANENT:
    return "permanent";
  case CARTEIRO__V1__OUTCOME__OUTCOME_SKIPPED:
    return "skipped";
  default:
    return NULL;
  }
}

const char *ct_kind_name(int kind) {
  switch (kind) {
  case CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE:
    return "invoice";
  case CARTEIRO__V1__JOB_KIND__JOB_KIND_NOTIFICATION:
    return "notification";
  default:
    return NULL;
  }
}

const char *ct_password_policy_name(int policy) {
  switch (policy) {
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_UNSPECIFIED:
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_NONE:
    return "none";
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4:
    return "cpf_first4";
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4:
    return "card_last4";
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT:
    return "explicit";
  default:
    return NULL;
  }
}

void ct_job_free(ct_job_t *job) {
  if (job != NULL)
    carteiro__v1__job__free_unpacked(job, NULL);
}

/* True when `m` or a message inside it kept an unknown field numbered 0. protobuf-c accepts
 * such a field when its tag is spelt with more bytes than needed (0x80 0x00), keeps it, and
 * then writes a tag that it refuses to read back: a record that decodes once and never again
 * (found by fuzz_job_pb). Field number 0 is invalid in protobuf, so the input is refused. */
static bool has_field_zero(const ProtobufCMessage *m) {
  if (m == NULL)
    return false;
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == 0)
      return true;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
      continue;
    const char *member = (const char *)m + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
      ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)member;
      for (size_t k = 0; k < n; k++)
        if (has_field_zero(arr[k]))
          return true;
    } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0 ||
               *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id) {
      if (has_field_zero(*(const ProtobufCMessage *const *)member))
        return true;
    }
  }
  return false;
}

int ct_job_decode_pb(const uint8_t *buf, size_t len, ct_job_t **out, char *err, size_t errcap) {
  if (len > CT_RECORD_MAX) {
    snprintf(err, errcap, "record of %zu bytes is over the %zu-byte limit", len, CT_RECORD_MAX);
    return CT_ETOOBIG;
  }
  ct_job_t *job = carteiro__v1__job__unpack(NULL, len, buf);
  if (job == NULL || has_field_zero(&job->base)) {
    /* protobuf-c does not say why; the common causes are a truncated message, a wrong wire
     * type, or bytes that are not a protobuf message at all. */
    ct_job_free(job);
    snprintf(err, errcap, "not a valid carteiro.v1.Job protobuf message");
    return CT_EDECODE;
  }
  *out = job;
  return 0;
}

int ct_job_encode_pb(const ct_job_t *job, uint8_t **out, size_t *outlen) {
  size_t len = carteiro__v1__job__get_packed_size(job);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL)
    return CT_ENOMEM;
  carteiro__v1__job__pack(job, buf);
  *out = buf;
  *outlen = len;
  return 0;
}

/* Replaces *field with a heap copy of `value` (protobuf-c frees strings it did not set up as
 * the shared empty default). */
static int set_string(char **field, const char *value) {
  char *copy = strdup(value);
  if (copy == NULL)
    return CT_ENOMEM;
  if (*field != NULL && *field != protobuf_c_empty_string)
    free(*field);
  *field = copy;
  return 0;
}

static bool is_empty(const char *s) { return s == NULL || s[0] == '\0'; }

/* Drops every character of `s` that is in `drop`, in place. */
static void strip_chars(char *s, const char *drop) {
  if (s == NULL || s == protobuf_c_empty_string)
    return;
  char *w = s;
  for (char *r = s; *r; r++)
    if (strchr(drop, *r) == NULL)
      *w++ = *r;
  *w = '\0';
}

int ct_job_normalize(ct_job_t *job, int64_t now_ms) {
  int rc;
  if (job->created_at_ms == 0)
    job->created_at_ms = now_ms;
  if (job->recipient != NULL) {
    ct_recipient_t *r = job->recipient;
    if (is_empty(r->locale)) {
      rc = set_string(&r->locale, "pt-BR");
      if (rc != 0)
        return rc;
    }
    if (is_empty(r->time_zone)) {
      rc = set_string(&r->time_zone, "America/Sao_Paulo");
      if (rc != 0)
        return rc;
    }
    strip_chars(r->cpf, ".- ");
  }
  if (job->invoice != NULL) {
    ct_invoice_t *inv = job->invoice;
    if (is_empty(inv->currency)) {
      rc = set_string(&inv->currency, "BRL");
      if (rc != 0)
        return rc;
    }
    strip_chars(inv->barcode_line, ". -");
  }
  return 0;
}
