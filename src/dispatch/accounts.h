/* Provider accounts as the delivery engine sees them: the state every worker thread shares
 * (rate, concurrency, breaker, pause) and the routing of a job's channel to one account.
 *
 * Account i is the i-th [provider.NAME] section of the configuration the table was made from.
 * A reload may change every value of a section but not the set of sections or their order;
 * that takes a restart. */
#ifndef CT_DISPATCH_ACCOUNTS_H
#define CT_DISPATCH_ACCOUNTS_H

#include "config/config.h"
#include "dispatch/throttle.h"
#include "provider/provider.h"

#include <stdatomic.h>
#include <stdbool.h>

#define CT_LATENCY_BUCKETS 11

/* Requests sent that got no answer. The provider may have taken any of them, so each one's
 * retry may reach the recipient a second time: together they bound the duplicates a run can
 * cause (the providers take no idempotency key). */
typedef enum {
  CT_UNANSWERED_TIMEOUT,    /* the request timed out */
  CT_UNANSWERED_CONNECTION, /* the connection ended before the answer */
  CT_UNANSWERED_STREAM,     /* the provider reset the HTTP/2 stream */
  CT_UNANSWERED_ABORTED,    /* ended on this side: the daemon stopped, or a local error */
  CT_UNANSWERED_N
} ct_unanswered_t;

/* "timeout", "connection", "stream", "aborted". */
extern const char *const ct_unanswered_names[CT_UNANSWERED_N];

typedef struct {
  char name[CT_CONFIG_NAME];
  ct_channel_t channel;
  const ct_provider_t *provider;
  ct_bucket_t bucket;
  double conf_rate;               /* the section's rate and burst (accounts' lock) */
  uint32_t conf_burst;
  ct_aimd_t aimd;
  ct_breaker_t breaker;
  _Atomic bool paused;            /* credentials refused: waits for a reload */
  _Atomic unsigned unreachable;   /* since its last answer, the ways it could not be reached,
                                     each logged once when first seen: bit 0 connections
                                     refused, bit 1 TLS handshakes failing */
  /* counters for logs and metrics */
  _Atomic uint64_t requests, accepted, transient, throttled, permanent, refused;
  _Atomic uint64_t retries;       /* jobs sent back to wait after a failure that may pass */
  _Atomic uint64_t tokens_dropped; /* rate tokens given up for being used too late */
  _Atomic uint64_t unanswered[CT_UNANSWERED_N];
  /* request latency histogram (Prometheus buckets, cumulative when exported) */
  _Atomic uint64_t latency_bucket[CT_LATENCY_BUCKETS];
  _Atomic uint64_t latency_sum_ms, latency_count;
} ct_account_t;

/* Upper bounds of the latency histogram's buckets, in ms (+Inf is the count). */
extern const uint32_t ct_latency_bounds_ms[CT_LATENCY_BUCKETS];

/* Records one request's latency on the account's histogram. */
void ct_account_observe_latency(ct_account_t *acc, uint32_t ms);

typedef struct {
  ct_account_t *v;
  size_t n;
  /* This node's share of every account's rate (cluster/): 1/nodes of it, or none while
   * closed. One node and open unless a cluster says otherwise. The lock orders the writers
   * of the buckets (reload on the control loop, the share from the cluster thread). */
  pthread_mutex_t mu;
  _Atomic uint32_t share_nodes;
  _Atomic bool share_open;
} ct_accounts_t;

/* Builds the table for `cfg`. Errors: CT_ENOMEM. */
int ct_accounts_init(ct_accounts_t *a, const ct_config_t *cfg);
void ct_accounts_destroy(ct_accounts_t *a);

/* Applies the rates, burst, concurrency and breaker settings of a reloaded `cfg`.
 * Returns 0, or CT_EINVAL (writing why to `err`) when the provider sections changed. */
int ct_accounts_reload(ct_accounts_t *a, const ct_config_t *cfg, char *err, size_t errcap);

/* Sets this node's share of every rate-limited account: rate / nodes and max(1, burst / nodes),
 * or, when `open` is false, nothing at all (the buckets close; accounts without a rate are
 * never held back). A change voids the tokens reserved before it (throttle.h), so it holds
 * from `now_us` on. Safe from any thread. */
void ct_accounts_set_share(ct_accounts_t *a, uint32_t nodes, bool open, int64_t now_us);

/* Lifts every credential pause: a reload is how an operator says the credentials were fixed.
 * Call once every worker uses the new configuration, so no request with the old secret can
 * pause an account again. */
void ct_accounts_resume(ct_accounts_t *a);

/* The account that carries `channel` for `tenant`: among the accounts serving them, the one
 * chosen by a stable hash of `recipient_key` (so one recipient's messages keep one sender and
 * a tenant's load spreads over all its numbers). -1 when no account serves them. */
int ct_accounts_route(const ct_accounts_t *a, const ct_config_t *cfg, const char *tenant,
                      ct_channel_t channel, const char *recipient_key);

#endif
