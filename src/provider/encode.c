/* Byte-level helpers of the adapters: a capped growing buffer, UTF-8 repair, percent-encoding
 * for URL paths and form bodies, base64. */
#include "provider/provider_int.h"

#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte buffer ------------------------------------------------------------------------ */

static bool buf_reserve(ct__buf_t *b, size_t more) {
  if (b->failed)
    return false;
  if (more > CT__BUF_MAX - b->len) {
    b->failed = true;
    return false;
  }
  size_t need = b->len + more + 1;
  if (need <= b->cap)
    return true;
  size_t cap = b->cap != 0 ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  /* Grow by copying rather than realloc, so that the old block can be wiped: an
   * Authorization value passes through a buffer before it becomes a header. */
  char *p = malloc(cap);
  if (p == NULL) {
    b->failed = true;
    return false;
  }
  if (b->data != NULL) {
    memcpy(p, b->data, b->len + 1);
    explicit_bzero(b->data, b->cap);
    free(b->data);
  }
  b->data = p;
  b->cap = cap;
  return true;
}

void ct__buf_add(ct__buf_t *b, const char *s, size_t n) {
  if (!buf_reserve(b, n))
    return;
  if (n > 0)
    memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void ct__buf_puts(ct__buf_t *b, const char *s) { ct__buf_add(b, s, strlen(s)); }

void ct__buf_putc(ct__buf_t *b, char c) { ct__buf_add(b, &c, 1); }

void ct__buf_utf8(ct__buf_t *b, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    /* Copy runs of valid text at once; only a bad byte costs a replacement. */
    size_t start = i;
    while (i < n) {
      uint32_t cp;
      size_t k = ct__utf8_next(p + i, n - i, &cp);
      if (cp == 0xFFFD && k == 1)
        break;
      i += k;
    }
    ct__buf_add(b, s + start, i - start);
    if (i < n) {
      ct__buf_add(b, "\xEF\xBF\xBD", 3);
      i++;
    }
  }
}

void ct__buf_base_url(ct__buf_t *b, const char *base) {
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/')
    n--;
  ct__buf_add(b, base, n);
}

static const char hexdigits[] = "0123456789ABCDEF";

static void put_pct(ct__buf_t *b, unsigned char c) {
  char e[3] = {'%', hexdigits[c >> 4], hexdigits[c & 15]};
  ct__buf_add(b, e, 3);
}

static bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

void ct__buf_path(ct__buf_t *b, const char *segment) {
  ct__buf_putc(b, '/');
  for (const unsigned char *p = (const unsigned char *)segment; *p != '\0'; p++) {
    if (is_alnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
      ct__buf_putc(b, (char)*p);
    else
      put_pct(b, *p);
  }
}

static void form_encode(ct__buf_t *b, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    if (is_alnum(*p) || *p == '*' || *p == '-' || *p == '.' || *p == '_')
      ct__buf_putc(b, (char)*p);
    else if (*p == ' ')
      ct__buf_putc(b, '+');
    else
      put_pct(b, *p);
  }
}

void ct__buf_form(ct__buf_t *b, const char *name, const char *value) {
  if (b->len > 0)
    ct__buf_putc(b, '&');
  form_encode(b, name);
  ct__buf_putc(b, '=');
  form_encode(b, value);
}

char *ct__buf_take(ct__buf_t *b) {
  if (b->failed) {
    ct__buf_free(b);
    return NULL;
  }
  /* An empty buffer never allocated; the caller still gets a string. */
  if (!buf_reserve(b, 0)) {
    ct__buf_free(b);
    return NULL;
  }
  b->data[b->len] = '\0';
  char *s = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return s;
}

void ct__buf_free(ct__buf_t *b) {
  if (b->data != NULL) {
    explicit_bzero(b->data, b->cap);
    free(b->data);
  }
  memset(b, 0, sizeof *b);
}

/* ---- encodings -------------------------------------------------------------------------- */

size_t ct__utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v;
  uint32_t min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    v = c & 0x1F;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    v = c & 0x0F;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    v = c & 0x07;
    min = 0x10000;
  } else {
    *cp = 0xFFFD;
    return 1;
  }
  if (n < len) {
    *cp = 0xFFFD;
    return 1;
  }
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    v = v << 6 | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    *cp = 0xFFFD;
    return 1;
  }
  *cp = v;
  return len;
}


json_t *ct__json_text(const char *s) {
  ct__buf_t b = {0};
  ct__buf_utf8(&b, s, strlen(s));
  if (b.failed) {
    ct__buf_free(&b);
    return NULL;
  }
  json_t *j = json_stringn(b.data != NULL ? b.data : "", b.len);
  ct__buf_free(&b);
  return j;
}

int ct__json_dump(const json_t *root, char **out, size_t *len) {
  if (root == NULL)
    return CT_ENOMEM;
  size_t n = json_dumpb(root, NULL, 0, JSON_COMPACT);
  if (n == 0)
    return CT_ENOMEM;
  char *s = malloc(n + 1);
  if (s == NULL)
    return CT_ENOMEM;
  if (json_dumpb(root, s, n, JSON_COMPACT) != n) {
    free(s);
    return CT_ENOMEM;
  }
  s[n] = '\0';
  *out = s;
  *len = n;
  return 0;
}

/* ---- building --------------------------------------------------------------------------- */

int ct__fail(char *err, size_t errcap, int code, const char *fmt, ...) {
  if (err != NULL && errcap > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
  }
  return code;
}

int ct__finish_request(ct_http_request_t *out, char *url, char *body, size_t body_len,
                       const char *auth, const char *content_type, char *err, size_t errcap) {
  ct_http_request_t req = {0};
  req.url = url;
  req.body = body;
  req.body_len = body_len;
  int rc = ct_http_request_add_header(&req, "Authorization", auth);
  if (rc == CT_EINVAL) {
    ct_http_request_free(&req);
    return ct__fail(err, errcap, CT_EINVAL, "the provider's secret has a line break in it");
  }
  if (rc == 0)
    rc = ct_http_request_add_header(&req, "Content-Type", content_type);
  if (rc != 0) {
    ct_http_request_free(&req);
    return ct__fail(err, errcap, rc, "%s", rc == CT_ENOMEM ? "out of memory" : "bad header");
  }
  *out = req;
  return 0;
}

bool ct__is_e164(const char *phone) {
  size_t n = strlen(phone);
  if (n < 2 || n > 16 || phone[0] != '+')
    return false;
  for (size_t i = 1; i < n; i++)
    if (phone[i] < '0' || phone[i] > '9')
      return false;
  return true;
}

int ct__check_conf(const ct_provider_conf_t *conf, bool need_account, char *err, size_t errcap) {
  if (conf->secret == NULL || conf->secret[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "[provider.%s] has no secret", conf->name);
  if (need_account && conf->account[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "[provider.%s] account is empty", conf->name);
  if (conf->base_url[0] == '\0')
    return ct__fail(err, errcap, CT_EINVAL, "[provider.%s] base_url is empty", conf->name);
  return 0;
}

int ct__finish_json_bearer(ct_http_request_t *out, char *url, json_t *json,
                           const ct_provider_conf_t *conf, char *err, size_t errcap) {
  char *body = NULL;
  size_t len = 0;
  int rc = url != NULL ? ct__json_dump(json, &body, &len) : CT_ENOMEM;
  json_decref(json);
  if (rc != 0) {
    free(url);
    return ct__fail(err, errcap, rc, "out of memory");
  }
  ct__buf_t auth = {0};
  ct__buf_puts(&auth, "Bearer ");
  ct__buf_puts(&auth, conf->secret);
  if (auth.failed) {
    ct__buf_free(&auth);
    free(url);
    free(body);
    return ct__fail(err, errcap, CT_ENOMEM, "out of memory");
  }
  rc = ct__finish_request(out, url, body, len, auth.data, "application/json", err, errcap);
  ct__buf_free(&auth);
  return rc;
}

/* "fatura-<number>.pdf". The number is the producer's; characters a handset's save dialog or
 * a file system could stumble on ('/', quotes, spaces) become '-'. */
json_t *ct__pdf_filename(const ct_invoice_t *inv) {
  const char *number = inv != NULL ? ct__str(inv->number) : "";
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
