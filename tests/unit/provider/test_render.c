/* Unit tests for src/provider/render.c: money, dates, placeholders, HTML escaping and the SMS
 * length rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"

#include <stdlib.h>
#include <string.h>

static void assert_brl(int64_t cents, const char *want) {
  char out[32];
  assert_ptr_equal(ct_format_brl(cents, out, sizeof out), out);
  assert_string_equal(out, want);
}

static void test_format_brl(void **state) {
  (void)state;
  assert_brl(0, "R$ 0,00");
  assert_brl(5, "R$ 0,05");
  assert_brl(100, "R$ 1,00");
  assert_brl(99999, "R$ 999,99");
  assert_brl(100000, "R$ 1.000,00");
  assert_brl(123456, "R$ 1.234,56");
  assert_brl(100000000, "R$ 1.000.000,00");
  assert_brl(-500, "-R$ 5,00");
  assert_brl(INT64_MAX, "R$ 92.233.720.368.547.758,07");
  assert_brl(INT64_MIN, "-R$ 92.233.720.368.547.758,08");
  char small[8];
  ct_format_brl(123456, small, sizeof small);
  assert_string_equal(small, "R$ 1.23");
}

/* ---- SMS length ------------------------------------------------------------------------- */

static void assert_sms(const char *text, int gsm7, unsigned units, unsigned segments) {
  ct_sms_length_t l;
  memset(&l, 0xff, sizeof l);
  ct_sms_length(text, &l);
  if (l.gsm7 != gsm7 || l.units != units || l.segments != segments)
    fail_msg("\"%.40s\"...: got gsm7=%d units=%u segments=%u, want gsm7=%d units=%u "
             "segments=%u",
             text, l.gsm7, l.units, l.segments, gsm7, units, segments);
}

/* `n` copies of `unit` followed by `tail`, in a static buffer. */
static const char *repeat(const char *unit, size_t n, const char *tail) {
  static char buf[4096];
  size_t u = strlen(unit);
  size_t o = 0;
  for (size_t i = 0; i < n; i++, o += u)
    memcpy(buf + o, unit, u);
  size_t t = strlen(tail);
  memcpy(buf + o, tail, t + 1);
  return buf;
}

static void test_sms_length_gsm7(void **state) {
  (void)state;
  assert_sms("", 1, 0, 0);
  assert_sms("a", 1, 1, 1);
  assert_sms(repeat("a", 160, ""), 1, 160, 1);
  assert_sms(repeat("a", 161, ""), 1, 161, 2);
  assert_sms(repeat("a", 306, ""), 1, 306, 2);
  assert_sms(repeat("a", 307, ""), 1, 307, 3);
  /* extension table: escape + character, two septets */
  assert_sms("\xe2\x82\xac", 1, 2, 1); /* € */
  assert_sms("{}[]~|\\^", 1, 16, 1);
  assert_sms("\f", 1, 2, 1);
  assert_sms(repeat("a", 158, "{"), 1, 160, 1);
  assert_sms(repeat("a", 159, "{"), 1, 161, 2);
  /* an escape sequence is never split: 152 + (2) does not fit 153, so the euro starts part 2,
   * which then fills up and leaves one 'a' for a third part */
  char text[512];
  memcpy(text, repeat("a", 152, "\xe2\x82\xac"), 156);
  memcpy(text + 155, repeat("a", 152, ""), 153);
  assert_sms(text, 1, 306, 3);
  /* the default alphabet's accented letters */
  assert_sms("\xc3\xa9\xc3\xa0\xc3\xb1\xc3\x87\xc3\xbc\xc3\x89\xc3\xa8\xc3\xb2", 1, 8,
             1);                                      /* é à ñ Ç ü É è ò */
  assert_sms("@$_\xc2\xa3\xc2\xa5\xc2\xa7\xc2\xbf\xc2\xa1\xce\x94", 1, 9, 1); /* @$_£¥§¿¡Δ */
  assert_sms("linha 1\nlinha 2\r", 1, 16, 1);
}

static void test_sms_length_ucs2(void **state) {
  (void)state;
  /* Portuguese letters outside GSM-7: ç (only Ç is in it), ã, á, õ, ê, í, ó, ú */
  assert_sms("\xc3\xa7", 0, 1, 1);
  assert_sms("Ol\xc3\xa1", 0, 3, 1);
  assert_sms("P\xc3\xa3o", 0, 3, 1);
  assert_sms("\xc3\xb5\xc3\xaa\xc3\xad\xc3\xb3\xc3\xba", 0, 5, 1);
  assert_sms("`", 0, 1, 1);
  assert_sms("\t", 0, 1, 1);
  /* invalid UTF-8 counts as U+FFFD */
  assert_sms("a\xff", 0, 2, 1);
  assert_sms(repeat("a", 69, "\xc3\xa7"), 0, 70, 1);
  assert_sms(repeat("a", 70, "\xc3\xa7"), 0, 71, 2);
  /* extension characters cost one unit in UCS-2 */
  assert_sms("\xc3\xa7{", 0, 2, 1);
  /* emoji outside the BMP: a surrogate pair, two units */
  assert_sms("\xf0\x9f\x98\x80", 0, 2, 1);
  assert_sms(repeat("\xf0\x9f\x98\x80", 35, ""), 0, 70, 1);
  assert_sms(repeat("\xf0\x9f\x98\x80", 36, ""), 0, 72, 2);
  /* a pair is never split: ç + 65 a = 66 units, the emoji does not fit 67 and starts part
   * 2, which fills up with 65 a and leaves one for part 3 */
  char text[512];
  size_t n = 0;
  memcpy(text + n, "\xc3\xa7", 2);
  n += 2;
  memset(text + n, 'a', 65);
  n += 65;
  memcpy(text + n, "\xf0\x9f\x98\x80", 4);
  n += 4;
  memset(text + n, 'a', 66);
  n += 66;
  text[n] = '\0';
  assert_sms(text, 0, 134, 3);
}

/* ---- templates -------------------------------------------------------------------------- */

static void assert_render(const char *tmpl, const ct_job_t *job, const char *want) {
  char *got = ct_render(tmpl, job);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void test_render_invoice(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  f.invoice.pix_code = (char *)"00020126pix";
  assert_render("{name}, sua fatura {number} de {amount} vence em {due_date}. {barcode} {pix}",
                &f.job,
                "Maria Teste, sua fatura 2026-0001 de R$ 1.234,56 vence em 10/12/2026. " TEST_BARCODE
                " 00020126pix");
  assert_render("", &f.job, "");
  assert_render("no placeholders", &f.job, "no placeholders");
  /* unknown placeholders and stray braces stay as they are */
  assert_render("{foo} {} { name} {name {name}} {{name}} }", &f.job,
                "{foo} {} { name} {name Maria Teste} {Maria Teste} }");
  f.invoice.currency = (char *)"USD";
  f.invoice.due_date = (char *)"10/12/2026";
  assert_render("{amount} {due_date}", &f.job, "USD 1.234,56 10/12/2026");
  f.invoice.currency = (char *)"BRL";
  assert_render("{amount}", &f.job, "R$ 1.234,56");
  /* invalid UTF-8 from either side comes out as U+FFFD */
  f.recipient.name = (char *)"Jo\xe3o";
  assert_render("\xc0{name}\xe2\x82", &f.job, "\xef\xbf\xbdJo\xef\xbf\xbdo\xef\xbf\xbd\xef\xbf\xbd");
  f.job.recipient = NULL;
  assert_render("[{name}]", &f.job, "[]");
}

static void test_render_notification(void **state) {
  (void)state;
  fixture_t f;
  fixture_notification(&f);
  /* params are placeholders and win over the built-in names; invoice fields are empty */
  assert_render("{nome} {plano} {name} [{amount}{due_date}{number}{barcode}{pix}] {data}", &f.job,
                "Maria Controle 20GB Maria Teste [] 01/12");
  f.entries[1].key = (char *)"name";
  assert_render("{name}", &f.job, "Maria");
}

static void test_render_html_escapes_values_only(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  f.recipient.name = (char *)"<script>&\"'x";
  char *got = ct_render_html("<p title=\"a&b\">{name}</p>", &f.job);
  assert_non_null(got);
  assert_string_equal(got, "<p title=\"a&b\">&lt;script&gt;&amp;&quot;&#39;x</p>");
  free(got);
  got = ct_render("<p>{name}</p>", &f.job);
  assert_string_equal(got, "<p><script>&\"'x</p>");
  free(got);
}

/* Sections: kept or dropped by what goes with the message; anything malformed stays text. */
static void test_render_sections(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  static const struct {
    const char *tmpl;
    unsigned flags;
    const char *want;
  } cases[] = {
      {"A{#attached} PDF{/attached}.", 0, "A."},
      {"A{#attached} PDF{/attached}.", CT_RENDER_ATTACHED, "A PDF."},
      {"A{^attached} no PDF{/attached}.", 0, "A no PDF."},
      {"A{^attached} no PDF{/attached}.", CT_RENDER_ATTACHED, "A."},
      {"{#attached}PDF{#protected}, locked{/protected}{^protected}, open{/protected}{/attached}",
       CT_RENDER_ATTACHED | CT_RENDER_PROTECTED, "PDF, locked"},
      {"{#attached}PDF{#protected}, locked{/protected}{^protected}, open{/protected}{/attached}",
       CT_RENDER_ATTACHED, "PDF, open"},
      /* protected means nothing without an attachment */
      {"{#protected}locked{/protected}", CT_RENDER_PROTECTED, ""},
      /* placeholders inside a kept section are filled; in a dropped one, not even looked at */
      {"{#attached}{name}: {amount}{/attached}", CT_RENDER_ATTACHED, "Maria Teste: R$ 1.234,56"},
      {"{#attached}{name}{/attached}", 0, ""},
      /* the same name nests */
      {"{#attached}a{#attached}b{/attached}c{/attached}d", CT_RENDER_ATTACHED, "abcd"},
      {"{#attached}a{#attached}b{/attached}c{/attached}d", 0, "d"},
      /* unknown names, a missing closing tag, a stray one: text as written */
      {"{#signed}x{/signed}", CT_RENDER_ATTACHED, "{#signed}x{/signed}"},
      {"{#attached}never closed", CT_RENDER_ATTACHED, "{#attached}never closed"},
      {"stray {/attached} tag", 0, "stray {/attached} tag"},
      {"{#attached", CT_RENDER_ATTACHED, "{#attached"},
      {"{#}{^}{/}", 0, "{#}{^}{/}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = ct_render_with(cases[i].tmpl, &f.job, cases[i].flags);
    assert_non_null(got);
    if (strcmp(got, cases[i].want) != 0)
      fail_msg("case %zu: \"%s\" flags %u\n  got  \"%s\"\n  want \"%s\"", i, cases[i].tmpl,
               cases[i].flags, got, cases[i].want);
    free(got);
  }
  /* HTML: values escaped inside sections too */
  f.recipient.name = (char *)"<b>Ana</b>";
  char *got = ct_render_with("{#attached}<p>{name}</p>{/attached}", &f.job,
                             CT_RENDER_ATTACHED | CT_RENDER_HTML);
  assert_string_equal(got, "<p>&lt;b&gt;Ana&lt;/b&gt;</p>");
  free(got);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format_brl),
      cmocka_unit_test(test_sms_length_gsm7),
      cmocka_unit_test(test_sms_length_ucs2),
      cmocka_unit_test(test_render_invoice),
      cmocka_unit_test(test_render_sections),
      cmocka_unit_test(test_render_notification),
      cmocka_unit_test(test_render_html_escapes_values_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
