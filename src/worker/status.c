/* The status document and its rate ring: see worker/status.h. */
#include "worker/status.h"

#include "common/clock.h"
#include "common/error.h"
#include "job/job.h"
#include "worker/ingest.h"

#include <stdlib.h>

int ct_rates_init(ct_rates_t *r, size_t n_accounts) {
  *r = (ct_rates_t){.n_series = 1 + n_accounts, .cap = CT_RATES_LONG_S + 1};
  r->values = calloc(r->cap * r->n_series, sizeof *r->values);
  r->at_ms = calloc(r->cap, sizeof *r->at_ms);
  if (r->values == NULL || r->at_ms == NULL) {
    ct_rates_destroy(r);
    return CT_ENOMEM;
  }
  r->started_ms = ct_now_ms();
  return 0;
}

void ct_rates_destroy(ct_rates_t *r) {
  free(r->values);
  free(r->at_ms);
  r->values = NULL;
  r->at_ms = NULL;
}

void ct_rates_sample(ct_rates_t *r, int64_t mono_ms, uint64_t delivered, ct_accounts_t *a) {
  uint64_t *row = &r->values[r->next * r->n_series];
  row[0] = delivered;
  for (size_t i = 0; i + 1 < r->n_series && i < a->n; i++)
    row[1 + i] = atomic_load(&a->v[i].accepted);
  r->at_ms[r->next] = mono_ms;
  r->next = (r->next + 1) % r->cap;
  if (r->filled < r->cap)
    r->filled++;
}

double ct_rates_per_s(const ct_rates_t *r, size_t series, uint64_t now_value, int64_t mono_ms,
                      int window_s) {
  if (series >= r->n_series)
    return 0.0;
  /* The oldest sample still inside the window, walking back from the newest. Half a second
   * of slack keeps the sample taken "about window_s ago" when ticks run a little late. */
  int64_t horizon = mono_ms - (int64_t)window_s * 1000 - 500;
  size_t best = r->cap;
  for (size_t k = 0; k < r->filled; k++) {
    size_t slot = (r->next + r->cap - 1 - k) % r->cap;
    if (r->at_ms[slot] < horizon)
      break;
    best = slot;
  }
  if (best == r->cap || mono_ms <= r->at_ms[best])
    return 0.0;
  uint64_t then = r->values[best * r->n_series + series];
  if (now_value < then)
    return 0.0;
  return (double)(now_value - then) * 1000.0 / (double)(mono_ms - r->at_ms[best]);
}

static json_t *rates_json(const ct_rates_t *r, size_t series, uint64_t now_value,
                          int64_t mono_ms) {
  return json_pack("{s:f, s:f}", "10s",
                   ct_rates_per_s(r, series, now_value, mono_ms, CT_RATES_SHORT_S), "1m",
                   ct_rates_per_s(r, series, now_value, mono_ms, CT_RATES_LONG_S));
}

static json_t *provider_json(const ct_ingest_t *g, size_t i, int64_t mono_ms) {
  ct_account_t *a = &g->accounts->v[i];
  const ct_provider_conf_t *conf = &g->cfg->providers[i];
  uint64_t accepted = atomic_load(&a->accepted);
  const char *channel = ct_channel_name((int)a->channel);
  /* What this node may send now: its share of the rate, less the headroom; 0 = no limit
   * (like "rate"), and 0 too while the node may not send ("cluster"."sending"). */
  double share;
  uint32_t share_burst;
  ct_bucket_get(&a->bucket, &share, &share_burst);
  if (share < 0) {
    share = 0;
    share_burst = 0;
  }
  return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:f, s:I,"
                   " s:f, s:I, s:s, s:b}",
                   "name", a->name, "channel", channel != NULL ? channel : "unknown",
                   "messages_per_s", rates_json(g->rates, 1 + i, accepted, mono_ms),
                   "requests", (json_int_t)atomic_load(&a->requests),
                   "accepted", (json_int_t)accepted,
                   "transient", (json_int_t)atomic_load(&a->transient),
                   "throttled", (json_int_t)atomic_load(&a->throttled),
                   "permanent", (json_int_t)atomic_load(&a->permanent),
                   "refused", (json_int_t)atomic_load(&a->refused),
                   "inflight", (json_int_t)ct_aimd_inflight(&a->aimd),
                   "concurrency_limit", ct_aimd_limit(&a->aimd),
                   "max_concurrency", (json_int_t)conf->max_concurrency,
                   "rate", conf->rate, "burst", (json_int_t)conf->burst,
                   "rate_share", conf->rate > 0 ? share : 0.0,
                   "burst_share", (json_int_t)(conf->rate > 0 ? share_burst : conf->burst),
                   "breaker", ct_breaker_state_name(ct_breaker_state(&a->breaker)),
                   "paused", atomic_load(&a->paused) ? 1 : 0);
}

static json_t *spool_json(const ct_ingest_t *g, int64_t now_ms) {
  ct_spool_stats_t st;
  if (!ct_spooler_stats(g->spooler, &st))
    return json_null();
  json_t *reasons = json_object();
  for (size_t i = 0; reasons != NULL && i < st.n_dlq; i++) {
    if (json_object_set_new(reasons, st.dlq[i].reason,
                            json_integer((json_int_t)st.dlq[i].count)) != 0) {
      json_decref(reasons);
      reasons = NULL;
    }
  }
  if (reasons == NULL)
    return NULL;
  double oldest = st.oldest_due_ms != 0 && st.oldest_due_ms < now_ms
                      ? (double)(now_ms - st.oldest_due_ms) / 1000.0
                      : 0.0;
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:o}", "ready", (json_int_t)st.ready,
                   "due", (json_int_t)st.due, "inflight", (json_int_t)st.inflight, "delivered",
                   (json_int_t)st.delivered, "dead", (json_int_t)st.dead, "oldest_due_age_s",
                   oldest, "file_bytes", (json_int_t)st.file_bytes, "dead_by_reason", reasons);
}

json_t *ct_status_document(void *ctx) {
  const ct_ingest_t *g = ctx;
  const ct_ingest_counters_t *c = g->counters;
  int64_t now_ms = ct_now_ms(), mono_ms = ct_mono_ms();
  json_t *providers = json_array();
  for (size_t i = 0; providers != NULL && i < g->accounts->n; i++) {
    if (json_array_append_new(providers, provider_json(g, i, mono_ms)) != 0) {
      json_decref(providers);
      providers = NULL;
    }
  }
  json_t *spool = spool_json(g, now_ms);
  json_t *cluster = g->cfg->cluster_nats[0] == '\0'
                        ? json_null()
                        : json_pack("{s:I, s:b}", "nodes",
                                    (json_int_t)atomic_load(&g->accounts->share_nodes),
                                    "sending", atomic_load(&g->accounts->share_open) ? 1 : 0);
  if (providers == NULL || spool == NULL || cluster == NULL) {
    json_decref(providers);
    json_decref(spool);
    json_decref(cluster);
    return NULL;
  }
  char when[CT_TIME_BUFSZ];
  /* json_pack steals every "o" reference, also when it fails */
  return json_pack("{s:s, s:I, s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:o}, s:{s:I, s:I},"
                   " s:o, s:o, s:o}",
                   "time", ct_time_format(now_ms, when),
                   "uptime_s", (json_int_t)((now_ms - g->rates->started_ms) / 1000),
                   "stopping", g->closed ? 1 : 0,
                   "jobs",
                     "delivered", (json_int_t)c->delivered,
                     "retried", (json_int_t)c->retried,
                     "dead", (json_int_t)c->dead,
                     "released", (json_int_t)c->released,
                     "inflight", (json_int_t)c->inflight,
                     "max_inflight", (json_int_t)g->cfg->max_inflight,
                     "delivered_per_s", rates_json(g->rates, 0, c->delivered, mono_ms),
                   "enqueue",
                     "accepted", (json_int_t)g->accepted,
                     "duplicates", (json_int_t)g->duplicates,
                   "providers", providers,
                   "spool", spool,
                   "cluster", cluster);
}
