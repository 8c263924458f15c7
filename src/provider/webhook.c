/* What the adapters' webhook hooks share: header lookup, form decoding, HMAC and
 * constant-time comparison, Twilio's string to sign, the correlation carteiro puts on every
 * message, and starting an event. No I/O: the listener (src/http) hands the request in.
 *
 * Why over the raw bytes: a provider signs exactly what it sent. Meta signs an escaped-unicode
 * JSON text ("\u00e4", "\/"); anything that parses and re-serializes the body changes those
 * bytes and fails every signature with a non-ASCII name in it (webhooks-facts E2). So the
 * listener passes the body through untouched, the signature is checked first, and only then
 * is the body parsed.
 */
#include "provider/provider_int.h"

#include "common/base64.h"
#include "common/error.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  int status;
  const char *name;
} checks[] = {
#define CT__WEBHOOK_CHECK_ROW(name, status, text) {status, text},
    CT_WEBHOOK_CHECK_MAP(CT__WEBHOOK_CHECK_ROW)
#undef CT__WEBHOOK_CHECK_ROW
};

const char *ct_webhook_check_name(ct_webhook_check_t c) {
  return c >= 0 && c < CT_WEBHOOK_CHECK_COUNT ? checks[c].name : "unknown";
}

int ct_webhook_check_status(ct_webhook_check_t c) {
  return c >= 0 && c < CT_WEBHOOK_CHECK_COUNT ? checks[c].status : 500;
}

const char *ct_webhook_header(const ct_webhook_request_t *req, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < req->n_headers; i++) {
    const ct_webhook_header_t *h = &req->headers[i];
    if (h->name_len == nl && memcmp(h->name, name, nl) == 0) {
      *len = h->value_len;
      return h->value;
    }
  }
  *len = 0;
  return NULL;
}

/* ---- forms and query strings ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes one form component into dst (room for n bytes); returns its length or -1. */
static ssize_t form_decode(const char *s, size_t n, char *dst) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+') {
      dst[o++] = ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= n)
        return -1;
      int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      dst[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      dst[o++] = s[i];
    }
  }
  return (ssize_t)o;
}

int ct__form_parse(const char *s, size_t n, ct__form_t *out) {
  ct__form_t f = {0};
  size_t cap = 1;
  for (size_t i = 0; i < n; i++)
    cap += s[i] == '&';
  if (cap > CT__FORM_MAX_PARAMS)
    return CT_EDECODE;
  f.v = calloc(cap, sizeof *f.v);
  f.store = malloc(n + 1);
  if (f.v == NULL || f.store == NULL) {
    ct__form_free(&f);
    return CT_ENOMEM;
  }
  size_t at = 0;
  const char *p = s, *end = s + n;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp != NULL ? amp : end;
    if (e > p) { /* "a&&b": an empty pair is no parameter */
      const char *eq = memchr(p, '=', (size_t)(e - p));
      const char *ne = eq != NULL ? eq : e;
      ssize_t nl = form_decode(p, (size_t)(ne - p), f.store + at);
      if (nl < 0) {
        ct__form_free(&f);
        return CT_EDECODE;
      }
      ct__param_t *prm = &f.v[f.n++];
      prm->name = f.store + at;
      prm->name_len = (size_t)nl;
      at += (size_t)nl;
      ssize_t vl = eq != NULL ? form_decode(eq + 1, (size_t)(e - eq - 1), f.store + at) : 0;
      if (vl < 0) {
        ct__form_free(&f);
        return CT_EDECODE;
      }
      prm->value = f.store + at;
      prm->value_len = (size_t)vl;
      at += (size_t)vl;
    }
    p = amp != NULL ? amp + 1 : end;
  }
  f.store[at] = '\0';
  *out = f;
  return 0;
}

void ct__form_free(ct__form_t *f) {
  free(f->v);
  free(f->store);
  memset(f, 0, sizeof *f);
}

const ct__param_t *ct__form_get(const ct__form_t *f, const char *name) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < f->n; i++)
    if (f->v[i].name_len == nl && memcmp(f->v[i].name, name, nl) == 0)
      return &f->v[i];
  return NULL;
}

/* ---- MACs ---- */

int ct__hmac(const char *digest, const void *key, size_t keylen, const void *const *parts,
             const size_t *lens, size_t n, unsigned char *out, size_t cap, size_t *outlen) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
  params[1] = OSSL_PARAM_construct_end();
  /* an empty key is a key (HMAC pads it); OpenSSL wants a non-NULL pointer all the same */
  static const unsigned char nokey[1];
  bool ok = ctx != NULL &&
            EVP_MAC_init(ctx, keylen > 0 ? key : nokey, keylen, params) == 1;
  for (size_t i = 0; ok && i < n; i++)
    ok = lens[i] == 0 || EVP_MAC_update(ctx, parts[i], lens[i]) == 1;
  ok = ok && EVP_MAC_final(ctx, out, outlen, cap) == 1;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok ? 0 : CT_ENOMEM;
}

bool ct__equal_const(const void *a, const void *b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

bool ct__hex_decode(const char *hex, size_t len, unsigned char *out, size_t n) {
  if (len != 2 * n)
    return false;
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return true;
}

/* ---- Twilio's string to sign ---- */

typedef struct {
  const ct__param_t *p;
  size_t index;
} sorted_t;

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  if (c != 0)
    return c;
  return al < bl ? -1 : al > bl ? 1 : 0;
}

/* By name, then by value (a repeated name: Twilio's libraries sort its values too), then by
 * position, so the order is total and the sort stable. */
static int cmp_param(const void *x, const void *y) {
  const sorted_t *a = x, *b = y;
  int c = cmp_bytes(a->p->name, a->p->name_len, b->p->name, b->p->name_len);
  if (c == 0)
    c = cmp_bytes(a->p->value, a->p->value_len, b->p->value, b->p->value_len);
  if (c == 0)
    c = a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
  return c;
}

int ct__twilio_mac(const char *token, const char *url, size_t url_len, const ct__form_t *form,
                   unsigned char mac[20]) {
  size_t n = form->n;
  sorted_t *s = malloc((n > 0 ? n : 1) * sizeof *s);
  const void **parts = malloc((2 * n + 1) * sizeof *parts);
  size_t *lens = malloc((2 * n + 1) * sizeof *lens);
  int rc = CT_ENOMEM;
  if (s != NULL && parts != NULL && lens != NULL) {
    for (size_t i = 0; i < n; i++)
      s[i] = (sorted_t){&form->v[i], i};
    qsort(s, n, sizeof *s, cmp_param);
    parts[0] = url;
    lens[0] = url_len;
    for (size_t i = 0; i < n; i++) {
      parts[1 + 2 * i] = s[i].p->name;
      lens[1 + 2 * i] = s[i].p->name_len;
      parts[2 + 2 * i] = s[i].p->value;
      lens[2 + 2 * i] = s[i].p->value_len;
    }
    size_t len = 0;
    rc = ct__hmac("SHA1", token, strlen(token), parts, lens, 2 * n + 1, mac, 20, &len);
    if (rc == 0 && len != 20)
      rc = CT_ENOMEM;
  }
  free(s);
  free(parts);
  free(lens);
  return rc;
}

int ct_webhook_twilio_signature(const char *token, const char *url, size_t url_len,
                                const char *form, size_t form_len, char *out, size_t cap) {
  ct__form_t f;
  int rc = ct__form_parse(form, form_len, &f);
  if (rc != 0)
    return rc;
  unsigned char mac[20];
  rc = ct__twilio_mac(token, url, url_len, &f, mac);
  ct__form_free(&f);
  if (rc != 0)
    return rc;
  char *b64 = ct_base64_encode(mac, sizeof mac);
  if (b64 == NULL)
    return CT_ENOMEM;
  if (strlen(b64) >= cap) {
    free(b64);
    return CT_EINVAL;
  }
  memcpy(out, b64, strlen(b64) + 1);
  free(b64);
  return 0;
}

/* ---- correlation ---- */

#define CORRELATION_PREFIX "ct:"

int ct__correlation_format(char *out, size_t cap, const char *job_id, unsigned part) {
  int n = snprintf(out, cap, CORRELATION_PREFIX "%u:%s", part, job_id);
  return n > 0 && (size_t)n < cap ? 0 : CT_EINVAL;
}

bool ct_correlation_parse(const char *s, size_t n, char *job_id, size_t cap, uint32_t *part) {
  size_t pl = sizeof CORRELATION_PREFIX - 1;
  if (s == NULL || n <= pl || memcmp(s, CORRELATION_PREFIX, pl) != 0)
    return false;
  size_t i = pl;
  uint64_t v = 0;
  size_t digits = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 6) {
    v = v * 10 + (uint64_t)(s[i] - '0');
    i++;
    digits++;
  }
  if (digits == 0 || i >= n || s[i] != ':')
    return false;
  i++;
  size_t idl = n - i;
  if (idl == 0 || idl >= cap)
    return false;
  for (size_t k = i; k < n; k++)
    if ((unsigned char)s[k] < 0x20 || (unsigned char)s[k] == 0x7f)
      return false;
  memcpy(job_id, s + i, idl);
  job_id[idl] = '\0';
  *part = (uint32_t)v;
  return true;
}

/* ---- events ---- */

void ct__event_start(ct_event_t *e, const ct_provider_conf_t *conf, ct_event_kind_t kind,
                     int64_t now_ms) {
  e->kind = kind;
  e->channel = conf->channel;
  ct_event_copy(e->account, sizeof e->account, conf->name, strlen(conf->name));
  e->received_ms = now_ms;
  e->status = kind == CT_EVENT_INBOUND ? CT_EVENT_STATUS_RECEIVED : CT_EVENT_STATUS_UNKNOWN;
}

bool ct__parse_epoch_s(const char *s, size_t n, int64_t *ms) {
  if (s == NULL || n == 0 || n > 12)
    return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *ms = v * 1000;
  return true;
}
