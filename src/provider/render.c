/* Message texts: placeholders filled from the job, money and dates the Brazilian way, and the
 * SMS length rules that decide how many parts (and how much money) a text costs. */
#include "provider/provider_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- money and dates -------------------------------------------------------------------- */

/* pt-BR digits: '.' between thousands, ',' before the cents, always two cents digits. */
static void format_number(int64_t cents, char *out, size_t cap) {
  /* The magnitude as unsigned, so INT64_MIN has one too. */
  uint64_t mag = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
  char rev[48]; /* 20 digits, 6 dots, ',', '-': written backwards */
  size_t n = 0;
  rev[n++] = (char)('0' + mag % 10);
  mag /= 10;
  rev[n++] = (char)('0' + mag % 10);
  mag /= 10;
  rev[n++] = ',';
  int group = 0;
  do {
    if (group == 3) {
      rev[n++] = '.';
      group = 0;
    }
    rev[n++] = (char)('0' + mag % 10);
    mag /= 10;
    group++;
  } while (mag > 0);
  if (cents < 0)
    rev[n++] = '-';
  size_t o = 0;
  while (n > 0 && o + 1 < cap)
    out[o++] = rev[--n];
  if (cap > 0)
    out[o] = '\0';
}

char *ct_format_brl(int64_t cents, char *out, size_t cap) {
  char num[40];
  format_number(cents, num, sizeof num);
  /* A negative amount reads "-R$ 5,00", as Brazilian statements print credits. */
  if (num[0] == '-')
    snprintf(out, cap, "-R$ %s", num + 1);
  else
    snprintf(out, cap, "R$ %s", num);
  return out;
}

char *ct__format_amount(const ct_invoice_t *inv, char *out, size_t cap) {
  const char *currency = ct__str(inv->currency);
  if (currency[0] == '\0' || strcmp(currency, "BRL") == 0)
    return ct_format_brl(inv->amount_cents, out, cap);
  char num[40];
  format_number(inv->amount_cents, num, sizeof num);
  snprintf(out, cap, "%.3s %s", currency, num);
  return out;
}

char *ct__format_date(const char *iso, char *out, size_t cap) {
  bool shaped = strlen(iso) == 10 && iso[4] == '-' && iso[7] == '-';
  for (size_t i = 0; shaped && i < 10; i++)
    if (i != 4 && i != 7)
      shaped = iso[i] >= '0' && iso[i] <= '9';
  if (shaped)
    snprintf(out, cap, "%.2s/%.2s/%.4s", iso + 8, iso + 5, iso);
  else
    snprintf(out, cap, "%s", iso);
  return out;
}

/* ---- templates -------------------------------------------------------------------------- */

#define MAX_PLACEHOLDER 64

/* The value of placeholder name[0..n) for `job`, or NULL when it is not one. Values that need
 * formatting are written into tmp. */
static const char *lookup(const ct_job_t *job, const char *name, size_t n, char *tmp,
                          size_t tmpcap) {
  /* A notification's own params are the most specific names, so they come first. */
  const ct_notification_t *nt = job->notification;
  if (nt != NULL) {
    for (size_t i = 0; i < nt->n_params; i++) {
      const char *key = nt->params[i] != NULL ? ct__str(nt->params[i]->key) : "";
      if (strlen(key) == n && memcmp(key, name, n) == 0)
        return ct__str(nt->params[i]->value);
    }
  }
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(name, lit, n) == 0)
  const ct_invoice_t *inv = job->invoice;
  if (IS("name"))
    return job->recipient != NULL ? ct__str(job->recipient->name) : "";
  if (IS("number"))
    return inv != NULL ? ct__str(inv->number) : "";
  if (IS("amount"))
    return inv != NULL ? ct__format_amount(inv, tmp, tmpcap) : "";
  if (IS("due_date"))
    return inv != NULL ? ct__format_date(ct__str(inv->due_date), tmp, tmpcap) : "";
  if (IS("barcode"))
    return inv != NULL ? ct__str(inv->barcode_line) : "";
  if (IS("pix"))
    return inv != NULL ? ct__str(inv->pix_code) : "";
#undef IS
  return NULL;
}

static void put_value(ct__buf_t *b, const char *v, bool html) {
  size_t n = strlen(v);
  if (!html) {
    ct__buf_utf8(b, v, n);
    return;
  }
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    const char *entity = NULL;
    switch (v[i]) {
    case '&':
      entity = "&amp;";
      break;
    case '<':
      entity = "&lt;";
      break;
    case '>':
      entity = "&gt;";
      break;
    case '"':
      entity = "&quot;";
      break;
    case '\'':
      entity = "&#39;";
      break;
    default:
      continue;
    }
    ct__buf_utf8(b, v + start, i - start);
    ct__buf_puts(b, entity);
    start = i + 1;
  }
  ct__buf_utf8(b, v + start, n - start);
}

static bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Sections: {#attached}...{/attached} is kept only when a PDF goes with the message,
 * {#protected}...{/protected} only when that PDF has a password; {^name}...{/name} is the
 * opposite. A section tag with another name, or without its closing tag, stays as text. */
static bool flag_value(const char *name, size_t n, unsigned flags, bool *out) {
  if (n == 8 && memcmp(name, "attached", 8) == 0) {
    *out = (flags & CT_RENDER_ATTACHED) != 0;
    return true;
  }
  if (n == 9 && memcmp(name, "protected", 9) == 0) {
    *out = (flags & CT_RENDER_ATTACHED) != 0 && (flags & CT_RENDER_PROTECTED) != 0;
    return true;
  }
  return false;
}

/* Length of the name in "{<sigil>name}" at p, or 0. */
static size_t tag_name(const char *p, const char *end, char sigil) {
  if (end - p < 4 || p[0] != '{' || p[1] != sigil)
    return 0;
  size_t n = 0;
  while (p + 2 + n < end && n <= MAX_PLACEHOLDER && is_name_char(p[2 + n]))
    n++;
  if (n == 0 || n > MAX_PLACEHOLDER || p + 2 + n >= end || p[2 + n] != '}')
    return 0;
  return n;
}

/* Where the "{/name}" closing the section that starts at `from` is, or NULL. Sections of the
 * same name nest. */
static const char *find_close(const char *from, const char *end, const char *name, size_t n) {
  int depth = 0;
  for (const char *p = from; p < end; p++) {
    if (*p != '{')
      continue;
    size_t k;
    if (((k = tag_name(p, end, '#')) == n || (k = tag_name(p, end, '^')) == n) &&
        memcmp(p + 2, name, n) == 0) {
      depth++;
    } else if (tag_name(p, end, '/') == n && memcmp(p + 2, name, n) == 0) {
      if (depth == 0)
        return p;
      depth--;
    }
  }
  return NULL;
}

#define MAX_SECTION_DEPTH 8

static void render_range(ct__buf_t *b, const char *p, const char *end, const ct_job_t *job,
                         bool html, unsigned flags, int depth) {
  const char *lit = p; /* start of template text not yet copied */
  while (p < end) {
    if (*p != '{') {
      p++;
      continue;
    }
    char sigil = p + 1 < end ? p[1] : '\0';
    size_t n;
    bool on;
    if ((sigil == '#' || sigil == '^') && depth < MAX_SECTION_DEPTH &&
        (n = tag_name(p, end, sigil)) > 0 && flag_value(p + 2, n, flags, &on)) {
      const char *inner = p + n + 3;
      const char *close = find_close(inner, end, p + 2, n);
      if (close != NULL) {
        ct__buf_utf8(b, lit, (size_t)(p - lit));
        if (on == (sigil == '#'))
          render_range(b, inner, close, job, html, flags, depth + 1);
        p = close + n + 3;
        lit = p;
        continue;
      }
    }
    n = 0;
    while (p + 1 + n < end && n <= MAX_PLACEHOLDER && is_name_char(p[1 + n]))
      n++;
    if (n == 0 || n > MAX_PLACEHOLDER || p + 1 + n >= end || p[1 + n] != '}') {
      p++;
      continue;
    }
    char tmp[64];
    const char *value = lookup(job, p + 1, n, tmp, sizeof tmp);
    if (value == NULL) {
      p += n + 2; /* unknown: stays in the text as it is */
      continue;
    }
    ct__buf_utf8(b, lit, (size_t)(p - lit));
    put_value(b, value, html);
    p += n + 2;
    lit = p;
  }
  ct__buf_utf8(b, lit, (size_t)(p - lit));
}

char *ct_render_with(const char *tmpl, const ct_job_t *job, unsigned flags) {
  ct__buf_t b = {0};
  render_range(&b, tmpl, tmpl + strlen(tmpl), job, (flags & CT_RENDER_HTML) != 0, flags, 0);
  return ct__buf_take(&b);
}

char *ct_render(const char *tmpl, const ct_job_t *job) { return ct_render_with(tmpl, job, 0); }

char *ct_render_html(const char *tmpl, const ct_job_t *job) {
  return ct_render_with(tmpl, job, CT_RENDER_HTML);
}

/* ---- SMS length ------------------------------------------------------------------------- */

/* The GSM 7-bit default alphabet (3GPP TS 23.038 section 6.2.1) beyond ASCII, as Unicode.
 * Position 0x09 is 'Ç' (U+00C7) as the standard prints it and handsets decode it; the Unicode
 * consortium's GSM0338.TXT maps it to 'ç' instead. Counting 'ç' as UCS-2 is the safe side:
 * if a provider did send it in GSM-7 the text only got cheaper than we said. */
static const uint16_t gsm7_basic[] = {
    0x00A1, 0x00A3, 0x00A4, 0x00A5, 0x00A7, 0x00BF, 0x00C4, 0x00C5, 0x00C6, 0x00C7,
    0x00C9, 0x00D1, 0x00D6, 0x00D8, 0x00DC, 0x00DF, 0x00E0, 0x00E4, 0x00E5, 0x00E6,
    0x00E8, 0x00E9, 0x00EC, 0x00F1, 0x00F2, 0x00F6, 0x00F8, 0x00F9, 0x00FC, 0x0393,
    0x0394, 0x0398, 0x039B, 0x039E, 0x03A0, 0x03A3, 0x03A6, 0x03A8, 0x03A9,
};

/* Septets `cp` takes in GSM-7: 1 (default alphabet), 2 (escape + extension table), or 0 when
 * it has no GSM-7 form. */
static unsigned gsm7_width(uint32_t cp) {
  if (cp == '\n' || cp == '\r')
    return 1;
  if (cp >= 0x20 && cp < 0x7f) {
    if (cp == '`')
      return 0;
    if (strchr("[\\]^{|}~", (int)cp) != NULL)
      return 2;
    return 1;
  }
  if (cp == 0x0C || cp == 0x20AC) /* form feed, euro sign */
    return 2;
  for (size_t i = 0; i < sizeof gsm7_basic / sizeof gsm7_basic[0]; i++)
    if (gsm7_basic[i] == cp)
      return 1;
  return 0;
}

/* Parts needed for characters of the given widths when each part holds `per` units and no
 * character is split across two. */
static unsigned pack(const unsigned char *s, size_t n, bool gsm7, unsigned per) {
  unsigned parts = 1;
  unsigned used = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += ct__utf8_next(s + i, n - i, &cp);
    unsigned w = gsm7 ? gsm7_width(cp) : (cp > 0xFFFF ? 2u : 1u);
    if (used + w > per) {
      parts++;
      used = 0;
    }
    used += w;
  }
  return parts;
}

void ct_sms_length(const char *utf8, ct_sms_length_t *out) {
  const unsigned char *s = (const unsigned char *)utf8;
  size_t n = strlen(utf8);
  unsigned septets = 0;
  unsigned units = 0;
  bool gsm7 = true;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += ct__utf8_next(s + i, n - i, &cp);
    unsigned w = gsm7_width(cp);
    if (w == 0)
      gsm7 = false;
    septets += w;
    units += cp > 0xFFFF ? 2 : 1; /* a surrogate pair in UTF-16 */
  }
  out->gsm7 = gsm7;
  out->units = gsm7 ? septets : units;
  unsigned single = gsm7 ? 160 : 70;
  if (out->units == 0)
    out->segments = 0;
  else if (out->units <= single)
    out->segments = 1;
  else
    /* A long text travels as parts whose user-data header (UDH) takes 6 bytes of each, leaving
     * 153 septets or 67 UTF-16 units. */
    out->segments = pack(s, n, gsm7, gsm7 ? 153 : 67);
}
