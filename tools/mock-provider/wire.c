/* Byte-level helpers shared by the endpoints: form and multipart decoding, base64, phone and
 * e-mail checks, identifiers, headers and JSON replies. Everything reads bounded input that
 * h2o already holds in memory and writes into the request's pool or a caller's buffer.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mock.h"

static int hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent- and plus-decodes in[0..n) into pool memory. Returns base NULL when malformed. */
static h2o_iovec_t form_decode(h2o_mem_pool_t *pool, const char *in, size_t n)
{
  char *out = h2o_mem_alloc_pool(pool, n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c == '+') {
      out[o++] = ' ';
    } else if (c == '%') {
      if (i + 2 >= n)
        return h2o_iovec_init(NULL, 0);
      int hi = hexval((unsigned char)in[i + 1]);
      int lo = hexval((unsigned char)in[i + 2]);
      if (hi < 0 || lo < 0)
        return h2o_iovec_init(NULL, 0);
      out[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[o++] = c;
    }
  }
  out[o] = '\0';
  return h2o_iovec_init(out, o);
}

int mock_form_parse(h2o_mem_pool_t *pool, h2o_iovec_t in, mock_param_t *out, size_t max)
{
  size_t count = 0, i = 0;
  while (i < in.len) {
    size_t end = i;
    while (end < in.len && in.base[end] != '&')
      end++;
    if (end > i) {
      if (count == max)
        return -1;
      size_t eq = i;
      while (eq < end && in.base[eq] != '=')
        eq++;
      out[count].name = form_decode(pool, in.base + i, eq - i);
      out[count].value = eq < end ? form_decode(pool, in.base + eq + 1, end - eq - 1)
                                  : form_decode(pool, "", 0);
      if (out[count].name.base == NULL || out[count].value.base == NULL)
        return -1;
      count++;
    }
    i = end + 1;
  }
  return (int)count;
}

const h2o_iovec_t *mock_form_get(const mock_param_t *p, size_t n, const char *name)
{
  size_t k = strlen(name);
  for (size_t i = 0; i < n; i++)
    if (p[i].name.len == k && memcmp(p[i].name.base, name, k) == 0)
      return &p[i].value;
  return NULL;
}

/* ---- multipart/form-data (RFC 7578) ---- */

static const char *memfind(const char *hay, size_t hn, const char *needle, size_t nn)
{
  if (nn == 0 || hn < nn)
    return NULL;
  const char *end = hay + hn - nn;
  for (const char *p = hay; p <= end; p++) {
    p = memchr(p, needle[0], (size_t)(end - p) + 1);
    if (p == NULL)
      return NULL;
    if (memcmp(p, needle, nn) == 0)
      return p;
  }
  return NULL;
}

/* Finds `param=` (case-insensitive name) in a header value and returns its value, quoted or
 * not; base NULL when absent. */
static h2o_iovec_t header_param(h2o_iovec_t v, const char *param)
{
  size_t pn = strlen(param);
  for (size_t i = 0; i + pn < v.len; i++) {
    bool at_start = i == 0 || v.base[i - 1] == ';' || v.base[i - 1] == ' ';
    if (!at_start || v.base[i + pn] != '=' || !h2o_lcstris(v.base + i, pn, param, pn))
      continue;
    size_t s = i + pn + 1, e;
    if (s < v.len && v.base[s] == '"') {
      s++;
      e = s;
      while (e < v.len && v.base[e] != '"')
        e++;
      if (e == v.len)
        return h2o_iovec_init(NULL, 0);
    } else {
      e = s;
      while (e < v.len && v.base[e] != ';' && v.base[e] != ' ')
        e++;
    }
    return h2o_iovec_init(v.base + s, e - s);
  }
  return h2o_iovec_init(NULL, 0);
}

static bool parse_part_headers(const char *p, size_t n, mock_part_t *part)
{
  bool disposition = false;
  size_t i = 0;
  while (i < n) {
    const char *eol = memfind(p + i, n - i, "\r\n", 2);
    size_t len = eol != NULL ? (size_t)(eol - (p + i)) : n - i;
    const char *line = p + i;
    const char *colon = memchr(line, ':', len);
    if (colon != NULL) {
      size_t name_len = (size_t)(colon - line);
      h2o_iovec_t value = h2o_iovec_init(colon + 1, len - name_len - 1);
      while (value.len > 0 && value.base[0] == ' ') {
        value.base++;
        value.len--;
      }
      if (h2o_lcstris(line, name_len, H2O_STRLIT("content-disposition"))) {
        if (value.len < 9 || !h2o_lcstris(value.base, 9, H2O_STRLIT("form-data")))
          return false;
        part->name = header_param(value, "name");
        part->filename = header_param(value, "filename");
        disposition = part->name.base != NULL;
      } else if (h2o_lcstris(line, name_len, H2O_STRLIT("content-type"))) {
        part->content_type = value;
      }
    }
    i += len + 2;
  }
  return disposition;
}

int mock_multipart_parse(h2o_iovec_t content_type, h2o_iovec_t body, mock_part_t *out,
                         size_t max, const char **err)
{
  if (content_type.base == NULL || content_type.len < 19 ||
      !h2o_lcstris(content_type.base, 19, H2O_STRLIT("multipart/form-data"))) {
    *err = "Content-Type must be multipart/form-data";
    return -1;
  }
  h2o_iovec_t boundary = header_param(content_type, "boundary");
  if (boundary.base == NULL || boundary.len == 0 || boundary.len > 70) {
    *err = "multipart boundary missing or longer than 70 characters";
    return -1;
  }
  char delim[80];
  size_t dn = boundary.len + 2;
  delim[0] = '-';
  delim[1] = '-';
  memcpy(delim + 2, boundary.base, boundary.len);

  /* the body starts with the first delimiter (a preamble is allowed and ignored) */
  const char *p = memfind(body.base, body.len, delim, dn);
  const char *end = body.base + body.len;
  int count = 0;
  if (p == NULL) {
    *err = "multipart body has no boundary";
    return -1;
  }
  for (;;) {
    p += dn;
    if (end - p >= 2 && p[0] == '-' && p[1] == '-')
      return count; /* close delimiter */
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
      break;
    p += 2;
    const char *hdr_end = memfind(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (hdr_end == NULL)
      break;
    if ((size_t)count == max) {
      *err = "too many multipart parts";
      return -1;
    }
    mock_part_t *part = &out[count];
    memset(part, 0, sizeof(*part));
    /* the header block plus its final CRLF, so every header line ends in CRLF */
    if (!parse_part_headers(p, (size_t)(hdr_end - p) + 2, part)) {
      *err = "multipart part without Content-Disposition: form-data; name=...";
      return -1;
    }
    const char *data = hdr_end + 4;
    /* the data ends at CRLF + delimiter */
    char next[84];
    next[0] = '\r';
    next[1] = '\n';
    memcpy(next + 2, delim, dn);
    const char *stop = memfind(data, (size_t)(end - data), next, dn + 2);
    if (stop == NULL)
      break;
    part->data = h2o_iovec_init(data, (size_t)(stop - data));
    count++;
    p = stop + 2;
  }
  *err = "multipart body is truncated or malformed";
  return -1;
}

/* ---- base64 ---- */

static int b64val(int c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

bool mock_base64_valid(const char *s, size_t n, size_t *decoded)
{
  if (n % 4 != 0)
    return false;
  size_t pad = 0;
  if (n > 0 && s[n - 1] == '=')
    pad++;
  if (n > 1 && s[n - 2] == '=')
    pad++;
  for (size_t i = 0; i < n - pad; i++)
    if (b64val((unsigned char)s[i]) < 0)
      return false;
  *decoded = n / 4 * 3 - pad;
  return true;
}

ssize_t mock_base64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
  size_t len;
  if (!mock_base64_valid(s, n, &len) || len > cap)
    return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n && s[i] != '='; i++) {
    acc = (acc << 6) | (uint32_t)b64val((unsigned char)s[i]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  return (ssize_t)o;
}

/* ---- recipients ---- */

int mock_phone_digits(const char *s, size_t n, char *out, size_t cap)
{
  size_t i = 0, o = 0;
  if (n > 0 && s[0] == '+')
    i = 1;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || o + 1 >= cap)
      return -1;
    out[o++] = s[i];
  }
  out[o] = '\0';
  if (o < 8 || o > 15)
    return -1;
  return (int)o;
}

bool mock_phone_e164(const char *s, size_t n)
{
  if (n < 9 || n > 16 || s[0] != '+' || s[1] == '0')
    return false;
  for (size_t i = 1; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

bool mock_email_valid(const char *s, size_t n)
{
  if (n < 3 || n > 254)
    return false;
  const char *at = NULL;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';')
      return false;
    if (c == '@') {
      if (at != NULL)
        return false;
      at = s + i;
    }
  }
  if (at == NULL || at == s)
    return false;
  const char *domain = at + 1;
  size_t dn = n - (size_t)(domain - s);
  const char *dot = memchr(domain, '.', dn);
  /* a dot inside the domain, not first or last, and no empty labels */
  if (dn < 3 || dot == NULL || dot == domain || domain[dn - 1] == '.' ||
      memfind(domain, dn, "..", 2) != NULL)
    return false;
  return true;
}

void mock_email_norm(const char *s, size_t n, char *out, size_t cap)
{
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < cap; i++) {
    char c = s[i];
    out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  out[o] = '\0';
}

bool mock_utf8_valid(const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    unsigned c = *p++;
    int extra;
    uint32_t cp, min;
    if (c < 0x80)
      continue;
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      cp = c & 0x1f;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      cp = c & 0x0f;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return false;
    }
    if (end - p < extra)
      return false;
    for (int i = 0; i < extra; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    /* overlong forms, surrogates and code points past U+10FFFF */
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
      return false;
    p += extra;
  }
  return true;
}

size_t mock_utf8_len(const char *s, size_t n)
{
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xc0) != 0x80)
      count++;
  return count;
}

void mock_copy(char *dst, size_t cap, const char *src, size_t n)
{
  if (cap == 0)
    return;
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

void mock_copy_utf8(char *dst, size_t cap, const char *src, size_t n)
{
  if (cap == 0)
    return;
  if (n >= cap) {
    n = cap - 1;
    /* back off to the first byte of the character that did not fit */
    while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
      n--;
  }
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* ---- identifiers ---- */

void mock_new_id(mock_t *m, mock_id_kind_t kind, char *out, size_t cap)
{
  uint64_t counter = ++m->id_counter;
  unsigned char raw[16];
  /* instance, then the counter through a bijective mix: unique within a process (and, with
   * 64 random instance bits, across restarts) without consecutive ids looking consecutive */
  uint64_t a = m->instance, b = mock_mix64(m->instance ^ counter);
  for (int i = 0; i < 8; i++) {
    raw[i] = (unsigned char)(a >> (56 - 8 * i));
    raw[8 + i] = (unsigned char)(b >> (56 - 8 * i));
  }
  char b64[32];
  switch (kind) {
  case MOCK_ID_WAMID:
    /* real ones are "wamid." + base64 of an opaque blob */
    h2o_base64_encode(b64, raw, sizeof(raw), 1);
    snprintf(out, cap, "wamid.HBgM%s", b64);
    break;
  case MOCK_ID_TWILIO_SM: {
    char hex[33];
    h2o_hex_encode(hex, raw, sizeof(raw));
    snprintf(out, cap, "SM%s", hex);
    break;
  }
  case MOCK_ID_SENDGRID:
    h2o_base64_encode(b64, raw, sizeof(raw), 1);
    snprintf(out, cap, "%s", b64);
    break;
  case MOCK_ID_MEDIA:
    /* Graph ids are decimal; 6 digits of instance + 10 of the media counter stay unique and
     * let mock_media_id_issued() recognize every id handed out, with nothing stored */
    snprintf(out, cap, "1%06llu%010llu", (unsigned long long)(m->instance % 1000000),
             (unsigned long long)(++m->media_counter % 10000000000ULL));
    break;
  case MOCK_ID_TRACE:
    h2o_base64_encode(b64, raw + 4, 12, 1);
    snprintf(out, cap, "A%s", b64);
    break;
  }
}

bool mock_media_id_issued(const mock_t *m, const char *s, size_t n)
{
  char instance[8];
  uint64_t counter = 0;
  if (n != 17 || s[0] != '1')
    return false;
  for (size_t i = 1; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  snprintf(instance, sizeof(instance), "%06llu", (unsigned long long)(m->instance % 1000000));
  if (memcmp(s + 1, instance, 6) != 0)
    return false;
  for (size_t i = 7; i < n; i++)
    counter = counter * 10 + (uint64_t)(s[i] - '0');
  return counter >= 1 && counter <= m->media_counter;
}

/* ---- headers and JSON ---- */

h2o_iovec_t mock_header(h2o_req_t *req, const h2o_token_t *token)
{
  ssize_t i = h2o_find_header(&req->headers, token, -1);
  if (i < 0)
    return h2o_iovec_init(NULL, 0);
  return req->headers.entries[i].value;
}

h2o_iovec_t mock_header_str(h2o_req_t *req, const char *name)
{
  ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
  if (i < 0)
    return h2o_iovec_init(NULL, 0);
  return req->headers.entries[i].value;
}

bool mock_bearer(h2o_iovec_t auth, h2o_iovec_t *token)
{
  if (auth.base == NULL || auth.len <= 7 || !h2o_lcstris(auth.base, 7, H2O_STRLIT("bearer ")))
    return false;
  *token = h2o_iovec_init(auth.base + 7, auth.len - 7);
  return true;
}

h2o_iovec_t mock_json_dump(h2o_mem_pool_t *pool, json_t *j)
{
  if (j == NULL) {
    /* json_pack refused its input (invalid UTF-8 from a client, say) */
    return h2o_iovec_init(H2O_STRLIT("{\"error\":\"unprintable value\"}"));
  }
  /* most replies fit the stack buffer, so one serialization pass is the common case */
  char stack[2048];
  size_t n = json_dumpb(j, stack, sizeof(stack), JSON_COMPACT);
  char *out = h2o_mem_alloc_pool(pool, n + 1);
  if (n <= sizeof(stack))
    memcpy(out, stack, n);
  else
    json_dumpb(j, out, n, JSON_COMPACT);
  out[n] = '\0';
  json_decref(j);
  return h2o_iovec_init(out, n);
}

void mock_reply_json(mock_call_t *call, int status, const char *reason, json_t *j)
{
  call->status = status;
  call->reason = reason;
  call->content_type = "application/json";
  call->body = mock_json_dump(&call->req->pool, j);
}

void mock_set_detail(mock_call_t *call, json_t *j)
{
  size_t n = json_dumpb(j, call->detail, sizeof(call->detail), JSON_COMPACT);
  if (n >= sizeof(call->detail))
    mock_copy(call->detail, sizeof(call->detail), "{\"truncated\":true}", 18);
  else
    call->detail[n] = '\0';
}

const char *mock_reason(int status)
{
  switch (status) {
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 413: return "Payload Too Large";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return status >= 500 ? "Server Error" : "Unknown";
  }
}

int64_t mock_wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
