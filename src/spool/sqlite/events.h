/* Webhook events in the SQLite backend (events.c): the calls of spool.h's "Webhook events" on
 * the backend's connection, with their own statements and lease set. sqlite.c opens one per
 * connection after the schema is current, and forwards its ops to these. */
#ifndef CT_SPOOL_SQLITE_EVENTS_H
#define CT_SPOOL_SQLITE_EVENTS_H

#include "spool/spool.h"

#include <sqlite3.h>

typedef struct ct__sqlite_events ct__sqlite_events_t;

/* Prepares the statements on `db` (whose schema is current). Errors: those of prepare, mapped
 * by ct__sqlite_error. */
int ct__sqlite_events_open(sqlite3 *db, int64_t retention_ms, ct__sqlite_events_t **out);
void ct__sqlite_events_close(ct__sqlite_events_t *ev);

/* As the spool.h calls of the same names; one transaction each. */
int ct__sqlite_events_put(ct__sqlite_events_t *ev, const ct_event_t *const *events, size_t n,
                          int64_t now_ms, int *results);
int ct__sqlite_events_take(ct__sqlite_events_t *ev, int64_t now_ms, size_t max,
                           ct_event_lease_t *out, size_t *n);
int ct__sqlite_events_ack(ct__sqlite_events_t *ev, const int64_t *seqs, size_t n,
                          int64_t now_ms, int *results);
int ct__sqlite_events_retry(ct__sqlite_events_t *ev, const int64_t *seqs, size_t n,
                            int64_t due_ms, int *results);
int ct__sqlite_events_stats(ct__sqlite_events_t *ev, ct_event_stats_t *out);
int ct__sqlite_events_expire(ct__sqlite_events_t *ev, int64_t now_ms, size_t *count);
int ct__sqlite_inbound_list(ct__sqlite_events_t *ev, const ct_inbound_filter_t *f,
                            int (*visit)(const ct_event_t *e, void *arg), void *arg);
/* Events this connection has leased. */
size_t ct__sqlite_events_leased(const ct__sqlite_events_t *ev);

#endif
