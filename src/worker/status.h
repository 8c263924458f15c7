/* The on-call status document (GET /v1/status, read by `carteiro status`), and the ring of
 * per-second counter samples its rates come from.
 *
 * Rates. The counters the engine keeps only ever grow, so a rate over the last W seconds is
 * (counter now - counter W seconds ago) / W. The control loop samples them once a second
 * into a ring long enough for the longest window; a request for the document reads the
 * counters once more and subtracts the oldest sample inside each window. That costs one
 * timer tick a second and (1 + accounts) * 61 integers, whatever the load, and needs no
 * lock: the ring is written and read on the control loop only.
 *
 * The document (every count an integer, every rate a number, times in seconds):
 *   { "time": RFC 3339, "uptime_s", "stopping",
 *     "jobs":      { "delivered", "retried", "dead", "released", "inflight", "max_inflight",
 *                    "delivered_per_s": {"10s", "1m"} },
 *     "enqueue":   { "accepted", "duplicates" }   (the server adds "rejected"),
 *     "providers": [ { "name", "channel", "messages_per_s": {"10s", "1m"}, "requests",
 *                      "accepted", "transient", "throttled", "permanent", "refused",
 *                      "inflight", "concurrency_limit", "max_concurrency", "rate", "burst",
 *                      "rate_share", "burst_share",
 *                      "breaker": "closed" | "open" | "half_open", "paused" } ],
 *     "spool":     { "ready", "due", "inflight", "delivered", "dead", "oldest_due_age_s",
 *                    "file_bytes", "dead_by_reason": { REASON: count } } or null before the
 *                    spooler's first count (it counts every two seconds),
 *     "cluster":   { "nodes", "sending" } or null without a [cluster] section }
 * "rate" and "burst" are the configured ones (0: no limit); "rate_share" and "burst_share"
 * what this node may send now: its share (1 / "nodes") less the headroom, and 0 while it
 * may not send at all ("sending" false: joining, or lost touch with NATS).
 * "messages_per_s" counts messages the provider accepted (a WhatsApp invoice is two);
 * "delivered_per_s" counts jobs. No field carries personal data. */
#ifndef CT_WORKER_STATUS_H
#define CT_WORKER_STATUS_H

#include "dispatch/accounts.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The windows rates are given over; the ring keeps one sample a second for the longer. */
#define CT_RATES_SHORT_S 10
#define CT_RATES_LONG_S 60

typedef struct ct_rates {
  size_t n_series;   /* series 0: jobs delivered; series 1 + i: messages account i accepted */
  size_t cap;        /* samples kept: CT_RATES_LONG_S + 1 */
  uint64_t *values;  /* cap rows of n_series */
  int64_t *at_ms;    /* when each row was taken (monotonic) */
  size_t next;       /* the row the next sample goes to */
  size_t filled;     /* rows taken so far, at most cap */
  int64_t started_ms; /* wall clock at init, for the uptime */
} ct_rates_t;

/* Sizes the ring for `n_accounts` accounts. Errors: CT_ENOMEM (nothing to destroy then). */
int ct_rates_init(ct_rates_t *r, size_t n_accounts);
void ct_rates_destroy(ct_rates_t *r);

/* Records the counters as they are at `mono_ms`: `delivered` jobs and each account's
 * accepted messages. Call about once a second, on the thread that reads the ring. */
void ct_rates_sample(ct_rates_t *r, int64_t mono_ms, uint64_t delivered, ct_accounts_t *a);

/* Per second over the last `window_s` seconds (less while the ring is younger than that):
 * series `series`, whose value at `mono_ms` is `now_value`. 0 without an earlier sample. */
double ct_rates_per_s(const ct_rates_t *r, size_t series, uint64_t now_value, int64_t mono_ms,
                      int window_s);

/* The document above for `ctx`, a ct_ingest_t (worker/ingest.h) whose `rates` is set: the
 * status hook of the HTTP engine. A new reference, or NULL when out of memory. Runs on the
 * control loop. */
json_t *ct_status_document(void *ctx);

#endif
