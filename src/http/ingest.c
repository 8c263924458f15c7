/* POST /v1/jobs: one job or a batch, JSON or protobuf, optionally zstd-compressed.
 *
 * Body formats (Content-Type):
 *   application/json      one JSON object; or a JSON array of objects; or JSON lines
 *                         (objects one after another, separated by newlines)
 *   application/x-ndjson  JSON lines
 *   application/x-protobuf
 *                         one Job message, as every protobuf client sends it; a batch is
 *                         opt-in with "X-Carteiro-Batch: delimited": then the body is a
 *                         sequence of Jobs, each preceded by its length as a varint (the
 *                         .pbs format gen-invoices and `carteiro enqueue` use). Guessing
 *                         from the bytes is not possible: a Job's first byte is also a valid
 *                         varint, so the framing is said, never inferred.
 * Content-Encoding: zstd is decompressed first, up to max_body decompressed bytes (413
 * beyond). At most CT__HTTP_MAX_RECORDS records per request (413 beyond).
 *
 * Each record is decoded, normalized (defaults, canonical CPF and barcode) and validated.
 * Bad records are reported as {index, field, reason} (field "" when the record could not be
 * decoded), with field names only, never values: the reply and any log stay free of
 * personal data. With ?all_or_nothing=true a single bad record refuses the request (422)
 * and nothing is stored (every record is then reported "rejected"; the errors say which ones
 * were bad); otherwise the good records go to the engine and the request is
 * answered (202) only when the engine calls back, i.e. once they are durable. Every record
 * bad: 422. A body that is not JSON at all, or whose protobuf framing is broken: 400.
 *
 * Reading the body (zstd, the framings, each record's decoding and validation) is body.c's,
 * which knows nothing of h2o; this file maps the request's headers to a framing, hands the
 * good records to the engine and answers.
 *
 * The request may outlive its client: h2o frees the request's pool when the client goes
 * away, while the engine still holds our done callback. So the request's state (ingest_t)
 * is malloc'd, and a small link object in the pool, with a dispose hook, tells it that the
 * request is gone; the done callback then frees the state without answering.
 */
#include "http/http_int.h"

#include "common/clock.h"
#include "common/error.h"

#include <stdlib.h>
#include <string.h>

#define RETRY_AFTER_ENGINE_S 5

typedef struct ingest ingest_t;

typedef struct {
  ingest_t *in; /* NULL once the engine called back */
} link_t;

struct ingest {
  ct_http_server_t *server;
  h2o_req_t *req; /* NULL once h2o disposed of the request (the client went away) */
  link_t *link;
  ct__body_t body;
};

static void ingest_free(ingest_t *in)
{
  ct__body_release(&in->body);
  free(in);
}

/* ---- replies ---- */

static bool header_is(h2o_req_t *req, const h2o_token_t *tok, const char *want, bool prefix)
{
  ssize_t i = h2o_find_header(&req->headers, tok, -1);
  if (i < 0)
    return false;
  h2o_iovec_t v = req->headers.entries[i].value;
  size_t wl = strlen(want);
  if (prefix) {
    if (v.len < wl || !h2o_lcstris(v.base, wl, want, wl))
      return false;
    return v.len == wl || v.base[wl] == ';' || v.base[wl] == ' ';
  }
  return h2o_lcstris(v.base, v.len, want, wl);
}

static bool query_flag(h2o_req_t *req, const char *name)
{
  if (req->query_at == SIZE_MAX)
    return false;
  const char *q = req->path.base + req->query_at + 1;
  const char *end = req->path.base + req->path.len;
  size_t nl = strlen(name);
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *e = amp != NULL ? amp : end;
    size_t len = (size_t)(e - q);
    if (len > nl && memcmp(q, name, nl) == 0 && q[nl] == '=') {
      const char *v = q + nl + 1;
      size_t vl = len - nl - 1;
      return h2o_memis(v, vl, H2O_STRLIT("true")) || h2o_memis(v, vl, H2O_STRLIT("1"));
    }
    q = amp != NULL ? amp + 1 : end;
  }
  return false;
}

static void reply_summary(h2o_req_t *req, ingest_t *in, int status, const char *error)
{
  /* Counted as the client is told, so the metrics and the answers agree. */
  const ct_http_engine_t *e = &in->server->engine;
  size_t rejected = 0;
  for (size_t i = 0; i < in->body.nrec; i++)
    rejected += in->body.recs[i].result == CT__REC_REJECTED;
  in->server->rejected += rejected;
  if (rejected > 0 && e->rejected != NULL)
    e->rejected(e->ctx, rejected);
  json_t *j = ct__body_summary(&in->body, error);
  if (j == NULL) {
    ct__http_send_error(req, 500, "out of memory");
    return;
  }
  ct__http_send_json(req, status, j);
  json_decref(j);
}

static void on_link_dispose(void *p)
{
  link_t *l = p;
  if (l->in != NULL) {
    l->in->req = NULL;
    l->in->link = NULL;
  }
}

static void on_enqueued(void *arg, int rc, const int *results)
{
  ingest_t *in = arg;
  ct_http_server_t *s = in->server;
  s->pending--;
  h2o_req_t *req = in->req;
  if (in->link != NULL)
    in->link->in = NULL; /* the pool may outlive us now; its dispose hook must not look back */
  if (req == NULL) {
    ingest_free(in);
    return;
  }
  if (rc != 0) {
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", RETRY_AFTER_ENGINE_S);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, ra, strlen(ra));
    json_t *j = json_pack("{s:s, s:s}", "error", ct_errname(rc), "message", ct_strerror(rc));
    ct__http_send_json(req, 503, j);
    json_decref(j);
    ingest_free(in);
    return;
  }
  ct__body_t *b = &in->body;
  for (size_t i = 0; i < b->njobs; i++) {
    size_t idx = b->slot[i];
    if (results[i] == 0) {
      b->recs[idx].result = CT__REC_ACCEPTED;
    } else if (results[i] == CT_EDUPLICATE) {
      b->recs[idx].result = CT__REC_DUPLICATE;
    } else {
      b->recs[idx].result = CT__REC_REJECTED;
      ct__body_add_error(b, idx, "", ct_strerror(results[i]));
    }
  }
  reply_summary(req, in, 202, NULL);
  ingest_free(in);
}

/* ---- the handler ---- */

static void refuse(h2o_req_t *req, ingest_t *in, int status, const char *msg)
{
  ct__http_send_error(req, status, msg);
  ingest_free(in);
}

/* The framing the headers say, or -1 after answering (415 or 400). */
static int body_format(h2o_req_t *req, ingest_t *in, ct__body_format_t *fmt)
{
  if (header_is(req, H2O_TOKEN_CONTENT_TYPE, "application/json", true) ||
      header_is(req, H2O_TOKEN_CONTENT_TYPE, "application/x-ndjson", true)) {
    *fmt = CT__BODY_JSON;
    return 0;
  }
  if (!header_is(req, H2O_TOKEN_CONTENT_TYPE, "application/x-protobuf", true)) {
    refuse(req, in, 415, "Content-Type must be application/json, application/x-ndjson or "
                         "application/x-protobuf");
    return -1;
  }
  ssize_t bi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-carteiro-batch"), -1);
  if (bi < 0) {
    *fmt = CT__BODY_PB_ONE;
    return 0;
  }
  if (h2o_lcstris(req->headers.entries[bi].value.base, req->headers.entries[bi].value.len,
                  H2O_STRLIT("delimited"))) {
    *fmt = CT__BODY_PB_DELIMITED;
    return 0;
  }
  refuse(req, in, 400, "X-Carteiro-Batch: the only framing is \"delimited\" (varint "
                       "length before each Job); without the header the body is one Job");
  return -1;
}

void ct__http_ingest(ct_http_server_t *s, h2o_req_t *req)
{
  if (!ct__http_authorized(s, req)) {
    ct__http_send_error(req, 401, "missing or wrong bearer token");
    return;
  }
  int retry_after = 0;
  if (s->stopping || s->engine.saturated(s->engine.ctx, &retry_after)) {
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", retry_after > 0 ? retry_after : 1);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, ra, strlen(ra));
    ct__http_send_error(req, 503, s->stopping ? "shutting down" : "saturated, retry later");
    return;
  }
  const uint8_t *body = (const uint8_t *)req->entity.base;
  size_t blen = body != NULL ? req->entity.len : 0;
  if (blen > s->max_body) {
    ct__http_send_error(req, 413, "body larger than the limit");
    return;
  }

  ingest_t *in = calloc(1, sizeof(*in));
  if (in == NULL || ct__body_init(&in->body, ct_now_ms()) != 0) {
    free(in);
    ct__http_send_error(req, 500, "out of memory");
    return;
  }
  in->server = s;

  bool zstd = false;
  if (h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_ENCODING, -1) >= 0 &&
      !header_is(req, H2O_TOKEN_CONTENT_ENCODING, "identity", false)) {
    if (!header_is(req, H2O_TOKEN_CONTENT_ENCODING, "zstd", false)) {
      refuse(req, in, 415, "unsupported Content-Encoding (zstd or identity)");
      return;
    }
    zstd = true;
  }
  ct__body_format_t fmt;
  if (body_format(req, in, &fmt) != 0)
    return;
  char msg[256] = "";
  int status = ct__body_read(&in->body, body, blen, fmt, zstd, s->max_body, msg, sizeof(msg));
  if (status != 0) {
    refuse(req, in, status, msg);
    return;
  }
  ct__body_t *b = &in->body;
  bool bad = b->njobs < b->nrec;
  if (b->njobs == 0 || (bad && query_flag(req, "all_or_nothing"))) {
    reply_summary(req, in, 422,
                  b->njobs == 0 ? "every record was rejected"
                                : "all_or_nothing: some records were rejected, none stored");
    ingest_free(in);
    return;
  }

  link_t *l = h2o_mem_alloc_shared(&req->pool, sizeof(*l), on_link_dispose);
  l->in = in;
  in->link = l;
  in->req = req;
  ct_job_t **jobs = b->jobs;
  size_t n = b->njobs;
  /* the engine owns the jobs and the array from here on */
  b->jobs = NULL;
  s->pending++;
  s->engine.enqueue(s->engine.ctx, jobs, n, on_enqueued, in);
}
