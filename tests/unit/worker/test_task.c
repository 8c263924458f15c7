/* Unit tests for src/worker/task.c: a task's whereabouts through every move task.h draws,
 * and the spool outcome written from each kind of decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "worker/task.h"

#include <string.h>

static ct_job_t job = CARTEIRO__V1__JOB__INIT;

static void fresh(ct_task_t *t) {
  memset(t, 0, sizeof *t);
  t->state = CT_TASK_FREE;
}

/* Every move of the diagram, along the paths a task really takes. */
static void test_moves(void **state) {
  (void)state;
  ct_task_t t;
  fresh(&t);
  const ct_task_state_t taken_back[] = {CT_TASK_TAKING, CT_TASK_FREE};
  for (size_t i = 0; i < 2; i++)
    ct_task_set_state(&t, taken_back[i]);
  job.id = (char *)"inv-1";
  const ct_task_state_t life[] = {
      CT_TASK_TAKING,    CT_TASK_QUEUED, CT_TASK_READY,     CT_TASK_DOC,      CT_TASK_READY,
      CT_TASK_WARM_WAIT, CT_TASK_RESUME, CT_TASK_READY,     CT_TASK_SLOT_WAIT, CT_TASK_READY,
      CT_TASK_PARKED,    CT_TASK_READY,  CT_TASK_INFLIGHT,  CT_TASK_READY,    CT_TASK_WARM_WAIT,
      CT_TASK_READY,     CT_TASK_RESUME, CT_TASK_READY,     CT_TASK_SETTLING, CT_TASK_FREE,
      CT_TASK_TAKING,    CT_TASK_SETTLING, CT_TASK_FREE, /* taken while stopping */
      /* the recipient gap waited without a slot, then the next part */
      CT_TASK_TAKING,    CT_TASK_QUEUED, CT_TASK_READY,     CT_TASK_INFLIGHT, CT_TASK_READY,
      CT_TASK_GAP_WAIT,  CT_TASK_READY,  CT_TASK_INFLIGHT,  CT_TASK_READY,    CT_TASK_SETTLING,
      CT_TASK_FREE,
  };
  for (size_t i = 0; i < sizeof life / sizeof life[0]; i++) {
    if (life[i] == CT_TASK_QUEUED)
      t.lease.job = &job;
    ct_task_set_state(&t, life[i]);
    assert_int_equal(t.state, life[i]);
  }
}

static void test_names(void **state) {
  (void)state;
  const char *want[CT_TASK__N] = {"free",     "taking",    "queued",    "ready",
                                  "doc",      "parked",    "gap_wait",  "slot_wait",
                                  "warm_wait", "resume",   "inflight",  "settling"};
  for (int s = 0; s < CT_TASK__N; s++)
    assert_string_equal(ct_task_state_name((ct_task_state_t)s), want[s]);
  assert_string_equal(ct_task_state_name(CT_TASK__N), "unknown");
}

/* Each decision becomes the settle the spool expects and the end the counters take. */
static void test_settle(void **state) {
  (void)state;
  ct_receipt_t receipt = CARTEIRO__V1__RECEIPT__INIT;
  struct {
    ct_next_t next;
    int64_t due;
    const char *reason;
    ct_settle_kind_t kind;
    ct_end_t end;
    int64_t settle_due;
  } cases[] = {
      {CT_NEXT_ACK, 0, NULL, CT_SETTLE_ACK, CT_END_DELIVERED, 0},
      {CT_NEXT_RETRY, 1234, NULL, CT_SETTLE_RETRY, CT_END_RETRY, 1234},
      {CT_NEXT_CHANNEL, 0, NULL, CT_SETTLE_RETRY, CT_END_RETRY, 0},
      {CT_NEXT_DEAD, 0, "max_attempts", CT_SETTLE_DEAD, CT_END_DEAD, 0},
      {CT_NEXT_RELEASE, 777, NULL, CT_SETTLE_RETRY, CT_END_RELEASED, 777},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ct_task_t t;
    fresh(&t);
    t.lease.seq = 42;
    t.progress = &receipt;
    receipt.delivered_at_ms = 0;
    t.has_attempt = i % 2 == 0;
    t.n_earlier = 1;
    ct_outcome_t o = {.next = cases[i].next, .due_ms = cases[i].due, .reason = cases[i].reason};
    ct_task_settle(&t, &o, 5555);
    assert_int_equal(t.settle.seq, 42);
    assert_int_equal(t.settle.kind, cases[i].kind);
    assert_int_equal(t.end, cases[i].end);
    assert_int_equal(t.settle.due_ms, cases[i].settle_due);
    assert_ptr_equal(t.settle.receipt, &receipt);
    assert_ptr_equal(t.settle.attempt, t.has_attempt ? &t.attempt : NULL);
    assert_int_equal(t.settle.n_earlier, 1);
    if (cases[i].reason != NULL) {
      assert_string_equal(t.settle.reason, cases[i].reason);
      assert_ptr_equal(t.settle.reason, t.reason); /* a copy the task owns */
    } else {
      assert_null(t.settle.reason);
    }
    /* Only a delivery stamps the receipt. */
    assert_int_equal(receipt.delivered_at_ms, cases[i].next == CT_NEXT_ACK ? 5555 : 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_moves),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_settle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
