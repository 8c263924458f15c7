/* Unit tests for src/worker/doccache.c: lookups return what was stored (a copy), removal, age
 * expiry on a fake clock, eviction of the oldest at the byte cap, a lowered cap, a disabled
 * cache, and the counters behind /metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "worker/doccache.h"

#include <stdio.h>
#include <string.h>

#define T0 7000000LL /* an arbitrary monotonic "now", in ms */
#define AGE 1000     /* max age used by most tests */

static const char SHA_A[65] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char SHA_B[65] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/* `n` bytes of `fill`, in a static buffer (largest n used here: 101). */
static const uint8_t *doc(uint8_t fill, size_t n) {
  static uint8_t buf[4][128];
  static int next;
  uint8_t *b = buf[next++ % 4];
  assert_true(n <= sizeof buf[0]);
  memset(b, fill, n);
  return b;
}

static bool has(ct_doccache_t *c, const char *key, int64_t now) {
  ct_bytes_t out = {0};
  char sha[65];
  bool hit = ct_doccache_get(c, key, now, &out, sha);
  ct_bytes_free(&out);
  return hit;
}

static void expect_stats(ct_doccache_t *c, uint64_t hits, uint64_t misses, uint64_t evictions,
                         uint64_t expirations, uint64_t bytes, uint64_t entries) {
  ct_doccache_stats_t st;
  ct_doccache_stats(c, &st);
  assert_int_equal(st.hits, hits);
  assert_int_equal(st.misses, misses);
  assert_int_equal(st.evictions, evictions);
  assert_int_equal(st.expirations, expirations);
  assert_int_equal(st.bytes, bytes);
  assert_int_equal(st.entries, entries);
}

static void test_put_get_remove(void **state) {
  (void)state;
  ct_doccache_t *c;
  assert_int_equal(ct_doccache_new(1000, AGE, &c), 0);
  ct_doccache_put(c, "job-1", doc('x', 40), 40, SHA_A, T0);
  ct_doccache_put(c, "job-2", doc('y', 30), 30, SHA_B, T0);
  expect_stats(c, 0, 0, 0, 0, 70, 2);

  ct_bytes_t out = {0};
  char sha[65] = "";
  assert_true(ct_doccache_get(c, "job-1", T0 + 1, &out, sha));
  assert_int_equal(out.len, 40);
  assert_memory_equal(out.data, doc('x', 40), 40);
  assert_string_equal(sha, SHA_A);
  /* a copy: the caller may change or free it, the cache keeps its own */
  memset(out.data, 0, out.len);
  ct_bytes_free(&out);
  assert_true(ct_doccache_get(c, "job-1", T0 + 2, &out, sha));
  assert_memory_equal(out.data, doc('x', 40), 40);
  ct_bytes_free(&out);

  /* a miss leaves the out-parameters alone */
  char untouched[65] = "unchanged";
  out = (ct_bytes_t){.data = NULL, .len = 123};
  assert_false(ct_doccache_get(c, "job-3", T0 + 3, &out, untouched));
  assert_int_equal(out.len, 123);
  assert_null(out.data);
  assert_string_equal(untouched, "unchanged");

  ct_doccache_remove(c, "job-1");
  ct_doccache_remove(c, "job-1"); /* again: a no-op */
  ct_doccache_remove(c, "nothing-here");
  assert_false(has(c, "job-1", T0 + 4));
  assert_true(has(c, "job-2", T0 + 4));
  expect_stats(c, 3, 2, 0, 0, 30, 1);

  /* storing under a key again replaces its document */
  ct_doccache_put(c, "job-2", doc('z', 10), 10, SHA_A, T0 + 5);
  assert_true(ct_doccache_get(c, "job-2", T0 + 6, &out, sha));
  assert_int_equal(out.len, 10);
  assert_memory_equal(out.data, doc('z', 10), 10);
  assert_string_equal(sha, SHA_A);
  ct_bytes_free(&out);
  expect_stats(c, 4, 2, 0, 0, 10, 1);
  ct_doccache_free(c);
}

static void test_age_expiry(void **state) {
  (void)state;
  ct_doccache_t *c;
  assert_int_equal(ct_doccache_new(1000, AGE, &c), 0);
  ct_doccache_put(c, "old", doc('o', 10), 10, SHA_A, T0);
  ct_doccache_put(c, "new", doc('n', 20), 20, SHA_B, T0 + 500);
  assert_true(has(c, "old", T0 + AGE - 1));  /* the last moment it is good */
  assert_false(has(c, "old", T0 + AGE));     /* then gone, and freed */
  expect_stats(c, 1, 1, 0, 1, 20, 1);
  assert_true(has(c, "new", T0 + 500 + AGE - 1));
  /* a lookup of another key sweeps what has expired too */
  assert_false(has(c, "other", T0 + 500 + AGE));
  expect_stats(c, 2, 2, 0, 2, 0, 0);

  /* a put sweeps as well */
  ct_doccache_put(c, "a", doc('a', 10), 10, SHA_A, T0 + 10000);
  ct_doccache_put(c, "b", doc('b', 10), 10, SHA_A, T0 + 10000 + AGE);
  expect_stats(c, 2, 2, 0, 3, 10, 1);
  assert_true(has(c, "b", T0 + 10000 + AGE));

  /* a clock read a moment earlier on another thread does not make an entry older than the
   * newest one: it lives as long as that one */
  ct_doccache_put(c, "late", doc('l', 10), 10, SHA_A, T0 + 10000 + AGE - 5);
  assert_true(has(c, "late", T0 + 10000 + 2 * AGE - 1));
  assert_false(has(c, "late", T0 + 10000 + 2 * AGE));
  ct_doccache_free(c);
}

static void test_cap_evicts_oldest(void **state) {
  (void)state;
  ct_doccache_t *c;
  assert_int_equal(ct_doccache_new(100, AGE, &c), 0);
  ct_doccache_put(c, "j1", doc('1', 30), 30, SHA_A, T0);
  ct_doccache_put(c, "j2", doc('2', 30), 30, SHA_A, T0 + 1);
  ct_doccache_put(c, "j3", doc('3', 30), 30, SHA_A, T0 + 2);
  expect_stats(c, 0, 0, 0, 0, 90, 3);
  /* 90 + 30 > 100: j1, the oldest, goes; a lookup does not make an entry younger */
  assert_true(has(c, "j1", T0 + 3));
  ct_doccache_put(c, "j4", doc('4', 30), 30, SHA_A, T0 + 4);
  expect_stats(c, 1, 0, 1, 0, 90, 3);
  assert_false(has(c, "j1", T0 + 5));
  assert_true(has(c, "j2", T0 + 5));
  /* exactly the cap fits: j2, j3, j4 all go for 100 bytes */
  ct_doccache_put(c, "j5", doc('5', 100), 100, SHA_A, T0 + 6);
  expect_stats(c, 2, 1, 4, 0, 100, 1);
  assert_true(has(c, "j5", T0 + 7));
  /* larger than the cap: not stored, and nothing evicted for it */
  ct_doccache_put(c, "huge", doc('h', 101), 101, SHA_A, T0 + 8);
  ct_doccache_put(c, "j6", doc('6', 10), 10, SHA_A, T0 + 9); /* evicts j5 */
  expect_stats(c, 3, 1, 5, 0, 10, 1);
  ct_doccache_free(c);

  /* more entries than the table's first buckets: it grows, every key is still found */
  assert_int_equal(ct_doccache_new(100000, AGE, &c), 0);
  char key[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(key, sizeof key, "job-%d", i);
    ct_doccache_put(c, key, doc('g', 10), 10, SHA_B, T0);
  }
  for (int i = 0; i < 2000; i++) {
    snprintf(key, sizeof key, "job-%d", i);
    assert_true(has(c, key, T0));
  }
  expect_stats(c, 2000, 0, 0, 0, 20000, 2000);
  ct_doccache_free(c);
}

static void test_lowered_cap_and_disabled(void **state) {
  (void)state;
  ct_doccache_t *c;
  assert_int_equal(ct_doccache_new(100, AGE, &c), 0);
  ct_doccache_put(c, "j1", doc('1', 40), 40, SHA_A, T0);
  ct_doccache_put(c, "j2", doc('2', 40), 40, SHA_A, T0 + 1);
  ct_doccache_set_cap(c, 50); /* a reload: the oldest goes */
  expect_stats(c, 0, 0, 1, 0, 40, 1);
  assert_true(has(c, "j2", T0 + 2));
  ct_doccache_set_cap(c, 0); /* disabled: emptied */
  ct_doccache_stats_t st;
  ct_doccache_stats(c, &st);
  assert_int_equal(st.cap_bytes, 0);
  expect_stats(c, 1, 0, 2, 0, 0, 0);
  ct_doccache_put(c, "j3", doc('3', 1), 1, SHA_A, T0 + 3);
  assert_false(has(c, "j3", T0 + 4));
  expect_stats(c, 1, 1, 2, 0, 0, 0);
  ct_doccache_set_cap(c, 100); /* enabled again */
  ct_doccache_put(c, "j3", doc('3', 1), 1, SHA_A, T0 + 5);
  assert_true(has(c, "j3", T0 + 6));
  ct_doccache_free(c);

  /* created disabled */
  assert_int_equal(ct_doccache_new(0, AGE, &c), 0);
  ct_doccache_put(c, "j1", doc('1', 10), 10, SHA_A, T0);
  assert_false(has(c, "j1", T0));
  expect_stats(c, 0, 1, 0, 0, 0, 0);
  ct_doccache_free(c);

  /* no cache at all: every call is a quiet no-op */
  ct_doccache_put(NULL, "j1", doc('1', 10), 10, SHA_A, T0);
  assert_false(has(NULL, "j1", T0));
  ct_doccache_remove(NULL, "j1");
  ct_doccache_set_cap(NULL, 10);
  expect_stats(NULL, 0, 0, 0, 0, 0, 0);
  ct_doccache_free(NULL);

  /* an empty document is not stored */
  assert_int_equal(ct_doccache_new(100, AGE, &c), 0);
  ct_doccache_put(c, "empty", doc('e', 0), 0, SHA_A, T0);
  expect_stats(c, 0, 0, 0, 0, 0, 0);
  ct_doccache_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_remove),
      cmocka_unit_test(test_age_expiry),
      cmocka_unit_test(test_cap_evicts_oldest),
      cmocka_unit_test(test_lowered_cap_and_disabled),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
