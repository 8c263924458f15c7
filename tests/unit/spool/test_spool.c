/* Unit tests of the spool (src/spool) on its SQLite backend.
 *
 * Each test gets a fresh directory under /tmp and a spool file in it. Times are synthetic
 * (T0 and offsets from it), never the wall clock, so ordering and expiry are exact. Where a
 * test needs to see or disturb the file behind the spool's back (schema version, a writer
 * holding the lock, attempt rows) it opens its own raw SQLite connection.
 */
#include "fault_vfs.h"

#include "common/error.h"
#include "job/job.h"
#include "spool/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define T0 INT64_C(1800000000000) /* 2027-01-15, a synthetic "now" */

typedef struct {
  char dir[64];
  char path[128];
} fixture_t;

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof *fx);
  if (fx == NULL)
    return -1;
  snprintf(fx->dir, sizeof fx->dir, "/tmp/ct-test-spool-XXXXXX");
  if (mkdtemp(fx->dir) == NULL) {
    free(fx);
    return -1;
  }
  snprintf(fx->path, sizeof fx->path, "%s/test.spool", fx->dir);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  static const char *const suffixes[] = {"", "-wal", "-shm", ".lock", "-journal"};
  char p[160];
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    snprintf(p, sizeof p, "%s%s", fx->path, suffixes[i]);
    unlink(p);
  }
  rmdir(fx->dir);
  free(fx);
  return 0;
}

/* Jobs, attempts, receipts: synthetic data only. */

static char *xstrdup(const char *s) {
  char *c = strdup(s);
  assert_non_null(c);
  return c;
}

static ct_job_t *job_new(const char *id, const char *tenant, int priority, int64_t not_before) {
  ct_job_t *j = malloc(sizeof *j);
  assert_non_null(j);
  carteiro__v1__job__init(j);
  j->id = xstrdup(id);
  j->tenant = xstrdup(tenant);
  j->kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
  j->priority = priority;
  j->not_before_ms = not_before;
  return j;
}

/* Enqueues jobs built from ids (tenant "tim", priority 0, due now) and checks every result. */
static void enqueue_ids(ct_spool_t *sp, int64_t now, size_t n, const char *const *ids,
                        const int *want) {
  ct_job_t *jobs[64];
  int results[64];
  assert_true(n <= 64);
  for (size_t i = 0; i < n; i++)
    jobs[i] = job_new(ids[i], "tim", 0, 0);
  assert_int_equal(ct_spool_enqueue(sp, jobs, n, now, results), 0);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(results[i], want != NULL ? want[i] : 0);
    ct_job_free(jobs[i]);
  }
}

static void enqueue_one(ct_spool_t *sp, int64_t now, const char *id, const char *tenant,
                        int priority, int64_t not_before) {
  ct_job_t *j = job_new(id, tenant, priority, not_before);
  int result = -1;
  assert_int_equal(ct_spool_enqueue(sp, &j, 1, now, &result), 0);
  assert_int_equal(result, 0);
  ct_job_free(j);
}

static ct_attempt_t attempt_of(int channel, const char *provider, int outcome, int64_t at) {
  ct_attempt_t a = CARTEIRO__V1__ATTEMPT__INIT;
  a.at_ms = at;
  a.channel = channel;
  a.provider = (char *)provider;
  a.outcome = outcome;
  a.http_status = outcome == CARTEIRO__V1__OUTCOME__OUTCOME_ACCEPTED ? 200 : 503;
  return a;
}

#define ACCEPTED CARTEIRO__V1__OUTCOME__OUTCOME_ACCEPTED
#define TRANSIENT CARTEIRO__V1__OUTCOME__OUTCOME_TRANSIENT
#define PERMANENT CARTEIRO__V1__OUTCOME__OUTCOME_PERMANENT

static ct_spool_t *open_spool(const fixture_t *fx, bool owner) {
  ct_spool_options_t o = {.path = fx->path, .owner = owner};
  ct_spool_t *sp = NULL;
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  assert_non_null(sp);
  return sp;
}

static size_t take(ct_spool_t *sp, int64_t now, size_t max, ct_lease_t *out) {
  size_t n = 12345;
  assert_int_equal(ct_spool_take(sp, now, max, out, &n), 0);
  assert_true(n <= max);
  return n;
}

static void free_leases(ct_lease_t *l, size_t n) {
  for (size_t i = 0; i < n; i++)
    ct_lease_free(&l[i]);
}

static ct_job_state_t state_of(ct_spool_t *sp, const char *id) {
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, id, &info), 0);
  ct_job_state_t s = info.state;
  ct_job_info_free(&info);
  return s;
}

static void settle1(ct_spool_t *sp, int64_t now, ct_settle_t op, int want) {
  op.result = 999;
  assert_int_equal(ct_spool_settle(sp, &op, 1, now), 0);
  assert_int_equal(op.result, want);
}

static ct_settle_t ack_op(int64_t seq) { return (ct_settle_t){.seq = seq, .kind = CT_SETTLE_ACK}; }

static ct_settle_t dead_op(int64_t seq, const char *reason, const ct_attempt_t *a) {
  return (ct_settle_t){.seq = seq, .kind = CT_SETTLE_DEAD, .reason = reason, .attempt = a};
}

/* A raw SQLite connection to the spool's file. */
static sqlite3 *raw_open(const fixture_t *fx) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  sqlite3_busy_timeout(db, 2000);
  return db;
}

static int64_t raw_int(const fixture_t *fx, const char *sql) {
  sqlite3 *db = raw_open(fx);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static void raw_exec(const fixture_t *fx, const char *sql) {
  sqlite3 *db = raw_open(fx);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void assert_integrity_ok(const fixture_t *fx) {
  sqlite3 *db = raw_open(fx);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static ct_spool_stats_t stats(ct_spool_t *sp, int64_t now) {
  ct_spool_stats_t s;
  assert_int_equal(ct_spool_stats(sp, now, &s), 0);
  return s;
}

/* ---- enqueue, take, ack ---- */

static void test_enqueue_take_ack(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  static const char *const ids[] = {"inv-001", "inv-002", "inv-003"};
  enqueue_ids(sp, T0, 3, ids, NULL);
  assert_int_equal(state_of(sp, "inv-002"), CT_STATE_READY);

  ct_lease_t l[8];
  assert_int_equal(take(sp, T0, 8, l), 3);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(l[i].job->id, ids[i]);
    assert_string_equal(l[i].job->tenant, "tim");
    assert_int_equal(l[i].attempts, 0);
    assert_null(l[i].progress);
    assert_int_equal(l[i].due_ms, T0);
    assert_int_equal(l[i].enqueued_ms, T0);
  }
  assert_int_equal(state_of(sp, "inv-002"), CT_STATE_INFLIGHT);
  ct_spool_stats_t s = stats(sp, T0);
  assert_int_equal(s.ready, 3);
  assert_int_equal(s.inflight, 3);

  ct_attempt_t a = attempt_of(CT_CHANNEL_WHATSAPP, "whatsapp:tim-1", ACCEPTED, T0 + 10);
  ct_receipt_part_t part = CARTEIRO__V1__RECEIPT_PART__INIT;
  part.channel = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP;
  part.provider = "whatsapp:tim-1";
  part.message_id = "wamid.TEST0001";
  part.at_ms = T0 + 10;
  ct_receipt_part_t *parts[] = {&part};
  ct_receipt_t r = CARTEIRO__V1__RECEIPT__INIT;
  r.job_id = "inv-001";
  r.n_parts = 1;
  r.parts = parts;
  r.delivered_at_ms = T0 + 10;
  ct_settle_t ops[3];
  for (size_t i = 0; i < 3; i++)
    ops[i] = (ct_settle_t){.seq = l[i].seq, .kind = CT_SETTLE_ACK, .attempt = &a,
                           .receipt = &r, .result = 77};
  assert_int_equal(ct_spool_settle(sp, ops, 3, T0 + 10), 0);
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(ops[i].result, 0);
  free_leases(l, 3);

  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "inv-001", &info), 0);
  assert_int_equal(info.state, CT_STATE_DELIVERED);
  assert_string_equal(info.job->id, "inv-001");
  assert_int_equal(info.n_attempts, 1);
  assert_string_equal(info.attempts[0]->provider, "whatsapp:tim-1");
  assert_int_equal(info.attempts[0]->outcome, ACCEPTED);
  assert_non_null(info.receipt);
  assert_int_equal(info.receipt->n_parts, 1);
  assert_string_equal(info.receipt->parts[0]->message_id, "wamid.TEST0001");
  assert_null(info.reason);
  assert_int_equal(info.enqueued_ms, T0);
  assert_int_equal(info.updated_ms, T0 + 10);
  ct_job_info_free(&info);

  s = stats(sp, T0 + 10);
  assert_int_equal(s.ready, 0);
  assert_int_equal(s.due, 0);
  assert_int_equal(s.inflight, 0);
  assert_int_equal(s.delivered, 3);
  assert_int_equal(s.dead, 0);
  assert_int_equal(s.oldest_due_ms, 0);
  assert_true(s.file_bytes > 0);
  assert_int_equal(take(sp, T0 + 20, 8, l), 0);
  ct_spool_close(sp);
}

static void test_duplicates(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  static const char *const first[] = {"a", "b", "a"};
  static const int first_want[] = {0, 0, CT_EDUPLICATE};
  enqueue_ids(sp, T0, 3, first, first_want);
  static const char *const second[] = {"b", "c", "c", "a"};
  static const int second_want[] = {CT_EDUPLICATE, 0, CT_EDUPLICATE, CT_EDUPLICATE};
  enqueue_ids(sp, T0, 4, second, second_want);
  assert_int_equal(stats(sp, T0).ready, 3);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM job"), 3);

  /* A duplicate stays a duplicate in every state: deliver "a", kill "b". */
  ct_lease_t l[4];
  assert_int_equal(take(sp, T0, 4, l), 3);
  settle1(sp, T0, ack_op(l[0].seq), 0);
  settle1(sp, T0, dead_op(l[1].seq, "permanent_failure", NULL), 0);
  free_leases(l, 3);
  static const char *const third[] = {"a", "b", "c", "d"};
  static const int third_want[] = {CT_EDUPLICATE, CT_EDUPLICATE, CT_EDUPLICATE, 0};
  enqueue_ids(sp, T0, 4, third, third_want);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM job"), 4);
  ct_spool_close(sp);
}

static void test_enqueue_invalid(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  ct_job_t *j = job_new("", "tim", 0, 0);
  int result = 42;
  assert_int_equal(ct_spool_enqueue(sp, &j, 1, T0, &result), CT_EINVAL);
  assert_int_equal(result, 42);
  assert_int_equal(ct_spool_enqueue(sp, &j, 0, T0, &result), 0);
  ct_job_free(j);
  assert_int_equal(stats(sp, T0).ready, 0);
  ct_spool_close(sp);
}

/* ---- take ---- */

static void test_take_order(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  /* id, priority, not_before: due = max(not_before, T0 + 100). */
  enqueue_one(sp, T0 + 100, "p0-late", "tim", 0, T0 + 150);
  enqueue_one(sp, T0 + 100, "p0-a", "tim", 0, 0);
  enqueue_one(sp, T0 + 100, "p5-late", "tim", 5, T0 + 120);
  enqueue_one(sp, T0 + 100, "pm3", "tim", -3, 0);
  enqueue_one(sp, T0 + 100, "p5-early", "tim", 5, T0 + 50); /* past: due now */
  enqueue_one(sp, T0 + 100, "p0-b", "tim", 0, 0);
  enqueue_one(sp, T0 + 100, "p5-b", "tim", 5, 0);
  enqueue_one(sp, T0 + 100, "p9-future", "tim", 9, T0 + 10000); /* not due */

  static const char *const want[] = {"p5-early", "p5-b", "p5-late", "p0-a",
                                     "p0-b",     "p0-late", "pm3"};
  ct_lease_t l[16];
  /* Two takes: the second continues where the first stopped, skipping the leased. */
  size_t n1 = take(sp, T0 + 200, 3, l);
  assert_int_equal(n1, 3);
  size_t n2 = take(sp, T0 + 200, 16, l + n1);
  assert_int_equal(n2, 4);
  for (size_t i = 0; i < 7; i++)
    assert_string_equal(l[i].job->id, want[i]);
  assert_int_equal(l[0].due_ms, T0 + 100);
  assert_int_equal(l[2].due_ms, T0 + 120);
  assert_true(l[1].seq > l[0].seq);
  free_leases(l, 7);
  ct_spool_close(sp);
}

static void test_not_due_not_taken(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  enqueue_one(sp, T0, "later", "tim", 0, T0 + 5000);
  enqueue_one(sp, T0, "soon", "tim", 0, T0 + 1000);
  ct_lease_t l[4];
  assert_int_equal(take(sp, T0, 4, l), 0);
  assert_int_equal(take(sp, T0 + 999, 4, l), 0);
  ct_spool_stats_t s = stats(sp, T0);
  assert_int_equal(s.ready, 2);
  assert_int_equal(s.due, 0);
  assert_int_equal(s.oldest_due_ms, T0 + 1000);
  assert_int_equal(stats(sp, T0 + 1000).due, 1);
  assert_int_equal(take(sp, T0 + 1000, 4, l), 1);
  assert_string_equal(l[0].job->id, "soon");
  assert_int_equal(l[0].due_ms, T0 + 1000);
  ct_lease_free(&l[0]);
  assert_int_equal(take(sp, T0 + 4999, 4, l), 0);
  assert_int_equal(take(sp, T0 + 5000, 4, l), 1);
  assert_string_equal(l[0].job->id, "later");
  ct_lease_free(&l[0]);
  ct_spool_close(sp);
}

static void test_leased_not_taken_twice(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  static const char *const ids[] = {"j1", "j2", "j3", "j4", "j5"};
  enqueue_ids(sp, T0, 5, ids, NULL);
  ct_lease_t l[8], m[8];
  assert_int_equal(take(sp, T0, 2, l), 2);
  assert_int_equal(take(sp, T0, 8, m), 3);
  assert_int_equal(take(sp, T0, 8, m + 3), 0);
  assert_string_equal(m[0].job->id, "j3");
  assert_int_equal(stats(sp, T0).inflight, 5);
  /* Settling one frees nothing for take: it is delivered, not ready. */
  settle1(sp, T0, ack_op(l[0].seq), 0);
  assert_int_equal(take(sp, T0, 8, m + 3), 0);
  assert_int_equal(stats(sp, T0).inflight, 4);
  free_leases(l, 2);
  free_leases(m, 3);
  ct_spool_close(sp);
}

/* ---- settle ---- */

static void test_settle_unleased(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  static const char *const ids[] = {"x1", "x2"};
  enqueue_ids(sp, T0, 2, ids, NULL);
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "x1", &info), 0);
  int64_t seq1 = info.seq;
  ct_job_info_free(&info);

  settle1(sp, T0, ack_op(seq1), CT_ESTATE); /* READY but not leased */
  settle1(sp, T0, ack_op(999999), CT_ESTATE); /* no such seq */
  assert_int_equal(state_of(sp, "x1"), CT_STATE_READY);

  ct_lease_t l[2];
  assert_int_equal(take(sp, T0, 2, l), 2);
  /* The same seq twice in one batch: the second is not leased any more. */
  ct_settle_t ops[3] = {ack_op(l[0].seq), dead_op(l[0].seq, "permanent_failure", NULL),
                        ack_op(424242)};
  assert_int_equal(ct_spool_settle(sp, ops, 3, T0), 0);
  assert_int_equal(ops[0].result, 0);
  assert_int_equal(ops[1].result, CT_ESTATE);
  assert_int_equal(ops[2].result, CT_ESTATE);
  assert_int_equal(state_of(sp, "x1"), CT_STATE_DELIVERED);
  settle1(sp, T0, ack_op(l[0].seq), CT_ESTATE); /* already settled */
  assert_int_equal(state_of(sp, "x2"), CT_STATE_INFLIGHT);
  free_leases(l, 2);
  ct_spool_close(sp);
}

static void test_retry(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  enqueue_one(sp, T0, "r1", "tim", 0, 0);
  ct_lease_t l[2];
  assert_int_equal(take(sp, T0, 2, l), 1);

  ct_attempt_t a1 = attempt_of(CT_CHANNEL_WHATSAPP, "whatsapp:tim-1", TRANSIENT, T0 + 1);
  ct_receipt_part_t part = CARTEIRO__V1__RECEIPT_PART__INIT;
  part.channel = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP;
  part.message_id = "wamid.PART1";
  ct_receipt_part_t *parts[] = {&part};
  ct_receipt_t progress = CARTEIRO__V1__RECEIPT__INIT;
  progress.job_id = "r1";
  progress.n_parts = 1;
  progress.parts = parts;
  settle1(sp, T0 + 1,
          (ct_settle_t){.seq = l[0].seq, .kind = CT_SETTLE_RETRY, .attempt = &a1,
                        .receipt = &progress, .due_ms = T0 + 1000},
          0);
  ct_lease_free(&l[0]);
  assert_int_equal(state_of(sp, "r1"), CT_STATE_READY);
  assert_int_equal(take(sp, T0 + 999, 2, l), 0);
  assert_int_equal(stats(sp, T0 + 999).oldest_due_ms, T0 + 1000);

  assert_int_equal(take(sp, T0 + 1000, 2, l), 1);
  assert_int_equal(l[0].attempts, 1);
  assert_int_equal(l[0].due_ms, T0 + 1000);
  assert_non_null(l[0].progress);
  assert_int_equal(l[0].progress->n_parts, 1);
  assert_string_equal(l[0].progress->parts[0]->message_id, "wamid.PART1");

  /* A retry without a receipt keeps the progress; due 0 means now. */
  ct_attempt_t a2 = attempt_of(CT_CHANNEL_SMS, "sms:tim-1", TRANSIENT, T0 + 1001);
  settle1(sp, T0 + 1001,
          (ct_settle_t){.seq = l[0].seq, .kind = CT_SETTLE_RETRY, .attempt = &a2}, 0);
  ct_lease_free(&l[0]);
  assert_int_equal(take(sp, T0 + 1001, 2, l), 1);
  assert_int_equal(l[0].attempts, 2);
  assert_int_equal(l[0].due_ms, T0 + 1001);
  assert_non_null(l[0].progress);
  assert_string_equal(l[0].progress->parts[0]->message_id, "wamid.PART1");
  ct_lease_free(&l[0]);

  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "r1", &info), 0);
  assert_int_equal(info.state, CT_STATE_INFLIGHT);
  assert_int_equal(info.n_attempts, 2);
  assert_int_equal(info.attempts[0]->channel, CT_CHANNEL_WHATSAPP);
  assert_int_equal(info.attempts[1]->channel, CT_CHANNEL_SMS);
  assert_int_equal(info.due_ms, T0 + 1001);
  assert_non_null(info.receipt);
  ct_job_info_free(&info);
  ct_spool_close(sp);
}

static void test_release(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  enqueue_one(sp, T0, "rel", "tim", 0, 0);
  ct_lease_t l[2];
  assert_int_equal(take(sp, T0, 2, l), 1);
  settle1(sp, T0, (ct_settle_t){.seq = l[0].seq, .kind = CT_SETTLE_RELEASE}, 0);
  ct_lease_free(&l[0]);
  assert_int_equal(take(sp, T0, 2, l), 1);
  assert_int_equal(l[0].attempts, 0);
  assert_int_equal(l[0].due_ms, T0);
  /* Released until the window opens. */
  settle1(sp, T0, (ct_settle_t){.seq = l[0].seq, .kind = CT_SETTLE_RELEASE, .due_ms = T0 + 60000},
          0);
  ct_lease_free(&l[0]);
  assert_int_equal(take(sp, T0 + 59999, 2, l), 0);
  assert_int_equal(take(sp, T0 + 60000, 2, l), 1);
  assert_int_equal(l[0].attempts, 0);
  ct_lease_free(&l[0]);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM attempt"), 0);
  ct_spool_close(sp);
}

/* ---- dead letters ---- */

/* Dead letters for the filter tests. Each is enqueued, taken and killed at its own time:
 *   id      tenant    channel    provider          reason               dead at
 *   d1      tim       whatsapp   whatsapp:tim-1    permanent_failure    T0+1
 *   d2      tim       sms        sms:tim-1         deadline_exceeded    T0+2
 *   d3      banco-x   email      email:banco-x     permanent_failure    T0+3
 *   d4      banco-x   sms        sms:banco-x       max_attempts         T0+4
 *   d5      tim       whatsapp   whatsapp:tim-2    permanent_failure    T0+5
 *   d6      tim       (none)     (none)            deadline_exceeded    T0+6
 * plus "ok1" delivered and "rd1" ready, which no DLQ call may touch. */
static void make_dead_letters(ct_spool_t *sp) {
  static const struct {
    const char *id, *tenant;
    int channel;
    const char *provider, *reason;
  } d[] = {
      {"d1", "tim", CT_CHANNEL_WHATSAPP, "whatsapp:tim-1", "permanent_failure"},
      {"d2", "tim", CT_CHANNEL_SMS, "sms:tim-1", "deadline_exceeded"},
      {"d3", "banco-x", CT_CHANNEL_EMAIL, "email:banco-x", "permanent_failure"},
      {"d4", "banco-x", CT_CHANNEL_SMS, "sms:banco-x", "max_attempts"},
      {"d5", "tim", CT_CHANNEL_WHATSAPP, "whatsapp:tim-2", "permanent_failure"},
      {"d6", "tim", CT_CHANNEL_NONE, NULL, "deadline_exceeded"},
  };
  for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
    int64_t at = T0 + 1 + (int64_t)i;
    enqueue_one(sp, T0, d[i].id, d[i].tenant, 0, 0);
    ct_lease_t l[1];
    assert_int_equal(take(sp, at, 1, l), 1);
    assert_string_equal(l[0].job->id, d[i].id);
    ct_attempt_t a = attempt_of(d[i].channel, d[i].provider, PERMANENT, at);
    settle1(sp, at, dead_op(l[0].seq, d[i].reason, d[i].provider != NULL ? &a : NULL), 0);
    ct_lease_free(&l[0]);
  }
  enqueue_one(sp, T0, "ok1", "tim", 0, 0);
  ct_lease_t l[1];
  assert_int_equal(take(sp, T0 + 10, 1, l), 1);
  settle1(sp, T0 + 10, ack_op(l[0].seq), 0);
  ct_lease_free(&l[0]);
  enqueue_one(sp, T0, "rd1", "tim", 0, T0 + 100000);
}

typedef struct {
  char ids[16][8];
  size_t n;
  int stop_after; /* return 7 from the visit after this many; 0 = never */
} seen_t;

static int collect(const ct_dlq_entry_t *e, void *arg) {
  seen_t *s = arg;
  if (s->n < 16)
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", e->job_id);
  s->n++;
  return s->stop_after != 0 && (int)s->n >= s->stop_after ? 7 : 0;
}

/* Lists with `f` and checks that exactly the ids in `want` (a space-separated list, oldest
 * first) come back. */
static void assert_dlq(ct_spool_t *sp, const ct_dlq_filter_t *f, const char *want) {
  seen_t s = {.n = 0};
  assert_int_equal(ct_spool_dlq_list(sp, f, collect, &s), 0);
  char got[128] = "";
  size_t len = 0;
  for (size_t i = 0; i < s.n && i < 16; i++) {
    int w = snprintf(got + len, sizeof got - len, "%s%s", i ? " " : "", s.ids[i]);
    assert_true(w > 0 && (size_t)w < sizeof got - len);
    len += (size_t)w;
  }
  assert_string_equal(got, want);
}

static void test_dlq_list_filters(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  make_dead_letters(sp);

  assert_dlq(sp, NULL, "d1 d2 d3 d4 d5 d6");
  assert_dlq(sp, &(ct_dlq_filter_t){.reason = "permanent_failure"}, "d1 d3 d5");
  assert_dlq(sp, &(ct_dlq_filter_t){.reason = ""}, "d1 d2 d3 d4 d5 d6");
  assert_dlq(sp, &(ct_dlq_filter_t){.tenant = "banco-x"}, "d3 d4");
  assert_dlq(sp, &(ct_dlq_filter_t){.channel = CT_CHANNEL_SMS}, "d2 d4");
  assert_dlq(sp, &(ct_dlq_filter_t){.channel = CT_CHANNEL_WHATSAPP}, "d1 d5");
  assert_dlq(sp, &(ct_dlq_filter_t){.provider = "whatsapp:tim-2"}, "d5");
  assert_dlq(sp, &(ct_dlq_filter_t){.since_ms = T0 + 3}, "d3 d4 d5 d6");
  assert_dlq(sp, &(ct_dlq_filter_t){.until_ms = T0 + 3}, "d1 d2");
  assert_dlq(sp, &(ct_dlq_filter_t){.since_ms = T0 + 2, .until_ms = T0 + 5}, "d2 d3 d4");
  assert_dlq(sp, &(ct_dlq_filter_t){.job_id = "d4"}, "d4");
  assert_dlq(sp, &(ct_dlq_filter_t){.job_id = "ok1"}, "");
  assert_dlq(sp, &(ct_dlq_filter_t){.job_id = "rd1"}, "");
  assert_dlq(sp, &(ct_dlq_filter_t){.limit = 2}, "d1 d2");
  assert_dlq(sp, &(ct_dlq_filter_t){.tenant = "tim", .reason = "deadline_exceeded", .limit = 1},
             "d2");
  assert_dlq(sp, &(ct_dlq_filter_t){.tenant = "tim", .channel = CT_CHANNEL_WHATSAPP,
                                    .reason = "permanent_failure", .since_ms = T0 + 2},
             "d5");
  assert_dlq(sp, &(ct_dlq_filter_t){.tenant = "nobody"}, "");

  /* Entry fields. */
  seen_t s = {.stop_after = 2};
  assert_int_equal(ct_spool_dlq_list(sp, NULL, collect, &s), 7);
  assert_int_equal(s.n, 2);
  ct_spool_close(sp);
}

typedef struct {
  ct_dlq_entry_t e;
  char reason[32], provider[32], tenant[16];
  ct_spool_t *sp;
  int reentry;
} entry_copy_t;

static int copy_entry(const ct_dlq_entry_t *e, void *arg) {
  entry_copy_t *c = arg;
  c->e = *e;
  snprintf(c->reason, sizeof c->reason, "%s", e->reason);
  snprintf(c->provider, sizeof c->provider, "%s", e->provider);
  snprintf(c->tenant, sizeof c->tenant, "%s", e->tenant);
  ct_spool_stats_t st;
  c->reentry = ct_spool_stats(c->sp, T0, &st);
  return 0;
}

static void test_dlq_entry_and_reentry(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  make_dead_letters(sp);
  entry_copy_t c = {.sp = sp};
  assert_int_equal(ct_spool_dlq_list(sp, &(ct_dlq_filter_t){.job_id = "d3"}, copy_entry, &c),
                   0);
  assert_string_equal(c.reason, "permanent_failure");
  assert_string_equal(c.provider, "email:banco-x");
  assert_string_equal(c.tenant, "banco-x");
  assert_int_equal(c.e.channel, CT_CHANNEL_EMAIL);
  assert_int_equal(c.e.dead_at_ms, T0 + 3);
  assert_int_equal(c.e.attempts, 1);
  assert_true(c.e.seq > 0);
  /* Calling back into the spool from a visitor is refused, not a deadlock. */
  assert_int_equal(c.reentry, CT_EINVAL);
  assert_int_equal(ct_spool_dlq_list(sp, &(ct_dlq_filter_t){.job_id = "d6"}, copy_entry, &c),
                   0);
  assert_string_equal(c.provider, "");
  assert_int_equal(c.e.channel, CT_CHANNEL_NONE);
  assert_int_equal(c.e.attempts, 0);

  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "d2", &info), 0);
  assert_int_equal(info.state, CT_STATE_DEAD);
  assert_string_equal(info.reason, "deadline_exceeded");
  assert_int_equal(info.updated_ms, T0 + 2);
  assert_int_equal(info.n_attempts, 1);
  ct_job_info_free(&info);
  ct_spool_close(sp);
}

/* Replays with `f` and checks the count, then that exactly `want` became READY. */
static void check_replay(fixture_t *fx, const ct_dlq_filter_t *f, size_t want_count,
                         const char *want_ready) {
  ct_spool_t *sp = open_spool(fx, true);
  make_dead_letters(sp);
  size_t count = 999;
  assert_int_equal(ct_spool_replay(sp, f, T0 + 50, &count), 0);
  assert_int_equal(count, want_count);
  /* What is due at T0+50 now is exactly the replayed jobs ("rd1" is due much later). */
  ct_lease_t l[16];
  size_t n = take(sp, T0 + 50, 16, l);
  char got[128] = "";
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    int w = snprintf(got + len, sizeof got - len, "%s%s", i ? " " : "", l[i].job->id);
    len += (size_t)w;
    assert_int_equal(l[i].attempts, 0);
    assert_int_equal(l[i].due_ms, T0 + 50);
  }
  free_leases(l, n);
  assert_string_equal(got, want_ready);
  ct_spool_stats_t s = stats(sp, T0 + 50);
  assert_int_equal(s.dead, 6 - want_count);
  assert_int_equal(s.delivered, 1);
  assert_int_equal(s.ready, want_count + 1);
  ct_spool_close(sp);
}

/* Each case on a fresh spool with the same dead letters. */
static void test_replay_filters(void **state) {
  (void)state;
  struct {
    ct_dlq_filter_t f;
    size_t count;
    const char *ready;
  } cases[] = {
      {{.reason = "permanent_failure"}, 3, "d1 d3 d5"},
      {{.tenant = "banco-x"}, 2, "d3 d4"},
      {{.channel = CT_CHANNEL_SMS}, 2, "d2 d4"},
      {{.provider = "whatsapp:tim-1"}, 1, "d1"},
      {{.since_ms = T0 + 5}, 2, "d5 d6"},
      {{.until_ms = T0 + 2}, 1, "d1"},
      {{.limit = 4}, 4, "d1 d2 d3 d4"},
      {{.reason = "permanent_failure", .limit = 2}, 2, "d1 d3"},
      {{.job_id = "d6"}, 1, "d6"},
      {{.job_id = "ok1"}, 0, ""},
      {{.tenant = "nobody"}, 0, ""},
      {{.limit = 0}, 6, "d1 d2 d3 d4 d5 d6"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    void *each = NULL;
    assert_int_equal(setup(&each), 0);
    check_replay(each, &cases[i].f, cases[i].count, cases[i].ready);
    teardown(&each);
  }
}

static void test_replay_keeps_history(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  make_dead_letters(sp);
  size_t count = 0;
  assert_int_equal(ct_spool_replay(sp, &(ct_dlq_filter_t){.job_id = "d1"}, T0 + 20, &count), 0);
  assert_int_equal(count, 1);
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "d1", &info), 0);
  assert_int_equal(info.state, CT_STATE_READY);
  assert_null(info.reason);
  assert_int_equal(info.due_ms, T0 + 20);
  assert_int_equal(info.n_attempts, 1);
  ct_job_info_free(&info);

  /* Dies again: the count restarts at one, the history has both attempts. */
  ct_lease_t l[1];
  assert_int_equal(take(sp, T0 + 20, 1, l), 1);
  assert_int_equal(l[0].attempts, 0);
  ct_attempt_t a = attempt_of(CT_CHANNEL_SMS, "sms:tim-1", PERMANENT, T0 + 21);
  settle1(sp, T0 + 21, dead_op(l[0].seq, "permanent_failure", &a), 0);
  ct_lease_free(&l[0]);
  entry_copy_t c = {.sp = NULL};
  ct_spool_close(sp);
  sp = open_spool(fx, false);
  c.sp = sp;
  assert_int_equal(ct_spool_dlq_list(sp, &(ct_dlq_filter_t){.job_id = "d1"}, copy_entry, &c),
                   0);
  assert_int_equal(c.e.attempts, 1);
  assert_int_equal(c.e.channel, CT_CHANNEL_SMS);
  assert_int_equal(c.e.dead_at_ms, T0 + 21);
  assert_int_equal(ct_spool_job_get(sp, "d1", &info), 0);
  assert_int_equal(info.n_attempts, 2);
  assert_int_equal(info.attempts[0]->channel, CT_CHANNEL_WHATSAPP);
  assert_int_equal(info.attempts[1]->channel, CT_CHANNEL_SMS);
  ct_job_info_free(&info);
  ct_spool_close(sp);
}

static void test_purge(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  make_dead_letters(sp);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM attempt"), 5);
  size_t count = 999;
  assert_int_equal(ct_spool_purge(sp, &(ct_dlq_filter_t){.reason = "permanent_failure",
                                                          .limit = 2},
                                  &count),
                   0);
  assert_int_equal(count, 2);
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "d1", &info), CT_ENOTFOUND);
  assert_int_equal(ct_spool_job_get(sp, "d3", &info), CT_ENOTFOUND);
  assert_int_equal(state_of(sp, "d5"), CT_STATE_DEAD);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM attempt"), 3);

  assert_int_equal(ct_spool_purge(sp, &(ct_dlq_filter_t){.tenant = "banco-x"}, &count), 0);
  assert_int_equal(count, 1);
  assert_int_equal(ct_spool_purge(sp, &(ct_dlq_filter_t){.job_id = "ok1"}, &count), 0);
  assert_int_equal(count, 0);
  assert_int_equal(ct_spool_purge(sp, NULL, &count), 0);
  assert_int_equal(count, 3);
  ct_spool_stats_t s = stats(sp, T0);
  assert_int_equal(s.dead, 0);
  assert_int_equal(s.n_dlq, 0);
  assert_int_equal(s.delivered, 1);
  assert_int_equal(s.ready, 1);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM attempt"), 0);
  /* A purged id is free again. */
  enqueue_one(sp, T0, "d1", "tim", 0, 0);
  ct_spool_close(sp);
}

/* ---- expiry and stats ---- */

static void test_expire(void **state) {
  fixture_t *fx = *state;
  ct_spool_options_t o = {.path = fx->path, .owner = true, .receipt_retention_ms = 1000};
  ct_spool_t *sp = NULL;
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  static const char *const ids[] = {"e1", "e2", "e3"};
  enqueue_ids(sp, T0, 3, ids, NULL);
  ct_lease_t l[3];
  assert_int_equal(take(sp, T0, 3, l), 3);
  ct_attempt_t a = attempt_of(CT_CHANNEL_SMS, "sms:tim-1", ACCEPTED, T0);
  ct_settle_t first[] = {{.seq = l[0].seq, .kind = CT_SETTLE_ACK, .attempt = &a},
                         {.seq = l[1].seq, .kind = CT_SETTLE_DEAD, .reason = "max_attempts"}};
  assert_int_equal(ct_spool_settle(sp, first, 2, T0 + 100), 0);
  settle1(sp, T0 + 600, (ct_settle_t){.seq = l[2].seq, .kind = CT_SETTLE_ACK, .attempt = &a}, 0);
  free_leases(l, 3);

  size_t count = 999;
  assert_int_equal(ct_spool_expire(sp, T0 + 1100, &count), 0); /* cutoff T0+100: not older */
  assert_int_equal(count, 0);
  assert_int_equal(ct_spool_expire(sp, T0 + 1101, &count), 0);
  assert_int_equal(count, 1);
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "e1", &info), CT_ENOTFOUND);
  assert_int_equal(state_of(sp, "e3"), CT_STATE_DELIVERED);
  assert_int_equal(state_of(sp, "e2"), CT_STATE_DEAD); /* dead letters never expire */
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM attempt"), 1);
  assert_int_equal(ct_spool_expire(sp, T0 + 100000, &count), 0);
  assert_int_equal(count, 1);
  ct_spool_stats_t s = stats(sp, T0);
  assert_int_equal(s.delivered, 0);
  assert_int_equal(s.dead, 1);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM attempt"), 0);
  ct_spool_close(sp);
}

static void test_stats(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  make_dead_letters(sp);
  enqueue_one(sp, T0, "due1", "tim", 0, T0 + 7);
  ct_lease_t l[1];
  assert_int_equal(take(sp, T0 + 7, 1, l), 1);
  ct_spool_stats_t s = stats(sp, T0 + 7);
  assert_int_equal(s.ready, 2);
  assert_int_equal(s.due, 1);
  assert_int_equal(s.inflight, 1);
  assert_int_equal(s.delivered, 1);
  assert_int_equal(s.dead, 6);
  assert_int_equal(s.oldest_due_ms, T0 + 7);
  assert_int_equal(s.n_dlq, 3);
  assert_string_equal(s.dlq[0].reason, "permanent_failure");
  assert_int_equal(s.dlq[0].count, 3);
  assert_string_equal(s.dlq[1].reason, "deadline_exceeded");
  assert_int_equal(s.dlq[1].count, 2);
  assert_string_equal(s.dlq[2].reason, "max_attempts");
  assert_int_equal(s.dlq[2].count, 1);
  struct stat sb;
  assert_int_equal(stat(fx->path, &sb), 0);
  assert_true(s.file_bytes >= (uint64_t)sb.st_size);
  ct_lease_free(&l[0]);
  /* A non-owner sees the same counts, and no leases of its own. */
  ct_spool_t *cli = open_spool(fx, false);
  ct_spool_stats_t c = stats(cli, T0 + 7);
  assert_int_equal(c.ready, 2);
  assert_int_equal(c.inflight, 0);
  assert_int_equal(c.dead, 6);
  assert_int_equal(state_of(cli, "due1"), CT_STATE_READY);
  ct_spool_close(cli);
  ct_spool_close(sp);
}

/* ---- owner lock and concurrent writers ---- */

static void test_owner_lock(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *owner = open_spool(fx, true);
  ct_spool_options_t o = {.path = fx->path, .owner = true};
  ct_spool_t *second = (ct_spool_t *)0x1;
  assert_int_equal(ct_spool_open(&second, &o), CT_EBUSY);
  assert_ptr_equal(second, (ct_spool_t *)0x1);

  /* The CLI works while the daemon owns the spool. */
  ct_spool_t *cli = open_spool(fx, false);
  enqueue_one(cli, T0, "from-cli", "tim", 0, 0);
  ct_lease_t l[2];
  size_t n = 99;
  assert_int_equal(ct_spool_take(cli, T0, 2, l, &n), CT_EPERM);
  assert_int_equal(n, 99);
  ct_settle_t op = ack_op(1);
  assert_int_equal(ct_spool_settle(cli, &op, 1, T0), CT_EPERM);

  assert_int_equal(take(owner, T0, 2, l), 1);
  assert_string_equal(l[0].job->id, "from-cli");
  settle1(owner, T0, dead_op(l[0].seq, "permanent_failure", NULL), 0);
  ct_lease_free(&l[0]);

  size_t count = 0;
  assert_int_equal(ct_spool_replay(cli, NULL, T0 + 5, &count), 0);
  assert_int_equal(count, 1);
  assert_int_equal(take(owner, T0 + 5, 2, l), 1); /* the owner's next take sees it */
  settle1(owner, T0 + 5, dead_op(l[0].seq, "permanent_failure", NULL), 0);
  ct_lease_free(&l[0]);
  assert_int_equal(ct_spool_purge(cli, NULL, &count), 0);
  assert_int_equal(count, 1);
  ct_spool_close(cli);

  ct_spool_close(owner);
  second = open_spool(fx, true); /* free again once the owner closed */
  ct_spool_close(second);
}

static void test_writer_busy_is_elocked(void **state) {
  fixture_t *fx = *state;
  ct_spool_options_t o = {.path = fx->path, .owner = true, .busy_timeout_ms = 50};
  ct_spool_t *sp = NULL;
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  enqueue_one(sp, T0, "held", "tim", 0, 0);
  ct_lease_t l[1];
  assert_int_equal(take(sp, T0, 1, l), 1);

  sqlite3 *other = raw_open(fx);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  ct_job_t *j = job_new("blocked", "tim", 0, 0);
  int result = 42;
  assert_int_equal(ct_spool_enqueue(sp, &j, 1, T0, &result), CT_ELOCKED);
  assert_int_equal(result, 42);
  /* A failed settle keeps its lease and result untouched. */
  ct_settle_t op = ack_op(l[0].seq);
  op.result = 42;
  assert_int_equal(ct_spool_settle(sp, &op, 1, T0), CT_ELOCKED);
  assert_int_equal(op.result, 42);
  assert_int_equal(state_of(sp, "held"), CT_STATE_INFLIGHT);
  assert_int_equal(stats(sp, T0).inflight, 1);
  /* Reading is never blocked by a writer. */
  assert_int_equal(stats(sp, T0).ready, 1);
  assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(other);

  assert_int_equal(ct_spool_enqueue(sp, &j, 1, T0, &result), 0);
  assert_int_equal(result, 0);
  ct_job_free(j);
  settle1(sp, T0, op, 0);
  assert_int_equal(state_of(sp, "held"), CT_STATE_DELIVERED);
  ct_lease_free(&l[0]);
  ct_spool_close(sp);
}

static void test_restart_forgets_leases(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  static const char *const ids[] = {"k1", "k2", "k3", "k4", "k5"};
  enqueue_ids(sp, T0, 5, ids, NULL);
  ct_lease_t l[8];
  assert_int_equal(take(sp, T0, 3, l), 3);
  settle1(sp, T0, ack_op(l[0].seq), 0);
  free_leases(l, 3);
  assert_int_equal(stats(sp, T0).inflight, 2);
  ct_spool_close(sp); /* k2, k3 in flight */

  sp = open_spool(fx, true);
  ct_spool_stats_t s = stats(sp, T0);
  assert_int_equal(s.inflight, 0);
  assert_int_equal(s.ready, 4);
  assert_int_equal(s.delivered, 1);
  assert_int_equal(state_of(sp, "k2"), CT_STATE_READY);
  assert_int_equal(take(sp, T0, 8, l), 4);
  assert_string_equal(l[0].job->id, "k2");
  assert_string_equal(l[1].job->id, "k3");
  assert_string_equal(l[2].job->id, "k4");
  assert_string_equal(l[3].job->id, "k5");
  free_leases(l, 4);
  ct_spool_close(sp);
}

/* ---- files, schema, errors ---- */

static void test_file_modes(void **state) {
  fixture_t *fx = *state;
  mode_t old = umask(0); /* the most permissive umask: modes must still be 0600 */
  ct_spool_t *sp = open_spool(fx, true);
  enqueue_one(sp, T0, "m1", "tim", 0, 0);
  umask(old);
  static const char *const suffixes[] = {"", "-wal", "-shm", ".lock"};
  for (size_t i = 0; i < 4; i++) {
    char p[160];
    snprintf(p, sizeof p, "%s%s", fx->path, suffixes[i]);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    print_message("%s: %o\n", suffixes[i][0] ? suffixes[i] : "spool", sb.st_mode & 07777);
    assert_int_equal(sb.st_mode & 07777, 0600);
  }
  ct_spool_close(sp);
}

static void test_migrate_empty_file(void **state) {
  fixture_t *fx = *state;
  int fd = open(fx->path, O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  close(fd);
  ct_spool_t *sp = open_spool(fx, false);
  /* version 2: jobs and attempts (1), webhook events and inbound messages (2) */
  assert_int_equal(raw_int(fx, "PRAGMA user_version"), 2);
  assert_int_equal(raw_int(fx, "PRAGMA application_id"), 0x63747370);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"), 4);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                               " AND name LIKE 'job_%'"),
                   3);
  enqueue_one(sp, T0, "after-migration", "tim", 0, 0);
  ct_spool_close(sp);
  /* Reopening does not migrate again. */
  sp = open_spool(fx, true);
  assert_int_equal(stats(sp, T0).ready, 1);
  ct_spool_close(sp);
  assert_int_equal(raw_int(fx, "PRAGMA user_version"), 2);
  sqlite3 *db = raw_open(fx);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void test_newer_schema(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, false);
  enqueue_one(sp, T0, "v1-job", "tim", 0, 0);
  ct_spool_close(sp);
  raw_exec(fx, "PRAGMA user_version = 99");
  ct_spool_options_t o = {.path = fx->path, .owner = true};
  sp = (ct_spool_t *)0x1;
  assert_int_equal(ct_spool_open(&sp, &o), CT_ESCHEMA);
  assert_ptr_equal(sp, (ct_spool_t *)0x1);
  o.owner = false;
  o.readonly = true;
  assert_int_equal(ct_spool_open(&sp, &o), CT_ESCHEMA);
  /* Nothing was changed by the refused opens. */
  assert_int_equal(raw_int(fx, "PRAGMA user_version"), 99);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM job"), 1);
}

static void test_garbage_file(void **state) {
  fixture_t *fx = *state;
  FILE *f = fopen(fx->path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 8192; i++)
    fputc((i * 131 + 7) & 0xff, f);
  fclose(f);
  ct_spool_options_t o = {.path = fx->path, .owner = true};
  ct_spool_t *sp = NULL;
  assert_int_equal(ct_spool_open(&sp, &o), CT_ECORRUPT);
  assert_null(sp);
  o.owner = false;
  o.readonly = true;
  assert_int_equal(ct_spool_open(&sp, &o), CT_ECORRUPT);

  /* A short text file, and another program's SQLite database, are not spools either. */
  f = fopen(fx->path, "wb");
  assert_non_null(f);
  fputs("invoice,amount\n1,100\n", f);
  fclose(f);
  o.readonly = false;
  assert_int_equal(ct_spool_open(&sp, &o), CT_ECORRUPT);
  unlink(fx->path);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE customers (name TEXT)", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(ct_spool_open(&sp, &o), CT_ECORRUPT);
  assert_null(sp);
}

static void test_open_errors(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = NULL;
  ct_spool_options_t o = {.path = fx->path, .readonly = true};
  assert_int_equal(ct_spool_open(&sp, &o), CT_ENOENT);
  struct stat sb;
  assert_int_equal(stat(fx->path, &sb), -1); /* a readonly open creates nothing */
  o.owner = true;
  assert_int_equal(ct_spool_open(&sp, &o), CT_EINVAL);
  o = (ct_spool_options_t){.path = "redis://localhost:6379/carteiro"};
  assert_int_equal(ct_spool_open(&sp, &o), CT_EINVAL);
  /* A JetStream location with no server behind it; and one with a bad setting. */
  o = (ct_spool_options_t){.path = "nats://127.0.0.1:1"};
  assert_int_equal(ct_spool_open(&sp, &o), CT_ENOENT);
  o = (ct_spool_options_t){.path = "nats://127.0.0.1:1?replicas=9"};
  assert_int_equal(ct_spool_open(&sp, &o), CT_EINVAL);
  o = (ct_spool_options_t){.path = "/nonexistent-dir-ct/x.spool"};
  assert_int_equal(ct_spool_open(&sp, &o), CT_ENOENT);
  assert_null(sp);
}

static void test_readonly(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  make_dead_letters(sp);
  ct_spool_close(sp);

  ct_spool_options_t o = {.path = fx->path, .readonly = true};
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  assert_int_equal(state_of(sp, "d1"), CT_STATE_DEAD);
  assert_dlq(sp, &(ct_dlq_filter_t){.tenant = "banco-x"}, "d3 d4");
  assert_int_equal(stats(sp, T0).dead, 6);
  ct_job_t *j = job_new("ro", "tim", 0, 0);
  int result = 42;
  size_t count = 42;
  assert_int_equal(ct_spool_enqueue(sp, &j, 1, T0, &result), CT_EPERM);
  assert_int_equal(result, 42);
  ct_job_free(j);
  assert_int_equal(ct_spool_replay(sp, NULL, T0, &count), CT_EPERM);
  assert_int_equal(ct_spool_purge(sp, NULL, &count), CT_EPERM);
  assert_int_equal(ct_spool_expire(sp, T0, &count), CT_EPERM);
  assert_int_equal(count, 42);
  ct_spool_close(sp);
}

static void ignore_signal(int sig) { (void)sig; }

/* A real kernel refusal: RLIMIT_FSIZE makes the WAL write past the limit fail (EFBIG; SQLite
 * reports it as an I/O error, a plain ENOSPC as SQLITE_FULL). The batch must vanish whole and
 * the spool must stay usable with every earlier job intact. */
static void test_file_size_limit(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  static const char *const ids[] = {"f1", "f2", "f3"};
  enqueue_ids(sp, T0, 3, ids, NULL);

  enum { N = 500 };
  ct_job_t *jobs[N];
  int results[N];
  char pad[2048];
  memset(pad, 'x', sizeof pad - 1);
  pad[sizeof pad - 1] = '\0';
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "big-%03d", i);
    jobs[i] = job_new(id, "tim", 0, 0);
    ct_recipient_t *r = malloc(sizeof *r);
    assert_non_null(r);
    carteiro__v1__recipient__init(r);
    r->name = xstrdup(pad);
    jobs[i]->recipient = r;
    results[i] = 42;
  }

  struct sigaction sa = {.sa_handler = ignore_signal}, old_sa;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGXFSZ, &sa, &old_sa);
  struct rlimit old_rl, rl;
  getrlimit(RLIMIT_FSIZE, &old_rl);
  struct stat db, wal;
  assert_int_equal(stat(fx->path, &db), 0);
  char wal_path[160];
  snprintf(wal_path, sizeof wal_path, "%s-wal", fx->path);
  assert_int_equal(stat(wal_path, &wal), 0);
  rl = old_rl;
  rl.rlim_cur = (rlim_t)(db.st_size > wal.st_size ? db.st_size : wal.st_size) + 64 * 1024;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);

  int rc = ct_spool_enqueue(sp, jobs, N, T0, results);

  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_rl), 0);
  sigaction(SIGXFSZ, &old_sa, NULL);
  print_message("enqueue past the size limit: %s\n", ct_errname(rc));
  assert_true(rc == CT_ENOSPC || rc == CT_EIO);
  for (int i = 0; i < N; i++)
    assert_int_equal(results[i], 42);
  assert_int_equal(stats(sp, T0).ready, 3);
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "big-000", &info), CT_ENOTFOUND);

  /* Space is back: the same batch goes in, and nothing older was lost. */
  assert_int_equal(ct_spool_enqueue(sp, jobs, N, T0, results), 0);
  for (int i = 0; i < N; i++) {
    assert_int_equal(results[i], 0);
    ct_job_free(jobs[i]);
  }
  assert_int_equal(stats(sp, T0).ready, 3 + N);
  assert_int_equal(state_of(sp, "f2"), CT_STATE_READY);
  ct_spool_close(sp);
  assert_integrity_ok(fx);
}

/* Exact error mapping, with the failure injected under SQLite (fault_vfs.c): a full disk is
 * CT_ENOSPC, a failing write or fsync CT_EIO. Each failed call leaves results, leases and the
 * stored jobs as they were. */
static void test_write_faults(void **state) {
  fixture_t *fx = *state;
  assert_int_equal(fault_vfs_install(), SQLITE_OK);
  ct_spool_t *sp = open_spool(fx, true);
  static const char *const ids[] = {"w1", "w2"};
  enqueue_ids(sp, T0, 2, ids, NULL);
  ct_lease_t l[1];
  assert_int_equal(take(sp, T0, 1, l), 1);

  static const struct {
    int write_rc, sync_rc, want;
  } cases[] = {
      {SQLITE_FULL, SQLITE_OK, CT_ENOSPC},
      {SQLITE_IOERR_WRITE, SQLITE_OK, CT_EIO},
      {SQLITE_OK, SQLITE_IOERR_FSYNC, CT_EIO},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char id[16];
    snprintf(id, sizeof id, "new-%zu", i);
    ct_job_t *j = job_new(id, "tim", 0, 0);
    int result = 42;
    fault_vfs_arm(cases[i].write_rc, cases[i].sync_rc);
    assert_int_equal(ct_spool_enqueue(sp, &j, 1, T0, &result), cases[i].want);
    ct_settle_t op = ack_op(l[0].seq);
    op.result = 42;
    assert_int_equal(ct_spool_settle(sp, &op, 1, T0), cases[i].want);
    assert_true(fault_vfs_refused() >= 2);
    fault_vfs_arm(SQLITE_OK, SQLITE_OK);
    assert_int_equal(result, 42);
    assert_int_equal(op.result, 42);
    ct_job_info_t info;
    assert_int_equal(ct_spool_job_get(sp, id, &info), CT_ENOTFOUND);
    assert_int_equal(state_of(sp, "w1"), CT_STATE_INFLIGHT);
    ct_spool_stats_t s = stats(sp, T0);
    assert_int_equal(s.ready, 2);
    assert_int_equal(s.inflight, 1);
    assert_int_equal(s.delivered, 0);
    ct_job_free(j);
  }
  settle1(sp, T0, ack_op(l[0].seq), 0);
  ct_lease_free(&l[0]);
  enqueue_one(sp, T0, "after-faults", "tim", 0, 0);
  assert_int_equal(stats(sp, T0).ready, 2);
  assert_int_equal(state_of(sp, "w1"), CT_STATE_DELIVERED);
  ct_spool_close(sp);
  assert_integrity_ok(fx);
}

static void test_job_get_missing(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, false);
  ct_job_info_t info = {.seq = 42};
  assert_int_equal(ct_spool_job_get(sp, "nope", &info), CT_ENOTFOUND);
  assert_int_equal(info.seq, 42);
  ct_job_info_free(NULL);
  ct_lease_free(NULL);
  ct_spool_close(NULL);
  assert_string_equal(ct_job_state_name(CT_STATE_INFLIGHT), "inflight");
  assert_string_equal(ct_job_state_name(CT_STATE_DEAD), "dead");
  ct_spool_close(sp);
}

static void test_undecodable_job_goes_to_dlq(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  static const char *const ids[] = {"u1", "u2", "u3"};
  enqueue_ids(sp, T0, 3, ids, NULL);
  /* Damage one stored job the way a bad page or a hand edit would. */
  raw_exec(fx, "UPDATE job SET body = x'ffffffff' WHERE id = 'u2'");
  ct_lease_t l[8];
  size_t n = take(sp, T0, 8, l);
  assert_int_equal(n, 2);
  assert_string_equal(l[0].job->id, "u1");
  assert_string_equal(l[1].job->id, "u3");
  free_leases(l, n);
  ct_spool_stats_t st = stats(sp, T0);
  assert_int_equal(st.dead, 1);
  assert_int_equal(st.n_dlq, 1);
  assert_string_equal(st.dlq[0].reason, "undecodable");
  assert_int_equal(raw_int(fx, "SELECT state FROM job WHERE id = 'u2'"), 3);
  /* The next take is not blocked by it. */
  assert_int_equal(take(sp, T0, 8, l), 0);
  ct_spool_close(sp);
  assert_integrity_ok(fx);
}

static void test_only_failures_count(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  enqueue_one(sp, T0, "c1", "tim", 0, 0);
  /* An accepted part, a skipped request, then a failure: three in the history, one try. */
  const int outcomes[] = {ACCEPTED, CARTEIRO__V1__OUTCOME__OUTCOME_SKIPPED, TRANSIENT};
  for (size_t i = 0; i < 3; i++) {
    ct_lease_t l[1];
    assert_int_equal(take(sp, T0 + (int64_t)i, 1, l), 1);
    ct_attempt_t a = attempt_of(CT_CHANNEL_WHATSAPP, "wa", outcomes[i], T0 + (int64_t)i);
    settle1(sp, T0 + (int64_t)i,
            (ct_settle_t){.seq = l[0].seq, .kind = CT_SETTLE_RETRY, .attempt = &a,
                          .due_ms = T0 + (int64_t)i + 1},
            0);
    ct_lease_free(&l[0]);
  }
  ct_lease_t l[1];
  assert_int_equal(take(sp, T0 + 10, 1, l), 1);
  assert_int_equal(l[0].attempts, 1);
  ct_lease_free(&l[0]);
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "c1", &info), 0);
  assert_int_equal(info.n_attempts, 3);
  assert_int_equal(info.attempts[0]->outcome, ACCEPTED);
  assert_int_equal(info.attempts[2]->outcome, TRANSIENT);
  ct_job_info_free(&info);
  ct_spool_close(sp);
}

static void test_dead_keeps_receipt_and_replay_forgets_failed_channels(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  enqueue_one(sp, T0, "r1", "banco", 0, 0);
  ct_lease_t l[1];
  assert_int_equal(take(sp, T0, 1, l), 1);
  /* The SMS went out, the e-mail bounced for good: dead, with both facts in the receipt. */
  ct_receipt_part_t part = CARTEIRO__V1__RECEIPT_PART__INIT;
  part.channel = CARTEIRO__V1__CHANNEL__CHANNEL_SMS;
  part.provider = "sms";
  part.message_id = "SM1";
  part.at_ms = T0;
  ct_receipt_part_t *parts[] = {&part};
  Carteiro__V1__Channel failed[] = {CARTEIRO__V1__CHANNEL__CHANNEL_EMAIL};
  ct_receipt_t r = CARTEIRO__V1__RECEIPT__INIT;
  r.job_id = "r1";
  r.n_parts = 1;
  r.parts = parts;
  r.n_failed_channels = 1;
  r.failed_channels = failed;
  ct_attempt_t a = attempt_of(CT_CHANNEL_EMAIL, "email", PERMANENT, T0);
  settle1(sp, T0,
          (ct_settle_t){.seq = l[0].seq, .kind = CT_SETTLE_DEAD, .attempt = &a, .receipt = &r,
                        .reason = "permanent_failure"},
          0);
  ct_lease_free(&l[0]);
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "r1", &info), 0);
  assert_int_equal(info.state, CT_STATE_DEAD);
  assert_non_null(info.receipt);
  assert_int_equal(info.receipt->n_parts, 1);
  assert_string_equal(info.receipt->parts[0]->message_id, "SM1");
  assert_int_equal(info.receipt->n_failed_channels, 1);
  ct_job_info_free(&info);

  size_t count = 0;
  assert_int_equal(ct_spool_replay(sp, &(ct_dlq_filter_t){0}, T0 + 5, &count), 0);
  assert_int_equal(count, 1);
  assert_int_equal(take(sp, T0 + 5, 1, l), 1);
  assert_non_null(l[0].progress);
  assert_int_equal(l[0].progress->n_parts, 1);          /* not sent twice */
  assert_int_equal(l[0].progress->n_failed_channels, 0); /* tried again */
  assert_int_equal(l[0].attempts, 0);
  ct_lease_free(&l[0]);
  ct_spool_close(sp);
}

/* ---- dead letters in full: read, replay by id, import ---- */

typedef struct {
  char line[8][96];
  size_t n;
  int stop_after; /* return 9 from the visit after this many; 0 = never */
} read_seen_t;

/* One line per dead letter: "id job=<id|-> progress=<parts|-> attempts=<n> [provider]". */
static int collect_read(const ct_dlq_record_t *r, void *arg) {
  read_seen_t *s = arg;
  if (s->n < 8) {
    char progress[16] = "-";
    if (r->progress != NULL)
      snprintf(progress, sizeof progress, "%zu", r->progress->n_parts);
    snprintf(s->line[s->n], sizeof s->line[0], "%s job=%s progress=%s attempts=%zu%s%s",
             r->entry.job_id, r->job != NULL ? r->job->id : "-", progress, r->n_attempts,
             r->n_attempts > 0 ? " " : "",
             r->n_attempts > 0 ? r->attempts[r->n_attempts - 1]->provider : "");
  }
  s->n++;
  return s->stop_after != 0 && (int)s->n >= s->stop_after ? 9 : 0;
}

static void test_dlq_read(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  make_dead_letters(sp);

  read_seen_t s = {.n = 0};
  assert_int_equal(ct_spool_dlq_read(sp, &(ct_dlq_filter_t){.tenant = "tim"}, true,
                                     collect_read, &s),
                   0);
  assert_int_equal(s.n, 4);
  assert_string_equal(s.line[0], "d1 job=d1 progress=- attempts=1 whatsapp:tim-1");
  assert_string_equal(s.line[1], "d2 job=d2 progress=- attempts=1 sms:tim-1");
  assert_string_equal(s.line[2], "d5 job=d5 progress=- attempts=1 whatsapp:tim-2");
  assert_string_equal(s.line[3], "d6 job=d6 progress=- attempts=0");

  /* Without history: no attempts even where there are some. */
  s = (read_seen_t){.n = 0};
  assert_int_equal(ct_spool_dlq_read(sp, &(ct_dlq_filter_t){.job_id = "d3"}, false,
                                     collect_read, &s),
                   0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.line[0], "d3 job=d3 progress=- attempts=0");

  /* The visitor's non-zero return stops the walk and comes back. */
  s = (read_seen_t){.n = 0, .stop_after = 2};
  assert_int_equal(ct_spool_dlq_read(sp, NULL, true, collect_read, &s), 9);
  assert_int_equal(s.n, 2);

  /* A job that no longer decodes is still read, without its job. */
  raw_exec(fx, "UPDATE job SET body = x'ffffffff' WHERE id = 'd4'");
  s = (read_seen_t){.n = 0};
  assert_int_equal(ct_spool_dlq_read(sp, &(ct_dlq_filter_t){.job_id = "d4"}, true,
                                     collect_read, &s),
                   0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.line[0], "d4 job=- progress=- attempts=1 sms:banco-x");

  /* A receipt that does not decode is corruption, not something to skip. */
  raw_exec(fx, "UPDATE job SET receipt = x'ffffffff' WHERE id = 'd5'");
  s = (read_seen_t){.n = 0};
  assert_int_equal(ct_spool_dlq_read(sp, &(ct_dlq_filter_t){.job_id = "d5"}, false,
                                     collect_read, &s),
                   CT_ECORRUPT);
  assert_int_equal(s.n, 0);
  assert_int_equal(ct_spool_dlq_read(sp, NULL, false, NULL, &s), CT_EINVAL);
  ct_spool_close(sp);
}

static void test_replay_ids(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  make_dead_letters(sp);

  /* d2 twice, a delivered job, a ready one and an unknown id: only d2 and d4 move. */
  const char *ids[] = {"d2", "ok1", "rd1", "nope", "d4", "d2"};
  size_t count = 99;
  assert_int_equal(ct_spool_replay_ids(sp, ids, 6, T0 + 20, &count), 0);
  assert_int_equal(count, 2);
  assert_int_equal(state_of(sp, "d2"), CT_STATE_READY);
  assert_int_equal(state_of(sp, "d4"), CT_STATE_READY);
  assert_int_equal(state_of(sp, "ok1"), CT_STATE_DELIVERED);
  assert_dlq(sp, NULL, "d1 d3 d5 d6");

  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "d4", &info), 0);
  assert_int_equal(info.due_ms, T0 + 20);
  assert_null(info.reason);
  assert_int_equal(info.n_attempts, 1); /* history kept */
  ct_job_info_free(&info);

  /* Taken again with the attempt count reset. */
  ct_lease_t l[4];
  size_t n = take(sp, T0 + 20, 4, l);
  assert_int_equal(n, 2);
  assert_string_equal(l[0].job->id, "d2");
  assert_string_equal(l[1].job->id, "d4");
  assert_int_equal(l[0].attempts, 0);
  assert_int_equal(l[1].attempts, 0);
  free_leases(l, n);

  count = 99;
  assert_int_equal(ct_spool_replay_ids(sp, ids, 0, T0, &count), 0);
  assert_int_equal(count, 0);
  const char *bad[] = {"d1", NULL};
  count = 99;
  assert_int_equal(ct_spool_replay_ids(sp, bad, 2, T0, &count), CT_EINVAL);
  assert_int_equal(count, 99);
  assert_int_equal(state_of(sp, "d1"), CT_STATE_DEAD);
  ct_spool_close(sp);

  ct_spool_options_t o = {.path = fx->path, .readonly = true};
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  assert_int_equal(ct_spool_replay_ids(sp, ids, 1, T0, &count), CT_EPERM);
  assert_int_equal(count, 99);
  ct_spool_close(sp);
}

/* Replay by id forgets the failed channels and keeps the accepted parts, as replay does. */
static void test_replay_ids_keeps_parts(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  enqueue_one(sp, T0, "r1", "tim", 0, 0);
  ct_lease_t l[1];
  assert_int_equal(take(sp, T0 + 1, 1, l), 1);
  ct_receipt_part_t part = CARTEIRO__V1__RECEIPT_PART__INIT;
  part.channel = CARTEIRO__V1__CHANNEL__CHANNEL_SMS;
  part.message_id = "SM1";
  ct_receipt_part_t *parts[] = {&part};
  Carteiro__V1__Channel failed[] = {CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP};
  ct_receipt_t r = CARTEIRO__V1__RECEIPT__INIT;
  r.job_id = "r1";
  r.n_parts = 1;
  r.parts = parts;
  r.n_failed_channels = 1;
  r.failed_channels = failed;
  ct_attempt_t a = attempt_of(CT_CHANNEL_WHATSAPP, "whatsapp:tim-1", PERMANENT, T0 + 1);
  ct_settle_t op = dead_op(l[0].seq, "permanent_failure", &a);
  op.receipt = &r;
  settle1(sp, T0 + 1, op, 0);
  ct_lease_free(&l[0]);

  read_seen_t s = {.n = 0};
  assert_int_equal(ct_spool_dlq_read(sp, NULL, true, collect_read, &s), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.line[0], "r1 job=r1 progress=1 attempts=1 whatsapp:tim-1");

  const char *ids[] = {"r1"};
  size_t count = 0;
  assert_int_equal(ct_spool_replay_ids(sp, ids, 1, T0 + 5, &count), 0);
  assert_int_equal(count, 1);
  assert_int_equal(take(sp, T0 + 5, 1, l), 1);
  assert_non_null(l[0].progress);
  assert_int_equal(l[0].progress->n_parts, 1);
  assert_string_equal(l[0].progress->parts[0]->message_id, "SM1");
  assert_int_equal(l[0].progress->n_failed_channels, 0);
  ct_lease_free(&l[0]);
  ct_spool_close(sp);
}

/* A DeadLetter built from synthetic parts; the attempts point into `a`. */
static ct_dead_letter_t dead_letter_of(ct_job_t *job, ct_attempt_t **a, size_t n,
                                       const char *reason, int64_t dead_at) {
  ct_dead_letter_t dl = CARTEIRO__V1__DEAD_LETTER__INIT;
  dl.job = job;
  dl.attempts = a;
  dl.n_attempts = n;
  dl.reason = (char *)reason;
  dl.dead_at_ms = dead_at;
  return dl;
}

typedef struct {
  char line[8][128];
  size_t n;
} entries_t;

static int collect_entry(const ct_dlq_entry_t *e, void *arg) {
  entries_t *s = arg;
  if (s->n < 8)
    snprintf(s->line[s->n], sizeof s->line[0], "%s %s %s %s %s %u %lld", e->job_id, e->tenant,
             e->reason, ct_channel_name(e->channel) ? ct_channel_name(e->channel) : "-",
             e->provider[0] ? e->provider : "-", e->attempts,
             (long long)(e->dead_at_ms - T0));
  s->n++;
  return 0;
}

static void test_dlq_import(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, false);
  enqueue_one(sp, T0, "here", "tim", 0, 0);

  ct_attempt_t a1 = attempt_of(CT_CHANNEL_WHATSAPP, "whatsapp:tim-1", TRANSIENT, T0 - 30);
  ct_attempt_t a2 = attempt_of(CT_CHANNEL_SMS, "sms:tim-1", PERMANENT, T0 - 20);
  ct_attempt_t a3 = attempt_of(CT_CHANNEL_EMAIL, "email:tim", ACCEPTED, T0 - 10);
  ct_attempt_t *hist[] = {&a1, &a2, &a3};
  ct_job_t *j1 = job_new("imp1", "tim", 5, 0);
  ct_job_t *j2 = job_new("imp2", "banco-x", 0, 0);
  ct_job_t *j3 = job_new("here", "tim", 0, 0);
  ct_job_t *j4 = job_new("imp1", "tim", 0, 0);
  ct_dead_letter_t dl[4] = {
      dead_letter_of(j1, hist, 3, "permanent_failure", T0 - 5),
      dead_letter_of(j2, NULL, 0, "", 0),
      dead_letter_of(j3, NULL, 0, "max_attempts", T0 - 1),
      dead_letter_of(j4, NULL, 0, "max_attempts", T0 - 1),
  };
  const ct_dead_letter_t *dls[] = {&dl[0], &dl[1], &dl[2], &dl[3]};
  int results[4] = {99, 99, 99, 99};
  assert_int_equal(ct_spool_dlq_import(sp, dls, 4, T0, results), 0);
  assert_int_equal(results[0], 0);
  assert_int_equal(results[1], 0);
  assert_int_equal(results[2], CT_EDUPLICATE); /* enqueued before, READY */
  assert_int_equal(results[3], CT_EDUPLICATE); /* earlier in the batch */

  entries_t e = {.n = 0};
  assert_int_equal(ct_spool_dlq_list(sp, NULL, collect_entry, &e), 0);
  assert_int_equal(e.n, 2);
  /* attempts = the two failures; channel and provider of the last failure, not the accepted
   * part after it. */
  assert_string_equal(e.line[0], "imp1 tim permanent_failure sms sms:tim-1 2 -5");
  assert_string_equal(e.line[1], "imp2 banco-x unspecified - - 0 0");
  assert_int_equal(state_of(sp, "here"), CT_STATE_READY);

  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "imp1", &info), 0);
  assert_int_equal(info.state, CT_STATE_DEAD);
  assert_string_equal(info.reason, "permanent_failure");
  assert_int_equal(info.job->priority, 5);
  assert_null(info.receipt);
  assert_int_equal(info.n_attempts, 3);
  assert_string_equal(info.attempts[0]->provider, "whatsapp:tim-1");
  assert_int_equal(info.attempts[2]->outcome, ACCEPTED);
  assert_int_equal(info.updated_ms, T0 - 5);
  ct_job_info_free(&info);

  /* Idempotent: a second import stores nothing. */
  for (size_t i = 0; i < 4; i++)
    results[i] = 99;
  assert_int_equal(ct_spool_dlq_import(sp, dls, 2, T0 + 1, results), 0);
  assert_int_equal(results[0], CT_EDUPLICATE);
  assert_int_equal(results[1], CT_EDUPLICATE);
  assert_int_equal(stats(sp, T0).dead, 2);

  /* Imported dead letters replay and purge like any other. */
  size_t count = 0;
  assert_int_equal(ct_spool_replay(sp, &(ct_dlq_filter_t){.job_id = "imp1"}, T0 + 2, &count),
                   0);
  assert_int_equal(count, 1);
  assert_int_equal(ct_spool_purge(sp, NULL, &count), 0);
  assert_int_equal(count, 1);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM attempt WHERE seq NOT IN"
                               " (SELECT seq FROM job)"),
                   0);

  /* Contract errors leave results alone. */
  ct_dead_letter_t nojob = dead_letter_of(NULL, NULL, 0, "x", 0);
  const ct_dead_letter_t *bad[] = {&dl[1], &nojob};
  results[0] = results[1] = 77;
  assert_int_equal(ct_spool_dlq_import(sp, bad, 2, T0, results), CT_EINVAL);
  assert_int_equal(results[0], 77);
  assert_int_equal(results[1], 77);
  assert_integrity_ok(fx);
  ct_spool_close(sp);

  ct_spool_options_t o = {.path = fx->path, .readonly = true};
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  assert_int_equal(ct_spool_dlq_import(sp, dls, 1, T0, results), CT_EPERM);
  assert_int_equal(results[0], 77);
  ct_spool_close(sp);
  ct_job_free(j1);
  ct_job_free(j2);
  ct_job_free(j3);
  ct_job_free(j4);
}

static void test_settle_records_earlier_attempts(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_spool(fx, true);
  enqueue_one(sp, T0, "e1", "tim", 0, 0);
  ct_lease_t l[1];
  assert_int_equal(take(sp, T0, 1, l), 1);
  /* Two parts accepted, then the third failed: all three in order, one try counted. */
  ct_attempt_t a0 = attempt_of(CT_CHANNEL_WHATSAPP, "wa", ACCEPTED, T0 + 1);
  ct_attempt_t a1 = attempt_of(CT_CHANNEL_WHATSAPP, "wa", ACCEPTED, T0 + 2);
  ct_attempt_t a2 = attempt_of(CT_CHANNEL_WHATSAPP, "wa", TRANSIENT, T0 + 3);
  const ct_attempt_t *earlier[] = {&a0, &a1};
  settle1(sp, T0 + 3,
          (ct_settle_t){.seq = l[0].seq, .kind = CT_SETTLE_RETRY, .attempt = &a2,
                        .earlier = earlier, .n_earlier = 2, .due_ms = T0 + 4},
          0);
  ct_lease_free(&l[0]);
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, "e1", &info), 0);
  assert_int_equal(info.n_attempts, 3);
  assert_int_equal(info.attempts[0]->at_ms, T0 + 1);
  assert_int_equal(info.attempts[1]->at_ms, T0 + 2);
  assert_int_equal(info.attempts[2]->at_ms, T0 + 3);
  assert_int_equal(info.attempts[2]->outcome, TRANSIENT);
  ct_job_info_free(&info);
  assert_int_equal(take(sp, T0 + 10, 1, l), 1);
  assert_int_equal(l[0].attempts, 1);
  ct_lease_free(&l[0]);
  ct_spool_close(sp);
  assert_integrity_ok(fx);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_enqueue_take_ack),
      T(test_duplicates),
      T(test_enqueue_invalid),
      T(test_take_order),
      T(test_not_due_not_taken),
      T(test_leased_not_taken_twice),
      T(test_settle_unleased),
      T(test_retry),
      T(test_release),
      T(test_dlq_list_filters),
      T(test_dlq_entry_and_reentry),
      T(test_replay_filters),
      T(test_replay_keeps_history),
      T(test_purge),
      T(test_expire),
      T(test_stats),
      T(test_owner_lock),
      T(test_writer_busy_is_elocked),
      T(test_restart_forgets_leases),
      T(test_file_modes),
      T(test_migrate_empty_file),
      T(test_newer_schema),
      T(test_garbage_file),
      T(test_open_errors),
      T(test_readonly),
      T(test_file_size_limit),
      T(test_write_faults),
      T(test_job_get_missing),
      T(test_undecodable_job_goes_to_dlq),
      T(test_settle_records_earlier_attempts),
      T(test_only_failures_count),
      T(test_dead_keeps_receipt_and_replay_forgets_failed_channels),
      T(test_dlq_read),
      T(test_replay_ids),
      T(test_replay_ids_keeps_parts),
      T(test_dlq_import),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
