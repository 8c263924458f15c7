/* Crash test of the spool: kill -9 at random moments must lose nothing acknowledged.
 *
 * The parent runs ROUNDS children one after the other against the same spool, and kills each
 * with SIGKILL: one round in eight at once (while it is still opening or migrating), the
 * others a random few milliseconds after the child has reported 1 or 2 finished
 * loops through a pipe. Counting loops rather than milliseconds from fork keeps the kills in
 * the middle of the work however slowly a loaded machine runs the children. A child, as the
 * owner, loops: enqueue a batch of fresh ids, take, settle a mix of ack / retry / dead /
 * release, and leaves some leases unsettled (in flight when it dies).
 * It keeps a side log of what the spool acknowledged:
 *
 *   A <id>   about to enqueue (written before the call: the only ids that may exist)
 *   E <id>   enqueue returned 0           (written and fsynced after the commit)
 *   D <id>   settle ACK returned 0        (likewise)
 *   X <id>   settle DEAD returned 0       (likewise)
 *
 * Afterwards the parent checks, with SQL against the spool file and the log loaded into a
 * TEMP table: integrity_check is "ok"; every E id is stored exactly once; no stored id is
 * unknown (outside A); every D id is DELIVERED and every X id DEAD; each row's state,
 * reason, attempt counters and attempt rows agree; and a new owner is handed every READY job,
 * the ones in flight at the last kill included.
 *
 * CT_CRASH_SEED=<n> in the environment replays a run; the seed is printed either way.
 */
#include "common/clock.h"
#include "common/error.h"
#include "job/job.h"
#include "spool/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 50
#define MAX_BATCH 40
#define MAX_TAKE 32
/* A child that has not finished a loop this long after its start is stuck, not slow. */
#define PROGRESS_LIMIT_MS 60000

static uint64_t rng_state;

static uint64_t rnd(void) {
  /* xorshift64*: small, good enough, and reproducible from the seed. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * UINT64_C(2685821657736338717);
}

static unsigned below(unsigned n) { return (unsigned)(rnd() % n); }

/* Writes all of buf, then (when `sync`) fsyncs. Dies on failure: the log is the evidence. */
static void log_write(int fd, const char *buf, size_t len, bool sync) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      _exit(20);
    buf += w;
    len -= (size_t)w;
  }
  if (sync && fsync(fd) != 0)
    _exit(21);
}

/* Appends "<kind> <id>\n" to a line buffer. */
static void line_add(char *buf, size_t cap, size_t *len, char kind, const char *id) {
  int w = snprintf(buf + *len, cap - *len, "%c %s\n", kind, id);
  if (w < 0 || (size_t)w >= cap - *len)
    _exit(22);
  *len += (size_t)w;
}

static ct_job_t *make_job(const char *id) {
  ct_job_t *j = malloc(sizeof *j);
  if (j == NULL)
    _exit(23);
  carteiro__v1__job__init(j);
  j->id = strdup(id);
  j->tenant = strdup(id[1] == '1' ? "banco-x" : "tim");
  j->kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
  j->priority = (int32_t)below(3);
  if (j->id == NULL || j->tenant == NULL)
    _exit(23);
  return j;
}

static void fail_child(const char *what, int rc, int code) {
  fprintf(stderr, "crash child: %s: %s\n", what, ct_strerror(rc));
  _exit(code);
}

/* The child: runs until it is killed. After each loop it writes one byte to `progress` (a
 * pipe the parent reads; non-blocking, so a full pipe only drops counts it no longer needs). */
static void child(const char *path, const char *log_path, int round, uint64_t seed,
                  int progress) {
  rng_state = seed ^ ((uint64_t)(round + 1) * UINT64_C(0x9E3779B97F4A7C15));
  int log = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (log < 0)
    _exit(11);
  ct_spool_options_t o = {.path = path, .owner = true};
  ct_spool_t *sp;
  int rc = ct_spool_open(&sp, &o);
  if (rc != 0)
    fail_child("open", rc, 12);

  static char lines[MAX_TAKE * 64 + MAX_BATCH * 64];
  ct_attempt_t attempt = CARTEIRO__V1__ATTEMPT__INIT;
  attempt.channel = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP;
  attempt.provider = "whatsapp:test-1";
  ct_receipt_t receipt = CARTEIRO__V1__RECEIPT__INIT;
  receipt.job_id = "synthetic";
  for (unsigned counter = 0;;) {
    /* Enqueue a batch of fresh ids. */
    ct_job_t *jobs[MAX_BATCH];
    int results[MAX_BATCH];
    size_t n = 1 + below(MAX_BATCH), len = 0;
    for (size_t i = 0; i < n; i++) {
      char id[32];
      snprintf(id, sizeof id, "r%d-%u", round, counter++);
      jobs[i] = make_job(id);
      line_add(lines, sizeof lines, &len, 'A', id);
    }
    log_write(log, lines, len, false);
    int64_t now = ct_now_ms();
    rc = ct_spool_enqueue(sp, jobs, n, now, results);
    if (rc != 0)
      fail_child("enqueue", rc, 13);
    len = 0;
    for (size_t i = 0; i < n; i++) {
      if (results[i] != 0)
        fail_child("enqueue result", results[i], 14);
      line_add(lines, sizeof lines, &len, 'E', jobs[i]->id);
      ct_job_free(jobs[i]);
    }
    log_write(log, lines, len, true);

    /* Take and settle a mix; about one lease in ten stays in flight. */
    ct_lease_t leases[MAX_TAKE];
    ct_settle_t ops[MAX_TAKE];
    size_t got = 0, nops = 0;
    rc = ct_spool_take(sp, ct_now_ms(), 1 + below(MAX_TAKE), leases, &got);
    if (rc != 0)
      fail_child("take", rc, 15);
    now = ct_now_ms();
    attempt.at_ms = now;
    for (size_t i = 0; i < got; i++) {
      unsigned dice = below(100);
      ct_settle_t op = {.seq = leases[i].seq, .attempt = &attempt};
      if (dice < 40) {
        op.kind = CT_SETTLE_ACK;
        op.receipt = &receipt;
      } else if (dice < 65) {
        op.kind = CT_SETTLE_RETRY;
        op.due_ms = now + below(4);
      } else if (dice < 80) {
        op.kind = CT_SETTLE_DEAD;
        op.reason = dice < 72 ? "permanent_failure" : "max_attempts";
      } else if (dice < 90) {
        op.kind = CT_SETTLE_RELEASE;
        op.attempt = NULL;
      } else {
        continue; /* in flight */
      }
      ops[nops++] = op;
    }
    rc = nops > 0 ? ct_spool_settle(sp, ops, nops, now) : 0;
    if (rc != 0)
      fail_child("settle", rc, 16);
    len = 0;
    for (size_t i = 0; i < nops; i++) {
      if (ops[i].result != 0)
        fail_child("settle result", ops[i].result, 17);
      const char *id = NULL;
      for (size_t k = 0; k < got; k++) {
        if (leases[k].seq == ops[i].seq)
          id = leases[k].job->id;
      }
      if (ops[i].kind == CT_SETTLE_ACK)
        line_add(lines, sizeof lines, &len, 'D', id);
      else if (ops[i].kind == CT_SETTLE_DEAD)
        line_add(lines, sizeof lines, &len, 'X', id);
    }
    if (len > 0)
      log_write(log, lines, len, true);
    for (size_t i = 0; i < got; i++)
      ct_lease_free(&leases[i]);
    if (write(progress, "l", 1) < 0 && errno != EAGAIN && errno != EINTR)
      _exit(24);
  }
}

/* Waits until the child has finished `loops` loops (bytes on `fd`), it has closed the pipe
 * (it died), or PROGRESS_LIMIT_MS have passed. Returns the loops seen. */
static unsigned wait_progress(int fd, unsigned loops) {
  unsigned seen = 0;
  int64_t limit = ct_mono_ms() + PROGRESS_LIMIT_MS;
  while (seen < loops) {
    int64_t left = limit - ct_mono_ms();
    if (left <= 0)
      break;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, (int)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    char buf[64];
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    seen += (unsigned)r;
  }
  return seen;
}

/* ---- the parent's checks ---- */

static int failures;

#define CHECK(cond, ...)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                 \
      fprintf(stderr, __VA_ARGS__);                                                        \
      fputc('\n', stderr);                                                                 \
      failures++;                                                                          \
    }                                                                                      \
  } while (0)

static int64_t query_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    CHECK(false, "prepare %s: %s", sql, sqlite3_errmsg(db));
    return -1;
  }
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  else
    CHECK(false, "step %s: %s", sql, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return v;
}

/* Loads the complete lines of the side log into TEMP table logged(kind, id). A line cut by
 * the kill (no newline) is ignored: the call it announced had not returned. */
static long load_log(sqlite3 *db, const char *log_path) {
  FILE *f = fopen(log_path, "r");
  if (f == NULL)
    return -1;
  sqlite3_exec(db,
               "CREATE TEMP TABLE logged (kind TEXT, id TEXT);"
               "CREATE INDEX temp.logged_id ON logged (id, kind);"
               "BEGIN",
               NULL, NULL, NULL);
  sqlite3_stmt *ins;
  sqlite3_prepare_v2(db, "INSERT INTO logged VALUES (?1, ?2)", -1, &ins, NULL);
  char line[128];
  long n = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    size_t len = strlen(line);
    if (len < 4 || line[len - 1] != '\n' || line[1] != ' ')
      continue;
    line[len - 1] = '\0';
    sqlite3_bind_text(ins, 1, line, 1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, line + 2, -1, SQLITE_STATIC);
    sqlite3_step(ins);
    sqlite3_reset(ins);
    n++;
  }
  sqlite3_finalize(ins);
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  fclose(f);
  return n;
}

static void verify(const char *path, const char *log_path) {
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    CHECK(false, "open %s", path);
    return;
  }
  sqlite3_exec(db, "PRAGMA temp_store = MEMORY", NULL, NULL, NULL);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
  const char *ic = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "";
  CHECK(ic != NULL && strcmp(ic, "ok") == 0, "integrity_check: %s", ic ? ic : "(null)");
  sqlite3_finalize(st);

  long lines = load_log(db, log_path);
  CHECK(lines > 0, "side log has %ld lines", lines);
  int64_t enqueued = query_int(db, "SELECT count(*) FROM logged WHERE kind = 'E'");
  int64_t stored = query_int(db, "SELECT count(*) FROM job");
  int64_t delivered = query_int(db, "SELECT count(*) FROM logged WHERE kind = 'D'");
  int64_t dead = query_int(db, "SELECT count(*) FROM logged WHERE kind = 'X'");
  printf("log: %ld lines, %lld acknowledged enqueues, %lld acks, %lld dead; spool: %lld jobs\n",
         lines, (long long)enqueued, (long long)delivered, (long long)dead, (long long)stored);
  CHECK(enqueued > 0 && delivered > 0 && dead > 0, "the children made too little progress");

  static const struct {
    const char *what, *sql;
  } zero[] = {
      {"acknowledged enqueue missing",
       "SELECT count(*) FROM logged l WHERE kind = 'E'"
       " AND NOT EXISTS (SELECT 1 FROM job j WHERE j.id = l.id)"},
      {"id enqueued twice (log)",
       "SELECT count(*) FROM (SELECT id FROM logged WHERE kind = 'A' GROUP BY id"
       " HAVING count(*) > 1)"},
      {"id stored twice", "SELECT count(*) - count(DISTINCT id) FROM job"},
      {"unknown id stored",
       "SELECT count(*) FROM job j WHERE NOT EXISTS"
       " (SELECT 1 FROM logged l WHERE l.id = j.id AND l.kind = 'A')"},
      {"acked job not DELIVERED",
       "SELECT count(*) FROM logged l LEFT JOIN job j ON j.id = l.id"
       " WHERE l.kind = 'D' AND (j.state IS NOT 2)"},
      {"dead job not DEAD",
       "SELECT count(*) FROM logged l LEFT JOIN job j ON j.id = l.id"
       " WHERE l.kind = 'X' AND (j.state IS NOT 3)"},
      {"job both acked and dead",
       "SELECT count(*) FROM logged a JOIN logged b ON a.id = b.id"
       " WHERE a.kind = 'D' AND b.kind = 'X'"},
      {"state out of range", "SELECT count(*) FROM job WHERE state NOT IN (0, 2, 3)"},
      {"reason set iff DEAD",
       "SELECT count(*) FROM job WHERE (state = 3) <> (reason IS NOT NULL)"},
      {"delivered without receipt",
       "SELECT count(*) FROM job WHERE state = 2 AND receipt IS NULL"},
      {"attempt counters disagree with history rows",
       "SELECT count(*) FROM job j WHERE j.history < j.attempts OR j.history <>"
       " (SELECT count(*) FROM attempt a WHERE a.seq = j.seq)"},
      {"attempt numbers not 0..history-1",
       "SELECT count(*) FROM attempt a JOIN job j ON j.seq = a.seq WHERE a.n >= j.history"},
      {"orphan attempt rows",
       "SELECT count(*) FROM attempt a WHERE NOT EXISTS (SELECT 1 FROM job j WHERE"
       " j.seq = a.seq)"},
  };
  for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
    int64_t bad = query_int(db, zero[i].sql);
    CHECK(bad == 0, "%s: %lld", zero[i].what, (long long)bad);
  }
  int64_t ready = query_int(db, "SELECT count(*) FROM job WHERE state = 0");
  sqlite3_close(db);

  /* A new owner is handed every READY job, the last child's in-flight ones included. */
  ct_spool_options_t o = {.path = path, .owner = true};
  ct_spool_t *sp;
  int rc = ct_spool_open(&sp, &o);
  CHECK(rc == 0, "reopen: %s", ct_strerror(rc));
  if (rc != 0)
    return;
  int64_t far = ct_now_ms() + 3600 * 1000;
  size_t total = 0;
  for (;;) {
    ct_lease_t l[256];
    size_t n = 0;
    rc = ct_spool_take(sp, far, 256, l, &n);
    CHECK(rc == 0, "take: %s", ct_strerror(rc));
    for (size_t i = 0; i < n; i++)
      ct_lease_free(&l[i]);
    total += n;
    if (rc != 0 || n == 0)
      break;
  }
  CHECK((int64_t)total == ready, "a new owner took %zu jobs, %lld are READY", total,
        (long long)ready);
  ct_spool_close(sp);
}

int main(void) {
  char dir[] = "/tmp/ct-test-spool-crash-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  char path[128], log_path[128];
  snprintf(path, sizeof path, "%s/crash.spool", dir);
  snprintf(log_path, sizeof log_path, "%s/acked.log", dir);

  const char *env = getenv("CT_CRASH_SEED");
  uint64_t seed = env != NULL ? strtoull(env, NULL, 10) : (uint64_t)ct_now_ms();
  printf("CT_CRASH_SEED=%llu\n", (unsigned long long)seed);
  rng_state = seed | 1;

  int64_t start = ct_mono_ms();
  int killed = 0;
  for (int round = 0; round < ROUNDS; round++) {
    int pipefd[2];
    if (pipe(pipefd) != 0 || fcntl(pipefd[1], F_SETFL, O_NONBLOCK) != 0) {
      perror("pipe");
      return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 1;
    }
    if (pid == 0) {
      close(pipefd[0]);
      child(path, log_path, round, seed, pipefd[1]);
    }
    close(pipefd[1]);
    /* One round in eight is killed at once, while it opens the spool (or creates and
     * migrates it); the others after 1 or 2 loops and then up to 20 ms more, so the kill
     * lands anywhere in a loop. */
    unsigned delay_us;
    if (below(8) == 0) {
      delay_us = below(1500);
    } else {
      unsigned want = 1 + below(2);
      unsigned seen = wait_progress(pipefd[0], want);
      if (seen < want) {
        fprintf(stderr, "FAIL: round %d: the child finished %u of %u loops in %d s\n", round,
                seen, want, PROGRESS_LIMIT_MS / 1000);
        failures++;
      }
      delay_us = below(20000);
    }
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)delay_us * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    close(pipefd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      killed++;
    } else {
      fprintf(stderr, "FAIL: round %d: child ended by itself (status 0x%x)\n", round, status);
      failures++;
    }
  }
  printf("%d rounds, %d killed, %lld ms\n", ROUNDS, killed, (long long)(ct_mono_ms() - start));
  verify(path, log_path);

  static const char *const suffixes[] = {"", "-wal", "-shm", ".lock"};
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    char p[160];
    snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
    unlink(p);
  }
  unlink(log_path);
  rmdir(dir);
  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
