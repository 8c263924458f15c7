/* WhatsApp Cloud API adapter.
 *
 * Request: POST {base_url}/{phone_number_id}/messages, "Authorization: Bearer <token>", a JSON
 * template message. Invoices go out as business-initiated templates, which WhatsApp delivers
 * outside the 24-hour customer-service window (free-form text would not be):
 *
 *   part 0  conf->template_invoice: header = the PDF as a document parameter, body = customer
 *           name, amount ("R$ 1.234,56"), due date (dd/mm/yyyy);
 *   part 1  conf->template_barcode: body = the barcode line alone, so the customer can
 *           long-press and copy it into a bank app without opening the PDF.
 *
 * A notification job is one template named by notification.template_name, its params as body
 * parameters in sorted key order (a protobuf map has no order of its own, and template
 * parameters are positional).
 *
 * Answer: 200 with {"messages":[{"id":"wamid..."}]}, or an error object
 * {"error":{"code":131056,"message":"...","error_data":{"details":"..."}}}. The code decides,
 * not the HTTP status: Meta answers 400 for a pair rate limit and 500 for a permission
 * problem.
 */
#include "provider/provider_int.h"

#include "common/error.h"

#include <stdlib.h>
#include <string.h>

/* The first body parameter greets the customer by name; a job may come without one, and
 * WhatsApp refuses an empty text parameter, which would lose the invoice over a
 * greeting. */
#define DEFAULT_NAME "Cliente"

static bool is_invoice(const ct_job_t *job) {
  return job->kind == CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
}

static unsigned wa_parts(const ct_job_t *job) { return is_invoice(job) ? 2 : 1; }

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

/* "fatura-<number>.pdf". The number is the producer's; characters a handset's save dialog or
 * a file system could stumble on ('/', quotes, spaces) become '-'. */
static json_t *pdf_filename(const char *number) {
  ct__buf_t b = {0};
  ct__buf_puts(&b, "fatura-");
  for (const char *p = number; *p != '\0'; p++) {
    char c = *p;
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.';
    ct__buf_putc(&b, keep ? c : '-');
  }
  ct__buf_puts(&b, ".pdf");
  json_t *j = b.failed ? NULL : json_string(b.data);
  ct__buf_free(&b);
  return j;
}

/* The header component with the PDF, or no component at all (returns true, *out NULL).
 *
 * Only a document given by URL can be named here directly ("link"): WhatsApp fetches it.
 * Inline bytes and spool paths have to be uploaded to /{phone_number_id}/media first and
 * referred to by {"id": <media id>}; that upload belongs to the document work (password
 * protection, hashing), which runs before build. Until a media id reaches the adapter, such
 * invoices go out without the header component, with the body parameters intact. */
static bool document_header(const ct_invoice_t *inv, json_t **out) {
  *out = NULL;
  const ct_document_t *doc = inv->document;
  if (doc == NULL || doc->source_case != CARTEIRO__V1__DOCUMENT__SOURCE_URL ||
      ct__str(doc->url)[0] == '\0')
    return true;
  json_t *document = json_object();
  bool ok = json_object_set_new(document, "link", ct__json_text(doc->url)) == 0;
  ok = json_object_set_new(document, "filename", pdf_filename(ct__str(inv->number))) == 0 && ok;
  json_t *param = json_object();
  ok = json_object_set_new(param, "type", json_string("document")) == 0 && ok;
  ok = json_object_set_new(param, "document", document) == 0 && ok;
  json_t *params = json_array();
  ok = json_array_append_new(params, param) == 0 && ok;
  json_t *header = component("header", params);
  if (!ok || header == NULL) {
    json_decref(header);
    return false;
  }
  *out = header;
  return true;
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
                          json_t *components, const char **tmpl, char *err, size_t errcap) {
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
  if (part > 1)
    return ct__fail(err, errcap, CT_EINVAL, "part %u out of range (an invoice has 2)", part);
  *tmpl = part == 0 ? conf->template_invoice : conf->template_barcode;
  if ((*tmpl)[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "[provider.%s] %s is empty", conf->name,
                    part == 0 ? "template_invoice" : "template_barcode");

  json_t *params = json_array();
  bool ok = params != NULL;
  if (part == 0) {
    json_t *header = NULL;
    ok = ok && document_header(inv, &header);
    if (ok && header != NULL)
      ok = json_array_append_new(components, header) == 0;
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

static int wa_build(const ct_provider_conf_t *conf, const ct_templates_t *t, const ct_job_t *job,
                    unsigned part, ct_http_request_t *out, char *err, size_t errcap) {
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

  json_t *components = json_array();
  const char *tmpl = "";
  rc = components != NULL ? components_for(conf, job, part, components, &tmpl, err, errcap)
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

const ct_provider_t ct_provider_whatsapp = {
    .name = "whatsapp",
    .channel = CT_CHANNEL_WHATSAPP,
    .parts = wa_parts,
    .build = wa_build,
    .classify = wa_classify,
};
