/* The HTTP/2 session of one connection: requests onto streams, frames back into answers.
 *
 * nghttp2 does all of HTTP/2 (framing, HPACK, flow control, stream states, the checks RFC
 * 9113 asks of a client) without I/O: conn.c feeds it the server's plaintext (mem_recv) and
 * takes its output (mem_send). This file holds the callbacks nghttp2 makes while doing so,
 * and turns them into the request's answer:
 *   on_header        :status, Retry-After, X-Message-Id (ct__resp_headers_field)
 *   on_data          the body, kept up to CT__HTTP_BODY_CAP; the rest is read and dropped
 *                    (nghttp2 still returns the window, so a 1 MB answer flows through)
 *   on_frame_recv    END_STREAM on the response; SETTINGS (the server's stream limit);
 *                    GOAWAY (no new streams here); PING ACK
 *   on_before_frame_send  the request's HEADERS are being written out: from now on the
 *                    server may have it
 *   on_stream_close  the outcome (see h2.c, ANSWERS AND FAILURES)
 * No callback writes to the socket or frees the connection: they only change state and
 * answer requests, whose callbacks may queue new requests (on the origin, served next turn).
 */
#include "transport/h2/h2_int.h"

#include "common/clock.h"
#include "common/version.h"
#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static ct__h2_req_t *req_of(nghttp2_session *s, int32_t stream_id) {
  return nghttp2_session_get_stream_user_data(s, stream_id);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user) {
  (void)flags;
  ct__h2_conn_t *c = user;
  if (frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  ct__h2_req_t *r = req_of(s, frame->hd.stream_id);
  if (r == NULL || r->state == R_DONE) {
    return 0;
  }
  if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
    if (r->resp == NULL) {
      r->resp = ct__h2_resp_get(c->h);
      if (r->resp == NULL) {
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_CANCEL);
        ct__h2_mark_dirty(c);
        ct__h2_answer(r, CT_HTTP_OTHER, "out of memory reading the answer");
        return 0;
      }
    }
    /* nghttp2 has checked it is three digits. A 1xx is an interim answer: its fields are
     * not the response's. */
    int code = 0;
    for (size_t i = 0; i < valuelen; i++) {
      code = code * 10 + (value[i] - '0');
    }
    r->resp->status = code >= 200 ? code : -1;
    ct__resp_headers_reset(&r->resp->hdr);
    return 0;
  }
  if (r->resp == NULL || r->resp->status <= 0) {
    return 0;
  }
  /* The wall clock is read only for Retry-After, which may be an HTTP-date. */
  int64_t now = namelen == 11 ? ct_now_ms() : 0;
  ct__resp_headers_field(&r->resp->hdr, (const char *)name, namelen, (const char *)value,
                         valuelen, now);
  return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *user) {
  (void)flags;
  ct__h2_conn_t *c = user;
  ct__h2_req_t *r = req_of(s, stream_id);
  if (r == NULL || r->state == R_DONE) {
    return 0;
  }
  ct__h2_resp_t *p = r->resp;
  if (p == NULL || p->status <= 0) {
    return 0; /* nghttp2 lets no DATA through before a final response's headers */
  }
  size_t room = CT__HTTP_BODY_CAP - p->len;
  size_t take = len < room ? len : room;
  if (take == 0) {
    return 0;
  }
  size_t need = p->len + take + 1;
  if (need > p->cap) {
    size_t cap = p->cap;
    while (cap < need) {
      cap *= 2;
    }
    if (cap > CT__HTTP_BODY_CAP + 1) {
      cap = CT__HTTP_BODY_CAP + 1;
    }
    char *nb = p->body == p->inline_body ? malloc(cap) : realloc(p->body, cap);
    if (nb == NULL) {
      /* The answer cannot be kept whole: give it up rather than hand on half a body. */
      nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
      ct__h2_mark_dirty(c);
      ct__h2_answer(r, CT_HTTP_OTHER, "out of memory reading the answer");
      return 0;
    }
    if (p->body == p->inline_body) {
      memcpy(nb, p->body, p->len);
    }
    p->body = nb;
    p->cap = cap;
  }
  memcpy(p->body + p->len, data, take);
  p->len += take;
  p->body[p->len] = '\0';
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user) {
  ct__h2_conn_t *c = user;
  ct__h2_t *h = c->h;
  switch (frame->hd.type) {
  case NGHTTP2_DATA:
  case NGHTTP2_HEADERS:
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
      ct__h2_req_t *r = req_of(s, frame->hd.stream_id);
      if (r != NULL) {
        r->end_stream = true;
      }
    }
    break;
  case NGHTTP2_SETTINGS:
    if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      uint32_t server =
          nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
      c->max_streams = server < h->max_streams ? server : h->max_streams;
      c->origin->known_streams = server != 0 ? server : 1; /* 0: "not now", not "never" */
      ct__h2_conn_capacity(c);
    }
    break;
  case NGHTTP2_GOAWAY:
    /* Streams above last_stream_id are closed by nghttp2 with REFUSED_STREAM (sent again);
     * those below it are answered as they come. No new streams here. */
    ct__count(&h->counters->h2_goaway, 1);
    if (c->state == C_READY) {
      c->state = C_DRAINING;
    }
    ct__h2_conn_capacity(c);
    if (c->origin->queued > 0) {
      ct__h2_origin_dirty(c->origin);
    }
    break;
  case NGHTTP2_PING:
    if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
      c->ping_out = false;
    }
    break;
  default:
    break;
  }
  return 0;
}

/* Called as nghttp2 is about to serialize a frame into the bytes mem_send returns. From here
 * on the request's HEADERS may reach the server (on_frame_send comes only at the next
 * mem_send, which a flush held back by the high-water mark may not make before the
 * connection fails): a request is sent again without being reported only when this never
 * ran for it. */
static int on_before_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *user) {
  (void)user;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    ct__h2_req_t *r = req_of(s, frame->hd.stream_id);
    if (r != NULL) {
      r->sent = true;
    }
  }
  return 0;
}

void ct__h2_stream_closed(ct__h2_conn_t *c, ct__h2_req_t *r, uint32_t error_code) {
  (void)c;
  if (r->state == R_DONE) {
    ct__h2_recycle(r); /* answered before (a timeout): only the stream was left */
    return;
  }
  if (r->end_stream && r->resp != NULL && r->resp->status >= 200) {
    /* The whole answer came; a reset after it (NO_ERROR: "I need no more of your body")
     * does not undo it. */
    ct__h2_answer(r, CT_HTTP_OK, "");
    return;
  }
  if (error_code == NGHTTP2_REFUSED_STREAM) {
    ct__count(&c->h->counters->h2_refused, 1);
    ct__h2_requeue(r, "the server refused the stream before processing it, again and again");
    return;
  }
  char detail[128];
  snprintf(detail, sizeof detail, "HTTP/2 stream reset before the answer ended: %s",
           nghttp2_http2_strerror(error_code));
  ct__h2_answer(r, CT_HTTP_STREAM_ERROR, detail);
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code,
                           void *user) {
  ct__h2_conn_t *c = user;
  ct__h2_req_t *r = req_of(s, stream_id);
  if (c->n_open > 0) {
    c->n_open--;
  }
  if (c->n_open == 0) {
    c->idle_since_ms = ct__h2_now(c->h);
  }
  ct__h2_conn_capacity(c);
  if (r != NULL) {
    ct_list_remove(&r->link);
    r->in_session = false;
    r->conn = NULL;
    ct__h2_stream_closed(c, r, error_code);
  }
  return 0;
}

int ct__h2_callbacks_new(nghttp2_session_callbacks **out) {
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) {
    return CT_ENOMEM;
  }
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_before_frame_send_callback(cb, on_before_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  *out = cb;
  return 0;
}

int ct__h2_session_start(ct__h2_conn_t *c) {
  ct__h2_t *h = c->h;
  if (nghttp2_session_client_new2(&c->sess, h->callbacks, c, h->ngopt) != 0) {
    return CT_ENOMEM;
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, CT__H2_STREAM_WINDOW},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024},
  };
  if (nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
      nghttp2_session_set_local_window_size(c->sess, NGHTTP2_FLAG_NONE, 0,
                                            CT__H2_CONN_WINDOW) != 0) {
    nghttp2_session_del(c->sess);
    c->sess = NULL;
    return CT_ENOMEM;
  }
  return 0;
}

/* nghttp2 pulls the request body from here as flow control allows. */
static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user) {
  (void)s;
  (void)stream_id;
  (void)user;
  ct__h2_req_t *r = source->ptr;
  size_t left = r->http.body_len - r->body_off;
  size_t n = left < length ? left : length;
  memcpy(buf, r->http.body + r->body_off, n);
  r->body_off += n;
  if (r->body_off == r->http.body_len) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return (ssize_t)n;
}

/* Header fields HTTP/2 forbids (RFC 9113 8.2.2) or that we set ourselves. */
static bool skipped(const char *name, size_t len) {
  static const char *const names[] = {"connection", "keep-alive", "proxy-connection",
                                      "transfer-encoding", "upgrade", "host", "te",
                                      "content-length", "expect"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0) {
      return true;
    }
  }
  return false;
}

#define NV(n, v, nl, vl)                                                                       \
  ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE})

int ct__h2_submit(ct__h2_conn_t *c, ct__h2_req_t *r) {
  /* nghttp2 copies the header block at submit; names are lowercased into `lower` first. */
  nghttp2_nv nva[CT_HTTP_MAX_HEADERS + 6];
  char lower[1024];
  size_t used = 0;
  size_t n = 0;
  static const char ua[] = CT_USER_AGENT;
  bool has_ua = false;
  char clen[24];
  int clen_len = snprintf(clen, sizeof clen, "%zu", r->http.body_len);

  nva[n++] = NV(":method", "POST", 7, 4);
  nva[n++] = NV(":scheme", "https", 7, 5);
  nva[n++] = NV(":authority", r->url.authority, 10, r->url.authority_len);
  nva[n++] = NV(":path", r->url.path, 5, r->url.path_len);
  for (size_t i = 0; i < r->http.n_headers && i < CT_HTTP_MAX_HEADERS; i++) {
    const char *line = r->http.headers[i];
    const char *colon = strchr(line, ':');
    if (colon == NULL || colon == line) {
      continue;
    }
    size_t nlen = (size_t)(colon - line);
    if (skipped(line, nlen)) {
      continue;
    }
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') {
      v++;
    }
    if (used + nlen > sizeof lower) {
      return CT_EINVAL;
    }
    char *lname = lower + used;
    for (size_t k = 0; k < nlen; k++) {
      char ch = line[k];
      lname[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    used += nlen;
    if (nlen == 10 && memcmp(lname, "user-agent", 10) == 0) {
      has_ua = true;
    }
    nva[n++] = NV(lname, v, nlen, strlen(v));
  }
  if (!has_ua) {
    nva[n++] = NV("user-agent", ua, 10, sizeof ua - 1);
  }
  nva[n++] = NV("content-length", clen, 14, (size_t)clen_len);

  nghttp2_data_provider body = {.source = {.ptr = r}, .read_callback = read_body};
  int32_t id = nghttp2_submit_request(c->sess, NULL, nva, n,
                                      r->http.body_len > 0 ? &body : NULL, r);
  if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
    return CT_ESTATE;
  }
  if (id == NGHTTP2_ERR_NOMEM) {
    return CT_ENOMEM;
  }
  if (id < 0) {
    return CT_EINVAL;
  }
  r->stream_id = id;
  r->state = R_STREAM;
  r->conn = c;
  r->in_session = true;
  ct_list_insert_tail(&c->streams, &r->link);
  c->n_open++;
  if (r->requeues == 0) {
    ct__count(&c->h->counters->requests[CT_TRANSPORT_NGHTTP2], 1);
  }
  ct__h2_conn_capacity(c);
  return 0;
}

int ct__h2_session_input(ct__h2_conn_t *c, const uint8_t *data, size_t len) {
  ssize_t n = nghttp2_session_mem_recv(c->sess, data, len);
  return n < 0 ? -1 : 0;
}
