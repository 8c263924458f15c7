/* document_bench: invoice PDFs checked and locked per second on one core (src/document).
 *
 * The documents, made at start:
 *   gen-invoices bank, telco  the synthetic invoices of tools/gen-invoices (libharu, one page,
 *                            uncompressed content: ~27 kB and ~44 kB), 20 different ones each
 *   invoice 30 kB            one page of invoice text and a noisy greyscale image (a logo, a
 *                            chart), every stream Flate-compressed by one pass through qpdf
 *   invoice 300 kB           the same page with a larger image
 *   statement 300 kB         many pages of call-detail lines, no image (many small objects)
 * For each, one thread runs:
 *   check   ct_document_check(): parse, and every stream decoded into a counter (what policy
 *           none costs, and the part of locking that is not writing)
 *   warm    ct_document_lock() through a key cache that already holds the passwords used (100
 *           card_last4 values, in turn): parse, check, the encrypting write with a fresh /ID
 *           and IVs; what nearly every document of a billing cycle costs
 *   cold    ct_document_lock() without a cache: the same plus revision 6's key derivation
 *           (Algorithm 2.B for the user and a random owner password); what the first document
 *           of each (tenant, day, password) costs, and every one with the cache off
 * and reports microseconds of CPU per document and documents per second of CPU (one thread,
 * so per core), with the locked size.
 *
 * Usage: document_bench [--iters N] [--runs R]
 *   --iters  warm and check iterations for the ~30 kB documents; the 300 kB ones get N/5, cold
 *            runs get a tenth of those (default 2000)
 *   --runs   repeat everything R times and print the median of each figure (default 3)
 */
#include "document/document.h"
#include "pdf.h" /* tools/gen-invoices */

#include <qpdf/qpdf-c.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RUNS 9

static void die(const char *what) {
  fprintf(stderr, "document_bench: %s\n", what);
  exit(1);
}

/* ---- making the documents ------------------------------------------------------------ */

typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

static void add(buf_t *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
      die("out of memory");
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void addf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void addf(buf_t *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp)
    die("line too long");
  add(b, tmp, (size_t)n);
}

static uint32_t rng = 2463534242u;

static uint32_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* Starts object `id` of `pdf`, recording its offset. */
static void obj(buf_t *pdf, size_t *offs, size_t id) {
  offs[id] = pdf->len;
  addf(pdf, "%zu 0 obj\n", id);
}

static void stream(buf_t *pdf, const char *dict, const void *data, size_t n) {
  addf(pdf, "<< /Length %zu%s >>\nstream\n", n, dict);
  add(pdf, data, n);
  addf(pdf, "\nendstream\nendobj\n");
}

/* An uncompressed PDF: `pages` pages of invoice text (`lines` detail lines each) and, when
 * `image_bytes` > 0, a greyscale image of about that many bytes on the first page. */
static buf_t raw_pdf(size_t pages, size_t lines, size_t image_bytes) {
  size_t n_obj = 4 + 2 * pages;
  size_t *offs = calloc(n_obj + 1, sizeof *offs);
  if (offs == NULL)
    die("out of memory");
  buf_t pdf = {0};
  addf(&pdf, "%%PDF-1.5\n%%\xe2\xe3\xcf\xd3\n");
  obj(&pdf, offs, 1);
  addf(&pdf, "<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
  obj(&pdf, offs, 2);
  addf(&pdf, "<< /Type /Pages /Count %zu /Kids [", pages);
  for (size_t i = 0; i < pages; i++)
    addf(&pdf, " %zu 0 R", 5 + 2 * i);
  addf(&pdf, " ] >>\nendobj\n");
  obj(&pdf, offs, 3);
  addf(&pdf, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n");

  /* Image: 6 bits of noise per pixel, so Flate keeps most of it. */
  size_t w = 256, h = image_bytes > 0 ? (image_bytes + w - 1) / w : 1;
  uint8_t *px = malloc(w * h);
  if (px == NULL)
    die("out of memory");
  for (size_t i = 0; i < w * h; i++)
    px[i] = (uint8_t)(next_rand() & 0x3F);
  obj(&pdf, offs, 4);
  char dict[160];
  snprintf(dict, sizeof dict,
           " /Type /XObject /Subtype /Image /Width %zu /Height %zu /ColorSpace /DeviceGray "
           "/BitsPerComponent 8",
           w, h);
  stream(&pdf, dict, px, w * h);
  free(px);

  for (size_t p = 0; p < pages; p++) {
    obj(&pdf, offs, 5 + 2 * p);
    addf(&pdf,
         "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 "
         "R >>%s >> /Contents %zu 0 R >>\nendobj\n",
         p == 0 && image_bytes > 0 ? " /XObject << /Im1 4 0 R >>" : "", 6 + 2 * p);
    buf_t c = {0};
    addf(&c, "BT /F1 12 Tf 72 800 Td (Fatura 2026-000123 - pagina %zu de %zu) Tj ", p + 1,
         pages);
    addf(&c, "0 -16 Td (Valor: R$ 189,90  Vencimento: 10/12/2026) Tj /F1 8 Tf ");
    for (size_t l = 0; l < lines; l++)
      addf(&c, "0 -10 Td (%02u/11 %02u:%02u  11 9%04u-%04u  %3u min  R$ %u,%02u) Tj ",
           next_rand() % 30 + 1, next_rand() % 24, next_rand() % 60, next_rand() % 10000,
           next_rand() % 10000, next_rand() % 120, next_rand() % 20, next_rand() % 100);
    addf(&c, "ET");
    if (p == 0 && image_bytes > 0)
      addf(&c, " q 200 0 0 100 360 40 cm /Im1 Do Q");
    obj(&pdf, offs, 6 + 2 * p);
    stream(&pdf, "", c.p, c.len);
    free(c.p);
  }
  size_t xref = pdf.len;
  addf(&pdf, "xref\n0 %zu\n0000000000 65535 f \n", n_obj + 1);
  for (size_t i = 1; i <= n_obj; i++)
    addf(&pdf, "%010zu 00000 n \n", offs[i]);
  addf(&pdf, "trailer\n<< /Size %zu /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", n_obj + 1,
       xref);
  free(offs);
  return pdf;
}

/* `raw` as a billing system would send it: every stream Flate-compressed, by qpdf. */
static ct_bytes_t compressed(const buf_t *raw) {
  qpdf_data q = qpdf_init();
  qpdf_silence_errors(q);
  if (qpdf_read_memory(q, "bench", raw->p, raw->len, "") & QPDF_ERRORS ||
      qpdf_init_write_memory(q) & QPDF_ERRORS || qpdf_write(q) & QPDF_ERRORS)
    die("qpdf could not write the bench document");
  ct_bytes_t out = {malloc(qpdf_get_buffer_length(q)), qpdf_get_buffer_length(q)};
  if (out.data == NULL)
    die("out of memory");
  memcpy(out.data, qpdf_get_buffer(q), out.len);
  qpdf_cleanup(&q);
  return out;
}

/* A compressed document of about `target` bytes; `by_pages` grows pages of text, else the
 * image. Three rounds of proportional correction land within a few percent. */
static ct_bytes_t document_of(size_t target, bool by_pages) {
  size_t knob = by_pages ? target / 1500 : target;
  ct_bytes_t doc = {0};
  for (int round = 0; round < 4; round++) {
    buf_t raw = by_pages ? raw_pdf(knob, 70, 0) : raw_pdf(1, 30, knob);
    ct_bytes_free(&doc);
    doc = compressed(&raw);
    free(raw.p);
    knob = (size_t)((double)knob * (double)target / (double)doc.len);
    if (knob == 0)
      knob = 1;
  }
  return doc;
}

/* ---- timing --------------------------------------------------------------------------- */

static double now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- gen-invoices' PDFs ----------------------------------------------------------------- */

/* Invoice `k` of `kind`, drawn by tools/gen-invoices' renderer. */
static ct_bytes_t gen_invoice(gen_pdf_kind_t kind, int k) {
  ct_job_t job;
  ct_recipient_t rcpt;
  ct_invoice_t inv;
  carteiro__v1__job__init(&job);
  carteiro__v1__recipient__init(&rcpt);
  carteiro__v1__invoice__init(&inv);
  char id[32], number[32];
  snprintf(id, sizeof id, "inv-%08d", k);
  snprintf(number, sizeof number, "%s-202612-%08d", kind == GEN_PDF_BANK ? "CC" : "TL", k);
  job.id = id;
  job.tenant = kind == GEN_PDF_BANK ? "banco-x" : "tim";
  job.created_at_ms = INT64_C(1796094000000);
  job.recipient = &rcpt;
  rcpt.name = "Maria das Dores Teste";
  rcpt.cpf = "11144477735";
  rcpt.phone = "+5511987654321";
  job.invoice = &inv;
  inv.number = number;
  inv.amount_cents = 10000 + 7919 * k;
  inv.due_date = "2026-12-14";
  inv.barcode_line = "26099430289933023932047267088020916600000081852";
  uint8_t *data;
  size_t len;
  char err[256];
  if (gen_pdf_render(&job, kind, (uint64_t)k, &data, &len, err, sizeof err) != 0) {
    fprintf(stderr, "document_bench: %s\n", err);
    exit(1);
  }
  return (ct_bytes_t){data, len};
}

/* ---- the figures ---------------------------------------------------------------------- */

enum { F_CHECK, F_WARM, F_COLD, N_FIG };

#define N_PASSWORDS 100
static char passwords[N_PASSWORDS][5];

typedef struct {
  const char *name;
  ct_bytes_t docs[20]; /* documents used in turn */
  size_t n_docs;
  size_t iters;
  size_t out_len;
} doc_set_t;

/* Runs `iters` operations of kind `fig` over the set; returns CPU seconds. */
static double time_it(doc_set_t *set, size_t iters, int fig, ct_keycache_t *cache) {
  double c0 = now(CLOCK_THREAD_CPUTIME_ID);
  for (size_t i = 0; i < iters; i++) {
    const ct_bytes_t *doc = &set->docs[i % set->n_docs];
    ct_doc_error_t err;
    int rc;
    if (fig == F_CHECK) {
      rc = ct_document_check(doc, &err);
    } else {
      ct_doc_lock_t how = {.limits = CT_DOC_LIMITS_DEFAULT,
                           .cache = fig == F_WARM ? cache : NULL,
                           .tenant = "banco-x",
                           .day = 20790,
                           .policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4};
      ct_bytes_t out;
      rc = ct_document_lock(doc, passwords[i % N_PASSWORDS], &how, &out, &err);
      if (rc == 0) {
        set->out_len = out.len;
        ct_bytes_free(&out);
      }
    }
    if (rc != 0) {
      fprintf(stderr, "document_bench: %s: %s: %s\n", set->name, err.reason, err.detail);
      exit(1);
    }
  }
  return now(CLOCK_THREAD_CPUTIME_ID) - c0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

int main(int argc, char **argv) {
  long iters = 2000;
  int runs = 3;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
      iters = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = (int)strtol(argv[++i], NULL, 10);
    } else {
      fprintf(stderr, "usage: document_bench [--iters N] [--runs R]\n");
      return 2;
    }
  }
  if (iters < 50 || runs < 1 || runs > MAX_RUNS) {
    fprintf(stderr, "document_bench: --iters >= 50, --runs 1..%d\n", MAX_RUNS);
    return 2;
  }
  for (int i = 0; i < N_PASSWORDS; i++)
    snprintf(passwords[i], sizeof passwords[i], "%04d", (i * 7919) % 10000);

  doc_set_t sets[] = {
      {.name = "gen-invoices bank (libharu)", .iters = (size_t)iters},
      {.name = "gen-invoices telco (libharu)", .iters = (size_t)iters},
      {.name = "invoice 30 kB (1 page + image)", .iters = (size_t)iters},
      {.name = "invoice 300 kB (1 page + image)", .iters = (size_t)iters / 5},
      {.name = "statement 300 kB (text pages)", .iters = (size_t)iters / 5},
  };
  size_t n_sets = sizeof sets / sizeof sets[0];
  for (int k = 0; k < 20; k++) {
    sets[0].docs[k] = gen_invoice(GEN_PDF_BANK, k + 1);
    sets[1].docs[k] = gen_invoice(GEN_PDF_TELCO, k + 1);
  }
  sets[0].n_docs = sets[1].n_docs = 20;
  sets[2].docs[0] = document_of(30000, false);
  sets[3].docs[0] = document_of(300000, false);
  sets[4].docs[0] = document_of(300000, true);
  sets[2].n_docs = sets[3].n_docs = sets[4].n_docs = 1;

  /* Warm: one cache, every password already in it. */
  ct_keycache_t *cache;
  if (ct_keycache_new(N_PASSWORDS, (size_t)1 << 20, &cache) != 0)
    die("no key cache");
  time_it(&sets[0], N_PASSWORDS, F_WARM, cache);

  printf("qpdf %s, one thread, median of %d run(s); warm = key cache holding the %d passwords "
         "used\n\n",
         qpdf_get_qpdf_version(), runs, N_PASSWORDS);
  printf("| document | bytes | locked bytes | check µs | warm lock µs | warm docs/s per core | "
         "cold lock µs | cold docs/s per core |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t d = 0; d < n_sets; d++) {
    doc_set_t *set = &sets[d];
    size_t n[N_FIG] = {set->iters, set->iters, set->iters / 10 > 5 ? set->iters / 10 : 5};
    double fig[N_FIG][MAX_RUNS];
    /* Warm-up: qpdf's and the allocator's first-use costs stay out of the figures. */
    time_it(set, 5, F_WARM, cache);
    for (int r = 0; r < runs; r++)
      for (int f = 0; f < N_FIG; f++)
        fig[f][r] = time_it(set, n[f], f, cache) / (double)n[f];
    double us[N_FIG];
    for (int f = 0; f < N_FIG; f++)
      us[f] = median(fig[f], runs) * 1e6;
    size_t bytes = 0;
    for (size_t i = 0; i < set->n_docs; i++)
      bytes += set->docs[i].len;
    printf("| %s | %zu | %zu | %.0f | %.0f | %.0f | %.0f | %.0f |\n", set->name,
           bytes / set->n_docs, set->out_len, us[F_CHECK], us[F_WARM], 1e6 / us[F_WARM],
           us[F_COLD], 1e6 / us[F_COLD]);
  }
  ct_keycache_stats_t st;
  ct_keycache_stats(cache, &st);
  printf("\nkey cache: %llu hits, %llu misses, %llu entries\n", (unsigned long long)st.hits,
         (unsigned long long)st.misses, (unsigned long long)st.entries);
  ct_keycache_free(cache);
  for (size_t d = 0; d < n_sets; d++)
    for (size_t i = 0; i < sets[d].n_docs; i++)
      ct_bytes_free(&sets[d].docs[i]);
  return 0;
}
