/* Webhook events: names, bounded copies, the stored encoding (carteiro.v1.Event) and the
 * operator's JSON view. */
#include "event/event.h"

#include "carteiro/v1/event.pb-c.h"
#include "common/error.h"
#include "common/mask.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
#define CT__EVENT_STATUS_NAME(name, text) text,
    CT_EVENT_STATUS_MAP(CT__EVENT_STATUS_NAME)
#undef CT__EVENT_STATUS_NAME
};

const char *ct_event_status_name(int status) {
  if (status < 0 || status >= CT_EVENT_STATUS_COUNT)
    return "unknown";
  return status_names[status];
}

int ct_event_status_parse(const char *name, ct_event_status_t *out) {
  for (int i = 0; i < CT_EVENT_STATUS_COUNT; i++) {
    if (strcmp(name, status_names[i]) == 0) {
      *out = (ct_event_status_t)i;
      return 0;
    }
  }
  return CT_EINVAL;
}

const char *ct_event_kind_name(int kind) {
  switch (kind) {
  case CT_EVENT_STATUS:
    return "status";
  case CT_EVENT_INBOUND:
    return "inbound";
  default:
    return NULL;
  }
}

void ct_event_clear(ct_event_t *e) {
  if (e == NULL)
    return;
  if (e->text != NULL) {
    /* what a customer wrote: gone from memory, not just from the heap's books */
    explicit_bzero(e->text, strlen(e->text));
    free(e->text);
  }
  memset(e, 0, sizeof *e);
}

/* The length of the longest prefix of s[0..n) that is at most `max` bytes and does not end
 * inside a UTF-8 sequence (a continuation byte is never the first byte kept after the cut). */
static size_t utf8_cut(const char *s, size_t n, size_t max) {
  if (n <= max)
    return n;
  size_t k = max;
  while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
    k--;
  return k;
}

bool ct_event_copy(char *dst, size_t cap, const char *s, size_t n) {
  if (cap == 0)
    return n == 0;
  if (s == NULL)
    n = 0;
  size_t k = utf8_cut(s, n, cap - 1);
  for (size_t i = 0; i < k; i++) {
    unsigned char c = (unsigned char)s[i];
    dst[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
  }
  dst[k] = '\0';
  return k == n;
}

void ct_event_set_id(ct_event_t *e, const char *const *parts, size_t n) {
  size_t total = 0;
  bool plain = true;
  for (size_t i = 0; i < n; i++) {
    if (parts[i] == NULL)
      continue;
    for (const unsigned char *p = (const unsigned char *)parts[i]; *p != '\0'; p++, total++)
      plain = plain && *p >= 0x20 && *p != 0x7f;
  }
  /* kept as it is only when it fits and holds no control character (which a stored copy would
   * turn into a space: two ids must never become one) */
  if (plain && total < sizeof e->event_id) {
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
      if (parts[i] == NULL)
        continue;
      size_t l = strlen(parts[i]);
      memcpy(e->event_id + at, parts[i], l);
      at += l;
    }
    e->event_id[at] = '\0';
    return;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
  for (size_t i = 0; ok && i < n; i++)
    if (parts[i] != NULL)
      ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    /* libcrypto out of memory: an id that cannot be computed is no id (the caller's event
     * is then refused as malformed rather than stored under a colliding prefix) */
    e->event_id[0] = '\0';
    return;
  }
  static const char hex[] = "0123456789abcdef";
  char *p = e->event_id;
  *p++ = 'h';
  *p++ = ':';
  for (unsigned i = 0; i < mdlen; i++) {
    *p++ = hex[md[i] >> 4];
    *p++ = hex[md[i] & 15];
  }
  *p = '\0';
}

int ct_event_set_text(ct_event_t *e, const char *s, size_t n) {
  size_t k = utf8_cut(s, n, CT_EVENT_TEXT_MAX);
  char *t = malloc(k + 1);
  if (t == NULL)
    return CT_ENOMEM;
  memcpy(t, s, k);
  t[k] = '\0';
  if (e->text != NULL) {
    explicit_bzero(e->text, strlen(e->text));
    free(e->text);
  }
  e->text = t;
  return 0;
}

/* ---- the stored form ---- */

int ct_event_encode(const ct_event_t *e, uint8_t **out, size_t *len) {
  Carteiro__V1__Event m = CARTEIRO__V1__EVENT__INIT;
  m.kind = (Carteiro__V1__EventKind)e->kind;
  m.channel = (Carteiro__V1__Channel)e->channel;
  m.account = (char *)e->account;
  m.event_id = (char *)e->event_id;
  m.message_id = (char *)e->message_id;
  m.status = (uint32_t)e->status;
  m.provider_status = (char *)e->provider_status;
  m.error_code = (char *)e->error_code;
  m.error_title = (char *)e->error_title;
  m.at_ms = e->at_ms;
  m.job_id = (char *)e->job_id;
  m.part = e->part;
  m.from = (char *)e->from;
  m.to = (char *)e->to;
  m.text = e->text != NULL ? e->text : (char *)"";
  m.message_type = (char *)e->message_type;
  m.reply_id = (char *)e->reply_id;
  m.context_id = (char *)e->context_id;
  m.profile_name = (char *)e->profile_name;
  m.received_ms = e->received_ms;
  size_t n = carteiro__v1__event__get_packed_size(&m);
  uint8_t *buf = malloc(n > 0 ? n : 1);
  if (buf == NULL)
    return CT_ENOMEM;
  *len = carteiro__v1__event__pack(&m, buf);
  *out = buf;
  return 0;
}

static void copy_str(char *dst, size_t cap, const char *s) {
  ct_event_copy(dst, cap, s, s != NULL ? strlen(s) : 0);
}

int ct_event_decode(const uint8_t *buf, size_t len, ct_event_t *out) {
  Carteiro__V1__Event *m = carteiro__v1__event__unpack(NULL, len, buf);
  if (m == NULL)
    return CT_EDECODE;
  ct_event_t e;
  memset(&e, 0, sizeof e);
  e.kind = (ct_event_kind_t)m->kind;
  e.channel = (ct_channel_t)m->channel;
  copy_str(e.account, sizeof e.account, m->account);
  copy_str(e.event_id, sizeof e.event_id, m->event_id);
  copy_str(e.message_id, sizeof e.message_id, m->message_id);
  e.status = m->status < CT_EVENT_STATUS_COUNT ? (ct_event_status_t)m->status
                                               : CT_EVENT_STATUS_OTHER;
  copy_str(e.provider_status, sizeof e.provider_status, m->provider_status);
  copy_str(e.error_code, sizeof e.error_code, m->error_code);
  copy_str(e.error_title, sizeof e.error_title, m->error_title);
  e.at_ms = m->at_ms;
  copy_str(e.job_id, sizeof e.job_id, m->job_id);
  e.part = m->part;
  copy_str(e.from, sizeof e.from, m->from);
  copy_str(e.to, sizeof e.to, m->to);
  copy_str(e.message_type, sizeof e.message_type, m->message_type);
  copy_str(e.reply_id, sizeof e.reply_id, m->reply_id);
  copy_str(e.context_id, sizeof e.context_id, m->context_id);
  copy_str(e.profile_name, sizeof e.profile_name, m->profile_name);
  e.received_ms = m->received_ms;
  int rc = 0;
  if (m->text != NULL && m->text[0] != '\0')
    rc = ct_event_set_text(&e, m->text, strlen(m->text));
  carteiro__v1__event__free_unpacked(m, NULL);
  if (rc != 0)
    return rc;
  ct_event_clear(out);
  *out = e;
  return 0;
}

/* ---- lists ---- */

int ct_event_list_add(ct_event_list_t *l, ct_event_t **out) {
  if (l->n == CT_EVENT_BATCH_MAX)
    return CT_ETOOBIG;
  if (l->n == l->cap) {
    size_t cap = l->cap != 0 ? l->cap * 2 : 8;
    if (cap > CT_EVENT_BATCH_MAX)
      cap = CT_EVENT_BATCH_MAX;
    ct_event_t *v = realloc(l->v, cap * sizeof *v);
    if (v == NULL)
      return CT_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  ct_event_t *e = &l->v[l->n++];
  memset(e, 0, sizeof *e);
  *out = e;
  return 0;
}

void ct_event_list_pop(ct_event_list_t *l) {
  if (l->n > 0)
    ct_event_clear(&l->v[--l->n]);
}

void ct_event_list_free(ct_event_list_t *l) {
  for (size_t i = 0; i < l->n; i++)
    ct_event_clear(&l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

/* ---- the operator's view ---- */

/* A phone (with or without '+') or an e-mail address, masked; anything else "***". */
static const char *mask_peer(const char *s, char *buf, size_t cap) {
  if (s[0] == '\0')
    return s;
  if (strchr(s, '@') != NULL)
    return ct_mask_email(s, buf, cap);
  if (s[0] == '+')
    return ct_mask_phone(s, buf, cap);
  char plus[CT_EVENT_PEER_LEN + 1];
  snprintf(plus, sizeof plus, "+%s", s);
  return ct_mask_phone(plus, buf, cap);
}

json_t *ct_event_to_json(const ct_event_t *e, unsigned flags) {
  bool clear = (flags & CT_EVENT_JSON_CLEAR) != 0;
  char from[CT_MASK_BUFSZ], to[CT_MASK_BUFSZ], name[CT_MASK_BUFSZ];
  const char *kind = ct_event_kind_name(e->kind);
  const char *channel = ct_channel_name(e->channel);
  json_t *j = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "kind", kind ? kind : "",
      "channel", channel ? channel : "", "account", e->account, "event_id", e->event_id,
      "message_id", e->message_id, "status", ct_event_status_name(e->status),
      "provider_status", e->provider_status, "error_code", e->error_code, "error_title",
      e->error_title, "at_ms", (json_int_t)e->at_ms, "received_ms", (json_int_t)e->received_ms);
  if (j == NULL)
    return NULL;
  bool ok = true;
  if (e->job_id[0] != '\0') {
    ok = json_object_set_new(j, "job_id", json_string(e->job_id)) == 0 && ok;
    ok = json_object_set_new(j, "part", json_integer(e->part)) == 0 && ok;
  }
  const char *f = clear ? e->from : mask_peer(e->from, from, sizeof from);
  const char *t = clear ? e->to : mask_peer(e->to, to, sizeof to);
  ok = json_object_set_new(j, "from", json_string(f)) == 0 && ok;
  ok = json_object_set_new(j, "to", json_string(t)) == 0 && ok;
  if (e->kind == CT_EVENT_INBOUND) {
    ok = json_object_set_new(j, "message_type", json_string(e->message_type)) == 0 && ok;
    ok = json_object_set_new(j, "reply_id", json_string(e->reply_id)) == 0 && ok;
    ok = json_object_set_new(j, "context_id", json_string(e->context_id)) == 0 && ok;
    const char *pn = e->profile_name[0] == '\0' || clear
                         ? e->profile_name
                         : ct_mask_all(e->profile_name, name, sizeof name);
    ok = json_object_set_new(j, "profile_name", json_string(pn)) == 0 && ok;
    if (clear)
      ok = json_object_set_new(j, "text", json_string(e->text != NULL ? e->text : "")) == 0 &&
           ok;
    else
      ok = json_object_set_new(j, "text_bytes",
                               json_integer(e->text != NULL ? (json_int_t)strlen(e->text) : 0)) ==
               0 &&
           ok;
  }
  if (!ok) {
    json_decref(j);
    return NULL;
  }
  return j;
}
