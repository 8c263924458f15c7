/* Tests for src/document: reading a path under the root, the PDF checks, the password each
 * policy asks for, AES-256 protection, the evidence hash and the whole preparation.
 *
 * PDFs are written by hand here, at test time (a one-page invoice with a correct xref table),
 * and every protected file is judged by programs we did not write: qpdf's command line and
 * poppler's pdfinfo/pdftotext (Debian qpdf and poppler-utils, installed by tools/setup). The
 * SHA-256 values are the FIPS 180-2 examples. read(), malloc() and RAND_bytes() of the
 * library are wrapped (see CMakeLists.txt) to inject I/O errors, allocation failures and a
 * broken random generator.
 */
#include "document/document.h"

#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- fault injection -------------------------------------------------------------------- */

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
int __real_RAND_bytes(unsigned char *buf, int num);
int __wrap_RAND_bytes(unsigned char *buf, int num);

static int read_errno;      /* nonzero: every read() fails with it */
static long malloc_fail_at; /* > 0: the malloc with this number (from 1) fails */
static long malloc_count;
static size_t malloc_fail_size; /* > 0: every malloc of exactly this size fails */
static int realloc_fails;       /* nonzero: every realloc fails */
static int rand_fails;

ssize_t __wrap_read(int fd, void *buf, size_t n) {
  if (read_errno != 0) {
    errno = read_errno;
    return -1;
  }
  return __real_read(fd, buf, n);
}

void *__wrap_malloc(size_t n) {
  if (malloc_fail_at > 0 && ++malloc_count == malloc_fail_at)
    return NULL;
  if (malloc_fail_size > 0 && n == malloc_fail_size)
    return NULL;
  return __real_malloc(n);
}

void *__wrap_realloc(void *p, size_t n) {
  if (realloc_fails)
    return NULL;
  return __real_realloc(p, n);
}

int __wrap_RAND_bytes(unsigned char *buf, int num) {
  if (rand_fails)
    return 0;
  return __real_RAND_bytes(buf, num);
}

/* ---- small buffers ---------------------------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
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

static void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(buf_t *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < sizeof tmp);
  buf_add(b, tmp, (size_t)n);
}

static ct_bytes_t to_bytes(buf_t *b) {
  ct_bytes_t out = {(uint8_t *)b->p, b->len};
  b->p = NULL;
  b->len = b->cap = 0;
  return out;
}

static ct_bytes_t bytes_of(const char *s) {
  size_t n = strlen(s);
  ct_bytes_t out = {malloc(n + 1), n};
  assert_non_null(out.data);
  memcpy(out.data, s, n + 1);
  return out;
}

static const uint8_t *find(const ct_bytes_t *b, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; n <= b->len && i <= b->len - n; i++)
    if (memcmp(b->data + i, needle, n) == 0)
      return b->data + i;
  return NULL;
}

/* Replaces the first `from` in `b` by `to` of the same length. */
static void patch(ct_bytes_t *b, const char *from, const char *to) {
  assert_int_equal(strlen(from), strlen(to));
  uint8_t *at = (uint8_t *)find(b, from);
  if (at == NULL)
    fail_msg("patch: \"%s\" not in the document", from);
  memcpy(at, to, strlen(to));
}

/* ---- PDFs written by hand --------------------------------------------------------------- */

#define NUMBER "2026-000123"
#define AMOUNT "R$ 189,90"

/* A PDF of the given object bodies (object i + 1 is objs[i]), with a correct xref table. */
static ct_bytes_t build_pdf(const char *const *objs, size_t n) {
  buf_t b = {0};
  size_t offs[16];
  assert_true(n <= N_ELEMS(offs));
  buf_printf(&b, "%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n");
  for (size_t i = 0; i < n; i++) {
    offs[i] = b.len;
    buf_printf(&b, "%zu 0 obj\n", i + 1);
    buf_add(&b, objs[i], strlen(objs[i]));
    buf_printf(&b, "\nendobj\n");
  }
  size_t xref = b.len;
  buf_printf(&b, "xref\n0 %zu\n0000000000 65535 f \n", n + 1);
  for (size_t i = 0; i < n; i++)
    buf_printf(&b, "%010zu 00000 n \n", offs[i]);
  buf_printf(&b, "trailer\n<< /Size %zu /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", n + 1, xref);
  return to_bytes(&b);
}

/* A stream object holding `data`, with `dict_extra` added to its dictionary. */
static char *stream_obj(const char *dict_extra, const char *data) {
  buf_t b = {0};
  buf_printf(&b, "<< /Length %zu%s >>\nstream\n", strlen(data), dict_extra);
  buf_add(&b, data, strlen(data));
  buf_printf(&b, "\nendstream");
  return b.p;
}

/* A one-page invoice whose page shows "Fatura <number>" and "Valor: <amount>", then the
 * operators `content_extra`; `stream_dict` goes into the content stream's dictionary. */
static ct_bytes_t invoice_pdf_with(const char *content_extra, const char *stream_dict) {
  char ops[512];
  snprintf(ops, sizeof ops,
           "BT /F1 12 Tf 72 770 Td (Fatura " NUMBER ") Tj 0 -16 Td (Valor: " AMOUNT
           ") Tj%s ET",
           content_extra);
  char *content = stream_obj(stream_dict, ops);
  const char *objs[] = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R "
      ">> >> /Contents 5 0 R >>",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
      content,
  };
  ct_bytes_t pdf = build_pdf(objs, N_ELEMS(objs));
  free(content);
  return pdf;
}

static ct_bytes_t invoice_pdf(void) { return invoice_pdf_with("", ""); }

/* ---- files and outside programs --------------------------------------------------------- */

typedef struct {
  char dir[64]; /* a fresh directory per test */
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  if (f == NULL)
    return -1;
  const char *tmp = getenv("TMPDIR");
  snprintf(f->dir, sizeof f->dir, "%s/ct_doc_XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
  if (mkdtemp(f->dir) == NULL)
    return -1;
  read_errno = 0;
  malloc_fail_at = 0;
  malloc_count = 0;
  malloc_fail_size = 0;
  realloc_fails = 0;
  rand_fails = 0;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' && rm -rf '%s'", f->dir, f->dir);
  int rc = system(cmd);
  free(f);
  return rc == 0 ? 0 : -1;
}

static void path_in(const fixture_t *f, const char *name, char *out, size_t cap) {
  int n = snprintf(out, cap, "%s/%s", f->dir, name);
  assert_true(n > 0 && (size_t)n < cap);
}

static void write_file(const fixture_t *f, const char *name, const ct_bytes_t *b) {
  char path[256];
  path_in(f, name, path, sizeof path);
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(b->data, 1, b->len, fp), b->len);
  assert_int_equal(fclose(fp), 0);
}

static void make_dir(const fixture_t *f, const char *name) {
  char path[256];
  path_in(f, name, path, sizeof path);
  assert_int_equal(mkdir(path, 0700), 0);
}

static void make_link(const fixture_t *f, const char *target, const char *name) {
  char path[256];
  path_in(f, name, path, sizeof path);
  assert_int_equal(symlink(target, path), 0);
}

/* Runs a shell line in the fixture's directory; returns its exit status. */
static int sh(const fixture_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int sh(const fixture_t *f, const char *fmt, ...) {
  char line[512], cmd[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "cd '%s' && { %s; } >/dev/null 2>&1", f->dir, line);
  int st = system(cmd);
  assert_true(st != -1 && WIFEXITED(st));
  return WEXITSTATUS(st);
}

/* Runs a shell line in the fixture's directory and returns its standard output (malloc'd);
 * *status gets its exit status. */
static char *sh_out(const fixture_t *f, int *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static char *sh_out(const fixture_t *f, int *status, const char *fmt, ...) {
  char line[512], cmd[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "cd '%s' && { %s; } 2>/dev/null", f->dir, line);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  buf_t b = {0};
  char chunk[4096];
  for (;;) {
    size_t n = fread(chunk, 1, sizeof chunk, p);
    if (n == 0)
      break;
    buf_add(&b, chunk, n);
  }
  int st = pclose(p);
  assert_true(st != -1 && WIFEXITED(st));
  *status = WEXITSTATUS(st);
  if (b.p == NULL)
    buf_add(&b, "", 0);
  return b.p;
}

/* Fails unless `text` has `line` as one whole line. */
static void assert_has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; p != NULL && *p != '\0';) {
    const char *nl = strchr(p, '\n');
    size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
    if (len == n && memcmp(p, line, n) == 0)
      return;
    p = nl != NULL ? nl + 1 : NULL;
  }
  fail_msg("line \"%s\" not in:\n%s", line, text);
}

/* ---- error assertions ------------------------------------------------------------------- */

#define EXPECT_FAIL(rc, err, reason, transient, detail)                                       \
  expect_fail((rc), &(err), (reason), (transient), (detail), false, __FILE__, __LINE__)
/* The same, comparing only the first strlen(detail) characters of the detail: for qpdf's
 * file offsets, which belong to qpdf's parser, not to us. */
#define EXPECT_FAIL_PREFIX(rc, err, reason, transient, detail)                                \
  expect_fail((rc), &(err), (reason), (transient), (detail), true, __FILE__, __LINE__)

static void expect_fail(int rc, const ct_doc_error_t *err, const char *reason, bool transient,
                        const char *detail, bool prefix, const char *file, int line) {
  const char *got = err->reason != NULL ? err->reason : "(null)";
  bool same_detail = prefix ? strncmp(err->detail, detail, strlen(detail)) == 0
                            : strcmp(err->detail, detail) == 0;
  if (rc != CT_EINVAL || strcmp(got, reason) != 0 || err->transient != transient ||
      !same_detail)
    fail_msg("%s:%d: got rc %d, %s (%s), \"%s\"; want rc %d, %s (%s), \"%s\"%s", file, line, rc,
             got, err->transient ? "transient" : "permanent", err->detail, CT_EINVAL, reason,
             transient ? "transient" : "permanent", detail, prefix ? "..." : "");
}

#define EXPECT_OK(rc, err) expect_ok((rc), &(err), __FILE__, __LINE__)

static void expect_ok(int rc, const ct_doc_error_t *err, const char *file, int line) {
  if (rc != 0 || err->reason != NULL || err->detail[0] != '\0')
    fail_msg("%s:%d: got rc %d, %s \"%s\"; want success", file, line, rc,
             err->reason != NULL ? err->reason : "(null)", err->detail);
}

static ct_doc_error_t fresh_err(void) {
  ct_doc_error_t e;
  memset(&e, 0, sizeof e);
  e.reason = "unset";
  e.transient = true;
  snprintf(e.detail, sizeof e.detail, "unset");
  return e;
}

/* A ct_bytes_t the library must not touch on failure. */
#define SENTINEL ((uint8_t *)(uintptr_t)0x5a5a5a5a)

/* ---- SHA-256 ---------------------------------------------------------------------------- */

static void test_sha256(void **state) {
  (void)state;
  char hex[65];
  ct_document_sha256((const uint8_t *)"abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ct_document_sha256((const uint8_t *)"", 0, hex);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ct_document_sha256(NULL, 0, hex);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  ct_document_sha256((const uint8_t *)two_blocks, strlen(two_blocks), hex);
  assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  size_t n = 1000000;
  uint8_t *a = malloc(n);
  assert_non_null(a);
  memset(a, 'a', n);
  ct_document_sha256(a, n, hex);
  free(a);
  assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* ---- the fixture PDFs are valid to outside tools ---------------------------------------- */

static void test_fixture_is_valid(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf = invoice_pdf();
  write_file(f, "in.pdf", &pdf);
  assert_int_equal(sh(f, "qpdf --check in.pdf"), 0);
  int st;
  char *text = sh_out(f, &st, "pdftotext in.pdf -");
  assert_int_equal(st, 0);
  assert_has_line(text, "Fatura " NUMBER);
  assert_has_line(text, "Valor: " AMOUNT);
  free(text);
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_check(&pdf, &err), err);
  ct_bytes_free(&pdf);
}

/* What other generators write: object and xref streams, a linearized file, PDF 2.0. */
static void test_check_accepts_other_layouts(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf = invoice_pdf();
  write_file(f, "in.pdf", &pdf);
  ct_bytes_free(&pdf);
  assert_int_equal(sh(f, "qpdf --object-streams=generate in.pdf objstm.pdf"), 0);
  assert_int_equal(sh(f, "qpdf --linearize in.pdf linear.pdf"), 0);
  assert_int_equal(sh(f, "qpdf --force-version=2.0 --compress-streams=y in.pdf v20.pdf"), 0);
  static const char *const names[] = {"objstm.pdf", "linear.pdf", "v20.pdf"};
  for (size_t i = 0; i < N_ELEMS(names); i++) {
    ct_bytes_t b = {0};
    ct_doc_error_t err = fresh_err();
    EXPECT_OK(ct_document_read_path(f->dir, names[i], &b, &err), err);
    err = fresh_err();
    int rc = ct_document_check(&b, &err);
    if (rc != 0)
      fail_msg("%s: %s \"%s\"", names[i], err.reason, err.detail);
    ct_bytes_t out = {0};
    EXPECT_OK(ct_document_protect(&b, "1234", &out, &err), err);
    write_file(f, "out.pdf", &out);
    assert_int_equal(sh(f, "qpdf --password=1234 --check out.pdf"), 0);
    ct_bytes_free(&out);
    ct_bytes_free(&b);
  }
}

/* ---- protection, judged by qpdf and poppler --------------------------------------------- */

static void test_protect_outside_tools(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf = invoice_pdf();
  ct_bytes_t out = {0};
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_protect(&pdf, "1234", &out, &err), err);
  assert_true(out.len > 5);
  assert_memory_equal(out.data, "%PDF-", 5);
  /* Nothing of the page is left in clear. */
  assert_null(find(&out, "Fatura"));
  assert_null(find(&out, NUMBER));
  write_file(f, "out.pdf", &out);

  assert_int_equal(sh(f, "qpdf --password=1234 --check out.pdf"), 0);
  assert_int_equal(sh(f, "qpdf --check out.pdf"), 2);
  assert_int_equal(sh(f, "qpdf --password=0000 --check out.pdf"), 2);
  assert_int_equal(sh(f, "qpdf --password=12345 --check out.pdf"), 2);

  int st;
  char *enc = sh_out(f, &st, "qpdf --show-encryption --password=1234 out.pdf");
  assert_int_equal(st, 0);
  assert_has_line(enc, "R = 6");
  assert_has_line(enc, "User password = 1234");
  /* 1234 opens it as the user, not as the owner: the owner password is something else. */
  assert_has_line(enc, "Supplied password is user password");
  assert_has_line(enc, "extract for accessibility: allowed");
  assert_has_line(enc, "extract for any purpose: not allowed");
  assert_has_line(enc, "print low resolution: allowed");
  assert_has_line(enc, "print high resolution: allowed");
  assert_has_line(enc, "modify document assembly: not allowed");
  assert_has_line(enc, "modify forms: not allowed");
  assert_has_line(enc, "modify annotations: not allowed");
  assert_has_line(enc, "modify other: not allowed");
  assert_has_line(enc, "modify anything: not allowed");
  assert_has_line(enc, "stream encryption method: AESv3");
  assert_has_line(enc, "string encryption method: AESv3");
  assert_has_line(enc, "file encryption method: AESv3");
  free(enc);

  char *info = sh_out(f, &st, "pdfinfo -upw 1234 out.pdf");
  assert_int_equal(st, 0);
  assert_has_line(info,
                  "Encrypted:       yes (print:yes copy:no change:no addNotes:no "
                  "algorithm:AES-256)");
  assert_has_line(info, "Pages:           1");
  free(info);
  assert_int_equal(sh(f, "pdfinfo out.pdf"), 1);
  assert_int_equal(sh(f, "pdfinfo -upw 4321 out.pdf"), 1);

  char *text = sh_out(f, &st, "pdftotext -upw 1234 out.pdf -");
  assert_int_equal(st, 0);
  assert_has_line(text, "Fatura " NUMBER);
  assert_has_line(text, "Valor: " AMOUNT);
  free(text);
  assert_int_equal(sh(f, "pdftotext out.pdf -"), 1);

  ct_bytes_free(&out);
  ct_bytes_free(&pdf);
}

/* Stream data goes out as it came: a content stream that libharu would write with its
 * filter as an array, /Filter [/FlateDecode], compressed here at level 1, is in the locked
 * file byte for byte once decrypted (qpdf's writer used to inflate and deflate it again, at
 * its own level). */
static void test_lock_preserves_stream_data(void **state) {
  fixture_t *f = *state;
  char ops[256];
  snprintf(ops, sizeof ops,
           "BT /F1 12 Tf 72 770 Td (Fatura " NUMBER ") Tj 0 -16 Td (Valor: " AMOUNT ") Tj ET");
  uLongf zlen = compressBound(strlen(ops));
  uint8_t z[512];
  assert_true(zlen <= sizeof z);
  assert_int_equal(compress2(z, &zlen, (const Bytef *)ops, strlen(ops), 1), Z_OK);
  /* Written here rather than by build_pdf(): the compressed bytes may hold a NUL. */
  static const char *const objs[] = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R "
      ">> >> /Contents 5 0 R >>",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  };
  buf_t b = {0};
  size_t offs[5];
  buf_printf(&b, "%%PDF-1.4\n");
  for (size_t i = 0; i < N_ELEMS(objs); i++) {
    offs[i] = b.len;
    buf_printf(&b, "%zu 0 obj\n%s\nendobj\n", i + 1, objs[i]);
  }
  offs[4] = b.len;
  buf_printf(&b, "5 0 obj\n<< /Length %lu /Filter [/FlateDecode] >>\nstream\n",
             (unsigned long)zlen);
  buf_add(&b, z, zlen);
  buf_printf(&b, "\nendstream\nendobj\n");
  size_t xref = b.len;
  buf_printf(&b, "xref\n0 6\n0000000000 65535 f \n");
  for (size_t i = 0; i < 5; i++)
    buf_printf(&b, "%010zu 00000 n \n", offs[i]);
  buf_printf(&b, "trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", xref);
  ct_bytes_t pdf = to_bytes(&b);
  ct_bytes_t out = {0};
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_protect(&pdf, "1234", &out, &err), err);
  write_file(f, "out.pdf", &out);
  assert_int_equal(
      sh(f, "qpdf --password=1234 --decrypt --stream-data=preserve out.pdf dec.pdf"), 0);
  ct_bytes_t dec = {0};
  EXPECT_OK(ct_document_read_path(f->dir, "dec.pdf", &dec, &err), err);
  buf_t want = {0};
  buf_add(&want, z, zlen);
  ct_bytes_t needle = to_bytes(&want);
  bool found = false;
  for (size_t i = 0; !found && needle.len <= dec.len && i <= dec.len - needle.len; i++)
    found = memcmp(dec.data + i, needle.data, needle.len) == 0;
  assert_true(found);
  int st;
  char *text = sh_out(f, &st, "pdftotext -upw 1234 out.pdf -");
  assert_int_equal(st, 0);
  assert_has_line(text, "Fatura " NUMBER);
  free(text);
  ct_bytes_free(&needle);
  ct_bytes_free(&dec);
  ct_bytes_free(&out);
  ct_bytes_free(&pdf);
}

/* Two protections of one document share nothing: a fresh owner password, key and IVs. */
static void test_protect_is_randomized(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf = invoice_pdf();
  ct_bytes_t a = {0}, b = {0};
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_protect(&pdf, "1234", &a, &err), err);
  EXPECT_OK(ct_document_protect(&pdf, "1234", &b, &err), err);
  assert_true(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
  write_file(f, "a.pdf", &a);
  write_file(f, "b.pdf", &b);
  /* Fresh file keys (qpdf prints the key it derived from the user password). */
  int st;
  char *key_a = sh_out(f, &st, "qpdf --show-encryption-key --show-encryption --password=1234 "
                               "a.pdf | grep '^Encryption key = '");
  assert_int_equal(st, 0);
  char *key_b = sh_out(f, &st, "qpdf --show-encryption-key --show-encryption --password=1234 "
                               "b.pdf | grep '^Encryption key = '");
  assert_int_equal(st, 0);
  assert_int_equal(strlen(key_a), strlen("Encryption key = ") + 64 + 1);
  assert_string_not_equal(key_a, key_b);
  free(key_a);
  free(key_b);
  assert_int_equal(sh(f, "qpdf --password=1234 --check a.pdf && "
                         "qpdf --password=1234 --check b.pdf"),
                   0);
  /* Fresh /IDs, both halves, although the input and the second are the same: the random
   * string that seeds /ID[1] went into /Info only while the writer made the ID, and the
   * input had no /Info, so the output has none either. */
  char *id_a = sh_out(f, &st, "qpdf --password=1234 --show-object=trailer a.pdf");
  assert_int_equal(st, 0);
  char *id_b = sh_out(f, &st, "qpdf --password=1234 --show-object=trailer b.pdf");
  assert_int_equal(st, 0);
  char a0[40], a1[40], b0[40], b1[40];
  const char *pa = strstr(id_a, "/ID [ "), *pb = strstr(id_b, "/ID [ ");
  assert_non_null(pa);
  assert_non_null(pb);
  assert_int_equal(sscanf(pa, "/ID [ <%39[0-9a-f]> <%39[0-9a-f]> ]", a0, a1), 2);
  assert_int_equal(sscanf(pb, "/ID [ <%39[0-9a-f]> <%39[0-9a-f]> ]", b0, b1), 2);
  assert_string_not_equal(a0, b0);
  assert_string_not_equal(a1, b1);
  assert_null(strstr(id_a, "/Info"));
  assert_null(find(&a, "CarteiroNonce"));
  free(id_a);
  free(id_b);
  ct_bytes_free(&a);
  ct_bytes_free(&b);
  ct_bytes_free(&pdf);
}

static void test_protect_refuses(void **state) {
  (void)state;
  ct_bytes_t pdf = invoice_pdf();
  ct_bytes_t out = {SENTINEL, 7};
  ct_doc_error_t err = fresh_err();
  EXPECT_FAIL(ct_document_protect(&pdf, "", &out, &err), err, "document_protection_failed",
              false, "an empty user password would lock nothing");
  err = fresh_err();
  EXPECT_FAIL(ct_document_protect(&pdf, NULL, &out, &err), err, "document_protection_failed",
              false, "an empty user password would lock nothing");
  ct_bytes_t text = bytes_of("Fatura " NUMBER "\n");
  err = fresh_err();
  EXPECT_FAIL(ct_document_protect(&text, "1234", &out, &err), err, "document_not_pdf", false,
              "the document does not start with %PDF-");
  rand_fails = 1;
  err = fresh_err();
  EXPECT_FAIL(ct_document_protect(&pdf, "1234", &out, &err), err, "document_protection_failed",
              true, "the system random generator failed");
  rand_fails = 0;
  assert_ptr_equal(out.data, SENTINEL);
  assert_int_equal(out.len, 7);
  ct_bytes_free(&text);
  ct_bytes_free(&pdf);
}

/* Passwords outside ASCII reach the file as UTF-8 and open it in poppler and qpdf. */
static void test_protect_utf8_password(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf = invoice_pdf();
  ct_bytes_t out = {0};
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_protect(&pdf, "s\xc3\xa3o-jo\xc3\xa3o", &out, &err), err);
  write_file(f, "out.pdf", &out);
  assert_int_equal(sh(f, "qpdf --password='s\xc3\xa3o-jo\xc3\xa3o' --check out.pdf"), 0);
  assert_int_equal(sh(f, "qpdf --password='sao-joao' --check out.pdf"), 2);
  int st;
  char *text = sh_out(f, &st, "pdftotext -upw 's\xc3\xa3o-jo\xc3\xa3o' out.pdf -");
  assert_int_equal(st, 0);
  assert_has_line(text, "Fatura " NUMBER);
  free(text);
  ct_bytes_free(&out);
  ct_bytes_free(&pdf);
}

/* ---- what is not a PDF, what is encrypted, what is damaged ------------------------------- */

static void test_check_not_pdf(void **state) {
  (void)state;
  ct_doc_error_t err = fresh_err();
  ct_bytes_t text = bytes_of("Fatura " NUMBER "\nValor: " AMOUNT "\n");
  EXPECT_FAIL(ct_document_check(&text, &err), err, "document_not_pdf", false,
              "the document does not start with %PDF-");
  ct_bytes_free(&text);

  uint8_t noise[4096];
  uint32_t x = 2463534242u; /* xorshift32: the same bytes every run */
  for (size_t i = 0; i < sizeof noise; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    noise[i] = (uint8_t)x;
  }
  noise[0] = 0x89; /* not '%' whatever the generator says */
  ct_bytes_t random = {noise, sizeof noise};
  err = fresh_err();
  EXPECT_FAIL(ct_document_check(&random, &err), err, "document_not_pdf", false,
              "the document does not start with %PDF-");

  ct_bytes_t empty = {NULL, 0};
  err = fresh_err();
  EXPECT_FAIL(ct_document_check(&empty, &err), err, "document_not_pdf", false,
              "the document does not start with %PDF-");
  ct_bytes_t short_header = {(uint8_t *)"%PDF", 4};
  err = fresh_err();
  EXPECT_FAIL(ct_document_check(&short_header, &err), err, "document_not_pdf", false,
              "the document does not start with %PDF-");
  /* The header must open the file: a PDF behind a byte-order mark or a mail header is not
   * one (qpdf alone would look for it in the first kilobyte). */
  ct_bytes_t pdf = invoice_pdf();
  buf_t b = {0};
  buf_add(&b, "\xef\xbb\xbf", 3);
  buf_add(&b, pdf.data, pdf.len);
  ct_bytes_t bom = to_bytes(&b);
  err = fresh_err();
  EXPECT_FAIL(ct_document_check(&bom, &err), err, "document_not_pdf", false,
              "the document does not start with %PDF-");
  ct_bytes_free(&bom);
  ct_bytes_free(&pdf);
}

static void test_check_encrypted(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf = invoice_pdf();
  ct_bytes_t locked = {0};
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_protect(&pdf, "1234", &locked, &err), err);

  err = fresh_err();
  EXPECT_FAIL(ct_document_check(&locked, &err), err, "document_encrypted", false,
              "the document needs a password to open");
  ct_bytes_t twice = {SENTINEL, 1};
  err = fresh_err();
  EXPECT_FAIL(ct_document_protect(&locked, "1234", &twice, &err), err, "document_encrypted",
              false, "the document needs a password to open");
  assert_ptr_equal(twice.data, SENTINEL);

  /* Encrypted with an empty user password: it opens, but someone set restrictions on it. */
  write_file(f, "in.pdf", &pdf);
  assert_int_equal(
      sh(f, "qpdf --encrypt '' owner-secret 256 --modify=none -- in.pdf owner-only.pdf"), 0);
  ct_bytes_t owner_only = {0};
  EXPECT_OK(ct_document_read_path(f->dir, "owner-only.pdf", &owner_only, &err), err);
  err = fresh_err();
  EXPECT_FAIL(ct_document_check(&owner_only, &err), err, "document_encrypted", false,
              "the document is already encrypted");
  err = fresh_err();
  EXPECT_FAIL(ct_document_protect(&owner_only, "1234", &twice, &err), err, "document_encrypted",
              false, "the document is already encrypted");
  /* RC4-era encryption is refused the same way. */
  assert_int_equal(sh(f, "qpdf --allow-weak-crypto --encrypt u o 128 --use-aes=n -- in.pdf "
                         "rc4.pdf"),
                   0);
  ct_bytes_t rc4 = {0};
  EXPECT_OK(ct_document_read_path(f->dir, "rc4.pdf", &rc4, &err), err);
  err = fresh_err();
  EXPECT_FAIL(ct_document_check(&rc4, &err), err, "document_encrypted", false,
              "the document needs a password to open");
  ct_bytes_free(&rc4);
  ct_bytes_free(&owner_only);
  ct_bytes_free(&locked);
  ct_bytes_free(&pdf);
}

/* Files qpdf's recovery mode would repair and accept (its own --check says so, exit status 3:
 * warnings) are damaged to us, as are files it cannot read at all. */
static void test_check_damaged(void **state) {
  fixture_t *f = *state;
  ct_doc_error_t err;
  ct_bytes_t pdf = invoice_pdf();

  /* Cut in half: no xref, no trailer. */
  ct_bytes_t half = {pdf.data, pdf.len / 2};
  err = fresh_err();
  EXPECT_FAIL_PREFIX(ct_document_check(&half, &err), err, "document_damaged", false,
                     "qpdf reading: damaged_pdf error at offset ");
  write_file(f, "half.pdf", &half);
  assert_int_equal(sh(f, "qpdf --check half.pdf"), 2);

  /* Cut just before the end: the startxref offset is gone. */
  ct_bytes_t tail = {pdf.data, pdf.len - 12};
  err = fresh_err();
  EXPECT_FAIL_PREFIX(ct_document_check(&tail, &err), err, "document_damaged", false,
                     "qpdf reading: damaged_pdf error at offset ");
  write_file(f, "tail.pdf", &tail);
  assert_int_equal(sh(f, "qpdf --check tail.pdf"), 3);

  /* A header, then garbage. */
  buf_t b = {0};
  buf_add(&b, "%PDF-1.7\n", 9);
  uint32_t x = 88172645u;
  for (int i = 0; i < 3000; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    uint8_t c = (uint8_t)x;
    buf_add(&b, &c, 1);
  }
  ct_bytes_t garbage = to_bytes(&b);
  err = fresh_err();
  EXPECT_FAIL_PREFIX(ct_document_check(&garbage, &err), err, "document_damaged", false,
                     "qpdf reading: damaged_pdf error at offset ");
  ct_bytes_free(&garbage);

  /* The objects overwritten with garbage, xref and trailer intact. */
  ct_bytes_t overwritten = invoice_pdf();
  const uint8_t *xref = find(&overwritten, "xref\n");
  assert_non_null(xref);
  for (uint8_t *p = overwritten.data + 20; p < xref; p++)
    *p = (uint8_t)('#' + (p - overwritten.data) % 7);
  err = fresh_err();
  /* qpdf reads objects only when asked for them: reading the xref and the trailer works,
   * the first object fails in the checking pass. */
  EXPECT_FAIL_PREFIX(ct_document_check(&overwritten, &err), err, "document_damaged", false,
                     "qpdf checking: damaged_pdf error at offset ");
  ct_bytes_free(&overwritten);

  /* An xref entry a few bytes off. */
  ct_bytes_t off = invoice_pdf();
  const uint8_t *obj5 = find(&off, "5 0 obj");
  assert_non_null(obj5);
  char from[32], to[32];
  snprintf(from, sizeof from, "%010zu 00000 n", (size_t)(obj5 - off.data));
  snprintf(to, sizeof to, "%010zu 00000 n", (size_t)(obj5 - off.data) + 3);
  patch(&off, from, to);
  err = fresh_err();
  EXPECT_FAIL_PREFIX(ct_document_check(&off, &err), err, "document_damaged", false,
                     "qpdf checking: damaged_pdf warning at offset ");
  write_file(f, "off.pdf", &off);
  assert_int_equal(sh(f, "qpdf --check off.pdf"), 3);
  ct_bytes_free(&off);

  /* A stream /Length that does not match (a truncated page would look the same). */
  ct_bytes_t len = invoice_pdf();
  const uint8_t *l = find(&len, "/Length ");
  assert_non_null(l);
  char want[32], wrong[32];
  long n = strtol((const char *)l + 8, NULL, 10);
  snprintf(want, sizeof want, "/Length %ld ", n);
  snprintf(wrong, sizeof wrong, "/Length %ld ", n + 5);
  assert_int_equal(strlen(want), strlen(wrong));
  patch(&len, want, wrong);
  err = fresh_err();
  EXPECT_FAIL_PREFIX(ct_document_check(&len, &err), err, "document_damaged", false,
                     "qpdf checking: damaged_pdf warning at offset ");
  write_file(f, "len.pdf", &len);
  assert_int_equal(sh(f, "qpdf --check len.pdf"), 3);
  ct_bytes_t out = {SENTINEL, 1};
  err = fresh_err();
  EXPECT_FAIL_PREFIX(ct_document_protect(&len, "1234", &out, &err), err, "document_damaged",
                     false, "qpdf checking: damaged_pdf warning at offset ");
  assert_ptr_equal(out.data, SENTINEL);
  ct_bytes_free(&len);

  /* Garbage in an object nothing refers to: the writer parses every object of the
   * cross-reference table, so the check does too (a fuzzer found the check passing a file
   * the lock then called damaged). */
  char *content = stream_obj("", "BT /F1 12 Tf 72 770 Td (Fatura " NUMBER ") Tj ET");
  const char *orphan[] = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
      content,
      "<< /Unused [1 2 \xc3\xc1\xf5 ) >>",
  };
  ct_bytes_t unused = build_pdf(orphan, N_ELEMS(orphan));
  free(content);
  err = fresh_err();
  EXPECT_FAIL_PREFIX(ct_document_check(&unused, &err), err, "document_damaged", false,
                     "qpdf checking: damaged_pdf ");
  err = fresh_err();
  EXPECT_FAIL_PREFIX(ct_document_protect(&unused, "1234", &out, &err), err, "document_damaged",
                     false, "qpdf checking: damaged_pdf ");
  ct_bytes_free(&unused);

  ct_bytes_free(&pdf);
}

/* A Flate stream that does not inflate parses fine and would pass through qpdf's writer
 * untouched: only decoding it finds the damage. */
static void test_check_damaged_stream_data(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf = invoice_pdf_with("", " /Filter /FlateDecode");
  write_file(f, "flate.pdf", &pdf);
  /* qpdf --check also parses the page's content (our check does not need to: the stream
   * could not be decoded), hence its error status. */
  assert_int_equal(sh(f, "qpdf --check flate.pdf"), 2);
  ct_doc_error_t err = fresh_err();
  EXPECT_FAIL_PREFIX(ct_document_check(&pdf, &err), err, "document_damaged", false,
                     "qpdf checking: damaged_pdf warning at offset ");
  ct_bytes_free(&pdf);
}

/* Details name qpdf's step, its error kind and the offset, never what the document or the
 * password says: here the parser trips on a token that is a CPF (qpdf's own warning would
 * say "unknown token while reading object; treating as string": a recovery, hence damaged). */
static void test_errors_keep_secrets(void **state) {
  (void)state;
  char *content = stream_obj("", "BT /F1 12 Tf 72 770 Td (Fatura " NUMBER ") Tj ET");
  const char *objs[] = {
      "<< /Type /Catalog /Pages 2 0 R /Titular (Maria) /CPF 111.444.777-35 ] >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
      content,
  };
  ct_bytes_t pdf = build_pdf(objs, N_ELEMS(objs));
  free(content);
  ct_doc_error_t err = fresh_err();
  ct_bytes_t out = {SENTINEL, 1};
  EXPECT_FAIL_PREFIX(ct_document_protect(&pdf, "9876", &out, &err), err, "document_damaged",
                     false, "qpdf checking: damaged_pdf warning at offset ");
  assert_ptr_equal(out.data, SENTINEL);
  assert_null(strstr(err.detail, "111"));
  assert_null(strstr(err.detail, "CPF"));
  assert_null(strstr(err.detail, "Maria"));
  assert_null(strstr(err.detail, "9876"));
  ct_bytes_free(&pdf);
}

/* ---- reading a path under the root ------------------------------------------------------ */

/* root/ with ok.pdf, sub/ok.pdf, links; outside/ next to it with secret.pdf. */
static void make_tree(fixture_t *f, ct_bytes_t *pdf, char *root, size_t cap) {
  *pdf = invoice_pdf();
  make_dir(f, "root");
  make_dir(f, "root/sub");
  make_dir(f, "outside");
  write_file(f, "root/ok.pdf", pdf);
  write_file(f, "root/sub/ok.pdf", pdf);
  write_file(f, "outside/secret.pdf", pdf);
  char outside[256], inside[256];
  path_in(f, "outside/secret.pdf", outside, sizeof outside);
  path_in(f, "root/ok.pdf", inside, sizeof inside);
  make_link(f, outside, "root/link-out.pdf");
  make_link(f, "../outside/secret.pdf", "root/link-out-rel.pdf");
  make_link(f, "../outside", "root/linkdir");
  make_link(f, inside, "root/link-in-abs.pdf");
  make_link(f, "sub/ok.pdf", "root/link-in.pdf");
  make_link(f, "sub", "root/linkdir-in");
  make_link(f, "loop-b.pdf", "root/loop-a.pdf");
  make_link(f, "loop-a.pdf", "root/loop-b.pdf");
  make_link(f, "/", "root/slash");
  path_in(f, "root", root, cap);
}

static void expect_read_refused(const char *root, const char *rel, const char *reason,
                                bool transient, const char *detail, int line) {
  ct_bytes_t out = {SENTINEL, 3};
  ct_doc_error_t err = fresh_err();
  int rc = ct_document_read_path(root, rel, &out, &err);
  char where[300];
  snprintf(where, sizeof where, "path \"%s\"", rel);
  expect_fail(rc, &err, reason, transient, detail, false, where, line);
  assert_ptr_equal(out.data, SENTINEL);
  assert_int_equal(out.len, 3);
}

static void expect_read_ok(const char *root, const char *rel, const ct_bytes_t *want) {
  ct_bytes_t out = {0};
  ct_doc_error_t err = fresh_err();
  int rc = ct_document_read_path(root, rel, &out, &err);
  if (rc != 0)
    fail_msg("path \"%s\": %s \"%s\"", rel, err.reason, err.detail);
  expect_ok(rc, &err, __FILE__, __LINE__);
  assert_int_equal(out.len, want->len);
  assert_memory_equal(out.data, want->data, want->len);
  ct_bytes_free(&out);
}

static void test_read_path_refused(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf;
  char root[256];
  make_tree(f, &pdf, root, sizeof root);
  static const char dotdot[] = "document path has a '..' component";
  static const char outside[] = "document path resolves outside the document root";
  static const struct {
    const char *rel, *detail;
  } cases[] = {
      {"../x.pdf", dotdot},
      {"..", dotdot},
      {"a/../../x", dotdot},
      {"sub/../ok.pdf", dotdot},
      {"sub/..", dotdot},
      {"../outside/secret.pdf", dotdot},
      {"sub/../../outside/secret.pdf", dotdot},
      {"/etc/passwd", "document path is absolute"},
      {"//etc/passwd", "document path is absolute"},
      {"", "document path is empty"},
      {"link-out.pdf", outside},
      {"link-out-rel.pdf", outside},
      {"linkdir/secret.pdf", outside},
      {"slash/etc/passwd", outside},
      {".", outside},
      {"sub", "document path is not a regular file"},
      {"linkdir-in", "document path is not a regular file"},
      {"loop-a.pdf", "document path: too many levels of symlinks"},
  };
  for (size_t i = 0; i < N_ELEMS(cases); i++)
    expect_read_refused(root, cases[i].rel, "document_path_refused", false, cases[i].detail,
                        (int)i);
  expect_read_refused(root, NULL, "document_path_refused", false, "document path is empty", -1);

  /* A FIFO would block a plain open() forever. */
  char fifo[256];
  path_in(f, "root/pipe.pdf", fifo, sizeof fifo);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  expect_read_refused(root, "pipe.pdf", "document_path_refused", false,
                      "document path is not a regular file", -1);

  /* Longer than PATH_MAX once joined to the root. */
  char longp[5000];
  memset(longp, 'a', sizeof longp - 1);
  longp[sizeof longp - 1] = '\0';
  expect_read_refused(root, longp, "document_path_refused", false, "document path is too long",
                      -1);
  /* One component longer than a file name may be. */
  longp[300] = '\0';
  expect_read_refused(root, longp, "document_path_refused", false,
                      "document path: name too long", -1);
  ct_bytes_free(&pdf);
}

static void test_read_path_found(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf;
  char root[256];
  make_tree(f, &pdf, root, sizeof root);
  static const char *const ok[] = {"ok.pdf",      "sub/ok.pdf",         "./ok.pdf",
                                   "sub//ok.pdf", "link-in.pdf",        "link-in-abs.pdf",
                                   "linkdir-in/ok.pdf", "./sub/./ok.pdf"};
  for (size_t i = 0; i < N_ELEMS(ok); i++)
    expect_read_ok(root, ok[i], &pdf);
  /* The root given with a trailing slash, or through a symlink, is the same root. */
  char root_slash[300], root_link[256];
  snprintf(root_slash, sizeof root_slash, "%s/", root);
  expect_read_ok(root_slash, "ok.pdf", &pdf);
  make_link(f, "root", "root-link");
  path_in(f, "root-link", root_link, sizeof root_link);
  expect_read_ok(root_link, "sub/ok.pdf", &pdf);
  /* An empty file reads as empty (the PDF check then refuses it). */
  ct_bytes_t empty = {(uint8_t *)"", 0};
  write_file(f, "root/empty.pdf", &empty);
  expect_read_ok(root, "empty.pdf", &empty);
  ct_bytes_free(&pdf);
}

static void test_read_path_not_found(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf;
  char root[256];
  make_tree(f, &pdf, root, sizeof root);
  expect_read_refused(root, "missing.pdf", "document_not_found", false,
                      "document path: no such file", -1);
  expect_read_refused(root, "nodir/x.pdf", "document_not_found", false,
                      "document path: no such file", -1);
  expect_read_refused(root, "ok.pdf/x.pdf", "document_not_found", false,
                      "document path: no such file", -1);
  make_link(f, "gone.pdf", "root/dangling.pdf");
  expect_read_refused(root, "dangling.pdf", "document_not_found", false,
                      "document path: no such file", -1);

  /* The root itself missing is the operator's problem: the job waits. */
  char no_root[256];
  path_in(f, "no-such-root", no_root, sizeof no_root);
  expect_read_refused(no_root, "ok.pdf", "document_fetch_failed", true,
                      "document root: no such file (errno 2)", -1);
  expect_read_refused("", "ok.pdf", "document_fetch_failed", false,
                      "no document root is configured", -1);
  expect_read_refused(NULL, "ok.pdf", "document_fetch_failed", false,
                      "no document root is configured", -1);
  ct_bytes_free(&pdf);
}

static void test_read_path_limits_and_errors(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf;
  char root[256];
  make_tree(f, &pdf, root, sizeof root);

  /* One byte over the limit (a sparse file: no 20 MiB written). */
  char big[256];
  path_in(f, "root/big.pdf", big, sizeof big);
  int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)CT_DOCUMENT_MAX + 1), 0);
  assert_int_equal(close(fd), 0);
  expect_read_refused(root, "big.pdf", "document_too_large", false,
                      "document has 20971521 bytes, more than the 20971520 allowed", -1);
  /* Exactly at the limit is read. */
  fd = open(big, O_WRONLY | O_TRUNC);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)CT_DOCUMENT_MAX), 0);
  assert_int_equal(close(fd), 0);
  ct_bytes_t out = {0};
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(ct_document_read_path(root, "big.pdf", &out, &err), err);
  assert_int_equal(out.len, CT_DOCUMENT_MAX);
  ct_bytes_free(&out);

  /* An I/O error while reading is worth a retry. */
  read_errno = EIO;
  expect_read_refused(root, "ok.pdf", "document_fetch_failed", true,
                      "reading the document: input/output error (errno 5)", -1);
  read_errno = 0;

  /* So is memory running out. */
  malloc_count = 0;
  malloc_fail_at = 1;
  expect_read_refused(root, "ok.pdf", "document_fetch_failed", true,
                      "out of memory reading the document", -1);
  malloc_fail_at = 0;

  /* A file we may not read: only meaningful when not running as root. */
  if (geteuid() != 0) {
    char locked[256];
    path_in(f, "root/locked.pdf", locked, sizeof locked);
    write_file(f, "root/locked.pdf", &pdf);
    assert_int_equal(chmod(locked, 0), 0);
    expect_read_refused(root, "locked.pdf", "document_fetch_failed", true,
                        "opening the document: permission denied (errno 13)", -1);
  }
  ct_bytes_free(&pdf);
}

/* ---- the password of each policy -------------------------------------------------------- */

typedef struct {
  ct_job_t job;
  ct_recipient_t rcpt;
  ct_invoice_t inv;
  ct_document_t doc;
} job_fixture_t;

static void invoice_job(job_fixture_t *j, int policy) {
  memset(j, 0, sizeof *j);
  carteiro__v1__job__init(&j->job);
  carteiro__v1__recipient__init(&j->rcpt);
  carteiro__v1__invoice__init(&j->inv);
  carteiro__v1__document__init(&j->doc);
  j->job.id = "inv-2026-12-000123";
  j->job.tenant = "telco";
  j->job.kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
  j->job.recipient = &j->rcpt;
  j->rcpt.name = "Maria Teste";
  j->rcpt.cpf = "11144477735";
  j->rcpt.card_last4 = "4321";
  j->job.invoice = &j->inv;
  j->inv.number = NUMBER;
  j->inv.amount_cents = 18990;
  j->inv.document = &j->doc;
  j->doc.password_policy = (Carteiro__V1__PasswordPolicy)policy;
}

#define POLICY(name) CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_##name

/* ct_document_prepare() with the default limits, no key cache, the real clock. */
static int prepare(const ct_job_t *job, const char *root, const ct_bytes_t *fetched,
                   ct_bytes_t *out, ct_doc_error_t *err) {
  ct_doc_prepare_t how = {.root = root, .fetched = fetched, .limits = CT_DOC_LIMITS_DEFAULT};
  return ct_document_prepare(job, &how, out, err);
}

static void expect_password(const ct_job_t *job, const char *want, int line) {
  char out[CT_DOCUMENT_PASSWORD_CAP];
  ct_doc_error_t err = fresh_err();
  int rc = ct_document_password(job, out, sizeof out, &err);
  if (rc != 0)
    fail_msg("line %d: %s \"%s\"", line, err.reason, err.detail);
  expect_ok(rc, &err, __FILE__, line);
  assert_string_equal(out, want);
}

static void expect_no_password(const ct_job_t *job, size_t cap, const char *detail, int line) {
  char out[CT_DOCUMENT_PASSWORD_CAP];
  memcpy(out, "UNTOUCHED", 10);
  ct_doc_error_t err = fresh_err();
  int rc = ct_document_password(job, out, cap, &err);
  expect_fail(rc, &err, "document_protection_failed", false, detail, false, __FILE__, line);
  assert_string_equal(out, "UNTOUCHED");
  /* Never the CPF or the card digits in a reason. */
  assert_null(strstr(err.detail, "111"));
  assert_null(strstr(err.detail, "4321"));
}

static void test_password_policies(void **state) {
  (void)state;
  job_fixture_t j;
  invoice_job(&j, POLICY(NONE));
  expect_password(&j.job, "", __LINE__);
  invoice_job(&j, POLICY(UNSPECIFIED));
  expect_password(&j.job, "", __LINE__);

  invoice_job(&j, POLICY(CPF_FIRST4));
  expect_password(&j.job, "1114", __LINE__);
  j.rcpt.cpf = "111.444.777-35";
  expect_password(&j.job, "1114", __LINE__);
  j.rcpt.cpf = "012.345.678-90";
  expect_password(&j.job, "0123", __LINE__);

  invoice_job(&j, POLICY(CARD_LAST4));
  expect_password(&j.job, "4321", __LINE__);
  j.rcpt.card_last4 = "0007";
  expect_password(&j.job, "0007", __LINE__);

  invoice_job(&j, POLICY(EXPLICIT));
  j.doc.password = "senha-segura";
  expect_password(&j.job, "senha-segura", __LINE__);
  j.doc.password = "abcd";
  expect_password(&j.job, "abcd", __LINE__);
  j.doc.password = "0123456789abcdef0123456789abcdef";
  expect_password(&j.job, "0123456789abcdef0123456789abcdef", __LINE__);
  /* 32 two-byte characters: 64 bytes, more than the minimum buffer, within the cap. */
  char accents[65];
  for (int i = 0; i < 32; i++)
    memcpy(accents + 2 * i, "\xc3\xa9", 2);
  accents[64] = '\0';
  j.doc.password = accents;
  expect_password(&j.job, accents, __LINE__);
  expect_no_password(&j.job, 40, "document.password does not fit in 40 bytes", __LINE__);

  /* No invoice (a notification) or no document: nothing to lock. */
  invoice_job(&j, POLICY(CPF_FIRST4));
  j.inv.document = NULL;
  expect_password(&j.job, "", __LINE__);
  j.job.invoice = NULL;
  expect_password(&j.job, "", __LINE__);
  expect_password(NULL, "", __LINE__);
}

static void test_password_missing(void **state) {
  (void)state;
  job_fixture_t j;
  invoice_job(&j, POLICY(CPF_FIRST4));
  j.rcpt.cpf = "";
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "password policy cpf_first4 needs recipient.cpf", __LINE__);
  j.rcpt.cpf = NULL;
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "password policy cpf_first4 needs recipient.cpf", __LINE__);
  j.job.recipient = NULL;
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "password policy cpf_first4 needs recipient.cpf", __LINE__);
  j.job.recipient = &j.rcpt;
  j.rcpt.cpf = "1114447773";
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "recipient.cpf is not a CPF (10 digits, want 11)", __LINE__);
  j.rcpt.cpf = "111444777350";
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "recipient.cpf is not a CPF (12 digits, want 11)", __LINE__);
  j.rcpt.cpf = "1114x477735";
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "recipient.cpf is not a CPF (unexpected character)", __LINE__);

  invoice_job(&j, POLICY(CARD_LAST4));
  j.rcpt.card_last4 = "";
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "password policy card_last4 needs recipient.card_last4", __LINE__);
  j.rcpt.card_last4 = NULL;
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "password policy card_last4 needs recipient.card_last4", __LINE__);
  j.job.recipient = NULL;
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "password policy card_last4 needs recipient.card_last4", __LINE__);
  j.job.recipient = &j.rcpt;
  static const char *const bad_cards[] = {"432", "54321", "43a1", "43 1", "-432"};
  for (size_t i = 0; i < N_ELEMS(bad_cards); i++) {
    j.rcpt.card_last4 = (char *)bad_cards[i];
    expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP, "recipient.card_last4 is not 4 digits",
                       (int)i);
  }

  invoice_job(&j, POLICY(EXPLICIT));
  j.doc.password = "";
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "password policy explicit needs document.password", __LINE__);
  j.doc.password = NULL;
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "password policy explicit needs document.password", __LINE__);
  j.doc.password = "abc";
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "document.password has 3 characters, want 4 to 32", __LINE__);
  j.doc.password = "0123456789abcdef0123456789abcdefX";
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP,
                     "document.password has 33 characters, want 4 to 32", __LINE__);

  /* A policy this build does not know: refuse rather than send the PDF open. */
  invoice_job(&j, 99);
  expect_no_password(&j.job, CT_DOCUMENT_PASSWORD_CAP, "unknown password policy 99", __LINE__);

  invoice_job(&j, POLICY(NONE));
  expect_no_password(&j.job, 39, "password buffer of 39 bytes, need at least 40", __LINE__);
}

/* ---- the whole preparation -------------------------------------------------------------- */

static void test_prepare_inline_protected(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf = invoice_pdf();
  job_fixture_t j;
  invoice_job(&j, POLICY(CPF_FIRST4));
  j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
  j.doc.inline_pdf.data = pdf.data;
  j.doc.inline_pdf.len = pdf.len;
  ct_bytes_t out = {0};
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(prepare(&j.job, NULL, NULL, &out, &err), err);
  write_file(f, "out.pdf", &out);
  assert_int_equal(sh(f, "qpdf --password=1114 --check out.pdf"), 0);
  assert_int_equal(sh(f, "qpdf --password=1234 --check out.pdf"), 2);
  int st;
  char *text = sh_out(f, &st, "pdftotext -upw 1114 out.pdf -");
  assert_int_equal(st, 0);
  assert_has_line(text, "Fatura " NUMBER);
  assert_has_line(text, "Valor: " AMOUNT);
  free(text);
  /* The inline bytes are the job's, untouched. */
  assert_ptr_equal(j.doc.inline_pdf.data, pdf.data);
  ct_bytes_free(&out);
  ct_bytes_free(&pdf);
}

static void test_prepare_path_protected(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf;
  char root[256];
  make_tree(f, &pdf, root, sizeof root);
  job_fixture_t j;
  invoice_job(&j, POLICY(CARD_LAST4));
  j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
  j.doc.path = "sub/ok.pdf";
  ct_bytes_t out = {0};
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(prepare(&j.job, root, NULL, &out, &err), err);
  write_file(f, "out.pdf", &out);
  int st;
  char *info = sh_out(f, &st, "pdfinfo -upw 4321 out.pdf");
  assert_int_equal(st, 0);
  assert_has_line(info,
                  "Encrypted:       yes (print:yes copy:no change:no addNotes:no "
                  "algorithm:AES-256)");
  free(info);
  char *text = sh_out(f, &st, "pdftotext -upw 4321 out.pdf -");
  assert_int_equal(st, 0);
  assert_has_line(text, "Fatura " NUMBER);
  assert_has_line(text, "Valor: " AMOUNT);
  free(text);
  ct_bytes_free(&out);

  /* Explicit password, from a URL the caller fetched. */
  invoice_job(&j, POLICY(EXPLICIT));
  j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_URL;
  j.doc.url = "https://docs.example.com/2026-000123.pdf";
  j.doc.password = "senha-segura";
  err = fresh_err();
  EXPECT_OK(prepare(&j.job, NULL, &pdf, &out, &err), err);
  write_file(f, "url.pdf", &out);
  assert_int_equal(sh(f, "qpdf --password=senha-segura --check url.pdf"), 0);
  ct_bytes_free(&out);
  ct_bytes_free(&pdf);
}

static void test_prepare_unprotected(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf;
  char root[256];
  make_tree(f, &pdf, root, sizeof root);
  job_fixture_t j;
  static const int policies[] = {POLICY(NONE), POLICY(UNSPECIFIED)};
  for (size_t i = 0; i < N_ELEMS(policies); i++) {
    invoice_job(&j, policies[i]);
    j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
    j.doc.inline_pdf.data = pdf.data;
    j.doc.inline_pdf.len = pdf.len;
    ct_bytes_t out = {0};
    ct_doc_error_t err = fresh_err();
    EXPECT_OK(prepare(&j.job, NULL, NULL, &out, &err), err);
    assert_int_equal(out.len, pdf.len);
    assert_memory_equal(out.data, pdf.data, pdf.len);
    assert_ptr_not_equal(out.data, pdf.data);
    ct_bytes_free(&out);

    j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
    j.doc.path = "ok.pdf";
    err = fresh_err();
    EXPECT_OK(prepare(&j.job, root, NULL, &out, &err), err);
    assert_int_equal(out.len, pdf.len);
    assert_memory_equal(out.data, pdf.data, pdf.len);
    ct_bytes_free(&out);
  }

  /* Nothing to send: an invoice without a document, one with no source, a notification. */
  invoice_job(&j, POLICY(CPF_FIRST4));
  ct_bytes_t out = {SENTINEL, 9};
  ct_doc_error_t err = fresh_err();
  EXPECT_OK(prepare(&j.job, root, NULL, &out, &err), err);
  assert_null(out.data);
  assert_int_equal(out.len, 0);
  j.inv.document = NULL;
  EXPECT_OK(prepare(&j.job, root, NULL, &out, &err), err);
  assert_null(out.data);
  j.job.invoice = NULL;
  EXPECT_OK(prepare(&j.job, root, NULL, &out, &err), err);
  assert_null(out.data);
  ct_bytes_free(&pdf);
}

static void test_prepare_failures(void **state) {
  fixture_t *f = *state;
  ct_bytes_t pdf;
  char root[256];
  make_tree(f, &pdf, root, sizeof root);
  job_fixture_t j;
  ct_bytes_t out = {SENTINEL, 5};
  ct_doc_error_t err;

  /* The policy's needs come first: no file is read for a job that cannot be locked. */
  invoice_job(&j, POLICY(CPF_FIRST4));
  j.rcpt.cpf = "";
  j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
  j.doc.path = "missing.pdf";
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, root, NULL, &out, &err), err,
              "document_protection_failed", false,
              "password policy cpf_first4 needs recipient.cpf");

  invoice_job(&j, POLICY(CARD_LAST4));
  j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
  j.doc.path = "missing.pdf";
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, root, NULL, &out, &err), err, "document_not_found",
              false, "document path: no such file");
  j.doc.path = "../outside/secret.pdf";
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, root, NULL, &out, &err), err,
              "document_path_refused", false, "document path has a '..' component");
  j.doc.path = "linkdir/secret.pdf";
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, root, NULL, &out, &err), err,
              "document_path_refused", false,
              "document path resolves outside the document root");

  /* Policy none still checks the document. */
  invoice_job(&j, POLICY(NONE));
  ct_bytes_t half = {pdf.data, pdf.len / 2};
  j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
  j.doc.inline_pdf.data = half.data;
  j.doc.inline_pdf.len = half.len;
  err = fresh_err();
  EXPECT_FAIL_PREFIX(prepare(&j.job, NULL, NULL, &out, &err), err,
                     "document_damaged", false, "qpdf reading: damaged_pdf error at offset ");
  j.doc.inline_pdf.data = (uint8_t *)"hello";
  j.doc.inline_pdf.len = 5;
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, NULL, NULL, &out, &err), err, "document_not_pdf",
              false, "the document does not start with %PDF-");

  /* A URL source the caller did not fetch. */
  invoice_job(&j, POLICY(CARD_LAST4));
  j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_URL;
  j.doc.url = "https://docs.example.com/x.pdf";
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, NULL, NULL, &out, &err), err, "document_fetch_failed",
              false, "document.url was not fetched before preparing the document");
  /* A fetched body over the limit (only its length is looked at). */
  ct_bytes_t huge = {pdf.data, CT_DOCUMENT_MAX + 1};
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, NULL, &huge, &out, &err), err, "document_too_large",
              false, "document has 20971521 bytes, more than 20971520");

  /* Running out of memory while copying the unprotected bytes is transient. */
  invoice_job(&j, POLICY(NONE));
  j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
  j.doc.inline_pdf.data = pdf.data;
  j.doc.inline_pdf.len = pdf.len;
  malloc_fail_size = pdf.len;
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, NULL, NULL, &out, &err), err,
              "document_protection_failed", true, "out of memory copying the document");
  malloc_fail_size = 0;
  /* And inside qpdf (its allocations reach malloc through pdf.cc's operator new): the first
   * is the QPDF object's own. */
  invoice_job(&j, POLICY(CARD_LAST4));
  j.doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
  j.doc.inline_pdf.data = pdf.data;
  j.doc.inline_pdf.len = pdf.len;
  malloc_count = 0;
  malloc_fail_at = 1;
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, NULL, NULL, &out, &err), err, "document_protection_failed", true,
              "qpdf: out of memory");
  malloc_fail_at = 0;
  /* And while the locked document grows. */
  realloc_fails = 1;
  err = fresh_err();
  EXPECT_FAIL(prepare(&j.job, NULL, NULL, &out, &err), err, "document_protection_failed", true,
              "qpdf writing: out of memory");
  realloc_fails = 0;

  assert_ptr_equal(out.data, SENTINEL);
  assert_int_equal(out.len, 5);
  ct_bytes_free(&pdf);
}

/* ---- several threads at once (the engine runs these on the libuv pool) ------------------- */

typedef struct {
  const ct_bytes_t *pdf;
  int failures;
} thread_arg_t;

static void *protect_many(void *p) {
  thread_arg_t *a = p;
  for (int i = 0; i < 25; i++) {
    ct_bytes_t out = {0};
    ct_doc_error_t err = fresh_err();
    bool ok = ct_document_protect(a->pdf, "1234", &out, &err) == 0;
    /* What came out is locked to anyone without the password. */
    ok = ok && ct_document_check(&out, &err) == CT_EINVAL &&
         strcmp(err.reason, "document_encrypted") == 0;
    if (!ok)
      a->failures++;
    ct_bytes_free(&out);
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  ct_bytes_t pdf = invoice_pdf();
  pthread_t t[4];
  thread_arg_t args[4];
  for (size_t i = 0; i < N_ELEMS(t); i++) {
    args[i].pdf = &pdf;
    args[i].failures = 0;
    assert_int_equal(pthread_create(&t[i], NULL, protect_many, &args[i]), 0);
  }
  for (size_t i = 0; i < N_ELEMS(t); i++) {
    assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(args[i].failures, 0);
  }
  ct_bytes_free(&pdf);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_sha256),
      T(test_fixture_is_valid),
      T(test_check_accepts_other_layouts),
      T(test_protect_outside_tools),
      T(test_protect_is_randomized),
      T(test_lock_preserves_stream_data),
      T(test_protect_refuses),
      T(test_protect_utf8_password),
      T(test_check_not_pdf),
      T(test_check_encrypted),
      T(test_check_damaged),
      T(test_check_damaged_stream_data),
      T(test_errors_keep_secrets),
      T(test_read_path_refused),
      T(test_read_path_found),
      T(test_read_path_not_found),
      T(test_read_path_limits_and_errors),
      T(test_password_policies),
      T(test_password_missing),
      T(test_prepare_inline_protected),
      T(test_prepare_path_protected),
      T(test_prepare_unprotected),
      T(test_prepare_failures),
      T(test_threads),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
