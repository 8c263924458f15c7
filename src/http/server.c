/* The listener, TLS, the h2o context, routing, and the server's lifetime. Two servers are
 * built on it: the admin API (ct_http_start, routed here) and the webhook listener
 * (ct_http_webhooks_start, routed in webhook.c); each has its own listener and context.
 *
 * Lifetime. ct_http_stop closes the listener and asks h2o to wind connections down (GOAWAY
 * on HTTP/2, close after the current response on HTTP/1.1). The server object must outlive
 * two things it does not control:
 *   - enqueues handed to the engine: their done callback comes back here (ingest.c), so we
 *     wait for every one, however long the engine takes (the contract of ct_http_stop);
 *   - connections: h2o 2.2 cannot close them from outside, and h2o_context_dispose must not
 *     run while one is open. Once no enqueue is pending, connections get a short grace to
 *     flush their last replies; after it, shutdown(2) on each remaining socket makes h2o see
 *     end of input and close it through its own path. Their close callbacks count them down.
 * When both counts are zero, the stop timer is closed; its close callback disposes of the
 * context and config, frees the server (which holds the timer) and runs done(arg). The
 * listener and each connection are their own allocations, freed in their close callbacks.
 */
#include "http/http_int.h"

#include "common/error.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* How long connections may linger after the last pending enqueue before they are shut. */
#define STOP_GRACE_MS 200
#define STOP_TICK_MS 10
#define DEFAULT_MAX_BODY ((size_t)32 << 20)

typedef struct {
  h2o_handler_t super;
  ct_http_server_t *server;
} handler_t;

static h2o_generator_t plain_generator = {NULL, NULL};

static const char *reason_phrase(int status)
{
  switch (status) {
  case 200: return "OK";
  case 202: return "Accepted";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 403: return "Forbidden";
  case 413: return "Payload Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Entity";
  case 503: return "Service Unavailable";
  default: return "Internal Server Error";
  }
}

/* ---- replies ---- */

void ct__http_send(h2o_req_t *req, int status, const char *content_type, const char *body,
                   size_t len)
{
  req->res.status = status;
  req->res.reason = reason_phrase(status);
  req->res.content_length = len;
  if (content_type != NULL)
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                 H2O_STRLIT("no-store"));
  h2o_start_response(req, &plain_generator);
  if (len > 0) {
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
  } else {
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
  }
}

void ct__http_send_json(h2o_req_t *req, int status, json_t *j)
{
  size_t n = j != NULL ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
  if (n == 0) {
    ct__http_send(req, 500, "application/json", H2O_STRLIT("{\"error\":\"out of memory\"}"));
    return;
  }
  /* dumped straight into the pool: the reply can be large (one result per record) */
  char *buf = h2o_mem_alloc_pool(&req->pool, n + 1);
  json_dumpb(j, buf, n, JSON_COMPACT);
  buf[n] = '\n';
  req->res.status = status;
  req->res.reason = reason_phrase(status);
  req->res.content_length = n + 1;
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                 H2O_STRLIT("application/json"));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                 H2O_STRLIT("no-store"));
  h2o_start_response(req, &plain_generator);
  h2o_iovec_t body = h2o_iovec_init(buf, n + 1);
  h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

void ct__http_send_error(h2o_req_t *req, int status, const char *msg)
{
  json_t *j = json_pack("{s:s}", "error", msg);
  ct__http_send_json(req, status, j);
  json_decref(j);
}

/* h2o answers some requests itself before routing (a Content-Length over
 * max_request_entity_size, broken chunked encoding) with a text/plain error. A filter on
 * the host's fallback path, which only those requests reach, rewrites them into the same
 * {"error": ...} every other refusal has. (Over HTTP/2 h2o resets such a stream with
 * REFUSED_STREAM instead: there is no response to rewrite.) */
typedef struct {
  h2o_ostream_t super;
  h2o_iovec_t body;
  bool head;
} json_error_ostream_t;

static void json_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *inbufs,
                            size_t inbufcnt, h2o_send_state_t state)
{
  (void)inbufs;
  (void)inbufcnt;
  json_error_ostream_t *o = (json_error_ostream_t *)self;
  /* h2o's errors come in one final send; whatever they said is replaced, not added to */
  bool last = !h2o_send_state_is_in_progress(state);
  h2o_ostream_send_next(self, req, &o->body, last && !o->head ? 1 : 0, state);
}

static void json_error_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
  (void)self;
  if (req->res.status >= 400) {
    const char *msg = req->res.status == 413 ? "body larger than the limit"
                      : req->res.status == 400 ? "malformed HTTP request"
                                               : "request refused";
    json_t *j = json_pack("{s:s}", "error", msg);
    size_t n = j != NULL ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
    if (n > 0) {
      char *buf = h2o_mem_alloc_pool(&req->pool, n + 1);
      json_dumpb(j, buf, n, JSON_COMPACT);
      buf[n] = '\n';
      h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                     H2O_STRLIT("application/json"), 1);
      h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL,
                     H2O_STRLIT("no-store"), 1);
      req->res.content_length = n + 1;
      json_error_ostream_t *o =
          (json_error_ostream_t *)h2o_add_ostream(req, sizeof(*o), slot);
      o->super.do_send = json_error_send;
      o->body = h2o_iovec_init(buf, n + 1);
      o->head = h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"));
      slot = &o->super.next;
    }
    json_decref(j);
  }
  h2o_setup_next_ostream(req, slot);
}

bool ct__http_authorized(const ct_http_server_t *s, h2o_req_t *req)
{
  if (s->token == NULL)
    return false;
  ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
  if (i < 0)
    return false;
  h2o_iovec_t v = req->headers.entries[i].value;
  static const char scheme[] = "bearer "; /* lower case: h2o_lcstris folds only its first argument */
  size_t sl = sizeof(scheme) - 1;
  if (v.len != sl + s->token_len || !h2o_lcstris(v.base, sl, scheme, sl))
    return false;
  /* constant time over the token, so the reply time says nothing about how much matched */
  unsigned char diff = 0;
  for (size_t k = 0; k < s->token_len; k++)
    diff |= (unsigned char)(v.base[sl + k] ^ s->token[k]);
  return diff == 0;
}

/* ---- routing ---- */

static bool path_is(h2o_iovec_t p, const char *lit)
{
  return h2o_memis(p.base, p.len, lit, strlen(lit));
}

static bool method_is(h2o_req_t *req, const char *m)
{
  return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static void method_not_allowed(h2o_req_t *req, const char *allow)
{
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
  ct__http_send_error(req, 405, "method not allowed");
}

/* The admin API's routes (ct_http_start). */
static void admin_route(ct_http_server_t *s, h2o_req_t *req)
{
  h2o_iovec_t p = req->path_normalized;
  bool get = method_is(req, "GET") || method_is(req, "HEAD");
  static const char jobs_prefix[] = "/v1/jobs/";
  size_t jpl = sizeof(jobs_prefix) - 1;

  if (path_is(p, "/v1/jobs")) {
    if (!method_is(req, "POST"))
      method_not_allowed(req, "POST");
    else
      ct__http_ingest(s, req);
  } else if (p.len > jpl && memcmp(p.base, jobs_prefix, jpl) == 0 &&
             memchr(p.base + jpl, '/', p.len - jpl) == NULL) {
    if (!get)
      method_not_allowed(req, "GET, HEAD");
    else
      ct__http_get_job(s, req, p.base + jpl, p.len - jpl);
  } else if (path_is(p, "/v1/status")) {
    if (!get)
      method_not_allowed(req, "GET, HEAD");
    else
      ct__http_status(s, req);
  } else if (path_is(p, "/metrics") || path_is(p, "/healthz") || path_is(p, "/readyz")) {
    if (!get)
      method_not_allowed(req, "GET, HEAD");
    else if (path_is(p, "/metrics"))
      ct__http_metrics(s, req);
    else if (path_is(p, "/healthz"))
      ct__http_healthz(s, req);
    else
      ct__http_readyz(s, req);
  } else {
    ct__http_send_error(req, 404, "no such route");
  }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
  ct_http_server_t *s = ((handler_t *)self)->server;
  s->route(s, req);
  return 0;
}

/* ---- connections ---- */

static void on_conn_closed(uv_handle_t *h)
{
  ct__http_conn_t *c = (ct__http_conn_t *)h;
  ct_http_server_t *s = c->server;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  s->nconns--;
  free(c);
}

static void on_accept(uv_stream_t *listener, int status)
{
  ct_http_server_t *s = listener->data;
  if (status != 0 || s->stopping)
    return;
  ct__http_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return; /* the peer stays in the backlog and is retried on the next accept */
  c->server = s;
  c->next = s->conns;
  if (s->conns != NULL)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  uv_tcp_init(s->loop, &c->tcp);
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
  h2o_accept(&s->accept_ctx, sock);
}

/* ---- start ---- */

static int setup_tls(ct_http_server_t *s, const ct_http_options_t *o)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL)
    return CT_ENOMEM;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, o->tls_key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return CT_EIO;
  }
  /* h2 first; a client offering only http/1.1 gets no ALPN match and h2o speaks 1.1 */
  h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
  s->ssl = ctx;
  return 0;
}

static int setup_listener(ct_http_server_t *s, uint16_t port)
{
  struct sockaddr_storage ss;
  bool v6 = strchr(s->host, ':') != NULL;
  int r = v6 ? uv_ip6_addr(s->host, port, (struct sockaddr_in6 *)&ss)
             : uv_ip4_addr(s->host, port, (struct sockaddr_in *)&ss);
  if (r != 0)
    return CT_EINVAL;
  s->listener = malloc(sizeof(*s->listener));
  if (s->listener == NULL)
    return CT_ENOMEM;
  uv_tcp_init(s->loop, s->listener);
  s->listener->data = s;
  r = uv_tcp_bind(s->listener, (struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen((uv_stream_t *)s->listener, 1024, on_accept);
  int len = sizeof(ss);
  if (r == 0)
    r = uv_tcp_getsockname(s->listener, (struct sockaddr *)&ss, &len);
  if (r != 0) {
    uv_close((uv_handle_t *)s->listener, (uv_close_cb)free);
    s->listener = NULL;
    return CT_EIO;
  }
  s->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                     : ((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

int ct__http_server_new(uv_loop_t *loop, const ct_http_options_t *opts,
                        void (*route)(ct_http_server_t *s, h2o_req_t *req), void *route_ctx,
                        void (*route_free)(void *ctx), size_t h2o_max_body,
                        ct_http_server_t **out)
{
  if ((opts->tls_cert == NULL) != (opts->tls_key == NULL))
    return CT_EINVAL;
  int rc = CT_ENOMEM;
  ct_http_server_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    goto fail;
  s->loop = loop;
  s->route = route;
  s->max_body = opts->max_body != 0 ? opts->max_body : DEFAULT_MAX_BODY;
  s->host = strdup(opts->host != NULL ? opts->host : "127.0.0.1");
  if (s->host == NULL)
    goto fail_server;
  if (opts->token != NULL) {
    s->token = strdup(opts->token);
    if (s->token == NULL)
      goto fail_host;
    s->token_len = strlen(s->token);
  }
  if (opts->tls_cert != NULL) {
    rc = setup_tls(s, opts);
    if (rc != 0)
      goto fail_token;
  }

  h2o_config_init(&s->conf);
  s->conf.server_name = h2o_iovec_init(H2O_STRLIT("carteiro"));
  /* h2o refuses larger bodies itself (413) before our handler runs */
  s->conf.max_request_entity_size = h2o_max_body != 0 ? h2o_max_body : s->max_body;
  h2o_hostconf_t *host =
      h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_create_filter(&host->fallback_path, sizeof(h2o_filter_t))->on_setup_ostream =
      json_error_setup;
  h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
  handler_t *h = (handler_t *)h2o_create_handler(path, sizeof(*h));
  h->super.on_req = on_req;
  h->server = s;
  h2o_context_init(&s->ctx, loop, &s->conf);
  s->accept_ctx.ctx = &s->ctx;
  s->accept_ctx.hosts = s->conf.hosts;
  s->accept_ctx.ssl_ctx = s->ssl;

  rc = setup_listener(s, opts->port);
  if (rc != 0)
    goto fail_h2o;
  /* owned from here on: freed with the server */
  s->route_ctx = route_ctx;
  s->route_free = route_free;
  *out = s;
  return 0;

fail_h2o:
  h2o_context_dispose(&s->ctx);
  h2o_config_dispose(&s->conf);
  if (s->ssl != NULL)
    SSL_CTX_free(s->ssl);
fail_token:
  free(s->token);
fail_host:
  free(s->host);
fail_server:
  free(s);
fail:
  return rc;
}

int ct_http_start(uv_loop_t *loop, const ct_http_options_t *opts, const ct_http_engine_t *engine,
                  ct_http_server_t **out)
{
  if (loop == NULL || opts == NULL || engine == NULL || out == NULL ||
      engine->enqueue == NULL || engine->saturated == NULL || engine->job_get == NULL ||
      engine->ready == NULL || engine->metrics == NULL)
    return CT_EINVAL;
  ct_http_server_t *s = NULL;
  int rc = ct__http_server_new(loop, opts, admin_route, NULL, NULL, 0, &s);
  if (rc != 0)
    return rc;
  s->engine = *engine;
  *out = s;
  return 0;
}

uint16_t ct_http_port(const ct_http_server_t *s)
{
  return s->port;
}

/* ---- stop ---- */

static void finish(ct_http_server_t *s)
{
  void (*done)(void *) = s->stop_done;
  void *arg = s->stop_arg;
  /* h2o_context_request_shutdown armed HTTP/2's one-second GOAWAY resend; h2o 2.2 leaves it
   * linked once it has fired with connections left, and h2o_context_dispose asserts that no
   * timeout entry is */
  if (h2o_timeout_is_linked(&s->ctx.http2._graceful_shutdown_timeout))
    h2o_timeout_unlink(&s->ctx.http2._graceful_shutdown_timeout);
  h2o_context_dispose(&s->ctx);
  h2o_config_dispose(&s->conf);
  if (s->ssl != NULL)
    SSL_CTX_free(s->ssl);
  if (s->route_free != NULL)
    s->route_free(s->route_ctx);
  free(s->token);
  free(s->host);
  free(s);
  if (done != NULL)
    done(arg);
}

/* The timer lives inside the server: the server is freed only once the timer has closed. */
static void on_stop_timer_closed(uv_handle_t *h)
{
  finish(h->data);
}

static void on_stop_tick(uv_timer_t *t)
{
  ct_http_server_t *s = t->data;
  if (s->pending > 0)
    return;
  uint64_t now = uv_now(s->loop);
  if (s->drained_at == 0)
    s->drained_at = now;
  if (s->nconns > 0) {
    if (!s->conns_shut && now - s->drained_at >= STOP_GRACE_MS) {
      s->conns_shut = true;
      for (ct__http_conn_t *c = s->conns; c != NULL; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
          shutdown(fd, SHUT_RDWR);
      }
    }
    return;
  }
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, on_stop_timer_closed);
}

void ct_http_stop(ct_http_server_t *s, void (*done)(void *arg), void *arg)
{
  if (s == NULL || s->stopping)
    return;
  s->stopping = true;
  s->stop_done = done;
  s->stop_arg = arg;
  uv_close((uv_handle_t *)s->listener, (uv_close_cb)free);
  s->listener = NULL;
  h2o_context_request_shutdown(&s->ctx);
  /* polled rather than signalled: pending enqueues and lingering connections end at their
   * own pace, and a 10 ms tick during shutdown costs nothing */
  uv_timer_init(s->loop, &s->stop_timer);
  s->stop_timer.data = s;
  uv_timer_start(&s->stop_timer, on_stop_tick, 0, STOP_TICK_MS);
}
