#include "spool/sqlite/leases.h"

#include "common/error.h"

#include <assert.h>
#include <stdlib.h>

#define MIN_CAP 1024

/* Fibonacci hashing: seqs are dense integers, and the multiply spreads neighbours apart so
 * that a run of consecutive seqs does not become one long probe cluster. */
static size_t home(const ct__leases_t *set, int64_t seq) {
  return (size_t)(((uint64_t)seq * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (set->cap - 1);
}

/* The slot holding `seq`, or the empty slot where it would go. cap > 0. */
static size_t find(const ct__leases_t *set, int64_t seq) {
  size_t i = home(set, seq);
  while (set->slots[i].seq != 0 && set->slots[i].seq != seq)
    i = (i + 1) & (set->cap - 1);
  return i;
}

static int grow(ct__leases_t *set) {
  size_t cap = set->cap ? set->cap * 2 : MIN_CAP;
  ct__lease_slot_t *slots = calloc(cap, sizeof *slots);
  if (slots == NULL)
    return CT_ENOMEM;
  ct__leases_t bigger = {slots, cap, set->n};
  for (size_t i = 0; i < set->cap; i++) {
    if (set->slots[i].seq != 0)
      slots[find(&bigger, set->slots[i].seq)] = set->slots[i];
  }
  free(set->slots);
  *set = bigger;
  return 0;
}

int ct__leases_add(ct__leases_t *set, int64_t seq) {
  assert(seq > 0);
  /* Keep the load at or under one half: probe runs stay short. */
  if ((set->n + 1) * 2 > set->cap) {
    int rc = grow(set);
    if (rc != 0)
      return rc;
  }
  size_t i = find(set, seq);
  assert(set->slots[i].seq == 0);
  set->slots[i].seq = seq;
  set->slots[i].marked = false;
  set->n++;
  return 0;
}

bool ct__leases_has(const ct__leases_t *set, int64_t seq) {
  if (set->n == 0 || seq <= 0)
    return false;
  return set->slots[find(set, seq)].seq == seq;
}

void ct__leases_remove(ct__leases_t *set, int64_t seq) {
  if (set->n == 0 || seq <= 0)
    return;
  size_t hole = find(set, seq);
  if (set->slots[hole].seq != seq)
    return;
  /* Backward-shift deletion: move later members of the probe run into the hole whenever the
   * hole lies on their path from home, so lookups never need tombstones. */
  size_t mask = set->cap - 1;
  size_t j = hole;
  for (;;) {
    j = (j + 1) & mask;
    if (set->slots[j].seq == 0)
      break;
    size_t h = home(set, set->slots[j].seq);
    bool on_path = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
    if (on_path) {
      set->slots[hole] = set->slots[j];
      hole = j;
    }
  }
  set->slots[hole].seq = 0;
  set->slots[hole].marked = false;
  set->n--;
}

bool ct__leases_mark(ct__leases_t *set, int64_t seq) {
  if (set->n == 0 || seq <= 0)
    return false;
  ct__lease_slot_t *s = &set->slots[find(set, seq)];
  if (s->seq != seq || s->marked)
    return false;
  s->marked = true;
  return true;
}

void ct__leases_unmark(ct__leases_t *set, int64_t seq) {
  if (set->n == 0 || seq <= 0)
    return;
  ct__lease_slot_t *s = &set->slots[find(set, seq)];
  if (s->seq == seq)
    s->marked = false;
}

void ct__leases_free(ct__leases_t *set) {
  free(set->slots);
  set->slots = NULL;
  set->cap = 0;
  set->n = 0;
}
