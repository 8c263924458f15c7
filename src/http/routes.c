/* The read-only routes: a job's state, the status document, metrics, health and readiness. */
#include "http/http_int.h"

#include "common/error.h"
#include "transport/transport.h"

#include <stdlib.h>
#include <string.h>

/* Job ids are short (the validator bounds them); anything longer cannot exist. */
#define ID_MAX 256
/* The exposition grows with providers and reasons, never with jobs; this is far above it. */
#define METRICS_MAX ((size_t)8 << 20)

void ct__http_get_job(ct_http_server_t *s, h2o_req_t *req, const char *id, size_t idlen)
{
  if (!ct__http_authorized(s, req)) {
    ct__http_send_error(req, 401, "missing or wrong bearer token");
    return;
  }
  char buf[ID_MAX];
  if (idlen >= sizeof(buf) || memchr(id, '\0', idlen) != NULL) {
    ct__http_send_error(req, 404, "no such job");
    return;
  }
  memcpy(buf, id, idlen);
  buf[idlen] = '\0';

  ct_job_info_t info;
  int rc = s->engine.job_get(s->engine.ctx, buf, &info);
  if (rc == CT_ENOTFOUND) {
    ct__http_send_error(req, 404, "no such job");
    return;
  }
  if (rc != 0) {
    ct__http_send_error(req, rc == CT_ELOCKED ? 503 : 500, ct_errname(rc));
    return;
  }

  json_t *attempts = json_array();
  for (size_t i = 0; attempts != NULL && i < info.n_attempts; i++) {
    if (json_array_append_new(attempts, ct_attempt_to_json(info.attempts[i])) != 0) {
      json_decref(attempts);
      attempts = NULL;
    }
  }
  json_t *j = json_pack("{s:s, s:s, s:o?, s:o?, s:o?, s:o?, s:I, s:I, s:I}",
                        "id", buf, "state", ct_job_state_name(info.state),
                        "reason", info.reason != NULL ? json_string(info.reason) : json_null(),
                        "attempts", attempts,
                        "receipt", info.receipt != NULL ? ct_receipt_to_json(info.receipt)
                                                        : json_null(),
                        "job", info.job != NULL ? ct_job_to_json(info.job, CT_JSON_MASK_PII)
                                                : json_null(),
                        "enqueued_ms", (json_int_t)info.enqueued_ms,
                        "updated_ms", (json_int_t)info.updated_ms,
                        "due_ms", (json_int_t)info.due_ms);
  ct_job_info_free(&info);
  /* json_pack with o? takes NULL as null, so a failed sub-object would pass silently */
  if (j == NULL || attempts == NULL) {
    json_decref(j);
    ct__http_send_error(req, 500, "out of memory");
    return;
  }
  ct__http_send_json(req, 200, j);
  json_decref(j);
}

typedef struct {
  char *p;
  size_t len, cap;
  bool failed;
} textbuf_t;

static void metrics_write(void *wctx, const char *s, size_t n)
{
  textbuf_t *b = wctx;
  if (b->failed)
    return;
  if (n > METRICS_MAX - b->len) {
    b->failed = true;
    return;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap != 0 ? b->cap : 4096;
    while (cap < b->len + n)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
      b->failed = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

void ct__http_metrics(ct_http_server_t *s, h2o_req_t *req)
{
  textbuf_t b = {NULL, 0, 0, false};
  s->engine.metrics(s->engine.ctx, metrics_write, &b);
  ct_transport_metrics(metrics_write, &b);
  if (b.failed)
    ct__http_send(req, 500, "text/plain; charset=utf-8", H2O_STRLIT("metrics too large\n"));
  else
    ct__http_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
  free(b.p);
}

/* Which HTTP client each provider origin goes to, and the requests each client took. */
static json_t *transport_json(void)
{
  ct_transport_stats_t st;
  ct_transport_stats(&st);
  json_t *origins = json_array();
  for (size_t i = 0; origins != NULL && i < st.n_origins; i++)
    json_array_append_new(origins,
                          json_pack("{s:s, s:s, s:s}", "origin", st.origins[i].origin, "client",
                                    ct_transport_client_name(st.origins[i].client), "reason",
                                    ct_transport_reason_name(st.origins[i].reason)));
  return json_pack("{s:{s:I, s:I}, s:o?, s:{s:I, s:I, s:I, s:I}}", "requests", "nghttp2",
                   (json_int_t)st.requests[CT_TRANSPORT_NGHTTP2], "libcurl",
                   (json_int_t)st.requests[CT_TRANSPORT_LIBCURL], "origins", origins, "h2",
                   "connections", (json_int_t)st.h2_connections, "goaway",
                   (json_int_t)st.h2_goaway, "refused_streams", (json_int_t)st.h2_refused,
                   "ping_timeouts", (json_int_t)st.h2_ping_timeouts);
}

void ct__http_status(ct_http_server_t *s, h2o_req_t *req)
{
  if (s->engine.status == NULL) {
    ct__http_send_error(req, 404, "no such route");
    return;
  }
  if (!ct__http_authorized(s, req)) {
    ct__http_send_error(req, 401, "missing or wrong bearer token");
    return;
  }
  json_t *doc = s->engine.status(s->engine.ctx);
  /* the engine never sees the records refused here, so the server adds their count */
  json_t *enq = doc != NULL ? json_object_get(doc, "enqueue") : NULL;
  if (enq == NULL ||
      json_object_set_new(enq, "rejected", json_integer((json_int_t)s->rejected)) != 0 ||
      json_object_set_new(doc, "transport", transport_json()) != 0) {
    json_decref(doc);
    ct__http_send_error(req, 500, "out of memory");
    return;
  }
  ct__http_send_json(req, 200, doc);
  json_decref(doc);
}

void ct__http_healthz(ct_http_server_t *s, h2o_req_t *req)
{
  (void)s;
  ct__http_send(req, 200, "text/plain; charset=utf-8", H2O_STRLIT("ok"));
}

void ct__http_readyz(ct_http_server_t *s, h2o_req_t *req)
{
  char why[256] = "";
  if (s->engine.ready(s->engine.ctx, why, sizeof(why))) {
    ct__http_send(req, 200, "text/plain; charset=utf-8", H2O_STRLIT("ready"));
    return;
  }
  why[sizeof(why) - 1] = '\0';
  if (why[0] == '\0')
    ct__http_send(req, 503, "text/plain; charset=utf-8", H2O_STRLIT("not ready"));
  else
    ct__http_send(req, 503, "text/plain; charset=utf-8", why, strlen(why));
}
