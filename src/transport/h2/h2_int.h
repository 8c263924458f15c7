/* Shared between the files of the native HTTP/2 transport (and its unit tests and fuzz
 * target); not a public interface. See h2.c for the design.
 *
 *   h2.c      the transport: origins and their queues, the per-turn flush, timers, close
 *   conn.c    one connection: TCP (uv_tcp), TLS (OpenSSL over a memory BIO), reads, writes
 *   stream.c  the nghttp2 session of a connection: requests onto streams, answers back
 *   tls.c     the SSL_CTX (verification, ALPN, session tickets) and the memory BIO
 */
#ifndef CT_TRANSPORT_H2_H2_INT_H
#define CT_TRANSPORT_H2_H2_INT_H

#include "common/list.h"
#include "transport/transport_int.h"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- sizes and defaults ---------------------------------------------------------------- */

#define CT__H2_DEFAULT_ORIGIN_CONNS 256u
#define CT__H2_MAX_ORIGIN_CONNS 4096u
#define CT__H2_DEFAULT_IDLE_MS 60000
#define CT__H2_DEFAULT_PING_AFTER_MS 10000
#define CT__H2_DEFAULT_PING_TIMEOUT_MS 10000
#define CT__H2_DEFAULT_CONNECT_MS 300000
/* Streams a connection is assumed to allow before the server's SETTINGS say (RFC 9113 6.5.2
 * recommends servers allow at least 100; nghttp2 assumes the same). */
#define CT__H2_ASSUMED_STREAMS 100u
/* Our receive windows: 1 MiB per stream, 16 MiB per connection, so that a large answer is
 * not held to one window per round trip (responses are small JSON; this is for the odd one). */
#define CT__H2_STREAM_WINDOW (1 << 20)
#define CT__H2_CONN_WINDOW (16 << 20)
/* One TLS record's worth of plaintext: nghttp2's frames are gathered up to this before one
 * SSL_write, so many small frames make one record. */
#define CT__H2_RECORD 16384u
/* Ciphertext a connection may hold unwritten before the flush stops asking nghttp2 for more;
 * bounds what a large upload (a PDF) costs in memory while the socket is slow. */
#define CT__H2_OUT_HIGH (256u * 1024u)
/* Output buffers above this are released once drained, so a burst does not pin memory. */
#define CT__H2_OUT_KEEP (20u * 1024u)
/* One read from the socket (shared by the transport's connections: reads never overlap). */
#define CT__H2_READ_BUF (64u * 1024u)
/* A request the server refused unprocessed is sent again at most this many times (a server
 * that answers N requests per connection then GOAWAYs refuses a batch of B about B/N times). */
#define CT__H2_MAX_REQUEUES 10
/* Request slots kept for reuse. */
#define CT__H2_FREE_CAP 1024u
/* Response state lives only from a response's :status to its answer, usually within one read
 * callback, so a small pool serves any number of requests in flight. Bodies up to the inline
 * size need no allocation of their own. */
#define CT__H2_RESP_POOL 256u
#define CT__H2_RESP_INLINE 1024u
/* Addresses kept per origin, and how long a lookup is trusted. */
#define CT__H2_MAX_ADDRS 8
#define CT__H2_DNS_TTL_MS 60000u
/* After a failed connection attempt, an origin that still has live connections waits this
 * long before opening another (its requests wait for those); doubled on each further failure
 * up to the cap, reset by a connection that reaches READY. */
#define CT__H2_BACKOFF_MS 250u
#define CT__H2_BACKOFF_CAP_MS 30000u
/* The housekeeping tick: connect timeouts, PING, idle connections. */
#define CT__H2_TICK_MS 100u

typedef struct ct__h2_origin ct__h2_origin_t;
typedef struct ct__h2_conn ct__h2_conn_t;
typedef struct ct__h2_req ct__h2_req_t;

/* ---- a growable byte buffer (connection output) ---------------------------------------- */

typedef struct {
  char *data;
  size_t len;
  size_t cap;
} ct__h2_buf_t;

/* Appends; returns 0 or CT_ENOMEM. */
int ct__h2_buf_add(ct__h2_buf_t *b, const void *p, size_t n);
/* Drops the first n bytes. */
void ct__h2_buf_consume(ct__h2_buf_t *b, size_t n);
/* Empties; releases the memory when it grew past CT__H2_OUT_KEEP. */
void ct__h2_buf_reset(ct__h2_buf_t *b);
void ct__h2_buf_free(ct__h2_buf_t *b);

/* ---- a response, while it arrives ------------------------------------------------------ */

typedef struct ct__h2_resp {
  struct ct__h2_resp *next; /* on h->resp_pool */
  int status;               /* -1 while an interim (1xx) answer is all there is */
  ct__resp_headers_t hdr;
  char *body;               /* inline_body, or malloc'd once it outgrows it; NUL-terminated */
  size_t len;
  size_t cap;
  char inline_body[CT__H2_RESP_INLINE];
} ct__h2_resp_t;

/* ---- a request ------------------------------------------------------------------------- */

typedef enum {
  R_QUEUED, /* on its origin's queue, waiting for a stream */
  R_STREAM, /* on a connection's stream list */
  R_DONE,   /* answered; waits only for nghttp2 to let go of its stream */
} ct__h2_rstate_t;

struct ct__h2_req {
  ct_list_t link;  /* origin->queue, conn->streams, or h->free */
  ct_list_t aged;  /* h->aged while unanswered: in send order, i.e. by deadline */
  ct__h2_t *h;
  ct__h2_origin_t *origin;
  ct__h2_conn_t *conn; /* while R_STREAM, or R_DONE with its stream still open */
  ct__h2_rstate_t state;
  bool in_session; /* nghttp2 holds a stream for it: not recycled until the stream closes */
  bool sent;       /* its HEADERS frame was serialized for the socket: the server may have it */
  bool end_stream; /* the server ended its side of the stream */
  uint8_t requeues;
  int32_t stream_id;
  ct_http_request_t http; /* the caller's request, owned until recycled */
  ct__url_t url;          /* points into http.url */
  ct_transport_cb cb;
  void *arg;
  uint64_t start_ns;
  uint64_t deadline_ms; /* uv_hrtime() in ms; UINT64_MAX without a request timeout */
  size_t body_off;      /* request body bytes handed to nghttp2 */
  ct__h2_resp_t *resp;  /* from the response's :status until the answer; else NULL */
};

/* ---- a connection ---------------------------------------------------------------------- */

typedef enum {
  C_CONNECTING, /* TCP */
  C_HANDSHAKE,  /* TLS */
  C_READY,      /* h2 agreed: takes streams */
  C_DRAINING,   /* GOAWAY either way, or stream ids used up: finishes what it has */
  C_CLOSED,     /* torn down; the uv handle is closing */
} ct__h2_cstate_t;

struct ct__h2_conn {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  ct_list_t link;  /* origin->conns */
  ct_list_t avail; /* origin->avail while READY with a free stream */
  ct_list_t dirty; /* h->dirty while it has output to produce or write */
  ct__h2_t *h;
  ct__h2_origin_t *origin;
  ct__h2_cstate_t state;
  SSL *ssl;
  nghttp2_session *sess;
  ct_list_t streams;    /* requests on this connection's streams */
  uint32_t n_open;      /* streams nghttp2 holds (submitted, not yet closed) */
  uint32_t max_streams; /* min(server's SETTINGS_MAX_CONCURRENT_STREAMS, options) */
  const uint8_t *in;    /* ciphertext the BIO hands OpenSSL (points into a read buffer) */
  size_t in_len;
  ct__h2_buf_t out;     /* ciphertext OpenSSL wrote, not yet handed to the socket */
  ct__h2_buf_t wout;    /* ciphertext an uv_write is writing */
  bool writing;
  bool is_dirty;
  bool goodbye;         /* close once the output is written (our GOAWAY, idle close) */
  bool ping_out;        /* a PING waits for its ACK */
  bool fuzz;            /* no socket, no TLS: the fuzz target's connection */
  uint64_t opened_ms;
  uint64_t last_read_ms;
  uint64_t idle_since_ms;
  uint64_t ping_sent_ms;
};

/* ---- an origin ------------------------------------------------------------------------- */

typedef enum { P_UNKNOWN, P_H2, P_NOT_H2 } ct__h2_proto_t;

struct ct__h2_origin {
  ct_list_t link;   /* h->origins */
  ct_list_t dirty;  /* h->dirty_origins while its queue may be served */
  ct__h2_t *h;
  char *name;       /* "https://host:port" as the URLs write it */
  size_t name_len;
  char *host;       /* NUL-terminated, for DNS, SNI and the certificate check */
  bool host_is_ip;
  uint16_t port;
  ct__h2_proto_t proto;
  ct_list_t queue;  /* requests waiting for a stream, oldest first */
  uint32_t queued;
  ct_list_t conns;  /* every connection not closed */
  uint32_t n_conns;
  uint32_t n_pending; /* connecting or in the TLS handshake */
  ct_list_t avail;  /* READY connections with a free stream */
  uint32_t known_streams; /* the server's stream limit as last seen; 0 before any */
  uint64_t backoff_until; /* loop time before which no extra connection is opened */
  uint32_t backoff_ms;    /* the next wait after a failed attempt */
  bool is_dirty;
  /* addresses */
  struct sockaddr_storage addrs[CT__H2_MAX_ADDRS];
  uint32_t n_addrs;
  uint32_t next_addr;
  uint64_t resolved_ms;
  bool resolving;
  uv_getaddrinfo_t gai;
  SSL_SESSION *session; /* the last TLS session, to resume on the next connection */
};

/* ---- the transport --------------------------------------------------------------------- */

typedef enum { H_OPEN, H_CLOSING, H_TEARDOWN } ct__h2_hstate_t;

struct ct__h2 {
  uv_loop_t *loop;
  ct__h2_hstate_t state;
  ct__counters_t *counters;
  ct__h2_fallback_cb fallback;
  void *router;
  SSL_CTX *ssl_ctx;
  nghttp2_session_callbacks *callbacks;
  nghttp2_option *ngopt;
  uint64_t connect_timeout_ms;
  uint64_t request_timeout_ms; /* 0 = none */
  uint64_t idle_timeout_ms;
  uint64_t ping_after_ms;
  uint64_t ping_timeout_ms;
  uint32_t max_streams;      /* per connection, from the options */
  uint32_t max_origin_conns;
  ct_list_t origins;
  ct_list_t dirty;         /* connections with output to produce or write */
  ct_list_t dirty_origins; /* origins whose queue may be served */
  ct_list_t aged;          /* unanswered requests, oldest first */
  uint32_t inflight;       /* unanswered requests */
  ct_list_t free;          /* request slots for reuse */
  uint32_t n_free;
  ct__h2_resp_t *resp_pool;
  uint32_t n_resp_pool;
  uint32_t n_conns;        /* connections not yet freed */
  uv_prepare_t prepare;    /* the per-turn flush (redis's beforeSleep) */
  uv_timer_t timer;        /* request deadlines and housekeeping; then teardown */
  uint32_t handles;        /* uv handles whose close_cb has not run (prepare, timer, conns) */
  uint32_t lookups;        /* uv_getaddrinfo calls whose callback has not run */
  void (*done)(void *arg);
  void *done_arg;
  uint8_t readbuf[CT__H2_READ_BUF];
  uint8_t plain[CT__H2_RECORD];    /* plaintext being gathered into one TLS record */
  uint8_t plain_in[CT__H2_RECORD]; /* decrypted input on its way to nghttp2 */
};

/* ---- h2.c: what the connection and stream code calls back into ------------------------- */

/* Loop time in ms (uv_now). */
uint64_t ct__h2_now(const ct__h2_t *h);

/* Puts `c` on the per-turn flush list (idempotent). */
void ct__h2_mark_dirty(ct__h2_conn_t *c);
/* Puts `o` on the list of origins whose queue the next turn serves (idempotent). */
void ct__h2_origin_dirty(ct__h2_origin_t *o);

/* Answers `r` (exactly once): the caller's callback with this outcome, then the slot is
 * recycled unless nghttp2 still holds its stream. `r` must be off every queue but `aged`. */
void ct__h2_answer(ct__h2_req_t *r, ct_http_failure_t failure, const char *detail);
/* Recycles a slot that is answered and no longer in a session. */
void ct__h2_recycle(ct__h2_req_t *r);
/* Response state for `r` from the pool (or the heap). Returns NULL for want of memory. */
ct__h2_resp_t *ct__h2_resp_get(ct__h2_t *h);
/* Gives r->resp back (if any) and clears it. */
void ct__h2_resp_put(ct__h2_req_t *r);
/* Puts an unanswered request back at the head of its origin's queue, unprocessed by the
 * server (never sent, refused, or above a GOAWAY's last stream), for another stream. After
 * CT__H2_MAX_REQUEUES of those it is answered CT_HTTP_CONNECT with `detail` instead. */
void ct__h2_requeue(ct__h2_req_t *r, const char *detail);

/* The connection's streams are set up (READY) or its stream limit changed: update which
 * list it is on and let the origin's queue move. */
void ct__h2_conn_capacity(ct__h2_conn_t *c);
/* A connection is gone (closed, failed): off its origin's lists; when it never became READY
 * the origin's waiting requests may have to fail with `failure`/`detail`. */
void ct__h2_conn_gone(ct__h2_conn_t *c, bool was_ready, ct_http_failure_t failure,
                      const char *detail);
/* The origin's server chose something other than h2: its waiting requests go to libcurl. */
void ct__h2_origin_not_h2(ct__h2_origin_t *o);
/* A connection's memory is released (its close_cb ran). */
void ct__h2_conn_freed(ct__h2_t *h);

/* ---- conn.c ---------------------------------------------------------------------------- */

/* Opens a connection to `o` (its next address): TCP connect, then TLS. Returns 0 (the
 * connection is on o->conns, pending) or CT_ENOMEM / CT_EIO. */
int ct__h2_conn_open(ct__h2_origin_t *o);
/* Produces output (nghttp2 -> TLS) and writes it: one uv_try_write, or one uv_write when the
 * socket takes less. Called once per turn for a dirty connection. */
void ct__h2_conn_flush(ct__h2_conn_t *c);
/* Fails the connection: requests on it are answered `failure`/`detail` when they may have
 * reached the server, queued again when they cannot have; then it closes. Idempotent. */
void ct__h2_conn_fail(ct__h2_conn_t *c, ct_http_failure_t failure, const char *detail);
/* Housekeeping for one connection at loop time `now` (connect timeout, PING, idle). */
void ct__h2_conn_tick(ct__h2_conn_t *c, uint64_t now);
/* Tears down without answering anything (transport teardown; requests are answered first). */
void ct__h2_conn_destroy(ct__h2_conn_t *c);

/* ---- stream.c -------------------------------------------------------------------------- */

/* The callbacks every session of the transport shares. Returns 0 or CT_ENOMEM. */
int ct__h2_callbacks_new(nghttp2_session_callbacks **out);
/* Starts the HTTP/2 session of a connection whose TLS agreed on h2: client preface and our
 * SETTINGS are queued. Returns 0 or CT_ENOMEM. */
int ct__h2_session_start(ct__h2_conn_t *c);
/* Puts `r` on a stream of `c` (READY, with a free stream). Returns 0; CT_ENOMEM; or CT_ESTATE
 * when the connection can open no more streams (ids used up): `r` is untouched then. */
int ct__h2_submit(ct__h2_conn_t *c, ct__h2_req_t *r);
/* Plaintext from the server into the session. Returns 0, or -1 when the session failed (the
 * caller fails the connection). */
int ct__h2_session_input(ct__h2_conn_t *c, const uint8_t *data, size_t len);
/* The answer for a stream the server ended or reset (used by on_stream_close). */
void ct__h2_stream_closed(ct__h2_conn_t *c, ct__h2_req_t *r, uint32_t error_code);

/* ---- tls.c ----------------------------------------------------------------------------- */

/* The client SSL_CTX: peers verified against `ca_file` (NULL: the system's CAs), TLS 1.2 or
 * later, ALPN offering h2 then http/1.1, client session cache feeding origin->session. A CA
 * file that cannot be read leaves no trusted CA (every handshake fails verification).
 * Returns NULL when OpenSSL cannot make a context (out of memory). */
SSL_CTX *ct__h2_tls_ctx(const char *ca_file);
/* An SSL for `c`, reading from c->in and writing to c->out through a memory BIO, checking
 * the certificate against the origin's host (name or IP address), resuming its session.
 * Returns NULL for want of memory. */
SSL *ct__h2_tls_new(ct__h2_conn_t *c);
/* Why a handshake failed, free of personal data: the certificate check's verdict when there
 * is one, else OpenSSL's reason. Points into static storage or `buf`. */
const char *ct__h2_tls_error(SSL *ssl, char *buf, size_t cap);

/* ---- the fuzz target's door (stream.c) -------------------------------------------------- */

/* A transport-less connection for feeding server bytes straight into a session's receive
 * path: nghttp2 session, no socket, no TLS; output is produced and dropped. */
typedef struct ct__h2_fuzz ct__h2_fuzz_t;
ct__h2_fuzz_t *ct__h2_fuzz_new(uv_loop_t *loop, uint32_t n_requests);
/* Feeds `len` bytes as the server's plaintext; returns 0, or -1 once the session failed. */
int ct__h2_fuzz_feed(ct__h2_fuzz_t *f, const uint8_t *data, size_t len);
/* Ends the connection, answers what is left, frees everything; returns how many callbacks
 * ran, which must equal n_requests. */
uint32_t ct__h2_fuzz_free(ct__h2_fuzz_t *f);

#endif
