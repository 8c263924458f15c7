/* The engine's side of the webhook listener: stores through the spooler, and the metrics. */
#include "worker/webhooks.h"

#include "common/clock.h"
#include "common/error.h"

#include <inttypes.h>
#include <stdarg.h>
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  ct_events_req_t req;
  ct_http_events_done_cb done;
  void *arg;
} store_t;

static const ct_config_t *hook_config(void *ctx) {
  const ct_webhooks_t *w = ctx;
  return w->cfg;
}

static void hook_store(void *ctx, ct_event_list_t *events, ct_http_events_done_cb done,
                       void *arg) {
  ct_webhooks_t *w = ctx;
  bool full = w->pending_events + events->n > CT_WEBHOOKS_MAX_PENDING;
  store_t *st = full || w->closed ? NULL : calloc(1, sizeof *st);
  int *results = st == NULL ? NULL : calloc(events->n > 0 ? events->n : 1, sizeof *results);
  if (st == NULL || results == NULL) {
    ct_event_list_free(events);
    free(st);
    free(results);
    done(arg, w->closed ? CT_ESTATE : full ? CT_EBUSY : CT_ENOMEM, NULL);
    return;
  }
  st->req.msg.type = CT_MSG_EVENTS;
  st->req.events = *events; /* the request owns them from here on */
  *events = (ct_event_list_t){0};
  st->req.results = results;
  st->done = done;
  st->arg = arg;
  w->pending++;
  w->pending_events += st->req.events.n;
  ct_spooler_post(w->spooler, &st->req.msg);
}

void ct_webhooks_engine(ct_webhooks_t *w, ct_http_webhook_engine_t *out) {
  *out = (ct_http_webhook_engine_t){.ctx = w, .config = hook_config, .store = hook_store};
}

void ct_webhooks_stored(ct_webhooks_t *w, ct_events_req_t *req) {
  store_t *st = ct_container_of(req, store_t, req);
  st->done(st->arg, req->rc, req->rc == 0 ? req->results : NULL);
  w->pending_events -= req->events.n;
  ct_event_list_free(&req->events);
  free(req->results);
  free(st);
  w->pending--;
}

int ct_webhooks_start(ct_webhooks_t *w, uv_loop_t *loop, ct_http_server_t **out) {
  const ct_config_t *cfg = w->cfg;
  char host[128];
  snprintf(host, sizeof host, "%s", cfg->webhook_listen);
  char *colon = strrchr(host, ':');
  *colon = '\0';
  ct_http_webhook_options_t o = {.host = host,
                                 .port = (uint16_t)strtol(colon + 1, NULL, 10),
                                 .max_body = (size_t)cfg->webhook_max_body_kb << 10,
                                 .tls_cert = cfg->webhook_tls_cert[0] ? cfg->webhook_tls_cert : NULL,
                                 .tls_key = cfg->webhook_tls_key[0] ? cfg->webhook_tls_key : NULL,
                                 .public_url = cfg->webhook_public_url};
  ct_http_webhook_engine_t engine;
  ct_webhooks_engine(w, &engine);
  int rc = ct_http_webhooks_start(loop, &o, &engine, out);
  if (rc != 0) {
    ct_error("webhooks: cannot listen on %s: %s", cfg->webhook_listen, ct_strerror(rc));
    return rc;
  }
  ct_info("webhooks: listening on %s:%u (%s)", host, (unsigned)ct_http_port(*out),
          o.tls_cert != NULL ? "https" : "http");
  if (cfg->webhook_public_url[0] == '\0')
    ct_warn("webhooks: webhook_public_url is not set: Twilio signatures are checked against "
            "the URL each request names, which a proxy in front changes; and SMS carry no "
            "StatusCallback");
  for (size_t i = 0; i < cfg->n_providers; i++) {
    const ct_provider_conf_t *pc = &cfg->providers[i];
    const char *url = pc->webhook_url[0] ? pc->webhook_url : "(webhook_public_url)/webhooks/";
    const char *name = pc->webhook_url[0] ? "" : pc->name;
    if (pc->channel == CT_CHANNEL_WHATSAPP && pc->webhook_secret == NULL)
      ct_warn("webhooks: [provider.%s] has no webhook_secret (the Meta app secret): its "
              "route refuses every POST",
              pc->name);
    else if (pc->channel == CT_CHANNEL_EMAIL && pc->webhook_public_key[0] == '\0')
      ct_warn("webhooks: [provider.%s] has no webhook_public_key: its route refuses every "
              "POST",
              pc->name);
    else if (pc->channel == CT_CHANNEL_EMAIL && !ct_webhook_sendgrid_key_ok(pc->webhook_public_key))
      ct_error("webhooks: [provider.%s] webhook_public_key is not a P-256 public key: its "
               "route refuses every POST",
               pc->name);
    else
      ct_info("webhooks: [provider.%s] %s URL: %s%s", pc->name, ct_channel_name(pc->channel),
              url, name);
    if (pc->channel == CT_CHANNEL_WHATSAPP && pc->webhook_verify_token == NULL)
      ct_warn("webhooks: [provider.%s] has no webhook_verify_token: Meta's verification "
              "handshake will be refused",
              pc->name);
  }
  return 0;
}

/* ---- metrics ---- */

typedef struct {
  void (*write)(void *wctx, const char *s, size_t n);
  void *wctx;
} out_t;

static void emit(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(out_t *o, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n > 0)
    o->write(o->wctx, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

typedef enum { F_REQUESTS, F_EVENTS, F_REFUSED, F_HANDSHAKES } family_t;

typedef struct {
  out_t *o;
  family_t f;
} visit_t;

static void visit(void *arg, const char *account, const ct_http_webhook_counts_t *c) {
  visit_t *v = arg;
  out_t *o = v->o;
  switch (v->f) {
  case F_REQUESTS:
    emit(o, "carteiro_webhook_requests_total{account=\"%s\"} %" PRIu64 "\n", account,
         c->requests);
    break;
  case F_EVENTS:
    emit(o, "carteiro_webhook_events_total{account=\"%s\",result=\"stored\"} %" PRIu64 "\n",
         account, c->stored);
    emit(o, "carteiro_webhook_events_total{account=\"%s\",result=\"duplicate\"} %" PRIu64 "\n",
         account, c->duplicates);
    emit(o, "carteiro_webhook_events_total{account=\"%s\",result=\"skipped\"} %" PRIu64 "\n",
         account, c->skipped);
    break;
  case F_REFUSED:
    for (int k = 0; k < CT_WEBHOOK_CHECK_COUNT; k++) {
      if (k == CT_WEBHOOK_ACCEPT || k == CT_WEBHOOK_CHALLENGE)
        continue;
      emit(o, "carteiro_webhook_refused_total{account=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
           account, ct_webhook_check_name((ct_webhook_check_t)k), c->refused[k]);
    }
    emit(o, "carteiro_webhook_refused_total{account=\"%s\",reason=\"malformed\"} %" PRIu64 "\n",
         account, c->malformed);
    emit(o, "carteiro_webhook_refused_total{account=\"%s\",reason=\"too_large\"} %" PRIu64 "\n",
         account, c->too_large);
    emit(o,
         "carteiro_webhook_refused_total{account=\"%s\",reason=\"unavailable\"} %" PRIu64 "\n",
         account, c->unavailable);
    break;
  case F_HANDSHAKES:
    emit(o, "carteiro_webhook_handshakes_total{account=\"%s\"} %" PRIu64 "\n", account,
         c->refused[CT_WEBHOOK_CHALLENGE]);
    break;
  }
}

void ct_webhooks_metrics(const ct_http_server_t *s, const ct_event_stats_t *st,
                         void (*write)(void *wctx, const char *text, size_t n), void *wctx) {
  out_t o = {write, wctx};
  if (s != NULL) {
    static const struct {
      family_t f;
      const char *name, *help;
    } families[] = {
        {F_REQUESTS, "carteiro_webhook_requests_total",
         "Requests to an account's webhook route."},
        {F_EVENTS, "carteiro_webhook_events_total",
         "Webhook events by result: stored (new, durable before the 200), duplicate (already "
         "stored), skipped (a batch element that was no event)."},
        {F_REFUSED, "carteiro_webhook_refused_total",
         "Webhook requests refused, by reason (a signature that does not verify is "
         "bad_signature); nothing of them is stored."},
        {F_HANDSHAKES, "carteiro_webhook_handshakes_total",
         "Verification handshakes answered (WhatsApp GET)."},
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
      emit(&o, "# HELP %s %s\n# TYPE %s counter\n", families[i].name, families[i].help,
           families[i].name);
      visit_t v = {&o, families[i].f};
      ct_http_webhook_counts(s, visit, &v);
    }
  }
  if (st != NULL) {
    emit(&o, "# HELP carteiro_webhook_events Stored webhook events by state: pending (not yet "
             "applied to their jobs), done (applied, kept for dedupe until the retention "
             "passes).\n# TYPE carteiro_webhook_events gauge\n"
             "carteiro_webhook_events{state=\"pending\"} %" PRIu64 "\n"
             "carteiro_webhook_events{state=\"done\"} %" PRIu64 "\n",
         st->pending, st->done);
    emit(&o, "# HELP carteiro_inbound_messages Inbound messages kept.\n"
             "# TYPE carteiro_inbound_messages gauge\ncarteiro_inbound_messages %" PRIu64 "\n",
         st->inbound);
    int64_t now = ct_now_ms();
    emit(&o, "# HELP carteiro_webhook_oldest_pending_age_seconds Age of the oldest webhook "
             "event not yet applied.\n# TYPE carteiro_webhook_oldest_pending_age_seconds gauge\n"
             "carteiro_webhook_oldest_pending_age_seconds %.3f\n",
         st->oldest_pending_ms != 0 && st->oldest_pending_ms < now
             ? (now - st->oldest_pending_ms) / 1000.0
             : 0.0);
  }
}
