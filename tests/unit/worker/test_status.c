/* Unit tests for the rate ring of src/worker/status.c: rates over 10 s and 1 min from one
 * sample a second, a ring younger than the window, late ticks, wrap-around. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "worker/status.h"

#include <string.h>

#define T0 5000000LL /* an arbitrary monotonic "now", in ms */

static ct_account_t accs[2];
static ct_accounts_t accounts = {.v = accs, .n = 2};

/* One sample at T0 + ms, with series 0 = `delivered` and account 0 = `accepted`. */
static void sample(ct_rates_t *r, int64_t ms, uint64_t delivered, uint64_t accepted) {
  atomic_store(&accs[0].accepted, accepted);
  atomic_store(&accs[1].accepted, 7);
  ct_rates_sample(r, T0 + ms, delivered, &accounts);
}

static void test_empty_ring_is_zero(void **state) {
  (void)state;
  ct_rates_t r;
  assert_int_equal(ct_rates_init(&r, 2), 0);
  assert_true(ct_rates_per_s(&r, 0, 100, T0, CT_RATES_SHORT_S) == 0.0);
  ct_rates_destroy(&r);
}

static void test_steady_rate(void **state) {
  (void)state;
  ct_rates_t r;
  assert_int_equal(ct_rates_init(&r, 2), 0);
  /* 10 jobs/s and 4 messages/s for 100 s: the ring wraps more than once */
  for (int s = 0; s <= 100; s++)
    sample(&r, s * 1000, (uint64_t)s * 10, (uint64_t)s * 4);
  int64_t now = T0 + 100500; /* half a second after the last tick */
  assert_float_equal(ct_rates_per_s(&r, 0, 1005, now, CT_RATES_SHORT_S), 10.0, 1e-9);
  assert_float_equal(ct_rates_per_s(&r, 0, 1005, now, CT_RATES_LONG_S), 10.0, 1e-9);
  assert_float_equal(ct_rates_per_s(&r, 1, 402, now, CT_RATES_SHORT_S), 4.0, 1e-9);
  /* account 1 never moved */
  assert_float_equal(ct_rates_per_s(&r, 2, 7, now, CT_RATES_LONG_S), 0.0, 1e-9);
  /* no such series */
  assert_float_equal(ct_rates_per_s(&r, 3, 7, now, CT_RATES_LONG_S), 0.0, 1e-9);
  ct_rates_destroy(&r);
}

static void test_burst_seen_by_both_windows(void **state) {
  (void)state;
  ct_rates_t r;
  assert_int_equal(ct_rates_init(&r, 2), 0);
  /* nothing for 55 s, then 120 jobs in the last 5 s */
  for (int s = 0; s <= 60; s++)
    sample(&r, s * 1000, s <= 55 ? 0 : (uint64_t)(s - 55) * 24, 0);
  int64_t now = T0 + 60000;
  /* the 10 s window starts at the sample taken at 50 s, the 1 min one at 0 s */
  assert_float_equal(ct_rates_per_s(&r, 0, 120, now, CT_RATES_SHORT_S), 12.0, 1e-9);
  assert_float_equal(ct_rates_per_s(&r, 0, 120, now, CT_RATES_LONG_S), 2.0, 1e-9);
  ct_rates_destroy(&r);
}

static void test_young_ring_uses_what_it_has(void **state) {
  (void)state;
  ct_rates_t r;
  assert_int_equal(ct_rates_init(&r, 2), 0);
  sample(&r, 0, 0, 0);
  sample(&r, 1000, 10, 0);
  sample(&r, 2000, 20, 0);
  /* 2.5 s of history: the rate is over those, not diluted over 10 s or 60 s */
  assert_float_equal(ct_rates_per_s(&r, 0, 25, T0 + 2500, CT_RATES_SHORT_S), 10.0, 1e-9);
  assert_float_equal(ct_rates_per_s(&r, 0, 25, T0 + 2500, CT_RATES_LONG_S), 10.0, 1e-9);
  /* asked at the very moment of the only sample: no interval, no rate */
  ct_rates_t one;
  assert_int_equal(ct_rates_init(&one, 0), 0);
  ct_rates_sample(&one, T0, 5, &(ct_accounts_t){.v = NULL, .n = 0});
  assert_float_equal(ct_rates_per_s(&one, 0, 5, T0, CT_RATES_SHORT_S), 0.0, 1e-9);
  ct_rates_destroy(&one);
  ct_rates_destroy(&r);
}

static void test_late_ticks(void **state) {
  (void)state;
  ct_rates_t r;
  assert_int_equal(ct_rates_init(&r, 2), 0);
  /* a loaded loop ticks every 1.3 s: the window takes the oldest sample inside 10.5 s, and
   * the rate is over the real time between it and now */
  for (int k = 0; k <= 20; k++)
    sample(&r, k * 1300, (uint64_t)k * 13, 0);
  int64_t now = T0 + 26000;
  /* samples at 15.6 s (156) .. 26 s (260); 15.6 >= 26 - 10.5 */
  assert_float_equal(ct_rates_per_s(&r, 0, 260, now, CT_RATES_SHORT_S), 104.0 / 10.4, 1e-9);
  ct_rates_destroy(&r);
}

static void test_counter_behind_sample_is_zero(void **state) {
  (void)state;
  ct_rates_t r;
  assert_int_equal(ct_rates_init(&r, 2), 0);
  sample(&r, 0, 50, 0);
  assert_float_equal(ct_rates_per_s(&r, 0, 40, T0 + 1000, CT_RATES_SHORT_S), 0.0, 1e-9);
  ct_rates_destroy(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_ring_is_zero),
      cmocka_unit_test(test_steady_rate),
      cmocka_unit_test(test_burst_seen_by_both_windows),
      cmocka_unit_test(test_young_ring_uses_what_it_has),
      cmocka_unit_test(test_late_ticks),
      cmocka_unit_test(test_counter_behind_sample_is_zero),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
