#include "worker/spooler.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Receipts past their retention are deleted this often. */
#define EXPIRE_EVERY_MS (60 * 1000)
/* After a failed commit, wait this long before trying again. */
#define RETRY_COMMIT_MS 1000
/* The statistics the control loop shows (metrics, readiness) are refreshed this often. */
#define STATS_EVERY_MS 2000
/* Leases are kept alive this often (ct_spool_keepalive; JetStream's ack wait is >= 1 s). */
#define KEEPALIVE_EVERY_MS 500
/* Once the engine stops, outcomes that still cannot be recorded this long after the shutdown
 * grace are given up, so that the stop ends whatever the disk does. The grace lets requests
 * finish; this margin lets the outcomes of the ones cut off at its end be tried at least
 * once. */
#define GIVE_UP_AFTER_GRACE_MS 2000

struct ct_spooler {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  ct_list_t queue;
  ct_spool_t *spool;
  ct_mailbox_t *control;
  ct_msg_t exited;

  /* Thread-side state. */
  ct_list_t pending;     /* finished tasks whose outcomes are not yet durable */
  ct_settle_t *ops;
  size_t ops_cap;
  ct_lease_t *leases;
  size_t leases_cap;
  bool stopping;
  int64_t next_expire_ms;
  int64_t next_stats_ms;
  int64_t next_keepalive_ms;
  pthread_mutex_t stats_mu;
  ct_spool_stats_t stats;   /* the last snapshot, under stats_mu */
  bool have_stats;
  ct_event_stats_t event_stats; /* webhook events, under stats_mu */
  bool have_event_stats;
  _Atomic bool want_stats;  /* snapshots are taken only when someone reads them */
  ct_spool_health_t health; /* as of the last spool call, under stats_mu */
  _Atomic int64_t give_up_ms; /* monotonic; 0 until the engine stops */
};

void ct_spooler_want_stats(ct_spooler_t *s) { atomic_store(&s->want_stats, true); }

bool ct_spooler_stats(ct_spooler_t *s, ct_spool_stats_t *out) {
  pthread_mutex_lock(&s->stats_mu);
  bool have = s->have_stats;
  if (have)
    *out = s->stats;
  pthread_mutex_unlock(&s->stats_mu);
  return have;
}

void ct_spooler_health(ct_spooler_t *s, ct_spool_health_t *out) {
  pthread_mutex_lock(&s->stats_mu);
  *out = s->health;
  pthread_mutex_unlock(&s->stats_mu);
}

void ct_spooler_stopping(ct_spooler_t *s, int64_t grace_ms) {
  atomic_store(&s->give_up_ms, ct_mono_ms() + grace_ms + GIVE_UP_AFTER_GRACE_MS);
  pthread_mutex_lock(&s->mu);
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->mu);
}

/* Publishes the spool's health for readiness and metrics, and says when it changes. */
static void note_health(ct_spooler_t *s) {
  ct_spool_health_t h;
  if (ct_spool_health(s->spool, &h) != 0)
    return;
  pthread_mutex_lock(&s->stats_mu);
  bool was = s->health.failing;
  s->health = h;
  pthread_mutex_unlock(&s->stats_mu);
  if (h.failing && !was)
    ct_error("spool: outcomes cannot be committed (disk full or failing); no new jobs are "
             "taken and /readyz answers 503 until they can (outcome journal: %llu outcomes, "
             "%llu of %llu bytes)", (unsigned long long)h.journaled,
             (unsigned long long)h.journal_used_bytes,
             (unsigned long long)h.journal_capacity_bytes);
  else if (!h.failing && was)
    ct_info("spool: outcomes are committed again; taking new jobs");
}

bool ct_spooler_event_stats(ct_spooler_t *s, ct_event_stats_t *out) {
  pthread_mutex_lock(&s->stats_mu);
  bool have = s->have_event_stats;
  if (have)
    *out = s->event_stats;
  pthread_mutex_unlock(&s->stats_mu);
  return have;
}

static void refresh_stats(ct_spooler_t *s) {
  int64_t now = ct_now_ms();
  if (!atomic_load(&s->want_stats) || now < s->next_stats_ms)
    return;
  s->next_stats_ms = now + STATS_EVERY_MS;
  ct_event_stats_t es;
  if (ct_spool_events_stats(s->spool, &es) == 0) {
    pthread_mutex_lock(&s->stats_mu);
    s->event_stats = es;
    s->have_event_stats = true;
    pthread_mutex_unlock(&s->stats_mu);
  }
  ct_spool_stats_t st;
  if (ct_spool_stats(s->spool, now, &st) != 0)
    return;
  pthread_mutex_lock(&s->stats_mu);
  s->stats = st;
  s->have_stats = true;
  pthread_mutex_unlock(&s->stats_mu);
}

/* Stores an ingest batch in its own transaction and answers the control loop. */
static void answer_enqueue(ct_spooler_t *s, ct_enqueue_req_t *req) {
  req->rc = s->stopping ? CT_ESTATE
                        : ct_spool_enqueue(s->spool, req->jobs, req->n, ct_now_ms(), req->results);
  req->msg.type = CT_MSG_ENQUEUED;
  ct_mailbox_post(s->control, &req->msg.node);
}

/* Stores every webhook event batch queued this turn in one transaction (group commit: one
 * fsync for all the requests that came in meanwhile) and answers each. */
static void answer_events(ct_spooler_t *s, ct_list_t *reqs) {
  size_t total = 0;
  for (ct_list_t *p = reqs->next; p != reqs; p = p->next)
    total += ct_container_of(p, ct_events_req_t, msg.node)->events.n;
  const ct_event_t **all = total > 0 ? malloc(total * sizeof *all) : NULL;
  int *results = total > 0 ? malloc(total * sizeof *results) : NULL;
  int rc = s->stopping ? CT_ESTATE : 0;
  if (rc == 0 && total > 0 && (all == NULL || results == NULL))
    rc = CT_ENOMEM;
  if (rc == 0 && total > 0) {
    size_t k = 0;
    for (ct_list_t *p = reqs->next; p != reqs; p = p->next) {
      ct_events_req_t *r = ct_container_of(p, ct_events_req_t, msg.node);
      for (size_t i = 0; i < r->events.n; i++)
        all[k++] = &r->events.v[i];
    }
    rc = ct_spool_events_put(s->spool, all, total, ct_now_ms(), results);
    if (rc != 0)
      ct_warn("spool: storing %zu webhook events failed: %s", total, ct_strerror(rc));
  }
  size_t k = 0;
  while (!ct_list_empty(reqs)) {
    ct_list_t *p = ct_list_first(reqs);
    ct_list_remove(p);
    ct_events_req_t *r = ct_container_of(p, ct_events_req_t, msg.node);
    r->rc = rc;
    for (size_t i = 0; rc == 0 && i < r->events.n; i++)
      r->results[i] = results[k++];
    r->msg.type = CT_MSG_EVENTS_STORED;
    ct_mailbox_post(s->control, &r->msg.node);
  }
  free(all);
  free(results);
}

void ct_spooler_post(ct_spooler_t *s, ct_msg_t *msg) {
  pthread_mutex_lock(&s->mu);
  ct_list_insert_tail(&s->queue, &msg->node);
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->mu);
}

void ct_spooler_post_all(ct_spooler_t *s, ct_list_t *msgs) {
  pthread_mutex_lock(&s->mu);
  ct_list_splice_tail(&s->queue, msgs);
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->mu);
}

/* Records every pending outcome in one transaction. Returns 0 or the spool's error; on error
 * the tasks stay pending. */
static int settle_pending(ct_spooler_t *s) {
  size_t n = 0;
  for (ct_list_t *p = s->pending.next; p != &s->pending; p = p->next)
    n++;
  if (n == 0)
    return 0;
  if (n > s->ops_cap) {
    ct_settle_t *ops = realloc(s->ops, n * sizeof *ops);
    if (ops == NULL)
      return CT_ENOMEM;
    s->ops = ops;
    s->ops_cap = n;
  }
  size_t i = 0;
  for (ct_list_t *p = s->pending.next; p != &s->pending; p = p->next) {
    ct_task_t *t = ct_container_of(p, ct_task_t, msg.node);
    s->ops[i++] = t->settle;
  }
  int rc = ct_spool_settle(s->spool, s->ops, n, ct_now_ms());
  if (rc != 0)
    return rc;
  i = 0;
  while (!ct_list_empty(&s->pending)) {
    ct_list_t *p = ct_list_first(&s->pending);
    ct_list_remove(p);
    ct_task_t *t = ct_container_of(p, ct_task_t, msg.node);
    t->settle.result = s->ops[i++].result;
    if (t->settle.result != 0)
      ct_warn("spool: settling job=%s: %s", t->lease.job->id, ct_strerror(t->settle.result));
    t->msg.type = CT_MSG_SETTLED;
    ct_mailbox_post(s->control, &t->msg.node);
  }
  return 0;
}

/* Ends the stop when outcomes still cannot be recorded past its deadline: their tasks go
 * back to the control loop as if settled, counted as released, and their leases are simply
 * forgotten when the spool closes, so their jobs are READY (and sent again) at the next start.
 * Duplicates are bounded by what did not fit in the outcome journal. */
static void give_up(ct_spooler_t *s, int rc) {
  size_t n = 0;
  while (!ct_list_empty(&s->pending)) {
    ct_list_t *p = ct_list_first(&s->pending);
    ct_list_remove(p);
    ct_task_t *t = ct_container_of(p, ct_task_t, msg.node);
    t->settle.result = rc;
    t->end = CT_END_RELEASED;
    t->msg.type = CT_MSG_SETTLED;
    ct_mailbox_post(s->control, &t->msg.node);
    n++;
  }
  ct_error("spool: stopping: %zu outcomes could not be recorded (%s) by the end of the "
           "shutdown grace; their jobs will be sent again after the restart", n,
           ct_strerror(rc));
}

static void answer_take(ct_spooler_t *s, ct_take_req_t *req) {
  /* Outcomes that wait to be recorded come first: no new work on top of them. */
  if (!ct_list_empty(&s->pending)) {
    req->filled = 0;
    req->error = 0;
    goto reply;
  }
  if (req->want > s->leases_cap) {
    ct_lease_t *l = realloc(s->leases, req->want * sizeof *l);
    if (l == NULL) {
      req->error = CT_ENOMEM;
      goto reply;
    }
    s->leases = l;
    s->leases_cap = req->want;
  }
  int64_t now = ct_now_ms();
  size_t got = 0;
  req->error = s->stopping ? 0 : ct_spool_take(s->spool, now, req->want, s->leases, &got);
  if (req->error != 0) {
    /* While outcomes cannot be committed, take refuses by design (spool.h); the state was
     * logged once and readiness shows it, so the control loop just asks again later. */
    note_health(s);
    pthread_mutex_lock(&s->stats_mu);
    bool failing = s->health.failing;
    pthread_mutex_unlock(&s->stats_mu);
    if (failing) {
      req->error = 0;
      got = 0;
    }
  }
  req->filled = got;
  size_t i = 0;
  for (ct_list_t *p = req->tasks.next; p != &req->tasks && i < got; p = p->next, i++) {
    ct_task_t *t = ct_container_of(p, ct_task_t, msg.node);
    t->lease = s->leases[i];
  }
  /* Counting READY jobs scans an index; only a draining run needs to know. */
  if (got == 0 && req->error == 0 && req->want_empty) {
    ct_spool_stats_t st;
    if (ct_spool_stats(s->spool, now, &st) == 0)
      req->spool_empty = st.ready == st.inflight;
  }
reply:
  req->msg.type = CT_MSG_TAKEN;
  ct_mailbox_post(s->control, &req->msg.node);
}

static void maybe_expire(ct_spooler_t *s) {
  int64_t now = ct_now_ms();
  if (now < s->next_expire_ms)
    return;
  s->next_expire_ms = now + EXPIRE_EVERY_MS;
  size_t n = 0;
  int rc = ct_spool_expire(s->spool, now, &n);
  if (rc != 0)
    ct_warn("spool: expiring old receipts: %s", ct_strerror(rc));
  else if (n > 0)
    ct_info("spool: expired %zu receipts past their retention", n);
  rc = ct_spool_events_expire(s->spool, now, &n);
  if (rc != 0)
    ct_warn("spool: expiring old webhook events: %s", ct_strerror(rc));
  else if (n > 0)
    ct_info("spool: expired %zu webhook events past their retention", n);
}

/* A lease whose send takes long must not be handed to another node meanwhile. */
static void keepalive(ct_spooler_t *s) {
  int64_t now = ct_now_ms();
  if (now < s->next_keepalive_ms)
    return;
  s->next_keepalive_ms = now + KEEPALIVE_EVERY_MS;
  int rc = ct_spool_keepalive(s->spool, now);
  if (rc != 0)
    ct_warn("spool: keeping leases alive: %s", ct_strerror(rc));
}

static void *run(void *arg) {
  ct_spooler_t *s = arg;
  ct_list_t batch;
  ct_list_init(&batch);
  int failures = 0;
  note_health(s); /* open may have found outcomes it could not record yet */
  for (;;) {
    pthread_mutex_lock(&s->mu);
    while (ct_list_empty(&s->queue) && (ct_list_empty(&s->pending) || failures == 0) &&
           !(s->stopping && ct_list_empty(&s->pending))) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += KEEPALIVE_EVERY_MS * 1000000L;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      if (pthread_cond_timedwait(&s->cond, &s->mu, &until) != 0)
        break;
    }
    ct_list_splice_tail(&batch, &s->queue);
    pthread_mutex_unlock(&s->mu);

    /* Outcomes first: they free capacity, and a take right after sees their retries. */
    ct_list_t takes, events;
    ct_list_init(&takes);
    ct_list_init(&events);
    while (!ct_list_empty(&batch)) {
      ct_list_t *p = ct_list_first(&batch);
      ct_list_remove(p);
      ct_msg_t *m = ct_container_of(p, ct_msg_t, node);
      if (m->type == CT_MSG_TASK)
        ct_list_insert_tail(&s->pending, p);
      else if (m->type == CT_MSG_TAKE || m->type == CT_MSG_ENQUEUE)
        ct_list_insert_tail(&takes, p);
      else if (m->type == CT_MSG_EVENTS)
        ct_list_insert_tail(&events, p);
      else if (m->type == CT_MSG_STOP)
        s->stopping = true;
    }
    int rc = settle_pending(s);
    note_health(s);
    int64_t give_up_ms = atomic_load(&s->give_up_ms);
    if (rc != 0 && give_up_ms != 0 && ct_mono_ms() >= give_up_ms) {
      give_up(s, rc);
      failures = 0;
    } else if (rc != 0) {
      if (failures++ % 30 == 0)
        ct_error("spool: recording outcomes failed (%s); will retry every second, nothing is "
                 "lost", ct_strerror(rc));
      int64_t wait_ms = RETRY_COMMIT_MS;
      if (give_up_ms != 0 && give_up_ms - ct_mono_ms() < wait_ms)
        wait_ms = give_up_ms - ct_mono_ms() > 0 ? give_up_ms - ct_mono_ms() : 0;
      struct timespec ts = {.tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    } else {
      if (failures > 0)
        ct_info("spool: recording outcomes works again");
      failures = 0;
    }
    while (!ct_list_empty(&takes)) {
      ct_list_t *p = ct_list_first(&takes);
      ct_list_remove(p);
      ct_msg_t *m = ct_container_of(p, ct_msg_t, node);
      if (m->type == CT_MSG_ENQUEUE)
        answer_enqueue(s, ct_container_of(m, ct_enqueue_req_t, msg));
      else
        answer_take(s, ct_container_of(m, ct_take_req_t, msg));
    }
    if (!ct_list_empty(&events))
      answer_events(s, &events);
    note_health(s); /* a take may have recorded the outcome journal */
    keepalive(s);
    if (failures == 0) {
      maybe_expire(s);
      refresh_stats(s);
    }
    pthread_mutex_lock(&s->mu);
    bool done = s->stopping && ct_list_empty(&s->queue) && ct_list_empty(&s->pending);
    pthread_mutex_unlock(&s->mu);
    if (done)
      break;
  }
  s->exited.type = CT_MSG_EXITED;
  s->exited.from = -1;
  ct_mailbox_post(s->control, &s->exited.node);
  return NULL;
}

int ct_spooler_start(ct_spooler_t **out, const ct_spool_options_t *opts, ct_mailbox_t *control) {
  ct_spooler_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return CT_ENOMEM;
  int rc = ct_spool_open(&s->spool, opts);
  if (rc != 0)
    goto fail_open;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cond, NULL);
  pthread_mutex_init(&s->stats_mu, NULL);
  ct_list_init(&s->queue);
  ct_list_init(&s->pending);
  s->control = control;
  s->next_expire_ms = ct_now_ms() + EXPIRE_EVERY_MS;
  if (pthread_create(&s->thread, NULL, run, s) != 0) {
    rc = CT_ENOMEM;
    goto fail_thread;
  }
  *out = s;
  return 0;

fail_thread:
  pthread_cond_destroy(&s->cond);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->stats_mu);
  ct_spool_close(s->spool);
fail_open:
  free(s);
  return rc;
}

void ct_spooler_join(ct_spooler_t *s) {
  pthread_join(s->thread, NULL);
  ct_spool_close(s->spool);
  pthread_cond_destroy(&s->cond);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->stats_mu);
  free(s->ops);
  free(s->leases);
  free(s);
}
