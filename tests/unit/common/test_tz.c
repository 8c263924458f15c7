/* Unit tests for src/common/tz.c against the system's zone files (Debian tzdata). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/tz.h"

static int64_t utc(const char *rfc3339) {
  int64_t ms = 0;
  assert_int_equal(ct_time_parse(rfc3339, &ms), 0);
  return ms / 1000;
}

static void test_offsets_from_transitions_and_rules(void **state) {
  (void)state;
  int32_t off = 0;
  /* Brazil has kept -03:00 all year since 2019 (its footer rule has no DST)... */
  assert_int_equal(ct_tz_offset("America/Sao_Paulo", utc("2026-11-23T12:00:00Z"), &off), 0);
  assert_int_equal(off, -3 * 3600);
  /* ...but observed DST before: January 2018 was -02:00 (from the transition table). */
  assert_int_equal(ct_tz_offset("America/Sao_Paulo", utc("2018-01-15T12:00:00Z"), &off), 0);
  assert_int_equal(off, -2 * 3600);
  assert_int_equal(ct_tz_offset("America/Manaus", utc("2026-11-23T12:00:00Z"), &off), 0);
  assert_int_equal(off, -4 * 3600);
  /* New York in 2045 is past any transition in the file: the footer's DST rule decides. */
  assert_int_equal(ct_tz_offset("America/New_York", utc("2045-07-01T12:00:00Z"), &off), 0);
  assert_int_equal(off, -4 * 3600);
  assert_int_equal(ct_tz_offset("America/New_York", utc("2045-01-15T12:00:00Z"), &off), 0);
  assert_int_equal(off, -5 * 3600);
  /* DST starts on the second Sunday of March at 02:00 local: 2045-03-12 07:00Z. */
  assert_int_equal(ct_tz_offset("America/New_York", utc("2045-03-12T06:59:59Z"), &off), 0);
  assert_int_equal(off, -5 * 3600);
  assert_int_equal(ct_tz_offset("America/New_York", utc("2045-03-12T07:00:00Z"), &off), 0);
  assert_int_equal(off, -4 * 3600);
  assert_int_equal(ct_tz_offset("UTC", utc("2026-01-01T00:00:00Z"), &off), 0);
  assert_int_equal(off, 0);
}

static void test_bad_names(void **state) {
  (void)state;
  int32_t off = 12345;
  assert_int_equal(ct_tz_offset("", 0, &off), CT_ENOENT);
  assert_int_equal(ct_tz_offset("../../etc/passwd", 0, &off), CT_ENOENT);
  assert_int_equal(ct_tz_offset("/etc/localtime", 0, &off), CT_ENOENT);
  assert_int_equal(ct_tz_offset("America/Atlantis", 0, &off), CT_ENOENT);
  assert_int_equal(ct_tz_offset("America", 0, &off), CT_ENOENT); /* a directory */
  assert_int_equal(off, 12345);
}

static void test_quiet_hours(void **state) {
  (void)state;
  int err = -1;
  /* 23:30 in Sao Paulo is inside 21:00-08:00: quiet until 08:00 local = 11:00Z. */
  int64_t until = ct_tz_quiet_until("America/Sao_Paulo", 21 * 60, 8 * 60,
                                    utc("2026-11-24T02:30:00Z") * 1000, &err);
  assert_int_equal(err, 0);
  assert_int_equal(until, utc("2026-11-24T11:00:00Z") * 1000);
  /* 07:59 local, still quiet, ends the same morning. */
  until = ct_tz_quiet_until("America/Sao_Paulo", 21 * 60, 8 * 60,
                            utc("2026-11-24T10:59:00Z") * 1000, &err);
  assert_int_equal(until, utc("2026-11-24T11:00:00Z") * 1000);
  /* 08:00 local is open. */
  assert_int_equal(ct_tz_quiet_until("America/Sao_Paulo", 21 * 60, 8 * 60,
                                     utc("2026-11-24T11:00:00Z") * 1000, &err),
                   0);
  /* A window that does not wrap midnight: 12:00-14:00 in Manaus (-04:00). */
  until = ct_tz_quiet_until("America/Manaus", 12 * 60, 14 * 60,
                            utc("2026-11-24T16:30:00Z") * 1000, &err);
  assert_int_equal(until, utc("2026-11-24T18:00:00Z") * 1000);
  assert_int_equal(ct_tz_quiet_until("Nowhere/Zone", 0, 60, 0, &err), 0);
  assert_int_equal(err, CT_ENOENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_offsets_from_transitions_and_rules),
      cmocka_unit_test(test_bad_names),
      cmocka_unit_test(test_quiet_hours),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
