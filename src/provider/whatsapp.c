/* WhatsApp Cloud API adapter.
 *
 * Request: POST {base_url}/{phone_number_id}/messages, "Authorization: Bearer <token>", a JSON
 * template message. Invoices go out as business-initiated templates, which WhatsApp delivers
 * outside the 24-hour customer-service window (free-form text would not be):
 *
 *   upload  (only when the invoice has a document) POST {base_url}/{phone_number_id}/media,
 *           multipart: the password-protected PDF the worker prepared; the answer's "id" is
 *           the media id, recorded in the receipt so that a retry never uploads again;
 *   invoice conf->template_invoice: header = the document as {"id": media id, "filename":
 *           "fatura-<number>.pdf"}, body = customer name, amount ("R$ 1.234,56"), due date
 *           (dd/mm/yyyy);
 *   barcode conf->template_barcode: body = the barcode line alone, so the customer can
 *           long-press and copy it into a bank app without opening the PDF.
 *
 * Part numbers: with a document 0 upload, 1 invoice, 2 barcode; without, 0 invoice, 1 barcode.
 *
 * A notification job is one template named by notification.template_name, its params as body
 * parameters in sorted key order (a protobuf map has no order of its own, and template
 * parameters are positional).
 *
 * Every message carries "biz_opaque_callback_data": "ct:<part>:<job id>", which Meta echoes
 * in each of its status webhooks, so a status finds its job and part.
 *
 * Answer: 200 with {"messages":[{"id":"wamid..."}]}, or an error object
 * {"error":{"code":131056,"message":"...","error_data":{"details":"..."}}}. The code decides,
 * not the HTTP status: Meta answers 400 for a pair rate limit and 500 for a permission
 * problem.
 *
 * Webhooks (one callback URL per Meta app, registered in the app's dashboard):
 *   GET  ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C   the verification handshake:
 *        T must be the account's webhook verify token; the answer is C itself. No signature.
 *   POST {"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages",
 *        "value":{"metadata":{...},"contacts":[...],"statuses":[...],"messages":[...]}}]}]}
 *        signed with X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body, keyed
 *        with the app secret. statuses[] become STATUS events (dedupe key wamid + status),
 *        messages[] INBOUND events (dedupe key wamid). Meta sends every phone number of the
 *        app to the same URL: the business number (metadata.phone_number_id) is kept in the
 *        event (`from` of a status, `to` of an inbound message).
 */
#include "provider/provider_int.h"

#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first body parameter greets the customer by name; a job may come without one, and
 * WhatsApp refuses an empty text parameter, which would lose the invoice over a
 * greeting. */
#define DEFAULT_NAME "Cliente"

static bool is_invoice(const ct_job_t *job) {
  return job->kind == CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
}

static unsigned wa_parts(const ct_job_t *job) {
  if (!is_invoice(job))
    return 1;
  return ct_job_has_document(job) ? 3 : 2;
}

static bool wa_needs_document(const ct_job_t *job, unsigned part) {
  return part == 0 && is_invoice(job) && ct_job_has_document(job);
}

/* A text parameter. WhatsApp refuses parameters holding line breaks, tabs or more than four
 * spaces in a row, all of which turn up in names typed into billing systems, so control
 * characters become spaces and runs of spaces become one. */
static json_t *text_param(const char *s) {
  ct__buf_t b = {0};
  bool after_space = true; /* drops leading spaces too */
  for (const char *p = s; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= 0x20 || c == 0x7f) {
      if (!after_space)
        ct__buf_putc(&b, ' ');
      after_space = true;
    } else {
      ct__buf_putc(&b, (char)c);
      after_space = false;
    }
  }
  if (b.len > 0 && b.data[b.len - 1] == ' ')
    b.data[--b.len] = '\0';
  json_t *text = b.failed ? NULL : ct__json_text(b.len > 0 ? b.data : "");
  ct__buf_free(&b);
  /* json_object_set_new() takes its value even when it fails (NULL object included), so each
   * call is made whatever happened before and nothing leaks on the way out. */
  json_t *param = json_object();
  bool ok = json_object_set_new(param, "type", json_string("text")) == 0;
  ok = json_object_set_new(param, "text", text) == 0 && ok;
  if (!ok) {
    json_decref(param);
    return NULL;
  }
  return param;
}

/* {"type": <type>, "parameters": <params>}, taking `params`; NULL on ENOMEM. */
static json_t *component(const char *type, json_t *params) {
  json_t *c = json_object();
  bool ok = json_object_set_new(c, "type", json_string(type)) == 0;
  ok = json_object_set_new(c, "parameters", params) == 0 && ok;
  if (!ok) {
    json_decref(c);
    return NULL;
  }
  return c;
}


/* The header component naming the uploaded PDF by its media id. */
static json_t *document_header(const ct_invoice_t *inv, const char *media_id) {
  json_t *document = json_object();
  bool ok = json_object_set_new(document, "id", json_string(media_id)) == 0;
  ok = json_object_set_new(document, "filename", ct__pdf_filename(inv)) == 0 && ok;
  json_t *param = json_object();
  ok = json_object_set_new(param, "type", json_string("document")) == 0 && ok;
  ok = json_object_set_new(param, "document", document) == 0 && ok;
  json_t *params = json_array();
  ok = json_array_append_new(params, param) == 0 && ok;
  json_t *header = component("header", params);
  if (!ok || header == NULL) {
    json_decref(header);
    return NULL;
  }
  return header;
}

/* Appends the body component holding `params` (taken over) to `components`. */
static bool add_body(json_t *components, json_t *params) {
  return json_array_append_new(components, component("body", params)) == 0;
}

static int cmp_entry(const void *a, const void *b) {
  const Carteiro__V1__Notification__ParamsEntry *x =
      *(const Carteiro__V1__Notification__ParamsEntry *const *)a;
  const Carteiro__V1__Notification__ParamsEntry *y =
      *(const Carteiro__V1__Notification__ParamsEntry *const *)b;
  return strcmp(ct__str(x->key), ct__str(y->key));
}

/* True when text_param(s) would come out empty: nothing but spaces and control characters. */
static bool blank(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    if (*p > 0x20 && *p != 0x7f)
      return false;
  return true;
}

/* Body parameters of a notification, in key order. Returns CT_ENOMEM or CT_EINVAL. */
static int notification_params(const ct_notification_t *nt, json_t *params, char *err,
                               size_t errcap) {
  size_t n = 0;
  for (size_t i = 0; i < nt->n_params; i++)
    n += nt->params[i] != NULL;
  if (n == 0)
    return 0;
  const Carteiro__V1__Notification__ParamsEntry **sorted = malloc(n * sizeof *sorted);
  if (sorted == NULL)
    return ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  n = 0;
  for (size_t i = 0; i < nt->n_params; i++)
    if (nt->params[i] != NULL)
      sorted[n++] = nt->params[i];
  qsort(sorted, n, sizeof *sorted, cmp_entry);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    /* The key is the producer's name for a value, not personal data; the value may be. */
    if (blank(ct__str(sorted[i]->value)))
      rc = ct__fail(err, errcap, CT_EINVAL,
                    "notification param '%.40s' is empty; WhatsApp refuses empty template "
                    "parameters",
                    ct__str(sorted[i]->key));
    else if (json_array_append_new(params, text_param(sorted[i]->value)) != 0)
      rc = ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  }
  free(sorted);
  return rc;
}

/* Appends the texts as text parameters. */
static bool add_texts(json_t *params, const char *const *texts, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (json_array_append_new(params, text_param(texts[i])) != 0)
      return false;
  return true;
}

/* The template name and the components for `part` of `job`, appended to `components`. */
static int components_for(const ct_provider_conf_t *conf, const ct_job_t *job, unsigned part,
                          const char *media_id, json_t *components, const char **tmpl,
                          char *err, size_t errcap) {
  if (!is_invoice(job)) {
    const ct_notification_t *nt = job->notification;
    if (nt == NULL || ct__str(nt->template_name)[0] == '\0')
      return ct__fail(err, errcap, CT_EINVAL,
                      "job has neither an invoice nor a notification template to send");
    if (part != 0)
      return ct__fail(err, errcap, CT_EINVAL, "part %u out of range (a notification has 1)",
                      part);
    *tmpl = nt->template_name;
    json_t *params = json_array();
    int rc = params != NULL ? notification_params(nt, params, err, errcap)
                            : ct__fail(err, errcap, CT_ENOMEM, "out of memory");
    if (rc != 0 || json_array_size(params) == 0) {
      json_decref(params);
      return rc;
    }
    return add_body(components, params) ? 0 : ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  }

  const ct_invoice_t *inv = job->invoice;
  if (inv == NULL)
    return ct__fail(err, errcap, CT_EINVAL, "invoice job without an invoice");
  /* With a document, part 0 is the upload (built elsewhere): templates are parts 1 and 2. */
  bool with_document = ct_job_has_document(job);
  unsigned first = with_document ? 1 : 0;
  if (part < first || part > first + 1)
    return ct__fail(err, errcap, CT_EINVAL, "part %u out of range (this invoice has %u)", part,
                    first + 2);
  bool invoice_part = part == first;
  *tmpl = invoice_part ? conf->template_invoice : conf->template_barcode;
  if ((*tmpl)[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "[provider.%s] %s is empty", conf->name,
                    invoice_part ? "template_invoice" : "template_barcode");
  if (invoice_part && with_document && (media_id == NULL || media_id[0] == '\0'))
    return ct__fail(err, errcap, CT_EINVAL, "the document's media id is missing (upload first)");

  json_t *params = json_array();
  bool ok = params != NULL;
  if (invoice_part) {
    if (with_document)
      ok = ok && json_array_append_new(components, document_header(inv, media_id)) == 0;
    const char *name = job->recipient != NULL ? ct__str(job->recipient->name) : "";
    char amount[48];
    char due[32];
    const char *texts[] = {blank(name) ? DEFAULT_NAME : name,
                           ct__format_amount(inv, amount, sizeof amount),
                           ct__format_date(ct__str(inv->due_date), due, sizeof due)};
    ok = ok && add_texts(params, texts, 3);
  } else {
    if (ct__str(inv->barcode_line)[0] == '\0') {
      json_decref(params);
      return ct__fail(err, errcap, CT_EINVAL, "invoice.barcode_line is empty");
    }
    const char *texts[] = {inv->barcode_line};
    ok = ok && add_texts(params, texts, 1);
  }
  if (!ok) {
    json_decref(params);
    return ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  }
  return add_body(components, params) ? 0 : ct__fail(err, errcap, CT_ENOMEM, "out of memory");
}

/* Multipart boundary: it must not occur in the file. A fixed prefix and a counter, checked
 * against the bytes, is simpler than randomness and as safe. */
static bool contains(const uint8_t *data, size_t len, const char *s) {
  size_t n = strlen(s);
  for (const uint8_t *p = data; len >= n;) {
    const uint8_t *hit = memchr(p, s[0], len - n + 1);
    if (hit == NULL)
      return false;
    if (memcmp(hit, s, n) == 0)
      return true;
    len -= (size_t)(hit - p) + 1;
    p = hit + 1;
  }
  return false;
}

static void boundary_for(const uint8_t *data, size_t len, char *out, size_t cap) {
  for (unsigned n = 0;; n++) {
    snprintf(out, cap, "carteiro-boundary-%08x", n * 2654435761u);
    if (!contains(data, len, out))
      return;
  }
}

/* The media upload: multipart/form-data with messaging_product, type and the file, as the
 * Cloud API's /media endpoint takes it. */
static int build_upload(const ct_provider_conf_t *conf, const ct_job_t *job,
                        const ct_build_ctx_t *ctx, ct_http_request_t *out, char *err,
                        size_t errcap) {
  if (ctx->document == NULL)
    return ct__fail(err, errcap, CT_EINVAL, "the invoice document was not prepared");
  char boundary[64];
  boundary_for(ctx->document, ctx->document_len, boundary, sizeof boundary);
  json_t *name = ct__pdf_filename(job->invoice);
  ct__buf_t body = {0};
  const char *fields[][2] = {{"messaging_product", "whatsapp"}, {"type", "application/pdf"}};
  for (size_t i = 0; i < 2; i++) {
    ct__buf_puts(&body, "--");
    ct__buf_puts(&body, boundary);
    ct__buf_puts(&body, "\r\nContent-Disposition: form-data; name=\"");
    ct__buf_puts(&body, fields[i][0]);
    ct__buf_puts(&body, "\"\r\n\r\n");
    ct__buf_puts(&body, fields[i][1]);
    ct__buf_puts(&body, "\r\n");
  }
  ct__buf_puts(&body, "--");
  ct__buf_puts(&body, boundary);
  ct__buf_puts(&body, "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"");
  ct__buf_puts(&body, name != NULL ? json_string_value(name) : "fatura.pdf");
  ct__buf_puts(&body, "\"\r\nContent-Type: application/pdf\r\n\r\n");
  ct__buf_add(&body, (const char *)ctx->document, ctx->document_len);
  ct__buf_puts(&body, "\r\n--");
  ct__buf_puts(&body, boundary);
  ct__buf_puts(&body, "--\r\n");
  json_decref(name);

  ct__buf_t url = {0}, auth = {0}, type = {0};
  ct__buf_base_url(&url, conf->base_url);
  ct__buf_path(&url, conf->account);
  ct__buf_puts(&url, "/media");
  ct__buf_puts(&auth, "Bearer ");
  ct__buf_puts(&auth, conf->secret);
  ct__buf_puts(&type, "multipart/form-data; boundary=");
  ct__buf_puts(&type, boundary);
  if (body.failed || url.failed || auth.failed || type.failed) {
    ct__buf_free(&body);
    ct__buf_free(&url);
    ct__buf_free(&auth);
    ct__buf_free(&type);
    return ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  }
  size_t len = body.len;
  int rc = ct__finish_request(out, ct__buf_take(&url), ct__buf_take(&body), len, auth.data,
                              type.data, err, errcap);
  ct__buf_free(&auth);
  ct__buf_free(&type);
  return rc;
}

static int wa_build(const ct_provider_conf_t *conf, const ct_templates_t *t, const ct_job_t *job,
                    unsigned part, const ct_build_ctx_t *ctx, ct_http_request_t *out, char *err,
                    size_t errcap) {
  (void)t; /* WhatsApp texts live in the approved templates, not in carteiro's config */
  const char *phone = job->recipient != NULL ? ct__str(job->recipient->phone) : "";
  if (phone[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "recipient.phone is missing; whatsapp needs it");
  if (!ct__is_e164(phone))
    return ct__fail(err, errcap, CT_EINVAL, "recipient.phone is not in E.164 form");
  int rc = ct__check_conf(conf, true, err, errcap);
  if (rc != 0)
    return rc;
  if (conf->template_language[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "[provider.%s] template_language is empty",
                    conf->name);

  if (wa_needs_document(job, part))
    return build_upload(conf, job, ctx, out, err, errcap);

  json_t *components = json_array();
  const char *tmpl = "";
  rc = components != NULL
           ? components_for(conf, job, part, ctx->media_id, components, &tmpl, err, errcap)
           : ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  if (rc != 0) {
    json_decref(components);
    return rc;
  }

  /* Every set below runs whatever failed before it (see text_param), so ownership is simple:
   * each value belongs to its container the moment it is passed. */
  json_t *language = json_object();
  bool ok = json_object_set_new(language, "code", json_string(conf->template_language)) == 0;
  json_t *template = json_object();
  ok = json_object_set_new(template, "name", ct__json_text(tmpl)) == 0 && ok;
  ok = json_object_set_new(template, "language", language) == 0 && ok;
  /* A template without parameters takes no components at all. */
  if (json_array_size(components) > 0)
    ok = json_object_set_new(template, "components", components) == 0 && ok;
  else
    json_decref(components);

  json_t *root = json_object();
  ok = json_object_set_new(root, "messaging_product", json_string("whatsapp")) == 0 && ok;
  ok = json_object_set_new(root, "recipient_type", json_string("individual")) == 0 && ok;
  /* The Cloud API wants the number without its '+'. */
  ok = json_object_set_new(root, "to", json_string(phone + 1)) == 0 && ok;
  ok = json_object_set_new(root, "type", json_string("template")) == 0 && ok;
  ok = json_object_set_new(root, "template", template) == 0 && ok;
  /* echoed in every status webhook of this message (Meta allows 512 characters; a job id is
   * at most 128) */
  char corr[CT_EVENT_JOB_LEN + 32];
  if (ct__correlation_format(corr, sizeof corr, ct__str(job->id), part) == 0)
    ok = json_object_set_new(root, "biz_opaque_callback_data", json_string(corr)) == 0 && ok;
  if (!ok) {
    json_decref(root);
    return ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  }

  ct__buf_t url = {0};
  ct__buf_base_url(&url, conf->base_url);
  ct__buf_path(&url, conf->account);
  ct__buf_puts(&url, "/messages");
  return ct__finish_json_bearer(out, ct__buf_take(&url), root, conf, err, errcap);
}

/* What WhatsApp's error codes mean for a delivery. 200-299 (API permission) are handled as a
 * range in wa_classify. */
static const ct__code_t wa_codes[] = {
    /* our credentials or account: pause the account and alert, never the customer's fault */
    {0, CT_VERDICT_AUTH, "access token could not be authenticated"},
    {3, CT_VERDICT_AUTH, "app lacks the capability or permission"},
    {10, CT_VERDICT_AUTH, "permission denied"},
    {190, CT_VERDICT_AUTH, "access token expired or invalidated"},
    {368, CT_VERDICT_AUTH, "business account blocked for a policy violation"},
    {131031, CT_VERDICT_AUTH, "business account locked"},
    /* rates: slow the account down */
    {4, CT_VERDICT_THROTTLED, "app over its API call rate limit"},
    {17, CT_VERDICT_THROTTLED, "user over its API call rate limit"},
    {613, CT_VERDICT_THROTTLED, "API call rate limit"},
    {80007, CT_VERDICT_THROTTLED, "business account over its rate limit"},
    {130429, CT_VERDICT_THROTTLED, "Cloud API throughput limit reached"},
    {131048, CT_VERDICT_THROTTLED, "spam rate limit on the business number"},
    /* one recipient: wait before the next message to them */
    {131056, CT_VERDICT_RECIPIENT_BUSY, "too many messages to this recipient (pair rate limit)"},
    /* WhatsApp's side, for now */
    {2, CT_VERDICT_TRANSIENT, "API service temporarily unavailable"},
    {131000, CT_VERDICT_TRANSIENT, "generic WhatsApp error"},
    {131001, CT_VERDICT_TRANSIENT, "generic WhatsApp error"},
    {131002, CT_VERDICT_TRANSIENT, "generic WhatsApp error"},
    {131016, CT_VERDICT_TRANSIENT, "WhatsApp service overloaded"},
    /* this message to this recipient will not go through on WhatsApp: fall back */
    {100, CT_VERDICT_PERMANENT, "invalid parameter"},
    {131026, CT_VERDICT_PERMANENT, "message undeliverable to this recipient"},
    {131047, CT_VERDICT_PERMANENT, "outside the 24-hour window (re-engagement needed)"},
    {132000, CT_VERDICT_PERMANENT, "template parameter count mismatch"},
    {132001, CT_VERDICT_PERMANENT, "template does not exist in this language"},
    {132005, CT_VERDICT_PERMANENT, "template text too long after substitution"},
    {132007, CT_VERDICT_PERMANENT, "template text violates the format policy"},
    {132012, CT_VERDICT_PERMANENT, "template parameter format mismatch"},
    {132015, CT_VERDICT_PERMANENT, "template paused for low quality"},
    {132016, CT_VERDICT_PERMANENT, "template disabled"},
};

static void wa_classify(const ct_http_response_t *resp, ct_verdict_t *out) {
  if (ct__classify_transport(resp, out))
    return;
  json_t *root = ct__parse_body(resp);
  if (resp->status >= 200 && resp->status <= 299) {
    json_t *id = json_object_get(json_array_get(json_object_get(root, "messages"), 0), "id");
    /* A media upload is answered {"id": "<media id>"}. */
    if (id == NULL && json_object_get(root, "messages") == NULL)
      id = json_object_get(root, "id");
    ct__classify_accept(resp, json_string_value(id), json_string_length(id), out);
    json_decref(root);
    return;
  }
  json_t *code = json_object_get(json_object_get(root, "error"), "code");
  int64_t c = json_is_integer(code) ? (int64_t)json_integer_value(code) : -1;
  json_decref(root);
  if (c >= 200 && c <= 299) {
    const ct__code_t permission = {c, CT_VERDICT_AUTH, "API permission not granted or removed"};
    ct__classify_error(resp, &permission, 1, c, out);
    return;
  }
  ct__classify_error(resp, wa_codes, sizeof wa_codes / sizeof wa_codes[0], c, out);
}

/* ---- webhooks ---- */

/* The GET handshake: hub.mode=subscribe, hub.verify_token, hub.challenge. */
static ct_webhook_check_t wa_handshake(const ct_provider_conf_t *conf,
                                       const ct_webhook_request_t *req, char *challenge,
                                       size_t cap) {
  if (conf->webhook_verify_token == NULL)
    return CT_WEBHOOK_NOT_CONFIGURED;
  ct__form_t q;
  if (ct__form_parse(req->query, req->query_len, &q) != 0)
    return CT_WEBHOOK_BAD_HANDSHAKE;
  const ct__param_t *mode = ct__form_get(&q, "hub.mode");
  const ct__param_t *token = ct__form_get(&q, "hub.verify_token");
  const ct__param_t *ch = ct__form_get(&q, "hub.challenge");
  ct_webhook_check_t r = CT_WEBHOOK_CHALLENGE;
  if (mode == NULL || token == NULL || ch == NULL ||
      !(mode->value_len == 9 && memcmp(mode->value, "subscribe", 9) == 0) ||
      ch->value_len == 0 || ch->value_len >= cap) {
    r = CT_WEBHOOK_BAD_HANDSHAKE;
  } else {
    for (size_t i = 0; i < ch->value_len; i++)
      if (ch->value[i] <= 0x20 || ch->value[i] >= 0x7f)
        r = CT_WEBHOOK_BAD_HANDSHAKE; /* echoed into our answer: printable only */
  }
  if (r == CT_WEBHOOK_CHALLENGE) {
    size_t tl = strlen(conf->webhook_verify_token);
    if (token->value_len != tl || !ct__equal_const(token->value, conf->webhook_verify_token, tl))
      r = CT_WEBHOOK_VERIFY_TOKEN;
  }
  if (r == CT_WEBHOOK_CHALLENGE) {
    memcpy(challenge, ch->value, ch->value_len);
    challenge[ch->value_len] = '\0';
  }
  ct__form_free(&q);
  return r;
}

static ct_webhook_check_t wa_verify_webhook(const ct_provider_conf_t *conf,
                                            const ct_webhook_request_t *req, int64_t now_ms,
                                            char *challenge, size_t cap) {
  (void)now_ms; /* Meta's signature has no timestamp */
  if (!req->post)
    return wa_handshake(conf, req, challenge, cap);
  if (conf->webhook_secret == NULL)
    return CT_WEBHOOK_NOT_CONFIGURED;
  size_t len;
  const char *sig = ct_webhook_header(req, "x-hub-signature-256", &len);
  static const char scheme[] = "sha256=";
  if (sig == NULL)
    return CT_WEBHOOK_UNSIGNED;
  unsigned char want[32], got[32];
  if (len != sizeof scheme - 1 + 64 || memcmp(sig, scheme, sizeof scheme - 1) != 0 ||
      !ct__hex_decode(sig + sizeof scheme - 1, 64, want, sizeof want))
    return CT_WEBHOOK_FORGED;
  const void *parts[] = {req->body};
  size_t lens[] = {req->body_len};
  size_t glen = 0;
  if (ct__hmac("SHA256", conf->webhook_secret, strlen(conf->webhook_secret), parts, lens, 1,
               got, sizeof got, &glen) != 0 ||
      glen != sizeof got)
    return CT_WEBHOOK_FORGED; /* cannot be checked now: refused, and Meta sends it again */
  return ct__equal_const(want, got, sizeof got) ? CT_WEBHOOK_ACCEPT : CT_WEBHOOK_FORGED;
}

static void copy_json(char *dst, size_t cap, json_t *v) {
  if (json_is_string(v))
    ct_event_copy(dst, cap, json_string_value(v), json_string_length(v));
}

/* A usable id or word: a non-empty string without a NUL inside (the C string would end early,
 * and two ids could become one). */
static bool usable(json_t *v) {
  return json_is_string(v) && json_string_length(v) > 0 &&
         strlen(json_string_value(v)) == json_string_length(v);
}

static void wa_status_word(ct_event_t *e, const char *s) {
  static const struct {
    const char *word;
    ct_event_status_t status;
  } map[] = {{"sent", CT_EVENT_STATUS_SENT},
             {"delivered", CT_EVENT_STATUS_DELIVERED},
             {"read", CT_EVENT_STATUS_READ},
             {"failed", CT_EVENT_STATUS_FAILED}};
  e->status = CT_EVENT_STATUS_OTHER;
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(s, map[i].word) == 0)
      e->status = map[i].status;
}

/* One element of value.statuses[]. False when it lacks an id or a status. */
static bool wa_status(const ct_provider_conf_t *conf, json_t *st, const char *business,
                      int64_t now_ms, ct_event_t *e) {
  json_t *id = json_object_get(st, "id"), *status = json_object_get(st, "status");
  if (!usable(id) || !usable(status))
    return false;
  ct__event_start(e, conf, CT_EVENT_STATUS, now_ms);
  copy_json(e->message_id, sizeof e->message_id, id);
  copy_json(e->provider_status, sizeof e->provider_status, status);
  wa_status_word(e, json_string_value(status));
  const char *parts[] = {"wa:s:", json_string_value(id), ":", json_string_value(status)};
  ct_event_set_id(e, parts, 4);
  json_t *ts = json_object_get(st, "timestamp");
  if (json_is_string(ts))
    ct__parse_epoch_s(json_string_value(ts), json_string_length(ts), &e->at_ms);
  copy_json(e->to, sizeof e->to, json_object_get(st, "recipient_id"));
  ct_event_copy(e->from, sizeof e->from, business, strlen(business));
  json_t *corr = json_object_get(st, "biz_opaque_callback_data");
  if (json_is_string(corr) &&
      !ct_correlation_parse(json_string_value(corr), json_string_length(corr), e->job_id,
                            sizeof e->job_id, &e->part))
    e->job_id[0] = '\0';
  json_t *err = json_array_get(json_object_get(st, "errors"), 0);
  json_t *code = json_object_get(err, "code");
  if (json_is_integer(code))
    snprintf(e->error_code, sizeof e->error_code, "%" JSON_INTEGER_FORMAT,
             json_integer_value(code));
  /* the title only: `message` and error_data.details may quote the recipient */
  copy_json(e->error_title, sizeof e->error_title, json_object_get(err, "title"));
  return e->event_id[0] != '\0';
}

/* One element of value.messages[]. False when it lacks an id. */
static int wa_inbound(const ct_provider_conf_t *conf, json_t *m, json_t *contacts,
                      const char *business, int64_t now_ms, ct_event_t *e, bool *ok) {
  json_t *id = json_object_get(m, "id");
  *ok = false;
  if (!usable(id))
    return 0;
  ct__event_start(e, conf, CT_EVENT_INBOUND, now_ms);
  copy_json(e->message_id, sizeof e->message_id, id);
  const char *parts[] = {"wa:m:", json_string_value(id)};
  ct_event_set_id(e, parts, 2);
  ct_event_copy(e->provider_status, sizeof e->provider_status, "received", 8);
  json_t *ts = json_object_get(m, "timestamp");
  if (json_is_string(ts))
    ct__parse_epoch_s(json_string_value(ts), json_string_length(ts), &e->at_ms);
  json_t *from = json_object_get(m, "from");
  copy_json(e->from, sizeof e->from, from);
  ct_event_copy(e->to, sizeof e->to, business, strlen(business));
  json_t *type = json_object_get(m, "type");
  copy_json(e->message_type, sizeof e->message_type, type);
  copy_json(e->context_id, sizeof e->context_id,
            json_object_get(json_object_get(m, "context"), "id"));
  /* the profile name of the contact who wrote (Meta: wa_id and the number may differ; the
   * only contact of a one-message change is the sender) */
  size_t i;
  json_t *c;
  json_array_foreach(contacts, i, c) {
    json_t *wa_id = json_object_get(c, "wa_id");
    if (json_array_size(contacts) == 1 ||
        (json_is_string(wa_id) && json_is_string(from) &&
         strcmp(json_string_value(wa_id), json_string_value(from)) == 0)) {
      copy_json(e->profile_name, sizeof e->profile_name,
                json_object_get(json_object_get(c, "profile"), "name"));
      break;
    }
  }
  /* What the customer said: a text's body, the title of the button or list row tapped (with
   * its id), a template quick reply's text (with its payload), or a media caption. */
  const char *t = json_is_string(type) ? json_string_value(type) : "";
  json_t *text = NULL, *reply = NULL;
  if (strcmp(t, "text") == 0) {
    text = json_object_get(json_object_get(m, "text"), "body");
  } else if (strcmp(t, "interactive") == 0) {
    json_t *in = json_object_get(m, "interactive");
    json_t *r = json_object_get(in, "button_reply");
    if (r == NULL)
      r = json_object_get(in, "list_reply");
    text = json_object_get(r, "title");
    reply = json_object_get(r, "id");
  } else if (strcmp(t, "button") == 0) {
    text = json_object_get(json_object_get(m, "button"), "text");
    reply = json_object_get(json_object_get(m, "button"), "payload");
  } else if (json_is_object(json_object_get(m, t))) {
    text = json_object_get(json_object_get(m, t), "caption");
  }
  copy_json(e->reply_id, sizeof e->reply_id, reply);
  if (json_is_string(text) &&
      ct_event_set_text(e, json_string_value(text), json_string_length(text)) != 0)
    return CT_ENOMEM;
  *ok = e->event_id[0] != '\0';
  return 0;
}

/* The statuses and messages of one change's value. */
static int wa_value(const ct_provider_conf_t *conf, json_t *value, int64_t now_ms,
                    ct_event_list_t *out, size_t *skipped) {
  const char *business = json_string_value(
      json_object_get(json_object_get(value, "metadata"), "phone_number_id"));
  if (business == NULL)
    business = "";
  json_t *contacts = json_object_get(value, "contacts");
  size_t i;
  json_t *el;
  json_array_foreach(json_object_get(value, "statuses"), i, el) {
    ct_event_t *e;
    int rc = ct_event_list_add(out, &e);
    if (rc != 0)
      return rc;
    if (!wa_status(conf, el, business, now_ms, e)) {
      ct_event_list_pop(out);
      (*skipped)++;
    }
  }
  json_array_foreach(json_object_get(value, "messages"), i, el) {
    ct_event_t *e;
    int rc = ct_event_list_add(out, &e);
    if (rc != 0)
      return rc;
    bool ok;
    rc = wa_inbound(conf, el, contacts, business, now_ms, e, &ok);
    if (rc != 0 || !ok) {
      ct_event_list_pop(out);
      if (rc != 0)
        return rc;
      (*skipped)++;
    }
  }
  return 0;
}

static int wa_parse_webhook(const ct_provider_conf_t *conf, const ct_webhook_request_t *req,
                            int64_t now_ms, ct_event_list_t *out, size_t *skipped, char *err,
                            size_t errcap) {
  json_error_t je;
  json_t *root = json_loadb((const char *)req->body, req->body_len, 0, &je);
  if (!json_is_object(root)) {
    bool json = root != NULL;
    json_decref(root);
    if (json)
      return ct__fail(err, errcap, CT_EDECODE, "body is JSON but not an object");
    /* line and column only: jansson's text may quote the body */
    return ct__fail(err, errcap, CT_EDECODE, "body is not JSON (line %d, column %d)", je.line,
                    je.column);
  }
  json_t *object = json_object_get(root, "object");
  json_t *entries = json_object_get(root, "entry");
  int rc = 0;
  if (!json_is_string(object) ||
      strcmp(json_string_value(object), "whatsapp_business_account") != 0)
    rc = ct__fail(err, errcap, CT_EDECODE, "object is not \"whatsapp_business_account\"");
  else if (!json_is_array(entries))
    rc = ct__fail(err, errcap, CT_EDECODE, "entry is not an array");
  size_t i, k;
  json_t *entry, *change;
  json_array_foreach(entries, i, entry) {
    if (rc != 0)
      break;
    json_array_foreach(json_object_get(entry, "changes"), k, change) {
      json_t *field = json_object_get(change, "field");
      /* other fields (template status, quality, account updates) carry no message events */
      if (!json_is_string(field) || strcmp(json_string_value(field), "messages") != 0)
        continue;
      rc = wa_value(conf, json_object_get(change, "value"), now_ms, out, skipped);
      if (rc != 0)
        break;
    }
  }
  json_decref(root);
  if (rc == CT_ETOOBIG)
    ct__fail(err, errcap, rc, "more than %d events in one request", CT_EVENT_BATCH_MAX);
  else if (rc == CT_ENOMEM)
    ct__fail(err, errcap, rc, "out of memory");
  return rc;
}

const ct_provider_t ct_provider_whatsapp = {
    .name = "whatsapp",
    .channel = CT_CHANNEL_WHATSAPP,
    .parts = wa_parts,
    .needs_document = wa_needs_document,
    .build = wa_build,
    .classify = wa_classify,
    .verify_webhook = wa_verify_webhook,
    .parse_webhook = wa_parse_webhook,
    .webhook_ok_body = "",
    .webhook_ok_type = "text/plain; charset=utf-8",
};
