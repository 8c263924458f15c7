/* Prepared invoice documents, kept for the later parts and leases of the same job.
 *
 * Locking an invoice PDF (AES-256, revision 6) costs milliseconds of CPU, far more than
 * anything else a delivery does. A job sends its document more than once: a WhatsApp upload
 * and an e-mail attachment, or the same part again after a transient failure, and between
 * those the job usually goes back to the spool (the WhatsApp recipient gap is longer than a
 * worker parks a task) and may come back on another worker thread. So the pool keeps one
 * process-wide cache, shared by the workers, of each job's document as it was sent: the
 * protected bytes and their SHA-256, keyed by job id. Every part of a job then carries the
 * same bytes, and its receipts the same document_sha256.
 *
 * Bounds: a byte cap on the documents held (the oldest go first when it is reached; 0
 * disables the cache), and an age past which an entry is dropped. An entry is also removed
 * as soon as its job needs the document no more (delivered, dead, or no part left that
 * carries it). A job that comes back after the age, or after its entry was evicted, simply
 * prepares its document again: the cache is an optimisation, never a source of truth.
 *
 * The cache copies bytes in and out: a lease owns its own copy while it sends (a request may
 * still be reading it when the entry is evicted), and an invoice PDF is tens of kB, so a copy
 * costs microseconds against the milliseconds of a protection. One mutex guards everything;
 * it is taken a few times per job, never per byte of a request. Document bytes never reach a
 * log; job ids are not personal data. Safe to call from any thread. */
#ifndef CT_WORKER_DOCCACHE_H
#define CT_WORKER_DOCCACHE_H

#include "document/document.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long an entry may be used after it was prepared. Long enough for a job's parts and a
 * few quick retries (the recipient gap is seconds, backoff starts at a second); a job retried
 * later than this prepares its document again, which costs one protection, not a wrong send:
 * the same job, the same source and the same password policy give an equally valid file. */
#define CT_DOCCACHE_MAX_AGE_MS ((int64_t)10 * 60 * 1000)

typedef struct ct_doccache ct_doccache_t;

typedef struct {
  uint64_t hits;       /* lookups that found a document */
  uint64_t misses;     /* lookups that did not (each is followed by a preparation) */
  uint64_t evictions;  /* entries dropped to stay under the byte cap */
  uint64_t expirations;/* entries dropped for age */
  uint64_t bytes;      /* document bytes held now */
  uint64_t entries;    /* documents held now */
  uint64_t cap_bytes;  /* the byte cap; 0 = disabled */
} ct_doccache_stats_t;

/* A cache holding at most `cap_bytes` of documents, each for at most `max_age_ms` (> 0).
 * Returns 0 with *out set, or CT_ENOMEM (*out untouched). */
int ct_doccache_new(size_t cap_bytes, int64_t max_age_ms, ct_doccache_t **out);

/* Frees the cache and every document in it. NULL is a no-op. */
void ct_doccache_free(ct_doccache_t *c);

/* Changes the byte cap (a reload): evicts the oldest entries down to the new cap; 0 empties
 * and disables the cache. */
void ct_doccache_set_cap(ct_doccache_t *c, size_t cap_bytes);

/* Looks up `key` at time `now_ms` (monotonic). On a hit returns true with a new copy of the
 * document in *out (freed by the caller with ct_bytes_free) and its hash in `sha256`. On a
 * miss (absent, expired, cache disabled or NULL, or no memory for the copy) returns false
 * and leaves *out and `sha256` untouched. Counts a hit or a miss (not for a NULL cache). */
bool ct_doccache_get(ct_doccache_t *c, const char *key, int64_t now_ms, ct_bytes_t *out,
                     char sha256[65]);

/* Stores a copy of data[0..len) with its hash under `key`, replacing any entry of that key,
 * evicting the oldest entries when the cap needs room. Does nothing for a NULL or disabled
 * cache, an empty document, one larger than the cap, or when memory runs out: a later lookup
 * misses and the document is prepared again. */
void ct_doccache_put(ct_doccache_t *c, const char *key, const uint8_t *data, size_t len,
                     const char sha256[65], int64_t now_ms);

/* Drops `key`'s entry, if any. NULL cache or absent key: no-op. */
void ct_doccache_remove(ct_doccache_t *c, const char *key);

/* The counters and sizes, as of now. A NULL cache gives zeros. */
void ct_doccache_stats(ct_doccache_t *c, ct_doccache_stats_t *out);

#endif
