/* Twilio Programmable Messaging: POST /2010-04-01/Accounts/{AccountSid}/Messages.json,
 * form-encoded, HTTP Basic auth with AccountSid:AuthToken.
 *
 * Errors use Twilio's shape {"code","message","more_info","status"} with its codes: 20003
 * authenticate (401), 21604 To missing, 21211 To invalid, 21603 From missing, 21212 From
 * invalid, 21266 To equals From, 21701 bad Messaging Service, 21602 Body missing, 21617 Body
 * over 1600 characters, 21609 bad StatusCallback, 21624 bad ValidityPeriod, 21610 the
 * recipient unsubscribed (permanent recipient rule), 20429 too many requests, 20500 internal.
 *
 * Message key: digits of To + Body.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mock.h"

typedef struct {
  h2o_iovec_t to, from, service, body;
  int num_media;
} tw_priv_t;

#define TWILIO_MAX_PARAMS 64

static void twilio_error(mock_call_t *call, int status, int code, const char *message)
{
  char more[64];
  snprintf(more, sizeof(more), "https://www.twilio.com/docs/errors/%d", code);
  json_t *j = json_pack("{s:i, s:s, s:s, s:i}", "code", code, "message", message, "more_info",
                        more, "status", status);
  call->error_code = code;
  mock_reply_json(call, status, mock_reason(status), j);
}

static bool tw_authenticate(mock_call_t *call)
{
  h2o_iovec_t auth = mock_header(call->req, H2O_TOKEN_AUTHORIZATION);
  unsigned char raw[MOCK_CRED_LEN];
  ssize_t n = -1;
  if (auth.base != NULL && auth.len > 6 && h2o_lcstris(auth.base, 6, H2O_STRLIT("basic ")))
    n = mock_base64_decode(auth.base + 6, auth.len - 6, raw, sizeof(raw) - 1);
  bool known = false;
  if (n > 0) {
    raw[n] = '\0';
    const char *colon = memchr(raw, ':', (size_t)n);
    size_t user_len = colon != NULL ? (size_t)(colon - (const char *)raw) : 0;
    /* the account in the path must be the one that authenticated */
    bool same_account = user_len == strlen(call->account) &&
                        memcmp(raw, call->account, user_len) == 0;
    for (size_t i = 0; same_account && i < call->pc->ncreds; i++)
      if (strlen(call->pc->creds[i]) == (size_t)n && memcmp(call->pc->creds[i], raw, (size_t)n) == 0)
        known = true;
  }
  if (known && !call->pc->revoked)
    return true;
  mock_call_header(call, "www-authenticate", "Basic realm=\"Twilio API\"");
  twilio_error(call, 401, 20003, "Authenticate");
  return false;
}

/* ---- SMS segments, for num_segments: GSM 03.38 when every character has a septet, else
 * UCS-2 ---- */

/* Decodes one UTF-8 code point (input valid: jansson or our form decoder checked it) */
static uint32_t next_cp(const unsigned char **p, const unsigned char *end)
{
  uint32_t c = *(*p)++;
  int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
  c &= extra == 3 ? 0x07 : extra == 2 ? 0x0f : extra == 1 ? 0x1f : 0x7f;
  while (extra-- > 0 && *p < end)
    c = (c << 6) | (*(*p)++ & 0x3f);
  return c;
}

/* Septets of a GSM 03.38 character: 1 basic, 2 extension, 0 not representable. */
static int gsm_septets(uint32_t c)
{
  static const uint32_t basic_extra[] = {0xa3, 0xa5, 0xe8, 0xe9, 0xf9, 0xec, 0xf2, 0xc7, 0xd8,
                                         0xf8, 0xc5, 0xe5, 0x394, 0x3a6, 0x393, 0x39b, 0x3a9,
                                         0x3a0, 0x3a8, 0x3a3, 0x398, 0x39e, 0xc6, 0xe6, 0xdf,
                                         0xc9, 0xa4, 0xa1, 0xc4, 0xd6, 0xd1, 0xdc, 0xa7, 0xbf,
                                         0xe4, 0xf6, 0xf1, 0xfc, 0xe0};
  if (c == '\n' || c == '\r' || (c >= 0x20 && c < 0x7f && c != '`')) {
    if (c == '^' || c == '{' || c == '}' || c == '\\' || c == '[' || c == ']' || c == '~' ||
        c == '|')
      return 2;
    return 1;
  }
  if (c == 0x20ac || c == '\f')
    return 2;
  for (size_t i = 0; i < sizeof(basic_extra) / sizeof(basic_extra[0]); i++)
    if (basic_extra[i] == c)
      return 1;
  return 0;
}

static int segments(h2o_iovec_t body)
{
  const unsigned char *p = (const unsigned char *)body.base, *end = p + body.len;
  size_t septets = 0, units = 0;
  bool gsm = true;
  while (p < end) {
    uint32_t c = next_cp(&p, end);
    int s = gsm_septets(c);
    if (s == 0)
      gsm = false;
    septets += (size_t)s;
    units += c > 0xffff ? 2 : 1;
  }
  if (gsm)
    return septets <= 160 ? 1 : (int)((septets + 152) / 153);
  return units <= 70 ? 1 : (int)((units + 66) / 67);
}

/* ---- validation ---- */

static bool is_sid(h2o_iovec_t v, const char *prefix)
{
  if (v.len != 34 || memcmp(v.base, prefix, 2) != 0)
    return false;
  for (size_t i = 2; i < 34; i++)
    if (!((v.base[i] >= '0' && v.base[i] <= '9') || (v.base[i] >= 'a' && v.base[i] <= 'f') ||
          (v.base[i] >= 'A' && v.base[i] <= 'F')))
      return false;
  return true;
}

/* A sender: E.164, a short code (5-6 digits) or an alphanumeric id (1-11 characters of
 * letters, digits and spaces, at least one letter). */
static bool valid_from(h2o_iovec_t v)
{
  if (mock_phone_e164(v.base, v.len))
    return true;
  if ((v.len == 5 || v.len == 6) && strspn(v.base, "0123456789") == v.len)
    return true;
  if (v.len == 0 || v.len > 11)
    return false;
  bool letter = false;
  for (size_t i = 0; i < v.len; i++) {
    char c = v.base[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && !(c >= '0' && c <= '9') && c != ' ')
      return false;
    letter |= alpha;
  }
  return letter;
}

static bool is_http_url(h2o_iovec_t v)
{
  return (v.len > 8 && memcmp(v.base, "https://", 8) == 0) ||
         (v.len > 7 && memcmp(v.base, "http://", 7) == 0);
}

static bool tw_validate(mock_call_t *call)
{
  mock_param_t params[TWILIO_MAX_PARAMS];
  char msg[256];
  h2o_iovec_t body = call->req->entity;
  if (body.base == NULL)
    body = h2o_iovec_init("", 0);
  int n = mock_form_parse(&call->req->pool, body, params, TWILIO_MAX_PARAMS);
  if (n < 0) {
    twilio_error(call, 400, 20001, "Invalid form-encoded request body");
    return false;
  }
  for (int i = 0; i < n; i++)
    if (!mock_utf8_valid(params[i].value.base, params[i].value.len)) {
      /* no documented Twilio code names this; the mock uses 20001 for malformed input */
      twilio_error(call, 400, 20001, "Invalid parameter: a value is not valid UTF-8");
      return false;
    }
  tw_priv_t *priv = h2o_mem_alloc_pool(&call->req->pool, sizeof(*priv));
  memset(priv, 0, sizeof(*priv));
  call->priv = priv;
  const h2o_iovec_t *to = mock_form_get(params, (size_t)n, "To");
  const h2o_iovec_t *from = mock_form_get(params, (size_t)n, "From");
  const h2o_iovec_t *service = mock_form_get(params, (size_t)n, "MessagingServiceSid");
  const h2o_iovec_t *text = mock_form_get(params, (size_t)n, "Body");
  const h2o_iovec_t *callback = mock_form_get(params, (size_t)n, "StatusCallback");
  const h2o_iovec_t *validity = mock_form_get(params, (size_t)n, "ValidityPeriod");

  if (to == NULL || to->len == 0) {
    twilio_error(call, 400, 21604, "A 'To' phone number is required.");
    return false;
  }
  if (!mock_phone_e164(to->base, to->len)) {
    snprintf(msg, sizeof(msg), "The 'To' number %.40s is not a valid phone number.", to->base);
    twilio_error(call, 400, 21211, msg);
    return false;
  }
  if ((from == NULL || from->len == 0) && (service == NULL || service->len == 0)) {
    twilio_error(call, 400, 21603, "A 'From' phone number is required.");
    return false;
  }
  if (service != NULL && service->len > 0 && !is_sid(*service, "MG")) {
    snprintf(msg, sizeof(msg), "The Messaging Service Sid %.40s is invalid.", service->base);
    twilio_error(call, 400, 21701, msg);
    return false;
  }
  if (from != NULL && from->len > 0 && !valid_from(*from)) {
    snprintf(msg, sizeof(msg),
             "The 'From' number %.40s is not a valid phone number, shortcode, or alphanumeric "
             "sender ID.",
             from->base);
    twilio_error(call, 400, 21212, msg);
    return false;
  }
  if (from != NULL && h2o_memis(from->base, from->len, to->base, to->len)) {
    twilio_error(call, 400, 21266, "'To' and 'From' number cannot be the same");
    return false;
  }
  size_t media = 0;
  for (int i = 0; i < n; i++) {
    if (!h2o_memis(params[i].name.base, params[i].name.len, H2O_STRLIT("MediaUrl")))
      continue;
    if (!is_http_url(params[i].value)) {
      twilio_error(call, 400, 21620, "Invalid media URL(s)");
      return false;
    }
    media++;
  }
  if ((text == NULL || text->len == 0) && media == 0) {
    twilio_error(call, 400, 21602, "Message body is required.");
    return false;
  }
  if (text != NULL && mock_utf8_len(text->base, text->len) > 1600) {
    twilio_error(call, 400, 21617,
                 "The concatenated message body exceeds the 1600 character limit.");
    return false;
  }
  if (callback != NULL && !is_http_url(*callback)) {
    twilio_error(call, 400, 21609, "Invalid StatusCallback url");
    return false;
  }
  if (validity != NULL) {
    size_t v = validity->len > 0 && validity->len <= 5 &&
                       strspn(validity->base, "0123456789") == validity->len
                   ? h2o_strtosize(validity->base, validity->len)
                   : 0;
    if (v < 1 || v > 36000) {
      twilio_error(call, 400, 21624, "Invalid validity period value");
      return false;
    }
  }

  priv->to = *to;
  priv->from = from != NULL ? *from : h2o_iovec_init(NULL, 0);
  /* what its status callbacks go to, and say it came from (callback.c) */
  if (callback != NULL)
    call->cb_data = h2o_strdup(&call->req->pool, callback->base, callback->len);
  if (from != NULL)
    call->cb_from = *from;
  else if (service != NULL)
    call->cb_from = *service;
  priv->service = service != NULL ? *service : h2o_iovec_init(NULL, 0);
  priv->body = text != NULL ? *text : h2o_iovec_init("", 0);
  priv->num_media = (int)media;
  mock_copy(call->recipient, sizeof(call->recipient), to->base + 1, to->len - 1);
  uint64_t key = mock_hash_field(MOCK_HASH_INIT, call->recipient, strlen(call->recipient));
  call->key = mock_hash_field(key, priv->body.base, priv->body.len);
  call->rejected = mock_rule_match(call->pc, call->recipient);

  json_t *detail = json_pack("{s:s%, s:s%}", "To", to->base, to->len, "Body", priv->body.base,
                             priv->body.len);
  if (detail != NULL) {
    if (priv->from.base != NULL)
      json_object_set_new(detail, "From", json_stringn(priv->from.base, priv->from.len));
    if (priv->service.base != NULL)
      json_object_set_new(detail, "MessagingServiceSid",
                          json_stringn(priv->service.base, priv->service.len));
    if (callback != NULL)
      json_object_set_new(detail, "StatusCallback", json_stringn(callback->base, callback->len));
    mock_set_detail(call, detail);
    json_decref(detail);
  }
  return true;
}

static void tw_fail(mock_call_t *call, mock_outcome_t why, bool pair)
{
  (void)pair;
  char retry[16];
  switch (why) {
  case MOCK_OUT_REJECTED:
    twilio_error(call, 400, 21610, "Attempt to send to unsubscribed recipient");
    return;
  case MOCK_OUT_RATE_LIMITED:
    snprintf(retry, sizeof(retry), "%u", call->pc->retry_after_s);
    mock_call_header(call, "retry-after", retry);
    twilio_error(call, 429, 20429, "Too Many Requests");
    return;
  default:
    twilio_error(call, call->pc->server_error_status, 20500, "Internal Server Error");
    return;
  }
}

static json_t *str_or_null(h2o_iovec_t v)
{
  return v.base != NULL && v.len > 0 ? json_stringn(v.base, v.len) : json_null();
}

static void tw_accept(mock_call_t *call)
{
  tw_priv_t *p = call->priv;
  char date[64], uri[160], media[160], nseg[16], nmedia[16];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  mock_new_id(call->m, MOCK_ID_TWILIO_SM, call->msg_id, sizeof(call->msg_id));
  snprintf(uri, sizeof(uri), "/2010-04-01/Accounts/%s/Messages/%s.json", call->account,
           call->msg_id);
  snprintf(media, sizeof(media), "/2010-04-01/Accounts/%s/Messages/%s/Media.json", call->account,
           call->msg_id);
  snprintf(nseg, sizeof(nseg), "%d", segments(p->body));
  snprintf(nmedia, sizeof(nmedia), "%d", p->num_media);
  /* through a Messaging Service without From, Twilio answers "accepted" and picks the
   * sender later */
  bool via_service = p->from.base == NULL || p->from.len == 0;
  json_t *j = json_pack(
      "{s:s, s:s, s:s%, s:s, s:n, s:s, s:s, s:n, s:n, s:o, s:o, s:s, s:s, s:n, s:s, s:s, "
      "s:s, s:{s:s}, s:s%, s:s}",
      "account_sid", call->account, "api_version", "2010-04-01", "body", p->body.base,
      p->body.len, "date_created", date, "date_sent", "date_updated", date, "direction",
      "outbound-api", "error_code", "error_message", "from", str_or_null(p->from),
      "messaging_service_sid", str_or_null(p->service), "num_media", nmedia, "num_segments",
      nseg, "price", "price_unit", "USD", "sid", call->msg_id, "status",
      via_service ? "accepted" : "queued", "subresource_uris", "media", media, "to", p->to.base,
      p->to.len, "uri", uri);
  mock_reply_json(call, 201, "Created", j);
}

const mock_endpoint_t mock_twilio_messages = {
    MOCK_EP_TWILIO_MESSAGES, MOCK_PROV_TWILIO, tw_authenticate, tw_validate, tw_fail, tw_accept,
};
