/* Unit tests of the spool's webhook events (spool.h, "Webhook events"), the same tests on both
 * backends: SQLite in a fresh file per test, and JetStream on a nats-server this program
 * starts on 127.0.0.1 for the JetStream group (skipped when nats-server is not installed),
 * with streams of their own per test. Events are synthetic. */
#include "common/clock.h"
#include "common/error.h"
#include "spool/spool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

typedef enum { B_SQLITE, B_JETSTREAM } backend_t;

/* The nats-server of the JetStream group. */
static struct {
  pid_t pid;
  int port;
  char dir[64];
} nats;

static int test_counter;

typedef struct {
  backend_t backend;
  char dir[64];
  char path[160];
  char names[32];
  ct_spool_nats_options_t no;
  ct_spool_t *sp;
} fixture_t;

static ct_spool_options_t options(fixture_t *fx, bool owner, bool readonly) {
  ct_spool_options_t o = {.path = fx->path, .owner = owner, .readonly = readonly};
  if (fx->backend == B_JETSTREAM)
    o.nats = &fx->no;
  return o;
}

static int open_spool(fixture_t *fx, bool owner, bool readonly, ct_spool_t **out) {
  ct_spool_options_t o = options(fx, owner, readonly);
  return ct_spool_open(out, &o);
}

static int setup(void **state, backend_t b) {
  fixture_t *fx = calloc(1, sizeof *fx);
  if (fx == NULL)
    return -1;
  fx->backend = b;
  snprintf(fx->dir, sizeof fx->dir, "/tmp/ct-test-events-XXXXXX");
  if (mkdtemp(fx->dir) == NULL) {
    free(fx);
    return -1;
  }
  if (b == B_SQLITE) {
    snprintf(fx->path, sizeof fx->path, "%s/test.spool", fx->dir);
  } else {
    /* streams of this test's own */
    snprintf(fx->path, sizeof fx->path, "nats://127.0.0.1:%d", nats.port);
    snprintf(fx->names, sizeof fx->names, "T%d", ++test_counter);
    fx->no.stream = fx->names;
    fx->no.dlq_stream = "DLQ_UNUSED";
    fx->no.consumer = fx->names;
    fx->no.subject = fx->names;
    fx->no.ack_wait_ms = 1000;
  }
  if (open_spool(fx, true, false, &fx->sp) != 0) {
    free(fx);
    return -1;
  }
  *state = fx;
  return 0;
}

static int setup_sqlite(void **state) { return setup(state, B_SQLITE); }
static int setup_jetstream(void **state) { return setup(state, B_JETSTREAM); }

static int teardown(void **state) {
  fixture_t *fx = *state;
  ct_spool_close(fx->sp);
  if (fx->backend == B_SQLITE) {
    static const char *const suffixes[] = {"", "-wal", "-shm", ".lock", "-journal"};
    char p[200];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
      snprintf(p, sizeof p, "%s%s", fx->path, suffixes[i]);
      unlink(p);
    }
  }
  rmdir(fx->dir);
  free(fx);
  return 0;
}

/* ---- the nats-server of the JetStream group ---- */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static bool have_nats_server(void) {
  return access("/usr/sbin/nats-server", X_OK) == 0 || access("/usr/bin/nats-server", X_OK) == 0;
}

static int group_setup_jetstream(void **state) {
  (void)state;
  if (!have_nats_server())
    return 0; /* each test skips */
  snprintf(nats.dir, sizeof nats.dir, "/tmp/ct-test-nats-XXXXXX");
  if (mkdtemp(nats.dir) == NULL)
    return -1;
  for (int attempt = 0; attempt < 5; attempt++) {
    nats.port = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", nats.port);
    nats.pid = fork();
    if (nats.pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", port, "-js", "-sd",
             nats.dir, (char *)NULL);
      _exit(127);
    }
    /* ready when a spool opens on it (bounded: 10 s) */
    for (int i = 0; i < 100; i++) {
      usleep(100000);
      int st;
      if (waitpid(nats.pid, &st, WNOHANG) == nats.pid)
        break; /* exited: the port was taken meanwhile; another one */
      char loc[64];
      snprintf(loc, sizeof loc, "nats://127.0.0.1:%d", nats.port);
      ct_spool_nats_options_t no = {.stream = "PROBE", .dlq_stream = "PROBE_DLQ"};
      ct_spool_options_t o = {.path = loc, .nats = &no};
      ct_spool_t *sp = NULL;
      if (ct_spool_open(&sp, &o) == 0) {
        ct_spool_close(sp);
        return 0;
      }
    }
    kill(nats.pid, SIGKILL);
    waitpid(nats.pid, NULL, 0);
    nats.pid = 0;
  }
  return -1;
}

static int group_teardown_jetstream(void **state) {
  (void)state;
  if (nats.pid > 0) {
    kill(nats.pid, SIGTERM);
    waitpid(nats.pid, NULL, 0);
  }
  if (nats.dir[0] != '\0') {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", nats.dir);
    if (system(cmd) != 0)
      return -1;
  }
  return 0;
}

/* ---- events ---- */

static void status_event(ct_event_t *e, const char *id, const char *msg, ct_event_status_t st) {
  memset(e, 0, sizeof e[0]);
  e->kind = CT_EVENT_STATUS;
  e->channel = CT_CHANNEL_WHATSAPP;
  snprintf(e->account, sizeof e->account, "wa-test");
  snprintf(e->event_id, sizeof e->event_id, "%s", id);
  snprintf(e->message_id, sizeof e->message_id, "%s", msg);
  e->status = st;
  snprintf(e->job_id, sizeof e->job_id, "job-%s", msg);
  e->part = 1;
  snprintf(e->to, sizeof e->to, "5511987650001");
}

static void inbound_event(ct_event_t *e, const char *msg, const char *from, int64_t at_ms,
                          const char *text) {
  memset(e, 0, sizeof e[0]);
  e->kind = CT_EVENT_INBOUND;
  e->channel = CT_CHANNEL_WHATSAPP;
  snprintf(e->account, sizeof e->account, "wa-test");
  snprintf(e->event_id, sizeof e->event_id, "wa:m:%s", msg);
  snprintf(e->message_id, sizeof e->message_id, "%s", msg);
  snprintf(e->from, sizeof e->from, "%s", from);
  e->status = CT_EVENT_STATUS_RECEIVED;
  e->at_ms = at_ms;
  assert_int_equal(ct_event_set_text(e, text, strlen(text)), 0);
}

static void put(ct_spool_t *sp, ct_event_t *ev, size_t n, const int *want) {
  const ct_event_t *ptrs[16];
  int results[16];
  for (size_t i = 0; i < n; i++) {
    ptrs[i] = &ev[i];
    results[i] = 42;
  }
  int rc = ct_spool_events_put(sp, ptrs, n, ct_now_ms(), results);
  if (rc != 0)
    fail_msg("events_put: %s", ct_errname(rc));
  for (size_t i = 0; i < n; i++)
    if (results[i] != want[i])
      fail_msg("result %zu: got %s, want %s", i, ct_errname(results[i]), ct_errname(want[i]));
}

/* Takes until `want` events came or 5 s passed (JetStream hands them out asynchronously). */
static size_t take(ct_spool_t *sp, ct_event_lease_t *out, size_t max, size_t want) {
  size_t got = 0;
  for (int i = 0; i < 100 && got < want; i++) {
    size_t n = 0;
    int rc = ct_spool_events_take(sp, ct_now_ms(), max - got, out + got, &n);
    if (rc != 0)
      fail_msg("events_take: %s", ct_errname(rc));
    got += n;
    if (got < want)
      usleep(50000);
  }
  return got;
}

static void skip_without_nats(fixture_t *fx) {
  if (fx == NULL)
    skip();
}

/* Duplicates, within a batch and across batches, store nothing. */
static void test_put_dedupes(void **state) {
  fixture_t *fx = *state;
  skip_without_nats(fx);
  ct_event_t ev[3];
  status_event(&ev[0], "wa:s:wamid.A:sent", "wamid.A", CT_EVENT_STATUS_SENT);
  status_event(&ev[1], "wa:s:wamid.A:delivered", "wamid.A", CT_EVENT_STATUS_DELIVERED);
  status_event(&ev[2], "wa:s:wamid.A:sent", "wamid.A", CT_EVENT_STATUS_SENT);
  put(fx->sp, ev, 3, (const int[]){0, 0, CT_EDUPLICATE});
  put(fx->sp, ev, 2, (const int[]){CT_EDUPLICATE, CT_EDUPLICATE});
  ct_event_stats_t st;
  assert_int_equal(ct_spool_events_stats(fx->sp, &st), 0);
  assert_int_equal(st.pending, 2);
  assert_int_equal(st.done, 0);
  assert_int_equal(st.inbound, 0);
  assert_true(st.oldest_pending_ms > 0);

  /* no event id, or no account: refused whole */
  ct_event_t bad;
  status_event(&bad, "", "wamid.B", CT_EVENT_STATUS_SENT);
  const ct_event_t *p = &bad;
  int r;
  assert_int_equal(ct_spool_events_put(fx->sp, &p, 1, ct_now_ms(), &r), CT_EINVAL);
  status_event(&bad, "wa:s:x:sent", "x", CT_EVENT_STATUS_SENT);
  bad.account[0] = '\0';
  assert_int_equal(ct_spool_events_put(fx->sp, &p, 1, ct_now_ms(), &r), CT_EINVAL);
}

/* Take hands each PENDING event out once, in arrival order; ack makes it DONE, and a DONE
 * event is still a duplicate; retry gives it back. */
static void test_take_ack_retry(void **state) {
  fixture_t *fx = *state;
  skip_without_nats(fx);
  ct_event_t ev[3];
  status_event(&ev[0], "tw:s:SM1:sent", "SM1", CT_EVENT_STATUS_SENT);
  status_event(&ev[1], "tw:s:SM1:undelivered", "SM1", CT_EVENT_STATUS_UNDELIVERED);
  snprintf(ev[1].error_code, sizeof ev[1].error_code, "30007");
  status_event(&ev[2], "tw:s:SM2:delivered", "SM2", CT_EVENT_STATUS_DELIVERED);
  put(fx->sp, ev, 3, (const int[]){0, 0, 0});

  ct_event_lease_t l[8];
  assert_int_equal(take(fx->sp, l, 8, 3), 3);
  assert_string_equal(l[0].event.event_id, "tw:s:SM1:sent");
  assert_string_equal(l[1].event.event_id, "tw:s:SM1:undelivered");
  assert_string_equal(l[1].event.error_code, "30007");
  assert_int_equal(l[1].event.status, CT_EVENT_STATUS_UNDELIVERED);
  assert_string_equal(l[1].event.job_id, "job-SM1");
  assert_int_equal(l[1].event.part, 1);
  assert_true(l[1].event.received_ms > 0);
  assert_string_equal(l[2].event.event_id, "tw:s:SM2:delivered");
  for (int i = 0; i < 3; i++)
    assert_int_equal(l[i].attempts, 0);
  /* leased: not handed out again */
  ct_event_lease_t again[8];
  size_t n = 99;
  assert_int_equal(ct_spool_events_take(fx->sp, ct_now_ms(), 8, again, &n), 0);
  assert_int_equal(n, 0);

  int64_t seqs[3] = {l[0].seq, l[1].seq, l[0].seq};
  int res[3];
  assert_int_equal(ct_spool_events_ack(fx->sp, seqs, 2, ct_now_ms(), res), 0);
  assert_int_equal(res[0], 0);
  assert_int_equal(res[1], 0);
  assert_int_equal(ct_spool_events_ack(fx->sp, seqs + 2, 1, ct_now_ms(), res), 0);
  assert_int_equal(res[0], CT_ESTATE);
  /* the third back, due now */
  int64_t third = l[2].seq;
  assert_int_equal(ct_spool_events_retry(fx->sp, &third, 1, ct_now_ms(), res), 0);
  assert_int_equal(res[0], 0);
  for (int i = 0; i < 3; i++)
    ct_event_lease_free(&l[i]);
  assert_int_equal(take(fx->sp, l, 8, 1), 1);
  assert_string_equal(l[0].event.event_id, "tw:s:SM2:delivered");
  assert_int_equal(l[0].attempts, 1);
  assert_int_equal(ct_spool_events_ack(fx->sp, &l[0].seq, 1, ct_now_ms(), res), 0);
  assert_int_equal(res[0], 0);
  ct_event_lease_free(&l[0]);

  ct_event_stats_t st;
  assert_int_equal(ct_spool_events_stats(fx->sp, &st), 0);
  assert_int_equal(st.pending, 0);
  assert_int_equal(st.done, 3);
  assert_int_equal(st.oldest_pending_ms, 0);
  /* applied, and still known */
  put(fx->sp, ev, 3, (const int[]){CT_EDUPLICATE, CT_EDUPLICATE, CT_EDUPLICATE});
}

/* A lease is memory only: closing the spool (as a crash does) leaves its event PENDING for
 * the next owner. */
static void test_leases_do_not_survive(void **state) {
  fixture_t *fx = *state;
  skip_without_nats(fx);
  ct_event_t ev[2];
  status_event(&ev[0], "sg:e1", "m1", CT_EVENT_STATUS_BOUNCE);
  status_event(&ev[1], "sg:e2", "m2", CT_EVENT_STATUS_DELIVERED);
  put(fx->sp, ev, 2, (const int[]){0, 0});
  ct_event_lease_t l[4];
  assert_int_equal(take(fx->sp, l, 4, 2), 2);
  int res[1];
  assert_int_equal(ct_spool_events_ack(fx->sp, &l[0].seq, 1, ct_now_ms(), res), 0);
  assert_int_equal(res[0], 0);
  ct_event_lease_free(&l[0]);
  ct_event_lease_free(&l[1]);
  ct_spool_close(fx->sp);
  fx->sp = NULL;
  assert_int_equal(open_spool(fx, true, false, &fx->sp), 0);
  /* JetStream gives the unacknowledged one back after the ack wait (1 s here) */
  assert_int_equal(take(fx->sp, l, 4, 1), 1);
  assert_string_equal(l[0].event.event_id, "sg:e2");
  ct_event_lease_free(&l[0]);
}

typedef struct {
  char ids[8][CT_EVENT_MSGID_LEN];
  char texts[8][64];
  size_t n;
} seen_t;

static int collect(const ct_event_t *e, void *arg) {
  seen_t *s = arg;
  if (s->n == 8)
    return -1;
  snprintf(s->ids[s->n], sizeof s->ids[0], "%s", e->message_id);
  snprintf(s->texts[s->n], sizeof s->texts[0], "%s", e->text != NULL ? e->text : "");
  s->n++;
  return 0;
}

/* Inbound messages are kept by sender, and once whatever the duplicates. */
static void test_inbound(void **state) {
  fixture_t *fx = *state;
  skip_without_nats(fx);
  ct_event_t ev[4];
  inbound_event(&ev[0], "wamid.M1", "5511987650001", 1739321024000, "fatura");
  inbound_event(&ev[1], "wamid.M2", "5511987650002", 1739321025000, "saldo");
  inbound_event(&ev[2], "wamid.M3", "5511987650001", 1739321026000, "Ol\xc3\xa1");
  inbound_event(&ev[3], "wamid.M1", "5511987650001", 1739321024000, "fatura");
  put(fx->sp, ev, 4, (const int[]){0, 0, 0, CT_EDUPLICATE});
  put(fx->sp, ev, 1, (const int[]){CT_EDUPLICATE});
  for (int i = 0; i < 4; i++)
    ct_event_clear(&ev[i]);
  ct_event_stats_t st;
  assert_int_equal(ct_spool_events_stats(fx->sp, &st), 0);
  assert_int_equal(st.inbound, 3);
  assert_int_equal(st.pending, 3);

  seen_t s = {0};
  ct_inbound_filter_t f = {.account = "wa-test", .from = "5511987650001"};
  assert_int_equal(ct_spool_inbound_list(fx->sp, &f, collect, &s), 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.ids[0], "wamid.M1");
  assert_string_equal(s.texts[0], "fatura");
  assert_string_equal(s.ids[1], "wamid.M3");
  assert_string_equal(s.texts[1], "Ol\xc3\xa1");
  memset(&s, 0, sizeof s);
  f = (ct_inbound_filter_t){.since_ms = 1739321025000};
  assert_int_equal(ct_spool_inbound_list(fx->sp, &f, collect, &s), 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.ids[0], "wamid.M2");
  assert_string_equal(s.ids[1], "wamid.M3");
  memset(&s, 0, sizeof s);
  f = (ct_inbound_filter_t){.limit = 1};
  assert_int_equal(ct_spool_inbound_list(fx->sp, &f, collect, &s), 0);
  assert_int_equal(s.n, 1);
  memset(&s, 0, sizeof s);
  f = (ct_inbound_filter_t){.account = "wa-other"};
  assert_int_equal(ct_spool_inbound_list(fx->sp, &f, collect, &s), 0);
  assert_int_equal(s.n, 0);
}

/* Only an owner takes and settles; a readonly handle stores nothing. */
static void test_permissions(void **state) {
  fixture_t *fx = *state;
  skip_without_nats(fx);
  ct_event_t ev;
  status_event(&ev, "wa:s:w:read", "w", CT_EVENT_STATUS_READ);
  put(fx->sp, &ev, 1, (const int[]){0});
  ct_spool_t *ro = NULL;
  assert_int_equal(open_spool(fx, false, true, &ro), 0);
  const ct_event_t *p = &ev;
  int r;
  assert_int_equal(ct_spool_events_put(ro, &p, 1, ct_now_ms(), &r), CT_EPERM);
  ct_event_lease_t l[1];
  size_t n;
  assert_int_equal(ct_spool_events_take(ro, ct_now_ms(), 1, l, &n), CT_EPERM);
  int64_t seq = 1;
  assert_int_equal(ct_spool_events_ack(ro, &seq, 1, ct_now_ms(), &r), CT_EPERM);
  ct_event_stats_t st;
  assert_int_equal(ct_spool_events_stats(ro, &st), 0);
  assert_int_equal(st.pending, 1);
  ct_spool_close(ro);
}

/* ---- SQLite only ---- */

/* Expiry removes DONE events and inbound messages past the retention, never PENDING ones. */
static void test_sqlite_expire(void **state) {
  fixture_t *fx = *state;
  ct_event_t ev[3];
  status_event(&ev[0], "a", "m", CT_EVENT_STATUS_SENT);
  status_event(&ev[1], "b", "m", CT_EVENT_STATUS_DELIVERED);
  inbound_event(&ev[2], "wamid.I", "5511987650001", 1, "oi");
  const ct_event_t *ptrs[3] = {&ev[0], &ev[1], &ev[2]};
  int res[3];
  int64_t t0 = INT64_C(1800000000000);
  assert_int_equal(ct_spool_events_put(fx->sp, ptrs, 3, t0, res), 0);
  ct_event_clear(&ev[2]);
  ct_event_lease_t l[4];
  size_t n = 0;
  assert_int_equal(ct_spool_events_take(fx->sp, t0, 1, l, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(ct_spool_events_ack(fx->sp, &l[0].seq, 1, t0, res), 0);
  ct_event_lease_free(&l[0]);
  size_t count = 99;
  int64_t week = INT64_C(7) * 86400 * 1000;
  assert_int_equal(ct_spool_events_expire(fx->sp, t0 + week, &count), 0);
  assert_int_equal(count, 0);
  assert_int_equal(ct_spool_events_expire(fx->sp, t0 + week + 1, &count), 0);
  assert_int_equal(count, 1);
  ct_event_stats_t st;
  assert_int_equal(ct_spool_events_stats(fx->sp, &st), 0);
  assert_int_equal(st.done, 0);
  assert_int_equal(st.pending, 2);
  assert_int_equal(st.inbound, 0);
  /* the expired one is no longer known */
  assert_int_equal(ct_spool_events_put(fx->sp, ptrs, 1, t0 + week + 2, res), 0);
  assert_int_equal(res[0], 0);
}

/* A spool written before events (schema version 1) opens, migrates and keeps its jobs; the
 * events tables are 0600 like the rest, in the same file. */
static void test_sqlite_migrates_version_1(void **state) {
  fixture_t *fx = *state;
  ct_spool_close(fx->sp);
  fx->sp = NULL;
  static const char *const suffixes[] = {"", "-wal", "-shm"};
  char p[200];
  for (size_t i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", fx->path, suffixes[i]);
    unlink(p);
  }
  /* a version-1 spool, as an older carteiro left it, with one job row */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "PRAGMA journal_mode = WAL;"
                   "CREATE TABLE job (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
                   " tenant TEXT NOT NULL, state INTEGER NOT NULL CHECK (state IN (0, 2, 3)),"
                   " priority INTEGER NOT NULL, due_ms INTEGER NOT NULL,"
                   " enqueued_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
                   " attempts INTEGER NOT NULL DEFAULT 0, history INTEGER NOT NULL DEFAULT 0,"
                   " last_channel INTEGER NOT NULL DEFAULT 0,"
                   " last_provider TEXT NOT NULL DEFAULT '', reason TEXT, receipt BLOB,"
                   " body BLOB NOT NULL);"
                   "CREATE INDEX job_take ON job (state, priority DESC, due_ms) WHERE state = 0;"
                   "CREATE INDEX job_delivered ON job (state, updated_ms) WHERE state = 2;"
                   "CREATE INDEX job_dead ON job (state, updated_ms) WHERE state = 3;"
                   "CREATE TABLE attempt (seq INTEGER NOT NULL, n INTEGER NOT NULL,"
                   " body BLOB NOT NULL, PRIMARY KEY (seq, n)) WITHOUT ROWID;"
                   "INSERT INTO job (id, tenant, state, priority, due_ms, enqueued_ms,"
                   " updated_ms, body) VALUES ('old-job', 't', 0, 0, 1, 1, 1, x'0a036f6c64');"
                   "PRAGMA application_id = 1668576112; PRAGMA user_version = 1;",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  chmod(fx->path, 0600);
  assert_int_equal(open_spool(fx, true, false, &fx->sp), 0);
  ct_spool_stats_t js;
  assert_int_equal(ct_spool_stats(fx->sp, ct_now_ms(), &js), 0);
  assert_int_equal(js.ready, 1);
  ct_event_t ev;
  status_event(&ev, "wa:s:z:sent", "z", CT_EVENT_STATUS_SENT);
  put(fx->sp, &ev, 1, (const int[]){0});
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 2);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

#define BOTH(t)                                                                                    \
  cmocka_unit_test_setup_teardown(t, setup_sqlite, teardown)
#define JS(t) cmocka_unit_test_setup_teardown(t, setup_jetstream_or_skip, teardown_or_skip)

static int setup_jetstream_or_skip(void **state) {
  if (nats.pid <= 0) {
    *state = NULL;
    return 0;
  }
  return setup_jetstream(state);
}

static int teardown_or_skip(void **state) { return *state == NULL ? 0 : teardown(state); }

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest sqlite_tests[] = {
      BOTH(test_put_dedupes),        BOTH(test_take_ack_retry), BOTH(test_leases_do_not_survive),
      BOTH(test_inbound),            BOTH(test_permissions),    BOTH(test_sqlite_expire),
      BOTH(test_sqlite_migrates_version_1),
  };
  const struct CMUnitTest jetstream_tests[] = {
      JS(test_put_dedupes),   JS(test_take_ack_retry), JS(test_leases_do_not_survive),
      JS(test_inbound),       JS(test_permissions),
  };
  int failed = cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
  failed += cmocka_run_group_tests_name("jetstream", jetstream_tests, group_setup_jetstream,
                                        group_teardown_jetstream);
  return failed;
}
