/* The body of POST /v1/jobs, decoded into records, without h2o: the part of ingest that reads
 * what a client sent, kept apart from the request handling so that it can be fuzzed
 * (tests/fuzz/fuzz_http_body.c) and reasoned about on its own. Internal to the http module.
 *
 * A body is one of three framings (chosen by the handler from Content-Type and
 * X-Carteiro-Batch), optionally zstd-compressed:
 *   CT__BODY_JSON           one JSON object, a JSON array of objects, or JSON lines;
 *   CT__BODY_PB_ONE         one protobuf Job;
 *   CT__BODY_PB_DELIMITED   Jobs, each preceded by its length as a varint (.pbs).
 * Each record is decoded, normalized and validated: a good one becomes a job for the engine,
 * a bad one an entry {index, field, reason} in `errors`. Nothing in a reply repeats the input
 * except a record's id, which the client needs to match results to records; an id is echoed
 * only as printable ASCII and at most CT__ECHO_MAX bytes (a longer one is cut to that and
 * flagged "id_truncated"), so a reply stays bounded whatever a client sends. */
#ifndef CT_HTTP_BODY_H
#define CT_HTTP_BODY_H

#include "job/job.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Requests with more records are refused whole (413): the reply lists every record, and
 * one request should not hold the loop for long. */
#define CT__HTTP_MAX_RECORDS 10000

/* The most bytes of an id a reply repeats: the longest id the validator accepts. */
#define CT__ECHO_MAX 128

typedef enum { CT__BODY_JSON, CT__BODY_PB_ONE, CT__BODY_PB_DELIMITED } ct__body_format_t;

typedef enum { CT__REC_REJECTED, CT__REC_ACCEPTED, CT__REC_DUPLICATE } ct__rec_result_t;

typedef struct {
  char *id; /* as echoed (see above); NULL when the record had none or did not decode */
  bool id_truncated;
  ct__rec_result_t result;
} ct__rec_t;

typedef struct {
  ct__rec_t *recs;
  size_t nrec, reccap;
  ct_job_t **jobs; /* good records, normalized and validated; jobs[i] is record slot[i] */
  size_t *slot;
  size_t njobs;
  json_t *errors;  /* [{index, field, reason}], the first CT__BODY_ERRORS_MAX */
  size_t nerrors;  /* including the ones left out */
  int64_t now_ms;
  bool too_many;
  bool oom;
} ct__body_t;

#define CT__BODY_ERRORS_MAX 1000

/* Prepares an empty body. Returns 0 or CT_ENOMEM. */
int ct__body_init(ct__body_t *b, int64_t now_ms);

/* Frees what the body still owns (jobs not taken by the engine: set b->jobs to NULL after
 * handing them over). */
void ct__body_release(ct__body_t *b);

/* Adds {index, field, reason} to the errors (counted always, listed up to the cap). */
void ct__body_add_error(ct__body_t *b, size_t index, const char *field, const char *reason);

/* Decodes `len` bytes (zstd-compressed when `zstd`; at most `max_body` bytes once
 * decompressed) in framing `fmt` into records. Returns 0 when there is at least one record
 * (good or bad), else the HTTP status to refuse the whole request with, and why in `msg`:
 * 400 (not zstd, not JSON, broken framing, no records), 413 (decompressed over max_body,
 * more than CT__HTTP_MAX_RECORDS records), 500 (out of memory). `msg` never repeats the
 * input. */
int ct__body_read(ct__body_t *b, const uint8_t *body, size_t len, ct__body_format_t fmt,
                  bool zstd, size_t max_body, char *msg, size_t cap);

/* The reply's JSON: counts by result, one {index, result, id[, id_truncated]} per record,
 * the errors, "errors_truncated" past the cap and "error" when `error` is not NULL. A new
 * reference, or NULL when out of memory. */
json_t *ct__body_summary(const ct__body_t *b, const char *error);

#endif
