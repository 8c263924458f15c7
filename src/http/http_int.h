/* Shared between the files of the http module (ct__ prefix): the server object, and the
 * reply helpers every route uses. Not part of the module's interface. */
#ifndef CT_HTTP_HTTP_INT_H
#define CT_HTTP_HTTP_INT_H

#include "http/body.h"
#include "http/http.h"

#include <h2o.h>
#include <jansson.h>
#include <openssl/ssl.h>

/* One accepted connection. The uv handle comes first: h2o hands its address back to the
 * close callback, and the connection's memory is freed only there. */
typedef struct ct__http_conn {
  uv_tcp_t tcp;
  struct ct_http_server *server;
  struct ct__http_conn *prev, *next;
} ct__http_conn_t;

struct ct_http_server {
  uv_loop_t *loop;
  /* what answers a request: the admin API's routes or the webhooks' (webhook.c) */
  void (*route)(ct_http_server_t *s, h2o_req_t *req);
  void *route_ctx;               /* the router's state, freed with the server by route_free */
  void (*route_free)(void *ctx);
  ct_http_engine_t engine;       /* the admin API's engine (unused by the webhooks) */
  char *host;
  char *token; /* NULL: every /v1 route answers 401 */
  size_t token_len;
  size_t max_body;

  h2o_globalconf_t conf;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept_ctx;
  SSL_CTX *ssl;
  uv_tcp_t *listener; /* own allocation, freed by its close callback */
  uint16_t port;

  ct__http_conn_t *conns; /* open connections, so stop can end the ones that linger */
  size_t nconns;
  size_t pending; /* enqueues (or event stores) handed to the engine, not called back yet */
  uint64_t rejected; /* records POST /v1/jobs answered "rejected", for /v1/status */

  bool stopping;
  bool conns_shut;
  uv_timer_t stop_timer; /* initialized by ct_http_stop */
  uint64_t drained_at; /* loop time when pending first reached 0 after stop, or 0 */
  void (*stop_done)(void *arg);
  void *stop_arg;
};


/* Builds a server listening on opts->host:port whose requests go to `route`; route_ctx is
 * freed with route_free when the server is. h2o itself refuses bodies over h2o_max_body (0:
 * opts->max_body). Errors as ct_http_start. */
int ct__http_server_new(uv_loop_t *loop, const ct_http_options_t *opts,
                        void (*route)(ct_http_server_t *s, h2o_req_t *req), void *route_ctx,
                        void (*route_free)(void *ctx), size_t h2o_max_body,
                        ct_http_server_t **out);

/* Sends `body` (copied into the request's pool) with `status`. content_type may be NULL. */
void ct__http_send(h2o_req_t *req, int status, const char *content_type, const char *body,
                   size_t len);
/* Sends the JSON `j` (a reference the caller keeps) with `status`. */
void ct__http_send_json(h2o_req_t *req, int status, json_t *j);
/* Sends {"error": msg} with `status`. msg never carries personal data. */
void ct__http_send_error(h2o_req_t *req, int status, const char *msg);

/* True when the request carries "Authorization: Bearer <the server's token>". */
bool ct__http_authorized(const ct_http_server_t *s, h2o_req_t *req);

/* POST /v1/jobs (ingest.c). Always answers, now or once the engine calls back. */
void ct__http_ingest(ct_http_server_t *s, h2o_req_t *req);

/* GET routes (routes.c). */
void ct__http_get_job(ct_http_server_t *s, h2o_req_t *req, const char *id, size_t idlen);
void ct__http_metrics(ct_http_server_t *s, h2o_req_t *req);
void ct__http_status(ct_http_server_t *s, h2o_req_t *req);
void ct__http_healthz(ct_http_server_t *s, h2o_req_t *req);
void ct__http_readyz(ct_http_server_t *s, h2o_req_t *req);

#endif
