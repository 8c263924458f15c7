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
 * The request may outlive its client: h2o frees the request's pool when the client goes
 * away, while the engine still holds our done callback. So the request's state (ingest_t)
 * is malloc'd, and a small link object in the pool, with a dispose hook, tells it that the
 * request is gone; the done callback then frees the state without answering.
 */
#include "http/http_int.h"

#include "common/clock.h"
#include "common/error.h"
#include "job/validate.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* Validation errors reported per record (the validator orders them, the first is the most
 * telling) and per request, so that the reply stays bounded. */
#define ERRORS_PER_RECORD 4
#define ERRORS_MAX 1000
#define RETRY_AFTER_ENGINE_S 5

typedef enum { RES_REJECTED, RES_ACCEPTED, RES_DUPLICATE } result_t;

typedef struct {
  char *id; /* NULL when the record could not be decoded */
  result_t result;
} rec_t;

typedef struct ingest ingest_t;

typedef struct {
  ingest_t *in; /* NULL once the engine called back */
} link_t;

struct ingest {
  ct_http_server_t *server;
  h2o_req_t *req; /* NULL once h2o disposed of the request (the client went away) */
  link_t *link;
  rec_t *recs;
  size_t nrec, reccap;
  ct_job_t **jobs; /* handed to the engine, which then owns them */
  size_t *slot;    /* jobs[i] is record slot[i] */
  size_t njobs;
  json_t *errors;
  size_t nerrors; /* including the ones left out past ERRORS_MAX */
  int64_t now_ms;
  bool too_many;
  bool oom;
};

/* ---- the request's state ---- */

static void ingest_free(ingest_t *in)
{
  for (size_t i = 0; i < in->nrec; i++)
    free(in->recs[i].id);
  free(in->recs);
  if (in->jobs != NULL) {
    for (size_t i = 0; i < in->njobs; i++)
      ct_job_free(in->jobs[i]);
    free(in->jobs);
  }
  free(in->slot);
  json_decref(in->errors);
  free(in);
}

static void add_error(ingest_t *in, size_t index, const char *field, const char *reason)
{
  in->nerrors++;
  if (in->nerrors > ERRORS_MAX)
    return;
  json_t *e = json_pack("{s:I, s:s, s:s}", "index", (json_int_t)index, "field", field, "reason",
                        reason);
  if (e == NULL || json_array_append_new(in->errors, e) != 0)
    in->oom = true;
}

/* A new record slot; false (and in->too_many) past the record limit. */
static bool new_record(ingest_t *in, size_t *index)
{
  if (in->nrec == CT__HTTP_MAX_RECORDS) {
    in->too_many = true;
    return false;
  }
  if (in->nrec == in->reccap) {
    size_t cap = in->reccap != 0 ? in->reccap * 2 : 16;
    if (cap > CT__HTTP_MAX_RECORDS)
      cap = CT__HTTP_MAX_RECORDS;
    rec_t *r = realloc(in->recs, cap * sizeof(*r));
    ct_job_t **j = realloc(in->jobs, cap * sizeof(*j));
    if (j != NULL)
      in->jobs = j;
    size_t *sl = realloc(in->slot, cap * sizeof(*sl));
    if (sl != NULL)
      in->slot = sl;
    if (r != NULL)
      in->recs = r;
    if (r == NULL || j == NULL || sl == NULL) {
      in->oom = true;
      return false;
    }
    in->reccap = cap;
  }
  *index = in->nrec;
  in->recs[in->nrec].id = NULL;
  in->recs[in->nrec].result = RES_REJECTED;
  in->nrec++;
  return true;
}

/* Normalizes and validates a decoded job (taking it), or records why it is refused. */
static void take_job(ingest_t *in, size_t index, int rc, ct_job_t *job, const char *err)
{
  if (rc != 0) {
    if (rc == CT_ENOMEM)
      in->oom = true;
    add_error(in, index, "", rc == CT_EDECODE && err[0] != '\0' ? err : ct_strerror(rc));
    return;
  }
  if (job->id != NULL && job->id[0] != '\0') {
    in->recs[index].id = strdup(job->id);
    if (in->recs[index].id == NULL)
      in->oom = true;
  }
  rc = ct_job_normalize(job, in->now_ms);
  if (rc != 0) {
    in->oom = true;
    ct_job_free(job);
    return;
  }
  ct_field_error_t errs[ERRORS_PER_RECORD];
  size_t nerr = 0;
  ct_job_validate(job, errs, ERRORS_PER_RECORD, &nerr);
  if (nerr > 0) {
    for (size_t i = 0; i < nerr && i < ERRORS_PER_RECORD; i++)
      add_error(in, index, errs[i].field, errs[i].reason);
    ct_job_free(job);
    return;
  }
  in->jobs[in->njobs] = job;
  in->slot[in->njobs] = index;
  in->njobs++;
}

static void take_json(ingest_t *in, const char *text, size_t len)
{
  size_t index;
  if (!new_record(in, &index))
    return;
  char err[256] = "";
  ct_job_t *job = NULL;
  int rc = ct_job_decode_json(text, len, &job, err, sizeof(err));
  take_job(in, index, rc, job, err);
}

static void take_pb(ingest_t *in, const uint8_t *buf, size_t len)
{
  size_t index;
  if (!new_record(in, &index))
    return;
  char err[256] = "";
  ct_job_t *job = NULL;
  int rc = ct_job_decode_pb(buf, len, &job, err, sizeof(err));
  take_job(in, index, rc, job, err);
}

/* ---- body formats ---- */

static bool is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A JSON array of objects: each element is written out again for the job decoder. */
static int read_json_array(ingest_t *in, const char *p, size_t n, char *msg, size_t cap)
{
  json_error_t je;
  json_t *arr = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
  if (arr == NULL || !json_is_array(arr)) {
    /* line and column only: jansson's text quotes the body, which may hold personal data */
    snprintf(msg, cap, "body is not JSON (line %d, column %d)", je.line, je.column);
    json_decref(arr);
    return -1;
  }
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    if (in->too_many || in->oom)
      break;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
      in->oom = true;
      break;
    }
    take_json(in, text, strlen(text));
    free(text);
  }
  json_decref(arr);
  return 0;
}

/* JSON values one after another (JSON lines, or a single object). A value that does not
 * parse is a bad record, and reading resumes at the next line; when the very first one does
 * not parse, the body is not JSON. */
static int read_json_stream(ingest_t *in, const char *p, size_t n, char *msg, size_t cap)
{
  size_t off = 0;
  bool first = true;
  while (!in->too_many && !in->oom) {
    while (off < n && is_space(p[off]))
      off++;
    if (off == n)
      break;
    if (first && p[off] == '[')
      return read_json_array(in, p + off, n - off, msg, cap);
    json_error_t je;
    json_t *v = json_loadb(p + off, n - off, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES,
                           &je);
    if (v == NULL) {
      if (first) {
        snprintf(msg, cap, "body is not JSON (line %d, column %d)", je.line, je.column);
        return -1;
      }
      size_t index;
      if (!new_record(in, &index))
        break;
      add_error(in, index, "", "not JSON");
      size_t at = off + (je.position > 0 ? (size_t)je.position : 0);
      const char *nl = at < n ? memchr(p + at, '\n', n - at) : NULL;
      off = nl != NULL ? (size_t)(nl - p) + 1 : n;
    } else {
      json_decref(v);
      size_t used = (size_t)je.position; /* bytes read, set on success with EOF check off */
      take_json(in, p + off, used);
      off += used;
    }
    first = false;
  }
  return 0;
}

static int read_pb_delimited(ingest_t *in, const uint8_t *p, size_t n, char *msg, size_t cap)
{
  size_t off = 0;
  while (off < n && !in->too_many && !in->oom) {
    uint64_t len = 0;
    unsigned shift = 0;
    bool done = false;
    while (off < n && shift < 64) {
      uint8_t b = p[off++];
      len |= (uint64_t)(b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) == 0) {
        done = true;
        break;
      }
    }
    if (!done || len > n - off) {
      snprintf(msg, cap, "truncated length-delimited record at byte %zu", off);
      return -1;
    }
    take_pb(in, p + off, (size_t)len);
    off += (size_t)len;
  }
  return 0;
}

/* Decompresses a zstd body into a malloc'd buffer of at most `max` bytes.
 * Returns 0, 413 (larger than max) or 400 (not zstd, or truncated); -1 out of memory. */
static int unzstd(const uint8_t *src, size_t n, size_t max, uint8_t **out, size_t *outlen)
{
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (dctx == NULL)
    return -1;
  size_t cap = n * 4 < 65536 ? 65536 : n * 4;
  /* one byte past the limit, so that "exactly max" and "more than max" differ */
  if (cap > max + 1)
    cap = max + 1;
  uint8_t *buf = malloc(cap);
  int rc = buf != NULL ? 0 : -1;
  ZSTD_inBuffer ib = {src, n, 0};
  ZSTD_outBuffer ob = {buf, cap, 0};
  size_t r = 1;
  while (rc == 0) {
    r = ZSTD_decompressStream(dctx, &ob, &ib);
    if (ZSTD_isError(r)) {
      rc = 400;
      break;
    }
    if (ob.pos > max) {
      rc = 413;
      break;
    }
    if (ib.pos == ib.size && ob.pos < ob.size)
      break; /* all input read and zstd had room: everything that can come out is out */
    if (ob.pos == ob.size) {
      size_t ncap = ob.size * 2 > max + 1 ? max + 1 : ob.size * 2;
      uint8_t *nb = realloc(ob.dst, ncap);
      if (nb == NULL) {
        rc = -1;
        break;
      }
      ob.dst = nb;
      ob.size = ncap;
    }
  }
  if (rc == 0 && r != 0)
    rc = 400; /* the last frame is incomplete */
  ZSTD_freeDCtx(dctx);
  if (rc != 0) {
    free(ob.dst);
    return rc;
  }
  *out = ob.dst;
  *outlen = ob.pos;
  return 0;
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

static const char *result_name(result_t r)
{
  switch (r) {
  case RES_ACCEPTED:
    return "accepted";
  case RES_DUPLICATE:
    return "duplicate";
  case RES_REJECTED:
    break;
  }
  return "rejected";
}

/* The summary every outcome with records shares: counts, one result per record, errors. */
static json_t *summary(ingest_t *in, const char *error)
{
  size_t counts[3] = {0, 0, 0};
  json_t *results = json_array();
  for (size_t i = 0; results != NULL && i < in->nrec; i++) {
    counts[in->recs[i].result]++;
    json_t *r = json_pack("{s:I, s:s}", "index", (json_int_t)i, "result",
                          result_name(in->recs[i].result));
    if (r != NULL && in->recs[i].id != NULL &&
        json_object_set_new(r, "id", json_string(in->recs[i].id)) != 0) {
      json_decref(r);
      r = NULL;
    }
    if (r == NULL || json_array_append_new(results, r) != 0) {
      json_decref(results);
      results = NULL;
    }
  }
  if (results == NULL)
    return NULL;
  json_t *j = json_pack("{s:I, s:I, s:I, s:o, s:O}", "accepted", (json_int_t)counts[RES_ACCEPTED],
                        "duplicates", (json_int_t)counts[RES_DUPLICATE], "rejected",
                        (json_int_t)counts[RES_REJECTED], "results", results, "errors",
                        in->errors);
  if (j != NULL && in->nerrors > ERRORS_MAX &&
      json_object_set_new(j, "errors_truncated", json_true()) != 0) {
    json_decref(j);
    return NULL;
  }
  if (j != NULL && error != NULL && json_object_set_new(j, "error", json_string(error)) != 0) {
    json_decref(j);
    return NULL;
  }
  return j;
}

static void reply_summary(h2o_req_t *req, ingest_t *in, int status, const char *error)
{
  /* Counted as the client is told, so the metrics and the answers agree. */
  const ct_http_engine_t *e = &in->server->engine;
  size_t rejected = 0;
  for (size_t i = 0; i < in->nrec; i++)
    rejected += in->recs[i].result == RES_REJECTED;
  in->server->rejected += rejected;
  if (rejected > 0 && e->rejected != NULL)
    e->rejected(e->ctx, rejected);
  json_t *j = summary(in, error);
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
  for (size_t i = 0; i < in->njobs; i++) {
    size_t idx = in->slot[i];
    if (results[i] == 0) {
      in->recs[idx].result = RES_ACCEPTED;
    } else if (results[i] == CT_EDUPLICATE) {
      in->recs[idx].result = RES_DUPLICATE;
    } else {
      in->recs[idx].result = RES_REJECTED;
      add_error(in, idx, "", ct_strerror(results[i]));
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
  json_t *errors = json_array();
  if (in == NULL || errors == NULL) {
    json_decref(errors);
    free(in);
    ct__http_send_error(req, 500, "out of memory");
    return;
  }
  in->errors = errors;
  in->server = s;
  in->now_ms = ct_now_ms();

  uint8_t *plain = NULL;
  if (h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_ENCODING, -1) >= 0 &&
      !header_is(req, H2O_TOKEN_CONTENT_ENCODING, "identity", false)) {
    if (!header_is(req, H2O_TOKEN_CONTENT_ENCODING, "zstd", false)) {
      refuse(req, in, 415, "unsupported Content-Encoding (zstd or identity)");
      return;
    }
    size_t plen = 0;
    int zr = unzstd(body, blen, s->max_body, &plain, &plen);
    if (zr != 0) {
      refuse(req, in, zr < 0 ? 500 : zr,
             zr == 413 ? "decompressed body larger than the limit"
             : zr == 400 ? "body is not valid zstd" : "out of memory");
      return;
    }
    body = plain;
    blen = plen;
  }

  char msg[160] = "";
  int rr;
  if (header_is(req, H2O_TOKEN_CONTENT_TYPE, "application/json", true) ||
      header_is(req, H2O_TOKEN_CONTENT_TYPE, "application/x-ndjson", true)) {
    rr = read_json_stream(in, (const char *)body, blen, msg, sizeof(msg));
  } else if (header_is(req, H2O_TOKEN_CONTENT_TYPE, "application/x-protobuf", true)) {
    ssize_t bi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-carteiro-batch"), -1);
    if (bi < 0) {
      take_pb(in, body, blen);
      rr = 0;
    } else if (h2o_lcstris(req->headers.entries[bi].value.base, req->headers.entries[bi].value.len,
                           H2O_STRLIT("delimited"))) {
      rr = read_pb_delimited(in, body, blen, msg, sizeof(msg));
    } else {
      free(plain);
      refuse(req, in, 400, "X-Carteiro-Batch: the only framing is \"delimited\" (varint "
                           "length before each Job); without the header the body is one Job");
      return;
    }
  } else {
    free(plain);
    refuse(req, in, 415, "Content-Type must be application/json, application/x-ndjson or "
                         "application/x-protobuf");
    return;
  }
  free(plain);

  if (in->oom) {
    refuse(req, in, 500, "out of memory");
    return;
  }
  if (in->too_many) {
    snprintf(msg, sizeof(msg), "more than %d records in one request; split the batch",
             CT__HTTP_MAX_RECORDS);
    refuse(req, in, 413, msg);
    return;
  }
  if (rr != 0) {
    refuse(req, in, 400, msg);
    return;
  }
  if (in->nrec == 0) {
    refuse(req, in, 400, "no records in the body");
    return;
  }
  bool bad = in->njobs < in->nrec;
  if (in->njobs == 0 || (bad && query_flag(req, "all_or_nothing"))) {
    reply_summary(req, in, 422,
                  in->njobs == 0 ? "every record was rejected"
                                 : "all_or_nothing: some records were rejected, none stored");
    ingest_free(in);
    return;
  }

  link_t *l = h2o_mem_alloc_shared(&req->pool, sizeof(*l), on_link_dispose);
  l->in = in;
  in->link = l;
  in->req = req;
  ct_job_t **jobs = in->jobs;
  size_t n = in->njobs;
  /* the engine owns the jobs and the array from here on */
  in->jobs = NULL;
  s->pending++;
  s->engine.enqueue(s->engine.ctx, jobs, n, on_enqueued, in);
}
