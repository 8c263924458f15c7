/* WhatsApp Cloud API (Graph API): POST /{version}/{phone_number_id}/messages and /media.
 *
 * Errors use the Graph shape {"error":{"message","type","code","error_subcode"?,
 * "error_data":{"messaging_product","details"}?,"fbtrace_id"}}, with the codes the Cloud API
 * documents: 190 bad or revoked token (401), 100 invalid parameter (400), 33 unknown object,
 * 131026 undeliverable (permanent recipient rule), 130429 throughput and 131056 pair rate
 * limits (429 + Retry-After), 131000 unknown error (5xx), 131053 media upload error (also for
 * a message naming a media id that was never uploaded here), 132000/132001/132012/132018
 * template errors.
 *
 * Media. Every upload answered 200 gets an id from its own counter, so the mock knows every
 * id it issued without a table; the file itself goes to the bounded store (store.c), from
 * which GET /{version}/{media_id} (the Cloud API's "retrieve media URL") and the URL it
 * returns serve it back to tests. A message naming an issued id whose file was since evicted
 * is still accepted, as the real API keeps media for 30 days; its record then lacks the
 * document's SHA-256.
 *
 * Message key: digits of "to" + the message type + what the customer reads: the template
 * name and its body parameters, the text body, or the document link/id and filename.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "mock.h"

typedef struct {
  char input[64];   /* "to" as the client wrote it: the reply quotes it */
  char wa_id[20];
  bool is_template;
} wa_priv_t;

/* ---- replies ---- */

static void graph_error(mock_call_t *call, int status, int code, int subcode, const char *type,
                        const char *message, const char *details)
{
  char trace[40];
  mock_new_id(call->m, MOCK_ID_TRACE, trace, sizeof(trace));
  json_t *err = json_pack("{s:s, s:s, s:i}", "message", message, "type", type, "code", code);
  if (err == NULL)
    err = json_pack("{s:s, s:s, s:i}", "message", "(#100) Invalid parameter", "type", type,
                    "code", code);
  if (subcode != 0)
    json_object_set_new(err, "error_subcode", json_integer(subcode));
  if (details != NULL) {
    json_t *data = json_pack("{s:s, s:s}", "messaging_product", "whatsapp", "details", details);
    if (data != NULL)
      json_object_set_new(err, "error_data", data);
  }
  json_object_set_new(err, "fbtrace_id", json_string(trace));
  call->error_code = code;
  mock_reply_json(call, status, mock_reason(status), json_pack("{s:o}", "error", err));
}

/* A 400/100 "(#100) ..." error; always returns false so validators can `return bad(...)`. */
static bool bad(mock_call_t *call, const char *details, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool bad(mock_call_t *call, const char *details, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  graph_error(call, 400, 100, 0, "OAuthException", msg, details);
  return false;
}

static bool template_error(mock_call_t *call, int status, int code, const char *title,
                           const char *details)
{
  char msg[256];
  snprintf(msg, sizeof(msg), "(#%d) %s", code, title);
  graph_error(call, status, code, 0, "OAuthException", msg, details);
  return false;
}

static bool wa_authenticate(mock_call_t *call)
{
  h2o_iovec_t token;
  if (!mock_bearer(mock_header(call->req, H2O_TOKEN_AUTHORIZATION), &token)) {
    mock_call_header(call, "www-authenticate",
                     "OAuth \"Facebook Platform\" \"invalid_token\" \"Invalid OAuth access "
                     "token - Cannot parse access token\"");
    graph_error(call, 401, 190, 0, "OAuthException",
                "Invalid OAuth access token - Cannot parse access token", NULL);
    return false;
  }
  for (size_t i = 0; i < call->pc->ncreds; i++) {
    const char *c = call->pc->creds[i];
    if (strlen(c) != token.len || memcmp(c, token.base, token.len) != 0)
      continue;
    if (call->pc->revoked) {
      graph_error(call, 401, 190, 460, "OAuthException",
                  "Error validating access token: The session has been invalidated because "
                  "the user changed their password or Facebook has changed the session for "
                  "security reasons.",
                  NULL);
      return false;
    }
    return true;
  }
  mock_call_header(call, "www-authenticate",
                   "OAuth \"Facebook Platform\" \"invalid_token\" \"Invalid OAuth access token "
                   "- Cannot parse access token\"");
  graph_error(call, 401, 190, 0, "OAuthException",
              "Invalid OAuth access token - Cannot parse access token", NULL);
  return false;
}

/* The phone_number_id of the path: Graph answers unknown objects with code 100/33. */
static bool check_object(mock_call_t *call)
{
  size_t n = strlen(call->account);
  if (n > 0 && n <= 20 && strspn(call->account, "0123456789") == n)
    return true;
  char msg[400];
  snprintf(msg, sizeof(msg),
           "Unsupported post request. Object with ID '%.40s' does not exist, cannot be loaded "
           "due to missing permissions, or does not support this operation. Please read the "
           "Graph API documentation at https://developers.facebook.com/docs/graph-api",
           call->account);
  graph_error(call, 400, 100, 33, "GraphMethodException", msg, NULL);
  return false;
}

/* ---- /messages validation ---- */

static bool language_code(const char *s)
{
  size_t n = strlen(s), i = 0;
  while (i < n && s[i] >= 'a' && s[i] <= 'z')
    i++;
  if (i < 2 || i > 3)
    return false;
  if (i == n)
    return true;
  return n == i + 3 && s[i] == '_' && s[i + 1] >= 'A' && s[i + 1] <= 'Z' && s[i + 2] >= 'A' &&
         s[i + 2] <= 'Z';
}

static bool is_http_url(const char *s)
{
  return (strncmp(s, "https://", 8) == 0 && s[8] != '\0') ||
         (strncmp(s, "http://", 7) == 0 && s[7] != '\0');
}

static bool media_error(mock_call_t *call, const char *details)
{
  graph_error(call, 400, 131053, 0, "OAuthException", "(#131053) Media upload error", details);
  return false;
}

/* {"link": url} or {"id": media id}, exactly one; optional filename/caption strings. An id
 * must be one this mock issued. A document's id, SHA-256 and file name go to the record. */
static bool check_media_object(mock_call_t *call, json_t *media, const char *where,
                               bool document, uint64_t *key)
{
  if (!json_is_object(media))
    return bad(call, NULL, "(#100) Param %s must be a JSON object", where);
  json_t *link = json_object_get(media, "link");
  json_t *id = json_object_get(media, "id");
  json_t *filename = json_object_get(media, "filename");
  if ((link == NULL) == (id == NULL))
    return bad(call, "Either link or id must be provided, not both", "(#100) Invalid parameter");
  if (link != NULL && (!json_is_string(link) || !is_http_url(json_string_value(link))))
    return bad(call, NULL, "(#100) Param %s['link'] is not a valid URI", where);
  if (id != NULL) {
    const char *s = json_is_string(id) ? json_string_value(id) : "";
    size_t n = strlen(s);
    if (n == 0 || strspn(s, "0123456789") != n)
      return bad(call, NULL, "(#100) Param %s['id'] must be a valid media id", where);
    /* Meta's Cloud API error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/
     * error-codes) give media a message cannot use 131053 "Media upload error" (400), and
     * media headers of templates are reported failing with it (fazer-ai/chatwoot#349 and
     * #363). The real API may report it later, in a "failed" status webhook; the mock has no
     * webhooks, so it answers at once, as it does for SendGrid bounces. */
    if (!mock_media_id_issued(call->m, s, n)) {
      char details[256];
      snprintf(details, sizeof(details),
               "%s['id'] %.24s: no media with this id was uploaded", where, s);
      return media_error(call, details);
    }
  }
  if (filename != NULL && (!json_is_string(filename) || json_string_length(filename) == 0 ||
                           json_string_length(filename) > 240))
    return bad(call, NULL, "(#100) Param %s['filename'] must be a non-empty string", where);
  if (document) {
    const mock_file_t *f = NULL;
    if (id != NULL) {
      mock_copy(call->doc_id, sizeof(call->doc_id), json_string_value(id), json_string_length(id));
      f = mock_store_get(call->m->store, call->doc_id);
    }
    if (f != NULL) {
      memcpy(call->doc_sha256, f->info.sha256, sizeof(call->doc_sha256));
      memcpy(call->sha256, f->info.sha256, sizeof(call->sha256));
    }
    /* the name the recipient sees: the message's own, else the one it was uploaded with */
    if (filename != NULL)
      mock_copy_utf8(call->doc_filename, sizeof(call->doc_filename),
                     json_string_value(filename), json_string_length(filename));
    else if (f != NULL)
      mock_copy_utf8(call->doc_filename, sizeof(call->doc_filename), f->info.filename,
                     strlen(f->info.filename));
  }
  json_t *src = link != NULL ? link : id;
  *key = mock_hash_field(*key, json_string_value(src), json_string_length(src));
  if (filename != NULL)
    *key = mock_hash_field(*key, json_string_value(filename), json_string_length(filename));
  return true;
}

/* Template parameter text may not carry newlines, tabs or more than 4 consecutive spaces. */
static bool template_text_ok(const char *s)
{
  int spaces = 0;
  for (; *s != '\0'; s++) {
    if (*s == '\n' || *s == '\t' || *s == '\r')
      return false;
    spaces = *s == ' ' ? spaces + 1 : 0;
    if (spaces > 4)
      return false;
  }
  return true;
}

typedef struct {
  mock_header_kind_t header;
  int body_params;
} tpl_shape_t;

static bool check_parameter(mock_call_t *call, json_t *p, const char *comp, size_t ci,
                            size_t pi, uint64_t *key, tpl_shape_t *shape)
{
  char where[96];
  snprintf(where, sizeof(where), "template['components'][%zu]['parameters'][%zu]", ci, pi);
  const char *type = json_string_value(json_object_get(p, "type"));
  if (!json_is_object(p) || type == NULL)
    return bad(call, NULL, "(#100) The parameter %s['type'] is required.", where);
  bool is_header = strcmp(comp, "header") == 0, is_body = strcmp(comp, "body") == 0;

  if (strcmp(type, "text") == 0) {
    json_t *t = json_object_get(p, "text");
    size_t limit = is_header ? 60 : 32768;
    if (!json_is_string(t) || json_string_length(t) == 0)
      return bad(call, NULL, "(#100) The parameter %s['text'] is required.", where);
    if (mock_utf8_len(json_string_value(t), json_string_length(t)) > limit)
      return bad(call, NULL, "(#100) Param %s['text'] must be at most %zu characters long.",
                 where, limit);
    if (!is_header && !template_text_ok(json_string_value(t)))
      return template_error(call, 400, 132018,
                            "There was an issue with the parameters in your template.",
                            "Param text cannot have new-line/tab characters or more than 4 "
                            "consecutive spaces");
    if (is_body)
      *key = mock_hash_field(*key, json_string_value(t), json_string_length(t));
    if (is_header)
      shape->header = MOCK_HDR_TEXT;
  } else if (is_body && strcmp(type, "currency") == 0) {
    const char *fallback, *code;
    json_int_t amount;
    if (json_unpack(json_object_get(p, "currency"), "{s:s, s:s, s:I}", "fallback_value",
                    &fallback, "code", &code, "amount_1000", &amount) != 0 ||
        strlen(code) != 3)
      return bad(call, NULL,
                 "(#100) Param %s['currency'] needs fallback_value, code (ISO 4217) and "
                 "amount_1000",
                 where);
    *key = mock_hash_field(*key, fallback, strlen(fallback));
  } else if (is_body && strcmp(type, "date_time") == 0) {
    const char *fallback;
    if (json_unpack(json_object_get(p, "date_time"), "{s:s}", "fallback_value", &fallback) != 0)
      return bad(call, NULL, "(#100) Param %s['date_time'] needs fallback_value", where);
    *key = mock_hash_field(*key, fallback, strlen(fallback));
  } else if (is_header && (strcmp(type, "document") == 0 || strcmp(type, "image") == 0 ||
                           strcmp(type, "video") == 0)) {
    char inner[128];
    snprintf(inner, sizeof(inner), "%s['%s']", where, type);
    if (!check_media_object(call, json_object_get(p, type), inner, type[0] == 'd', key))
      return false;
    shape->header = type[0] == 'd' ? MOCK_HDR_DOCUMENT : type[0] == 'i' ? MOCK_HDR_IMAGE
                                                                        : MOCK_HDR_VIDEO;
  } else if (strcmp(comp, "button") == 0 &&
             (strcmp(type, "payload") == 0 || strcmp(type, "text") == 0 ||
              strcmp(type, "coupon_code") == 0 || strcmp(type, "action") == 0)) {
    if (json_object_get(p, type) == NULL)
      return bad(call, NULL, "(#100) The parameter %s['%s'] is required.", where, type);
  } else {
    return bad(call, NULL, "(#100) Param %s['type'] \"%.32s\" is not valid in a %s component",
               where, type, comp);
  }
  if (is_body)
    shape->body_params++;
  return true;
}

static bool check_template(mock_call_t *call, json_t *tpl, uint64_t *key)
{
  if (!json_is_object(tpl))
    return bad(call, NULL, "(#100) The parameter template is required.");
  json_t *name = json_object_get(tpl, "name");
  if (!json_is_string(name) || json_string_length(name) == 0)
    return bad(call, NULL, "(#100) The parameter template['name'] is required.");
  if (json_string_length(name) > 512)
    return bad(call, NULL, "(#100) Param template['name'] must be at most 512 characters long.");
  json_t *lang = json_object_get(tpl, "language");
  if (!json_is_object(lang))
    return bad(call, NULL, "(#100) The parameter template['language'] is required.");
  const char *code = json_string_value(json_object_get(lang, "code"));
  if (code == NULL)
    return bad(call, NULL, "(#100) The parameter template['language']['code'] is required.");
  if (!language_code(code))
    return bad(call, NULL, "(#100) Param template['language']['code'] \"%.16s\" is not a "
                           "valid language code", code);
  json_t *policy = json_object_get(lang, "policy");
  if (policy != NULL && !(json_is_string(policy) &&
                          strcmp(json_string_value(policy), "deterministic") == 0))
    return bad(call, NULL, "(#100) Param template['language']['policy'] must be one of "
                           "{DETERMINISTIC}");
  *key = mock_hash_field(*key, json_string_value(name), json_string_length(name));

  tpl_shape_t shape = {MOCK_HDR_NONE, 0};
  json_t *comps = json_object_get(tpl, "components");
  if (comps != NULL && !json_is_array(comps))
    return bad(call, NULL, "(#100) Param template['components'] must be an array");
  bool seen_header = false, seen_body = false;
  size_t ci;
  json_t *comp;
  json_array_foreach(comps, ci, comp)
  {
    const char *type = json_string_value(json_object_get(comp, "type"));
    if (!json_is_object(comp) || type == NULL)
      return bad(call, NULL, "(#100) The parameter template['components'][%zu]['type'] is "
                             "required.", ci);
    bool header = strcmp(type, "header") == 0, body = strcmp(type, "body") == 0;
    bool button = strcmp(type, "button") == 0;
    if (!header && !body && !button)
      return bad(call, NULL, "(#100) Param template['components'][%zu]['type'] must be one "
                             "of {HEADER, BODY, BUTTON}", ci);
    if ((header && seen_header) || (body && seen_body))
      return bad(call, NULL, "(#100) Duplicate %s component in template['components']", type);
    seen_header |= header;
    seen_body |= body;
    if (button) {
      const char *sub = json_string_value(json_object_get(comp, "sub_type"));
      static const char *const subs[] = {"quick_reply", "url",        "copy_code",
                                         "flow",        "voice_call", "catalog"};
      bool ok = false;
      for (size_t i = 0; sub != NULL && i < sizeof(subs) / sizeof(subs[0]); i++)
        ok |= strcmp(sub, subs[i]) == 0;
      if (!ok)
        return bad(call, NULL, "(#100) Param template['components'][%zu]['sub_type'] is "
                               "required for buttons", ci);
      json_t *index = json_object_get(comp, "index");
      const char *is = json_string_value(index);
      bool index_ok = (json_is_integer(index) && json_integer_value(index) >= 0 &&
                       json_integer_value(index) <= 9) ||
                      (is != NULL && strlen(is) == 1 && is[0] >= '0' && is[0] <= '9');
      if (!index_ok)
        return bad(call, NULL, "(#100) Param template['components'][%zu]['index'] must be "
                               "0..9", ci);
    }
    json_t *params = json_object_get(comp, "parameters");
    if (params == NULL)
      continue;
    if (!json_is_array(params))
      return bad(call, NULL, "(#100) Param template['components'][%zu]['parameters'] must be "
                             "an array", ci);
    if (header && json_array_size(params) > 1)
      return template_error(call, 400, 132000,
                            "Number of parameters does not match the expected number of params",
                            "header: a template header takes at most one parameter");
    size_t pi;
    json_t *p;
    json_array_foreach(params, pi, p)
    {
      if (!check_parameter(call, p, type, ci, pi, key, &shape))
        return false;
    }
  }

  /* the approved templates, when the mock was given any */
  const mock_prov_conf_t *pc = call->pc;
  if (pc->ntemplates == 0)
    return true;
  const mock_template_t *t = NULL;
  for (size_t i = 0; i < pc->ntemplates && t == NULL; i++)
    if (strcmp(pc->templates[i].name, json_string_value(name)) == 0 &&
        strcmp(pc->templates[i].language, code) == 0)
      t = &pc->templates[i];
  char details[256];
  if (t == NULL) {
    snprintf(details, sizeof(details), "template name (%.64s) does not exist in %.16s",
             json_string_value(name), code);
    return template_error(call, 404, 132001, "Template name does not exist in the translation",
                          details);
  }
  if (t->header != shape.header) {
    static const char *const kinds[] = {"NONE", "TEXT", "DOCUMENT", "IMAGE", "VIDEO"};
    snprintf(details, sizeof(details), "header: Format mismatch, expected %s, received %s",
             kinds[t->header], kinds[shape.header]);
    return template_error(call, 400, 132012,
                          "Parameter format does not match format in the created template",
                          details);
  }
  if (t->body_params != shape.body_params) {
    snprintf(details, sizeof(details),
             "body: number of localizable_params (%d) does not match the expected number of "
             "params (%d)",
             shape.body_params, t->body_params);
    return template_error(call, 400, 132000,
                          "Number of parameters does not match the expected number of params",
                          details);
  }
  return true;
}

static bool wa_validate(mock_call_t *call)
{
  if (!check_object(call))
    return false;
  json_error_t je;
  h2o_iovec_t body = call->req->entity;
  json_t *root = json_loadb(body.base != NULL ? body.base : "", body.base != NULL ? body.len : 0,
                            JSON_REJECT_DUPLICATES, &je);
  if (root == NULL) {
    char details[256];
    snprintf(details, sizeof(details), "Request body is not valid JSON: %s (line %d)", je.text,
             je.line);
    return bad(call, details, "(#100) Invalid parameter");
  }
  bool ok = false;
  wa_priv_t *priv = h2o_mem_alloc_pool(&call->req->pool, sizeof(*priv));
  memset(priv, 0, sizeof(*priv));
  call->priv = priv;

  if (!json_is_object(root)) {
    bad(call, "Request body must be a JSON object", "(#100) Invalid parameter");
    goto out;
  }
  json_t *product = json_object_get(root, "messaging_product");
  if (product == NULL) {
    bad(call, NULL, "(#100) The parameter messaging_product is required.");
    goto out;
  }
  if (!json_is_string(product) || strcmp(json_string_value(product), "whatsapp") != 0) {
    bad(call, NULL, "(#100) Param messaging_product must be one of {WHATSAPP}");
    goto out;
  }
  json_t *rtype = json_object_get(root, "recipient_type");
  if (rtype != NULL && !(json_is_string(rtype) &&
                         strcmp(json_string_value(rtype), "individual") == 0)) {
    bad(call, NULL, "(#100) Param recipient_type must be one of {INDIVIDUAL}");
    goto out;
  }
  json_t *to = json_object_get(root, "to");
  if (to == NULL) {
    bad(call, NULL, "(#100) The parameter to is required.");
    goto out;
  }
  if (!json_is_string(to) || mock_phone_digits(json_string_value(to), json_string_length(to),
                                               priv->wa_id, sizeof(priv->wa_id)) < 0) {
    bad(call, "The parameter to must be a phone number: 8 to 15 digits, optionally after '+'",
        "(#100) Invalid parameter");
    goto out;
  }
  mock_copy(priv->input, sizeof(priv->input), json_string_value(to), json_string_length(to));
  mock_copy(call->recipient, sizeof(call->recipient), priv->wa_id, strlen(priv->wa_id));

  const char *type = "text";
  json_t *jtype = json_object_get(root, "type");
  if (jtype != NULL) {
    if (!json_is_string(jtype)) {
      bad(call, NULL, "(#100) Param type must be a string");
      goto out;
    }
    type = json_string_value(jtype);
  }
  json_t *opaque = json_object_get(root, "biz_opaque_callback_data");
  if (opaque != NULL && (!json_is_string(opaque) || json_string_length(opaque) > 512)) {
    bad(call, NULL, "(#100) Param biz_opaque_callback_data must be a string of at most 512 "
                    "characters");
    goto out;
  }
  if (opaque != NULL) /* echoed in the message's status callbacks */
    call->cb_data = h2o_strdup(&call->req->pool, json_string_value(opaque),
                               json_string_length(opaque));

  uint64_t key = mock_hash_field(MOCK_HASH_INIT, priv->wa_id, strlen(priv->wa_id));
  key = mock_hash_field(key, type, strlen(type));
  if (strcmp(type, "text") == 0) {
    json_t *text = json_object_get(root, "text");
    json_t *tb = json_object_get(text, "body");
    if (!json_is_object(text) || !json_is_string(tb) || json_string_length(tb) == 0) {
      bad(call, NULL, "(#100) The parameter text['body'] is required.");
      goto out;
    }
    if (mock_utf8_len(json_string_value(tb), json_string_length(tb)) > 4096) {
      bad(call, NULL, "(#100) Param text['body'] must be at most 4096 characters long.");
      goto out;
    }
    json_t *preview = json_object_get(text, "preview_url");
    if (preview != NULL && !json_is_boolean(preview)) {
      bad(call, NULL, "(#100) Param text['preview_url'] must be a boolean");
      goto out;
    }
    key = mock_hash_field(key, json_string_value(tb), json_string_length(tb));
  } else if (strcmp(type, "template") == 0) {
    if (!check_template(call, json_object_get(root, "template"), &key))
      goto out;
    priv->is_template = true;
  } else if (strcmp(type, "document") == 0) {
    if (!check_media_object(call, json_object_get(root, "document"), "document", true, &key))
      goto out;
  } else {
    bad(call, NULL, "(#100) Param type must be one of {DOCUMENT, TEMPLATE, TEXT} - got \"%.32s\".",
        type);
    goto out;
  }
  call->key = key;
  call->rejected = mock_rule_match(call->pc, priv->wa_id);
  /* the request as sent is the best record of it, and copying it costs far less than
   * serializing the parsed tree again */
  if (body.len < sizeof(call->detail))
    mock_copy(call->detail, sizeof(call->detail), body.base, body.len);
  else
    mock_set_detail(call, root);
  ok = true;
out:
  json_decref(root);
  return ok;
}

static void wa_fail(mock_call_t *call, mock_outcome_t why, bool pair)
{
  char retry[16];
  switch (why) {
  case MOCK_OUT_REJECTED:
    graph_error(call, 400, 131026, 0, "OAuthException", "(#131026) Message Undeliverable.",
                "Message Undeliverable.");
    return;
  case MOCK_OUT_RATE_LIMITED:
    snprintf(retry, sizeof(retry), "%u", call->pc->retry_after_s);
    mock_call_header(call, "retry-after", retry);
    if (pair)
      graph_error(call, 429, 131056, 0, "OAuthException",
                  "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                  "Message failed to send because there were too many messages sent from this "
                  "phone number to the same phone number in a short period of time.");
    else
      graph_error(call, 429, 130429, 0, "OAuthException", "(#130429) Rate limit hit",
                  "Cloud API message throughput has been reached.");
    return;
  default:
    graph_error(call, call->pc->server_error_status, 131000, 0, "OAuthException",
                "(#131000) Something went wrong",
                "Message failed to send due to an unknown error.");
    return;
  }
}

static void wa_accept(mock_call_t *call)
{
  wa_priv_t *priv = call->priv;
  mock_new_id(call->m, MOCK_ID_WAMID, call->msg_id, sizeof(call->msg_id));
  /* the hot path of every benchmark, so no JSON tree: every value printed here is digits,
   * '+' or base64url, none needs escaping. Template sends carry their status. */
  size_t cap = 256;
  char *out = h2o_mem_alloc_pool(&call->req->pool, cap);
  int n = snprintf(out, cap,
                   "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"%s\","
                   "\"wa_id\":\"%s\"}],\"messages\":[{\"id\":\"%s\"%s}]}",
                   priv->input, priv->wa_id, call->msg_id,
                   priv->is_template ? ",\"message_status\":\"accepted\"" : "");
  call->status = 200;
  call->reason = "OK";
  call->content_type = "application/json";
  call->body = h2o_iovec_init(out, n > 0 && (size_t)n < cap ? (size_t)n : 0);
}

const mock_endpoint_t mock_whatsapp_messages = {
    MOCK_EP_WA_MESSAGES, MOCK_PROV_WHATSAPP, wa_authenticate, wa_validate, wa_fail, wa_accept,
};

/* ---- /media: multipart upload, keeps the SHA-256 of what arrived ---- */

static const char *const media_types[] = {
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/plain",
    "image/jpeg",
    "image/png",
    "image/webp",
    "audio/mpeg",
    "audio/ogg",
    "video/mp4",
};

/* What media_accept() keeps: the file part, in the request's pool. */
typedef struct {
  h2o_iovec_t data;
  h2o_iovec_t filename;
  const char *mime;
} media_priv_t;

static bool part_is(const mock_part_t *p, const char *name)
{
  return h2o_memis(p->name.base, p->name.len, name, strlen(name));
}

static bool media_validate(mock_call_t *call)
{
  if (!check_object(call))
    return false;
  mock_part_t parts[8];
  const char *err = NULL;
  h2o_iovec_t body = call->req->entity;
  if (body.base == NULL)
    body = h2o_iovec_init("", 0);
  int n = mock_multipart_parse(mock_header(call->req, H2O_TOKEN_CONTENT_TYPE), body, parts, 8,
                               &err);
  if (n < 0)
    return bad(call, err, "(#100) Invalid parameter");
  const mock_part_t *product = NULL, *file = NULL, *type = NULL;
  for (int i = 0; i < n; i++) {
    if (part_is(&parts[i], "messaging_product"))
      product = &parts[i];
    else if (part_is(&parts[i], "file"))
      file = &parts[i];
    else if (part_is(&parts[i], "type"))
      type = &parts[i];
  }
  if (product == NULL)
    return bad(call, NULL, "(#100) The parameter messaging_product is required.");
  if (!h2o_memis(product->data.base, product->data.len, H2O_STRLIT("whatsapp")))
    return bad(call, NULL, "(#100) Param messaging_product must be one of {WHATSAPP}");
  if (file == NULL || file->filename.base == NULL)
    return bad(call, NULL, "(#100) The parameter file is required.");
  if (type == NULL)
    return bad(call, NULL, "(#100) The parameter type is required.");

  const char *mime = NULL;
  for (size_t i = 0; i < sizeof(media_types) / sizeof(media_types[0]); i++)
    if (h2o_memis(type->data.base, type->data.len, media_types[i], strlen(media_types[i])))
      mime = media_types[i];
  if (mime == NULL)
    return media_error(call, "Unsupported file type");
  if (file->content_type.base != NULL &&
      !h2o_memis(file->content_type.base, file->content_type.len, mime, strlen(mime)))
    return media_error(call, "The Content-Type of the file part does not match param type");
  if (file->data.len == 0)
    return media_error(call, "The uploaded file is empty");
  size_t limit = strncmp(mime, "image/", 6) == 0 ? (size_t)5 << 20
                 : strncmp(mime, "audio/", 6) == 0 || strncmp(mime, "video/", 6) == 0
                     ? (size_t)16 << 20
                     : (size_t)100 << 20;
  if (file->data.len > limit)
    return media_error(call, "The uploaded file is larger than WhatsApp allows for its type");
  if (strcmp(mime, "application/pdf") == 0 &&
      (file->data.len < 5 || memcmp(file->data.base, "%PDF-", 5) != 0))
    return media_error(call, "The uploaded file is not a PDF document");

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(file->data.base, file->data.len, md, &mdlen, EVP_sha256(), NULL) != 1)
    return media_error(call, "Could not hash the uploaded file");
  h2o_hex_encode(call->sha256, md, 32);
  uint64_t key = MOCK_HASH_INIT;
  key = mock_hash_bytes(key, md, 32);
  call->key = key;

  media_priv_t *priv = h2o_mem_alloc_pool(&call->req->pool, sizeof(*priv));
  priv->data = file->data;
  priv->filename = file->filename;
  priv->mime = mime;
  call->priv = priv;

  json_t *detail = json_pack("{s:s%, s:s, s:I, s:s}", "filename", file->filename.base,
                             file->filename.len, "type", mime, "bytes",
                             (json_int_t)file->data.len, "sha256", call->sha256);
  if (detail != NULL) {
    mock_set_detail(call, detail);
    json_decref(detail);
  }
  return true;
}

static void media_accept(mock_call_t *call)
{
  media_priv_t *priv = call->priv;
  mock_t *m = call->m;
  mock_new_id(m, MOCK_ID_MEDIA, call->msg_id, sizeof(call->msg_id));
  /* a file the store cannot keep (too big, keep_files 0) still gets its id: the upload
   * succeeded, only the copy for tests is missing, and /stats counts it as refused */
  mock_file_info_t info;
  memset(&info, 0, sizeof(info));
  mock_copy(info.key, sizeof(info.key), call->msg_id, strlen(call->msg_id));
  mock_copy(info.account, sizeof(info.account), call->account, strlen(call->account));
  mock_copy(info.type, sizeof(info.type), priv->mime, strlen(priv->mime));
  mock_copy_utf8(info.filename, sizeof(info.filename), priv->filename.base, priv->filename.len);
  memcpy(info.sha256, call->sha256, sizeof(info.sha256));
  mock_store_put(m->store, &info, priv->data.base, priv->data.len, m->conf.keep_files,
                 m->conf.keep_bytes);
  mock_reply_json(call, 200, "OK", json_pack("{s:s}", "id", call->msg_id));
}

const mock_endpoint_t mock_whatsapp_media = {
    MOCK_EP_WA_MEDIA, MOCK_PROV_WHATSAPP, wa_authenticate, media_validate, wa_fail, media_accept,
};

/* ---- GET /{version}/{media_id} and GET /media-download/{media_id} ---- */

/* The file of `media_id`, or NULL after filling Graph's error for an object that does not
 * exist. Graph sends that error with status 400; the mock sends 404, so that "not kept" reads
 * plainly in a test, and its details tell an id never issued from one whose file was evicted. */
static const mock_file_t *kept_media(mock_call_t *call, h2o_iovec_t media_id)
{
  char key[MOCK_FILE_KEY_LEN];
  const mock_file_t *f = NULL;
  if (media_id.len < sizeof(key)) {
    mock_copy(key, sizeof(key), media_id.base, media_id.len);
    f = mock_store_get(call->m->store, key);
  }
  if (f != NULL)
    return f;
  char msg[400];
  snprintf(msg, sizeof(msg),
           "Unsupported get request. Object with ID '%.40s' does not exist, cannot be loaded "
           "due to missing permissions, or does not support this operation. Please read the "
           "Graph API documentation at https://developers.facebook.com/docs/graph-api",
           media_id.len < sizeof(key) ? key : "(too long)");
  graph_error(call, 404, 100, 33, "GraphMethodException", msg,
              mock_media_id_issued(call->m, media_id.base, media_id.len)
                  ? "This media was uploaded here but its file is no longer kept (see "
                    "keep_files and keep_bytes)"
                  : NULL);
  return NULL;
}

void mock_whatsapp_media_url(mock_t *m, h2o_req_t *req, h2o_iovec_t media_id)
{
  mock_call_t *call = mock_call_new(m, req, MOCK_EP_WA_MEDIA, MOCK_PROV_WHATSAPP);
  const mock_file_t *f = wa_authenticate(call) ? kept_media(call, media_id) : NULL;
  if (f == NULL) {
    mock_call_send_now(call);
    return;
  }
  /* ?phone_number_id= asks the API to answer only for media uploaded on that number; a
   * mismatch is an invalid parameter (chatwoot/chatwoot#13319 quotes the message) */
  if (req->query_at != SIZE_MAX) {
    mock_param_t params[8];
    h2o_iovec_t q = h2o_iovec_init(req->path.base + req->query_at + 1,
                                   req->path.len - req->query_at - 1);
    int n = mock_form_parse(&req->pool, q, params, 8);
    const h2o_iovec_t *pn = n > 0 ? mock_form_get(params, (size_t)n, "phone_number_id") : NULL;
    if (pn != NULL && !h2o_memis(pn->base, pn->len, f->info.account, strlen(f->info.account))) {
      bad(call, "The media was uploaded on another business phone number",
          "(#100) Param phone_number_id is not a valid whatsapp business phone number id ID");
      mock_call_send_now(call);
      return;
    }
  }
  /* the real URL points at lookaside.fbsbx.com and lives 5 minutes; this one lives as long as
   * the file is kept. Meta's reference shows file_size as a string, other references as a
   * number; a number is what a client can compare without parsing. */
  char url[320];
  snprintf(url, sizeof(url), "https://%.*s/media-download/%s", (int)req->authority.len,
           req->authority.base, f->info.key);
  mock_reply_json(call, 200, "OK",
                  json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "url", url, "mime_type",
                            f->info.type, "sha256", f->info.sha256, "file_size",
                            (json_int_t)f->len, "id", f->info.key, "messaging_product",
                            "whatsapp"));
  mock_call_send_now(call);
}

void mock_whatsapp_media_download(mock_t *m, h2o_req_t *req, h2o_iovec_t media_id)
{
  mock_call_t *call = mock_call_new(m, req, MOCK_EP_WA_MEDIA, MOCK_PROV_WHATSAPP);
  /* the real download needs the access token too: the URL alone returns nothing */
  const mock_file_t *f = wa_authenticate(call) ? kept_media(call, media_id) : NULL;
  if (f == NULL) {
    mock_call_send_now(call);
    return;
  }
  /* a copy in the request's pool: the next upload may evict the file while h2o still writes */
  char *copy = h2o_mem_alloc_pool(&req->pool, f->len > 0 ? f->len : 1);
  memcpy(copy, f->data, f->len);
  call->status = 200;
  call->reason = "OK";
  call->content_type = h2o_strdup(&req->pool, f->info.type, SIZE_MAX).base;
  call->body = h2o_iovec_init(copy, f->len);
  mock_call_send_now(call);
}
