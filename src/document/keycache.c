/* The key cache (see document.h for what it holds and why it is safe to reuse).
 *
 * Layout: one anonymous mapping holds the cache's header (mutex, secret, counters) and an
 * array of `capacity` entries, so that everything secret lives in memory that is excluded
 * from core dumps, not inherited by a child process, and locked in RAM as it is touched
 * (mlock2 MLOCK_ONFAULT, where the process may lock memory). No entry is ever allocated or
 * freed on its own: unused entries wait on a free list, used ones are on a chained hash table
 * of their tags and on one list in order of use, least recent first. Eviction takes the head
 * of that list, wipes it, and reuses it.
 *
 * Invariants (under the mutex): every entry is on exactly one of the free list and the use
 * list; an entry is on the use list iff it is on its bucket's chain; `entries` counts the use
 * list.
 *
 * Tags: HMAC-SHA-256 under a 32-byte secret drawn from the OS CSPRNG when the cache is made,
 * over a fixed-size message: a version label, SHA-256 of the tenant, the day (64 bits), the
 * policy (32 bits) and SHA-256 of the password. Hashing the two strings first makes every
 * field fixed-size, so no two scopes can encode to the same message.
 */
#define _GNU_SOURCE /* mlock2(), glibc's name for it */

#include "document/document_int.h"

#include "common/error.h"
#include "common/list.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct entry {
  ct_list_t use;      /* on the use list (least recent first) or on the free list */
  struct entry *next; /* bucket chain */
  uint8_t tag[32];
  ct__pdf_keys_t keys;
} entry_t;

struct ct_keycache {
  pthread_mutex_t mu;
  uint8_t secret[32];
  size_t map_len;     /* the whole mapping, this header included */
  entry_t *entries;   /* `capacity` of them, after this header */
  size_t capacity;
  entry_t **buckets;  /* a power of two at least `capacity` */
  size_t n_buckets;
  ct_list_t by_use;
  ct_list_t free;
  ct_keycache_stats_t st;
};

size_t ct_keycache_entry_size(void) { return sizeof(entry_t); }

int ct_keycache_new(size_t max_entries, size_t max_bytes, ct_keycache_t **out) {
  size_t header = (sizeof(ct_keycache_t) + 63) & ~(size_t)63;
  size_t fit = max_bytes / sizeof(entry_t);
  size_t capacity = max_entries < fit ? max_entries : fit;
  if (capacity == 0)
    return CT_EINVAL;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t len = (header + capacity * sizeof(entry_t) + page - 1) & ~(page - 1);
  void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED)
    return CT_ENOMEM;
  /* Best effort, each: a kernel without them still gets a working cache. */
  (void)madvise(map, len, MADV_DONTDUMP);
  (void)madvise(map, len, MADV_WIPEONFORK);
  bool locked = mlock2(map, len, MLOCK_ONFAULT) == 0;

  int rc = CT_ENOMEM;
  ct_keycache_t *c = map;
  size_t n_buckets = 1;
  while (n_buckets < capacity)
    n_buckets *= 2;
  c->buckets = calloc(n_buckets, sizeof *c->buckets);
  if (c->buckets == NULL)
    goto fail_map;
  rc = CT_EIO;
  if (RAND_bytes(c->secret, (int)sizeof c->secret) != 1)
    goto fail_buckets;
  rc = CT_ENOMEM;
  if (pthread_mutex_init(&c->mu, NULL) != 0)
    goto fail_buckets;
  c->map_len = len;
  c->entries = (entry_t *)((uint8_t *)map + header);
  c->capacity = capacity;
  c->n_buckets = n_buckets;
  ct_list_init(&c->by_use);
  ct_list_init(&c->free);
  for (size_t i = 0; i < capacity; i++)
    ct_list_insert_tail(&c->free, &c->entries[i].use);
  c->st.capacity = capacity;
  c->st.locked = locked;
  *out = c;
  return 0;

fail_buckets:
  free(c->buckets);
fail_map:
  explicit_bzero(map, sizeof(ct_keycache_t));
  munmap(map, len);
  return rc;
}

void ct_keycache_free(ct_keycache_t *c) {
  if (c == NULL)
    return;
  pthread_mutex_destroy(&c->mu);
  free(c->buckets);
  size_t len = c->map_len;
  explicit_bzero(c, len);
  munlock(c, len);
  munmap(c, len);
}

void ct_keycache_stats(ct_keycache_t *c, ct_keycache_stats_t *out) {
  if (c == NULL) {
    *out = (ct_keycache_stats_t){0};
    return;
  }
  pthread_mutex_lock(&c->mu);
  *out = c->st;
  pthread_mutex_unlock(&c->mu);
}

static void put_be(uint8_t *p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

void ct__keycache_tag(ct_keycache_t *c, const char *tenant, int64_t day, int policy,
                      const char *password, uint8_t tag[32]) {
  static const char label[] = "carteiro pdf keys v1"; /* 20 bytes, no NUL */
  uint8_t msg[20 + 32 + 8 + 4 + 32];
  memcpy(msg, label, 20);
  unsigned int n = 0;
  EVP_Digest(tenant, strlen(tenant), msg + 20, &n, EVP_sha256(), NULL);
  put_be(msg + 52, (uint64_t)day, 8);
  put_be(msg + 60, (uint32_t)policy, 4);
  EVP_Digest(password, strlen(password), msg + 64, &n, EVP_sha256(), NULL);
  unsigned int len = 32;
  /* The secret is written once, before the cache is shared: no lock to read it. */
  HMAC(EVP_sha256(), c->secret, (int)sizeof c->secret, msg, sizeof msg, tag, &len);
  explicit_bzero(msg, sizeof msg);
}

/* tag: 32 bytes. (A pointer, not `tag[32]`: gcc -Os took the bound for an access size and
 * flagged an evicted entry's tag, reached through the list, as a region of size 0.) */
static entry_t **slot_of(ct_keycache_t *c, const uint8_t *tag) {
  size_t h = ((size_t)tag[0] | (size_t)tag[1] << 8 | (size_t)tag[2] << 16 |
              (size_t)tag[3] << 24) &
             (c->n_buckets - 1);
  entry_t **p = &c->buckets[h];
  while (*p != NULL && memcmp((*p)->tag, tag, 32) != 0)
    p = &(*p)->next;
  return p;
}

bool ct__keycache_get(ct_keycache_t *c, const uint8_t tag[32], ct__pdf_keys_t *out) {
  if (c == NULL)
    return false;
  pthread_mutex_lock(&c->mu);
  entry_t *e = *slot_of(c, tag);
  if (e != NULL) {
    ct_list_remove(&e->use);
    ct_list_insert_tail(&c->by_use, &e->use);
    *out = e->keys;
    c->st.hits++;
  } else {
    c->st.misses++;
  }
  pthread_mutex_unlock(&c->mu);
  return e != NULL;
}

void ct__keycache_put(ct_keycache_t *c, const uint8_t tag[32], const ct__pdf_keys_t *keys) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->mu);
  entry_t **slot = slot_of(c, tag);
  if (*slot == NULL) {
    entry_t *e;
    if (!ct_list_empty(&c->free)) {
      e = ct_container_of(ct_list_first(&c->free), entry_t, use);
    } else {
      e = ct_container_of(ct_list_first(&c->by_use), entry_t, use);
      entry_t **at = slot_of(c, e->tag);
      *at = e->next;
      explicit_bzero(e->tag, sizeof e->tag);
      explicit_bzero(&e->keys, sizeof e->keys);
      c->st.evictions++;
      c->st.entries--;
      /* The eviction may have unlinked the entry `slot` pointed at (same bucket). */
      slot = slot_of(c, tag);
    }
    ct_list_remove(&e->use);
    memcpy(e->tag, tag, sizeof e->tag);
    e->keys = *keys;
    e->next = *slot;
    *slot = e;
    ct_list_insert_tail(&c->by_use, &e->use);
    c->st.entries++;
  }
  pthread_mutex_unlock(&c->mu);
}
