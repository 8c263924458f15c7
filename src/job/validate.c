/* Validation of jobs and of the Brazilian identifiers they carry.
 *
 * Every entry point (CLI import, HTTP ingest, NATS) runs ct_job_validate() before a job is
 * stored, so the rules live here once. The module is pure: no I/O, no allocation, no global
 * state, no clock. Each rule below names where it comes from, because most of them are not
 * ours to choose.
 *
 * CPF (Receita Federal). 11 digits; the last two are check digits. The first is
 * 11 - (sum of d[i] * (10 - i), i = 0..8) mod 11, the second the same over d[0..9] with
 * weights 11..2; a result of 10 or 11 becomes 0. All-same-digit numbers such as
 * 111.111.111-11 pass that arithmetic but are not issued, so they are refused by name.
 *
 * Mobile numbers (ANATEL). "+55", a 2-digit area code (DDD) from the 67 that ANATEL assigns,
 * then 9 digits of which the first is 9 (the "nono dígito", mandatory for mobiles since 2016).
 *
 * Bank slips, "boleto de cobrança" (FEBRABAN / BACEN Carta-Circular 2.926). The 44-digit
 * barcode is
 *     bank(3) currency(1) DV(1) factor(4) amount(10) free field(25)
 * and the 47-digit line rearranges it into five fields:
 *     1: bank, currency, free[0..4], mod-10 digit        2: free[5..14], mod-10 digit
 *     3: free[15..24], mod-10 digit                      4: the barcode's DV
 *     5: factor, amount
 * Mod 10 weighs digits 2,1,2,1... from the right, adds the digits of each product, and the
 * check digit is what brings the sum to a multiple of 10. The barcode DV is mod 11 over the
 * other 43 barcode digits, weights 2..9 repeating from the right, DV = 11 - sum mod 11, with 0,
 * 10 and 11 written as 1 (a bank-slip DV is never 0).
 *
 * The due-date factor counts days since 1997-10-07. It reached 9999 on 2025-02-21 and FEBRABAN
 * restarted it at 1000 on 2025-02-22 (the next wrap is 2049-10-14), so a factor names one date
 * every 9,000 days and a reader needs a reference date to pick one. Factors 0001..0999 belong to
 * 1997-2000 and never occur again; 0000 means "no due date".
 *
 * Utility slips, "arrecadação" (FEBRABAN "Layout Padrão de Arrecadação/Recebimento"). The
 * barcode is
 *     '8' segment(1) value-id(1) DV(1) value(11) company(4) free(25)
 * and the 48-digit line is the barcode in four blocks of 11 digits, each followed by its own
 * check digit. The value identifier picks the modulus for every check digit: 6 and 7 use the
 * mod 10 above, 8 and 9 use mod 11 with weights 2..9 from the right where a remainder of 0 or 1
 * gives 0 and any other remainder r gives 11 - r. Identifiers 6 and 8 carry the amount in
 * cents of real; 7 and 9 carry a quantity of some reference currency.
 *
 * PIX BR Code (BACEN "Manual de Padrões para Iniciação do Pix", on EMV QRCPS-MPM). A sequence
 * of TLV fields, each a 2-digit id, a 2-digit length and that many bytes, starting with
 * "000201" and ending with "6304" plus the CRC16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no
 * reflection) of everything before the CRC value, in 4 upper-case hex digits. Ids 26..51
 * (merchant account) and 62 (additional data) hold nested TLV fields; a PIX code has a merchant
 * account whose id 00 is the GUI "br.gov.bcb.pix".
 */
#include "job/validate.h"

#include "common/clock.h"
#include "common/error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------------------------ */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_lower_alpha(char c) { return c >= 'a' && c <= 'z'; }

static bool is_alpha(char c) { return is_lower_alpha(c) || (c >= 'A' && c <= 'Z'); }

/* protobuf-c leaves absent strings as its shared empty string, but jobs built in code may
 * leave them NULL; both mean "not given". */
static const char *str(const char *s) { return s != NULL ? s : ""; }

static bool all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!is_digit(s[i]))
      return false;
  return true;
}

/* True when `s` is exactly `n` digits long. */
static bool is_digits_n(const char *s, size_t n) { return strlen(s) == n && all_digits(s, n); }

static int64_t digits_value(const char *s, size_t n) {
  int64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v * 10 + (s[i] - '0');
  return v;
}

/* Writes `v` as exactly `n` zero-padded digits (the caller has checked v < 10^n). */
static void put_digits(char *out, size_t n, int64_t v) {
  for (size_t i = n; i-- > 0;) {
    out[i] = (char)('0' + v % 10);
    v /= 10;
  }
}

/* FEBRABAN mod 10: weights 2,1,2,1... from the rightmost digit, digits of each product
 * summed (a product is at most 18, so "minus 9" is the same thing). */
static int mod10(const char *d, size_t n) {
  int sum = 0, w = 2;
  for (size_t i = n; i-- > 0;) {
    int p = (d[i] - '0') * w;
    sum += p > 9 ? p - 9 : p;
    w = 3 - w;
  }
  return (10 - sum % 10) % 10;
}

/* The weighted sum mod 11 with weights 2..9 repeating from the rightmost digit, shared by the
 * bank-slip DV and the arrecadação mod 11; they differ only in how they map the remainder. */
static int mod11_remainder(const char *d, size_t n) {
  int sum = 0, w = 2;
  for (size_t i = n; i-- > 0;) {
    sum += (d[i] - '0') * w;
    w = w == 9 ? 2 : w + 1;
  }
  return sum % 11;
}

/* FEBRABAN writes a result of 0, 10 or 11 as 1; 11 - remainder is never 0, so only 10 and 11
 * remain to map. */
static int bank_dv(const char *d43) {
  int dv = 11 - mod11_remainder(d43, 43);
  return dv >= 10 ? 1 : dv;
}

static int utility_mod11(const char *d, size_t n) {
  int r = mod11_remainder(d, n);
  return r <= 1 ? 0 : 11 - r;
}

/* The utility-slip check digit over `n` digits: the value identifier picks the modulus. */
static int utility_dv(char value_id, const char *d, size_t n) {
  return value_id == '6' || value_id == '7' ? mod10(d, n) : utility_mod11(d, n);
}

/* ---- CPF ---------------------------------------------------------------------------------- */

static void cpf_digits(const char *d, int *dv1, int *dv2) {
  int sum = 0;
  for (int i = 0; i < 9; i++)
    sum += (d[i] - '0') * (10 - i);
  int r = sum % 11;
  *dv1 = r < 2 ? 0 : 11 - r;
  sum = 0;
  for (int i = 0; i < 9; i++)
    sum += (d[i] - '0') * (11 - i);
  sum += *dv1 * 2;
  r = sum % 11;
  *dv2 = r < 2 ? 0 : 11 - r;
}

void ct_cpf_complete(char d[11]) {
  int dv1, dv2;
  cpf_digits(d, &dv1, &dv2);
  d[9] = (char)('0' + dv1);
  d[10] = (char)('0' + dv2);
}

const char *ct_check_cpf(const char *s) {
  static const char shape[] = "000.000.000-00";
  char d[11];
  size_t len = strlen(s);
  if (len == 0)
    return "is empty";
  if (len == 11 && all_digits(s, 11)) {
    memcpy(d, s, 11);
  } else if (len == sizeof shape - 1) {
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
      if (shape[i] == '0') {
        if (!is_digit(s[i]))
          return "must be 11 digits, plain or as 000.000.000-00";
        d[k++] = s[i];
      } else if (s[i] != shape[i]) {
        return "must be 11 digits, plain or as 000.000.000-00";
      }
    }
  } else {
    return "must be 11 digits, plain or as 000.000.000-00";
  }
  bool same = true;
  for (int i = 1; i < 11; i++)
    same = same && d[i] == d[0];
  if (same)
    return "all digits are the same";
  int dv1, dv2;
  cpf_digits(d, &dv1, &dv2);
  if (d[9] - '0' != dv1 || d[10] - '0' != dv2)
    return "check digits do not match";
  return NULL;
}

/* ---- phone -------------------------------------------------------------------------------- */

/* The 67 area codes ANATEL assigns (Plano Geral de Códigos Nacionais):
 * 11-19 SP; 21 22 24 RJ; 27 28 ES; 31-35 37 38 MG; 41-46 PR; 47-49 SC; 51 53-55 RS; 61 DF;
 * 62 64 GO; 63 TO; 65 66 MT; 67 MS; 68 AC; 69 RO; 71 73-75 77 BA; 79 SE; 81 87 PE; 82 AL;
 * 83 PB; 84 RN; 85 88 CE; 86 89 PI; 91 93 94 PA; 92 97 AM; 95 RR; 96 AP; 98 99 MA. */
static bool ddd_assigned(int ddd) {
  static const unsigned char assigned[] = {
      11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42,
      43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74,
      75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
  };
  for (size_t i = 0; i < sizeof assigned; i++)
    if (assigned[i] == ddd)
      return true;
  return false;
}

const char *ct_check_phone(const char *s) {
  if (s[0] == '\0')
    return "is empty";
  if (strncmp(s, "+55", 3) != 0)
    return "must start with +55 (Brazilian numbers only)";
  if (!is_digits_n(s + 3, 11))
    return "must be +55, a 2-digit area code and 9 digits";
  if (!ddd_assigned((s[3] - '0') * 10 + (s[4] - '0')))
    return "area code is not one ANATEL assigns";
  if (s[5] != '9')
    return "mobile number must start with 9";
  return NULL;
}

/* ---- e-mail ------------------------------------------------------------------------------- */

/* RFC 5322 atext: the characters a dot-atom may hold besides dots. */
static bool is_atext(char c) {
  return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

const char *ct_check_email(const char *s) {
  size_t len = strlen(s);
  if (len == 0)
    return "is empty";
  if (len > 254)
    return "is longer than 254 characters";
  const char *at = strchr(s, '@');
  if (at == NULL || strchr(at + 1, '@') != NULL)
    return "must have exactly one @";
  size_t local_len = (size_t)(at - s);
  if (local_len == 0)
    return "local part is empty";
  if (local_len > 64)
    return "local part is longer than 64 characters";
  for (size_t i = 0; i < local_len; i++) {
    if (s[i] == '.') {
      if (i == 0 || i + 1 == local_len || s[i + 1] == '.')
        return "local part has a leading, trailing or double dot";
    } else if (!is_atext(s[i])) {
      return "local part has a character outside the RFC 5322 dot-atom set";
    }
  }
  const char *dom = at + 1;
  /* No separate 253-byte domain limit: with a non-empty local part and the 254-byte total,
   * the domain cannot exceed 252. */
  if (dom[0] == '\0')
    return "domain is empty";
  if (strchr(dom, '.') == NULL)
    return "domain needs at least two labels";
  const char *label = dom;
  for (;;) {
    size_t n = strcspn(label, ".");
    if (n == 0)
      return "domain has an empty label";
    if (n > 63)
      return "domain label is longer than 63 characters";
    bool numeric = true;
    for (size_t i = 0; i < n; i++) {
      char c = label[i];
      if (!is_alpha(c) && !is_digit(c) && c != '-')
        return "domain label has a character other than a letter, digit or hyphen";
      numeric = numeric && is_digit(c);
    }
    if (label[0] == '-' || label[n - 1] == '-')
      return "domain label starts or ends with a hyphen";
    if (label[n] == '\0') {
      /* An all-digit last label makes "a@10.0.0.1" look like a host name; no TLD is
       * numeric. */
      if (numeric)
        return "top-level domain is all digits";
      return NULL;
    }
    label += n + 1;
  }
}

/* ---- PIX ---------------------------------------------------------------------------------- */

uint16_t ct_crc16_ccitt(const uint8_t *data, size_t len) {
  uint16_t crc = 0xFFFF;
  for (size_t i = 0; i < len; i++) {
    crc ^= (uint16_t)(data[i] << 8);
    for (int b = 0; b < 8; b++)
      crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
  }
  return crc;
}

/* One EMV TLV field. */
typedef struct {
  int id;
  size_t len;
  const char *value;
} tlv_t;

/* Reads the field at s[*pos] (s is `n` bytes) and advances *pos past it; false when the
 * header is not 4 digits or the value runs past the end. */
static bool tlv_next(const char *s, size_t n, size_t *pos, tlv_t *out) {
  size_t p = *pos;
  if (n - p < 4 || !all_digits(s + p, 4))
    return false;
  size_t len = (size_t)digits_value(s + p + 2, 2);
  if (n - p - 4 < len)
    return false;
  out->id = (int)digits_value(s + p, 2);
  out->len = len;
  out->value = s + p + 4;
  *pos = p + 4 + len;
  return true;
}

/* True when v[0..n) is a whole sequence of TLV fields; *gui_pix is set when one of them is
 * id 00 holding "br.gov.bcb.pix" (any case, as issuers write both). */
static bool tlv_nested(const char *v, size_t n, bool *gui_pix) {
  static const char gui[] = "br.gov.bcb.pix";
  size_t pos = 0;
  *gui_pix = false;
  while (pos < n) {
    tlv_t f;
    if (!tlv_next(v, n, &pos, &f))
      return false;
    if (f.id == 0 && f.len == sizeof gui - 1) {
      bool eq = true;
      for (size_t i = 0; i < f.len; i++) {
        char c = f.value[i];
        if (c >= 'A' && c <= 'Z')
          c = (char)(c - 'A' + 'a');
        eq = eq && c == gui[i];
      }
      *gui_pix = *gui_pix || eq;
    }
  }
  return true;
}

static bool is_upper_hex(char c) { return is_digit(c) || (c >= 'A' && c <= 'F'); }

static int hex_value(char c) { return is_digit(c) ? c - '0' : c - 'A' + 10; }

const char *ct_check_pix(const char *s) {
  size_t n = strlen(s);
  if (n == 0)
    return "is empty";
  size_t pos = 0;
  bool first = true, has_pix = false;
  while (pos < n) {
    size_t start = pos;
    tlv_t f;
    if (!tlv_next(s, n, &pos, &f))
      return "is not a sequence of EMV fields (2-digit id, 2-digit length, value)";
    if (first && !(f.id == 0 && f.len == 2 && memcmp(f.value, "01", 2) == 0))
      return "must start with the payload format indicator 000201";
    first = false;
    if ((f.id >= 26 && f.id <= 51) || f.id == 62) {
      bool gui_pix;
      if (!tlv_nested(f.value, f.len, &gui_pix))
        return "has a template field (id 26-51 or 62) whose contents are not EMV fields";
      has_pix = has_pix || (f.id != 62 && gui_pix);
    }
    if (f.id == 63) {
      if (f.len != 4 || pos != n)
        return "the CRC field (id 63, length 04) must come last";
      for (size_t i = 0; i < 4; i++)
        if (!is_upper_hex(f.value[i]))
          return "CRC must be 4 upper-case hex digits";
      uint16_t want = 0;
      for (size_t i = 0; i < 4; i++)
        want = (uint16_t)(want << 4 | hex_value(f.value[i]));
      /* The CRC covers its own id and length ("6304"), not its value. */
      if (ct_crc16_ccitt((const uint8_t *)s, start + 4) != want)
        return "CRC does not match";
      if (!has_pix)
        return "has no PIX merchant account (id 26-51 with GUI br.gov.bcb.pix)";
      return NULL;
    }
  }
  return "has no CRC field (id 63)";
}

/* ---- boleto ------------------------------------------------------------------------------- */

/* Days since 1970-01-01 of the factor's base date 1997-10-07 and of factor 1000's first date,
 * 2000-07-03. */
#define FACTOR_BASE_DAYS 10141
#define FACTOR_1000_DAYS (FACTOR_BASE_DAYS + 1000)
#define FACTOR_CYCLE 9000

uint16_t ct_boleto_due_factor(int32_t days) {
  if (days < FACTOR_1000_DAYS)
    return 0;
  return (uint16_t)(1000 + (days - FACTOR_1000_DAYS) % FACTOR_CYCLE);
}

/* The date closest to `ref_days` that `factor` (1000..9999) can mean; on a tie (ref exactly
 * 4,500 days from two candidates) the later one, since a due date is more often ahead. */
static int32_t factor_resolve(int factor, int32_t ref_days) {
  int64_t first = FACTOR_BASE_DAYS + factor; /* its date in the 2000-2025 series */
  int64_t off = (int64_t)ref_days - first + FACTOR_CYCLE / 2;
  int64_t k = off >= 0 ? off / FACTOR_CYCLE : -((-off + FACTOR_CYCLE - 1) / FACTOR_CYCLE);
  if (k < 0)
    k = 0;
  int64_t due = first + k * FACTOR_CYCLE;
  if (due > INT32_MAX)
    due -= FACTOR_CYCLE;
  return (int32_t)due;
}

static const char *parse_bank(const char *d, int32_t ref_days, ct_boleto_t *out) {
  if (mod10(d, 9) != d[9] - '0')
    return "field 1 check digit does not match";
  if (mod10(d + 10, 10) != d[20] - '0')
    return "field 2 check digit does not match";
  if (mod10(d + 21, 10) != d[31] - '0')
    return "field 3 check digit does not match";
  /* The barcode without its DV: bank+currency, factor+amount, then the free field. */
  char b[43];
  memcpy(b, d, 4);
  memcpy(b + 4, d + 33, 14);
  memcpy(b + 18, d + 4, 5);
  memcpy(b + 23, d + 10, 10);
  memcpy(b + 33, d + 21, 10);
  if (bank_dv(b) != d[32] - '0')
    return "general check digit does not match";
  if (d[3] != '9')
    return "currency code must be 9 (real)";
  int factor = (int)digits_value(d + 33, 4);
  if (factor > 0 && factor < 1000)
    return "due-date factor below 1000 is not in use since 2000";
  int64_t amount = digits_value(d + 37, 10);
  out->utility = false;
  out->amount_cents = amount > 0 ? amount : -1;
  out->due_factor = (uint16_t)factor;
  out->due_days = factor > 0 ? factor_resolve(factor, ref_days) : -1;
  return NULL;
}

static const char *parse_utility(const char *d, ct_boleto_t *out) {
  static const char *const block_reason[4] = {
      "block 1 check digit does not match", "block 2 check digit does not match",
      "block 3 check digit does not match", "block 4 check digit does not match"};
  if (d[0] != '8')
    return "a 48-digit line must start with 8 (utility slip)";
  char value_id = d[2];
  if (value_id < '6' || value_id > '9')
    return "value identifier (3rd digit) must be 6, 7, 8 or 9";
  char b[44];
  for (int i = 0; i < 4; i++) {
    if (utility_dv(value_id, d + 12 * i, 11) != d[12 * i + 11] - '0')
      return block_reason[i];
    memcpy(b + 11 * i, d + 12 * i, 11);
  }
  char rest[43];
  memcpy(rest, b, 3);
  memcpy(rest + 3, b + 4, 40);
  if (utility_dv(value_id, rest, 43) != b[3] - '0')
    return "general check digit does not match";
  int64_t value = digits_value(b + 4, 11);
  out->utility = true;
  out->amount_cents = (value_id == '6' || value_id == '8') && value > 0 ? value : -1;
  out->due_days = -1;
  out->due_factor = 0;
  return NULL;
}

const char *ct_boleto_parse(const char *line, int32_t ref_days, ct_boleto_t *out) {
  char d[48];
  size_t n = 0;
  for (const char *p = line; *p != '\0'; p++) {
    if (*p == ' ' || *p == '.')
      continue;
    if (!is_digit(*p))
      return "must contain only digits, spaces and dots";
    if (n == sizeof d)
      return "must be 47 digits (bank slip) or 48 digits (utility slip)";
    d[n++] = *p;
  }
  if (n == 0)
    return "is empty";
  ct_boleto_t res;
  const char *why;
  if (n == 47)
    why = parse_bank(d, ref_days, &res);
  else if (n == 48)
    why = parse_utility(d, &res);
  else
    return "must be 47 digits (bank slip) or 48 digits (utility slip)";
  if (why == NULL)
    *out = res;
  return why;
}

int ct_boleto_make_bank(const char *bank, int32_t due_days, int64_t amount_cents,
                        const char *free_field, char out[48]) {
  size_t bank_len = strlen(bank);
  if (!((bank_len == 3 && all_digits(bank, 3)) ||
        (bank_len == 4 && all_digits(bank, 3) && bank[3] == '9')))
    return CT_EINVAL;
  if (amount_cents < 0 || amount_cents > INT64_C(9999999999) || !is_digits_n(free_field, 25))
    return CT_EINVAL;
  uint16_t factor = 0;
  if (due_days != -1) {
    factor = ct_boleto_due_factor(due_days);
    if (factor == 0)
      return CT_EINVAL;
  }
  char b[43]; /* the barcode without its DV, as parse_bank rebuilds it */
  memcpy(b, bank, 3);
  b[3] = '9';
  put_digits(b + 4, 4, factor);
  put_digits(b + 8, 10, amount_cents);
  memcpy(b + 18, free_field, 25);
  char line[48];
  memcpy(line, b, 4);
  memcpy(line + 4, free_field, 5);
  line[9] = (char)('0' + mod10(line, 9));
  memcpy(line + 10, free_field + 5, 10);
  line[20] = (char)('0' + mod10(line + 10, 10));
  memcpy(line + 21, free_field + 15, 10);
  line[31] = (char)('0' + mod10(line + 21, 10));
  line[32] = (char)('0' + bank_dv(b));
  memcpy(line + 33, b + 4, 14);
  line[47] = '\0';
  memcpy(out, line, sizeof line);
  return 0;
}

int ct_boleto_make_utility(char segment, char value_id, int64_t amount_cents, const char *company,
                           const char *free_data, char out[49]) {
  if (segment < '1' || segment > '9' || value_id < '6' || value_id > '9')
    return CT_EINVAL;
  if (amount_cents < 0 || amount_cents > INT64_C(99999999999))
    return CT_EINVAL;
  if (!is_digits_n(company, 4) || !is_digits_n(free_data, 25))
    return CT_EINVAL;
  char b[44];
  b[0] = '8';
  b[1] = segment;
  b[2] = value_id;
  put_digits(b + 4, 11, amount_cents);
  memcpy(b + 15, company, 4);
  memcpy(b + 19, free_data, 25);
  char rest[43];
  memcpy(rest, b, 3);
  memcpy(rest + 3, b + 4, 40);
  b[3] = (char)('0' + utility_dv(value_id, rest, 43));
  char line[49];
  for (int i = 0; i < 4; i++) {
    memcpy(line + 12 * i, b + 11 * i, 11);
    line[12 * i + 11] = (char)('0' + utility_dv(value_id, b + 11 * i, 11));
  }
  line[48] = '\0';
  memcpy(out, line, sizeof line);
  return 0;
}

/* ---- whole jobs --------------------------------------------------------------------------- */

typedef struct {
  ct_field_error_t *errs;
  size_t cap;
  size_t n;
} errlist_t;

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PRINTF_LIKE(fmt, args)
#endif

/* Records one error; past `cap` it only counts, so *nerr still tells the caller how many. */
static void fail(errlist_t *el, const char *field, const char *fmt, ...) PRINTF_LIKE(3, 4);

static void fail(errlist_t *el, const char *field, const char *fmt, ...) {
  if (el->n < el->cap) {
    ct_field_error_t *e = &el->errs[el->n];
    snprintf(e->field, sizeof e->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof e->reason, fmt, ap);
    va_end(ap);
  }
  el->n++;
}

/* Runs a checker on a field that is optional: empty means absent, anything else must pass. */
static void check_optional(errlist_t *el, const char *field, const char *value,
                           const char *(*check)(const char *)) {
  if (value[0] == '\0')
    return;
  const char *why = check(value);
  if (why != NULL)
    fail(el, field, "%s", why);
}

static const char *check_card_last4(const char *s) {
  return is_digits_n(s, 4) ? NULL : "must be 4 digits";
}

static void check_id(errlist_t *el, const char *id) {
  size_t n = strlen(id);
  if (n == 0) {
    fail(el, "id", "missing");
    return;
  }
  if (n > 128) {
    fail(el, "id", "longer than 128 characters");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (id[i] <= ' ' || id[i] > '~') {
      fail(el, "id", "must be printable ASCII without spaces");
      return;
    }
  }
}

static void check_tenant(errlist_t *el, const char *t) {
  size_t n = strlen(t);
  if (n == 0) {
    fail(el, "tenant", "missing");
    return;
  }
  if (n > 64) {
    fail(el, "tenant", "longer than 64 characters");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (!is_lower_alpha(t[i]) && !is_digit(t[i]) && t[i] != '_' && t[i] != '-') {
      fail(el, "tenant", "must be lower-case letters, digits, '_' or '-'");
      return;
    }
  }
}

static void check_recipient(errlist_t *el, const ct_recipient_t *r) {
  if (r == NULL) {
    fail(el, "recipient", "missing");
    return;
  }
  check_optional(el, "recipient.phone", str(r->phone), ct_check_phone);
  check_optional(el, "recipient.email", str(r->email), ct_check_email);
  check_optional(el, "recipient.cpf", str(r->cpf), ct_check_cpf);
  check_optional(el, "recipient.card_last4", str(r->card_last4), check_card_last4);
}

/* The recipient field a channel needs, or NULL for values outside the enum. */
static const char *channel_needs(int channel) {
  switch (channel) {
  case CT_CHANNEL_WHATSAPP:
  case CT_CHANNEL_SMS:
    return "phone";
  case CT_CHANNEL_EMAIL:
    return "email";
  default:
    return NULL;
  }
}

static void check_deliveries(errlist_t *el, const ct_job_t *job) {
  if (job->n_deliveries == 0) {
    fail(el, "deliveries", "at least one delivery is required");
    return;
  }
  const ct_recipient_t *r = job->recipient;
  char field[64];
  for (size_t i = 0; i < job->n_deliveries; i++) {
    const ct_delivery_t *dl = job->deliveries[i];
    if (dl == NULL || dl->n_channels == 0) {
      snprintf(field, sizeof field, "deliveries[%zu].channels", i);
      fail(el, field, "at least one channel is required");
      continue;
    }
    for (size_t j = 0; j < dl->n_channels; j++) {
      int ch = (int)dl->channels[j];
      snprintf(field, sizeof field, "deliveries[%zu].channels[%zu]", i, j);
      const char *needs = channel_needs(ch);
      if (needs == NULL) {
        if (ch == CT_CHANNEL_NONE)
          fail(el, field, "channel is unspecified");
        else
          fail(el, field, "not a channel this version knows (whatsapp, sms or email)");
        continue;
      }
      bool repeat = false;
      for (size_t k = 0; k < j; k++)
        repeat = repeat || (int)dl->channels[k] == ch;
      if (repeat) {
        fail(el, field, "repeats %s", ct_channel_name(ch));
        continue;
      }
      /* A missing recipient is reported once, above; a present but malformed phone or e-mail
       * is reported on its own field. Here only "absent" matters. */
      if (r == NULL)
        continue;
      const char *have = strcmp(needs, "phone") == 0 ? str(r->phone) : str(r->email);
      if (have[0] == '\0')
        fail(el, field, "%s needs recipient.%s", ct_channel_name(ch), needs);
    }
  }
}

static void check_window(errlist_t *el, const ct_job_t *job) {
  if (job->not_before_ms < 0)
    fail(el, "not_before_ms", "must not be negative");
  if (job->not_after_ms < 0)
    fail(el, "not_after_ms", "must not be negative");
  if (job->not_before_ms > 0 && job->not_after_ms > 0 && job->not_after_ms <= job->not_before_ms)
    fail(el, "not_after_ms", "must be after not_before_ms");
  if (job->priority < -100 || job->priority > 100)
    fail(el, "priority", "must be between -100 and 100");
}

static void check_number(errlist_t *el, const char *number) {
  size_t n = strlen(number);
  if (n == 0) {
    fail(el, "invoice.number", "missing");
    return;
  }
  /* It ends up in file names and message texts; 64 bytes is room for any billing system's
   * numbering and control characters have no business there. */
  if (n > 64) {
    fail(el, "invoice.number", "longer than 64 bytes");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)number[i];
    if (c < 0x20 || c == 0x7f) {
      fail(el, "invoice.number", "has a control character");
      return;
    }
  }
}

static void check_barcode(errlist_t *el, const ct_invoice_t *inv, bool have_due, int32_t due_days) {
  const char *line = str(inv->barcode_line);
  if (line[0] == '\0') {
    fail(el, "invoice.barcode_line", "missing");
    return;
  }
  /* The invoice's own due date is the reference: a factor is accepted when some date it can
   * mean is that date, which needs no clock and gives the same answer on every replay. */
  ct_boleto_t b;
  const char *why = ct_boleto_parse(line, have_due ? due_days : 0, &b);
  if (why != NULL) {
    fail(el, "invoice.barcode_line", "%s", why);
    return;
  }
  if (b.utility)
    return;
  /* The rule, not the values: an error text never repeats what the record says. */
  if (have_due && b.due_days != -1 && b.due_days != due_days)
    fail(el, "invoice.barcode_line", "due-date factor does not give invoice.due_date");
  if (b.amount_cents != -1 && b.amount_cents != inv->amount_cents)
    fail(el, "invoice.barcode_line", "amount field does not equal invoice.amount_cents");
}

/* Characters, not bytes, for a password a person types: UTF-8 continuation bytes don't count. */
static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s != '\0'; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static bool path_is_safe(const char *p) {
  if (p[0] == '/')
    return false;
  for (const char *seg = p;;) {
    size_t n = strcspn(seg, "/");
    if (n == 2 && seg[0] == '.' && seg[1] == '.')
      return false;
    if (seg[n] == '\0')
      return true;
    seg += n + 1;
  }
}

static bool url_is_https(const char *u) {
  static const char scheme[] = "https://";
  for (size_t i = 0; i < sizeof scheme - 1; i++) {
    char c = u[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != scheme[i])
      return false;
  }
  const char *host = u + sizeof scheme - 1;
  if (strcspn(host, "/?#") == 0)
    return false;
  for (const char *p = u; *p != '\0'; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return false;
  return true;
}

static void check_document(errlist_t *el, const ct_document_t *doc, const ct_recipient_t *r) {
  switch (doc->source_case) {
  case CARTEIRO__V1__DOCUMENT__SOURCE__NOT_SET:
    break;
  case CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF:
    if (doc->inline_pdf.len == 0)
      fail(el, "invoice.document.inline_pdf", "is empty");
    else if (doc->inline_pdf.len > ((size_t)8 << 20))
      fail(el, "invoice.document.inline_pdf", "is larger than 8 MiB");
    break;
  case CARTEIRO__V1__DOCUMENT__SOURCE_PATH:
    if (str(doc->path)[0] == '\0')
      fail(el, "invoice.document.path", "is empty");
    else if (!path_is_safe(doc->path))
      fail(el, "invoice.document.path", "must be relative and must not contain '..'");
    break;
  case CARTEIRO__V1__DOCUMENT__SOURCE_URL:
    if (!url_is_https(str(doc->url)))
      fail(el, "invoice.document.url", "must be an https URL");
    break;
  default:
    fail(el, "invoice.document", "source is not one this version knows");
    break;
  }

  const char *password = str(doc->password);
  int policy = (int)doc->password_policy;
  switch (policy) {
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_UNSPECIFIED:
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_NONE:
    break;
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4:
    if (r != NULL && str(r->cpf)[0] == '\0')
      fail(el, "recipient.cpf", "required by password policy cpf_first4");
    break;
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4:
    if (r != NULL && str(r->card_last4)[0] == '\0')
      fail(el, "recipient.card_last4", "required by password policy card_last4");
    break;
  case CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT: {
    size_t n = utf8_chars(password);
    if (n == 0)
      fail(el, "invoice.document.password", "required by password policy explicit");
    else if (n < 4 || n > 32)
      fail(el, "invoice.document.password", "must be 4 to 32 characters");
    break;
  }
  default:
    fail(el, "invoice.document.password_policy",
         "not a policy this version knows (none, cpf_first4, card_last4 or explicit)");
    break;
  }
  if (policy != CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT && password[0] != '\0')
    fail(el, "invoice.document.password", "only used with password policy explicit");
}

static void check_invoice(errlist_t *el, const ct_invoice_t *inv, const ct_recipient_t *r) {
  check_number(el, str(inv->number));
  if (inv->amount_cents <= 0)
    fail(el, "invoice.amount_cents", "must be positive");
  const char *currency = str(inv->currency);
  if (currency[0] != '\0' &&
      !(strlen(currency) == 3 && currency[0] >= 'A' && currency[0] <= 'Z' && currency[1] >= 'A' &&
        currency[1] <= 'Z' && currency[2] >= 'A' && currency[2] <= 'Z'))
    fail(el, "invoice.currency", "must be a 3-letter ISO 4217 code");
  int32_t due_days = 0;
  bool have_due = false;
  const char *due = str(inv->due_date);
  if (due[0] == '\0')
    fail(el, "invoice.due_date", "missing");
  else if (ct_date_parse(due, &due_days) != 0)
    fail(el, "invoice.due_date", "must be a real calendar date, YYYY-MM-DD");
  else
    have_due = true;
  check_barcode(el, inv, have_due, due_days);
  check_optional(el, "invoice.pix_code", str(inv->pix_code), ct_check_pix);
  if (inv->document != NULL)
    check_document(el, inv->document, r);
}

int ct_job_validate(const ct_job_t *job, ct_field_error_t *errs, size_t cap, size_t *nerr) {
  assert(job != NULL);
  assert(errs != NULL || cap == 0);
  errlist_t el = {errs, cap, 0};

  check_id(&el, str(job->id));
  check_tenant(&el, str(job->tenant));
  switch (job->kind) {
  case CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE:
    if (job->invoice == NULL)
      fail(&el, "invoice", "missing for kind invoice");
    if (job->notification != NULL)
      fail(&el, "notification", "must not be set for kind invoice");
    break;
  case CARTEIRO__V1__JOB_KIND__JOB_KIND_NOTIFICATION:
    if (job->notification == NULL)
      fail(&el, "notification", "missing for kind notification");
    if (job->invoice != NULL)
      fail(&el, "invoice", "must not be set for kind notification");
    break;
  default:
    fail(&el, "kind", "must be invoice or notification");
    break;
  }
  check_recipient(&el, job->recipient);
  check_deliveries(&el, job);
  check_window(&el, job);
  /* A payload in the wrong place is still checked, so that one pass reports everything. */
  if (job->invoice != NULL)
    check_invoice(&el, job->invoice, job->recipient);
  if (job->notification != NULL && str(job->notification->template_name)[0] == '\0')
    fail(&el, "notification.template_name", "missing");

  if (nerr != NULL)
    *nerr = el.n;
  return el.n == 0 ? 0 : CT_EINVALID;
}
