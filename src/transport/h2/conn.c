/* One connection of the native transport: TCP on the loop, TLS through OpenSSL with a memory
 * BIO (tls.c), then the HTTP/2 session (stream.c).
 *
 *   C_CONNECTING  uv_tcp_connect to the origin's next address
 *   C_HANDSHAKE   TLS: ClientHello out, the server's flight in, until SSL_do_handshake says
 *                 done; then ALPN decides: h2 starts the session (C_READY), anything else
 *                 marks the origin not-h2 and closes (its requests go to libcurl)
 *   C_READY       takes streams
 *   C_DRAINING    GOAWAY received or sent, or stream ids used up: no new streams; closes
 *                 once its streams are done
 *   C_CLOSED      off every list, uv_close'd; freed in the close callback
 *
 * Reading: libuv reads into the transport's one read buffer; the BIO hands those bytes to
 * OpenSSL without copying them first (c->in), SSL_read decrypts into the transport's
 * plaintext buffer, and nghttp2_session_mem_recv takes it. Every byte is consumed before
 * on_read returns, so one buffer serves all connections.
 *
 * Writing happens only in ct__h2_conn_flush, once per loop turn (h2.c): nghttp2's frames are
 * gathered into whole TLS records, the BIO appends the ciphertext to c->out, and c->out goes
 * to the socket with uv_try_write; what the socket does not take goes to one uv_write, while
 * further output collects in c->out again. A connection holding more than CT__H2_OUT_HIGH
 * unwritten stops asking nghttp2 for frames until the write completes: a large upload is
 * held to that, nghttp2 pulling its body only as it goes.
 */
#include "transport/h2/h2_int.h"

#include "common/error.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void conn_close(ct__h2_conn_t *c);

static void conn_free(ct__h2_conn_t *c) {
  ct__h2_t *h = c->h;
  ct__h2_buf_free(&c->out);
  ct__h2_buf_free(&c->wout);
  free(c);
  ct__h2_conn_freed(h);
}

static void on_closed(uv_handle_t *hd) { conn_free(hd->data); }

/* Releases the session, TLS and the handle. The caller has dealt with the streams. */
static void release(ct__h2_conn_t *c) {
  if (c->is_dirty) {
    ct_list_remove(&c->dirty);
    c->is_dirty = false;
  }
  if (c->sess != NULL) {
    nghttp2_session_del(c->sess); /* calls no callbacks */
    c->sess = NULL;
  }
  if (c->ssl != NULL) {
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fuzz) {
    conn_free(c); /* no handle: nothing to wait for */
    return;
  }
  /* A pending uv_write is cancelled (on_write sees UV_ECANCELED) before on_closed runs. */
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* Takes every stream off the connection: answered ones are recycled, the others go to
 * `each` (answer or requeue). nghttp2 lets go of all of them, as the session is about to be
 * deleted. */
static void drop_streams(ct__h2_conn_t *c, ct_http_failure_t failure, const char *detail) {
  ct_list_t local;
  ct_list_init(&local);
  ct_list_splice_tail(&local, &c->streams);
  c->n_open = 0;
  while (!ct_list_empty(&local)) {
    ct__h2_req_t *r = ct_container_of(local.next, ct__h2_req_t, link);
    ct_list_remove(&r->link);
    r->in_session = false;
    r->conn = NULL;
    if (r->state == R_DONE) {
      ct__h2_recycle(r);
    } else if (!r->sent || failure == CT_HTTP_OK) {
      /* Its HEADERS never left: the server cannot have it. */
      ct__h2_requeue(r, "the connection ended before the request was sent");
    } else {
      ct__h2_answer(r, failure, detail);
    }
  }
}

void ct__h2_conn_fail(ct__h2_conn_t *c, ct_http_failure_t failure, const char *detail) {
  if (c->state == C_CLOSED) {
    return;
  }
  bool was_ready = c->state == C_READY || c->state == C_DRAINING;
  c->state = C_CLOSED;
  /* Off the origin's lists before any callback runs, so a send made from one cannot pick
   * this connection. */
  ct__h2_conn_gone(c, was_ready, failure, detail);
  drop_streams(c, failure, detail);
  release(c);
}

/* A clean close: no stream waits (or the caller requeues them). */
static void conn_close(ct__h2_conn_t *c) { ct__h2_conn_fail(c, CT_HTTP_OK, NULL); }

void ct__h2_conn_destroy(ct__h2_conn_t *c) {
  if (c->state == C_CLOSED) {
    return;
  }
  bool was_ready = c->state == C_READY || c->state == C_DRAINING;
  c->state = C_CLOSED;
  ct__h2_origin_t *o = c->origin;
  ct_list_remove(&c->link);
  ct_list_remove(&c->avail);
  o->n_conns--;
  if (!was_ready) {
    o->n_pending--;
  }
  /* Teardown answered every request first: only answered ones are left here. */
  drop_streams(c, CT_HTTP_OTHER, "transport closed");
  release(c);
}

/* Sends our GOAWAY and closes once it is written. */
static void goodbye(ct__h2_conn_t *c) {
  if (c->goodbye) {
    return;
  }
  c->goodbye = true;
  if (c->state == C_READY) {
    c->state = C_DRAINING;
  }
  ct__h2_conn_capacity(c);
  nghttp2_session_terminate_session(c->sess, NGHTTP2_NO_ERROR);
  ct__h2_mark_dirty(c);
}

/* ---- writing --------------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  ct__h2_conn_t *c = req->data;
  c->writing = false;
  ct__h2_buf_reset(&c->wout);
  if (status == UV_ECANCELED || c->state == C_CLOSED) {
    return;
  }
  if (status < 0) {
    char detail[128];
    snprintf(detail, sizeof detail, "writing to the connection failed: %s", uv_strerror(status));
    ct__h2_conn_fail(c, CT_HTTP_RESET, detail);
    return;
  }
  ct__h2_mark_dirty(c); /* what collected meanwhile, and what nghttp2 held back */
}

/* c->out to the socket: uv_try_write, then one uv_write for the rest. Returns -1 when the
 * connection failed. */
static int write_out(ct__h2_conn_t *c) {
  if (c->fuzz) {
    c->out.len = 0;
    return 0;
  }
  if (c->writing || c->out.len == 0) {
    return 0;
  }
  uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == UV_EAGAIN || n == UV_ENOSYS) {
    n = 0;
  }
  if (n < 0) {
    char detail[128];
    snprintf(detail, sizeof detail, "writing to the connection failed: %s", uv_strerror(n));
    ct__h2_conn_fail(c, CT_HTTP_RESET, detail);
    return -1;
  }
  if ((size_t)n == c->out.len) {
    ct__h2_buf_reset(&c->out);
    return 0;
  }
  ct__h2_buf_consume(&c->out, (size_t)n);
  ct__h2_buf_t t = c->wout; /* empty: no write is running */
  c->wout = c->out;
  c->out = t;
  b = uv_buf_init(c->wout.data, (unsigned)c->wout.len);
  c->write_req.data = c;
  int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc != 0) {
    char detail[128];
    snprintf(detail, sizeof detail, "writing to the connection failed: %s", uv_strerror(rc));
    ct__h2_conn_fail(c, CT_HTTP_RESET, detail);
    return -1;
  }
  c->writing = true;
  return 0;
}

/* Plaintext into TLS records (into c->out through the BIO). Returns -1 when it failed. */
static int tls_write(ct__h2_conn_t *c, const uint8_t *p, size_t n) {
  if (c->fuzz || n == 0) {
    return 0;
  }
  ERR_clear_error();
  int w = SSL_write(c->ssl, p, (int)n);
  if (w != (int)n) {
    ERR_clear_error();
    ct__h2_conn_fail(c, CT_HTTP_OTHER, "TLS encryption failed (out of memory)");
    return -1;
  }
  return 0;
}

/* Gathers what nghttp2 has to send into TLS records in c->out, up to CT__H2_OUT_HIGH
 * unwritten. Returns the plaintext bytes taken from nghttp2, or -1 when the connection
 * failed. */
static ssize_t produce(ct__h2_conn_t *c) {
  uint8_t *plain = c->h->plain;
  size_t staged = 0;
  ssize_t total = 0;
  while (c->out.len + c->wout.len < CT__H2_OUT_HIGH) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->sess, &data);
    if (n < 0) {
      ct__h2_conn_fail(c, CT_HTTP_STREAM_ERROR, "HTTP/2 session failed while sending");
      return -1;
    }
    if (n == 0) {
      break;
    }
    total += n;
    while (n > 0) {
      size_t take = CT__H2_RECORD - staged;
      if ((size_t)n < take) {
        take = (size_t)n;
      }
      memcpy(plain + staged, data, take);
      staged += take;
      data += take;
      n -= (ssize_t)take;
      if (staged == CT__H2_RECORD) {
        if (tls_write(c, plain, staged) != 0) {
          return -1;
        }
        staged = 0;
      }
    }
  }
  if (tls_write(c, plain, staged) != 0) {
    return -1;
  }
  return total;
}

void ct__h2_conn_flush(ct__h2_conn_t *c) {
  if (c->state == C_CLOSED) {
    return;
  }
  /* Usually one round: a turn's frames fit under the high-water mark and one write takes
   * them. A large body takes more rounds while the socket keeps taking it; the server's
   * flow-control window bounds how much that can be in one turn. */
  for (;;) {
    ssize_t produced = 0;
    if (c->sess != NULL) {
      produced = produce(c);
      if (produced < 0) {
        return;
      }
    }
    if (write_out(c) != 0) {
      return;
    }
    if (c->writing || produced == 0 || c->fuzz) {
      break; /* on_write continues; or nothing more to say */
    }
  }
  if (c->goodbye && !c->writing && c->out.len == 0 &&
      (c->sess == NULL || !nghttp2_session_want_write(c->sess))) {
    conn_close(c);
  }
}

/* ---- the handshake --------------------------------------------------------------------- */

static void handshake_done(ct__h2_conn_t *c) {
  ct__h2_t *h = c->h;
  ct__h2_origin_t *o = c->origin;
  const unsigned char *alpn = NULL;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
  if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
    /* The server speaks HTTP/1.1 (or will not say): libcurl's job. The queue moves to the
     * router in the next turn; this connection has no streams. */
    o->proto = P_NOT_H2;
    ct__registry_origin(o->name, o->name_len, CT_TRANSPORT_LIBCURL, CT_TRANSPORT_ALPN_OTHER);
    ct__h2_origin_dirty(o);
    conn_close(c);
    return;
  }
  if (ct__h2_session_start(c) != 0) {
    ct__h2_conn_fail(c, CT_HTTP_OTHER, "out of memory starting the HTTP/2 session");
    return;
  }
  if (o->proto != P_H2) {
    o->proto = P_H2;
    ct__registry_origin(o->name, o->name_len, CT_TRANSPORT_NGHTTP2, CT_TRANSPORT_ALPN_H2);
  }
  ct__count(&h->counters->h2_connections, 1);
  o->n_pending--;
  o->backoff_ms = 0;
  o->backoff_until = 0;
  c->state = C_READY;
  /* The first connection to a server waits for its SETTINGS before it takes a stream: a
   * server allowing fewer than the 100 streams nghttp2 assumes would refuse the excess.
   * Later connections start from what the first one learnt. */
  c->max_streams = o->known_streams == 0       ? 0
                   : o->known_streams < h->max_streams ? o->known_streams
                                                       : h->max_streams;
  c->idle_since_ms = ct__h2_now(h);
  ct__h2_conn_capacity(c);
  ct__h2_mark_dirty(c);
}

/* Advances the handshake with what c->in holds. */
static void handshake(ct__h2_conn_t *c) {
  ERR_clear_error();
  int rc = SSL_do_handshake(c->ssl);
  if (rc == 1) {
    handshake_done(c);
    return;
  }
  int err = SSL_get_error(c->ssl, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    ct__h2_mark_dirty(c); /* our next flight, if any */
    return;
  }
  char buf[192];
  char detail[256];
  snprintf(detail, sizeof detail, "TLS handshake with %s failed: %s", c->origin->name,
           ct__h2_tls_error(c->ssl, buf, sizeof buf));
  ERR_clear_error();
  /* An alert for the server may be waiting in c->out; it is dropped with the connection. */
  ct__h2_conn_fail(c, CT_HTTP_TLS, detail);
}

/* ---- reading --------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
  ct__h2_conn_t *c = hd->data;
  (void)suggested;
  *buf = uv_buf_init((char *)c->h->readbuf, sizeof c->h->readbuf);
}

/* Decrypts and feeds nghttp2 until OpenSSL wants more bytes. */
static void read_app(ct__h2_conn_t *c) {
  uint8_t *plain = c->h->plain_in;
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(c->ssl, plain, CT__H2_RECORD);
    if (n > 0) {
      if (ct__h2_session_input(c, plain, (size_t)n) != 0) {
        ct__h2_conn_fail(c, CT_HTTP_STREAM_ERROR, "HTTP/2 protocol error from the server");
        return;
      }
      if (c->state == C_CLOSED) {
        return;
      }
      continue;
    }
    int err = SSL_get_error(c->ssl, n);
    if (err == SSL_ERROR_WANT_READ) {
      break;
    }
    ERR_clear_error();
    if (err == SSL_ERROR_ZERO_RETURN) {
      ct__h2_conn_fail(c, CT_HTTP_RESET, "the server closed the connection (TLS close_notify)");
    } else {
      ct__h2_conn_fail(c, CT_HTTP_STREAM_ERROR, "TLS error on the connection");
    }
    return;
  }
  ct__h2_mark_dirty(c); /* SETTINGS ACK, WINDOW_UPDATE, PING ACK, RST_STREAM to send */
  if (c->state == C_DRAINING && c->n_open == 0) {
    goodbye(c);
  } else if (!nghttp2_session_want_read(c->sess) && !nghttp2_session_want_write(c->sess)) {
    /* The session is over (a GOAWAY with nothing left to do). */
    ct__h2_conn_fail(c, CT_HTTP_RESET, "the server ended the HTTP/2 session");
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ct__h2_conn_t *c = s->data;
  if (c->state == C_CLOSED || nread == 0) {
    return;
  }
  if (nread < 0) {
    char detail[160];
    bool handshaking = c->state == C_HANDSHAKE;
    snprintf(detail, sizeof detail, "%s%s",
             handshaking ? "TLS handshake: " : "",
             nread == UV_EOF ? "the server closed the connection" : uv_strerror((int)nread));
    ct__h2_conn_fail(c, handshaking ? CT_HTTP_TLS : CT_HTTP_RESET, detail);
    return;
  }
  c->last_read_ms = ct__h2_now(c->h);
  c->in = (const uint8_t *)buf->base;
  c->in_len = (size_t)nread;
  if (c->state == C_HANDSHAKE) {
    handshake(c);
  }
  if (c->state == C_READY || c->state == C_DRAINING) {
    read_app(c);
  }
  c->in_len = 0;
}

/* ---- connecting ------------------------------------------------------------------------ */

static void on_connect(uv_connect_t *req, int status) {
  ct__h2_conn_t *c = req->data;
  if (status == UV_ECANCELED || c->state == C_CLOSED) {
    return;
  }
  if (status < 0) {
    char detail[192];
    snprintf(detail, sizeof detail, "could not connect to %s: %s", c->origin->name,
             uv_strerror(status));
    ct__h2_conn_fail(c, CT_HTTP_CONNECT, detail);
    return;
  }
  c->ssl = ct__h2_tls_new(c);
  if (c->ssl == NULL) {
    ct__h2_conn_fail(c, CT_HTTP_OTHER, "out of memory starting TLS");
    return;
  }
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc != 0) {
    char detail[128];
    snprintf(detail, sizeof detail, "could not read from the connection: %s", uv_strerror(rc));
    ct__h2_conn_fail(c, CT_HTTP_CONNECT, detail);
    return;
  }
  c->state = C_HANDSHAKE;
  c->last_read_ms = ct__h2_now(c->h);
  handshake(c);
}

int ct__h2_conn_open(ct__h2_origin_t *o) {
  ct__h2_t *h = o->h;
  ct__h2_conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) {
    return CT_ENOMEM;
  }
  if (uv_tcp_init(h->loop, &c->tcp) != 0) {
    free(c);
    return CT_EIO;
  }
  c->tcp.data = c;
  c->h = h;
  c->origin = o;
  c->state = C_CONNECTING;
  c->max_streams = h->max_streams < CT__H2_ASSUMED_STREAMS ? h->max_streams
                                                           : CT__H2_ASSUMED_STREAMS;
  c->opened_ms = ct__h2_now(h);
  ct_list_init(&c->avail);
  ct_list_init(&c->dirty);
  ct_list_init(&c->streams);
  ct_list_insert_tail(&o->conns, &c->link);
  o->n_conns++;
  o->n_pending++;
  h->n_conns++;
  h->handles++;
  /* Requests are small and latency matters more than segment count; writes are already
   * gathered per turn. */
  uv_tcp_nodelay(&c->tcp, 1);
  const struct sockaddr *addr = (const struct sockaddr *)&o->addrs[o->next_addr % o->n_addrs];
  c->connect_req.data = c;
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect);
  if (rc != 0) {
    char detail[192];
    snprintf(detail, sizeof detail, "could not connect to %s: %s", o->name, uv_strerror(rc));
    ct__h2_conn_fail(c, CT_HTTP_CONNECT, detail);
  }
  return 0;
}

/* ---- housekeeping ---------------------------------------------------------------------- */

void ct__h2_conn_tick(ct__h2_conn_t *c, uint64_t now) {
  ct__h2_t *h = c->h;
  switch (c->state) {
  case C_CONNECTING:
  case C_HANDSHAKE:
    if (now - c->opened_ms >= h->connect_timeout_ms) {
      char detail[192];
      snprintf(detail, sizeof detail, "%s to %s timed out after %llu ms",
               c->state == C_CONNECTING ? "connecting" : "the TLS handshake", c->origin->name,
               (unsigned long long)h->connect_timeout_ms);
      ct__h2_conn_fail(c, CT_HTTP_TIMEOUT, detail);
    }
    return;
  case C_READY:
  case C_DRAINING:
    if (c->n_open > 0) {
      if (c->ping_out) {
        if (c->last_read_ms > c->ping_sent_ms) {
          c->ping_out = false; /* bytes came: alive, whether or not the ACK is among them */
        } else if (now - c->ping_sent_ms >= h->ping_timeout_ms) {
          ct__count(&h->counters->h2_ping_timeouts, 1);
          ct__h2_conn_fail(c, CT_HTTP_RESET, "connection lost: no answer to PING");
        }
      } else if (now - c->last_read_ms >= h->ping_after_ms) {
        if (nghttp2_submit_ping(c->sess, NGHTTP2_FLAG_NONE, NULL) == 0) {
          c->ping_out = true;
          c->ping_sent_ms = now;
          ct__h2_mark_dirty(c);
        }
      }
    } else if (c->state == C_READY && now - c->idle_since_ms >= h->idle_timeout_ms) {
      goodbye(c);
    } else if (c->state == C_DRAINING) {
      goodbye(c);
    }
    return;
  case C_CLOSED:
    return;
  }
}
