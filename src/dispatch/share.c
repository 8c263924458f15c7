#include "dispatch/share.h"

#include <stdio.h>
#include <string.h>

void ct_share_init(ct_share_t *s, int64_t heartbeat_us) {
  memset(s, 0, sizeof *s);
  s->heartbeat_us = heartbeat_us > 0 ? heartbeat_us : 1;
  s->view = (ct_share_view_t){.phase = CT_SHARE_JOINING, .nodes = 1, .open = false};
}

static ct_share_peer_t *find(ct_share_t *s, const char *id) {
  for (size_t i = 0; i < s->n_peers; i++)
    if (strcmp(s->peers[i].id, id) == 0)
      return &s->peers[i];
  return NULL;
}

static void drop(ct_share_t *s, ct_share_peer_t *p) {
  *p = s->peers[--s->n_peers];
}

bool ct_share_peer(ct_share_t *s, const char *id, int64_t heartbeat_us, int64_t now_us) {
  ct_share_peer_t *p = find(s, id);
  if (p == NULL) {
    if (s->n_peers == CT_SHARE_MAX_PEERS)
      return false;
    p = &s->peers[s->n_peers++];
    snprintf(p->id, sizeof p->id, "%s", id);
  }
  p->heard_us = now_us;
  p->heartbeat_us = heartbeat_us > 0 ? heartbeat_us : s->heartbeat_us;
  return true;
}

void ct_share_peer_left(ct_share_t *s, const char *id) {
  ct_share_peer_t *p = find(s, id);
  if (p != NULL)
    drop(s, p);
}

void ct_share_echo(ct_share_t *s, int64_t sent_us, int64_t now_us) {
  if (sent_us > s->fresh_at_us)
    s->fresh_at_us = sent_us;
  if (s->join_from_us == 0)
    s->join_from_us = now_us;
}

void ct_share_rejoin(ct_share_t *s) {
  s->fresh_at_us = 0;
  s->join_from_us = 0;
  s->joined = false;
}

int64_t ct_share_join_wait_us(const ct_share_t *s) {
  int64_t beat = s->heartbeat_us;
  for (size_t i = 0; i < s->n_peers; i++)
    if (s->peers[i].heartbeat_us > beat)
      beat = s->peers[i].heartbeat_us;
  return CT_SHARE_JOIN_BEATS * beat;
}

bool ct_share_update(ct_share_t *s, int64_t now_us) {
  for (size_t i = 0; i < s->n_peers;) {
    ct_share_peer_t *p = &s->peers[i];
    int64_t beat = p->heartbeat_us > s->heartbeat_us ? p->heartbeat_us : s->heartbeat_us;
    if (now_us - p->heard_us > CT_SHARE_EXPIRE_BEATS * beat)
      drop(s, p); /* the last peer moved into slot i: look at it again */
    else
      i++;
  }
  ct_share_view_t v = {.nodes = (uint32_t)s->n_peers + 1};
  if (s->fresh_at_us == 0) {
    v.phase = CT_SHARE_JOINING;
  } else if (now_us - s->fresh_at_us > CT_SHARE_STALE_BEATS * s->heartbeat_us) {
    v.phase = CT_SHARE_STALE;
    /* The others may stop counting us: coming back is joining again. */
    s->join_from_us = 0;
    s->joined = false;
  } else if (!s->joined &&
             (s->join_from_us == 0 || now_us - s->join_from_us < ct_share_join_wait_us(s))) {
    v.phase = CT_SHARE_JOINING;
  } else {
    /* Once active, a node stays so while it is fresh: a peer with a longer heartbeat seen
     * later lengthens the wait of nodes joining after it, not of one that already counts in
     * every other node's view (a new peer only lowers the share). */
    v.phase = CT_SHARE_ACTIVE;
    s->joined = true;
  }
  v.open = v.phase == CT_SHARE_ACTIVE;
  bool changed = v.phase != s->view.phase || v.nodes != s->view.nodes;
  s->view = v;
  return changed;
}

const char *ct_share_phase_name(ct_share_phase_t p) {
  switch (p) {
  case CT_SHARE_JOINING:
    return "joining";
  case CT_SHARE_ACTIVE:
    return "active";
  case CT_SHARE_STALE:
    return "stale";
  }
  return "unknown";
}
