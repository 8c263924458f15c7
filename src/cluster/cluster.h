/* Several carteiro nodes sharing the provider accounts' rates.
 *
 * A provider's limit is per account (WhatsApp: so many messages a second per sender number),
 * whatever number of carteiro nodes send for it. With a [cluster] section each node keeps
 * its key in a NATS JetStream key-value bucket of live nodes, puts it every heartbeat, and
 * watches the bucket; it then sends at rate R / n and burst B / n on every account, n being
 * the live nodes it knows. dispatch/share.h has the rules that keep the sum within R + B
 * while nodes join, leave, crash or lose NATS, and why they are enough.
 *
 * Why a KV bucket: it is an existing replicated store with a C client (libnats), the same
 * server the JetStream spool uses, and its watch is an ordered consumer: a node that sees its
 * own latest heartbeat come back knows it has seen every key stored before it. That one fact
 * is the whole protocol; there is no election and no lease to hand over.
 *
 * Why a thread of its own, not the control loop with the client's libuv adapter: the KV calls
 * (put, create, watch set-up) are blocking request/replies, and on the loop they would wait
 * for replies that only the loop itself could read. A thread doing blocking calls with short
 * time limits is the simple correct shape; what it decides is a pair of atomics plus a
 * change of each account's token bucket, both safe from any thread (dispatch/accounts.h).
 *
 * Losing NATS: the node keeps its share while its last confirmed heartbeat is at most two
 * heartbeats old, then sends nothing (logged) until it is back and has waited like a joiner.
 * Pausing is the only safe fallback: the others stop counting a node they no longer hear
 * from, and would then be sending the whole rate between them. */
#ifndef CT_CLUSTER_CLUSTER_H
#define CT_CLUSTER_CLUSTER_H

#include "dispatch/accounts.h"

#include <stdint.h>

typedef struct ct_cluster ct_cluster_t;

typedef struct {
  const char *nats;          /* server URLs, comma-separated */
  const char *node_id;       /* "" or NULL: hostname-pid */
  int64_t heartbeat_ms;      /* > 0 */
  const char *bucket;        /* KV bucket of live nodes */
  ct_accounts_t *accounts;   /* whose share this sets; outlives the cluster */
} ct_cluster_options_t;

/* Closes every rate-limited account at once (the node sends nothing until it has joined),
 * then starts the cluster thread, which connects to NATS and retries for as long as it must.
 * Returns 0 or CT_ENOMEM / CT_EIO (no thread); on failure the accounts are left closed. */
int ct_cluster_start(ct_cluster_t **out, const ct_cluster_options_t *opts);

/* Leaves the cluster: stops the thread and deletes this node's key, so the others raise their
 * share without waiting for it to expire. Call only once this node has stopped sending (its
 * workers are gone). NULL is a no-op. */
void ct_cluster_stop(ct_cluster_t *c);

#endif
