/* Decoding the body of POST /v1/jobs into records (see body.h). */
#include "http/body.h"

#include "common/error.h"
#include "job/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

/* Validation errors reported per record: the validator orders them, the first is the most
 * telling, and the reply stays bounded. */
#define ERRORS_PER_RECORD 4

int ct__body_init(ct__body_t *b, int64_t now_ms)
{
  memset(b, 0, sizeof(*b));
  b->errors = json_array();
  if (b->errors == NULL)
    return CT_ENOMEM;
  b->now_ms = now_ms;
  return 0;
}

void ct__body_release(ct__body_t *b)
{
  for (size_t i = 0; i < b->nrec; i++)
    free(b->recs[i].id);
  free(b->recs);
  if (b->jobs != NULL) {
    for (size_t i = 0; i < b->njobs; i++)
      ct_job_free(b->jobs[i]);
    free(b->jobs);
  }
  free(b->slot);
  json_decref(b->errors);
  memset(b, 0, sizeof(*b));
}

void ct__body_add_error(ct__body_t *b, size_t index, const char *field, const char *reason)
{
  b->nerrors++;
  if (b->nerrors > CT__BODY_ERRORS_MAX)
    return;
  json_t *e = json_pack("{s:I, s:s, s:s}", "index", (json_int_t)index, "field", field, "reason",
                        reason);
  if (e == NULL || json_array_append_new(b->errors, e) != 0)
    b->oom = true;
}

/* A new record slot; false (and b->too_many) past the record limit. */
static bool new_record(ct__body_t *b, size_t *index)
{
  if (b->nrec == CT__HTTP_MAX_RECORDS) {
    b->too_many = true;
    return false;
  }
  if (b->nrec == b->reccap) {
    size_t cap = b->reccap != 0 ? b->reccap * 2 : 16;
    if (cap > CT__HTTP_MAX_RECORDS)
      cap = CT__HTTP_MAX_RECORDS;
    ct__rec_t *r = realloc(b->recs, cap * sizeof(*r));
    if (r != NULL)
      b->recs = r;
    ct_job_t **j = realloc(b->jobs, cap * sizeof(*j));
    if (j != NULL)
      b->jobs = j;
    size_t *sl = realloc(b->slot, cap * sizeof(*sl));
    if (sl != NULL)
      b->slot = sl;
    if (r == NULL || j == NULL || sl == NULL) {
      b->oom = true;
      return false;
    }
    b->reccap = cap;
  }
  *index = b->nrec;
  b->recs[b->nrec] = (ct__rec_t){.id = NULL, .id_truncated = false, .result = CT__REC_REJECTED};
  b->nrec++;
  return true;
}

/* Keeps the id of record `index` as a reply may repeat it: printable ASCII ('?' for any
 * other byte, so the reply is valid JSON whatever the id holds), at most CT__ECHO_MAX bytes. */
static void echo_id(ct__body_t *b, size_t index, const char *id)
{
  size_t n = strlen(id);
  bool cut = n > CT__ECHO_MAX;
  if (cut)
    n = CT__ECHO_MAX;
  char *copy = malloc(n + 1);
  if (copy == NULL) {
    b->oom = true;
    return;
  }
  for (size_t i = 0; i < n; i++)
    copy[i] = id[i] > ' ' && id[i] <= '~' ? id[i] : '?';
  copy[n] = '\0';
  b->recs[index].id = copy;
  b->recs[index].id_truncated = cut;
}

/* Normalizes and validates a decoded job (taking it), or records why it is refused. */
static void take_job(ct__body_t *b, size_t index, int rc, ct_job_t *job, const char *err)
{
  if (rc != 0) {
    if (rc == CT_ENOMEM)
      b->oom = true;
    ct__body_add_error(b, index, "", rc == CT_EDECODE && err[0] != '\0' ? err : ct_strerror(rc));
    return;
  }
  if (job->id != NULL && job->id[0] != '\0')
    echo_id(b, index, job->id);
  rc = ct_job_normalize(job, b->now_ms);
  if (rc != 0) {
    b->oom = true;
    ct_job_free(job);
    return;
  }
  ct_field_error_t errs[ERRORS_PER_RECORD];
  size_t nerr = 0;
  ct_job_validate(job, errs, ERRORS_PER_RECORD, &nerr);
  if (nerr > 0) {
    for (size_t i = 0; i < nerr && i < ERRORS_PER_RECORD; i++)
      ct__body_add_error(b, index, errs[i].field, errs[i].reason);
    ct_job_free(job);
    return;
  }
  b->jobs[b->njobs] = job;
  b->slot[b->njobs] = index;
  b->njobs++;
}

static void take_json(ct__body_t *b, const char *text, size_t len)
{
  size_t index;
  if (!new_record(b, &index))
    return;
  char err[256] = "";
  ct_job_t *job = NULL;
  int rc = ct_job_decode_json(text, len, &job, err, sizeof(err));
  take_job(b, index, rc, job, err);
}

static void take_pb(ct__body_t *b, const uint8_t *buf, size_t len)
{
  size_t index;
  if (!new_record(b, &index))
    return;
  char err[256] = "";
  ct_job_t *job = NULL;
  int rc = ct_job_decode_pb(buf, len, &job, err, sizeof(err));
  take_job(b, index, rc, job, err);
}

/* ---- framings ---- */

static bool is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* "<prefix>: <why, in our words>": the description `carteiro enqueue` gives too. */
static void not_json(const json_error_t *je, const char *prefix, char *msg, size_t cap)
{
  char why[160];
  ct_json_error_describe(je, why, sizeof(why));
  snprintf(msg, cap, "%s: %s", prefix, why);
}

/* A JSON array of objects: each element is written out again for the job decoder. */
static int read_json_array(ct__body_t *b, const char *p, size_t n, char *msg, size_t cap)
{
  json_error_t je;
  json_t *arr = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
  if (arr == NULL) {
    if (json_error_code(&je) == json_error_out_of_memory) {
      b->oom = true;
      return 0;
    }
    not_json(&je, "body is not JSON", msg, cap);
    return -1;
  }
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    if (b->too_many || b->oom)
      break;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
      b->oom = true;
      break;
    }
    take_json(b, text, strlen(text));
    free(text);
  }
  json_decref(arr);
  return 0;
}

/* JSON values one after another (JSON lines, or a single object). A value that does not
 * parse is a bad record, and reading resumes at the next line; when the very first one does
 * not parse, the body is not JSON. */
static int read_json_stream(ct__body_t *b, const char *p, size_t n, char *msg, size_t cap)
{
  size_t off = 0;
  bool first = true;
  while (!b->too_many && !b->oom) {
    while (off < n && is_space(p[off]))
      off++;
    if (off == n)
      break;
    if (first && p[off] == '[')
      return read_json_array(b, p + off, n - off, msg, cap);
    json_error_t je;
    json_t *v = json_loadb(p + off, n - off, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES,
                           &je);
    if (v == NULL) {
      if (json_error_code(&je) == json_error_out_of_memory) {
        b->oom = true;
        break;
      }
      if (first) {
        not_json(&je, "body is not JSON", msg, cap);
        return -1;
      }
      size_t index;
      if (!new_record(b, &index))
        break;
      char why[192];
      not_json(&je, "not JSON", why, sizeof(why));
      ct__body_add_error(b, index, "", why);
      size_t at = off + (je.position > 0 ? (size_t)je.position : 0);
      const char *nl = at < n ? memchr(p + at, '\n', n - at) : NULL;
      off = nl != NULL ? (size_t)(nl - p) + 1 : n;
    } else {
      json_decref(v);
      size_t used = (size_t)je.position; /* bytes read, set on success with EOF check off */
      take_json(b, p + off, used);
      off += used;
    }
    first = false;
  }
  return 0;
}

static int read_pb_delimited(ct__body_t *b, const uint8_t *p, size_t n, char *msg, size_t cap)
{
  size_t off = 0;
  while (off < n && !b->too_many && !b->oom) {
    uint64_t len = 0;
    unsigned shift = 0;
    bool done = false;
    while (off < n && shift < 64) {
      uint8_t c = p[off++];
      len |= (uint64_t)(c & 0x7f) << shift;
      shift += 7;
      if ((c & 0x80) == 0) {
        done = true;
        break;
      }
    }
    if (!done || len > n - off) {
      snprintf(msg, cap, "truncated length-delimited record at byte %zu", off);
      return -1;
    }
    take_pb(b, p + off, (size_t)len);
    off += (size_t)len;
  }
  return 0;
}

/* Decompresses a zstd body into a malloc'd buffer of at most `max` bytes, growing it as the
 * output comes, so a bomb costs at most max + 1 bytes however far it would inflate.
 * Returns 0, 413 (larger than max) or 400 (not zstd, or truncated); -1 out of memory. */
static int unzstd(const uint8_t *src, size_t n, size_t max, uint8_t **out, size_t *outlen)
{
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (dctx == NULL)
    return -1;
  /* a frame may ask for a window of up to 2 GiB; nothing we accept needs more than max */
  size_t wlog = 10;
  while (wlog < 31 && ((size_t)1 << wlog) < max)
    wlog++;
  ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, (int)wlog);
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
      rc = ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge ? 413 : 400;
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

int ct__body_read(ct__body_t *b, const uint8_t *body, size_t len, ct__body_format_t fmt,
                  bool zstd, size_t max_body, char *msg, size_t cap)
{
  uint8_t *plain = NULL;
  if (zstd) {
    size_t plen = 0;
    int zr = unzstd(body, len, max_body, &plain, &plen);
    if (zr != 0) {
      snprintf(msg, cap, "%s",
               zr == 413   ? "decompressed body larger than the limit"
               : zr == 400 ? "body is not valid zstd"
                           : "out of memory");
      return zr < 0 ? 500 : zr;
    }
    body = plain;
    len = plen;
  }
  int rr = 0;
  switch (fmt) {
  case CT__BODY_JSON:
    rr = read_json_stream(b, (const char *)body, len, msg, cap);
    break;
  case CT__BODY_PB_ONE:
    take_pb(b, body, len);
    break;
  case CT__BODY_PB_DELIMITED:
    rr = read_pb_delimited(b, body, len, msg, cap);
    break;
  }
  free(plain);
  if (b->oom) {
    snprintf(msg, cap, "out of memory");
    return 500;
  }
  if (b->too_many) {
    snprintf(msg, cap, "more than %d records in one request; split the batch",
             CT__HTTP_MAX_RECORDS);
    return 413;
  }
  if (rr != 0)
    return 400;
  if (b->nrec == 0) {
    snprintf(msg, cap, "no records in the body");
    return 400;
  }
  return 0;
}

/* ---- the reply ---- */

static const char *result_name(ct__rec_result_t r)
{
  switch (r) {
  case CT__REC_ACCEPTED:
    return "accepted";
  case CT__REC_DUPLICATE:
    return "duplicate";
  case CT__REC_REJECTED:
    break;
  }
  return "rejected";
}

static json_t *record_json(size_t index, const ct__rec_t *rec)
{
  json_t *r = json_pack("{s:I, s:s}", "index", (json_int_t)index, "result",
                        result_name(rec->result));
  if (r == NULL || rec->id == NULL)
    return r;
  if (json_object_set_new(r, "id", json_string(rec->id)) != 0 ||
      (rec->id_truncated && json_object_set_new(r, "id_truncated", json_true()) != 0)) {
    json_decref(r);
    return NULL;
  }
  return r;
}

json_t *ct__body_summary(const ct__body_t *b, const char *error)
{
  size_t counts[3] = {0, 0, 0};
  json_t *results = json_array();
  for (size_t i = 0; results != NULL && i < b->nrec; i++) {
    counts[b->recs[i].result]++;
    json_t *r = record_json(i, &b->recs[i]);
    if (r == NULL || json_array_append_new(results, r) != 0) {
      json_decref(results);
      results = NULL;
    }
  }
  if (results == NULL)
    return NULL;
  json_t *j = json_pack("{s:I, s:I, s:I, s:o, s:O}", "accepted",
                        (json_int_t)counts[CT__REC_ACCEPTED], "duplicates",
                        (json_int_t)counts[CT__REC_DUPLICATE], "rejected",
                        (json_int_t)counts[CT__REC_REJECTED], "results", results, "errors",
                        b->errors);
  if (j != NULL && b->nerrors > CT__BODY_ERRORS_MAX &&
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
