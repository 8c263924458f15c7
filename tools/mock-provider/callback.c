/* Callbacks: what the providers send back after they accept a message, signed the way each
 * signs it, to the client's webhook URL.
 *
 *   accept (2xx) ──▶ the message's statuses, each a callback due after a delay ──▶ the heap
 *   due timer ──▶ libcurl multi on the loop (HTTP/2 over TLS) ──▶ the client's webhook
 *   answer 2xx (WhatsApp: 200) ──▶ acked │ anything else, or no answer ──▶ again after
 *   retry_ms, 2 x retry_ms, ... until `retries` re-sends, then given up
 *
 * Per provider, as the real one does it:
 *   whatsapp  POST cb_url, the Cloud API envelope {"object":"whatsapp_business_account",
 *             "entry":[{"changes":[{"value":{"statuses":[...]}}]}]}, serialized as Meta does
 *             (non-ASCII as \u escapes, '/' as "\/"); X-Hub-Signature-256: sha256= hex
 *             HMAC-SHA256 of the body with the app secret (cb_secret). Statuses sent,
 *             delivered (read with cb_read), or failed with cb_fail_code; each echoes the
 *             message's biz_opaque_callback_data.
 *   twilio    POST the message's StatusCallback, form-encoded (MessageSid, MessageStatus,
 *             SmsSid, SmsStatus, AccountSid, From, To, ApiVersion, ErrorCode when failed);
 *             X-Twilio-Signature: base64 HMAC-SHA1, keyed with the account's auth token, of
 *             the URL followed by each parameter, sorted by name, name then value. Statuses
 *             sent, then delivered or undelivered with ErrorCode cb_fail_code. A message sent
 *             without StatusCallback gets none (as with Twilio).
 *   sendgrid  POST cb_url, a JSON array of one event (processed, then delivered or a hard
 *             bounce) with sg_event_id, sg_message_id "<X-Message-Id>.filter...", and the
 *             mail's custom_args spread into it; signed with ECDSA P-256 over SHA-256 of the
 *             timestamp then the body (X-Twilio-Email-Event-Webhook-Signature, base64 DER,
 *             and -Timestamp), the timestamp taken when the callback leaves.
 *
 * Which messages fail, whose statuses are reversed, which callbacks are sent twice: draws
 * from (seed, message id), so a run can be reasoned about; the order callbacks arrive in is
 * then up to the network. Bounded: at most cb_queue callbacks wait (more are dropped and
 * counted), cb_concurrency are in flight, and the record ring keeps the last cb_records.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mock.h"

#define MAX_BACKOFF_MS 60000u
#define CALLBACK_TIMEOUT_MS 10000L

enum { ST_PENDING, ST_ACKED, ST_GIVEN_UP, ST_DROPPED };
static const char *const state_names[] = {"pending", "acked", "given_up", "dropped"};

typedef struct {
  uint64_t seq;
  int64_t scheduled_ms, acked_ms; /* wall clock */
  uint32_t attempts;
  uint16_t last_http;
  uint8_t prov;
  uint8_t state;
  bool duplicate, inbound;
  char message_id[MOCK_MSGID_LEN];
  char status[24];
  char event_id[48]; /* SendGrid's sg_event_id */
} cb_record_t;

typedef struct cb_item {
  uint64_t due; /* uv_now() */
  size_t heap;
  mock_prov_t prov;
  char account[MOCK_ACCOUNT_LEN]; /* Twilio: the SID whose auth token signs */
  char *url;
  char *body;
  size_t len;
  char *sign; /* Twilio: the string to sign (URL + sorted name+value) */
  uint32_t attempts;
  uint64_t rec;
  /* in flight */
  CURL *easy;
  struct curl_slist *headers;
  struct cb_item *prev, *next; /* the in-flight list */
} cb_item_t;

typedef struct {
  uint64_t scheduled, sent, acked, refused, errors, retried, given_up, dropped;
} cb_counts_t;

struct mock_callbacks {
  mock_t *m;
  CURLM *multi;
  uv_timer_t curl_timer, due_timer;
  cb_item_t **heap;
  size_t nheap, cap;
  size_t inflight;
  cb_item_t *flying; /* the callbacks in flight, for dispose */
  EVP_PKEY *sg_key;
  cb_record_t *ring;
  size_t ring_cap;
  uint64_t next_seq;
  uint64_t floor_seq; /* /callbacks lists records after it (POST /stats/reset moves it) */
  cb_counts_t c[MOCK_PROV_COUNT];
};

typedef struct {
  uv_poll_t poll;
  curl_socket_t fd;
  mock_callbacks_t *cb;
} sock_t;

static void pump(mock_callbacks_t *cb);

/* ---- the heap of callbacks waiting, earliest first ---- */

static void heap_swap(mock_callbacks_t *cb, size_t a, size_t b) {
  cb_item_t *t = cb->heap[a];
  cb->heap[a] = cb->heap[b];
  cb->heap[b] = t;
  cb->heap[a]->heap = a;
  cb->heap[b]->heap = b;
}

static void heap_push(mock_callbacks_t *cb, cb_item_t *it) {
  size_t i = cb->nheap++;
  cb->heap[i] = it;
  it->heap = i;
  while (i > 0 && cb->heap[(i - 1) / 2]->due > cb->heap[i]->due) {
    heap_swap(cb, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static cb_item_t *heap_pop(mock_callbacks_t *cb) {
  cb_item_t *top = cb->heap[0];
  cb->nheap--;
  if (cb->nheap > 0) {
    cb->heap[0] = cb->heap[cb->nheap];
    cb->heap[0]->heap = 0;
    size_t i = 0;
    for (;;) {
      size_t l = 2 * i + 1, r = l + 1, min = i;
      if (l < cb->nheap && cb->heap[l]->due < cb->heap[min]->due)
        min = l;
      if (r < cb->nheap && cb->heap[r]->due < cb->heap[min]->due)
        min = r;
      if (min == i)
        break;
      heap_swap(cb, i, min);
      i = min;
    }
  }
  return top;
}

static void item_free(cb_item_t *it) {
  if (it == NULL)
    return;
  curl_slist_free_all(it->headers);
  free(it->url);
  free(it->body);
  free(it->sign);
  free(it);
}

/* ---- records ---- */

static cb_record_t *record_new(mock_callbacks_t *cb, mock_prov_t prov, const char *msg_id,
                               const char *status, const char *event, bool dup, bool inbound) {
  uint64_t seq = ++cb->next_seq;
  cb_record_t *r = &cb->ring[(seq - 1) % cb->ring_cap];
  memset(r, 0, sizeof(*r));
  r->seq = seq;
  r->prov = (uint8_t)prov;
  r->state = ST_PENDING;
  r->duplicate = dup;
  r->inbound = inbound;
  r->scheduled_ms = mock_wall_ms();
  mock_copy(r->message_id, sizeof(r->message_id), msg_id, strlen(msg_id));
  mock_copy(r->status, sizeof(r->status), status, strlen(status));
  if (event != NULL)
    mock_copy(r->event_id, sizeof(r->event_id), event, strlen(event));
  return r;
}

/* The record of seq, or NULL once the ring has moved past it. */
static cb_record_t *record_get(mock_callbacks_t *cb, uint64_t seq) {
  cb_record_t *r = &cb->ring[(seq - 1) % cb->ring_cap];
  return r->seq == seq ? r : NULL;
}

/* ---- scheduling ---- */

/* Queues one callback (taking body and sign), due delay_ms from now. */
static void schedule(mock_callbacks_t *cb, mock_prov_t prov, const char *url, char *body,
                     size_t len, char *sign, const char *account, uint64_t delay_ms,
                     const char *msg_id, const char *status, const char *event, bool dup,
                     bool inbound) {
  cb_counts_t *c = &cb->c[prov];
  c->scheduled++;
  cb_record_t *r = record_new(cb, prov, msg_id, status, event, dup, inbound);
  cb_item_t *it = NULL;
  if (cb->nheap < cb->cap)
    it = calloc(1, sizeof(*it));
  if (it != NULL)
    it->url = strdup(url);
  if (it == NULL || it->url == NULL || body == NULL) {
    free(body);
    free(sign);
    item_free(it);
    c->dropped++;
    r->state = ST_DROPPED;
    return;
  }
  it->prov = prov;
  mock_copy(it->account, sizeof(it->account), account, strlen(account));
  it->body = body;
  it->len = len;
  it->sign = sign;
  it->rec = r->seq;
  it->due = uv_now(cb->m->loop) + delay_ms;
  heap_push(cb, it);
  pump(cb);
}

/* A uniform draw in [0, 1) from (h, salt). */
static double draw(uint64_t h, uint64_t salt) {
  return (double)(mock_mix64(h ^ (salt * 0x9e3779b97f4a7c15ULL)) >> 11) * 0x1.0p-53;
}

static char *dup_text(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d != NULL) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

/* Meta's serialization: compact, every non-ASCII character and '/' escaped. */
static char *wa_dump(json_t *j, size_t *len) {
  char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH);
  json_decref(j);
  *len = s != NULL ? strlen(s) : 0;
  return s;
}

static json_t *wa_envelope(const char *account, json_t *value) {
  char waba[MOCK_ACCOUNT_LEN + 2];
  snprintf(waba, sizeof(waba), "9%s", account);
  json_object_set_new(value, "messaging_product", json_string("whatsapp"));
  json_object_set_new(value, "metadata",
                      json_pack("{s:s, s:s}", "display_phone_number", account, "phone_number_id",
                                account));
  return json_pack("{s:s, s:[{s:s, s:[{s:s, s:o}]}]}", "object", "whatsapp_business_account",
                   "entry", "id", waba, "changes", "field", "messages", "value", value);
}

static char *wa_status_body(const mock_call_t *call, const char *status, int code, size_t *len) {
  char ts[24];
  snprintf(ts, sizeof(ts), "%lld", (long long)(mock_wall_ms() / 1000));
  json_t *st = json_pack("{s:s, s:s, s:s, s:s}", "id", call->msg_id, "status", status,
                         "timestamp", ts, "recipient_id", call->recipient);
  if (call->cb_data.base != NULL)
    json_object_set_new(st, "biz_opaque_callback_data",
                        json_stringn(call->cb_data.base, call->cb_data.len));
  if (strcmp(status, "failed") == 0)
    json_object_set_new(st, "errors",
                        json_pack("[{s:i, s:s, s:s, s:{s:s}}]", "code", code, "title",
                                  "Message undeliverable", "message", "Message undeliverable",
                                  "error_data", "details",
                                  "Message failed to send because the recipient is not a "
                                  "WhatsApp user or cannot receive it."));
  return wa_dump(wa_envelope(call->account, json_pack("{s:[o]}", "statuses", st)), len);
}

/* ---- Twilio's form and its string to sign ---- */

typedef struct {
  const char *name, *value;
} param_t;

static int cmp_param(const void *a, const void *b) {
  int c = strcmp(((const param_t *)a)->name, ((const param_t *)b)->name);
  return c != 0 ? c : strcmp(((const param_t *)a)->value, ((const param_t *)b)->value);
}

static void form_escape(char **p, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '*' || c == '-' || c == '.' || c == '_') {
      *(*p)++ = (char)c;
    } else if (c == ' ') {
      *(*p)++ = '+';
    } else {
      *(*p)++ = '%';
      *(*p)++ = hex[c >> 4];
      *(*p)++ = hex[c & 15];
    }
  }
}

/* The body (form) and the string Twilio signs, from n parameters (sorted here). */
static void twilio_form(const char *url, param_t *params, size_t n, char **body, size_t *len,
                        char **sign) {
  qsort(params, n, sizeof(*params), cmp_param);
  size_t cap = 1, scap = strlen(url) + 1;
  for (size_t i = 0; i < n; i++) {
    cap += 3 * (strlen(params[i].name) + strlen(params[i].value)) + 2;
    scap += strlen(params[i].name) + strlen(params[i].value);
  }
  char *b = malloc(cap), *s = malloc(scap);
  if (b == NULL || s == NULL) {
    free(b);
    free(s);
    *body = *sign = NULL;
    return;
  }
  char *p = b, *q = s;
  q += snprintf(q, scap, "%s", url);
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      *p++ = '&';
    form_escape(&p, params[i].name);
    *p++ = '=';
    form_escape(&p, params[i].value);
    q += snprintf(q, scap - (size_t)(q - s), "%s%s", params[i].name, params[i].value);
  }
  *p = '\0';
  *body = b;
  *len = (size_t)(p - b);
  *sign = s;
}

/* ---- SendGrid ---- */

static void sg_event_id(const char *msg_id, const char *status, char *out, size_t cap) {
  uint64_t h = mock_hash_field(mock_hash_field(MOCK_HASH_INIT, msg_id, strlen(msg_id)), status,
                               strlen(status));
  unsigned char raw[16];
  uint64_t a = mock_mix64(h), b = mock_mix64(h ^ 0x5bd1e995ULL);
  for (int i = 0; i < 8; i++) {
    raw[i] = (unsigned char)(a >> (56 - 8 * i));
    raw[8 + i] = (unsigned char)(b >> (56 - 8 * i));
  }
  char b64[32];
  h2o_base64_encode(b64, raw, sizeof(raw), 1);
  snprintf(out, cap, "%s", b64);
}

static char *sg_body(const mock_call_t *call, const char *event, const char *event_id,
                     size_t *len) {
  char mid[MOCK_MSGID_LEN + 48], smtp[MOCK_MSGID_LEN + 32];
  snprintf(mid, sizeof(mid), "%s.filterdrecv-mock-1-0", call->msg_id);
  snprintf(smtp, sizeof(smtp), "<%s@mock.sendgrid.net>", call->msg_id);
  json_t *ev = json_pack("{s:s, s:I, s:s, s:s, s:[], s:s, s:s}", "email", call->recipient,
                         "timestamp", (json_int_t)(mock_wall_ms() / 1000), "smtp-id", smtp,
                         "event", event, "category", "sg_event_id", event_id, "sg_message_id",
                         mid);
  if (strcmp(event, "bounce") == 0) {
    json_object_set_new(ev, "type", json_string("bounce"));
    json_object_set_new(ev, "status", json_string("5.1.1"));
    json_object_set_new(ev, "reason",
                        json_string("550 5.1.1 The email account that you tried to reach does "
                                    "not exist."));
  }
  /* custom_args are spread into the event, strings only */
  if (call->cb_data.base != NULL) {
    json_t *args = json_loadb(call->cb_data.base, call->cb_data.len, 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v) {
      if (json_is_string(v) && json_object_get(ev, k) == NULL)
        json_object_set(ev, k, v);
    }
    json_decref(args);
  }
  json_t *arr = json_array();
  json_array_append_new(arr, ev);
  char *s = json_dumps(arr, JSON_COMPACT);
  json_decref(arr);
  *len = s != NULL ? strlen(s) : 0;
  return s;
}

/* ---- statuses of an accepted message ---- */

void mock_callbacks_accepted(mock_t *m, const mock_call_t *call) {
  mock_callbacks_t *cb = m->callbacks;
  const mock_prov_conf_t *pc = call->pc;
  if (cb == NULL || !pc->cb_on || call->ep == MOCK_EP_WA_MEDIA)
    return;
  uint64_t h = mock_mix64(m->conf.seed ^
                          mock_hash_bytes(MOCK_HASH_INIT, call->msg_id, strlen(call->msg_id)));
  bool fail = draw(h, 1) < pc->cb_async_fail;
  bool reverse = draw(h, 2) < pc->cb_reorder;
  bool read = draw(h, 3) < pc->cb_read;
  const char *st[3];
  size_t n = 0;
  const char *url = "";
  switch (call->prov) {
  case MOCK_PROV_WHATSAPP:
    url = pc->cb_url;
    if (fail) {
      st[n++] = "failed";
    } else {
      st[n++] = "sent";
      st[n++] = "delivered";
      if (read)
        st[n++] = "read";
    }
    break;
  case MOCK_PROV_TWILIO:
    st[n++] = "sent";
    st[n++] = fail ? "undelivered" : "delivered";
    break;
  case MOCK_PROV_SENDGRID:
    url = pc->cb_url;
    st[n++] = "processed";
    st[n++] = fail ? "bounce" : "delivered";
    break;
  default:
    return;
  }
  char *status_cb = NULL;
  if (call->prov == MOCK_PROV_TWILIO) {
    if (call->cb_data.base == NULL || call->cb_data.len == 0)
      return; /* sent without StatusCallback: Twilio calls nobody back */
    status_cb = dup_text(call->cb_data.base, call->cb_data.len);
    if (status_cb == NULL)
      return;
    url = status_cb;
  }
  if (url[0] == '\0') {
    free(status_cb);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t delay = (uint64_t)pc->cb_delay_ms * (reverse ? n - i : i + 1);
    bool twice = draw(h, 10 + i) < pc->cb_duplicate;
    for (int copy = 0; copy < (twice ? 2 : 1); copy++) {
      char *body = NULL, *sign = NULL, event[48] = "";
      size_t len = 0;
      if (call->prov == MOCK_PROV_WHATSAPP) {
        body = wa_status_body(call, st[i], pc->cb_fail_code, &len);
      } else if (call->prov == MOCK_PROV_TWILIO) {
        char to[MOCK_RECIPIENT_LEN + 2], code[16];
        snprintf(to, sizeof(to), "+%s", call->recipient);
        snprintf(code, sizeof(code), "%d", pc->cb_fail_code);
        char from[128] = "";
        if (call->cb_from.base != NULL)
          mock_copy(from, sizeof(from), call->cb_from.base, call->cb_from.len);
        param_t params[10] = {
            {"AccountSid", call->account}, {"ApiVersion", "2010-04-01"},
            {"MessageSid", call->msg_id},  {"MessageStatus", st[i]},
            {"SmsSid", call->msg_id},      {"SmsStatus", st[i]},
            {"To", to},                    {"From", from}};
        size_t np = 8;
        if (strcmp(st[i], "undelivered") == 0)
          params[np++] = (param_t){"ErrorCode", code};
        twilio_form(url, params, np, &body, &len, &sign);
      } else {
        sg_event_id(call->msg_id, st[i], event, sizeof(event));
        body = sg_body(call, st[i], event, &len);
      }
      schedule(cb, call->prov, url, body, len, sign, call->account,
               delay + (copy ? pc->cb_delay_ms / 2 + 1 : 0), call->msg_id, st[i], event,
               copy == 1, false);
    }
  }
  free(status_cb);
}

/* ---- inbound messages ---- */

json_t *mock_callbacks_inbound(mock_t *m, json_t *req, char *err) {
  mock_callbacks_t *cb = m->callbacks;
  const char *prov_name = NULL, *from = NULL, *text = NULL, *to = NULL, *name = NULL;
  if (json_unpack(req, "{s:s, s:s, s:s, s?:s, s?:s !}", "provider", &prov_name, "from", &from,
                  "text", &text, "to", &to, "name", &name) != 0) {
    snprintf(err, MOCK_ERRBUF, "expected {\"provider\", \"from\", \"text\", \"to\"?, \"name\"?}");
    return NULL;
  }
  mock_prov_t p;
  if (mock_prov_parse(prov_name, &p) != 0 || p == MOCK_PROV_SENDGRID) {
    snprintf(err, MOCK_ERRBUF, "provider: whatsapp or twilio");
    return NULL;
  }
  const mock_prov_conf_t *pc = &m->conf.prov[p];
  if (cb == NULL || pc->cb_url[0] == '\0') {
    snprintf(err, MOCK_ERRBUF, "%s has no callback url", prov_name);
    return NULL;
  }
  char msg_id[MOCK_MSGID_LEN];
  char *body = NULL, *sign = NULL;
  size_t len = 0;
  char account[MOCK_ACCOUNT_LEN] = "";
  if (p == MOCK_PROV_WHATSAPP) {
    mock_new_id(m, MOCK_ID_WAMID, msg_id, sizeof(msg_id));
    mock_copy(account, sizeof(account), to != NULL ? to : "1234567890",
              strlen(to != NULL ? to : "1234567890"));
    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", (long long)(mock_wall_ms() / 1000));
    json_t *value = json_pack(
        "{s:[{s:{s:s}, s:s}], s:[{s:s, s:s, s:s, s:s, s:{s:s}}]}", "contacts", "profile",
        "name", name != NULL ? name : "", "wa_id", from, "messages", "from", from, "id", msg_id,
        "timestamp", ts, "type", "text", "text", "body", text);
    body = wa_dump(wa_envelope(account, value), &len);
  } else {
    mock_new_id(m, MOCK_ID_TWILIO_SM, msg_id, sizeof(msg_id));
    /* the account whose auth token signs: the first configured */
    if (pc->ncreds > 0) {
      const char *colon = strchr(pc->creds[0], ':');
      mock_copy(account, sizeof(account), pc->creds[0],
                colon != NULL ? (size_t)(colon - pc->creds[0]) : 0);
    }
    param_t params[] = {{"AccountSid", account},
                        {"ApiVersion", "2010-04-01"},
                        {"Body", text},
                        {"From", from},
                        {"MessageSid", msg_id},
                        {"NumMedia", "0"},
                        {"NumSegments", "1"},
                        {"SmsMessageSid", msg_id},
                        {"SmsSid", msg_id},
                        {"SmsStatus", "received"},
                        {"To", to != NULL ? to : ""}};
    twilio_form(pc->cb_url, params, sizeof(params) / sizeof(params[0]), &body, &len, &sign);
  }
  schedule(cb, p, pc->cb_url, body, len, sign, account, pc->cb_delay_ms, msg_id, "received",
           NULL, false, true);
  return json_pack("{s:s}", "message_id", msg_id);
}

/* ---- signing and sending ---- */

static const mock_prov_conf_t *prov_conf(mock_callbacks_t *cb, mock_prov_t p) {
  return &cb->m->conf.prov[p];
}

/* The auth token of Twilio account `sid` (cb_secret wins when set). */
static const char *twilio_token(const mock_prov_conf_t *pc, const char *sid) {
  if (pc->cb_secret[0] != '\0')
    return pc->cb_secret;
  size_t sl = strlen(sid);
  for (size_t i = 0; i < pc->ncreds; i++)
    if (strncmp(pc->creds[i], sid, sl) == 0 && pc->creds[i][sl] == ':')
      return pc->creds[i] + sl + 1;
  return "";
}

static bool hmac(const char *digest, const char *key, const void *data, size_t len,
                 unsigned char *out, size_t *outlen, size_t cap) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
                         OSSL_PARAM_construct_end()};
  static const unsigned char nokey[1];
  size_t kl = strlen(key);
  bool ok = ctx != NULL &&
            EVP_MAC_init(ctx, kl > 0 ? (const unsigned char *)key : nokey, kl, params) == 1 &&
            EVP_MAC_update(ctx, data, len) == 1 && EVP_MAC_final(ctx, out, outlen, cap) == 1;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  struct curl_slist *n = curl_slist_append(l, line);
  return n != NULL ? n : l;
}

/* The provider's headers, signed now. */
static struct curl_slist *signed_headers(mock_callbacks_t *cb, cb_item_t *it) {
  const mock_prov_conf_t *pc = prov_conf(cb, it->prov);
  struct curl_slist *h = NULL;
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t ml = 0;
  switch (it->prov) {
  case MOCK_PROV_WHATSAPP: {
    h = add_header(h, "Content-Type: application/json");
    h = add_header(h, "User-Agent: facebookexternalua");
    if (hmac("SHA256", pc->cb_secret, it->body, it->len, mac, &ml, sizeof(mac))) {
      char hex[2 * EVP_MAX_MD_SIZE + 1];
      h2o_hex_encode(hex, mac, ml);
      h = add_header(h, "X-Hub-Signature-256: sha256=%s", hex);
    }
    break;
  }
  case MOCK_PROV_TWILIO: {
    h = add_header(h, "Content-Type: application/x-www-form-urlencoded");
    h = add_header(h, "User-Agent: TwilioProxy/1.1");
    if (it->sign != NULL &&
        hmac("SHA1", twilio_token(pc, it->account), it->sign, strlen(it->sign), mac, &ml,
             sizeof(mac))) {
      char b64[64];
      h2o_base64_encode(b64, mac, ml, 0);
      h = add_header(h, "X-Twilio-Signature: %s", b64);
    }
    break;
  }
  case MOCK_PROV_SENDGRID: {
    h = add_header(h, "Content-Type: application/json");
    h = add_header(h, "User-Agent: SendGrid Event API");
    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", (long long)(mock_wall_ms() / 1000));
    unsigned char sig[160];
    size_t sl = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && cb->sg_key != NULL &&
              EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, cb->sg_key) == 1 &&
              EVP_DigestSignUpdate(md, ts, strlen(ts)) == 1 &&
              EVP_DigestSignUpdate(md, it->body, it->len) == 1 &&
              EVP_DigestSignFinal(md, sig, &sl) == 1;
    EVP_MD_CTX_free(md);
    if (ok) {
      char b64[256];
      h2o_base64_encode(b64, sig, sl, 0);
      h = add_header(h, "X-Twilio-Email-Event-Webhook-Signature: %s", b64);
      h = add_header(h, "X-Twilio-Email-Event-Webhook-Timestamp: %s", ts);
    }
    break;
  }
  default:
    break;
  }
  /* no "Expect: 100-continue" pause on HTTP/1.1 */
  h = add_header(h, "Expect:");
  return h;
}

static void unlink_flying(mock_callbacks_t *cb, cb_item_t *it) {
  if (it->prev != NULL)
    it->prev->next = it->next;
  else
    cb->flying = it->next;
  if (it->next != NULL)
    it->next->prev = it->prev;
  it->prev = it->next = NULL;
}

static void send_item(mock_callbacks_t *cb, cb_item_t *it) {
  CURL *e = curl_easy_init();
  if (e == NULL) {
    /* try again at the next pump */
    it->due = uv_now(cb->m->loop) + 100;
    heap_push(cb, it);
    return;
  }
  it->easy = e;
  it->headers = signed_headers(cb, it);
  it->attempts++;
  curl_easy_setopt(e, CURLOPT_URL, it->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, it);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, it->body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->headers);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, CALLBACK_TIMEOUT_MS);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (cb->m->conf.cb_ca[0] != '\0')
    curl_easy_setopt(e, CURLOPT_CAINFO, cb->m->conf.cb_ca);
  cb->c[it->prov].sent++;
  cb->inflight++;
  it->prev = NULL;
  it->next = cb->flying;
  if (cb->flying != NULL)
    cb->flying->prev = it;
  cb->flying = it;
  if (curl_multi_add_handle(cb->multi, e) != CURLM_OK) {
    unlink_flying(cb, it);
    cb->inflight--;
    curl_easy_cleanup(e);
    it->easy = NULL;
    curl_slist_free_all(it->headers);
    it->headers = NULL;
    it->due = uv_now(cb->m->loop) + 100;
    heap_push(cb, it);
  }
}

static void on_due(uv_timer_t *t) { pump(t->data); }

/* Sends what is due while there is room in flight, and arms the timer for the next. */
static void pump(mock_callbacks_t *cb) {
  uint64_t now = uv_now(cb->m->loop);
  while (cb->nheap > 0 && cb->inflight < cb->m->conf.cb_concurrency &&
         cb->heap[0]->due <= now)
    send_item(cb, heap_pop(cb));
  uv_timer_stop(&cb->due_timer);
  if (cb->nheap > 0 && cb->inflight < cb->m->conf.cb_concurrency)
    uv_timer_start(&cb->due_timer, on_due,
                   cb->heap[0]->due > now ? cb->heap[0]->due - now : 1, 0);
}

/* A callback came back (or failed): acked, or re-sent later, or given up. */
static void finished(mock_callbacks_t *cb, cb_item_t *it, CURLcode res) {
  long code = 0;
  curl_easy_getinfo(it->easy, CURLINFO_RESPONSE_CODE, &code);
  curl_multi_remove_handle(cb->multi, it->easy);
  curl_easy_cleanup(it->easy);
  it->easy = NULL;
  curl_slist_free_all(it->headers);
  it->headers = NULL;
  unlink_flying(cb, it);
  cb->inflight--;
  cb_counts_t *c = &cb->c[it->prov];
  bool ok = res == CURLE_OK &&
            (it->prov == MOCK_PROV_WHATSAPP ? code == 200 : code >= 200 && code <= 299);
  cb_record_t *r = record_get(cb, it->rec);
  if (r != NULL) {
    r->attempts = it->attempts;
    r->last_http = (uint16_t)(res == CURLE_OK ? code : 0);
  }
  if (ok) {
    c->acked++;
    if (r != NULL) {
      r->state = ST_ACKED;
      r->acked_ms = mock_wall_ms();
    }
    item_free(it);
    return;
  }
  if (res == CURLE_OK)
    c->refused++;
  else
    c->errors++;
  const mock_prov_conf_t *pc = prov_conf(cb, it->prov);
  if (it->attempts > pc->cb_retries) {
    c->given_up++;
    if (r != NULL)
      r->state = ST_GIVEN_UP;
    item_free(it);
    return;
  }
  c->retried++;
  uint64_t backoff = pc->cb_retry_ms;
  for (uint32_t i = 1; i < it->attempts && backoff < MAX_BACKOFF_MS; i++)
    backoff *= 2;
  it->due = uv_now(cb->m->loop) + (backoff < MAX_BACKOFF_MS ? backoff : MAX_BACKOFF_MS);
  heap_push(cb, it);
}

static void drain_done(mock_callbacks_t *cb) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(cb->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    cb_item_t *it = NULL;
    CURLcode res = msg->data.result;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&it);
    finished(cb, it, res);
  }
  pump(cb);
}

/* ---- libcurl multi on the uv loop (curl's docs/examples/multi-uv.c) ---- */

static void on_sock_closed(uv_handle_t *h) { free(h->data); }

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_t *s = p->data;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  int running;
  mock_callbacks_t *cb = s->cb;
  curl_multi_socket_action(cb->multi, s->fd, flags, &running);
  drain_done(cb);
}

static int on_socket(CURL *e, curl_socket_t fd, int action, void *userp, void *socketp) {
  (void)e;
  mock_callbacks_t *cb = userp;
  sock_t *s = socketp;
  if (action == CURL_POLL_REMOVE) {
    if (s != NULL) {
      uv_poll_stop(&s->poll);
      uv_close((uv_handle_t *)&s->poll, on_sock_closed);
      curl_multi_assign(cb->multi, fd, NULL);
    }
    return 0;
  }
  if (s == NULL) {
    s = calloc(1, sizeof(*s));
    if (s == NULL)
      return -1;
    s->fd = fd;
    s->cb = cb;
    uv_poll_init_socket(cb->m->loop, &s->poll, fd);
    s->poll.data = s;
    curl_multi_assign(cb->multi, fd, s);
  }
  int events = 0;
  if (action != CURL_POLL_OUT)
    events |= UV_READABLE;
  if (action != CURL_POLL_IN)
    events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, on_poll);
  return 0;
}

static void on_curl_timeout(uv_timer_t *t) {
  mock_callbacks_t *cb = t->data;
  int running;
  curl_multi_socket_action(cb->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  drain_done(cb);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  mock_callbacks_t *cb = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&cb->curl_timer);
  else
    uv_timer_start(&cb->curl_timer, on_curl_timeout, timeout_ms > 0 ? (uint64_t)timeout_ms : 1,
                   0);
  return 0;
}

/* ---- SendGrid's key ---- */

static int load_or_make_key(mock_callbacks_t *cb, const mock_config_t *c) {
  if (c->sg_signing_key[0] != '\0') {
    FILE *f = fopen(c->sg_signing_key, "r");
    if (f != NULL) {
      cb->sg_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
      fclose(f);
    }
    if (cb->sg_key == NULL) {
      fprintf(stderr, "mock-provider: %s: not a PEM private key\n", c->sg_signing_key);
      return -1;
    }
  } else {
    cb->sg_key = EVP_EC_gen("P-256");
    if (cb->sg_key == NULL) {
      fprintf(stderr, "mock-provider: cannot make a P-256 key for SendGrid's callbacks\n");
      return -1;
    }
  }
  unsigned char *der = NULL;
  int n = i2d_PUBKEY(cb->sg_key, &der);
  if (n <= 0)
    return -1;
  char *b64 = malloc((size_t)n * 2 + 8);
  if (b64 == NULL) {
    OPENSSL_free(der);
    return -1;
  }
  h2o_base64_encode(b64, der, (size_t)n, 0);
  OPENSSL_free(der);
  int rc = 0;
  if (c->sg_public_key_out[0] != '\0') {
    /* written whole, then renamed: a reader never sees half a key */
    char tmp[MOCK_PATH_LEN + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", c->sg_public_key_out);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%s\n", b64) < 0 || fclose(f) != 0 ||
        rename(tmp, c->sg_public_key_out) != 0) {
      fprintf(stderr, "mock-provider: cannot write %s\n", c->sg_public_key_out);
      rc = -1;
    }
  }
  if (!c->quiet)
    fprintf(stderr, "mock-provider: sendgrid event webhook public key %s\n", b64);
  free(b64);
  return rc;
}

/* ---- lifetime ---- */

int mock_callbacks_start(mock_t *m) {
  mock_callbacks_t *cb = calloc(1, sizeof(*cb));
  if (cb == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    free(cb);
    fprintf(stderr, "mock-provider: cannot set up the callback client\n");
    return -1;
  }
  cb->m = m;
  cb->cap = m->conf.cb_queue;
  cb->ring_cap = m->conf.cb_records;
  cb->heap = calloc(cb->cap > 0 ? cb->cap : 1, sizeof(*cb->heap));
  cb->ring = calloc(cb->ring_cap, sizeof(*cb->ring));
  cb->multi = curl_multi_init();
  if (cb->heap == NULL || cb->ring == NULL || cb->multi == NULL ||
      load_or_make_key(cb, &m->conf) != 0) {
    curl_multi_cleanup(cb->multi);
    EVP_PKEY_free(cb->sg_key);
    free(cb->heap);
    free(cb->ring);
    free(cb);
    fprintf(stderr, "mock-provider: cannot set up the callbacks\n");
    return -1;
  }
  curl_multi_setopt(cb->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(cb->multi, CURLMOPT_SOCKETDATA, cb);
  curl_multi_setopt(cb->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(cb->multi, CURLMOPT_TIMERDATA, cb);
  uv_timer_init(m->loop, &cb->curl_timer);
  uv_timer_init(m->loop, &cb->due_timer);
  cb->curl_timer.data = cb->due_timer.data = cb;
  m->callbacks = cb;
  return 0;
}

void mock_callbacks_dispose(mock_t *m) {
  mock_callbacks_t *cb = m->callbacks;
  if (cb == NULL)
    return;
  m->callbacks = NULL;
  /* what is in flight is abandoned: removing each handle closes its sockets (CURL_POLL_REMOVE
   * closes the poll handles), and the loop runs once more for their close callbacks */
  curl_multi_setopt(cb->multi, CURLMOPT_TIMERFUNCTION, NULL);
  while (cb->flying != NULL) {
    cb_item_t *it = cb->flying;
    unlink_flying(cb, it);
    curl_multi_remove_handle(cb->multi, it->easy);
    curl_easy_cleanup(it->easy);
    it->easy = NULL;
    item_free(it);
  }
  curl_multi_cleanup(cb->multi);
  uv_close((uv_handle_t *)&cb->curl_timer, NULL);
  uv_close((uv_handle_t *)&cb->due_timer, NULL);
  uv_run(m->loop, UV_RUN_NOWAIT);
  for (size_t i = 0; i < cb->nheap; i++)
    item_free(cb->heap[i]);
  EVP_PKEY_free(cb->sg_key);
  free(cb->heap);
  free(cb->ring);
  free(cb);
  curl_global_cleanup();
}

/* ---- admin ---- */

json_t *mock_callbacks_stats(const mock_t *m) {
  const mock_callbacks_t *cb = m->callbacks;
  json_t *j = json_object();
  if (cb == NULL)
    return j;
  for (int p = 0; p < MOCK_PROV_COUNT; p++) {
    const cb_counts_t *c = &cb->c[p];
    json_object_set_new(j, mock_prov_name((mock_prov_t)p),
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "scheduled",
                                  (json_int_t)c->scheduled, "sent", (json_int_t)c->sent, "acked",
                                  (json_int_t)c->acked, "refused", (json_int_t)c->refused,
                                  "errors", (json_int_t)c->errors, "retried",
                                  (json_int_t)c->retried, "given_up", (json_int_t)c->given_up,
                                  "dropped", (json_int_t)c->dropped));
  }
  json_object_set_new(j, "pending", json_integer((json_int_t)(cb->nheap + cb->inflight)));
  json_object_set_new(j, "in_flight", json_integer((json_int_t)cb->inflight));
  return j;
}

json_t *mock_callbacks_records(const mock_t *m, uint64_t since, size_t limit, int prov,
                               const char *state) {
  const mock_callbacks_t *cb = m->callbacks;
  json_t *arr = json_array();
  uint64_t next = since;
  if (cb != NULL) {
    uint64_t first = cb->next_seq > cb->ring_cap ? cb->next_seq - cb->ring_cap + 1 : 1;
    if (first <= cb->floor_seq)
      first = cb->floor_seq + 1;
    for (uint64_t seq = since + 1 > first ? since + 1 : first;
         seq <= cb->next_seq && json_array_size(arr) < limit; seq++) {
      const cb_record_t *r = &cb->ring[(seq - 1) % cb->ring_cap];
      next = seq;
      if (r->seq != seq || (prov >= 0 && r->prov != prov) ||
          (state != NULL && strcmp(state, state_names[r->state]) != 0))
        continue;
      json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:i, s:b, s:b, s:I, s:I}", "seq",
                            (json_int_t)r->seq, "provider", mock_prov_name((mock_prov_t)r->prov),
                            "message_id", r->message_id, "status", r->status, "state",
                            state_names[r->state], "attempts", (json_int_t)r->attempts,
                            "last_http_status", r->last_http, "duplicate", r->duplicate,
                            "inbound", r->inbound, "scheduled_ms", (json_int_t)r->scheduled_ms,
                            "acked_ms", (json_int_t)r->acked_ms);
      if (r->event_id[0] != '\0')
        json_object_set_new(j, "event_id", json_string(r->event_id));
      json_array_append_new(arr, j);
    }
  }
  return json_pack("{s:o, s:I}", "records", arr, "next", (json_int_t)next);
}

void mock_callbacks_reset(mock_t *m) {
  mock_callbacks_t *cb = m->callbacks;
  if (cb == NULL)
    return;
  memset(cb->c, 0, sizeof(cb->c));
  cb->floor_seq = cb->next_seq;
}
