#include "dispatch/accounts.h"

#include "common/clock.h"
#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bucket runs a little under the configured rate. A send leaves when its token is due
 * plus however long the loop, TLS and the kernel take; a few late sends landing together
 * would push a one-second window at the provider over the rate. 2 % of headroom absorbs
 * 20 ms of such jitter at any rate, and costs 2 % of throughput. */
#define RATE_HEADROOM 0.98

/* The account's bucket for its configured rate and this node's share. Under the lock. */
static void apply_share(ct_accounts_t *a, ct_account_t *acc, int64_t now_us) {
  uint32_t nodes = atomic_load(&a->share_nodes);
  if (acc->conf_rate <= 0) {
    ct_bucket_set(&acc->bucket, 0, acc->conf_burst, now_us);
  } else if (!atomic_load(&a->share_open)) {
    ct_bucket_close(&acc->bucket);
  } else {
    uint32_t burst = acc->conf_burst / nodes;
    ct_bucket_set(&acc->bucket, acc->conf_rate * RATE_HEADROOM / nodes, burst ? burst : 1,
                  now_us);
  }
}

static void apply(ct_accounts_t *a, ct_account_t *acc, const ct_provider_conf_t *p) {
  pthread_mutex_lock(&a->mu);
  acc->conf_rate = p->rate;
  acc->conf_burst = p->burst;
  apply_share(a, acc, ct_mono_us());
  pthread_mutex_unlock(&a->mu);
  ct_aimd_set_max(&acc->aimd, p->max_concurrency);
  ct_breaker_set(&acc->breaker, p->breaker_failures, p->breaker_cooldown_ms * 1000);
}

int ct_accounts_init(ct_accounts_t *a, const ct_config_t *cfg) {
  a->n = cfg->n_providers;
  a->v = calloc(a->n ? a->n : 1, sizeof *a->v);
  if (a->v == NULL)
    return CT_ENOMEM;
  pthread_mutex_init(&a->mu, NULL);
  atomic_store(&a->share_nodes, 1);
  atomic_store(&a->share_open, true);
  for (size_t i = 0; i < a->n; i++) {
    const ct_provider_conf_t *p = &cfg->providers[i];
    ct_account_t *acc = &a->v[i];
    snprintf(acc->name, sizeof acc->name, "%s", p->name);
    acc->channel = p->channel;
    acc->provider = ct_provider_for(p->channel);
    ct_aimd_init(&acc->aimd, p->max_concurrency);
    ct_breaker_init(&acc->breaker, p->breaker_failures, p->breaker_cooldown_ms * 1000);
    apply(a, acc, p);
  }
  return 0;
}

void ct_accounts_destroy(ct_accounts_t *a) {
  for (size_t i = 0; i < a->n; i++) {
    ct_aimd_destroy(&a->v[i].aimd);
    ct_breaker_destroy(&a->v[i].breaker);
  }
  if (a->v != NULL)
    pthread_mutex_destroy(&a->mu);
  free(a->v);
  a->v = NULL;
  a->n = 0;
}

int ct_accounts_reload(ct_accounts_t *a, const ct_config_t *cfg, char *err, size_t errcap) {
  if (cfg->n_providers != a->n) {
    snprintf(err, errcap, "the number of provider sections changed (%zu -> %zu); restart to "
                          "add or remove providers", a->n, cfg->n_providers);
    return CT_EINVAL;
  }
  for (size_t i = 0; i < a->n; i++) {
    const ct_provider_conf_t *p = &cfg->providers[i];
    if (strcmp(p->name, a->v[i].name) != 0 || p->channel != a->v[i].channel) {
      snprintf(err, errcap, "provider %s was renamed, moved or changed kind; restart to do that",
               a->v[i].name);
      return CT_EINVAL;
    }
  }
  for (size_t i = 0; i < a->n; i++)
    apply(a, &a->v[i], &cfg->providers[i]);
  return 0;
}

void ct_accounts_set_share(ct_accounts_t *a, uint32_t nodes, bool open, int64_t now_us) {
  pthread_mutex_lock(&a->mu);
  atomic_store(&a->share_nodes, nodes < 1 ? 1 : nodes);
  atomic_store(&a->share_open, open);
  for (size_t i = 0; i < a->n; i++)
    apply_share(a, &a->v[i], now_us);
  pthread_mutex_unlock(&a->mu);
}

void ct_accounts_resume(ct_accounts_t *a) {
  for (size_t i = 0; i < a->n; i++)
    atomic_store(&a->v[i].paused, false);
}

/* FNV-1a: stable across runs and machines, so a recipient keeps its sender after a restart. */
static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

int ct_accounts_route(const ct_accounts_t *a, const ct_config_t *cfg, const char *tenant,
                      ct_channel_t channel, const char *recipient_key) {
  size_t candidates = 0;
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].channel == channel && ct_provider_serves(&cfg->providers[i], tenant))
      candidates++;
  if (candidates == 0)
    return -1;
  size_t pick = (size_t)(fnv1a(recipient_key) % candidates);
  for (size_t i = 0; i < a->n; i++) {
    if (a->v[i].channel == channel && ct_provider_serves(&cfg->providers[i], tenant)) {
      if (pick == 0)
        return (int)i;
      pick--;
    }
  }
  return -1;
}

const char *const ct_unanswered_names[CT_UNANSWERED_N] = {
    [CT_UNANSWERED_TIMEOUT] = "timeout",
    [CT_UNANSWERED_CONNECTION] = "connection",
    [CT_UNANSWERED_STREAM] = "stream",
    [CT_UNANSWERED_ABORTED] = "aborted",
};

const uint32_t ct_latency_bounds_ms[CT_LATENCY_BUCKETS] = {5,   10,   25,   50,   100,  250,
                                                           500, 1000, 2500, 5000, 10000};

void ct_account_observe_latency(ct_account_t *acc, uint32_t ms) {
  for (size_t i = 0; i < CT_LATENCY_BUCKETS; i++) {
    if (ms <= ct_latency_bounds_ms[i]) {
      atomic_fetch_add(&acc->latency_bucket[i], 1);
      break;
    }
  }
  atomic_fetch_add(&acc->latency_sum_ms, ms);
  atomic_fetch_add(&acc->latency_count, 1);
}
