#include "worker/pool.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "cluster/cluster.h"
#include "worker/ingest.h"
#include "worker/progress.h"
#include "worker/spooler.h"
#include "worker/status.h"
#include "worker/webhooks.h"
#include "worker/worker.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* When no job is due, look again this often (a replayed job is picked up within it). */
#define IDLE_POLL_MS 200
/* After a failed take, wait this long. */
#define TAKE_RETRY_MS 1000
/* Progress is logged this often. */
#define REPORT_EVERY_MS 10000
/* The status document's rates are sampled this often (worker/status.h). */
#define RATES_EVERY_MS 1000

typedef ct_ingest_counters_t counters_t;

typedef struct {
  uv_loop_t *loop;
  const ct_pool_options_t *opts;
  ct_config_t *cfg;
  ct_config_t *retiring;     /* the snapshot workers are switching away from */
  int reloads_pending;       /* workers that have not confirmed the switch */
  bool reload_again;
  ct_accounts_t accounts;
  ct_cluster_t *cluster;     /* [cluster]: this node's share of the accounts' rates */
  ct_doccache_t *doccache;   /* the workers' prepared documents (worker/doccache.h) */
  ct_docbudget_t *docbudget; /* the memory of all their preparations (worker/docprep.h) */
  ct_keycache_t *keycache;   /* PDF locking key material (document/document.h); NULL = none */
  ct_spooler_t *spooler;
  ct_worker_t **workers;
  size_t n_workers;
  size_t next_worker;
  size_t workers_alive;
  bool spooler_alive;

  ct_mailbox_t inbox;
  uv_signal_t sigterm, sigint, sighup;
  uv_timer_t poll, grace, report, rates_tick;

  /* max_inflight tasks that deliver, and gap_wait_max more for jobs waiting out a recipient
   * gap: those hold their lease but no in-flight slot (worker.c), counted in gap_waiting. */
  ct_task_t *tasks;
  size_t n_tasks;
  size_t max_inflight;
  ct_list_t free_tasks;      /* tasks used before and free again */
  size_t n_fresh;            /* tasks[n_tasks - n_fresh ..] never used: free, their memory
                                (calloc'd) not touched yet, so RSS follows the most used */
  size_t n_free;             /* both kinds */
  atomic_size_t gap_waiting;
  ct_take_req_t take;
  bool take_out;

  bool stopping;
  bool aborted;
  bool spooler_told;         /* STOP was posted to the spooler (exactly once) */
  ct_ingest_t ingest;        /* the HTTP API's view of the engine */
  ct_http_server_t *http;
  bool http_alive;
  ct_rates_t rates;          /* per-second samples for /v1/status, with the HTTP API only */
  ct_webhooks_t webhooks;    /* the webhook listener's view of the engine (worker/webhooks.h) */
  ct_http_server_t *hooks;
  bool hooks_alive;
  counters_t c;
  int64_t started_ms;
  int exit_rc;
  ct_msg_t stop_msgs[2];     /* STOP for the spooler; ABORT template unused */
  ct_msg_t *worker_msgs;     /* per worker: STOP, ABORT, RELOAD */
} pool_t;

static void begin_stop(pool_t *p, const char *why);
static void finish_stop(pool_t *p);

/* Tasks holding an in-flight slot: out of the free list, less those waiting out a recipient
 * gap. (A worker counts a waiter out before it tells us, and in again when it wakes, so this
 * may briefly pass max_inflight by the tasks that just woke: they are never held back.) */
static size_t slots_used(pool_t *p) {
  size_t out = p->n_tasks - p->n_free, gap = atomic_load(&p->gap_waiting);
  return out > gap ? out - gap : 0;
}

/* Jobs leased and being delivered: the tasks holding a slot, less those lent to a take the
 * spooler has not answered (they hold no job yet, and an idle take may wait a while). */
static void count_inflight(pool_t *p) {
  size_t used = slots_used(p), lent = p->take_out ? p->take.want : 0;
  p->c.inflight = used > lent ? used - lent : 0;
  p->c.gap_waiting = atomic_load(&p->gap_waiting);
}

static void recycle(pool_t *p, ct_task_t *t) {
  ct_task_set_state(t, CT_TASK_FREE);
  ct_lease_free(&t->lease);
  ct_progress_free(t->progress);
  t->progress = NULL;
  memset(&t->lease, 0, sizeof t->lease);
  ct_list_insert_tail(&p->free_tasks, &t->msg.node);
  p->n_free++;
  count_inflight(p);
}

static void maybe_take(pool_t *p) {
  if (p->stopping || p->take_out || p->n_free == 0)
    return;
  size_t used = slots_used(p);
  if (used >= p->max_inflight)
    return;
  size_t want = p->max_inflight - used;
  if (want > p->n_free) /* only when gap waiters woke past the cap */
    want = p->n_free;
  if (want > p->cfg->take_batch)
    want = p->cfg->take_batch;
  /* Wait for a worthwhile batch while plenty is in flight: one transaction for many jobs. */
  if (used > 0 && want < p->cfg->take_batch / 4)
    return;
  ct_list_init(&p->take.tasks);
  for (size_t i = 0; i < want; i++) {
    ct_list_t *n;
    if (!ct_list_empty(&p->free_tasks)) {
      n = ct_list_first(&p->free_tasks);
      ct_list_remove(n);
    } else {
      n = &p->tasks[p->n_tasks - p->n_fresh--].msg.node;
    }
    ct_task_set_state(ct_container_of(n, ct_task_t, msg.node), CT_TASK_TAKING);
    ct_list_insert_tail(&p->take.tasks, n);
  }
  p->n_free -= want;
  p->take.want = want;
  p->take.filled = 0;
  p->take.error = 0;
  p->take.spool_empty = false;
  p->take.want_empty = p->opts->drain;
  p->take.msg.type = CT_MSG_TAKE;
  p->take_out = true;
  count_inflight(p);
  uv_timer_stop(&p->poll);
  ct_spooler_post(p->spooler, &p->take.msg);
}

static void on_poll(uv_timer_t *timer) { maybe_take(timer->data); }

static void on_taken(pool_t *p) {
  p->take_out = false;
  size_t i = 0;
  while (!ct_list_empty(&p->take.tasks)) {
    ct_list_t *n = ct_list_first(&p->take.tasks);
    ct_list_remove(n);
    ct_task_t *t = ct_container_of(n, ct_task_t, msg.node);
    if (i++ >= p->take.filled) {
      ct_task_set_state(t, CT_TASK_FREE);
      ct_list_insert_tail(&p->free_tasks, n);
      p->n_free++;
      continue;
    }
    t->progress = t->lease.progress;
    t->lease.progress = NULL;
    if (p->stopping) {
      /* Taken just as we were told to stop: straight back, untouched, as the outcome table
       * says a stopping job goes. */
      ct_outcome_in_t in = {.event = CT_OEV_STOPPING, .now_ms = ct_now_ms(), .retry_after_ms = -1};
      ct_outcome_t o;
      ct_outcome_decide(&in, &o);
      t->has_attempt = false;
      t->n_earlier = 0;
      ct_task_settle(t, &o, in.now_ms);
      ct_task_set_state(t, CT_TASK_SETTLING);
      t->msg.type = CT_MSG_TASK;
      ct_spooler_post(p->spooler, &t->msg);
      continue;
    }
    ct_task_set_state(t, CT_TASK_QUEUED);
    t->msg.type = CT_MSG_TASK;
    ct_worker_post(p->workers[p->next_worker], &t->msg);
    p->next_worker = (p->next_worker + 1) % p->n_workers;
  }
  count_inflight(p);
  if (p->stopping) {
    /* This answer may be the last message: whatever it returned, see whether we are done. */
    finish_stop(p);
    return;
  }
  if (p->take.error != 0) {
    ct_error("spool: taking jobs failed: %s; trying again in %d ms", ct_strerror(p->take.error),
             TAKE_RETRY_MS);
    uv_timer_start(&p->poll, on_poll, TAKE_RETRY_MS, 0);
    return;
  }
  if (p->take.filled == 0) {
    if (p->opts->drain && p->take.spool_empty && p->n_free == p->n_tasks) {
      begin_stop(p, "spool drained");
      return;
    }
    uv_timer_start(&p->poll, on_poll, IDLE_POLL_MS, 0);
    return;
  }
  maybe_take(p);
}

static void count(pool_t *p, ct_task_t *t) {
  switch (t->end) {
  case CT_END_DELIVERED:
    p->c.delivered++;
    if (t->progress != NULL) {
      bool seen[4] = {false};
      for (size_t i = 0; i < t->progress->n_parts; i++) {
        unsigned ch = (unsigned)t->progress->parts[i]->channel;
        if (ch < 4 && !seen[ch]) {
          seen[ch] = true;
          p->c.by_channel[ch]++;
        }
      }
    }
    break;
  case CT_END_RETRY:
    p->c.retried++;
    break;
  case CT_END_DEAD:
    p->c.dead++;
    ct_log_kv(CT_LOG_INFO, "job dead", CT_KV_S("job", t->lease.job->id),
              CT_KV_S("outcome", "dead"), CT_KV_S("reason", t->reason),
              CT_KV_S("channel", t->has_attempt ? ct_channel_name(t->end_channel) : NULL),
              CT_KV_S("provider", t->has_attempt ? t->provider : NULL),
              CT_KV_I("prior_attempts", t->lease.attempts));
    break;
  case CT_END_RELEASED:
    p->c.released++;
    break;
  }
}

static void finish_stop(pool_t *p) {
  if (p->workers_alive > 0 || p->n_free != p->n_tasks || !p->spooler_alive ||
      p->spooler_told || p->http_alive || p->ingest.pending > 0 || p->hooks_alive ||
      p->webhooks.pending > 0)
    return;
  p->spooler_told = true;
  /* Every outcome is durable and every worker is gone: the spooler may go. */
  p->stop_msgs[0].type = CT_MSG_STOP;
  ct_spooler_post(p->spooler, &p->stop_msgs[0]);
}

static void close_all(pool_t *p) {
  uv_close((uv_handle_t *)&p->sigterm, NULL);
  uv_close((uv_handle_t *)&p->sigint, NULL);
  uv_close((uv_handle_t *)&p->sighup, NULL);
  uv_close((uv_handle_t *)&p->poll, NULL);
  uv_close((uv_handle_t *)&p->grace, NULL);
  uv_close((uv_handle_t *)&p->report, NULL);
  uv_close((uv_handle_t *)&p->rates_tick, NULL);
  ct_mailbox_close(&p->inbox, NULL);
}

static void finish_reload(pool_t *p);

static void on_inbox(ct_mailbox_t *mb, ct_list_t *batch) {
  pool_t *p = mb->data;
  while (!ct_list_empty(batch)) {
    ct_list_t *n = ct_list_first(batch);
    ct_list_remove(n);
    ct_msg_t *m = ct_container_of(n, ct_msg_t, node);
    switch (m->type) {
    case CT_MSG_TAKEN:
      on_taken(p);
      break;
    case CT_MSG_SETTLED: {
      ct_task_t *t = ct_container_of(m, ct_task_t, msg);
      count(p, t);
      recycle(p, t);
      if (p->stopping)
        finish_stop(p);
      else
        maybe_take(p);
      break;
    }
    case CT_MSG_ENQUEUED:
      ct_ingest_enqueued(&p->ingest, ct_container_of(m, ct_enqueue_req_t, msg));
      if (p->stopping)
        finish_stop(p);
      break;
    case CT_MSG_EVENTS_STORED:
      ct_webhooks_stored(&p->webhooks, ct_container_of(m, ct_events_req_t, msg));
      if (p->stopping)
        finish_stop(p);
      break;
    case CT_MSG_SLOTS:
      /* Cleared before looking, so a waiter counted after this is told again. */
      atomic_store((atomic_bool *)m->ptr, false);
      count_inflight(p);
      if (!p->stopping)
        maybe_take(p);
      break;
    case CT_MSG_RELOADED:
      if (--p->reloads_pending == 0)
        finish_reload(p);
      break;
    case CT_MSG_EXITED:
      if (m->from < 0) {
        p->spooler_alive = false;
        close_all(p);
      } else {
        p->workers_alive--;
        finish_stop(p);
      }
      break;
    default:
      ct_warn("control: unexpected message %d", (int)m->type);
      break;
    }
  }
}

static void on_grace(uv_timer_t *timer) {
  pool_t *p = timer->data;
  if (p->workers_alive == 0)
    return;
  ct_warn("shutdown grace period over: cancelling requests still in flight (their jobs will be "
          "sent again)");
  p->aborted = true;
  for (size_t i = 0; i < p->n_workers; i++) {
    ct_msg_t *m = &p->worker_msgs[i * 3 + 1];
    m->type = CT_MSG_ABORT;
    ct_worker_post(p->workers[i], m);
  }
}

static void on_http_stopped(void *arg) {
  pool_t *p = arg;
  p->http = NULL;
  p->http_alive = false;
  finish_stop(p);
}

static void on_hooks_stopped(void *arg) {
  pool_t *p = arg;
  p->hooks = NULL;
  p->hooks_alive = false;
  finish_stop(p);
}

static void begin_stop(pool_t *p, const char *why) {
  if (p->stopping)
    return;
  p->stopping = true;
  p->ingest.closed = true;
  if (p->http != NULL)
    ct_http_stop(p->http, on_http_stopped, p);
  /* the stores already handed to the spooler complete (and are answered) first */
  p->webhooks.closed = true;
  if (p->hooks != NULL)
    ct_http_stop(p->hooks, on_hooks_stopped, p);
  ct_info("stopping (%s): finishing %zu deliveries in flight", why, p->n_tasks - p->n_free);
  uv_timer_stop(&p->poll);
  for (size_t i = 0; i < p->n_workers; i++) {
    ct_msg_t *m = &p->worker_msgs[i * 3];
    m->type = CT_MSG_STOP;
    ct_worker_post(p->workers[i], m);
  }
  uv_timer_start(&p->grace, on_grace, (uint64_t)p->cfg->shutdown_grace_ms, 0);
  ct_spooler_stopping(p->spooler, p->cfg->shutdown_grace_ms);
}

static void log_config_errors(const char *path, const ct_config_error_t *errs, size_t n) {
  for (size_t i = 0; i < n && i < CT_CONFIG_MAX_ERRORS; i++)
    ct_error("config %s: %s: %s", path, errs[i].where, errs[i].what);
  if (n > CT_CONFIG_MAX_ERRORS)
    ct_error("config %s: and %zu more problems", path, n - CT_CONFIG_MAX_ERRORS);
}

static void log_config_warnings(const char *path, const ct_config_t *cfg) {
  for (size_t i = 0; i < cfg->n_warnings; i++)
    ct_warn("config %s: %s: %s", path, cfg->warnings[i].where, cfg->warnings[i].what);
}

static void start_reload(pool_t *p) {
  if (p->reloads_pending > 0) {
    p->reload_again = true;
    return;
  }
  ct_config_t *next = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  int rc = ct_config_load(p->opts->config_path, &next, errs, &nerr);
  if (rc != 0) {
    log_config_errors(p->opts->config_path, errs, nerr);
    ct_error("reload: %s; keeping the running configuration", ct_strerror(rc));
    return;
  }
  log_config_warnings(p->opts->config_path, next);
  char err[256];
  if (ct_accounts_reload(&p->accounts, next, err, sizeof err) != 0) {
    ct_error("reload: %s; keeping the running configuration", err);
    ct_config_free(next);
    return;
  }
  /* The spool path and the engine's sizes stay as started: changing them needs a restart. */
  memcpy(next->spool, p->cfg->spool, sizeof next->spool);
  next->workers = p->cfg->workers;
  next->max_inflight = p->cfg->max_inflight;
  next->gap_wait_max = p->cfg->gap_wait_max;
  ct_log_level_t lvl;
  if (ct_log_level_parse(next->log_level, &lvl) == 0)
    ct_log_set_level(lvl);
  ct_doccache_set_cap(p->doccache, (size_t)next->document_cache_mb << 20);
  p->retiring = p->cfg;
  p->cfg = next;
  /* the HTTP hooks read the configuration too, on this loop: the old one is freed soon */
  p->ingest.cfg = next;
  p->webhooks.cfg = next; /* webhook keys take effect with the next request */
  p->reloads_pending = (int)p->n_workers;
  for (size_t i = 0; i < p->n_workers; i++) {
    ct_msg_t *m = &p->worker_msgs[i * 3 + 2];
    m->type = CT_MSG_RELOAD;
    m->ptr = next;
    ct_worker_post(p->workers[i], m);
  }
  ct_info("reload: configuration applied (credentials, rates, templates)");
}

static void finish_reload(pool_t *p) {
  ct_config_free(p->retiring);
  p->retiring = NULL;
  ct_accounts_resume(&p->accounts);
  if (p->reload_again) {
    p->reload_again = false;
    start_reload(p);
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  pool_t *p = h->data;
  if (signum == SIGHUP)
    start_reload(p);
  else
    begin_stop(p, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_report(uv_timer_t *timer) {
  pool_t *p = timer->data;
  double secs = (double)(ct_now_ms() - p->started_ms) / 1000.0;
  ct_info("delivered=%llu retried=%llu dead=%llu in_flight=%zu rate=%.0f/s",
          (unsigned long long)p->c.delivered, (unsigned long long)p->c.retried,
          (unsigned long long)p->c.dead, p->n_tasks - p->n_free,
          secs > 0 ? (double)p->c.delivered / secs : 0.0);
}

static void on_rates_tick(uv_timer_t *timer) {
  pool_t *p = timer->data;
  ct_rates_sample(&p->rates, ct_mono_ms(), p->c.delivered, &p->accounts);
}

static void print_report(pool_t *p) {
  if (p->opts->report == NULL)
    return;
  double secs = (double)(ct_now_ms() - p->started_ms) / 1000.0;
  uint64_t unanswered[CT_UNANSWERED_N] = {0};
  for (size_t i = 0; i < p->accounts.n; i++)
    for (int k = 0; k < CT_UNANSWERED_N; k++)
      unanswered[k] += atomic_load(&p->accounts.v[i].unanswered[k]);
  fprintf(p->opts->report,
          "{\"delivered\":%llu,\"delivered_whatsapp\":%llu,\"delivered_sms\":%llu,"
          "\"delivered_email\":%llu,\"retried\":%llu,\"dead\":%llu,\"released\":%llu,"
          "\"unanswered\":{",
          (unsigned long long)p->c.delivered,
          (unsigned long long)p->c.by_channel[CT_CHANNEL_WHATSAPP],
          (unsigned long long)p->c.by_channel[CT_CHANNEL_SMS],
          (unsigned long long)p->c.by_channel[CT_CHANNEL_EMAIL],
          (unsigned long long)p->c.retried, (unsigned long long)p->c.dead,
          (unsigned long long)p->c.released);
  for (int k = 0; k < CT_UNANSWERED_N; k++)
    fprintf(p->opts->report, "%s\"%s\":%llu", k > 0 ? "," : "", ct_unanswered_names[k],
            (unsigned long long)unanswered[k]);
  fprintf(p->opts->report, "},\"seconds\":%.3f}\n", secs);
  fflush(p->opts->report);
}

/* The JetStream spool's settings from the configuration. */
static void nats_options(const ct_config_t *cfg, ct_spool_nats_options_t *o) {
  *o = (ct_spool_nats_options_t){
      .stream = cfg->nats_stream,
      .dlq_stream = cfg->nats_dlq_stream,
      .consumer = cfg->nats_consumer,
      .subject = cfg->nats_subject,
      .replicas = (int)cfg->nats_replicas,
      .ack_wait_ms = cfg->nats_ack_wait_ms,
      .max_deliver = cfg->nats_max_deliver > 0 ? (int64_t)cfg->nats_max_deliver : -1,
      .max_ack_pending = cfg->nats_max_ack_pending,
      .duplicate_window_ms = cfg->nats_duplicate_window_ms,
      .creds_file = cfg->nats_creds_file,
      .ca_file = cfg->nats_ca_file,
      .cert_file = cfg->nats_cert_file,
      .key_file = cfg->nats_key_file,
  };
}

/* The HTTP API on the control loop, with a read-only spool connection for lookups. */
static int start_http(pool_t *p) {
  ct_ingest_t *g = &p->ingest;
  g->cfg = p->cfg;
  g->accounts = &p->accounts;
  g->spooler = p->spooler;
  g->counters = &p->c;
  g->doccache = p->doccache;
  int rc = ct_rates_init(&p->rates, p->accounts.n);
  if (rc != 0)
    return rc;
  g->rates = &p->rates;
  snprintf(g->spool_dir, sizeof g->spool_dir, "%s", p->cfg->spool);
  char *slash = strrchr(g->spool_dir, '/');
  if (strstr(p->cfg->spool, "://") != NULL)
    g->spool_dir[0] = '\0'; /* not a local file: no disk to watch */
  else if (slash != NULL)
    *(slash == g->spool_dir ? slash + 1 : slash) = '\0';
  else
    snprintf(g->spool_dir, sizeof g->spool_dir, ".");
  ct_spooler_want_stats(p->spooler);
  ct_spool_nats_options_t no;
  nats_options(p->cfg, &no);
  ct_spool_options_t ro = {.path = p->cfg->spool, .readonly = true, .nats = &no};
  rc = ct_spool_open(&g->reader, &ro);
  if (rc != 0) {
    ct_error("http: opening the spool for reading: %s", ct_strerror(rc));
    return rc;
  }
  char host[128];
  snprintf(host, sizeof host, "%s", p->cfg->http_listen);
  char *colon = strrchr(host, ':');
  *colon = '\0';
  ct_http_options_t ho = {.host = host,
                          .port = (uint16_t)strtol(colon + 1, NULL, 10),
                          .token = p->cfg->http_token,
                          .max_body = (size_t)p->cfg->http_max_body_mb << 20};
  ct_http_engine_t engine;
  ct_ingest_engine(g, &engine);
  rc = ct_http_start(p->loop, &ho, &engine, &p->http);
  if (rc != 0) {
    ct_error("http: cannot listen on %s: %s", p->cfg->http_listen, ct_strerror(rc));
    return rc;
  }
  p->http_alive = true;
  ct_rates_sample(&p->rates, ct_mono_ms(), p->c.delivered, &p->accounts);
  uv_timer_start(&p->rates_tick, on_rates_tick, RATES_EVERY_MS, RATES_EVERY_MS);
  ct_info("http: listening on %s:%u", host, (unsigned)ct_http_port(p->http));
  return 0;
}

static uint32_t worker_count(const ct_config_t *cfg) {
  if (cfg->workers > 0)
    return cfg->workers;
  unsigned n = uv_available_parallelism();
  return n > 0 ? n : 1;
}

int ct_pool_run(const ct_pool_options_t *opts) {
  /* A client that goes away while we write to it (a provider's webhook call timing out, a
   * connection shut at stop) must cost an EPIPE on that connection, not the process. */
  signal(SIGPIPE, SIG_IGN);
  pool_t p = {.opts = opts, .loop = uv_default_loop(), .spooler_alive = true};
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  int rc = ct_config_load(opts->config_path, &p.cfg, errs, &nerr);
  if (rc != 0) {
    log_config_errors(opts->config_path, errs, nerr);
    if (rc == CT_ENOENT)
      ct_error("config %s: no such file", opts->config_path);
    return rc;
  }
  log_config_warnings(opts->config_path, p.cfg);
  if (opts->spool_path != NULL)
    snprintf(p.cfg->spool, sizeof p.cfg->spool, "%s", opts->spool_path);
  ct_log_level_t lvl;
  if (ct_log_level_parse(p.cfg->log_level, &lvl) == 0)
    ct_log_set_level(lvl);

  rc = ct_accounts_init(&p.accounts, p.cfg);
  if (rc != 0)
    goto out_config;
  if (p.cfg->cluster_nats[0] != '\0') {
    /* Before any worker exists: the node sends nothing until it has joined. */
    ct_cluster_options_t co = {.nats = p.cfg->cluster_nats, .node_id = p.cfg->cluster_node_id,
                               .heartbeat_ms = p.cfg->cluster_heartbeat_ms,
                               .bucket = p.cfg->cluster_bucket, .accounts = &p.accounts};
    rc = ct_cluster_start(&p.cluster, &co);
    if (rc != 0) {
      ct_error("cluster: cannot start: %s", ct_strerror(rc));
      goto out_accounts;
    }
  }
  p.max_inflight = p.cfg->max_inflight;
  p.n_tasks = (size_t)p.cfg->max_inflight + p.cfg->gap_wait_max;
  atomic_init(&p.gap_waiting, 0);
  p.tasks = calloc(p.n_tasks, sizeof *p.tasks);
  p.n_workers = worker_count(p.cfg);
  p.workers = calloc(p.n_workers, sizeof *p.workers);
  p.worker_msgs = calloc(p.n_workers * 3, sizeof *p.worker_msgs);
  rc = CT_ENOMEM;
  if (p.tasks == NULL || p.workers == NULL || p.worker_msgs == NULL ||
      ct_doccache_new((size_t)p.cfg->document_cache_mb << 20, CT_DOCCACHE_MAX_AGE_MS,
                      &p.doccache) != 0 ||
      ct_docbudget_new((uint64_t)p.cfg->document_memory_budget_mb << 20, &p.docbudget) != 0)
    goto out_alloc;
  if (p.cfg->document_key_cache_entries > 0) {
    rc = ct_keycache_new(p.cfg->document_key_cache_entries,
                         (size_t)p.cfg->document_key_cache_mb << 20, &p.keycache);
    if (rc != 0) {
      ct_error("document key cache: %s", ct_strerror(rc));
      goto out_alloc;
    }
  }
  ct_list_init(&p.free_tasks);
  p.n_fresh = p.n_free = p.n_tasks;

  rc = CT_EIO;
  if (ct_mailbox_init(p.loop, &p.inbox, on_inbox, &p) != 0)
    goto out_alloc;
  ct_spool_nats_options_t nopts;
  nats_options(p.cfg, &nopts);
  ct_spool_options_t sopts = {.path = p.cfg->spool, .owner = true, .nats = &nopts,
                              .receipt_retention_ms = p.cfg->receipt_retention_ms,
                              .outcome_journal = p.n_tasks, /* every lease may settle */
                              .event_retention_ms = p.cfg->event_retention_ms};
  rc = ct_spooler_start(&p.spooler, &sopts, &p.inbox);
  if (rc != 0) {
    ct_error("spool %s: %s", p.cfg->spool, ct_strerror(rc));
    goto out_mailbox;
  }
  for (size_t i = 0; i < p.n_workers; i++) {
    ct_worker_options_t wo = {.index = (int)i, .cfg = p.cfg, .accounts = &p.accounts,
                              .spooler = p.spooler, .control = &p.inbox,
                              .capacity = p.n_tasks, .doccache = p.doccache,
                              .gap_waiting = &p.gap_waiting,
                              .gap_wait_max = p.cfg->gap_wait_max,
                              .docbudget = p.docbudget, .keycache = p.keycache};
    rc = ct_worker_start(&p.workers[i], &wo);
    if (rc != 0) {
      ct_error("worker %zu could not start: %s", i, ct_strerror(rc));
      break;
    }
    p.workers_alive++;
  }
  p.n_workers = p.workers_alive;

  uv_timer_init(p.loop, &p.rates_tick); /* before start_http, which starts it */
  p.rates_tick.data = &p;
  if (rc == 0 && p.cfg->http_listen[0] != '\0')
    rc = start_http(&p);
  p.ingest.webhooks = &p.hooks;
  if (rc == 0 && p.cfg->webhook_listen[0] != '\0') {
    p.webhooks = (ct_webhooks_t){.cfg = p.cfg, .spooler = p.spooler};
    rc = ct_webhooks_start(&p.webhooks, p.loop, &p.hooks);
    p.hooks_alive = rc == 0;
  }

  uv_signal_init(p.loop, &p.sigterm);
  uv_signal_init(p.loop, &p.sigint);
  uv_signal_init(p.loop, &p.sighup);
  uv_timer_init(p.loop, &p.poll);
  uv_timer_init(p.loop, &p.grace);
  uv_timer_init(p.loop, &p.report);
  p.sigterm.data = p.sigint.data = p.sighup.data = &p;
  p.poll.data = p.grace.data = p.report.data = &p;
  uv_signal_start(&p.sigterm, on_signal, SIGTERM);
  uv_signal_start(&p.sigint, on_signal, SIGINT);
  uv_signal_start(&p.sighup, on_signal, SIGHUP);
  uv_timer_start(&p.report, on_report, REPORT_EVERY_MS, REPORT_EVERY_MS);
  p.started_ms = ct_now_ms();

  if (rc != 0) {
    begin_stop(&p, "start-up failed");
    p.exit_rc = rc;
  } else {
    ct_info("carteiro running: spool=%s workers=%zu max_inflight=%zu providers=%zu",
            p.cfg->spool, p.n_workers, p.max_inflight, p.accounts.n);
    maybe_take(&p);
  }
  if (p.n_workers == 0)
    finish_stop(&p);
  uv_run(p.loop, UV_RUN_DEFAULT);

  for (size_t i = 0; i < p.n_workers; i++)
    ct_worker_join(p.workers[i]);
  /* Nothing is sent any more: the others may have this node's share. */
  ct_cluster_stop(p.cluster);
  p.cluster = NULL;
  ct_spool_close(p.ingest.reader);
  ct_spooler_join(p.spooler);
  ct_mailbox_dispose(&p.inbox);
  uv_loop_close(p.loop);
  print_report(&p);
  ct_info("stopped: delivered=%llu retried=%llu dead=%llu", (unsigned long long)p.c.delivered,
          (unsigned long long)p.c.retried, (unsigned long long)p.c.dead);
  rc = p.exit_rc;
  goto out_alloc;

out_mailbox:
  ct_mailbox_close(&p.inbox, NULL);
  uv_run(p.loop, UV_RUN_DEFAULT);
  ct_mailbox_dispose(&p.inbox);
out_alloc:
  ct_rates_destroy(&p.rates);
  ct_doccache_free(p.doccache);
  ct_docbudget_free(p.docbudget);
  ct_keycache_free(p.keycache);
  free(p.tasks);
  free(p.workers);
  free(p.worker_msgs);
  ct_cluster_stop(p.cluster);
out_accounts:
  ct_accounts_destroy(&p.accounts);
out_config:
  ct_config_free(p.retiring);
  ct_config_free(p.cfg);
  return rc;
}
