/* Webhook events in the SQLite spool (spool.h, "Webhook events").
 *
 * SCHEMA (migration "webhook events" in schema.c)
 *
 *   event    one row per event ever accepted and not yet expired.
 *            seq           INTEGER PRIMARY KEY: arrival order, and the lease handle
 *            event_id      the provider's dedupe key (event.h), UNIQUE: a duplicate INSERT
 *                          changes nothing (ON CONFLICT DO NOTHING), within the same
 *                          transaction as the rest of its batch
 *            kind, account, message_id, job_id, part   what the processor looks events up by
 *            state         0 PENDING, 1 DONE
 *            due_ms        PENDING: not taken before (events_retry)
 *            attempts      times given back by events_retry
 *            received_ms   when carteiro accepted it (expiry)
 *            updated_ms    when it became DONE
 *            body          the encoded carteiro.v1.Event
 *   inbound  (account, message_id) -> the inbound message: sender (personal data, as the job
 *            table holds phones), its time, and the encoded Event (with the text). Inserted in
 *            the same transaction as its event, also ON CONFLICT DO NOTHING.
 *
 *   event_pending  (state, due_ms, seq) WHERE state = 0      take, oldest first
 *   event_done     (state, received_ms) WHERE state = 1      expiry
 *   event_message  (message_id)                              a message's statuses
 *   inbound_sender (account, sender, at_ms)                  a customer's messages
 *
 * LEASES are seqs in an in-memory set, as for jobs (sqlite.c): on disk a leased event is
 * PENDING, so a crash hands it out again. The take query skips leased rows through the SQL
 * function ct_event_leased(seq).
 *
 * Each call is one transaction on the backend's connection; this file prepares its own
 * statements so that the job side of the backend does not need to know about events.
 */
#include "spool/sqlite/events.h"

#include "common/error.h"
#include "common/log.h"
#include "spool/sqlite/leases.h"
#include "spool/sqlite/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  E_BEGIN_READ,
  E_BEGIN_WRITE,
  E_COMMIT,
  E_ROLLBACK,
  E_INSERT,
  E_INSERT_INBOUND,
  E_TAKE,
  E_ACK,
  E_RETRY,
  E_QUARANTINE,
  E_STATS,
  E_STATS_INBOUND,
  E_OLDEST_PENDING,
  E_EXPIRE_EVENTS,
  E_EXPIRE_INBOUND,
  N_ESTMTS
};

static const char *const esql[N_ESTMTS] = {
    [E_BEGIN_READ] = "BEGIN DEFERRED",
    [E_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [E_COMMIT] = "COMMIT",
    [E_ROLLBACK] = "ROLLBACK",
    [E_INSERT] = "INSERT INTO event (event_id, kind, account, message_id, job_id, part, state,"
                 " due_ms, received_ms, updated_ms, body)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?8, 0, ?6, ?6, ?6, ?7)"
                 " ON CONFLICT (event_id) DO NOTHING",
    [E_INSERT_INBOUND] = "INSERT INTO inbound (account, message_id, sender, at_ms, received_ms,"
                         " body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                         " ON CONFLICT (account, message_id) DO NOTHING",
    [E_TAKE] = "SELECT seq, attempts, body FROM event WHERE state = 0 AND due_ms <= ?1"
               " AND NOT ct_event_leased(seq) ORDER BY due_ms, seq LIMIT ?2",
    [E_ACK] = "UPDATE event SET state = 1, updated_ms = ?2 WHERE seq = ?1 AND state = 0",
    [E_RETRY] = "UPDATE event SET due_ms = ?2, attempts = attempts + 1 WHERE seq = ?1"
                " AND state = 0",
    [E_QUARANTINE] = "UPDATE event SET state = 1, updated_ms = due_ms WHERE seq = ?1",
    [E_STATS] = "SELECT coalesce(sum(state = 0), 0), coalesce(sum(state = 1), 0) FROM event",
    [E_STATS_INBOUND] = "SELECT count(*) FROM inbound",
    [E_OLDEST_PENDING] = "SELECT min(received_ms) FROM event WHERE state = 0",
    [E_EXPIRE_EVENTS] = "DELETE FROM event WHERE state = 1 AND received_ms < ?1",
    [E_EXPIRE_INBOUND] = "DELETE FROM inbound WHERE received_ms < ?1",
};

struct ct__sqlite_events {
  sqlite3 *db;
  sqlite3_stmt *st[N_ESTMTS];
  ct__leases_t leases;
  int64_t retention_ms;
};

static void sql_leased(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const ct__leases_t *leases = sqlite3_user_data(ctx);
  sqlite3_result_int(ctx, ct__leases_has(leases, sqlite3_value_int64(argv[0])));
}

int ct__sqlite_events_open(sqlite3 *db, int64_t retention_ms, ct__sqlite_events_t **out) {
  ct__sqlite_events_t *ev = calloc(1, sizeof *ev);
  if (ev == NULL)
    return CT_ENOMEM;
  ev->db = db;
  ev->retention_ms = retention_ms;
  int src = sqlite3_create_function_v2(db, "ct_event_leased", 1,
                                       SQLITE_UTF8 | SQLITE_DIRECTONLY, &ev->leases, sql_leased,
                                       NULL, NULL, NULL);
  for (int i = 0; src == SQLITE_OK && i < N_ESTMTS; i++)
    src = sqlite3_prepare_v3(db, esql[i], -1, SQLITE_PREPARE_PERSISTENT, &ev->st[i], NULL);
  if (src != SQLITE_OK) {
    int rc = ct__sqlite_error(db, src);
    ct_warn("spool: preparing the event statements: %s", sqlite3_errmsg(db));
    ct__sqlite_events_close(ev);
    return rc;
  }
  *out = ev;
  return 0;
}

void ct__sqlite_events_close(ct__sqlite_events_t *ev) {
  if (ev == NULL)
    return;
  for (int i = 0; i < N_ESTMTS; i++)
    sqlite3_finalize(ev->st[i]);
  ct__leases_free(&ev->leases);
  free(ev);
}

/* Maps and logs a failed call; the messages name tables, never values. */
static int fail(ct__sqlite_events_t *ev, const char *what, int src) {
  int rc = ct__sqlite_error(ev->db, src);
  if (rc == CT_ELOCKED)
    ct_debug("spool: events %s: %s", what, sqlite3_errstr(src));
  else
    ct_warn("spool: events %s: %s (%s)", what, sqlite3_errmsg(ev->db), ct_errname(rc));
  return rc;
}

static int run(ct__sqlite_events_t *ev, int id, const char *what) {
  sqlite3_stmt *st = ev->st[id];
  int src = sqlite3_step(st);
  sqlite3_reset(st);
  return src == SQLITE_DONE ? 0 : fail(ev, what, src);
}

static void rollback(ct__sqlite_events_t *ev) {
  if (!sqlite3_get_autocommit(ev->db))
    run(ev, E_ROLLBACK, "rollback");
}

static int commit(ct__sqlite_events_t *ev) {
  int rc = run(ev, E_COMMIT, "commit");
  if (rc != 0)
    rollback(ev);
  return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s) {
  sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Put */

static int put_one(ct__sqlite_events_t *ev, const ct_event_t *e, int64_t now_ms, bool *stored) {
  uint8_t *body;
  size_t len;
  int rc;
  if (e->received_ms != 0) {
    rc = ct_event_encode(e, &body, &len);
  } else {
    ct_event_t stamped = *e; /* shares e's text; only read */
    stamped.received_ms = now_ms;
    rc = ct_event_encode(&stamped, &body, &len);
  }
  if (rc != 0)
    return rc;
  sqlite3_stmt *st = ev->st[E_INSERT];
  bind_text(st, 1, e->event_id);
  sqlite3_bind_int(st, 2, (int)e->kind);
  bind_text(st, 3, e->account);
  bind_text(st, 4, e->message_id);
  if (e->job_id[0] != '\0') {
    bind_text(st, 5, e->job_id);
    sqlite3_bind_int64(st, 8, e->part);
  } else {
    sqlite3_bind_null(st, 5);
    sqlite3_bind_null(st, 8);
  }
  sqlite3_bind_int64(st, 6, now_ms);
  sqlite3_bind_blob64(st, 7, body, len, SQLITE_STATIC);
  int src = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (src != SQLITE_DONE) {
    free(body);
    return fail(ev, "put", src);
  }
  *stored = sqlite3_changes(ev->db) == 1;
  if (e->kind == CT_EVENT_INBOUND) {
    /* kept whether or not the event was new: an earlier put may have stored the event and
     * this one completes nothing, as the insert is idempotent too */
    st = ev->st[E_INSERT_INBOUND];
    bind_text(st, 1, e->account);
    bind_text(st, 2, e->message_id[0] != '\0' ? e->message_id : e->event_id);
    bind_text(st, 3, e->from);
    sqlite3_bind_int64(st, 4, e->at_ms != 0 ? e->at_ms : now_ms);
    sqlite3_bind_int64(st, 5, now_ms);
    sqlite3_bind_blob64(st, 6, body, len, SQLITE_STATIC);
    src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_DONE)
      rc = fail(ev, "put inbound", src);
  }
  free(body);
  return rc;
}

int ct__sqlite_events_put(ct__sqlite_events_t *ev, const ct_event_t *const *events, size_t n,
                          int64_t now_ms, int *results) {
  int *res = malloc(n * sizeof *res);
  if (res == NULL)
    return CT_ENOMEM;
  int rc = run(ev, E_BEGIN_WRITE, "begin");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    bool stored = false;
    rc = put_one(ev, events[i], now_ms, &stored);
    res[i] = stored ? 0 : CT_EDUPLICATE;
  }
  if (rc == 0)
    rc = commit(ev);
  else
    rollback(ev);
  if (rc == 0)
    memcpy(results, res, n * sizeof *res);
  free(res);
  return rc;
}

/* Take */

/* Events that no longer decode would be handed to nobody and taken again forever: they are
 * marked DONE, in their own transaction after the take's. */
#define MAX_QUARANTINE 64

static void quarantine(ct__sqlite_events_t *ev, const int64_t *seqs, size_t n) {
  if (run(ev, E_BEGIN_WRITE, "begin") != 0)
    return;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    sqlite3_bind_int64(ev->st[E_QUARANTINE], 1, seqs[i]);
    rc = run(ev, E_QUARANTINE, "quarantine");
  }
  if (rc == 0 && commit(ev) == 0)
    ct_error("spool: %zu stored events do not decode; marked done without being applied", n);
  else
    rollback(ev);
}

int ct__sqlite_events_take(ct__sqlite_events_t *ev, int64_t now_ms, size_t max,
                           ct_event_lease_t *out, size_t *n) {
  int rc = run(ev, E_BEGIN_READ, "begin");
  if (rc != 0)
    return rc;
  sqlite3_stmt *st = ev->st[E_TAKE];
  sqlite3_bind_int64(st, 1, now_ms);
  sqlite3_bind_int64(st, 2, (int64_t)max);
  size_t got = 0;
  int64_t bad[MAX_QUARANTINE];
  size_t n_bad = 0;
  int src;
  while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t seq = sqlite3_column_int64(st, 0);
    ct_event_lease_t *l = &out[got];
    memset(l, 0, sizeof *l);
    int drc = ct_event_decode(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2),
                              &l->event);
    if (drc == CT_EDECODE) {
      if (n_bad < MAX_QUARANTINE)
        bad[n_bad++] = seq;
      continue;
    }
    if (drc != 0) {
      rc = drc;
      break;
    }
    l->seq = seq;
    l->attempts = (uint32_t)sqlite3_column_int64(st, 1);
    rc = ct__leases_add(&ev->leases, seq);
    if (rc != 0) {
      ct_event_lease_free(l);
      break;
    }
    got++;
  }
  if (rc == 0 && src != SQLITE_DONE)
    rc = fail(ev, "take", src);
  sqlite3_reset(st);
  if (rc == 0)
    rc = commit(ev);
  else
    rollback(ev);
  if (rc != 0) {
    for (size_t i = 0; i < got; i++) {
      ct__leases_remove(&ev->leases, out[i].seq);
      ct_event_lease_free(&out[i]);
    }
    return rc;
  }
  if (n_bad > 0)
    quarantine(ev, bad, n_bad);
  *n = got;
  return 0;
}

/* Ack and retry: the same shape, one UPDATE per leased seq. */

static int settle(ct__sqlite_events_t *ev, int stmt, const int64_t *seqs, size_t n, int64_t ms,
                  int *results) {
  int *res = malloc(n * sizeof *res);
  if (res == NULL)
    return CT_ENOMEM;
  int rc = run(ev, E_BEGIN_WRITE, "begin");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    /* a seq that is not leased (or twice in the batch) changes nothing */
    if (!ct__leases_mark(&ev->leases, seqs[i])) {
      res[i] = CT_ESTATE;
      continue;
    }
    res[i] = 0;
    sqlite3_bind_int64(ev->st[stmt], 1, seqs[i]);
    sqlite3_bind_int64(ev->st[stmt], 2, ms);
    rc = run(ev, stmt, stmt == E_ACK ? "ack" : "retry");
  }
  if (rc == 0)
    rc = commit(ev);
  else
    rollback(ev);
  /* the marks end the leases once committed, else they are lifted and the leases stand */
  for (size_t i = 0; i < n; i++) {
    if (rc == 0 && res[i] == 0)
      ct__leases_remove(&ev->leases, seqs[i]);
    else if (rc != 0)
      ct__leases_unmark(&ev->leases, seqs[i]);
  }
  if (rc == 0)
    memcpy(results, res, n * sizeof *res);
  free(res);
  return rc;
}

int ct__sqlite_events_ack(ct__sqlite_events_t *ev, const int64_t *seqs, size_t n,
                          int64_t now_ms, int *results) {
  return settle(ev, E_ACK, seqs, n, now_ms, results);
}

int ct__sqlite_events_retry(ct__sqlite_events_t *ev, const int64_t *seqs, size_t n,
                            int64_t due_ms, int *results) {
  return settle(ev, E_RETRY, seqs, n, due_ms, results);
}

/* Stats and expiry */

static int count_row(ct__sqlite_events_t *ev, int stmt, int64_t *a, int64_t *b) {
  sqlite3_stmt *st = ev->st[stmt];
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    *a = sqlite3_column_int64(st, 0);
    if (b != NULL)
      *b = sqlite3_column_int64(st, 1);
    src = SQLITE_DONE;
  }
  sqlite3_reset(st);
  return src == SQLITE_DONE ? 0 : fail(ev, "stats", src);
}

int ct__sqlite_events_stats(ct__sqlite_events_t *ev, ct_event_stats_t *out) {
  int64_t pending = 0, done = 0, inbound = 0, oldest = 0;
  int rc = run(ev, E_BEGIN_READ, "begin");
  if (rc == 0)
    rc = count_row(ev, E_STATS, &pending, &done);
  if (rc == 0)
    rc = count_row(ev, E_STATS_INBOUND, &inbound, NULL);
  if (rc == 0)
    rc = count_row(ev, E_OLDEST_PENDING, &oldest, NULL);
  if (rc == 0)
    rc = commit(ev);
  else
    rollback(ev);
  if (rc != 0)
    return rc;
  *out = (ct_event_stats_t){.pending = (uint64_t)pending,
                            .done = (uint64_t)done,
                            .inbound = (uint64_t)inbound,
                            .oldest_pending_ms = oldest};
  return 0;
}

int ct__sqlite_events_expire(ct__sqlite_events_t *ev, int64_t now_ms, size_t *count) {
  int64_t cutoff = now_ms - ev->retention_ms;
  int rc = run(ev, E_BEGIN_WRITE, "begin");
  size_t deleted = 0;
  if (rc == 0) {
    sqlite3_bind_int64(ev->st[E_EXPIRE_EVENTS], 1, cutoff);
    rc = run(ev, E_EXPIRE_EVENTS, "expire");
    deleted = (size_t)sqlite3_changes64(ev->db);
  }
  if (rc == 0) {
    sqlite3_bind_int64(ev->st[E_EXPIRE_INBOUND], 1, cutoff);
    rc = run(ev, E_EXPIRE_INBOUND, "expire");
  }
  if (rc == 0)
    rc = commit(ev);
  else
    rollback(ev);
  if (rc == 0)
    *count = deleted;
  return rc;
}

/* Inbound messages */

int ct__sqlite_inbound_list(ct__sqlite_events_t *ev, const ct_inbound_filter_t *f,
                            int (*visit)(const ct_event_t *e, void *arg), void *arg) {
  /* an operator's or a conversation's lookup, not the hot path: built per call */
  bool by_account = f->account != NULL && f->account[0] != '\0';
  bool by_from = f->from != NULL && f->from[0] != '\0';
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT body FROM inbound WHERE at_ms >= ?1%s%s ORDER BY at_ms, received_ms LIMIT ?4",
           by_account ? " AND account = ?2" : "", by_from ? " AND sender = ?3" : "");
  sqlite3_stmt *st = NULL;
  int src = sqlite3_prepare_v2(ev->db, sql, -1, &st, NULL);
  if (src != SQLITE_OK)
    return fail(ev, "inbound list", src);
  sqlite3_bind_int64(st, 1, f->since_ms);
  if (by_account)
    bind_text(st, 2, f->account);
  if (by_from)
    bind_text(st, 3, f->from);
  sqlite3_bind_int64(st, 4, f->limit > 0 ? (int64_t)f->limit : -1);
  int rc = run(ev, E_BEGIN_READ, "begin");
  while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
    ct_event_t e;
    memset(&e, 0, sizeof e);
    rc = ct_event_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &e);
    if (rc == CT_EDECODE)
      rc = CT_ECORRUPT;
    if (rc == 0)
      rc = visit(&e, arg);
    ct_event_clear(&e);
  }
  if (rc == 0 && src != SQLITE_DONE)
    rc = fail(ev, "inbound list", src);
  sqlite3_finalize(st);
  if (!sqlite3_get_autocommit(ev->db)) {
    int crc = commit(ev);
    if (rc == 0)
      rc = crc;
  }
  return rc;
}

size_t ct__sqlite_events_leased(const ct__sqlite_events_t *ev) { return ev->leases.n; }
