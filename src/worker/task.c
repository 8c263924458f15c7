#include "worker/task.h"

#include "common/log.h"

#include <assert.h>
#include <stdio.h>

static const char *const names[CT_TASK__N] = {
    [CT_TASK_FREE] = "free",           [CT_TASK_TAKING] = "taking",
    [CT_TASK_QUEUED] = "queued",       [CT_TASK_READY] = "ready",
    [CT_TASK_DOC] = "doc",             [CT_TASK_PARKED] = "parked",
    [CT_TASK_GAP_WAIT] = "gap_wait",
    [CT_TASK_SLOT_WAIT] = "slot_wait", [CT_TASK_WARM_WAIT] = "warm_wait",
    [CT_TASK_RESUME] = "resume",       [CT_TASK_INFLIGHT] = "inflight",
    [CT_TASK_SETTLING] = "settling",
};

#define BIT(s) (1u << (s))

/* The moves task.h draws: allowed[from] has bit `to` set. */
static const unsigned allowed[CT_TASK__N] = {
    [CT_TASK_FREE] = BIT(CT_TASK_TAKING),
    [CT_TASK_TAKING] = BIT(CT_TASK_FREE) | BIT(CT_TASK_QUEUED) | BIT(CT_TASK_SETTLING),
    [CT_TASK_QUEUED] = BIT(CT_TASK_READY),
    [CT_TASK_READY] = BIT(CT_TASK_DOC) | BIT(CT_TASK_PARKED) | BIT(CT_TASK_GAP_WAIT) |
                      BIT(CT_TASK_SLOT_WAIT) |
                      BIT(CT_TASK_WARM_WAIT) | BIT(CT_TASK_RESUME) | BIT(CT_TASK_INFLIGHT) |
                      BIT(CT_TASK_SETTLING),
    [CT_TASK_DOC] = BIT(CT_TASK_READY),
    [CT_TASK_PARKED] = BIT(CT_TASK_READY),
    [CT_TASK_GAP_WAIT] = BIT(CT_TASK_READY),
    [CT_TASK_SLOT_WAIT] = BIT(CT_TASK_READY),
    [CT_TASK_WARM_WAIT] = BIT(CT_TASK_RESUME) | BIT(CT_TASK_READY),
    [CT_TASK_RESUME] = BIT(CT_TASK_READY),
    [CT_TASK_INFLIGHT] = BIT(CT_TASK_READY),
    [CT_TASK_SETTLING] = BIT(CT_TASK_FREE),
};

const char *ct_task_state_name(ct_task_state_t s) {
  return (unsigned)s < CT_TASK__N ? names[s] : "unknown";
}

void ct_task_set_state(ct_task_t *t, ct_task_state_t to) {
  assert((unsigned)t->state < CT_TASK__N && (unsigned)to < CT_TASK__N);
  const char *id = t->lease.job != NULL && t->lease.job->id != NULL ? t->lease.job->id : "-";
  if (!(allowed[t->state] & BIT(to))) {
    /* A bug in the engine. Debug builds stop here; a release build says so and goes on. */
    ct_error("job=%s: task state %s -> %s is not a legal move", id, names[t->state], names[to]);
    assert(!"illegal task state change");
  }
  ct_log(CT_LOG_DEBUG, "job=%s %s -> %s", id, names[t->state], names[to]);
  t->state = to;
}

void ct_task_settle(ct_task_t *t, const ct_outcome_t *o, int64_t now_ms) {
  assert(o->next != CT_NEXT_CONTINUE);
  ct_settle_kind_t kind = CT_SETTLE_RETRY;
  int64_t due_ms = 0;
  const char *reason = NULL;
  switch (o->next) {
  case CT_NEXT_ACK:
    kind = CT_SETTLE_ACK;
    t->end = CT_END_DELIVERED;
    if (t->progress != NULL)
      t->progress->delivered_at_ms = now_ms;
    break;
  case CT_NEXT_DEAD:
    kind = CT_SETTLE_DEAD;
    t->end = CT_END_DEAD;
    reason = o->reason;
    break;
  case CT_NEXT_RETRY:
    t->end = CT_END_RETRY;
    due_ms = o->due_ms;
    break;
  case CT_NEXT_CHANNEL:
    t->end = CT_END_RETRY; /* at once, for the next channel */
    break;
  case CT_NEXT_RELEASE:
  case CT_NEXT_CONTINUE:
    /* Back as it is, with what it has accepted so far: a retry without a failed try. */
    t->end = CT_END_RELEASED;
    due_ms = o->due_ms;
    break;
  }
  t->reason[0] = '\0';
  if (reason != NULL)
    snprintf(t->reason, sizeof t->reason, "%s", reason);
  t->settle = (ct_settle_t){
      .seq = t->lease.seq,
      .kind = kind,
      .attempt = t->has_attempt ? &t->attempt : NULL,
      .earlier = t->earlier_ptrs,
      .n_earlier = t->n_earlier,
      .receipt = t->progress,
      .due_ms = due_ms,
      .reason = reason != NULL ? t->reason : NULL,
  };
}
