/* E-mail adapter, SendGrid v3 mail/send.
 *
 * Request: POST {base_url}/v3/mail/send, "Authorization: Bearer <API key>", JSON with one
 * personalization (the recipient), from, subject, and the text and HTML bodies rendered from
 * the locale's templates (text/plain first: SendGrid requires that order), and the invoice PDF
 * — already password-protected by the worker — as a base64 attachment "fatura-<number>.pdf".
 * SendGrid refuses messages over 30 MB in all, so a larger one is refused here, before it is
 * sent, as a permanent failure of the e-mail channel.
 *
 * Every mail carries custom_args {"ct_job": <job id>, "ct_part": "<part>"}, which SendGrid
 * spreads into each of its events, so a status finds its job and part.
 *
 * Display names: SendGrid refuses a to.name holding ',' or ';' (it splits the name there, as
 * a list of addresses), which is how billing systems often keep names ("Araújo, José").
 * SendGrid's own libraries wrap such a name in double quotes (sendgrid-python
 * helpers/mail/email.py, for sendgrid-python#578; sendgrid-nodejs, for sendgrid-csharp#268);
 * so does this adapter, dropping any '"' and '\' inside first, so the quoted string stays one
 * (RFC 5322 quoted-string) and the e-mail still goes.
 *
 * Answer: 202 with the message id in the X-Message-Id header (resp->message_id) and an empty
 * body; errors are {"errors":[{"message":"...","field":"..."}]} without a numeric code, so the
 * HTTP status decides (400 and 413 permanent, 401/403 auth, 429 throttled, 5xx transient).
 *
 * Webhooks: the Event Webhook POSTs a JSON array of events, signed (Signed Event Webhook) with
 * ECDSA P-256 over SHA-256 of the timestamp header followed by the raw body, the signature
 * base64 DER in X-Twilio-Email-Event-Webhook-Signature, the timestamp in
 * X-Twilio-Email-Event-Webhook-Timestamp; the public key (base64 DER SubjectPublicKeyInfo) is
 * the account's webhook_public_key. The signature binds no URL, so a timestamp further than
 * webhook_tolerance from now is refused. Each event is a STATUS event, dedupe key
 * sg_event_id; its message id is sg_message_id up to ".filter" (the X-Message-Id).
 */
#include "provider/provider_int.h"

#include "common/base64.h"
#include "common/error.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SendGrid's limit on a whole message, attachments (base64) included. */
#define SENDGRID_MAX_MESSAGE ((size_t)30 * 1000 * 1000)

static unsigned email_parts(const ct_job_t *job) {
  (void)job;
  return 1;
}

static bool email_needs_document(const ct_job_t *job, unsigned part) {
  return part == 0 && ct_job_has_document(job);
}

/* {"content": base64, "filename": "fatura-<number>.pdf", "type": ..., "disposition": ...} */
static json_t *attachment(const ct_job_t *job, const ct_build_ctx_t *ctx) {
  char *b64 = ct_base64_encode(ctx->document, ctx->document_len);
  json_t *name = ct__pdf_filename(job->invoice);
  json_t *a = json_object();
  bool ok = b64 != NULL && name != NULL && a != NULL;
  ok = ok && json_object_set_new(a, "content", json_string(b64)) == 0;
  ok = ok && json_object_set_new(a, "filename", json_incref(name)) == 0;
  ok = ok && json_object_set_new(a, "type", json_string("application/pdf")) == 0;
  ok = ok && json_object_set_new(a, "disposition", json_string("attachment")) == 0;
  free(b64);
  json_decref(name);
  if (!ok) {
    json_decref(a);
    return NULL;
  }
  return a;
}

/* A text that ends up in a header line (subject, display names): control characters become
 * spaces, since a line break from a customer's name would otherwise split the header. */
static json_t *header_text(const char *s) {
  ct__buf_t b = {0};
  for (const char *p = s; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    ct__buf_putc(&b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
  }
  json_t *j = b.failed ? NULL : ct__json_text(b.len > 0 ? b.data : "");
  ct__buf_free(&b);
  return j;
}

/* A display name SendGrid takes whole: one holding ',' or ';' is wrapped in double quotes
 * (as SendGrid's libraries do), without the '"' and '\' that would end or escape the quoted
 * string early; control characters become spaces as in header_text. */
static json_t *display_name(const char *s) {
  if (strpbrk(s, ",;") == NULL)
    return header_text(s);
  ct__buf_t b = {0};
  ct__buf_putc(&b, '"');
  for (const char *p = s; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\')
      continue;
    ct__buf_putc(&b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
  }
  ct__buf_putc(&b, '"');
  json_t *j = b.failed ? NULL : ct__json_text(b.data);
  ct__buf_free(&b);
  return j;
}

/* {"email": ..., "name": ...}, the name only when there is one. Takes nothing. */
static json_t *address(const char *email, const char *name) {
  json_t *a = json_object();
  bool ok = json_object_set_new(a, "email", json_string(email)) == 0;
  if (name[0] != '\0')
    ok = json_object_set_new(a, "name", display_name(name)) == 0 && ok;
  if (!ok) {
    json_decref(a);
    return NULL;
  }
  return a;
}

static json_t *content(const char *type, const char *value) {
  json_t *c = json_object();
  bool ok = json_object_set_new(c, "type", json_string(type)) == 0;
  ok = json_object_set_new(c, "value", value != NULL ? ct__json_text(value) : NULL) == 0 && ok;
  if (!ok) {
    json_decref(c);
    return NULL;
  }
  return c;
}

/* An address is printable ASCII without spaces (validation checked its syntax; this guards
 * what goes into the request). */
static bool plain_address(const char *s) {
  if (strchr(s, '@') == NULL)
    return false;
  for (const char *p = s; *p != '\0'; p++)
    if (*p <= 0x20 || *p >= 0x7f)
      return false;
  return true;
}

static int email_build(const ct_provider_conf_t *conf, const ct_templates_t *t,
                       const ct_job_t *job, unsigned part, const ct_build_ctx_t *ctx,
                       ct_http_request_t *out, char *err, size_t errcap) {
  if (part != 0)
    return ct__fail(err, errcap, CT_EINVAL, "part %u out of range (an e-mail has 1)", part);
  const ct_recipient_t *r = job->recipient;
  const char *email = r != NULL ? ct__str(r->email) : "";
  if (email[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "recipient.email is missing; email needs it");
  if (!plain_address(email))
    return ct__fail(err, errcap, CT_EINVAL, "recipient.email is not a plain address");
  int rc = ct__check_conf(conf, false, err, errcap);
  if (rc != 0)
    return rc;
  if (!plain_address(conf->sender))
    return ct__fail(err, errcap, CT_EINVAL, "[provider.%s] sender is not an e-mail address",
                    conf->name);
  if (job->kind != CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE || job->invoice == NULL)
    return ct__fail(err, errcap, CT_EINVAL,
                    "email can send invoices only (templates have no email text for "
                    "notifications)");
  if (t == NULL || t->email_subject == NULL || t->email_text == NULL || t->email_html == NULL)
    return ct__fail(err, errcap, CT_EINVAL, "templates lack email_subject, email_text or "
                                            "email_html");

  if (email_needs_document(job, part) && ctx->document == NULL)
    return ct__fail(err, errcap, CT_EINVAL, "the invoice document was not prepared");
  if (ctx->document != NULL && (ctx->document_len + 2) / 3 * 4 > SENDGRID_MAX_MESSAGE - 65536)
    return ct__fail(err, errcap, CT_EINVAL,
                    "document of %zu bytes is over SendGrid's 30 MB message limit once encoded",
                    ctx->document_len);

  /* The texts say what goes with them: a PDF, and whether it has a password. */
  unsigned flags = 0;
  if (ctx->document != NULL) {
    flags |= CT_RENDER_ATTACHED;
    const ct_document_t *doc = job->invoice->document;
    int policy = doc != NULL ? (int)doc->password_policy : 0;
    if (policy != CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_UNSPECIFIED &&
        policy != CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_NONE)
      flags |= CT_RENDER_PROTECTED;
  }
  char *subject = ct_render_with(t->email_subject, job, flags);
  char *text = ct_render_with(t->email_text, job, flags);
  char *html = ct_render_with(t->email_html, job, flags | CT_RENDER_HTML);
  bool ok = subject != NULL && text != NULL && html != NULL;

  json_t *to = json_array();
  ok = json_array_append_new(to, address(email, r->name != NULL ? r->name : "")) == 0 && ok;
  json_t *personalization = json_object();
  ok = json_object_set_new(personalization, "to", to) == 0 && ok;
  json_t *personalizations = json_array();
  ok = json_array_append_new(personalizations, personalization) == 0 && ok;
  json_t *contents = json_array();
  ok = json_array_append_new(contents, content("text/plain", text)) == 0 && ok;
  ok = json_array_append_new(contents, content("text/html", html)) == 0 && ok;

  json_t *root = json_object();
  ok = json_object_set_new(root, "personalizations", personalizations) == 0 && ok;
  ok = json_object_set_new(root, "from", address(conf->sender, conf->sender_name)) == 0 && ok;
  ok = json_object_set_new(root, "subject",
                           subject != NULL ? header_text(subject) : NULL) == 0 &&
       ok;
  ok = json_object_set_new(root, "content", contents) == 0 && ok;
  /* echoed in every event of this mail: values must be strings */
  char part_text[16];
  snprintf(part_text, sizeof part_text, "%u", part);
  json_t *args = json_object();
  ok = json_object_set_new(args, "ct_job", json_string(ct__str(job->id))) == 0 && ok;
  ok = json_object_set_new(args, "ct_part", json_string(part_text)) == 0 && ok;
  ok = json_object_set_new(root, "custom_args", args) == 0 && ok;
  if (ctx->document != NULL) {
    json_t *attachments = json_array();
    ok = json_array_append_new(attachments, attachment(job, ctx)) == 0 && ok;
    ok = json_object_set_new(root, "attachments", attachments) == 0 && ok;
  }
  free(subject);
  free(text);
  free(html);
  if (!ok) {
    json_decref(root);
    return ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  }

  ct__buf_t url = {0};
  ct__buf_base_url(&url, conf->base_url);
  ct__buf_puts(&url, "/v3/mail/send");
  return ct__finish_json_bearer(out, ct__buf_take(&url), root, conf, err, errcap);
}

static void email_classify(const ct_http_response_t *resp, ct_verdict_t *out) {
  if (ct__classify_transport(resp, out))
    return;
  if (resp->status >= 200 && resp->status <= 299) {
    const char *id = resp->message_id;
    ct__classify_accept(resp, id, id != NULL ? strlen(id) : 0, out);
    return;
  }
  /* SendGrid's errors carry no code, and their messages quote the addresses: the status is
   * all that is kept. */
  ct__classify_error(resp, NULL, 0, -1, out);
}

/* ---- webhooks ---- */

/* The account's verification key: base64 DER SubjectPublicKeyInfo of a P-256 key. */
static EVP_PKEY *sendgrid_key(const char *b64) {
  size_t n = strlen(b64), len = 0;
  uint8_t der[512];
  if (n == 0 || n / 4 * 3 > sizeof der || !ct_base64_decode(b64, n, der, &len))
    return NULL;
  const unsigned char *p = der;
  EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);
  char group[64] = "";
  size_t gl = 0;
  if (key != NULL &&
      (!EVP_PKEY_is_a(key, "EC") ||
       EVP_PKEY_get_group_name(key, group, sizeof group, &gl) != 1 ||
       strcmp(group, "prime256v1") != 0)) {
    EVP_PKEY_free(key);
    key = NULL;
  }
  return key;
}

bool ct_webhook_sendgrid_key_ok(const char *b64) {
  EVP_PKEY *key = sendgrid_key(b64);
  EVP_PKEY_free(key);
  return key != NULL;
}

static ct_webhook_check_t email_verify_webhook(const ct_provider_conf_t *conf,
                                               const ct_webhook_request_t *req, int64_t now_ms,
                                               char *challenge, size_t cap) {
  (void)challenge;
  (void)cap;
  if (!req->post)
    return CT_WEBHOOK_METHOD;
  if (conf->webhook_public_key[0] == '\0')
    return CT_WEBHOOK_NOT_CONFIGURED;
  size_t sl, tl;
  const char *sig = ct_webhook_header(req, "x-twilio-email-event-webhook-signature", &sl);
  const char *ts = ct_webhook_header(req, "x-twilio-email-event-webhook-timestamp", &tl);
  if (sig == NULL || ts == NULL)
    return CT_WEBHOOK_UNSIGNED;
  int64_t ts_ms;
  uint8_t der[160];
  size_t dl = 0;
  if (!ct__parse_epoch_s(ts, tl, &ts_ms) || sl == 0 || sl / 4 * 3 > sizeof der ||
      !ct_base64_decode(sig, sl, der, &dl))
    return CT_WEBHOOK_FORGED;
  EVP_PKEY *key = sendgrid_key(conf->webhook_public_key);
  if (key == NULL)
    return CT_WEBHOOK_NOT_CONFIGURED;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  bool ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
            EVP_DigestVerifyUpdate(md, ts, tl) == 1 &&
            EVP_DigestVerifyUpdate(md, req->body, req->body_len) == 1 &&
            EVP_DigestVerifyFinal(md, der, dl) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(key);
  if (!ok)
    return CT_WEBHOOK_FORGED;
  int64_t skew = now_ms - ts_ms;
  if (skew > conf->webhook_tolerance_ms || -skew > conf->webhook_tolerance_ms)
    return CT_WEBHOOK_STALE;
  return CT_WEBHOOK_ACCEPT;
}

static void copy_json(char *dst, size_t cap, json_t *v) {
  if (json_is_string(v))
    ct_event_copy(dst, cap, json_string_value(v), json_string_length(v));
}

/* A usable id or word: a non-empty string without a NUL inside. */
static bool usable(json_t *v) {
  return json_is_string(v) && json_string_length(v) > 0 &&
         strlen(json_string_value(v)) == json_string_length(v);
}

static ct_event_status_t sendgrid_status(const char *event, const char *type) {
  static const struct {
    const char *word;
    ct_event_status_t status;
  } map[] = {{"processed", CT_EVENT_STATUS_ACCEPTED},
             {"deferred", CT_EVENT_STATUS_DEFERRED},
             {"delivered", CT_EVENT_STATUS_DELIVERED},
             {"dropped", CT_EVENT_STATUS_DROPPED},
             {"bounce", CT_EVENT_STATUS_BOUNCE},
             {"spamreport", CT_EVENT_STATUS_SPAMREPORT},
             {"unsubscribe", CT_EVENT_STATUS_UNSUBSCRIBE},
             {"group_unsubscribe", CT_EVENT_STATUS_GROUP_UNSUBSCRIBE},
             {"group_resubscribe", CT_EVENT_STATUS_GROUP_RESUBSCRIBE},
             {"open", CT_EVENT_STATUS_OPEN},
             {"click", CT_EVENT_STATUS_CLICK}};
  if (strcmp(event, "bounce") == 0 && type != NULL && strcmp(type, "blocked") == 0)
    return CT_EVENT_STATUS_BLOCKED;
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(event, map[i].word) == 0)
      return map[i].status;
  return CT_EVENT_STATUS_OTHER;
}

/* One element of the array. False when it lacks an event name or any id. */
static bool sendgrid_event(const ct_provider_conf_t *conf, json_t *ev, int64_t now_ms,
                           ct_event_t *e) {
  json_t *event = json_object_get(ev, "event");
  if (!usable(event))
    return false;
  ct__event_start(e, conf, CT_EVENT_STATUS, now_ms);
  const char *word = json_string_value(event);
  json_t *type = json_object_get(ev, "type");
  e->status = sendgrid_status(word, json_string_value(type));
  copy_json(e->provider_status, sizeof e->provider_status, event);
  json_t *mid = json_object_get(ev, "sg_message_id");
  if (json_is_string(mid)) {
    /* "<X-Message-Id>.filter..." : the part carteiro's receipt has */
    const char *m = json_string_value(mid);
    const char *f = strstr(m, ".filter");
    ct_event_copy(e->message_id, sizeof e->message_id, m,
                  f != NULL ? (size_t)(f - m) : json_string_length(mid));
  }
  json_t *ts = json_object_get(ev, "timestamp");
  if (json_is_integer(ts) && json_integer_value(ts) > 0 &&
      json_integer_value(ts) < INT64_C(100000000000))
    e->at_ms = (int64_t)json_integer_value(ts) * 1000;
  copy_json(e->to, sizeof e->to, json_object_get(ev, "email"));
  /* a bounce's SMTP status and type; a dropped mail's reason (a fixed phrase such as
   * "Bounced Address"). A bounce's `reason` is the receiving server's text, which quotes the
   * address: never kept. */
  copy_json(e->error_code, sizeof e->error_code, json_object_get(ev, "status"));
  if (e->status == CT_EVENT_STATUS_BOUNCE || e->status == CT_EVENT_STATUS_BLOCKED)
    copy_json(e->error_title, sizeof e->error_title, type);
  json_t *reason = json_object_get(ev, "reason");
  if (e->status == CT_EVENT_STATUS_DROPPED && json_is_string(reason) &&
      strchr(json_string_value(reason), '@') == NULL)
    copy_json(e->error_title, sizeof e->error_title, reason);
  json_t *job = json_object_get(ev, "ct_job"), *part = json_object_get(ev, "ct_part");
  if (json_is_string(job) && json_string_length(job) > 0 &&
      json_string_length(job) < sizeof e->job_id && json_is_string(part)) {
    char *end = NULL;
    unsigned long pv = strtoul(json_string_value(part), &end, 10);
    const char *pt = json_string_value(part);
    if (pt[0] >= '0' && pt[0] <= '9' && *end == '\0' && pv <= 1000000) {
      copy_json(e->job_id, sizeof e->job_id, job);
      e->part = (uint32_t)pv;
    }
  }
  json_t *eid = json_object_get(ev, "sg_event_id");
  if (usable(eid)) {
    const char *parts[] = {"sg:", json_string_value(eid)};
    ct_event_set_id(e, parts, 2);
  } else if (e->message_id[0] != '\0') {
    /* no event id (hand-made test events): the message, the event and its second */
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)(e->at_ms / 1000));
    const char *parts[] = {"sg:m:", e->message_id, ":", word, ":", t};
    ct_event_set_id(e, parts, 6);
  }
  return e->event_id[0] != '\0';
}

static int email_parse_webhook(const ct_provider_conf_t *conf, const ct_webhook_request_t *req,
                               int64_t now_ms, ct_event_list_t *out, size_t *skipped, char *err,
                               size_t errcap) {
  json_error_t je;
  json_t *root = json_loadb((const char *)req->body, req->body_len, 0, &je);
  if (!json_is_array(root)) {
    bool json = root != NULL;
    json_decref(root);
    if (json)
      return ct__fail(err, errcap, CT_EDECODE, "body is JSON but not an array");
    /* line and column only: jansson's text may quote the body */
    return ct__fail(err, errcap, CT_EDECODE, "body is not JSON (line %d, column %d)", je.line,
                    je.column);
  }
  int rc = 0;
  size_t i;
  json_t *ev;
  json_array_foreach(root, i, ev) {
    ct_event_t *e;
    rc = ct_event_list_add(out, &e);
    if (rc != 0)
      break;
    if (!sendgrid_event(conf, ev, now_ms, e)) {
      ct_event_list_pop(out);
      (*skipped)++;
    }
  }
  json_decref(root);
  if (rc == CT_ETOOBIG)
    ct__fail(err, errcap, rc, "more than %d events in one request", CT_EVENT_BATCH_MAX);
  else if (rc == CT_ENOMEM)
    ct__fail(err, errcap, rc, "out of memory");
  return rc;
}

const ct_provider_t ct_provider_email = {
    .name = "email",
    .channel = CT_CHANNEL_EMAIL,
    .parts = email_parts,
    .needs_document = email_needs_document,
    .build = email_build,
    .classify = email_classify,
    .verify_webhook = email_verify_webhook,
    .parse_webhook = email_parse_webhook,
    .webhook_ok_body = "",
    .webhook_ok_type = "text/plain; charset=utf-8",
};
