/* The spool schema and its migrations (the schema itself is described in sqlite.c).
 *
 * PRAGMA user_version holds the number of migrations a file has had. migrations[i] takes a
 * file from version i to i + 1; a new carteiro appends to the array and never edits an entry
 * that has shipped. All pending migrations and the version bump run in one transaction, so a
 * crash leaves a file at its old version or at the new one, never between.
 */
#include "spool/sqlite/sqlite_int.h"

#include "common/error.h"
#include "common/log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *const migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE job ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  tenant TEXT NOT NULL,"
    "  state INTEGER NOT NULL CHECK (state IN (0, 2, 3)),"
    "  priority INTEGER NOT NULL,"
    "  due_ms INTEGER NOT NULL,"
    "  enqueued_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  history INTEGER NOT NULL DEFAULT 0,"
    "  last_channel INTEGER NOT NULL DEFAULT 0,"
    "  last_provider TEXT NOT NULL DEFAULT '',"
    "  reason TEXT,"
    "  receipt BLOB,"
    "  body BLOB NOT NULL"
    ");"
    "CREATE INDEX job_take ON job (state, priority DESC, due_ms) WHERE state = 0;"
    "CREATE INDEX job_delivered ON job (state, updated_ms) WHERE state = 2;"
    "CREATE INDEX job_dead ON job (state, updated_ms) WHERE state = 3;"
    "CREATE TABLE attempt ("
    "  seq INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  body BLOB NOT NULL,"
    "  PRIMARY KEY (seq, n)"
    ") WITHOUT ROWID;",
    /* webhook events and inbound messages (events.c describes them). Tables of their own: no
     * job table column changes. */
    "CREATE TABLE event ("
    "  seq INTEGER PRIMARY KEY,"
    "  event_id TEXT NOT NULL UNIQUE,"
    "  kind INTEGER NOT NULL,"
    "  account TEXT NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  job_id TEXT,"
    "  part INTEGER,"
    "  state INTEGER NOT NULL CHECK (state IN (0, 1)),"
    "  due_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  received_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  body BLOB NOT NULL"
    ");"
    "CREATE INDEX event_pending ON event (state, due_ms, seq) WHERE state = 0;"
    "CREATE INDEX event_done ON event (state, received_ms) WHERE state = 1;"
    "CREATE INDEX event_message ON event (message_id);"
    "CREATE TABLE inbound ("
    "  account TEXT NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  received_ms INTEGER NOT NULL,"
    "  body BLOB NOT NULL,"
    "  PRIMARY KEY (account, message_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX inbound_sender ON inbound (account, sender, at_ms);"
    "CREATE INDEX inbound_received ON inbound (received_ms);",
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int ct__sqlite_schema_version(void) { return N_MIGRATIONS; }

/* Runs a statement that returns at most one integer (a PRAGMA or a count). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out) {
  sqlite3_stmt *st;
  int src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (src != SQLITE_OK)
    return ct__sqlite_error(db, src);
  src = sqlite3_step(st);
  int64_t v = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  if (src == SQLITE_ROW)
    src = SQLITE_DONE;
  if (src == SQLITE_DONE)
    src = sqlite3_reset(st);
  int rc = ct__sqlite_error(db, src);
  sqlite3_finalize(st);
  if (rc == 0)
    *out = v;
  return rc;
}

static int exec(sqlite3 *db, const char *sql) {
  return ct__sqlite_error(db, sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/* What the file is: an empty file, a spool at some version, or something else. */
static int inspect(sqlite3 *db, int64_t *version) {
  int64_t app_id = 0, user_version = 0, objects = 0; /* set by query_int on success */
  /* The first read of the file: a file that is not SQLite fails here with SQLITE_NOTADB. */
  int rc = query_int(db, "PRAGMA application_id", &app_id);
  if (rc == 0)
    rc = query_int(db, "PRAGMA user_version", &user_version);
  if (rc == 0)
    rc = query_int(db, "SELECT count(*) FROM sqlite_schema", &objects);
  if (rc != 0)
    return rc;
  if (app_id != 0 && app_id != CT__SQLITE_APP_ID)
    return CT_ECORRUPT; /* another program's database */
  if (user_version > N_MIGRATIONS)
    return CT_ESCHEMA;
  if (user_version == 0 && objects != 0)
    return CT_ECORRUPT; /* an SQLite file, but not a spool */
  if (user_version != 0 && app_id != CT__SQLITE_APP_ID)
    return CT_ECORRUPT;
  *version = user_version;
  return 0;
}

static int migrate(sqlite3 *db) {
  int rc = exec(db, "BEGIN IMMEDIATE");
  if (rc != 0)
    return rc;
  /* Read the version again under the write lock: another process may have migrated the file
   * since inspect() looked. */
  int64_t version;
  rc = inspect(db, &version);
  for (int64_t v = version; rc == 0 && v < N_MIGRATIONS; v++)
    rc = exec(db, migrations[v]);
  if (rc == 0 && version < N_MIGRATIONS) {
    char pragma[96];
    snprintf(pragma, sizeof pragma, "PRAGMA application_id = %d; PRAGMA user_version = %d",
             CT__SQLITE_APP_ID, N_MIGRATIONS);
    rc = exec(db, pragma);
  }
  if (rc == 0)
    rc = exec(db, "COMMIT");
  if (rc != 0) {
    if (!sqlite3_get_autocommit(db))
      exec(db, "ROLLBACK");
    return rc;
  }
  if (version < N_MIGRATIONS)
    ct_info("spool: schema migrated from version %lld to %d", (long long)version, N_MIGRATIONS);
  return 0;
}

int ct__sqlite_schema_init(sqlite3 *db, bool readonly) {
  int64_t version;
  int rc = inspect(db, &version);
  if (rc != 0)
    return rc;
  if (readonly)
    return version == N_MIGRATIONS ? 0 : CT_ESCHEMA;

  /* WAL is a property of the file; setting it again is a no-op. */
  sqlite3_stmt *st;
  int src = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
  if (src != SQLITE_OK)
    return ct__sqlite_error(db, src);
  src = sqlite3_step(st);
  const char *mode = src == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
  bool wal = mode != NULL && strcmp(mode, "wal") == 0;
  if (src == SQLITE_ROW)
    src = SQLITE_DONE;
  if (src == SQLITE_DONE)
    src = sqlite3_reset(st);
  rc = ct__sqlite_error(db, src);
  sqlite3_finalize(st);
  if (rc != 0)
    return rc;
  if (!wal)
    return CT_EIO;

  if (version == N_MIGRATIONS)
    return 0;
  return migrate(db);
}
