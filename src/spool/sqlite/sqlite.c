/* The SQLite spool backend.
 *
 * FILES
 *
 * A spool at PATH is the SQLite database PATH, SQLite's PATH-wal and PATH-shm, and the owner
 * lock PATH.lock. All four are created 0600: we create PATH (and PATH.lock) ourselves with
 * that mode before SQLite sees it, and SQLite gives -wal and -shm the mode of the database
 * file. Spools hold personal data (LGPD), so no umask can widen them.
 *
 * SCHEMA (version 1; migrations in schema.c, PRAGMA user_version = migrations applied,
 * PRAGMA application_id = "ctsp")
 *
 *   job      one row per job ever accepted and not yet expired or purged.
 *            seq           INTEGER PRIMARY KEY: enqueue order, and the lease handle
 *            id            the producer's idempotency key, UNIQUE
 *            state         0 READY, 2 DELIVERED, 3 DEAD; never 1 (INFLIGHT is not on disk)
 *            priority, due_ms              take order (due_ms = when it may be taken)
 *            enqueued_ms, updated_ms       updated_ms of a DELIVERED job is its delivery
 *                                          time (expiry), of a DEAD job its dead_at time
 *            attempts      attempts since enqueue or the last replay
 *            history       attempts ever recorded = rows in `attempt` for this seq
 *            last_channel, last_provider   of the last attempt (DLQ filters)
 *            tenant, reason                DLQ filters; reason only while DEAD
 *            receipt       encoded Receipt: the receipt when DELIVERED, the progress so far
 *                          (parts already accepted) otherwise; NULL when there is none
 *            body          the encoded Job, exactly as ct_job_encode_pb wrote it
 *   attempt  (seq, n) -> encoded Attempt; insert-only history, n = 0, 1, ... per job.
 *   event, inbound   webhook events and inbound messages (version 2): see events.c.
 *
 *   job_take       (state, priority DESC, due_ms) WHERE state = 0
 *   job_delivered  (state, updated_ms) WHERE state = 2    expiry, counts
 *   job_dead       (state, updated_ms) WHERE state = 3    DLQ, oldest first
 *
 * The partial indexes lead with the constant `state` so that SQLite can use them as covering
 * indexes (3.40 does not know that a partial index's WHERE fixes a column) and so that a
 * READY row costs one entry in job_take, a delivered one one entry in job_delivered.
 *
 * TAKE
 *
 * Order is priority DESC, due_ms, seq among READY rows due at `now` and not leased. One query
 * ordered that way would walk, in each priority above the one it takes from, every job that is
 * not yet due: a billing cycle enqueued at high priority for tomorrow would be scanned by every
 * take today. So take walks priority levels instead: seek the next lower priority present in
 * job_take (one index seek), then read that level's due jobs in (due_ms, seq) order, which
 * the index yields directly. Cost: O(levels * log n + leased + batch).
 *
 * LEASES
 *
 * A lease is the seq in the owner's in-memory hash set (leases.c), never a row update: on disk
 * a leased job is READY, so a crash or a close re-delivers exactly what was in flight. The
 * take query skips leased rows through the SQL function ct_leased(seq), which SQLite
 * evaluates on job_take's index entries before it fetches the row. Measured here (200k READY
 * rows, take of 1000; µs per take):
 *
 *   in flight              0     1,000    10,000    50,000
 *   ct_leased(seq)       199       284     1,157     4,726
 *   TEMP table, NOT EXISTS 235     494     2,519    11,700   (+723 µs per 1000 lease+release)
 *   SELECT seq, skip in C  500     563     1,550     5,692   (+ a second query per row)
 *
 * so each leased job costs a take about 0.09 µs to step over; the dispatcher's bounded
 * in-flight window bounds that cost.
 *
 * Nothing but the owner's settle changes a READY row that may be leased: enqueue only inserts,
 * replay and purge touch DEAD rows, expire DELIVERED ones. So a lease stays valid without any
 * lock on its row, and a non-owner (the CLI) can write at any time.
 *
 * GROUP COMMIT AND DURABILITY
 *
 * Every mutating call is one BEGIN IMMEDIATE ... COMMIT. In WAL mode with synchronous=FULL a
 * commit appends the batch's pages to the WAL and fsyncs it once, so a batch of 1,000 costs
 * about one fsync. IMMEDIATE takes the write lock up front, where a busy writer is waited for
 * (busy_timeout) rather than failing the transaction half-way when it upgrades; past the
 * timeout the call returns CT_ELOCKED. On any error the transaction is rolled back and
 * in-memory state (results, leases) is left as it was: SQLite's WAL keeps every committed
 * batch intact across disk-full, I/O errors and kill -9.
 *
 * WHEN A COMMIT FAILS: THE OUTCOME JOURNAL
 *
 * A full disk makes every commit fail, and a settle that cannot commit used to keep its
 * leases and be retried every second. That broke two promises at once. A stop never ended
 * (the engine waits for every outcome to be durable), and the provider had already accepted
 * the messages, so the restart that ended it by force sent all of them again: max_inflight
 * duplicates per restart, without end under a restart loop. Meanwhile take went on leasing,
 * so more messages went out whose outcomes could not be kept.
 *
 * What is needed is a place where an outcome can be made durable when the database cannot,
 * and that does not itself need free space when the disk is full. Two ways were weighed:
 *
 *   - Headroom for the WAL: a ballast file created at open and deleted when a commit fails,
 *     so the retry finds room. Rejected: the room is released to the whole file system, and
 *     the writer that filled the disk (a `carteiro enqueue` of a billing cycle, in the case
 *     that showed the bug) takes it as readily as we do; and what a commit needs is not
 *     bounded by the outcomes it holds (every touched page of the table and its indexes goes
 *     to the WAL, 4 KiB each, and a checkpoint that cannot grow the main file keeps the WAL
 *     growing), so no ballast size is known to be enough.
 *   - A side journal of outcomes, allocated in full when it is created: chosen. Its room is
 *     ours alone, a settle op is a few hundred bytes, and max_inflight of them (the most that
 *     can be waiting, since take stops, below) is a known size: 2 KiB an outcome, 4 MiB for
 *     the default 2,000. Writing it overwrites blocks the file already owns, so it works on a
 *     disk with no byte free. The cost is this section and journal.c.
 *
 * The journal is PATH.outcomes (format in journal.h: two header slots, checksummed records,
 * a generation number, so a torn write is recognized and ignored). It lives beside the spool
 * because its room is reserved when it is created, not when it is needed; it is created by
 * the owner's open (opts->outcome_journal outcomes of room, posix_fallocate, then fsync of
 * file and directory) and open fails with CT_ENOSPC when that room cannot be had, rather than
 * run with no place to put outcomes. On copy-on-write file systems (btrfs, ZFS) an overwrite
 * allocates new blocks and the reservation does not hold; spools belong on ext4 or XFS.
 *
 * A settle whose commit fails with CT_ENOSPC or CT_EIO writes its ops to the journal (one
 * write, one fdatasync) and returns 0. The leases of those jobs stay in the lease set, marked
 * as being settled: take skips them and a second settle of the same seq gets CT_ESTATE, until
 * the journal is recorded. While the journal holds outcomes, every take and settle first tries
 * to record all of them in one transaction (take leases nothing if that fails: no new work
 * while outcomes cannot be committed), and so does the next owner's open, before anything is
 * taken. Once recorded, the journal is emptied (a new generation in the other header slot)
 * and the leases end. When even the journal has no room for a batch (more than max_inflight
 * outcomes, or records larger than 2 KiB on average) settle returns the error as before.
 *
 * Recording a journaled op is idempotent, because a crash between the commit that records
 * the journal and the write that empties it replays the same records at the next open (and
 * an fsync that failed may still surface a settle the journal also holds). A record is
 * applied only when its job's row is READY, its id is the job id the record names (a seq
 * could name another job if the spool file were replaced behind the journal's back) and the
 * last attempt in the job's history is not the record's own last attempt byte for byte.
 * ACK and DEAD leave READY, so they apply once; a RETRY or RELEASE without an attempt sets
 * the same due time and progress again, which changes nothing.
 *
 * INVARIANTS
 *   - One row per id; state is 0, 2 or 3; reason is set iff state = 3.
 *   - history = count(attempt rows of seq) >= attempts.
 *   - Every leased seq is a READY row. Only DELIVERED and DEAD rows are ever deleted, so the
 *     seq of a deleted row may be reused (no AUTOINCREMENT) but never while it is leased.
 *   - Every seq with an outcome in the journal is leased and marked.
 *   - take and the read-only calls each read one snapshot (one read transaction).
 */
#include "spool/spool_int.h"
#include "spool/sqlite/journal.h"
#include "spool/sqlite/events.h"
#include "spool/sqlite/leases.h"
#include "spool/sqlite/sqlite_int.h"

#include "common/error.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
  S_BEGIN_READ,
  S_BEGIN_WRITE,
  S_COMMIT,
  S_ROLLBACK,
  S_INSERT,
  S_NEXT_LEVEL,
  S_TAKE_LEVEL,
  S_ADD_ATTEMPT,
  S_BUMP_HISTORY,
  S_SETTLE,
  S_GET_JOB,
  S_GET_ATTEMPTS,
  S_STATS_READY,
  S_STATS_DELIVERED,
  S_STATS_DEAD,
  S_EXPIRE_ATTEMPTS,
  S_EXPIRE_JOBS,
  S_JOB_ID,
  S_JOURNAL_CHECK,
  N_STMTS
};

/* Every fixed statement, prepared once per connection. The DLQ calls build theirs per call
 * (sql_add_dead_select): their WHERE clause depends on which filter fields are set, and they
 * are operator commands, not the delivery path. */
static const char *const stmt_sql[N_STMTS] = {
    [S_BEGIN_READ] = "BEGIN DEFERRED",
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_INSERT] = "INSERT INTO job (id, tenant, state, priority, due_ms, enqueued_ms, updated_ms,"
                 " body) VALUES (?1, ?2, 0, ?3, ?4, ?5, ?5, ?6) ON CONFLICT (id) DO NOTHING",
    [S_NEXT_LEVEL] = "SELECT priority FROM job WHERE state = 0 AND priority < ?1"
                     " ORDER BY priority DESC LIMIT 1",
    [S_TAKE_LEVEL] = "SELECT seq, body, receipt, attempts, due_ms, enqueued_ms FROM job"
                     " WHERE state = 0 AND priority = ?1 AND due_ms <= ?2"
                     " AND NOT ct_leased(seq) ORDER BY due_ms, seq LIMIT ?3",
    /* Runs before S_SETTLE, with the same condition on the row, so that an attempt is
     * recorded exactly when the settle applies. */
    [S_ADD_ATTEMPT] = "INSERT INTO attempt (seq, n, body)"
                      " SELECT seq, history, ?2 FROM job WHERE seq = ?1 AND state = 0",
    /* After each earlier attempt of a settle, so the next one gets the next number. */
    [S_BUMP_HISTORY] = "UPDATE job SET history = history + 1 WHERE seq = ?1 AND state = 0",
    [S_SETTLE] = "UPDATE job SET state = ?2, due_ms = coalesce(?3, due_ms), updated_ms = ?4,"
                 " receipt = coalesce(?5, receipt), reason = ?6, attempts = attempts + ?7,"
                 " history = history + ?10, last_channel = coalesce(?8, last_channel),"
                 " last_provider = coalesce(?9, last_provider)"
                 " WHERE seq = ?1 AND state = 0",
    [S_GET_JOB] = "SELECT seq, state, body, receipt, reason, enqueued_ms, updated_ms, due_ms"
                  " FROM job WHERE id = ?1",
    [S_GET_ATTEMPTS] = "SELECT body FROM attempt WHERE seq = ?1 ORDER BY n",
    [S_STATS_READY] = "SELECT count(*), coalesce(sum(due_ms <= ?1), 0), coalesce(min(due_ms), 0)"
                      " FROM job WHERE state = 0",
    [S_STATS_DELIVERED] = "SELECT count(*) FROM job WHERE state = 2",
    [S_STATS_DEAD] = "SELECT reason, count(*) FROM job WHERE state = 3"
                     " GROUP BY reason ORDER BY 2 DESC, 1",
    [S_EXPIRE_ATTEMPTS] = "DELETE FROM attempt WHERE seq IN"
                          " (SELECT seq FROM job WHERE state = 2 AND updated_ms < ?1)",
    [S_EXPIRE_JOBS] = "DELETE FROM job WHERE state = 2 AND updated_ms < ?1",
    [S_JOB_ID] = "SELECT id FROM job WHERE seq = ?1 AND state = 0",
    /* What a journaled op is checked against: the job, its state, its last attempt. */
    [S_JOURNAL_CHECK] = "SELECT id, state, (SELECT body FROM attempt a WHERE a.seq = job.seq"
                        " AND a.n = job.history - 1) FROM job WHERE seq = ?1",
};

/* The on-disk state codes (ct_job_state_t values, minus INFLIGHT). */
enum { DISK_READY = 0, DISK_DELIVERED = 2, DISK_DEAD = 3 };

struct ct__spool_backend {
  sqlite3 *db;
  sqlite3_stmt *st[N_STMTS];
  char *path;
  char *wal_path;
  int lock_fd; /* owner lock, -1 when not the owner */
  int64_t retention_ms;
  ct__leases_t leases;
  ct__spool_buf_t attempt_buf;
  ct__spool_buf_t receipt_buf;
  ct__journal_t *journal;   /* the outcome journal; NULL when there is none */
  bool failing;             /* the last settle (or recording of the journal) failed for the disk */
  uint64_t commit_failures; /* how many did, since open */
  ct__sqlite_events_t *events; /* webhook events (events.c) */
};

/* Errors */

int ct__sqlite_error(sqlite3 *db, int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_ROW:
  case SQLITE_DONE:
    return 0;
  case SQLITE_NOMEM:
    return CT_ENOMEM;
  case SQLITE_FULL:
    return CT_ENOSPC;
  case SQLITE_IOERR:
    if (rc == SQLITE_IOERR_NOMEM)
      return CT_ENOMEM;
    if (db != NULL && (sqlite3_system_errno(db) == ENOSPC || sqlite3_system_errno(db) == EDQUOT))
      return CT_ENOSPC;
    return CT_EIO;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return CT_ELOCKED;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return CT_ECORRUPT;
  case SQLITE_READONLY:
  case SQLITE_PERM:
  case SQLITE_AUTH:
    return CT_EPERM;
  case SQLITE_TOOBIG:
    return CT_ETOOBIG;
  default:
    return CT_EIO;
  }
}

/* Maps and logs a failed SQLite call. The messages name tables and columns, never values.
 * While commits are known to fail for the disk, the same failure again is not news. */
static int fail(ct__spool_backend_t *be, const char *what, int src) {
  int rc = ct__sqlite_error(be->db, src);
  if (rc == CT_ELOCKED || (be->failing && (rc == CT_ENOSPC || rc == CT_EIO)))
    ct_debug("spool: %s: %s", what, sqlite3_errstr(src));
  else
    ct_warn("spool: %s: %s (%s)", what, sqlite3_errmsg(be->db), ct_errname(rc));
  return rc;
}

/* Statements and transactions */

/* Steps a statement that returns no rows, then resets it. */
static int run(ct__spool_backend_t *be, int id, const char *what) {
  sqlite3_stmt *st = be->st[id];
  int src = sqlite3_step(st);
  sqlite3_reset(st);
  return src == SQLITE_DONE ? 0 : fail(be, what, src);
}

static void rollback(ct__spool_backend_t *be) {
  if (!sqlite3_get_autocommit(be->db))
    run(be, S_ROLLBACK, "rollback");
}

static int begin(ct__spool_backend_t *be, bool write) {
  return write ? run(be, S_BEGIN_WRITE, "begin") : run(be, S_BEGIN_READ, "begin");
}

/* Commits (for a write transaction: makes it durable); on failure rolls back. */
static int commit(ct__spool_backend_t *be) {
  int rc = run(be, S_COMMIT, "commit");
  if (rc != 0)
    rollback(be);
  return rc;
}

/* Binds a blob; an empty one must not become NULL (sqlite3_bind_blob with a NULL pointer). */
static int bind_blob(sqlite3_stmt *st, int i, const void *data, size_t len) {
  if (len == 0)
    return sqlite3_bind_zeroblob(st, i, 0);
  return sqlite3_bind_blob64(st, i, data, len, SQLITE_STATIC);
}

static const char *column_text(sqlite3_stmt *st, int i) {
  const char *s = (const char *)sqlite3_column_text(st, i);
  return s != NULL ? s : "";
}

static int bind_text(sqlite3_stmt *st, int i, const char *s) {
  return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Open and close */

static char *concat(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 1);
  if (s == NULL)
    return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb + 1);
  return s;
}

/* Opens (creating 0600) and locks PATH.lock. The lock lives as long as the descriptor. */
static int take_owner_lock(ct__spool_backend_t *be) {
  char *lock_path = concat(be->path, ".lock");
  if (lock_path == NULL)
    return CT_ENOMEM;
  int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  int err = errno;
  free(lock_path);
  if (fd < 0)
    return ct_err_from_errno(err);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    err = errno;
    close(fd);
    return err == EWOULDBLOCK ? CT_EBUSY : ct_err_from_errno(err);
  }
  be->lock_fd = fd;
  return 0;
}

/* Creates the database file 0600 if it is missing, so that SQLite, which would create it
 * 0644 & ~umask, finds it and gives the same mode to -wal and -shm. A readonly open never
 * creates anything. */
static int create_file(const char *path, bool readonly) {
  struct stat sb;
  if (readonly)
    return stat(path, &sb) == 0 ? 0 : ct_err_from_errno(errno);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno == EEXIST ? 0 : ct_err_from_errno(errno);
  /* The umask can only have narrowed 0600; make it exactly that. */
  int rc = fchmod(fd, 0600) == 0 ? 0 : ct_err_from_errno(errno);
  close(fd);
  return rc;
}

static void sql_leased(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const ct__leases_t *leases = sqlite3_user_data(ctx);
  sqlite3_result_int(ctx, ct__leases_has(leases, sqlite3_value_int64(argv[0])));
}

/* Per-connection settings. synchronous=FULL: a commit returns only after the WAL is fsynced. */
static const char connection_pragmas[] = "PRAGMA synchronous = FULL;"
                                         "PRAGMA cache_size = -16384;"
                                         "PRAGMA temp_store = MEMORY;"
                                         "PRAGMA journal_size_limit = 67108864;"
                                         "PRAGMA trusted_schema = OFF;";

/* The outcome journal's part of open, take and settle (defined with the journal, below). */
static int open_journal(ct__spool_backend_t *be, size_t outcomes);
static int journal_apply(ct__spool_backend_t *be);
static void note_commit(ct__spool_backend_t *be, int rc);

static int sqlite_open(ct__spool_backend_t **out, const ct_spool_options_t *opts) {
  int rc, src;
  ct__spool_backend_t *be = calloc(1, sizeof *be);
  if (be == NULL)
    return CT_ENOMEM;
  be->lock_fd = -1;
  be->retention_ms = opts->receipt_retention_ms;
  be->path = concat(opts->path, "");
  be->wal_path = concat(opts->path, "-wal");
  if (be->path == NULL || be->wal_path == NULL) {
    rc = CT_ENOMEM;
    goto fail_be;
  }

  /* The lock comes first: a second owner fails before it touches the database. */
  if (opts->owner) {
    rc = take_owner_lock(be);
    if (rc != 0)
      goto fail_be;
  }
  rc = create_file(be->path, opts->readonly);
  if (rc != 0)
    goto fail_lock;

  int flags = (opts->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
              SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  src = sqlite3_open_v2(be->path, &be->db, flags, NULL);
  if (src != SQLITE_OK) {
    rc = be->db != NULL ? fail(be, "open", src) : CT_ENOMEM;
    goto fail_db;
  }
  sqlite3_busy_timeout(be->db, opts->busy_timeout_ms);
  src = sqlite3_exec(be->db, connection_pragmas, NULL, NULL, NULL);
  if (src != SQLITE_OK) {
    rc = fail(be, "configure", src);
    goto fail_db;
  }
  rc = ct__sqlite_schema_init(be->db, opts->readonly);
  if (rc != 0)
    goto fail_db;
  src = sqlite3_create_function_v2(be->db, "ct_leased", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY,
                                   &be->leases, sql_leased, NULL, NULL, NULL);
  if (src != SQLITE_OK) {
    rc = fail(be, "create function", src);
    goto fail_db;
  }
  for (int i = 0; i < N_STMTS; i++) {
    src = sqlite3_prepare_v3(be->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &be->st[i],
                             NULL);
    if (src != SQLITE_OK) {
      rc = fail(be, "prepare", src);
      goto fail_stmts;
    }
  }
  if (opts->owner && opts->outcome_journal > 0) {
    rc = open_journal(be, opts->outcome_journal);
    if (rc != 0)
      goto fail_journal;
  }
  rc = ct__sqlite_events_open(be->db, opts->event_retention_ms, &be->events);
  if (rc != 0)
    goto fail_journal;
  *out = be;
  return 0;

fail_journal:
  ct__journal_close(be->journal);
  ct__leases_free(&be->leases);
  ct__spool_buf_free(&be->attempt_buf);
  ct__spool_buf_free(&be->receipt_buf);
fail_stmts:
  for (int i = 0; i < N_STMTS; i++)
    sqlite3_finalize(be->st[i]);
fail_db:
  sqlite3_close_v2(be->db);
fail_lock:
  if (be->lock_fd >= 0)
    close(be->lock_fd);
fail_be:
  free(be->wal_path);
  free(be->path);
  free(be);
  return rc;
}

static void sqlite_close(ct__spool_backend_t *be) {
  /* Outcomes still in the journal stay there for the next owner's open. */
  ct__journal_close(be->journal);
  ct__sqlite_events_close(be->events);
  for (int i = 0; i < N_STMTS; i++)
    sqlite3_finalize(be->st[i]);
  sqlite3_close_v2(be->db);
  /* Closing the descriptor releases the owner lock; the lock file stays, as removing it would
   * race with the next owner's open. */
  if (be->lock_fd >= 0)
    close(be->lock_fd);
  ct__leases_free(&be->leases);
  ct__spool_buf_free(&be->attempt_buf);
  ct__spool_buf_free(&be->receipt_buf);
  free(be->wal_path);
  free(be->path);
  free(be);
}

/* Enqueue */

static int sqlite_enqueue(ct__spool_backend_t *be, ct_job_t *const *jobs, size_t n,
                          int64_t now_ms, int *results) {
  sqlite3_stmt *st = be->st[S_INSERT];
  int *res = malloc(n * sizeof *res);
  if (res == NULL)
    return CT_ENOMEM;
  int rc = begin(be, true);
  if (rc != 0)
    goto done;
  for (size_t i = 0; i < n; i++) {
    const ct_job_t *job = jobs[i];
    uint8_t *body;
    size_t len;
    rc = ct_job_encode_pb(job, &body, &len);
    if (rc != 0)
      break;
    int64_t due = job->not_before_ms > now_ms ? job->not_before_ms : now_ms;
    bind_text(st, 1, job->id);
    bind_text(st, 2, job->tenant);
    sqlite3_bind_int(st, 3, job->priority);
    sqlite3_bind_int64(st, 4, due);
    sqlite3_bind_int64(st, 5, now_ms);
    bind_blob(st, 6, body, len);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    free(body);
    if (src != SQLITE_DONE) {
      rc = fail(be, "enqueue", src);
      break;
    }
    /* ON CONFLICT DO NOTHING: no change means the id was already there, stored by an
     * earlier batch or earlier in this one. */
    res[i] = sqlite3_changes(be->db) == 1 ? 0 : CT_EDUPLICATE;
  }
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  if (rc == 0)
    memcpy(results, res, n * sizeof *res);
done:
  free(res);
  return rc;
}

/* Take */

/* Fills `lease` from the current row of S_TAKE_LEVEL. */
static int lease_from_row(sqlite3_stmt *st, ct_lease_t *lease) {
  char err[128];
  ct_lease_t l = {0};
  l.seq = sqlite3_column_int64(st, 0);
  const void *body = sqlite3_column_blob(st, 1);
  size_t body_len = (size_t)sqlite3_column_bytes(st, 1);
  int rc = ct_job_decode_pb(body, body_len, &l.job, err, sizeof err);
  if (rc != 0) {
    ct_warn("spool: job seq=%lld does not decode: %s", (long long)l.seq, err);
    return rc == CT_ENOMEM ? rc : CT_ECORRUPT;
  }
  if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
    rc = ct__spool_unpack_receipt(sqlite3_column_blob(st, 2),
                                  (size_t)sqlite3_column_bytes(st, 2), &l.progress);
    if (rc != 0) {
      ct_job_free(l.job);
      return rc;
    }
  }
  l.attempts = (uint32_t)sqlite3_column_int64(st, 3);
  l.due_ms = sqlite3_column_int64(st, 4);
  l.enqueued_ms = sqlite3_column_int64(st, 5);
  *lease = l;
  return 0;
}

/* Jobs that no longer decode (a damaged page, a row written by hand) would otherwise stop
 * every take at the same row: take moves them to the DLQ instead, where `dlq list` shows their
 * id and an operator can purge them. */
#define MAX_QUARANTINE 64

static void quarantine(ct__spool_backend_t *be, const int64_t *seqs, size_t n, int64_t now_ms) {
  sqlite3_stmt *st = NULL;
  int src = sqlite3_prepare_v2(be->db,
                               "UPDATE job SET state = 3, reason = 'undecodable', updated_ms = ?2"
                               " WHERE seq = ?1 AND state = 0",
                               -1, &st, NULL);
  if (src != SQLITE_OK || begin(be, true) != 0) {
    sqlite3_finalize(st);
    return;
  }
  for (size_t i = 0; i < n && src == SQLITE_OK; i++) {
    sqlite3_bind_int64(st, 1, seqs[i]);
    sqlite3_bind_int64(st, 2, now_ms);
    src = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if (src == SQLITE_OK && commit(be) == 0)
    ct_error("spool: %zu stored jobs do not decode; moved to the DLQ with reason undecodable",
             n);
  else
    rollback(be);
}

static int sqlite_take(ct__spool_backend_t *be, int64_t now_ms, size_t max, ct_lease_t *out,
                       size_t *n) {
  sqlite3_stmt *next = be->st[S_NEXT_LEVEL], *level = be->st[S_TAKE_LEVEL];
  size_t got = 0;
  int64_t bad[MAX_QUARANTINE];
  size_t n_bad = 0;
  /* No new work before the outcomes of the old are in the spool. */
  int rc = journal_apply(be);
  if (rc == 0)
    rc = begin(be, false);
  if (rc != 0)
    return rc;
  int64_t priority = INT64_MAX;
  while (rc == 0 && got < max) {
    sqlite3_bind_int64(next, 1, priority);
    int src = sqlite3_step(next);
    if (src == SQLITE_ROW)
      priority = sqlite3_column_int64(next, 0);
    sqlite3_reset(next);
    if (src == SQLITE_DONE)
      break; /* no lower priority level left */
    if (src != SQLITE_ROW) {
      rc = fail(be, "take", src);
      break;
    }
    sqlite3_bind_int64(level, 1, priority);
    sqlite3_bind_int64(level, 2, now_ms);
    sqlite3_bind_int64(level, 3, (int64_t)(max - got));
    for (;;) {
      src = sqlite3_step(level);
      if (src != SQLITE_ROW)
        break;
      rc = lease_from_row(level, &out[got]);
      if (rc == CT_ECORRUPT && n_bad < MAX_QUARANTINE) {
        bad[n_bad++] = sqlite3_column_int64(level, 0);
        rc = 0;
        continue;
      }
      if (rc == 0) {
        rc = ct__leases_add(&be->leases, out[got].seq);
        if (rc != 0)
          ct_lease_free(&out[got]);
      }
      if (rc != 0)
        break;
      got++;
    }
    sqlite3_reset(level);
    if (rc == 0 && src != SQLITE_DONE)
      rc = fail(be, "take", src);
  }
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  if (rc != 0) {
    for (size_t i = 0; i < got; i++) {
      ct__leases_remove(&be->leases, out[i].seq);
      ct_lease_free(&out[i]);
    }
    return rc;
  }
  if (n_bad > 0)
    quarantine(be, bad, n_bad, now_ms);
  *n = got;
  return 0;
}

/* Settle */

typedef struct {
  int result;
  bool marked; /* this op holds the mark on its lease */
} settle_state_t;

/* Records one op inside the settle transaction. *applied is false when the row was not READY
 * (which would break an invariant; the lease is dropped all the same). */
static int settle_one(ct__spool_backend_t *be, const ct_settle_t *op, int64_t now_ms,
                      bool *applied) {
  int rc;
  for (size_t i = 0; i < op->n_earlier; i++) {
    size_t len;
    rc = ct__spool_pack_attempt(&be->attempt_buf, op->earlier[i], &len);
    if (rc != 0)
      return rc;
    sqlite3_stmt *add = be->st[S_ADD_ATTEMPT];
    sqlite3_bind_int64(add, 1, op->seq);
    bind_blob(add, 2, be->attempt_buf.data, len);
    rc = run(be, S_ADD_ATTEMPT, "settle");
    if (rc != 0)
      return rc;
    sqlite3_bind_int64(be->st[S_BUMP_HISTORY], 1, op->seq);
    rc = run(be, S_BUMP_HISTORY, "settle");
    if (rc != 0)
      return rc;
  }
  const ct_attempt_t *a = op->attempt;
  if (a != NULL) {
    size_t len;
    rc = ct__spool_pack_attempt(&be->attempt_buf, a, &len);
    if (rc != 0)
      return rc;
    sqlite3_stmt *st = be->st[S_ADD_ATTEMPT];
    sqlite3_bind_int64(st, 1, op->seq);
    bind_blob(st, 2, be->attempt_buf.data, len);
    rc = run(be, S_ADD_ATTEMPT, "settle");
    if (rc != 0)
      return rc;
  }

  sqlite3_stmt *st = be->st[S_SETTLE];
  sqlite3_bind_int64(st, 1, op->seq);
  sqlite3_bind_int64(st, 4, now_ms);
  sqlite3_bind_null(st, 3); /* due_ms unchanged */
  sqlite3_bind_null(st, 5); /* receipt unchanged */
  sqlite3_bind_null(st, 6); /* no reason */
  const ct_receipt_t *receipt = NULL;
  switch (op->kind) {
  case CT_SETTLE_ACK:
    sqlite3_bind_int(st, 2, DISK_DELIVERED);
    receipt = op->receipt;
    break;
  case CT_SETTLE_RETRY:
    sqlite3_bind_int(st, 2, DISK_READY);
    sqlite3_bind_int64(st, 3, op->due_ms != 0 ? op->due_ms : now_ms);
    receipt = op->receipt;
    break;
  case CT_SETTLE_DEAD:
    sqlite3_bind_int(st, 2, DISK_DEAD);
    bind_text(st, 6, op->reason != NULL && op->reason[0] != '\0' ? op->reason : "unspecified");
    /* What was delivered before the job died stays on record (and is not re-sent after a
     * replay). */
    receipt = op->receipt;
    break;
  case CT_SETTLE_RELEASE:
    sqlite3_bind_int(st, 2, DISK_READY);
    sqlite3_bind_int64(st, 3, op->due_ms != 0 ? op->due_ms : now_ms);
    break;
  }
  if (receipt != NULL) {
    size_t len;
    rc = ct__spool_pack_receipt(&be->receipt_buf, receipt, &len);
    if (rc != 0)
      return rc;
    bind_blob(st, 5, be->receipt_buf.data, len);
  }
  /* Only failures count toward max_attempts: an accepted part, or a request the engine did
   * not get to send (a paused account), is history but not a try that failed. */
  bool counts = a != NULL && (a->outcome == CARTEIRO__V1__OUTCOME__OUTCOME_TRANSIENT ||
                              a->outcome == CARTEIRO__V1__OUTCOME__OUTCOME_PERMANENT);
  sqlite3_bind_int(st, 7, counts ? 1 : 0);
  sqlite3_bind_int(st, 10, a != NULL ? 1 : 0);
  /* The DLQ's channel and provider are those of the last failure: an accepted part that
   * went out after it is not why the job is dead. */
  if (counts) {
    sqlite3_bind_int(st, 8, a->channel);
    bind_text(st, 9, a->provider != NULL ? a->provider : "");
  } else {
    sqlite3_bind_null(st, 8);
    sqlite3_bind_null(st, 9);
  }
  rc = run(be, S_SETTLE, "settle");
  if (rc != 0)
    return rc;
  *applied = sqlite3_changes(be->db) == 1;
  return 0;
}

static int journal_settle(ct__spool_backend_t *be, const ct_settle_t *ops, size_t n,
                          int64_t now_ms, settle_state_t *ss, int why);
static int sqlite_settle(ct__spool_backend_t *be, ct_settle_t *ops, size_t n, int64_t now_ms) {
  settle_state_t *ss = malloc(n * sizeof *ss);
  if (ss == NULL)
    return CT_ENOMEM;
  /* Outcomes waiting in the journal go into the spool before these; when they cannot, these
   * cannot either and join them. */
  int rc = journal_apply(be);
  /* Mark first: an op whose seq is not leased, or is leased but already settled earlier in
   * this batch (or waiting in the journal), gets CT_ESTATE. */
  for (size_t i = 0; i < n; i++) {
    ss[i].marked = ct__leases_mark(&be->leases, ops[i].seq);
    ss[i].result = ss[i].marked ? 0 : CT_ESTATE;
  }
  if (rc == 0) {
    rc = begin(be, true);
    for (size_t i = 0; rc == 0 && i < n; i++) {
      if (!ss[i].marked)
        continue;
      bool applied = false;
      rc = settle_one(be, &ops[i], now_ms, &applied);
      if (rc == 0 && !applied) {
        ct_warn("spool: leased seq=%lld is not READY on disk; lease dropped",
                (long long)ops[i].seq);
        ss[i].result = CT_ESTATE;
      }
    }
    if (rc == 0)
      rc = commit(be);
    else
      rollback(be);
    note_commit(be, rc);
  }
  if (be->journal != NULL && (rc == CT_ENOSPC || rc == CT_EIO) &&
      journal_settle(be, ops, n, now_ms, ss, rc) == 0) {
    /* Durable in the journal: the leases stay marked until it is recorded. */
    for (size_t i = 0; i < n; i++)
      ops[i].result = ss[i].result;
    free(ss);
    return 0;
  }

  /* Committed: end the leases. Failed: keep them all, so the caller can try again. */
  for (size_t i = 0; i < n; i++) {
    if (!ss[i].marked)
      continue;
    if (rc == 0)
      ct__leases_remove(&be->leases, ops[i].seq);
    else
      ct__leases_unmark(&be->leases, ops[i].seq);
  }
  if (rc == 0) {
    for (size_t i = 0; i < n; i++)
      ops[i].result = ss[i].result;
  }
  free(ss);
  return rc;
}

/* The outcome journal (see "WHEN A COMMIT FAILS" above) */

static bool disk_failure(int rc) { return rc == CT_ENOSPC || rc == CT_EIO; }

static void note_commit(ct__spool_backend_t *be, int rc) {
  if (disk_failure(rc)) {
    be->commit_failures++;
    be->failing = true;
  } else if (rc == 0) {
    be->failing = false;
  }
}

typedef struct {
  ct__spool_backend_t *be;
  int64_t *seqs; /* of the records visited */
  size_t n, cap;
  size_t skipped; /* already recorded, or no longer the job's */
} apply_t;

static int remember_seq(apply_t *a, int64_t seq) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    int64_t *s = realloc(a->seqs, cap * sizeof *s);
    if (s == NULL)
      return CT_ENOMEM;
    a->seqs = s;
    a->cap = cap;
  }
  a->seqs[a->n++] = seq;
  return 0;
}

/* Records one journaled op inside the caller's transaction, unless it is recorded already
 * (the idempotence rule in the essay). */
static int apply_record(const ct__journal_record_t *r, void *arg) {
  apply_t *a = arg;
  ct__spool_backend_t *be = a->be;
  int rc = remember_seq(a, r->op.seq);
  if (rc != 0)
    return rc;
  sqlite3_stmt *st = be->st[S_JOURNAL_CHECK];
  sqlite3_bind_int64(st, 1, r->op.seq);
  int src = sqlite3_step(st);
  if (src != SQLITE_ROW) {
    sqlite3_reset(st);
    if (src != SQLITE_DONE)
      return fail(be, "outcome journal", src);
    ct_warn("spool: journaled outcome of job=%s: seq=%lld is not in the spool; skipped",
            r->job_id, (long long)r->op.seq);
    a->skipped++;
    return 0;
  }
  bool same_job = strcmp(column_text(st, 0), r->job_id) == 0;
  bool done = sqlite3_column_int(st, 1) != DISK_READY;
  if (!done && r->last != NULL && sqlite3_column_type(st, 2) != SQLITE_NULL)
    done = (size_t)sqlite3_column_bytes(st, 2) == r->last_len &&
           memcmp(sqlite3_column_blob(st, 2), r->last, r->last_len) == 0;
  sqlite3_reset(st);
  if (!same_job) {
    ct_warn("spool: journaled outcome of job=%s: seq=%lld is another job now; skipped",
            r->job_id, (long long)r->op.seq);
    a->skipped++;
    return 0;
  }
  if (done) {
    a->skipped++;
    return 0;
  }
  bool applied = false;
  return settle_one(be, &r->op, r->now_ms, &applied);
}

/* Records every outcome the journal holds in one transaction, then empties the journal and
 * ends those leases. On error the journal and the leases are as they were. */
static int journal_apply(ct__spool_backend_t *be) {
  if (be->journal == NULL || ct__journal_count(be->journal) == 0)
    return 0;
  apply_t a = {.be = be};
  int rc = begin(be, true);
  if (rc != 0) {
    note_commit(be, rc);
    return rc;
  }
  rc = ct__journal_read(be->journal, apply_record, &a);
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  note_commit(be, rc);
  size_t n = ct__journal_count(be->journal);
  /* Recorded: now the journal may forget them. Should that write fail, they are recorded
   * twice at the next open, which the rule above makes harmless; the leases stay until then,
   * so that no newer outcome of these jobs can come before the stale copy is replayed. */
  if (rc == 0)
    rc = ct__journal_reset(be->journal);
  if (rc == 0) {
    for (size_t i = 0; i < a.n; i++)
      ct__leases_remove(&be->leases, a.seqs[i]);
    ct_info("spool: recorded %zu outcomes from the outcome journal (%zu skipped: recorded "
            "already, or no longer that job's)", n - a.skipped, a.skipped);
  }
  free(a.seqs);
  return rc;
}

/* Writes the marked ops of a settle batch that could not commit to the journal. On success
 * their leases stay marked (see the essay) and each op's result is in ss; an op whose job is
 * not READY any more gets CT_ESTATE and its lease ends, as in a committed settle. */
static int journal_settle(ct__spool_backend_t *be, const ct_settle_t *ops, size_t n,
                          int64_t now_ms, settle_state_t *ss, int why) {
  ct__journal_entry_t *entries = calloc(n, sizeof *entries);
  bool *gone = calloc(n, sizeof *gone);
  int rc = entries == NULL || gone == NULL ? CT_ENOMEM : begin(be, false);
  size_t k = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (!ss[i].marked)
      continue;
    sqlite3_stmt *st = be->st[S_JOB_ID];
    sqlite3_bind_int64(st, 1, ops[i].seq);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
      char *id = strdup(column_text(st, 0));
      if (id == NULL)
        rc = CT_ENOMEM;
      else
        entries[k++] = (ct__journal_entry_t){.op = &ops[i], .job_id = id, .now_ms = now_ms};
    } else if (src == SQLITE_DONE) {
      gone[i] = true;
    } else {
      rc = fail(be, "outcome journal", src);
    }
    sqlite3_reset(st);
  }
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  bool first = ct__journal_count(be->journal) == 0;
  if (rc == 0)
    rc = ct__journal_append(be->journal, entries, k);
  if (rc == 0) {
    for (size_t i = 0; i < n; i++) {
      if (gone[i]) {
        ct_warn("spool: leased seq=%lld is not READY on disk; lease dropped",
                (long long)ops[i].seq);
        ct__leases_remove(&be->leases, ops[i].seq);
        ss[i].result = CT_ESTATE;
      }
    }
    if (first)
      ct_warn("spool: outcomes cannot be committed (%s); keeping them in the outcome journal "
              "(%zu now, %llu of %llu bytes) until they can",
              ct_strerror(why), ct__journal_count(be->journal),
              (unsigned long long)ct__journal_used(be->journal),
              (unsigned long long)ct__journal_capacity(be->journal));
    else
      ct_debug("spool: %zu more outcomes in the outcome journal (%zu, %llu bytes)", k,
               ct__journal_count(be->journal),
               (unsigned long long)ct__journal_used(be->journal));
  }
  for (size_t i = 0; entries != NULL && i < k; i++)
    free((char *)entries[i].job_id);
  free(entries);
  free(gone);
  return rc;
}

/* Opens the owner's journal and takes up what an earlier owner left in it: its jobs are
 * leased (so not taken) and the outcomes recorded now if the spool takes commits. */
static int lease_journaled(const ct__journal_record_t *r, void *arg) {
  ct__leases_t *leases = arg;
  if (ct__leases_has(leases, r->op.seq))
    return 0;
  int rc = ct__leases_add(leases, r->op.seq);
  if (rc == 0)
    ct__leases_mark(leases, r->op.seq);
  return rc;
}

static int open_journal(ct__spool_backend_t *be, size_t outcomes) {
  char *path = concat(be->path, ".outcomes");
  if (path == NULL)
    return CT_ENOMEM;
  size_t capacity = outcomes * CT__JOURNAL_BYTES_PER_OUTCOME;
  int rc = ct__journal_open(&be->journal, path, capacity);
  if (rc == CT_ENOSPC)
    ct_error("spool: no room to create the outcome journal %s (%zu bytes for %zu outcomes): "
             "free space on the spool's file system", path, capacity, outcomes);
  else if (rc == CT_ECORRUPT)
    ct_error("spool: %s is not an outcome journal, or is damaged (see the runbook)", path);
  else if (rc != 0)
    ct_error("spool: opening the outcome journal %s: %s", path, ct_strerror(rc));
  free(path);
  if (rc != 0)
    return rc;
  size_t n = ct__journal_count(be->journal);
  if (n == 0)
    return 0;
  rc = ct__journal_read(be->journal, lease_journaled, &be->leases);
  if (rc != 0) {
    ct_error("spool: reading the outcome journal: %s", ct_strerror(rc));
    return rc;
  }
  ct_info("spool: %zu outcomes left in the outcome journal by the last run", n);
  rc = journal_apply(be);
  if (rc == CT_ENOSPC || rc == CT_EIO || rc == CT_ELOCKED) {
    ct_warn("spool: they cannot be recorded yet (%s); their jobs are held and nothing is "
            "taken until they are", ct_strerror(rc));
    return 0;
  }
  return rc;
}

static void sqlite_health(ct__spool_backend_t *be, ct_spool_health_t *out) {
  *out = (ct_spool_health_t){.commit_failures = be->commit_failures, .failing = be->failing};
  if (be->journal != NULL) {
    out->journaled = ct__journal_count(be->journal);
    out->journal_used_bytes = ct__journal_used(be->journal);
    out->journal_capacity_bytes = ct__journal_capacity(be->journal);
  }
}

/* Dead letters: list, replay, purge */

/* SQL text built from fixed fragments; values are always bound, never pasted. */
typedef struct {
  char text[1024];
  size_t len;
  bool overflow;
} sql_t;

static void sql_add(sql_t *s, const char *frag) {
  size_t l = strlen(frag);
  if (s->len + l + 1 > sizeof s->text) {
    s->overflow = true;
    return;
  }
  memcpy(s->text + s->len, frag, l + 1);
  s->len += l;
}

static bool is_set(const char *s) { return s != NULL && s[0] != '\0'; }

/* Appends "SELECT seq FROM job WHERE <dead letters matching f> ORDER BY ... LIMIT ...",
 * or the same with `columns` instead of seq. */
static void sql_add_dead_select(sql_t *s, const char *columns, const ct_dlq_filter_t *f) {
  sql_add(s, "SELECT ");
  sql_add(s, columns);
  sql_add(s, " FROM job WHERE state = 3");
  if (is_set(f->reason))
    sql_add(s, " AND reason = :reason");
  if (is_set(f->tenant))
    sql_add(s, " AND tenant = :tenant");
  if (is_set(f->provider))
    sql_add(s, " AND last_provider = :provider");
  if (f->channel != CT_CHANNEL_NONE)
    sql_add(s, " AND last_channel = :channel");
  if (f->since_ms != 0)
    sql_add(s, " AND updated_ms >= :since");
  if (f->until_ms != 0)
    sql_add(s, " AND updated_ms < :until");
  if (is_set(f->job_id))
    sql_add(s, " AND id = :job_id");
  sql_add(s, " ORDER BY updated_ms, seq");
  if (f->limit != 0)
    sql_add(s, " LIMIT :limit");
}

static void bind_named_text(sqlite3_stmt *st, const char *name, const char *value) {
  int i = sqlite3_bind_parameter_index(st, name);
  if (i > 0)
    bind_text(st, i, value);
}

static void bind_named_int(sqlite3_stmt *st, const char *name, int64_t value) {
  int i = sqlite3_bind_parameter_index(st, name);
  if (i > 0)
    sqlite3_bind_int64(st, i, value);
}

/* Prepares `s` and binds the filter's values (and :now). */
static int prepare_dead(ct__spool_backend_t *be, const sql_t *s, const ct_dlq_filter_t *f,
                        int64_t now_ms, sqlite3_stmt **out) {
  if (s->overflow)
    return CT_EINVAL;
  sqlite3_stmt *st;
  int src = sqlite3_prepare_v2(be->db, s->text, (int)s->len + 1, &st, NULL);
  if (src != SQLITE_OK)
    return fail(be, "dlq", src);
  bind_named_text(st, ":reason", f->reason);
  bind_named_text(st, ":tenant", f->tenant);
  bind_named_text(st, ":provider", f->provider);
  bind_named_int(st, ":channel", f->channel);
  bind_named_int(st, ":since", f->since_ms);
  bind_named_int(st, ":until", f->until_ms);
  bind_named_text(st, ":job_id", f->job_id);
  bind_named_int(st, ":limit", f->limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)f->limit);
  bind_named_int(st, ":now", now_ms);
  *out = st;
  return 0;
}

static int sqlite_dlq_list(ct__spool_backend_t *be, const ct_dlq_filter_t *f,
                           int (*visit)(const ct_dlq_entry_t *e, void *arg), void *arg) {
  sql_t s = {.len = 0};
  sql_add_dead_select(&s, "seq, id, tenant, reason, last_channel, last_provider, updated_ms,"
                          " attempts", f);
  sqlite3_stmt *st;
  int rc = prepare_dead(be, &s, f, 0, &st);
  if (rc != 0)
    return rc;
  rc = begin(be, false);
  if (rc != 0) {
    sqlite3_finalize(st);
    return rc;
  }
  int src, stop = 0;
  for (;;) {
    src = sqlite3_step(st);
    if (src != SQLITE_ROW)
      break;
    ct_dlq_entry_t e = {
        .seq = sqlite3_column_int64(st, 0),
        .job_id = column_text(st, 1),
        .tenant = column_text(st, 2),
        .reason = column_text(st, 3),
        .channel = (ct_channel_t)sqlite3_column_int(st, 4),
        .provider = column_text(st, 5),
        .dead_at_ms = sqlite3_column_int64(st, 6),
        .attempts = (uint32_t)sqlite3_column_int64(st, 7),
    };
    stop = visit(&e, arg);
    if (stop != 0)
      break;
  }
  if (stop == 0 && src != SQLITE_DONE)
    rc = fail(be, "dlq list", src);
  sqlite3_finalize(st);
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  return rc != 0 ? rc : stop;
}

/* Runs the one-statement write `s` in its own transaction; *changes = rows it changed. */
static int run_dead_write(ct__spool_backend_t *be, const sql_t *s, const ct_dlq_filter_t *f,
                          int64_t now_ms, size_t *changes) {
  sqlite3_stmt *st;
  int rc = prepare_dead(be, s, f, now_ms, &st);
  if (rc != 0)
    return rc;
  int src = sqlite3_step(st);
  rc = src == SQLITE_DONE ? 0 : fail(be, "dlq", src);
  sqlite3_finalize(st);
  if (rc == 0)
    *changes = (size_t)sqlite3_changes64(be->db);
  return rc;
}

/* A replay is an operator saying "the cause is fixed": the channels a job failed on for good
 * are forgotten (they are tried again), while the parts already accepted stay accepted (they
 * are not sent twice). Runs inside the replay transaction, on the rows it is about to move. */
static int forget_failed_channels(ct__spool_backend_t *be, const ct_dlq_filter_t *f,
                                  int64_t now_ms) {
  sql_t s = {.len = 0};
  sql_add_dead_select(&s, "seq, receipt", f);
  sqlite3_stmt *sel, *upd = NULL;
  int rc = prepare_dead(be, &s, f, now_ms, &sel);
  if (rc != 0)
    return rc;
  int src = sqlite3_prepare_v2(be->db, "UPDATE job SET receipt = ?2 WHERE seq = ?1", -1, &upd,
                               NULL);
  if (src != SQLITE_OK) {
    sqlite3_finalize(sel);
    return fail(be, "replay", src);
  }
  for (;;) {
    src = sqlite3_step(sel);
    if (src != SQLITE_ROW)
      break;
    if (sqlite3_column_type(sel, 1) == SQLITE_NULL)
      continue;
    ct_receipt_t *r = NULL;
    rc = ct__spool_unpack_receipt(sqlite3_column_blob(sel, 1),
                                  (size_t)sqlite3_column_bytes(sel, 1), &r);
    if (rc != 0)
      break;
    if (r->n_failed_channels > 0) {
      r->n_failed_channels = 0; /* the array itself is freed with the message */
      size_t len;
      rc = ct__spool_pack_receipt(&be->receipt_buf, r, &len);
      if (rc == 0) {
        sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0));
        bind_blob(upd, 2, be->receipt_buf.data, len);
        int u = sqlite3_step(upd);
        sqlite3_reset(upd);
        if (u != SQLITE_DONE)
          rc = fail(be, "replay", u);
      }
    }
    carteiro__v1__receipt__free_unpacked(r, NULL);
    if (rc != 0)
      break;
  }
  if (rc == 0 && src != SQLITE_DONE)
    rc = fail(be, "replay", src);
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  return rc;
}

static int sqlite_replay(ct__spool_backend_t *be, const ct_dlq_filter_t *f, int64_t now_ms,
                         size_t *count) {
  /* Due now, attempts counted afresh; history, accepted parts and priority stay. */
  sql_t s = {.len = 0};
  sql_add(&s, "UPDATE job SET state = 0, due_ms = :now, updated_ms = :now, attempts = 0,"
              " reason = NULL WHERE seq IN (");
  sql_add_dead_select(&s, "seq", f);
  sql_add(&s, ")");
  size_t moved = 0;
  int rc = begin(be, true);
  if (rc != 0)
    return rc;
  rc = forget_failed_channels(be, f, now_ms);
  if (rc == 0)
    rc = run_dead_write(be, &s, f, now_ms, &moved);
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  if (rc == 0)
    *count = moved;
  return rc;
}

static int sqlite_purge(ct__spool_backend_t *be, const ct_dlq_filter_t *f, size_t *count) {
  /* Both statements select the same rows: the first deletes nothing from job. */
  sql_t history = {.len = 0}, jobs = {.len = 0};
  sql_add(&history, "DELETE FROM attempt WHERE seq IN (");
  sql_add_dead_select(&history, "seq", f);
  sql_add(&history, ")");
  sql_add(&jobs, "DELETE FROM job WHERE seq IN (");
  sql_add_dead_select(&jobs, "seq", f);
  sql_add(&jobs, ")");
  size_t ignored = 0, deleted = 0;
  int rc = begin(be, true);
  if (rc != 0)
    return rc;
  rc = run_dead_write(be, &history, f, 0, &ignored);
  if (rc == 0)
    rc = run_dead_write(be, &jobs, f, 0, &deleted);
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  if (rc == 0)
    *count = deleted;
  return rc;
}

/* One job */

static int read_attempts(ct__spool_backend_t *be, int64_t seq, ct_job_info_t *info) {
  sqlite3_stmt *st = be->st[S_GET_ATTEMPTS];
  sqlite3_bind_int64(st, 1, seq);
  size_t cap = 0;
  int src, rc = 0;
  for (;;) {
    src = sqlite3_step(st);
    if (src != SQLITE_ROW)
      break;
    if (info->n_attempts == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      ct_attempt_t **a = realloc(info->attempts, ncap * sizeof *a);
      if (a == NULL) {
        rc = CT_ENOMEM;
        break;
      }
      info->attempts = a;
      cap = ncap;
    }
    rc = ct__spool_unpack_attempt(sqlite3_column_blob(st, 0),
                                  (size_t)sqlite3_column_bytes(st, 0),
                                  &info->attempts[info->n_attempts]);
    if (rc != 0)
      break;
    info->n_attempts++;
  }
  if (rc == 0 && src != SQLITE_DONE)
    rc = fail(be, "job get", src);
  sqlite3_reset(st);
  return rc;
}

static int sqlite_job_get(ct__spool_backend_t *be, const char *id, ct_job_info_t *out) {
  sqlite3_stmt *st = be->st[S_GET_JOB];
  ct_job_info_t info = {0};
  char err[128];
  int rc = begin(be, false);
  if (rc != 0)
    return rc;
  bind_text(st, 1, id);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    info.seq = sqlite3_column_int64(st, 0);
    int state = sqlite3_column_int(st, 1);
    info.state = state == DISK_DELIVERED ? CT_STATE_DELIVERED
                 : state == DISK_DEAD    ? CT_STATE_DEAD
                 : ct__leases_has(&be->leases, info.seq) ? CT_STATE_INFLIGHT
                                                         : CT_STATE_READY;
    rc = ct_job_decode_pb(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2),
                          &info.job, err, sizeof err);
    if (rc != 0 && rc != CT_ENOMEM)
      rc = CT_ECORRUPT;
    if (rc == 0 && sqlite3_column_type(st, 3) != SQLITE_NULL)
      rc = ct__spool_unpack_receipt(sqlite3_column_blob(st, 3),
                                    (size_t)sqlite3_column_bytes(st, 3), &info.receipt);
    if (rc == 0 && sqlite3_column_type(st, 4) != SQLITE_NULL) {
      info.reason = strdup(column_text(st, 4));
      if (info.reason == NULL)
        rc = CT_ENOMEM;
    }
    info.enqueued_ms = sqlite3_column_int64(st, 5);
    info.updated_ms = sqlite3_column_int64(st, 6);
    info.due_ms = sqlite3_column_int64(st, 7);
  } else if (src == SQLITE_DONE) {
    rc = CT_ENOTFOUND;
  } else {
    rc = fail(be, "job get", src);
  }
  sqlite3_reset(st);
  if (rc == 0)
    rc = read_attempts(be, info.seq, &info);
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  if (rc != 0) {
    ct_job_info_free(&info);
    return rc;
  }
  *out = info;
  return 0;
}

/* Stats and expiry */

static uint64_t file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static int sqlite_stats(ct__spool_backend_t *be, int64_t now_ms, ct_spool_stats_t *out) {
  ct_spool_stats_t s;
  memset(&s, 0, sizeof s);
  int rc = begin(be, false);
  if (rc != 0)
    return rc;

  sqlite3_stmt *st = be->st[S_STATS_READY];
  sqlite3_bind_int64(st, 1, now_ms);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    s.ready = (uint64_t)sqlite3_column_int64(st, 0);
    s.due = (uint64_t)sqlite3_column_int64(st, 1);
    s.oldest_due_ms = sqlite3_column_int64(st, 2);
  }
  sqlite3_reset(st);

  if (src == SQLITE_ROW) {
    st = be->st[S_STATS_DELIVERED];
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
      s.delivered = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
  }

  if (src == SQLITE_ROW) {
    st = be->st[S_STATS_DEAD];
    for (;;) {
      src = sqlite3_step(st);
      if (src != SQLITE_ROW)
        break;
      uint64_t count = (uint64_t)sqlite3_column_int64(st, 1);
      s.dead += count;
      if (s.n_dlq < CT_SPOOL_MAX_REASONS) {
        snprintf(s.dlq[s.n_dlq].reason, sizeof s.dlq[s.n_dlq].reason, "%s", column_text(st, 0));
        s.dlq[s.n_dlq].count = count;
        s.n_dlq++;
      }
    }
    sqlite3_reset(st);
  }
  rc = src == SQLITE_DONE ? commit(be) : fail(be, "stats", src);
  if (rc != 0) {
    rollback(be);
    return rc;
  }
  s.inflight = be->leases.n;
  s.file_bytes = file_size(be->path) + file_size(be->wal_path);
  *out = s;
  return 0;
}

static int sqlite_expire(ct__spool_backend_t *be, int64_t now_ms, size_t *count) {
  int64_t cutoff = now_ms - be->retention_ms;
  int rc = begin(be, true);
  if (rc != 0)
    return rc;
  sqlite3_bind_int64(be->st[S_EXPIRE_ATTEMPTS], 1, cutoff);
  sqlite3_bind_int64(be->st[S_EXPIRE_JOBS], 1, cutoff);
  rc = run(be, S_EXPIRE_ATTEMPTS, "expire");
  size_t deleted = 0;
  if (rc == 0) {
    rc = run(be, S_EXPIRE_JOBS, "expire");
    deleted = (size_t)sqlite3_changes64(be->db);
  }
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  if (rc == 0)
    *count = deleted;
  return rc;
}

/* Dead letters in full: read with job and history, replay by id, import */

static int sqlite_dlq_read(ct__spool_backend_t *be, const ct_dlq_filter_t *f, bool with_attempts,
                           int (*visit)(const ct_dlq_record_t *r, void *arg), void *arg) {
  sql_t s = {.len = 0};
  sql_add_dead_select(&s, "seq, id, tenant, reason, last_channel, last_provider, updated_ms,"
                          " attempts, body, receipt", f);
  sqlite3_stmt *st;
  int rc = prepare_dead(be, &s, f, 0, &st);
  if (rc != 0)
    return rc;
  rc = begin(be, false);
  if (rc != 0) {
    sqlite3_finalize(st);
    return rc;
  }
  int src, stop = 0;
  char err[128];
  for (;;) {
    src = sqlite3_step(st);
    if (src != SQLITE_ROW)
      break;
    ct_dlq_record_t r = {
        .entry = {.seq = sqlite3_column_int64(st, 0),
                  .job_id = column_text(st, 1),
                  .tenant = column_text(st, 2),
                  .reason = column_text(st, 3),
                  .channel = (ct_channel_t)sqlite3_column_int(st, 4),
                  .provider = column_text(st, 5),
                  .dead_at_ms = sqlite3_column_int64(st, 6),
                  .attempts = (uint32_t)sqlite3_column_int64(st, 7)},
    };
    ct_job_t *job = NULL;
    ct_receipt_t *progress = NULL;
    ct_job_info_t history = {0}; /* only its attempts are used, to share read_attempts */
    rc = ct_job_decode_pb(sqlite3_column_blob(st, 8), (size_t)sqlite3_column_bytes(st, 8), &job,
                          err, sizeof err);
    /* A job quarantined as undecodable is still a dead letter: it is shown without a job. */
    if (rc != 0 && rc != CT_ENOMEM)
      rc = 0;
    if (rc == 0 && sqlite3_column_type(st, 9) != SQLITE_NULL)
      rc = ct__spool_unpack_receipt(sqlite3_column_blob(st, 9),
                                    (size_t)sqlite3_column_bytes(st, 9), &progress);
    if (rc == 0 && with_attempts)
      rc = read_attempts(be, r.entry.seq, &history);
    if (rc == 0) {
      r.job = job;
      r.progress = progress;
      r.attempts = history.attempts;
      r.n_attempts = history.n_attempts;
      stop = visit(&r, arg);
    }
    ct_job_free(job);
    ct__spool_receipt_free(progress);
    ct_job_info_free(&history);
    if (rc != 0 || stop != 0)
      break;
  }
  if (rc == 0 && stop == 0 && src != SQLITE_DONE)
    rc = fail(be, "dlq read", src);
  sqlite3_finalize(st);
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  return rc != 0 ? rc : stop;
}

/* Replays one dead job by id inside the caller's transaction; *moved says whether it was
 * DEAD. Like forget_failed_channels, the progress loses its failed channels and keeps its
 * accepted parts. */
static int replay_one_id(ct__spool_backend_t *be, sqlite3_stmt *sel, sqlite3_stmt *upd,
                         const char *id, int64_t now_ms, bool *moved) {
  int rc = 0;
  *moved = false;
  bind_text(sel, 1, id);
  int src = sqlite3_step(sel);
  if (src == SQLITE_DONE) {
    sqlite3_reset(sel);
    return 0;
  }
  if (src != SQLITE_ROW) {
    sqlite3_reset(sel);
    return fail(be, "replay", src);
  }
  sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0));
  sqlite3_bind_int64(upd, 2, now_ms);
  sqlite3_bind_null(upd, 3); /* receipt unchanged */
  ct_receipt_t *r = NULL;
  if (sqlite3_column_type(sel, 1) != SQLITE_NULL)
    rc = ct__spool_unpack_receipt(sqlite3_column_blob(sel, 1),
                                  (size_t)sqlite3_column_bytes(sel, 1), &r);
  if (rc == 0 && r != NULL && r->n_failed_channels > 0) {
    r->n_failed_channels = 0; /* the array itself is freed with the message */
    size_t len;
    rc = ct__spool_pack_receipt(&be->receipt_buf, r, &len);
    if (rc == 0)
      bind_blob(upd, 3, be->receipt_buf.data, len);
  }
  if (rc == 0) {
    src = sqlite3_step(upd);
    rc = src == SQLITE_DONE ? 0 : fail(be, "replay", src);
    if (rc == 0)
      *moved = sqlite3_changes(be->db) == 1;
  }
  sqlite3_reset(upd);
  sqlite3_reset(sel);
  ct__spool_receipt_free(r);
  return rc;
}

static int sqlite_replay_ids(ct__spool_backend_t *be, const char *const *ids, size_t n,
                             int64_t now_ms, size_t *count) {
  sqlite3_stmt *sel = NULL, *upd = NULL;
  int src = sqlite3_prepare_v2(be->db, "SELECT seq, receipt FROM job WHERE id = ?1 AND state = 3",
                               -1, &sel, NULL);
  if (src == SQLITE_OK)
    src = sqlite3_prepare_v2(be->db,
                             "UPDATE job SET state = 0, due_ms = ?2, updated_ms = ?2,"
                             " attempts = 0, reason = NULL, receipt = coalesce(?3, receipt)"
                             " WHERE seq = ?1 AND state = 3",
                             -1, &upd, NULL);
  if (src != SQLITE_OK) {
    int rc = fail(be, "replay", src);
    sqlite3_finalize(sel);
    return rc;
  }
  size_t moved = 0;
  int rc = begin(be, true);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    bool one = false;
    rc = replay_one_id(be, sel, upd, ids[i], now_ms, &one);
    moved += one ? 1 : 0;
  }
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  if (rc == 0)
    rc = commit(be);
  else
    rollback(be);
  if (rc == 0)
    *count = moved;
  return rc;
}

static bool is_failure(const ct_attempt_t *a) {
  return a->outcome == CARTEIRO__V1__OUTCOME__OUTCOME_TRANSIENT ||
         a->outcome == CARTEIRO__V1__OUTCOME__OUTCOME_PERMANENT;
}

/* Stores one dead letter inside the caller's transaction; *stored is false when the id
 * exists. */
static int import_one(ct__spool_backend_t *be, sqlite3_stmt *ins, sqlite3_stmt *att,
                      const ct_dead_letter_t *dl, int64_t now_ms, bool *stored) {
  const ct_job_t *job = dl->job;
  uint8_t *body;
  size_t len;
  int rc = ct_job_encode_pb(job, &body, &len);
  if (rc != 0)
    return rc;
  int64_t failed = 0;
  const ct_attempt_t *last = NULL;
  for (size_t i = 0; i < dl->n_attempts; i++) {
    if (dl->attempts[i] != NULL && is_failure(dl->attempts[i])) {
      failed++;
      last = dl->attempts[i];
    }
  }
  bind_text(ins, 1, job->id);
  bind_text(ins, 2, job->tenant);
  sqlite3_bind_int(ins, 3, job->priority);
  sqlite3_bind_int64(ins, 4, now_ms);
  sqlite3_bind_int64(ins, 5, dl->dead_at_ms != 0 ? dl->dead_at_ms : now_ms);
  sqlite3_bind_int64(ins, 6, failed);
  sqlite3_bind_int64(ins, 7, (int64_t)dl->n_attempts);
  sqlite3_bind_int(ins, 8, last != NULL ? (int)last->channel : 0);
  bind_text(ins, 9, last != NULL && last->provider != NULL ? last->provider : "");
  bind_text(ins, 10, is_set(dl->reason) ? dl->reason : "unspecified");
  bind_blob(ins, 11, body, len);
  int src = sqlite3_step(ins);
  sqlite3_reset(ins);
  free(body);
  if (src != SQLITE_DONE)
    return fail(be, "dlq import", src);
  *stored = sqlite3_changes(be->db) == 1;
  if (!*stored)
    return 0;
  int64_t seq = sqlite3_last_insert_rowid(be->db);
  for (size_t i = 0; rc == 0 && i < dl->n_attempts; i++) {
    ct_attempt_t empty = CARTEIRO__V1__ATTEMPT__INIT;
    rc = ct__spool_pack_attempt(&be->attempt_buf,
                                dl->attempts[i] != NULL ? dl->attempts[i] : &empty, &len);
    if (rc != 0)
      break;
    sqlite3_bind_int64(att, 1, seq);
    sqlite3_bind_int64(att, 2, (int64_t)i);
    bind_blob(att, 3, be->attempt_buf.data, len);
    src = sqlite3_step(att);
    sqlite3_reset(att);
    if (src != SQLITE_DONE)
      rc = fail(be, "dlq import", src);
  }
  return rc;
}

static int sqlite_dlq_import(ct__spool_backend_t *be, const ct_dead_letter_t *const *dls,
                             size_t n, int64_t now_ms, int *results) {
  sqlite3_stmt *ins = NULL, *att = NULL;
  int src = sqlite3_prepare_v2(
      be->db,
      "INSERT INTO job (id, tenant, state, priority, due_ms, enqueued_ms, updated_ms, attempts,"
      " history, last_channel, last_provider, reason, body)"
      " VALUES (?1, ?2, 3, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO NOTHING",
      -1, &ins, NULL);
  if (src == SQLITE_OK)
    src = sqlite3_prepare_v2(be->db, "INSERT INTO attempt (seq, n, body) VALUES (?1, ?2, ?3)",
                             -1, &att, NULL);
  if (src != SQLITE_OK) {
    int rc = fail(be, "dlq import", src);
    sqlite3_finalize(ins);
    return rc;
  }
  int *res = malloc(n * sizeof *res);
  int rc = res == NULL ? CT_ENOMEM : begin(be, true);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    bool stored = false;
    rc = import_one(be, ins, att, dls[i], now_ms, &stored);
    res[i] = stored ? 0 : CT_EDUPLICATE;
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(att);
  if (res != NULL) {
    if (rc == 0)
      rc = commit(be);
    else
      rollback(be);
  }
  if (rc == 0)
    memcpy(results, res, n * sizeof *res);
  free(res);
  return rc;
}

/* Webhook events: events.c */

static int sqlite_events_put(ct__spool_backend_t *be, const ct_event_t *const *events, size_t n,
                             int64_t now_ms, int *results) {
  return ct__sqlite_events_put(be->events, events, n, now_ms, results);
}

static int sqlite_events_take(ct__spool_backend_t *be, int64_t now_ms, size_t max,
                              ct_event_lease_t *out, size_t *n) {
  return ct__sqlite_events_take(be->events, now_ms, max, out, n);
}

static int sqlite_events_ack(ct__spool_backend_t *be, const int64_t *seqs, size_t n,
                             int64_t now_ms, int *results) {
  return ct__sqlite_events_ack(be->events, seqs, n, now_ms, results);
}

static int sqlite_events_retry(ct__spool_backend_t *be, const int64_t *seqs, size_t n,
                               int64_t due_ms, int *results) {
  return ct__sqlite_events_retry(be->events, seqs, n, due_ms, results);
}

static int sqlite_events_stats(ct__spool_backend_t *be, ct_event_stats_t *out) {
  return ct__sqlite_events_stats(be->events, out);
}

static int sqlite_events_expire(ct__spool_backend_t *be, int64_t now_ms, size_t *count) {
  return ct__sqlite_events_expire(be->events, now_ms, count);
}

static int sqlite_inbound_list(ct__spool_backend_t *be, const ct_inbound_filter_t *f,
                               int (*visit)(const ct_event_t *e, void *arg), void *arg) {
  return ct__sqlite_inbound_list(be->events, f, visit, arg);
}

const ct__spool_ops_t ct__spool_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .enqueue = sqlite_enqueue,
    .take = sqlite_take,
    .settle = sqlite_settle,
    .dlq_list = sqlite_dlq_list,
    .replay = sqlite_replay,
    .purge = sqlite_purge,
    .job_get = sqlite_job_get,
    .dlq_read = sqlite_dlq_read,
    .replay_ids = sqlite_replay_ids,
    .dlq_import = sqlite_dlq_import,
    .stats = sqlite_stats,
    .expire = sqlite_expire,
    .health = sqlite_health,
    .events_put = sqlite_events_put,
    .events_take = sqlite_events_take,
    .events_ack = sqlite_events_ack,
    .events_retry = sqlite_events_retry,
    .events_stats = sqlite_events_stats,
    .events_expire = sqlite_events_expire,
    .inbound_list = sqlite_inbound_list,
};
