/* This node's share of the provider accounts' rates when several carteiro nodes deliver for
 * the same accounts: the arithmetic and the membership rules, with no I/O (cluster/ feeds it
 * what it hears from NATS, tests feed it fake times).
 *
 * The model. Every node publishes a heartbeat (its key in a JetStream KV bucket) every
 * `heartbeat` and watches the bucket. A node that knows of n live nodes (itself included)
 * sends at rate R / n with a burst of B / n on every account; the sum over nodes stays within
 * R + B as long as no two nodes disagree in the unsafe direction. The rules below make every
 * disagreement a safe one:
 *
 *   fresh     A node's own heartbeat, seen back through its watch, proves that the watch has
 *             delivered everything stored before it (the watch is an ordered consumer of the
 *             bucket's stream). The send time of the latest heartbeat seen back is the node's
 *             `fresh_at`: its view of the membership is complete up to then.
 *   lower     A new peer's key lowers the share at once (n grows when it is seen).
 *   stale     A node whose `fresh_at` is older than STALE = 2 heartbeats keeps its share until
 *             then, and then closes: it sends nothing until it is fresh again (and has waited
 *             as a joiner, below). It cannot tell a partition from a quiet bucket, and the
 *             others will stop counting it soon; sending on at any share would then overrun.
 *   join      A node starts sending only JOIN = 3 heartbeats after its first heartbeat came
 *             back. By then every other node has either seen its key (and lowered its share),
 *             or has gone STALE (its last confirmed heartbeat was sent before the new key was
 *             stored, more than STALE ago) and closed.
 *   leave     A peer is counted until EXPIRE = 4 of its heartbeats after the last one heard
 *             from it (or its key is deleted: a node deletes its key only once it has stopped
 *             sending). A peer that is alive but cut off stopped at STALE after its own last
 *             confirmation, which is no later than the last heartbeat we heard; EXPIRE leaves
 *             one heartbeat of margin for it to close and for its last sends to land.
 *
 * Every node of a cluster uses the same heartbeat: cluster/ refuses to join a bucket made for
 * another (its TTL is EXPIRE heartbeats). A peer announcing a longer one is still handled
 * safely: its EXPIRE uses the longer of its and ours, and JOIN the longest heard. A node that
 * is ACTIVE never goes back to JOINING except through STALE (or ct_share_rejoin). Times are CLOCK_MONOTONIC microseconds of this node; no
 * clock is compared across nodes. */
#ifndef CT_DISPATCH_SHARE_H
#define CT_DISPATCH_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_SHARE_ID 128      /* node ids, including the terminating NUL */
#define CT_SHARE_MAX_PEERS 256

#define CT_SHARE_STALE_BEATS 2
#define CT_SHARE_JOIN_BEATS 3
#define CT_SHARE_EXPIRE_BEATS 4

typedef enum {
  CT_SHARE_JOINING, /* not yet fresh, or waiting JOIN: sends nothing */
  CT_SHARE_ACTIVE,  /* sends its share */
  CT_SHARE_STALE,   /* lost touch for longer than STALE: sends nothing */
} ct_share_phase_t;

typedef struct {
  char id[CT_SHARE_ID];
  int64_t heard_us;        /* when its latest heartbeat arrived here */
  int64_t heartbeat_us;    /* its heartbeat interval, as it announced it */
} ct_share_peer_t;

/* What the node does now. */
typedef struct {
  ct_share_phase_t phase;
  uint32_t nodes;          /* live nodes counted, itself included (>= 1) */
  bool open;               /* may send: phase == ACTIVE */
} ct_share_view_t;

typedef struct {
  int64_t heartbeat_us;
  ct_share_peer_t peers[CT_SHARE_MAX_PEERS];
  size_t n_peers;
  bool overflow_warned;
  int64_t fresh_at_us;     /* send time of the latest own heartbeat seen back; 0 = none yet */
  int64_t join_from_us;    /* when the join wait started (first heartbeat back after start or
                              after being stale); 0 = not started */
  bool joined;             /* has been ACTIVE since it last joined: the wait is over */
  ct_share_view_t view;
} ct_share_t;

/* Starts as JOINING with no peers. `heartbeat_us` > 0. */
void ct_share_init(ct_share_t *s, int64_t heartbeat_us);

/* A peer's heartbeat arrived at `now_us`. A new peer counts at once (the share drops at the
 * next ct_share_update). Returns false when the table is full (the peer is not counted, so
 * the share is too high: logged by the caller, and a configuration this large is refused
 * long before in practice). */
bool ct_share_peer(ct_share_t *s, const char *id, int64_t heartbeat_us, int64_t now_us);

/* A peer's key was deleted: it has stopped sending. It stops counting at once. */
void ct_share_peer_left(ct_share_t *s, const char *id);

/* Our own heartbeat, sent at `sent_us`, came back through the watch at `now_us`. */
void ct_share_echo(ct_share_t *s, int64_t sent_us, int64_t now_us);

/* Forgets that this node was fresh and had joined: it is JOINING again and waits JOIN once
 * its heartbeat comes back. For a node whose bucket was lost (NATS restarted): the others may
 * have dropped it, and what the new bucket's watch has delivered proves nothing yet. */
void ct_share_rejoin(ct_share_t *s);

/* Drops expired peers and works out the view at `now_us` into s->view. Returns true when
 * the phase or the node count changed (the caller then applies it to the accounts). */
bool ct_share_update(ct_share_t *s, int64_t now_us);

/* The join wait now: JOIN beats of the longest heartbeat among ours and the live peers'. */
int64_t ct_share_join_wait_us(const ct_share_t *s);

/* "joining", "active", "stale". */
const char *ct_share_phase_name(ct_share_phase_t p);

#endif
