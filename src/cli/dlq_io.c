/* carteiro dlq export / import (see dlq_io.h).
 *
 * The file is a stream of carteiro.v1.DeadLetter messages (job, every attempt, reason,
 * dead_at) in the record framing of job/record.h, so the record reader's errors and record
 * numbers name the place where a file is bad. The progress of a dead job (the parts already
 * accepted) is not in the message: an imported dead letter, if replayed, sends everything.
 *
 * The messages are packed and unpacked here with the generated protobuf-c functions that
 * job/job.h exposes; job/ has codecs for whole jobs only.
 */
#include "cli/dlq_io.h"

#include "cli/cli.h"

#include "common/clock.h"
#include "common/error.h"
#include "job/record.h"
#include "job/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define IMPORT_BATCH 500
#define IMPORT_BATCH_BYTES ((size_t)32 << 20)
#define EXPORT_ZSTD_LEVEL 3
#define MAX_LISTED 10 /* duplicates named one by one; beyond this only counted */

static bool ends_with(const char *s, const char *suffix) {
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* export */

typedef struct {
  ct_record_writer_t *w;
  uint8_t *buf;
  size_t cap;
  uint64_t written, undecodable;
  int err; /* the write error that stopped the walk */
} export_t;

static int export_one(const ct_dlq_record_t *r, void *arg) {
  export_t *x = arg;
  if (r->job == NULL) {
    x->undecodable++;
    return 0;
  }
  ct_dead_letter_t dl = CARTEIRO__V1__DEAD_LETTER__INIT;
  dl.job = (ct_job_t *)r->job; /* pack only reads */
  dl.attempts = (ct_attempt_t **)r->attempts;
  dl.n_attempts = r->n_attempts;
  dl.reason = (char *)r->entry.reason;
  dl.dead_at_ms = r->entry.dead_at_ms;
  size_t need = carteiro__v1__dead_letter__get_packed_size(&dl);
  if (need > x->cap) {
    uint8_t *b = realloc(x->buf, need);
    if (b == NULL) {
      x->err = CT_ENOMEM;
      return x->err;
    }
    x->buf = b;
    x->cap = need;
  }
  size_t len = carteiro__v1__dead_letter__pack(&dl, x->buf);
  int rc = ct_record_write(x->w, x->buf, len);
  if (rc != 0) {
    x->err = rc;
    return rc;
  }
  x->written++;
  return 0;
}

int ct_cli_dlq_export(ct_spool_t *sp, const ct_dlq_filter_t *f, const char *path) {
  if (strcmp(path, "-") != 0 && !ends_with(path, ".pbs") && !ends_with(path, ".pbs.zst")) {
    ct_cli_error("dlq export", "%s: the file name must end in .pbs.zst (or .pbs)", path);
    return EX_USAGE;
  }
  export_t x = {0};
  int level = ends_with(path, ".zst") ? EXPORT_ZSTD_LEVEL : 0;
  int rc = ct_record_writer_open(&x.w, path, CT_FMT_PBS, level);
  if (rc != 0) {
    ct_cli_error("dlq export", "%s: %s", path, ct_strerror(rc));
    return ct_cli_exit_code(rc);
  }
  rc = ct_spool_dlq_read(sp, f, true, export_one, &x);
  int close_rc = ct_record_writer_close(x.w);
  free(x.buf);
  if (rc == 0)
    rc = close_rc;
  if (rc != 0) {
    ct_cli_error("dlq export", "%s: %s%s", path, ct_strerror(rc),
                 x.err != 0 ? " (while writing)" : " (while reading the spool)");
    if (strcmp(path, "-") != 0)
      unlink(path);
    return ct_cli_exit_code(rc);
  }
  printf("exported %llu dead letters to %s\n", (unsigned long long)x.written, path);
  if (x.undecodable > 0)
    printf("left out %llu dead letters whose stored job does not decode (reason undecodable)\n",
           (unsigned long long)x.undecodable);
  return 0;
}

/* import */

typedef struct {
  const char *path;
  ct_dead_letter_t *dls[IMPORT_BATCH];
  uint64_t records[IMPORT_BATCH];
  size_t n, bytes;
  uint64_t imported, present, refused;
} import_t;

static void refuse(import_t *im, uint64_t record, const char *why) {
  im->refused++;
  ct_cli_error("dlq import", "%s: record %llu: %s", im->path, (unsigned long long)record, why);
}

static void discard(import_t *im) {
  for (size_t i = 0; i < im->n; i++)
    carteiro__v1__dead_letter__free_unpacked(im->dls[i], NULL);
  im->n = 0;
  im->bytes = 0;
}

/* Stores the batch; whatever happens, it is released. */
static int flush(ct_spool_t *sp, import_t *im) {
  if (im->n == 0)
    return 0;
  int results[IMPORT_BATCH];
  int rc = ct_spool_dlq_import(sp, (const ct_dead_letter_t *const *)im->dls, im->n,
                               ct_now_ms(), results);
  for (size_t i = 0; rc == 0 && i < im->n; i++) {
    if (results[i] == 0) {
      im->imported++;
      continue;
    }
    im->present++;
    if (im->present <= MAX_LISTED)
      fprintf(stderr, "carteiro dlq import: %s: record %llu: job %s is already in this spool; "
                      "skipped\n",
              im->path, (unsigned long long)im->records[i], im->dls[i]->job->id);
  }
  discard(im);
  return rc;
}

/* Decodes and checks one record; NULL (reported) when it is refused. */
static ct_dead_letter_t *check(import_t *im, uint64_t record, const uint8_t *data, size_t len) {
  ct_dead_letter_t *dl = carteiro__v1__dead_letter__unpack(NULL, len, data);
  if (dl == NULL) {
    refuse(im, record, "not a valid carteiro.v1.DeadLetter protobuf message");
    return NULL;
  }
  char why[256];
  ct_field_error_t fe;
  size_t nerr = 0;
  if (dl->job == NULL) {
    refuse(im, record, "the dead letter has no job");
  } else if (ct_job_validate(dl->job, &fe, 1, &nerr) != 0) {
    snprintf(why, sizeof why, "job.%s: %s", fe.field, fe.reason);
    refuse(im, record, why);
  } else {
    return dl;
  }
  carteiro__v1__dead_letter__free_unpacked(dl, NULL);
  return NULL;
}

int ct_cli_dlq_import(ct_spool_t *sp, const char *path) {
  ct_record_reader_t *r;
  int rc = ct_record_reader_open(&r, path, CT_FMT_PBS);
  if (rc != 0) {
    ct_cli_error("dlq import", "%s: %s", path, ct_strerror(rc));
    return ct_cli_exit_code(rc);
  }
  import_t *im = calloc(1, sizeof *im);
  if (im == NULL) {
    ct_record_reader_close(r);
    ct_cli_error("dlq import", "%s", ct_strerror(CT_ENOMEM));
    return ct_cli_exit_code(CT_ENOMEM);
  }
  im->path = path;
  ct_progress_t bar;
  ct_progress_start(&bar, path, true);
  int spool_rc = 0;
  uint64_t records = 0;
  bool cut = false;
  for (;;) {
    const uint8_t *data;
    size_t len;
    rc = ct_record_next(r, &data, &len);
    if (rc == CT_EEOF)
      break;
    uint64_t record = ct_record_number(r);
    if (rc == CT_ETOOBIG) {
      refuse(im, record, "record is larger than 16 MiB");
      continue;
    }
    if (rc != 0) {
      refuse(im, record,
             rc == CT_ETRUNCATED ? "input ends inside this record (truncated file); "
                                   "nothing from it on was imported"
             : rc == CT_EDECODE  ? "corrupt input (bad compression or length prefix); "
                                   "nothing from it on was imported"
                                 : ct_strerror(rc));
      cut = true;
      break;
    }
    records++;
    ct_dead_letter_t *dl = check(im, record, data, len);
    if (dl != NULL) {
      im->dls[im->n] = dl;
      im->records[im->n] = record;
      im->n++;
      im->bytes += len;
      if (im->n == IMPORT_BATCH || im->bytes >= IMPORT_BATCH_BYTES) {
        spool_rc = flush(sp, im);
        if (spool_rc != 0)
          break;
      }
    }
    ct_progress_update(&bar, ct_record_bytes_read(r), ct_record_bytes_total(r), records);
  }
  if (spool_rc == 0)
    spool_rc = flush(sp, im);
  else
    discard(im);
  ct_progress_finish(&bar);
  ct_record_reader_close(r);
  int ex = 0;
  if (spool_rc != 0) {
    ct_cli_error("dlq import", "%s: %s (the batch being stored was not; earlier ones were)",
                 path, ct_strerror(spool_rc));
    ex = ct_cli_exit_code(spool_rc);
  }
  printf("imported %llu dead letters, %llu already present (skipped)",
         (unsigned long long)im->imported, (unsigned long long)im->present);
  if (im->refused > 0)
    printf(", %llu records refused", (unsigned long long)im->refused);
  printf("\n");
  if (ex == 0 && (im->refused > 0 || cut))
    ex = EX_DATAERR;
  free(im);
  return ex;
}
