#include "dispatch/throttle.h"

#include <math.h>

#define INTERVAL_MASK 0xffffffffULL
#define INTERVAL_CLOSED INTERVAL_MASK
#define INTERVAL_MAX (INTERVAL_MASK - 1)
#define BURST_SHIFT 32
#define BURST_MASK 0xfffffULL
#define GEN_SHIFT 52
#define GEN_MASK 0xfffULL

static uint64_t interval_of(uint64_t p) { return p & INTERVAL_MASK; }
static uint64_t burst_of(uint64_t p) { return (p >> BURST_SHIFT) & BURST_MASK; }
static uint64_t gen_of(uint64_t p) { return (p >> GEN_SHIFT) & GEN_MASK; }

/* The next word: new parameters under the next generation (never 0, which means "never set"). */
static uint64_t next_word(uint64_t old, uint64_t interval, uint64_t burst) {
  uint64_t gen = (gen_of(old) + 1) & GEN_MASK;
  if (gen == 0)
    gen = 1;
  return interval | burst << BURST_SHIFT | gen << GEN_SHIFT;
}

/* Publishes `word`. When the bucket was in use, its clock restarts empty first, so that a
 * thread which already sees the new word also sees the new clock (both are seq_cst); a thread
 * still on the old word may advance the new clock once, and its token is void anyway.
 *
 * Closing leaves the clock where it is. A thread that loaded the open word just before the
 * close still reserves against the old schedule, never earlier: a clock reset to 0 would have
 * answered it "now", a send past the rate for any caller that did not check its token. */
static void publish(ct_bucket_t *b, uint64_t old, uint64_t word, int64_t now_us) {
  if (old != 0 && interval_of(word) != INTERVAL_CLOSED)
    atomic_store(&b->tat_us, now_us + (int64_t)interval_of(word));
  atomic_store(&b->params, word);
}

void ct_bucket_set(ct_bucket_t *b, double rate, uint32_t burst, int64_t now_us) {
  uint64_t interval = 0;
  if (rate > 0) {
    double us = 1e6 / rate;
    interval = us >= (double)INTERVAL_MAX ? INTERVAL_MAX : (uint64_t)llround(us);
    if (interval < 1)
      interval = 1;
  }
  uint64_t bu = burst < 1 ? 1 : burst > BURST_MASK ? BURST_MASK : burst;
  uint64_t old = atomic_load(&b->params);
  if (old != 0 && interval_of(old) == interval && burst_of(old) == bu)
    return;
  publish(b, old, next_word(old, interval, bu), now_us);
}

void ct_bucket_close(ct_bucket_t *b) {
  uint64_t old = atomic_load(&b->params);
  if (old != 0 && interval_of(old) == INTERVAL_CLOSED)
    return;
  publish(b, old, next_word(old, INTERVAL_CLOSED, 1), 0);
}

int64_t ct_bucket_reserve(ct_bucket_t *b, int64_t now_us, uint64_t *token) {
  uint64_t p = atomic_load(&b->params);
  if (token != NULL)
    *token = p;
  int64_t interval = (int64_t)interval_of(p);
  if (interval == (int64_t)INTERVAL_CLOSED)
    return now_us + CT_BUCKET_CLOSED_RETRY_US;
  if (interval == 0)
    return now_us;
  int64_t tolerance = interval * ((int64_t)burst_of(p) - 1);
  int64_t tat = atomic_load(&b->tat_us);
  for (;;) {
    /* A bucket idle for a while is full again: its clock restarts at now - tolerance, so the
     * next `burst` sends may go at once and no more. */
    int64_t start = tat > now_us - tolerance ? tat : now_us - tolerance;
    int64_t send_at = start > now_us ? start : now_us;
    if (atomic_compare_exchange_weak(&b->tat_us, &tat, start + interval))
      return send_at;
  }
}

bool ct_bucket_valid(ct_bucket_t *b, uint64_t token) {
  return token == atomic_load(&b->params) && interval_of(token) != INTERVAL_CLOSED;
}

void ct_bucket_get(ct_bucket_t *b, double *rate, uint32_t *burst) {
  uint64_t p = atomic_load(&b->params);
  uint64_t interval = interval_of(p);
  *rate = interval == INTERVAL_CLOSED ? -1 : interval == 0 ? 0 : 1e6 / (double)interval;
  *burst = (uint32_t)burst_of(p);
}

bool ct_bucket_peek(ct_bucket_t *b, int64_t now_us, int64_t *tokens, int64_t *wait_us) {
  uint64_t p = atomic_load(&b->params);
  int64_t interval = (int64_t)interval_of(p);
  *tokens = 0;
  *wait_us = 0;
  if (interval == 0)
    return false;
  if (interval == (int64_t)INTERVAL_CLOSED) {
    *wait_us = CT_BUCKET_CLOSED_RETRY_US;
    return true;
  }
  int64_t tolerance = interval * ((int64_t)burst_of(p) - 1);
  int64_t tat = atomic_load(&b->tat_us);
  int64_t start = tat > now_us - tolerance ? tat : now_us - tolerance;
  *tokens = start <= now_us ? (now_us - start) / interval + 1 : 0;
  *wait_us = tat > now_us ? tat - now_us : 0;
  return true;
}

void ct_aimd_init(ct_aimd_t *a, uint32_t max) {
  pthread_mutex_init(&a->mu, NULL);
  a->max = max < 1 ? 1 : max;
  a->limit = a->max;
  a->inflight = 0;
  a->last_cut_us = INT64_MIN / 2;
}

void ct_aimd_destroy(ct_aimd_t *a) { pthread_mutex_destroy(&a->mu); }

void ct_aimd_set_max(ct_aimd_t *a, uint32_t max) {
  pthread_mutex_lock(&a->mu);
  a->max = max < 1 ? 1 : max;
  if (a->limit > a->max)
    a->limit = a->max;
  pthread_mutex_unlock(&a->mu);
}

bool ct_aimd_acquire(ct_aimd_t *a) {
  pthread_mutex_lock(&a->mu);
  bool ok = a->inflight < (uint32_t)a->limit;
  if (ok)
    a->inflight++;
  pthread_mutex_unlock(&a->mu);
  return ok;
}

void ct_aimd_release(ct_aimd_t *a, ct_aimd_signal_t s, int64_t now_us, int64_t cut_window_us) {
  pthread_mutex_lock(&a->mu);
  if (a->inflight > 0)
    a->inflight--;
  if (s == CT_AIMD_OK) {
    a->limit += 1.0 / a->limit;
    if (a->limit > a->max)
      a->limit = a->max;
  } else if (s == CT_AIMD_THROTTLED && now_us - a->last_cut_us >= cut_window_us) {
    a->limit = a->limit / 2 < 1 ? 1 : a->limit / 2;
    a->last_cut_us = now_us;
  }
  pthread_mutex_unlock(&a->mu);
}

double ct_aimd_limit(ct_aimd_t *a) {
  pthread_mutex_lock(&a->mu);
  double l = a->limit;
  pthread_mutex_unlock(&a->mu);
  return l;
}

uint32_t ct_aimd_inflight(ct_aimd_t *a) {
  pthread_mutex_lock(&a->mu);
  uint32_t n = a->inflight;
  pthread_mutex_unlock(&a->mu);
  return n;
}

void ct_breaker_init(ct_breaker_t *b, uint32_t threshold, int64_t cooldown_us) {
  pthread_mutex_init(&b->mu, NULL);
  b->state = CT_BREAKER_CLOSED;
  b->failures = 0;
  b->threshold = threshold < 1 ? 1 : threshold;
  b->cooldown_us = cooldown_us;
  b->opened_us = 0;
  b->probe_out = false;
  b->probe_since_us = 0;
  b->down_since_us = 0;
  b->probes_failed = 0;
}

void ct_breaker_destroy(ct_breaker_t *b) { pthread_mutex_destroy(&b->mu); }

void ct_breaker_set(ct_breaker_t *b, uint32_t threshold, int64_t cooldown_us) {
  pthread_mutex_lock(&b->mu);
  b->threshold = threshold < 1 ? 1 : threshold;
  b->cooldown_us = cooldown_us;
  pthread_mutex_unlock(&b->mu);
}

/* Under the lock: the report of the state as it is now. */
static void report(const ct_breaker_t *b, ct_breaker_change_t change, ct_breaker_report_t *out) {
  if (out == NULL)
    return;
  *out = (ct_breaker_report_t){.state = b->state, .change = change, .failures = b->failures,
                               .probes_failed = b->probes_failed};
  if (b->state != CT_BREAKER_CLOSED || change == CT_BREAKER_RECLOSED)
    out->down_since_us = b->down_since_us;
  if (b->state == CT_BREAKER_OPEN)
    out->next_probe_us = b->opened_us + b->cooldown_us;
  else if (b->state == CT_BREAKER_HALF_OPEN)
    out->next_probe_us = b->probe_out ? b->probe_since_us + b->cooldown_us : 0;
}

/* Under the lock: whether a request must wait now. */
static bool refuses(const ct_breaker_t *b, int64_t now_us) {
  if (b->state == CT_BREAKER_OPEN)
    return now_us - b->opened_us < b->cooldown_us;
  if (b->state == CT_BREAKER_HALF_OPEN)
    return b->probe_out && now_us - b->probe_since_us < b->cooldown_us;
  return false;
}

bool ct_breaker_allow(ct_breaker_t *b, int64_t now_us, ct_breaker_report_t *out) {
  pthread_mutex_lock(&b->mu);
  bool ok = !refuses(b, now_us);
  ct_breaker_change_t change = CT_BREAKER_SAME;
  if (ok && b->state == CT_BREAKER_OPEN) {
    b->state = CT_BREAKER_HALF_OPEN;
    change = CT_BREAKER_PROBING;
  }
  if (ok && b->state == CT_BREAKER_HALF_OPEN) {
    /* The probe, or a new one when the last never answered within a cool-down. */
    b->probe_out = true;
    b->probe_since_us = now_us;
  }
  report(b, change, out);
  pthread_mutex_unlock(&b->mu);
  return ok;
}

bool ct_breaker_refuses(ct_breaker_t *b, int64_t now_us, ct_breaker_report_t *out) {
  pthread_mutex_lock(&b->mu);
  bool no = refuses(b, now_us);
  report(b, CT_BREAKER_SAME, out);
  pthread_mutex_unlock(&b->mu);
  return no;
}

void ct_breaker_record(ct_breaker_t *b, bool success, int64_t now_us, ct_breaker_report_t *out) {
  pthread_mutex_lock(&b->mu);
  ct_breaker_change_t change = CT_BREAKER_SAME;
  if (success) {
    if (b->state != CT_BREAKER_CLOSED)
      change = CT_BREAKER_RECLOSED;
    b->state = CT_BREAKER_CLOSED;
    b->failures = 0;
    b->probe_out = false;
  } else {
    b->failures++;
    if (b->state == CT_BREAKER_HALF_OPEN || b->failures >= b->threshold) {
      if (b->state == CT_BREAKER_CLOSED) {
        change = CT_BREAKER_OPENED;
        b->down_since_us = now_us;
        b->probes_failed = 0;
      } else if (b->state == CT_BREAKER_HALF_OPEN) {
        change = CT_BREAKER_REOPENED;
        b->probes_failed++;
      }
      b->state = CT_BREAKER_OPEN;
      b->opened_us = now_us;
      b->probe_out = false;
    }
  }
  report(b, change, out);
  pthread_mutex_unlock(&b->mu);
}

ct_breaker_state_t ct_breaker_state(ct_breaker_t *b) {
  pthread_mutex_lock(&b->mu);
  ct_breaker_state_t s = b->state;
  pthread_mutex_unlock(&b->mu);
  return s;
}

const char *ct_breaker_state_name(ct_breaker_state_t s) {
  switch (s) {
  case CT_BREAKER_CLOSED:
    return "closed";
  case CT_BREAKER_OPEN:
    return "open";
  case CT_BREAKER_HALF_OPEN:
    return "half_open";
  }
  return "unknown";
}

static uint64_t xorshift64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

int64_t ct_backoff_ms(uint32_t attempt, int64_t base_ms, int64_t cap_ms, int64_t retry_after_ms,
                      uint64_t *rng) {
  int64_t ceiling = base_ms;
  for (uint32_t i = 1; i < attempt && ceiling < cap_ms; i++)
    ceiling *= 2;
  if (ceiling > cap_ms)
    ceiling = cap_ms;
  int64_t delay = ceiling > 0 ? (int64_t)(xorshift64(rng) % (uint64_t)(ceiling + 1)) : 0;
  return retry_after_ms > delay ? retry_after_ms : delay;
}
