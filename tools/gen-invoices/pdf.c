/* Invoice PDFs for gen-invoices (see pdf.h).
 *
 * Page layout (A4 portrait, 595 x 842 pt, origin bottom left, 36 pt margins), top to bottom:
 *
 *   header       vector logo, issuer name, CNPJ and address; "FATURA" and the kind of bill
 *   customer     name, masked CPF, phone line or card, e-mail   | summary box: total, due date,
 *                                                                 number, issue date, period
 *   line items   3 to 6 rows that add up to amount_cents         | PIX "copia e cola" (wrapped)
 *   detail       telco: two columns of usage records (calls, SMS, data), all included in the
 *                plan; bank: instalment options and future instalments
 *   fine print   says the document is synthetic
 *   payment slip the "ficha de compensação": bank code, grouped boleto line, the field grid and
 *                the Interleaved 2 of 5 bar code of the 44-digit code the line encodes
 *
 * Why these choices:
 * - Standard Type 1 fonts (Helvetica, Courier) with WinAnsiEncoding: nothing is embedded, the
 *   text extracts with pdftotext, and Windows-1252 holds every Portuguese letter. Text is kept
 *   in UTF-8 here and converted in exactly one place (show()).
 * - Content streams are left uncompressed. Real invoices weigh 20-60 kB mostly through
 *   embedded fonts and images; plain content streams bring this page of tables there without
 *   a font or image file that would have to come from somewhere, and keep a PDF readable in a
 *   text editor when a test fails.
 * - Reproducible bytes: libharu 2.3 writes no /ID unless the file is encrypted and no date
 *   unless asked; the creation date set here is the job's created_at_ms. All random content
 *   comes from the caller's seed, one draw per statement (the order in which a call's
 *   arguments are evaluated is unspecified, and gcc and clang differ). The promise is the same
 *   bytes on one machine: the logo's cosf/sinf come from its libm (instalment tables use
 *   repeated multiplication, not pow()).
 * - libharu reports errors through a handler and keeps going; the handler keeps the first
 *   error, which is checked once the page is drawn and once it is saved.
 */
#include "pdf.h"

#include "common/clock.h"
#include "common/error.h"
#include "rng.h"

#include <hpdf.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEFT 36.0f
#define RIGHT 559.0f

/* ---------------------------------------------------------------------------------------- */
/* Text and number formats                                                                   */

char *gen_format_brl(int64_t cents, char *out) {
  /* Magnitude as unsigned so that INT64_MIN formats too. */
  uint64_t v = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)(v / 100));
  size_t o = 0;
  if (cents < 0)
    out[o++] = '-';
  memcpy(out + o, "R$ ", 3);
  o += 3;
  for (int i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0)
      out[o++] = '.';
    out[o++] = digits[i];
  }
  snprintf(out + o, GEN_BRL_BUFSZ - o, ",%02u", (unsigned)(v % 100));
  return out;
}

/* Windows-1252 bytes 0x80..0x9F and the code points they stand for (0 where undefined);
 * 0xA0..0xFF are Latin-1 itself. */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

static unsigned char cp1252_of(uint32_t cp) {
  if (cp < 0x80 || (cp >= 0xA0 && cp <= 0xFF))
    return (unsigned char)cp;
  for (unsigned i = 0; i < 32; i++)
    if (cp1252_high[i] != 0 && cp1252_high[i] == cp)
      return (unsigned char)(0x80 + i);
  return '?';
}

/* Decodes one UTF-8 sequence at s; *len gets its length (1 for an invalid byte, which
 * decodes as U+FFFD). Overlong forms and surrogates are invalid. */
static uint32_t utf8_decode(const unsigned char *s, size_t *len) {
  static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  size_t n;
  uint32_t cp;
  if (s[0] < 0x80) {
    *len = 1;
    return s[0];
  } else if ((s[0] & 0xE0) == 0xC0) {
    n = 2;
    cp = s[0] & 0x1Fu;
  } else if ((s[0] & 0xF0) == 0xE0) {
    n = 3;
    cp = s[0] & 0x0Fu;
  } else if ((s[0] & 0xF8) == 0xF0) {
    n = 4;
    cp = s[0] & 0x07u;
  } else {
    *len = 1;
    return 0xFFFD;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) { /* also stops at the NUL */
      *len = i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (s[i] & 0x3Fu);
  }
  *len = n;
  if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0xFFFD;
  return cp;
}

char *gen_utf8_to_cp1252(const char *in, char *out, size_t cap) {
  const unsigned char *s = (const unsigned char *)in;
  size_t o = 0;
  while (*s != '\0' && o + 1 < cap) {
    size_t len;
    uint32_t cp = utf8_decode(s, &len);
    out[o++] = (char)cp1252_of(cp);
    s += len;
  }
  out[o] = '\0';
  return out;
}

/* Civil date of days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted). */
static void civil_from_days(int32_t days, int *y, int *m, int *d) {
  int64_t z = (int64_t)days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void format_date(int32_t days, char out[11]) {
  int y, m, d;
  civil_from_days(days, &y, &m, &d);
  /* unsigned and bounded, so the compiler can see the text fits in 10 characters */
  snprintf(out, 11, "%02u/%02u/%04u", (unsigned)d % 100u, (unsigned)m % 100u,
           (unsigned)y % 10000u);
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325u;
  for (; *s != '\0'; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3u;
  return h;
}

/* CNPJ check digits over d[0..11] into d[12], d[13] (mod 11, weights 5..2,9..2 then 6..2,9..2). */
static void cnpj_complete(char d[14]) {
  for (int k = 12; k <= 13; k++) {
    int sum = 0, w = k - 7; /* 5 for the first digit, 6 for the second */
    for (int i = 0; i < k; i++) {
      sum += (d[i] - '0') * w;
      w = w == 2 ? 9 : w - 1;
    }
    int r = sum % 11;
    d[k] = (char)('0' + (r < 2 ? 0 : 11 - r));
  }
}

/* A bank's check digit as printed next to its code on a slip ("001-9", "237-2"): mod 11 with
 * weights 4, 3, 2; a result of 10 or 11 prints as 0. */
static char bank_check_digit(const char *code) {
  int sum = (code[0] - '0') * 4 + (code[1] - '0') * 3 + (code[2] - '0') * 2;
  int dv = 11 - sum % 11;
  return (char)('0' + (dv >= 10 ? 0 : dv));
}

/* The line as printed on the slip: "00190.00009 01234.567890 12345.678901 2 12340000012345"
 * for a bank slip, "83660000001-1 23450001000-2 ..." (four blocks and their digits) for a
 * utility slip. */
static void group_line(const char *line, bool utility, char *out, size_t cap) {
  if (utility)
    snprintf(out, cap, "%.11s-%c %.11s-%c %.11s-%c %.11s-%c", line, line[11], line + 12, line[23],
             line + 24, line[35], line + 36, line[47]);
  else
    snprintf(out, cap, "%.5s.%.5s %.5s.%.6s %.5s.%.6s %c %.14s", line, line + 5, line + 10,
             line + 15, line + 21, line + 26, line[32], line + 33);
}

/* The 44 digits of the bar code a line encodes. Bank slips reorder the fields: bank and
 * currency, general check digit, due factor and amount, then the free field without the
 * per-field check digits. Utility slips are the four blocks without their check digits. */
static void bar_code_digits(const char *line, bool utility, char out[45]) {
  if (utility) {
    for (int b = 0; b < 4; b++)
      memcpy(out + 11 * b, line + 12 * b, 11);
  } else {
    memcpy(out, line, 4);
    out[4] = line[32];
    memcpy(out + 5, line + 33, 14);
    memcpy(out + 19, line + 4, 5);
    memcpy(out + 24, line + 10, 10);
    memcpy(out + 34, line + 21, 10);
  }
  out[44] = '\0';
}

/* ---------------------------------------------------------------------------------------- */
/* Drawing                                                                                   */

typedef enum { INK, GRAY, BRAND, TINT, WHITE } color_t;
typedef enum { ALIGN_LEFT, ALIGN_RIGHT } align_t; /* ALIGN_RIGHT: x is the right edge */

typedef struct {
  HPDF_Doc pdf;
  HPDF_Page page;
  HPDF_Font regular, bold, mono;
  float brand[3]; /* the issuer's colour, from the tenant */
  float tint[3];  /* the same, very light, for box backgrounds */
  rng_t rng;
} ctx_t;

typedef struct {
  HPDF_STATUS error, detail;
} hpdf_error_t;

/* libharu calls this and then returns the error from the failing call; only the first error
 * is kept, later ones usually follow from it. */
static void on_hpdf_error(HPDF_STATUS error, HPDF_STATUS detail, void *data) {
  hpdf_error_t *e = data;
  if (e->error == HPDF_OK) {
    e->error = error;
    e->detail = detail;
  }
}

static void fill_color(ctx_t *c, color_t color) {
  switch (color) {
  case INK:
    HPDF_Page_SetRGBFill(c->page, 0.10f, 0.10f, 0.12f);
    break;
  case GRAY:
    HPDF_Page_SetRGBFill(c->page, 0.40f, 0.40f, 0.43f);
    break;
  case BRAND:
    HPDF_Page_SetRGBFill(c->page, c->brand[0], c->brand[1], c->brand[2]);
    break;
  case TINT:
    HPDF_Page_SetRGBFill(c->page, c->tint[0], c->tint[1], c->tint[2]);
    break;
  case WHITE:
    HPDF_Page_SetRGBFill(c->page, 1, 1, 1);
    break;
  }
}

/* Shows UTF-8 `text` at (x, y): the one place text is converted for WinAnsiEncoding. */
static void show(ctx_t *c, HPDF_Font font, float size, color_t color, float x, float y,
                 align_t align, const char *text) {
  char cp[512];
  gen_utf8_to_cp1252(text, cp, sizeof cp);
  HPDF_Page_SetFontAndSize(c->page, font, size);
  if (align == ALIGN_RIGHT)
    x -= HPDF_Page_TextWidth(c->page, cp);
  fill_color(c, color);
  HPDF_Page_BeginText(c->page);
  HPDF_Page_TextOut(c->page, x, y, cp);
  HPDF_Page_EndText(c->page);
}

static void showf(ctx_t *c, HPDF_Font font, float size, color_t color, float x, float y,
                  align_t align, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static void showf(ctx_t *c, HPDF_Font font, float size, color_t color, float x, float y,
                  align_t align, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  show(c, font, size, color, x, y, align, buf);
}

static void fill_rect(ctx_t *c, color_t color, float x, float y, float w, float h) {
  fill_color(c, color);
  HPDF_Page_Rectangle(c->page, x, y, w, h);
  HPDF_Page_Fill(c->page);
}

static void stroke_rect(ctx_t *c, float x, float y, float w, float h) {
  HPDF_Page_Rectangle(c->page, x, y, w, h);
  HPDF_Page_Stroke(c->page);
}

static void hline(ctx_t *c, float x0, float x1, float y) {
  HPDF_Page_MoveTo(c->page, x0, y);
  HPDF_Page_LineTo(c->page, x1, y);
  HPDF_Page_Stroke(c->page);
}

/* HSV (h in degrees) to RGB, for the tenant's colour. */
static void hsv(float h, float s, float v, float rgb[3]) {
  float cc = v * s;
  float hp = h / 60.0f;
  float x = cc * (1.0f - fabsf(fmodf(hp, 2.0f) - 1.0f));
  float r = 0, g = 0, b = 0;
  if (hp < 1)
    r = cc, g = x;
  else if (hp < 2)
    r = x, g = cc;
  else if (hp < 3)
    g = cc, b = x;
  else if (hp < 4)
    g = x, b = cc;
  else if (hp < 5)
    r = x, b = cc;
  else
    r = cc, b = x;
  rgb[0] = r + v - cc;
  rgb[1] = g + v - cc;
  rgb[2] = b + v - cc;
}

/* ---------------------------------------------------------------------------------------- */
/* Invented data (the page's own; the job's values come from the job)                        */

/* Issuers are made up: one per tenant and kind, so that a tenant's bills look alike. */
static const char *const telco_issuers[] = {
    "Quaresmeira Telecom S.A.", "Sucupira Comunicações S.A.",   "Guapuruvu Telefonia S.A.",
    "Caliandra Conecta S.A.",   "Buriti Telecomunicações S.A.", "Aroeira Móvel S.A.",
};
static const char *const bank_issuers[] = {
    "Banco Jatobá S.A.",       "Ipê-Amarelo Crédito S.A.", "Banco Pau-Ferro S.A.",
    "Cambuci Financeira S.A.", "Banco Sapucaia S.A.",      "Jacarandá Cartões S.A.",
};
static const char *const streets[] = {
    "Rua das Quaresmeiras", "Avenida dos Ipês", "Alameda Sabiá",
    "Rua Jequitibá-Rosa",   "Avenida Açaí",     "Rua Maçaranduba",
};
static const char *const districts[] = {"Vila Mariana", "Pinheiros",  "Santa Cecília",
                                        "Brooklin",     "Consolação", "Água Branca"};

static const char *const telco_plans[] = {"Plano Controle 15 GB", "Plano Controle 25 GB",
                                          "Plano Pós 50 GB", "Plano Pós Família 100 GB"};
static const char *const telco_extras[] = {
    "Serviços digitais (streaming e apps)",
    "Ligações para outras operadoras",
    "Pacote adicional de internet 5 GB",
    "Roaming nacional",
    "Seguro do aparelho",
    "Parcela do aparelho",
    "Serviços de terceiros",
    "Caixa postal e identificador",
};
static const char *const merchants[] = {
    "Supermercado Boa Safra",     "Farmácia Saúde & Cia",      "Padaria Pão Dourado",
    "Restaurante Sabor da Terra", "Livraria Página Virada",    "Posto Estrela do Norte",
    "Calçados Passo Firme",       "Hortifrúti Colheita Feliz", "Academia Corpo em Movimento",
    "Streaming Tela Cheia",       "Açougue São Jorge",         "Papelaria Lápis de Cor",
    "Pet Shop Focinho Feliz",     "Ótica Visão Clara",         "Café Grão Mineiro",
};
static const char *const other_ddds[] = {"21", "31", "41", "51", "61", "71", "81", "91"};
static const char *const cities[] = {"São Paulo", "Campinas", "Belo Horizonte", "Curitiba",
                                     "Salvador",  "Recife",   "Porto Alegre",   "Goiânia"};

/* Splits `total` (> 0) into k (1..8) positive parts: each but the last is between total/2k and
 * total/k, so the last, the remainder, is at least total/k. */
static void split_amount(rng_t *r, int64_t total, size_t k, int64_t *parts) {
  int64_t left = total;
  for (size_t i = 0; i + 1 < k; i++) {
    int64_t lo = total / (int64_t)(2 * k), hi = total / (int64_t)k;
    parts[i] = rng_range(r, lo < 1 ? 1 : lo, hi < 1 ? 1 : hi);
    left -= parts[i];
  }
  parts[k - 1] = left;
}

/* ---------------------------------------------------------------------------------------- */
/* The page, section by section                                                              */

typedef struct {
  const ct_job_t *job;
  gen_pdf_kind_t kind;
  const char *issuer;
  char cnpj[19]; /* 12.345.678/0001-95 */
  char address[160];
  char due[11]; /* dd/mm/yyyy */
  char issued[11];
  char period[32];      /* 01/11/2026 a 30/11/2026 */
  int32_t period_first; /* days since 1970 */
  int32_t period_days;
  char amount[GEN_BRL_BUFSZ];
  char cpf_masked[16]; /* ***.456.789-** */
  bool utility;        /* 48-digit utility slip */
} facts_t;

/* A stylised flower: petals drawn as Bézier curves around a disc, in the issuer's colour. */
static void draw_logo(ctx_t *c, float x, float y, float size, unsigned petals) {
  HPDF_Page page = c->page;
  float cx = x + size / 2, cy = y + size / 2, r = size / 2;
  fill_color(c, BRAND);
  HPDF_Page_Circle(page, cx, cy, r);
  HPDF_Page_Fill(page);
  fill_color(c, WHITE);
  for (unsigned k = 0; k < petals; k++) {
    float a = 2.0f * (float)M_PI * (float)k / (float)petals;
    float ca = cosf(a), sa = sinf(a);
    float len = r * 0.82f, wid = r * 0.30f;
    /* Petal from the centre along angle a: two curves through the tip. */
    float tx = cx + ca * len, ty = cy + sa * len;
    float px = -sa * wid, py = ca * wid;
    HPDF_Page_MoveTo(page, cx, cy);
    HPDF_Page_CurveTo(page, cx + ca * len * 0.35f + px, cy + sa * len * 0.35f + py,
                      cx + ca * len * 0.85f + px * 0.8f, cy + sa * len * 0.85f + py * 0.8f, tx, ty);
    HPDF_Page_CurveTo(page, cx + ca * len * 0.85f - px * 0.8f, cy + sa * len * 0.85f - py * 0.8f,
                      cx + ca * len * 0.35f - px, cy + sa * len * 0.35f - py, cx, cy);
    HPDF_Page_Fill(page);
  }
  fill_color(c, BRAND);
  HPDF_Page_Circle(page, cx, cy, r * 0.22f);
  HPDF_Page_Fill(page);
  HPDF_Page_SetRGBStroke(page, 1, 1, 1);
  HPDF_Page_SetLineWidth(page, 0.8f);
  HPDF_Page_Circle(page, cx, cy, r * 0.92f);
  HPDF_Page_Stroke(page);
}

static void draw_header(ctx_t *c, const facts_t *f, uint64_t tenant_hash) {
  draw_logo(c, LEFT, 758, 48, 5 + (unsigned)(tenant_hash % 4));
  show(c, c->bold, 15, INK, 94, 790, ALIGN_LEFT, f->issuer);
  showf(c, c->regular, 7, GRAY, 94, 778, ALIGN_LEFT,
        "CNPJ %s · Inscrição estadual %03u.%03u.%03u.%03u", f->cnpj,
        (unsigned)(tenant_hash >> 8) % 1000, (unsigned)(tenant_hash >> 18) % 1000,
        (unsigned)(tenant_hash >> 28) % 1000, (unsigned)(tenant_hash >> 38) % 1000);
  show(c, c->regular, 7, GRAY, 94, 768, ALIGN_LEFT, f->address);
  show(c, c->bold, 14, BRAND, RIGHT, 792, ALIGN_RIGHT, "FATURA");
  show(c, c->regular, 8, INK, RIGHT, 780, ALIGN_RIGHT,
       f->kind == GEN_PDF_TELCO ? "Serviços de telecomunicações" : "Cartão de crédito");
  show(c, c->regular, 7, GRAY, RIGHT, 769, ALIGN_RIGHT, "Página 1 de 1");
  fill_rect(c, BRAND, LEFT, 750, RIGHT - LEFT, 2.5f);
}

static void format_phone(const char *e164, char *out, size_t cap) {
  /* +55 DD 9NNNN NNNN, as gen-invoices makes them; anything else is shown as it is. */
  if (strlen(e164) == 14 && strncmp(e164, "+55", 3) == 0)
    snprintf(out, cap, "(%.2s) %.5s-%.4s", e164 + 3, e164 + 5, e164 + 10);
  else
    snprintf(out, cap, "%s", e164);
}

static void draw_customer(ctx_t *c, const facts_t *f) {
  const ct_recipient_t *r = f->job->recipient;
  float y = 736;
  show(c, c->bold, 7, GRAY, LEFT, y, ALIGN_LEFT, "CLIENTE");
  show(c, c->bold, 11, INK, LEFT, y - 14, ALIGN_LEFT, r->name);
  y -= 27;
  showf(c, c->regular, 8, INK, LEFT, y, ALIGN_LEFT, "CPF %s", f->cpf_masked);
  y -= 11;
  if (f->kind == GEN_PDF_TELCO && r->phone != NULL && r->phone[0] != '\0') {
    char phone[32];
    format_phone(r->phone, phone, sizeof phone);
    showf(c, c->regular, 8, INK, LEFT, y, ALIGN_LEFT, "Linha %s", phone);
    y -= 11;
  } else if (r->card_last4 != NULL && r->card_last4[0] != '\0') {
    showf(c, c->regular, 8, INK, LEFT, y, ALIGN_LEFT, "Cartão final %s", r->card_last4);
    y -= 11;
  }
  if (r->email != NULL && r->email[0] != '\0') {
    showf(c, c->regular, 8, INK, LEFT, y, ALIGN_LEFT, "E-mail %s", r->email);
    y -= 11;
  }
  char code[11];
  rng_digits(&c->rng, code, 10);
  code[10] = '\0';
  showf(c, c->regular, 8, INK, LEFT, y, ALIGN_LEFT, "Código do cliente %s", code);
}

static void draw_summary(ctx_t *c, const facts_t *f) {
  float x = 340, y = 668, w = RIGHT - 340, h = 78;
  fill_rect(c, TINT, x, y, w, h);
  HPDF_Page_SetRGBStroke(c->page, c->brand[0], c->brand[1], c->brand[2]);
  HPDF_Page_SetLineWidth(c->page, 1);
  stroke_rect(c, x, y, w, h);
  show(c, c->bold, 7, GRAY, x + 10, y + 66, ALIGN_LEFT, "TOTAL A PAGAR");
  show(c, c->bold, 18, BRAND, x + 10, y + 46, ALIGN_LEFT, f->amount);
  show(c, c->bold, 7, GRAY, x + 135, y + 66, ALIGN_LEFT, "VENCIMENTO");
  show(c, c->bold, 12, INK, x + 135, y + 50, ALIGN_LEFT, f->due);
  show(c, c->bold, 7, GRAY, x + 10, y + 30, ALIGN_LEFT, "FATURA Nº");
  show(c, c->bold, 8.5f, INK, x + 10, y + 20, ALIGN_LEFT, f->job->invoice->number);
  show(c, c->bold, 7, GRAY, x + 135, y + 30, ALIGN_LEFT, "EMISSÃO");
  show(c, c->regular, 8.5f, INK, x + 135, y + 20, ALIGN_LEFT, f->issued);
  showf(c, c->regular, 7, INK, x + 10, y + 7, ALIGN_LEFT, "Período de referência: %s", f->period);
}

/* A table's column: left edge, width, right-aligned or not. */
typedef struct {
  float x, w;
  bool right;
} col_t;

static void table_row(ctx_t *c, const col_t *cols, size_t n, HPDF_Font font, float size,
                      color_t color, float y, const char *const *cells) {
  for (size_t i = 0; i < n; i++)
    show(c, font, size, color, cols[i].right ? cols[i].x + cols[i].w - 2 : cols[i].x + 2, y,
         cols[i].right ? ALIGN_RIGHT : ALIGN_LEFT, cells[i]);
}

static void table_header(ctx_t *c, const col_t *cols, size_t n, float size, float y, float h,
                         const char *const *cells) {
  float x0 = cols[0].x, x1 = cols[n - 1].x + cols[n - 1].w;
  fill_rect(c, BRAND, x0, y - (h - size) / 2 - 1.5f, x1 - x0, h);
  table_row(c, cols, n, c->bold, size, WHITE, y, cells);
}

static void draw_items(ctx_t *c, const facts_t *f) {
  int64_t cents = f->job->invoice->amount_cents;
  size_t k = (size_t)rng_range(&c->rng, 3, 6);
  int64_t parts[8];
  split_amount(&c->rng, cents, k, parts);
  float y = 650;
  HPDF_Page_SetLineWidth(c->page, 0.4f);
  HPDF_Page_SetRGBStroke(c->page, 0.75f, 0.75f, 0.78f);
  if (f->kind == GEN_PDF_TELCO) {
    show(c, c->bold, 9, BRAND, LEFT, y, ALIGN_LEFT, "RESUMO DA FATURA");
    static const col_t cols[] = {{LEFT, 214, false}, {LEFT + 214, 80, true}};
    static const char *const head[] = {"Descrição", "Valor"};
    table_header(c, cols, 2, 7, y - 14, 11, head);
    y -= 26;
    /* The plan comes first and takes the remainder, the largest part. */
    int64_t plan = parts[k - 1];
    memmove(parts + 1, parts, (k - 1) * sizeof parts[0]);
    parts[0] = plan;
    bool used[sizeof telco_extras / sizeof telco_extras[0]] = {false};
    for (size_t i = 0; i < k; i++) {
      char desc[80], value[GEN_BRL_BUFSZ];
      if (i == 0) {
        snprintf(desc, sizeof desc, "%s", PICK(&c->rng, telco_plans));
      } else {
        size_t e = (size_t)rng_below(&c->rng, sizeof telco_extras / sizeof telco_extras[0]);
        while (used[e])
          e = (e + 1) % (sizeof telco_extras / sizeof telco_extras[0]);
        used[e] = true;
        if (strcmp(telco_extras[e], "Parcela do aparelho") == 0)
          snprintf(desc, sizeof desc, "%s %d/12", telco_extras[e], (int)rng_range(&c->rng, 1, 12));
        else
          snprintf(desc, sizeof desc, "%s", telco_extras[e]);
      }
      const char *cells[] = {desc, gen_format_brl(parts[i], value)};
      table_row(c, cols, 2, c->regular, 7.5f, INK, y, cells);
      hline(c, cols[0].x, cols[1].x + cols[1].w, y - 3.5f);
      y -= 11;
    }
    const char *total[] = {"Total", f->amount};
    table_row(c, cols, 2, c->bold, 8, INK, y - 1, total);
  } else {
    show(c, c->bold, 9, BRAND, LEFT, y, ALIGN_LEFT, "LANÇAMENTOS DO PERÍODO");
    static const col_t cols[] = {
        {LEFT, 34, false}, {LEFT + 34, 180, false}, {LEFT + 214, 80, true}};
    static const char *const head[] = {"Data", "Estabelecimento", "Valor"};
    table_header(c, cols, 3, 7, y - 14, 11, head);
    y -= 26;
    /* The remainder, the largest part, would otherwise always be the last purchase. */
    for (size_t i = k - 1; i > 0; i--) {
      size_t j = (size_t)rng_below(&c->rng, i + 1);
      int64_t t = parts[i];
      parts[i] = parts[j];
      parts[j] = t;
    }
    int32_t when[8];
    for (size_t i = 0; i < k; i++)
      when[i] = f->period_first + (int32_t)rng_below(&c->rng, (uint64_t)f->period_days);
    for (size_t i = 1; i < k; i++) /* purchases in date order */
      for (size_t j = i; j > 0 && when[j - 1] > when[j]; j--) {
        int32_t t = when[j];
        when[j] = when[j - 1];
        when[j - 1] = t;
      }
    for (size_t i = 0; i < k; i++) {
      char date[11], desc[96], value[GEN_BRL_BUFSZ];
      format_date(when[i], date);
      date[5] = '\0'; /* dd/mm */
      const char *merchant = PICK(&c->rng, merchants);
      snprintf(desc, sizeof desc, "%s · %s", merchant, PICK(&c->rng, cities));
      const char *cells[] = {date, desc, gen_format_brl(parts[i], value)};
      table_row(c, cols, 3, c->regular, 7.5f, INK, y, cells);
      hline(c, cols[0].x, cols[2].x + cols[2].w, y - 3.5f);
      y -= 11;
    }
    const char *total[] = {"", "Total", f->amount};
    table_row(c, cols, 3, c->bold, 8, INK, y - 1, total);
  }
}

static void draw_pix(ctx_t *c, const facts_t *f) {
  const char *pix = f->job->invoice->pix_code;
  float x = 345, y = 650;
  if (pix == NULL || pix[0] == '\0') {
    show(c, c->bold, 9, BRAND, x, y, ALIGN_LEFT, "FORMAS DE PAGAMENTO");
    show(c, c->regular, 7.5f, INK, x, y - 14, ALIGN_LEFT,
         "Pague pelo código de barras no app do seu");
    show(c, c->regular, 7.5f, INK, x, y - 24, ALIGN_LEFT,
         "banco, no internet banking, em lotéricas ou");
    show(c, c->regular, 7.5f, INK, x, y - 34, ALIGN_LEFT,
         "nos caixas eletrônicos, até o vencimento.");
    show(c, c->regular, 7.5f, INK, x, y - 48, ALIGN_LEFT,
         "Cadastre o débito automático e receba a");
    show(c, c->regular, 7.5f, INK, x, y - 58, ALIGN_LEFT, "fatura só por e-mail ou WhatsApp.");
    return;
  }
  show(c, c->bold, 9, BRAND, x, y, ALIGN_LEFT, "PAGUE COM PIX");
  show(c, c->regular, 7, INK, x, y - 12, ALIGN_LEFT,
       "Copie o código abaixo e cole no app do seu banco");
  show(c, c->regular, 7, INK, x, y - 21, ALIGN_LEFT,
       "(Pix Copia e Cola). O pagamento cai na hora.");
  /* Courier 6.5 pt: 3.9 pt a character, 54 to the 214 pt of the column. */
  size_t len = strlen(pix);
  float ly = y - 34;
  for (size_t at = 0; at < len && ly > 560; at += 54, ly -= 8.5f) {
    char chunk[55];
    snprintf(chunk, sizeof chunk, "%.54s", pix + at);
    show(c, c->mono, 6.5f, INK, x, ly, ALIGN_LEFT, chunk);
  }
}

/* Telco: two columns of usage records over the period, all included in the plan. */
static void draw_usage(ctx_t *c, const facts_t *f) {
  show(c, c->bold, 9, BRAND, LEFT, 548, ALIGN_LEFT, "DETALHAMENTO DE USO");
  show(c, c->regular, 7, GRAY, RIGHT, 548, ALIGN_RIGHT,
       "Ligações, mensagens e internet incluídas no plano (sem cobrança adicional)");
  const char *ddd = f->job->recipient->phone != NULL && strlen(f->job->recipient->phone) >= 5
                        ? f->job->recipient->phone + 3
                        : "11";
  static const char *const head[] = {"Data", "Hora", "Serviço", "Número", "Uso", "Valor"};
  const float top = 530, bottom = 276, row = 6.6f;
  const size_t rows = (size_t)((top - 12 - bottom) / row);
  int32_t last_day = -1;
  int minute = 0;
  for (int half = 0; half < 2; half++) {
    float x = half == 0 ? LEFT : LEFT + 266;
    const col_t cols[] = {{x, 26, false},       {x + 26, 22, false}, {x + 48, 62, false},
                          {x + 110, 62, false}, {x + 172, 52, true}, {x + 224, 33, true}};
    table_header(c, cols, 6, 6, top, 9.5f, head);
    for (size_t i = 0; i < rows; i++) {
      /* Records spread evenly over the period, in time order: a day's first record comes
       * in the morning, the next ones later that day (at most 4 a day, so 23:59 is enough). */
      size_t e = (size_t)half * rows + i;
      int32_t day = f->period_first + (int32_t)(e * (size_t)f->period_days / (2 * rows));
      if (day != last_day)
        minute = 7 * 60 + (int)rng_range(&c->rng, 0, 90);
      else
        minute += (int)rng_range(&c->rng, 10, 240);
      if (minute > 23 * 60 + 59)
        minute = 23 * 60 + 59;
      last_day = day;
      char date[11], hour[16], number[24], use[24];
      format_date(day, date);
      date[5] = '\0';
      snprintf(hour, sizeof hour, "%02d:%02d", minute / 60, minute % 60);
      const char *service;
      /* One draw per statement: the order in which a call's arguments are evaluated is
       * unspecified, and compilers differ, which would change the bytes. */
      unsigned kind = (unsigned)rng_below(&c->rng, 10);
      int hi = (int)rng_below(&c->rng, 10000);
      int lo = (int)rng_below(&c->rng, 10000);
      if (kind < 4) {
        service = kind < 3 ? "Ligação local" : "Ligação DDD";
        const char *area = kind < 3 ? ddd : PICK(&c->rng, other_ddds);
        snprintf(number, sizeof number, "(%.2s) 9%04d-%04d", area, hi, lo);
        int secs = (int)rng_range(&c->rng, 8, 1500);
        snprintf(use, sizeof use, "%dmin %02ds", secs / 60, secs % 60);
      } else if (kind < 6) {
        service = "SMS enviado";
        snprintf(number, sizeof number, "(%.2s) 9%04d-%04d", ddd, hi, lo);
        snprintf(use, sizeof use, "1 mensagem");
      } else {
        service = "Internet móvel";
        snprintf(number, sizeof number, "-");
        int kb = (int)rng_range(&c->rng, 120, 900000);
        snprintf(use, sizeof use, "%d,%d MB", kb / 1024, (kb % 1024) * 10 / 1024);
      }
      const char *cells[] = {date, hour, service, number, use, "incluso"};
      float y = top - 11 - row * (float)i;
      if (i % 2 == 1)
        fill_rect(c, TINT, x, y - 1.8f, 257, row);
      table_row(c, cols, 6, c->regular, 5.6f, INK, y, cells);
    }
  }
}

/* Bank: what paying in instalments would cost, and purchases already split over the next
 * statements. */
static void draw_instalments(ctx_t *c, const facts_t *f) {
  int64_t cents = f->job->invoice->amount_cents;
  show(c, c->bold, 9, BRAND, LEFT, 548, ALIGN_LEFT, "OPÇÕES DE PARCELAMENTO DA FATURA");
  show(c, c->bold, 9, BRAND, LEFT + 272, 548, ALIGN_LEFT, "COMPRAS PARCELADAS · PRÓXIMAS FATURAS");
  const float top = 530, row = 9.2f;
  static const char *const head[] = {"Parcelas", "Valor da parcela", "Juros a.m.", "Total",
                                     "CET a.a."};
  const col_t cols[] = {{LEFT, 36, false},
                        {LEFT + 36, 64, true},
                        {LEFT + 100, 44, true},
                        {LEFT + 144, 64, true},
                        {LEFT + 208, 50, true}};
  table_header(c, cols, 5, 6.5f, top, 10, head);
  /* Monthly rate in basis points; card instalment rates in Brazil run from 3% to 15%. */
  int rate_bp = (int)rng_range(&c->rng, 399, 1299);
  double i = rate_bp / 10000.0;
  double year = 1;
  for (int m = 0; m < 12; m++)
    year *= 1 + i;
  for (int n = 2; n <= 24; n++) {
    /* Price table: pmt = P i / (1 - (1 + i)^-n). */
    double grow = 1;
    for (int m = 0; m < n; m++)
      grow *= 1 + i;
    int64_t pmt = (int64_t)((double)cents * i * grow / (grow - 1) + 0.5);
    char np[8], pv[GEN_BRL_BUFSZ], rate[16], tv[GEN_BRL_BUFSZ], cet[16];
    snprintf(np, sizeof np, "%dx", n);
    snprintf(rate, sizeof rate, "%d,%02d%%", rate_bp / 100, rate_bp % 100);
    int cet_bp = (int)((year - 1) * 10000 + 0.5);
    snprintf(cet, sizeof cet, "%d,%02d%%", cet_bp / 100, cet_bp % 100);
    const char *cells[] = {np, gen_format_brl(pmt, pv), rate, gen_format_brl(pmt * n, tv), cet};
    float y = top - 12 - row * (float)(n - 2);
    if (n % 2 == 1)
      fill_rect(c, TINT, LEFT, y - 2.6f, 258, row);
    table_row(c, cols, 5, c->regular, 6.5f, INK, y, cells);
  }

  static const char *const fhead[] = {"Compra", "Estabelecimento", "Parcela", "Valor"};
  const float fx = LEFT + 272;
  const col_t fcols[] = {
      {fx, 30, false}, {fx + 30, 140, false}, {fx + 170, 36, true}, {fx + 206, 45, true}};
  table_header(c, fcols, 4, 6.5f, top, 10, fhead);
  size_t n = (size_t)rng_range(&c->rng, 10, 23);
  int32_t ago = 0;
  for (size_t k = 0; k < n; k++) {
    char date[11], desc[96], part[24], value[GEN_BRL_BUFSZ];
    /* Newest purchase first; one bought m months ago is on instalment m + 1 of this bill. */
    ago += (int32_t)rng_range(&c->rng, 1, 300 / (int64_t)n);
    int32_t bought = f->period_first - ago;
    format_date(bought, date);
    date[5] = '\0';
    snprintf(desc, sizeof desc, "%s", PICK(&c->rng, merchants));
    int instalment = ago / 30 + 2;
    int of = instalment + (int)rng_range(&c->rng, 0, 12 - (instalment < 12 ? instalment : 12));
    snprintf(part, sizeof part, "%d/%d", instalment, of);
    int64_t due = rng_range(&c->rng, 990, 45000);
    const char *cells[] = {date, desc, part, gen_format_brl(due, value)};
    float y = top - 12 - row * (float)k;
    if (k % 2 == 1)
      fill_rect(c, TINT, fx, y - 2.6f, 251, row);
    table_row(c, fcols, 4, c->regular, 6.5f, INK, y, cells);
  }
  float y = top - 12 - row * 23 - 6;
  int64_t limit = ((cents * (int64_t)rng_range(&c->rng, 3, 20)) / 10000 + 1) * 10000;
  char lim[GEN_BRL_BUFSZ], avail[GEN_BRL_BUFSZ];
  showf(c, c->regular, 7, INK, fx, y, ALIGN_LEFT, "Limite total %s · disponível %s",
        gen_format_brl(limit, lim), gen_format_brl(limit - cents, avail));
}

static void draw_fine_print(ctx_t *c, const facts_t *f) {
  HPDF_Page_SetRGBStroke(c->page, 0.75f, 0.75f, 0.78f);
  HPDF_Page_SetLineWidth(c->page, 0.4f);
  hline(c, LEFT, RIGHT, 268);
  show(c, c->regular, 6, GRAY, LEFT, 260, ALIGN_LEFT,
       "Documento fictício, gerado por carteiro gen-invoices para testes e demonstrações: "
       "não tem valor fiscal nem de cobrança. Nomes, CPF e códigos são sintéticos.");
  show(c, c->regular, 6, GRAY, LEFT, 252, ALIGN_LEFT,
       f->kind == GEN_PDF_TELCO
           ? "Após o vencimento: multa de 2% e juros de mora de 1% ao mês, proporcionais aos dias "
             "de atraso. Central de atendimento: 0800 000 0000 (ligação gratuita)."
           : "Pagamento abaixo do total: o saldo é financiado pelo crédito rotativo, com juros e "
             "IOF informados na próxima fatura. Central de atendimento: 0800 000 0000.");
}

/* One cell of the slip's grid: a small label at the top left and the value below it. */
static void slip_cell(ctx_t *c, float x, float y, float w, float h, const char *label,
                      const char *value, bool bold, bool right) {
  stroke_rect(c, x, y, w, h);
  show(c, c->regular, 5.5f, GRAY, x + 2, y + h - 6.5f, ALIGN_LEFT, label);
  if (value != NULL)
    show(c, bold ? c->bold : c->regular, 8, INK, right ? x + w - 3 : x + 3, y + 3.5f,
         right ? ALIGN_RIGHT : ALIGN_LEFT, value);
}

/* Interleaved 2 of 5, as FEBRABAN specifies for boletos: narrow bars and spaces of one
 * module, wide ones of three, start "nnnn", stop "wnn"; digits in pairs, the first as bars and
 * the second as the spaces between them. */
static void draw_itf(ctx_t *c, const char digits[45], float x, float y, float h) {
  static const char *const patterns[10] = {"nnwwn", "wnnnw", "nwnnw", "wwnnn", "nnwnw",
                                           "wnwnn", "nwwnn", "nnnww", "wnnwn", "nwnwn"};
  const float module = 0.72f; /* 405 modules: 103 mm, the width FEBRABAN asks for */
  fill_color(c, INK);
  for (int i = 0; i < 2; i++) { /* start: bar, space, bar, space */
    HPDF_Page_Rectangle(c->page, x, y, module, h);
    x += 2 * module;
  }
  for (int p = 0; p < 44; p += 2) {
    const char *bars = patterns[digits[p] - '0'], *spaces = patterns[digits[p + 1] - '0'];
    for (int i = 0; i < 5; i++) {
      float bw = bars[i] == 'w' ? 3 * module : module;
      HPDF_Page_Rectangle(c->page, x, y, bw, h);
      x += bw + (spaces[i] == 'w' ? 3 * module : module);
    }
  }
  HPDF_Page_Rectangle(c->page, x, y, 3 * module, h); /* stop: wide bar, space, bar */
  x += 4 * module;
  HPDF_Page_Rectangle(c->page, x, y, module, h);
  HPDF_Page_Fill(c->page);
}

static void draw_slip(ctx_t *c, const facts_t *f) {
  const ct_invoice_t *inv = f->job->invoice;
  static const HPDF_UINT16 dash[] = {3, 2};
  HPDF_Page_SetRGBStroke(c->page, 0.4f, 0.4f, 0.43f);
  HPDF_Page_SetLineWidth(c->page, 0.5f);
  HPDF_Page_SetDash(c->page, dash, 2, 0);
  hline(c, LEFT, RIGHT, 238);
  HPDF_Page_SetDash(c->page, NULL, 0, 0);
  show(c, c->regular, 5.5f, GRAY, RIGHT, 241, ALIGN_RIGHT, "Recorte aqui");

  char grouped[80], digits[45];
  group_line(inv->barcode_line, f->utility, grouped, sizeof grouped);
  bar_code_digits(inv->barcode_line, f->utility, digits);
  float y = 214;
  if (f->utility) {
    showf(c, c->bold, 10, INK, LEFT, y + 4, ALIGN_LEFT, "Arrecadação · convênio %.4s", digits + 15);
  } else {
    showf(c, c->bold, 13, INK, LEFT, y + 4, ALIGN_LEFT, "%.3s-%c", inv->barcode_line,
          bank_check_digit(inv->barcode_line));
  }
  show(c, c->bold, 10.5f, INK, RIGHT, y + 4, ALIGN_RIGHT, grouped);
  HPDF_Page_SetRGBStroke(c->page, 0.2f, 0.2f, 0.22f);
  HPDF_Page_SetLineWidth(c->page, 0.9f);
  hline(c, LEFT, RIGHT, y);
  HPDF_Page_SetLineWidth(c->page, 0.45f);

  const float side = 130, body = RIGHT - LEFT - side, sx = RIGHT - side, h = 19;
  char agency[24], ours[24], branch[8];
  rng_digits(&c->rng, branch, 4);
  int account = (int)rng_below(&c->rng, 100000);
  int account_dv = (int)rng_below(&c->rng, 10);
  snprintf(agency, sizeof agency, "%.4s / %05d-%d", branch, account, account_dv);
  snprintf(ours, sizeof ours, "%.11s-%c", digits + 19, digits[30]);
  char beneficiary[160];
  snprintf(beneficiary, sizeof beneficiary, "%s · CNPJ %s", f->issuer, f->cnpj);
  char payer[160];
  snprintf(payer, sizeof payer, "%s · CPF %s", f->job->recipient->name, f->cpf_masked);

  y -= h;
  slip_cell(c, LEFT, y, body, h, "Local de pagamento",
            "Pagável em qualquer banco, lotérica ou app até o vencimento", false, false);
  slip_cell(c, sx, y, side, h, "Vencimento", f->due, true, true);
  y -= h;
  slip_cell(c, LEFT, y, body, h, "Beneficiário", beneficiary, false, false);
  slip_cell(c, sx, y, side, h, "Agência / Código do beneficiário", agency, false, true);
  y -= h;
  const float q = body / 5;
  slip_cell(c, LEFT, y, q, h, "Data do documento", f->issued, false, false);
  slip_cell(c, LEFT + q, y, q * 1.4f, h, "Nº do documento", inv->number, false, false);
  slip_cell(c, LEFT + q * 2.4f, y, q * 0.8f, h, "Espécie doc.",
            f->kind == GEN_PDF_TELCO ? "FAT" : "DM", false, false);
  slip_cell(c, LEFT + q * 3.2f, y, q * 0.6f, h, "Aceite", "N", false, false);
  slip_cell(c, LEFT + q * 3.8f, y, q * 1.2f, h, "Data processamento", f->issued, false, false);
  slip_cell(c, sx, y, side, h, "Nosso número", ours, false, true);
  y -= h;
  slip_cell(c, LEFT, y, q, h, "Uso do banco", NULL, false, false);
  slip_cell(c, LEFT + q, y, q, h, "Carteira", f->utility ? "-" : "109", false, false);
  slip_cell(c, LEFT + q * 2, y, q, h, "Espécie", "R$", false, false);
  slip_cell(c, LEFT + q * 3, y, q, h, "Quantidade", NULL, false, false);
  slip_cell(c, LEFT + q * 4, y, q, h, "Valor", NULL, false, false);
  slip_cell(c, sx, y, side, h, "(=) Valor do documento", f->amount, true, true);
  y -= 2 * h;
  stroke_rect(c, LEFT, y, body, 2 * h);
  show(c, c->regular, 5.5f, GRAY, LEFT + 2, y + 2 * h - 6.5f, ALIGN_LEFT,
       "Instruções (texto de responsabilidade do beneficiário)");
  show(c, c->regular, 7, INK, LEFT + 3, y + 18, ALIGN_LEFT,
       "Não receber após 59 dias do vencimento. Após o vencimento, multa de 2% e juros de 1% ao "
       "mês.");
  show(c, c->regular, 7, INK, LEFT + 3, y + 9, ALIGN_LEFT,
       "Não aceite este documento como cobrança: é fictício, feito para testes.");
  slip_cell(c, sx, y + h, side, h, "(-) Desconto / (+) Mora e multa", NULL, false, false);
  slip_cell(c, sx, y, side, h, "(=) Valor cobrado", NULL, false, false);
  y -= h;
  slip_cell(c, LEFT, y, body + side, h, "Pagador", payer, false, false);

  draw_itf(c, digits, LEFT, 40, 36);
  show(c, c->regular, 6, GRAY, RIGHT, 68, ALIGN_RIGHT, "Autenticação mecânica");
  show(c, c->bold, 7, INK, RIGHT, 58, ALIGN_RIGHT, "Ficha de compensação");
}

/* ---------------------------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return s[n] == '\0';
}

/* Everything the page says about the job, checked and formatted up front. */
static int gather(const ct_job_t *job, gen_pdf_kind_t kind, facts_t *f, char *err, size_t errcap) {
  const ct_invoice_t *inv = job->invoice;
  memset(f, 0, sizeof *f);
  f->job = job;
  f->kind = kind;
  int32_t due_days;
  if (inv == NULL || inv->number == NULL || inv->number[0] == '\0' || inv->amount_cents <= 0 ||
      job->recipient == NULL || job->recipient->name == NULL || job->tenant == NULL) {
    snprintf(err, errcap, "job %s: no invoice number, amount, recipient or tenant",
             job->id != NULL ? job->id : "?");
    return CT_EINVAL;
  }
  if (inv->due_date == NULL || ct_date_parse(inv->due_date, &due_days) != 0) {
    snprintf(err, errcap, "job %s: invoice.due_date is not YYYY-MM-DD", job->id);
    return CT_EINVAL;
  }
  size_t n = inv->barcode_line != NULL ? strlen(inv->barcode_line) : 0;
  if ((n != 47 && n != 48) || !all_digits(inv->barcode_line, n)) {
    snprintf(err, errcap, "job %s: invoice.barcode_line is not 47 or 48 digits", job->id);
    return CT_EINVAL;
  }
  f->utility = n == 48;
  format_date(due_days, f->due);
  /* Issued at the job's creation, in São Paulo (UTC-3, no daylight saving since 2019). */
  int32_t created = (int32_t)((job->created_at_ms / 1000 - 3 * 3600) / 86400);
  format_date(created, f->issued);
  /* The period billed is the calendar month before the due date's. */
  int y, m, d;
  civil_from_days(due_days, &y, &m, &d);
  int py = m == 1 ? y - 1 : y, pm = m == 1 ? 12 : m - 1;
  f->period_first = ct_days_from_civil(py, pm, 1);
  f->period_days = ct_days_from_civil(y, m, 1) - f->period_first;
  char first[11], last[11];
  format_date(f->period_first, first);
  format_date(f->period_first + f->period_days - 1, last);
  snprintf(f->period, sizeof f->period, "%s a %s", first, last);
  gen_format_brl(inv->amount_cents, f->amount);
  const char *cpf = job->recipient->cpf;
  if (cpf != NULL && strlen(cpf) == 11)
    snprintf(f->cpf_masked, sizeof f->cpf_masked, "***.%.3s.%.3s-**", cpf + 3, cpf + 6);
  else
    snprintf(f->cpf_masked, sizeof f->cpf_masked, "não informado");
  return 0;
}

static void issuer_facts(facts_t *f, uint64_t h) {
  f->issuer = f->kind == GEN_PDF_TELCO ? telco_issuers[h % 6] : bank_issuers[h % 6];
  char d[15];
  snprintf(d, sizeof d, "%08llu0001", (unsigned long long)((h >> 8) % 100000000u));
  cnpj_complete(d);
  snprintf(f->cnpj, sizeof f->cnpj, "%.2s.%.3s.%.3s/%.4s-%.2s", d, d + 2, d + 5, d + 8, d + 12);
  snprintf(f->address, sizeof f->address, "%s, %u · %s · São Paulo/SP · CEP %05u-%03u",
           streets[(h >> 20) % 6], (unsigned)(100 + (h >> 24) % 2900), districts[(h >> 36) % 6],
           (unsigned)(1000 + (h >> 40) % 8000), (unsigned)((h >> 52) % 1000));
}

int gen_pdf_render(const ct_job_t *job, gen_pdf_kind_t kind, uint64_t seed, uint8_t **out,
                   size_t *outlen, char *err, size_t errcap) {
  facts_t f;
  int rc = gather(job, kind, &f, err, errcap);
  if (rc != 0)
    return rc;
  uint64_t th = fnv1a(job->tenant) ^ (kind == GEN_PDF_TELCO ? 0 : 0x5a5a5a5a5a5a5a5au);
  issuer_facts(&f, th);

  hpdf_error_t herr = {HPDF_OK, 0};
  ctx_t c = {.rng = {seed}};
  c.pdf = HPDF_New(on_hpdf_error, &herr);
  if (c.pdf == NULL) {
    snprintf(err, errcap, "libharu: cannot create a document");
    return CT_ENOMEM;
  }
  hsv((float)((th >> 44) % 360), 0.70f, 0.55f, c.brand);
  hsv((float)((th >> 44) % 360), 0.06f, 0.98f, c.tint);

  HPDF_SetCompressionMode(c.pdf, HPDF_COMP_NONE);
  int y, m, d;
  civil_from_days((int32_t)((job->created_at_ms / 1000 - 3 * 3600) / 86400), &y, &m, &d);
  HPDF_Date created = {y, m, d, 0, 0, 0, '-', 3, 0};
  HPDF_SetInfoDateAttr(c.pdf, HPDF_INFO_CREATION_DATE, created);
  char title[96];
  snprintf(title, sizeof title, "Fatura %s", job->invoice->number);
  HPDF_SetInfoAttr(c.pdf, HPDF_INFO_TITLE, title);
  HPDF_SetInfoAttr(c.pdf, HPDF_INFO_CREATOR, "carteiro gen-invoices (synthetic data)");
  c.regular = HPDF_GetFont(c.pdf, "Helvetica", "WinAnsiEncoding");
  c.bold = HPDF_GetFont(c.pdf, "Helvetica-Bold", "WinAnsiEncoding");
  c.mono = HPDF_GetFont(c.pdf, "Courier", "WinAnsiEncoding");
  c.page = HPDF_AddPage(c.pdf);
  if (herr.error == HPDF_OK) {
    HPDF_Page_SetSize(c.page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    draw_header(&c, &f, th);
    draw_customer(&c, &f);
    draw_summary(&c, &f);
    draw_items(&c, &f);
    draw_pix(&c, &f);
    if (kind == GEN_PDF_TELCO)
      draw_usage(&c, &f);
    else
      draw_instalments(&c, &f);
    draw_fine_print(&c, &f);
    draw_slip(&c, &f);
  }
  if (herr.error == HPDF_OK)
    HPDF_SaveToStream(c.pdf);
  uint8_t *buf = NULL;
  HPDF_UINT32 size = herr.error == HPDF_OK ? HPDF_GetStreamSize(c.pdf) : 0;
  if (herr.error == HPDF_OK && size > 0) {
    buf = malloc(size);
    if (buf == NULL) {
      HPDF_Free(c.pdf);
      snprintf(err, errcap, "job %s: no memory for a %u-byte PDF", job->id, (unsigned)size);
      return CT_ENOMEM;
    }
    HPDF_UINT32 got = size;
    HPDF_ReadFromStream(c.pdf, buf, &got);
    if (herr.error == HPDF_OK && got != size)
      herr.error = HPDF_STREAM_EOF;
  }
  HPDF_Free(c.pdf);
  if (herr.error != HPDF_OK || buf == NULL) {
    free(buf);
    snprintf(err, errcap, "job %s: libharu error 0x%04X (detail %u)", job->id, (unsigned)herr.error,
             (unsigned)herr.detail);
    return herr.error == HPDF_FAILD_TO_ALLOC_MEM ? CT_ENOMEM : CT_EINVAL;
  }
  *out = buf;
  *outlen = size;
  return 0;
}
