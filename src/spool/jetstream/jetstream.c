/* The JetStream spool backend: the spool as a NATS JetStream cluster, for several nodes.
 *
 * WHERE THINGS LIVE (names with the default options; PREFIX = "carteiro")
 *
 *   CARTEIRO_JOBS      work-queue stream, subjects PREFIX.jobs.<tenant>: one message per READY
 *                      job, its payload the protobuf Job exactly as the SQLite spool stores it,
 *                      header Nats-Msg-Id = the job id. Acknowledging a message removes it.
 *   carteiro           the durable pull consumer on CARTEIRO_JOBS that every owner shares:
 *                      explicit ack, ack wait, max deliver, max ack pending.
 *   CARTEIRO_JOBS_STATE    KV bucket, key = job id (ct__js_key): the job record (attempts,
 *                      history, progress, due time) of a READY job that has been tried before.
 *   CARTEIRO_JOBS_RECEIPTS KV bucket with a TTL of the receipt retention, key = job id: the
 *                      record of a DELIVERED job (receipt, history and the job).
 *   CARTEIRO_DLQ       limits stream, subjects PREFIX.dlq.<tenant>.<reason>: one DeadLetter
 *                      (protobuf, as `carteiro dlq export` writes) per DEAD job, with headers
 *                      Ct-Job-Id, Ct-Tenant, Ct-Reason, Ct-Channel, Ct-Provider, Ct-Attempts,
 *                      Ct-Dead-At and, when parts were accepted, Ct-Progress (base64 Receipt).
 *                      A header whose value would be empty is left out. A message on the jobs
 *                      subjects that does not decode as a Job is kept here as it came
 *                      (payload its bytes, header Ct-Raw-Job: 1, reason "undecodable").
 *
 *   CARTEIRO_JOBS_EVENTS, CARTEIRO_JOBS_INBOUND and the consumer carteiro-events: webhook
 *                      events and inbound messages (their essay is in events.c).
 *
 * Open creates what is missing (replicas and windows from the options) and uses what exists
 * as it is. A job is in exactly one place: the jobs stream (READY, with a state record once
 * tried), the receipts bucket (DELIVERED) or the DLQ stream (DEAD).
 *
 * ENQUEUE
 *
 * Each job is published asynchronously with Nats-Msg-Id = its id, then every publish ack is
 * awaited: an ack means the stream leader stored it on a quorum of replicas (R3: two of
 * three), the JetStream counterpart of the SQLite commit's fsync. A batch of a thousand
 * publishes waits for its acks once, like a group commit. An ack with "duplicate" set means
 * the stream's duplicate window already holds that id: CT_EDUPLICATE. So idempotency holds
 * within the duplicate window (default 1 h; the server keeps each id in memory that long),
 * and additionally for an id whose job is still in the state or receipts bucket or the DLQ
 * only as far as those are checked: enqueue checks none of them (one round trip per job
 * would undo the batching). Producers may publish to PREFIX.jobs.<tenant> directly with any
 * NATS client and the same header.
 *
 * OWNERS AND LEASES
 *
 * "Owner" here means a consumer: any number of processes may open the spool as owner at the
 * same time, and the consumer hands each message to one of them; there is no lock and no
 * CT_EBUSY. A lease is the delivered message held in this process's lease map, keyed by its
 * stream sequence (the lease's seq). JetStream redelivers a message whose ack does not come
 * within the ack wait, so a process that dies loses nothing: its leases come back to the
 * others after ack wait. ct_spool_keepalive sends "in progress" for leases held longer than
 * a third of the ack wait, so a slow send is not redelivered while it runs.
 *
 * TAKE fetches up to `max` messages without waiting (the pool's free capacity is the fetch
 * size: backpressure). A message delivered before, or replayed, has its record read from the
 * state bucket; if the receipts bucket already holds the job (delivered, but the ack was
 * lost), it is acknowledged and not handed out. A job not yet due (not_before, or the due time
 * of its retry) is NAKed with the delay left. Order is the stream's (enqueue order), with
 * redeliveries coming back as their NAK delays end; priority is not honoured by this backend
 * (nothing here or in dispatch orders by it; see the README).
 *
 * Two kinds of delivery are never handed out; take moves them to the DLQ and Terms them:
 *   - a payload that does not decode as a Job: reason "undecodable", its bytes kept;
 *   - a job on the consumer's last delivery (NumDelivered >= MaxDeliver, read from the
 *     consumer): the server would not deliver it again whatever the answer, so a try that
 *     failed would leave it in the stream for ever. It dies with reason "max_deliveries" and
 *     the history of its state record. If the node dies before the dead letter is stored,
 *     the job does stay in the stream: the one case max_deliver cannot cover.
 *
 * SETTLE first makes the outcome durable, all publishes of a batch awaited together, and only
 * then answers the server:
 *   ACK      record (receipt, history, job) -> receipts bucket; state record deleted; Ack
 *   RETRY    record (attempts, history, progress, due) -> state bucket; NAK with delay due-now
 *   RELEASE  the same when there is something to record; NAK with delay
 *   DEAD     DeadLetter -> DLQ stream (msg id <id>#d<seq>); state record deleted; Term
 * If a publish fails nothing is answered and the leases stay, so the caller's retry writes
 * the same records again. An Ack that is lost on the way makes the server redeliver the job;
 * take then finds its receipt and acknowledges it without sending it again.
 *
 * DEAD LETTERS are read by walking the DLQ stream with direct gets. Replay writes a fresh
 * state record (attempts 0, failed channels forgotten, history and progress kept), publishes
 * the job again with msg id <id>#r<dlq seq> (the original id would fall in the duplicate
 * window; the DLQ sequence makes a replay that is retried after a failure idempotent) and
 * then deletes the dead letter. Purge deletes dead letters. job_get looks in the receipts
 * bucket, the DLQ, then the state bucket and the jobs stream (a walk: it is an operator
 * command). Receipts expire by the bucket's TTL, so expire does nothing.
 */
#include "spool/jetstream/jetstream_int.h"

#include "common/base64.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_MAX_ CT__JS_NAME_MAX
#define KEY_MAX 512
/* How long one publish ack (or API call) is waited for. */
#define API_WAIT_MS 10000
/* Open's requests about a stream, the consumer or a bucket: how long one waits for its
 * answer, how soon an unanswered one is made again, and until when (see ensure). */
#define ASK_WAIT_MS 1000
#define LOOK_AGAIN_MS 100
#define OPEN_WAIT_MS API_WAIT_MS
/* How long a take waits when no message is there. */
#define FETCH_WAIT_MS 50
/* Publishes in flight before js_PublishMsgAsync waits. */
#define MAX_PENDING_PUBS 4096

typedef struct {
  uint64_t seq; /* stream sequence; 0 = empty */
  natsMsg *msg; /* the delivery, answered at settle */
  uint8_t *rec; /* the encoded state record read at take, or NULL */
  size_t rec_len;
  int64_t touched_ms; /* delivered or last kept alive */
  bool marked;        /* being settled by the current batch */
} lease_t;

/* An async publish in flight: the message (its address) and the result slot it answers. */
typedef struct {
  natsMsg *msg;
  size_t idx;
  bool live;
} pub_t;

struct ct__spool_backend {
  natsConnection *nc;
  jsCtx *js;
  jsCtx *js_ask; /* the same with ASK_WAIT_MS, for open's requests */
  natsSubscription *sub; /* owner only */
  kvStore *state_kv;
  kvStore *receipts_kv;
  char stream[NAME_MAX_], dlq[NAME_MAX_], consumer[NAME_MAX_], prefix[NAME_MAX_];
  char state_bucket[NAME_MAX_ + 8], receipts_bucket[NAME_MAX_ + 16];
  int replicas;
  int64_t ack_wait_ms, max_deliver, max_ack_pending, dup_window_ms, retention_ms;
  bool owner, readonly;

  lease_t *leases; /* open addressing, linear probing, backward-shift deletion */
  size_t lcap, ln;

  pthread_mutex_t mu; /* guards what the publish ack handler touches */
  pthread_cond_t cond;
  pub_t *pubs;
  size_t pcap;
  size_t sent, done;
  int *results;
  uint64_t *seqs; /* stream sequence of each acked publish, or NULL */

  ct__spool_buf_t buf, buf2;
  ct__js_events_t *events; /* webhook events (events.c) */
};

/* Errors */

static int from_nats(natsStatus s) {
  switch (s) {
  case NATS_OK:
    return 0;
  case NATS_NO_MEMORY:
    return CT_ENOMEM;
  case NATS_NOT_FOUND:
    return CT_ENOTFOUND;
  default:
    return CT_EIO;
  }
}

static int nats_fail(const char *what, natsStatus s) {
  const char *text = nats_GetLastError(NULL);
  ct_warn("spool: jetstream %s: %s%s%s", what, natsStatus_GetText(s), text ? ": " : "",
          text ? text : "");
  return from_nats(s);
}

/* Leases */

static size_t lslot(const ct__spool_backend_t *be, uint64_t seq) {
  return (size_t)((seq * 0x9E3779B97F4A7C15ull) >> 17) & (be->lcap - 1);
}

static lease_t *lease_find(ct__spool_backend_t *be, uint64_t seq) {
  if (be->lcap == 0)
    return NULL;
  for (size_t i = lslot(be, seq);; i = (i + 1) & (be->lcap - 1)) {
    if (be->leases[i].seq == seq)
      return &be->leases[i];
    if (be->leases[i].seq == 0)
      return NULL;
  }
}

static int lease_add(ct__spool_backend_t *be, const lease_t *l) {
  if ((be->ln + 1) * 2 > be->lcap) {
    size_t cap = be->lcap ? be->lcap * 2 : 256;
    lease_t *n = calloc(cap, sizeof *n);
    if (n == NULL)
      return CT_ENOMEM;
    lease_t *old = be->leases;
    size_t ocap = be->lcap;
    be->leases = n;
    be->lcap = cap;
    for (size_t i = 0; i < ocap; i++) {
      if (old[i].seq == 0)
        continue;
      size_t j = lslot(be, old[i].seq);
      while (n[j].seq != 0)
        j = (j + 1) & (cap - 1);
      n[j] = old[i];
    }
    free(old);
  }
  size_t j = lslot(be, l->seq);
  while (be->leases[j].seq != 0)
    j = (j + 1) & (be->lcap - 1);
  be->leases[j] = *l;
  be->ln++;
  return 0;
}

/* Removes the lease (its message and record must already be released). */
static void lease_remove(ct__spool_backend_t *be, lease_t *l) {
  size_t mask = be->lcap - 1;
  size_t i = (size_t)(l - be->leases);
  be->leases[i].seq = 0;
  for (size_t j = (i + 1) & mask; be->leases[j].seq != 0; j = (j + 1) & mask) {
    size_t home = lslot(be, be->leases[j].seq);
    /* Move j into the hole at i when its home does not lie in (i, j]. */
    if (((j - home) & mask) >= ((j - i) & mask)) {
      be->leases[i] = be->leases[j];
      be->leases[j].seq = 0;
      i = j;
    }
  }
  be->ln--;
}

static void lease_release(lease_t *l) {
  natsMsg_Destroy(l->msg);
  free(l->rec);
  l->msg = NULL;
  l->rec = NULL;
}

/* Asynchronous publishes: a batch publishes many messages, then waits for all their acks. */

static size_t pslot(const ct__spool_backend_t *be, const natsMsg *m) {
  return (size_t)(((uintptr_t)m >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (be->pcap - 1);
}

static void on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
  (void)js;
  ct__spool_backend_t *be = closure;
  pthread_mutex_lock(&be->mu);
  if (be->pcap > 0) {
    for (size_t i = pslot(be, msg); be->pubs[i].msg != NULL; i = (i + 1) & (be->pcap - 1)) {
      pub_t *p = &be->pubs[i];
      if (p->msg != msg || !p->live)
        continue;
      p->live = false;
      int rc;
      if (pa != NULL)
        rc = pa->Duplicate ? CT_EDUPLICATE : 0;
      else if (pae != NULL && (pae->ErrCode == JSStorageResourcesExceededErr))
        rc = CT_ENOSPC;
      else if (pae != NULL && pae->ErrCode == JSStreamWrongLastSequenceErr)
        rc = CT_EDUPLICATE; /* a create-only publish (events.c) whose subject exists */
      else
        rc = CT_EIO;
      if (rc == CT_EIO && pae != NULL)
        ct_warn("spool: jetstream publish to %s failed: %s (%d)", natsMsg_GetSubject(msg),
                pae->ErrText != NULL ? pae->ErrText : natsStatus_GetText(pae->Err),
                (int)pae->ErrCode);
      be->results[p->idx] = rc;
      if (be->seqs != NULL && pa != NULL)
        be->seqs[p->idx] = pa->Sequence;
      be->done++;
      pthread_cond_broadcast(&be->cond);
      break;
    }
  }
  pthread_mutex_unlock(&be->mu);
  natsMsg_Destroy(msg);
}

/* Starts a batch of at most n publishes; results[i] (and seqs[i] when not NULL) answer
 * publish i. */
static int batch_begin(ct__spool_backend_t *be, size_t n, int *results, uint64_t *seqs) {
  size_t cap = 16;
  while (cap < n * 2)
    cap *= 2;
  pthread_mutex_lock(&be->mu);
  if (cap > be->pcap) {
    pub_t *p = realloc(be->pubs, cap * sizeof *p);
    if (p == NULL) {
      pthread_mutex_unlock(&be->mu);
      return CT_ENOMEM;
    }
    be->pubs = p;
    be->pcap = cap;
  }
  memset(be->pubs, 0, be->pcap * sizeof *be->pubs);
  be->sent = be->done = 0;
  be->results = results;
  be->seqs = seqs;
  pthread_mutex_unlock(&be->mu);
  return 0;
}

/* Publishes *m (taking it) as publish `idx` of the batch. */
static int batch_publish(ct__spool_backend_t *be, natsMsg **m, size_t idx, const char *msg_id) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = API_WAIT_MS;
  po.MsgId = msg_id;
  pthread_mutex_lock(&be->mu);
  size_t i = pslot(be, *m);
  while (be->pubs[i].msg != NULL)
    i = (i + 1) & (be->pcap - 1);
  be->pubs[i] = (pub_t){.msg = *m, .idx = idx, .live = true};
  be->results[idx] = CT_EIO;
  be->sent++;
  pthread_mutex_unlock(&be->mu);
  natsStatus s = js_PublishMsgAsync(be->js, m, &po);
  if (s != NATS_OK) {
    pthread_mutex_lock(&be->mu);
    be->pubs[i].live = false;
    be->sent--;
    pthread_mutex_unlock(&be->mu);
    natsMsg_Destroy(*m);
    *m = NULL;
    return nats_fail("publish", s);
  }
  return 0;
}

/* Waits for every ack of the batch. Returns 0 when all came (each result says how it went),
 * CT_EIO when some did not come in time (their results stay CT_EIO). */
static int batch_wait(ct__spool_backend_t *be) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += API_WAIT_MS / 1000 + 5;
  int rc = 0;
  pthread_mutex_lock(&be->mu);
  while (be->done < be->sent) {
    if (pthread_cond_timedwait(&be->cond, &be->mu, &dl) != 0) {
      rc = CT_EIO;
      break;
    }
  }
  pthread_mutex_unlock(&be->mu);
  if (rc != 0) {
    natsMsgList pending = {0};
    if (js_PublishAsyncGetPendingList(&pending, be->js) == NATS_OK)
      natsMsgList_Destroy(&pending);
    ct_warn("spool: jetstream publish acks did not all come within %d s", API_WAIT_MS / 1000 + 5);
  }
  pthread_mutex_lock(&be->mu);
  be->results = NULL;
  be->seqs = NULL;
  be->pcap = be->pcap; /* the table is reset by the next batch_begin */
  for (size_t i = 0; i < be->pcap; i++)
    be->pubs[i].live = false;
  pthread_mutex_unlock(&be->mu);
  return rc;
}

static int new_msg(natsMsg **m, const char *subject, const void *data, size_t len) {
  natsStatus s = natsMsg_Create(m, subject, NULL, (const char *)data, (int)len);
  return s == NATS_OK ? 0 : nats_fail("message", s);
}

static void subject_for(const ct__spool_backend_t *be, char *out, size_t cap, const char *kind,
                        const char *tenant) {
  snprintf(out, cap, "%s.%s.%s", be->prefix, kind, tenant[0] ? tenant : "_");
}

/* A KV write as a plain publish: what kvStore_Put and kvStore_Delete send. */
static int kv_publish(ct__spool_backend_t *be, const char *bucket, const char *id, size_t idx,
                      const void *data, size_t len, bool del) {
  char key[KEY_MAX], subject[KEY_MAX + 2 * NAME_MAX_];
  int rc = ct__js_key(id, key, sizeof key);
  if (rc != 0)
    return rc;
  snprintf(subject, sizeof subject, "$KV.%s.%s", bucket, key);
  natsMsg *m;
  rc = new_msg(&m, subject, del ? NULL : data, del ? 0 : len);
  if (rc != 0)
    return rc;
  if (del)
    natsMsgHeader_Set(m, "KV-Operation", "DEL");
  return batch_publish(be, &m, idx, NULL);
}

/* Reads a KV value: 0 with a malloc'd copy, CT_ENOTFOUND, or an error. */
static int kv_get(ct__spool_backend_t *be, kvStore *kv, const char *id, uint8_t **out,
                  size_t *len) {
  char key[KEY_MAX];
  int rc = ct__js_key(id, key, sizeof key);
  if (rc != 0)
    return CT_ENOTFOUND;
  kvEntry *e = NULL;
  natsStatus s = kvStore_Get(&e, kv, key);
  if (s == NATS_NOT_FOUND)
    return CT_ENOTFOUND;
  if (s != NATS_OK)
    return nats_fail("kv get", s);
  int n = kvEntry_ValueLen(e);
  uint8_t *copy = malloc(n > 0 ? (size_t)n : 1);
  if (copy == NULL) {
    kvEntry_Destroy(e);
    return CT_ENOMEM;
  }
  if (n > 0)
    memcpy(copy, kvEntry_Value(e), (size_t)n);
  kvEntry_Destroy(e);
  *out = copy;
  *len = (size_t)n;
  (void)be;
  return 0;
}

/* Open: connect, then find or create the streams, the consumer and the buckets.
 *
 * Several nodes opening a new spool together look for and create the same things at the same
 * moment. While a replicated stream or consumer is being set up, nats-server 2.9 can leave a
 * request about it (its info, or a second create) unanswered (nats-io/nats-server#3677),
 * though the same request made again a moment later is answered at once: a node was seen
 * waiting out the whole API wait, ten seconds, for the consumer's info, starting that much
 * after the others with its share of the rate unused. So open asks with a wait of
 * ASK_WAIT_MS and asks again, every LOOK_AGAIN_MS until OPEN_WAIT_MS, after a request left
 * unanswered or a create refused because the thing exists (another node made it meanwhile).
 * Any other refusal is reported at once. */

typedef natsStatus (*find_fn)(ct__spool_backend_t *be, void *arg);
typedef natsStatus (*create_fn)(ct__spool_backend_t *be, void *arg, jsErrCode *jerr);

static int ensure(ct__spool_backend_t *be, const char *what, find_fn find, create_fn create,
                  void *arg) {
  int64_t until = ct_mono_ms() + OPEN_WAIT_MS;
  int unanswered = 0;
  for (;;) {
    natsStatus s = find(be, arg);
    if (s == NATS_OK)
      break;
    if (s == NATS_NOT_FOUND) {
      if (create == NULL)
        return nats_fail(what, s);
      if (be->readonly)
        return CT_ENOENT;
      jsErrCode jerr = 0;
      s = create(be, arg, &jerr);
      if (s == NATS_OK)
        break;
      bool exists = jerr == JSStreamNameExistErr || jerr == JSConsumerNameExistErr ||
                    jerr == JSConsumerExistingActiveErr;
      if (s != NATS_TIMEOUT && !exists)
        return nats_fail(what, s);
    } else if (s != NATS_TIMEOUT) {
      return nats_fail(what, s);
    }
    if (s == NATS_TIMEOUT)
      unanswered++;
    if (ct_mono_ms() >= until)
      return nats_fail(what, s);
    nats_Sleep(LOOK_AGAIN_MS);
  }
  if (unanswered > 0)
    ct_info("spool: %s ready after %d request(s) left unanswered", what, unanswered);
  return 0;
}

typedef struct {
  const char *name, *subjects;
  bool workqueue;
} stream_arg_t;

static natsStatus find_stream(ct__spool_backend_t *be, void *arg) {
  const stream_arg_t *a = arg;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetStreamInfo(&si, be->js_ask, a->name, NULL, &jerr);
  if (si != NULL)
    jsStreamInfo_Destroy(si);
  return s != NATS_OK && jerr == JSStreamNotFoundErr ? NATS_NOT_FOUND : s;
}

static natsStatus create_stream(ct__spool_backend_t *be, void *arg, jsErrCode *jerr) {
  const stream_arg_t *a = arg;
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = a->name;
  const char *subj[1] = {a->subjects};
  cfg.Subjects = subj;
  cfg.SubjectsLen = 1;
  cfg.Retention = a->workqueue ? js_WorkQueuePolicy : js_LimitsPolicy;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = be->replicas;
  cfg.Duplicates = be->dup_window_ms * 1000000;
  cfg.AllowDirect = true;
  jsStreamInfo *si = NULL;
  natsStatus s = js_AddStream(&si, be->js_ask, &cfg, NULL, jerr);
  if (si != NULL)
    jsStreamInfo_Destroy(si);
  if (s == NATS_OK)
    ct_info("spool: created stream %s (%s, replicas %d)", a->name, a->subjects, be->replicas);
  return s;
}

static int ensure_stream(ct__spool_backend_t *be, const char *name, const char *subjects,
                         bool workqueue) {
  stream_arg_t a = {name, subjects, workqueue};
  char what[NAME_MAX_ + 16];
  snprintf(what, sizeof what, "stream %s", name);
  return ensure(be, what, find_stream, create_stream, &a);
}

static natsStatus find_consumer(ct__spool_backend_t *be, void *arg) {
  (void)arg;
  jsConsumerInfo *ci = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetConsumerInfo(&ci, be->js_ask, be->stream, be->consumer, NULL, &jerr);
  /* The consumer's own limit is the one the server applies, whatever this process's
   * options say: take dead-letters a job on its last delivery by it. */
  if (s == NATS_OK && ci != NULL && ci->Config != NULL)
    be->max_deliver = ci->Config->MaxDeliver;
  if (ci != NULL)
    jsConsumerInfo_Destroy(ci);
  return s != NATS_OK && jerr == JSConsumerNotFoundErr ? NATS_NOT_FOUND : s;
}

static natsStatus create_consumer(ct__spool_backend_t *be, void *arg, jsErrCode *jerr) {
  (void)arg;
  char filter[NAME_MAX_ + 16];
  snprintf(filter, sizeof filter, "%s.jobs.>", be->prefix);
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = be->consumer;
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = be->ack_wait_ms * 1000000;
  cc.MaxDeliver = be->max_deliver;
  cc.MaxAckPending = be->max_ack_pending;
  cc.FilterSubject = filter;
  cc.DeliverPolicy = js_DeliverAll;
  jsConsumerInfo *ci = NULL;
  natsStatus s = js_AddConsumer(&ci, be->js_ask, be->stream, &cc, NULL, jerr);
  if (ci != NULL)
    jsConsumerInfo_Destroy(ci);
  if (s == NATS_OK)
    ct_info("spool: created consumer %s on %s (ack wait %lld ms)", be->consumer, be->stream,
            (long long)be->ack_wait_ms);
  return s;
}

static int ensure_consumer(ct__spool_backend_t *be) {
  char what[NAME_MAX_ + 16];
  snprintf(what, sizeof what, "consumer %s", be->consumer);
  return ensure(be, what, find_consumer, create_consumer, NULL);
}

/* Binding to the consumer looks it up again: asked like the rest (the subscription keeps the
 * normal context; the options given here serve the lookup only). */
static natsStatus pull_subscribe(ct__spool_backend_t *be, void *arg) {
  (void)arg;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = ASK_WAIT_MS;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = be->stream;
  so.Consumer = be->consumer;
  char subj[NAME_MAX_ + 16];
  snprintf(subj, sizeof subj, "%s.jobs.>", be->prefix);
  jsErrCode jerr = 0;
  return js_PullSubscribe(&be->sub, be->js, subj, be->consumer, &jo, &so, &jerr);
}

typedef struct {
  kvStore **out;
  const char *bucket;
  int64_t ttl_ms;
} bucket_arg_t;

/* A bucket is the stream KV_<bucket>: it is looked for as a stream with the short wait, then
 * opened on the normal context (a store keeps the context it was opened on). Only a bucket
 * that is not there is "missing": a read-only command must not report an existing spool
 * absent because the cluster was electing a leader. */
static natsStatus find_bucket(ct__spool_backend_t *be, void *arg) {
  const bucket_arg_t *a = arg;
  char stream[NAME_MAX_ + 40];
  snprintf(stream, sizeof stream, "KV_%s", a->bucket);
  stream_arg_t sa = {.name = stream};
  natsStatus s = find_stream(be, &sa);
  return s == NATS_OK ? js_KeyValue(a->out, be->js, a->bucket) : s;
}

static natsStatus create_bucket(ct__spool_backend_t *be, void *arg, jsErrCode *jerr) {
  const bucket_arg_t *a = arg;
  (void)jerr; /* the KV API gives none */
  kvConfig kc;
  kvConfig_Init(&kc);
  kc.Bucket = a->bucket;
  kc.History = 1;
  kc.TTL = a->ttl_ms * 1000000; /* nanoseconds, whatever the name says */
  kc.Replicas = be->replicas;
  kc.StorageType = js_FileStorage;
  kvStore *made = NULL;
  natsStatus s = js_CreateKeyValue(&made, be->js_ask, &kc);
  if (made != NULL)
    kvStore_Destroy(made);
  return s == NATS_OK ? js_KeyValue(a->out, be->js, a->bucket) : s;
}

static int ensure_kv(ct__spool_backend_t *be, kvStore **out, const char *bucket, int64_t ttl_ms) {
  bucket_arg_t a = {out, bucket, ttl_ms};
  char what[NAME_MAX_ + 32];
  snprintf(what, sizeof what, "bucket %s", bucket);
  return ensure(be, what, find_bucket, create_bucket, &a);
}

static int connect_servers(ct__spool_backend_t *be, ct__js_conf_t *c) {
  natsOptions *no = NULL;
  const char *servers[32];
  int n = 0;
  for (char *save = NULL, *u = strtok_r(c->servers, ",", &save); u != NULL && n < 32;
       u = strtok_r(NULL, ",", &save))
    servers[n++] = u;
  if (n == 0)
    return CT_EINVAL;
  natsStatus s = natsOptions_Create(&no);
  if (s == NATS_OK)
    s = natsOptions_SetServers(no, servers, n);
  if (s == NATS_OK)
    s = natsOptions_SetName(no, "carteiro");
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect(no, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait(no, 250);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectBufSize(no, 64 * 1024 * 1024);
  if (s == NATS_OK && c->creds[0] != '\0')
    s = natsOptions_SetUserCredentialsFromFiles(no, c->creds, NULL);
  if (s == NATS_OK && (c->ca[0] != '\0' || strncmp(servers[0], "tls://", 6) == 0))
    s = natsOptions_SetSecure(no, true);
  if (s == NATS_OK && c->ca[0] != '\0')
    s = natsOptions_LoadCATrustedCertificates(no, c->ca);
  if (s == NATS_OK && c->cert[0] != '\0')
    s = natsOptions_LoadCertificatesChain(no, c->cert, c->key);
  if (s != NATS_OK) {
    natsOptions_Destroy(no);
    return nats_fail("options", s);
  }
  s = natsConnection_Connect(&be->nc, no);
  natsOptions_Destroy(no);
  if (s != NATS_OK) {
    nats_fail("connect", s);
    return s == NATS_NO_SERVER ? CT_ENOENT : CT_EIO;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = API_WAIT_MS;
  jo.PublishAsync.MaxPending = MAX_PENDING_PUBS;
  jo.PublishAsync.AckHandler = on_pub_ack;
  jo.PublishAsync.AckHandlerClosure = be;
  jo.PublishAsync.StallWait = API_WAIT_MS;
  s = natsConnection_JetStream(&be->js, be->nc, &jo);
  if (s == NATS_OK) {
    jsOptions_Init(&jo);
    jo.Wait = ASK_WAIT_MS;
    s = natsConnection_JetStream(&be->js_ask, be->nc, &jo);
  }
  if (s != NATS_OK)
    return nats_fail("jetstream context", s);
  return 0;
}

static void js_close(ct__spool_backend_t *be);

static int js_open(ct__spool_backend_t **out, const ct_spool_options_t *opts) {
  ct__js_conf_t c;
  char err[256];
  int rc = ct__js_conf_make(opts, &c, err, sizeof err);
  if (rc != 0) {
    ct_error("spool: jetstream location: %s", err);
    return rc;
  }
  ct__spool_backend_t *be = calloc(1, sizeof *be);
  if (be == NULL)
    return CT_ENOMEM;
  pthread_mutex_init(&be->mu, NULL);
  pthread_cond_init(&be->cond, NULL);
  snprintf(be->stream, sizeof be->stream, "%s", c.stream);
  snprintf(be->dlq, sizeof be->dlq, "%s", c.dlq);
  snprintf(be->consumer, sizeof be->consumer, "%s", c.consumer);
  snprintf(be->prefix, sizeof be->prefix, "%s", c.prefix);
  snprintf(be->state_bucket, sizeof be->state_bucket, "%s_STATE", c.stream);
  snprintf(be->receipts_bucket, sizeof be->receipts_bucket, "%s_RECEIPTS", c.stream);
  be->replicas = c.replicas;
  be->ack_wait_ms = c.ack_wait_ms;
  be->max_deliver = c.max_deliver;
  be->max_ack_pending = c.max_ack_pending;
  be->dup_window_ms = c.dup_window_ms;
  be->retention_ms = opts->receipt_retention_ms;
  be->owner = opts->owner;
  be->readonly = opts->readonly;

  rc = connect_servers(be, &c);
  char subj[NAME_MAX_ + 16];
  if (rc == 0) {
    snprintf(subj, sizeof subj, "%s.jobs.>", be->prefix);
    rc = ensure_stream(be, be->stream, subj, true);
  }
  if (rc == 0) {
    snprintf(subj, sizeof subj, "%s.dlq.>", be->prefix);
    rc = ensure_stream(be, be->dlq, subj, false);
  }
  if (rc == 0)
    rc = ensure_kv(be, &be->state_kv, be->state_bucket, 0);
  if (rc == 0)
    rc = ensure_kv(be, &be->receipts_kv, be->receipts_bucket, be->retention_ms);
  if (rc == 0 && be->owner)
    rc = ensure_consumer(be);
  if (rc == 0 && be->owner)
    rc = ensure(be, "pull subscription", pull_subscribe, NULL, NULL);
  if (rc == 0)
    rc = ct__js_events_open(be, opts, &be->events);
  if (rc != 0) {
    js_close(be);
    return rc;
  }
  *out = be;
  return 0;
}

static void js_close(ct__spool_backend_t *be) {
  ct__js_events_close(be->events);
  for (size_t i = 0; i < be->lcap; i++)
    if (be->leases[i].seq != 0)
      lease_release(&be->leases[i]);
  free(be->leases);
  /* The connection closes first, then what hangs on it is destroyed. The durable consumer
   * stays on the server; leases not settled come back to the other owners after ack wait. */
  if (be->nc != NULL) {
    if (be->js != NULL) {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = API_WAIT_MS;
      js_PublishAsyncComplete(be->js, &po);
    }
    natsConnection_Close(be->nc);
  }
  if (be->sub != NULL)
    natsSubscription_Destroy(be->sub);
  kvStore_Destroy(be->state_kv);
  kvStore_Destroy(be->receipts_kv);
  jsCtx_Destroy(be->js_ask);
  jsCtx_Destroy(be->js);
  natsConnection_Destroy(be->nc);
  free(be->pubs);
  ct__spool_buf_free(&be->buf);
  ct__spool_buf_free(&be->buf2);
  pthread_cond_destroy(&be->cond);
  pthread_mutex_destroy(&be->mu);
  free(be);
}

/* Enqueue */

static int js_enqueue(ct__spool_backend_t *be, ct_job_t *const *jobs, size_t n, int64_t now_ms,
                      int *results) {
  (void)now_ms;
  int *res = malloc(n * sizeof *res);
  if (res == NULL)
    return CT_ENOMEM;
  int rc = batch_begin(be, n, res, NULL);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    /* A duplicate within the batch never reaches the server. */
    bool dup = false;
    for (size_t j = 0; j < i && !dup; j++)
      dup = strcmp(jobs[j]->id, jobs[i]->id) == 0;
    if (dup) {
      res[i] = CT_EDUPLICATE;
      continue;
    }
    uint8_t *body;
    size_t len;
    rc = ct_job_encode_pb(jobs[i], &body, &len);
    if (rc != 0)
      break;
    char subject[NAME_MAX_ + 96];
    subject_for(be, subject, sizeof subject, "jobs", jobs[i]->tenant);
    natsMsg *m;
    rc = new_msg(&m, subject, body, len);
    free(body);
    if (rc == 0)
      rc = batch_publish(be, &m, i, jobs[i]->id);
  }
  int wrc = batch_wait(be);
  if (rc == 0)
    rc = wrc;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (res[i] != 0 && res[i] != CT_EDUPLICATE)
      rc = res[i];
  }
  if (rc == 0)
    memcpy(results, res, n * sizeof *res);
  free(res);
  return rc;
}

/* Take */

/* Answers a delivery that is not handed out and forgets it. */
static void drop(natsMsg *m, int how, int64_t delay_ms) {
  if (how == 0)
    natsMsg_Ack(m, NULL);
  else if (how == 1)
    natsMsg_NakWithDelay(m, delay_ms, NULL);
  else
    natsMsg_Term(m, NULL);
  natsMsg_Destroy(m);
}

/* Dead letters made by take, for deliveries that are never handed out. */

static int settle_write(ct__spool_backend_t *be, lease_t *l, const ct_settle_t *op,
                        int64_t now_ms, size_t idx, size_t *used);

/* The tenant of a message on PREFIX.jobs.<tenant>, as a subject token. */
static void subject_tenant(const ct__spool_backend_t *be, natsMsg *m, char *out, size_t cap) {
  const char *subj = natsMsg_GetSubject(m);
  size_t pl = strlen(be->prefix);
  const char *t = "";
  if (subj != NULL && strncmp(subj, be->prefix, pl) == 0 && strncmp(subj + pl, ".jobs.", 6) == 0)
    t = subj + pl + 6;
  ct__js_token(t, out, cap);
}

/* Publishes a delivery whose payload does not decode as a job to the DLQ, reason
 * "undecodable": the payload kept byte for byte (marked by the header Ct-Raw-Job, so it is
 * never read as a DeadLetter), the id from its Nats-Msg-Id (or "seq-<stream seq>" without
 * one) and the tenant from its subject. */
static int publish_undecodable(ct__spool_backend_t *be, natsMsg *src, uint64_t seq, size_t idx,
                               int64_t now_ms) {
  char tenant[96], subject[NAME_MAX_ + 256], id[KEY_MAX], msg_id[KEY_MAX + 32];
  subject_tenant(be, src, tenant, sizeof tenant);
  const char *mid = NULL;
  if (natsMsgHeader_Get(src, "Nats-Msg-Id", &mid) == NATS_OK && mid != NULL && mid[0] != '\0')
    snprintf(id, sizeof id, "%s", mid);
  else
    snprintf(id, sizeof id, "seq-%" PRIu64, seq);
  snprintf(subject, sizeof subject, "%s.dlq.%s.undecodable", be->prefix, tenant);
  natsMsg *m = NULL;
  int rc = new_msg(&m, subject, natsMsg_GetData(src), (size_t)natsMsg_GetDataLength(src));
  if (rc != 0)
    return rc;
  ct__js_dead_t d = {.job_id = id, .tenant = tenant, .reason = "undecodable",
                     .dead_at_ms = now_ms, .raw = true};
  rc = ct__js_dead_headers(m, &d);
  if (rc != 0) {
    natsMsg_Destroy(m);
    return rc;
  }
  snprintf(msg_id, sizeof msg_id, "%s#d%" PRIu64, id, seq);
  return batch_publish(be, &m, idx, msg_id);
}

/* Moves a delivery that take does not hand out to the DLQ, then terminates it: a job on its
 * last delivery (`reason` "max_deliveries": a DeadLetter with its history from the state
 * record `rec`, which is taken, and that record deleted), or a payload that is not a job
 * (`reason` NULL: kept raw, see publish_undecodable). The message is destroyed either way.
 * When the dead letter is not stored the message is left unanswered: the server delivers it
 * again after the ack wait, except on its last delivery (see the essay). */
static int dead_on_take(ct__spool_backend_t *be, natsMsg *m, uint64_t seq, uint8_t *rec,
                        size_t rec_len, const char *reason, int64_t now_ms) {
  int res[2] = {0, 0};
  size_t used = 0;
  int rc = batch_begin(be, 2, res, NULL);
  if (rc == 0 && reason == NULL) {
    rc = publish_undecodable(be, m, seq, 0, now_ms);
    used = rc == 0 ? 1 : 0;
  } else if (rc == 0) {
    lease_t l = {.seq = seq, .msg = m, .rec = rec, .rec_len = rec_len};
    ct_settle_t op = {.seq = (int64_t)seq, .kind = CT_SETTLE_DEAD, .reason = reason};
    rc = settle_write(be, &l, &op, now_ms, 0, &used);
  }
  int wrc = rc == 0 ? batch_wait(be) : 0;
  if (rc == 0)
    rc = wrc;
  for (size_t i = 0; rc == 0 && i < used; i++)
    if (res[i] != 0 && res[i] != CT_EDUPLICATE)
      rc = res[i];
  if (rc == 0)
    natsMsg_Term(m, NULL);
  natsMsg_Destroy(m);
  free(rec);
  return rc;
}

static int js_take(ct__spool_backend_t *be, int64_t now_ms, size_t max, ct_lease_t *out,
                   size_t *n) {
  /* natsSubscription_Fetch first asks without waiting and returns what is there; only when
   * nothing is there does it wait, for at most FETCH_WAIT_MS. (A bare no-wait request is
   * answered "no messages" by nats-server 2.9 whenever other requests of the consumer are
   * pending, with several owners nearly always.) The spooler thread is held that long at most;
   * the pool polls again when nothing came. */
  natsMsgList list = {0};
  natsStatus s = natsSubscription_Fetch(&list, be->sub, max > 100000 ? 100000 : (int)max,
                                        FETCH_WAIT_MS, NULL);
  ct_debug("spool: fetch of %zu: %s, %d messages", max, natsStatus_GetText(s), list.Count);
  if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) {
    *n = 0;
    return 0;
  }
  if (s != NATS_OK)
    return nats_fail("fetch", s);
  size_t got = 0;
  int rc = 0;
  for (int i = 0; i < list.Count; i++) {
    natsMsg *m = list.Msgs[i];
    list.Msgs[i] = NULL;
    if (rc != 0) {
      natsMsg_Nak(m, NULL);
      natsMsg_Destroy(m);
      continue;
    }
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
      natsMsg_Destroy(m);
      continue;
    }
    uint64_t seq = meta->Sequence.Stream;
    uint64_t delivered = meta->NumDelivered;
    int64_t stored_ms = meta->Timestamp / 1000000;
    jsMsgMetaData_Destroy(meta);

    lease_t *held = lease_find(be, seq);
    if (held != NULL) {
      /* Redelivered while still ours (the keep-alive came too late): answer the newer
       * delivery later, do not hand the job out twice. */
      natsMsg_Destroy(held->msg);
      held->msg = m;
      held->touched_ms = now_ms;
      continue;
    }
    const char *id = NULL;
    natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
    ct_job_t *job = NULL;
    char err[128];
    int drc = ct_job_decode_pb((const uint8_t *)natsMsg_GetData(m),
                               (size_t)natsMsg_GetDataLength(m), &job, err, sizeof err);
    if (drc != 0) {
      int d = dead_on_take(be, m, seq, NULL, 0, NULL, now_ms);
      if (d == 0)
        ct_error("spool: jetstream message seq=%" PRIu64
                 " does not decode (%s); moved to the DLQ with reason undecodable",
                 seq, err);
      else
        ct_error("spool: jetstream message seq=%" PRIu64
                 " does not decode (%s) and could not be dead-lettered: %s",
                 seq, err, ct_strerror(d));
      continue;
    }
    uint8_t *rec_bytes = NULL;
    size_t rec_len = 0;
    ct__js_rec_t rec = {0};
    bool have_rec = false;
    const char *replay = NULL;
    bool replayed = natsMsgHeader_Get(m, "Ct-Replay", &replay) == NATS_OK;
    if (delivered > 1 || replayed) {
      uint8_t *rb;
      size_t rl;
      int g = kv_get(be, be->receipts_kv, job->id, &rb, &rl);
      if (g == 0) {
        free(rb);
        ct_info("spool: job=%s already delivered; acknowledging its redelivery", job->id);
        ct_job_free(job);
        drop(m, 0, 0);
        continue;
      }
      if (g == CT_ENOTFOUND)
        g = kv_get(be, be->state_kv, job->id, &rec_bytes, &rec_len);
      if (g == 0) {
        g = ct__js_rec_decode(rec_bytes, rec_len, &rec);
        have_rec = g == 0;
        if (g != 0) {
          ct_warn("spool: job=%s: its state record does not decode; starting afresh", job->id);
          free(rec_bytes);
          rec_bytes = NULL;
          g = 0;
        }
      } else if (g == CT_ENOTFOUND) {
        g = 0;
      }
      if (g != 0) {
        ct_job_free(job);
        natsMsg_Nak(m, NULL);
        natsMsg_Destroy(m);
        rc = g;
        continue;
      }
    }
    if (be->max_deliver > 0 && delivered >= (uint64_t)be->max_deliver) {
      /* The server delivers this message no more after this delivery, whatever its answer:
       * a try now that failed could not be retried, so the job dies here instead. */
      ct__js_rec_free(&rec);
      int d = dead_on_take(be, m, seq, rec_bytes, rec_len, "max_deliveries", now_ms);
      if (d == 0)
        ct_warn("spool: job=%s delivered %" PRIu64
                " times (max_deliver); moved to the DLQ with reason max_deliveries",
                job->id, delivered);
      else
        ct_error("spool: job=%s reached max_deliver and could not be dead-lettered (%s); it "
                 "stays in the stream undelivered",
                 job->id, ct_strerror(d));
      ct_job_free(job);
      continue;
    }
    int64_t due = job->not_before_ms;
    if (have_rec && rec.due_ms > due)
      due = rec.due_ms;
    if (due > now_ms) {
      ct__js_rec_free(&rec);
      free(rec_bytes);
      ct_job_free(job);
      drop(m, 1, due - now_ms);
      continue;
    }
    ct_receipt_t *progress = NULL;
    if (have_rec && rec.receipt.len > 0 &&
        ct__spool_unpack_receipt(rec.receipt.p, rec.receipt.len, &progress) != 0)
      progress = NULL;
    lease_t l = {.seq = seq, .msg = m, .rec = rec_bytes, .rec_len = rec_len,
                 .touched_ms = now_ms};
    if (lease_add(be, &l) != 0) {
      ct__spool_receipt_free(progress);
      ct__js_rec_free(&rec);
      free(rec_bytes);
      ct_job_free(job);
      natsMsg_Nak(m, NULL);
      natsMsg_Destroy(m);
      rc = CT_ENOMEM;
      continue;
    }
    out[got] = (ct_lease_t){.seq = (int64_t)seq,
                            .job = job,
                            .progress = progress,
                            .attempts = have_rec ? rec.attempts : 0,
                            .due_ms = due > 0 ? due : stored_ms,
                            .enqueued_ms = have_rec && rec.enqueued_ms > 0 ? rec.enqueued_ms
                                                                          : stored_ms};
    ct__js_rec_free(&rec);
    got++;
    (void)id;
  }
  natsMsgList_Destroy(&list);
  if (rc != 0) {
    /* Hand back what was leased in this call: the caller sees the error, not the leases. */
    for (size_t i = 0; i < got; i++) {
      lease_t *l = lease_find(be, (uint64_t)out[i].seq);
      if (l != NULL) {
        natsMsg_Nak(l->msg, NULL);
        lease_release(l);
        lease_remove(be, l);
      }
      ct_lease_free(&out[i]);
    }
    return rc;
  }
  *n = got;
  return 0;
}

static int js_keepalive(ct__spool_backend_t *be, int64_t now_ms) {
  int64_t every = be->ack_wait_ms / 3;
  int rc = be->events != NULL ? ct__js_events_keepalive(be->events, now_ms) : 0;
  for (size_t i = 0; i < be->lcap; i++) {
    lease_t *l = &be->leases[i];
    if (l->seq == 0 || now_ms - l->touched_ms < every)
      continue;
    natsStatus s = natsMsg_InProgress(l->msg, NULL);
    if (s == NATS_OK)
      l->touched_ms = now_ms;
    else
      rc = CT_EIO;
  }
  return rc;
}

/* Settle */

static bool is_failure(const ct_attempt_t *a) {
  return a != NULL && (a->outcome == CARTEIRO__V1__OUTCOME__OUTCOME_TRANSIENT ||
                       a->outcome == CARTEIRO__V1__OUTCOME__OUTCOME_PERMANENT);
}

/* The op's attempts (earlier ones, then its own) packed one after another into b; views[]
 * point into b once it no longer moves. */
static int pack_new_attempts(const ct_settle_t *op, ct__spool_buf_t *b, ct__js_view_t *views,
                             size_t *nv) {
  size_t total = 0, k = 0;
  size_t offs[65], lens[65];
  size_t n = op->n_earlier + (op->attempt != NULL ? 1 : 0);
  if (n > 64)
    return CT_EINVAL;
  for (size_t i = 0; i < n; i++) {
    const ct_attempt_t *a = i < op->n_earlier ? op->earlier[i] : op->attempt;
    size_t need = carteiro__v1__attempt__get_packed_size(a);
    if (total + need > b->cap) {
      size_t cap = b->cap ? b->cap : 512;
      while (cap < total + need)
        cap *= 2;
      uint8_t *d = realloc(b->data, cap);
      if (d == NULL)
        return CT_ENOMEM;
      b->data = d;
      b->cap = cap;
    }
    lens[k] = carteiro__v1__attempt__pack(a, b->data + total);
    offs[k++] = total;
    total += need;
  }
  for (size_t i = 0; i < k; i++)
    views[i] = (ct__js_view_t){b->data + offs[i], lens[i]};
  *nv = k;
  return 0;
}

/* Builds and publishes the dead letter of a leased job. */
static int publish_dead(ct__spool_backend_t *be, lease_t *l, const ct_settle_t *op,
                        const ct__js_rec_t *rec, const ct__js_view_t *extra, size_t n_extra,
                        size_t idx, int64_t now_ms) {
  ct_job_t *job = NULL;
  char err[64];
  int rc = ct_job_decode_pb((const uint8_t *)natsMsg_GetData(l->msg),
                            (size_t)natsMsg_GetDataLength(l->msg), &job, err, sizeof err);
  if (rc != 0)
    return rc;
  size_t na = rec->n_history + n_extra;
  ct_attempt_t **atts = calloc(na ? na : 1, sizeof *atts);
  if (atts == NULL) {
    ct_job_free(job);
    return CT_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; rc == 0 && i < na; i++) {
    const ct__js_view_t *v = i < rec->n_history ? &rec->history[i] : &extra[i - rec->n_history];
    rc = ct__spool_unpack_attempt(v->p, v->len, &atts[k]);
    if (rc == 0)
      k++;
  }
  const char *reason = op->reason != NULL && op->reason[0] != '\0' ? op->reason : "unspecified";
  uint32_t attempts = rec->attempts + (is_failure(op->attempt) ? 1 : 0);
  int channel = rec->last_channel;
  char provider[128];
  snprintf(provider, sizeof provider, "%.*s", (int)rec->provider.len,
           rec->provider.p ? (const char *)rec->provider.p : "");
  for (size_t i = 0; i < op->n_earlier; i++)
    if (is_failure(op->earlier[i])) {
      channel = op->earlier[i]->channel;
      snprintf(provider, sizeof provider, "%s", op->earlier[i]->provider ? op->earlier[i]->provider : "");
    }
  if (is_failure(op->attempt)) {
    channel = op->attempt->channel;
    snprintf(provider, sizeof provider, "%s", op->attempt->provider ? op->attempt->provider : "");
  }
  char *progress64 = NULL;
  if (rc == 0) {
    ct__js_view_t prog = rec->receipt;
    size_t plen = 0;
    if (op->receipt != NULL) {
      rc = ct__spool_pack_receipt(&be->buf2, op->receipt, &plen);
      prog = (ct__js_view_t){be->buf2.data, plen};
    }
    if (rc == 0 && prog.len > 0) {
      progress64 = ct_base64_encode(prog.p, prog.len);
      if (progress64 == NULL)
        rc = CT_ENOMEM;
    }
  }
  natsMsg *m = NULL;
  if (rc == 0) {
    ct_dead_letter_t dl = CARTEIRO__V1__DEAD_LETTER__INIT;
    dl.job = job;
    dl.attempts = atts;
    dl.n_attempts = k;
    dl.reason = (char *)reason;
    dl.dead_at_ms = now_ms;
    size_t len = carteiro__v1__dead_letter__get_packed_size(&dl);
    uint8_t *body = malloc(len ? len : 1);
    if (body == NULL)
      rc = CT_ENOMEM;
    if (rc == 0) {
      carteiro__v1__dead_letter__pack(&dl, body);
      char subject[NAME_MAX_ + 256], token[96];
      ct__js_token(reason, token, sizeof token);
      snprintf(subject, sizeof subject, "%s.dlq.%s.%s", be->prefix, job->tenant, token);
      rc = new_msg(&m, subject, body, len);
      free(body);
    }
  }
  if (rc == 0) {
    ct__js_dead_t d = {.job_id = job->id, .tenant = job->tenant, .reason = reason,
                       .provider = provider, .channel = channel, .attempts = attempts,
                       .dead_at_ms = now_ms, .progress64 = progress64};
    rc = ct__js_dead_headers(m, &d);
    if (rc != 0)
      natsMsg_Destroy(m);
  }
  if (rc == 0) {
    char msg_id[KEY_MAX];
    snprintf(msg_id, sizeof msg_id, "%s#d%" PRIu64, job->id, l->seq);
    rc = batch_publish(be, &m, idx, msg_id);
  }
  free(progress64);
  for (size_t i = 0; i < k; i++)
    ct__spool_attempt_free(atts[i]);
  free(atts);
  ct_job_free(job);
  return rc;
}

/* Queues the durable part of one settle op (0, 1 or 2 publishes at pubs idx, idx+1). */
static int settle_write(ct__spool_backend_t *be, lease_t *l, const ct_settle_t *op,
                        int64_t now_ms, size_t idx, size_t *used) {
  ct__js_rec_t rec = {0};
  bool had_rec = false;
  int rc = 0;
  if (l->rec != NULL) {
    rc = ct__js_rec_decode(l->rec, l->rec_len, &rec);
    if (rc != 0)
      return rc;
    had_rec = true;
  } else {
    rec.state = CT_STATE_READY;
    rec.enqueued_ms = 0;
  }
  ct__spool_buf_t ab = {0};
  ct__js_view_t extra[65];
  size_t n_extra = 0;
  rc = pack_new_attempts(op, &ab, extra, &n_extra);
  const char *id = NULL;
  natsMsgHeader_Get(l->msg, "Nats-Msg-Id", &id);
  ct_job_t *job = NULL;
  char err[64];
  if (rc == 0)
    rc = ct_job_decode_pb((const uint8_t *)natsMsg_GetData(l->msg),
                          (size_t)natsMsg_GetDataLength(l->msg), &job, err, sizeof err);
  *used = 0;
  if (rc == 0 && op->kind == CT_SETTLE_DEAD) {
    rc = publish_dead(be, l, op, &rec, extra, n_extra, idx, now_ms);
    if (rc == 0)
      *used = 1;
    if (rc == 0 && had_rec) {
      rc = kv_publish(be, be->state_bucket, job->id, idx + 1, NULL, 0, true);
      if (rc == 0)
        *used = 2;
    }
  } else if (rc == 0) {
    bool anything = n_extra > 0 || op->receipt != NULL || op->kind == CT_SETTLE_ACK;
    size_t plen = 0;
    if (op->receipt != NULL) {
      rc = ct__spool_pack_receipt(&be->buf2, op->receipt, &plen);
      rec.receipt = (ct__js_view_t){be->buf2.data, plen};
    }
    for (size_t i = 0; i < n_extra; i++) {
      const ct_attempt_t *a = i < op->n_earlier ? op->earlier[i] : op->attempt;
      if (is_failure(a)) {
        rec.attempts++;
        rec.last_channel = a->channel;
        rec.provider = (ct__js_view_t){(const uint8_t *)(a->provider ? a->provider : ""),
                                       a->provider ? strlen(a->provider) : 0};
      }
    }
    rec.updated_ms = now_ms;
    if (rec.enqueued_ms == 0)
      rec.enqueued_ms = (int64_t)(natsMsg_GetTime(l->msg) / 1000000);
    if (rc == 0 && op->kind == CT_SETTLE_ACK) {
      rec.state = CT_STATE_DELIVERED;
      rec.due_ms = now_ms;
      uint8_t *body = NULL;
      size_t blen = 0;
      rc = ct_job_encode_pb(job, &body, &blen);
      if (rc == 0) {
        rec.job = (ct__js_view_t){body, blen};
        size_t len;
        rc = ct__js_rec_encode(&rec, extra, n_extra, &be->buf, &len);
        if (rc == 0)
          rc = kv_publish(be, be->receipts_bucket, job->id, idx, be->buf.data, len, false);
        free(body);
      }
      if (rc == 0)
        *used = 1;
      if (rc == 0 && had_rec) {
        rc = kv_publish(be, be->state_bucket, job->id, idx + 1, NULL, 0, true);
        if (rc == 0)
          *used = 2;
      }
    } else if (rc == 0 && anything) {
      rec.state = CT_STATE_READY;
      rec.due_ms = op->due_ms != 0 ? op->due_ms : now_ms;
      size_t len;
      rc = ct__js_rec_encode(&rec, extra, n_extra, &be->buf, &len);
      if (rc == 0)
        rc = kv_publish(be, be->state_bucket, job->id, idx, be->buf.data, len, false);
      if (rc == 0)
        *used = 1;
    }
  }
  ct_job_free(job);
  ct__spool_buf_free(&ab);
  ct__js_rec_free(&rec);
  (void)id;
  return rc;
}

static int js_settle(ct__spool_backend_t *be, ct_settle_t *ops, size_t n, int64_t now_ms) {
  lease_t **ls = calloc(n, sizeof *ls);
  int *res = malloc(2 * n * sizeof *res);
  if (ls == NULL || res == NULL) {
    free(ls);
    free(res);
    return CT_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    lease_t *l = lease_find(be, (uint64_t)ops[i].seq);
    if (l != NULL && !l->marked) {
      l->marked = true;
      ls[i] = l;
    }
  }
  int rc = batch_begin(be, 2 * n, res, NULL);
  size_t next = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (ls[i] == NULL)
      continue;
    size_t used = 0;
    rc = settle_write(be, ls[i], &ops[i], now_ms, next, &used);
    next += used;
  }
  int wrc = batch_wait(be);
  if (rc == 0)
    rc = wrc;
  for (size_t i = 0; rc == 0 && i < next; i++)
    if (res[i] != 0 && res[i] != CT_EDUPLICATE)
      rc = res[i];
  if (rc != 0) {
    for (size_t i = 0; i < n; i++)
      if (ls[i] != NULL)
        ls[i]->marked = false;
    free(ls);
    free(res);
    return rc;
  }
  /* Durable: now answer the server and end the leases. Removing a lease moves others in the
   * table, so each is looked up again by its seq. */
  for (size_t i = 0; i < n; i++) {
    lease_t *l = ls[i] != NULL ? lease_find(be, (uint64_t)ops[i].seq) : NULL;
    if (l == NULL) {
      ops[i].result = CT_ESTATE;
      continue;
    }
    int64_t delay = ops[i].due_ms != 0 ? ops[i].due_ms - now_ms : 0;
    switch (ops[i].kind) {
    case CT_SETTLE_ACK:
      natsMsg_Ack(l->msg, NULL);
      break;
    case CT_SETTLE_RETRY:
    case CT_SETTLE_RELEASE:
      if (delay > 0)
        natsMsg_NakWithDelay(l->msg, delay, NULL);
      else
        natsMsg_Nak(l->msg, NULL);
      break;
    case CT_SETTLE_DEAD:
      natsMsg_Term(l->msg, NULL);
      break;
    }
    ops[i].result = 0;
    lease_release(l);
    l->marked = false;
    lease_remove(be, l);
  }
  free(ls);
  free(res);
  return 0;
}

/* Dead letters */

typedef struct {
  uint64_t seq;
  natsMsg *m; /* headers and the DeadLetter payload */
  ct_dlq_entry_t e;
  char *job_id, *tenant, *reason, *provider;
} dead_t;

static bool set(const char *s) { return s != NULL && s[0] != '\0'; }

static bool dead_matches(const ct_dlq_entry_t *e, const ct_dlq_filter_t *f) {
  if (set(f->reason) && strcmp(f->reason, e->reason) != 0)
    return false;
  if (set(f->tenant) && strcmp(f->tenant, e->tenant) != 0)
    return false;
  if (set(f->provider) && strcmp(f->provider, e->provider) != 0)
    return false;
  if (f->channel != CT_CHANNEL_NONE && f->channel != e->channel)
    return false;
  if (f->since_ms != 0 && e->dead_at_ms < f->since_ms)
    return false;
  if (f->until_ms != 0 && e->dead_at_ms >= f->until_ms)
    return false;
  if (set(f->job_id) && strcmp(f->job_id, e->job_id) != 0)
    return false;
  return true;
}

/* Walks a stream's messages on `subject` (wildcards allowed) in sequence order with direct
 * gets; visit returns non-zero to stop (returned). */
static int walk(ct__spool_backend_t *be, const char *stream, const char *subject,
                int (*visit)(ct__spool_backend_t *be, natsMsg *m, void *arg), void *arg) {
  uint64_t next = 1;
  for (;;) {
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = next;
    o.NextBySubject = subject;
    natsMsg *m = NULL;
    natsStatus s = js_DirectGetMsg(&m, be->js, stream, NULL, &o);
    if (s == NATS_NOT_FOUND)
      return 0;
    if (s != NATS_OK)
      return nats_fail("direct get", s);
    next = natsMsg_GetSequence(m) + 1;
    int rc = visit(be, m, arg);
    if (rc != 0)
      return rc;
  }
}

typedef struct {
  const ct_dlq_filter_t *f;
  dead_t *v;
  size_t n, cap;
} collect_t;

static int collect_visit(ct__spool_backend_t *be, natsMsg *m, void *arg) {
  (void)be;
  collect_t *c = arg;
  dead_t d = {.seq = natsMsg_GetSequence(m), .m = m};
  ct__js_dead_entry(m, &d.e);
  if (!dead_matches(&d.e, c->f) || (c->f->limit != 0 && c->n >= c->f->limit)) {
    natsMsg_Destroy(m);
    return 0;
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    dead_t *v = realloc(c->v, cap * sizeof *v);
    if (v == NULL) {
      natsMsg_Destroy(m);
      return CT_ENOMEM;
    }
    c->v = v;
    c->cap = cap;
  }
  c->v[c->n++] = d;
  return 0;
}

static void collect_free(collect_t *c) {
  for (size_t i = 0; i < c->n; i++)
    natsMsg_Destroy(c->v[i].m);
  free(c->v);
}

static int collect(ct__spool_backend_t *be, const ct_dlq_filter_t *f, collect_t *c) {
  memset(c, 0, sizeof *c);
  c->f = f;
  char subject[NAME_MAX_ + 16];
  snprintf(subject, sizeof subject, "%s.dlq.>", be->prefix);
  int rc = walk(be, be->dlq, subject, collect_visit, c);
  if (rc != 0)
    collect_free(c);
  return rc;
}

static int js_dlq_list(ct__spool_backend_t *be, const ct_dlq_filter_t *f,
                       int (*visit)(const ct_dlq_entry_t *e, void *arg), void *arg) {
  collect_t c;
  int rc = collect(be, f, &c);
  if (rc != 0)
    return rc;
  for (size_t i = 0; rc == 0 && i < c.n; i++)
    rc = visit(&c.v[i].e, arg);
  collect_free(&c);
  return rc;
}

static int unpack_dead(natsMsg *m, ct_dead_letter_t **out) {
  if (ct__js_dead_is_raw(m))
    return CT_ECORRUPT;
  ct_dead_letter_t *dl = carteiro__v1__dead_letter__unpack(
      NULL, (size_t)natsMsg_GetDataLength(m), (const uint8_t *)natsMsg_GetData(m));
  if (dl == NULL)
    return CT_ECORRUPT;
  *out = dl;
  return 0;
}

/* The progress a dead letter carries in its header, or NULL. */
static int dead_progress(natsMsg *m, ct_receipt_t **out) {
  const char *p = ct__js_hdr(m, "Ct-Progress");
  *out = NULL;
  if (p[0] == '\0')
    return 0;
  size_t n = strlen(p);
  uint8_t *bytes = malloc(n);
  if (bytes == NULL)
    return CT_ENOMEM;
  size_t len = 0;
  int rc = ct_base64_decode(p, n, bytes, &len) ? ct__spool_unpack_receipt(bytes, len, out)
                                                 : CT_ECORRUPT;
  free(bytes);
  return rc;
}

static int js_dlq_read(ct__spool_backend_t *be, const ct_dlq_filter_t *f, bool with_attempts,
                       int (*visit)(const ct_dlq_record_t *r, void *arg), void *arg) {
  collect_t c;
  int rc = collect(be, f, &c);
  if (rc != 0)
    return rc;
  for (size_t i = 0; rc == 0 && i < c.n; i++) {
    ct_dead_letter_t *dl = NULL;
    ct_receipt_t *progress = NULL;
    if (unpack_dead(c.v[i].m, &dl) != 0)
      dl = NULL;
    rc = dead_progress(c.v[i].m, &progress);
    if (rc != 0) {
      carteiro__v1__dead_letter__free_unpacked(dl, NULL);
      break;
    }
    ct_dlq_record_t r = {.entry = c.v[i].e,
                         .job = dl != NULL ? dl->job : NULL,
                         .progress = progress,
                         .attempts = with_attempts && dl != NULL ? dl->attempts : NULL,
                         .n_attempts = with_attempts && dl != NULL ? dl->n_attempts : 0};
    rc = visit(&r, arg);
    ct__spool_receipt_free(progress);
    if (dl != NULL)
      carteiro__v1__dead_letter__free_unpacked(dl, NULL);
  }
  collect_free(&c);
  return rc;
}

/* Replays the collected dead letters: state record, job republished, dead letter deleted. */
static int replay_collected(ct__spool_backend_t *be, collect_t *c, int64_t now_ms,
                            size_t *count) {
  int *res = malloc((2 * c->n + 1) * sizeof *res);
  bool *ok = calloc(c->n + 1, sizeof *ok);
  if (res == NULL || ok == NULL) {
    free(res);
    free(ok);
    return CT_ENOMEM;
  }
  int rc = batch_begin(be, 2 * c->n + 1, res, NULL);
  size_t next = 0;
  for (size_t i = 0; rc == 0 && i < c->n; i++) {
    ct_dead_letter_t *dl = NULL;
    if (unpack_dead(c->v[i].m, &dl) != 0 || dl->job == NULL || dl->job->id == NULL) {
      ct_warn("spool: dead letter seq=%" PRIu64 " has no job that decodes; not replayed",
              c->v[i].seq);
      if (dl != NULL)
        carteiro__v1__dead_letter__free_unpacked(dl, NULL);
      continue;
    }
    ct_receipt_t *progress = NULL;
    rc = dead_progress(c->v[i].m, &progress);
    ct__spool_buf_t hb = {0};
    ct__js_view_t *hist = calloc(dl->n_attempts + 1, sizeof *hist);
    size_t *offs = calloc(dl->n_attempts + 1, sizeof *offs);
    if (rc == 0 && (hist == NULL || offs == NULL))
      rc = CT_ENOMEM;
    size_t total = 0;
    for (size_t a = 0; rc == 0 && a < dl->n_attempts; a++) {
      size_t need = carteiro__v1__attempt__get_packed_size(dl->attempts[a]);
      if (total + need > hb.cap) {
        size_t cap = hb.cap ? hb.cap : 512;
        while (cap < total + need)
          cap *= 2;
        uint8_t *d = realloc(hb.data, cap);
        if (d == NULL) {
          rc = CT_ENOMEM;
          break;
        }
        hb.data = d;
        hb.cap = cap;
      }
      hist[a].len = carteiro__v1__attempt__pack(dl->attempts[a], hb.data + total);
      offs[a] = total;
      total += need;
    }
    ct__js_rec_t rec = {.state = CT_STATE_READY, .due_ms = now_ms, .enqueued_ms = now_ms,
                        .updated_ms = now_ms, .history = hist, .n_history = dl->n_attempts};
    for (size_t a = 0; rc == 0 && a < dl->n_attempts; a++)
      hist[a].p = hb.data + offs[a];
    if (rc == 0 && progress != NULL) {
      progress->n_failed_channels = 0; /* replay says the cause is fixed */
      size_t plen;
      rc = ct__spool_pack_receipt(&be->buf2, progress, &plen);
      rec.receipt = (ct__js_view_t){be->buf2.data, plen};
    }
    size_t len;
    if (rc == 0)
      rc = ct__js_rec_encode(&rec, NULL, 0, &be->buf, &len);
    if (rc == 0)
      rc = kv_publish(be, be->state_bucket, dl->job->id, next++, be->buf.data, len, false);
    uint8_t *body = NULL;
    size_t blen;
    if (rc == 0)
      rc = ct_job_encode_pb(dl->job, &body, &blen);
    natsMsg *m = NULL;
    char subject[NAME_MAX_ + 96], msg_id[KEY_MAX];
    if (rc == 0) {
      subject_for(be, subject, sizeof subject, "jobs", dl->job->tenant);
      rc = new_msg(&m, subject, body, blen);
    }
    free(body);
    if (rc == 0) {
      natsMsgHeader_Set(m, "Ct-Replay", "1");
      snprintf(msg_id, sizeof msg_id, "%s#r%" PRIu64, dl->job->id, c->v[i].seq);
      rc = batch_publish(be, &m, next++, msg_id);
    }
    if (rc == 0)
      ok[i] = true;
    free(hist);
    free(offs);
    ct__spool_buf_free(&hb);
    ct__spool_receipt_free(progress);
    carteiro__v1__dead_letter__free_unpacked(dl, NULL);
  }
  int wrc = batch_wait(be);
  if (rc == 0)
    rc = wrc;
  for (size_t i = 0; rc == 0 && i < next; i++)
    if (res[i] != 0 && res[i] != CT_EDUPLICATE)
      rc = res[i];
  size_t moved = 0;
  for (size_t i = 0; rc == 0 && i < c->n; i++) {
    if (!ok[i])
      continue;
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteMsg(be->js, be->dlq, c->v[i].seq, NULL, &jerr);
    if (s != NATS_OK && s != NATS_NOT_FOUND)
      rc = nats_fail("delete dead letter", s);
    else
      moved++;
  }
  free(res);
  free(ok);
  if (rc == 0)
    *count = moved;
  return rc;
}

static int js_replay(ct__spool_backend_t *be, const ct_dlq_filter_t *f, int64_t now_ms,
                     size_t *count) {
  collect_t c;
  int rc = collect(be, f, &c);
  if (rc != 0)
    return rc;
  rc = c.n > 0 ? replay_collected(be, &c, now_ms, count) : 0;
  if (c.n == 0)
    *count = 0;
  collect_free(&c);
  return rc;
}

static int js_replay_ids(ct__spool_backend_t *be, const char *const *ids, size_t n,
                         int64_t now_ms, size_t *count) {
  collect_t all;
  ct_dlq_filter_t f = {0};
  int rc = collect(be, &f, &all);
  if (rc != 0)
    return rc;
  /* Keep the dead letters whose id was asked for, each id once. */
  size_t k = 0;
  for (size_t i = 0; i < all.n; i++) {
    bool want = false;
    for (size_t j = 0; j < n && !want; j++)
      want = strcmp(ids[j], all.v[i].e.job_id) == 0;
    for (size_t j = 0; j < k && want; j++)
      want = strcmp(all.v[j].e.job_id, all.v[i].e.job_id) != 0;
    if (want) {
      dead_t d = all.v[i];
      all.v[i] = all.v[k];
      all.v[k++] = d;
    }
  }
  collect_t sel = {.v = all.v, .n = k};
  rc = k > 0 ? replay_collected(be, &sel, now_ms, count) : 0;
  if (k == 0)
    *count = 0;
  collect_free(&all);
  return rc;
}

static int js_purge(ct__spool_backend_t *be, const ct_dlq_filter_t *f, size_t *count) {
  collect_t c;
  int rc = collect(be, f, &c);
  if (rc != 0)
    return rc;
  size_t gone = 0;
  for (size_t i = 0; rc == 0 && i < c.n; i++) {
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteMsg(be->js, be->dlq, c.v[i].seq, NULL, &jerr);
    if (s == NATS_OK)
      gone++;
    else if (s != NATS_NOT_FOUND)
      rc = nats_fail("purge", s);
  }
  collect_free(&c);
  if (rc == 0)
    *count = gone;
  return rc;
}

static int js_dlq_import(ct__spool_backend_t *be, const ct_dead_letter_t *const *dls, size_t n,
                         int64_t now_ms, int *results) {
  collect_t existing;
  ct_dlq_filter_t all = {0};
  int rc = collect(be, &all, &existing);
  if (rc != 0)
    return rc;
  int *res = malloc(n * sizeof *res);
  int *pub = malloc(n * sizeof *pub);
  if (res == NULL || pub == NULL) {
    free(res);
    free(pub);
    collect_free(&existing);
    return CT_ENOMEM;
  }
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const char *id = dls[i]->job->id;
    bool dup = false;
    for (size_t j = 0; j < existing.n && !dup; j++)
      dup = strcmp(existing.v[j].e.job_id, id) == 0;
    for (size_t j = 0; j < i && !dup; j++)
      dup = strcmp(dls[j]->job->id, id) == 0;
    uint8_t *b;
    size_t bl;
    if (!dup) {
      int g = kv_get(be, be->receipts_kv, id, &b, &bl);
      if (g == CT_ENOTFOUND)
        g = kv_get(be, be->state_kv, id, &b, &bl);
      if (g == 0) {
        free(b);
        dup = true;
      } else if (g != CT_ENOTFOUND) {
        rc = g;
      }
    }
    res[i] = dup ? CT_EDUPLICATE : 0;
  }
  if (rc == 0)
    rc = batch_begin(be, n, pub, NULL);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    pub[i] = 0;
    if (res[i] != 0)
      continue;
    const ct_dead_letter_t *dl = dls[i];
    const ct_attempt_t *last = NULL;
    uint32_t failed = 0;
    for (size_t a = 0; a < dl->n_attempts; a++)
      if (is_failure(dl->attempts[a])) {
        failed++;
        last = dl->attempts[a];
      }
    const char *reason = set(dl->reason) ? dl->reason : "unspecified";
    ct_dead_letter_t copy = *dl;
    copy.reason = (char *)reason;
    copy.dead_at_ms = dl->dead_at_ms != 0 ? dl->dead_at_ms : now_ms;
    size_t len = carteiro__v1__dead_letter__get_packed_size(&copy);
    uint8_t *body = malloc(len ? len : 1);
    if (body == NULL) {
      rc = CT_ENOMEM;
      break;
    }
    carteiro__v1__dead_letter__pack(&copy, body);
    char subject[NAME_MAX_ + 256], token[96], msg_id[KEY_MAX];
    ct__js_token(reason, token, sizeof token);
    snprintf(subject, sizeof subject, "%s.dlq.%s.%s", be->prefix, dl->job->tenant, token);
    natsMsg *m = NULL;
    rc = new_msg(&m, subject, body, len);
    free(body);
    if (rc != 0)
      break;
    ct__js_dead_t d = {.job_id = dl->job->id, .tenant = dl->job->tenant, .reason = reason,
                       .provider = last != NULL ? last->provider : NULL,
                       .channel = last != NULL ? (int)last->channel : 0, .attempts = failed,
                       .dead_at_ms = copy.dead_at_ms};
    rc = ct__js_dead_headers(m, &d);
    if (rc != 0) {
      natsMsg_Destroy(m);
      break;
    }
    snprintf(msg_id, sizeof msg_id, "%s#i", dl->job->id);
    rc = batch_publish(be, &m, i, msg_id);
  }
  int wrc = n > 0 ? batch_wait(be) : 0;
  if (rc == 0)
    rc = wrc;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (pub[i] == CT_EDUPLICATE)
      res[i] = CT_EDUPLICATE;
    else if (pub[i] != 0)
      rc = pub[i];
  }
  if (rc == 0)
    memcpy(results, res, n * sizeof *res);
  free(res);
  free(pub);
  collect_free(&existing);
  return rc;
}

/* job_get */

static int info_from_rec(const ct__js_rec_t *rec, ct_job_info_t *out) {
  int rc = 0;
  if (rec->n_history > 0) {
    out->attempts = calloc(rec->n_history, sizeof *out->attempts);
    if (out->attempts == NULL)
      return CT_ENOMEM;
  }
  for (size_t i = 0; rc == 0 && i < rec->n_history; i++) {
    rc = ct__spool_unpack_attempt(rec->history[i].p, rec->history[i].len, &out->attempts[i]);
    if (rc == 0)
      out->n_attempts++;
  }
  if (rc == 0 && rec->receipt.len > 0)
    rc = ct__spool_unpack_receipt(rec->receipt.p, rec->receipt.len, &out->receipt);
  out->enqueued_ms = rec->enqueued_ms;
  out->updated_ms = rec->updated_ms;
  out->due_ms = rec->due_ms;
  return rc;
}

typedef struct {
  const char *id;
  size_t idlen;
  natsMsg *found;
} find_t;

static int find_job_visit(ct__spool_backend_t *be, natsMsg *m, void *arg) {
  (void)be;
  find_t *f = arg;
  const char *mid = ct__js_hdr(m, "Nats-Msg-Id");
  if (strncmp(mid, f->id, f->idlen) == 0 &&
      (mid[f->idlen] == '\0' || strncmp(mid + f->idlen, "#r", 2) == 0)) {
    natsMsg_Destroy(f->found);
    f->found = m; /* the last one: a replayed copy comes after the original */
    return 0;
  }
  natsMsg_Destroy(m);
  return 0;
}

static int js_job_get(ct__spool_backend_t *be, const char *id, ct_job_info_t *out) {
  ct_job_info_t info = {0};
  uint8_t *b = NULL;
  size_t bl = 0;
  ct__js_rec_t rec = {0};
  char err[64];
  int rc = kv_get(be, be->receipts_kv, id, &b, &bl);
  if (rc == 0) {
    rc = ct__js_rec_decode(b, bl, &rec);
    if (rc == 0)
      rc = info_from_rec(&rec, &info);
    if (rc == 0 && rec.job.len > 0)
      rc = ct_job_decode_pb(rec.job.p, rec.job.len, &info.job, err, sizeof err) == 0
               ? 0
               : CT_ECORRUPT;
    info.state = CT_STATE_DELIVERED;
    info.seq = 0;
    goto done;
  }
  if (rc != CT_ENOTFOUND)
    return rc;
  /* Dead? */
  ct_dlq_filter_t f = {.job_id = id};
  collect_t c;
  rc = collect(be, &f, &c);
  if (rc != 0)
    return rc;
  if (c.n > 0) {
    dead_t *d = &c.v[c.n - 1];
    ct_dead_letter_t *dl = NULL;
    rc = unpack_dead(d->m, &dl);
    if (rc == 0) {
      info.state = CT_STATE_DEAD;
      info.seq = (int64_t)d->seq;
      info.reason = strdup(d->e.reason);
      info.updated_ms = info.due_ms = d->e.dead_at_ms;
      if (dl->job != NULL) {
        uint8_t *jb;
        size_t jl;
        rc = ct_job_encode_pb(dl->job, &jb, &jl);
        if (rc == 0) {
          rc = ct_job_decode_pb(jb, jl, &info.job, err, sizeof err) == 0 ? 0 : CT_ECORRUPT;
          free(jb);
        }
      }
      if (dl->n_attempts > 0 && rc == 0) {
        info.attempts = calloc(dl->n_attempts, sizeof *info.attempts);
        for (size_t i = 0; info.attempts != NULL && i < dl->n_attempts; i++) {
          size_t len;
          if (ct__spool_pack_attempt(&be->buf, dl->attempts[i], &len) == 0 &&
              ct__spool_unpack_attempt(be->buf.data, len, &info.attempts[info.n_attempts]) == 0)
            info.n_attempts++;
        }
      }
      if (rc == 0)
        rc = dead_progress(d->m, &info.receipt);
      carteiro__v1__dead_letter__free_unpacked(dl, NULL);
    }
    collect_free(&c);
    goto done;
  }
  collect_free(&c);
  /* Ready: the job from the jobs stream, its record (if tried) from the state bucket. */
  char subject[NAME_MAX_ + 16];
  snprintf(subject, sizeof subject, "%s.jobs.>", be->prefix);
  find_t fj = {.id = id, .idlen = strlen(id)};
  rc = walk(be, be->stream, subject, find_job_visit, &fj);
  if (rc != 0) {
    natsMsg_Destroy(fj.found);
    return rc;
  }
  if (fj.found == NULL)
    return CT_ENOTFOUND;
  info.state = CT_STATE_READY;
  info.seq = (int64_t)natsMsg_GetSequence(fj.found);
  if (lease_find(be, (uint64_t)info.seq) != NULL)
    info.state = CT_STATE_INFLIGHT;
  info.enqueued_ms = info.updated_ms = natsMsg_GetTime(fj.found) / 1000000;
  rc = ct_job_decode_pb((const uint8_t *)natsMsg_GetData(fj.found),
                        (size_t)natsMsg_GetDataLength(fj.found), &info.job, err, sizeof err) == 0
           ? 0
           : CT_ECORRUPT;
  natsMsg_Destroy(fj.found);
  info.due_ms = info.job != NULL ? info.job->not_before_ms : 0;
  if (rc == 0) {
    int g = kv_get(be, be->state_kv, id, &b, &bl);
    if (g == 0) {
      rc = ct__js_rec_decode(b, bl, &rec);
      if (rc == 0) {
        int64_t enq = info.enqueued_ms;
        rc = info_from_rec(&rec, &info);
        if (info.enqueued_ms == 0)
          info.enqueued_ms = enq;
      }
    } else if (g != CT_ENOTFOUND) {
      rc = g;
    }
  }
done:
  ct__js_rec_free(&rec);
  free(b);
  if (rc != 0) {
    ct_job_info_free(&info);
    return rc;
  }
  *out = info;
  return 0;
}

/* Stats */

static int js_stats(ct__spool_backend_t *be, int64_t now_ms, ct_spool_stats_t *out) {
  (void)now_ms;
  ct_spool_stats_t st;
  memset(&st, 0, sizeof st);
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetStreamInfo(&si, be->js, be->stream, NULL, &jerr);
  if (s != NATS_OK)
    return nats_fail("stream info", s);
  st.ready = si->State.Msgs;
  st.file_bytes = si->State.Bytes;
  jsStreamInfo_Destroy(si);
  st.inflight = be->ln;
  jsConsumerInfo *ci = NULL;
  s = js_GetConsumerInfo(&ci, be->js, be->stream, be->consumer, NULL, &jerr);
  if (s == NATS_OK) {
    /* Never delivered yet; jobs waiting out a NAK delay are not counted as due. */
    st.due = ci->NumPending;
    jsConsumerInfo_Destroy(ci);
  }
  char subject[sizeof be->receipts_bucket + 8];
  snprintf(subject, sizeof subject, "KV_%s", be->receipts_bucket);
  s = js_GetStreamInfo(&si, be->js, subject, NULL, &jerr);
  if (s == NATS_OK) {
    st.delivered = si->State.Msgs;
    st.file_bytes += si->State.Bytes;
    jsStreamInfo_Destroy(si);
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  snprintf(subject, sizeof subject, "%s.dlq.>", be->prefix);
  jo.Stream.Info.SubjectsFilter = subject;
  s = js_GetStreamInfo(&si, be->js, be->dlq, &jo, &jerr);
  if (s != NATS_OK)
    return nats_fail("dlq info", s);
  st.dead = si->State.Msgs;
  st.file_bytes += si->State.Bytes;
  /* Reasons from the last subject token (the reason as a token). */
  for (int i = 0; si->State.Subjects != NULL && i < si->State.Subjects->Count; i++) {
    const char *sub = si->State.Subjects->List[i].Subject;
    const char *dot = strrchr(sub, '.');
    const char *reason = dot != NULL ? dot + 1 : sub;
    size_t k = 0;
    while (k < st.n_dlq && strcmp(st.dlq[k].reason, reason) != 0)
      k++;
    if (k == st.n_dlq) {
      if (st.n_dlq == CT_SPOOL_MAX_REASONS)
        continue;
      snprintf(st.dlq[k].reason, sizeof st.dlq[k].reason, "%s", reason);
      st.n_dlq++;
    }
    st.dlq[k].count += si->State.Subjects->List[i].Msgs;
  }
  jsStreamInfo_Destroy(si);
  for (size_t i = 1; i < st.n_dlq; i++) /* largest first */
    for (size_t j = i; j > 0 && st.dlq[j].count > st.dlq[j - 1].count; j--) {
      __typeof__(st.dlq[0]) t = st.dlq[j];
      st.dlq[j] = st.dlq[j - 1];
      st.dlq[j - 1] = t;
    }
  *out = st;
  return 0;
}

static int js_expire(ct__spool_backend_t *be, int64_t now_ms, size_t *count) {
  (void)be;
  (void)now_ms;
  *count = 0; /* the receipts bucket's TTL expires them */
  return 0;
}

/* Webhook events: events.c, with what it needs of the backend */

void ct__js_shared(ct__spool_backend_t *be, ct__js_shared_t *out) {
  *out = (ct__js_shared_t){.nc = be->nc,
                           .js = be->js,
                           .js_ask = be->js_ask,
                           .prefix = be->prefix,
                           .stream = be->stream,
                           .consumer = be->consumer,
                           .replicas = be->replicas,
                           .ack_wait_ms = be->ack_wait_ms,
                           .dup_window_ms = be->dup_window_ms,
                           .max_ack_pending = be->max_ack_pending,
                           .owner = be->owner,
                           .readonly = be->readonly};
}

int ct__js_batch_begin(ct__spool_backend_t *be, size_t n, int *results, uint64_t *seqs) {
  return batch_begin(be, n, results, seqs);
}

int ct__js_batch_publish(ct__spool_backend_t *be, natsMsg **m, size_t idx, const char *msg_id) {
  return batch_publish(be, m, idx, msg_id);
}

int ct__js_batch_wait(ct__spool_backend_t *be) { return batch_wait(be); }

int ct__js_ensure(ct__spool_backend_t *be, const char *what, ct__js_find_fn find,
                  ct__js_create_fn create, void *arg) {
  return ensure(be, what, find, create, arg);
}

int ct__js_fail(const char *what, natsStatus s) { return nats_fail(what, s); }

static int js_events_put(ct__spool_backend_t *be, const ct_event_t *const *events, size_t n,
                         int64_t now_ms, int *results) {
  return ct__js_events_put(be, be->events, events, n, now_ms, results);
}

static int js_events_take(ct__spool_backend_t *be, int64_t now_ms, size_t max,
                          ct_event_lease_t *out, size_t *n) {
  return ct__js_events_take(be, be->events, now_ms, max, out, n);
}

static int js_events_ack(ct__spool_backend_t *be, const int64_t *seqs, size_t n, int64_t now_ms,
                         int *results) {
  (void)now_ms;
  return ct__js_events_ack(be->events, seqs, n, results);
}

static int js_events_retry(ct__spool_backend_t *be, const int64_t *seqs, size_t n,
                           int64_t due_ms, int *results) {
  return ct__js_events_retry(be->events, seqs, n, due_ms, ct_now_ms(), results);
}

static int js_events_stats(ct__spool_backend_t *be, ct_event_stats_t *out) {
  return ct__js_events_stats(be, be->events, out);
}

static int js_events_expire(ct__spool_backend_t *be, int64_t now_ms, size_t *count) {
  (void)be;
  (void)now_ms;
  *count = 0; /* the streams' max age expires them */
  return 0;
}

static int js_inbound_list(ct__spool_backend_t *be, const ct_inbound_filter_t *f,
                           int (*visit)(const ct_event_t *e, void *arg), void *arg) {
  return ct__js_inbound_list(be, be->events, f, visit, arg);
}

const ct__spool_ops_t ct__spool_jetstream_ops = {
    .name = "jetstream",
    .open = js_open,
    .close = js_close,
    .enqueue = js_enqueue,
    .take = js_take,
    .settle = js_settle,
    .dlq_list = js_dlq_list,
    .replay = js_replay,
    .purge = js_purge,
    .dlq_read = js_dlq_read,
    .replay_ids = js_replay_ids,
    .dlq_import = js_dlq_import,
    .job_get = js_job_get,
    .stats = js_stats,
    .expire = js_expire,
    .keepalive = js_keepalive,
    .events_put = js_events_put,
    .events_take = js_events_take,
    .events_ack = js_events_ack,
    .events_retry = js_events_retry,
    .events_stats = js_events_stats,
    .events_expire = js_events_expire,
    .inbound_list = js_inbound_list,
};
