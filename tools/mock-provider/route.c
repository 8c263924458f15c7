/* Routing and the request pipeline shared by every provider endpoint.
 *
 * The order of the checks is the order a real API applies them, and it is what makes the
 * mock's answers predictable for tests:
 *   1. count the arrival (received-per-second peaks see every request);
 *   2. credentials (401), before anything in the body is looked at;
 *   3. validation (400/404/413): malformed requests are never subject to injected faults,
 *      so a test of validation gives the same answer at any fault rate;
 *   4. the fate of this attempt of this message: drop, reset, 5xx, 429, slow;
 *   5. permanent recipient rules (131026, 21610, invalid address);
 *   6. acceptance (2xx with a new message id), and the statuses that will follow it by
 *      callback when callbacks are on (callback.c).
 * The reply then waits for its latency on a timer (server.c).
 *
 * The GET pages that give a test the media back (GET /{version}/{media_id} and its
 * /media-download/ URL) check WhatsApp's token but skip the rest: they answer at once and
 * are not counted, like the admin pages.
 */
#include <stdio.h>
#include <string.h>

#include "mock.h"

/* Splits the path into at most `max` segments; returns the count, or -1 when there are
 * more segments than `max`. */
static int split_path(h2o_iovec_t path, h2o_iovec_t *seg, int max)
{
  int n = 0;
  size_t i = 0;
  while (i < path.len) {
    while (i < path.len && path.base[i] == '/')
      i++;
    if (i == path.len)
      break;
    size_t start = i;
    while (i < path.len && path.base[i] != '/')
      i++;
    if (n == max)
      return -1;
    seg[n++] = h2o_iovec_init(path.base + start, i - start);
  }
  return n;
}

static bool seg_is(h2o_iovec_t s, const char *lit)
{
  return h2o_memis(s.base, s.len, lit, strlen(lit));
}

/* Graph API versions look like "v24.0". */
static bool graph_version(h2o_iovec_t s)
{
  size_t i = 1, digits = 0;
  if (s.len < 4 || s.base[0] != 'v')
    return false;
  while (i < s.len && s.base[i] >= '0' && s.base[i] <= '9') {
    i++;
    digits++;
  }
  if (digits == 0 || i == s.len || s.base[i] != '.')
    return false;
  i++;
  digits = 0;
  while (i < s.len && s.base[i] >= '0' && s.base[i] <= '9') {
    i++;
    digits++;
  }
  return digits > 0 && i == s.len;
}

static bool all_digits(h2o_iovec_t s)
{
  for (size_t i = 0; i < s.len; i++)
    if (s.base[i] < '0' || s.base[i] > '9')
      return false;
  return s.len > 0;
}

/* GET /{version}/{media_id} and GET /media-download/{media_id}; false for other paths. */
static bool media_page(mock_t *m, h2o_req_t *req)
{
  h2o_iovec_t seg[3];
  int n = split_path(req->path_normalized, seg, 3);
  bool url = n == 2 && graph_version(seg[0]) && all_digits(seg[1]);
  bool download = n == 2 && seg_is(seg[0], "media-download");
  if (!url && !download)
    return false;
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
    mock_stats_other(m->stats);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
    mock_send_json(req, 405, "Method Not Allowed",
                   json_pack("{s:s}", "error", "this path takes GET only"));
    return true;
  }
  if (url)
    mock_whatsapp_media_url(m, req, seg[1]);
  else
    mock_whatsapp_media_download(m, req, seg[1]);
  return true;
}

static const mock_endpoint_t *match(h2o_iovec_t path, h2o_iovec_t *account)
{
  h2o_iovec_t seg[5];
  int n = split_path(path, seg, 5);
  *account = h2o_iovec_init(H2O_STRLIT("-"));
  if (n == 3 && seg_is(seg[0], "v3") && seg_is(seg[1], "mail") && seg_is(seg[2], "send"))
    return &mock_sendgrid_mail;
  if (n == 4 && seg_is(seg[0], "2010-04-01") && seg_is(seg[1], "Accounts") &&
      seg_is(seg[3], "Messages.json")) {
    *account = seg[2];
    return &mock_twilio_messages;
  }
  if (n == 3 && graph_version(seg[0])) {
    *account = seg[1];
    if (seg_is(seg[2], "messages"))
      return &mock_whatsapp_messages;
    if (seg_is(seg[2], "media"))
      return &mock_whatsapp_media;
  }
  return NULL;
}

/* SendGrid's account is the API key; /stats names it by a hash so that no key is shown. */
static void sendgrid_account(h2o_req_t *req, char *out, size_t cap)
{
  h2o_iovec_t key;
  if (!mock_bearer(mock_header(req, H2O_TOKEN_AUTHORIZATION), &key)) {
    mock_copy(out, cap, "-", 1);
    return;
  }
  uint64_t h = mock_mix64(mock_hash_bytes(MOCK_HASH_INIT, key.base, key.len));
  snprintf(out, cap, "key-%08llx", (unsigned long long)(h >> 32));
}

static void run_pipeline(mock_t *m, const mock_endpoint_t *ep, mock_call_t *call)
{
  const mock_prov_conf_t *pc = call->pc;
  uint64_t seq = ++m->request_seq;

  mock_stats_received(m->stats, call->ep, call->account, (int64_t)uv_now(m->loop),
                      call->body_bytes);

  if (!ep->authenticate(call)) {
    call->outcome = MOCK_OUT_AUTH;
    goto unkeyed;
  }
  if (!ep->validate(call)) {
    if (call->outcome == MOCK_OUT_OK)
      call->outcome = MOCK_OUT_INVALID;
    goto unkeyed;
  }

  if (!call->rejected && mock_reject_draw(pc, m->conf.seed, call->recipient))
    call->rejected = true;

  /* a client-supplied idempotency value names the message better than its content does */
  h2o_iovec_t idem = mock_header_str(call->req, "idempotency-key");
  if (idem.base != NULL && idem.len > 0)
    call->key = mock_hash_field(mock_hash_field(MOCK_HASH_INIT, "idem", 4), idem.base, idem.len);
  /* the same content on two endpoints is two messages */
  call->key = mock_mix64(call->key ^ ((uint64_t)call->ep + 1) * 0x9e3779b97f4a7c15ULL);
  call->has_key = true;
  call->attempt = mock_stats_attempt(m->stats, call->key);

  mock_fate_t fate = mock_fault_decide(pc, m->conf.seed, call->key, call->attempt);
  call->slow = fate.slow;
  call->delay_ms = fate.delay_ms;
  switch (fate.fault) {
  case MOCK_FAULT_DROP:
    call->action = MOCK_ACT_DROP;
    call->outcome = MOCK_OUT_DROPPED;
    call->status = 0;
    break;
  case MOCK_FAULT_RESET:
    call->action = MOCK_ACT_RESET;
    call->outcome = MOCK_OUT_RESET;
    call->status = 0;
    break;
  case MOCK_FAULT_SERVER_ERROR:
    call->outcome = MOCK_OUT_SERVER_ERROR;
    ep->fail(call, MOCK_OUT_SERVER_ERROR, false);
    break;
  case MOCK_FAULT_RATE_LIMIT:
  case MOCK_FAULT_PAIR_RATE_LIMIT:
    call->outcome = MOCK_OUT_RATE_LIMITED;
    ep->fail(call, MOCK_OUT_RATE_LIMITED, fate.fault == MOCK_FAULT_PAIR_RATE_LIMIT);
    break;
  case MOCK_FAULT_NONE:
    if (call->rejected) {
      call->outcome = MOCK_OUT_REJECTED;
      ep->fail(call, MOCK_OUT_REJECTED, false);
    } else {
      call->outcome = MOCK_OUT_OK;
      ep->accept(call);
      /* the provider took it: its statuses follow by callback (callback.c) */
      mock_callbacks_accepted(m, call);
    }
    break;
  }
  mock_call_finish(call);
  return;

unkeyed:
  call->delay_ms = mock_latency_sample(pc, mock_mix64(m->conf.seed ^ mock_mix64(seq)));
  mock_call_finish(call);
}

int mock_route(mock_t *m, h2o_req_t *req)
{
  if (mock_admin(m, req) || media_page(m, req))
    return 0;

  h2o_iovec_t account;
  const mock_endpoint_t *ep = match(req->path_normalized, &account);
  if (ep == NULL) {
    mock_stats_other(m->stats);
    mock_send_json(req, 404, "Not Found",
                   json_pack("{s:s, s:s%}", "error", "no such endpoint on the mock provider",
                             "path", req->path_normalized.base, req->path_normalized.len));
    return 0;
  }
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
    mock_stats_other(m->stats);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
    mock_send_json(req, 405, "Method Not Allowed",
                   json_pack("{s:s}", "error", "this endpoint takes POST only"));
    return 0;
  }
  mock_call_t *call = mock_call_new(m, req, ep->ep, ep->prov);
  mock_copy(call->account, sizeof(call->account), account.base, account.len);
  if (ep->ep == MOCK_EP_SENDGRID_MAIL)
    sendgrid_account(req, call->account, sizeof(call->account));
  run_pipeline(m, ep, call);
  return 0;
}
