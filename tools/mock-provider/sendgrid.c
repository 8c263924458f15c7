/* SendGrid v3 mail/send: POST /v3/mail/send, Authorization: Bearer <API key>, JSON body.
 *
 * SendGrid validates the whole body and answers every problem at once:
 * {"errors":[{"message","field","help"}...]} with 400. Success is 202 with an empty body and
 * the id in X-Message-Id. Bodies over 30 MiB get the 413 that SendGrid's nginx front answers,
 * an HTML page, not JSON (sendgrid-nodejs issue #370): a client must not assume JSON errors.
 * SendGrid reports bounces later, by webhook; the mock answers a permanent recipient rule at
 * once with the invalid-address error so that the client's permanent-failure path runs.
 *
 * Message key: for every personalization, its "to" addresses (lower case) and its subject
 * (the personalization's own, else the message's).
 *
 * Attachments are decoded and hashed as they are validated: their SHA-256 and size go to the
 * record's summary (and the first one's hash to the record's sha256), and a message answered
 * 202 leaves its attachments in the file store under "<X-Message-Id>/<index>".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "mock.h"

#define SENDGRID_MAX_BODY ((size_t)30 << 20)
#define MAX_ERRORS 16

/* One decoded attachment, in the request's pool until sg_accept() hands it to the store. */
typedef struct {
  const unsigned char *data;
  size_t len;
  const char *type;     /* the Content-Type served back: its type, or octet-stream */
  const char *filename; /* as sent, or empty */
  char sha256[65];
} sg_attachment_t;

typedef struct {
  char rejected_field[64];
  sg_attachment_t *atts;
  size_t natts;
} sg_priv_t;

typedef struct {
  json_t *errors;
} errs_t;

static void add_error(errs_t *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_error(errs_t *e, const char *field, const char *fmt, ...)
{
  if (json_array_size(e->errors) >= MAX_ERRORS)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  json_t *err = json_pack("{s:s, s:o, s:n}", "message", msg, "field",
                          field != NULL ? json_string(field) : json_null(), "help");
  if (err != NULL)
    json_array_append_new(e->errors, err);
}

static void reply_errors(mock_call_t *call, int status, json_t *errors)
{
  call->error_code = status;
  mock_reply_json(call, status, mock_reason(status), json_pack("{s:o}", "errors", errors));
}

static void one_error(mock_call_t *call, int status, const char *field, const char *message)
{
  errs_t e = {json_array()};
  add_error(&e, field, "%s", message);
  reply_errors(call, status, e.errors);
}

static bool sg_authenticate(mock_call_t *call)
{
  h2o_iovec_t key;
  if (!mock_bearer(mock_header(call->req, H2O_TOKEN_AUTHORIZATION), &key)) {
    one_error(call, 401, NULL, "authorization required");
    return false;
  }
  for (size_t i = 0; i < call->pc->ncreds; i++)
    if (strlen(call->pc->creds[i]) == key.len &&
        memcmp(call->pc->creds[i], key.base, key.len) == 0 && !call->pc->revoked)
      return true;
  one_error(call, 401, NULL, "The provided authorization grant is invalid, expired, or revoked");
  return false;
}

/* Checks one address list (to, cc or bcc) of personalization `pi`. Appends the lower-cased
 * addresses to seen[] (for the uniqueness check) and returns how many there were. */
static size_t check_addresses(mock_call_t *call, errs_t *e, json_t *list, size_t pi,
                              const char *kind, char (*seen)[256], size_t *nseen, size_t cap,
                              uint64_t *key)
{
  size_t i;
  json_t *a;
  char field[96];
  json_array_foreach(list, i, a)
  {
    snprintf(field, sizeof(field), "personalizations.%zu.%s.%zu.email", pi, kind, i);
    const char *email = json_string_value(json_object_get(a, "email"));
    if (!json_is_object(a) || email == NULL) {
      add_error(e, field, "The %s email parameter is required.", kind);
      continue;
    }
    if (!mock_email_valid(email, strlen(email))) {
      add_error(e, field, "Does not contain a valid address.");
      continue;
    }
    /* SendGrid splits a display name at ',' and ';' as if it were a list of addresses (its
     * docs limit to/cc/bcc names accordingly); its own libraries send such a name quoted */
    const char *name = json_string_value(json_object_get(a, "name"));
    size_t nl = name != NULL ? strlen(name) : 0;
    bool quoted = nl >= 2 && name[0] == '"' && name[nl - 1] == '"';
    if (name != NULL && !quoted && strpbrk(name, ",;") != NULL) {
      snprintf(field, sizeof(field), "personalizations.%zu.%s.%zu.name", pi, kind, i);
      add_error(e, field, "The %s name cannot contain ';' or ',' unless it is quoted.", kind);
      continue;
    }
    char norm[256];
    mock_email_norm(email, strlen(email), norm, sizeof(norm));
    for (size_t k = 0; k < *nseen; k++)
      if (strcmp(seen[k], norm) == 0) {
        snprintf(field, sizeof(field), "personalizations.%zu", pi);
        add_error(e, field,
                  "Each email address in the personalization block should be unique between "
                  "to, cc, and bcc. We found the first duplicate instance of [%.64s] in the "
                  "personalizations.%zu.%s field.",
                  norm, pi, kind);
        break;
      }
    if (*nseen < cap)
      memcpy(seen[(*nseen)++], norm, sizeof(norm));
    if (call->recipient[0] == '\0')
      mock_copy(call->recipient, sizeof(call->recipient), norm, strlen(norm));
    sg_priv_t *priv = call->priv;
    if (!call->rejected && mock_rule_match(call->pc, norm)) {
      call->rejected = true;
      mock_copy(priv->rejected_field, sizeof(priv->rejected_field), field, strlen(field));
    }
    if (strcmp(kind, "to") == 0)
      *key = mock_hash_field(*key, norm, strlen(norm));
  }
  return json_array_size(list);
}

static void check_personalizations(mock_call_t *call, errs_t *e, json_t *root, uint64_t *key,
                                   bool *all_have_subject)
{
  json_t *ps = json_object_get(root, "personalizations");
  const char *subject = json_string_value(json_object_get(root, "subject"));
  *all_have_subject = true;
  if (!json_is_array(ps) || json_array_size(ps) == 0) {
    add_error(e, "personalizations",
              "The personalizations field is required and must have at least one "
              "personalization.");
    *all_have_subject = false;
    return;
  }
  if (json_array_size(ps) > 1000) {
    add_error(e, "personalizations",
              "The personalizations field must have no more than 1000 personalizations.");
    return;
  }
  /* per-personalization uniqueness needs the addresses seen so far in that block only */
  static char seen[1000][256];
  size_t total = 0, pi;
  json_t *p;
  json_array_foreach(ps, pi, p)
  {
    char field[64];
    snprintf(field, sizeof(field), "personalizations.%zu", pi);
    if (!json_is_object(p)) {
      add_error(e, field, "Invalid type. Expected: object, given: %s.",
                json_is_null(p) ? "null" : json_is_string(p) ? "string" : "other");
      *all_have_subject = false;
      continue;
    }
    json_t *to = json_object_get(p, "to");
    if (!json_is_array(to) || json_array_size(to) == 0) {
      snprintf(field, sizeof(field), "personalizations.%zu.to", pi);
      add_error(e, field,
                "The to array is required for all personalization objects, and must have at "
                "least one email object with a valid email address.");
    }
    size_t nseen = 0;
    total += check_addresses(call, e, to, pi, "to", seen, &nseen, 1000, key);
    total += check_addresses(call, e, json_object_get(p, "cc"), pi, "cc", seen, &nseen, 1000,
                             key);
    total += check_addresses(call, e, json_object_get(p, "bcc"), pi, "bcc", seen, &nseen, 1000,
                             key);
    const char *psubject = json_string_value(json_object_get(p, "subject"));
    if (psubject == NULL || psubject[0] == '\0')
      *all_have_subject = false;
    const char *eff = psubject != NULL && psubject[0] != '\0' ? psubject : subject;
    if (eff != NULL)
      *key = mock_hash_field(*key, eff, strlen(eff));
  }
  if (total > 1000)
    add_error(e, "personalizations",
              "The total number of recipients must be less than 1000. This includes all "
              "recipients defined within the to, cc, and bcc parameters, across each object "
              "that you include in the personalizations array.");
}

static void check_content(errs_t *e, json_t *root, bool has_template, json_t *detail)
{
  json_t *content = json_object_get(root, "content");
  json_t *types = json_array();
  json_object_set_new(detail, "content_types", types);
  if (content == NULL || (json_is_array(content) && json_array_size(content) == 0)) {
    if (!has_template)
      add_error(e, "content",
                "Unless a valid template_id is provided, the content parameter is required. "
                "There must be at least one defined content block. We typically suggest both "
                "text/plain and text/html blocks are included, but only one block is "
                "required.");
    return;
  }
  if (!json_is_array(content)) {
    add_error(e, "content", "Invalid type. Expected: array.");
    return;
  }
  const char *first = json_string_value(json_object_get(json_array_get(content, 0), "type"));
  bool first_is_plain = first != NULL && strcmp(first, "text/plain") == 0;
  size_t i;
  json_t *c;
  json_array_foreach(content, i, c)
  {
    char field[48];
    const char *type = json_string_value(json_object_get(c, "type"));
    json_t *value = json_object_get(c, "value");
    snprintf(field, sizeof(field), "content.%zu.type", i);
    if (type == NULL || type[0] == '\0' || strchr(type, '/') == NULL) {
      add_error(e, field, "The content type must be a string at least one character in length.");
      continue;
    }
    json_array_append_new(types, json_string(type));
    snprintf(field, sizeof(field), "content.%zu.value", i);
    if (!json_is_string(value) || json_string_length(value) == 0)
      add_error(e, field, "The content value must be a string at least one character in length.");
    /* text/plain first, then text/html, then anything else */
    bool plain = strcmp(type, "text/plain") == 0, html = strcmp(type, "text/html") == 0;
    bool html_ok = i == 0 || (i == 1 && first_is_plain);
    if ((plain && i != 0) || (html && !html_ok)) {
      snprintf(field, sizeof(field), "content.%zu.type", i);
      add_error(e, field, "If present, text/plain and text/html may only be provided in order, "
                          "followed by any other content.");
    }
  }
}

/* The attachment's type when it can be sent back as a Content-Type header as it is. */
static const char *served_type(const char *type)
{
  size_t n = type != NULL ? strlen(type) : 0;
  bool ok = n > 2 && n < MOCK_TYPE_LEN && strchr(type, '/') != NULL;
  for (size_t i = 0; ok && i < n; i++)
    ok = type[i] >= 0x20 && type[i] < 0x7f;
  return ok ? type : "application/octet-stream";
}

/* Decodes a valid base64 attachment into the pool and hashes it. False when it cannot. */
static bool decode_attachment(h2o_mem_pool_t *pool, const char *content, size_t bytes,
                              sg_attachment_t *out)
{
  unsigned char *data = h2o_mem_alloc_pool(pool, bytes > 0 ? bytes : 1);
  ssize_t n = mock_base64_decode(content, strlen(content), data, bytes);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (n < 0 || EVP_Digest(data, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1)
    return false;
  h2o_hex_encode(out->sha256, md, 32);
  out->data = data;
  out->len = (size_t)n;
  return true;
}

static void check_attachments(mock_call_t *call, errs_t *e, json_t *root, json_t *detail)
{
  json_t *atts = json_object_get(root, "attachments");
  if (atts == NULL)
    return;
  if (!json_is_array(atts)) {
    add_error(e, "attachments", "Invalid type. Expected: array.");
    return;
  }
  json_t *summary = json_array();
  json_object_set_new(detail, "attachments", summary);
  sg_priv_t *priv = call->priv;
  h2o_mem_pool_t *pool = &call->req->pool;
  priv->atts = h2o_mem_alloc_pool(pool, sizeof(*priv->atts) * (json_array_size(atts) + 1));
  size_t i;
  json_t *a;
  json_array_foreach(atts, i, a)
  {
    char field[48];
    const char *content = json_string_value(json_object_get(a, "content"));
    const char *filename = json_string_value(json_object_get(a, "filename"));
    const char *type = json_string_value(json_object_get(a, "type"));
    const char *disposition = json_string_value(json_object_get(a, "disposition"));
    size_t bytes = 0;
    bool decodable = false;
    snprintf(field, sizeof(field), "attachments.%zu.content", i);
    if (content == NULL || content[0] == '\0')
      add_error(e, field, "The attachment content is required.");
    else if (!mock_base64_valid(content, strlen(content), &bytes))
      add_error(e, field, "The attachment content must be base64 encoded.");
    else
      decodable = true;
    snprintf(field, sizeof(field), "attachments.%zu.filename", i);
    if (filename == NULL || filename[0] == '\0')
      add_error(e, field, "The attachment filename parameter is required.");
    snprintf(field, sizeof(field), "attachments.%zu.disposition", i);
    if (disposition != NULL && strcmp(disposition, "inline") != 0 &&
        strcmp(disposition, "attachment") != 0)
      add_error(e, field,
                "The disposition of your attachment can be either \"inline\" or \"attachment\".");
    if (disposition != NULL && strcmp(disposition, "inline") == 0 &&
        json_string_value(json_object_get(a, "content_id")) == NULL) {
      snprintf(field, sizeof(field), "attachments.%zu.content_id", i);
      add_error(e, field, "The content_id parameter is required if your attachment disposition "
                          "is inline.");
    }
    json_t *s = json_pack("{s:s?, s:s?, s:I}", "filename", filename, "type", type, "bytes",
                          (json_int_t)bytes);
    /* only valid content is decoded; an invalid one fails the request anyway */
    sg_attachment_t *att = &priv->atts[priv->natts];
    if (decodable && decode_attachment(pool, content, bytes, att)) {
      att->type = h2o_strdup(pool, served_type(type), SIZE_MAX).base;
      att->filename = h2o_strdup(pool, filename != NULL ? filename : "", SIZE_MAX).base;
      if (priv->natts == 0)
        memcpy(call->sha256, att->sha256, sizeof(call->sha256));
      priv->natts++;
      if (s != NULL)
        json_object_set_new(s, "sha256", json_string(att->sha256));
    }
    if (s != NULL)
      json_array_append_new(summary, s);
  }
}

static bool sg_validate(mock_call_t *call)
{
  h2o_iovec_t body = call->req->entity;
  if (body.base == NULL)
    body = h2o_iovec_init("", 0);
  if (body.len > SENDGRID_MAX_BODY) {
    /* what SendGrid's nginx answers, verbatim in shape */
    static const char page[] = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>"
                               "\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1>"
                               "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    call->status = 413;
    call->reason = "Request Entity Too Large";
    call->content_type = "text/html";
    call->body = h2o_iovec_init(page, sizeof(page) - 1);
    call->error_code = 413;
    call->outcome = MOCK_OUT_TOO_LARGE;
    return false;
  }
  json_error_t je;
  json_t *root = json_loadb(body.base, body.len, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL || !json_is_object(root)) {
    json_decref(root);
    one_error(call, 400, NULL, "Bad Request");
    return false;
  }
  sg_priv_t *priv = h2o_mem_alloc_pool(&call->req->pool, sizeof(*priv));
  memset(priv, 0, sizeof(*priv));
  call->priv = priv;
  errs_t e = {json_array()};
  json_t *detail = json_object();
  uint64_t key = MOCK_HASH_INIT;
  bool all_have_subject;

  check_personalizations(call, &e, root, &key, &all_have_subject);

  json_t *from = json_object_get(root, "from");
  const char *from_email = json_string_value(json_object_get(from, "email"));
  if (!json_is_object(from) || from_email == NULL)
    add_error(&e, "from",
              "The from object must be provided for every email send. It is an object that "
              "requires the email parameter, but may also contain a name parameter.");
  else if (!mock_email_valid(from_email, strlen(from_email)))
    add_error(&e, "from.email", "The from email does not contain a valid address.");
  json_t *reply_to = json_object_get(root, "reply_to");
  const char *reply_email = json_string_value(json_object_get(reply_to, "email"));
  if (reply_to != NULL && (reply_email == NULL || !mock_email_valid(reply_email, strlen(reply_email))))
    add_error(&e, "reply_to.email", "The reply_to email does not contain a valid address.");

  json_t *tid = json_object_get(root, "template_id");
  bool has_template = json_is_string(tid) && json_string_length(tid) > 0;
  json_t *subject = json_object_get(root, "subject");
  if (subject != NULL && (!json_is_string(subject) || json_string_length(subject) == 0))
    add_error(&e, "subject", "The subject must be a string at least one character in length.");
  else if (subject == NULL && !all_have_subject && !has_template)
    add_error(&e, "subject",
              "The subject is required. You can get around this requirement if you use a "
              "template with a subject defined or if every personalization has a subject "
              "defined.");

  check_content(&e, root, has_template, detail);
  check_attachments(call, &e, root, detail);

  bool ok = json_array_size(e.errors) == 0;
  if (!ok) {
    reply_errors(call, 400, e.errors);
  } else {
    json_decref(e.errors);
    call->key = key;
    /* custom_args (the message's, else the first personalization's) ride on its events */
    json_t *args = json_object_get(root, "custom_args");
    if (!json_is_object(args))
      args = json_object_get(json_array_get(json_object_get(root, "personalizations"), 0),
                             "custom_args");
    if (json_is_object(args)) {
      char *text = json_dumps(args, JSON_COMPACT);
      if (text != NULL) {
        call->cb_data = h2o_strdup(&call->req->pool, text, strlen(text));
        free(text);
      }
    }
    json_object_set_new(detail, "from", from_email != NULL ? json_string(from_email) : json_null());
    json_object_set(detail, "subject", subject != NULL ? subject : json_null());
    json_object_set_new(detail, "to", json_string(call->recipient));
    json_object_set_new(detail, "personalizations",
                        json_integer((json_int_t)json_array_size(
                            json_object_get(root, "personalizations"))));
    if (has_template)
      json_object_set(detail, "template_id", tid);
    mock_set_detail(call, detail);
  }
  json_decref(detail);
  json_decref(root);
  return ok;
}

static void sg_fail(mock_call_t *call, mock_outcome_t why, bool pair)
{
  (void)pair;
  sg_priv_t *priv = call->priv;
  char retry[16], reset[24];
  switch (why) {
  case MOCK_OUT_REJECTED:
    one_error(call, 400, priv->rejected_field, "Does not contain a valid address.");
    return;
  case MOCK_OUT_RATE_LIMITED:
    snprintf(retry, sizeof(retry), "%u", call->pc->retry_after_s);
    snprintf(reset, sizeof(reset), "%lld", (long long)time(NULL) + call->pc->retry_after_s);
    mock_call_header(call, "retry-after", retry);
    mock_call_header(call, "x-ratelimit-limit", "600");
    mock_call_header(call, "x-ratelimit-remaining", "0");
    mock_call_header(call, "x-ratelimit-reset", reset);
    one_error(call, 429, NULL, "too many requests");
    return;
  default:
    one_error(call, call->pc->server_error_status, NULL, "internal server error");
    return;
  }
}

static void sg_accept(mock_call_t *call)
{
  sg_priv_t *priv = call->priv;
  mock_t *m = call->m;
  mock_new_id(m, MOCK_ID_SENDGRID, call->msg_id, sizeof(call->msg_id));
  mock_call_header(call, "x-message-id", call->msg_id);
  /* validation passed, so every attachment was decoded: index i is attachment i */
  for (size_t i = 0; i < priv->natts; i++) {
    const sg_attachment_t *a = &priv->atts[i];
    mock_file_info_t info;
    memset(&info, 0, sizeof(info));
    snprintf(info.key, sizeof(info.key), "%s/%zu", call->msg_id, i);
    mock_copy(info.account, sizeof(info.account), call->account, strlen(call->account));
    mock_copy(info.type, sizeof(info.type), a->type, strlen(a->type));
    mock_copy_utf8(info.filename, sizeof(info.filename), a->filename, strlen(a->filename));
    memcpy(info.sha256, a->sha256, sizeof(info.sha256));
    mock_store_put(m->store, &info, a->data, a->len, m->conf.keep_files, m->conf.keep_bytes);
  }
  call->status = 202;
  call->reason = "Accepted";
  call->body = h2o_iovec_init(NULL, 0);
}

const mock_endpoint_t mock_sendgrid_mail = {
    MOCK_EP_SENDGRID_MAIL, MOCK_PROV_SENDGRID, sg_authenticate, sg_validate, sg_fail, sg_accept,
};
