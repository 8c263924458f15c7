/* The native HTTP/2 transport: nghttp2 over OpenSSL, on one worker's libuv loop.
 *
 * WHY
 *
 * libcurl's multi interface costs about 80 µs of CPU per request here, a third of it in the
 * kernel: a send(2) per request, poll and epoll_ctl per transfer (see DESIGN.md). HTTP/2 lets
 * one connection carry hundreds of requests, so the work that matters per request is HPACK,
 * framing and AES-GCM; everything else can be paid once per loop turn. This transport does
 * exactly that and no more: nghttp2 (no I/O of its own: mem_recv / mem_send) over OpenSSL
 * (a memory BIO, tls.c: OpenSSL never touches the socket), over an uv_tcp_t.
 *
 * OBJECTS
 *
 *   origin      one per "https://host:port" seen: its address list (uv_getaddrinfo on the
 *               thread pool, never on the loop; IP literals need no lookup), its queue of
 *               requests waiting for a stream, its connections, and what its ALPN said.
 *   connection  one TCP + TLS + nghttp2 session (conn.c, stream.c). It takes streams up to
 *               min(server's SETTINGS_MAX_CONCURRENT_STREAMS, options.max_streams). An origin
 *               opens another connection when its queue is longer than what its connecting
 *               connections will take, up to options.max_origin_connections: so requests in
 *               flight are bounded by what the caller sends (the worker's max_inflight), not
 *               by a fixed connections x streams product. Before the first connection of an
 *               origin has reported the server's limit, only one is opened.
 *   request     a slot from a bounded free list (no allocation per request in steady state
 *               beyond what nghttp2 and OpenSSL do inside), on exactly one of: its origin's
 *               queue (R_QUEUED), a connection's stream list (R_STREAM, and R_DONE while
 *               nghttp2 still holds its stream), the free list. Every unanswered request is
 *               also on `aged`, in send order, which is deadline order: the request timeout
 *               is the same for all, so one timer serves them.
 *
 * ONE TURN OF THE LOOP (redis's beforeSleep)
 *
 * Nothing is written while the loop runs callbacks. ct__h2_send only queues the request and
 * marks its origin dirty; reading a connection only feeds nghttp2 and marks the connection
 * dirty. The uv_prepare handle runs once per turn, just before the loop sleeps in epoll:
 * first every dirty origin moves queued requests onto free streams (nghttp2_submit_request)
 * and opens connections if it must; then every dirty connection turns what nghttp2 has to say
 * into TLS records (frames gathered up to 16 KiB per SSL_write) and hands the ciphertext to
 * the socket with one uv_try_write, or one uv_write for what the socket did not take. A turn
 * that starts 300 requests on one connection costs one write(2).
 *
 * ANSWERS AND FAILURES
 *
 * Every request is answered exactly once, from the loop, never inside ct__h2_send:
 *   - the server ended the stream with a final status: CT_HTTP_OK;
 *   - the server reset the stream, or nghttp2 found the response malformed:
 *     CT_HTTP_STREAM_ERROR (the server may have acted on it);
 *   - the stream was refused unprocessed — REFUSED_STREAM, or above the last_stream_id of a
 *     GOAWAY, or its HEADERS never left because GOAWAY came first: the request is queued
 *     again on the origin, transparently, up to CT__H2_MAX_REQUEUES times (RFC 9113 8.7: such
 *     a request was not processed and is safe to retry); past that it is answered
 *     CT_HTTP_CONNECT ("never reached the provider"), which the worker does not count as
 *     possibly delivered;
 *   - the connection ended under it (EOF, reset, an unanswered PING, a TLS or framing error):
 *     CT_HTTP_RESET (CT_HTTP_STREAM_ERROR for a framing error), when its HEADERS had left;
 *     queued again otherwise, as it cannot have reached the server;
 *   - the request timeout: CT_HTTP_TIMEOUT (its stream is reset with CANCEL);
 *   - connect, DNS or TLS failure of a connection while no other connection of the origin
 *     is alive: every request waiting on the origin, CT_HTTP_CONNECT / CT_HTTP_TIMEOUT /
 *     CT_HTTP_TLS;
 *   - the transport closes: CT_HTTP_OTHER "transport closed".
 * These are the classes the libcurl transport reports for the same events, so the worker's
 * `unanswered` counters keep their meaning; the one difference is that refused streams,
 * which libcurl reports as a stream error, are sent again here and never counted.
 *
 * An origin whose server answers ALPN with anything but h2 is marked so; its waiting requests
 * and all later ones go back to the router, which sends them with libcurl.
 *
 * LIFETIMES (libuv: memory of a handle is released only in or after its close_cb)
 *   - request: recycled once answered and out of nghttp2 (on_stream_close, or the session
 *     deleted). A callback may send (the new request is only queued) or close (teardown runs
 *     from the timer later), never freeing what the caller of the callback still uses.
 *   - connection: conn_fail / conn_close take it off every list at once and uv_close it;
 *     its memory goes in the close_cb (ct__h2_conn_freed).
 *   - transport: ct__h2_close turns the timer into a 0 ms teardown timer. Teardown answers
 *     every unanswered request, destroys the connections, cancels lookups and closes the
 *     prepare and the timer; the last close_cb or lookup callback frees everything, then
 *     calls `done`.
 */
#include "transport/h2/h2_int.h"

#include "common/error.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void on_prepare(uv_prepare_t *p);
static void on_tick(uv_timer_t *t);

/* ---- small things ---------------------------------------------------------------------- */

uint64_t ct__h2_now(const ct__h2_t *h) { return uv_now(h->loop); }

int ct__h2_buf_add(ct__h2_buf_t *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap != 0 ? b->cap : 4096;
    while (cap < b->len + n) {
      cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (d == NULL) {
      return CT_ENOMEM;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void ct__h2_buf_consume(ct__h2_buf_t *b, size_t n) {
  assert(n <= b->len);
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void ct__h2_buf_reset(ct__h2_buf_t *b) {
  b->len = 0;
  if (b->cap > CT__H2_OUT_KEEP) {
    free(b->data);
    b->data = NULL;
    b->cap = 0;
  }
}

void ct__h2_buf_free(ct__h2_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static void arm_prepare(ct__h2_t *h) {
  if (h->state != H_TEARDOWN) {
    uv_prepare_start(&h->prepare, on_prepare); /* a no-op when already active */
  }
}

/* The tick runs while anything could time out: requests, connections, lookups. */
static void arm_tick(ct__h2_t *h) {
  if (h->state == H_OPEN && !uv_is_active((uv_handle_t *)&h->timer)) {
    uv_timer_start(&h->timer, on_tick, CT__H2_TICK_MS, CT__H2_TICK_MS);
  }
}

void ct__h2_mark_dirty(ct__h2_conn_t *c) {
  if (c->is_dirty || c->state == C_CLOSED) {
    return;
  }
  c->is_dirty = true;
  ct_list_insert_tail(&c->h->dirty, &c->dirty);
  arm_prepare(c->h);
}

void ct__h2_origin_dirty(ct__h2_origin_t *o) {
  if (o->is_dirty) {
    return;
  }
  o->is_dirty = true;
  ct_list_insert_tail(&o->h->dirty_origins, &o->dirty);
  arm_prepare(o->h);
}

/* ---- request slots --------------------------------------------------------------------- */

static ct__h2_req_t *req_get(ct__h2_t *h) {
  ct__h2_req_t *r;
  if (!ct_list_empty(&h->free)) {
    r = ct_container_of(h->free.next, ct__h2_req_t, link);
    ct_list_remove(&r->link);
    h->n_free--;
  } else {
    r = calloc(1, sizeof *r);
    if (r == NULL) {
      return NULL;
    }
    r->h = h;
  }
  ct_list_init(&r->link);
  ct_list_init(&r->aged);
  return r;
}

static void req_destroy(ct__h2_req_t *r) {
  ct__h2_resp_put(r);
  free(r);
}

ct__h2_resp_t *ct__h2_resp_get(ct__h2_t *h) {
  ct__h2_resp_t *p = h->resp_pool;
  if (p != NULL) {
    h->resp_pool = p->next;
    h->n_resp_pool--;
  } else {
    p = malloc(sizeof *p);
    if (p == NULL) {
      return NULL;
    }
  }
  p->next = NULL;
  p->status = 0;
  ct__resp_headers_reset(&p->hdr);
  p->body = p->inline_body;
  p->body[0] = '\0';
  p->len = 0;
  p->cap = sizeof p->inline_body;
  return p;
}

void ct__h2_resp_put(ct__h2_req_t *r) {
  ct__h2_resp_t *p = r->resp;
  if (p == NULL) {
    return;
  }
  r->resp = NULL;
  if (p->body != p->inline_body) {
    free(p->body);
  }
  ct__h2_t *h = r->h;
  if (h->state == H_OPEN && h->n_resp_pool < CT__H2_RESP_POOL) {
    p->next = h->resp_pool;
    h->resp_pool = p;
    h->n_resp_pool++;
  } else {
    free(p);
  }
}

void ct__h2_recycle(ct__h2_req_t *r) {
  ct__h2_t *h = r->h;
  assert(r->state == R_DONE && !r->in_session);
  ct_http_request_free(&r->http); /* wipes the header lines: they carry credentials */
  r->conn = NULL;
  r->origin = NULL;
  r->cb = NULL;
  r->arg = NULL;
  ct__h2_resp_put(r);
  if (h->state == H_OPEN && h->n_free < CT__H2_FREE_CAP) {
    ct_list_insert_tail(&h->free, &r->link);
    h->n_free++;
  } else {
    req_destroy(r);
  }
}

/* Back to the state of a request not yet put on a stream. */
static void req_rewind(ct__h2_req_t *r) {
  r->sent = false;
  r->end_stream = false;
  r->stream_id = 0;
  r->body_off = 0;
  ct__h2_resp_put(r);
}

void ct__h2_answer(ct__h2_req_t *r, ct_http_failure_t failure, const char *detail) {
  ct__h2_t *h = r->h;
  assert(r->state != R_DONE);
  ct_list_remove(&r->aged);
  h->inflight--;
  r->state = R_DONE;
  uint64_t elapsed_ms = (uv_hrtime() - r->start_ns) / 1000000u;
  const ct__h2_resp_t *p = failure == CT_HTTP_OK ? r->resp : NULL;
  ct_http_response_t resp = {
      .failure = failure,
      .status = p != NULL ? p->status : 0,
      .body = p != NULL ? p->body : "",
      .body_len = p != NULL ? p->len : 0,
      .retry_after_ms = p != NULL ? p->hdr.retry_after_ms : -1,
      .message_id = p != NULL && p->hdr.message_id_len != 0 ? p->hdr.message_id : NULL,
      .latency_ms = elapsed_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)elapsed_ms,
      .detail = p != NULL ? "" : detail,
  };
  r->cb(r->arg, &resp);
  ct__h2_resp_put(r); /* the response was valid during the callback only */
  if (!r->in_session) {
    ct__h2_recycle(r);
  }
}

void ct__h2_requeue(ct__h2_req_t *r, const char *detail) {
  assert(r->state != R_DONE && !r->in_session);
  ct__h2_origin_t *o = r->origin;
  if (++r->requeues > CT__H2_MAX_REQUEUES) {
    ct__h2_answer(r, CT_HTTP_CONNECT, detail);
    return;
  }
  req_rewind(r);
  r->conn = NULL;
  r->state = R_QUEUED;
  /* At the head: it was sent before anything still waiting. */
  ct_list_t *head = &o->queue;
  r->link.next = head->next;
  r->link.prev = head;
  head->next->prev = &r->link;
  head->next = &r->link;
  o->queued++;
  ct__h2_origin_dirty(o);
}

/* Answers every request waiting on `o` with the same failure. */
static void fail_queue(ct__h2_origin_t *o, ct_http_failure_t failure, const char *detail) {
  while (!ct_list_empty(&o->queue)) {
    ct__h2_req_t *r = ct_container_of(o->queue.next, ct__h2_req_t, link);
    ct_list_remove(&r->link);
    o->queued--;
    ct__h2_answer(r, failure, detail);
  }
}

/* ---- origins --------------------------------------------------------------------------- */

static ct__h2_origin_t *origin_find(ct__h2_t *h, const ct__url_t *u) {
  for (ct_list_t *l = h->origins.next; l != &h->origins; l = l->next) {
    ct__h2_origin_t *o = ct_container_of(l, ct__h2_origin_t, link);
    if (o->name_len == u->origin_len && memcmp(o->name, u->origin, u->origin_len) == 0) {
      return o;
    }
  }
  return NULL;
}

static ct__h2_origin_t *origin_new(ct__h2_t *h, const ct__url_t *u) {
  ct__h2_origin_t *o = calloc(1, sizeof *o);
  if (o == NULL) {
    return NULL;
  }
  o->name = malloc(u->origin_len + 1);
  o->host = malloc(u->host_len + 1);
  if (o->name == NULL || o->host == NULL) {
    free(o->name);
    free(o->host);
    free(o);
    return NULL;
  }
  memcpy(o->name, u->origin, u->origin_len);
  o->name[u->origin_len] = '\0';
  o->name_len = u->origin_len;
  memcpy(o->host, u->host, u->host_len);
  o->host[u->host_len] = '\0';
  o->port = u->port;
  o->h = h;
  ct_list_init(&o->queue);
  ct_list_init(&o->conns);
  ct_list_init(&o->avail);
  ct_list_init(&o->dirty);
  /* An IP literal is its own address: no lookup, never stale. */
  struct sockaddr_in *v4 = (struct sockaddr_in *)&o->addrs[0];
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&o->addrs[0];
  if (uv_ip4_addr(o->host, o->port, v4) == 0 || uv_ip6_addr(o->host, o->port, v6) == 0) {
    o->host_is_ip = true;
    o->n_addrs = 1;
  }
  ct_list_insert_tail(&h->origins, &o->link);
  return o;
}

static void origin_free(ct__h2_origin_t *o) {
  if (o->session != NULL) {
    SSL_SESSION_free(o->session);
  }
  free(o->name);
  free(o->host);
  free(o);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);

static void maybe_finish(ct__h2_t *h);

/* Starts a lookup of o->host. Answers the queue with CT_HTTP_CONNECT when it cannot start. */
static void resolve(ct__h2_origin_t *o) {
  ct__h2_t *h = o->h;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_ADDRCONFIG;
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)o->port);
  int rc = uv_getaddrinfo(h->loop, &o->gai, on_resolved, o->host, port, &hints);
  if (rc != 0) {
    fail_queue(o, CT_HTTP_CONNECT, "could not start resolving the host name");
    return;
  }
  o->resolving = true;
  h->lookups++;
  arm_tick(h);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  ct__h2_origin_t *o = ct_container_of(req, ct__h2_origin_t, gai);
  ct__h2_t *h = o->h;
  o->resolving = false;
  h->lookups--;
  if (h->state != H_OPEN) {
    uv_freeaddrinfo(res);
    maybe_finish(h);
    return;
  }
  uint32_t n = 0;
  for (struct addrinfo *a = res; status == 0 && a != NULL && n < CT__H2_MAX_ADDRS;
       a = a->ai_next) {
    if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
        a->ai_addrlen <= sizeof o->addrs[0]) {
      memcpy(&o->addrs[n++], a->ai_addr, a->ai_addrlen);
    }
  }
  uv_freeaddrinfo(res);
  if (n == 0) {
    if (o->n_addrs != 0 && o->n_conns != 0) {
      /* A refresh failed while connections live: they serve the queue, and the addresses
       * known so far are tried again for another while. */
      o->resolved_ms = ct__h2_now(h);
      return;
    }
    char detail[160];
    snprintf(detail, sizeof detail, "could not resolve host of %s: %s", o->name,
             status != 0 ? uv_strerror(status) : "no IPv4 or IPv6 address");
    fail_queue(o, CT_HTTP_CONNECT, detail);
    return;
  }
  o->n_addrs = n;
  o->next_addr = 0;
  o->resolved_ms = ct__h2_now(h);
  ct__h2_origin_dirty(o);
}

/* Streams one more connection to `o` is expected to bring. */
static uint32_t streams_per_conn(const ct__h2_origin_t *o) {
  uint32_t s = o->known_streams != 0 ? o->known_streams : CT__H2_ASSUMED_STREAMS;
  return s < o->h->max_streams ? s : o->h->max_streams;
}

/* Opens as many connections as the queue needs beyond those already coming. */
static void connect_more(ct__h2_origin_t *o) {
  ct__h2_t *h = o->h;
  if (h->state != H_OPEN || o->resolving) {
    return;
  }
  bool stale = !o->host_is_ip && (o->n_addrs == 0 ||
                                   ct__h2_now(h) - o->resolved_ms >= CT__H2_DNS_TTL_MS);
  if (stale) {
    resolve(o);
    return;
  }
  /* Learn the server's stream limit from one connection before opening more. */
  if (o->known_streams == 0 && o->n_pending > 0) {
    return;
  }
  /* A connection just failed: while others live, give the server a moment (on_tick comes
   * back for the queue). With none, the caller's request decides, as with libcurl. */
  if (o->n_conns > 0 && ct__h2_now(h) < o->backoff_until) {
    return;
  }
  uint32_t per = streams_per_conn(o);
  if (per == 0) {
    per = 1; /* a server allowing 0 streams for now: one connection waits for it to change */
  }
  uint64_t coming = (uint64_t)o->n_pending * per;
  while (o->queued > coming && o->n_conns < h->max_origin_conns) {
    if (ct__h2_conn_open(o) != 0) {
      if (o->n_conns == 0) {
        fail_queue(o, CT_HTTP_OTHER, "could not open a connection (out of memory)");
      }
      return;
    }
    coming += per;
    if (o->known_streams == 0) {
      return;
    }
  }
}

/* Moves queued requests onto free streams; opens connections for the rest. */
static void origin_pump(ct__h2_origin_t *o) {
  if (o->proto == P_NOT_H2) {
    ct__h2_origin_not_h2(o);
    return;
  }
  while (o->queued > 0 && !ct_list_empty(&o->avail)) {
    ct__h2_conn_t *c = ct_container_of(o->avail.next, ct__h2_conn_t, avail);
    ct__h2_req_t *r = ct_container_of(o->queue.next, ct__h2_req_t, link);
    ct_list_remove(&r->link);
    o->queued--;
    int rc = ct__h2_submit(c, r);
    if (rc == 0) {
      ct__h2_mark_dirty(c);
      continue;
    }
    if (rc == CT_ESTATE) { /* stream ids used up: this connection takes no more */
      o->queued++;
      ct_list_t *head = &o->queue;
      r->link.next = head->next;
      r->link.prev = head;
      head->next->prev = &r->link;
      head->next = &r->link;
      c->state = C_DRAINING;
      ct__h2_conn_capacity(c);
      continue;
    }
    ct__h2_answer(r, CT_HTTP_OTHER,
                  rc == CT_ENOMEM ? "out of memory" : "the request cannot be sent over HTTP/2");
  }
  if (o->queued > 0) {
    connect_more(o);
  }
}

void ct__h2_origin_not_h2(ct__h2_origin_t *o) {
  ct__h2_t *h = o->h;
  if (o->proto != P_NOT_H2) {
    o->proto = P_NOT_H2;
    ct__registry_origin(o->name, o->name_len, CT_TRANSPORT_LIBCURL, CT_TRANSPORT_ALPN_OTHER);
  }
  while (!ct_list_empty(&o->queue)) {
    ct__h2_req_t *r = ct_container_of(o->queue.next, ct__h2_req_t, link);
    ct_list_remove(&r->link);
    o->queued--;
    ct_list_remove(&r->aged);
    h->inflight--;
    ct_http_request_t http = r->http;
    memset(&r->http, 0, sizeof r->http);
    ct_transport_cb cb = r->cb;
    void *arg = r->arg;
    r->state = R_DONE;
    ct__h2_recycle(r);
    h->fallback(h->router, &http, cb, arg);
  }
}

void ct__h2_conn_capacity(ct__h2_conn_t *c) {
  ct__h2_origin_t *o = c->origin;
  bool listed = !ct_list_empty(&c->avail);
  bool want = c->state == C_READY && c->n_open < c->max_streams;
  if (want && !listed) {
    ct_list_insert_tail(&o->avail, &c->avail);
    if (o->queued > 0) {
      ct__h2_origin_dirty(o);
    }
  } else if (!want && listed) {
    ct_list_remove(&c->avail);
  }
}

void ct__h2_conn_gone(ct__h2_conn_t *c, bool was_ready, ct_http_failure_t failure,
                      const char *detail) {
  ct__h2_origin_t *o = c->origin;
  ct_list_remove(&c->link);
  ct_list_remove(&c->avail);
  o->n_conns--;
  if (!was_ready) {
    o->n_pending--;
    if (failure != CT_HTTP_OK) {
      o->backoff_ms = o->backoff_ms == 0 ? CT__H2_BACKOFF_MS
                      : o->backoff_ms >= CT__H2_BACKOFF_CAP_MS / 2 ? CT__H2_BACKOFF_CAP_MS
                                                                   : o->backoff_ms * 2;
      o->backoff_until = ct__h2_now(o->h) + o->backoff_ms;
      o->next_addr = o->n_addrs != 0 ? (o->next_addr + 1) % o->n_addrs : 0;
      if (failure == CT_HTTP_CONNECT && !o->host_is_ip) {
        o->resolved_ms = 0; /* look the name up again before the next attempt */
      }
      /* Nothing else will serve the queue soon: answer it now, as libcurl would. */
      if (o->n_conns == 0) {
        fail_queue(o, failure, detail);
      }
    }
  }
  if (o->queued > 0) {
    ct__h2_origin_dirty(o);
  }
}

/* ---- the per-turn work ----------------------------------------------------------------- */

static void on_prepare(uv_prepare_t *p) {
  ct__h2_t *h = ct_container_of(p, ct__h2_t, prepare);
  /* Callbacks run from here may queue more work (a send from a failure callback); the loop
   * takes it in the same turn, so nothing is left when the loop goes to sleep. */
  while (!ct_list_empty(&h->dirty_origins) || !ct_list_empty(&h->dirty)) {
    while (!ct_list_empty(&h->dirty_origins)) {
      ct__h2_origin_t *o = ct_container_of(h->dirty_origins.next, ct__h2_origin_t, dirty);
      ct_list_remove(&o->dirty);
      o->is_dirty = false;
      origin_pump(o);
    }
    while (!ct_list_empty(&h->dirty)) {
      ct__h2_conn_t *c = ct_container_of(h->dirty.next, ct__h2_conn_t, dirty);
      ct_list_remove(&c->dirty);
      c->is_dirty = false;
      ct__h2_conn_flush(c);
    }
  }
  uv_prepare_stop(p);
}

/* Requests past their deadline. */
static void expire(ct__h2_t *h, uint64_t now) {
  while (!ct_list_empty(&h->aged)) {
    ct__h2_req_t *r = ct_container_of(h->aged.next, ct__h2_req_t, aged);
    if (r->deadline_ms > now) {
      break;
    }
    if (r->state == R_QUEUED) {
      ct_list_remove(&r->link);
      r->origin->queued--;
      ct__h2_answer(r, CT_HTTP_TIMEOUT, "request timed out waiting for a connection");
    } else {
      /* Its stream stays on the connection until nghttp2 closes it after our RST_STREAM. */
      ct__h2_conn_t *c = r->conn;
      nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
      ct__h2_mark_dirty(c);
      ct__h2_answer(r, CT_HTTP_TIMEOUT, "request timed out");
    }
  }
}

static void on_tick(uv_timer_t *t) {
  ct__h2_t *h = ct_container_of(t, ct__h2_t, timer);
  uint64_t now = ct__h2_now(h);
  expire(h, uv_hrtime() / 1000000u);
  for (ct_list_t *ol = h->origins.next; ol != &h->origins; ol = ol->next) {
    ct__h2_origin_t *o = ct_container_of(ol, ct__h2_origin_t, link);
    if (o->queued > 0 && o->backoff_until != 0 && now >= o->backoff_until) {
      o->backoff_until = 0; /* its wait is over: the next turn may connect */
      ct__h2_origin_dirty(o);
    }
    ct_list_t *next;
    for (ct_list_t *cl = o->conns.next; cl != &o->conns; cl = next) {
      next = cl->next; /* a tick may close the connection */
      ct__h2_conn_tick(ct_container_of(cl, ct__h2_conn_t, link), now);
    }
  }
  if (h->state == H_OPEN && h->inflight == 0 && h->n_conns == 0 && h->lookups == 0) {
    uv_timer_stop(&h->timer);
  }
}

/* ---- public (to the router) ------------------------------------------------------------ */

static uint64_t ms_or(int64_t v, uint64_t dflt) { return v > 0 ? (uint64_t)v : dflt; }

int ct__h2_new(uv_loop_t *loop, const ct_transport_options_t *opts, ct__counters_t *counters,
               ct__h2_fallback_cb fallback, void *router, ct__h2_t **out) {
  int err = CT_ENOMEM;
  ct__h2_t *h = calloc(1, sizeof *h);
  if (h == NULL) {
    goto fail;
  }
  h->loop = loop;
  h->state = H_OPEN;
  h->counters = counters;
  h->fallback = fallback;
  h->router = router;
  h->connect_timeout_ms = ms_or(opts->connect_timeout_ms, CT__H2_DEFAULT_CONNECT_MS);
  h->request_timeout_ms = ms_or(opts->request_timeout_ms, 0);
  h->idle_timeout_ms = ms_or(opts->idle_timeout_ms, CT__H2_DEFAULT_IDLE_MS);
  h->ping_after_ms = ms_or(opts->ping_after_ms, CT__H2_DEFAULT_PING_AFTER_MS);
  h->ping_timeout_ms = ms_or(opts->ping_timeout_ms, CT__H2_DEFAULT_PING_TIMEOUT_MS);
  h->max_streams = opts->max_streams != 0 ? opts->max_streams : CT__H2_ASSUMED_STREAMS;
  h->max_origin_conns =
      opts->max_origin_connections != 0 ? opts->max_origin_connections
                                        : CT__H2_DEFAULT_ORIGIN_CONNS;
  if (h->max_origin_conns > CT__H2_MAX_ORIGIN_CONNS) {
    h->max_origin_conns = CT__H2_MAX_ORIGIN_CONNS;
  }
  ct_list_init(&h->origins);
  ct_list_init(&h->dirty);
  ct_list_init(&h->dirty_origins);
  ct_list_init(&h->aged);
  ct_list_init(&h->free);

  err = CT_EIO;
  h->ssl_ctx = ct__h2_tls_ctx(opts->ca_file);
  if (h->ssl_ctx == NULL) {
    goto fail_h;
  }
  err = CT_ENOMEM;
  if (ct__h2_callbacks_new(&h->callbacks) != 0) {
    goto fail_ctx;
  }
  if (nghttp2_option_new(&h->ngopt) != 0) {
    goto fail_callbacks;
  }
  /* A client keeps no closed streams (they serve a server's priority tree), and assumes the
   * common 100 streams until the server's SETTINGS say otherwise. */
  nghttp2_option_set_no_closed_streams(h->ngopt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(h->ngopt, CT__H2_ASSUMED_STREAMS);
  /* uv_prepare_init and uv_timer_init do not fail on Unix; initialised last, so the error
   * paths above need no close_cb. */
  uv_prepare_init(loop, &h->prepare);
  uv_timer_init(loop, &h->timer);
  h->handles = 2;
  *out = h;
  return 0;

fail_callbacks:
  nghttp2_session_callbacks_del(h->callbacks);
fail_ctx:
  SSL_CTX_free(h->ssl_ctx);
fail_h:
  free(h);
fail:
  return err;
}

int ct__h2_send(ct__h2_t *h, ct_http_request_t *req, ct_transport_cb cb, void *arg) {
  if (h->state != H_OPEN) {
    return CT_ESTATE;
  }
  ct__url_t u;
  if (ct__url_parse(req->url, &u) != 0) {
    return CT_EINVAL;
  }
  ct__h2_origin_t *o = origin_find(h, &u);
  if (o == NULL) {
    o = origin_new(h, &u);
    if (o == NULL) {
      return CT_ENOMEM;
    }
  }
  if (o->proto == P_NOT_H2) {
    return CT__H2_NOT_H2;
  }
  ct__h2_req_t *r = req_get(h);
  if (r == NULL) {
    return CT_ENOMEM;
  }
  r->http = *req;
  memset(req, 0, sizeof *req);
  ct__url_parse(r->http.url, &r->url); /* the same string: cannot fail now */
  r->origin = o;
  r->cb = cb;
  r->arg = arg;
  r->state = R_QUEUED;
  r->in_session = false;
  r->requeues = 0;
  r->conn = NULL;
  req_rewind(r);
  r->start_ns = uv_hrtime();
  /* From the same clock as the latency reported, not the loop's cached time, which may lag
   * by a long loop turn. */
  r->deadline_ms = h->request_timeout_ms != 0 ? r->start_ns / 1000000u + h->request_timeout_ms
                                              : UINT64_MAX;
  ct_list_insert_tail(&h->aged, &r->aged);
  h->inflight++;
  ct_list_insert_tail(&o->queue, &r->link);
  o->queued++;
  ct__h2_origin_dirty(o);
  arm_tick(h);
  return 0;
}

uint32_t ct__h2_inflight(const ct__h2_t *h) { return h->inflight; }

/* ---- closing --------------------------------------------------------------------------- */

static void maybe_finish(ct__h2_t *h) {
  if (h->state != H_TEARDOWN || h->handles != 0 || h->lookups != 0) {
    return;
  }
  while (!ct_list_empty(&h->origins)) {
    ct__h2_origin_t *o = ct_container_of(h->origins.next, ct__h2_origin_t, link);
    ct_list_remove(&o->link);
    origin_free(o);
  }
  nghttp2_option_del(h->ngopt);
  nghttp2_session_callbacks_del(h->callbacks);
  SSL_CTX_free(h->ssl_ctx);
  void (*done)(void *) = h->done;
  void *arg = h->done_arg;
  free(h);
  if (done != NULL) {
    done(arg);
  }
}

static void on_handle_closed(uv_handle_t *hd) {
  ct__h2_t *h = hd->data;
  h->handles--;
  maybe_finish(h);
}

void ct__h2_conn_freed(ct__h2_t *h) {
  h->handles--;
  h->n_conns--;
  maybe_finish(h);
}

static void on_teardown(uv_timer_t *t) {
  ct__h2_t *h = ct_container_of(t, ct__h2_t, timer);
  assert(h->state == H_CLOSING);
  /* In order of sending. A callback may send (refused: CT_ESTATE) but adds nothing here. */
  while (!ct_list_empty(&h->aged)) {
    ct__h2_req_t *r = ct_container_of(h->aged.next, ct__h2_req_t, aged);
    if (r->state == R_QUEUED) {
      ct_list_remove(&r->link);
      r->origin->queued--;
    }
    ct__h2_answer(r, CT_HTTP_OTHER, "transport closed");
  }
  h->state = H_TEARDOWN;
  for (ct_list_t *ol = h->origins.next; ol != &h->origins; ol = ol->next) {
    ct__h2_origin_t *o = ct_container_of(ol, ct__h2_origin_t, link);
    while (!ct_list_empty(&o->conns)) {
      ct__h2_conn_destroy(ct_container_of(o->conns.next, ct__h2_conn_t, link));
    }
    if (o->resolving) {
      uv_cancel((uv_req_t *)&o->gai); /* its callback still runs, with UV_EAI_CANCELED */
    }
    if (o->is_dirty) {
      ct_list_remove(&o->dirty);
      o->is_dirty = false;
    }
  }
  while (!ct_list_empty(&h->free)) {
    ct__h2_req_t *r = ct_container_of(h->free.next, ct__h2_req_t, link);
    ct_list_remove(&r->link);
    req_destroy(r);
  }
  h->n_free = 0;
  while (h->resp_pool != NULL) {
    ct__h2_resp_t *p = h->resp_pool;
    h->resp_pool = p->next;
    free(p);
  }
  h->n_resp_pool = 0;
  h->prepare.data = h;
  h->timer.data = h;
  uv_close((uv_handle_t *)&h->prepare, on_handle_closed);
  uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}

void ct__h2_close(ct__h2_t *h, void (*done)(void *arg), void *arg) {
  assert(h->state == H_OPEN);
  h->state = H_CLOSING;
  h->done = done;
  h->done_arg = arg;
  uv_timer_stop(&h->timer);
  uv_timer_start(&h->timer, on_teardown, 0, 0);
}

/* ---- the fuzz target's door ------------------------------------------------------------ */

struct ct__h2_fuzz {
  ct__h2_t *h;
  ct__counters_t counters;
  uint32_t n;
  uint8_t *seen; /* callbacks per request */
};

static void fuzz_cb(void *arg, const ct_http_response_t *resp) {
  uint8_t *seen = arg;
  (void)resp;
  if (*seen < UINT8_MAX) {
    (*seen)++;
  }
}

static void fuzz_fallback(void *router, ct_http_request_t *req, ct_transport_cb cb, void *arg) {
  (void)router;
  ct_http_request_free(req);
  ct_http_response_t resp = {.failure = CT_HTTP_OTHER, .body = "", .retry_after_ms = -1,
                             .detail = "fuzz"};
  cb(arg, &resp);
}

ct__h2_fuzz_t *ct__h2_fuzz_new(uv_loop_t *loop, uint32_t n_requests) {
  ct__h2_fuzz_t *f = calloc(1, sizeof *f);
  if (f == NULL) {
    return NULL;
  }
  f->seen = calloc(1, n_requests + 1);
  /* No TLS here: an empty CA file spares loading the system's bundle for every input. */
  ct_transport_options_t opts = {.max_streams = 100, .ca_file = "/dev/null"};
  if (f->seen == NULL || ct__h2_new(loop, &opts, &f->counters, fuzz_fallback, NULL, &f->h) != 0) {
    free(f->seen);
    free(f);
    return NULL;
  }
  ct__h2_t *h = f->h;

  /* One origin, one connection without socket or TLS, its session started and the requests
   * on its streams, as if the handshake had just agreed on h2. */
  ct__url_t u;
  ct__url_parse("https://fuzz.example:443/", &u);
  ct__h2_origin_t *o = origin_new(h, &u);
  ct__h2_conn_t *c = o != NULL ? calloc(1, sizeof *c) : NULL;
  if (c == NULL) {
    return f; /* fuzz_free still works; nothing was sent */
  }
  c->h = h;
  c->origin = o;
  c->fuzz = true;
  c->state = C_READY;
  c->max_streams = 100;
  ct_list_init(&c->link);
  ct_list_init(&c->avail);
  ct_list_init(&c->dirty);
  ct_list_init(&c->streams);
  ct_list_insert_tail(&o->conns, &c->link);
  o->n_conns++;
  h->n_conns++;
  h->handles++; /* released by ct__h2_conn_freed when the connection goes */
  if (ct__h2_session_start(c) != 0) {
    ct__h2_conn_fail(c, CT_HTTP_OTHER, "fuzz: no memory");
    return f;
  }
  ct__h2_conn_capacity(c);
  f->n = n_requests; /* from here on each is answered, sent or not */
  for (uint32_t i = 0; i < n_requests; i++) {
    ct_http_request_t req = {0};
    req.url = strdup("https://fuzz.example:443/v19.0/1234567890/messages?x=1");
    req.body = strdup("{\"messaging_product\":\"whatsapp\"}");
    req.body_len = req.body != NULL ? strlen(req.body) : 0;
    if (req.url == NULL || req.body == NULL ||
        ct_http_request_add_header(&req, "Authorization", "Bearer fuzz") != 0 ||
        ct_http_request_add_header(&req, "Content-Type", "application/json") != 0 ||
        ct__h2_send(h, &req, fuzz_cb, f->seen + i) != 0) {
      ct_http_request_free(&req);
      f->n = i;
      break;
    }
  }
  /* The per-turn work, by hand: requests onto streams, then the frames out (dropped). The
   * origin never connects: its one connection has room for every request. */
  on_prepare(&h->prepare);
  return f;
}

int ct__h2_fuzz_feed(ct__h2_fuzz_t *f, const uint8_t *data, size_t len) {
  ct__h2_t *h = f->h;
  ct__h2_origin_t *o = ct_list_empty(&h->origins)
                           ? NULL
                           : ct_container_of(h->origins.next, ct__h2_origin_t, link);
  if (o == NULL || ct_list_empty(&o->conns)) {
    return -1;
  }
  ct__h2_conn_t *c = ct_container_of(o->conns.next, ct__h2_conn_t, link);
  if (ct__h2_session_input(c, data, len) != 0) {
    ct__h2_conn_fail(c, CT_HTTP_STREAM_ERROR, "fuzz: HTTP/2 protocol error");
    return -1;
  }
  /* What the turn would do: answer what the input made answerable, write (drop) output.
   * Requests queued again would need a new connection: they stay queued. */
  while (!ct_list_empty(&h->dirty)) {
    ct__h2_conn_t *d = ct_container_of(h->dirty.next, ct__h2_conn_t, dirty);
    ct_list_remove(&d->dirty);
    d->is_dirty = false;
    ct__h2_conn_flush(d);
  }
  return c->state == C_CLOSED ? -1 : 0;
}

uint32_t ct__h2_fuzz_free(ct__h2_fuzz_t *f) {
  ct__h2_t *h = f->h;
  uv_loop_t *loop = h->loop;
  /* Queued requests (refused, or sent again after a failure) are answered by the teardown,
   * which must not try to connect: no origin is dirty any more. */
  while (!ct_list_empty(&h->dirty_origins)) {
    ct__h2_origin_t *o = ct_container_of(h->dirty_origins.next, ct__h2_origin_t, dirty);
    ct_list_remove(&o->dirty);
    o->is_dirty = false;
  }
  ct__h2_close(h, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uint32_t ok = 0;
  for (uint32_t i = 0; i < f->n; i++) {
    uint8_t s = f->seen[i];
    if (s == 1) {
      ok++;
    }
  }
  free(f->seen);
  free(f);
  return ok;
}
