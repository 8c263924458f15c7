/* Unit tests for src/dispatch/throttle.c: the shared token bucket (including from several
 * threads at once), adaptive concurrency, the circuit breaker and backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dispatch/throttle.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define T0 1000000000LL /* an arbitrary monotonic "now" */

/* The most sends in any window of `window_us` among sorted times. */
static size_t max_in_window(const int64_t *t, size_t n, int64_t window_us) {
  size_t best = 0, lo = 0;
  for (size_t hi = 0; hi < n; hi++) {
    while (t[hi] - t[lo] >= window_us)
      lo++;
    if (hi - lo + 1 > best)
      best = hi - lo + 1;
  }
  return best;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void test_bucket_burst_then_rate(void **state) {
  (void)state;
  ct_bucket_t b = {0};
  ct_bucket_set(&b, 100, 10, T0);
  int64_t t[1000];
  for (int i = 0; i < 1000; i++)
    t[i] = ct_bucket_reserve(&b, T0, NULL);
  for (int i = 0; i < 10; i++)
    assert_int_equal(t[i], T0); /* the burst goes at once */
  assert_int_equal(t[10], T0 + 10000);
  assert_int_equal(t[999], T0 + 990 * 10000);
  assert_int_equal(max_in_window(t, 1000, 1000000), 10 + 100 - 1);
}

static void test_bucket_refills_when_idle(void **state) {
  (void)state;
  ct_bucket_t b = {0};
  ct_bucket_set(&b, 10, 5, T0);
  for (int i = 0; i < 5; i++)
    assert_int_equal(ct_bucket_reserve(&b, T0, NULL), T0);
  assert_int_equal(ct_bucket_reserve(&b, T0, NULL), T0 + 100000);
  /* Ten seconds later the bucket is full again, and holds no more than `burst`. */
  int64_t later = T0 + 10000000;
  for (int i = 0; i < 5; i++)
    assert_int_equal(ct_bucket_reserve(&b, later, NULL), later);
  assert_int_equal(ct_bucket_reserve(&b, later, NULL), later + 100000);
}

static void test_bucket_unlimited(void **state) {
  (void)state;
  ct_bucket_t b = {0};
  ct_bucket_set(&b, 0, 1, T0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(ct_bucket_reserve(&b, T0 + i, NULL), T0 + i);
}

#define THREADS 4
#define PER_THREAD 5000
static ct_bucket_t shared;
static int64_t slots[THREADS * PER_THREAD];

static void *reserve_many(void *arg) {
  int64_t *out = arg;
  for (int i = 0; i < PER_THREAD; i++)
    out[i] = ct_bucket_reserve(&shared, T0, NULL);
  return NULL;
}

static void test_bucket_is_exact_across_threads(void **state) {
  (void)state;
  ct_bucket_set(&shared, 1000, 50, T0);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, reserve_many, &slots[i * PER_THREAD]), 0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  size_t n = THREADS * PER_THREAD;
  qsort(slots, n, sizeof slots[0], cmp_i64);
  /* Every reservation got its own slot: 50 at once, then one per millisecond. */
  for (size_t k = 0; k < n; k++)
    assert_int_equal(slots[k], k < 50 ? T0 : T0 + (int64_t)(k - 49) * 1000);
  assert_int_equal(max_in_window(slots, n, 1000000), 50 + 1000 - 1);
}

static void test_bucket_change_voids_tokens(void **state) {
  (void)state;
  ct_bucket_t b = {0};
  ct_bucket_set(&b, 100, 10, T0);
  uint64_t tok[20];
  for (int i = 0; i < 20; i++)
    ct_bucket_reserve(&b, T0, &tok[i]);
  for (int i = 0; i < 20; i++)
    assert_true(ct_bucket_valid(&b, tok[i]));
  /* The same parameters again change nothing. */
  ct_bucket_set(&b, 100, 10, T0 + 1000);
  assert_true(ct_bucket_valid(&b, tok[19]));
  /* A lower rate: what was reserved ahead is void, and the new rate starts empty. */
  int64_t t1 = T0 + 50000;
  ct_bucket_set(&b, 50, 5, t1);
  for (int i = 0; i < 20; i++)
    assert_false(ct_bucket_valid(&b, tok[i]));
  uint64_t fresh;
  assert_int_equal(ct_bucket_reserve(&b, t1, &fresh), t1 + 20000);
  assert_true(ct_bucket_valid(&b, fresh));
  assert_int_equal(ct_bucket_reserve(&b, t1, NULL), t1 + 40000);
  double rate;
  uint32_t burst;
  ct_bucket_get(&b, &rate, &burst);
  assert_true(rate == 50.0);
  assert_int_equal(burst, 5);
}

static void test_bucket_raise_starts_empty(void **state) {
  (void)state;
  ct_bucket_t b = {0};
  ct_bucket_set(&b, 10, 5, T0);
  /* Idle for a minute, then the rate and the burst go up: no burst of the new size at once
   * (another node's share is being handed over), the new rate from one interval on. */
  int64_t t1 = T0 + 60000000;
  ct_bucket_set(&b, 100, 20, t1);
  for (int i = 0; i < 5; i++)
    assert_int_equal(ct_bucket_reserve(&b, t1, NULL), t1 + (i + 1) * 10000);
  /* Once idle again it refills to the new burst. */
  int64_t t2 = t1 + 10000000;
  for (int i = 0; i < 20; i++)
    assert_int_equal(ct_bucket_reserve(&b, t2, NULL), t2);
  assert_int_equal(ct_bucket_reserve(&b, t2, NULL), t2 + 10000);
}

static void test_bucket_close_and_reopen(void **state) {
  (void)state;
  ct_bucket_t b = {0};
  ct_bucket_set(&b, 100, 10, T0);
  uint64_t before;
  ct_bucket_reserve(&b, T0, &before);
  ct_bucket_close(&b);
  assert_false(ct_bucket_valid(&b, before));
  uint64_t tok;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(ct_bucket_reserve(&b, T0 + i, &tok), T0 + i + CT_BUCKET_CLOSED_RETRY_US);
    assert_false(ct_bucket_valid(&b, tok));
  }
  double rate;
  uint32_t burst;
  ct_bucket_get(&b, &rate, &burst);
  assert_true(rate < 0);
  int64_t t1 = T0 + 5000000;
  ct_bucket_set(&b, 100, 10, t1);
  assert_int_equal(ct_bucket_reserve(&b, t1, &tok), t1 + 10000);
  assert_true(ct_bucket_valid(&b, tok));
  /* A bucket closed before its first use opens empty too. */
  ct_bucket_t c = {0};
  ct_bucket_set(&c, 100, 10, T0);
  ct_bucket_close(&c);
  ct_bucket_set(&c, 100, 10, t1);
  assert_int_equal(ct_bucket_reserve(&c, t1, NULL), t1 + 10000);
}

/* Tasks as the worker runs them: each holds a reserved slot, waits for it, and checks the
 * token before sending; a void one is reserved again. A change in the middle of a backlog
 * reserved seconds ahead still holds the new rate from the moment it is made. */
#define SIM_TASKS 200
static void test_bucket_change_under_backlog(void **state) {
  (void)state;
  ct_bucket_t b = {0};
  ct_bucket_set(&b, 100, 10, T0);
  int64_t at[SIM_TASKS];
  uint64_t tok[SIM_TASKS];
  for (int i = 0; i < SIM_TASKS; i++)
    at[i] = ct_bucket_reserve(&b, T0, &tok[i]);
  static int64_t sent[4000];
  size_t n = 0, voided = 0;
  int64_t change = T0 + 3000000, end = T0 + 12000000;
  bool changed = false;
  for (;;) {
    int k = 0;
    for (int i = 1; i < SIM_TASKS; i++)
      if (at[i] < at[k])
        k = i;
    int64_t now = at[k];
    if (now >= end)
      break;
    if (!changed && now >= change) {
      ct_bucket_set(&b, 40, 4, change);
      changed = true;
      now = change;
    }
    if (at[k] < now) /* it was due before the change: it wakes now */
      at[k] = now;
    if (!ct_bucket_valid(&b, tok[k])) {
      voided++;
      at[k] = ct_bucket_reserve(&b, now, &tok[k]);
      continue;
    }
    assert_true(n < sizeof sent / sizeof sent[0]);
    sent[n++] = now;
    at[k] = ct_bucket_reserve(&b, now, &tok[k]); /* the task's next job */
  }
  assert_true(voided >= SIM_TASKS - 1);
  /* Before: 10 + 100 - 1 at most in a second. From the change on: 40 - 1 (it starts empty). */
  size_t first_after = 0;
  while (first_after < n && sent[first_after] < change)
    first_after++;
  assert_int_equal(max_in_window(sent, first_after, 1000000), 10 + 100 - 1);
  size_t after = max_in_window(sent + first_after, n - first_after, 1000000);
  assert_int_equal(after, 40);
  /* And no window across the change holds more than the old rate's. */
  assert_true(max_in_window(sent, n, 1000000) <= 10 + 100 - 1);
}

/* Reservations racing a close and a change, as the cluster thread makes them while workers
 * reserve: every thread asks at the same "now", so after the first burst no slot is free now
 * under any word (a change restarts the bucket empty), and a reservation that answers "now"
 * under a word the bucket no longer has would be a send past the rate. The worker sends a
 * "now" only when its token is still valid right after the reservation; the bucket itself
 * never answers "now" to a word it has closed or changed since. */
#define RACE_CYCLES 100000
typedef struct {
  ct_bucket_t *b;
  _Atomic bool *done;
  size_t now_answers, honoured;
} racer_t;

static void *race_reserve(void *arg) {
  racer_t *r = arg;
  while (!atomic_load(r->done)) {
    uint64_t tok;
    int64_t at = ct_bucket_reserve(r->b, T0, &tok);
    if (at <= T0) {
      r->now_answers++;
      if (ct_bucket_valid(r->b, tok))
        r->honoured++;
    }
  }
  return NULL;
}

static void test_bucket_close_races_reserve(void **state) {
  (void)state;
  ct_bucket_t b = {0};
  ct_bucket_set(&b, 100, 10, T0);
  for (int i = 0; i < 10; i++) /* the first burst goes now */
    assert_int_equal(ct_bucket_reserve(&b, T0, NULL), T0);
  _Atomic bool done = false;
  racer_t r[2] = {{.b = &b, .done = &done}, {.b = &b, .done = &done}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, race_reserve, &r[i]), 0);
  for (int i = 0; i < RACE_CYCLES; i++) {
    ct_bucket_close(&b);
    ct_bucket_set(&b, 100, 10 + (uint32_t)(i % 2), T0);
  }
  atomic_store(&done, true);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  /* Not one more "now" after the first burst. */
  assert_int_equal(r[0].now_answers + r[1].now_answers, 0);
  assert_int_equal(r[0].honoured + r[1].honoured, 0);
}

static void test_aimd(void **state) {
  (void)state;
  ct_aimd_t a;
  ct_aimd_init(&a, 8);
  for (int i = 0; i < 8; i++)
    assert_true(ct_aimd_acquire(&a));
  assert_false(ct_aimd_acquire(&a));
  ct_aimd_release(&a, CT_AIMD_THROTTLED, T0, 100000);
  assert_true(ct_aimd_limit(&a) == 4.0);
  /* A second 429 from the same moment does not cut again. */
  ct_aimd_release(&a, CT_AIMD_THROTTLED, T0 + 1000, 100000);
  assert_true(ct_aimd_limit(&a) == 4.0);
  ct_aimd_release(&a, CT_AIMD_THROTTLED, T0 + 200000, 100000);
  assert_true(ct_aimd_limit(&a) == 2.0);
  /* 5 still in flight, cap 2: nothing more may start. */
  assert_false(ct_aimd_acquire(&a));
  for (int i = 0; i < 5; i++)
    ct_aimd_release(&a, CT_AIMD_NEUTRAL, T0 + 300000, 100000);
  assert_true(ct_aimd_limit(&a) == 2.0);
  assert_true(ct_aimd_acquire(&a));
  ct_aimd_release(&a, CT_AIMD_OK, T0 + 400000, 100000);
  assert_true(ct_aimd_limit(&a) == 2.5);
  /* Successes climb back, never above the maximum. */
  for (int i = 0; i < 200; i++) {
    assert_true(ct_aimd_acquire(&a));
    ct_aimd_release(&a, CT_AIMD_OK, T0 + 500000, 100000);
  }
  assert_true(ct_aimd_limit(&a) == 8.0);
  ct_aimd_destroy(&a);
}

static void test_breaker(void **state) {
  (void)state;
  ct_breaker_t b;
  ct_breaker_init(&b, 3, 1000000);
  ct_breaker_report_t r;
  for (int i = 0; i < 2; i++) {
    assert_true(ct_breaker_allow(&b, T0, &r));
    ct_breaker_record(&b, false, T0, &r);
    assert_int_equal(r.change, CT_BREAKER_SAME);
    assert_int_equal(r.failures, i + 1);
  }
  assert_int_equal(ct_breaker_state(&b), CT_BREAKER_CLOSED);
  assert_true(ct_breaker_allow(&b, T0, &r));
  ct_breaker_record(&b, false, T0, &r);
  assert_int_equal(ct_breaker_state(&b), CT_BREAKER_OPEN);
  assert_int_equal(r.change, CT_BREAKER_OPENED);
  assert_int_equal(r.state, CT_BREAKER_OPEN);
  assert_int_equal(r.failures, 3);
  assert_int_equal(r.down_since_us, T0);
  assert_int_equal(r.next_probe_us, T0 + 1000000);
  assert_false(ct_breaker_allow(&b, T0 + 500000, &r));
  assert_int_equal(r.next_probe_us, T0 + 1000000);
  assert_int_equal(r.change, CT_BREAKER_SAME);
  /* A peek says the same and changes nothing. */
  assert_true(ct_breaker_refuses(&b, T0 + 500000, &r));
  assert_int_equal(r.next_probe_us, T0 + 1000000);
  assert_false(ct_breaker_refuses(&b, T0 + 1000000, &r));
  assert_int_equal(ct_breaker_state(&b), CT_BREAKER_OPEN);
  /* After the cool-down exactly one probe goes. */
  assert_true(ct_breaker_allow(&b, T0 + 1000000, &r));
  assert_int_equal(r.change, CT_BREAKER_PROBING);
  assert_int_equal(r.probes_failed, 0);
  assert_int_equal(ct_breaker_state(&b), CT_BREAKER_HALF_OPEN);
  assert_false(ct_breaker_allow(&b, T0 + 1000001, &r));
  /* Those that wait are told when a probe may go next: one cool-down after this one. */
  assert_int_equal(r.next_probe_us, T0 + 2000000);
  assert_true(ct_breaker_refuses(&b, T0 + 1000001, NULL));
  ct_breaker_record(&b, false, T0 + 1100000, &r); /* the probe failed: open again */
  assert_int_equal(r.change, CT_BREAKER_REOPENED);
  assert_int_equal(r.probes_failed, 1);
  assert_int_equal(r.down_since_us, T0);
  assert_int_equal(ct_breaker_state(&b), CT_BREAKER_OPEN);
  assert_false(ct_breaker_allow(&b, T0 + 1200000, &r));
  assert_int_equal(r.next_probe_us, T0 + 2100000);
  /* A failure answered while open (sent before it opened) changes nothing but the wait. */
  ct_breaker_record(&b, false, T0 + 1300000, &r);
  assert_int_equal(r.change, CT_BREAKER_SAME);
  assert_int_equal(r.next_probe_us, T0 + 2300000);
  assert_true(ct_breaker_allow(&b, T0 + 2300000, &r));
  assert_int_equal(r.change, CT_BREAKER_PROBING);
  assert_int_equal(r.probes_failed, 1);
  ct_breaker_record(&b, true, T0 + 2300000, &r);
  assert_int_equal(r.change, CT_BREAKER_RECLOSED);
  assert_int_equal(r.state, CT_BREAKER_CLOSED);
  assert_int_equal(r.down_since_us, T0); /* the outage that just ended */
  assert_int_equal(r.probes_failed, 1);
  assert_int_equal(ct_breaker_state(&b), CT_BREAKER_CLOSED);
  assert_string_equal(ct_breaker_state_name(ct_breaker_state(&b)), "closed");
  ct_breaker_record(&b, true, T0 + 2400000, &r);
  assert_int_equal(r.change, CT_BREAKER_SAME);
  /* A success resets the count of consecutive failures. */
  ct_breaker_record(&b, false, T0, NULL);
  ct_breaker_record(&b, false, T0, NULL);
  ct_breaker_record(&b, true, T0, NULL);
  ct_breaker_record(&b, false, T0, NULL);
  assert_int_equal(ct_breaker_state(&b), CT_BREAKER_CLOSED);
  /* A probe whose answer never counts (a 401, a request never sent) is replaced after one
   * cool-down, so the breaker cannot stay half-open for good. */
  ct_breaker_record(&b, false, T0 + 3000000, &r); /* one in a row before: this opens it */
  assert_int_equal(r.change, CT_BREAKER_SAME);
  ct_breaker_record(&b, false, T0 + 3000000, &r);
  assert_int_equal(r.change, CT_BREAKER_OPENED); /* a new outage */
  assert_int_equal(r.down_since_us, T0 + 3000000);
  assert_int_equal(r.probes_failed, 0);
  assert_int_equal(ct_breaker_state(&b), CT_BREAKER_OPEN);
  assert_true(ct_breaker_allow(&b, T0 + 4000000, &r));  /* the probe */
  assert_false(ct_breaker_allow(&b, T0 + 4500000, &r)); /* waiting for its answer */
  assert_true(ct_breaker_allow(&b, T0 + 5000000, &r));  /* it never came: a new probe */
  assert_int_equal(r.change, CT_BREAKER_SAME);          /* still half-open */
  assert_false(ct_breaker_allow(&b, T0 + 5000001, &r));
  ct_breaker_destroy(&b);
}

static void test_backoff(void **state) {
  (void)state;
  uint64_t rng = 0x9e3779b97f4a7c15ULL;
  int64_t seen_max[6] = {0};
  for (int i = 0; i < 20000; i++) {
    for (uint32_t a = 1; a <= 6; a++) {
      int64_t d = ct_backoff_ms(a, 1000, 20000, -1, &rng);
      assert_true(d >= 0);
      int64_t ceiling = a <= 5 ? 1000LL << (a - 1) : 20000;
      assert_true(d <= ceiling);
      if (d > seen_max[a - 1])
        seen_max[a - 1] = d;
    }
  }
  /* Full jitter reaches close to each ceiling. */
  assert_true(seen_max[0] >= 990);
  assert_true(seen_max[4] >= 15900);
  assert_true(seen_max[5] >= 19900);
  /* Retry-After is a floor. */
  for (int i = 0; i < 100; i++)
    assert_true(ct_backoff_ms(1, 1000, 20000, 30000, &rng) == 30000);
  assert_true(ct_backoff_ms(40, 1000, 20000, -1, &rng) <= 20000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bucket_burst_then_rate),
      cmocka_unit_test(test_bucket_refills_when_idle),
      cmocka_unit_test(test_bucket_unlimited),
      cmocka_unit_test(test_bucket_is_exact_across_threads),
      cmocka_unit_test(test_bucket_change_voids_tokens),
      cmocka_unit_test(test_bucket_raise_starts_empty),
      cmocka_unit_test(test_bucket_close_and_reopen),
      cmocka_unit_test(test_bucket_change_under_backlog),
      cmocka_unit_test(test_bucket_close_races_reserve),
      cmocka_unit_test(test_aimd),
      cmocka_unit_test(test_breaker),
      cmocka_unit_test(test_backoff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
