/* The job record of the JetStream backend, and job ids as KV keys. See jetstream.c. */
#include "spool/jetstream/jetstream_int.h"

#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "CTJ1"

static int reserve(ct__spool_buf_t *b, size_t len) {
  if (len <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 512;
  while (cap < len)
    cap *= 2;
  uint8_t *d = realloc(b->data, cap);
  if (d == NULL)
    return CT_ENOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

static int put(ct__spool_buf_t *b, size_t *at, const void *p, size_t n) {
  int rc = reserve(b, *at + n);
  if (rc != 0)
    return rc;
  if (n > 0)
    memcpy(b->data + *at, p, n);
  *at += n;
  return 0;
}

static int put_u32(ct__spool_buf_t *b, size_t *at, uint32_t v) {
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  return put(b, at, x, 4);
}

static int put_i64(ct__spool_buf_t *b, size_t *at, int64_t v) {
  uint64_t u = (uint64_t)v;
  uint8_t x[8];
  for (int i = 0; i < 8; i++)
    x[i] = (uint8_t)(u >> (8 * i));
  return put(b, at, x, 8);
}

static int put_bytes(ct__spool_buf_t *b, size_t *at, const void *p, size_t n) {
  int rc = put_u32(b, at, (uint32_t)n);
  return rc != 0 ? rc : put(b, at, p, n);
}

int ct__js_rec_encode(const ct__js_rec_t *r, const ct__js_view_t *extra, size_t n_extra,
                      ct__spool_buf_t *b, size_t *len) {
  size_t at = 0;
  int rc = put(b, &at, MAGIC, 4);
  uint8_t state = (uint8_t)r->state, channel = (uint8_t)r->last_channel;
  if (rc == 0)
    rc = put(b, &at, &state, 1);
  if (rc == 0)
    rc = put(b, &at, &channel, 1);
  if (rc == 0)
    rc = put_u32(b, &at, r->attempts);
  if (rc == 0)
    rc = put_i64(b, &at, r->due_ms);
  if (rc == 0)
    rc = put_i64(b, &at, r->enqueued_ms);
  if (rc == 0)
    rc = put_i64(b, &at, r->updated_ms);
  if (rc == 0)
    rc = put_bytes(b, &at, r->provider.p, r->provider.len);
  if (rc == 0)
    rc = put_bytes(b, &at, r->reason.p, r->reason.len);
  if (rc == 0)
    rc = put_bytes(b, &at, r->receipt.p, r->receipt.len);
  if (rc == 0)
    rc = put_bytes(b, &at, r->job.p, r->job.len);
  if (rc == 0)
    rc = put_u32(b, &at, (uint32_t)(r->n_history + n_extra));
  for (size_t i = 0; rc == 0 && i < r->n_history; i++)
    rc = put_bytes(b, &at, r->history[i].p, r->history[i].len);
  for (size_t i = 0; rc == 0 && i < n_extra; i++)
    rc = put_bytes(b, &at, extra[i].p, extra[i].len);
  if (rc == 0)
    *len = at;
  return rc;
}

typedef struct {
  const uint8_t *p;
  size_t left;
} rd_t;

static bool get(rd_t *r, void *out, size_t n) {
  if (r->left < n)
    return false;
  memcpy(out, r->p, n);
  r->p += n;
  r->left -= n;
  return true;
}

static bool get_u32(rd_t *r, uint32_t *v) {
  uint8_t x[4];
  if (!get(r, x, 4))
    return false;
  *v = (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
  return true;
}

static bool get_i64(rd_t *r, int64_t *v) {
  uint8_t x[8];
  if (!get(r, x, 8))
    return false;
  uint64_t u = 0;
  for (int i = 0; i < 8; i++)
    u |= (uint64_t)x[i] << (8 * i);
  *v = (int64_t)u;
  return true;
}

static bool get_view(rd_t *r, ct__js_view_t *v) {
  uint32_t n;
  if (!get_u32(r, &n) || r->left < n)
    return false;
  v->p = r->p;
  v->len = n;
  r->p += n;
  r->left -= n;
  return true;
}

int ct__js_rec_decode(const void *data, size_t len, ct__js_rec_t *out) {
  rd_t r = {data, len};
  char magic[4];
  uint8_t state, channel;
  uint32_t nh;
  ct__js_rec_t rec = {0};
  if (!get(&r, magic, 4) || memcmp(magic, MAGIC, 4) != 0 || !get(&r, &state, 1) ||
      !get(&r, &channel, 1) || !get_u32(&r, &rec.attempts) || !get_i64(&r, &rec.due_ms) ||
      !get_i64(&r, &rec.enqueued_ms) || !get_i64(&r, &rec.updated_ms) ||
      !get_view(&r, &rec.provider) || !get_view(&r, &rec.reason) ||
      !get_view(&r, &rec.receipt) || !get_view(&r, &rec.job) || !get_u32(&r, &nh) ||
      nh > r.left / 4)
    return CT_ECORRUPT;
  rec.state = state;
  rec.last_channel = channel;
  if (nh > 0) {
    rec.history = calloc(nh, sizeof *rec.history);
    if (rec.history == NULL)
      return CT_ENOMEM;
  }
  for (uint32_t i = 0; i < nh; i++) {
    if (!get_view(&r, &rec.history[i])) {
      free(rec.history);
      return CT_ECORRUPT;
    }
  }
  rec.n_history = nh;
  *out = rec;
  return 0;
}

void ct__js_rec_free(ct__js_rec_t *r) {
  free(r->history);
  r->history = NULL;
  r->n_history = 0;
}

/* KV keys may hold [-/_=.a-zA-Z0-9]; a job id is any printable ASCII. Letters, digits, '-'
 * and '_' stay; every other byte becomes '=' and two hex digits, so the mapping is one to
 * one and a key never starts or ends with '.'. */
int ct__js_key(const char *id, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
    bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '-' || *p == '_';
    if (o + (plain ? 1 : 3) >= cap)
      return CT_EINVAL;
    if (plain) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '=';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  if (o == 0)
    return CT_EINVAL;
  out[o] = '\0';
  return 0;
}

/* A reason as one subject token: the same character rule, anything else becomes '_'. */
void ct__js_token(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < cap; p++) {
    bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '-' || *p == '_';
    out[o++] = plain ? (char)*p : '_';
  }
  if (o == 0)
    out[o++] = '_';
  out[o] = '\0';
}
