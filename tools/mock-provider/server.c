/* The network side: TLS, the listener, the h2o context, and how a reply leaves.
 *
 * A reply leaves in one of three ways, chosen by the pipeline in route.c:
 *   send   the provider-shaped response, after the sampled latency;
 *   drop   shutdown(2) of the connection's socket, so the client sees it close with no
 *          answer. On HTTP/2 that takes every other stream of the connection with it, as a
 *          real network failure would; replies already counted on those streams may never
 *          arrive, which is exactly the at-least-once window carteiro must tolerate;
 *   reset  the response headers, then a failed body: h2o 2.2 turns that into RST_STREAM
 *          (PROTOCOL_ERROR) on HTTP/2 and into a truncated chunked body plus close on
 *          HTTP/1.1. h2o offers no way to reset a stream before its HEADERS frame.
 *
 * An outage (POST /outage) closes the listener and shuts down every accepted connection, as
 * a crashed server looks from outside, then listens again on the same port; the process, its
 * counters and its key table live on, so a duplicate sent across the outage is still seen.
 *
 * Latency never blocks the loop: a delayed reply waits on its own uv timer. Its call lives
 * in shared memory linked to the request's pool; when h2o disposes of the request first
 * (the client reset the stream or closed the connection), the dispose hook stops the timer
 * and counts the request as cancelled. The timer's memory is freed only in its close
 * callback, never from inside a callback of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mock.h"

struct mock_delay {
  uv_timer_t timer;
  mock_call_t *call; /* NULL once the call went away or the timer fired */
};

typedef struct {
  h2o_handler_t super;
  mock_t *m;
} handler_t;

static h2o_generator_t plain_generator = {NULL, NULL};

/* ---- sending ---- */

void mock_send(h2o_req_t *req, int status, const char *reason, const char *content_type,
               h2o_iovec_t body)
{
  req->res.status = status;
  req->res.reason = reason;
  req->res.content_length = body.len;
  if (content_type != NULL)
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
  h2o_start_response(req, &plain_generator);
  if (body.len > 0)
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
  else
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

void mock_send_json(h2o_req_t *req, int status, const char *reason, json_t *j)
{
  mock_send(req, status, reason, "application/json", mock_json_dump(&req->pool, j));
}

void mock_call_header(mock_call_t *call, const char *name, const char *value)
{
  if (call->nheaders == (int)(sizeof(call->headers) / sizeof(call->headers[0])))
    return;
  call->headers[call->nheaders].name = name;
  call->headers[call->nheaders].value = h2o_strdup(&call->req->pool, value, SIZE_MAX);
  call->nheaders++;
}

static void drop_connection(h2o_req_t *req)
{
  h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL
                           ? req->conn->callbacks->get_socket(req->conn)
                           : NULL;
  int fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
  if (fd >= 0)
    shutdown(fd, SHUT_RDWR);
  /* h2o still owns the request: answering makes its write fail on the shut socket, and that
   * failure is what closes the connection through h2o's own path */
  req->http1_is_persistent = 0;
  mock_send(req, 503, "Service Unavailable", NULL, h2o_iovec_init(NULL, 0));
}

/* The provider-shaped reply: status, extra headers, body. */
static void send_reply(mock_call_t *call)
{
  h2o_req_t *req = call->req;
  for (int i = 0; i < call->nheaders; i++)
    h2o_add_header_by_str(&req->pool, &req->res.headers, call->headers[i].name,
                          strlen(call->headers[i].name), 1, NULL, call->headers[i].value.base,
                          call->headers[i].value.len);
  mock_send(req, call->status, call->reason, call->body.len > 0 ? call->content_type : NULL,
            call->body);
}

void mock_call_send_now(mock_call_t *call)
{
  call->answered = true;
  send_reply(call);
}

static void deliver(mock_call_t *call)
{
  mock_t *m = call->m;
  h2o_req_t *req = call->req;
  call->answered = true;
  mock_stats_answered(m->stats, call, (int64_t)uv_now(m->loop));

  switch (call->action) {
  case MOCK_ACT_DROP:
    drop_connection(req);
    return;
  case MOCK_ACT_RESET:
    /* 200 on purpose: a client that believes the status line before the transfer result
     * would count a reset stream as delivered */
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_start_response(req, &plain_generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
    return;
  case MOCK_ACT_SEND:
    break;
  }
  send_reply(call);
}

static void on_delay_closed(uv_handle_t *h)
{
  free(h->data);
}

static void on_delay(uv_timer_t *t)
{
  struct mock_delay *d = t->data;
  mock_call_t *call = d->call;
  d->call = NULL;
  call->delay = NULL;
  call->m->pending--;
  uv_close((uv_handle_t *)t, on_delay_closed);
  deliver(call);
}

/* Runs when h2o clears the request's pool: after the reply was sent, or because the client
 * went away while the reply was still waiting for its latency. */
static void on_call_dispose(void *p)
{
  mock_call_t *call = p;
  call->req = NULL;
  if (call->delay == NULL)
    return;
  struct mock_delay *d = call->delay;
  d->call = NULL;
  call->delay = NULL;
  call->m->pending--;
  uv_timer_stop(&d->timer);
  uv_close((uv_handle_t *)&d->timer, on_delay_closed);
  call->outcome = MOCK_OUT_CANCELLED;
  call->status = 0;
  call->error_code = 0;
  call->answered = true;
  mock_stats_answered(call->m->stats, call, (int64_t)uv_now(call->m->loop));
}

mock_call_t *mock_call_new(mock_t *m, h2o_req_t *req, mock_ep_t ep, mock_prov_t prov)
{
  mock_call_t *call = h2o_mem_alloc_shared(&req->pool, sizeof(*call), on_call_dispose);
  memset(call, 0, sizeof(*call));
  call->m = m;
  call->req = req;
  call->ep = ep;
  call->prov = prov;
  call->pc = &m->conf.prov[prov];
  call->status = 200;
  call->reason = "OK";
  call->outcome = MOCK_OUT_OK;
  call->action = MOCK_ACT_SEND;
  call->received_ms = mock_wall_ms();
  call->http_version = req->version;
  call->body_bytes = req->entity.base != NULL ? req->entity.len : 0;
  h2o_iovec_t ua = mock_header(req, H2O_TOKEN_USER_AGENT);
  if (ua.base != NULL)
    mock_copy(call->user_agent, sizeof(call->user_agent), ua.base, ua.len);
  return call;
}

void mock_call_finish(mock_call_t *call)
{
  if (call->delay_ms == 0) {
    deliver(call);
    return;
  }
  struct mock_delay *d = malloc(sizeof(*d));
  if (d == NULL) {
    /* no memory for a timer: answering early is better than never answering */
    deliver(call);
    return;
  }
  uv_timer_init(call->m->loop, &d->timer);
  d->timer.data = d;
  d->call = call;
  call->delay = d;
  call->m->pending++;
  uv_timer_start(&d->timer, on_delay, call->delay_ms, 0);
}

/* ---- h2o and the listener ---- */

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
  handler_t *h = (handler_t *)self;
  return mock_route(h->m, req);
}

static void on_accept(uv_stream_t *listener, int status)
{
  mock_t *m = listener->data;
  if (status != 0 || m->stopping)
    return;
  uv_tcp_t *conn = h2o_mem_alloc(sizeof(*conn));
  uv_tcp_init(listener->loop, conn);
  if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
    uv_close((uv_handle_t *)conn, (uv_close_cb)free);
    return;
  }
  uv_tcp_nodelay(conn, 1);
  h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
  h2o_accept(&m->accept_ctx, sock);
}

static int setup_tls(mock_t *m)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL)
    goto fail;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx, m->conf.cert) != 1) {
    fprintf(stderr, "mock-provider: cannot load certificate %s\n", m->conf.cert);
    goto fail_ctx;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, m->conf.key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    fprintf(stderr, "mock-provider: cannot load private key %s or it does not match\n",
            m->conf.key);
    goto fail_ctx;
  }
  /* h2 first; a client that offers only http/1.1 gets no ALPN match and h2o speaks 1.1.
   * --http1-only registers nothing: every client gets HTTP/1.1, as from an API front end
   * without HTTP/2. */
  if (!m->conf.http1_only)
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
  m->ssl_ctx = ctx;
  return 0;

fail_ctx:
  SSL_CTX_free(ctx);
fail:
  ERR_print_errors_fp(stderr);
  return -1;
}

static int write_port_file(const char *path, unsigned port)
{
  /* written aside and renamed, so a test polling for the file never reads half of it */
  char tmp[MOCK_PATH_LEN + 8];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL)
    return -1;
  fprintf(f, "%u\n", port);
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
  mock_t *m = h->data;
  m->listener_closed = true;
}

/* Listens on the configured address and `port` (0: a free one); m->port is the port bound. */
static int setup_listener(mock_t *m, unsigned port)
{
  struct sockaddr_storage ss;
  int r;
  bool v6 = strchr(m->conf.listen, ':') != NULL;
  if (v6)
    r = uv_ip6_addr(m->conf.listen, (int)port, (struct sockaddr_in6 *)&ss);
  else
    r = uv_ip4_addr(m->conf.listen, (int)port, (struct sockaddr_in *)&ss);
  if (r != 0) {
    fprintf(stderr, "mock-provider: bad listen address %s\n", m->conf.listen);
    return -1;
  }
  uv_tcp_init(m->loop, &m->listener);
  m->listener.data = m;
  m->listener_closed = false;
  r = uv_tcp_bind(&m->listener, (struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen((uv_stream_t *)&m->listener, 1024, on_accept);
  if (r != 0) {
    fprintf(stderr, "mock-provider: cannot listen on %s:%u: %s\n", m->conf.listen, port,
            uv_strerror(r));
    uv_close((uv_handle_t *)&m->listener, on_listener_closed);
    return -1;
  }
  int len = sizeof(ss);
  uv_tcp_getsockname(&m->listener, (struct sockaddr *)&ss, &len);
  m->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                     : ((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

/* ---- an outage ---- */

/* uv_walk callback: cuts one accepted connection (every TCP handle but the listener). */
static void cut_connection(uv_handle_t *h, void *arg)
{
  mock_t *m = arg;
  uv_os_fd_t fd;
  if (h->type != UV_TCP || h == (uv_handle_t *)&m->listener || uv_is_closing(h))
    return;
  /* as in drop_connection: h2o reads the end of the stream and closes the connection through
   * its own path, disposing of its requests (delayed replies are counted cancelled) */
  if (uv_fileno(h, &fd) == 0)
    shutdown(fd, SHUT_RDWR);
}

static void on_outage_end(uv_timer_t *t)
{
  mock_t *m = t->data;
  if (m->stopping)
    return;
  /* the handle may be initialized again only after its close callback ran */
  if (!m->listener_closed || setup_listener(m, m->port) != 0) {
    uv_timer_start(t, on_outage_end, 100, 0);
    return;
  }
  m->down = false;
  if (!m->conf.quiet)
    fprintf(stderr, "mock-provider: outage over, listening on port %u again\n", m->port);
}

static void on_outage_begin(uv_timer_t *t)
{
  mock_t *m = t->data;
  if (m->stopping)
    return;
  uv_close((uv_handle_t *)&m->listener, on_listener_closed);
  uv_walk(m->loop, cut_connection, m);
  if (!m->conf.quiet)
    fprintf(stderr, "mock-provider: outage of %llu ms: connections cut, new ones refused\n",
            (unsigned long long)m->outage_ms);
  uv_timer_start(t, on_outage_end, m->outage_ms, 0);
}

int mock_outage_start(mock_t *m, uint64_t ms)
{
  if (m->down || m->stopping || ms == 0)
    return -1;
  m->down = true;
  m->outage_ms = ms;
  m->outages++;
  /* 20 ms: the admin answer that asked for it leaves first (h2o flushes on a 0 ms timer) */
  uv_timer_start(&m->outage_timer, on_outage_begin, 20, 0);
  return 0;
}

/* ---- shutdown ---- */

static void on_shutdown_tick(uv_timer_t *t)
{
  mock_t *m = t->data;
  /* stop once no reply waits on a timer (plus a beat for the last writes to flush), or
   * after two seconds whatever is still pending */
  uint64_t elapsed = uv_now(m->loop) - m->stop_began;
  if ((m->pending == 0 && elapsed >= 50) || elapsed >= 2000)
    uv_stop(m->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
  mock_t *m = s->data;
  if (m->stopping) {
    uv_stop(m->loop); /* a second signal: no more waiting */
    return;
  }
  m->stopping = true;
  if (!m->conf.quiet)
    fprintf(stderr, "mock-provider: signal %d, stopping\n", signum);
  uv_timer_stop(&m->outage_timer);
  if (!uv_is_closing((uv_handle_t *)&m->listener))
    uv_close((uv_handle_t *)&m->listener, on_listener_closed);
  /* GOAWAY to HTTP/2 clients, close idle HTTP/1.1 connections */
  h2o_context_request_shutdown(&m->h2o_ctx);
  m->stop_began = uv_now(m->loop);
  uv_timer_start(&m->shutdown_timer, on_shutdown_tick, 10, 10);
}

int mock_server_start(mock_t *m)
{
  if (setup_tls(m) != 0)
    goto fail;

  h2o_config_init(&m->h2o_conf);
  m->h2o_conf.server_name = h2o_iovec_init(H2O_STRLIT("mock-provider"));
  m->h2o_conf.max_request_entity_size = m->conf.max_body;
  /* h2o's connection timeouts default to 10 s (HTTP/2 idle) and 10 s (HTTP/1 request); a
   * 28 MB SendGrid mail uploaded on a loaded machine was once reset by the mock mid-body.
   * A mock waits as long as the slowest test client may take. */
  m->h2o_conf.http2.idle_timeout = 60 * 1000;
  m->h2o_conf.http1.req_timeout = 60 * 1000;
  h2o_hostconf_t *host =
      h2o_config_register_host(&m->h2o_conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
  handler_t *h = (handler_t *)h2o_create_handler(path, sizeof(*h));
  h->super.on_req = on_req;
  h->m = m;
  h2o_context_init(&m->h2o_ctx, m->loop, &m->h2o_conf);
  m->accept_ctx.ctx = &m->h2o_ctx;
  m->accept_ctx.hosts = m->h2o_conf.hosts;
  m->accept_ctx.ssl_ctx = m->ssl_ctx;

  if (setup_listener(m, m->conf.port) != 0)
    goto fail_h2o;

  uv_signal_init(m->loop, &m->sigterm);
  uv_signal_init(m->loop, &m->sigint);
  m->sigterm.data = m->sigint.data = m;
  uv_signal_start(&m->sigterm, on_signal, SIGTERM);
  uv_signal_start(&m->sigint, on_signal, SIGINT);
  uv_timer_init(m->loop, &m->shutdown_timer);
  m->shutdown_timer.data = m;
  uv_timer_init(m->loop, &m->outage_timer);
  m->outage_timer.data = m;

  if (m->conf.port_file[0] != '\0' && write_port_file(m->conf.port_file, m->port) != 0) {
    fprintf(stderr, "mock-provider: cannot write %s: %s\n", m->conf.port_file, strerror(errno));
    goto fail_listener;
  }
  m->port_file_written = m->conf.port_file[0] != '\0';
  bool v6 = strchr(m->conf.listen, ':') != NULL;
  printf("listening on https://%s%s%s:%u\n", v6 ? "[" : "", m->conf.listen, v6 ? "]" : "",
         m->port);
  fflush(stdout);
  return 0;

fail_listener:
  uv_close((uv_handle_t *)&m->sigterm, NULL);
  uv_close((uv_handle_t *)&m->sigint, NULL);
  uv_close((uv_handle_t *)&m->shutdown_timer, NULL);
  uv_close((uv_handle_t *)&m->outage_timer, NULL);
  uv_close((uv_handle_t *)&m->listener, NULL);
fail_h2o:
  h2o_context_dispose(&m->h2o_ctx);
  h2o_config_dispose(&m->h2o_conf);
  SSL_CTX_free(m->ssl_ctx);
  m->ssl_ctx = NULL;
fail:
  return -1;
}

void mock_server_dispose(mock_t *m)
{
  uv_close((uv_handle_t *)&m->sigterm, NULL);
  uv_close((uv_handle_t *)&m->sigint, NULL);
  uv_close((uv_handle_t *)&m->shutdown_timer, NULL);
  uv_close((uv_handle_t *)&m->outage_timer, NULL);
  if (!uv_is_closing((uv_handle_t *)&m->listener))
    uv_close((uv_handle_t *)&m->listener, NULL);
  /* let the close callbacks run; connections still open belong to h2o and end with the
   * process (h2o 2.2 has no way to close them all from outside) */
  uv_run(m->loop, UV_RUN_NOWAIT);
  if (m->port_file_written)
    unlink(m->conf.port_file);
}
