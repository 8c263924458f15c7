/* Fuzzes the body of POST /v1/jobs as the HTTP API reads it (src/http/body.c): zstd, the
 * JSON framings (an object, an array, JSON lines) and the protobuf ones (one Job, a
 * varint-delimited batch), each record decoded, normalized and validated, then the reply.
 *
 * The first byte picks what the headers would have said: bits 0-1 the framing (JSON, one
 * protobuf Job, delimited protobuf; 3 is JSON too), bit 2 Content-Encoding: zstd. The rest is
 * the body. The server's limit is 64 KiB here, so that decompression and the 413 path are
 * reached without a large input.
 *
 * What must hold, whatever the body:
 *   - the answer is a status the handler knows (0, 400, 413, 500), with a message for every
 *     refusal; a 400 or 413 message is one of the fixed texts or the JSON description;
 *   - with records, every record is accounted for: good ones are jobs, bad ones have at least
 *     one error (while under the error cap), and no more than the record limit;
 *   - the reply is valid JSON of bounded size: each echoed id is printable ASCII of at most
 *     128 bytes, and error fields and reasons are printable ASCII, under 256 bytes, and never
 *     hold 8 or more input bytes in a row that are digits (no CPF, phone or card number
 *     echoed from the input);
 *   - the decoded jobs survive the protobuf round trip (they go to the spool as protobuf).
 */
#include "http/body.h"

#include "common/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BODY (64 * 1024)

static bool printable(const char *s, size_t max)
{
  size_t n = 0;
  for (; s[n] != '\0'; n++)
    if (s[n] < ' ' || s[n] > '~')
      return false;
  return n <= max;
}

/* True when `s` holds a run of 8 or more digits: the error texts have none (a column number
 * has at most 8 only past 10^7 characters, beyond the 64 KiB body). */
static bool long_digit_run(const char *s)
{
  size_t run = 0;
  for (; *s != '\0'; s++) {
    run = *s >= '0' && *s <= '9' ? run + 1 : 0;
    if (run >= 8)
      return true;
  }
  return false;
}

static void check_reply(const ct__body_t *b)
{
  json_t *j = ct__body_summary(b, NULL);
  if (j == NULL)
    abort();
  json_t *results = json_object_get(j, "results");
  if (json_array_size(results) != b->nrec)
    abort();
  size_t i;
  json_t *r;
  json_array_foreach(results, i, r) {
    json_t *id = json_object_get(r, "id");
    if (id != NULL && !printable(json_string_value(id), CT__ECHO_MAX))
      abort();
    if ((json_object_get(r, "id_truncated") != NULL) != b->recs[i].id_truncated)
      abort();
  }
  json_t *e;
  json_array_foreach(json_object_get(j, "errors"), i, e) {
    const char *field = json_string_value(json_object_get(e, "field"));
    const char *reason = json_string_value(json_object_get(e, "reason"));
    if (field == NULL || reason == NULL || !printable(field, 255) || !printable(reason, 255) ||
        long_digit_run(field) || long_digit_run(reason))
      abort();
  }
  char *text = json_dumps(j, JSON_COMPACT);
  if (text == NULL)
    abort();
  /* bounded: per record an index, a result, an id; per error a field and a reason */
  if (strlen(text) > 256 + b->nrec * (64 + 2 * CT__ECHO_MAX) + CT__BODY_ERRORS_MAX * 600)
    abort();
  free(text);
  json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  static const ct__body_format_t formats[4] = {CT__BODY_JSON, CT__BODY_PB_ONE,
                                               CT__BODY_PB_DELIMITED, CT__BODY_JSON};
  ct__body_format_t fmt = formats[data[0] & 3];
  bool zstd = (data[0] & 4) != 0;
  data++;
  size--;
  if (size > MAX_BODY)
    return 0; /* the server refuses it before decoding */

  ct__body_t b;
  if (ct__body_init(&b, 1796040000000) != 0)
    abort();
  char msg[256] = "";
  int status = ct__body_read(&b, data, size, fmt, zstd, MAX_BODY, msg, sizeof(msg));
  if (status != 0 && status != 400 && status != 413 && status != 500)
    abort();
  if (status != 0) {
    if (msg[0] == '\0' || !printable(msg, 255) || long_digit_run(msg))
      abort();
    ct__body_release(&b);
    return 0;
  }
  if (b.nrec == 0 || b.nrec > CT__HTTP_MAX_RECORDS || b.njobs > b.nrec)
    abort();
  /* a record is either a job or has an error */
  if (b.nerrors < b.nrec - b.njobs)
    abort();
  for (size_t i = 0; i < b.njobs; i++) {
    if (b.slot[i] >= b.nrec || (i > 0 && b.slot[i] <= b.slot[i - 1]))
      abort();
    uint8_t *pb;
    size_t len;
    if (ct_job_encode_pb(b.jobs[i], &pb, &len) != 0)
      abort();
    ct_job_t *again;
    char err[256];
    if (ct_job_decode_pb(pb, len, &again, err, sizeof(err)) != 0)
      abort();
    ct_job_free(again);
    free(pb);
  }
  check_reply(&b);
  ct__body_release(&b);
  return 0;
}
