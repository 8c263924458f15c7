/* The engine's side of the HTTP server (http/http.h): ingest through the spooler, job
 * lookups, readiness and the Prometheus metrics, all on the control loop. */
#include "worker/ingest.h"

#include "common/clock.h"
#include "common/error.h"
#include "worker/status.h"
#include "worker/task.h"
#include "worker/webhooks.h"

#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* How long a client is told to wait when the spool is full. */
#define SATURATED_RETRY_S 5

typedef struct {
  ct_enqueue_req_t req;
  ct_http_enqueue_done_cb done;
  void *arg;
} ingest_req_t;

static void http_enqueue(void *ctx, ct_job_t **jobs, size_t n, ct_http_enqueue_done_cb done,
                         void *arg) {
  ct_ingest_t *g = ctx;
  ingest_req_t *in = calloc(1, sizeof *in);
  int *results = calloc(n ? n : 1, sizeof *results);
  if (in == NULL || results == NULL || g->closed) {
    for (size_t i = 0; i < n; i++)
      ct_job_free(jobs[i]);
    free(jobs);
    free(in);
    free(results);
    done(arg, g->closed ? CT_ESTATE : CT_ENOMEM, NULL);
    return;
  }
  in->req.msg.type = CT_MSG_ENQUEUE;
  in->req.jobs = jobs;
  in->req.n = n;
  in->req.results = results;
  in->done = done;
  in->arg = arg;
  g->pending++;
  ct_spooler_post(g->spooler, &in->req.msg);
}

void ct_ingest_enqueued(ct_ingest_t *g, ct_enqueue_req_t *req) {
  ingest_req_t *in = ct_container_of(req, ingest_req_t, req);
  if (req->rc == 0) {
    for (size_t i = 0; i < req->n; i++) {
      if (req->results[i] == 0)
        g->accepted++;
      else
        g->duplicates++;
    }
  }
  in->done(in->arg, req->rc, req->rc == 0 ? req->results : NULL);
  for (size_t i = 0; i < req->n; i++)
    ct_job_free(req->jobs[i]);
  free(req->jobs);
  free(req->results);
  free(in);
  g->pending--;
}

static bool disk_low(const ct_ingest_t *g) {
  struct statvfs v;
  if (g->spool_dir[0] == '\0' || statvfs(g->spool_dir, &v) != 0)
    return false;
  uint64_t free_mb = (uint64_t)v.f_bavail * v.f_frsize / (1024 * 1024);
  return free_mb < g->cfg->min_free_disk_mb;
}

/* Outcomes cannot be committed (a full or failing disk): no new work in, none taken. */
static bool commits_failing(const ct_ingest_t *g) {
  ct_spool_health_t h;
  ct_spooler_health(g->spooler, &h);
  return h.failing;
}

static bool http_saturated(void *ctx, int *retry_after_s) {
  ct_ingest_t *g = ctx;
  ct_spool_stats_t st;
  bool over = ct_spooler_stats(g->spooler, &st) && st.ready > g->cfg->spool_high_water;
  if (over || disk_low(g) || g->closed || commits_failing(g)) {
    *retry_after_s = SATURATED_RETRY_S;
    return true;
  }
  return false;
}

static int http_job_get(void *ctx, const char *id, ct_job_info_t *out) {
  ct_ingest_t *g = ctx;
  return g->reader != NULL ? ct_spool_job_get(g->reader, id, out) : CT_EIO;
}

static bool http_ready(void *ctx, char *why, size_t cap) {
  ct_ingest_t *g = ctx;
  int retry;
  if (g->closed) {
    snprintf(why, cap, "stopping");
    return false;
  }
  if (commits_failing(g)) {
    snprintf(why, cap, "spool cannot commit outcomes (disk full or failing); taking no new jobs");
    return false;
  }
  if (http_saturated(ctx, &retry)) {
    snprintf(why, cap, "spool over its high-water mark or disk nearly full");
    return false;
  }
  for (size_t i = 0; i < g->accounts->n; i++)
    if (!atomic_load(&g->accounts->v[i].paused))
      return true;
  snprintf(why, cap, "every provider account is paused");
  return false;
}

/* Prometheus text, written in pieces through the server's writer. */
typedef struct {
  void (*write)(void *wctx, const char *s, size_t n);
  void *wctx;
} out_t;

static void emit(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(out_t *o, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n > 0)
    o->write(o->wctx, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static uint64_t resident_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, rss = 0;
  if (f != NULL) {
    if (fscanf(f, "%lu %lu", &size, &rss) != 2)
      rss = 0;
    fclose(f);
  }
  return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* jemalloc's control interface. Every program links jemalloc except the sanitizer builds
 * (the sanitizer must own malloc), so the symbol is weak: NULL there, and the allocator's
 * gauges are left out rather than shown as zeros. Debian's libjemalloc exports it without a
 * prefix. */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

static void jemalloc_metrics(out_t *o) {
  if (mallctl == NULL)
    return;
  /* The stats are a snapshot jemalloc refreshes only when the epoch advances. */
  uint64_t epoch = 1;
  size_t len = sizeof epoch;
  if (mallctl("epoch", &epoch, &len, &epoch, len) != 0)
    return;
  static const struct {
    const char *ctl, *name, *help;
  } stats[] = {
      {"stats.allocated", "allocated", "Bytes in objects the program allocated."},
      {"stats.active", "active", "Bytes in the allocator's active pages (>= allocated)."},
      {"stats.resident", "resident",
       "Bytes in physically resident pages the allocator maps, at most (>= active)."},
      {"stats.mapped", "mapped", "Bytes in extents the allocator has mapped (>= active)."},
      {"stats.retained", "retained",
       "Bytes of virtual memory kept for reuse but returned to the system."},
  };
  for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++) {
    size_t v = 0;
    len = sizeof v;
    if (mallctl(stats[i].ctl, &v, &len, NULL, 0) != 0)
      continue;
    emit(o, "# HELP carteiro_jemalloc_%s_bytes %s\n# TYPE carteiro_jemalloc_%s_bytes gauge\n"
            "carteiro_jemalloc_%s_bytes %zu\n",
         stats[i].name, stats[i].help, stats[i].name, stats[i].name, v);
  }
}

static const char *const channel_names[] = {"", "whatsapp", "sms", "email"};

/* Everything per provider account: what was sent and answered, latency, and the flow
 * control the workers share (concurrency slots, rate bucket, breaker, pause). */
static void account_metrics(out_t *o, const ct_accounts_t *accs, const ct_config_t *cfg) {
  emit(o, "# HELP carteiro_provider_requests_total Requests sent to a provider account.\n"
          "# TYPE carteiro_provider_requests_total counter\n");
  for (size_t i = 0; i < accs->n; i++) {
    ct_account_t *a = &accs->v[i];
    emit(o, "carteiro_provider_requests_total{provider=\"%s\",channel=\"%s\"} %" PRIu64 "\n",
         a->name, channel_names[a->channel], atomic_load(&a->requests));
  }
  /* The provider's answers, one per message sent (a request shutdown aborted has none):
   * accepted, transient (5xx, timeout, reset: retried), throttled (429: retried later),
   * permanent (next channel or DLQ), auth (credentials refused: the account pauses). */
  emit(o, "# HELP carteiro_provider_responses_total Answers from a provider account, by "
          "outcome.\n# TYPE carteiro_provider_responses_total counter\n");
  for (size_t i = 0; i < accs->n; i++) {
    ct_account_t *a = &accs->v[i];
    const struct {
      const char *name;
      uint64_t v;
    } r[] = {{"accepted", atomic_load(&a->accepted)},   {"transient", atomic_load(&a->transient)},
             {"throttled", atomic_load(&a->throttled)}, {"permanent", atomic_load(&a->permanent)},
             {"auth", atomic_load(&a->refused)}};
    for (size_t k = 0; k < sizeof r / sizeof r[0]; k++)
      emit(o,
           "carteiro_provider_responses_total{provider=\"%s\",channel=\"%s\",outcome=\"%s\"} "
           "%" PRIu64 "\n",
           a->name, channel_names[a->channel], r[k].name, r[k].v);
  }
  /* Not every transient answer is a retry: at max_attempts or past not_after the job is dead
   * instead. Fallbacks to the next channel are not retries either. */
  emit(o, "# HELP carteiro_provider_retries_total Jobs sent back to wait after a failure that "
          "may pass (5xx, timeout, 429).\n# TYPE carteiro_provider_retries_total counter\n");
  for (size_t i = 0; i < accs->n; i++) {
    ct_account_t *a = &accs->v[i];
    emit(o, "carteiro_provider_retries_total{provider=\"%s\",channel=\"%s\"} %" PRIu64 "\n",
         a->name, channel_names[a->channel], atomic_load(&a->retries));
  }
  /* Each of these may have reached the provider all the same: the bound on duplicates. */
  emit(o, "# HELP carteiro_provider_unanswered_requests_total Requests sent that got no answer "
          "(timeout, connection lost, stream reset, aborted); each retry may duplicate.\n"
          "# TYPE carteiro_provider_unanswered_requests_total counter\n");
  for (size_t i = 0; i < accs->n; i++) {
    ct_account_t *a = &accs->v[i];
    for (int k = 0; k < CT_UNANSWERED_N; k++)
      emit(o,
           "carteiro_provider_unanswered_requests_total{provider=\"%s\",channel=\"%s\","
           "reason=\"%s\"} %" PRIu64 "\n",
           a->name, channel_names[a->channel], ct_unanswered_names[k],
           atomic_load(&a->unanswered[k]));
  }
  emit(o, "# HELP carteiro_provider_request_duration_seconds Request latency per provider "
          "account.\n# TYPE carteiro_provider_request_duration_seconds histogram\n");
  for (size_t i = 0; i < accs->n; i++) {
    ct_account_t *a = &accs->v[i];
    uint64_t cum = 0;
    for (size_t b = 0; b < CT_LATENCY_BUCKETS; b++) {
      cum += atomic_load(&a->latency_bucket[b]);
      emit(o,
           "carteiro_provider_request_duration_seconds_bucket{provider=\"%s\",le=\"%.3f\"} "
           "%" PRIu64 "\n",
           a->name, ct_latency_bounds_ms[b] / 1000.0, cum);
    }
    uint64_t count = atomic_load(&a->latency_count);
    emit(o,
         "carteiro_provider_request_duration_seconds_bucket{provider=\"%s\",le=\"+Inf\"} "
         "%" PRIu64 "\n"
         "carteiro_provider_request_duration_seconds_sum{provider=\"%s\"} %.3f\n"
         "carteiro_provider_request_duration_seconds_count{provider=\"%s\"} %" PRIu64 "\n",
         a->name, count, a->name, atomic_load(&a->latency_sum_ms) / 1000.0, a->name, count);
  }
  /* A slot is taken before the rate token, so this counts requests on the wire and those
   * waiting for their token: what the concurrency limit bounds. */
  emit(o, "# HELP carteiro_provider_inflight_requests Requests holding one of the account's "
          "concurrency slots.\n# TYPE carteiro_provider_inflight_requests gauge\n");
  for (size_t i = 0; i < accs->n; i++) {
    ct_aimd_t *m = &accs->v[i].aimd;
    pthread_mutex_lock(&m->mu);
    uint32_t inflight = m->inflight;
    pthread_mutex_unlock(&m->mu);
    emit(o, "carteiro_provider_inflight_requests{provider=\"%s\"} %" PRIu32 "\n",
         accs->v[i].name, inflight);
  }
  emit(o, "# HELP carteiro_provider_concurrency_limit Adaptive concurrency cap.\n"
          "# TYPE carteiro_provider_concurrency_limit gauge\n");
  for (size_t i = 0; i < accs->n; i++)
    emit(o, "carteiro_provider_concurrency_limit{provider=\"%s\"} %.2f\n", accs->v[i].name,
         ct_aimd_limit(&accs->v[i].aimd));

  /* The token bucket is kept as GCRA (dispatch/throttle.h): tat is when the next send may
   * go, and a bucket idle for `tolerance` is full again. Read without a lock: each value is
   * atomic, and a gauge needs no more than a consistent-enough glimpse. */
  int64_t now_us = ct_mono_us();
  /* The configured rate (account i is provider section i); the bucket runs a little under
   * it (dispatch/accounts.c, RATE_HEADROOM). */
  emit(o, "# HELP carteiro_provider_rate_limit Configured send rate, messages per second "
          "(0: unlimited).\n# TYPE carteiro_provider_rate_limit gauge\n");
  for (size_t i = 0; i < accs->n && i < cfg->n_providers; i++)
    emit(o, "carteiro_provider_rate_limit{provider=\"%s\"} %.3f\n", accs->v[i].name,
         cfg->providers[i].rate);
  emit(o, "# HELP carteiro_provider_rate_share Messages per second this node may send on the "
          "account now: its share of the configured rate, less the headroom (+Inf: unlimited; "
          "0 while it may not send).\n# TYPE carteiro_provider_rate_share gauge\n");
  for (size_t i = 0; i < accs->n; i++) {
    double rate;
    uint32_t burst;
    ct_bucket_get(&accs->v[i].bucket, &rate, &burst);
    if (rate == 0)
      emit(o, "carteiro_provider_rate_share{provider=\"%s\"} +Inf\n", accs->v[i].name);
    else
      emit(o, "carteiro_provider_rate_share{provider=\"%s\"} %.3f\n", accs->v[i].name,
           rate < 0 ? 0.0 : rate);
  }
  emit(o, "# HELP carteiro_provider_rate_tokens_dropped_total Rate tokens given up because "
          "their task ran more than 25 ms after their time (the send took a new token).\n"
          "# TYPE carteiro_provider_rate_tokens_dropped_total counter\n");
  for (size_t i = 0; i < accs->n; i++)
    emit(o, "carteiro_provider_rate_tokens_dropped_total{provider=\"%s\"} %" PRIu64 "\n",
         accs->v[i].name, atomic_load(&accs->v[i].tokens_dropped));
  emit(o, "# HELP carteiro_provider_rate_tokens Sends the token bucket allows at once now "
          "(+Inf: unlimited).\n# TYPE carteiro_provider_rate_tokens gauge\n");
  for (size_t i = 0; i < accs->n; i++) {
    int64_t tokens, wait_us;
    if (ct_bucket_peek(&accs->v[i].bucket, now_us, &tokens, &wait_us))
      emit(o, "carteiro_provider_rate_tokens{provider=\"%s\"} %" PRId64 "\n", accs->v[i].name,
           tokens);
    else
      emit(o, "carteiro_provider_rate_tokens{provider=\"%s\"} +Inf\n", accs->v[i].name);
  }
  emit(o, "# HELP carteiro_provider_rate_wait_seconds How long a send taking the next token "
          "would wait.\n# TYPE carteiro_provider_rate_wait_seconds gauge\n");
  for (size_t i = 0; i < accs->n; i++) {
    int64_t tokens, wait_us = 0;
    (void)ct_bucket_peek(&accs->v[i].bucket, now_us, &tokens, &wait_us);
    emit(o, "carteiro_provider_rate_wait_seconds{provider=\"%s\"} %.6f\n", accs->v[i].name,
         wait_us / 1e6);
  }
  emit(o, "# HELP carteiro_provider_breaker_state 0 closed, 1 open, 2 half open.\n"
          "# TYPE carteiro_provider_breaker_state gauge\n");
  for (size_t i = 0; i < accs->n; i++)
    emit(o, "carteiro_provider_breaker_state{provider=\"%s\"} %d\n", accs->v[i].name,
         (int)ct_breaker_state(&accs->v[i].breaker));
  emit(o, "# HELP carteiro_provider_paused 1 while the account's credentials are refused.\n"
          "# TYPE carteiro_provider_paused gauge\n");
  for (size_t i = 0; i < accs->n; i++)
    emit(o, "carteiro_provider_paused{provider=\"%s\"} %d\n", accs->v[i].name,
         atomic_load(&accs->v[i].paused) ? 1 : 0);
}

/* The spool as last counted by the spooler thread (every two seconds while someone asks):
 * never a query on the control loop. */
static void spool_metrics(out_t *o, ct_spooler_t *spooler) {
  ct_spool_stats_t st;
  if (!ct_spooler_stats(spooler, &st))
    return;
  /* The states do not overlap, so a sum is every job on disk; READY includes the jobs this
   * process has leased (leases live in memory only). */
  emit(o, "# HELP carteiro_spool_jobs Jobs in the spool by state.\n"
          "# TYPE carteiro_spool_jobs gauge\n"
          "carteiro_spool_jobs{state=\"ready\"} %" PRIu64 "\n"
          "carteiro_spool_jobs{state=\"delivered\"} %" PRIu64 "\n"
          "carteiro_spool_jobs{state=\"dead\"} %" PRIu64 "\n",
       st.ready, st.delivered, st.dead);
  emit(o, "# HELP carteiro_spool_due_jobs READY jobs whose due time has come.\n"
          "# TYPE carteiro_spool_due_jobs gauge\ncarteiro_spool_due_jobs %" PRIu64 "\n",
       st.due);
  int64_t now = ct_now_ms();
  emit(o, "# HELP carteiro_spool_oldest_due_age_seconds Age of the oldest due job.\n"
          "# TYPE carteiro_spool_oldest_due_age_seconds gauge\n"
          "carteiro_spool_oldest_due_age_seconds %.3f\n",
       st.oldest_due_ms != 0 && st.oldest_due_ms < now ? (now - st.oldest_due_ms) / 1000.0
                                                      : 0.0);
  emit(o, "# HELP carteiro_dead_letters Dead letters by reason.\n"
          "# TYPE carteiro_dead_letters gauge\n");
  for (size_t i = 0; i < st.n_dlq; i++)
    emit(o, "carteiro_dead_letters{reason=\"%s\"} %" PRIu64 "\n", st.dlq[i].reason,
         st.dlq[i].count);
  emit(o, "# HELP carteiro_spool_file_bytes Spool size on disk.\n"
          "# TYPE carteiro_spool_file_bytes gauge\ncarteiro_spool_file_bytes %" PRIu64 "\n",
       st.file_bytes);
}

/* Whether outcomes can be committed, as the spooler last saw it: shown even before the first
 * statistics snapshot, since a spool that cannot commit may never produce one. */
static void commit_metrics(out_t *o, ct_spooler_t *spooler) {
  ct_spool_health_t h;
  ct_spooler_health(spooler, &h);
  emit(o, "# HELP carteiro_spool_commit_failures_total Attempts to record outcomes that failed "
          "for the disk (no space, I/O error).\n"
          "# TYPE carteiro_spool_commit_failures_total counter\n"
          "carteiro_spool_commit_failures_total %" PRIu64 "\n",
       h.commit_failures);
  emit(o, "# HELP carteiro_spool_commits_failing 1 while outcomes cannot be committed: no new "
          "jobs are taken.\n# TYPE carteiro_spool_commits_failing gauge\n"
          "carteiro_spool_commits_failing %d\n",
       h.failing ? 1 : 0);
  emit(o, "# HELP carteiro_spool_journal_outcomes Outcomes kept in the outcome journal, not yet "
          "recorded in the spool.\n# TYPE carteiro_spool_journal_outcomes gauge\n"
          "carteiro_spool_journal_outcomes %" PRIu64 "\n",
       h.journaled);
  emit(o, "# HELP carteiro_spool_journal_used_bytes Bytes of the outcome journal in use.\n"
          "# TYPE carteiro_spool_journal_used_bytes gauge\n"
          "carteiro_spool_journal_used_bytes %" PRIu64 "\n"
          "# HELP carteiro_spool_journal_capacity_bytes Room reserved for the outcome journal "
          "(0: none).\n# TYPE carteiro_spool_journal_capacity_bytes gauge\n"
          "carteiro_spool_journal_capacity_bytes %" PRIu64 "\n",
       h.journal_used_bytes, h.journal_capacity_bytes);
}

/* The exposition: https://prometheus.io/docs/instrumenting/exposition_formats/. Counters end
 * in _total, units are base units named in the suffix, and dimensions are labels; every
 * family is one HELP, one TYPE and its samples together (promtool check metrics is clean;
 * tests/integration/metrics_check.sh holds it so). */
static void http_metrics(void *ctx, void (*write)(void *wctx, const char *s, size_t n),
                         void *wctx) {
  ct_ingest_t *g = ctx;
  out_t o = {write, wctx};
  const ct_ingest_counters_t *c = g->counters;
  /* retry: back to the spool to be tried again, after a failure that may pass or to fall
   * back to the job's next channel; released: given back untried (window, pause, stop). */
  emit(&o, "# HELP carteiro_jobs_settled_total Leases ended, by how.\n"
           "# TYPE carteiro_jobs_settled_total counter\n");
  emit(&o, "carteiro_jobs_settled_total{outcome=\"delivered\"} %" PRIu64 "\n", c->delivered);
  emit(&o, "carteiro_jobs_settled_total{outcome=\"retry\"} %" PRIu64 "\n", c->retried);
  emit(&o, "carteiro_jobs_settled_total{outcome=\"dead\"} %" PRIu64 "\n", c->dead);
  emit(&o, "carteiro_jobs_settled_total{outcome=\"released\"} %" PRIu64 "\n", c->released);
  emit(&o, "# HELP carteiro_jobs_delivered_total Delivered jobs that used a channel.\n"
           "# TYPE carteiro_jobs_delivered_total counter\n");
  for (int ch = 1; ch <= 3; ch++)
    emit(&o, "carteiro_jobs_delivered_total{channel=\"%s\"} %" PRIu64 "\n", channel_names[ch],
         c->by_channel[ch]);
  emit(&o, "# HELP carteiro_inflight_jobs Jobs leased and being delivered.\n"
           "# TYPE carteiro_inflight_jobs gauge\ncarteiro_inflight_jobs %" PRIu64 "\n",
       c->inflight);
  emit(&o, "# HELP carteiro_gap_waiting_jobs Jobs leased and waiting out a recipient gap, outside "
           "max_inflight.\n# TYPE carteiro_gap_waiting_jobs gauge\ncarteiro_gap_waiting_jobs %" PRIu64
           "\n",
       c->gap_waiting);
  emit(&o, "# HELP carteiro_ingest_jobs_total Jobs received by the HTTP API, by result.\n"
           "# TYPE carteiro_ingest_jobs_total counter\n"
           "carteiro_ingest_jobs_total{result=\"accepted\"} %" PRIu64 "\n"
           "carteiro_ingest_jobs_total{result=\"duplicate\"} %" PRIu64 "\n"
           "carteiro_ingest_jobs_total{result=\"rejected\"} %" PRIu64 "\n",
       g->accepted, g->duplicates, g->rejected);
  /* For alerting on "spool over high-water": whether ingest refuses work now, and the mark. */
  int retry_after;
  emit(&o, "# HELP carteiro_ingest_saturated 1 while ingest answers 503 (spool over its "
           "high-water mark, disk nearly full, outcomes not committing, or stopping).\n"
           "# TYPE carteiro_ingest_saturated gauge\ncarteiro_ingest_saturated %d\n",
       http_saturated(g, &retry_after) ? 1 : 0);
  account_metrics(&o, g->accounts, g->cfg);
  spool_metrics(&o, g->spooler);
  commit_metrics(&o, g->spooler);
  emit(&o, "# HELP carteiro_spool_high_water_jobs READY jobs above which ingest answers 503 "
           "(spool_high_water).\n# TYPE carteiro_spool_high_water_jobs gauge\n"
           "carteiro_spool_high_water_jobs %" PRIu32 "\n",
       g->cfg->spool_high_water);
  if (g->cfg->cluster_nats[0] != '\0')
    emit(&o, "# HELP carteiro_cluster_nodes Live nodes sharing the provider rates, this one "
             "included.\n# TYPE carteiro_cluster_nodes gauge\ncarteiro_cluster_nodes %u\n"
             "# HELP carteiro_cluster_sending 1 while this node has joined and may send its "
             "share.\n# TYPE carteiro_cluster_sending gauge\ncarteiro_cluster_sending %d\n",
         (unsigned)atomic_load(&g->accounts->share_nodes),
         atomic_load(&g->accounts->share_open) ? 1 : 0);

  /* One emit per metric: a line of emit() holds 512 bytes. */
  ct_doccache_stats_t dc;
  ct_doccache_stats(g->doccache, &dc);
  emit(&o, "# HELP carteiro_document_cache_hits_total Documents found already prepared.\n"
           "# TYPE carteiro_document_cache_hits_total counter\n"
           "carteiro_document_cache_hits_total %" PRIu64 "\n",
       dc.hits);
  emit(&o, "# HELP carteiro_document_cache_misses_total Documents looked up and then prepared "
           "(read, checked, protected).\n"
           "# TYPE carteiro_document_cache_misses_total counter\n"
           "carteiro_document_cache_misses_total %" PRIu64 "\n",
       dc.misses);
  emit(&o, "# HELP carteiro_document_cache_evictions_total Prepared documents dropped before "
           "their job was done, by why.\n"
           "# TYPE carteiro_document_cache_evictions_total counter\n"
           "carteiro_document_cache_evictions_total{reason=\"cap\"} %" PRIu64 "\n"
           "carteiro_document_cache_evictions_total{reason=\"age\"} %" PRIu64 "\n",
       dc.evictions, dc.expirations);
  emit(&o, "# HELP carteiro_document_cache_bytes Prepared document bytes held.\n"
           "# TYPE carteiro_document_cache_bytes gauge\n"
           "carteiro_document_cache_bytes %" PRIu64 "\n"
           "# HELP carteiro_document_cache_entries Prepared documents held.\n"
           "# TYPE carteiro_document_cache_entries gauge\n"
           "carteiro_document_cache_entries %" PRIu64 "\n",
       dc.bytes, dc.entries);
  emit(&o, "# HELP carteiro_document_cache_capacity_bytes The cap (document_cache_mb).\n"
           "# TYPE carteiro_document_cache_capacity_bytes gauge\n"
           "carteiro_document_cache_capacity_bytes %" PRIu64 "\n",
       dc.cap_bytes);
  ct_event_stats_t es;
  bool have_es = ct_spooler_event_stats(g->spooler, &es);
  ct_webhooks_metrics(g->webhooks != NULL ? *g->webhooks : NULL, have_es ? &es : NULL, write,
                      wctx);
  emit(&o, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
           "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %" PRIu64
           "\n",
       resident_bytes());
  jemalloc_metrics(&o);
}

static void http_rejected(void *ctx, size_t n) {
  ct_ingest_t *g = ctx;
  g->rejected += n;
}

void ct_ingest_engine(ct_ingest_t *g, ct_http_engine_t *out) {
  *out = (ct_http_engine_t){.ctx = g,
                            .enqueue = http_enqueue,
                            .rejected = http_rejected,
                            .saturated = http_saturated,
                            .job_get = http_job_get,
                            .ready = http_ready,
                            .metrics = http_metrics,
                            .status = ct_status_document};
}
