/* check-invoices: reads a record file the way `carteiro enqueue` does (record reader, decode,
 * normalize, validate) and fails unless it holds exactly COUNT jobs, every one valid. With a
 * second file, each job must also encode to the same protobuf bytes as the job at the same
 * place there: the .pbs and .jsonl outputs of one seed are the same jobs.
 *
 * usage: check-invoices FILE COUNT [SAME_AS_FILE]
 * Used by the gen_invoices_* tests (tests/unit/job/CMakeLists.txt).
 */
#include "common/error.h"
#include "job/job.h"
#include "job/record.h"
#include "job/validate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fixed clock: normalize fills created_at_ms only where it is 0, and the generator sets it. */
#define NOW_MS INT64_C(1796094000000)

static int failures;

static void report(const char *path, uint64_t record, const char *what) {
  if (failures++ < 10)
    fprintf(stderr, "check-invoices: %s:%" PRIu64 ": %s\n", path, record, what);
}

/* Reads the next job of `r` and returns its canonical protobuf encoding in *pb, or an error
 * (CT_EEOF at the end). */
static int next_job(ct_record_reader_t *r, const char *path, uint8_t **pb, size_t *pblen) {
  const uint8_t *data;
  size_t len;
  int rc = ct_record_next(r, &data, &len);
  if (rc != 0)
    return rc;
  uint64_t record = ct_record_number(r);
  ct_job_t *job = NULL;
  char err[256];
  rc = ct_record_format(r) == CT_FMT_JSONL
           ? ct_job_decode_json((const char *)data, len, &job, err, sizeof err)
           : ct_job_decode_pb(data, len, &job, err, sizeof err);
  if (rc != 0) {
    report(path, record, err);
    return rc;
  }
  rc = ct_job_normalize(job, NOW_MS);
  if (rc == 0) {
    ct_field_error_t errs[8];
    size_t n = 0;
    if (ct_job_validate(job, errs, 8, &n) != 0) {
      for (size_t i = 0; i < n && i < 8; i++)
        if (failures++ < 10)
          fprintf(stderr, "check-invoices: %s:%" PRIu64 ": %s: %s\n", path, record,
                  errs[i].field, errs[i].reason);
      rc = CT_EINVALID;
    }
  }
  if (rc == 0)
    rc = ct_job_encode_pb(job, pb, pblen);
  ct_job_free(job);
  return rc;
}

static ct_record_reader_t *open_or_die(const char *path) {
  ct_record_reader_t *r;
  int rc = ct_record_reader_open(&r, path, CT_FMT_AUTO);
  if (rc != 0) {
    fprintf(stderr, "check-invoices: %s: %s\n", path, ct_strerror(rc));
    exit(1);
  }
  return r;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fputs("usage: check-invoices FILE COUNT [SAME_AS_FILE]\n", stderr);
    return 2;
  }
  char *end;
  errno = 0;
  unsigned long long want = strtoull(argv[2], &end, 10);
  if (errno != 0 || *end != '\0' || argv[2][0] == '\0') {
    fprintf(stderr, "check-invoices: COUNT is not a number: %s\n", argv[2]);
    return 2;
  }
  ct_record_reader_t *r = open_or_die(argv[1]);
  ct_record_reader_t *same = argc == 4 ? open_or_die(argv[3]) : NULL;
  uint64_t jobs = 0;
  for (;;) {
    uint8_t *pb = NULL;
    size_t len = 0;
    int rc = next_job(r, argv[1], &pb, &len);
    if (rc == CT_EEOF)
      break;
    if (rc == CT_ETRUNCATED || rc == CT_EDECODE || rc == CT_EIO || rc == CT_ENOMEM) {
      report(argv[1], ct_record_number(r), ct_strerror(rc));
      break;
    }
    if (rc == 0)
      jobs++;
    if (rc == 0 && same != NULL) {
      uint8_t *other = NULL;
      size_t olen = 0;
      int orc = next_job(same, argv[3], &other, &olen);
      if (orc != 0)
        report(argv[3], ct_record_number(same), ct_strerror(orc));
      else if (olen != len || memcmp(other, pb, len) != 0)
        report(argv[1], ct_record_number(r), "differs from the job at the same place");
      free(other);
    }
    free(pb);
  }
  if (same != NULL) {
    const uint8_t *data;
    size_t len;
    if (ct_record_next(same, &data, &len) != CT_EEOF)
      report(argv[3], ct_record_number(same), "has more records");
    ct_record_reader_close(same);
  }
  ct_record_reader_close(r);
  if (jobs != want) {
    fprintf(stderr, "check-invoices: %s: %" PRIu64 " valid jobs, expected %llu\n", argv[1], jobs,
            want);
    failures++;
  }
  if (failures > 0)
    return 1;
  printf("check-invoices: %s: %" PRIu64 " valid jobs\n", argv[1], jobs);
  return 0;
}
