/* spool_bench: throughput of the durable spool (src/spool) on its SQLite backend.
 *
 * For each batch size it measures, on a fresh spool file:
 *   enqueue   N jobs, `batch` per ct_spool_enqueue (one fsynced transaction each)
 *   take      the same N, `batch` per ct_spool_take (timed alone)
 *   ack       each taken batch, one ct_spool_settle with an attempt and a receipt per job
 *   cycle     fresh jobs through enqueue + take + ack, `batch` at a time
 *   bytes/job the spool file after a checkpoint, per READY job (after enqueue) and per
 *             DELIVERED job (job + receipt + one attempt, after everything)
 * and, once, what leases held in memory cost a take of 1,000 (the take query steps over
 * leased rows).
 *
 * Jobs are realistic and synthetic: a WhatsApp+SMS invoice with recipient, a 47-digit
 * barcode line and a document path, about 330 bytes encoded.
 *
 * Usage: spool_bench [--dir DIR] [--runs R] [--scale F]
 *   --dir    where the temporary spool files go (default /tmp)
 *   --runs   repeat everything R times and print the median of each figure (default 3)
 *   --scale  multiply the job counts (default 1; 0.1 for a quick look)
 */
#include "common/clock.h"
#include "common/error.h"
#include "job/job.h"
#include "spool/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RUNS 9
#define MAX_BATCH 1000

static const size_t batches[] = {1, 100, 1000};
/* Jobs per phase for each batch size: one job per transaction is fsync-bound (~1k/s). */
static const size_t base_jobs[] = {2000, 50000, 200000};
#define N_BATCHES (sizeof batches / sizeof batches[0])

enum { ENQ, TAKE, ACK, CYCLE, READY_BYTES, DONE_BYTES, N_FIG };
static const char *const fig_names[N_FIG] = {"enqueue jobs/s", "take jobs/s",
                                             "ack jobs/s",     "full cycles/s",
                                             "bytes/job ready", "bytes/job delivered"};

static const char *dir = "/tmp";

static void die(const char *what, int rc) {
  fprintf(stderr, "spool_bench: %s: %s\n", what, ct_strerror(rc));
  exit(1);
}

/* A realistic invoice job (synthetic data). Strings point at static storage and at `id`,
 * so the job is never passed to ct_job_free. */
typedef struct {
  ct_job_t job;
  ct_recipient_t recipient;
  ct_delivery_t delivery;
  ct_delivery_t *deliveries[1];
  Carteiro__V1__Channel channels[2];
  ct_invoice_t invoice;
  ct_document_t document;
  char id[40];
} bench_job_t;

static void job_init(bench_job_t *b) {
  carteiro__v1__job__init(&b->job);
  carteiro__v1__recipient__init(&b->recipient);
  carteiro__v1__delivery__init(&b->delivery);
  carteiro__v1__invoice__init(&b->invoice);
  carteiro__v1__document__init(&b->document);
  b->recipient.name = "Maria Aparecida da Silva";
  b->recipient.phone = "+5511987654321";
  b->recipient.email = "maria.silva@example.com";
  b->recipient.cpf = "12345678909";
  b->recipient.locale = "pt-BR";
  b->recipient.time_zone = "America/Sao_Paulo";
  b->channels[0] = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP;
  b->channels[1] = CARTEIRO__V1__CHANNEL__CHANNEL_SMS;
  b->delivery.n_channels = 2;
  b->delivery.channels = b->channels;
  b->deliveries[0] = &b->delivery;
  b->document.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
  b->document.path = "tim/2026/11/FAT-2026-00012345.pdf";
  b->document.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4;
  b->invoice.number = "FAT-2026-00012345";
  b->invoice.amount_cents = 18990;
  b->invoice.currency = "BRL";
  b->invoice.due_date = "2026-12-10";
  b->invoice.barcode_line = "23793381286000123456789012345678901234567890123";
  b->invoice.document = &b->document;
  b->job.id = b->id;
  b->job.tenant = "tim";
  b->job.kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
  b->job.recipient = &b->recipient;
  b->job.n_deliveries = 1;
  b->job.deliveries = b->deliveries;
  b->job.created_at_ms = INT64_C(1795459200000);
  b->job.invoice = &b->invoice;
}

static bench_job_t jobs[MAX_BATCH];
static ct_job_t *job_ptrs[MAX_BATCH];
static int results[MAX_BATCH];
static ct_lease_t leases[MAX_BATCH];
static ct_settle_t ops[MAX_BATCH];
static unsigned long next_id;

/* Fills the first n batch slots with fresh ids. */
static void fresh(size_t n) {
  for (size_t i = 0; i < n; i++) {
    snprintf(jobs[i].id, sizeof jobs[i].id, "inv-2026-11-%09lu", next_id++);
    job_ptrs[i] = &jobs[i].job;
  }
}

static ct_attempt_t attempt;
static ct_receipt_t receipt;
static ct_receipt_part_t part;
static ct_receipt_part_t *parts[1] = {&part};

static void outcome_init(void) {
  carteiro__v1__attempt__init(&attempt);
  attempt.channel = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP;
  attempt.provider = "whatsapp:tim-1";
  attempt.outcome = CARTEIRO__V1__OUTCOME__OUTCOME_ACCEPTED;
  attempt.http_status = 200;
  attempt.latency_ms = 182;
  carteiro__v1__receipt_part__init(&part);
  part.channel = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP;
  part.provider = "whatsapp:tim-1";
  part.message_id = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ1RjM2QzY0QjE0RkQ2RjA4NQA=";
  part.document_sha256 = "9f2b5c0e4a7d1b3e8c6f0a2d4b6e8f1a3c5e7d9b0f2a4c6e8d0b2f4a6c8e0d2f";
  carteiro__v1__receipt__init(&receipt);
  receipt.job_id = "inv-2026-11-000000000";
  receipt.n_parts = 1;
  receipt.parts = parts;
}

static void enqueue(ct_spool_t *sp, size_t n) {
  fresh(n);
  int rc = ct_spool_enqueue(sp, job_ptrs, n, ct_now_ms(), results);
  if (rc != 0)
    die("enqueue", rc);
}

static size_t take(ct_spool_t *sp, size_t n) {
  size_t got = 0;
  int rc = ct_spool_take(sp, ct_now_ms(), n, leases, &got);
  if (rc != 0)
    die("take", rc);
  return got;
}

static void ack(ct_spool_t *sp, size_t n) {
  int64_t now = ct_now_ms();
  attempt.at_ms = now;
  part.at_ms = now;
  receipt.delivered_at_ms = now;
  for (size_t i = 0; i < n; i++) {
    ops[i] = (ct_settle_t){.seq = leases[i].seq, .kind = CT_SETTLE_ACK, .attempt = &attempt,
                           .receipt = &receipt};
  }
  int rc = ct_spool_settle(sp, ops, n, now);
  if (rc != 0)
    die("settle", rc);
  for (size_t i = 0; i < n; i++) {
    if (ops[i].result != 0)
      die("settle result", ops[i].result);
    ct_lease_free(&leases[i]);
  }
}

static ct_spool_t *open_spool(const char *path) {
  ct_spool_options_t o = {.path = path, .owner = true};
  ct_spool_t *sp;
  int rc = ct_spool_open(&sp, &o);
  if (rc != 0)
    die("open", rc);
  return sp;
}

static void remove_spool(const char *path) {
  static const char *const suffixes[] = {"", "-wal", "-shm", ".lock"};
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    char p[512];
    snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
    unlink(p);
  }
}

/* Size of the database file alone; call after ct_spool_close, which checkpoints the WAL. */
static double file_bytes(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (double)sb.st_size : 0;
}

static double per_sec(size_t n, int64_t us) { return us > 0 ? (double)n * 1e6 / (double)us : 0; }

/* One batch size, one run: fills fig[N_FIG]. */
static void run_batch(size_t batch, size_t n_jobs, double *fig) {
  char path[512];
  snprintf(path, sizeof path, "%s/spool-bench-%ld-%zu.spool", dir, (long)getpid(), batch);
  remove_spool(path);
  ct_spool_t *sp = open_spool(path);

  int64_t t0 = ct_mono_us();
  for (size_t done = 0; done < n_jobs; done += batch)
    enqueue(sp, batch);
  fig[ENQ] = per_sec(n_jobs, ct_mono_us() - t0);

  ct_spool_close(sp);
  fig[READY_BYTES] = file_bytes(path) / (double)n_jobs;
  sp = open_spool(path);

  int64_t take_us = 0, ack_us = 0;
  size_t taken = 0;
  for (;;) {
    int64_t a = ct_mono_us();
    size_t n = take(sp, batch);
    int64_t b = ct_mono_us();
    if (n == 0)
      break;
    ack(sp, n);
    take_us += b - a;
    ack_us += ct_mono_us() - b;
    taken += n;
  }
  if (taken != n_jobs) {
    fprintf(stderr, "spool_bench: took %zu of %zu jobs\n", taken, n_jobs);
    exit(1);
  }
  fig[TAKE] = per_sec(taken, take_us);
  fig[ACK] = per_sec(taken, ack_us);

  t0 = ct_mono_us();
  for (size_t done = 0; done < n_jobs; done += batch) {
    enqueue(sp, batch);
    size_t n = take(sp, batch);
    if (n != batch) {
      fprintf(stderr, "spool_bench: cycle took %zu of %zu\n", n, batch);
      exit(1);
    }
    ack(sp, n);
  }
  fig[CYCLE] = per_sec(n_jobs, ct_mono_us() - t0);

  ct_spool_close(sp);
  fig[DONE_BYTES] = file_bytes(path) / (double)(2 * n_jobs);
  remove_spool(path);
}

/* What `held` leases cost a take of 1,000 from a backlog of 20,000 READY jobs. */
static double lease_probe(size_t held) {
  char path[512];
  snprintf(path, sizeof path, "%s/spool-bench-%ld-leases.spool", dir, (long)getpid());
  remove_spool(path);
  ct_spool_t *sp = open_spool(path);
  for (size_t done = 0; done < held + 20000; done += MAX_BATCH)
    enqueue(sp, MAX_BATCH);
  for (size_t kept = 0; kept < held; kept += MAX_BATCH) {
    size_t n = take(sp, MAX_BATCH);
    for (size_t i = 0; i < n; i++)
      ct_lease_free(&leases[i]); /* the lease stays; only the decoded job is freed */
  }
  enum { REPS = 20 };
  int64_t total = 0;
  for (int r = 0; r < REPS; r++) {
    int64_t a = ct_mono_us();
    size_t n = take(sp, MAX_BATCH);
    total += ct_mono_us() - a;
    for (size_t i = 0; i < n; i++)
      ops[i] = (ct_settle_t){.seq = leases[i].seq, .kind = CT_SETTLE_RELEASE};
    int rc = ct_spool_settle(sp, ops, n, ct_now_ms());
    if (rc != 0)
      die("release", rc);
    for (size_t i = 0; i < n; i++)
      ct_lease_free(&leases[i]);
  }
  ct_spool_close(sp);
  remove_spool(path);
  return (double)total / REPS;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  double s[MAX_RUNS];
  memcpy(s, v, (size_t)n * sizeof *v);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_table(const char *title, double fig[N_BATCHES][N_FIG]) {
  printf("\n%s\n\n| figure |", title);
  for (size_t b = 0; b < N_BATCHES; b++)
    printf(" batch %zu |", batches[b]);
  printf("\n|---|");
  for (size_t b = 0; b < N_BATCHES; b++)
    printf("---:|");
  printf("\n");
  for (int f = 0; f < N_FIG; f++) {
    printf("| %s |", fig_names[f]);
    for (size_t b = 0; b < N_BATCHES; b++)
      printf(" %.0f |", fig[b][f]);
    printf("\n");
  }
}

int main(int argc, char **argv) {
  int runs = 3;
  double scale = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = (int)strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
      scale = strtod(argv[++i], NULL);
    } else {
      fprintf(stderr, "usage: spool_bench [--dir DIR] [--runs R] [--scale F]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > MAX_RUNS || !(scale > 0)) {
    fprintf(stderr, "spool_bench: --runs is 1..%d, --scale > 0\n", MAX_RUNS);
    return 2;
  }

  for (size_t i = 0; i < MAX_BATCH; i++)
    job_init(&jobs[i]);
  outcome_init();
  fresh(1);
  printf("job: %zu bytes encoded; ack: attempt %zu + receipt %zu bytes\n",
         carteiro__v1__job__get_packed_size(&jobs[0].job),
         carteiro__v1__attempt__get_packed_size(&attempt),
         carteiro__v1__receipt__get_packed_size(&receipt));

  static double all[MAX_RUNS][N_BATCHES][N_FIG];
  for (int r = 0; r < runs; r++) {
    for (size_t b = 0; b < N_BATCHES; b++) {
      size_t n = (size_t)((double)base_jobs[b] * scale);
      n = n < batches[b] ? batches[b] : n - n % batches[b];
      run_batch(batches[b], n, all[r][b]);
    }
    char title[64];
    snprintf(title, sizeof title, "run %d of %d", r + 1, runs);
    print_table(title, all[r]);
    fflush(stdout);
  }
  double med[N_BATCHES][N_FIG];
  for (size_t b = 0; b < N_BATCHES; b++) {
    for (int f = 0; f < N_FIG; f++) {
      double v[MAX_RUNS];
      for (int r = 0; r < runs; r++)
        v[r] = all[r][b][f];
      med[b][f] = median(v, runs);
    }
  }
  print_table("median", med);

  printf("\nleases held in memory vs. a take of 1,000 (20,000 READY behind them)\n\n"
         "| leases held | µs per take |\n|---:|---:|\n");
  static const size_t held[] = {0, 1000, 10000, 50000};
  for (size_t i = 0; i < sizeof held / sizeof held[0]; i++)
    printf("| %zu | %.0f |\n", held[i], lease_probe(held[i]));
  return 0;
}
