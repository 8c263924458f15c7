/* Unit tests for src/common: error texts, time parsing and formatting, masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/mask.h"

#include <string.h>

static void test_errors_have_names_and_texts(void **state) {
  (void)state;
  assert_string_equal(ct_strerror(0), "success");
  assert_string_equal(ct_strerror(CT_EDUPLICATE), "duplicate job id");
  assert_string_equal(ct_errname(CT_EDUPLICATE), "DUPLICATE");
  assert_string_equal(ct_strerror(12345), "unknown error");
  assert_true(CT_ENOMEM < 0 && CT_EEOF < 0);
  assert_int_equal(ct_err_from_errno(28 /* ENOSPC */), CT_ENOSPC);
}

static void test_days_from_civil(void **state) {
  (void)state;
  assert_int_equal(ct_days_from_civil(1970, 1, 1), 0);
  assert_int_equal(ct_days_from_civil(1997, 10, 7), 10141);
  assert_int_equal(ct_days_from_civil(2025, 2, 22), 20141);
  assert_int_equal(ct_days_from_civil(2028, 2, 29), 21243);
  assert_int_equal(ct_days_from_civil(2027, 2, 29), INT32_MIN);
  assert_int_equal(ct_days_from_civil(2026, 4, 31), INT32_MIN);
  assert_int_equal(ct_days_from_civil(2026, 13, 1), INT32_MIN);
}

static void test_date_parse(void **state) {
  (void)state;
  int32_t d = -1;
  assert_int_equal(ct_date_parse("2026-12-01", &d), 0);
  assert_int_equal(d, ct_days_from_civil(2026, 12, 1));
  d = -1;
  assert_int_equal(ct_date_parse("2026-02-30", &d), CT_EINVAL);
  assert_int_equal(ct_date_parse("2026-1-01", &d), CT_EINVAL);
  assert_int_equal(ct_date_parse("2026-01-01x", &d), CT_EINVAL);
  assert_int_equal(ct_date_parse("", &d), CT_EINVAL);
  assert_int_equal(d, -1); /* untouched on failure */
}

static void test_time_parse_and_format(void **state) {
  (void)state;
  int64_t t;
  char buf[CT_TIME_BUFSZ];
  assert_int_equal(ct_time_parse("1970-01-01T00:00:00Z", &t), 0);
  assert_int_equal(t, 0);
  assert_int_equal(ct_time_parse("2026-12-01T09:00:00-03:00", &t), 0);
  assert_string_equal(ct_time_format(t, buf), "2026-12-01T12:00:00.000Z");
  assert_int_equal(ct_time_parse("2026-12-01T09:00:00.25+01:30", &t), 0);
  assert_string_equal(ct_time_format(t, buf), "2026-12-01T07:30:00.250Z");
  assert_int_equal(ct_time_parse("2026-12-01T09:00:00", &t), CT_EINVAL); /* no zone */
  assert_int_equal(ct_time_parse("2026-12-01T24:00:00Z", &t), CT_EINVAL);
  assert_int_equal(ct_time_parse("2026-02-29T00:00:00Z", &t), CT_EINVAL);
  assert_string_equal(ct_time_format(-1, buf), "1969-12-31T23:59:59.999Z");
}

static void test_masks(void **state) {
  (void)state;
  char out[CT_MASK_BUFSZ];
  assert_string_equal(ct_mask_cpf("52998224725", out, sizeof out), "***.***.***-25");
  assert_string_equal(ct_mask_cpf("529.982.247-25", out, sizeof out), "***.***.***-25");
  assert_string_equal(ct_mask_cpf("5299822472", out, sizeof out), "***");
  assert_string_equal(ct_mask_cpf("529982247250", out, sizeof out), "***");
  assert_string_equal(ct_mask_phone("+5511987654321", out, sizeof out), "+55 11 9****-4321");
  assert_string_equal(ct_mask_phone("+14155550123", out, sizeof out), "+14 ****0123");
  assert_string_equal(ct_mask_phone("11987654321", out, sizeof out), "***");
  assert_string_equal(ct_mask_email("joana@example.com", out, sizeof out), "j***@example.com");
  assert_string_equal(ct_mask_email("@example.com", out, sizeof out), "***");
  assert_string_equal(ct_mask_email("no-at-sign", out, sizeof out), "***");
  assert_string_equal(ct_mask_all("secret", out, sizeof out), "***");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_errors_have_names_and_texts),
      cmocka_unit_test(test_days_from_civil),
      cmocka_unit_test(test_date_parse),
      cmocka_unit_test(test_time_parse_and_format),
      cmocka_unit_test(test_masks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
