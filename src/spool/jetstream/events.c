/* Webhook events in the JetStream spool (spool.h, "Webhook events").
 *
 * WHERE THEY LIVE (names with the default options)
 *
 *   CARTEIRO_JOBS_EVENTS   limits stream, subjects PREFIX.events.<h>, h = hex SHA-256 of the
 *                          event id: one subject per event, so "is this event known?" is a
 *                          property of the stream. Each event is published with
 *                          Nats-Expected-Last-Subject-Sequence: 0 (a create-only publish,
 *                          what KV's Create does): a second publish of the same event is
 *                          refused with "wrong last sequence" for as long as the first is in
 *                          the stream (the max age: event_retention), and with Nats-Msg-Id as
 *                          well, so the duplicate window catches a retry racing the first.
 *                          Payload: the encoded carteiro.v1.Event.
 *   carteiro-events        durable pull consumer on it (explicit ack, the jobs consumer's ack
 *                          wait and max ack pending): PENDING is "not acknowledged by it",
 *                          DONE "acknowledged"; the message stays in the stream either way.
 *   CARTEIRO_JOBS_INBOUND  limits stream, subjects PREFIX.inbound.<account>.<s>.<m>, s = 32 hex
 *                          of SHA-256 of the sender, m = hex SHA-256 of account and message id:
 *                          the inbound messages, create-only like the events, readable by
 *                          account and sender with a subject filter.
 *
 * A put publishes every event (and inbound message) of the batch asynchronously and waits for
 * all the acks once: the JetStream counterpart of the SQLite transaction. A publish refused as
 * a duplicate is a success (the event was already stored); any other failure fails the put,
 * and the provider's retry stores what is missing.
 *
 * Leases are deliveries of the events consumer held in this process, keyed by stream
 * sequence; ack acknowledges (asynchronously: a lost ack hands the event out again, which the
 * processor absorbs as it must absorb provider duplicates), retry NAKs with the delay left.
 * Unlike SQLite, the stream's max age removes a PENDING event too once the retention has
 * passed (see the README).
 */
#include "spool/jetstream/jetstream_int.h"

#include "common/error.h"
#include "common/log.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_ CT__JS_NAME_MAX
/* How long a take waits when no event is there. */
#define FETCH_WAIT_MS 20

typedef struct {
  uint64_t seq; /* 0 = empty */
  natsMsg *msg;
  int64_t touched_ms;
} elease_t;

struct ct__js_events {
  char stream[NAME_MAX_ + 16], inbound[NAME_MAX_ + 16], consumer[NAME_MAX_ + 16];
  char events_subj[NAME_MAX_ + 16], inbound_subj[NAME_MAX_ + 16];
  char prefix[NAME_MAX_];
  int64_t retention_ms, ack_wait_ms;
  natsSubscription *sub; /* owner only */
  jsCtx *js;
  elease_t *leases; /* open addressing, linear probing, backward-shift deletion */
  size_t lcap, ln;
};

/* ---- leases ---- */

static size_t eslot(const ct__js_events_t *ev, uint64_t seq) {
  return (size_t)((seq * 0x9E3779B97F4A7C15ull) >> 17) & (ev->lcap - 1);
}

static elease_t *elease_find(ct__js_events_t *ev, uint64_t seq) {
  if (ev->lcap == 0)
    return NULL;
  for (size_t i = eslot(ev, seq);; i = (i + 1) & (ev->lcap - 1)) {
    if (ev->leases[i].seq == seq)
      return &ev->leases[i];
    if (ev->leases[i].seq == 0)
      return NULL;
  }
}

static int elease_add(ct__js_events_t *ev, const elease_t *l) {
  if ((ev->ln + 1) * 2 > ev->lcap) {
    size_t cap = ev->lcap ? ev->lcap * 2 : 64;
    elease_t *n = calloc(cap, sizeof *n);
    if (n == NULL)
      return CT_ENOMEM;
    for (size_t i = 0; i < ev->lcap; i++) {
      if (ev->leases[i].seq == 0)
        continue;
      size_t j = (size_t)((ev->leases[i].seq * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
      while (n[j].seq != 0)
        j = (j + 1) & (cap - 1);
      n[j] = ev->leases[i];
    }
    free(ev->leases);
    ev->leases = n;
    ev->lcap = cap;
  }
  size_t j = eslot(ev, l->seq);
  while (ev->leases[j].seq != 0)
    j = (j + 1) & (ev->lcap - 1);
  ev->leases[j] = *l;
  ev->ln++;
  return 0;
}

/* Destroys the lease's message and removes it. */
static void elease_remove(ct__js_events_t *ev, elease_t *l) {
  natsMsg_Destroy(l->msg);
  size_t mask = ev->lcap - 1;
  size_t i = (size_t)(l - ev->leases);
  ev->leases[i] = (elease_t){0};
  for (size_t j = (i + 1) & mask; ev->leases[j].seq != 0; j = (j + 1) & mask) {
    size_t home = eslot(ev, ev->leases[j].seq);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      ev->leases[i] = ev->leases[j];
      ev->leases[j] = (elease_t){0};
      i = j;
    }
  }
  ev->ln--;
}

/* ---- names ---- */

/* Hex SHA-256 of the parts, the first `hex` characters (at most 64), into out. */
static void digest_hex(const char *const *parts, size_t n, size_t hex, char *out) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  bool ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
  for (size_t i = 0; ok && i < n; i++)
    ok = EVP_DigestUpdate(c, parts[i], strlen(parts[i])) == 1;
  ok = ok && EVP_DigestFinal_ex(c, md, &len) == 1;
  EVP_MD_CTX_free(c);
  if (!ok)
    memset(md, 0, sizeof md); /* no digest, no collision-free subject: the put fails below */
  static const char x[] = "0123456789abcdef";
  for (size_t i = 0; i < hex && i < 64; i++)
    out[i] = x[(md[i / 2] >> (i % 2 ? 0 : 4)) & 15];
  out[hex < 64 ? hex : 64] = '\0';
  if (!ok)
    out[0] = '\0';
}

/* ---- open ---- */

typedef struct {
  ct__js_events_t *ev;
  const char *name, *subjects;
  int replicas;
  int64_t dup_ms;
} estream_arg_t;

static natsStatus find_estream(ct__spool_backend_t *be, void *arg) {
  (void)be;
  const estream_arg_t *a = arg;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  ct__js_shared_t sh;
  ct__js_shared(be, &sh);
  natsStatus s = js_GetStreamInfo(&si, sh.js_ask, a->name, NULL, &jerr);
  if (si != NULL)
    jsStreamInfo_Destroy(si);
  return s != NATS_OK && jerr == JSStreamNotFoundErr ? NATS_NOT_FOUND : s;
}

static natsStatus create_estream(ct__spool_backend_t *be, void *arg, jsErrCode *jerr) {
  const estream_arg_t *a = arg;
  ct__js_shared_t sh;
  ct__js_shared(be, &sh);
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = a->name;
  const char *subj[1] = {a->subjects};
  cfg.Subjects = subj;
  cfg.SubjectsLen = 1;
  cfg.Retention = js_LimitsPolicy;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = a->replicas;
  cfg.MaxAge = a->ev->retention_ms * 1000000;
  cfg.Duplicates = a->dup_ms * 1000000;
  cfg.AllowDirect = true;
  jsStreamInfo *si = NULL;
  natsStatus s = js_AddStream(&si, sh.js_ask, &cfg, NULL, jerr);
  if (si != NULL)
    jsStreamInfo_Destroy(si);
  if (s == NATS_OK)
    ct_info("spool: created stream %s (%s, replicas %d)", a->name, a->subjects, a->replicas);
  return s;
}

static natsStatus find_econsumer(ct__spool_backend_t *be, void *arg) {
  const ct__js_events_t *ev = arg;
  ct__js_shared_t sh;
  ct__js_shared(be, &sh);
  jsConsumerInfo *ci = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetConsumerInfo(&ci, sh.js_ask, ev->stream, ev->consumer, NULL, &jerr);
  if (ci != NULL)
    jsConsumerInfo_Destroy(ci);
  return s != NATS_OK && jerr == JSConsumerNotFoundErr ? NATS_NOT_FOUND : s;
}

static natsStatus create_econsumer(ct__spool_backend_t *be, void *arg, jsErrCode *jerr) {
  const ct__js_events_t *ev = arg;
  ct__js_shared_t sh;
  ct__js_shared(be, &sh);
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = ev->consumer;
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = ev->ack_wait_ms * 1000000;
  cc.MaxDeliver = -1;
  cc.MaxAckPending = sh.max_ack_pending;
  cc.FilterSubject = ev->events_subj;
  cc.DeliverPolicy = js_DeliverAll;
  jsConsumerInfo *ci = NULL;
  natsStatus s = js_AddConsumer(&ci, sh.js_ask, ev->stream, &cc, NULL, jerr);
  if (ci != NULL)
    jsConsumerInfo_Destroy(ci);
  if (s == NATS_OK)
    ct_info("spool: created consumer %s on %s", ev->consumer, ev->stream);
  return s;
}

static natsStatus esubscribe(ct__spool_backend_t *be, void *arg) {
  ct__js_events_t *ev = arg;
  ct__js_shared_t sh;
  ct__js_shared(be, &sh);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 1000;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = ev->stream;
  so.Consumer = ev->consumer;
  jsErrCode jerr = 0;
  return js_PullSubscribe(&ev->sub, sh.js, ev->events_subj, ev->consumer, &jo, &so, &jerr);
}

int ct__js_events_open(ct__spool_backend_t *be, const ct_spool_options_t *opts,
                       ct__js_events_t **out) {
  ct__js_shared_t sh;
  ct__js_shared(be, &sh);
  ct__js_events_t *ev = calloc(1, sizeof *ev);
  if (ev == NULL)
    return CT_ENOMEM;
  snprintf(ev->stream, sizeof ev->stream, "%s_EVENTS", sh.stream);
  snprintf(ev->inbound, sizeof ev->inbound, "%s_INBOUND", sh.stream);
  snprintf(ev->consumer, sizeof ev->consumer, "%s-events", sh.consumer);
  snprintf(ev->prefix, sizeof ev->prefix, "%s", sh.prefix);
  snprintf(ev->events_subj, sizeof ev->events_subj, "%s.events.>", sh.prefix);
  snprintf(ev->inbound_subj, sizeof ev->inbound_subj, "%s.inbound.>", sh.prefix);
  ev->retention_ms = opts->event_retention_ms;
  ev->ack_wait_ms = sh.ack_wait_ms;
  ev->js = sh.js;
  /* the duplicate window may not exceed the max age */
  int64_t dup = sh.dup_window_ms < ev->retention_ms ? sh.dup_window_ms : ev->retention_ms;
  estream_arg_t ea = {ev, ev->stream, ev->events_subj, sh.replicas, dup};
  estream_arg_t ia = {ev, ev->inbound, ev->inbound_subj, sh.replicas, dup};
  char what[NAME_MAX_ + 48];
  snprintf(what, sizeof what, "stream %s", ev->stream);
  int rc = ct__js_ensure(be, what, find_estream, create_estream, &ea);
  if (rc == 0) {
    snprintf(what, sizeof what, "stream %s", ev->inbound);
    rc = ct__js_ensure(be, what, find_estream, create_estream, &ia);
  }
  if (rc == 0 && sh.owner) {
    snprintf(what, sizeof what, "consumer %s", ev->consumer);
    rc = ct__js_ensure(be, what, find_econsumer, create_econsumer, ev);
  }
  if (rc == 0 && sh.owner)
    rc = ct__js_ensure(be, "events pull subscription", esubscribe, NULL, ev);
  if (rc != 0) {
    ct__js_events_close(ev);
    return rc;
  }
  *out = ev;
  return 0;
}

void ct__js_events_close(ct__js_events_t *ev) {
  if (ev == NULL)
    return;
  for (size_t i = 0; i < ev->lcap; i++)
    if (ev->leases[i].seq != 0)
      natsMsg_Destroy(ev->leases[i].msg);
  free(ev->leases);
  if (ev->sub != NULL)
    natsSubscription_Destroy(ev->sub);
  free(ev);
}

/* ---- put ---- */

/* One create-only publish of `body` on `subject` as publish `idx`. */
static int publish_once(ct__spool_backend_t *be, const char *subject, const uint8_t *body,
                        size_t len, size_t idx, const char *msg_id) {
  natsMsg *m = NULL;
  natsStatus s = natsMsg_Create(&m, subject, NULL, (const char *)body, (int)len);
  if (s == NATS_OK)
    s = natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence", "0");
  if (s != NATS_OK) {
    natsMsg_Destroy(m);
    return ct__js_fail("event message", s);
  }
  return ct__js_batch_publish(be, &m, idx, msg_id);
}

int ct__js_events_put(ct__spool_backend_t *be, ct__js_events_t *ev,
                      const ct_event_t *const *events, size_t n, int64_t now_ms, int *results) {
  int *res = malloc(2 * n * sizeof *res);
  if (res == NULL)
    return CT_ENOMEM;
  for (size_t i = 0; i < 2 * n; i++)
    res[i] = 0;
  int rc = ct__js_batch_begin(be, 2 * n, res, NULL);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const ct_event_t *e = events[i];
    uint8_t *body;
    size_t len;
    if (e->received_ms != 0) {
      rc = ct_event_encode(e, &body, &len);
    } else {
      ct_event_t stamped = *e; /* shares e's text; only read */
      stamped.received_ms = now_ms;
      rc = ct_event_encode(&stamped, &body, &len);
    }
    if (rc != 0)
      break;
    char h[65], subject[NAME_MAX_ + 256], msg_id[80];
    const char *idp[] = {e->event_id};
    digest_hex(idp, 1, 64, h);
    if (h[0] == '\0') {
      free(body);
      rc = CT_ENOMEM;
      break;
    }
    snprintf(subject, sizeof subject, "%s.events.%s", ev->prefix, h);
    snprintf(msg_id, sizeof msg_id, "ev:%s", h);
    rc = publish_once(be, subject, body, len, 2 * i, msg_id);
    if (rc == 0 && e->kind == CT_EVENT_INBOUND) {
      char acct[96], s32[65], m64[65];
      ct__js_token(e->account, acct, sizeof acct);
      const char *fp[] = {e->from};
      digest_hex(fp, 1, 32, s32);
      const char *mp[] = {e->account, "\n", e->message_id[0] ? e->message_id : e->event_id};
      digest_hex(mp, 3, 64, m64);
      if (s32[0] == '\0' || m64[0] == '\0') {
        rc = CT_ENOMEM;
      } else {
        snprintf(subject, sizeof subject, "%s.inbound.%s.%s.%s", ev->prefix, acct, s32, m64);
        snprintf(msg_id, sizeof msg_id, "in:%s", m64);
        rc = publish_once(be, subject, body, len, 2 * i + 1, msg_id);
      }
    }
    free(body);
  }
  int wrc = ct__js_batch_wait(be);
  if (rc == 0)
    rc = wrc;
  for (size_t i = 0; rc == 0 && i < 2 * n; i++)
    if (res[i] != 0 && res[i] != CT_EDUPLICATE)
      rc = res[i];
  if (rc == 0)
    for (size_t i = 0; i < n; i++)
      results[i] = res[2 * i];
  free(res);
  return rc;
}

/* ---- take, ack, retry ---- */

int ct__js_events_take(ct__spool_backend_t *be, ct__js_events_t *ev, int64_t now_ms, size_t max,
                       ct_event_lease_t *out, size_t *n) {
  (void)be;
  if (ev->sub == NULL)
    return CT_EPERM;
  natsMsgList list = {0};
  natsStatus s = natsSubscription_Fetch(&list, ev->sub, max > 10000 ? 10000 : (int)max,
                                        FETCH_WAIT_MS, NULL);
  if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) {
    *n = 0;
    return 0;
  }
  if (s != NATS_OK)
    return ct__js_fail("fetch events", s);
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
    jsMsgMetaData_Destroy(meta);
    elease_t *held = elease_find(ev, seq);
    if (held != NULL) {
      /* delivered again while still ours: answer the newer delivery later */
      natsMsg_Destroy(held->msg);
      held->msg = m;
      held->touched_ms = now_ms;
      continue;
    }
    ct_event_lease_t *l = &out[got];
    memset(l, 0, sizeof *l);
    int drc = ct_event_decode((const uint8_t *)natsMsg_GetData(m),
                              (size_t)natsMsg_GetDataLength(m), &l->event);
    if (drc == CT_EDECODE) {
      ct_error("spool: jetstream event seq=%" PRIu64 " does not decode; acknowledged without "
               "being applied", seq);
      natsMsg_Term(m, NULL);
      natsMsg_Destroy(m);
      continue;
    }
    elease_t nl = {.seq = seq, .msg = m, .touched_ms = now_ms};
    if (drc == 0)
      drc = elease_add(ev, &nl);
    if (drc != 0) {
      ct_event_lease_free(l);
      natsMsg_Nak(m, NULL);
      natsMsg_Destroy(m);
      rc = drc;
      continue;
    }
    l->seq = (int64_t)seq;
    l->attempts = delivered > 0 ? (uint32_t)(delivered - 1) : 0;
    got++;
  }
  natsMsgList_Destroy(&list);
  if (rc != 0) {
    for (size_t i = 0; i < got; i++) {
      elease_t *l = elease_find(ev, (uint64_t)out[i].seq);
      if (l != NULL) {
        natsMsg_Nak(l->msg, NULL);
        elease_remove(ev, l);
      }
      ct_event_lease_free(&out[i]);
    }
    return rc;
  }
  *n = got;
  return 0;
}

int ct__js_events_ack(ct__js_events_t *ev, const int64_t *seqs, size_t n, int *results) {
  for (size_t i = 0; i < n; i++) {
    elease_t *l = seqs[i] > 0 ? elease_find(ev, (uint64_t)seqs[i]) : NULL;
    if (l == NULL) {
      results[i] = CT_ESTATE;
      continue;
    }
    natsStatus s = natsMsg_Ack(l->msg, NULL);
    if (s != NATS_OK) {
      results[i] = ct__js_fail("event ack", s);
      continue; /* the lease stays: ack again, or the server hands it out again */
    }
    results[i] = 0;
    elease_remove(ev, l);
  }
  return 0;
}

int ct__js_events_retry(ct__js_events_t *ev, const int64_t *seqs, size_t n, int64_t due_ms,
                        int64_t now_ms, int *results) {
  int64_t delay = due_ms > now_ms ? due_ms - now_ms : 0;
  for (size_t i = 0; i < n; i++) {
    elease_t *l = seqs[i] > 0 ? elease_find(ev, (uint64_t)seqs[i]) : NULL;
    if (l == NULL) {
      results[i] = CT_ESTATE;
      continue;
    }
    natsStatus s = natsMsg_NakWithDelay(l->msg, delay, NULL);
    if (s != NATS_OK) {
      results[i] = ct__js_fail("event nak", s);
      continue;
    }
    results[i] = 0;
    elease_remove(ev, l);
  }
  return 0;
}

int ct__js_events_keepalive(ct__js_events_t *ev, int64_t now_ms) {
  int64_t every = ev->ack_wait_ms / 3;
  int rc = 0;
  for (size_t i = 0; i < ev->lcap; i++) {
    elease_t *l = &ev->leases[i];
    if (l->seq == 0 || now_ms - l->touched_ms < every)
      continue;
    if (natsMsg_InProgress(l->msg, NULL) == NATS_OK)
      l->touched_ms = now_ms;
    else
      rc = CT_EIO;
  }
  return rc;
}

/* ---- stats ---- */

/* The event at or after stream sequence `seq`, decoded; false when there is none. */
static bool event_at(ct__js_events_t *ev, uint64_t seq, ct_event_t *out) {
  jsDirectGetMsgOptions o;
  jsDirectGetMsgOptions_Init(&o);
  o.Sequence = seq > 0 ? seq : 1;
  o.NextBySubject = ev->events_subj;
  natsMsg *m = NULL;
  if (js_DirectGetMsg(&m, ev->js, ev->stream, NULL, &o) != NATS_OK)
    return false;
  bool ok = ct_event_decode((const uint8_t *)natsMsg_GetData(m),
                            (size_t)natsMsg_GetDataLength(m), out) == 0;
  natsMsg_Destroy(m);
  return ok;
}

int ct__js_events_stats(ct__spool_backend_t *be, ct__js_events_t *ev, ct_event_stats_t *out) {
  (void)be;
  ct_event_stats_t st = {0};
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetStreamInfo(&si, ev->js, ev->stream, NULL, &jerr);
  if (s != NATS_OK)
    return ct__js_fail("events stream info", s);
  uint64_t total = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  s = js_GetStreamInfo(&si, ev->js, ev->inbound, NULL, &jerr);
  if (s != NATS_OK)
    return ct__js_fail("inbound stream info", s);
  st.inbound = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  jsConsumerInfo *ci = NULL;
  s = js_GetConsumerInfo(&ci, ev->js, ev->stream, ev->consumer, NULL, &jerr);
  uint64_t floor = 0;
  if (s == NATS_OK) {
    st.pending = ci->NumPending + (uint64_t)ci->NumAckPending;
    floor = ci->AckFloor.Stream;
    jsConsumerInfo_Destroy(ci);
  } else if (jerr == JSConsumerNotFoundErr) {
    st.pending = total; /* no owner has taken any */
  } else {
    return ct__js_fail("events consumer info", s);
  }
  if (st.pending > total)
    st.pending = total;
  st.done = total - st.pending;
  ct_event_t e;
  memset(&e, 0, sizeof e);
  if (st.pending > 0 && event_at(ev, floor + 1, &e)) {
    st.oldest_pending_ms = e.received_ms;
    ct_event_clear(&e);
  }
  *out = st;
  return 0;
}

/* ---- inbound messages ---- */

int ct__js_inbound_list(ct__spool_backend_t *be, ct__js_events_t *ev,
                        const ct_inbound_filter_t *f,
                        int (*visit)(const ct_event_t *e, void *arg), void *arg) {
  (void)be;
  char acct[96] = "*", s32[65] = "*", filter[NAME_MAX_ + 256];
  if (f->account != NULL && f->account[0] != '\0')
    ct__js_token(f->account, acct, sizeof acct);
  if (f->from != NULL && f->from[0] != '\0') {
    const char *fp[] = {f->from};
    digest_hex(fp, 1, 32, s32);
  }
  snprintf(filter, sizeof filter, "%s.inbound.%s.%s.*", ev->prefix, acct, s32);
  /* an operator's or a conversation's lookup: a walk in stream order (arrival), which is
   * also time order within the retention */
  uint64_t next = 1;
  size_t seen = 0;
  for (;;) {
    if (f->limit > 0 && seen == f->limit)
      return 0;
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = next;
    o.NextBySubject = filter;
    natsMsg *m = NULL;
    natsStatus s = js_DirectGetMsg(&m, ev->js, ev->inbound, NULL, &o);
    if (s == NATS_NOT_FOUND)
      return 0;
    if (s != NATS_OK)
      return ct__js_fail("inbound direct get", s);
    next = natsMsg_GetSequence(m) + 1;
    ct_event_t e;
    memset(&e, 0, sizeof e);
    int rc = ct_event_decode((const uint8_t *)natsMsg_GetData(m),
                             (size_t)natsMsg_GetDataLength(m), &e);
    natsMsg_Destroy(m);
    if (rc == CT_EDECODE)
      return CT_ECORRUPT;
    if (rc != 0)
      return rc;
    /* the subject's sender hash is 32 hex: check the sender itself as well */
    bool match = (e.at_ms != 0 ? e.at_ms : e.received_ms) >= f->since_ms &&
                 (f->from == NULL || f->from[0] == '\0' || strcmp(e.from, f->from) == 0);
    if (match) {
      seen++;
      rc = visit(&e, arg);
    }
    ct_event_clear(&e);
    if (rc != 0)
      return rc;
  }
}
