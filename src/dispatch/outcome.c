#include "dispatch/outcome.h"

#include <stddef.h>

/* How an event ends the job's turn, before the rules of outcome.h apply. */
typedef enum {
  GO_CONTINUE, /* on to the next part */
  GO_ACK,
  GO_CHANNEL,  /* next channel, or dead when none is left */
  GO_RETRY,    /* backoff, max_attempts, the breaker */
  GO_DEAD,     /* dead with the row's reason (or the input's) */
  GO_PAUSE,    /* pause the account, release after a recheck */
  GO_RELEASE,  /* release at a time the event gives */
} go_t;

typedef struct {
  ct_outcome_row_t row;
  go_t go;
  const char *reason; /* GO_DEAD */
} entry_t;

#define ROW(ev, nm, cnt, vote, sig, att, g, why)                                               \
  [ev] = {.row = {.event = ev, .name = nm, .counter = cnt, .breaker = vote, .aimd = sig,       \
                  .attempt = att},                                                             \
          .go = g, .reason = why}

static const entry_t table[CT_OEV__N] = {
    ROW(CT_OEV_ACCEPTED, "accepted", CT_COUNT_ACCEPTED, CT_VOTE_SUCCESS, CT_AIMD_OK,
        CT_ATTEMPT_ACCEPTED, GO_CONTINUE, NULL),
    ROW(CT_OEV_PERMANENT, "permanent", CT_COUNT_PERMANENT, CT_VOTE_SUCCESS, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_PERMANENT, GO_CHANNEL, NULL),
    ROW(CT_OEV_THROTTLED, "throttled", CT_COUNT_THROTTLED, CT_VOTE_SUCCESS, CT_AIMD_THROTTLED,
        CT_ATTEMPT_TRANSIENT, GO_RETRY, NULL),
    ROW(CT_OEV_RECIPIENT_BUSY, "recipient_busy", CT_COUNT_THROTTLED, CT_VOTE_SUCCESS,
        CT_AIMD_NEUTRAL, CT_ATTEMPT_TRANSIENT, GO_RETRY, NULL),
    ROW(CT_OEV_AUTH, "auth", CT_COUNT_REFUSED, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_SKIPPED,
        GO_PAUSE, NULL),
    ROW(CT_OEV_FAILED, "failed", CT_COUNT_TRANSIENT, CT_VOTE_FAILURE, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_TRANSIENT, GO_RETRY, NULL),
    ROW(CT_OEV_UNREACHABLE, "unreachable", CT_COUNT_TRANSIENT, CT_VOTE_FAILURE, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_SKIPPED, GO_RETRY, NULL),
    ROW(CT_OEV_ABORTED, "aborted", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
        GO_RELEASE, NULL),
    ROW(CT_OEV_UNSENDABLE, "unsendable", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_PERMANENT, GO_CHANNEL, NULL),
    ROW(CT_OEV_LOCAL_ERROR, "local_error", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_TRANSIENT, GO_RETRY, NULL),
    ROW(CT_OEV_DOC_TRANSIENT, "doc_transient", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_TRANSIENT, GO_RETRY, NULL),
    ROW(CT_OEV_DOC_PERMANENT, "doc_permanent", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_PERMANENT, GO_DEAD, "document_unavailable"),
    ROW(CT_OEV_DONE, "done", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE, GO_ACK,
        NULL),
    ROW(CT_OEV_EXHAUSTED, "exhausted", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_NONE, GO_DEAD, "permanent_failure"),
    ROW(CT_OEV_EXPIRED, "expired", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
        GO_DEAD, "deadline_exceeded"),
    ROW(CT_OEV_WAIT, "wait", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
        GO_RELEASE, NULL),
    ROW(CT_OEV_PAUSED, "paused", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL, CT_ATTEMPT_NONE,
        GO_RELEASE, NULL),
    ROW(CT_OEV_PROVIDER_DOWN, "provider_down", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_NONE, GO_RELEASE, NULL),
    ROW(CT_OEV_STOPPING, "stopping", CT_COUNT_NONE, CT_VOTE_NONE, CT_AIMD_NEUTRAL,
        CT_ATTEMPT_NONE, GO_RELEASE, NULL),
};

const ct_outcome_row_t *ct_outcome_row(ct_outcome_event_t event) {
  if ((unsigned)event >= CT_OEV__N)
    return NULL;
  return &table[event].row;
}

const char *ct_outcome_event_name(ct_outcome_event_t event) {
  const ct_outcome_row_t *r = ct_outcome_row(event);
  return r != NULL ? r->name : "unknown";
}

/* Sat-add for due times built from untrusted parts (Retry-After, a huge backoff cap). */
static int64_t add_ms(int64_t a, int64_t b) { return b > INT64_MAX - a ? INT64_MAX : a + b; }

/* When a job the breaker holds back is due again (see provider_down in outcome.h): its hold
 * m is half the outage so far, at least half a cool-down, at most CT_OUTCOME_HOLD_MAX_MS
 * (unless half a cool-down is longer); due at max(the next probe, now + m) plus a random
 * share of m. */
static int64_t hold_until(const ct_outcome_in_t *in) {
  int64_t cd = in->cooldown_ms > 0 ? in->cooldown_ms : 1;
  int64_t m = in->down_for_ms / 2;
  if (m > CT_OUTCOME_HOLD_MAX_MS)
    m = CT_OUTCOME_HOLD_MAX_MS;
  if (m < cd / 2)
    m = cd / 2;
  if (m < 1)
    m = 1;
  int64_t base = add_ms(in->now_ms, m);
  if (base < in->next_probe_ms)
    base = in->next_probe_ms;
  return add_ms(base, (int64_t)(in->draw % (uint64_t)m));
}

/* The retry rule: backoff, max_attempts, or the breaker's hold. Sets next, due and reason. */
static void retry(const ct_outcome_in_t *in, bool blamed, ct_outcome_t *out) {
  if (blamed) {
    out->next = CT_NEXT_RETRY;
    out->due_ms = hold_until(in);
    return;
  }
  uint32_t attempt = in->attempts + 1;
  if (out->counted && attempt >= in->max_attempts) {
    out->next = CT_NEXT_DEAD;
    out->reason = "max_attempts";
    return;
  }
  int64_t retry_after = in->retry_after_ms;
  if (retry_after > CT_OUTCOME_MAX_RETRY_AFTER_MS)
    retry_after = CT_OUTCOME_MAX_RETRY_AFTER_MS;
  uint64_t rng = in->draw | 1; /* xorshift state: never 0 */
  int64_t delay =
      ct_backoff_ms(attempt, in->backoff_base_ms, in->backoff_cap_ms, retry_after, &rng);
  if (delay < in->floor_ms)
    delay = in->floor_ms;
  out->next = CT_NEXT_RETRY;
  out->due_ms = add_ms(in->now_ms, delay);
}

void ct_outcome_decide(const ct_outcome_in_t *in, ct_outcome_t *out) {
  ct_outcome_event_t ev = (unsigned)in->event < CT_OEV__N ? in->event : CT_OEV_FAILED;
  const entry_t *e = &table[ev];
  *out = (ct_outcome_t){.row = &e->row, .counter = e->row.counter, .breaker = e->row.breaker,
                        .aimd = e->row.aimd, .attempt = e->row.attempt};
  if (in->async) {
    out->breaker = CT_VOTE_NONE;
    out->aimd = CT_AIMD_NEUTRAL;
  }
  /* The breaker's say: a failure while it is open is the provider's, not the job's. */
  bool blamed = out->breaker == CT_VOTE_FAILURE && in->provider_down;
  if (blamed)
    out->attempt = CT_ATTEMPT_SKIPPED;
  out->counted = out->attempt == CT_ATTEMPT_TRANSIENT || out->attempt == CT_ATTEMPT_PERMANENT;

  bool exempt = false; /* from the deadline: due now */
  switch (e->go) {
  case GO_CONTINUE:
    out->next = CT_NEXT_CONTINUE;
    return;
  case GO_ACK:
    out->next = CT_NEXT_ACK;
    return;
  case GO_DEAD:
    out->next = CT_NEXT_DEAD;
    out->reason = ev == CT_OEV_DOC_PERMANENT && in->reason != NULL && in->reason[0] != '\0'
                      ? in->reason
                      : e->reason;
    return;
  case GO_CHANNEL:
    if (!in->channel_left) {
      out->next = CT_NEXT_DEAD;
      out->reason = "permanent_failure";
      return;
    }
    out->next = CT_NEXT_CHANNEL;
    out->due_ms = 0;
    return;
  case GO_RETRY:
    retry(in, blamed, out);
    break;
  case GO_PAUSE:
    out->pause_account = true;
    out->next = CT_NEXT_RELEASE;
    out->due_ms = add_ms(in->now_ms, CT_OUTCOME_PAUSE_RECHECK_MS);
    break;
  case GO_RELEASE:
    out->next = CT_NEXT_RELEASE;
    switch (ev) {
    case CT_OEV_WAIT:
      out->due_ms = in->wait_until_ms;
      break;
    case CT_OEV_PAUSED:
      out->due_ms = add_ms(in->now_ms, CT_OUTCOME_PAUSE_RECHECK_MS);
      break;
    case CT_OEV_PROVIDER_DOWN:
      out->due_ms = hold_until(in);
      break;
    default: /* aborted, stopping */
      out->due_ms = 0;
      exempt = true;
      break;
    }
    break;
  }
  if (!exempt && out->next != CT_NEXT_DEAD && in->not_after_ms != 0 &&
      out->due_ms > in->not_after_ms) {
    out->next = CT_NEXT_DEAD;
    out->reason = "deadline_exceeded";
    out->due_ms = 0;
  }
}
