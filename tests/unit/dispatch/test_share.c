/* Unit tests for src/dispatch/share.c: a node's share of the accounts' rates from the
 * membership events it hears, with fake times. The last test runs three nodes against a
 * simulated KV stream (in order, with per-node delays, a crash, a partition and a clean
 * leave) and checks at every millisecond that the shares being used add up to at most 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dispatch/share.h"

#include <stdio.h>
#include <string.h>

#define MS 1000LL
#define H (100 * MS) /* heartbeat */

static void expect_view(const ct_share_t *s, ct_share_phase_t phase, uint32_t nodes) {
  if (s->view.phase != phase || s->view.nodes != nodes)
    fail_msg("expected %s with %u nodes, got %s with %u", ct_share_phase_name(phase), nodes,
             ct_share_phase_name(s->view.phase), s->view.nodes);
  assert_int_equal(s->view.open, phase == CT_SHARE_ACTIVE);
}

static void test_starts_closed_and_waits_to_join(void **state) {
  (void)state;
  ct_share_t s;
  ct_share_init(&s, H);
  assert_false(ct_share_update(&s, 0));
  expect_view(&s, CT_SHARE_JOINING, 1);
  /* Heartbeats go out but none came back: still joining, however long. */
  assert_false(ct_share_update(&s, 10 * H));
  expect_view(&s, CT_SHARE_JOINING, 1);
  /* The first comes back at 10H + 5 ms: three heartbeats later the node may send. */
  ct_share_echo(&s, 10 * H, 10 * H + 5 * MS);
  ct_share_echo(&s, 11 * H, 11 * H + 5 * MS);
  ct_share_echo(&s, 12 * H, 12 * H + 5 * MS);
  assert_false(ct_share_update(&s, 13 * H + 4 * MS));
  expect_view(&s, CT_SHARE_JOINING, 1);
  ct_share_echo(&s, 13 * H, 13 * H + 5 * MS);
  assert_true(ct_share_update(&s, 13 * H + 5 * MS));
  expect_view(&s, CT_SHARE_ACTIVE, 1);
  assert_int_equal(ct_share_join_wait_us(&s), 3 * H);
}

/* Brings `s` to ACTIVE at time 3H + 1 ms with echoes every H from 0. */
static void join(ct_share_t *s) {
  ct_share_init(s, H);
  for (int i = 0; i <= 3; i++)
    ct_share_echo(s, i * H, i * H + MS);
  assert_true(ct_share_update(s, 3 * H + MS));
  expect_view(s, CT_SHARE_ACTIVE, 1);
}

static void test_peer_lowers_at_once_and_expires_late(void **state) {
  (void)state;
  ct_share_t s;
  join(&s);
  int64_t t = 4 * H;
  assert_true(ct_share_peer(&s, "b", H, t));
  assert_true(ct_share_update(&s, t));
  expect_view(&s, CT_SHARE_ACTIVE, 2);
  /* Its later heartbeats change nothing. */
  assert_true(ct_share_peer(&s, "b", H, t + H));
  assert_false(ct_share_update(&s, t + H));
  /* Silent from t + H: still counted four heartbeats later, gone just after. */
  for (int i = 2; i <= 6; i++)
    ct_share_echo(&s, t + i * H, t + i * H + MS);
  assert_false(ct_share_update(&s, t + 5 * H));
  expect_view(&s, CT_SHARE_ACTIVE, 2);
  assert_true(ct_share_update(&s, t + 5 * H + 1));
  expect_view(&s, CT_SHARE_ACTIVE, 1);
}

static void test_deleted_key_leaves_at_once(void **state) {
  (void)state;
  ct_share_t s;
  join(&s);
  ct_share_peer(&s, "b", H, 4 * H);
  ct_share_peer(&s, "c", H, 4 * H);
  assert_true(ct_share_update(&s, 4 * H));
  expect_view(&s, CT_SHARE_ACTIVE, 3);
  ct_share_peer_left(&s, "b");
  ct_share_peer_left(&s, "nobody");
  assert_true(ct_share_update(&s, 4 * H + MS));
  expect_view(&s, CT_SHARE_ACTIVE, 2);
  assert_string_equal(s.peers[0].id, "c");
}

static void test_stale_closes_and_rejoins(void **state) {
  (void)state;
  ct_share_t s;
  join(&s);
  /* The last heartbeat confirmed was sent at 3H: the share holds until 5H, then closes. */
  assert_false(ct_share_update(&s, 5 * H));
  expect_view(&s, CT_SHARE_ACTIVE, 1);
  assert_true(ct_share_update(&s, 5 * H + 1));
  expect_view(&s, CT_SHARE_STALE, 1);
  /* A late echo of an old heartbeat does not make it fresh. */
  ct_share_echo(&s, 2 * H, 6 * H);
  assert_false(ct_share_update(&s, 6 * H));
  expect_view(&s, CT_SHARE_STALE, 1);
  /* Back at 9H: it joins again, waiting three heartbeats. */
  for (int i = 9; i <= 12; i++) {
    ct_share_echo(&s, i * H, i * H + MS);
    ct_share_update(&s, i * H + MS);
    if (i < 12)
      expect_view(&s, CT_SHARE_JOINING, 1);
  }
  expect_view(&s, CT_SHARE_ACTIVE, 1);
  /* A lost bucket: rejoining closes at once and waits three heartbeats again. */
  ct_share_rejoin(&s);
  assert_true(ct_share_update(&s, 12 * H + 2 * MS));
  expect_view(&s, CT_SHARE_JOINING, 1);
  for (int i = 13; i <= 16; i++) {
    ct_share_echo(&s, i * H, i * H + MS);
    ct_share_update(&s, i * H + MS);
    expect_view(&s, i < 16 ? CT_SHARE_JOINING : CT_SHARE_ACTIVE, 1);
  }
}

static void test_longer_heartbeats_of_peers(void **state) {
  (void)state;
  ct_share_t s;
  join(&s);
  /* A peer beating every 5H: counted for 20H after it was heard, and a node joining now would
   * wait 15H. */
  ct_share_peer(&s, "slow", 5 * H, 4 * H);
  assert_int_equal(ct_share_join_wait_us(&s), 15 * H);
  /* This node is active already: it lowers its share and keeps sending, it does not wait
   * again as if it were joining. */
  ct_share_echo(&s, 4 * H, 4 * H + MS);
  assert_true(ct_share_update(&s, 4 * H + MS));
  expect_view(&s, CT_SHARE_ACTIVE, 2);
  for (int i = 4; i <= 25; i++)
    ct_share_echo(&s, i * H, i * H + MS);
  ct_share_update(&s, 24 * H);
  expect_view(&s, CT_SHARE_ACTIVE, 2);
  ct_share_update(&s, 24 * H + 1);
  expect_view(&s, CT_SHARE_ACTIVE, 1);
  /* A peer that announced no heartbeat gets ours. */
  ct_share_peer(&s, "plain", 0, 25 * H);
  assert_int_equal(s.peers[0].heartbeat_us, H);
}

static void test_peer_table_is_bounded(void **state) {
  (void)state;
  ct_share_t s;
  join(&s);
  char id[32];
  for (int i = 0; i < CT_SHARE_MAX_PEERS; i++) {
    snprintf(id, sizeof id, "n%d", i);
    assert_true(ct_share_peer(&s, id, H, 4 * H));
  }
  assert_false(ct_share_peer(&s, "one-too-many", H, 4 * H));
  assert_true(ct_share_peer(&s, "n7", H, 4 * H)); /* known ones still refresh */
  ct_share_update(&s, 4 * H);
  expect_view(&s, CT_SHARE_ACTIVE, CT_SHARE_MAX_PEERS + 1);
}

/* ---- three nodes on a simulated bucket ---------------------------------------------------- */

typedef struct {
  int node;
  int64_t stored_us;
  int64_t sent_us;
  bool deleted;
} rec_t;

typedef struct {
  const char *id;
  ct_share_t s;
  size_t read;           /* next record of the stream to deliver */
  int64_t delay_us;      /* from stored to delivered */
  int64_t start_us, crash_us, leave_us, cut_from_us, cut_to_us;
  int64_t next_beat_us;
  bool running, started;
} sim_node_t;

#define SIM_RECORDS 4096

static void test_three_nodes_never_overrun(void **state) {
  (void)state;
  static rec_t stream[SIM_RECORDS];
  size_t n_stream = 0;
  const int64_t never = INT64_MAX / 2;
  sim_node_t nodes[3] = {
      /* a: from the start, loses NATS from 5 s to 6 s */
      {.id = "a", .delay_us = 2 * MS, .start_us = 0, .crash_us = never, .leave_us = never,
       .cut_from_us = 5000 * MS, .cut_to_us = 6000 * MS},
      /* b: from the start, crashes (kill -9) at 3 s; slow to hear */
      {.id = "b", .delay_us = 10 * MS, .start_us = 0, .crash_us = 3000 * MS, .leave_us = never,
       .cut_from_us = never, .cut_to_us = never},
      /* c: joins at 1 s, leaves cleanly at 8 s; slowest to hear */
      {.id = "c", .delay_us = 40 * MS, .start_us = 1000 * MS, .crash_us = never,
       .leave_us = 8000 * MS, .cut_from_us = never, .cut_to_us = never},
  };
  for (int i = 0; i < 3; i++)
    ct_share_init(&nodes[i].s, H);
  double worst = 0;
  for (int64_t t = 0; t <= 10000 * MS; t += MS) {
    double sum = 0;
    for (int i = 0; i < 3; i++) {
      sim_node_t *nd = &nodes[i];
      if (!nd->started && t >= nd->start_us) {
        nd->started = nd->running = true;
        nd->next_beat_us = t;
      }
      if (nd->running && t >= nd->crash_us)
        nd->running = false;
      if (nd->running && t >= nd->leave_us) {
        /* A clean stop: sending has ended, then the key is deleted. */
        nd->running = false;
        stream[n_stream++] = (rec_t){.node = i, .stored_us = t, .deleted = true};
      }
      if (!nd->running)
        continue;
      bool cut = t >= nd->cut_from_us && t < nd->cut_to_us;
      if (t >= nd->next_beat_us) {
        if (!cut) {
          assert_true(n_stream < SIM_RECORDS);
          stream[n_stream++] = (rec_t){.node = i, .stored_us = t, .sent_us = t};
        }
        nd->next_beat_us += H;
      }
      while (!cut && nd->read < n_stream && stream[nd->read].stored_us + nd->delay_us <= t) {
        const rec_t *r = &stream[nd->read++];
        if (r->node == i)
          ct_share_echo(&nd->s, r->sent_us, t);
        else if (r->deleted)
          ct_share_peer_left(&nd->s, nodes[r->node].id);
        else
          ct_share_peer(&nd->s, nodes[r->node].id, H, t);
      }
      ct_share_update(&nd->s, t);
      if (nd->s.view.open)
        sum += 1.0 / nd->s.view.nodes;
    }
    if (sum > worst)
      worst = sum;
    if (sum > 1.0 + 1e-9)
      fail_msg("at %lld ms the shares in use add up to %.3f", (long long)(t / MS), sum);
    /* And the nodes do use the rate when they can. */
    if (t == 2500 * MS)
      for (int i = 0; i < 3; i++)
        expect_view(&nodes[i].s, CT_SHARE_ACTIVE, 3);
    if (t == 4500 * MS) {
      expect_view(&nodes[0].s, CT_SHARE_ACTIVE, 2);
      expect_view(&nodes[2].s, CT_SHARE_ACTIVE, 2);
    }
    if (t == 5500 * MS) {
      /* Hearing nothing, it has stopped counting c too: harmless while it sends nothing. */
      expect_view(&nodes[0].s, CT_SHARE_STALE, 1);
      expect_view(&nodes[2].s, CT_SHARE_ACTIVE, 1);
    }
    if (t == 7000 * MS) {
      expect_view(&nodes[0].s, CT_SHARE_ACTIVE, 2);
      expect_view(&nodes[2].s, CT_SHARE_ACTIVE, 2);
    }
    if (t == 9000 * MS)
      expect_view(&nodes[0].s, CT_SHARE_ACTIVE, 1);
  }
  assert_true(worst > 0.999);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_starts_closed_and_waits_to_join),
      cmocka_unit_test(test_peer_lowers_at_once_and_expires_late),
      cmocka_unit_test(test_deleted_key_leaves_at_once),
      cmocka_unit_test(test_stale_closes_and_rejoins),
      cmocka_unit_test(test_longer_heartbeats_of_peers),
      cmocka_unit_test(test_peer_table_is_bounded),
      cmocka_unit_test(test_three_nodes_never_overrun),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
