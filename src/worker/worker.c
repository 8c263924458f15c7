/* The worker: delivery of one task, step by step, on one event loop.
 *
 * A task's job has one or more deliveries; each delivery is a list of channels tried in order
 * (the first, then its fallbacks), and each channel sends one or more parts (a WhatsApp invoice
 * is the document template, then the barcode line alone). step() finds the next part to send
 * from the task's progress, and walks it through the gates in this order:
 *
 *   nothing left to send (done, or a delivery out of channels) ── stopping ── deadline,
 *   window, quiet hours ── account (routed? paused? breaker open?) ── document ── recipient
 *   gap ── first connection ── breaker and concurrency slot ── rate token ── build request
 *   ── transport ── classify ── the job's fate
 *
 * WAITING. A gate that cannot pass now either waits on this loop (parked on the timer heap
 * for a rate token due within moments; in gap_wait on the same heap for a recipient gap; on
 * its account's list for a concurrency slot or for this worker's first connection; with
 * docprep for its document), or ends the turn: the job goes back to the spool with a due time
 * (a paused account, an open breaker, a long gap, a window not open). Waiting on the loop is
 * bounded by the tasks this worker holds, and those by the control loop's in-flight cap plus
 * gap_wait_max. Where a task is, is its state (task.h), changed only by ct_task_set_state,
 * which asserts the move and traces it.
 *
 * THE RECIPIENT GAP (WhatsApp's 6 s between two messages to one person) is waited out in
 * gap_wait: the task keeps its lease and its progress but gives back its in-flight slot (the
 * control loop, told by CT_MSG_SLOTS, takes another job meanwhile) and drops its document
 * (the shared document cache keeps it for the later parts). What it costs then is the task
 * and its decoded job, a few kB; gap_wait_max of them at most in the whole pool (the pool
 * has max_inflight + gap_wait_max tasks). When the gap ends it goes on at once, ahead of every
 * job not yet taken, even if the slots are all in use again then (it counts in again; the
 * control loop takes nothing new until the count is back under the cap). Had it gone back to
 * the spool it would be due after every fresh job of a backlog enqueued before it. When
 * gap_wait_max waiters are out already, it waits on the heap as parked, holding its slot. A
 * stop judges it as every waiting task: back to the spool with its progress, and the next
 * lease waits out what is left of the gap (the part's time is in the receipt).
 *
 * FATE. Every end of a turn and every answer is an event (dispatch/outcome.h: accepted,
 * permanent, throttled, failed, unreachable, provider_down, stopping, ...), and what it does
 * is decided in one place, ct_outcome_decide, a pure table with its own tests; the provider
 * status webhooks will judge asynchronous results with the same function. judge() gathers
 * its inputs (the clock, a random draw, the job's attempts and deadline, the policy in
 * force) and applies the decision: the account's counters, the concurrency slot's signal,
 * the attempt in the history, a credential pause, then the next move: on to the next part,
 * or settle() with the spool outcome (ct_task_settle) to the spooler, which makes it durable;
 * only then does the control loop reuse the task.
 *
 * THE BREAKER is told about an answer before judging it (vote()), because its say is an
 * input: a failure while it is open (this request opened it, was its probe, or was in flight
 * when it opened) is the provider's, not the job's, and does not count toward max_attempts;
 * neither does a request that never reached the provider (connection refused, TLS). A job that
 * finds the breaker open goes back due after its next probe, spread over a window that grows
 * with the outage (outcome.h), so an outage costs neither dead letters nor a spin of takes
 * and releases. The breaker's changes are logged once, at info, by the call that made them:
 * "breaker opened", "breaker half-open" (the first probe of an outage), "breaker closed";
 * and "connections refused" once when a provider stops accepting connections.
 *
 * STOPPING. On STOP every waiting task is judged at once (a job with nothing left to send is
 * delivered; any other goes back as it is, due now). A task whose request is in flight keeps
 * it until its answer, and that answer is judged as any other (a job whose last part is
 * accepted then is delivered, not put back). The transport is closed, and with it every
 * connection, only once this worker holds no task at all: closing it earlier would cut the
 * requests still in flight. The control loop's grace timer bounds the wait: ABORT closes the
 * transport at once, and the requests it cuts come back as aborted (released, due now).
 */
#include "worker/worker.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/tz.h"
#include "dispatch/outcome.h"
#include "transport/transport.h"
#include "worker/doccache.h"
#include "worker/docprep.h"
#include "worker/progress.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A wait for a rate token up to this long stays on the loop; longer waits go back to the
 * spool so they hold no slot. (The recipient gap has its own limit, below.) */
#define PARK_MAX_US (1000 * 1000)
/* The recipient gap is waited on the loop (see THE RECIPIENT GAP above) when it is at most
 * this long; a longer one goes back to the spool. Back in the spool, a job between its parts
 * would be due after every fresh job of a backlog enqueued before it: with a billing cycle
 * enqueued at once, the barcode message and the e-mail of every invoice waited for the first
 * message of all the others (measured: p50 ≈ p99 ≈ the cycle's drain time). Waited holding
 * an in-flight slot (as parked, the fallback when gap_wait_max waiters are out), two-part
 * jobs go at most max_inflight / gap a second (2,000 / 6 s ≈ 330/s). */
#define PARK_GAP_MAX_US (10 * 1000 * 1000)
/* A rate token used later than this after its time is given up (see step). */
#define TOKEN_LATE_US (25 * 1000)
/* How often tasks waiting for a concurrency slot look again (slots freed by other workers). */
#define SLOT_POLL_MS 5
/* 429s from one moment cut an account's concurrency once. */
#define AIMD_CUT_WINDOW_US (100 * 1000)

enum { COLD, PROBING, WARM };

/* How long tasks wait for the first connection's probe before going anyway: enough for a TLS
 * handshake, short of a slow provider's whole answer. */
#define WARM_WAIT_US (200 * 1000)

struct ct_worker {
  int index;
  pthread_t thread;
  uv_loop_t loop;
  ct_mailbox_t inbox;
  ct_transport_t *transport;
  const ct_config_t *cfg;
  uint64_t cfg_gen;        /* reloads seen: which configuration a request was built from */
  ct_accounts_t *accounts;
  ct_spooler_t *spooler;
  ct_mailbox_t *control;

  uv_timer_t timer;        /* fires for the earliest parked task */
  int64_t batch_us;        /* on_timer's now while it wakes parked tasks, else 0 */
  uv_timer_t slot_poll;    /* re-checks slot waiters while there are any */
  ct_task_t **heap;        /* parked tasks, min-heap on wake_us */
  size_t heap_n, heap_cap;
  ct_list_t *waiters;      /* per account: tasks waiting for a concurrency slot */
  size_t n_waiting;
  uint8_t *warm;           /* per account: COLD, PROBING or WARM (see step) */
  int64_t *warm_since;     /* per account: when its probe went out */
  ct_list_t *warm_waiters; /* per account: tasks waiting for the first connection */
  ct_list_t resume;        /* tasks to step again on the next loop turn */
  ct_docprep_t docprep;    /* invoice documents being read, checked and protected */
  ct_doccache_t *doccache; /* documents already prepared, shared with the other workers */

  atomic_size_t *gap_waiting; /* tasks in gap_wait, all workers; NULL = gap_wait unused */
  size_t gap_wait_max;
  atomic_bool slots_posted; /* `slots` is on its way to the control loop */
  ct_msg_t slots;          /* CT_MSG_SLOTS: tasks gave back their in-flight slot */

  size_t active;           /* tasks in hand */
  bool stopping;
  bool closing;
  bool warned_zone;
  uint64_t rng;
  ct_msg_t exited;
  ct_msg_t reloaded;
};

static void step(ct_worker_t *w, ct_task_t *t);
static void on_slot_poll(uv_timer_t *timer);
static void shutdown_if_idle(ct_worker_t *w);

/* ---- timer heap -------------------------------------------------------------------------- */

static void heap_swap(ct_worker_t *w, size_t a, size_t b) {
  ct_task_t *x = w->heap[a];
  w->heap[a] = w->heap[b];
  w->heap[b] = x;
  w->heap[a]->heap_pos = a;
  w->heap[b]->heap_pos = b;
}

static void heap_push(ct_worker_t *w, ct_task_t *t) {
  size_t i = w->heap_n++;
  w->heap[i] = t;
  t->heap_pos = i;
  while (i > 0 && w->heap[(i - 1) / 2]->wake_us > w->heap[i]->wake_us) {
    heap_swap(w, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static ct_task_t *heap_pop(ct_worker_t *w) {
  ct_task_t *top = w->heap[0];
  w->heap_n--;
  if (w->heap_n > 0) {
    w->heap[0] = w->heap[w->heap_n];
    w->heap[0]->heap_pos = 0;
    size_t i = 0;
    for (;;) {
      size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < w->heap_n && w->heap[l]->wake_us < w->heap[m]->wake_us)
        m = l;
      if (r < w->heap_n && w->heap[r]->wake_us < w->heap[m]->wake_us)
        m = r;
      if (m == i)
        break;
      heap_swap(w, i, m);
      i = m;
    }
  }
  if (top->state == CT_TASK_GAP_WAIT)
    atomic_fetch_sub(w->gap_waiting, 1); /* it holds a slot again */
  ct_task_set_state(top, CT_TASK_READY);
  return top;
}

static void on_timer(uv_timer_t *timer);

static void arm_timer(ct_worker_t *w) {
  if (w->heap_n == 0) {
    uv_timer_stop(&w->timer);
    return;
  }
  int64_t delay_us = w->heap[0]->wake_us - ct_mono_us();
  uint64_t ms = delay_us <= 0 ? 0 : (uint64_t)((delay_us + 999) / 1000);
  uv_timer_start(&w->timer, on_timer, ms, 0);
}

/* On the timer heap until `wake_us`, as `s` (parked or gap_wait). */
static void park_as(ct_worker_t *w, ct_task_t *t, int64_t wake_us, ct_task_state_t s) {
  ct_task_set_state(t, s);
  t->wake_us = wake_us;
  heap_push(w, t);
  if (t->heap_pos == 0)
    arm_timer(w);
}

static void park(ct_worker_t *w, ct_task_t *t, int64_t wake_us) {
  park_as(w, t, wake_us, CT_TASK_PARKED);
}

/* Waits out a recipient gap until `wake_us` in gap_wait (THE RECIPIENT GAP, at the top):
 * without an in-flight slot, without its document. False, with nothing changed, when the
 * pool has gap_wait_max waiters already (or gap_wait is off) or the task holds what it must
 * not keep for seconds (a slot, the first-connection probe). */
static bool gap_wait(ct_worker_t *w, ct_task_t *t, int64_t wake_us) {
  if (w->gap_waiting == NULL || t->holds_slot || t->warm_probe)
    return false;
  if (atomic_fetch_add(w->gap_waiting, 1) >= w->gap_wait_max) {
    atomic_fetch_sub(w->gap_waiting, 1);
    return false;
  }
  ct_bytes_free(&t->doc);
  t->doc_ready = false;
  t->has_token = false; /* a token used seconds after its time would be dropped anyway */
  park_as(w, t, wake_us, CT_TASK_GAP_WAIT);
  if (!atomic_exchange(&w->slots_posted, true))
    ct_mailbox_post(w->control, &w->slots.node);
  return true;
}

static void on_timer(uv_timer_t *timer) {
  ct_worker_t *w = timer->data;
  int64_t now = ct_mono_us();
  w->batch_us = now;
  while (w->heap_n > 0 && w->heap[0]->wake_us <= now)
    step(w, heap_pop(w));
  w->batch_us = 0;
  arm_timer(w);
}

/* ---- waiting lists ----------------------------------------------------------------------- */

/* Puts `t` on `list` in state `s` (slot_wait or warm_wait); the poll looks at it again. */
static void wait_on(ct_worker_t *w, ct_task_t *t, ct_list_t *list, ct_task_state_t s) {
  ct_task_set_state(t, s);
  ct_list_insert_tail(list, &t->wait);
  if (!uv_is_active((uv_handle_t *)&w->slot_poll))
    uv_timer_start(&w->slot_poll, on_slot_poll, SLOT_POLL_MS, SLOT_POLL_MS);
}

/* Takes the first task off a waiting list, ready to step. */
static ct_task_t *take_first(ct_list_t *list) {
  ct_task_t *t = ct_container_of(ct_list_first(list), ct_task_t, wait);
  ct_list_remove(&t->wait);
  ct_task_set_state(t, CT_TASK_READY);
  return t;
}

/* The tasks held back for account `a`'s first connection go on the next loop turn. */
static void resume_warm_waiters(ct_worker_t *w, size_t a) {
  while (!ct_list_empty(&w->warm_waiters[a])) {
    ct_task_t *t = ct_container_of(ct_list_first(&w->warm_waiters[a]), ct_task_t, wait);
    ct_list_remove(&t->wait);
    ct_task_set_state(t, CT_TASK_RESUME);
    ct_list_insert_tail(&w->resume, &t->wait);
  }
  if (!ct_list_empty(&w->resume))
    uv_timer_start(&w->slot_poll, on_slot_poll, 0, SLOT_POLL_MS);
}

static void release_slot(ct_worker_t *w, ct_task_t *t, ct_aimd_signal_t s) {
  if (!t->holds_slot)
    return;
  t->holds_slot = false;
  ct_aimd_release(&w->accounts->v[t->account].aimd, s, ct_mono_us(), AIMD_CUT_WINDOW_US);
  /* Waiters get the freed slot on the next loop turn, not from inside this call: stepping
   * them here would nest one task's outcome inside another's. */
  if (!ct_list_empty(&w->waiters[t->account]))
    uv_timer_start(&w->slot_poll, on_slot_poll, 0, SLOT_POLL_MS);
}

/* The first connection to an account is up (or the attempt to make it is over): the tasks
 * held back for it go on the next loop turn. */
static void warm_done(ct_worker_t *w, ct_task_t *t, bool connected) {
  if (!t->warm_probe)
    return;
  t->warm_probe = false;
  w->warm[t->account] = connected ? WARM : COLD;
  resume_warm_waiters(w, (size_t)t->account);
}

/* ---- the job's fate ---------------------------------------------------------------------- */

static bool has_document(const ct_job_t *job) {
  return job->invoice != NULL && job->invoice->document != NULL;
}

/* What came with an event, for the attempt the history records. */
typedef struct {
  int http_status;
  const char *code;
  const char *message;
  uint32_t latency_ms;
} note_t;

/* Moves the lease's current attempt (an accepted part: any failure ends a lease) to the
 * earlier ones, so the history keeps every request of the lease. */
static void keep_earlier(ct_task_t *t) {
  if (!t->has_attempt || t->n_earlier == CT_TASK_EARLIER)
    return;
  size_t i = t->n_earlier++;
  t->earlier[i].a = t->attempt;
  snprintf(t->earlier[i].provider, sizeof t->earlier[i].provider, "%.79s", t->provider);
  snprintf(t->earlier[i].message, sizeof t->earlier[i].message, "%.31s", t->message);
  t->earlier[i].a.provider = t->earlier[i].provider;
  t->earlier[i].a.message = t->earlier[i].message;
  t->earlier[i].a.error_code = (char *)"";
  t->earlier_ptrs[i] = &t->earlier[i].a;
}

static void record_attempt(ct_task_t *t, const ct_account_t *acc, ct_attempt_kind_t kind,
                           const note_t *n) {
  keep_earlier(t);
  t->has_attempt = true;
  carteiro__v1__attempt__init(&t->attempt);
  snprintf(t->provider, sizeof t->provider, "%s", acc != NULL ? acc->name : "");
  snprintf(t->error_code, sizeof t->error_code, "%s", n->code != NULL ? n->code : "");
  snprintf(t->message, sizeof t->message, "%s", n->message != NULL ? n->message : "");
  t->attempt.at_ms = ct_now_ms();
  t->attempt.channel = (Carteiro__V1__Channel)t->channel;
  t->attempt.provider = t->provider;
  t->attempt.outcome = (Carteiro__V1__Outcome)kind;
  t->attempt.http_status = n->http_status;
  t->attempt.error_code = t->error_code;
  t->attempt.message = t->message;
  t->attempt.latency_ms = n->latency_ms;
}

static void add_count(ct_account_t *acc, ct_counter_t c) {
  switch (c) {
  case CT_COUNT_ACCEPTED:
    atomic_fetch_add(&acc->accepted, 1);
    break;
  case CT_COUNT_PERMANENT:
    atomic_fetch_add(&acc->permanent, 1);
    break;
  case CT_COUNT_THROTTLED:
    atomic_fetch_add(&acc->throttled, 1);
    break;
  case CT_COUNT_TRANSIENT:
    atomic_fetch_add(&acc->transient, 1);
    break;
  case CT_COUNT_REFUSED:
    atomic_fetch_add(&acc->refused, 1);
    break;
  case CT_COUNT_NONE:
    break;
  }
}

/* A fresh input for `event`: the provider asked for nothing. judge() fills in the rest. */
static ct_outcome_in_t event_in(ct_outcome_event_t event) {
  return (ct_outcome_in_t){.event = event, .retry_after_ms = -1};
}

/* xorshift64: the random draw a decision's jitter comes from. */
static uint64_t draw(ct_worker_t *w) {
  uint64_t x = w->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  w->rng = x;
  return x;
}

/* The breaker's say about a failure, as the decision takes it: open means the provider's. */
static void breaker_say(const ct_worker_t *w, int a, const ct_breaker_report_t *r,
                        int64_t now_us, ct_outcome_in_t *in) {
  in->provider_down = r->state != CT_BREAKER_CLOSED;
  if (!in->provider_down)
    return;
  int64_t now_ms = ct_now_ms();
  in->next_probe_ms =
      r->next_probe_us > now_us ? now_ms + (r->next_probe_us - now_us + 999) / 1000 : now_ms;
  in->down_for_ms = (now_us - r->down_since_us) / 1000;
  in->cooldown_ms = w->cfg->providers[a].breaker_cooldown_ms;
}

/* A breaker change, logged once by the call that made it: opening and closing at info, the
 * first probe of an outage at info, the others at debug. */
static void breaker_news(const ct_account_t *acc, const ct_breaker_report_t *r, int64_t now_us,
                         const char *why) {
  switch (r->change) {
  case CT_BREAKER_OPENED:
    ct_log_kv(CT_LOG_INFO, "breaker opened", CT_KV_S("provider", acc->name),
              CT_KV_S("reason", why), CT_KV_I("failures", r->failures),
              CT_KV_I("probe_in_ms", (r->next_probe_us - now_us) / 1000));
    break;
  case CT_BREAKER_PROBING:
    if (r->probes_failed == 0)
      ct_log_kv(CT_LOG_INFO, "breaker half-open", CT_KV_S("provider", acc->name),
                CT_KV_I("down_ms", (now_us - r->down_since_us) / 1000));
    else
      ct_log_kv(CT_LOG_DEBUG, "breaker probing", CT_KV_S("provider", acc->name),
                CT_KV_I("probes_failed", r->probes_failed));
    break;
  case CT_BREAKER_REOPENED:
    ct_log_kv(CT_LOG_DEBUG, "breaker probe failed", CT_KV_S("provider", acc->name),
              CT_KV_S("reason", why), CT_KV_I("probes_failed", r->probes_failed));
    break;
  case CT_BREAKER_RECLOSED:
    ct_log_kv(CT_LOG_INFO, "breaker closed", CT_KV_S("provider", acc->name),
              CT_KV_I("down_ms", (now_us - r->down_since_us) / 1000),
              CT_KV_I("probes_failed", r->probes_failed));
    break;
  case CT_BREAKER_SAME:
    break;
  }
}

/* Tells the account's breaker about an answer, as the event's row says, and takes its say
 * into the decision's input. */
static void vote(ct_worker_t *w, ct_task_t *t, ct_account_t *acc, ct_outcome_in_t *in,
                 const char *why) {
  const ct_outcome_row_t *row = ct_outcome_row(in->event);
  if (row == NULL || row->breaker == CT_VOTE_NONE)
    return;
  int64_t now_us = ct_mono_us();
  ct_breaker_report_t r;
  ct_breaker_record(&acc->breaker, row->breaker == CT_VOTE_SUCCESS, now_us, &r);
  breaker_news(acc, &r, now_us, why);
  if (row->breaker == CT_VOTE_FAILURE)
    breaker_say(w, t->account, &r, now_us, in);
}

/* Credentials refused: the account waits for a reload. A request built from a configuration
 * this worker has since replaced carried the old secret: its refusal says nothing about the
 * new one, so it pauses nothing. */
static void pause_account(ct_worker_t *w, const ct_task_t *t, ct_account_t *acc,
                          const note_t *n) {
  if (t->sent_gen == w->cfg_gen && !atomic_exchange(&acc->paused, true))
    ct_error("provider %s refused our credentials (HTTP %d, code %s): account paused; its "
             "jobs wait. Fix the secret and send SIGHUP.",
             acc->name, n != NULL ? n->http_status : 0, n != NULL ? n->code : "");
}

/* The turn is over: the task goes to the spooler with the decision's outcome. */
static void settle(ct_worker_t *w, ct_task_t *t, const ct_outcome_t *o) {
  release_slot(w, t, CT_AIMD_NEUTRAL);
  warm_done(w, t, false);
  /* The document is needed only while sending; the receipt keeps its hash. A job settled
   * for good needs it no more (a replay of a dead letter prepares it again). */
  ct_bytes_free(&t->doc);
  t->doc_ready = false;
  if ((o->next == CT_NEXT_ACK || o->next == CT_NEXT_DEAD) && has_document(t->lease.job))
    ct_doccache_remove(w->doccache, t->lease.job->id);
  ct_task_settle(t, o, ct_now_ms());
  static const char *const to[] = {[CT_SETTLE_ACK] = "delivered", [CT_SETTLE_RETRY] = "ready",
                                   [CT_SETTLE_DEAD] = "dead", [CT_SETTLE_RELEASE] = "ready"};
  ct_log_kv(CT_LOG_DEBUG, "job settled", CT_KV_S("job", t->lease.job->id),
            CT_KV_S("state", to[t->settle.kind]), CT_KV_S("event", o->row->name),
            CT_KV_S("reason", t->settle.reason),
            CT_KV_S("channel", t->has_attempt ? ct_channel_name(t->channel) : NULL),
            CT_KV_S("provider", t->has_attempt ? t->provider : NULL),
            CT_KV_I("prior_attempts", t->lease.attempts), CT_KV_I("due_ms", t->settle.due_ms));
  ct_task_set_state(t, CT_TASK_SETTLING);
  t->msg.type = CT_MSG_TASK;
  t->msg.from = w->index;
  w->active--;
  ct_spooler_post(w->spooler, &t->msg);
  shutdown_if_idle(w);
}

/* Decides what the event in `in` does to the task's job (dispatch/outcome.h) and applies it.
 * `note` (NULL for the gates) is what the history records when the decision keeps an
 * attempt. */
static void judge(ct_worker_t *w, ct_task_t *t, ct_outcome_in_t *in, const note_t *note) {
  const ct_job_t *job = t->lease.job;
  ct_account_t *acc = t->account >= 0 ? &w->accounts->v[t->account] : NULL;
  in->now_ms = ct_now_ms();
  in->draw = draw(w);
  in->attempts = t->lease.attempts;
  in->not_after_ms = job->not_after_ms;
  in->max_attempts = w->cfg->max_attempts;
  in->backoff_base_ms = w->cfg->backoff_base_ms;
  in->backoff_cap_ms = w->cfg->backoff_cap_ms;
  ct_outcome_t o;
  ct_outcome_decide(in, &o);
  if (acc != NULL)
    add_count(acc, o.counter);
  release_slot(w, t, o.aimd);
  if (o.attempt != CT_ATTEMPT_NONE && note != NULL)
    record_attempt(t, acc, o.attempt, note);
  if (o.pause_account && acc != NULL)
    pause_account(w, t, acc, note);
  if (o.next == CT_NEXT_RETRY && acc != NULL)
    atomic_fetch_add(&acc->retries, 1);
  if (o.next == CT_NEXT_CONTINUE)
    step(w, t);
  else
    settle(w, t, &o);
}

/* A gate's verdict: the event alone. */
static void judge_gate(ct_worker_t *w, ct_task_t *t, ct_outcome_event_t event) {
  ct_outcome_in_t in = event_in(event);
  judge(w, t, &in, NULL);
}

/* The job may not go before `until_ms` (its window, quiet hours, a long recipient gap). */
static void judge_wait(ct_worker_t *w, ct_task_t *t, int64_t until_ms) {
  ct_outcome_in_t in = event_in(CT_OEV_WAIT);
  in.wait_until_ms = until_ms;
  judge(w, t, &in, NULL);
}

/* The account's breaker holds the job back (`r` from ct_breaker_allow or _refuses). */
static void judge_provider_down(ct_worker_t *w, ct_task_t *t, const ct_breaker_report_t *r,
                                int64_t now_us) {
  ct_outcome_in_t in = event_in(CT_OEV_PROVIDER_DOWN);
  breaker_say(w, t->account, r, now_us, &in);
  judge(w, t, &in, NULL);
}

/* ---- what is left to send ---------------------------------------------------------------- */

typedef enum { NEXT_SEND, NEXT_DONE, NEXT_EXHAUSTED } next_t;

/* Finds the next part to send: the first delivery not yet complete that still has a channel
 * not failed for good, that channel, and its first part not yet accepted. A delivery with no
 * channel left does not stop the others (the bank case's SMS goes out even when its e-mail
 * bounced); only when nothing is left to send anywhere does the job end, DONE if every
 * delivery completed, EXHAUSTED if some could not. */
static next_t next_part(const ct_task_t *t, ct_channel_t *channel, unsigned *part) {
  const ct_job_t *job = t->lease.job;
  bool exhausted = false;
  for (size_t d = 0; d < job->n_deliveries; d++) {
    const ct_delivery_t *dl = job->deliveries[d];
    if (ct_progress_delivery_done(job, t->progress, d))
      continue;
    for (size_t c = 0; c < dl->n_channels; c++) {
      ct_channel_t ch = (ct_channel_t)dl->channels[c];
      const ct_provider_t *p = ct_provider_for(ch);
      if (p == NULL || ct_progress_failed(t->progress, ch))
        continue;
      unsigned parts = p->parts(job), k = 0;
      while (k < parts && ct_progress_has_part(t->progress, ch, k))
        k++;
      *channel = ch;
      *part = k;
      return NEXT_SEND;
    }
    exhausted = true;
  }
  return exhausted ? NEXT_EXHAUSTED : NEXT_DONE;
}

/* Whether a part not yet accepted, on a channel the job may still use (its fallbacks
 * included), carries the document. When none does, the cached copy can go at once: a
 * WhatsApp-only invoice needs its PDF for the upload and never after. */
static bool document_still_needed(const ct_task_t *t) {
  const ct_job_t *job = t->lease.job;
  for (size_t d = 0; d < job->n_deliveries; d++) {
    const ct_delivery_t *dl = job->deliveries[d];
    if (ct_progress_delivery_done(job, t->progress, d))
      continue;
    for (size_t c = 0; c < dl->n_channels; c++) {
      ct_channel_t ch = (ct_channel_t)dl->channels[c];
      const ct_provider_t *p = ct_provider_for(ch);
      if (p == NULL || ct_progress_failed(t->progress, ch))
        continue;
      unsigned parts = p->parts(job);
      for (unsigned k = 0; k < parts; k++)
        if (!ct_progress_has_part(t->progress, ch, k) && p->needs_document(job, k))
          return true;
    }
  }
  return false;
}

/* The channel can never work for this job: remembers that in its progress, and says in `in`
 * whether the job has another channel to try. Out of memory turns the event into a local
 * error (the job comes back later and meets the same answer). */
static void mark_failed(ct_task_t *t, ct_outcome_in_t *in, note_t *note) {
  if (ct_progress_add_failed(&t->progress, t->lease.job->id, t->channel) != 0) {
    in->event = CT_OEV_LOCAL_ERROR;
    note->code = "nomem";
    note->message = "out of memory recording the failed channel";
    return;
  }
  ct_channel_t ch;
  unsigned part;
  in->channel_left = next_part(t, &ch, &part) == NEXT_SEND;
}

/* ---- gates --------------------------------------------------------------------------------*/

static const char *recipient_key(const ct_job_t *job, ct_channel_t ch) {
  const ct_recipient_t *r = job->recipient;
  if (r == NULL)
    return job->id;
  return ch == CT_CHANNEL_EMAIL ? r->email : r->phone;
}

static void on_response(void *arg, const ct_http_response_t *resp);

/* When the tenant's quiet hours, in the recipient's time zone (else the tenant's, else Sao
 * Paulo's), cover `now_ms`: the time they end. 0 when sending is allowed now. */
static int64_t quiet_hours_end(ct_worker_t *w, const ct_job_t *job, int64_t now_ms) {
  const ct_tenant_conf_t *tc = ct_config_tenant(w->cfg, job->tenant);
  if (tc == NULL || tc->quiet_start_min < 0)
    return 0;
  const char *zones[3] = {job->recipient != NULL ? job->recipient->time_zone : NULL,
                          tc->time_zone, "America/Sao_Paulo"};
  for (size_t i = 0; i < 3; i++) {
    if (zones[i] == NULL || zones[i][0] == '\0')
      continue;
    int err = 0;
    int64_t until = ct_tz_quiet_until(zones[i], tc->quiet_start_min, tc->quiet_end_min,
                                      now_ms, &err);
    if (err == 0)
      return until;
    /* An unknown zone in a job falls back to the tenant's; say so once per worker. */
    if (!w->warned_zone) {
      w->warned_zone = true;
      ct_warn("worker %d: time zone '%s' of tenant %s: %s; using the next default",
              w->index, zones[i], job->tenant, ct_strerror(err));
    }
  }
  return 0;
}

static void send_part(ct_worker_t *w, ct_task_t *t) {
  ct_account_t *acc = &w->accounts->v[t->account];
  const ct_provider_conf_t *conf = &w->cfg->providers[t->account];
  const ct_job_t *job = t->lease.job;
  const ct_templates_t *tm =
      ct_config_templates(w->cfg, job->recipient != NULL ? job->recipient->locale : "pt-BR");
  ct_http_request_t req = {0};
  char err[160] = "";
  t->has_token = false;
  ct_build_ctx_t ctx = {0};
  if (acc->provider->needs_document(job, t->part)) {
    ctx.document = t->doc.data;
    ctx.document_len = t->doc.len;
  }
  /* A WhatsApp invoice refers to its uploaded PDF (part 0) by the media id it got. */
  if (t->channel == CT_CHANNEL_WHATSAPP && t->part > 0)
    ctx.media_id = ct_progress_part_id(t->progress, t->channel, 0);
  int rc = acc->provider->build(conf, tm, job, t->part, &ctx, &req, err, sizeof err);
  if (rc != 0) {
    ct_http_request_free(&req);
    ct_outcome_in_t in = event_in(rc == CT_EINVAL ? CT_OEV_UNSENDABLE : CT_OEV_LOCAL_ERROR);
    note_t note = {.code = rc == CT_EINVAL ? "unsendable" : "nomem",
                   .message = rc == CT_EINVAL ? err : ct_strerror(rc)};
    if (in.event == CT_OEV_UNSENDABLE)
      mark_failed(t, &in, &note);
    judge(w, t, &in, &note);
    return;
  }
  /* The request holds its own copy of the document (a multipart upload, base64 in an e-mail):
   * this lease's goes now. A later part that carries it too (the e-mail after a WhatsApp
   * upload) takes it from the document cache again, a copy of tens of kB. Kept until the
   * lease ended, every job between its upload and its e-mail held a PDF besides the cache's
   * (measured: about 40 KiB of RSS per job in flight in the bank month). */
  if (ctx.document != NULL) {
    ct_bytes_free(&t->doc);
    t->doc_ready = false;
  }
  t->sent_us = ct_mono_us();
  t->sent_gen = w->cfg_gen;
  t->end_channel = t->channel;
  atomic_fetch_add(&acc->requests, 1);
  rc = ct_transport_send(w->transport, &req, on_response, t);
  if (rc != 0) {
    ct_http_request_free(&req);
    ct_outcome_in_t in = event_in(CT_OEV_LOCAL_ERROR);
    note_t note = {.code = "transport", .message = ct_strerror(rc)};
    judge(w, t, &in, &note);
    return;
  }
  ct_task_set_state(t, CT_TASK_INFLIGHT);
}

static void step(ct_worker_t *w, ct_task_t *t) {
  const ct_job_t *job = t->lease.job;
  int64_t now_ms = ct_now_ms(), now_us = ct_mono_us();
  /* What is left to send comes first, stopping or not: a job whose last part was accepted
   * is delivered, even when that answer came after the stop or past the deadline. */
  ct_channel_t ch;
  unsigned part;
  next_t nx = next_part(t, &ch, &part);
  if (nx == NEXT_DONE) {
    /* The history keeps the request that completed the job (has_attempt is set only when
     * this lease's last request was accepted: any failure ends a lease). */
    judge_gate(w, t, CT_OEV_DONE);
    return;
  }
  if (nx == NEXT_EXHAUSTED) {
    judge_gate(w, t, CT_OEV_EXHAUSTED);
    return;
  }
  if (w->stopping) {
    judge_gate(w, t, CT_OEV_STOPPING);
    return;
  }
  if (job->not_after_ms != 0 && now_ms > job->not_after_ms) {
    judge_gate(w, t, CT_OEV_EXPIRED);
    return;
  }
  if (job->not_before_ms > now_ms) { /* replayed early: wait for the window */
    judge_wait(w, t, job->not_before_ms);
    return;
  }
  int64_t quiet_until = quiet_hours_end(w, job, now_ms);
  if (quiet_until > 0) {
    judge_wait(w, t, quiet_until); /* dead when they end past the deadline */
    return;
  }
  if (ch != t->channel || part != t->part) {
    t->has_token = false; /* a token is for one send of one account */
  }
  t->channel = ch;
  t->part = part;
  int a = ct_accounts_route(w->accounts, w->cfg, job->tenant, ch, recipient_key(job, ch));
  if (t->account >= 0 && a != t->account) {
    /* A reload moved the job to another account (or to none): what it held on the old one
     * goes back first. */
    release_slot(w, t, CT_AIMD_NEUTRAL);
    warm_done(w, t, false);
    t->has_token = false;
  }
  if (a < 0) {
    t->account = -1;
    ct_outcome_in_t in = event_in(CT_OEV_UNSENDABLE);
    note_t note = {.code = "no_account",
                   .message = "no provider account serves this tenant on this channel"};
    mark_failed(t, &in, &note);
    judge(w, t, &in, &note);
    return;
  }
  t->account = a;
  ct_account_t *acc = &w->accounts->v[a];

  if (atomic_load(&acc->paused)) {
    judge_gate(w, t, CT_OEV_PAUSED);
    return;
  }
  /* An open breaker is looked at before the document is prepared: during an outage the
   * jobs that come up go back at once, without reading, checking and locking their PDFs. */
  ct_breaker_report_t br;
  if (!t->holds_slot && ct_breaker_refuses(&acc->breaker, now_us, &br)) {
    judge_provider_down(w, t, &br, now_us);
    return;
  }
  /* The PDF is read, checked and locked off the loop before the first part that carries it,
   * unless an earlier lease of this job did that already (doccache.h); on_document comes
   * back here. */
  if (!t->doc_ready && acc->provider->needs_document(job, part)) {
    if (!ct_doccache_get(w->doccache, job->id, ct_mono_ms(), &t->doc, t->doc_sha256)) {
      ct_task_set_state(t, CT_TASK_DOC);
      ct_docprep_start(&w->docprep, t);
      return;
    }
    t->doc_ready = true;
  }
  if (part > 0) {
    int64_t prev = ct_progress_part_time(t->progress, ch, part - 1);
    int64_t gap_end = prev + w->cfg->providers[a].recipient_gap_ms;
    if (prev > 1 && gap_end > now_ms) {
      int64_t wait_us = (gap_end - now_ms) * 1000;
      if (wait_us > PARK_GAP_MAX_US) {
        judge_wait(w, t, gap_end);
        return;
      }
      if (gap_wait(w, t, now_us + wait_us))
        return;
      if (t->doc_ready && wait_us > PARK_MAX_US) {
        ct_bytes_free(&t->doc);
        t->doc_ready = false;
      }
      park(w, t, now_us + wait_us);
      return;
    }
  }
  /* Until this worker has a connection to the account's host, one request goes first. The
   * others would otherwise take their rate tokens during the TLS handshake and all leave
   * together when it completes: over the configured rate, as the provider counts it. */
  if (w->warm[a] != WARM && !t->warm_probe && !t->holds_slot) {
    if (w->warm[a] == PROBING && now_us - w->warm_since[a] < WARM_WAIT_US) {
      wait_on(w, t, &w->warm_waiters[a], CT_TASK_WARM_WAIT);
      return;
    }
    if (w->warm[a] == PROBING) {
      /* The probe is slow to answer, not the connection to open: stop holding back. */
      w->warm[a] = WARM;
      resume_warm_waiters(w, (size_t)a);
    }
  }
  if (w->warm[a] == COLD) {
    w->warm[a] = PROBING;
    w->warm_since[a] = now_us;
    t->warm_probe = true;
  }
  if (!t->holds_slot) {
    if (!ct_breaker_allow(&acc->breaker, now_us, &br)) {
      judge_provider_down(w, t, &br, now_us);
      return;
    }
    breaker_news(acc, &br, now_us, NULL);
    if (!ct_aimd_acquire(&acc->aimd)) {
      /* The breaker let us through; if this was the half-open probe it goes when a slot
       * frees, which is soon: every slot is held by a request in flight. */
      wait_on(w, t, &w->waiters[a], CT_TASK_SLOT_WAIT);
      w->n_waiting++;
      return;
    }
    t->holds_slot = true;
  }
  /* A token reserved ahead at a rate since changed (a reload, this node's share of a
   * cluster's rate) is void: the slot is taken again at the rate now in force. So is one
   * used too late after its time: a worker that could not run for a while would otherwise
   * send every slot it slept through at once. Late is measured from when the loop woke the
   * batch of due tasks: counted from when step() ran, the time spent sending the batch
   * itself made tokens late, and on a loaded loop nearly every one was dropped and its task
   * sent to the back of the schedule again. The limit stays TOKEN_LATE_US rather than the
   * bucket's tolerance: late sends add up to the limit's worth of slots to a second at the
   * provider, which the 2 % headroom (dispatch/accounts.c) covers for 20 ms or so; with
   * the tolerance (a tenth of a second there) cluster_rate's busiest second went over R + B
   * (332 for 330). Drops are counted. */
  if (t->has_token) {
    int64_t woke_us = w->batch_us != 0 ? w->batch_us : now_us;
    if (!ct_bucket_valid(&acc->bucket, t->token)) {
      t->has_token = false;
    } else if (woke_us - t->wake_us > TOKEN_LATE_US) {
      t->has_token = false;
      atomic_fetch_add(&acc->tokens_dropped, 1);
    }
  }
  if (!t->has_token) {
    int64_t at = ct_bucket_reserve(&acc->bucket, now_us, &t->token);
    t->has_token = true;
    if (at > now_us) {
      park(w, t, at);
      return;
    }
    /* "Now" under a word the cluster thread closed or changed while we reserved: the slot
     * is void (throttle.h), ask again shortly. */
    if (!ct_bucket_valid(&acc->bucket, t->token)) {
      t->has_token = false;
      park(w, t, now_us + CT_BUCKET_CLOSED_RETRY_US);
      return;
    }
  }
  send_part(w, t);
}

/* ---- answers ----------------------------------------------------------------------------- */

/* The failures after which the provider may hold the request all the same; -1 for the others
 * (an answer, or a request that never left: no connection, TLS refused). */
static int unanswered_kind(ct_http_failure_t f) {
  switch (f) {
  case CT_HTTP_TIMEOUT:
    return CT_UNANSWERED_TIMEOUT;
  case CT_HTTP_RESET:
    return CT_UNANSWERED_CONNECTION;
  case CT_HTTP_STREAM_ERROR:
    return CT_UNANSWERED_STREAM;
  case CT_HTTP_OTHER:
    return CT_UNANSWERED_ABORTED;
  case CT_HTTP_OK:
  case CT_HTTP_CONNECT:
  case CT_HTTP_TLS:
    break;
  }
  return -1;
}

/* The event a provider's verdict is. A transient failure of a request that never reached the
 * provider (no connection, TLS refused) is `unreachable`: never the job's fault. */
static ct_outcome_event_t event_of(ct_verdict_kind_t kind, ct_http_failure_t failure) {
  switch (kind) {
  case CT_VERDICT_ACCEPTED:
    return CT_OEV_ACCEPTED;
  case CT_VERDICT_PERMANENT:
    return CT_OEV_PERMANENT;
  case CT_VERDICT_THROTTLED:
    return CT_OEV_THROTTLED;
  case CT_VERDICT_RECIPIENT_BUSY:
    return CT_OEV_RECIPIENT_BUSY;
  case CT_VERDICT_AUTH:
    return CT_OEV_AUTH;
  case CT_VERDICT_TRANSIENT:
    break;
  }
  return failure == CT_HTTP_CONNECT || failure == CT_HTTP_TLS ? CT_OEV_UNREACHABLE
                                                              : CT_OEV_FAILED;
}

static void on_response(void *arg, const ct_http_response_t *resp) {
  ct_task_t *t = arg;
  ct_worker_t *w = t->owner;
  ct_task_set_state(t, CT_TASK_READY);
  ct_account_t *acc = &w->accounts->v[t->account];
  warm_done(w, t, resp->failure == CT_HTTP_OK);
  int unanswered = unanswered_kind(resp->failure);
  if (unanswered >= 0)
    atomic_fetch_add(&acc->unanswered[unanswered], 1);
  ct_verdict_t v;
  acc->provider->classify(resp, &v);
  ct_account_observe_latency(acc, resp->latency_ms);
  note_t note = {.http_status = resp->status,
                 .code = v.error_code,
                 .message = v.message,
                 .latency_ms = resp->latency_ms};

  if (resp->failure != CT_HTTP_OK && w->closing) {
    /* Cut by the shutdown: the provider may or may not have it; the job comes back. */
    judge_gate(w, t, CT_OEV_ABORTED);
    return;
  }
  if (resp->failure == CT_HTTP_OK)
    atomic_store(&acc->unreachable, 0u);
  ct_outcome_in_t in = event_in(event_of(v.kind, resp->failure));
  in.retry_after_ms = v.retry_after_ms;
  switch (in.event) {
  case CT_OEV_ACCEPTED: {
    const char *sha = acc->provider->needs_document(t->lease.job, t->part) ? t->doc_sha256 : NULL;
    if (ct_progress_add_part(&t->progress, t->lease.job->id, t->channel, t->part, acc->name,
                             v.message_id, sha, ct_now_ms()) != 0) {
      in.event = CT_OEV_LOCAL_ERROR;
      note.code = "nomem";
      note.message = "out of memory recording the receipt";
      break;
    }
    if (sha != NULL && !document_still_needed(t))
      ct_doccache_remove(w->doccache, t->lease.job->id);
    note.code = "";
    note.message = "accepted";
    break;
  }
  case CT_OEV_PERMANENT:
    mark_failed(t, &in, &note);
    break;
  case CT_OEV_RECIPIENT_BUSY:
    in.floor_ms = w->cfg->providers[t->account].recipient_gap_ms;
    break;
  case CT_OEV_AUTH:
    note.message = "credentials refused; account paused";
    break;
  case CT_OEV_UNREACHABLE: {
    /* Each way once: a provider that crashes resets a handshake or two before its port
     * refuses connections, and the refusals are the news an operator looks for. */
    unsigned kind = resp->failure == CT_HTTP_TLS ? 2u : 1u;
    if ((atomic_fetch_or(&acc->unreachable, kind) & kind) == 0)
      ct_log_kv(CT_LOG_INFO, kind == 2u ? "TLS handshakes failing" : "connections refused",
                CT_KV_S("provider", acc->name), CT_KV_S("reason", v.message));
    break;
  }
  default:
    break;
  }
  vote(w, t, acc, &in, v.message);
  judge(w, t, &in, &note);
}

/* A document preparation ended. A document that cannot be had or locked ends the job: an
 * invoice is never sent without its document, and never unprotected when its policy asks
 * for a password (reason document_protection_failed). What may pass (a fetch that timed out)
 * is retried later. */
static void on_document(void *arg, ct_task_t *t) {
  ct_worker_t *w = arg;
  ct_task_set_state(t, CT_TASK_READY);
  if (t->doc_ready) {
    /* Kept for this job's later parts and leases, here or on another worker. */
    ct_doccache_put(w->doccache, t->lease.job->id, t->doc.data, t->doc.len, t->doc_sha256,
                    ct_mono_ms());
    step(w, t);
    return;
  }
  const ct_doc_error_t *e = &t->doc_error;
  ct_outcome_in_t in = event_in(e->transient ? CT_OEV_DOC_TRANSIENT : CT_OEV_DOC_PERMANENT);
  in.reason = e->reason;
  note_t note = {.code = e->reason, .message = e->detail};
  judge(w, t, &in, &note);
}

/* Slots freed by other workers do not wake our waiters; this poll does, while any wait. */
static void on_slot_poll(uv_timer_t *timer) {
  ct_worker_t *w = timer->data;
  int64_t now_us = ct_mono_us();
  for (size_t a = 0; a < w->accounts->n; a++) {
    if (w->warm[a] == PROBING && !ct_list_empty(&w->warm_waiters[a]) &&
        now_us - w->warm_since[a] >= WARM_WAIT_US) {
      w->warm[a] = WARM;
      resume_warm_waiters(w, a);
    }
  }
  ct_list_t now;
  ct_list_init(&now);
  ct_list_splice_tail(&now, &w->resume);
  while (!ct_list_empty(&now))
    step(w, take_first(&now));
  for (size_t a = 0; a < w->accounts->n && w->n_waiting > 0; a++) {
    ct_list_t *q = &w->waiters[a];
    /* The breaker opened while they waited (the slots were held by requests now failing):
     * they go back without sending, as step() finds. */
    while (!ct_list_empty(q) && ct_breaker_refuses(&w->accounts->v[a].breaker, now_us, NULL)) {
      w->n_waiting--;
      step(w, take_first(q));
    }
    while (!ct_list_empty(q) && ct_aimd_acquire(&w->accounts->v[a].aimd)) {
      ct_task_t *t = take_first(q);
      w->n_waiting--;
      t->holds_slot = true;
      step(w, t);
    }
  }
  bool warm_waiting = false;
  for (size_t a = 0; a < w->accounts->n; a++)
    warm_waiting = warm_waiting || !ct_list_empty(&w->warm_waiters[a]);
  if (w->n_waiting == 0 && ct_list_empty(&w->resume) && !warm_waiting)
    uv_timer_stop(&w->slot_poll);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

/* Stopping: every task not waiting on the network is judged now (stopping: back to the
 * spool, due now; done: delivered). */
static void judge_waiting(ct_worker_t *w) {
  while (w->heap_n > 0)
    step(w, heap_pop(w));
  uv_timer_stop(&w->timer);
  for (size_t a = 0; a < w->accounts->n; a++) {
    while (!ct_list_empty(&w->waiters[a])) {
      w->n_waiting--;
      step(w, take_first(&w->waiters[a]));
    }
    while (!ct_list_empty(&w->warm_waiters[a]))
      step(w, take_first(&w->warm_waiters[a]));
  }
  while (!ct_list_empty(&w->resume))
    step(w, take_first(&w->resume));
  ct_list_t queued;
  ct_list_init(&queued);
  ct_docprep_drain(&w->docprep, &queued);
  while (!ct_list_empty(&queued))
    step(w, take_first(&queued));
  uv_timer_stop(&w->slot_poll);
}

/* The loop ends once the transport is closed and no task is left: a task may still be in
 * document preparation on the thread pool after an abort, and its callback must run. */
static void stop_if_done(ct_worker_t *w) {
  if (w->closing && w->transport == NULL && w->active == 0)
    uv_stop(&w->loop);
}

static void on_transport_closed(void *arg) {
  ct_worker_t *w = arg;
  w->transport = NULL;
  uv_close((uv_handle_t *)&w->timer, NULL);
  uv_close((uv_handle_t *)&w->slot_poll, NULL);
  ct_docprep_close(&w->docprep);
  /* The inbox stays open until ct_worker_join, so the control loop may still post to it. */
  stop_if_done(w);
}

static void shutdown_if_idle(ct_worker_t *w) {
  if (w->closing) {
    stop_if_done(w);
    return;
  }
  if (!w->stopping || w->active > 0)
    return;
  w->closing = true;
  ct_transport_close(w->transport, on_transport_closed, w);
}

static void on_inbox(ct_mailbox_t *mb, ct_list_t *batch) {
  ct_worker_t *w = mb->data;
  while (!ct_list_empty(batch)) {
    ct_list_t *p = ct_list_first(batch);
    ct_list_remove(p);
    ct_msg_t *m = ct_container_of(p, ct_msg_t, node);
    switch (m->type) {
    case CT_MSG_TASK: {
      ct_task_t *t = ct_container_of(m, ct_task_t, msg);
      ct_task_set_state(t, CT_TASK_READY);
      t->owner = w;
      t->account = -1;
      t->channel = CT_CHANNEL_NONE;
      t->part = 0;
      t->holds_slot = t->has_token = t->has_attempt = t->warm_probe = false;
      t->n_earlier = 0;
      t->doc = (ct_bytes_t){0};
      t->doc_ready = false;
      t->doc_error = (ct_doc_error_t){0};
      t->docprep = NULL;
      ct_list_init(&t->wait);
      w->active++;
      step(w, t);
      break;
    }
    case CT_MSG_STOP:
      w->stopping = true;
      judge_waiting(w);
      shutdown_if_idle(w);
      break;
    case CT_MSG_ABORT:
      /* The grace period is over: cancel what is still in flight. Each cancelled request's
       * callback puts its job back; the last one lets the worker close. */
      w->stopping = true;
      if (!w->closing && w->transport != NULL) {
        w->closing = true;
        ct_transport_close(w->transport, on_transport_closed, w);
      }
      break;
    case CT_MSG_RELOAD:
      w->cfg = m->ptr;
      w->cfg_gen++;
      w->reloaded.type = CT_MSG_RELOADED;
      w->reloaded.from = w->index;
      ct_mailbox_post(w->control, &w->reloaded.node);
      break;
    default:
      ct_warn("worker %d: unexpected message %d", w->index, (int)m->type);
      break;
    }
  }
}

static void *run(void *arg) {
  ct_worker_t *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  w->exited.type = CT_MSG_EXITED;
  w->exited.from = w->index;
  ct_mailbox_post(w->control, &w->exited.node);
  return NULL;
}

int ct_worker_start(ct_worker_t **out, const ct_worker_options_t *opts) {
  ct_worker_t *w = calloc(1, sizeof *w);
  if (w == NULL)
    return CT_ENOMEM;
  int rc = CT_ENOMEM;
  w->index = opts->index;
  w->cfg = opts->cfg;
  w->accounts = opts->accounts;
  w->spooler = opts->spooler;
  w->control = opts->control;
  w->doccache = opts->doccache;
  w->gap_waiting = opts->gap_wait_max > 0 ? opts->gap_waiting : NULL;
  w->gap_wait_max = opts->gap_wait_max;
  atomic_init(&w->slots_posted, false);
  w->slots.type = CT_MSG_SLOTS;
  w->slots.from = opts->index;
  w->slots.ptr = &w->slots_posted;
  w->rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)ct_mono_us() << 8) ^ (uint64_t)opts->index;
  w->heap_cap = opts->capacity;
  w->heap = calloc(w->heap_cap ? w->heap_cap : 1, sizeof *w->heap);
  w->waiters = calloc(w->accounts->n ? w->accounts->n : 1, sizeof *w->waiters);
  w->warm_waiters = calloc(w->accounts->n ? w->accounts->n : 1, sizeof *w->warm_waiters);
  w->warm = calloc(w->accounts->n ? w->accounts->n : 1, sizeof *w->warm);
  w->warm_since = calloc(w->accounts->n ? w->accounts->n : 1, sizeof *w->warm_since);
  if (w->heap == NULL || w->waiters == NULL || w->warm_waiters == NULL || w->warm == NULL ||
      w->warm_since == NULL)
    goto fail_alloc;
  for (size_t a = 0; a < w->accounts->n; a++) {
    ct_list_init(&w->waiters[a]);
    ct_list_init(&w->warm_waiters[a]);
  }
  ct_list_init(&w->resume);
  rc = CT_EIO;
  if (uv_loop_init(&w->loop) != 0)
    goto fail_alloc;
  ct_transport_options_t topts = {
      .ca_file = opts->cfg->ca_file[0] ? opts->cfg->ca_file : NULL,
      .connect_timeout_ms = opts->cfg->connect_timeout_ms,
      .request_timeout_ms = opts->cfg->request_timeout_ms,
      .max_host_connections = 1,
      .max_streams = 1,
      .max_total_connections = 0,
      .kind = strcmp(opts->cfg->transport, "curl") == 0 ? CT_TRANSPORT_CURL : CT_TRANSPORT_AUTO,
      .max_origin_connections = opts->cfg->h2_max_connections,
  };
  for (size_t i = 0; i < opts->cfg->n_providers; i++) {
    const ct_provider_conf_t *p = &opts->cfg->providers[i];
    if (p->max_connections > topts.max_host_connections)
      topts.max_host_connections = p->max_connections;
    if (p->max_streams > topts.max_streams)
      topts.max_streams = p->max_streams;
  }
  rc = ct_transport_new(&w->loop, &topts, &w->transport);
  if (rc != 0)
    goto fail_loop;
  rc = ct_docprep_init(&w->docprep, &w->loop, opts->cfg, opts->docbudget, opts->keycache);
  if (rc != 0)
    goto fail_transport;
  w->docprep.done = on_document;
  w->docprep.arg = w;
  rc = CT_EIO;
  if (ct_mailbox_init(&w->loop, &w->inbox, on_inbox, w) != 0)
    goto fail_docprep;
  uv_timer_init(&w->loop, &w->timer);
  uv_timer_init(&w->loop, &w->slot_poll);
  w->timer.data = w;
  w->slot_poll.data = w;
  if (pthread_create(&w->thread, NULL, run, w) != 0)
    goto fail_handles;
  *out = w;
  return 0;

fail_handles:
  /* Nothing ran yet: close the handles and let the loop finish them here. */
  uv_close((uv_handle_t *)&w->timer, NULL);
  uv_close((uv_handle_t *)&w->slot_poll, NULL);
  ct_mailbox_close(&w->inbox, NULL);
fail_docprep:
  ct_docprep_close(&w->docprep);
fail_transport:
  ct_transport_close(w->transport, NULL, NULL);
  uv_run(&w->loop, UV_RUN_DEFAULT);
fail_loop:
  uv_loop_close(&w->loop);
fail_alloc:
  free(w->heap);
  free(w->waiters);
  free(w->warm_waiters);
  free(w->warm);
  free(w->warm_since);
  free(w);
  return rc;
}

void ct_worker_post(ct_worker_t *w, ct_msg_t *msg) { ct_mailbox_post(&w->inbox, &msg->node); }

void ct_worker_join(ct_worker_t *w) {
  pthread_join(w->thread, NULL);
  ct_mailbox_close(&w->inbox, NULL);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  ct_mailbox_dispose(&w->inbox);
  if (uv_loop_close(&w->loop) != 0)
    ct_warn("worker %d: loop closed with handles still open", w->index);
  free(w->heap);
  free(w->waiters);
  free(w->warm_waiters);
  free(w->warm);
  free(w->warm_since);
  free(w);
}
