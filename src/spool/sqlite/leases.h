/* The owner's lease set: the seqs of jobs it has taken and not yet settled.
 *
 * Leases are never written to disk (see the essay in sqlite.c); this set is the whole of the
 * INFLIGHT state. It is an open-addressing hash set of seqs with linear probing and
 * backward-shift deletion, so lookups (one per candidate row in every take) cost a multiply
 * and, almost always, one cache line.
 *
 * A settle batch first *marks* the leases it will end and removes them only once its
 * transaction has committed; if the commit fails, it unmarks them and the leases stand.
 */
#ifndef CT_SPOOL_SQLITE_LEASES_H
#define CT_SPOOL_SQLITE_LEASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int64_t seq; /* 0 = empty slot (seqs start at 1) */
  bool marked; /* to be removed when the current settle batch commits */
} ct__lease_slot_t;

typedef struct {
  ct__lease_slot_t *slots;
  size_t cap; /* a power of two, or 0 before the first add */
  size_t n;
} ct__leases_t;

/* Adds `seq` (> 0, not already present). Errors: CT_ENOMEM (the set is unchanged). */
int ct__leases_add(ct__leases_t *set, int64_t seq);

bool ct__leases_has(const ct__leases_t *set, int64_t seq);

/* Removes `seq` if present. */
void ct__leases_remove(ct__leases_t *set, int64_t seq);

/* Marks `seq` for removal. Returns false when it is not leased or is already marked (the same
 * seq twice in one settle batch). */
bool ct__leases_mark(ct__leases_t *set, int64_t seq);

/* Clears the mark of `seq`, if it is present. */
void ct__leases_unmark(ct__leases_t *set, int64_t seq);

/* Forgets every lease and frees the table. */
void ct__leases_free(ct__leases_t *set);

#endif
