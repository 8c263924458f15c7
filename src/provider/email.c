/* E-mail adapter, SendGrid v3 mail/send.
 *
 * Request: POST {base_url}/v3/mail/send, "Authorization: Bearer <API key>", JSON with one
 * personalization (the recipient), from, subject, and the text and HTML bodies rendered from
 * the locale's templates (text/plain first: SendGrid requires that order), and the invoice PDF
 * — already password-protected by the worker — as a base64 attachment "fatura-<number>.pdf".
 * SendGrid refuses messages over 30 MB in all, so a larger one is refused here, before it is
 * sent, as a permanent failure of the e-mail channel.
 *
 * Answer: 202 with the message id in the X-Message-Id header (resp->message_id) and an empty
 * body; errors are {"errors":[{"message":"...","field":"..."}]} without a numeric code, so the
 * HTTP status decides (400 and 413 permanent, 401/403 auth, 429 throttled, 5xx transient).
 */
#include "provider/provider_int.h"

#include "common/base64.h"
#include "common/error.h"

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

/* {"email": ..., "name": ...}, the name only when there is one. Takes nothing. */
static json_t *address(const char *email, const char *name) {
  json_t *a = json_object();
  bool ok = json_object_set_new(a, "email", json_string(email)) == 0;
  if (name[0] != '\0')
    ok = json_object_set_new(a, "name", header_text(name)) == 0 && ok;
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

const ct_provider_t ct_provider_email = {
    .name = "email",
    .channel = CT_CHANNEL_EMAIL,
    .parts = email_parts,
    .needs_document = email_needs_document,
    .build = email_build,
    .classify = email_classify,
};
