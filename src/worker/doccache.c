/* The prepared-document cache (see doccache.h for why it exists and its bounds).
 *
 * Layout: a chained hash table on job ids for lookups, and one intrusive list of the same
 * entries in the order they were stored, oldest first. Storing again under a key moves the
 * entry to the tail with a new time, so the list stays sorted by time: expiry and eviction
 * both take from the head and stop at the first entry they keep. Each entry is one
 * allocation: the header, the key, then the document bytes.
 *
 * Invariants (under the mutex): `bytes` is the sum of the entries' `len`, and is at most
 * `cap` after every call returns; every entry is on both the list and its bucket's chain. */
#include "worker/doccache.h"

#include "common/error.h"
#include "common/list.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  ct_list_t age;       /* on the cache's list, oldest first */
  struct entry *next;  /* bucket chain */
  uint64_t hash;
  int64_t born_ms;
  size_t len;
  uint8_t *data;       /* points into this allocation, after the key */
  char sha256[65];
  char key[];
} entry_t;

struct ct_doccache {
  pthread_mutex_t mu;
  entry_t **buckets;
  size_t n_buckets;    /* a power of two */
  ct_list_t by_age;
  size_t cap;
  int64_t max_age_ms;
  ct_doccache_stats_t st;
};

#define FIRST_BUCKETS 256

static uint64_t hash_key(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s != '\0'; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

int ct_doccache_new(size_t cap_bytes, int64_t max_age_ms, ct_doccache_t **out) {
  assert(max_age_ms > 0);
  ct_doccache_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return CT_ENOMEM;
  c->buckets = calloc(FIRST_BUCKETS, sizeof *c->buckets);
  if (c->buckets == NULL)
    goto fail_cache;
  if (pthread_mutex_init(&c->mu, NULL) != 0)
    goto fail_buckets;
  c->n_buckets = FIRST_BUCKETS;
  ct_list_init(&c->by_age);
  c->cap = cap_bytes;
  c->max_age_ms = max_age_ms;
  c->st.cap_bytes = cap_bytes;
  *out = c;
  return 0;

fail_buckets:
  free(c->buckets);
fail_cache:
  free(c);
  return CT_ENOMEM;
}

static entry_t **slot_of(ct_doccache_t *c, const char *key, uint64_t h) {
  entry_t **p = &c->buckets[h & (c->n_buckets - 1)];
  while (*p != NULL && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
    p = &(*p)->next;
  return p;
}

/* Unlinks `e` from both structures and frees it. */
static void drop(ct_doccache_t *c, entry_t *e) {
  entry_t **p = slot_of(c, e->key, e->hash);
  assert(*p == e);
  *p = e->next;
  ct_list_remove(&e->age);
  c->st.bytes -= e->len;
  c->st.entries--;
  free(e);
}

static entry_t *oldest(ct_doccache_t *c) {
  ct_list_t *n = ct_list_first(&c->by_age);
  return n != NULL ? ct_container_of(n, entry_t, age) : NULL;
}

static bool expired(const ct_doccache_t *c, const entry_t *e, int64_t now_ms) {
  return now_ms - e->born_ms >= c->max_age_ms;
}

static void expire(ct_doccache_t *c, int64_t now_ms) {
  entry_t *e;
  while ((e = oldest(c)) != NULL && expired(c, e, now_ms)) {
    drop(c, e);
    c->st.expirations++;
  }
}

/* Evicts from the head until `room` more bytes fit under the cap (the caller made sure
 * room <= cap). */
static void make_room(ct_doccache_t *c, size_t room) {
  entry_t *e;
  while (c->st.bytes + room > c->cap && (e = oldest(c)) != NULL) {
    drop(c, e);
    c->st.evictions++;
  }
}

/* Doubles the table when entries outnumber buckets; on no memory, chains just get longer. */
static void maybe_grow(ct_doccache_t *c) {
  if (c->st.entries < c->n_buckets)
    return;
  size_t n = c->n_buckets * 2;
  entry_t **b = calloc(n, sizeof *b);
  if (b == NULL)
    return;
  for (size_t i = 0; i < c->n_buckets; i++) {
    entry_t *e = c->buckets[i];
    while (e != NULL) {
      entry_t *next = e->next;
      e->next = b[e->hash & (n - 1)];
      b[e->hash & (n - 1)] = e;
      e = next;
    }
  }
  free(c->buckets);
  c->buckets = b;
  c->n_buckets = n;
}

void ct_doccache_free(ct_doccache_t *c) {
  if (c == NULL)
    return;
  entry_t *e;
  while ((e = oldest(c)) != NULL)
    drop(c, e);
  pthread_mutex_destroy(&c->mu);
  free(c->buckets);
  free(c);
}

void ct_doccache_set_cap(ct_doccache_t *c, size_t cap_bytes) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->mu);
  c->cap = cap_bytes;
  c->st.cap_bytes = cap_bytes;
  make_room(c, 0);
  pthread_mutex_unlock(&c->mu);
}

bool ct_doccache_get(ct_doccache_t *c, const char *key, int64_t now_ms, ct_bytes_t *out,
                     char sha256[65]) {
  if (c == NULL)
    return false;
  pthread_mutex_lock(&c->mu);
  expire(c, now_ms);
  uint64_t h = hash_key(key);
  entry_t *e = *slot_of(c, key, h);
  uint8_t *copy = NULL;
  if (e != NULL) {
    copy = malloc(e->len);
    if (copy != NULL) {
      memcpy(copy, e->data, e->len);
      memcpy(sha256, e->sha256, sizeof e->sha256);
      *out = (ct_bytes_t){.data = copy, .len = e->len};
    }
  }
  if (copy != NULL)
    c->st.hits++;
  else
    c->st.misses++;
  pthread_mutex_unlock(&c->mu);
  return copy != NULL;
}

void ct_doccache_put(ct_doccache_t *c, const char *key, const uint8_t *data, size_t len,
                     const char sha256[65], int64_t now_ms) {
  if (c == NULL || len == 0)
    return;
  /* The copy is made before taking the lock: other workers need not wait for it. */
  size_t klen = strlen(key);
  entry_t *e = malloc(sizeof *e + klen + 1 + len);
  if (e == NULL)
    return;
  e->hash = hash_key(key);
  e->len = len;
  memcpy(e->key, key, klen + 1);
  e->data = (uint8_t *)e->key + klen + 1;
  memcpy(e->data, data, len);
  memcpy(e->sha256, sha256, sizeof e->sha256 - 1);
  e->sha256[64] = '\0';

  pthread_mutex_lock(&c->mu);
  entry_t *old = *slot_of(c, key, e->hash);
  if (old != NULL)
    drop(c, old);
  expire(c, now_ms);
  if (len > c->cap) { /* also the disabled cache */
    pthread_mutex_unlock(&c->mu);
    free(e);
    return;
  }
  make_room(c, len);
  /* Workers' clocks are read a moment apart: never older than the newest entry, so the list
   * stays sorted by time. */
  entry_t *newest = ct_list_empty(&c->by_age)
                        ? NULL
                        : ct_container_of(c->by_age.prev, entry_t, age);
  e->born_ms = newest != NULL && newest->born_ms > now_ms ? newest->born_ms : now_ms;
  entry_t **slot = &c->buckets[e->hash & (c->n_buckets - 1)];
  e->next = *slot;
  *slot = e;
  ct_list_insert_tail(&c->by_age, &e->age);
  c->st.bytes += len;
  c->st.entries++;
  maybe_grow(c);
  pthread_mutex_unlock(&c->mu);
}

void ct_doccache_remove(ct_doccache_t *c, const char *key) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->mu);
  entry_t *e = *slot_of(c, key, hash_key(key));
  if (e != NULL)
    drop(c, e);
  pthread_mutex_unlock(&c->mu);
}

void ct_doccache_stats(ct_doccache_t *c, ct_doccache_stats_t *out) {
  if (c == NULL) {
    *out = (ct_doccache_stats_t){0};
    return;
  }
  pthread_mutex_lock(&c->mu);
  *out = c->st;
  pthread_mutex_unlock(&c->mu);
}
