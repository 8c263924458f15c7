/* Tests for src/job/validate.c.
 *
 * Known-good values come from outside this code: check digits computed by hand (shown in the
 * comments) or by an independent implementation, and lines published by FEBRABAN member banks,
 * utilities and the BACEN PIX manual. Every personal-looking value is synthetic: the CPFs are
 * textbook examples, phones and e-mails use example numbers and example.com.
 */
#include "job/validate.h"

#include "common/clock.h"
#include "common/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Compares a checker's answer with the expected one (NULL = valid), naming the input. */
#define CHECK_REASON(input, got, want) check_reason((input), (got), (want), __FILE__, __LINE__)

static void check_reason(const char *input, const char *got, const char *want, const char *file,
                         int line) {
  if (got == NULL && want == NULL)
    return;
  if (got == NULL || want == NULL || strcmp(got, want) != 0)
    fail_msg("%s:%d: input \"%s\": got \"%s\", want \"%s\"", file, line, input,
             got ? got : "(valid)", want ? want : "(valid)");
}

typedef struct {
  const char *in;
  const char *want; /* NULL: valid */
} case_t;

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int32_t day(int y, int m, int d) {
  int32_t z = ct_days_from_civil(y, m, d);
  assert_int_not_equal(z, INT32_MIN);
  return z;
}

/* ---- CPF ---------------------------------------------------------------------------------- */

/* 111.444.777-35 by hand. First digit: 1*10 + 1*9 + 1*8 + 4*7 + 4*6 + 4*5 + 7*4 + 7*3 + 7*2 =
 * 162; 162 mod 11 = 8; 11 - 8 = 3. Second: 1*11 + 1*10 + 1*9 + 4*8 + 4*7 + 4*6 + 7*5 + 7*4 +
 * 7*3 + 3*2 = 204; 204 mod 11 = 6; 11 - 6 = 5. */
static void test_cpf_valid(void **state) {
  (void)state;
  static const char *const ok[] = {
      "111.444.777-35", "11144477735", "123.456.789-09", "12345678909",
      "529.982.247-25", "52998224725", "00000000191",    "000.000.001-91",
      "98765432100",    "01234567890", "10000000019",
  };
  for (size_t i = 0; i < N_ELEMS(ok); i++)
    CHECK_REASON(ok[i], ct_check_cpf(ok[i]), NULL);
}

static void test_cpf_invalid(void **state) {
  (void)state;
  static const char shape[] = "must be 11 digits, plain or as 000.000.000-00";
  static const case_t cases[] = {
      {"111.444.777-36", "check digits do not match"},
      {"111.444.777-53", "check digits do not match"},
      {"11144477753", "check digits do not match"},
      {"12345678900", "check digits do not match"},
      {"12345678919", "check digits do not match"},
      {"111.111.111-11", "all digits are the same"},
      {"11111111111", "all digits are the same"},
      {"00000000000", "all digits are the same"},
      {"999.999.999-99", "all digits are the same"},
      {"", "is empty"},
      {"1114447773", shape},
      {"111444777355", shape},
      {"1114447773a", shape},
      {"abc.def.ghi-jk", shape},
      {"111.444.77735", shape},
      {"111-444-777.35", shape},
      {"111.444.777/35", shape},
      {" 11144477735", shape},
      {"11144477735 ", shape},
      {"111.444.777-3", shape},
      {"１１１44477735", shape}, /* full-width digits are not digits */
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++)
    CHECK_REASON(cases[i].in, ct_check_cpf(cases[i].in), cases[i].want);
}

static void test_cpf_complete(void **state) {
  (void)state;
  static const case_t known[] = {
      {"111444777", "11144477735"}, {"123456789", "12345678909"}, {"529982247", "52998224725"},
      {"000000001", "00000000191"}, {"987654321", "98765432100"}, {"012345678", "01234567890"},
      {"111111111", "11111111111"},
  };
  for (size_t i = 0; i < N_ELEMS(known); i++) {
    char d[12] = {0};
    memcpy(d, known[i].in, 9);
    ct_cpf_complete(d);
    assert_string_equal(d, known[i].want);
  }
  /* The builder's output passes the checker, and any single changed check digit fails. */
  unsigned x = 12345u;
  for (int n = 0; n < 5000; n++) {
    char d[12] = {0};
    for (int i = 0; i < 9; i++) {
      x = x * 1103515245u + 12345u;
      d[i] = (char)('0' + (x >> 16) % 10);
    }
    ct_cpf_complete(d);
    bool same = true;
    for (int i = 1; i < 11; i++)
      same = same && d[i] == d[0];
    CHECK_REASON(d, ct_check_cpf(d), same ? "all digits are the same" : NULL);
    if (same)
      continue;
    for (int pos = 9; pos < 11; pos++) {
      char bad[12];
      memcpy(bad, d, sizeof bad);
      bad[pos] = (char)('0' + (bad[pos] - '0' + 1 + n % 9) % 10);
      CHECK_REASON(bad, ct_check_cpf(bad), "check digits do not match");
    }
  }
  /* Nine equal digits complete to eleven equal digits, which the checker refuses by name. */
  for (char c = '0'; c <= '9'; c++) {
    char d[12] = {0};
    memset(d, c, 9);
    ct_cpf_complete(d);
    char want[12] = {0};
    memset(want, c, 11);
    assert_string_equal(d, want);
    CHECK_REASON(d, ct_check_cpf(d), "all digits are the same");
  }
}

/* ---- phone -------------------------------------------------------------------------------- */

static void test_phone(void **state) {
  (void)state;
  static const char shape[] = "must be +55, a 2-digit area code and 9 digits";
  static const case_t cases[] = {
      {"+5511987654321", NULL},
      {"+5521999990000", NULL},
      {"+5561900000000", NULL},
      {"+5599912345678", NULL},
      {"+5579987654321", NULL},
      {"", "is empty"},
      {"5511987654321", "must start with +55 (Brazilian numbers only)"},
      {"+5411987654321", "must start with +55 (Brazilian numbers only)"},
      {"+155119876543", "must start with +55 (Brazilian numbers only)"},
      {" +5511987654321", "must start with +55 (Brazilian numbers only)"},
      {"+55", shape},
      {"+551198765432", shape},
      {"+55119876543210", shape},
      {"+55 11 98765-4321", shape},
      {"+55(11)987654321", shape},
      {"+551198765432a", shape},
      {"+5520987654321", "area code is not one ANATEL assigns"},
      {"+5510987654321", "area code is not one ANATEL assigns"},
      {"+5500987654321", "area code is not one ANATEL assigns"},
      {"+5523987654321", "area code is not one ANATEL assigns"},
      {"+5590987654321", "area code is not one ANATEL assigns"},
      {"+5552987654321", "area code is not one ANATEL assigns"},
      {"+5511887654321", "mobile number must start with 9"},
      {"+5511387654321", "mobile number must start with 9"},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++)
    CHECK_REASON(cases[i].in, ct_check_phone(cases[i].in), cases[i].want);
}

static void test_phone_every_area_code(void **state) {
  (void)state;
  /* ANATEL's list, written out independently of the implementation's table. */
  static const int assigned[] = {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33,
                                 34, 35, 37, 38, 41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55,
                                 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82,
                                 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99};
  assert_int_equal(N_ELEMS(assigned), 67);
  size_t accepted = 0;
  for (int ddd = 0; ddd < 100; ddd++) {
    char phone[16];
    snprintf(phone, sizeof phone, "+55%02d912345678", ddd);
    bool want = false;
    for (size_t i = 0; i < N_ELEMS(assigned); i++)
      want = want || assigned[i] == ddd;
    CHECK_REASON(phone, ct_check_phone(phone), want ? NULL : "area code is not one ANATEL assigns");
    accepted += want;
  }
  assert_int_equal(accepted, 67);
}

/* ---- e-mail ------------------------------------------------------------------------------- */

static void test_email(void **state) {
  (void)state;
  static const case_t cases[] = {
      {"maria.teste@example.com", NULL},
      {"a@b.co", NULL},
      {"user+tag@mail.example.com.br", NULL},
      {"x_y-z!#$%&'*+/=?^`{|}~@example.org", NULL},
      {"a@xn--bcher-kva.example", NULL},
      {"a@1example.com", NULL},
      {"a@a-b.example", NULL},
      {"", "is empty"},
      {"maria.example.com", "must have exactly one @"},
      {"a@b@example.com", "must have exactly one @"},
      {"@example.com", "local part is empty"},
      {".a@example.com", "local part has a leading, trailing or double dot"},
      {"a.@example.com", "local part has a leading, trailing or double dot"},
      {"a..b@example.com", "local part has a leading, trailing or double dot"},
      {"a b@example.com", "local part has a character outside the RFC 5322 dot-atom set"},
      {"\"a\"@example.com", "local part has a character outside the RFC 5322 dot-atom set"},
      {"ma(ria)@example.com", "local part has a character outside the RFC 5322 dot-atom set"},
      {"joão@example.com", "local part has a character outside the RFC 5322 dot-atom set"},
      {"a@", "domain is empty"},
      {"a@localhost", "domain needs at least two labels"},
      {"a@example..com", "domain has an empty label"},
      {"a@.example.com", "domain has an empty label"},
      {"a@example.com.", "domain has an empty label"},
      {"a@-example.com", "domain label starts or ends with a hyphen"},
      {"a@example-.com", "domain label starts or ends with a hyphen"},
      {"a@exa_mple.com", "domain label has a character other than a letter, digit or hyphen"},
      {"a@exam ple.com", "domain label has a character other than a letter, digit or hyphen"},
      {"a@[10.0.0.1]", "domain label has a character other than a letter, digit or hyphen"},
      {"a@10.0.0.1", "top-level domain is all digits"},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++)
    CHECK_REASON(cases[i].in, ct_check_email(cases[i].in), cases[i].want);
}

static void test_email_lengths(void **state) {
  (void)state;
  char buf[300];
  /* Local part: 64 passes, 65 does not. */
  memset(buf, 'a', 64);
  snprintf(buf + 64, sizeof buf - 64, "@example.com");
  CHECK_REASON(buf, ct_check_email(buf), NULL);
  memset(buf, 'a', 65);
  snprintf(buf + 65, sizeof buf - 65, "@example.com");
  CHECK_REASON(buf, ct_check_email(buf), "local part is longer than 64 characters");
  /* Label: 63 passes, 64 does not. */
  memcpy(buf, "a@", 2);
  memset(buf + 2, 'b', 63);
  snprintf(buf + 65, sizeof buf - 65, ".com");
  CHECK_REASON(buf, ct_check_email(buf), NULL);
  memset(buf + 2, 'b', 64);
  snprintf(buf + 66, sizeof buf - 66, ".com");
  CHECK_REASON(buf, ct_check_email(buf), "domain label is longer than 63 characters");
  /* Whole address: "a@" + four 60-byte labels with dots = 2 + 4*61 - 1 = 245, then a tail. */
  size_t n = 0;
  buf[n++] = 'a';
  buf[n++] = '@';
  for (int l = 0; l < 4; l++) {
    memset(buf + n, 'c', 60);
    n += 60;
    buf[n++] = '.';
  }
  memcpy(buf + n, "examp", 5); /* 2 + 244 + 5 = 251 */
  buf[n + 5] = '\0';
  assert_int_equal(strlen(buf), 251);
  CHECK_REASON(buf, ct_check_email(buf), NULL);
  memcpy(buf + n, "example1", 8);
  buf[n + 8] = '\0';
  assert_int_equal(strlen(buf), 254);
  CHECK_REASON(buf, ct_check_email(buf), NULL);
  memcpy(buf + n, "example12", 9);
  buf[n + 9] = '\0';
  assert_int_equal(strlen(buf), 255);
  CHECK_REASON(buf, ct_check_email(buf), "is longer than 254 characters");
}

/* ---- PIX ---------------------------------------------------------------------------------- */

/* The static BR Code example in BACEN's "Manual de Padrões para Iniciação do Pix" (CRC 1D3D). */
#define PIX_BCB                                                                                    \
  "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR59"    \
  "13Fulano de Tal6008BRASILIA62070503***63041D3D"

static void test_crc16(void **state) {
  (void)state;
  /* The CRC-16/CCITT-FALSE catalogue check value. */
  assert_int_equal(ct_crc16_ccitt((const uint8_t *)"123456789", 9), 0x29B1);
  assert_int_equal(ct_crc16_ccitt((const uint8_t *)"", 0), 0xFFFF);
  assert_int_equal(ct_crc16_ccitt((const uint8_t *)"A", 1), 0xB915);
}

static void test_pix(void **state) {
  (void)state;
  static const case_t cases[] = {
      {PIX_BCB, NULL},
      /* A dynamic code (URL in id 25), upper-case GUI, with point of initiation 12. */
      {"00020101021226770014BR.GOV.BCB.PIX2555pix.example.com/qr/93598be0-1bd0-4997-8318-"
       "81776a1d8a995204000053039865802BR5907EMPRESA6009SAO PAULO62070503***6304EEAB",
       NULL},
      {"", "is empty"},
      {"00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802B"
       "R5913Fulano de Tal6008BRASILIA62070503***63041d3d",
       "CRC must be 4 upper-case hex digits"},
      {"00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802B"
       "R5913Fulano de Tal6008BRASILIA62070503***63041D3E",
       "CRC does not match"},
      /* One changed byte in the payload, CRC left as it was. */
      {"00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802B"
       "R5913Fulano de Tal6008BRASILIA62070503**#63041D3D",
       "CRC does not match"},
      /* Cut short: the CRC value lost its last digit. */
      {"00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802B"
       "R5913Fulano de Tal6008BRASILIA62070503***63041D3",
       "is not a sequence of EMV fields (2-digit id, 2-digit length, value)"},
      {"0002016304", "is not a sequence of EMV fields (2-digit id, 2-digit length, value)"},
      {"hello", "is not a sequence of EMV fields (2-digit id, 2-digit length, value)"},
      /* Without the payload format indicator (CRC recomputed). */
      {"26580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913F"
       "ulano de Tal6008BRASILIA62070503***6304B3F9",
       "must start with the payload format indicator 000201"},
      /* Not PIX: GUI changed (CRC recomputed). */
      {"00020126580014br.gov.bcb.pox0136123e4567-e12b-12d1-a456-4266554400005204000053039865802B"
       "R5913Fulano de Tal6008BRASILIA62070503***6304E3B4",
       "has no PIX merchant account (id 26-51 with GUI br.gov.bcb.pix)"},
      /* Additional data whose inner length overruns it (CRC recomputed). */
      {"00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802B"
       "R5913Fulano de Tal6008BRASILIA62070504***6304DA25",
       "has a template field (id 26-51 or 62) whose contents are not EMV fields"},
      /* A code published with a wrong length for id 62 ("0503***" is 7 bytes, not 08): the CRC
       * matches the text, the structure does not. */
      {"00020126360014BR.GOV.BCB.PIX0114+5511943214321520400005303986540566.665802BR5907EMPRESA6"
       "008BRASILIA62080503***6304170E",
       "has a template field (id 26-51 or 62) whose contents are not EMV fields"},
      {PIX_BCB "5802BR", "the CRC field (id 63, length 04) must come last"},
      {"00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802B"
       "R5913Fulano de Tal6008BRASILIA62070503***63051D3D0",
       "the CRC field (id 63, length 04) must come last"},
      {"00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802B"
       "R5913Fulano de Tal6008BRASILIA62070503***",
       "has no CRC field (id 63)"},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++)
    CHECK_REASON(cases[i].in, ct_check_pix(cases[i].in), cases[i].want);
}

/* ---- boleto: due-date factor -------------------------------------------------------------- */

static void test_due_factor(void **state) {
  (void)state;
  static const struct {
    int y, m, d;
    unsigned factor;
  } cases[] = {
      {1970, 1, 1, 0},      {1997, 10, 7, 0},     {2000, 7, 2, 0},      {2000, 7, 3, 1000},
      {2000, 7, 4, 1001},   {2012, 4, 27, 5316}, /* FEBRABAN's example */
      {2016, 7, 20, 6861},  {2018, 6, 11, 7552},  {2025, 2, 20, 9998},  {2025, 2, 21, 9999},
      {2025, 2, 22, 1000},  {2025, 2, 23, 1001},  {2026, 12, 10, 1656}, {2028, 2, 29, 2102},
      {2049, 10, 13, 9999}, {2049, 10, 14, 1000},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++) {
    int32_t z = day(cases[i].y, cases[i].m, cases[i].d);
    if (ct_boleto_due_factor(z) != cases[i].factor)
      fail_msg("%04d-%02d-%02d: got factor %u, want %u", cases[i].y, cases[i].m, cases[i].d,
               (unsigned)ct_boleto_due_factor(z), cases[i].factor);
  }
}

/* ---- boleto: bank slips ------------------------------------------------------------------- */

/* A published Bradesco (237) line: 23793.38128 60007.827136 95000.063305 9 75520000370000.
 * Verified by hand:
 *   field 1 "237933812": from the right 2*2=4, 1*1=1, 8*2=16->1+6=7, 3*1=3, 3*2=6, 9*1=9,
 *     7*2=14->5, 3*1=3, 2*2=4; sum 42, DV (10 - 2) mod 10 = 8.          (line: ...38128)
 *   field 2 "6000782713": sum 34, DV 6.                                 (line: ...827136)
 *   field 3 "9500006330": sum 25, DV 5.                                 (line: ...063305)
 *   barcode 2379 [DV] 7552 0000370000 3381260007827139500006330: weights 2..9 from the right
 *     over the 43 digits sum to 750; 750 mod 11 = 2; DV 11 - 2 = 9.     (field 4: 9)
 *   factor 7552: 1997-10-07 + 7552 days = 2018-06-11; amount 0000370000 = R$ 3.700,00. */
#define BRADESCO "23793.38128 60007.827136 95000.063305 9 75520000370000"
#define BRADESCO_PLAIN "23793381286000782713695000063305975520000370000"

static void test_bank_real_world(void **state) {
  (void)state;
  ct_boleto_t b;
  CHECK_REASON(BRADESCO, ct_boleto_parse(BRADESCO, day(2018, 6, 1), &b), NULL);
  assert_false(b.utility);
  assert_int_equal(b.due_factor, 7552);
  assert_int_equal(b.due_days, day(2018, 6, 11));
  assert_int_equal(b.amount_cents, 370000);

  memset(&b, 0, sizeof b);
  CHECK_REASON(BRADESCO_PLAIN, ct_boleto_parse(BRADESCO_PLAIN, day(2018, 6, 1), &b), NULL);
  assert_int_equal(b.due_days, day(2018, 6, 11));
  assert_int_equal(b.amount_cents, 370000);

  /* Read 9,000 days later the same factor means 2043-01-31. */
  CHECK_REASON(BRADESCO, ct_boleto_parse(BRADESCO, day(2043, 1, 1), &b), NULL);
  assert_int_equal(b.due_days, day(2043, 1, 31));

  /* Another published line (bank 422): factor 6861 = 2016-07-20, R$ 546,59. */
  static const char santander[] = "42297.11504 00001.954411 60020.034520 2 68610000054659";
  CHECK_REASON(santander, ct_boleto_parse(santander, day(2016, 7, 1), &b), NULL);
  assert_int_equal(b.due_factor, 6861);
  assert_int_equal(b.due_days, day(2016, 7, 20));
  assert_int_equal(b.amount_cents, 54659);
}

/* Lines computed with an independent implementation: bank 001, free field
 * 0000002837465000000012345. */
#define L_2026_12_10 "00190000090283746500000000123455616560000015990" /* 1656, R$159,90 */
#define L_FACTOR1000 "00190000090283746500000000123455110000000010000" /* 1000, R$100,00 */
#define L_2028_02_29 "00190000090283746500000000123455621020000015990" /* 2102, R$159,90 */
#define L_OPEN "00190000090283746500000000123455300000000000000"       /* 0000, open */
#define L_CURRENCY0 "00100000080283746500000000123455116560000015990"  /* currency 0 */
#define L_FACTOR0500 "00190000090283746500000000123455405000000015990" /* factor 0500 */

static void test_bank_invalid(void **state) {
  (void)state;
  static const char length[] = "must be 47 digits (bank slip) or 48 digits (utility slip)";
  static const char chars[] = "must contain only digits, spaces and dots";
  static const case_t cases[] = {
      {"23793381276000782713695000063305975520000370000", "field 1 check digit does not match"},
      {"23793381296000782713695000063305975520000370000", "field 1 check digit does not match"},
      {"23793381286000782713795000063305975520000370000", "field 2 check digit does not match"},
      {"23793381286000782713695000063304975520000370000", "field 3 check digit does not match"},
      {"23793381286000782713695000063305875520000370000", "general check digit does not match"},
      /* The amount changed by one cent: only the general digit covers field 5. */
      {"23793381286000782713695000063305975520000370001", "general check digit does not match"},
      /* The factor changed: same. */
      {"23793381286000782713695000063305975530000370000", "general check digit does not match"},
      {L_CURRENCY0, "currency code must be 9 (real)"},
      {L_FACTOR0500, "due-date factor below 1000 is not in use since 2000"},
      {"", "is empty"},
      {"  . ", "is empty"},
      {"2379338128600078271369500006330597552000037000", length},
      {"237933812860007827136950000633059755200003700000000", length},
      {"23793-38128 60007.827136 95000.063305 9 75520000370000", chars},
      {"23793.38128 60007.827136 95000.063305 9 7552000037000O", chars},
      {"23793.38128\t60007.827136 95000.063305 9 75520000370000", chars},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++) {
    ct_boleto_t b = {.amount_cents = 42};
    CHECK_REASON(cases[i].in, ct_boleto_parse(cases[i].in, day(2026, 1, 1), &b), cases[i].want);
    assert_int_equal(b.amount_cents, 42); /* untouched on failure */
  }
}

static void test_bank_open_amount_and_date(void **state) {
  (void)state;
  ct_boleto_t b;
  CHECK_REASON(L_OPEN, ct_boleto_parse(L_OPEN, day(2026, 1, 1), &b), NULL);
  assert_int_equal(b.due_factor, 0);
  assert_int_equal(b.due_days, -1);
  assert_int_equal(b.amount_cents, -1);
}

/* The factor series restarted at 1000 on 2025-02-22; the reference date picks the series. */
static void test_factor_rollover(void **state) {
  (void)state;
  ct_boleto_t b;
  const struct {
    int32_t ref, want;
  } f1000[] = {
      {day(2025, 2, 22), day(2025, 2, 22)},
      {day(2025, 2, 21), day(2025, 2, 22)}, /* one day before the restart */
      {day(2026, 12, 1), day(2025, 2, 22)},
      {day(2000, 7, 1), day(2000, 7, 3)},
      {day(1990, 1, 1), day(2000, 7, 3)}, /* never a date before the first series */
      {day(2012, 10, 27), day(2000, 7, 3)},
      {day(2012, 10, 28), day(2025, 2, 22)}, /* 4,500 days from both: the later one */
      {day(2049, 10, 14), day(2049, 10, 14)},
      {day(2040, 1, 1), day(2049, 10, 14)},
  };
  for (size_t i = 0; i < N_ELEMS(f1000); i++) {
    CHECK_REASON(L_FACTOR1000, ct_boleto_parse(L_FACTOR1000, f1000[i].ref, &b), NULL);
    assert_int_equal(b.due_factor, 1000);
    if (b.due_days != f1000[i].want)
      fail_msg("case %zu: factor 1000 with ref %d resolved to %d, want %d", i, f1000[i].ref,
               b.due_days, f1000[i].want);
  }
  /* Factor 9999 (2025-02-21) read on the day after the restart is still 2025-02-21. */
  char line[48];
  assert_int_equal(
      ct_boleto_make_bank("001", day(2025, 2, 21), 100, "0000002837465000000012345", line), 0);
  assert_memory_equal(line + 33, "9999", 4);
  CHECK_REASON(line, ct_boleto_parse(line, day(2025, 2, 22), &b), NULL);
  assert_int_equal(b.due_days, day(2025, 2, 21));
  assert_int_equal(
      ct_boleto_make_bank("001", day(2025, 2, 22), 100, "0000002837465000000012345", line), 0);
  assert_memory_equal(line + 33, "1000", 4);
  CHECK_REASON(line, ct_boleto_parse(line, day(2025, 2, 21), &b), NULL);
  assert_int_equal(b.due_days, day(2025, 2, 22));
}

static void test_make_bank_matches_independent_lines(void **state) {
  (void)state;
  static const char free_field[] = "0000002837465000000012345";
  char line[48];
  assert_int_equal(ct_boleto_make_bank("001", day(2026, 12, 10), 15990, free_field, line), 0);
  assert_string_equal(line, L_2026_12_10);
  assert_int_equal(ct_boleto_make_bank("0019", day(2025, 2, 22), 10000, free_field, line), 0);
  assert_string_equal(line, L_FACTOR1000);
  assert_int_equal(ct_boleto_make_bank("001", day(2028, 2, 29), 15990, free_field, line), 0);
  assert_string_equal(line, L_2028_02_29);
  assert_int_equal(ct_boleto_make_bank("001", -1, 0, free_field, line), 0);
  assert_string_equal(line, L_OPEN);
  /* The Bradesco line rebuilt from its parts. */
  assert_int_equal(
      ct_boleto_make_bank("237", day(2018, 6, 11), 370000, "3381260007827139500006330", line), 0);
  assert_string_equal(line, BRADESCO_PLAIN);
}

/* A small deterministic generator, so a failure reproduces. */
static uint64_t next_rand(uint64_t *s) {
  *s = *s * 6364136223846793005u + 1442695040888963407u;
  return *s >> 33;
}

static void rand_digits(uint64_t *s, char *out, size_t n) {
  for (size_t i = 0; i < n; i++)
    out[i] = (char)('0' + next_rand(s) % 10);
  out[n] = '\0';
}

static void test_make_bank_round_trip(void **state) {
  (void)state;
  uint64_t s = 42;
  int32_t first = day(2000, 7, 3), last = day(2060, 12, 31);
  size_t n = 0;
  for (int32_t due = first; due <= last; due += 3, n++) {
    char bank[4], free_field[26], line[48];
    rand_digits(&s, bank, 3);
    rand_digits(&s, free_field, 25);
    int64_t amount = (int64_t)(next_rand(&s) % 100000000u) * (int64_t)(next_rand(&s) % 100u + 1);
    if (n % 97 == 0)
      amount = INT64_C(9999999999);
    assert_int_equal(ct_boleto_make_bank(bank, due, amount, free_field, line), 0);
    assert_int_equal(strlen(line), 47);
    ct_boleto_t b;
    /* Any reference within 4,499 days resolves to the same date. */
    int32_t ref = due + (int32_t)(next_rand(&s) % 8999) - 4499;
    CHECK_REASON(line, ct_boleto_parse(line, ref, &b), NULL);
    assert_false(b.utility);
    assert_int_equal(b.due_days, due);
    assert_int_equal(b.due_factor, ct_boleto_due_factor(due));
    assert_int_equal(b.amount_cents, amount == 0 ? -1 : amount);
    assert_memory_equal(line, bank, 3);
    /* Mod 10 catches every single-digit change in fields 1-3 and their digits. */
    size_t pos = next_rand(&s) % 32;
    char bad[48];
    memcpy(bad, line, sizeof bad);
    bad[pos] = (char)('0' + (bad[pos] - '0' + 1 + next_rand(&s) % 9) % 10);
    assert_non_null(ct_boleto_parse(bad, ref, &b));
  }
  assert_true(n > 7000);
}

static void test_make_bank_invalid(void **state) {
  (void)state;
  static const char ff[] = "0000002837465000000012345";
  char line[48];
  memset(line, 'x', sizeof line);
  int32_t d = day(2026, 12, 10);
  assert_int_equal(ct_boleto_make_bank("01", d, 100, ff, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("0010", d, 100, ff, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("00a", d, 100, ff, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("00199", d, 100, ff, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("001", day(2000, 7, 2), 100, ff, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("001", -2, 100, ff, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("001", d, -1, ff, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("001", d, INT64_C(10000000000), ff, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("001", d, 100, "000000283746500000001234", line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("001", d, 100, "00000028374650000000123456", line),
                   CT_EINVAL);
  assert_int_equal(ct_boleto_make_bank("001", d, 100, "000000283746500000001234a", line),
                   CT_EINVAL);
  for (size_t i = 0; i < sizeof line; i++)
    assert_int_equal(line[i], 'x');
  assert_int_equal(ct_boleto_make_bank("001", day(2000, 7, 3), INT64_C(9999999999), ff, line), 0);
}

/* ---- boleto: utility slips ---------------------------------------------------------------- */

/* Published utility lines: an electricity bill (segment 3, value identifier 6: mod 10,
 * R$ 133,12), a DARF (segment 5, identifier 8: mod 11, R$ 46.052,46) and another mod-11 slip
 * (R$ 40,42). Block 1 of the first by hand: digits 8 3 6 4 0 0 0 0 0 0 1, weights 2,1,2,...
 * from the right: 1*2=2, six zeros, 4*1=4, 6*2=12->1+2=3, 3*1=3, 8*2=16->1+6=7; sum 19, DV
 * (10 - 9) mod 10 = 1 (printed as 83640000001-1). They are printed with '-' before each block
 * digit; the tests use spaces, which the parser ignores. */
#define ENERGY "83640000001 1 33120138000 2 81288462711 6 08013618155 1"
#define DARF "85890000460 9 52460179160 5 60759305086 5 83148300001 0"
#define MOD11_PLAIN "848900000002404201622015806051904292586034111220"

static void test_utility_real_world(void **state) {
  (void)state;
  ct_boleto_t b;
  CHECK_REASON(ENERGY, ct_boleto_parse(ENERGY, 0, &b), NULL);
  assert_true(b.utility);
  assert_int_equal(b.amount_cents, 13312);
  assert_int_equal(b.due_days, -1);
  assert_int_equal(b.due_factor, 0);
  CHECK_REASON(DARF, ct_boleto_parse(DARF, 0, &b), NULL);
  assert_true(b.utility);
  assert_int_equal(b.amount_cents, 4605246);
  CHECK_REASON(MOD11_PLAIN, ct_boleto_parse(MOD11_PLAIN, 0, &b), NULL);
  assert_int_equal(b.amount_cents, 4042);
}

static void test_utility_invalid(void **state) {
  (void)state;
  static const case_t cases[] = {
      {"83640000001 2 33120138000 2 81288462711 6 08013618155 1",
       "block 1 check digit does not match"},
      {"83640000001 1 33120138000 3 81288462711 6 08013618155 1",
       "block 2 check digit does not match"},
      {"83640000001 1 33120138000 2 81288462712 6 08013618155 1",
       "block 3 check digit does not match"},
      {"83640000001 1 33120138000 2 81288462711 6 08013618155 2",
       "block 4 check digit does not match"},
      {"848900000002404201622015809051904292586034111220", "block 3 check digit does not match"},
      /* Block 1 changed to 85890000464 with its own digit fixed (1, from remainder 10): every
       * block checks, but the general digit (9) no longer covers the new value. */
      {"85890000464 1 52460179160 5 60759305086 5 83148300001 0",
       "general check digit does not match"},
      {"83540000001 1 33120138000 2 81288462711 6 08013618155 1",
       "value identifier (3rd digit) must be 6, 7, 8 or 9"},
      {"73640000001 1 33120138000 2 81288462711 6 08013618155 1",
       "a 48-digit line must start with 8 (utility slip)"},
      {"83640000001-1 33120138000-2 81288462711-6 08013618155-1",
       "must contain only digits, spaces and dots"},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++) {
    ct_boleto_t b;
    CHECK_REASON(cases[i].in, ct_boleto_parse(cases[i].in, 0, &b), cases[i].want);
  }
}

#define U_TELECOM "846300000011599001230003000283746501000000123455"

static void test_make_utility(void **state) {
  (void)state;
  static const char fd[] = "0000002837465000000012345";
  char line[49];
  /* Lines computed with an independent implementation. */
  assert_int_equal(ct_boleto_make_utility('4', '6', 15990, "0123", fd, line), 0);
  assert_string_equal(line, U_TELECOM);
  assert_int_equal(ct_boleto_make_utility('4', '7', 15990, "0123", fd, line), 0);
  assert_string_equal(line, "847100000011599001230003000283746501000000123455");
  assert_int_equal(ct_boleto_make_utility('4', '9', 15990, "0123", fd, line), 0);
  assert_string_equal(line, "849100000014599001230000000283746505000000123455");
  /* The published electricity bill rebuilt from its parts. */
  assert_int_equal(
      ct_boleto_make_utility('3', '6', 13312, "0138", "0008128846271108013618155", line), 0);
  assert_string_equal(line, "836400000011331201380002812884627116080136181551");

  ct_boleto_t b;
  CHECK_REASON(line, ct_boleto_parse(line, 0, &b), NULL);
  /* 7 and 9 carry a reference-currency quantity, not cents. */
  assert_int_equal(ct_boleto_make_utility('4', '7', 15990, "0123", fd, line), 0);
  CHECK_REASON(line, ct_boleto_parse(line, 0, &b), NULL);
  assert_int_equal(b.amount_cents, -1);

  memset(line, 'x', sizeof line);
  assert_int_equal(ct_boleto_make_utility('0', '6', 1, "0123", fd, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_utility('a', '6', 1, "0123", fd, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_utility('1', '5', 1, "0123", fd, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_utility('1', ':', 1, "0123", fd, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_utility('1', '6', -1, "0123", fd, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_utility('1', '6', INT64_C(100000000000), "0123", fd, line),
                   CT_EINVAL);
  assert_int_equal(ct_boleto_make_utility('1', '6', 1, "012", fd, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_utility('1', '6', 1, "01234", fd, line), CT_EINVAL);
  assert_int_equal(ct_boleto_make_utility('1', '6', 1, "0123", "000000283746500000001234", line),
                   CT_EINVAL);
  for (size_t i = 0; i < sizeof line; i++)
    assert_int_equal(line[i], 'x');
}

static void test_make_utility_round_trip(void **state) {
  (void)state;
  uint64_t s = 7;
  for (int n = 0; n < 20000; n++) {
    char segment = (char)('1' + n % 9);
    char value_id = (char)('6' + (n / 9) % 4);
    char company[5], fd[26], line[49];
    rand_digits(&s, company, 4);
    rand_digits(&s, fd, 25);
    int64_t amount = (int64_t)(next_rand(&s) % 1000000000u) * (int64_t)(next_rand(&s) % 100u);
    if (n % 101 == 0)
      amount = INT64_C(99999999999);
    assert_int_equal(ct_boleto_make_utility(segment, value_id, amount, company, fd, line), 0);
    assert_int_equal(strlen(line), 48);
    ct_boleto_t b;
    CHECK_REASON(line, ct_boleto_parse(line, 0, &b), NULL);
    assert_true(b.utility);
    bool cents = value_id == '6' || value_id == '8';
    assert_int_equal(b.amount_cents, cents && amount > 0 ? amount : -1);
    assert_int_equal(line[0], '8');
    assert_int_equal(line[1], segment);
    assert_int_equal(line[2], value_id);
    if (value_id == '6' || value_id == '7') {
      /* Mod 10 blocks catch every single-digit change anywhere in the line. */
      size_t pos = next_rand(&s) % 48;
      char bad[49];
      memcpy(bad, line, sizeof bad);
      bad[pos] = (char)('0' + (bad[pos] - '0' + 1 + next_rand(&s) % 9) % 10);
      if (!(pos == 2 && bad[2] >= '6' && bad[2] <= '9'))
        assert_non_null(ct_boleto_parse(bad, 0, &b));
    }
  }
}

/* ---- whole jobs --------------------------------------------------------------------------- */

typedef struct {
  ct_job_t job;
  ct_recipient_t rcpt;
  ct_delivery_t del[3];
  ct_delivery_t *dels[3];
  Carteiro__V1__Channel ch[3][4];
  ct_invoice_t inv;
  ct_document_t doc;
  ct_notification_t notif;
} fixture_t;

static void set_channels(fixture_t *f, size_t i, size_t n, ...) {
  va_list ap;
  va_start(ap, n);
  for (size_t j = 0; j < n; j++)
    f->ch[i][j] = (Carteiro__V1__Channel)va_arg(ap, int);
  va_end(ap);
  f->del[i].n_channels = n;
}

/* A valid telco-style invoice: [WHATSAPP, SMS] and [EMAIL], PDF locked with the CPF. */
static void invoice_job(fixture_t *f) {
  memset(f, 0, sizeof *f);
  /* The generated *_init() functions rather than the *__INIT macros: Document's macro
   * initialises its oneof union without inner braces, which -Wmissing-braces refuses. */
  carteiro__v1__job__init(&f->job);
  carteiro__v1__recipient__init(&f->rcpt);
  carteiro__v1__invoice__init(&f->inv);
  carteiro__v1__document__init(&f->doc);
  for (size_t i = 0; i < 3; i++) {
    carteiro__v1__delivery__init(&f->del[i]);
    f->del[i].channels = f->ch[i];
    f->dels[i] = &f->del[i];
  }
  f->job.id = "inv-2026-12-000123";
  f->job.tenant = "telco_x-1";
  f->job.kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
  f->job.recipient = &f->rcpt;
  f->rcpt.name = "Maria Teste";
  f->rcpt.phone = "+5511987654321";
  f->rcpt.email = "maria.teste@example.com";
  f->rcpt.cpf = "111.444.777-35";
  set_channels(f, 0, 2, CT_CHANNEL_WHATSAPP, CT_CHANNEL_SMS);
  set_channels(f, 1, 1, CT_CHANNEL_EMAIL);
  f->job.n_deliveries = 2;
  f->job.deliveries = f->dels;
  f->job.priority = 10;
  f->job.invoice = &f->inv;
  f->inv.number = "2026-000123";
  f->inv.amount_cents = 15990;
  f->inv.due_date = "2026-12-10";
  f->inv.barcode_line = L_2026_12_10;
  f->inv.pix_code = PIX_BCB;
  f->inv.document = &f->doc;
  f->doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_URL;
  f->doc.url = "https://docs.example.com/invoices/2026-000123.pdf";
  f->doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4;
}

static void notification_job(fixture_t *f) {
  invoice_job(f);
  f->job.kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_NOTIFICATION;
  f->job.invoice = NULL;
  carteiro__v1__notification__init(&f->notif);
  f->notif.template_name = "welcome";
  f->job.notification = &f->notif;
}

/* Runs ct_job_validate and compares every "field: reason" with `want`, in order. */
static void expect_errors_at(const ct_job_t *job, const char *const *want, size_t nwant,
                             const char *file, int line) {
  ct_field_error_t errs[32];
  memset(errs, 0, sizeof errs);
  size_t nerr = 12345;
  int rc = ct_job_validate(job, errs, N_ELEMS(errs), &nerr);
  char got[32][240];
  size_t shown = nerr < N_ELEMS(errs) ? nerr : N_ELEMS(errs);
  for (size_t i = 0; i < shown; i++)
    snprintf(got[i], sizeof got[i], "%.63s: %.159s", errs[i].field, errs[i].reason);
  bool same = nerr == nwant && rc == (nwant == 0 ? 0 : CT_EINVALID);
  for (size_t i = 0; same && i < nwant; i++)
    same = strcmp(got[i], want[i]) == 0;
  if (same)
    return;
  print_error("%s:%d: rc %d, %zu errors, want %zu:\n", file, line, rc, nerr, nwant);
  for (size_t i = 0; i < shown; i++)
    print_error("  got  [%zu] %s\n", i, got[i]);
  for (size_t i = 0; i < nwant; i++)
    print_error("  want [%zu] %s\n", i, want[i]);
  fail();
}

#define EXPECT_ERRORS(job, ...)                                                                    \
  expect_errors_at((job), (const char *const[]){__VA_ARGS__},                                      \
                   sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), __FILE__,    \
                   __LINE__)
#define EXPECT_VALID(job) expect_errors_at((job), NULL, 0, __FILE__, __LINE__)

static void test_job_valid(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  EXPECT_VALID(&f.job);

  /* Punctuated CPF and barcode, both as producers send them before normalisation. */
  f.rcpt.cpf = "11144477735";
  f.inv.barcode_line = "00190.00009 02837.465000 00000.123455 6 16560000015990";
  f.inv.currency = "BRL";
  EXPECT_VALID(&f.job);

  /* Card-issuer style: [EMAIL] and [SMS], locked with the card digits, inline PDF. */
  invoice_job(&f);
  set_channels(&f, 0, 1, CT_CHANNEL_EMAIL);
  set_channels(&f, 1, 1, CT_CHANNEL_SMS);
  f.rcpt.card_last4 = "4321";
  f.rcpt.cpf = "";
  f.doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4;
  static const uint8_t pdf[] = "%PDF-1.7 synthetic";
  f.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
  f.doc.inline_pdf.data = (uint8_t *)pdf;
  f.doc.inline_pdf.len = sizeof pdf - 1;
  f.job.not_before_ms = 1796000000000;
  f.job.not_after_ms = 1796000000001;
  f.job.priority = -100;
  EXPECT_VALID(&f.job);

  /* Explicit password, document path, no PIX, a utility slip (no due-date cross-check), no
   * optional recipient fields beyond what the channels need. */
  invoice_job(&f);
  f.doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT;
  f.doc.password = "senha-segura";
  f.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
  f.doc.path = "2026/12/2026-000123.pdf";
  f.inv.pix_code = "";
  f.inv.barcode_line = U_TELECOM;
  f.rcpt.cpf = "";
  f.job.priority = 100;
  EXPECT_VALID(&f.job);

  /* No document at all; open amount and no due date in the slip. */
  invoice_job(&f);
  f.inv.document = NULL;
  f.inv.barcode_line = L_OPEN;
  EXPECT_VALID(&f.job);

  notification_job(&f);
  EXPECT_VALID(&f.job);
}

static void test_job_empty(void **state) {
  (void)state;
  ct_job_t job = CARTEIRO__V1__JOB__INIT;
  EXPECT_ERRORS(&job, "id: missing", "tenant: missing", "kind: must be invoice or notification",
                "recipient: missing", "deliveries: at least one delivery is required");
  /* NULL strings (jobs built in code) are read as empty, not dereferenced. */
  job.id = NULL;
  job.tenant = NULL;
  EXPECT_ERRORS(&job, "id: missing", "tenant: missing", "kind: must be invoice or notification",
                "recipient: missing", "deliveries: at least one delivery is required");
}

static void test_job_id_tenant(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  char id[200];
  memset(id, 'a', 128);
  id[128] = '\0';
  f.job.id = id;
  f.job.tenant = "abcdefghijklmnopqrstuvwxyz0123456789_-abcdefghijklmnopqrstuvwxyz";
  assert_int_equal(strlen(f.job.tenant), 64);
  EXPECT_VALID(&f.job);
  f.job.id = "!~";
  EXPECT_VALID(&f.job);

  id[128] = 'a';
  id[129] = '\0';
  f.job.id = id;
  f.job.tenant = "abcdefghijklmnopqrstuvwxyz0123456789_-abcdefghijklmnopqrstuvwxyz0";
  EXPECT_ERRORS(&f.job, "id: longer than 128 characters", "tenant: longer than 64 characters");
  f.job.id = "inv 1";
  f.job.tenant = "Banco-X";
  EXPECT_ERRORS(&f.job, "id: must be printable ASCII without spaces",
                "tenant: must be lower-case letters, digits, '_' or '-'");
  f.job.id = "inv\t1";
  f.job.tenant = "banco.x";
  EXPECT_ERRORS(&f.job, "id: must be printable ASCII without spaces",
                "tenant: must be lower-case letters, digits, '_' or '-'");
  f.job.id = "fatura-ç";
  f.job.tenant = "banco x";
  EXPECT_ERRORS(&f.job, "id: must be printable ASCII without spaces",
                "tenant: must be lower-case letters, digits, '_' or '-'");
}

static void test_job_kind(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.job.invoice = NULL;
  EXPECT_ERRORS(&f.job, "invoice: missing for kind invoice");

  notification_job(&f);
  f.job.invoice = &f.inv;
  EXPECT_ERRORS(&f.job, "invoice: must not be set for kind notification");

  notification_job(&f);
  f.job.notification = NULL;
  EXPECT_ERRORS(&f.job, "notification: missing for kind notification");

  invoice_job(&f);
  carteiro__v1__notification__init(&f.notif);
  f.job.notification = &f.notif;
  EXPECT_ERRORS(&f.job, "notification: must not be set for kind invoice",
                "notification.template_name: missing");

  /* An unknown kind still has its payload checked. */
  invoice_job(&f);
  f.job.kind = 7;
  f.inv.amount_cents = 0;
  EXPECT_ERRORS(&f.job, "kind: must be invoice or notification",
                "invoice.amount_cents: must be positive",
                "invoice.barcode_line: amount field does not equal invoice.amount_cents");
}

static void test_job_recipient_fields(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.rcpt.phone = "+5520987654321";
  f.rcpt.email = "maria@localhost";
  f.rcpt.cpf = "111.444.777-53";
  f.rcpt.card_last4 = "43a1";
  EXPECT_ERRORS(&f.job, "recipient.phone: area code is not one ANATEL assigns",
                "recipient.email: domain needs at least two labels",
                "recipient.cpf: check digits do not match",
                "recipient.card_last4: must be 4 digits");
  f.rcpt.phone = "+5511987654321";
  f.rcpt.email = "maria.teste@example.com";
  f.rcpt.cpf = "222.222.222-22";
  f.rcpt.card_last4 = "12345";
  EXPECT_ERRORS(&f.job, "recipient.cpf: all digits are the same",
                "recipient.card_last4: must be 4 digits");
}

static void test_job_deliveries(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.rcpt.phone = "";
  set_channels(&f, 0, 3, CT_CHANNEL_WHATSAPP, CT_CHANNEL_SMS, CT_CHANNEL_WHATSAPP);
  set_channels(&f, 1, 0);
  set_channels(&f, 2, 4, CT_CHANNEL_EMAIL, CT_CHANNEL_NONE, 9, CT_CHANNEL_EMAIL);
  f.job.n_deliveries = 3;
  EXPECT_ERRORS(&f.job, "deliveries[0].channels[0]: whatsapp needs recipient.phone",
                "deliveries[0].channels[1]: sms needs recipient.phone",
                "deliveries[0].channels[2]: repeats whatsapp",
                "deliveries[1].channels: at least one channel is required",
                "deliveries[2].channels[1]: channel is unspecified",
                "deliveries[2].channels[2]: not a channel this version knows (whatsapp, sms or email)",
                "deliveries[2].channels[3]: repeats email");

  invoice_job(&f);
  f.rcpt.email = "";
  f.dels[0] = NULL;
  EXPECT_ERRORS(&f.job, "deliveries[0].channels: at least one channel is required",
                "deliveries[1].channels[0]: email needs recipient.email");

  /* A malformed phone is reported once, on its field, not again on every channel. */
  invoice_job(&f);
  f.rcpt.phone = "11987654321";
  EXPECT_ERRORS(&f.job, "recipient.phone: must start with +55 (Brazilian numbers only)");

  /* No recipient: reported once; the channels are not blamed for it. */
  invoice_job(&f);
  f.job.recipient = NULL;
  f.doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_NONE;
  EXPECT_ERRORS(&f.job, "recipient: missing");

  invoice_job(&f);
  f.job.n_deliveries = 0;
  EXPECT_ERRORS(&f.job, "deliveries: at least one delivery is required");
}

static void test_job_window_priority(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.job.not_before_ms = 1796000000000;
  f.job.not_after_ms = 1796000000000;
  f.job.priority = 101;
  EXPECT_ERRORS(&f.job, "not_after_ms: must be after not_before_ms",
                "priority: must be between -100 and 100");
  f.job.not_after_ms = 1795999999999;
  f.job.priority = -101;
  EXPECT_ERRORS(&f.job, "not_after_ms: must be after not_before_ms",
                "priority: must be between -100 and 100");
  /* Either bound alone is fine. */
  f.job.not_after_ms = 0;
  f.job.priority = 0;
  EXPECT_VALID(&f.job);
  f.job.not_before_ms = 0;
  f.job.not_after_ms = 1;
  EXPECT_VALID(&f.job);
  f.job.not_before_ms = -1;
  f.job.not_after_ms = -5;
  EXPECT_ERRORS(&f.job, "not_before_ms: must not be negative",
                "not_after_ms: must not be negative");
}

static void test_job_invoice_fields(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.inv.number = "";
  f.inv.amount_cents = -15990;
  f.inv.currency = "brl";
  f.inv.due_date = "";
  f.inv.barcode_line = "";
  f.inv.pix_code = PIX_BCB "5802BR";
  EXPECT_ERRORS(&f.job, "invoice.number: missing", "invoice.amount_cents: must be positive",
                "invoice.currency: must be a 3-letter ISO 4217 code", "invoice.due_date: missing",
                "invoice.barcode_line: missing",
                "invoice.pix_code: the CRC field (id 63, length 04) must come last");

  invoice_job(&f);
  char number[80];
  memset(number, '7', 65);
  number[65] = '\0';
  f.inv.number = number;
  f.inv.due_date = "10/12/2026";
  EXPECT_ERRORS(&f.job, "invoice.number: longer than 64 bytes",
                "invoice.due_date: must be a real calendar date, YYYY-MM-DD");
  number[64] = '\0';
  f.inv.due_date = "2026-12-10";
  EXPECT_VALID(&f.job);
  f.inv.number = "2026\n0001";
  EXPECT_ERRORS(&f.job, "invoice.number: has a control character");
}

static void test_job_barcode_cross_checks(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.inv.due_date = "2026-12-11";
  EXPECT_ERRORS(&f.job, "invoice.barcode_line: due-date factor does not give invoice.due_date");
  f.inv.due_date = "2026-12-10";
  f.inv.amount_cents = 15991;
  EXPECT_ERRORS(&f.job, "invoice.barcode_line: amount field does not equal invoice.amount_cents");
  f.inv.due_date = "2001-01-01";
  EXPECT_ERRORS(&f.job,
                "invoice.barcode_line: due-date factor does not give invoice.due_date",
                "invoice.barcode_line: amount field does not equal invoice.amount_cents");

  /* A check-digit error is the only barcode error: no cross-check on a line that is wrong. */
  invoice_job(&f);
  f.inv.barcode_line = "00190000090283746500000000123455616560000015991";
  f.inv.due_date = "2026-12-11";
  EXPECT_ERRORS(&f.job, "invoice.barcode_line: general check digit does not match");

  /* A utility slip's value is not cross-checked (the contract limits that to bank slips). */
  invoice_job(&f);
  f.inv.barcode_line = U_TELECOM;
  f.inv.amount_cents = 1;
  EXPECT_VALID(&f.job);
}

static void test_job_factor_rollover(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.inv.barcode_line = L_FACTOR1000;
  f.inv.amount_cents = 10000;
  f.inv.due_date = "2025-02-22";
  EXPECT_VALID(&f.job);
  /* The same factor also meant 2000-07-03; the invoice's own date picks the series. */
  f.inv.due_date = "2000-07-03";
  EXPECT_VALID(&f.job);
  f.inv.due_date = "2025-02-21";
  EXPECT_ERRORS(&f.job, "invoice.barcode_line: due-date factor does not give invoice.due_date");
  f.inv.due_date = "2049-10-14";
  EXPECT_VALID(&f.job);
}

static void test_job_leap_days(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.inv.barcode_line = L_2028_02_29;
  f.inv.due_date = "2028-02-29";
  EXPECT_VALID(&f.job);
  f.inv.due_date = "2027-02-29";
  EXPECT_ERRORS(&f.job, "invoice.due_date: must be a real calendar date, YYYY-MM-DD");
  f.inv.due_date = "2028-02-30";
  EXPECT_ERRORS(&f.job, "invoice.due_date: must be a real calendar date, YYYY-MM-DD");
  f.inv.due_date = "2028-03-01";
  EXPECT_ERRORS(&f.job, "invoice.barcode_line: due-date factor does not give invoice.due_date");
  f.inv.due_date = "2100-02-29"; /* not a leap year: divisible by 100, not by 400 */
  EXPECT_ERRORS(&f.job, "invoice.due_date: must be a real calendar date, YYYY-MM-DD");
  f.inv.barcode_line = U_TELECOM;
  f.inv.due_date = "2000-02-29"; /* divisible by 400: a leap year */
  EXPECT_VALID(&f.job);
}

static void test_job_document(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.doc.url = "http://docs.example.com/a.pdf";
  EXPECT_ERRORS(&f.job, "invoice.document.url: must be an https URL");
  f.doc.url = "https:///a.pdf";
  EXPECT_ERRORS(&f.job, "invoice.document.url: must be an https URL");
  f.doc.url = "https://docs.example.com/a b.pdf";
  EXPECT_ERRORS(&f.job, "invoice.document.url: must be an https URL");
  f.doc.url = "HTTPS://docs.example.com/a.pdf";
  EXPECT_VALID(&f.job);
  f.doc.url = "";
  EXPECT_ERRORS(&f.job, "invoice.document.url: must be an https URL");

  f.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
  f.doc.path = "../etc/passwd";
  EXPECT_ERRORS(&f.job, "invoice.document.path: must be relative and must not contain '..'");
  f.doc.path = "/srv/invoices/a.pdf";
  EXPECT_ERRORS(&f.job, "invoice.document.path: must be relative and must not contain '..'");
  f.doc.path = "2026/../../a.pdf";
  EXPECT_ERRORS(&f.job, "invoice.document.path: must be relative and must not contain '..'");
  f.doc.path = "2026/a..b.pdf";
  EXPECT_VALID(&f.job);
  f.doc.path = "";
  EXPECT_ERRORS(&f.job, "invoice.document.path: is empty");

  f.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
  f.doc.inline_pdf.data = NULL;
  f.doc.inline_pdf.len = 0;
  EXPECT_ERRORS(&f.job, "invoice.document.inline_pdf: is empty");
  static uint8_t byte = 'x';
  f.doc.inline_pdf.data = &byte; /* only the length is read */
  f.doc.inline_pdf.len = ((size_t)8 << 20) + 1;
  EXPECT_ERRORS(&f.job, "invoice.document.inline_pdf: is larger than 8 MiB");
  f.doc.inline_pdf.len = (size_t)8 << 20;
  EXPECT_VALID(&f.job);
}

static void test_job_password_policy(void **state) {
  (void)state;
  fixture_t f;
  invoice_job(&f);
  f.rcpt.cpf = "";
  EXPECT_ERRORS(&f.job, "recipient.cpf: required by password policy cpf_first4");

  invoice_job(&f);
  f.doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4;
  EXPECT_ERRORS(&f.job, "recipient.card_last4: required by password policy card_last4");
  f.rcpt.card_last4 = "0042";
  EXPECT_VALID(&f.job);

  invoice_job(&f);
  f.doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT;
  EXPECT_ERRORS(&f.job, "invoice.document.password: required by password policy explicit");
  f.doc.password = "abc";
  EXPECT_ERRORS(&f.job, "invoice.document.password: must be 4 to 32 characters");
  f.doc.password = "abcd";
  EXPECT_VALID(&f.job);
  f.doc.password = "0123456789abcdef0123456789abcdef";
  EXPECT_VALID(&f.job);
  f.doc.password = "0123456789abcdef0123456789abcdefg";
  EXPECT_ERRORS(&f.job, "invoice.document.password: must be 4 to 32 characters");
  /* Characters, not bytes: 32 two-byte characters pass, 3 do not. */
  f.doc.password = "çççççççççççççççççççççççççççççççç";
  EXPECT_VALID(&f.job);
  f.doc.password = "ççç";
  EXPECT_ERRORS(&f.job, "invoice.document.password: must be 4 to 32 characters");

  invoice_job(&f);
  f.doc.password = "segredo";
  EXPECT_ERRORS(&f.job, "invoice.document.password: only used with password policy explicit");
  f.doc.password_policy = 9;
  EXPECT_ERRORS(&f.job, "invoice.document.password_policy: not a policy this version knows (none, "
                "cpf_first4, card_last4 or explicit)",
                "invoice.document.password: only used with password policy explicit");
  f.doc.password = "";
  f.doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_UNSPECIFIED;
  f.rcpt.cpf = "";
  EXPECT_VALID(&f.job);
}

static void test_job_error_cap(void **state) {
  (void)state;
  ct_job_t job = CARTEIRO__V1__JOB__INIT;
  ct_field_error_t errs[3];
  memset(errs, 0x5a, sizeof errs);
  size_t nerr = 0;
  assert_int_equal(ct_job_validate(&job, errs, 2, &nerr), CT_EINVALID);
  assert_int_equal(nerr, 5);
  assert_string_equal(errs[0].field, "id");
  assert_string_equal(errs[0].reason, "missing");
  assert_string_equal(errs[1].field, "tenant");
  assert_string_equal(errs[1].reason, "missing");
  for (size_t i = 0; i < sizeof errs[2]; i++)
    assert_int_equal(((const unsigned char *)&errs[2])[i], 0x5a);

  nerr = 0;
  assert_int_equal(ct_job_validate(&job, NULL, 0, &nerr), CT_EINVALID);
  assert_int_equal(nerr, 5);
  assert_int_equal(ct_job_validate(&job, NULL, 0, NULL), CT_EINVALID);

  fixture_t f;
  invoice_job(&f);
  nerr = 99;
  assert_int_equal(ct_job_validate(&f.job, NULL, 0, &nerr), 0);
  assert_int_equal(nerr, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cpf_valid),
      cmocka_unit_test(test_cpf_invalid),
      cmocka_unit_test(test_cpf_complete),
      cmocka_unit_test(test_phone),
      cmocka_unit_test(test_phone_every_area_code),
      cmocka_unit_test(test_email),
      cmocka_unit_test(test_email_lengths),
      cmocka_unit_test(test_crc16),
      cmocka_unit_test(test_pix),
      cmocka_unit_test(test_due_factor),
      cmocka_unit_test(test_bank_real_world),
      cmocka_unit_test(test_bank_invalid),
      cmocka_unit_test(test_bank_open_amount_and_date),
      cmocka_unit_test(test_factor_rollover),
      cmocka_unit_test(test_make_bank_matches_independent_lines),
      cmocka_unit_test(test_make_bank_round_trip),
      cmocka_unit_test(test_make_bank_invalid),
      cmocka_unit_test(test_utility_real_world),
      cmocka_unit_test(test_utility_invalid),
      cmocka_unit_test(test_make_utility),
      cmocka_unit_test(test_make_utility_round_trip),
      cmocka_unit_test(test_job_valid),
      cmocka_unit_test(test_job_empty),
      cmocka_unit_test(test_job_id_tenant),
      cmocka_unit_test(test_job_kind),
      cmocka_unit_test(test_job_recipient_fields),
      cmocka_unit_test(test_job_deliveries),
      cmocka_unit_test(test_job_window_priority),
      cmocka_unit_test(test_job_invoice_fields),
      cmocka_unit_test(test_job_barcode_cross_checks),
      cmocka_unit_test(test_job_factor_rollover),
      cmocka_unit_test(test_job_leap_days),
      cmocka_unit_test(test_job_document),
      cmocka_unit_test(test_job_password_policy),
      cmocka_unit_test(test_job_error_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
