/* Admin pages for tests and operators, on the same loopback listener as the providers and
 * without authentication (the mock listens on 127.0.0.1 unless told otherwise):
 *
 *   GET  /health        "ok"
 *   GET  /stats         counters, duplicates, peaks (stats.c has the shape; README.md too)
 *   POST /stats/reset   forget every counter, key and record
 *   GET  /received      recent request records: ?endpoint=&to=&since=&limit=
 *   GET  /config        the effective configuration, credentials reduced to a count
 *   POST /config        change provider sections at runtime (faults, latency, revoked, ...)
 *   GET  /attachments/MSGID/N   the bytes of attachment N of the SendGrid message MSGID
 *   GET  /callbacks     callback records: ?provider=&state=acked|given_up|pending|dropped
 *                       &since=&limit=
 *   POST /callbacks/inbound   {"provider","from","text","to"?,"name"?}: a customer's message
 *                       sent to the client's webhook as the provider would
 *
 * Admin requests are not counted in /stats and get no latency or faults.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

static bool is_method(h2o_req_t *req, const char *method)
{
  return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

static void method_not_allowed(h2o_req_t *req, const char *allow)
{
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
  mock_send_json(req, 405, "Method Not Allowed",
                 json_pack("{s:s, s:s}", "error", "method not allowed", "allow", allow));
}

static void bad_request(h2o_req_t *req, const char *msg)
{
  mock_send_json(req, 400, "Bad Request", json_pack("{s:s}", "error", msg));
}

static void stats_page(mock_t *m, h2o_req_t *req)
{
  json_t *j = mock_stats_to_json(m->stats, (int64_t)uv_now(m->loop));
  json_object_set_new(j, "uptime_ms", json_integer(mock_wall_ms() - m->started_ms));
  json_object_set_new(j, "pending_replies", json_integer((json_int_t)m->pending));
  json_object_set_new(j, "seed", json_integer((json_int_t)m->conf.seed));
  json_object_set_new(j, "store",
                      mock_store_to_json(m->store, m->conf.keep_files, m->conf.keep_bytes));
  json_object_set_new(j, "callbacks", mock_callbacks_stats(m));
  mock_send_json(req, 200, "OK", j);
}

/* Parses a decimal query value into *out; false when malformed or above max. */
static bool query_u64(const h2o_iovec_t *v, uint64_t max, uint64_t *out)
{
  char buf[24];
  char *end;
  if (v->len == 0 || v->len >= sizeof(buf) || v->base[0] == '-')
    return false;
  mock_copy(buf, sizeof(buf), v->base, v->len);
  errno = 0;
  unsigned long long n = strtoull(buf, &end, 10);
  if (errno != 0 || *end != '\0' || n > max)
    return false;
  *out = n;
  return true;
}

static void received_page(mock_t *m, h2o_req_t *req)
{
  mock_param_t params[8];
  int n = 0;
  if (req->query_at != SIZE_MAX) {
    h2o_iovec_t q = h2o_iovec_init(req->path.base + req->query_at + 1,
                                   req->path.len - req->query_at - 1);
    n = mock_form_parse(&req->pool, q, params, 8);
    if (n < 0) {
      bad_request(req, "malformed query string");
      return;
    }
  }
  uint64_t since = 0, limit = 100;
  int ep = -1;
  const char *to = NULL;
  const h2o_iovec_t *v = mock_form_get(params, (size_t)n, "since");
  if (v != NULL && !query_u64(v, UINT64_MAX, &since)) {
    bad_request(req, "since: expected a record sequence number");
    return;
  }
  v = mock_form_get(params, (size_t)n, "limit");
  if (v != NULL && (!query_u64(v, 100000, &limit) || limit == 0)) {
    bad_request(req, "limit: expected 1..100000");
    return;
  }
  v = mock_form_get(params, (size_t)n, "endpoint");
  if (v != NULL) {
    mock_ep_t e;
    if (mock_ep_parse(v->base, &e) != 0) {
      bad_request(req, "endpoint: whatsapp_messages, whatsapp_media, twilio_messages or "
                       "sendgrid_mail");
      return;
    }
    ep = (int)e;
  }
  v = mock_form_get(params, (size_t)n, "to");
  if (v != NULL) {
    /* records hold recipients normalized: phone digits without '+', e-mail lower case; an
     * unescaped '+' in a query string decodes to a space, so that is stripped as well */
    char *norm = h2o_mem_alloc_pool(&req->pool, v->len + 1);
    if (v->len > 0 && (v->base[0] == '+' || v->base[0] == ' '))
      mock_copy(norm, v->len + 1, v->base + 1, v->len - 1);
    else
      mock_email_norm(v->base, v->len, norm, v->len + 1);
    to = norm;
  }
  mock_send_json(req, 200, "OK", mock_stats_records(m->stats, since, (size_t)limit, ep, to));
}

static void callbacks_page(mock_t *m, h2o_req_t *req)
{
  mock_param_t params[8];
  int n = 0;
  if (req->query_at != SIZE_MAX) {
    h2o_iovec_t q = h2o_iovec_init(req->path.base + req->query_at + 1,
                                   req->path.len - req->query_at - 1);
    n = mock_form_parse(&req->pool, q, params, 8);
    if (n < 0) {
      bad_request(req, "malformed query string");
      return;
    }
  }
  uint64_t since = 0, limit = 1000;
  int prov = -1;
  const char *state = NULL;
  const h2o_iovec_t *v = mock_form_get(params, (size_t)n, "since");
  if (v != NULL && !query_u64(v, UINT64_MAX, &since)) {
    bad_request(req, "since: expected a record sequence number");
    return;
  }
  v = mock_form_get(params, (size_t)n, "limit");
  if (v != NULL && (!query_u64(v, 1000000, &limit) || limit == 0)) {
    bad_request(req, "limit: expected 1..1000000");
    return;
  }
  v = mock_form_get(params, (size_t)n, "provider");
  if (v != NULL) {
    mock_prov_t p;
    if (mock_prov_parse(h2o_strdup(&req->pool, v->base, v->len).base, &p) != 0) {
      bad_request(req, "provider: whatsapp, twilio or sendgrid");
      return;
    }
    prov = (int)p;
  }
  v = mock_form_get(params, (size_t)n, "state");
  if (v != NULL)
    state = h2o_strdup(&req->pool, v->base, v->len).base;
  mock_send_json(req, 200, "OK", mock_callbacks_records(m, since, (size_t)limit, prov, state));
}

static void inbound_post(mock_t *m, h2o_req_t *req)
{
  json_error_t je;
  char err[MOCK_ERRBUF];
  json_t *j = json_loadb(req->entity.base != NULL ? req->entity.base : "",
                         req->entity.base != NULL ? req->entity.len : 0, JSON_REJECT_DUPLICATES,
                         &je);
  if (j == NULL) {
    bad_request(req, je.text);
    return;
  }
  json_t *r = mock_callbacks_inbound(m, j, err);
  json_decref(j);
  if (r == NULL)
    bad_request(req, err);
  else
    mock_send_json(req, 200, "OK", r);
}

static void config_post(mock_t *m, h2o_req_t *req)
{
  json_error_t je;
  char err[MOCK_ERRBUF];
  json_t *j = json_loadb(req->entity.base != NULL ? req->entity.base : "",
                         req->entity.base != NULL ? req->entity.len : 0, JSON_REJECT_DUPLICATES,
                         &je);
  if (j == NULL) {
    bad_request(req, je.text);
    return;
  }
  /* a copy, so that a half-applied object never reaches the running configuration */
  mock_config_t *next = malloc(sizeof(*next));
  if (next == NULL) {
    json_decref(j);
    mock_send_json(req, 503, "Service Unavailable", json_pack("{s:s}", "error", "out of memory"));
    return;
  }
  *next = m->conf;
  int rc = mock_config_apply_json(next, j, true, err);
  json_decref(j);
  if (rc != 0) {
    free(next);
    bad_request(req, err);
    return;
  }
  m->conf = *next;
  free(next);
  mock_store_trim(m->store, m->conf.keep_files, m->conf.keep_bytes);
  mock_send_json(req, 200, "OK", mock_config_to_json(&m->conf));
}

/* GET /attachments/<X-Message-Id>/<index>: what SendGrid would have mailed, decoded. The
 * path after the prefix is the store's key. */
static void attachment_page(mock_t *m, h2o_req_t *req, h2o_iovec_t rest)
{
  char key[MOCK_FILE_KEY_LEN];
  const char *slash = memchr(rest.base, '/', rest.len);
  size_t id_len = slash != NULL ? (size_t)(slash - rest.base) : rest.len;
  size_t index_len = slash != NULL ? rest.len - id_len - 1 : 0;
  bool index_ok = index_len > 0 && index_len <= 6;
  for (size_t i = 0; index_ok && i < index_len; i++)
    index_ok = slash[1 + i] >= '0' && slash[1 + i] <= '9';
  if (id_len == 0 || !index_ok || rest.len >= sizeof(key)) {
    mock_send_json(req, 404, "Not Found",
                   json_pack("{s:s}", "error", "expected /attachments/<X-Message-Id>/<index>"));
    return;
  }
  mock_copy(key, sizeof(key), rest.base, rest.len);
  const mock_file_t *f = mock_store_get(m->store, key);
  if (f == NULL) {
    mock_send_json(req, 404, "Not Found",
                   json_pack("{s:s, s:s}", "error",
                             "no such attachment is kept (never received, or evicted: see "
                             "keep_files and keep_bytes)",
                             "attachment", key));
    return;
  }
  /* a copy in the request's pool: the next message may evict the file while h2o still writes */
  char *copy = h2o_mem_alloc_pool(&req->pool, f->len > 0 ? f->len : 1);
  memcpy(copy, f->data, f->len);
  mock_send(req, 200, "OK", h2o_strdup(&req->pool, f->info.type, SIZE_MAX).base,
            h2o_iovec_init(copy, f->len));
}

bool mock_admin(mock_t *m, h2o_req_t *req)
{
  h2o_iovec_t p = req->path_normalized;
  if (h2o_memis(p.base, p.len, H2O_STRLIT("/health"))) {
    if (!is_method(req, "GET"))
      method_not_allowed(req, "GET");
    else
      mock_send(req, 200, "OK", "text/plain", h2o_iovec_init(H2O_STRLIT("ok\n")));
  } else if (h2o_memis(p.base, p.len, H2O_STRLIT("/stats"))) {
    if (!is_method(req, "GET"))
      method_not_allowed(req, "GET");
    else
      stats_page(m, req);
  } else if (h2o_memis(p.base, p.len, H2O_STRLIT("/stats/reset"))) {
    if (!is_method(req, "POST")) {
      method_not_allowed(req, "POST");
    } else {
      mock_stats_reset(m->stats);
      mock_callbacks_reset(m);
      mock_send_json(req, 200, "OK", json_pack("{s:b}", "reset", 1));
    }
  } else if (h2o_memis(p.base, p.len, H2O_STRLIT("/received"))) {
    if (!is_method(req, "GET"))
      method_not_allowed(req, "GET");
    else
      received_page(m, req);
  } else if (p.len > 13 && memcmp(p.base, "/attachments/", 13) == 0) {
    if (!is_method(req, "GET"))
      method_not_allowed(req, "GET");
    else
      attachment_page(m, req, h2o_iovec_init(p.base + 13, p.len - 13));
  } else if (h2o_memis(p.base, p.len, H2O_STRLIT("/callbacks"))) {
    if (!is_method(req, "GET"))
      method_not_allowed(req, "GET");
    else
      callbacks_page(m, req);
  } else if (h2o_memis(p.base, p.len, H2O_STRLIT("/callbacks/inbound"))) {
    if (!is_method(req, "POST"))
      method_not_allowed(req, "POST");
    else
      inbound_post(m, req);
  } else if (h2o_memis(p.base, p.len, H2O_STRLIT("/config"))) {
    if (is_method(req, "GET"))
      mock_send_json(req, 200, "OK", mock_config_to_json(&m->conf));
    else if (is_method(req, "POST"))
      config_post(m, req);
    else
      method_not_allowed(req, "GET, POST");
  } else {
    return false;
  }
  return true;
}
