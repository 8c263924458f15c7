/* Unit tests of the spooler thread (src/worker/spooler.c) when the spool cannot commit:
 * outcomes go to the outcome journal and come back settled at once; no new jobs are taken
 * while outcomes wait; readiness sees it (ct_spooler_health); and once the engine stops,
 * outcomes that fit nowhere are given up shortly after the grace, so that the stop ends.
 *
 * The test plays the control loop: a uv loop with the mailbox the spooler answers to. The
 * full disk is injected under SQLite (tests/unit/spool/fault_vfs.c).
 */
#include "../spool/fault_vfs.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/mailbox.h"
#include "worker/spooler.h"

#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define N_TASKS 6

typedef struct {
  char dir[64];
  char path[128];
  uv_loop_t loop;
  uv_timer_t tick;
  ct_mailbox_t mb;
  ct_spooler_t *spooler;
  ct_task_t tasks[N_TASKS];
  ct_take_req_t take;
  ct_msg_t stop;
  size_t settled, taken;
  bool exited;
} fixture_t;

static void on_mail(ct_mailbox_t *mb, ct_list_t *batch) {
  fixture_t *fx = mb->data;
  while (!ct_list_empty(batch)) {
    ct_list_t *n = ct_list_first(batch);
    ct_list_remove(n);
    ct_msg_t *m = ct_container_of(n, ct_msg_t, node);
    if (m->type == CT_MSG_SETTLED)
      fx->settled++;
    else if (m->type == CT_MSG_TAKEN)
      fx->taken++;
    else if (m->type == CT_MSG_EXITED)
      fx->exited = true;
  }
}

static void on_tick(uv_timer_t *t) { (void)t; }

/* Runs the loop until *counter reaches `want` or `limit_ms` pass; returns the time taken. */
static int64_t wait_for(fixture_t *fx, size_t *counter, size_t want, int64_t limit_ms) {
  int64_t t0 = ct_mono_ms();
  while (*counter < want && ct_mono_ms() - t0 < limit_ms)
    uv_run(&fx->loop, UV_RUN_ONCE);
  return ct_mono_ms() - t0;
}

static void enqueue_jobs(const char *path, size_t n) {
  ct_spool_options_t o = {.path = path};
  ct_spool_t *sp;
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  for (size_t i = 0; i < n; i++) {
    ct_job_t *j = malloc(sizeof *j);
    assert_non_null(j);
    carteiro__v1__job__init(j);
    char id[32];
    snprintf(id, sizeof id, "s%zu", i);
    j->id = strdup(id);
    j->tenant = strdup("tim");
    int result = -1;
    assert_int_equal(ct_spool_enqueue(sp, &j, 1, ct_now_ms(), &result), 0);
    assert_int_equal(result, 0);
    ct_job_free(j);
  }
  ct_spool_close(sp);
}

static void start(fixture_t *fx, size_t journal_outcomes) {
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  assert_int_equal(ct_mailbox_init(&fx->loop, &fx->mb, on_mail, fx), 0);
  uv_timer_init(&fx->loop, &fx->tick);
  uv_timer_start(&fx->tick, on_tick, 50, 50);
  ct_spool_options_t o = {.path = fx->path, .owner = true, .outcome_journal = journal_outcomes};
  assert_int_equal(ct_spooler_start(&fx->spooler, &o, &fx->mb), 0);
}

static void stop(fixture_t *fx) {
  fx->stop.type = CT_MSG_STOP;
  ct_spooler_post(fx->spooler, &fx->stop);
  int64_t t0 = ct_mono_ms();
  while (!fx->exited && ct_mono_ms() - t0 < 20000)
    uv_run(&fx->loop, UV_RUN_ONCE);
  assert_true(fx->exited);
  ct_spooler_join(fx->spooler);
  uv_close((uv_handle_t *)&fx->tick, NULL);
  ct_mailbox_close(&fx->mb, NULL);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  ct_mailbox_dispose(&fx->mb);
  assert_int_equal(uv_loop_close(&fx->loop), 0);
}

/* Asks for up to `want` jobs into tasks[first...]; returns how many came. */
static size_t take(fixture_t *fx, size_t first, size_t want) {
  memset(&fx->take, 0, sizeof fx->take);
  ct_list_init(&fx->take.tasks);
  for (size_t i = first; i < first + want; i++)
    ct_list_insert_tail(&fx->take.tasks, &fx->tasks[i].msg.node);
  fx->take.want = want;
  fx->take.msg.type = CT_MSG_TAKE;
  size_t before = fx->taken;
  ct_spooler_post(fx->spooler, &fx->take.msg);
  wait_for(fx, &fx->taken, before + 1, 20000);
  assert_int_equal(fx->taken, before + 1);
  assert_int_equal(fx->take.error, 0);
  return fx->take.filled;
}

static ct_attempt_t accepted(const char *message) {
  ct_attempt_t a = CARTEIRO__V1__ATTEMPT__INIT;
  a.at_ms = ct_now_ms();
  a.channel = CARTEIRO__V1__CHANNEL__CHANNEL_SMS;
  a.provider = "sms";
  a.outcome = CARTEIRO__V1__OUTCOME__OUTCOME_ACCEPTED;
  a.http_status = 201;
  a.message = (char *)message;
  return a;
}

/* Hands tasks[0..n) back as delivered, as a worker does. */
static void deliver(fixture_t *fx, size_t n, const ct_attempt_t *a) {
  for (size_t i = 0; i < n; i++) {
    ct_task_t *t = &fx->tasks[i];
    t->settle = (ct_settle_t){.seq = t->lease.seq, .kind = CT_SETTLE_ACK, .attempt = a,
                              .result = 42};
    t->end = CT_END_DELIVERED;
    t->msg.type = CT_MSG_TASK;
    ct_spooler_post(fx->spooler, &t->msg);
  }
}

static ct_job_state_t state_of(const char *path, const char *id) {
  ct_spool_options_t o = {.path = path, .readonly = true};
  ct_spool_t *sp;
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, id, &info), 0);
  ct_job_state_t s = info.state;
  ct_job_info_free(&info);
  ct_spool_close(sp);
  return s;
}

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof *fx);
  if (fx == NULL)
    return -1;
  snprintf(fx->dir, sizeof fx->dir, "/tmp/ct-test-spooler-XXXXXX");
  if (mkdtemp(fx->dir) == NULL || fault_vfs_install() != SQLITE_OK) {
    free(fx);
    return -1;
  }
  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  snprintf(fx->path, sizeof fx->path, "%s/test.spool", fx->dir);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  static const char *const suffixes[] = {"", "-wal", "-shm", ".lock", ".outcomes"};
  char p[192];
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    snprintf(p, sizeof p, "%s%s", fx->path, suffixes[i]);
    unlink(p);
  }
  for (size_t i = 0; i < N_TASKS; i++)
    ct_lease_free(&fx->tasks[i].lease);
  rmdir(fx->dir);
  free(fx);
  return 0;
}

/* The disk fills with four deliveries in flight: they come back settled at once (journaled),
 * health says commits fail, and a take gets nothing (and no error) until the disk takes
 * writes again; then the journal is recorded and the take proceeds. */
static void test_journaled_outcomes_settle_and_takes_stop(void **state) {
  fixture_t *fx = *state;
  enqueue_jobs(fx->path, N_TASKS);
  start(fx, 16);
  assert_int_equal(take(fx, 0, 4), 4);
  ct_spool_health_t h;
  ct_spooler_health(fx->spooler, &h);
  assert_false(h.failing);

  fault_vfs_arm(SQLITE_FULL, SQLITE_OK);
  ct_attempt_t a = accepted("accepted");
  deliver(fx, 4, &a);
  wait_for(fx, &fx->settled, 4, 20000);
  assert_int_equal(fx->settled, 4);
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(fx->tasks[i].settle.result, 0);
  ct_spooler_health(fx->spooler, &h);
  assert_true(h.failing);
  assert_true(h.commit_failures >= 1);
  assert_int_equal(h.journaled, 4);

  assert_int_equal(take(fx, 4, 2), 0);
  ct_spooler_health(fx->spooler, &h);
  assert_true(h.failing);

  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  assert_int_equal(take(fx, 4, 2), 2);
  ct_spooler_health(fx->spooler, &h);
  assert_false(h.failing);
  assert_int_equal(h.journaled, 0);
  stop(fx);
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(state_of(fx->path, fx->tasks[i].lease.job->id), CT_STATE_DELIVERED);
}

/* Outcomes that fit nowhere (the journal has room for one outcome, 2 KiB; each of these is
 * larger)
 * are retried while the engine runs, and no take happens on top of them; once the engine
 * stops they are given up within the grace plus the spooler's margin, as released, and
 * their jobs are READY for the next start. */
static void test_stop_ends_when_outcomes_fit_nowhere(void **state) {
  fixture_t *fx = *state;
  enqueue_jobs(fx->path, N_TASKS);
  start(fx, 1);
  assert_int_equal(take(fx, 0, 4), 4);
  char message[2200];
  memset(message, 'x', sizeof message - 1);
  message[sizeof message - 1] = '\0';
  ct_attempt_t a = accepted(message);
  fault_vfs_arm(SQLITE_FULL, SQLITE_OK);
  deliver(fx, 4, &a);
  wait_for(fx, &fx->settled, 4, 1500);
  assert_int_equal(fx->settled, 0);
  ct_spool_health_t h;
  ct_spooler_health(fx->spooler, &h);
  assert_true(h.failing);
  assert_int_equal(h.journaled, 0);
  assert_int_equal(take(fx, 4, 2), 0);

  int64_t grace_ms = 500;
  ct_spooler_stopping(fx->spooler, grace_ms);
  int64_t took = wait_for(fx, &fx->settled, 4, 30000);
  print_message("outcomes given up %lld ms after the stop began (grace %lld ms)\n",
                (long long)took, (long long)grace_ms);
  assert_int_equal(fx->settled, 4);
  /* A liveness bound, not a speed test: the grace, the 2 s margin and a slow machine. */
  assert_true(took < grace_ms + 10000);
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(fx->tasks[i].settle.result, CT_ENOSPC);
    assert_int_equal(fx->tasks[i].end, CT_END_RELEASED);
  }
  stop(fx);
  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(state_of(fx->path, fx->tasks[i].lease.job->id), CT_STATE_READY);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_journaled_outcomes_settle_and_takes_stop),
      T(test_stop_ends_when_outcomes_fit_nowhere),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
