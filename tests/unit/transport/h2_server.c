/* transport_h2_server: the other end of the transport tests. HTTP/2 over TLS (ALPN, HTTP/1.1
 * for clients that do not offer h2, or for everyone with --h1), on 127.0.0.1 only, started
 * and killed by the test. It offers what the transport needs checked and the provider mock
 * does not: exact delays, stream resets, Retry-After in both forms, oversized bodies and a
 * count of accepted connections.
 *
 * usage: transport_h2_server --cert CHAIN --key KEY [--h1] [--max-seconds N]
 * Prints the port it listens on, then serves until killed or N seconds (60 by default) pass.
 *
 * Endpoints (any method; the transport always POSTs):
 *   /echo[?delay=MS]         200, the request body back; X-Message-Id = request's X-Test-Id
 *   /status?code=N[&retry_after=S][&retry_date=S]
 *                            status N, Retry-After as S seconds or as an HTTP-date S s ahead
 *   /big?bytes=N             200 with N bytes of 'x'
 *   /reset                   response headers, then RST_STREAM (h2) / cut body (1.1)
 *   /stats[?reset=1]         "accepts max_pending requests\n"; reset=1 zeroes max_pending
 *   /ua                      200, the request's User-Agent (and ALPN protocol) as the body
 *
 * A delayed reply waits on its own uv timer; its state is linked to the request's pool, and
 * when h2o disposes of the request first (the client gave up) the dispose hook stops the
 * timer. Timer memory is freed only in its close callback.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <h2o.h>

#define BIG_CAP (16u * 1024u * 1024u)

typedef struct {
  h2o_handler_t super;
} handler_t;

typedef struct delay delay_t;

/* Lives in the request's pool: disposed when h2o is done with the request. */
typedef struct {
  delay_t *delay; /* NULL once the timer fired */
} link_t;

struct delay {
  uv_timer_t timer;
  h2o_req_t *req;
  link_t *link;
};

static uv_loop_t *loop;
static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static uv_tcp_t listener;
static uv_timer_t lifetime;
static uint64_t accepts, requests, pending, max_pending;
static h2o_generator_t generator = {NULL, NULL};

/* ---- query strings -------------------------------------------------------------------- */

/* The value of `name` in req's query string as a number, or `dflt`. */
static uint64_t query_num(h2o_req_t *req, const char *name, uint64_t dflt) {
  if (req->query_at == SIZE_MAX) {
    return dflt;
  }
  const char *q = req->path.base + req->query_at + 1;
  const char *end = req->path.base + req->path.len;
  size_t nlen = strlen(name);
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *stop = amp != NULL ? amp : end;
    if ((size_t)(stop - q) > nlen && memcmp(q, name, nlen) == 0 && q[nlen] == '=') {
      uint64_t v = 0;
      for (const char *p = q + nlen + 1; p < stop && *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
      }
      return v;
    }
    q = stop + 1;
  }
  return dflt;
}

static bool path_is(h2o_req_t *req, const char *p) {
  return h2o_memis(req->path_normalized.base, req->path_normalized.len, p, strlen(p));
}

/* ---- replies ------------------------------------------------------------------------- */

static void reply(h2o_req_t *req, int status, const char *body, size_t len) {
  req->res.status = status;
  req->res.reason = status == 200 ? "OK" : "Test";
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                 H2O_STRLIT("text/plain"));
  h2o_send_inline(req, body, len);
}

static void echo_now(h2o_req_t *req) {
  ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-test-id"), -1);
  if (i >= 0) {
    h2o_iovec_t v = req->headers.entries[i].value;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-message-id"), 0, NULL,
                          v.base, v.len);
  }
  reply(req, 200, req->entity.base != NULL ? req->entity.base : "",
        req->entity.base != NULL ? req->entity.len : 0);
}

static void on_delay_closed(uv_handle_t *h) { free(h->data); }

static void on_delay(uv_timer_t *t) {
  delay_t *d = t->data;
  d->link->delay = NULL;
  pending--;
  uv_close((uv_handle_t *)t, on_delay_closed);
  echo_now(d->req);
}

static void on_link_dispose(void *p) {
  link_t *l = p;
  if (l->delay == NULL) {
    return;
  }
  delay_t *d = l->delay;
  l->delay = NULL;
  pending--;
  uv_timer_stop(&d->timer);
  uv_close((uv_handle_t *)&d->timer, on_delay_closed);
}

static void echo(h2o_req_t *req) {
  uint64_t ms = query_num(req, "delay", 0);
  if (ms == 0) {
    echo_now(req);
    return;
  }
  delay_t *d = malloc(sizeof *d);
  if (d == NULL) {
    echo_now(req);
    return;
  }
  link_t *l = h2o_mem_alloc_shared(&req->pool, sizeof *l, on_link_dispose);
  l->delay = d;
  d->link = l;
  d->req = req;
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  uv_timer_start(&d->timer, on_delay, ms, 0);
  pending++;
  if (pending > max_pending) {
    max_pending = pending;
  }
}

static void status(h2o_req_t *req) {
  int code = (int)query_num(req, "code", 200);
  char buf[64];
  uint64_t s = query_num(req, "retry_after", UINT64_MAX);
  if (s != UINT64_MAX) {
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)s);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&req->pool, buf, (size_t)n).base, (size_t)n);
  }
  s = query_num(req, "retry_date", UINT64_MAX);
  if (s != UINT64_MAX) {
    time_t when = time(NULL) + (time_t)s;
    struct tm tm;
    gmtime_r(&when, &tm);
    size_t n = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&req->pool, buf, n).base, n);
  }
  reply(req, code, H2O_STRLIT("{}"));
}

static void big(h2o_req_t *req) {
  uint64_t n = query_num(req, "bytes", 0);
  if (n > BIG_CAP) {
    n = BIG_CAP;
  }
  char *body = h2o_mem_alloc_pool(&req->pool, n + 1);
  memset(body, 'x', n);
  reply(req, 200, body, n);
}

static void reset(h2o_req_t *req) {
  req->res.status = 200;
  req->res.reason = "OK";
  h2o_start_response(req, &generator);
  h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
}

static void stats(h2o_req_t *req) {
  char buf[96];
  int n = snprintf(buf, sizeof buf, "%llu %llu %llu\n", (unsigned long long)accepts,
                   (unsigned long long)max_pending, (unsigned long long)requests);
  if (query_num(req, "reset", 0) == 1) {
    max_pending = pending;
  }
  reply(req, 200, h2o_strdup(&req->pool, buf, (size_t)n).base, (size_t)n);
}

static void user_agent(h2o_req_t *req) {
  ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_USER_AGENT, -1);
  h2o_iovec_t v = i >= 0 ? req->headers.entries[i].value : h2o_iovec_init(H2O_STRLIT("(none)"));
  char *body = h2o_mem_alloc_pool(&req->pool, v.len + 16);
  int n = snprintf(body, v.len + 16, "%.*s %s", (int)v.len, v.base,
                   req->version >= 0x200 ? "h2" : "h1");
  reply(req, 200, body, (size_t)n);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
  (void)self;
  requests++;
  if (path_is(req, "/echo")) {
    echo(req);
  } else if (path_is(req, "/status")) {
    status(req);
  } else if (path_is(req, "/big")) {
    big(req);
  } else if (path_is(req, "/reset")) {
    reset(req);
  } else if (path_is(req, "/stats")) {
    stats(req);
  } else if (path_is(req, "/ua")) {
    user_agent(req);
  } else {
    reply(req, 404, H2O_STRLIT("not found\n"));
  }
  return 0;
}

/* ---- listener ------------------------------------------------------------------------ */

static void on_accept(uv_stream_t *l, int st) {
  if (st != 0) {
    return;
  }
  uv_tcp_t *conn = h2o_mem_alloc(sizeof *conn);
  uv_tcp_init(l->loop, conn);
  if (uv_accept(l, (uv_stream_t *)conn) != 0) {
    uv_close((uv_handle_t *)conn, (uv_close_cb)free);
    return;
  }
  accepts++;
  uv_tcp_nodelay(conn, 1);
  h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
  h2o_accept(&accept_ctx, sock);
}

static void on_lifetime(uv_timer_t *t) {
  (void)t;
  fprintf(stderr, "transport_h2_server: lifetime over, exiting\n");
  exit(0);
}

static SSL_CTX *make_tls(const char *cert, const char *key, bool h1_only) {
  SSL_CTX *s = SSL_CTX_new(TLS_server_method());
  if (s == NULL) {
    return NULL;
  }
  SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(s, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(s);
    return NULL;
  }
  if (!h1_only) {
    h2o_ssl_register_alpn_protocols(s, h2o_http2_alpn_protocols);
  }
  return s;
}

int main(int argc, char **argv) {
  const char *cert = NULL;
  const char *key = NULL;
  bool h1_only = false;
  uint64_t max_seconds = 60;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc) {
      cert = argv[++i];
    } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
      key = argv[++i];
    } else if (strcmp(argv[i], "--h1") == 0) {
      h1_only = true;
    } else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
      max_seconds = strtoull(argv[++i], NULL, 10);
    } else {
      fprintf(stderr, "usage: %s --cert CHAIN --key KEY [--h1] [--max-seconds N]\n", argv[0]);
      return 64;
    }
  }
  if (cert == NULL || key == NULL || max_seconds == 0) {
    fprintf(stderr, "transport_h2_server: --cert and --key are required\n");
    return 64;
  }
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();

  SSL_CTX *ssl = make_tls(cert, key, h1_only);
  if (ssl == NULL) {
    return 1;
  }
  h2o_config_init(&config);
  config.server_name = h2o_iovec_init(H2O_STRLIT("transport-test"));
  h2o_hostconf_t *host =
      h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
  handler_t *h = (handler_t *)h2o_create_handler(path, sizeof *h);
  h->super.on_req = on_req;
  h2o_context_init(&ctx, loop, &config);
  accept_ctx.ctx = &ctx;
  accept_ctx.hosts = config.hosts;
  accept_ctx.ssl_ctx = ssl;

  struct sockaddr_in sin;
  uv_ip4_addr("127.0.0.1", 0, &sin);
  uv_tcp_init(loop, &listener);
  int r = uv_tcp_bind(&listener, (const struct sockaddr *)&sin, 0);
  if (r == 0) {
    r = uv_listen((uv_stream_t *)&listener, 1024, on_accept);
  }
  if (r != 0) {
    fprintf(stderr, "transport_h2_server: listen: %s\n", uv_strerror(r));
    return 1;
  }
  int len = sizeof sin;
  uv_tcp_getsockname(&listener, (struct sockaddr *)&sin, &len);
  printf("%u\n", (unsigned)ntohs(sin.sin_port));
  fflush(stdout);

  uv_timer_init(loop, &lifetime);
  uv_timer_start(&lifetime, on_lifetime, max_seconds * 1000, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
