/* Provider adapters: the channel table, and the classification steps all adapters share.
 *
 * Every classify hook runs the same steps, in this order:
 *   1. a transport failure (no answer) is TRANSIENT, named by the transport's failure;
 *   2. a 2xx is ACCEPTED when it names the message, else TRANSIENT (a protocol error);
 *   3. otherwise the provider's error code decides when the adapter's table knows it: the
 *      same HTTP 400 means "bad recipient" (fall back) or "pair rate limit" (wait) depending
 *      on the code, and WhatsApp reports permission problems on 500 (code 3);
 *   4. failing that, the HTTP status does.
 * Messages are fixed strings per code or status. Providers' own error texts repeat the
 * recipient ("The 'To' number +5511... is not a valid phone number"), and verdict messages
 * end up in attempt histories, the DLQ and logs, where personal data must not appear.
 */
#include "provider/provider_int.h"

#include "common/error.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const ct_provider_t *ct_provider_for(ct_channel_t channel) {
  switch (channel) {
  case CT_CHANNEL_WHATSAPP:
    return &ct_provider_whatsapp;
  case CT_CHANNEL_SMS:
    return &ct_provider_sms;
  case CT_CHANNEL_EMAIL:
    return &ct_provider_email;
  case CT_CHANNEL_NONE:
    break;
  }
  return NULL;
}

const char *ct_verdict_name(ct_verdict_kind_t kind) {
  switch (kind) {
  case CT_VERDICT_ACCEPTED:
    return "accepted";
  case CT_VERDICT_TRANSIENT:
    return "transient";
  case CT_VERDICT_THROTTLED:
    return "throttled";
  case CT_VERDICT_RECIPIENT_BUSY:
    return "recipient_busy";
  case CT_VERDICT_PERMANENT:
    return "permanent";
  case CT_VERDICT_AUTH:
    return "auth";
  }
  return "unknown";
}

/* ---- verdicts --------------------------------------------------------------------------- */

static void verdict(ct_verdict_t *v, ct_verdict_kind_t kind, int64_t retry_after_ms,
                    const char *code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void verdict(ct_verdict_t *v, ct_verdict_kind_t kind, int64_t retry_after_ms,
                    const char *code, const char *fmt, ...) {
  memset(v, 0, sizeof *v);
  v->kind = kind;
  /* The transport reports -1 for "not said"; anything else negative is not a delay. */
  v->retry_after_ms = retry_after_ms >= 0 ? retry_after_ms : -1;
  snprintf(v->error_code, sizeof v->error_code, "%s", code);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->message, sizeof v->message, fmt, ap);
  va_end(ap);
}

static const char *transport_what(ct_http_failure_t f) {
  switch (f) {
  case CT_HTTP_TIMEOUT:
    return "request timed out";
  case CT_HTTP_RESET:
    return "connection reset before the answer";
  case CT_HTTP_STREAM_ERROR:
    return "HTTP/2 stream error";
  case CT_HTTP_CONNECT:
    return "could not connect to the provider";
  case CT_HTTP_TLS:
    /* Still transient: an expired certificate or a CA bundle being rotated gets fixed by
     * someone, and the job must be there when it is. The message says TLS so that the
     * on-call engineer sees it is not the provider being slow. */
    return "TLS handshake or certificate verification failed";
  case CT_HTTP_OK:
  case CT_HTTP_OTHER:
    break;
  }
  return "transport failure";
}

bool ct__classify_transport(const ct_http_response_t *r, ct_verdict_t *v) {
  if (r->failure == CT_HTTP_OK)
    return false;
  /* `detail` is the transport's own text (curl's error buffer), free of personal data by the
   * transport's contract; it says which timeout or which certificate problem. */
  const char *detail = r->detail != NULL ? r->detail : "";
  verdict(v, CT_VERDICT_TRANSIENT, -1, ct_http_failure_name(r->failure), "%s%s%.100s",
          transport_what(r->failure), detail[0] != '\0' ? ": " : "", detail);
  return true;
}

void ct__classify_accept(const ct_http_response_t *r, const char *id, size_t len,
                         ct_verdict_t *v) {
  bool usable = id != NULL && len > 0 && len < sizeof v->message_id;
  for (size_t i = 0; usable && i < len; i++)
    usable = id[i] > 0x20 && id[i] < 0x7f;
  if (!usable) {
    verdict(v, CT_VERDICT_TRANSIENT, r->retry_after_ms, "no_message_id",
            "%d without a message id", r->status);
    return;
  }
  verdict(v, CT_VERDICT_ACCEPTED, -1, "", "accepted (HTTP %d)", r->status);
  memcpy(v->message_id, id, len);
  v->message_id[len] = '\0';
}

const ct__code_t *ct__code_find(const ct__code_t *table, size_t n, int64_t code) {
  for (size_t i = 0; i < n; i++)
    if (table[i].code == code)
      return &table[i];
  return NULL;
}

/* What the HTTP status alone says. */
static ct_verdict_kind_t status_kind(int status, const char **what) {
  if (status == 429) {
    *what = "rate limited by the provider";
    return CT_VERDICT_THROTTLED;
  }
  if (status == 401 || status == 403) {
    *what = "credentials refused";
    return CT_VERDICT_AUTH;
  }
  if (status == 408) {
    *what = "the provider timed out waiting for the request";
    return CT_VERDICT_TRANSIENT;
  }
  if (status >= 500 && status <= 599) {
    *what = "provider error";
    return CT_VERDICT_TRANSIENT;
  }
  if (status >= 400 && status <= 499) {
    *what = "request rejected";
    return CT_VERDICT_PERMANENT;
  }
  /* 1xx, 3xx or garbage: nothing a provider API should answer a POST with (redirects are not
   * followed). Not the recipient's fault, so not a reason to give up on the channel. */
  *what = "unexpected HTTP status";
  return CT_VERDICT_TRANSIENT;
}

void ct__classify_error(const ct_http_response_t *r, const ct__code_t *table, size_t n,
                        int64_t code, ct_verdict_t *v) {
  char code_text[32];
  if (code < 0 || code > CT__CODE_MAX)
    code = -1;
  const ct__code_t *known = code >= 0 ? ct__code_find(table, n, code) : NULL;
  if (known != NULL) {
    snprintf(code_text, sizeof code_text, "%" PRId64, code);
    verdict(v, known->kind, r->retry_after_ms, code_text, "%s (code %" PRId64 ", HTTP %d)",
            known->what, code, r->status);
    return;
  }
  const char *what;
  ct_verdict_kind_t kind = status_kind(r->status, &what);
  if (code >= 0) {
    snprintf(code_text, sizeof code_text, "%" PRId64, code);
    verdict(v, kind, r->retry_after_ms, code_text, "%s (code %" PRId64 ", HTTP %d)", what, code,
            r->status);
  } else {
    snprintf(code_text, sizeof code_text, "http_%d", r->status);
    verdict(v, kind, r->retry_after_ms, code_text, "%s (HTTP %d)", what, r->status);
  }
}

/* API error objects are a few hundred bytes; a megabyte is not one, and is not parsed. */
#define MAX_PARSED_BODY ((size_t)1 << 20)

json_t *ct__parse_body(const ct_http_response_t *r) {
  if (r->body == NULL || r->body_len == 0 || r->body_len > MAX_PARSED_BODY)
    return NULL;
  json_error_t e;
  return json_loadb(r->body, r->body_len, 0, &e);
}

bool ct_job_has_document(const ct_job_t *job) {
  return job->kind == CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE && job->invoice != NULL &&
         job->invoice->document != NULL &&
         job->invoice->document->source_case != CARTEIRO__V1__DOCUMENT__SOURCE__NOT_SET;
}
