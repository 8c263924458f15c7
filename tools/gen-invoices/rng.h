/* Randomness for gen-invoices: splitmix64, one stream per job (and one more per job's PDF).
 *
 * Shared by the job generator and the PDF renderer so that both draw the same way; the
 * functions are static inline because they are a few instructions each and sit in the
 * innermost loops of both.
 */
#ifndef GEN_INVOICES_RNG_H
#define GEN_INVOICES_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t s;
} rng_t;

static inline uint64_t rng_next(rng_t *r) {
  r->s += 0x9e3779b97f4a7c15u;
  uint64_t z = r->s;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0); the modulo bias over 2^64 is far below anything visible here. */
static inline uint64_t rng_below(rng_t *r, uint64_t n) { return rng_next(r) % n; }

static inline int64_t rng_range(rng_t *r, int64_t lo, int64_t hi) {
  return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo + 1));
}

static inline bool rng_chance(rng_t *r, unsigned percent) { return rng_below(r, 100) < percent; }

static inline void rng_digits(rng_t *r, char *out, size_t n) {
  for (size_t i = 0; i < n; i++)
    out[i] = (char)('0' + rng_below(r, 10));
}

#define PICK(r, table) (table[rng_below(r, sizeof table / sizeof table[0])])

#endif
