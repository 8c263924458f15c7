/* SMS adapter, Twilio Messages API.
 *
 * Request: POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP Basic
 * authentication with AccountSid:AuthToken, a form body To=...&From=...&Body=...; a sender
 * starting with "MG" is a Messaging Service and goes in MessagingServiceSid instead of From.
 * One message per delivery, the text rendered from the locale's sms_invoice template.
 *
 * With webhook_public_url configured, each message carries StatusCallback =
 * <webhook url of the account>?job=<job id>&part=<part> (form-encoded), so that Twilio's
 * status callbacks name the job and the part, inside the URL Twilio signs.
 *
 * Answer: 201 with {"sid":"SM..."}, or an error object {"code":21211,"message":"...",
 * "more_info":"...","status":400}. As with WhatsApp, the code decides before the status.
 *
 * Webhooks: form-encoded POSTs signed with X-Twilio-Signature (base64 HMAC-SHA1, keyed with the
 * auth token, over the URL Twilio called, as configured, followed by every parameter sorted by
 * name, name then value). A status callback (MessageSid, MessageStatus, ErrorCode, To, From)
 * is a STATUS event, dedupe key MessageSid + MessageStatus; a message a customer sent (Body,
 * From, To, MessageSid, SmsStatus "received") an INBOUND one, dedupe key MessageSid. Twilio
 * wants TwiML back: an empty <Response/> sends no reply.
 */
#include "provider/provider_int.h"

#include "common/base64.h"

#include "common/error.h"

#include <stdio.h>
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
  if (conf->webhook_url[0] != '\0') {
    /* the job and part ride in the callback URL's query: Twilio signs the whole URL */
    char part_text[16];
    snprintf(part_text, sizeof part_text, "%u", part);
    ct__buf_t query = {0}, cb = {0};
    ct__buf_form(&query, "job", ct__str(job->id));
    ct__buf_form(&query, "part", part_text);
    ct__buf_puts(&cb, conf->webhook_url);
    ct__buf_putc(&cb, '?');
    ct__buf_add(&cb, query.data != NULL ? query.data : "", query.len);
    if (query.failed || cb.failed)
      body.failed = true;
    else
      ct__buf_form(&body, "StatusCallback", cb.data);
    ct__buf_free(&query);
    ct__buf_free(&cb);
  }
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

/* ---- webhooks ---- */

static ct_webhook_check_t sms_verify_webhook(const ct_provider_conf_t *conf,
                                             const ct_webhook_request_t *req, int64_t now_ms,
                                             char *challenge, size_t cap) {
  (void)now_ms; /* Twilio's signature has no timestamp */
  (void)challenge;
  (void)cap;
  if (!req->post)
    return CT_WEBHOOK_METHOD;
  const char *token = conf->webhook_secret != NULL ? conf->webhook_secret : conf->secret;
  if (token == NULL || token[0] == '\0' || req->url == NULL)
    return CT_WEBHOOK_NOT_CONFIGURED;
  size_t len;
  const char *sig = ct_webhook_header(req, "x-twilio-signature", &len);
  if (sig == NULL)
    return CT_WEBHOOK_UNSIGNED;
  uint8_t want[32];
  size_t wl = 0;
  if (len != 28 || !ct_base64_decode(sig, len, want, &wl) || wl != 20)
    return CT_WEBHOOK_FORGED;
  ct__form_t form;
  /* a body that is no form cannot be what Twilio signed */
  if (ct__form_parse((const char *)req->body, req->body_len, &form) != 0)
    return CT_WEBHOOK_FORGED;
  unsigned char got[20];
  int rc = ct__twilio_mac(token, req->url, req->url_len, &form, got);
  ct__form_free(&form);
  if (rc != 0)
    return CT_WEBHOOK_FORGED;
  return ct__equal_const(want, got, sizeof got) ? CT_WEBHOOK_ACCEPT : CT_WEBHOOK_FORGED;
}

static void copy_param(char *dst, size_t cap, const ct__param_t *p) {
  if (p != NULL)
    ct_event_copy(dst, cap, p->value, p->value_len);
}

static bool param_is(const ct__param_t *p, const char *s) {
  return p != NULL && p->value_len == strlen(s) && memcmp(p->value, s, p->value_len) == 0;
}

static ct_event_status_t twilio_status(const ct__param_t *p) {
  static const struct {
    const char *word;
    ct_event_status_t status;
  } map[] = {{"accepted", CT_EVENT_STATUS_ACCEPTED},   {"queued", CT_EVENT_STATUS_ACCEPTED},
             {"scheduled", CT_EVENT_STATUS_ACCEPTED},  {"sending", CT_EVENT_STATUS_SENDING},
             {"sent", CT_EVENT_STATUS_SENT},           {"delivered", CT_EVENT_STATUS_DELIVERED},
             {"undelivered", CT_EVENT_STATUS_UNDELIVERED}, {"failed", CT_EVENT_STATUS_FAILED},
             {"read", CT_EVENT_STATUS_READ},           {"canceled", CT_EVENT_STATUS_CANCELED},
             {"receiving", CT_EVENT_STATUS_RECEIVED},  {"received", CT_EVENT_STATUS_RECEIVED}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (param_is(p, map[i].word))
      return map[i].status;
  return CT_EVENT_STATUS_OTHER;
}

/* A parameter's value as a NUL-terminated string (cut to cap). */
static const char *param_str(const ct__param_t *p, char *buf, size_t cap) {
  buf[0] = '\0';
  if (p != NULL)
    ct_event_copy(buf, cap, p->value, p->value_len);
  return buf;
}

static int sms_parse_webhook(const ct_provider_conf_t *conf, const ct_webhook_request_t *req,
                             int64_t now_ms, ct_event_list_t *out, size_t *skipped, char *err,
                             size_t errcap) {
  ct__form_t form;
  int rc = ct__form_parse((const char *)req->body, req->body_len, &form);
  if (rc != 0)
    return ct__fail(err, errcap, rc, rc == CT_ENOMEM ? "out of memory"
                                                     : "body is not a form (a bad %%-escape)");
  const ct__param_t *sid = ct__form_get(&form, "MessageSid");
  if (sid == NULL)
    sid = ct__form_get(&form, "SmsSid");
  const ct__param_t *status = ct__form_get(&form, "MessageStatus");
  if (status == NULL)
    status = ct__form_get(&form, "SmsStatus");
  if (sid == NULL || sid->value_len == 0) {
    ct__form_free(&form);
    (*skipped)++;
    return 0; /* signed by Twilio but about no message: nothing to keep */
  }
  ct_event_t *e;
  rc = ct_event_list_add(out, &e);
  if (rc != 0) {
    ct__form_free(&form);
    return ct__fail(err, errcap, rc, "out of memory");
  }
  char sid_text[CT_EVENT_MSGID_LEN], word[CT_EVENT_WORD_LEN];
  param_str(sid, sid_text, sizeof sid_text);
  param_str(status, word, sizeof word);
  ct_event_status_t st = twilio_status(status);
  bool inbound = status == NULL ? ct__form_get(&form, "Body") != NULL
                                : st == CT_EVENT_STATUS_RECEIVED;
  ct__event_start(e, conf, inbound ? CT_EVENT_INBOUND : CT_EVENT_STATUS, now_ms);
  ct_event_copy(e->message_id, sizeof e->message_id, sid_text, strlen(sid_text));
  copy_param(e->from, sizeof e->from, ct__form_get(&form, "From"));
  copy_param(e->to, sizeof e->to, ct__form_get(&form, "To"));
  if (inbound) {
    const char *parts[] = {"tw:m:", sid_text};
    ct_event_set_id(e, parts, 2);
    ct_event_copy(e->provider_status, sizeof e->provider_status, word[0] ? word : "received",
                  strlen(word[0] ? word : "received"));
    const ct__param_t *media = ct__form_get(&form, "NumMedia");
    bool mms = media != NULL && !(media->value_len == 1 && media->value[0] == '0');
    ct_event_copy(e->message_type, sizeof e->message_type, mms ? "mms" : "sms", 3);
    const ct__param_t *body = ct__form_get(&form, "Body");
    if (body != NULL && ct_event_set_text(e, body->value, body->value_len) != 0)
      rc = CT_ENOMEM;
  } else {
    const char *parts[] = {"tw:s:", sid_text, ":", word};
    ct_event_set_id(e, parts, 4);
    e->status = st;
    ct_event_copy(e->provider_status, sizeof e->provider_status, word, strlen(word));
    const ct__param_t *code = ct__form_get(&form, "ErrorCode");
    copy_param(e->error_code, sizeof e->error_code, code);
    char *endp = NULL;
    long long c = strtoll(e->error_code, &endp, 10);
    const ct__code_t *known =
        e->error_code[0] != '\0' && *endp == '\0'
            ? ct__code_find(twilio_codes, sizeof twilio_codes / sizeof twilio_codes[0], c)
            : NULL;
    if (known != NULL)
      ct_event_copy(e->error_title, sizeof e->error_title, known->what, strlen(known->what));
    /* the job and part carteiro put in the StatusCallback URL */
    ct__form_t q;
    if (ct__form_parse(req->query, req->query_len, &q) == 0) {
      const ct__param_t *job = ct__form_get(&q, "job"), *part = ct__form_get(&q, "part");
      char pt[16];
      param_str(part, pt, sizeof pt);
      char *pe = NULL;
      unsigned long pv = strtoul(pt, &pe, 10);
      if (job != NULL && job->value_len > 0 && job->value_len < sizeof e->job_id &&
          pt[0] >= '0' && pt[0] <= '9' && *pe == '\0' && pv <= 1000000) {
        ct_event_copy(e->job_id, sizeof e->job_id, job->value, job->value_len);
        e->part = (uint32_t)pv;
      }
      ct__form_free(&q);
    }
  }
  ct__form_free(&form);
  if (rc != 0)
    return ct__fail(err, errcap, rc, "out of memory");
  if (e->event_id[0] == '\0') {
    ct_event_list_pop(out);
    (*skipped)++;
  }
  return 0;
}

const ct_provider_t ct_provider_sms = {
    .name = "sms",
    .channel = CT_CHANNEL_SMS,
    .parts = sms_parts,
    .needs_document = sms_needs_document,
    .build = sms_build,
    .classify = sms_classify,
    .verify_webhook = sms_verify_webhook,
    .parse_webhook = sms_parse_webhook,
    .webhook_ok_body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
    .webhook_ok_type = "text/xml",
};
