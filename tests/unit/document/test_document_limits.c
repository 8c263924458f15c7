/* PDF bombs: documents built to make qpdf decode or allocate far more than they weigh, each
 * refused with "document_too_large" and the rule it broke, while this process stays small.
 *
 * The bombs are made here, at test time, with zlib: a chunk of 16 MiB of one byte is
 * deflated once (a full flush leaves it byte-aligned and independent of what came before) and
 * repeated, so a 2 GiB stream costs 2 MB and a few milliseconds instead of seconds of
 * compression. Each variant targets a different way qpdf decodes or allocates:
 *   - a page's content stream of 2 GiB of zeros (the case of the adversarial run), through
 *     ct_document_check, ct_document_protect and a prepare from a path with card_last4;
 *   - a stream past the ratio, with the size limit out of the way;
 *   - three streams each under the per-stream limit, together over the per-document one;
 *   - /DecodeParms predictors: PNG rows of zeros past the size limit, and /Columns asking
 *     for 512 MiB of row buffers before any data flows;
 *   - an object stream padded to 2 GiB, holding an object of the page (checked before qpdf
 *     would decode it whole) or holding the catalog (decoded by qpdf while opening: the
 *     memory account stops it);
 *   - a cross-reference stream padded to 2 GiB (decoded by qpdf while opening);
 *   - many small streams under the ratio floor that add up past the document's limit.
 * Then a normal invoice and the same file as an object-stream PDF still pass, and, last, the
 * peak resident size of the whole process (VmHWM) is held under a bound that the first bomb
 * alone would break by an order of magnitude if its stream were buffered (2 GiB). */
#include "document/document.h"

#include "common/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MiB ((size_t)1 << 20)
#define CHUNK (16 * MiB)

/* The bound on this process's peak resident size. A sanitizer build keeps freed memory in
 * quarantine (256 MiB by default) and shadows all of it, hence its larger bound; both are far
 * below the 2 GiB one bomb would take if qpdf buffered it (4 GiB in the adversarial run). */
#if defined(__SANITIZE_ADDRESS__)
#define PEAK_BOUND_MB 768
#else
#define PEAK_BOUND_MB 192
#endif

/* ---- buffers ---------------------------------------------------------------------------- */

typedef struct {
  uint8_t *p;
  size_t len, cap;
} buf_t;

static void add(buf_t *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap *= 2;
    b->p = realloc(b->p, cap);
    assert_non_null(b->p);
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
  assert_true(n >= 0 && (size_t)n < sizeof tmp);
  add(b, tmp, (size_t)n);
}

static ct_bytes_t bytes(buf_t *b) {
  ct_bytes_t out = {b->p, b->len};
  *b = (buf_t){0};
  return out;
}

/* ---- zlib streams, built from pieces ------------------------------------------------------
 * A zlib stream is a 2-byte header, deflate blocks, and the Adler-32 of what they decode to.
 * Each piece is deflated on its own with a full flush (raw deflate, byte-aligned, no
 * reference to earlier data), so pieces concatenate; the Adler-32s combine. */

typedef struct {
  buf_t out;
  uLong adler;
  uint64_t decoded;
} zb_t;

static void zb_start(zb_t *z) {
  *z = (zb_t){.adler = adler32(0, NULL, 0)};
  add(&z->out, "\x78\x9c", 2);
}

/* Deflates data[0..n) as one flushed piece into `to`. */
static void deflate_piece(const uint8_t *data, size_t n, buf_t *to) {
  z_stream s;
  memset(&s, 0, sizeof s);
  assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
  uint8_t out[65536];
  s.next_in = (Bytef *)data;
  s.avail_in = (uInt)n;
  do {
    s.next_out = out;
    s.avail_out = sizeof out;
    assert_true(deflate(&s, Z_FULL_FLUSH) != Z_STREAM_ERROR);
    add(to, out, sizeof out - s.avail_out);
  } while (s.avail_out == 0);
  deflateEnd(&s);
}

static void zb_add(zb_t *z, const void *data, size_t n) {
  deflate_piece(data, n, &z->out);
  z->adler = adler32(z->adler, data, (uInt)n);
  z->decoded += n;
}

/* `times` chunks of CHUNK bytes of `byte`. */
static void zb_repeat(zb_t *z, uint8_t byte, size_t times) {
  static uint8_t *chunk;
  static uint8_t chunk_byte;
  static buf_t piece;
  if (chunk == NULL || chunk_byte != byte || piece.len == 0) {
    free(chunk);
    free(piece.p);
    piece = (buf_t){0};
    chunk = malloc(CHUNK);
    assert_non_null(chunk);
    memset(chunk, byte, CHUNK);
    chunk_byte = byte;
    deflate_piece(chunk, CHUNK, &piece);
  }
  uLong a = adler32(adler32(0, NULL, 0), chunk, (uInt)CHUNK);
  for (size_t i = 0; i < times; i++) {
    add(&z->out, piece.p, piece.len);
    z->adler = adler32_combine(z->adler, a, (z_off_t)CHUNK);
  }
  z->decoded += (uint64_t)times * CHUNK;
}

static buf_t zb_finish(zb_t *z) {
  add(&z->out, "\x03\x00", 2); /* a last, empty block */
  uint8_t be[4] = {(uint8_t)(z->adler >> 24), (uint8_t)(z->adler >> 16),
                   (uint8_t)(z->adler >> 8), (uint8_t)z->adler};
  add(&z->out, be, 4);
  buf_t out = z->out;
  z->out = (buf_t){0};
  return out;
}

/* ---- PDFs ------------------------------------------------------------------------------- */

/* One object of a PDF being written: its number and where it starts. */
typedef struct {
  buf_t b;
  size_t off[32];
  size_t n;
} pdf_t;

static void pdf_start(pdf_t *p, const char *version) {
  memset(p, 0, sizeof *p);
  addf(&p->b, "%%PDF-%s\n%%\xe2\xe3\xcf\xd3\n", version);
}

static void pdf_obj(pdf_t *p, size_t num, const char *body) {
  assert_true(num < N_ELEMS(p->off));
  p->off[num] = p->b.len;
  if (num + 1 > p->n)
    p->n = num + 1;
  addf(&p->b, "%zu 0 obj\n", num);
  add(&p->b, body, strlen(body));
  addf(&p->b, "\nendobj\n");
}

/* A stream object: `dict_extra` in its dictionary, `data` as its bytes. */
static void pdf_stream(pdf_t *p, size_t num, const char *dict_extra, const buf_t *data) {
  p->off[num] = p->b.len;
  if (num + 1 > p->n)
    p->n = num + 1;
  addf(&p->b, "%zu 0 obj\n<< /Length %zu%s >>\nstream\n", num, data->len, dict_extra);
  add(&p->b, data->p, data->len);
  addf(&p->b, "\nendstream\nendobj\n");
}

/* A classic cross-reference table and trailer for objects 1..n-1. */
static ct_bytes_t pdf_finish(pdf_t *p) {
  size_t xref = p->b.len;
  addf(&p->b, "xref\n0 %zu\n0000000000 65535 f \n", p->n);
  for (size_t i = 1; i < p->n; i++)
    addf(&p->b, "%010zu 00000 n \n", p->off[i]);
  addf(&p->b, "trailer\n<< /Size %zu /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", p->n, xref);
  return bytes(&p->b);
}

#define CATALOG "<< /Type /Catalog /Pages 2 0 R >>"
#define PAGES "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
#define FONT "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
#define TEXT "BT /F1 12 Tf 72 770 Td (Fatura 2026-000123) Tj 0 -16 Td (Valor: R$ 189,90) Tj ET"

static const char *page(const char *contents) {
  static char b[512]; /* the fixed text and a reference or an array of them */
  snprintf(b, sizeof b,
           "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 "
           "4 0 R >> >> /Contents %s >>",
           contents);
  return b;
}

/* A one-page invoice whose content stream is `stream` with `dict` (a Flate filter, say). */
static ct_bytes_t invoice_with_stream(const char *dict, const buf_t *stream) {
  pdf_t p;
  pdf_start(&p, "1.4");
  pdf_obj(&p, 1, CATALOG);
  pdf_obj(&p, 2, PAGES);
  pdf_obj(&p, 3, page("5 0 R"));
  pdf_obj(&p, 4, FONT);
  pdf_stream(&p, 5, dict, stream);
  return pdf_finish(&p);
}

static ct_bytes_t plain_invoice(void) {
  buf_t text = {0};
  add(&text, TEXT, strlen(TEXT));
  ct_bytes_t pdf = invoice_with_stream("", &text);
  free(text.p);
  return pdf;
}

/* `n` bytes (a multiple of CHUNK) of `byte`, deflated. */
static buf_t flate_of(uint8_t byte, size_t n) {
  zb_t z;
  zb_start(&z);
  zb_repeat(&z, byte, n / CHUNK);
  return zb_finish(&z);
}

/* ---- assertions ------------------------------------------------------------------------- */

static ct_doc_error_t fresh_err(void) {
  ct_doc_error_t e;
  memset(&e, 0, sizeof e);
  e.reason = "unset";
  snprintf(e.detail, sizeof e.detail, "unset");
  return e;
}

#define EXPECT_TOO_LARGE(rc, err, detail) expect_too_large((rc), &(err), (detail), __LINE__)

static void expect_too_large(int rc, const ct_doc_error_t *err, const char *detail, int line) {
  const char *got = err->reason != NULL ? err->reason : "(null)";
  if (rc != CT_EINVAL || strcmp(got, "document_too_large") != 0 || err->transient ||
      strcmp(err->detail, detail) != 0)
    fail_msg("line %d: got rc %d, %s (%s), \"%s\"; want document_too_large (permanent), \"%s\"",
             line, rc, got, err->transient ? "transient" : "permanent", err->detail, detail);
}

#define EXPECT_OK(rc, err) expect_ok((rc), &(err), __LINE__)

static void expect_ok(int rc, const ct_doc_error_t *err, int line) {
  if (rc != 0 || err->reason != NULL)
    fail_msg("line %d: got rc %d, %s \"%s\"; want success", line, rc,
             err->reason != NULL ? err->reason : "(null)", err->detail);
}

/* Checks `pdf` and locks it, under `limits` (NULL: the defaults): both must fail alike. */
static void expect_refused(const ct_bytes_t *pdf, const ct_doc_limits_t *limits,
                           const char *detail, int line) {
  ct_doc_error_t err = fresh_err();
  expect_too_large(ct_document_check_limits(pdf, limits, &err), &err, detail, line);
  ct_doc_lock_t how = {.limits = limits != NULL ? *limits : CT_DOC_LIMITS_DEFAULT};
  ct_bytes_t out = {NULL, 0};
  err = fresh_err();
  expect_too_large(ct_document_lock(pdf, "1234", &how, &out, &err), &err, detail, line);
  assert_null(out.data);
}

#define EXPECT_REFUSED(pdf, limits, detail) expect_refused((pdf), (limits), (detail), __LINE__)

static const char *const TOO_MUCH_MEMORY = "the document needs more than 128 MB of memory";

/* ---- the bombs -------------------------------------------------------------------------- */

/* The adversarial run's document: a page whose content is 2 GiB of zeros in 2 MB of Flate. */
static void test_content_stream_bomb(void **state) {
  (void)state;
  buf_t bomb = flate_of(0, 2048 * MiB);
  assert_true(bomb.len < 3 * MiB);
  ct_bytes_t pdf = invoice_with_stream(" /Filter /FlateDecode", &bomb);
  free(bomb.p);
  EXPECT_REFUSED(&pdf, NULL, "stream 5 0 decodes to more than 67108864 bytes");
  ct_doc_error_t err = fresh_err();
  ct_bytes_t out = {NULL, 0};
  EXPECT_TOO_LARGE(ct_document_protect(&pdf, "4321", &out, &err), err,
                   "stream 5 0 decodes to more than 67108864 bytes");

  /* As the job had it: a path under the document root, locked with the card's last four. */
  char dir[] = "/tmp/ct_bomb_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/bomb.pdf", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(pdf.data, 1, pdf.len, f), pdf.len);
  assert_int_equal(fclose(f), 0);
  ct_job_t job;
  ct_recipient_t rcpt;
  ct_invoice_t inv;
  ct_document_t doc;
  carteiro__v1__job__init(&job);
  carteiro__v1__recipient__init(&rcpt);
  carteiro__v1__invoice__init(&inv);
  carteiro__v1__document__init(&doc);
  job.id = "inv-bomb";
  job.tenant = "banco-x";
  job.recipient = &rcpt;
  rcpt.card_last4 = "4321";
  job.invoice = &inv;
  inv.document = &doc;
  doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
  doc.path = "bomb.pdf";
  doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4;
  ct_doc_prepare_t how = {.root = dir, .limits = CT_DOC_LIMITS_DEFAULT, .now_ms = 1};
  err = fresh_err();
  EXPECT_TOO_LARGE(ct_document_prepare(&job, &how, &out, &err), err,
                   "stream 5 0 decodes to more than 67108864 bytes");
  assert_null(out.data);
  unlink(path);
  rmdir(dir);
  free(pdf.data);
}

/* 16 MiB of zeros in about 16 kB: under the size limit, a thousand times over the ratio. */
static void test_ratio(void **state) {
  (void)state;
  buf_t z = flate_of(0, 16 * MiB);
  char detail[128];
  snprintf(detail, sizeof detail, "stream 5 0 decodes to more than 100 times its %zu bytes",
           z.len);
  ct_bytes_t pdf = invoice_with_stream(" /Filter /FlateDecode", &z);
  EXPECT_REFUSED(&pdf, NULL, detail);
  /* With no ratio limit it is a valid document, as large as it says. */
  ct_doc_limits_t no_ratio = CT_DOC_LIMITS_DEFAULT;
  no_ratio.ratio_max = 0;
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_check_limits(&pdf, &no_ratio, &err), err);
  free(z.p);
  free(pdf.data);
}

/* Three content streams of 7 MiB each: every one under an 8 MiB stream limit, 21 MiB in all
 * over a 16 MiB document limit. */
static void test_document_total(void **state) {
  (void)state;
  zb_t z;
  zb_start(&z);
  zb_add(&z, TEXT " ", strlen(TEXT) + 1);
  uint8_t *spaces = malloc(7 * MiB);
  assert_non_null(spaces);
  memset(spaces, ' ', 7 * MiB);
  zb_add(&z, spaces, 7 * MiB);
  free(spaces);
  buf_t s = zb_finish(&z);
  pdf_t p;
  pdf_start(&p, "1.4");
  pdf_obj(&p, 1, CATALOG);
  pdf_obj(&p, 2, PAGES);
  pdf_obj(&p, 3, page("[5 0 R 6 0 R 7 0 R]"));
  pdf_obj(&p, 4, FONT);
  for (size_t i = 5; i <= 7; i++)
    pdf_stream(&p, i, " /Filter /FlateDecode", &s);
  ct_bytes_t pdf = pdf_finish(&p);
  free(s.p);
  ct_doc_limits_t l = {.stream_max = 8 * MiB, .decoded_max = 16 * MiB, .ratio_max = 0,
                       .memory_max = 128 * MiB};
  EXPECT_REFUSED(&pdf, &l, "the document's streams decode to more than 16777216 bytes");
  l.decoded_max = 32 * MiB;
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_check_limits(&pdf, &l, &err), err);
  /* And with the defaults: each stream is 7 MiB from about 7 kB, over the ratio. */
  ct_doc_error_t e2 = fresh_err();
  assert_int_equal(ct_document_check(&pdf, &e2), CT_EINVAL);
  assert_string_equal(e2.reason, "document_too_large");
  free(pdf.data);
}

/* Streams under the ratio floor are not held to the ratio, but they still add up: 20 streams
 * of 1 MiB of zeros (1 kB each in Flate) against a 16 MiB document limit. */
static void test_many_small_streams(void **state) {
  (void)state;
  zb_t z;
  zb_start(&z);
  uint8_t *zeros = calloc(1, MiB);
  assert_non_null(zeros);
  zb_add(&z, zeros, MiB);
  free(zeros);
  buf_t s = zb_finish(&z);
  pdf_t p;
  pdf_start(&p, "1.4");
  pdf_obj(&p, 1, CATALOG);
  pdf_obj(&p, 2, PAGES);
  char contents[256] = "[";
  for (size_t i = 5; i < 25; i++) {
    char ref[16];
    snprintf(ref, sizeof ref, "%zu 0 R ", i);
    strcat(contents, ref);
  }
  strcat(contents, "]");
  pdf_obj(&p, 3, page(contents));
  pdf_obj(&p, 4, FONT);
  for (size_t i = 5; i < 25; i++)
    pdf_stream(&p, i, " /Filter /FlateDecode", &s);
  ct_bytes_t pdf = pdf_finish(&p);
  free(s.p);
  ct_doc_limits_t l = CT_DOC_LIMITS_DEFAULT;
  l.decoded_max = 16 * MiB;
  EXPECT_REFUSED(&pdf, &l, "the document's streams decode to more than 16777216 bytes");
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_check(&pdf, &err), err); /* 20 MiB: under the default 256 */
  free(pdf.data);
}

/* /DecodeParms with the PNG predictor: rows of 1,000 zero bytes behind a filter byte 0, 2 GiB
 * in all; the decoded rows are counted after the predictor. */
static void test_predictor_rows(void **state) {
  (void)state;
  buf_t bomb = flate_of(0, 2048 * MiB);
  ct_bytes_t pdf = invoice_with_stream(
      " /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 1000 >>", &bomb);
  free(bomb.p);
  EXPECT_REFUSED(&pdf, NULL, "stream 5 0 decodes to more than 67108864 bytes");
  free(pdf.data);
}

/* A predictor whose /Columns ask for two row buffers of 256 MiB each before any data: qpdf
 * allocates them when it builds the pipeline. A few bytes of stream are enough. */
static void test_predictor_columns(void **state) {
  (void)state;
  zb_t z;
  zb_start(&z);
  zb_add(&z, "\0\0\0\0", 4);
  buf_t s = zb_finish(&z);
  ct_bytes_t pdf = invoice_with_stream(" /Filter /FlateDecode /DecodeParms << /Predictor 12 "
                                       "/Colors 4 /BitsPerComponent 16 /Columns 33554432 >>",
                                       &s);
  free(s.p);
  EXPECT_REFUSED(&pdf, NULL, TOO_MUCH_MEMORY);
  free(pdf.data);
}

/* A PDF 1.5 whose object `in_objstm` (the font, 4, or the catalog, 1) lives in object stream
 * 6, whose decoded data is padded with `pad_chunks` chunks of spaces; the cross-reference is
 * stream 7 (uncompressed, or its data padded with `xref_pad_chunks` chunks of zeros). */
static ct_bytes_t objstm_pdf(size_t in_objstm, size_t pad_chunks, size_t xref_pad_chunks) {
  pdf_t p;
  pdf_start(&p, "1.5");
  buf_t text = {0};
  add(&text, TEXT, strlen(TEXT));
  if (in_objstm != 1)
    pdf_obj(&p, 1, CATALOG);
  pdf_obj(&p, 2, PAGES);
  pdf_obj(&p, 3, page("5 0 R"));
  if (in_objstm != 4)
    pdf_obj(&p, 4, FONT);
  pdf_stream(&p, 5, "", &text);
  free(text.p);

  const char *held = in_objstm == 1 ? CATALOG : FONT;
  char head[32];
  snprintf(head, sizeof head, "%zu 0 ", in_objstm);
  zb_t z;
  zb_start(&z);
  zb_add(&z, head, strlen(head));
  zb_add(&z, held, strlen(held));
  zb_add(&z, " ", 1);
  zb_repeat(&z, ' ', pad_chunks);
  buf_t objstm = zb_finish(&z);
  char dict[96];
  snprintf(dict, sizeof dict, " /Type /ObjStm /N 1 /First %zu /Filter /FlateDecode",
           strlen(head));
  pdf_stream(&p, 6, dict, &objstm);
  free(objstm.p);

  /* The cross-reference stream: /W [1 4 2], one entry per object 0..7. */
  p.off[7] = p.b.len;
  buf_t xr = {0};
  for (size_t i = 0; i <= 7; i++) {
    uint8_t e[7] = {0};
    if (i == 0) {
      e[5] = 0xff;
      e[6] = 0xff;
    } else if (i == in_objstm) {
      e[0] = 2;
      e[4] = 6; /* in object stream 6, index 0 */
    } else {
      e[0] = 1;
      for (int k = 0; k < 4; k++)
        e[1 + k] = (uint8_t)(p.off[i] >> (24 - 8 * k));
    }
    add(&xr, e, sizeof e);
  }
  const char *filter = "";
  if (xref_pad_chunks > 0) {
    zb_start(&z);
    zb_add(&z, xr.p, xr.len);
    zb_repeat(&z, 0, xref_pad_chunks);
    free(xr.p);
    xr = zb_finish(&z);
    filter = " /Filter /FlateDecode";
  }
  addf(&p.b, "7 0 obj\n<< /Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R /Length %zu%s >>\nstream\n",
       xr.len, filter);
  add(&p.b, xr.p, xr.len);
  addf(&p.b, "\nendstream\nendobj\nstartxref\n%zu\n%%%%EOF\n", p.off[7]);
  free(xr.p);
  return bytes(&p.b);
}

static void test_object_streams(void **state) {
  (void)state;
  /* Unpadded, both layouts are valid documents. */
  for (size_t held = 1; held <= 4; held += 3) {
    ct_bytes_t pdf = objstm_pdf(held, 0, 0);
    ct_doc_error_t err = fresh_err();
    EXPECT_OK(ct_document_check(&pdf, &err), err);
    ct_bytes_t out = {NULL, 0};
    EXPECT_OK(ct_document_protect(&pdf, "1234", &out, &err), err);
    ct_bytes_free(&out);
    free(pdf.data);
  }
  /* The page's font in a 2 GiB object stream: decoded through the counter before anything
   * in it is resolved. */
  ct_bytes_t pdf = objstm_pdf(4, 128, 0);
  EXPECT_REFUSED(&pdf, NULL, "stream 6 0 decodes to more than 67108864 bytes");
  free(pdf.data);
  /* The catalog in it: qpdf needs it to open the file and decodes the stream itself, into
   * memory; the account stops it. */
  pdf = objstm_pdf(1, 128, 0);
  EXPECT_REFUSED(&pdf, NULL, TOO_MUCH_MEMORY);
  free(pdf.data);
}

static void test_xref_stream(void **state) {
  (void)state;
  ct_bytes_t pdf = objstm_pdf(4, 0, 128);
  EXPECT_REFUSED(&pdf, NULL, TOO_MUCH_MEMORY);
  free(pdf.data);
}

/* What the limits must not stop: a plain invoice, and one in object streams (as qpdf and
 * many producers write them), checked and locked with the defaults. */
static void test_normal_documents_pass(void **state) {
  (void)state;
  ct_bytes_t pdf = plain_invoice();
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_check(&pdf, &err), err);
  ct_bytes_t out = {NULL, 0};
  EXPECT_OK(ct_document_protect(&pdf, "1234", &out, &err), err);
  assert_true(out.len > pdf.len / 2);
  ct_bytes_free(&out);
  free(pdf.data);
}

/* Last: the peak resident size of this process, every bomb above included. */
static void test_peak_rss(void **state) {
  (void)state;
  FILE *f = fopen("/proc/self/status", "r");
  assert_non_null(f);
  char line[256];
  long hwm_kb = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmHWM: %ld kB", &hwm_kb) == 1)
      break;
  fclose(f);
  assert_true(hwm_kb > 0);
  printf("peak RSS (VmHWM): %ld MB, bound %d MB\n", hwm_kb / 1024, PEAK_BOUND_MB);
  if (hwm_kb / 1024 >= PEAK_BOUND_MB)
    fail_msg("peak RSS %ld MB, want under %d MB", hwm_kb / 1024, PEAK_BOUND_MB);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_content_stream_bomb), cmocka_unit_test(test_ratio),
      cmocka_unit_test(test_document_total),      cmocka_unit_test(test_many_small_streams),
      cmocka_unit_test(test_predictor_rows),      cmocka_unit_test(test_predictor_columns),
      cmocka_unit_test(test_object_streams),      cmocka_unit_test(test_xref_stream),
      cmocka_unit_test(test_normal_documents_pass), cmocka_unit_test(test_peak_rss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
