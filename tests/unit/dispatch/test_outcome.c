/* Unit tests for src/dispatch/outcome.c: every row of the table, and the rules over it
 * (max_attempts, backoff within its bounds, Retry-After and the floor, the deadline, the
 * breaker's blame and hold, webhook events). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dispatch/outcome.h"

#include <string.h>

#define NOW 1800000000000LL /* an arbitrary wall-clock "now", ms */

/* A job on its first try, the engine's defaults, no deadline, nothing from the provider. */
static ct_outcome_in_t base(ct_outcome_event_t ev) {
  return (ct_outcome_in_t){.event = ev,
                           .now_ms = NOW,
                           .draw = 0x9e3779b97f4a7c15ULL,
                           .attempts = 0,
                           .max_attempts = 4,
                           .backoff_base_ms = 200,
                           .backoff_cap_ms = 2000,
                           .retry_after_ms = -1,
                           .channel_left = true,
                           .cooldown_ms = 1000};
}

static ct_outcome_t decide(const ct_outcome_in_t *in) {
  ct_outcome_t o;
  memset(&o, 0xa5, sizeof o); /* every field must be written */
  ct_outcome_decide(in, &o);
  return o;
}

/* The columns of one row, as the table in outcome.h draws it. */
typedef struct {
  ct_outcome_event_t ev;
  const char *name;
  ct_counter_t counter;
  ct_vote_t breaker;
  ct_aimd_signal_t aimd;
  ct_attempt_kind_t attempt;
  ct_next_t next; /* for base(ev) */
} expect_t;

static const expect_t rows[] = {
    {CT_OEV_ACCEPTED, "accepted", CT_COUNT_ACCEPTED, CT_VOTE_SUCCESS, CT_AIMD_OK,
     CT_ATTEMPT_ACCEPTED, CT_NEXT_CONTINUE},
    {CT_OEV_PERMANENT, "permanent", CT_COUNT_PERMANENT, CT_VOTE_SUCCESS, CT_AIMD_NEUTRAL,
     CT_ATTEMPT_PERMANENT, CT_NEXT_CHANNEL},
    {CT_OEV_THROTTLED, "throttled", CT_COUNT_THROTTLED, CT_VOTE_SUCCESS, CT_AIMD_THROTTLED,
     CT_ATTEMPT_TRANSIENT, CT_NEXT_RETRY},
    {CT_OEV_RECIPIENT_BUSY, "recipient_busy", CT_COUNT_THROTTLED, CT_VOTE_SUCCESS,
     CT_AIMD_NEUTRAL, CT_ATTEMPT_TRANSIENT, CT_NEXT_RETRY},
    {CT_OEV_AUTH, "auth", CT_COUNT_REFUSED, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_SKIPPED,
     CT_NEXT_RELEASE},
    {CT_OEV_FAILED, "failed", CT_COUNT_TRANSIENT, CT_VOTE_FAILURE, CT_AIMD_NEUTRAL,
     CT_ATTEMPT_TRANSIENT, CT_NEXT_RETRY},
    {CT_OEV_UNREACHABLE, "unreachable", CT_COUNT_TRANSIENT, CT_VOTE_FAILURE, CT_AIMD_NEUTRAL,
     CT_ATTEMPT_SKIPPED, CT_NEXT_RETRY},
    {CT_OEV_ABORTED, "aborted", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
     CT_NEXT_RELEASE},
    {CT_OEV_UNSENDABLE, "unsendable", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
     CT_ATTEMPT_PERMANENT, CT_NEXT_CHANNEL},
    {CT_OEV_LOCAL_ERROR, "local_error", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
     CT_ATTEMPT_TRANSIENT, CT_NEXT_RETRY},
    {CT_OEV_DOC_TRANSIENT, "doc_transient", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
     CT_ATTEMPT_TRANSIENT, CT_NEXT_RETRY},
    {CT_OEV_DOC_PERMANENT, "doc_permanent", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
     CT_ATTEMPT_PERMANENT, CT_NEXT_DEAD},
    {CT_OEV_DONE, "done", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
     CT_NEXT_ACK},
    {CT_OEV_EXHAUSTED, "exhausted", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
     CT_ATTEMPT_NONE, CT_NEXT_DEAD},
    {CT_OEV_EXPIRED, "expired", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
     CT_NEXT_DEAD},
    {CT_OEV_WAIT, "wait", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
     CT_NEXT_RELEASE},
    {CT_OEV_PAUSED, "paused", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
     CT_NEXT_RELEASE},
    {CT_OEV_PROVIDER_DOWN, "provider_down", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
     CT_ATTEMPT_NONE, CT_NEXT_RELEASE},
    {CT_OEV_STOPPING, "stopping", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
     CT_NEXT_RELEASE},
};

/* Every event has a row, in order, with the columns the header documents. */
static void test_every_row(void **state) {
  (void)state;
  assert_int_equal(sizeof rows / sizeof rows[0], CT_OEV__N);
  for (size_t i = 0; i < CT_OEV__N; i++) {
    const expect_t *x = &rows[i];
    const ct_outcome_row_t *r = ct_outcome_row(x->ev);
    assert_non_null(r);
    assert_int_equal(r->event, x->ev);
    assert_string_equal(r->name, x->name);
    assert_string_equal(ct_outcome_event_name(x->ev), x->name);
    assert_int_equal(r->counter, x->counter);
    assert_int_equal(r->breaker, x->breaker);
    assert_int_equal(r->aimd, x->aimd);
    assert_int_equal(r->attempt, x->attempt);
    ct_outcome_in_t in = base(x->ev);
    in.wait_until_ms = NOW + 5000;
    ct_outcome_t o = decide(&in);
    assert_ptr_equal(o.row, r);
    assert_int_equal(o.counter, x->counter);
    assert_int_equal(o.breaker, x->breaker);
    assert_int_equal(o.aimd, x->aimd);
    assert_int_equal(o.attempt, x->attempt);
    assert_int_equal(o.counted,
                     x->attempt == CT_ATTEMPT_TRANSIENT || x->attempt == CT_ATTEMPT_PERMANENT);
    assert_int_equal(o.pause_account, x->ev == CT_OEV_AUTH);
    assert_int_equal(o.next, x->next);
  }
  assert_null(ct_outcome_row(CT_OEV__N));
  assert_string_equal(ct_outcome_event_name(CT_OEV__N), "unknown");
}

static void test_accepted_and_done(void **state) {
  (void)state;
  ct_outcome_in_t in = base(CT_OEV_ACCEPTED);
  in.attempts = 3; /* accepted never dies of max_attempts */
  assert_int_equal(decide(&in).next, CT_NEXT_CONTINUE);
  in = base(CT_OEV_DONE);
  in.not_after_ms = NOW - 1; /* done is done, even late */
  ct_outcome_t o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_ACK);
  assert_null(o.reason);
}

/* Permanent answers and unsendable jobs: the next channel at once, else the DLQ. */
static void test_permanent(void **state) {
  (void)state;
  ct_outcome_event_t evs[] = {CT_OEV_PERMANENT, CT_OEV_UNSENDABLE};
  for (size_t i = 0; i < 2; i++) {
    ct_outcome_in_t in = base(evs[i]);
    in.attempts = 3; /* the next channel is not held to max_attempts */
    ct_outcome_t o = decide(&in);
    assert_int_equal(o.next, CT_NEXT_CHANNEL);
    assert_int_equal(o.due_ms, 0);
    assert_true(o.counted);
    in.channel_left = false;
    o = decide(&in);
    assert_int_equal(o.next, CT_NEXT_DEAD);
    assert_string_equal(o.reason, "permanent_failure");
  }
}

/* A counted failure: backoff with full jitter under the cap, dead at max_attempts. */
static void test_retry_backoff_and_max_attempts(void **state) {
  (void)state;
  ct_outcome_event_t evs[] = {CT_OEV_FAILED, CT_OEV_THROTTLED, CT_OEV_LOCAL_ERROR, CT_OEV_DOC_TRANSIENT};
  for (size_t i = 0; i < 4; i++) {
    for (uint32_t a = 0; a < 3; a++) {
      int64_t ceiling = 200LL << a; /* attempt a+1: base * 2^a, here under the 2 s cap */
      int64_t most = 0;
      for (uint64_t d = 1; d <= 2000; d++) {
        ct_outcome_in_t in = base(evs[i]);
        in.attempts = a;
        in.draw = d * 0x9e3779b97f4a7c15ULL;
        ct_outcome_t o = decide(&in);
        assert_int_equal(o.next, CT_NEXT_RETRY);
        assert_true(o.counted);
        assert_true(o.due_ms >= NOW && o.due_ms <= NOW + ceiling);
        if (o.due_ms - NOW > most)
          most = o.due_ms - NOW;
      }
      assert_true(most >= ceiling * 9 / 10); /* the jitter is full, not a fixed delay */
    }
    ct_outcome_in_t in = base(evs[i]);
    in.attempts = 3; /* this failure is the 4th of 4 */
    ct_outcome_t o = decide(&in);
    assert_int_equal(o.next, CT_NEXT_DEAD);
    assert_string_equal(o.reason, "max_attempts");
  }
  /* The same draw gives the same decision: the function keeps no state. */
  ct_outcome_in_t in = base(CT_OEV_FAILED);
  assert_int_equal(decide(&in).due_ms, decide(&in).due_ms);
}

static void test_retry_after_floor_and_cap(void **state) {
  (void)state;
  ct_outcome_in_t in = base(CT_OEV_THROTTLED);
  in.retry_after_ms = 30000;
  ct_outcome_t o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_RETRY);
  assert_int_equal(o.due_ms, NOW + 30000);
  /* A broken Retry-After means a day, not years. */
  in.retry_after_ms = INT64_MAX / 2;
  assert_int_equal(decide(&in).due_ms, NOW + CT_OUTCOME_MAX_RETRY_AFTER_MS);
  /* The recipient gap is a floor. */
  in = base(CT_OEV_RECIPIENT_BUSY);
  in.floor_ms = 6000;
  o = decide(&in);
  assert_int_equal(o.due_ms, NOW + 6000);
  assert_int_equal(o.aimd, CT_AIMD_NEUTRAL);
}

/* A failure the breaker blames on the provider is recorded, not counted, and never dead
 * whatever the attempts; it waits out the breaker. */
static void test_provider_down_failure(void **state) {
  (void)state;
  ct_outcome_in_t in = base(CT_OEV_FAILED);
  in.attempts = 3;
  in.provider_down = true;
  in.next_probe_ms = NOW + 800;
  in.down_for_ms = 0;
  ct_outcome_t o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_RETRY);
  assert_int_equal(o.attempt, CT_ATTEMPT_SKIPPED);
  assert_false(o.counted);
  assert_int_equal(o.breaker, CT_VOTE_FAILURE); /* it still counts for the breaker */
  assert_true(o.due_ms >= NOW + 800 && o.due_ms < NOW + 800 + 500);
  /* Unreachable is never the job's fault, open breaker or not: backoff, no max_attempts. */
  in = base(CT_OEV_UNREACHABLE);
  in.attempts = 30;
  o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_RETRY);
  assert_false(o.counted);
  assert_true(o.due_ms >= NOW && o.due_ms <= NOW + 2000);
  /* provider_down says nothing about events the breaker does not vote down. */
  in = base(CT_OEV_LOCAL_ERROR);
  in.provider_down = true;
  in.attempts = 3;
  o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_DEAD);
  assert_string_equal(o.reason, "max_attempts");
}

/* The breaker's hold m: half the outage so far, between half a cool-down and
 * CT_OUTCOME_HOLD_MAX_MS; due at max(next probe, now + m) plus a random share of m. */
static void test_provider_down_hold(void **state) {
  (void)state;
  struct {
    int64_t next_probe, down_for, cooldown, lo, window;
  } cases[] = {
      {NOW + 700, 0, 1000, NOW + 700, 500},           /* after the probe, m half a cool-down */
      {NOW + 100, 0, 1000, NOW + 500, 500},           /* never sooner than m */
      {NOW - 50, 0, 1000, NOW + 500, 500},            /* a probe time already past */
      {NOW + 700, 8000, 1000, NOW + 4000, 4000},      /* a longer outage, a longer hold */
      {NOW + 700, 3600000, 1000, NOW + 30000, 30000}, /* capped */
      {NOW + 90000, 10, 120000, NOW + 90000, 60000},  /* half a long cool-down wins */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int64_t lo = INT64_MAX, hi = 0;
    for (uint64_t d = 0; d < 4000; d++) {
      ct_outcome_in_t in = base(CT_OEV_PROVIDER_DOWN);
      in.next_probe_ms = cases[c].next_probe;
      in.down_for_ms = cases[c].down_for;
      in.cooldown_ms = cases[c].cooldown;
      in.draw = d * 0x2545f4914f6cdd1dULL;
      ct_outcome_t o = decide(&in);
      assert_int_equal(o.next, CT_NEXT_RELEASE);
      assert_int_equal(o.attempt, CT_ATTEMPT_NONE);
      lo = o.due_ms < lo ? o.due_ms : lo;
      hi = o.due_ms > hi ? o.due_ms : hi;
    }
    assert_true(lo >= cases[c].lo);
    assert_true(hi < cases[c].lo + cases[c].window);
    assert_true(hi - lo >= cases[c].window * 9 / 10); /* spread over the whole share */
  }
}

static void test_deadline(void **state) {
  (void)state;
  /* A retry that would come after not_after is dead now. */
  ct_outcome_in_t in = base(CT_OEV_FAILED);
  in.retry_after_ms = 10000;
  in.not_after_ms = NOW + 9999;
  ct_outcome_t o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_DEAD);
  assert_string_equal(o.reason, "deadline_exceeded");
  in.not_after_ms = NOW + 10000;
  assert_int_equal(decide(&in).next, CT_NEXT_RETRY);
  /* So is a wait past it (quiet hours ending after the deadline), and an outage's hold. */
  in = base(CT_OEV_WAIT);
  in.wait_until_ms = NOW + 3600000;
  in.not_after_ms = NOW + 60000;
  o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_DEAD);
  assert_string_equal(o.reason, "deadline_exceeded");
  in.wait_until_ms = NOW + 50000;
  o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_RELEASE);
  assert_int_equal(o.due_ms, NOW + 50000);
  in = base(CT_OEV_PROVIDER_DOWN);
  in.next_probe_ms = NOW + 5000;
  in.not_after_ms = NOW + 4000;
  assert_int_equal(decide(&in).next, CT_NEXT_DEAD);
  /* Expired is dead at once; stopping and aborted go back now whatever the deadline. */
  in = base(CT_OEV_EXPIRED);
  o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_DEAD);
  assert_string_equal(o.reason, "deadline_exceeded");
  ct_outcome_event_t now_evs[] = {CT_OEV_STOPPING, CT_OEV_ABORTED};
  for (size_t i = 0; i < 2; i++) {
    in = base(now_evs[i]);
    in.not_after_ms = NOW - 1;
    o = decide(&in);
    assert_int_equal(o.next, CT_NEXT_RELEASE);
    assert_int_equal(o.due_ms, 0);
  }
}

static void test_auth_and_paused(void **state) {
  (void)state;
  ct_outcome_in_t in = base(CT_OEV_AUTH);
  in.attempts = 3; /* our fault, never the job's: no max_attempts */
  ct_outcome_t o = decide(&in);
  assert_true(o.pause_account);
  assert_int_equal(o.next, CT_NEXT_RELEASE);
  assert_int_equal(o.due_ms, NOW + CT_OUTCOME_PAUSE_RECHECK_MS);
  assert_false(o.counted);
  in = base(CT_OEV_PAUSED);
  o = decide(&in);
  assert_false(o.pause_account);
  assert_int_equal(o.next, CT_NEXT_RELEASE);
  assert_int_equal(o.due_ms, NOW + CT_OUTCOME_PAUSE_RECHECK_MS);
}

static void test_documents(void **state) {
  (void)state;
  ct_outcome_in_t in = base(CT_OEV_DOC_PERMANENT);
  in.reason = "document_not_found";
  ct_outcome_t o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_DEAD);
  assert_string_equal(o.reason, "document_not_found");
  in.reason = NULL;
  assert_string_equal(decide(&in).reason, "document_unavailable");
  in = base(CT_OEV_DONE);
  in.reason = "ignored";
  assert_null(decide(&in).reason);
}

/* The second door: a status webhook reporting a failure after the 2xx goes through the same
 * rules, without touching the breaker or the concurrency limit. */
static void test_async(void **state) {
  (void)state;
  ct_outcome_in_t in = base(CT_OEV_PERMANENT); /* WhatsApp 131026: not a WhatsApp user */
  in.async = true;
  ct_outcome_t o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_CHANNEL);
  assert_int_equal(o.counter, CT_COUNT_PERMANENT);
  assert_int_equal(o.breaker, CT_VOTE_NONE);
  assert_int_equal(o.aimd, CT_AIMD_NEUTRAL);
  in.channel_left = false;
  o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_DEAD);
  assert_string_equal(o.reason, "permanent_failure");
  in = base(CT_OEV_FAILED);
  in.async = true;
  in.provider_down = true; /* the breaker has no say on an async event */
  in.attempts = 3;
  o = decide(&in);
  assert_int_equal(o.next, CT_NEXT_DEAD);
  assert_string_equal(o.reason, "max_attempts");
}

static void test_out_of_range(void **state) {
  (void)state;
  ct_outcome_in_t in = base((ct_outcome_event_t)999);
  ct_outcome_t o = decide(&in);
  assert_int_equal(o.row->event, CT_OEV_FAILED);
  assert_int_equal(o.next, CT_NEXT_RETRY);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_row),
      cmocka_unit_test(test_accepted_and_done),
      cmocka_unit_test(test_permanent),
      cmocka_unit_test(test_retry_backoff_and_max_attempts),
      cmocka_unit_test(test_retry_after_floor_and_cap),
      cmocka_unit_test(test_provider_down_failure),
      cmocka_unit_test(test_provider_down_hold),
      cmocka_unit_test(test_deadline),
      cmocka_unit_test(test_auth_and_paused),
      cmocka_unit_test(test_documents),
      cmocka_unit_test(test_async),
      cmocka_unit_test(test_out_of_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
