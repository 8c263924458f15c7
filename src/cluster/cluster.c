/* The cluster thread: heartbeats into the KV bucket of live nodes, the bucket's watch, and
 * the share they imply (dispatch/share.h), applied to the accounts.
 *
 * One loop, one thread:
 *
 *   connect (retry every heartbeat) ── bind or create the bucket ── watch it
 *   then, until stopped:  put our key when a heartbeat is due (time limit: half a heartbeat)
 *                         take the next watch entry (waiting at most until the next beat,
 *                         and never longer than a tick)
 *                         update the share, apply it when it changed
 *
 * A key's value is "hb=<heartbeat ms> nonce=<instance> sent=<our monotonic µs>". Only the
 * node itself reads `sent` (it is its own clock): when its key comes back through the watch
 * it learns how fresh its view is. `nonce` tells our key from another process started with
 * the same node id, which is counted as one more node and logged: two nodes under one key
 * would otherwise count as one and overrun the rate.
 *
 * Reconnection is the client library's (unlimited, every 250 ms); the watch is an ordered
 * consumer that resumes by itself. While NATS is away puts fail, nothing comes back, and the
 * share goes stale and closes by the rules of share.h.
 *
 * A NATS server that comes back may not have the bucket any more (a bucket in memory, or a
 * store that was wiped), and an ordered consumer may not survive the server either. So the
 * bucket and the watch are dropped and set up again (the bucket created again if it is gone,
 * the node joining again with the full join wait) when a put finds no stream ("no
 * responders", "not found"), when the watch fails, or when no heartbeat of ours has come back
 * for STALE + 2 heartbeats since the last confirmation or set-up. The bucket is stored on
 * file, so a plain restart of the server keeps it; it has one replica (a cluster of NATS
 * servers that wants more can create it beforehand: carteiro binds to it as it finds it).
 *
 * One heartbeat for the whole cluster: the bucket's TTL is EXPIRE heartbeats of the node
 * that created it, and a node with a longer heartbeat would expire from the stream between
 * its puts, so that a joiner would not count it. A node whose heartbeat does not match the
 * bucket's TTL refuses to join (logged, naming both; it sends nothing and tries again every
 * heartbeat, so deleting the bucket or fixing the setting lets it in).
 */
#include "cluster/cluster.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "dispatch/share.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The share is looked at least this often (a quarter heartbeat, at most this). */
#define TICK_MAX_MS 100
/* Repeated NATS errors are logged once, then counted, at most this often. */
#define ERROR_EVERY_MS 30000

struct ct_cluster {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool stop;                 /* under mu */
  kvWatcher *watcher;        /* under mu: the stopper interrupts it */

  char node_id[CT_SHARE_ID];
  char nonce[17];
  char *nats;
  char bucket[CT_CONFIG_NAME];
  int64_t heartbeat_ms;
  ct_accounts_t *accounts;

  natsOptions *opts;
  natsConnection *nc;
  jsCtx *js;
  kvStore *kv;
  ct_share_t share;
  int64_t next_beat_us;
  int64_t setup_at_us;       /* when the watch was last set up */
  bool announced;            /* our key was put at least once */
  int64_t mismatch_logged_ms;
  int64_t error_logged_ms;
  uint64_t errors_since_log;
};

/* Logs a NATS failure, at most once per ERROR_EVERY_MS with a count of those in between. */
static void nats_failed(ct_cluster_t *c, const char *what, natsStatus s) {
  int64_t now = ct_mono_ms();
  if (c->error_logged_ms != 0 && now - c->error_logged_ms < ERROR_EVERY_MS) {
    c->errors_since_log++;
    return;
  }
  const char *detail = nats_GetLastError(NULL);
  ct_warn("cluster: %s: %s%s%s (%" PRIu64 " more NATS errors since the last report)", what,
          natsStatus_GetText(s), detail != NULL ? ": " : "", detail != NULL ? detail : "",
          c->errors_since_log);
  c->error_logged_ms = now;
  c->errors_since_log = 0;
}

static bool stopping(ct_cluster_t *c) {
  pthread_mutex_lock(&c->mu);
  bool s = c->stop;
  pthread_mutex_unlock(&c->mu);
  return s;
}

/* Waits up to `ms`, returning early when told to stop. */
static void nap(ct_cluster_t *c, int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&c->mu);
  if (!c->stop)
    pthread_cond_timedwait(&c->cond, &c->mu, &ts);
  pthread_mutex_unlock(&c->mu);
}

static void apply(ct_cluster_t *c, int64_t now_us) {
  if (!ct_share_update(&c->share, now_us))
    return;
  const ct_share_view_t *v = &c->share.view;
  ct_accounts_set_share(c->accounts, v->nodes, v->open, now_us);
  if (v->phase == CT_SHARE_STALE)
    ct_warn("cluster: no heartbeat of ours confirmed for %" PRId64 " ms: sending nothing until "
            "NATS is back (the others stop counting this node)",
            (now_us - c->share.fresh_at_us) / 1000);
  else
    ct_info("cluster: node %s %s, %u node%s: this node's share is 1/%u of each account's "
            "rate%s",
            c->node_id, ct_share_phase_name(v->phase), v->nodes, v->nodes == 1 ? "" : "s",
            v->nodes, v->open ? "" : " (not sending yet)");
}

/* The TTL a bucket of live nodes has for this node's heartbeat, in nanoseconds. */
static int64_t bucket_ttl_ns(const ct_cluster_t *c) {
  return (int64_t)CT_SHARE_EXPIRE_BEATS * c->heartbeat_ms * 1000000;
}

/* Whether the bucket was made for this node's heartbeat. NATS_OK, NATS_MISMATCH, or the
 * failure to read its status. */
static natsStatus check_bucket(ct_cluster_t *c) {
  kvStatus *st = NULL;
  natsStatus s = kvStore_Status(&st, c->kv);
  if (s != NATS_OK) {
    nats_failed(c, "reading the KV bucket's settings", s);
    return s;
  }
  int64_t ttl = kvStatus_TTL(st);
  kvStatus_Destroy(st);
  if (ttl == bucket_ttl_ns(c))
    return NATS_OK;
  int64_t now = ct_mono_ms();
  if (c->mismatch_logged_ms == 0 || now - c->mismatch_logged_ms >= ERROR_EVERY_MS) {
    ct_error("cluster: bucket %s keeps keys for %" PRId64 " ms, made for a heartbeat of %" PRId64
             " ms; this node's heartbeat is %" PRId64 " ms. Every node of a cluster needs the "
             "same heartbeat: this node does not join (sends nothing) until they match (or the "
             "bucket is deleted and made again)",
             c->bucket, ttl / 1000000, ttl / 1000000 / CT_SHARE_EXPIRE_BEATS, c->heartbeat_ms);
    c->mismatch_logged_ms = now;
  }
  return NATS_MISMATCH;
}

/* Drops the watch and the bucket handle (not the connection), so that the next setup()
 * binds again, creating the bucket if it is gone, and this node joins again. */
static void teardown(ct_cluster_t *c, const char *why) {
  pthread_mutex_lock(&c->mu);
  kvWatcher *w = c->watcher;
  c->watcher = NULL;
  pthread_mutex_unlock(&c->mu);
  if (w != NULL)
    kvWatcher_Destroy(w);
  if (c->kv != NULL)
    kvStore_Destroy(c->kv);
  c->kv = NULL;
  ct_share_rejoin(&c->share);
  ct_warn("cluster: %s: setting up bucket %s and its watch again; this node joins again",
          why, c->bucket);
}

/* Connects, binds to (or creates) the bucket and starts the watch. NATS_OK or the failure. */
static natsStatus setup(ct_cluster_t *c) {
  natsStatus s = NATS_OK;
  if (c->nc == NULL) {
    s = natsConnection_Connect(&c->nc, c->opts);
    if (s != NATS_OK) {
      c->nc = NULL;
      nats_failed(c, "connecting to NATS", s);
      return s;
    }
  }
  if (c->js == NULL) {
    jsOptions jo;
    jsOptions_Init(&jo);
    /* A put that takes longer than half a heartbeat is as good as lost (share.h: the
     * margins count half a heartbeat for it). */
    jo.Wait = c->heartbeat_ms / 2 > 10 ? c->heartbeat_ms / 2 : 10;
    s = natsConnection_JetStream(&c->js, c->nc, &jo);
    if (s != NATS_OK) {
      c->js = NULL;
      nats_failed(c, "JetStream context", s);
      return s;
    }
  }
  if (c->kv == NULL) {
    s = js_KeyValue(&c->kv, c->js, c->bucket);
    if (s == NATS_NOT_FOUND) {
      kvConfig kc;
      kvConfig_Init(&kc);
      kc.Bucket = c->bucket;
      kc.Description = "carteiro: live nodes sharing provider rates";
      kc.History = 1;
      /* Keys of nodes gone silent disappear after EXPIRE beats; a node that joins later then
       * does not count them (counting them would only lower its share). In nanoseconds. */
      kc.TTL = bucket_ttl_ns(c);
      /* On file: a NATS server restarted keeps it (in memory it would be gone). */
      kc.StorageType = js_FileStorage;
      s = js_CreateKeyValue(&c->kv, c->js, &kc);
      if (s != NATS_OK) /* another node may have made it first, with other settings */
        s = js_KeyValue(&c->kv, c->js, c->bucket);
    }
    if (s != NATS_OK) {
      c->kv = NULL;
      nats_failed(c, "opening the KV bucket", s);
      return s;
    }
    s = check_bucket(c);
    if (s != NATS_OK) {
      kvStore_Destroy(c->kv);
      c->kv = NULL;
      return s;
    }
  }
  kvWatcher *w = NULL;
  s = kvStore_WatchAll(&w, c->kv, NULL);
  if (s != NATS_OK) {
    nats_failed(c, "watching the KV bucket", s);
    return s;
  }
  pthread_mutex_lock(&c->mu);
  c->watcher = w;
  pthread_mutex_unlock(&c->mu);
  c->setup_at_us = ct_mono_us();
  ct_info("cluster: node %s joined bucket %s on %s (heartbeat %" PRId64 " ms)", c->node_id,
          c->bucket, c->nats, c->heartbeat_ms);
  return NATS_OK;
}

/* Puts our key. NATS_OK or the failure. */
static natsStatus beat(ct_cluster_t *c, int64_t now_us) {
  char value[128];
  snprintf(value, sizeof value, "hb=%" PRId64 " nonce=%s sent=%" PRId64, c->heartbeat_ms,
           c->nonce, now_us);
  natsStatus s = kvStore_PutString(NULL, c->kv, c->node_id, value);
  if (s != NATS_OK)
    nats_failed(c, "putting this node's heartbeat", s);
  else
    c->announced = true;
  return s;
}

static void on_entry(ct_cluster_t *c, kvEntry *e, int64_t now_us) {
  const char *key = kvEntry_Key(e);
  kvOperation op = kvEntry_Operation(e);
  bool ours = strcmp(key, c->node_id) == 0;
  if (op == kvOp_Delete || op == kvOp_Purge) {
    if (!ours) {
      ct_share_peer_left(&c->share, key);
      ct_info("cluster: node %s left", key);
    }
    return;
  }
  char buf[128];
  int len = kvEntry_ValueLen(e);
  if (len < 0 || (size_t)len >= sizeof buf)
    len = 0;
  memcpy(buf, kvEntry_Value(e), (size_t)len);
  buf[len] = '\0';
  int64_t hb_ms = 0, sent = 0;
  char nonce[17] = "";
  if (sscanf(buf, "hb=%" SCNd64 " nonce=%16s sent=%" SCNd64, &hb_ms, nonce, &sent) != 3)
    hb_ms = 0; /* not one of ours: still a node, with our heartbeat */
  if (ours && strcmp(nonce, c->nonce) == 0) {
    ct_share_echo(&c->share, sent, now_us);
    return;
  }
  char id[CT_SHARE_ID];
  if (ours && c->share.fresh_at_us == 0) {
    /* Our id under another instance before our own first heartbeat came back: the key as
     * a previous process with this id left it (a restart with a fixed node id). A process
     * running now under our id puts it again after ours, and is counted then. */
    return;
  }
  if (ours) {
    /* Another process under our node id: count it, and say so. */
    snprintf(id, sizeof id, "%.100s+%s", key, nonce);
    ct_share_peer_t *known = NULL;
    for (size_t i = 0; i < c->share.n_peers && known == NULL; i++)
      if (strcmp(c->share.peers[i].id, id) == 0)
        known = &c->share.peers[i];
    if (known == NULL)
      ct_error("cluster: another process uses node id %s (instance %s); counting it as one more "
               "node. Give every node its own node_id.", key, nonce);
  } else {
    snprintf(id, sizeof id, "%s", key);
  }
  if (!ct_share_peer(&c->share, id, hb_ms * 1000, now_us) && !c->share.overflow_warned) {
    c->share.overflow_warned = true;
    ct_error("cluster: more than %d nodes in bucket %s: the others are not counted",
             CT_SHARE_MAX_PEERS, c->bucket);
  }
}

static void *run(void *arg) {
  ct_cluster_t *c = arg;
  int64_t beat_us = c->heartbeat_ms * 1000;
  int64_t tick_ms = c->heartbeat_ms / 4 < TICK_MAX_MS ? c->heartbeat_ms / 4 : TICK_MAX_MS;
  if (tick_ms < 1)
    tick_ms = 1;
  bool ready = false;
  while (!stopping(c)) {
    int64_t now = ct_mono_us();
    if (!ready) {
      ready = setup(c) == NATS_OK;
      if (!ready) {
        apply(c, ct_mono_us());
        nap(c, c->heartbeat_ms);
        continue;
      }
      c->next_beat_us = ct_mono_us();
    }
    now = ct_mono_us();
    if (now >= c->next_beat_us) {
      natsStatus bs = beat(c, now);
      c->next_beat_us += beat_us;
      if (c->next_beat_us <= now)
        c->next_beat_us = now + beat_us;
      if (bs == NATS_NO_RESPONDERS || bs == NATS_NOT_FOUND) {
        /* No stream behind the bucket's subjects: the server lost it. */
        teardown(c, "the bucket is gone");
        ready = false;
        apply(c, ct_mono_us());
        nap(c, tick_ms); /* never a busy loop of set-ups */
        continue;
      }
      now = ct_mono_us();
    }
    int64_t wait_ms = (c->next_beat_us - now) / 1000;
    if (wait_ms > tick_ms)
      wait_ms = tick_ms;
    if (wait_ms < 1)
      wait_ms = 1;
    kvEntry *e = NULL;
    natsStatus s = kvWatcher_Next(&e, c->watcher, wait_ms);
    now = ct_mono_us();
    if (s == NATS_OK && e != NULL) {
      on_entry(c, e, now);
      kvEntry_Destroy(e);
    } else if (s != NATS_OK && s != NATS_TIMEOUT && !stopping(c)) {
      nats_failed(c, "reading the KV watch", s);
      teardown(c, "the watch failed");
      ready = false;
      apply(c, now);
      nap(c, tick_ms);
      continue;
    }
    /* Nothing of ours back for a while since the last confirmation (or the set-up): the
     * watch may be dead with a server that came back without its consumer. */
    int64_t since = c->share.fresh_at_us > c->setup_at_us ? c->share.fresh_at_us
                                                          : c->setup_at_us;
    if (now - since > (int64_t)(CT_SHARE_STALE_BEATS + 2) * beat_us) {
      teardown(c, "no heartbeat of ours came back");
      ready = false;
    }
    apply(c, now);
  }
  return NULL;
}

/* Every URL of `nats` (comma-separated, blanks around them allowed) as the servers to try:
 * natsOptions_SetURL takes one URL only, and a list given to it connects to none. NATS_OK, or
 * NATS_INVALID_ARG when the list names none or more than it holds. */
#define MAX_SERVERS 32
static natsStatus set_servers(natsOptions *o, const char *nats) {
  char *copy = strdup(nats);
  if (copy == NULL)
    return NATS_NO_MEMORY;
  const char *servers[MAX_SERVERS];
  int n = 0;
  natsStatus s = NATS_OK;
  for (char *save = NULL, *u = strtok_r(copy, ", \t", &save); u != NULL;
       u = strtok_r(NULL, ", \t", &save)) {
    if (n == MAX_SERVERS) {
      s = NATS_INVALID_ARG;
      break;
    }
    servers[n++] = u;
  }
  if (s == NATS_OK)
    s = n > 0 ? natsOptions_SetServers(o, servers, n) : NATS_INVALID_ARG;
  free(copy); /* the options keep their own copies */
  return s;
}

static void default_node_id(char *out, size_t cap) {
  char host[64] = "";
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    snprintf(host, sizeof host, "node");
  for (char *p = host; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
      *p = '-';
  snprintf(out, cap, "%.48s-%ld", host, (long)getpid());
}

int ct_cluster_start(ct_cluster_t **out, const ct_cluster_options_t *o) {
  /* Before anything can fail: a node that has not joined sends nothing. */
  ct_accounts_set_share(o->accounts, 1, false, ct_mono_us());
  ct_cluster_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return CT_ENOMEM;
  c->nats = strdup(o->nats);
  if (c->nats == NULL)
    goto fail_alloc;
  if (o->node_id != NULL && o->node_id[0] != '\0')
    snprintf(c->node_id, sizeof c->node_id, "%s", o->node_id);
  else
    default_node_id(c->node_id, sizeof c->node_id);
  snprintf(c->bucket, sizeof c->bucket, "%s", o->bucket);
  c->heartbeat_ms = o->heartbeat_ms > 0 ? o->heartbeat_ms : 1000;
  c->accounts = o->accounts;
  uint64_t r = (uint64_t)ct_mono_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
  snprintf(c->nonce, sizeof c->nonce, "%016" PRIx64, (uint64_t)(r * 0x9e3779b97f4a7c15ULL));
  ct_share_init(&c->share, c->heartbeat_ms * 1000);

  if (natsOptions_Create(&c->opts) != NATS_OK)
    goto fail_alloc;
  char name[CT_SHARE_ID + 16];
  snprintf(name, sizeof name, "carteiro %s", c->node_id);
  if (set_servers(c->opts, c->nats) != NATS_OK ||
      natsOptions_SetName(c->opts, name) != NATS_OK ||
      natsOptions_SetTimeout(c->opts, c->heartbeat_ms > 2000 ? c->heartbeat_ms : 2000) !=
          NATS_OK ||
      natsOptions_SetMaxReconnect(c->opts, -1) != NATS_OK ||
      natsOptions_SetReconnectWait(c->opts, 250) != NATS_OK) {
    ct_error("cluster: bad NATS settings (nats = %s): %s", c->nats, nats_GetLastError(NULL));
    goto fail_opts;
  }
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cond, NULL);
  if (pthread_create(&c->thread, NULL, run, c) != 0) {
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    goto fail_opts;
  }
  *out = c;
  return 0;

fail_opts:
  natsOptions_Destroy(c->opts);
fail_alloc:
  free(c->nats);
  free(c);
  return CT_ENOMEM;
}

void ct_cluster_stop(ct_cluster_t *c) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->mu);
  c->stop = true;
  pthread_cond_broadcast(&c->cond);
  if (c->watcher != NULL)
    kvWatcher_Stop(c->watcher);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->thread, NULL);
  ct_accounts_set_share(c->accounts, 1, false, ct_mono_us());
  if (c->kv != NULL && c->announced) {
    natsStatus s = kvStore_Delete(c->kv, c->node_id);
    if (s != NATS_OK)
      ct_warn("cluster: could not delete key %s (%s); the others will stop counting this node "
              "when it expires", c->node_id, natsStatus_GetText(s));
    else
      ct_info("cluster: node %s left bucket %s", c->node_id, c->bucket);
  }
  if (c->watcher != NULL)
    kvWatcher_Destroy(c->watcher);
  if (c->kv != NULL)
    kvStore_Destroy(c->kv);
  if (c->js != NULL)
    jsCtx_Destroy(c->js);
  if (c->nc != NULL)
    natsConnection_Destroy(c->nc);
  natsOptions_Destroy(c->opts);
  pthread_cond_destroy(&c->cond);
  pthread_mutex_destroy(&c->mu);
  free(c->nats);
  free(c);
}
