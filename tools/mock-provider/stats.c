/* What the mock saw: counters per endpoint and outcome, the message-key table that finds
 * duplicate sends, per-second peaks, and a ring of the last N request records.
 *
 * Message keys. Every valid provider request has a 64-bit key naming the logical message
 * (the rule per provider is in README.md). The key table maps it to two numbers: how many
 * attempts arrived (which drives fault.c's per-attempt fate) and how many were answered 2xx.
 * A request whose key already had a 2xx is a duplicate: carteiro promised not to send it
 * again. The table grows by doubling up to a slot count derived from max_keys; once full,
 * new keys are not tracked (counted as "untracked") and the memory stays where it is.
 *
 * Peaks. "Maximum requests in any one-second window" is kept as a sliding window of 100
 * buckets of 10 ms: each request advances the window to its tick, and the running sum of the
 * last 100 buckets is compared with the peak. The answer is exact to the 10 ms step, costs
 * O(1) per request amortized, and needs 400 bytes per counter whatever the rate.
 */
#include <stdlib.h>
#include <string.h>

#include "mock.h"

#define WIN_BUCKETS 100
#define WIN_TICK_MS 10

typedef struct {
  bool started;
  int64_t tick;
  uint32_t sum;
  uint32_t peak;
  uint32_t bucket[WIN_BUCKETS];
} window_t;

typedef struct {
  char name[MOCK_ACCOUNT_LEN];
  uint64_t hash;
  uint64_t requests;
  uint64_t ok;
  window_t recv, acc;
} account_t;

typedef struct {
  uint64_t requests;
  uint64_t bytes_in;
  uint64_t outcomes[MOCK_OUT_COUNT];
  uint64_t slow;
  uint64_t duplicates;
  uint64_t duplicates_accepted;
  uint64_t unique_accepted;
  window_t recv, acc;
  account_t accounts[MOCK_MAX_ACCOUNTS];
  size_t naccounts;
  account_t overflow; /* accounts past MOCK_MAX_ACCOUNTS share this one */
} ep_stats_t;

typedef struct {
  uint64_t key; /* 0 = empty */
  uint32_t attempts;
  uint32_t accepted;
} slot_t;

struct mock_stats {
  ep_stats_t ep[MOCK_EP_COUNT];
  uint64_t other;
  /* key table: open addressing, linear probing, power-of-two size */
  slot_t *slots;
  size_t nslots;
  size_t max_slots;
  size_t nkeys;
  size_t max_keys;
  uint64_t untracked;
  /* record ring */
  mock_record_t *ring;
  size_t ring_cap;
  uint64_t next_seq;
};

#define INITIAL_SLOTS 4096

static void window_add(window_t *w, int64_t now_ms)
{
  int64_t t = now_ms / WIN_TICK_MS;
  if (!w->started || t - w->tick >= WIN_BUCKETS) {
    memset(w->bucket, 0, sizeof(w->bucket));
    w->sum = 0;
    w->started = true;
    w->tick = t;
  } else if (t > w->tick) {
    /* buckets between the last tick and now fall out of the window */
    for (int64_t k = w->tick + 1; k <= t; k++) {
      uint32_t *b = &w->bucket[k % WIN_BUCKETS];
      w->sum -= *b;
      *b = 0;
    }
    w->tick = t;
  }
  w->bucket[w->tick % WIN_BUCKETS]++;
  w->sum++;
  if (w->sum > w->peak)
    w->peak = w->sum;
}

static size_t pow2_at_least(size_t n)
{
  size_t p = 1;
  while (p < n)
    p <<= 1;
  return p;
}

mock_stats_t *mock_stats_new(size_t records, size_t max_keys)
{
  mock_stats_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    goto fail;
  s->max_keys = max_keys;
  /* at most 3/4 full */
  s->max_slots = pow2_at_least(max_keys + max_keys / 3 + 1);
  s->nslots = s->max_slots < INITIAL_SLOTS ? s->max_slots : INITIAL_SLOTS;
  s->slots = calloc(s->nslots, sizeof(*s->slots));
  if (s->slots == NULL)
    goto fail_slots;
  s->ring_cap = records > 0 ? records : 1;
  s->ring = calloc(s->ring_cap, sizeof(*s->ring));
  if (s->ring == NULL)
    goto fail_ring;
  s->next_seq = 1;
  return s;

fail_ring:
  free(s->slots);
fail_slots:
  free(s);
fail:
  return NULL;
}

void mock_stats_free(mock_stats_t *s)
{
  if (s == NULL)
    return;
  free(s->ring);
  free(s->slots);
  free(s);
}

void mock_stats_reset(mock_stats_t *s)
{
  memset(s->ep, 0, sizeof(s->ep));
  s->other = 0;
  memset(s->slots, 0, s->nslots * sizeof(*s->slots));
  s->nkeys = 0;
  s->untracked = 0;
  memset(s->ring, 0, s->ring_cap * sizeof(*s->ring));
  s->next_seq = 1;
}

static account_t *account_of(ep_stats_t *e, const char *name)
{
  size_t n = strlen(name);
  uint64_t h = mock_hash_bytes(MOCK_HASH_INIT, name, n);
  for (size_t i = 0; i < e->naccounts; i++)
    if (e->accounts[i].hash == h && strcmp(e->accounts[i].name, name) == 0)
      return &e->accounts[i];
  if (e->naccounts == MOCK_MAX_ACCOUNTS)
    return &e->overflow;
  account_t *a = &e->accounts[e->naccounts++];
  mock_copy(a->name, sizeof(a->name), name, n);
  a->hash = h;
  return a;
}

void mock_stats_received(mock_stats_t *s, mock_ep_t ep, const char *account, int64_t now_ms,
                         size_t body_bytes)
{
  ep_stats_t *e = &s->ep[ep];
  e->requests++;
  e->bytes_in += body_bytes;
  window_add(&e->recv, now_ms);
  account_t *a = account_of(e, account);
  a->requests++;
  window_add(&a->recv, now_ms);
}

void mock_stats_other(mock_stats_t *s)
{
  s->other++;
}

/* ---- key table ---- */

static slot_t *probe(slot_t *slots, size_t nslots, uint64_t key)
{
  size_t mask = nslots - 1;
  size_t i = (size_t)mock_mix64(key) & mask;
  while (slots[i].key != 0 && slots[i].key != key)
    i = (i + 1) & mask;
  return &slots[i];
}

static bool grow(mock_stats_t *s)
{
  if (s->nslots >= s->max_slots)
    return false;
  size_t n = s->nslots * 2;
  slot_t *fresh = calloc(n, sizeof(*fresh));
  if (fresh == NULL)
    return false;
  for (size_t i = 0; i < s->nslots; i++)
    if (s->slots[i].key != 0)
      *probe(fresh, n, s->slots[i].key) = s->slots[i];
  free(s->slots);
  s->slots = fresh;
  s->nslots = n;
  return true;
}

/* The slot of `key`, inserted when `insert` and there is room; NULL otherwise. */
static slot_t *key_slot(mock_stats_t *s, uint64_t key, bool insert)
{
  if (key == 0)
    key = 1; /* 0 marks empty slots */
  slot_t *sl = probe(s->slots, s->nslots, key);
  if (sl->key == key)
    return sl;
  if (!insert)
    return NULL;
  if (s->nkeys >= s->max_keys)
    return NULL;
  if ((s->nkeys + 1) * 4 > s->nslots * 3) {
    if (!grow(s))
      return NULL;
    sl = probe(s->slots, s->nslots, key);
  }
  sl->key = key;
  s->nkeys++;
  return sl;
}

uint32_t mock_stats_attempt(mock_stats_t *s, uint64_t key)
{
  slot_t *sl = key_slot(s, key, true);
  if (sl == NULL) {
    s->untracked++;
    return 0;
  }
  return sl->attempts++;
}

/* ---- answers and records ---- */

void mock_stats_answered(mock_stats_t *s, const mock_call_t *call, int64_t now_ms)
{
  ep_stats_t *e = &s->ep[call->ep];
  bool ok = call->outcome == MOCK_OUT_OK;
  bool dup = false;

  e->outcomes[call->outcome]++;
  if (call->slow)
    e->slow++;
  if (call->has_key) {
    slot_t *sl = key_slot(s, call->key, false);
    if (sl != NULL && sl->accepted > 0) {
      dup = true;
      e->duplicates++;
      if (ok)
        e->duplicates_accepted++;
    }
    if (ok && sl != NULL) {
      if (sl->accepted == 0)
        e->unique_accepted++;
      sl->accepted++;
    }
  }
  if (ok) {
    window_add(&e->acc, now_ms);
    account_t *a = account_of(e, call->account);
    a->ok++;
    window_add(&a->acc, now_ms);
  }

  mock_record_t *r = &s->ring[(s->next_seq - 1) % s->ring_cap];
  r->seq = s->next_seq++;
  r->at_ms = call->received_ms;
  r->ep = (uint8_t)call->ep;
  r->outcome = (uint8_t)call->outcome;
  r->http_version = (uint8_t)(call->http_version >> 8);
  r->slow = call->slow;
  r->duplicate = dup;
  r->status = (uint16_t)call->status;
  r->error_code = call->error_code;
  r->latency_ms = call->delay_ms;
  r->attempt = call->attempt;
  r->body_bytes = call->body_bytes;
  r->key = call->has_key ? call->key : 0;
  memcpy(r->account, call->account, sizeof(r->account));
  memcpy(r->recipient, call->recipient, sizeof(r->recipient));
  memcpy(r->msg_id, call->msg_id, sizeof(r->msg_id));
  memcpy(r->sha256, call->sha256, sizeof(r->sha256));
  memcpy(r->detail, call->detail, sizeof(r->detail));
  memcpy(r->doc_id, call->doc_id, sizeof(r->doc_id));
  memcpy(r->doc_sha256, call->doc_sha256, sizeof(r->doc_sha256));
  memcpy(r->doc_filename, call->doc_filename, sizeof(r->doc_filename));
  memcpy(r->user_agent, call->user_agent, sizeof(r->user_agent));
}

/* ---- JSON ---- */

static json_t *outcomes_json(const uint64_t *o)
{
  json_t *j = json_object();
  for (int i = 0; i < MOCK_OUT_COUNT; i++)
    json_object_set_new(j, mock_outcome_name((mock_outcome_t)i), json_integer((json_int_t)o[i]));
  return j;
}

static json_t *account_json(const account_t *a)
{
  return json_pack("{s:I, s:I, s:I, s:I}", "requests", (json_int_t)a->requests, "ok", (json_int_t)a->ok,
                   "peak_rps_received", (json_int_t)a->recv.peak, "peak_rps_accepted",
                   (json_int_t)a->acc.peak);
}

json_t *mock_stats_to_json(const mock_stats_t *s, int64_t now_ms)
{
  (void)now_ms;
  json_t *eps = json_object();
  uint64_t total_req = 0, total_ok = 0, total_dup = 0;
  for (int i = 0; i < MOCK_EP_COUNT; i++) {
    const ep_stats_t *e = &s->ep[i];
    json_t *accounts = json_object();
    for (size_t k = 0; k < e->naccounts; k++)
      json_object_set_new(accounts, e->accounts[k].name, account_json(&e->accounts[k]));
    if (e->overflow.requests > 0)
      json_object_set_new(accounts, "_other", account_json(&e->overflow));
    json_t *j = json_pack(
        "{s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "requests", (json_int_t)e->requests, "bytes_received",
        (json_int_t)e->bytes_in, "outcomes", outcomes_json(e->outcomes), "slow",
        (json_int_t)e->slow, "unique_keys", (json_int_t)e->unique_accepted, "duplicates",
        (json_int_t)e->duplicates, "duplicates_accepted", (json_int_t)e->duplicates_accepted,
        "peak_rps_received", (json_int_t)e->recv.peak, "peak_rps_accepted",
        (json_int_t)e->acc.peak, "accounts", accounts);
    json_object_set_new(eps, mock_ep_name((mock_ep_t)i), j);
    total_req += e->requests;
    total_ok += e->outcomes[MOCK_OUT_OK];
    total_dup += e->duplicates;
  }
  uint64_t stored = s->next_seq - 1 < s->ring_cap ? s->next_seq - 1 : s->ring_cap;
  return json_pack("{s:o, s:{s:I, s:I, s:I}, s:{s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}}", "endpoints", eps, "total",
                   "requests", (json_int_t)total_req, "ok", (json_int_t)total_ok, "duplicates",
                   (json_int_t)total_dup, "other", "requests", (json_int_t)s->other, "keys",
                   "tracked", (json_int_t)s->nkeys, "capacity", (json_int_t)s->max_keys,
                   "untracked", (json_int_t)s->untracked, "records", "capacity",
                   (json_int_t)s->ring_cap, "stored", (json_int_t)stored, "last_seq",
                   (json_int_t)(s->next_seq - 1));
}

/* Adds `s` under `name` when it is non-empty (and valid UTF-8: a file name from a multipart
 * header is whatever the client sent, and is left out rather than spoiling the record). */
static void set_optional(json_t *j, const char *name, const char *s)
{
  if (s[0] == '\0')
    return;
  json_t *v = json_string(s);
  if (v != NULL)
    json_object_set_new(j, name, v);
}

static json_t *record_json(const mock_record_t *r)
{
  char key[17];
  unsigned char kb[8];
  for (int i = 0; i < 8; i++)
    kb[i] = (unsigned char)(r->key >> (56 - 8 * i));
  h2o_hex_encode(key, kb, sizeof(kb));
  json_t *detail = r->detail[0] != '\0' ? json_loads(r->detail, 0, NULL) : NULL;
  json_t *j = json_pack(
      "{s:I, s:I, s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:I, s:b, s:I, s:b, s:s}", "seq", (json_int_t)r->seq, "at_ms",
      (json_int_t)r->at_ms, "endpoint", mock_ep_name((mock_ep_t)r->ep), "account", r->account,
      "status", (int)r->status, "outcome", mock_outcome_name((mock_outcome_t)r->outcome),
      "error_code", (int)r->error_code, "recipient", r->recipient, "message_id", r->msg_id,
      "key", r->key != 0 ? key : "", "attempt", (json_int_t)r->attempt, "duplicate",
      r->duplicate, "latency_ms", (json_int_t)r->latency_ms, "slow", r->slow, "http_version",
      r->http_version == 2 ? "2" : "1.1");
  json_object_set_new(j, "body_bytes", json_integer((json_int_t)r->body_bytes));
  set_optional(j, "sha256", r->sha256);
  set_optional(j, "document_id", r->doc_id);
  set_optional(j, "document_sha256", r->doc_sha256);
  set_optional(j, "document_filename", r->doc_filename);
  set_optional(j, "user_agent", r->user_agent);
  json_object_set_new(j, "detail", detail != NULL ? detail : json_null());
  return j;
}

json_t *mock_stats_records(const mock_stats_t *s, uint64_t since, size_t limit, int ep,
                           const char *recipient)
{
  json_t *arr = json_array();
  uint64_t last = s->next_seq - 1;
  uint64_t first = last >= s->ring_cap ? last - s->ring_cap + 1 : 1;
  if (since + 1 > first)
    first = since + 1;
  uint64_t next = last;
  for (uint64_t seq = first; seq <= last; seq++) {
    if (json_array_size(arr) >= limit) {
      next = seq - 1;
      break;
    }
    const mock_record_t *r = &s->ring[(seq - 1) % s->ring_cap];
    if (ep >= 0 && r->ep != ep)
      continue;
    if (recipient != NULL && strcmp(recipient, r->recipient) != 0)
      continue;
    json_array_append_new(arr, record_json(r));
  }
  /* "next" is the seq to pass as ?since= to continue where this page stopped */
  return json_pack("{s:o, s:I}", "records", arr, "next", (json_int_t)next);
}
