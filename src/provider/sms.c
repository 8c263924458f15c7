/* SMS adapter, Twilio Messages API.
 *
 * Request: POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP Basic
 * authentication with AccountSid:AuthToken, a form body To=...&From=...&Body=...; a sender
 * starting with "MG" is a Messaging Service and goes in MessagingServiceSid instead of From.
 * One message per delivery, the text rendered from the locale's sms_invoice template.
 *
 * Answer: 201 with {"sid":"SM..."}, or an error object {"code":21211,"message":"...",
 * "more_info":"...","status":400}. As with WhatsApp, the code decides before the status.
 */
#include "provider/provider_int.h"

#include "common/base64.h"

#include "common/error.h"

#include <stdlib.h>
#include <string.h>

static unsigned sms_parts(const ct_job_t *job) {
  (void)job;
  return 1;
}

/* "Basic " + base64(account ":" secret), in a buffer wiped on free. */
static bool basic_auth(const ct_provider_conf_t *conf, ct__buf_t *out) {
  ct__buf_t pair = {0};
  ct__buf_puts(&pair, conf->account);
  ct__buf_putc(&pair, ':');
  ct__buf_puts(&pair, conf->secret);
  char *b64 = pair.failed ? NULL : ct_base64_encode((const uint8_t *)pair.data, pair.len);
  ct__buf_free(&pair);
  if (b64 == NULL)
    return false;
  ct__buf_puts(out, "Basic ");
  ct__buf_puts(out, b64);
  explicit_bzero(b64, strlen(b64));
  free(b64);
  return !out->failed;
}

static bool sms_needs_document(const ct_job_t *job, unsigned part) {
  (void)job;
  (void)part;
  return false; /* the barcode travels as text; the PDF never goes by SMS */
}

static int sms_build(const ct_provider_conf_t *conf, const ct_templates_t *t, const ct_job_t *job,
                     unsigned part, const ct_build_ctx_t *ctx, ct_http_request_t *out, char *err,
                     size_t errcap) {
  (void)ctx;
  if (part != 0)
    return ct__fail(err, errcap, CT_EINVAL, "part %u out of range (an sms has 1)", part);
  const char *phone = job->recipient != NULL ? ct__str(job->recipient->phone) : "";
  if (phone[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "recipient.phone is missing; sms needs it");
  if (!ct__is_e164(phone))
    return ct__fail(err, errcap, CT_EINVAL, "recipient.phone is not in E.164 form");
  int rc = ct__check_conf(conf, true, err, errcap);
  if (rc != 0)
    return rc;
  if (conf->sender[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "[provider.%s] sender is empty", conf->name);
  /* The configuration has SMS texts for invoices only; a notification has no text here. */
  if (job->kind != CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE || job->invoice == NULL)
    return ct__fail(err, errcap, CT_EINVAL,
                    "sms can send invoices only (templates have no sms text for notifications)");
  if (t == NULL || t->sms_invoice == NULL)
    return ct__fail(err, errcap, CT_EINVAL, "templates have no sms_invoice text");

  char *text = ct_render(t->sms_invoice, job);
  if (text == NULL)
    return ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  if (text[0] == '\0') {
    free(text);
    return ct__fail(err, errcap, CT_EINVAL, "the sms text renders empty");
  }
  ct_sms_length_t len;
  ct_sms_length(text, &len);
  if (len.segments > CT_SMS_MAX_SEGMENTS) {
    free(text);
    return ct__fail(err, errcap, CT_EINVAL,
                    "the sms text takes %u segments (%u %s); at most %d are allowed",
                    len.segments, len.units, len.gsm7 ? "GSM-7 septets" : "UCS-2 units",
                    CT_SMS_MAX_SEGMENTS);
  }

  ct__buf_t body = {0};
  ct__buf_form(&body, "To", phone);
  bool service = strncmp(conf->sender, "MG", 2) == 0;
  ct__buf_form(&body, service ? "MessagingServiceSid" : "From", conf->sender);
  ct__buf_form(&body, "Body", text);
  free(text);
  size_t body_len = body.len;
  char *body_text = ct__buf_take(&body);

  ct__buf_t url = {0};
  ct__buf_base_url(&url, conf->base_url);
  ct__buf_puts(&url, "/2010-04-01/Accounts");
  ct__buf_path(&url, conf->account);
  ct__buf_puts(&url, "/Messages.json");
  char *url_text = ct__buf_take(&url);

  ct__buf_t auth = {0};
  if (body_text == NULL || url_text == NULL || !basic_auth(conf, &auth)) {
    free(body_text);
    free(url_text);
    ct__buf_free(&auth);
    return ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  }
  rc = ct__finish_request(out, url_text, body_text, body_len, auth.data,
                          "application/x-www-form-urlencoded", err, errcap);
  ct__buf_free(&auth);
  return rc;
}

static const ct__code_t twilio_codes[] = {
    {20003, CT_VERDICT_AUTH, "authentication failed"},
    {20429, CT_VERDICT_THROTTLED, "too many requests"},
    {21211, CT_VERDICT_PERMANENT, "invalid 'To' phone number"},
    {21214, CT_VERDICT_PERMANENT, "'To' phone number cannot be reached"},
    {21408, CT_VERDICT_PERMANENT, "sending to this region is not enabled"},
    {21610, CT_VERDICT_PERMANENT, "recipient unsubscribed (replied STOP)"},
    {21612, CT_VERDICT_PERMANENT, "no route to this number"},
    {21614, CT_VERDICT_PERMANENT, "'To' number is not a mobile number"},
    /* Delivery errors (30xxx) normally arrive later, in status callbacks; an API answer
     * carrying one means the same thing. */
    {30001, CT_VERDICT_THROTTLED, "message queue overflow"},
    {30003, CT_VERDICT_TRANSIENT, "destination handset unreachable"},
    {30005, CT_VERDICT_PERMANENT, "unknown destination handset"},
    {30006, CT_VERDICT_PERMANENT, "landline or unreachable carrier"},
    {30007, CT_VERDICT_PERMANENT, "message filtered by the carrier"},
    {30008, CT_VERDICT_TRANSIENT, "unknown delivery error"},
};

static void sms_classify(const ct_http_response_t *resp, ct_verdict_t *out) {
  if (ct__classify_transport(resp, out))
    return;
  json_t *root = ct__parse_body(resp);
  if (resp->status >= 200 && resp->status <= 299) {
    json_t *sid = json_object_get(root, "sid");
    ct__classify_accept(resp, json_string_value(sid), json_string_length(sid), out);
    json_decref(root);
    return;
  }
  json_t *code = json_object_get(root, "code");
  int64_t c = json_is_integer(code) ? (int64_t)json_integer_value(code) : -1;
  json_decref(root);
  ct__classify_error(resp, twilio_codes, sizeof twilio_codes / sizeof twilio_codes[0], c, out);
}

const ct_provider_t ct_provider_sms = {
    .name = "sms",
    .channel = CT_CHANNEL_SMS,
    .parts = sms_parts,
    .needs_document = sms_needs_document,
    .build = sms_build,
    .classify = sms_classify,
};
