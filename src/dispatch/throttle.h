/* Flow control for one provider account, shared by every worker thread:
 *
 *   ct_bucket_t   the account's rate: a token bucket (rate, burst) kept as GCRA — one atomic
 *                 "theoretical arrival time" — so that reserving a send is a single CAS and the
 *                 configured rate holds across all threads together.
 *   ct_aimd_t     the account's concurrency: a cap that 429s halve and successes slowly raise
 *                 again (additive increase, multiplicative decrease), never above the
 *                 configured maximum.
 *   ct_breaker_t  the account's circuit breaker: opens after N consecutive failures, lets one
 *                 probe through after a cool-down (half-open), closes on its success.
 *
 * And the retry delay: exponential backoff with full jitter, capped, never shorter than what
 * the provider asked for (Retry-After).
 *
 * All times are CLOCK_MONOTONIC microseconds (ct_mono_us) unless named _ms.
 */
#ifndef CT_DISPATCH_THROTTLE_H
#define CT_DISPATCH_THROTTLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The bucket's parameters live in one 64-bit word, so a reserving thread always sees a rate
 * and a burst that were set together, and the word itself names them: a reservation carries
 * the word it was made under (its token), and a send checks the token is still the bucket's
 * word before it goes. Layout: interval in microseconds (bits 0-31; 0 = no limit, all ones =
 * closed), burst (bits 32-51), generation (bits 52-63, bumped by every change). */
typedef struct {
  _Atomic int64_t tat_us;       /* theoretical arrival time of the next send */
  _Atomic uint64_t params;      /* interval | burst << 32 | generation << 52; 0 = never set */
} ct_bucket_t;

/* A closed bucket answers "ask again in this long". */
#define CT_BUCKET_CLOSED_RETRY_US (50 * 1000)

/* Sets the rate in messages per second (0 = no limit) and the burst (>= 1), from any thread,
 * while others reserve. Rates under one message per 4294 s are rounded up to it.
 *
 * The first call fills the bucket (`burst` sends may go at once). A later call that changes
 * anything starts the new rate from an empty bucket at `now_us` (the first send under it one
 * interval later) and voids every token reserved before it: a send reserved ahead at the old
 * rate is re-reserved at the new one when its time comes (ct_bucket_valid), so neither a rate
 * lowered nor a burst raised lets more go than the new parameters allow. A call with the same
 * parameters changes nothing. Calls must not race each other (one writer at a time). */
void ct_bucket_set(ct_bucket_t *b, double rate, uint32_t burst, int64_t now_us);

/* Closes the bucket: nothing may be reserved until the next ct_bucket_set, and every token
 * reserved before is void. A reservation racing the close is answered on the old schedule
 * (never sooner), with a token that is void once the close is visible. Same writer rule as
 * ct_bucket_set. */
void ct_bucket_close(ct_bucket_t *b);

/* Reserves one send and returns when it may go: `now_us` when a token is free, else the
 * future time at which its token will be. Every call reserves a distinct slot, so callers
 * that wait until the returned time never exceed the rate together: over any interval of
 * length W at most burst + W * rate sends go. `*token` (if not NULL) receives the parameters
 * the slot was reserved under, for ct_bucket_valid. A closed bucket reserves nothing: it
 * returns now_us + CT_BUCKET_CLOSED_RETRY_US and a token that is never valid.
 *
 * A caller that sends at once when the answer is now_us checks ct_bucket_valid(token) first:
 * a reservation that raced a change or a close was made under a word that is gone. */
int64_t ct_bucket_reserve(ct_bucket_t *b, int64_t now_us, uint64_t *token);

/* True while a slot reserved with `token` may still be used: the bucket's parameters have
 * not changed since, and it is open. */
bool ct_bucket_valid(ct_bucket_t *b, uint64_t token);

/* The current rate (messages per second, 0 = no limit) and burst, for metrics; a closed
 * bucket reports rate -1. */
void ct_bucket_get(ct_bucket_t *b, double *rate, uint32_t *burst);

/* For metrics: how many sends the bucket would allow at once at now_us (*tokens) and how long
 * the next one would wait (*wait_us). False for an unlimited bucket (both set to 0); a closed
 * one allows none and waits until it is opened again (*wait_us = CT_BUCKET_CLOSED_RETRY_US). */
bool ct_bucket_peek(ct_bucket_t *b, int64_t now_us, int64_t *tokens, int64_t *wait_us);

typedef struct {
  pthread_mutex_t mu;
  double limit;           /* current cap, 1 <= limit <= max */
  uint32_t max;
  uint32_t inflight;
  int64_t last_cut_us;    /* a burst of 429s from one moment cuts the cap once */
} ct_aimd_t;

void ct_aimd_init(ct_aimd_t *a, uint32_t max);
void ct_aimd_destroy(ct_aimd_t *a);
/* Changes the maximum (reload); the current cap is clamped to it. */
void ct_aimd_set_max(ct_aimd_t *a, uint32_t max);
/* Takes a slot when fewer than floor(limit) are in flight. */
bool ct_aimd_acquire(ct_aimd_t *a);

typedef enum { CT_AIMD_OK, CT_AIMD_THROTTLED, CT_AIMD_NEUTRAL } ct_aimd_signal_t;

/* Gives a slot back. OK raises the cap by 1/limit (about +1 per cap's worth of successes);
 * THROTTLED halves it, at most once per `cut_window_us` (a burst of 429s answers one moment of
 * overload); NEUTRAL (e.g. a permanent error) leaves it. */
void ct_aimd_release(ct_aimd_t *a, ct_aimd_signal_t s, int64_t now_us, int64_t cut_window_us);
/* The current cap (for metrics and tests). */
double ct_aimd_limit(ct_aimd_t *a);
/* The slots taken now (for the status screen). */
uint32_t ct_aimd_inflight(ct_aimd_t *a);

typedef enum { CT_BREAKER_CLOSED, CT_BREAKER_OPEN, CT_BREAKER_HALF_OPEN } ct_breaker_state_t;

/* A state change, reported once by the call that made it, whichever thread that was. */
typedef enum {
  CT_BREAKER_SAME,      /* no change */
  CT_BREAKER_OPENED,    /* closed -> open: the threshold of consecutive failures was reached */
  CT_BREAKER_PROBING,   /* open -> half-open: the cool-down passed, one probe goes */
  CT_BREAKER_REOPENED,  /* half-open -> open: the probe failed */
  CT_BREAKER_RECLOSED,  /* open or half-open -> closed: a request succeeded */
} ct_breaker_change_t;

/* What ct_breaker_allow, ct_breaker_record and ct_breaker_peek saw, for the caller's log and
 * for the fate of the job whose request it was (dispatch/outcome.h). */
typedef struct {
  ct_breaker_state_t state;   /* after the call */
  ct_breaker_change_t change;
  int64_t next_probe_us;      /* not closed: the earliest moment the next probe may go */
  int64_t down_since_us;      /* not closed, or RECLOSED: when this outage began (it opened) */
  uint32_t failures;          /* consecutive failures counted (OPENED: the threshold) */
  uint32_t probes_failed;     /* probes that failed in this outage (RECLOSED: in the outage
                                 that just ended) */
} ct_breaker_report_t;

typedef struct {
  pthread_mutex_t mu;
  ct_breaker_state_t state;
  uint32_t failures;       /* consecutive */
  uint32_t threshold;
  int64_t cooldown_us;
  int64_t opened_us;
  bool probe_out;          /* half-open: the one probe is in flight */
  int64_t probe_since_us;  /* when it went: a probe whose answer never counts (a 401, a
                              request never sent) is replaced after one cool-down */
  int64_t down_since_us;   /* when the breaker last opened from closed */
  uint32_t probes_failed;  /* since then */
} ct_breaker_t;

void ct_breaker_init(ct_breaker_t *b, uint32_t threshold, int64_t cooldown_us);
void ct_breaker_destroy(ct_breaker_t *b);
void ct_breaker_set(ct_breaker_t *b, uint32_t threshold, int64_t cooldown_us);
/* May a request go now? Closed: yes. Open: no until the cool-down has passed, then it turns
 * half-open and lets exactly one probe through (change PROBING). Half-open: no while the
 * probe is out, for at most one cool-down. When it says no, out->next_probe_us is when a
 * probe may go next: the end of the cool-down, or (probe out) one cool-down after the probe
 * went. `out` may be NULL. */
bool ct_breaker_allow(ct_breaker_t *b, int64_t now_us, ct_breaker_report_t *out);
/* Whether ct_breaker_allow would say no at `now_us`, without changing anything (no probe is
 * let through); out (may be NULL) as ct_breaker_allow's. */
bool ct_breaker_refuses(ct_breaker_t *b, int64_t now_us, ct_breaker_report_t *out);
/* Records the outcome of a request that was allowed. A success closes the breaker; a failure
 * counts, and opens it at the threshold (or at once when it was the half-open probe); one
 * while it is open pushes the end of the cool-down to `now_us` plus the cool-down. `out`
 * (may be NULL) says what the breaker is now and whether this call changed it. */
void ct_breaker_record(ct_breaker_t *b, bool success, int64_t now_us, ct_breaker_report_t *out);
ct_breaker_state_t ct_breaker_state(ct_breaker_t *b);
/* "closed", "open", "half_open". */
const char *ct_breaker_state_name(ct_breaker_state_t s);

/* The delay before retry number `attempt` (1 = the first retry): a uniformly random value in
 * [0, min(cap, base * 2^(attempt-1))] drawn from `*rng` (xorshift state, non-zero), but never
 * less than `retry_after_ms` when the provider gave one (>= 0). */
int64_t ct_backoff_ms(uint32_t attempt, int64_t base_ms, int64_t cap_ms, int64_t retry_after_ms,
                      uint64_t *rng);

#endif
