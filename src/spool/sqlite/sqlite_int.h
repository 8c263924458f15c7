/* Shared between the files of the SQLite backend (sqlite.c, schema.c). */
#ifndef CT_SPOOL_SQLITE_SQLITE_INT_H
#define CT_SPOOL_SQLITE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdbool.h>

/* PRAGMA application_id of a spool file: "ctsp". Tells a spool from any other SQLite file. */
#define CT__SQLITE_APP_ID 0x63747370

/* Maps an SQLite result code (primary or extended) to a CT_E* code; 0 for SQLITE_OK, _ROW and
 * _DONE. `db` (may be NULL) lets an I/O error caused by a full disk read as CT_ENOSPC. */
int ct__sqlite_error(sqlite3 *db, int rc);

/* Makes the file behind `db` a current spool: checks that it is one (or empty), switches it to
 * WAL, and applies the migrations it lacks in one transaction. A readonly connection is
 * checked only.
 * Errors: CT_ECORRUPT (not an SQLite file, or an SQLite file that is not a spool),
 * CT_ESCHEMA (newer than this program; or, when readonly, older and not yet migrated),
 * CT_ELOCKED, CT_ENOSPC, CT_EIO, CT_ENOMEM. */
int ct__sqlite_schema_init(sqlite3 *db, bool readonly);

/* The schema version this program writes (the number of migrations). */
int ct__sqlite_schema_version(void);

#endif
