/* The webhook listener: /webhooks/{account}, one route per provider account.
 *
 * A request goes through these steps, on the loop thread:
 *   1. the route names an account of the configuration in force whose provider has webhooks,
 *      else 404;
 *   2. the body h2o buffered is at most max_body (else 413); the request is handed to the
 *      provider's verify_webhook exactly as received: the raw bytes, the headers, and the URL
 *      the provider called (webhook_public_url + the path and query as received). A GET is a
 *      verification handshake (no signature: Meta's GET carries none); anything that does not
 *      verify is refused (401 no signature, 403 wrong one or stale) and counted, and nothing
 *      of it is stored;
 *   3. parse_webhook turns the body into events (400 when it is not the provider's format);
 *   4. the engine stores them durably (group commit on the spool's thread), and only then is
 *      the provider answered 200, with the body it expects (TwiML for Twilio). When the store
 *      fails, or the listener is stopping, the answer is 503: the provider sends the events
 *      again later, as it does for any answer that is not 2xx.
 * Every error is a JSON object {"error": text}, as on the admin API; texts name the rule,
 * never a value from the request.
 *
 * As in ingest.c, the request may outlive its client while the store is in flight: the
 * request's state is malloc'd, and a link in h2o's pool tells it when the request is gone.
 */
#include "http/http_int.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_BODY ((size_t)4 << 20)
/* Headers passed to the providers' hooks; a provider sends about a dozen. */
#define MAX_HEADERS 64
#define RETRY_AFTER_S "5"
#define ROUTE_PREFIX "/webhooks/"

typedef struct {
  char name[CT_CONFIG_NAME];
  ct_http_webhook_counts_t c;
} account_counts_t;

typedef struct {
  ct_http_webhook_engine_t engine;
  char *public_url; /* without a trailing slash; NULL: from the request */
  size_t max_body;
  account_counts_t counts[CT_CONFIG_MAX_PROVIDERS];
  size_t n_counts;
} hooks_t;

typedef struct hook_req hook_req_t;

typedef struct {
  hook_req_t *hr; /* NULL once the engine called back */
} link_t;

struct hook_req {
  ct_http_server_t *server;
  h2o_req_t *req; /* NULL once h2o disposed of the request */
  link_t *link;
  const ct_provider_t *provider;
  account_counts_t *counts;
  size_t n; /* events handed to the engine */
};

/* ---- counts ---- */

/* The counters of `account`; NULL when the table is full (more accounts than a configuration
 * can hold, over reloads). */
static account_counts_t *counts_for(hooks_t *h, const char *account) {
  for (size_t i = 0; i < h->n_counts; i++)
    if (strcmp(h->counts[i].name, account) == 0)
      return &h->counts[i];
  if (h->n_counts == CT_CONFIG_MAX_PROVIDERS)
    return NULL;
  account_counts_t *a = &h->counts[h->n_counts++];
  memset(a, 0, sizeof *a);
  snprintf(a->name, sizeof a->name, "%s", account);
  return a;
}

void ct_http_webhook_counts(const ct_http_server_t *s,
                            void (*visit)(void *arg, const char *account,
                                          const ct_http_webhook_counts_t *c),
                            void *arg) {
  const hooks_t *h = s->route_ctx;
  if (h == NULL)
    return;
  for (size_t i = 0; i < h->n_counts; i++)
    visit(arg, h->counts[i].name, &h->counts[i].c);
}

/* ---- answers ---- */

static const char *check_text(ct_webhook_check_t c) {
  switch (c) {
  case CT_WEBHOOK_UNSIGNED:
    return "missing signature";
  case CT_WEBHOOK_FORGED:
    return "signature does not verify";
  case CT_WEBHOOK_STALE:
    return "signed timestamp outside the tolerance";
  case CT_WEBHOOK_VERIFY_TOKEN:
    return "wrong verify token";
  case CT_WEBHOOK_NOT_CONFIGURED:
    return "webhooks are not configured for this account";
  case CT_WEBHOOK_BAD_HANDSHAKE:
    return "not a verification handshake (hub.mode, hub.verify_token, hub.challenge)";
  case CT_WEBHOOK_METHOD:
    return "method not allowed";
  default:
    return "refused";
  }
}

static void unavailable(h2o_req_t *req, const char *msg) {
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                 H2O_STRLIT(RETRY_AFTER_S));
  ct__http_send_error(req, 503, msg);
}

static void send_ok(h2o_req_t *req, const ct_provider_t *p) {
  const char *body = p->webhook_ok_body != NULL ? p->webhook_ok_body : "";
  ct__http_send(req, 200, p->webhook_ok_type, body, strlen(body));
}

/* ---- the store's answer ---- */

static void on_link_dispose(void *p) {
  link_t *l = p;
  if (l->hr != NULL) {
    l->hr->req = NULL;
    l->hr->link = NULL;
  }
}

static void on_stored(void *arg, int rc, const int *results) {
  hook_req_t *hr = arg;
  ct_http_server_t *s = hr->server;
  s->pending--;
  if (hr->link != NULL)
    hr->link->hr = NULL;
  account_counts_t *ac = hr->counts;
  for (size_t i = 0; rc == 0 && ac != NULL && i < hr->n; i++) {
    if (results[i] == 0)
      ac->c.stored++;
    else
      ac->c.duplicates++;
  }
  if (rc != 0 && ac != NULL)
    ac->c.unavailable++;
  if (rc != 0)
    ct_log_kv(CT_LOG_WARN, "webhook events not stored; the provider will send them again",
              CT_KV_S("account", ac != NULL ? ac->name : ""), CT_KV_S("error", ct_errname(rc)));
  h2o_req_t *req = hr->req;
  if (req != NULL) {
    if (rc == 0)
      send_ok(req, hr->provider);
    else
      unavailable(req, "events could not be stored; send them again later");
  }
  free(hr);
}

/* ---- the route ---- */

/* The account named by the path, with its provider, in the configuration in force. */
static const ct_provider_conf_t *account_for(const ct_config_t *cfg, const char *name, size_t len,
                                             const ct_provider_t **provider) {
  for (size_t i = 0; cfg != NULL && i < cfg->n_providers; i++) {
    const ct_provider_conf_t *pc = &cfg->providers[i];
    if (strlen(pc->name) == len && memcmp(pc->name, name, len) == 0) {
      const ct_provider_t *p = ct_provider_for(pc->channel);
      if (p == NULL || p->verify_webhook == NULL || p->parse_webhook == NULL)
        return NULL;
      *provider = p;
      return pc;
    }
  }
  return NULL;
}

/* The URL the provider called, into the request's pool. */
static h2o_iovec_t called_url(const hooks_t *h, ct_http_server_t *s, h2o_req_t *req) {
  if (h->public_url != NULL)
    return h2o_concat(&req->pool, h2o_iovec_init(h->public_url, strlen(h->public_url)),
                      req->path);
  /* without a configured URL: what this request says about itself */
  h2o_iovec_t scheme = s->ssl != NULL ? h2o_iovec_init(H2O_STRLIT("https://"))
                                      : h2o_iovec_init(H2O_STRLIT("http://"));
  return h2o_concat(&req->pool, scheme, req->authority, req->path);
}

static void route(ct_http_server_t *s, h2o_req_t *req) {
  hooks_t *h = s->route_ctx;
  h2o_iovec_t p = req->path_normalized;
  size_t pl = sizeof ROUTE_PREFIX - 1;
  bool get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
             h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
  bool post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
  const ct_provider_t *provider = NULL;
  const ct_provider_conf_t *conf = NULL;
  if (p.len > pl && memcmp(p.base, ROUTE_PREFIX, pl) == 0 &&
      memchr(p.base + pl, '/', p.len - pl) == NULL)
    conf = account_for(h->engine.config(h->engine.ctx), p.base + pl, p.len - pl, &provider);
  if (conf == NULL) {
    ct__http_send_error(req, 404, "no such route");
    return;
  }
  account_counts_t *ac = counts_for(h, conf->name);
  if (ac != NULL)
    ac->c.requests++;
  if (!get && !post) {
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                   H2O_STRLIT("GET, HEAD, POST"));
    ct__http_send_error(req, 405, "method not allowed");
    if (ac != NULL)
      ac->c.refused[CT_WEBHOOK_METHOD]++;
    return;
  }
  size_t blen = req->entity.base != NULL ? req->entity.len : 0;
  if (blen > h->max_body) {
    ct__http_send_error(req, 413, "body larger than the limit");
    if (ac != NULL)
      ac->c.too_large++;
    return;
  }
  if (post && h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_ENCODING, -1) >= 0) {
    /* signatures cover the bytes the provider sent; providers send them uncompressed */
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_ENCODING, -1);
    h2o_iovec_t v = req->headers.entries[i].value;
    if (!h2o_lcstris(v.base, v.len, H2O_STRLIT("identity"))) {
      ct__http_send_error(req, 415, "Content-Encoding is not supported on webhooks");
      if (ac != NULL)
        ac->c.malformed++;
      return;
    }
  }

  ct_webhook_header_t headers[MAX_HEADERS];
  size_t nh = 0;
  for (size_t i = 0; i < req->headers.size && nh < MAX_HEADERS; i++) {
    const h2o_header_t *hd = &req->headers.entries[i];
    headers[nh++] = (ct_webhook_header_t){hd->name->base, hd->name->len, hd->value.base,
                                          hd->value.len};
  }
  h2o_iovec_t url = called_url(h, s, req);
  h2o_iovec_t query = req->query_at != SIZE_MAX
                          ? h2o_iovec_init(req->path.base + req->query_at + 1,
                                           req->path.len - req->query_at - 1)
                          : h2o_iovec_init("", 0);
  ct_webhook_request_t wr = {.post = post,
                             .url = url.base,
                             .url_len = url.len,
                             .query = query.base,
                             .query_len = query.len,
                             .body = (const uint8_t *)(blen > 0 ? req->entity.base : ""),
                             .body_len = blen,
                             .headers = headers,
                             .n_headers = nh};
  int64_t now = ct_now_ms();
  char challenge[256] = "";
  ct_webhook_check_t check =
      provider->verify_webhook(conf, &wr, now, challenge, sizeof challenge);
  if (check == CT_WEBHOOK_CHALLENGE) {
    if (ac != NULL)
      ac->c.refused[CT_WEBHOOK_CHALLENGE]++;
    ct__http_send(req, 200, "text/plain; charset=utf-8", challenge, strlen(challenge));
    return;
  }
  if (check != CT_WEBHOOK_ACCEPT) {
    if (ac != NULL)
      ac->c.refused[check]++;
    ct_log_kv(CT_LOG_WARN, "webhook refused", CT_KV_S("account", conf->name),
              CT_KV_S("reason", ct_webhook_check_name(check)));
    if (check == CT_WEBHOOK_METHOD)
      h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
    ct__http_send_error(req, ct_webhook_check_status(check), check_text(check));
    return;
  }
  if (s->stopping) {
    if (ac != NULL)
      ac->c.unavailable++;
    unavailable(req, "shutting down");
    return;
  }

  ct_event_list_t events = {0};
  size_t skipped = 0;
  char err[160] = "";
  int rc = provider->parse_webhook(conf, &wr, now, &events, &skipped, err, sizeof err);
  if (rc != 0) {
    ct_event_list_free(&events);
    if (ac != NULL) {
      if (rc == CT_ETOOBIG)
        ac->c.too_large++;
      else
        ac->c.malformed++;
    }
    ct__http_send_error(req, rc == CT_EDECODE ? 400 : rc == CT_ETOOBIG ? 413 : 500, err);
    return;
  }
  if (ac != NULL)
    ac->c.skipped += skipped;
  if (events.n == 0) {
    ct_event_list_free(&events);
    send_ok(req, provider);
    return;
  }
  hook_req_t *hr = calloc(1, sizeof *hr);
  if (hr == NULL) {
    ct_event_list_free(&events);
    ct__http_send_error(req, 500, "out of memory");
    return;
  }
  link_t *l = h2o_mem_alloc_shared(&req->pool, sizeof *l, on_link_dispose);
  l->hr = hr;
  hr->link = l;
  hr->req = req;
  hr->server = s;
  hr->provider = provider;
  hr->counts = ac;
  hr->n = events.n;
  s->pending++;
  h->engine.store(h->engine.ctx, &events, on_stored, hr);
}

/* ---- start ---- */

static void hooks_free(void *ctx) {
  hooks_t *h = ctx;
  if (h != NULL)
    free(h->public_url);
  free(h);
}

int ct_http_webhooks_start(uv_loop_t *loop, const ct_http_webhook_options_t *opts,
                           const ct_http_webhook_engine_t *engine, ct_http_server_t **out) {
  if (loop == NULL || opts == NULL || engine == NULL || out == NULL || engine->config == NULL ||
      engine->store == NULL)
    return CT_EINVAL;
  hooks_t *h = calloc(1, sizeof *h);
  if (h == NULL)
    return CT_ENOMEM;
  h->engine = *engine;
  h->max_body = opts->max_body != 0 ? opts->max_body : DEFAULT_MAX_BODY;
  if (opts->public_url != NULL && opts->public_url[0] != '\0') {
    size_t n = strlen(opts->public_url);
    while (n > 0 && opts->public_url[n - 1] == '/')
      n--;
    h->public_url = strndup(opts->public_url, n);
    if (h->public_url == NULL) {
      free(h);
      return CT_ENOMEM;
    }
  }
  ct_http_options_t ho = {.host = opts->host,
                          .port = opts->port,
                          .max_body = h->max_body,
                          .tls_cert = opts->tls_cert,
                          .tls_key = opts->tls_key};
  /* h2o refuses only what is far over the limit with its own (plain text) 413; the route
   * answers the rest with the JSON one */
  int rc = ct__http_server_new(loop, &ho, route, h, hooks_free, h->max_body * 2 + 65536, out);
  if (rc != 0)
    hooks_free(h);
  return rc;
}
