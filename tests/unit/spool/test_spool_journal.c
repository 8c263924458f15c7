/* Unit tests of the SQLite spool's outcome journal (src/spool/sqlite/journal.c and "WHEN A
 * COMMIT FAILS" in sqlite.c): outcomes that cannot be committed are kept, their jobs are not
 * taken again, nothing new is taken, and the outcomes reach the spool exactly once, whether
 * the space comes back in the same run or at the next open, after a torn record or a torn
 * header, or with the spool file replaced behind the journal's back.
 *
 * The full disk is injected under SQLite (fault_vfs.c: every write fails with SQLITE_FULL);
 * the journal does its own I/O and is not affected, as on a real disk where its room was
 * allocated beforehand (tests/integration/spool_diskfull.sh does it on a real full tmpfs).
 */
#include "fault_vfs.h"

#include "common/error.h"
#include "job/job.h"
#include "spool/spool.h"

#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define T0 INT64_C(1800000000000)
#define ACCEPTED CARTEIRO__V1__OUTCOME__OUTCOME_ACCEPTED
#define TRANSIENT CARTEIRO__V1__OUTCOME__OUTCOME_TRANSIENT
#define PERMANENT CARTEIRO__V1__OUTCOME__OUTCOME_PERMANENT
/* The journal file's layout (journal.h). */
#define DATA_START 4096
#define REC_HEAD 32

typedef struct {
  char dir[64];
  char path[128];
  char journal[160];
} fixture_t;

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof *fx);
  if (fx == NULL)
    return -1;
  snprintf(fx->dir, sizeof fx->dir, "/tmp/ct-test-journal-XXXXXX");
  if (mkdtemp(fx->dir) == NULL) {
    free(fx);
    return -1;
  }
  snprintf(fx->path, sizeof fx->path, "%s/test.spool", fx->dir);
  snprintf(fx->journal, sizeof fx->journal, "%s.outcomes", fx->path);
  if (fault_vfs_install() != SQLITE_OK)
    return -1;
  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  static const char *const suffixes[] = {"", "-wal", "-shm", ".lock", ".outcomes",
                                         ".outcomes.copy"};
  char p[192];
  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    snprintf(p, sizeof p, "%s%s", fx->path, suffixes[i]);
    unlink(p);
  }
  rmdir(fx->dir);
  free(fx);
  return 0;
}

/* Helpers */

static ct_spool_t *open_owner(const fixture_t *fx, size_t outcomes) {
  ct_spool_options_t o = {.path = fx->path, .owner = true, .outcome_journal = outcomes};
  ct_spool_t *sp = NULL;
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  return sp;
}

static void enqueue(ct_spool_t *sp, const char *id) {
  ct_job_t *j = malloc(sizeof *j);
  assert_non_null(j);
  carteiro__v1__job__init(j);
  j->id = strdup(id);
  j->tenant = strdup("tim");
  assert_non_null(j->id);
  assert_non_null(j->tenant);
  int result = -1;
  assert_int_equal(ct_spool_enqueue(sp, &j, 1, T0, &result), 0);
  assert_int_equal(result, 0);
  ct_job_free(j);
}

/* Takes exactly `want` jobs (the ids in enqueue order, which take keeps for equal due). */
static void take_n(ct_spool_t *sp, int64_t now, size_t want, ct_lease_t *l) {
  size_t n = 999;
  assert_int_equal(ct_spool_take(sp, now, 16, l, &n), 0);
  assert_int_equal(n, want);
}

static void free_leases(ct_lease_t *l, size_t n) {
  for (size_t i = 0; i < n; i++)
    ct_lease_free(&l[i]);
}

static ct_attempt_t attempt_of(int outcome, int64_t at, const char *message) {
  ct_attempt_t a = CARTEIRO__V1__ATTEMPT__INIT;
  a.at_ms = at;
  a.channel = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP;
  a.provider = "whatsapp:tim-1";
  a.outcome = outcome;
  a.http_status = outcome == ACCEPTED ? 200 : 503;
  a.message = (char *)message;
  return a;
}

static ct_spool_health_t health(ct_spool_t *sp) {
  ct_spool_health_t h;
  memset(&h, 0xa5, sizeof h);
  assert_int_equal(ct_spool_health(sp, &h), 0);
  return h;
}

static ct_job_info_t info_of(ct_spool_t *sp, const char *id) {
  ct_job_info_t info;
  assert_int_equal(ct_spool_job_get(sp, id, &info), 0);
  return info;
}

static ct_job_state_t state_of(ct_spool_t *sp, const char *id) {
  ct_job_info_t info = info_of(sp, id);
  ct_job_state_t s = info.state;
  ct_job_info_free(&info);
  return s;
}

static size_t history_of(ct_spool_t *sp, const char *id) {
  ct_job_info_t info = info_of(sp, id);
  size_t n = info.n_attempts;
  ct_job_info_free(&info);
  return n;
}

static int64_t raw_int(const fixture_t *fx, const char *sql) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static void assert_integrity_ok(const fixture_t *fx) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

static void flip_byte(const char *path, off_t off) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  unsigned char b;
  assert_int_equal(pread(fd, &b, 1, off), 1);
  b ^= 0x5a;
  assert_int_equal(pwrite(fd, &b, 1, off), 1);
  close(fd);
}

/* The offset of record `index` (0-based) in the journal file: records are back to back from
 * DATA_START, each REC_HEAD + payload length (at +12) padded to 8. */
static off_t record_offset(const char *path, int index) {
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  off_t off = DATA_START;
  for (int i = 0; i < index; i++) {
    unsigned char h[REC_HEAD];
    assert_int_equal(pread(fd, h, sizeof h, off), (ssize_t)sizeof h);
    uint32_t len = (uint32_t)h[12] | (uint32_t)h[13] << 8 | (uint32_t)h[14] << 16 |
                   (uint32_t)h[15] << 24;
    off += (off_t)((REC_HEAD + len + 7) & ~(size_t)7);
  }
  close(fd);
  return off;
}

/* ---- tests ---- */

/* The journal is created 0600 at open with all its room allocated. */
static void test_journal_created_with_its_room(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_owner(fx, 16);
  struct stat sb;
  assert_int_equal(stat(fx->journal, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  assert_int_equal(sb.st_size, DATA_START + 16 * 2048);
  assert_true((off_t)sb.st_blocks * 512 >= sb.st_size);
  ct_spool_health_t h = health(sp);
  assert_int_equal(h.journal_capacity_bytes, 16 * 2048);
  assert_int_equal(h.journaled, 0);
  assert_false(h.failing);
  assert_int_equal(h.commit_failures, 0);
  ct_spool_close(sp);

  /* A second open with more outcomes grows it; a non-owner never creates one. */
  sp = open_owner(fx, 32);
  assert_int_equal(stat(fx->journal, &sb), 0);
  assert_int_equal(sb.st_size, DATA_START + 32 * 2048);
  ct_spool_close(sp);
  unlink(fx->journal);
  ct_spool_options_t o = {.path = fx->path};
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  ct_spool_close(sp);
  assert_int_equal(stat(fx->journal, &sb), -1);
}

/* The whole story in one run and across a restart: the disk fills with four jobs in flight;
 * their outcomes go to the journal, settle says 0, the jobs stay out of take's reach and
 * take refuses new work; a restart on the still full disk holds them the same way; once the
 * disk takes writes again, the first take records them all, exactly once. */
static void test_outcomes_kept_while_disk_full(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_owner(fx, 16);
  static const char *const ids[] = {"j1", "j2", "j3", "j4", "j5"};
  for (size_t i = 0; i < 5; i++)
    enqueue(sp, ids[i]);
  ct_lease_t l[16];
  take_n(sp, T0, 5, l);
  for (size_t i = 0; i < 5; i++)
    assert_string_equal(l[i].job->id, ids[i]);

  fault_vfs_arm(SQLITE_FULL, SQLITE_OK);
  ct_attempt_t ok = attempt_of(ACCEPTED, T0 + 1, "accepted");
  ct_attempt_t part0 = attempt_of(ACCEPTED, T0, "part 1 accepted");
  const ct_attempt_t *earlier[] = {&part0};
  ct_attempt_t busy = attempt_of(TRANSIENT, T0 + 2, "HTTP 503");
  ct_attempt_t bad = attempt_of(PERMANENT, T0 + 3, "not a WhatsApp user");
  ct_receipt_part_t part = CARTEIRO__V1__RECEIPT_PART__INIT;
  part.channel = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP;
  part.provider = "whatsapp:tim-1";
  part.message_id = "wamid.SYNTH1";
  part.at_ms = T0 + 1;
  ct_receipt_part_t *parts[] = {&part};
  ct_receipt_t receipt = CARTEIRO__V1__RECEIPT__INIT;
  receipt.job_id = "j1";
  receipt.n_parts = 1;
  receipt.parts = parts;
  ct_settle_t ops[3] = {
      {.seq = l[0].seq, .kind = CT_SETTLE_ACK, .attempt = &ok, .earlier = earlier,
       .n_earlier = 1, .receipt = &receipt, .result = 42},
      {.seq = l[1].seq, .kind = CT_SETTLE_RETRY, .attempt = &busy, .due_ms = T0 + 100,
       .result = 42},
      {.seq = l[2].seq, .kind = CT_SETTLE_DEAD, .attempt = &bad, .reason = "permanent_failure",
       .result = 42},
  };
  assert_int_equal(ct_spool_settle(sp, ops, 3, T0 + 5), 0);
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(ops[i].result, 0);
  assert_true(fault_vfs_refused() > 0);
  ct_spool_health_t h = health(sp);
  assert_true(h.failing);
  assert_true(h.commit_failures >= 1);
  assert_int_equal(h.journaled, 3);
  assert_true(h.journal_used_bytes > 0);
  print_message("3 outcomes in the journal: %llu bytes\n",
                (unsigned long long)h.journal_used_bytes);
  assert_true(h.journal_used_bytes < 3 * 2048);

  /* No new work, and the journaled jobs are neither free nor settled twice. */
  size_t n = 777;
  assert_int_equal(ct_spool_take(sp, T0 + 200, 16, l + 5, &n), CT_ENOSPC);
  assert_int_equal(n, 777);
  assert_int_equal(state_of(sp, "j1"), CT_STATE_INFLIGHT);
  ct_settle_t again = {.seq = l[0].seq, .kind = CT_SETTLE_ACK, .result = 42};
  assert_int_equal(ct_spool_settle(sp, &again, 1, T0 + 6), 0);
  assert_int_equal(again.result, CT_ESTATE);
  /* A fourth outcome joins them; j5 stays in flight, unsettled, when the process stops. */
  ct_settle_t rel = {.seq = l[3].seq, .kind = CT_SETTLE_RELEASE, .result = 42};
  assert_int_equal(ct_spool_settle(sp, &rel, 1, T0 + 7), 0);
  assert_int_equal(rel.result, 0);
  assert_int_equal(health(sp).journaled, 4);
  uint64_t failures = health(sp).commit_failures;
  assert_true(failures >= 3);
  free_leases(l, 5);
  ct_spool_close(sp);

  /* Restart on the still full disk: open succeeds, the outcomes wait, nothing is taken. */
  sp = open_owner(fx, 16);
  h = health(sp);
  assert_true(h.failing);
  assert_int_equal(h.journaled, 4);
  assert_int_equal(state_of(sp, "j2"), CT_STATE_INFLIGHT);
  assert_int_equal(state_of(sp, "j5"), CT_STATE_READY);
  n = 777;
  assert_int_equal(ct_spool_take(sp, T0 + 200, 16, l, &n), CT_ENOSPC);
  assert_int_equal(n, 777);

  /* Space again: the take records the journal, then hands out j5 (its outcome was never
   * written: it is sent again; due since T0) and j4 (released at T0 + 7), and j2 once its
   * retry is due. */
  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  take_n(sp, T0 + 50, 2, l);
  assert_string_equal(l[0].job->id, "j5");
  assert_string_equal(l[1].job->id, "j4");
  h = health(sp);
  assert_false(h.failing);
  assert_int_equal(h.journaled, 0);
  assert_int_equal(h.journal_used_bytes, 0);

  ct_job_info_t info = info_of(sp, "j1");
  assert_int_equal(info.state, CT_STATE_DELIVERED);
  assert_int_equal(info.n_attempts, 2);
  assert_string_equal(info.attempts[0]->message, "part 1 accepted");
  assert_string_equal(info.attempts[1]->message, "accepted");
  assert_non_null(info.receipt);
  assert_string_equal(info.receipt->parts[0]->message_id, "wamid.SYNTH1");
  assert_int_equal(info.updated_ms, T0 + 5);
  ct_job_info_free(&info);
  info = info_of(sp, "j2");
  assert_int_equal(info.state, CT_STATE_READY);
  assert_int_equal(info.n_attempts, 1);
  assert_int_equal(info.due_ms, T0 + 100);
  ct_job_info_free(&info);
  info = info_of(sp, "j3");
  assert_int_equal(info.state, CT_STATE_DEAD);
  assert_string_equal(info.reason, "permanent_failure");
  ct_job_info_free(&info);
  assert_int_equal(raw_int(fx, "SELECT attempts FROM job WHERE id = 'j2'"), 1);
  assert_int_equal(raw_int(fx, "SELECT count(*) FROM attempt"), 4);
  ct_lease_t l2[16];
  take_n(sp, T0 + 100, 1, l2);
  assert_string_equal(l2[0].job->id, "j2");
  free_leases(l2, 1);
  free_leases(l, 2);
  ct_spool_close(sp);

  /* Nothing is recorded twice by the next open. */
  sp = open_owner(fx, 16);
  assert_int_equal(health(sp).journaled, 0);
  assert_int_equal(history_of(sp, "j2"), 1);
  ct_spool_close(sp);
  assert_integrity_ok(fx);
}

/* A crash after the commit that recorded the journal and before the write that empties it
 * (here: the old journal file put back), or a torn write of the header that empties it (here:
 * that header slot damaged, so the older one is in force again), replays the same records at
 * the next open: nothing is recorded twice. */
static void test_replay_is_idempotent(void **state) {
  fixture_t *fx = *state;
  char copy[192];
  snprintf(copy, sizeof copy, "%s.outcomes.copy", fx->path);
  ct_spool_t *sp = open_owner(fx, 16);
  enqueue(sp, "k1");
  enqueue(sp, "k2");
  enqueue(sp, "k3");
  ct_lease_t l[16];
  take_n(sp, T0, 3, l);
  fault_vfs_arm(SQLITE_FULL, SQLITE_OK);
  ct_attempt_t ok = attempt_of(ACCEPTED, T0 + 1, "accepted");
  ct_attempt_t busy = attempt_of(TRANSIENT, T0 + 2, "timeout");
  ct_settle_t ops[3] = {
      {.seq = l[0].seq, .kind = CT_SETTLE_ACK, .attempt = &ok},
      {.seq = l[1].seq, .kind = CT_SETTLE_RETRY, .attempt = &busy, .due_ms = T0 + 10},
      {.seq = l[2].seq, .kind = CT_SETTLE_RELEASE, .due_ms = T0 + 20},
  };
  assert_int_equal(ct_spool_settle(sp, ops, 3, T0 + 3), 0);
  free_leases(l, 3);
  ct_spool_close(sp);
  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  copy_file(fx->journal, copy);

  for (int round = 0; round < 3; round++) {
    sp = open_owner(fx, 16);
    assert_int_equal(health(sp).journaled, 0);
    ct_job_info_t info = info_of(sp, "k1");
    assert_int_equal(info.state, CT_STATE_DELIVERED);
    assert_int_equal(info.n_attempts, 1);
    ct_job_info_free(&info);
    info = info_of(sp, "k2");
    assert_int_equal(info.state, CT_STATE_READY);
    assert_int_equal(info.n_attempts, 1);
    assert_int_equal(info.due_ms, T0 + 10);
    ct_job_info_free(&info);
    info = info_of(sp, "k3");
    assert_int_equal(info.state, CT_STATE_READY);
    assert_int_equal(info.n_attempts, 0);
    assert_int_equal(info.due_ms, T0 + 20);
    ct_job_info_free(&info);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM attempt"), 2);
    assert_int_equal(raw_int(fx, "SELECT sum(attempts) FROM job"), 1);
    ct_spool_close(sp);
    if (round == 0) {
      copy_file(copy, fx->journal); /* the emptying never happened */
    } else if (round == 1) {
      /* The open above emptied it again by writing generation 2 into slot A (offset 0):
       * tear that write. Slot B (generation 1) and its records are in force again. */
      flip_byte(fx->journal, 20);
    }
  }
  assert_integrity_ok(fx);
}

/* A record torn by a crash (its checksum fails) ends the journal: the records before it are
 * recorded, its own job was never reported settled and is simply READY. */
static void test_torn_record_ends_the_journal(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_owner(fx, 16);
  static const char *const ids[] = {"m1", "m2", "m3"};
  for (size_t i = 0; i < 3; i++)
    enqueue(sp, ids[i]);
  ct_lease_t l[16];
  take_n(sp, T0, 3, l);
  fault_vfs_arm(SQLITE_FULL, SQLITE_OK);
  ct_attempt_t ok = attempt_of(ACCEPTED, T0 + 1, "accepted");
  for (size_t i = 0; i < 3; i++) {
    ct_settle_t op = {.seq = l[i].seq, .kind = CT_SETTLE_ACK, .attempt = &ok, .result = 42};
    assert_int_equal(ct_spool_settle(sp, &op, 1, T0 + 2), 0);
    assert_int_equal(op.result, 0);
  }
  assert_int_equal(health(sp).journaled, 3);
  free_leases(l, 3);
  ct_spool_close(sp);
  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  flip_byte(fx->journal, record_offset(fx->journal, 2) + REC_HEAD + 3);

  sp = open_owner(fx, 16);
  assert_int_equal(health(sp).journaled, 0);
  assert_int_equal(state_of(sp, "m1"), CT_STATE_DELIVERED);
  assert_int_equal(state_of(sp, "m2"), CT_STATE_DELIVERED);
  assert_int_equal(state_of(sp, "m3"), CT_STATE_READY);
  take_n(sp, T0 + 5, 1, l);
  assert_string_equal(l[0].job->id, "m3");
  free_leases(l, 1);
  ct_spool_close(sp);
  assert_integrity_ok(fx);
}

/* With no room left in the journal for a batch, settle fails as it did without one: nothing
 * recorded, results untouched, leases kept for the retry. Without a journal at all, the
 * failure is the same and health says so too. */
static void test_journal_full(void **state) {
  fixture_t *fx = *state;
  for (int with_journal = 1; with_journal >= 0; with_journal--) {
    char ids[4][32];
    ct_spool_t *sp = open_owner(fx, with_journal ? 1 : 0);
    for (int i = 0; i < 4; i++) {
      snprintf(ids[i], sizeof ids[i], "f%d-%d", with_journal, i);
      enqueue(sp, ids[i]);
    }
    ct_lease_t l[16];
    take_n(sp, T0, 4, l);
    char msg[700];
    memset(msg, 'm', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    ct_attempt_t ok = attempt_of(ACCEPTED, T0 + 1, msg);
    ct_settle_t ops[4];
    for (int i = 0; i < 4; i++)
      ops[i] = (ct_settle_t){.seq = l[i].seq, .kind = CT_SETTLE_ACK, .attempt = &ok,
                             .result = 42};
    fault_vfs_arm(SQLITE_FULL, SQLITE_OK);
    assert_int_equal(ct_spool_settle(sp, ops, 4, T0 + 2), CT_ENOSPC);
    for (int i = 0; i < 4; i++)
      assert_int_equal(ops[i].result, 42);
    ct_spool_health_t h = health(sp);
    assert_true(h.failing);
    assert_int_equal(h.commit_failures, 1);
    assert_int_equal(h.journaled, 0);
    assert_int_equal(h.journal_capacity_bytes, with_journal ? 2048 : 0);
    assert_int_equal(state_of(sp, ids[0]), CT_STATE_INFLIGHT);
    fault_vfs_arm(SQLITE_OK, SQLITE_OK);
    assert_int_equal(ct_spool_settle(sp, ops, 4, T0 + 3), 0);
    for (int i = 0; i < 4; i++) {
      assert_int_equal(ops[i].result, 0);
      assert_int_equal(state_of(sp, ids[i]), CT_STATE_DELIVERED);
    }
    assert_false(health(sp).failing);
    free_leases(l, 4);
    ct_spool_close(sp);
    unlink(fx->journal);
  }
  assert_integrity_ok(fx);
}

/* A spool file replaced while the journal stayed: its records name jobs by id, so they are
 * not applied to the other jobs that now have the same seqs. */
static void test_journal_of_another_spool(void **state) {
  fixture_t *fx = *state;
  ct_spool_t *sp = open_owner(fx, 16);
  enqueue(sp, "old-1");
  enqueue(sp, "old-2");
  ct_lease_t l[16];
  take_n(sp, T0, 2, l);
  int64_t seq0 = l[0].seq;
  fault_vfs_arm(SQLITE_FULL, SQLITE_OK);
  ct_settle_t ops[2] = {{.seq = l[0].seq, .kind = CT_SETTLE_ACK},
                        {.seq = l[1].seq, .kind = CT_SETTLE_DEAD, .reason = "x"}};
  assert_int_equal(ct_spool_settle(sp, ops, 2, T0 + 1), 0);
  free_leases(l, 2);
  ct_spool_close(sp);
  fault_vfs_arm(SQLITE_OK, SQLITE_OK);
  char p[192];
  static const char *const suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", fx->path, suffixes[i]);
    unlink(p);
  }
  ct_spool_options_t o = {.path = fx->path};
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  enqueue(sp, "new-1");
  enqueue(sp, "new-2");
  ct_spool_close(sp);
  assert_int_equal(raw_int(fx, "SELECT seq FROM job WHERE id = 'new-1'"), seq0);

  sp = open_owner(fx, 16);
  assert_int_equal(health(sp).journaled, 0);
  assert_int_equal(state_of(sp, "new-1"), CT_STATE_READY);
  assert_int_equal(state_of(sp, "new-2"), CT_STATE_READY);
  take_n(sp, T0 + 2, 2, l);
  free_leases(l, 2);
  ct_spool_close(sp);
}

/* A file at the journal's name that is not one stops the owner's open; other opens do not
 * look at it. */
static void test_garbage_journal(void **state) {
  fixture_t *fx = *state;
  FILE *f = fopen(fx->journal, "wb");
  assert_non_null(f);
  for (int i = 0; i < 8192; i++)
    fputc((i * 7 + 3) & 0xff, f);
  fclose(f);
  ct_spool_options_t o = {.path = fx->path, .owner = true, .outcome_journal = 4};
  ct_spool_t *sp = NULL;
  assert_int_equal(ct_spool_open(&sp, &o), CT_ECORRUPT);
  assert_null(sp);
  o.owner = false;
  o.outcome_journal = 0;
  assert_int_equal(ct_spool_open(&sp, &o), 0);
  ct_spool_close(sp);
  /* A file of zeros is a journal whose creation was cut short: it is taken up. */
  f = fopen(fx->journal, "wb");
  assert_non_null(f);
  for (int i = 0; i < 8192; i++)
    fputc(0, f);
  fclose(f);
  sp = open_owner(fx, 4);
  assert_int_equal(health(sp).journal_capacity_bytes, 4 * 2048);
  ct_spool_close(sp);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_journal_created_with_its_room),
      T(test_outcomes_kept_while_disk_full),
      T(test_replay_is_idempotent),
      T(test_torn_record_ends_the_journal),
      T(test_journal_full),
      T(test_journal_of_another_spool),
      T(test_garbage_journal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
