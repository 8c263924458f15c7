/* document_bench: invoice PDFs checked and locked per second on one core (src/document).
 *
 * Three documents are made at start, the way billing systems make them (every stream
 * Flate-compressed, by one pass through qpdf):
 *   invoice 30 kB    one page of invoice text and a noisy greyscale image (a logo, a chart)
 *   invoice 300 kB   the same page with a larger image
 *   statement 300 kB many pages of call-detail lines, no image (many small objects)
 * For each, one thread runs N iterations of:
 *   protect  ct_document_protect(): parse, the checking pass (every stream decoded), AES-256
 *            R6 encryption with a fresh owner password, the protected file in memory
 *   check    ct_document_check() alone: parse and the checking pass, which is what policy
 *            none costs and the part of protect that is not encryption
 * and reports documents per second of wall time and of CPU time (one thread, so per core),
 * and microseconds per document.
 *
 * Usage: document_bench [--iters N] [--runs R]
 *   --iters  iterations for the 30 kB document; the 300 kB ones get N/5 (default 500)
 *   --runs   repeat everything R times and print the median of each figure (default 3)
 */
#include "document/document.h"

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

enum { F_PROTECT_WALL, F_PROTECT_CPU, F_CHECK_WALL, F_CHECK_CPU, N_FIG };

/* Runs `iters` protections (or checks) of `doc`; returns seconds of wall and CPU time. */
static void time_it(const ct_bytes_t *doc, size_t iters, bool protect, double *wall,
                    double *cpu) {
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID);
  for (size_t i = 0; i < iters; i++) {
    ct_doc_error_t err;
    int rc;
    if (protect) {
      ct_bytes_t out;
      rc = ct_document_protect(doc, "1234", &out, &err);
      if (rc == 0)
        ct_bytes_free(&out);
    } else {
      rc = ct_document_check(doc, &err);
    }
    if (rc != 0) {
      fprintf(stderr, "document_bench: %s: %s\n", err.reason, err.detail);
      exit(1);
    }
  }
  *cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0;
  *wall = now(CLOCK_MONOTONIC) - w0;
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
  long iters = 500;
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
  if (iters < 5 || runs < 1 || runs > MAX_RUNS) {
    fprintf(stderr, "document_bench: --iters >= 5, --runs 1..%d\n", MAX_RUNS);
    return 2;
  }

  struct {
    const char *name;
    size_t target;
    bool by_pages;
    size_t iters;
    ct_bytes_t doc;
  } docs[] = {
      {"invoice 30 kB (1 page + image)", 30000, false, (size_t)iters, {0}},
      {"invoice 300 kB (1 page + image)", 300000, false, (size_t)iters / 5, {0}},
      {"statement 300 kB (text pages)", 300000, true, (size_t)iters / 5, {0}},
  };
  size_t n_docs = sizeof docs / sizeof docs[0];
  for (size_t d = 0; d < n_docs; d++) {
    docs[d].doc = document_of(docs[d].target, docs[d].by_pages);
    ct_doc_error_t err;
    if (ct_document_check(&docs[d].doc, &err) != 0) {
      fprintf(stderr, "document_bench: %s: %s: %s\n", docs[d].name, err.reason, err.detail);
      return 1;
    }
  }

  printf("qpdf %s, one thread, median of %d run(s)\n\n", qpdf_get_qpdf_version(), runs);
  printf("| document | bytes | iterations | protect docs/s (wall) | protect docs/s per core "
         "(CPU) | protect µs/doc (CPU) | check-only µs/doc (CPU) | encrypting write |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t d = 0; d < n_docs; d++) {
    double fig[N_FIG][MAX_RUNS];
    /* Warm-up: qpdf's and the allocator's first-use costs stay out of the figures. */
    double w, c;
    time_it(&docs[d].doc, 3, true, &w, &c);
    for (int r = 0; r < runs; r++) {
      time_it(&docs[d].doc, docs[d].iters, true, &w, &c);
      fig[F_PROTECT_WALL][r] = w;
      fig[F_PROTECT_CPU][r] = c;
      time_it(&docs[d].doc, docs[d].iters, false, &w, &c);
      fig[F_CHECK_WALL][r] = w;
      fig[F_CHECK_CPU][r] = c;
    }
    double n = (double)docs[d].iters;
    double pw = median(fig[F_PROTECT_WALL], runs), pc = median(fig[F_PROTECT_CPU], runs);
    double cc = median(fig[F_CHECK_CPU], runs);
    printf("| %s | %zu | %zu | %.0f | %.0f | %.0f | %.0f | %.0f %% |\n", docs[d].name,
           docs[d].doc.len, docs[d].iters, n / pw, n / pc, pc / n * 1e6, cc / n * 1e6,
           100.0 * (pc - cc) / pc);
  }
  for (size_t d = 0; d < n_docs; d++)
    ct_bytes_free(&docs[d].doc);
  return 0;
}
