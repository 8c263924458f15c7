/* carteiro enqueue: validate files of jobs and store the good ones in the spool.
 *
 * Records stream through one batch at a time (at most --batch jobs or BATCH_BYTES of records),
 * so a file of millions of jobs needs no more memory than one batch. Each batch is one durable
 * spool transaction: when the command reports a job enqueued, it survives a power cut. A job
 * whose id is already in the spool is reported as a duplicate and not stored again, which also
 * makes re-running an interrupted import safe.
 *
 * --all-or-nothing reads each file twice: a first pass that only validates, and the storing
 * pass only when the first found no bad record. Standard input is copied to an unlinked
 * temporary file first so that it too can be read twice.
 */
#include "cli/cli.h"

#include "common/clock.h"
#include "common/error.h"
#include "job/record.h"
#include "job/validate.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define DEFAULT_BATCH 1000
#define MAX_BATCH 100000
#define BATCH_BYTES ((size_t)64 << 20)
/* Errors printed (or listed in --json) per file; the rest are only counted. */
#define MAX_LISTED_ERRORS 100

typedef struct {
  const char *spool_path;
  ct_record_format_t format;
  size_t batch;
  bool all_or_nothing;
  bool json;
  bool quiet;
} options_t;

typedef struct {
  const char *name; /* as given on the command line */
  uint64_t records;
  uint64_t enqueued;
  uint64_t duplicates;
  uint64_t rejected;
  uint64_t listed;  /* errors printed or put in `errors` */
  json_t *errors;   /* --json: [{record, field, reason}] */
  json_t *dups;     /* --json: [{record, id}] */
  bool fatal;       /* the file could not be read to its end */
  bool unopened;    /* the file could not be opened at all */
  int spool_error;  /* the spool error that stopped the command in this file, or 0 */
} report_t;

typedef struct {
  ct_job_t **jobs;
  uint64_t *records;
  int *results;
  size_t n;
  size_t bytes;
} batch_t;

static void usage(FILE *out) {
  fprintf(out,
          "usage: carteiro enqueue [options] FILE... (or - for standard input)\n\n"
          "Validates every record and stores the good jobs in the spool, in batches.\n"
          "Files are length-delimited protobuf (.pbs) or JSON lines (.jsonl), each optionally\n"
          "zstd-compressed (.zst); the format is taken from the name, else sniffed.\n\n"
          "options:\n"
          "  --spool PATH       spool file (default $CARTEIRO_SPOOL, else %s)\n"
          "  --format FMT       pbs or jsonl, whatever the file name says\n"
          "  --batch N          jobs per spool transaction (default %d)\n"
          "  --all-or-nothing   reject a whole file if any of its records is bad\n"
          "  --json             print one JSON report on stdout\n"
          "  --quiet            print only errors\n"
          "  --help             this text\n\n"
          "Exit status: 0 all records enqueued or duplicates; 65 some record was rejected;\n"
          "66 a file could not be opened; 75 the spool was busy; 74 a spool I/O error.\n\n"
          "Example:\n"
          "  carteiro enqueue --spool /var/lib/carteiro/spool.db jobs-2026-12.pbs.zst\n"
          "  gen-invoices --count 10 --format jsonl --out - | carteiro enqueue --json -\n",
          CT_CLI_DEFAULT_SPOOL, DEFAULT_BATCH);
}

/* Reports one bad record: printed (or added to the JSON list) while under the cap. */
static void reject(report_t *rep, const options_t *o, uint64_t record, const char *field,
                   const char *reason) {
  if (rep->listed >= MAX_LISTED_ERRORS)
    return;
  rep->listed++;
  if (o->json) {
    json_array_append_new(rep->errors, json_pack("{s:I, s:s, s:s}", "record",
                                                 (json_int_t)record, "field", field,
                                                 "reason", reason));
  } else if (field[0] != '\0') {
    fprintf(stderr, "carteiro enqueue: %s:%llu: %s: %s\n", rep->name,
            (unsigned long long)record, field, reason);
  } else {
    fprintf(stderr, "carteiro enqueue: %s:%llu: %s\n", rep->name, (unsigned long long)record,
            reason);
  }
}

/* Decodes, normalizes and validates one record. Returns the job, or NULL after reporting it
 * (and counting it as rejected). */
static ct_job_t *check_record(report_t *rep, const options_t *o, ct_record_format_t fmt,
                              uint64_t record, const uint8_t *data, size_t len, int64_t now) {
  char err[256] = "";
  ct_job_t *job = NULL;
  int rc = fmt == CT_FMT_JSONL
               ? ct_job_decode_json((const char *)data, len, &job, err, sizeof err)
               : ct_job_decode_pb(data, len, &job, err, sizeof err);
  if (rc != 0) {
    rep->rejected++;
    reject(rep, o, record, "", err[0] ? err : ct_strerror(rc));
    return NULL;
  }
  rc = ct_job_normalize(job, now);
  if (rc != 0) {
    rep->rejected++;
    reject(rep, o, record, "", ct_strerror(rc));
    ct_job_free(job);
    return NULL;
  }
  ct_field_error_t errs[8];
  size_t nerr = 0;
  if (ct_job_validate(job, errs, 8, &nerr) != 0) {
    rep->rejected++;
    for (size_t i = 0; i < nerr && i < 8; i++)
      reject(rep, o, record, errs[i].field, errs[i].reason);
    if (nerr > 8) {
      char more[64];
      snprintf(more, sizeof more, "and %zu more errors in this record", nerr - 8);
      reject(rep, o, record, "", more);
    }
    ct_job_free(job);
    return NULL;
  }
  return job;
}

static void batch_clear(batch_t *b) {
  for (size_t i = 0; i < b->n; i++)
    ct_job_free(b->jobs[i]);
  b->n = 0;
  b->bytes = 0;
}

/* Stores the batch in one transaction and accounts for each result. */
static int batch_flush(batch_t *b, ct_spool_t *sp, report_t *rep, const options_t *o) {
  if (b->n == 0)
    return 0;
  int rc = ct_spool_enqueue(sp, b->jobs, b->n, ct_now_ms(), b->results);
  if (rc != 0) {
    batch_clear(b);
    return rc;
  }
  for (size_t i = 0; i < b->n; i++) {
    if (b->results[i] == 0) {
      rep->enqueued++;
    } else {
      rep->duplicates++;
      if (o->json && json_array_size(rep->dups) < MAX_LISTED_ERRORS)
        json_array_append_new(rep->dups, json_pack("{s:I, s:s}", "record",
                                                   (json_int_t)b->records[i], "id",
                                                   b->jobs[i]->id));
    }
  }
  batch_clear(b);
  return 0;
}

/* One pass over a file. With `sp` NULL it only validates. Returns 0, or a spool error
 * (CT_E*) that stops the whole command; problems with the file itself end only that file and
 * are reported in `rep`. */
static int run_pass(const char *path, report_t *rep, const options_t *o, ct_spool_t *sp,
                    batch_t *b) {
  ct_record_reader_t *r;
  int rc = ct_record_reader_open(&r, path, o->format);
  if (rc != 0) {
    ct_cli_error("enqueue", "%s: %s", rep->name, ct_strerror(rc));
    rep->fatal = rep->unopened = true;
    return 0;
  }
  ct_progress_t bar;
  ct_progress_start(&bar, rep->name, !o->quiet && !o->json);
  int spool_rc = 0;
  for (;;) {
    const uint8_t *data;
    size_t len;
    rc = ct_record_next(r, &data, &len);
    if (rc == CT_EEOF)
      break;
    uint64_t record = ct_record_number(r);
    if (rc == CT_ETOOBIG) {
      rep->records++;
      rep->rejected++;
      reject(rep, o, record, "", "record is larger than 16 MiB");
      continue;
    }
    if (rc != 0) {
      rep->rejected++;
      reject(rep, o, record, "",
             rc == CT_ETRUNCATED ? "input ends inside this record (truncated file)"
             : rc == CT_EDECODE  ? "corrupt input (bad compression or length prefix); "
                                   "nothing after this point can be read"
                                 : ct_strerror(rc));
      rep->fatal = true;
      break;
    }
    rep->records++;
    ct_job_t *job = check_record(rep, o, ct_record_format(r), record, data, len, ct_now_ms());
    if (job != NULL && sp == NULL)
      ct_job_free(job);
    if (job != NULL && sp != NULL) {
      b->jobs[b->n] = job;
      b->records[b->n] = record;
      b->n++;
      b->bytes += len;
      if (b->n == o->batch || b->bytes >= BATCH_BYTES) {
        spool_rc = batch_flush(b, sp, rep, o);
        if (spool_rc != 0)
          break;
      }
    }
    ct_progress_update(&bar, ct_record_bytes_read(r), ct_record_bytes_total(r), rep->records);
  }
  if (spool_rc == 0 && sp != NULL)
    spool_rc = batch_flush(b, sp, rep, o);
  ct_progress_finish(&bar);
  ct_record_reader_close(r);
  return spool_rc;
}

/* Copies standard input to an unlinked temporary file and returns its /dev/fd path in `buf`,
 * so that --all-or-nothing can read it twice. */
static int spill_stdin(char *buf, size_t cap, FILE **keep) {
  FILE *tmp = tmpfile();
  if (tmp == NULL)
    return CT_EIO;
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
    if (fwrite(chunk, 1, n, tmp) != n) {
      fclose(tmp);
      return CT_EIO;
    }
  }
  if (ferror(stdin) || fflush(tmp) != 0) {
    fclose(tmp);
    return CT_EIO;
  }
  snprintf(buf, cap, "/dev/fd/%d", fileno(tmp));
  *keep = tmp;
  return 0;
}

static void report_reset(report_t *rep) {
  rep->records = rep->enqueued = rep->duplicates = rep->rejected = rep->listed = 0;
}

/* Handles one file; returns 0 or a spool error code that stops the command. */
static int enqueue_file(const char *arg, const options_t *o, ct_spool_t *sp, batch_t *b,
                        report_t *rep) {
  char spilled[64];
  FILE *keep = NULL;
  const char *path = arg;
  int rc;
  if (o->all_or_nothing && strcmp(arg, "-") == 0) {
    rc = spill_stdin(spilled, sizeof spilled, &keep);
    if (rc != 0) {
      ct_cli_error("enqueue", "cannot buffer standard input: %s", ct_strerror(rc));
      rep->fatal = true;
      return 0;
    }
    path = spilled;
  }
  if (o->all_or_nothing) {
    run_pass(path, rep, o, NULL, b);
    if (rep->fatal || rep->rejected > 0) {
      if (!o->json && !rep->unopened)
        ct_cli_error("enqueue", "%s: %llu bad records: whole file rejected (--all-or-nothing)",
                     rep->name, (unsigned long long)rep->rejected);
      if (keep != NULL)
        fclose(keep);
      return 0;
    }
    /* Errors are already listed; the storing pass counts everything afresh. */
    report_reset(rep);
  }
  rc = run_pass(path, rep, o, sp, b);
  if (keep != NULL)
    fclose(keep);
  return rc;
}

/* What stopped the command, for scripts: the cause, in words that need no errno table. */
static const char *spool_error_text(int rc) {
  return rc == CT_ENOSPC ? "spool disk full" : ct_strerror(rc);
}

static json_t *report_json(const report_t *rep, bool all_or_nothing) {
  bool refused = all_or_nothing && (rep->rejected > 0 || rep->fatal);
  json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:b, s:b, s:O, s:O}", "file", rep->name,
                        "records", (json_int_t)rep->records, "enqueued",
                        (json_int_t)rep->enqueued, "duplicates", (json_int_t)rep->duplicates,
                        "rejected", (json_int_t)rep->rejected, "complete",
                        !rep->fatal && rep->spool_error == 0, "file_rejected", refused,
                        "errors", rep->errors, "duplicate_ids", rep->dups);
  /* A file the spool stopped part-way is not complete, and says why. */
  if (j != NULL && rep->spool_error != 0)
    json_object_set_new(j, "error", json_string(spool_error_text(rep->spool_error)));
  return j;
}

static void report_print(const report_t *rep) {
  printf("%s: %llu records: %llu enqueued, %llu duplicates, %llu rejected%s\n", rep->name,
         (unsigned long long)rep->records, (unsigned long long)rep->enqueued,
         (unsigned long long)rep->duplicates, (unsigned long long)rep->rejected,
         rep->fatal ? " (file not read to the end)" : "");
  if (rep->listed >= MAX_LISTED_ERRORS && rep->rejected > rep->listed)
    printf("%s: only the first %d errors were shown\n", rep->name, MAX_LISTED_ERRORS);
}

int ct_cmd_enqueue(int argc, char **argv) {
  static const struct option longopts[] = {
      {"spool", required_argument, NULL, 's'},  {"format", required_argument, NULL, 'f'},
      {"batch", required_argument, NULL, 'b'},  {"all-or-nothing", no_argument, NULL, 'a'},
      {"json", no_argument, NULL, 'j'},         {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  options_t o = {.batch = DEFAULT_BATCH};
  const char *spool_flag = NULL;
  bool format_given = false;
  int c;
  argv[0] = "carteiro enqueue"; /* getopt names argv[0] in its messages */
  optind = 1;
  for (;;) {
    c = getopt_long(argc, argv, "", longopts, NULL);
    if (c == -1)
      break;
    switch (c) {
    case 's':
      spool_flag = optarg;
      break;
    case 'f':
      format_given = true;
      if (strcmp(optarg, "pbs") == 0) {
        o.format = CT_FMT_PBS;
      } else if (strcmp(optarg, "jsonl") == 0) {
        o.format = CT_FMT_JSONL;
      } else {
        ct_cli_error("enqueue", "--format: '%s' is not pbs or jsonl", optarg);
        return EX_USAGE;
      }
      break;
    case 'b': {
      uint64_t v;
      if (ct_cli_parse_count(optarg, MAX_BATCH, &v) != 0) {
        ct_cli_error("enqueue", "--batch: '%s' is not a number from 1 to %d", optarg,
                     MAX_BATCH);
        return EX_USAGE;
      }
      o.batch = (size_t)v;
      break;
    }
    case 'a':
      o.all_or_nothing = true;
      break;
    case 'j':
      o.json = true;
      break;
    case 'q':
      o.quiet = true;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return EX_USAGE;
    }
  }
  if (optind >= argc) {
    ct_cli_error("enqueue", "no input: name one or more files, or - for standard input");
    return EX_USAGE;
  }
  o.spool_path = ct_cli_spool_path(spool_flag);

  ct_spool_t *sp;
  int stopped_by = 0; /* the spool error that stopped the command */
  int ex = ct_cli_open_spool(o.spool_path, false, &sp);
  if (ex != 0)
    return ex;

  batch_t b = {.jobs = calloc(o.batch, sizeof *b.jobs),
               .records = calloc(o.batch, sizeof *b.records),
               .results = calloc(o.batch, sizeof *b.results)};
  json_t *files = json_array();
  if (b.jobs == NULL || b.records == NULL || b.results == NULL || files == NULL) {
    ct_cli_error("enqueue", "out of memory");
    ex = EX_OSERR;
    goto out;
  }

  bool any_rejected = false, any_missing = false;
  for (int i = optind; i < argc; i++) {
    report_t rep = {.name = argv[i], .errors = json_array(), .dups = json_array()};
    o.format = format_given ? o.format : ct_record_format_from_name(argv[i]);
    int rc = enqueue_file(argv[i], &o, sp, &b, &rep);
    rep.spool_error = rc;
    if (rep.unopened)
      any_missing = true;
    else if (rep.rejected > 0 || rep.fatal)
      any_rejected = true;
    if (o.json)
      json_array_append_new(files, report_json(&rep, o.all_or_nothing));
    else if (!o.quiet || rep.rejected > 0)
      report_print(&rep);
    json_decref(rep.errors);
    json_decref(rep.dups);
    if (rc != 0) {
      ct_cli_error("enqueue",
                   "spool %s: %s; %llu jobs of %s were stored before this (re-running is safe: "
                   "they will be reported as duplicates)",
                   o.spool_path, ct_strerror(rc), (unsigned long long)rep.enqueued, argv[i]);
      ex = ct_cli_exit_code(rc);
      stopped_by = rc;
      goto out;
    }
  }
  ex = any_missing ? EX_NOINPUT : any_rejected ? EX_DATAERR : 0;

out:
  if (o.json && files != NULL) {
    json_t *doc = json_pack("{s:O}", "files", files);
    if (doc != NULL && stopped_by != 0)
      json_object_set_new(doc, "error", json_string(spool_error_text(stopped_by)));
    ct_cli_print_json(doc, false);
  }
  json_decref(files);
  free(b.jobs);
  free(b.records);
  free(b.results);
  ct_spool_close(sp);
  return ex;
}
