/* Locking with and without the key cache, judged by programs we did not write.
 *
 * The invoices are the synthetic ones of tools/gen-invoices (libharu PDFs), made at test time
 * by the program whose path is this test's argument. Every locked file must pass, for cached
 * and uncached locking alike: qpdf --check with the password and revision 6 / AESv3 in its
 * encryption report; refusal without a password and with a wrong one; pdfinfo's "AES-256";
 * pdftotext's text identical to the unlocked original's, with the invoice number and amount;
 * a different /ID (both halves) for every document, the same input locked twice included.
 * Then what the cache shares and what it must not: documents of one tenant, day, policy and
 * password share the file key (qpdf --show-encryption-key says so); two tenants, two days or
 * two policies never do; the counters, the LRU order and the bounds of the cache itself; and
 * several threads locking through one cache.
 *
 * usage: test_document_lock GEN_INVOICES
 */
#include "document/document.h"
#include "document/document_int.h"

#include "common/error.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define DAY 20790 /* 2026-12-01, in days since 1970-01-01 */
#define POLICY_CARD CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4
#define POLICY_CPF CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4
#define POLICY_EXPLICIT CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT

static const char *gen_invoices;
static char dir[64];

/* ---- files and outside programs --------------------------------------------------------- */

static char *run_out(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs a shell line in `dir`; returns its standard output (malloc'd) and exit status. */
static char *run_out(int *status, const char *fmt, ...) {
  char line[1024], cmd[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "cd '%s' && { %s; } 2>/dev/null", dir, line);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t cap = 4096, len = 0;
  char *out = malloc(cap);
  assert_non_null(out);
  for (;;) {
    if (len + 4096 > cap) {
      cap *= 2;
      out = realloc(out, cap);
      assert_non_null(out);
    }
    size_t n = fread(out + len, 1, 4096, p);
    if (n == 0)
      break;
    len += n;
  }
  out[len] = '\0';
  int st = pclose(p);
  assert_true(st != -1 && WIFEXITED(st));
  *status = WEXITSTATUS(st);
  return out;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  int st;
  free(run_out(&st, "%s >/dev/null", line));
  return st;
}

static ct_bytes_t read_file(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  ct_bytes_t b = {malloc((size_t)n), (size_t)n};
  assert_non_null(b.data);
  assert_int_equal(fread(b.data, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  return b;
}

static void write_file(const char *name, const ct_bytes_t *b) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
  assert_int_equal(fclose(f), 0);
}

static bool contains(const ct_bytes_t *b, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; n <= b->len && i <= b->len - n; i++)
    if (memcmp(b->data + i, needle, n) == 0)
      return true;
  return false;
}

static bool has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; p != NULL && *p != '\0';) {
    const char *nl = strchr(p, '\n');
    size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
    if (len == n && memcmp(p, line, n) == 0)
      return true;
    p = nl != NULL ? nl + 1 : NULL;
  }
  return false;
}

#define ASSERT_LINE(text, line)                                                               \
  do {                                                                                        \
    if (!has_line((text), (line)))                                                            \
      fail_msg("line \"%s\" not in:\n%s", (line), (text));                                    \
  } while (0)

/* The first line of `out` (a program's output, malloc'd), without its newline. */
static char *first_line(char *out, int status) {
  assert_int_equal(status, 0);
  out[strcspn(out, "\n")] = '\0';
  return out;
}

/* ---- the invoices ----------------------------------------------------------------------- */

typedef struct {
  ct_bytes_t pdf;
  char number[32];
  char amount[80]; /* "R$ 1.234,56", as the page prints it */
  char file[160];  /* the unlocked original, under dir */
} invoice_t;

static invoice_t invoices[2];

static void format_brl(long cents, char *out, size_t cap) {
  char digits[32];
  snprintf(digits, sizeof digits, "%ld", cents / 100);
  char grouped[64];
  size_t n = strlen(digits), g = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0)
      grouped[g++] = '.';
    grouped[g++] = digits[i];
  }
  grouped[g] = '\0';
  snprintf(out, cap, "R$ %s,%02ld", grouped, cents % 100);
}

static int setup_group(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/ct_lock_XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  int st;
  char *o = run_out(&st, "'%s' --count 2 --seed 31 --profile bank --pdf dir=pdfs --format jsonl "
                         "--out jobs.jsonl",
                    gen_invoices);
  free(o);
  if (st != 0)
    return -1;
  for (int i = 0; i < 2; i++) {
    char q[160];
    snprintf(q, sizeof q,
             "sed -n %dp jobs.jsonl | jq -r '.invoice.number, .invoice.amount_cents, "
             ".invoice.document.path'",
             i + 1);
    char *lines = run_out(&st, "%s", q);
    char path[128];
    long cents = 0;
    if (st != 0 ||
        sscanf(lines, "%31s %ld %127s", invoices[i].number, &cents, path) != 3) {
      free(lines);
      return -1;
    }
    free(lines);
    format_brl(cents, invoices[i].amount, sizeof invoices[i].amount);
    snprintf(invoices[i].file, sizeof invoices[i].file, "pdfs/%s", path);
    invoices[i].pdf = read_file(invoices[i].file);
  }
  return 0;
}

static int teardown_group(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++)
    ct_bytes_free(&invoices[i].pdf);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* ---- locking ---------------------------------------------------------------------------- */

static ct_bytes_t lock(const ct_bytes_t *pdf, const char *pw, ct_keycache_t *cache,
                       const char *tenant, int64_t day, int policy) {
  ct_doc_lock_t how = {.limits = CT_DOC_LIMITS_DEFAULT, .cache = cache, .tenant = tenant,
                       .day = day, .policy = policy};
  ct_bytes_t out = {NULL, 0};
  ct_doc_error_t err;
  int rc = ct_document_lock(pdf, pw, &how, &out, &err);
  if (rc != 0)
    fail_msg("lock: %s \"%s\"", err.reason, err.detail);
  return out;
}

/* The file key qpdf finds with the password (hex), malloc'd. */
static char *file_key(const char *name, const char *pw) {
  int st;
  char *out = run_out(&st,
                      "qpdf --show-encryption-key --show-encryption --password=%s %s | "
                      "sed -n 's/^Encryption key = //p'",
                      pw, name);
  char *k = first_line(out, st);
  assert_int_equal(strlen(k), 64);
  return k;
}

/* The trailer's /ID, as qpdf prints it, malloc'd. */
static char *file_id(const char *name, const char *pw) {
  int st;
  char *out = run_out(&st,
                      "qpdf --password=%s --show-object=trailer %s | "
                      "grep -o '/ID \\[ <[0-9a-f]*> <[0-9a-f]*> \\]'",
                      pw, name);
  char *id = first_line(out, st);
  assert_true(strlen(id) > 70);
  return id;
}

/* Everything a locked invoice must be, judged by qpdf and poppler. */
static void judge(const char *name, const char *pw, const invoice_t *inv) {
  assert_int_equal(run("qpdf --password=%s --check %s", pw, name), 0);
  assert_int_equal(run("qpdf --check %s", name), 2);
  assert_int_equal(run("qpdf --password=0000 --check %s", name), 2);
  assert_int_equal(run("qpdf --password=%s9 --check %s", pw, name), 2);
  int st;
  char *enc = run_out(&st, "qpdf --show-encryption --password=%s %s", pw, name);
  assert_int_equal(st, 0);
  ASSERT_LINE(enc, "R = 6");
  ASSERT_LINE(enc, "P = -1340");
  ASSERT_LINE(enc, "Supplied password is user password");
  ASSERT_LINE(enc, "stream encryption method: AESv3");
  ASSERT_LINE(enc, "string encryption method: AESv3");
  ASSERT_LINE(enc, "file encryption method: AESv3");
  ASSERT_LINE(enc, "modify anything: not allowed");
  ASSERT_LINE(enc, "extract for any purpose: not allowed");
  ASSERT_LINE(enc, "print high resolution: allowed");
  free(enc);
  char *info = run_out(&st, "pdfinfo -upw %s %s", pw, name);
  assert_int_equal(st, 0);
  ASSERT_LINE(info, "Encrypted:       yes (print:yes copy:no change:no addNotes:no "
                    "algorithm:AES-256)");
  free(info);
  assert_int_equal(run("pdfinfo %s", name), 1);
  char *text = run_out(&st, "pdftotext -upw %s %s -", pw, name);
  assert_int_equal(st, 0);
  char *orig = run_out(&st, "pdftotext %s -", inv->file);
  assert_int_equal(st, 0);
  assert_string_equal(text, orig);
  ASSERT_LINE(text, inv->number);
  ASSERT_LINE(text, inv->amount);
  free(orig);
  free(text);
  assert_int_equal(run("pdftotext %s -", name), 1);
}

/* The same judgement for cached and uncached locking: two invoices and the first one twice,
 * one password. */
/* The first 16 bytes of the first stream's data: its AES IV (AESv3 streams start with it). */
static void first_iv(const ct_bytes_t *b, uint8_t iv[16]) {
  static const char mark[] = "stream\n";
  for (size_t i = 0; i + sizeof mark + 16 < b->len; i++) {
    if (memcmp(b->data + i, mark, sizeof mark - 1) == 0 && (i == 0 || b->data[i - 1] != 'd')) {
      memcpy(iv, b->data + i + sizeof mark - 1, 16);
      return;
    }
  }
  fail_msg("no stream in the locked document");
}

static void lock_and_judge(ct_keycache_t *cache) {
  const char *names[] = {"a.pdf", "b.pdf", "a2.pdf"};
  const invoice_t *inv[] = {&invoices[0], &invoices[1], &invoices[0]};
  uint8_t iv[3][16];
  for (size_t i = 0; i < N_ELEMS(names); i++) {
    ct_bytes_t out = lock(&inv[i]->pdf, "4072", cache, "banco-x", DAY, POLICY_CARD);
    /* Nothing of the page in clear. */
    assert_false(contains(&out, inv[i]->number));
    first_iv(&out, iv[i]);
    write_file(names[i], &out);
    ct_bytes_free(&out);
    judge(names[i], "4072", inv[i]);
  }
  /* The same input locked twice (with the same file key, when cached): fresh IVs. */
  assert_memory_not_equal(iv[0], iv[2], 16);
  /* Every document its own /ID, both halves. */
  char *id[3];
  for (size_t i = 0; i < N_ELEMS(names); i++)
    id[i] = file_id(names[i], "4072");
  for (size_t i = 0; i < N_ELEMS(names); i++) {
    for (size_t j = i + 1; j < N_ELEMS(names); j++) {
      char a0[40], a1[40], b0[40], b1[40];
      assert_int_equal(sscanf(id[i], "/ID [ <%39[0-9a-f]> <%39[0-9a-f]> ]", a0, a1), 2);
      assert_int_equal(sscanf(id[j], "/ID [ <%39[0-9a-f]> <%39[0-9a-f]> ]", b0, b1), 2);
      assert_string_not_equal(a0, b0);
      assert_string_not_equal(a1, b1);
    }
  }
  for (size_t i = 0; i < N_ELEMS(names); i++)
    free(id[i]);
  /* The file key: shared under one cache entry, fresh for every document without a cache. */
  char *ka = file_key("a.pdf", "4072"), *kb = file_key("b.pdf", "4072"),
       *ka2 = file_key("a2.pdf", "4072");
  if (cache != NULL) {
    assert_string_equal(ka, kb);
    assert_string_equal(ka, ka2);
  } else {
    assert_string_not_equal(ka, kb);
    assert_string_not_equal(ka, ka2);
  }
  free(ka);
  free(kb);
  free(ka2);
}

static void test_uncached(void **state) {
  (void)state;
  lock_and_judge(NULL);
}

static void test_cached(void **state) {
  (void)state;
  ct_keycache_t *c;
  assert_int_equal(ct_keycache_new(100, 1 << 20, &c), 0);
  lock_and_judge(c);
  ct_keycache_stats_t st;
  ct_keycache_stats(c, &st);
  assert_int_equal(st.misses, 1);
  assert_int_equal(st.hits, 2);
  assert_int_equal(st.entries, 1);
  ct_keycache_free(c);
}

/* Scopes never share: another tenant, day or policy with the same password gets its own
 * entry, its own file key and its own /U. */
static void test_scopes_do_not_share(void **state) {
  (void)state;
  ct_keycache_t *c;
  assert_int_equal(ct_keycache_new(100, 1 << 20, &c), 0);
  const ct_bytes_t *pdf = &invoices[0].pdf;
  struct {
    const char *tenant;
    int64_t day;
    int policy;
    const char *name;
  } scope[] = {
      {"banco-x", DAY, POLICY_CARD, "s0.pdf"},
      {"tim", DAY, POLICY_CARD, "s1.pdf"},
      {"banco-x", DAY + 1, POLICY_CARD, "s2.pdf"},
      {"banco-x", DAY, POLICY_CPF, "s3.pdf"},
      {"banco-x", DAY, POLICY_EXPLICIT, "s4.pdf"},
  };
  char *key[N_ELEMS(scope)];
  for (size_t i = 0; i < N_ELEMS(scope); i++) {
    ct_bytes_t out = lock(pdf, "4072", c, scope[i].tenant, scope[i].day, scope[i].policy);
    write_file(scope[i].name, &out);
    ct_bytes_free(&out);
    key[i] = file_key(scope[i].name, "4072");
  }
  for (size_t i = 0; i < N_ELEMS(scope); i++)
    for (size_t j = i + 1; j < N_ELEMS(scope); j++)
      if (strcmp(key[i], key[j]) == 0)
        fail_msg("scopes %zu and %zu share a file key", i, j);
  ct_keycache_stats_t st;
  ct_keycache_stats(c, &st);
  assert_int_equal(st.misses, N_ELEMS(scope));
  assert_int_equal(st.hits, 0);
  assert_int_equal(st.entries, N_ELEMS(scope));
  /* And the first scope again: a hit, the same key. */
  ct_bytes_t out = lock(pdf, "4072", c, "banco-x", DAY, POLICY_CARD);
  write_file("s0b.pdf", &out);
  ct_bytes_free(&out);
  char *again = file_key("s0b.pdf", "4072");
  assert_string_equal(again, key[0]);
  free(again);
  ct_keycache_stats(c, &st);
  assert_int_equal(st.hits, 1);
  for (size_t i = 0; i < N_ELEMS(scope); i++)
    free(key[i]);
  ct_keycache_free(c);
}

/* Through ct_document_prepare: the job's tenant and policy and the UTC day of now_ms scope the
 * entry; explicit passwords are cached like the 4-digit ones. */
static void test_prepare_scopes(void **state) {
  (void)state;
  ct_keycache_t *c;
  assert_int_equal(ct_keycache_new(100, 1 << 20, &c), 0);
  ct_job_t job;
  ct_recipient_t rcpt;
  ct_invoice_t inv;
  ct_document_t doc;
  carteiro__v1__job__init(&job);
  carteiro__v1__recipient__init(&rcpt);
  carteiro__v1__invoice__init(&inv);
  carteiro__v1__document__init(&doc);
  job.id = "inv-00000001";
  job.tenant = "banco-x";
  job.recipient = &rcpt;
  rcpt.card_last4 = "4072";
  job.invoice = &inv;
  inv.document = &doc;
  doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
  doc.inline_pdf.data = invoices[0].pdf.data;
  doc.inline_pdf.len = invoices[0].pdf.len;
  doc.password_policy = POLICY_CARD;
  const int64_t noon = (int64_t)DAY * 86400000 + 12 * 3600000;
  struct {
    int64_t now_ms;
    int policy;
    const char *password;
    uint64_t hits, misses;
  } steps[] = {
      {noon, POLICY_CARD, NULL, 0, 1},
      {noon + 11 * 3600000, POLICY_CARD, NULL, 1, 1},      /* 23:00 the same day */
      {noon + 12 * 3600000, POLICY_CARD, NULL, 1, 2},      /* 00:00 the next day */
      {noon, POLICY_EXPLICIT, "s3nha-forte", 1, 3},
      {noon, POLICY_EXPLICIT, "s3nha-forte", 2, 3},
      {noon, POLICY_EXPLICIT, "outra-senha", 2, 4},
  };
  for (size_t i = 0; i < N_ELEMS(steps); i++) {
    doc.password_policy = steps[i].policy;
    doc.password = (char *)steps[i].password;
    ct_doc_prepare_t how = {.limits = CT_DOC_LIMITS_DEFAULT, .keys = c,
                            .now_ms = steps[i].now_ms};
    ct_bytes_t out = {NULL, 0};
    ct_doc_error_t err;
    if (ct_document_prepare(&job, &how, &out, &err) != 0)
      fail_msg("step %zu: %s \"%s\"", i, err.reason, err.detail);
    ct_bytes_free(&out);
    ct_keycache_stats_t st;
    ct_keycache_stats(c, &st);
    if (st.hits != steps[i].hits || st.misses != steps[i].misses)
      fail_msg("step %zu: %llu hits, %llu misses; want %llu, %llu", i,
               (unsigned long long)st.hits, (unsigned long long)st.misses,
               (unsigned long long)steps[i].hits, (unsigned long long)steps[i].misses);
  }
  ct_keycache_free(c);
}

/* ---- the cache itself ------------------------------------------------------------------- */

static ct__pdf_keys_t keys_of(uint8_t fill) {
  ct__pdf_keys_t k;
  memset(&k, fill, sizeof k);
  return k;
}

static void tag_of(ct_keycache_t *c, const char *pw, uint8_t tag[32]) {
  ct__keycache_tag(c, "tim", DAY, POLICY_CPF, pw, tag);
}

static void test_cache_lru(void **state) {
  (void)state;
  ct_keycache_t *c;
  /* max_bytes counts entries: three of them fit, whatever max_entries says. */
  assert_int_equal(ct_keycache_new(1000, 3 * ct_keycache_entry_size(), &c), 0);
  ct_keycache_stats_t st;
  ct_keycache_stats(c, &st);
  assert_int_equal(st.capacity, 3);
  uint8_t t[4][32];
  tag_of(c, "1111", t[0]);
  tag_of(c, "2222", t[1]);
  tag_of(c, "3333", t[2]);
  tag_of(c, "4444", t[3]);
  for (int i = 0; i < 3; i++) {
    ct__pdf_keys_t k = keys_of((uint8_t)(i + 1));
    ct__keycache_put(c, t[i], &k);
  }
  /* 1111 used again: 2222 is now the least recently used, and goes for 4444. */
  ct__pdf_keys_t got;
  assert_true(ct__keycache_get(c, t[0], &got));
  ct__pdf_keys_t want = keys_of(1);
  assert_memory_equal(&got, &want, sizeof got);
  ct__pdf_keys_t k4 = keys_of(4);
  ct__keycache_put(c, t[3], &k4);
  assert_false(ct__keycache_get(c, t[1], &got));
  assert_true(ct__keycache_get(c, t[2], &got));
  assert_true(ct__keycache_get(c, t[3], &got));
  want = keys_of(4);
  assert_memory_equal(&got, &want, sizeof got);
  /* A second put of a tag keeps the first entry's material (another thread's, say). */
  ct__pdf_keys_t other = keys_of(9);
  ct__keycache_put(c, t[3], &other);
  assert_true(ct__keycache_get(c, t[3], &got));
  assert_memory_equal(&got, &want, sizeof got);
  ct_keycache_stats(c, &st);
  assert_int_equal(st.entries, 3);
  assert_int_equal(st.evictions, 1);
  assert_int_equal(st.hits, 4);
  assert_int_equal(st.misses, 1);
  ct_keycache_free(c);

  /* max_entries binds when it is the smaller. */
  assert_int_equal(ct_keycache_new(2, 1 << 20, &c), 0);
  ct_keycache_stats(c, &st);
  assert_int_equal(st.capacity, 2);
  ct_keycache_free(c);
  /* Not one entry: refused. */
  assert_int_equal(ct_keycache_new(0, 1 << 20, &c), CT_EINVAL);
  assert_int_equal(ct_keycache_new(10, ct_keycache_entry_size() - 1, &c), CT_EINVAL);
  ct_keycache_stats(NULL, &st);
  assert_int_equal(st.capacity, 0);
}

/* Tags: the same scope and password give the same tag in one cache; any field changed, or
 * another cache (another secret), gives another. */
static void test_cache_tags(void **state) {
  (void)state;
  ct_keycache_t *a, *b;
  assert_int_equal(ct_keycache_new(10, 1 << 20, &a), 0);
  assert_int_equal(ct_keycache_new(10, 1 << 20, &b), 0);
  uint8_t t0[32], t1[32];
  ct__keycache_tag(a, "tim", DAY, POLICY_CPF, "1234", t0);
  ct__keycache_tag(a, "tim", DAY, POLICY_CPF, "1234", t1);
  assert_memory_equal(t0, t1, 32);
  struct {
    ct_keycache_t *c;
    const char *tenant;
    int64_t day;
    int policy;
    const char *pw;
  } other[] = {
      {b, "tim", DAY, POLICY_CPF, "1234"},     {a, "tim2", DAY, POLICY_CPF, "1234"},
      {a, "tim", DAY + 1, POLICY_CPF, "1234"}, {a, "tim", DAY, POLICY_CARD, "1234"},
      {a, "tim", DAY, POLICY_CPF, "1235"},     {a, "", DAY, POLICY_CPF, "tim1234"},
  };
  for (size_t i = 0; i < N_ELEMS(other); i++) {
    ct__keycache_tag(other[i].c, other[i].tenant, other[i].day, other[i].policy, other[i].pw,
                     t1);
    if (memcmp(t0, t1, 32) == 0)
      fail_msg("variant %zu has the same tag", i);
  }
  ct_keycache_free(a);
  ct_keycache_free(b);
}

/* Four threads lock the two invoices with ten passwords through one cache. */
typedef struct {
  ct_keycache_t *cache;
  int index;
  int failures;
} worker_t;

static void *locker(void *p) {
  worker_t *w = p;
  for (int i = 0; i < 20; i++) {
    char pw[8];
    snprintf(pw, sizeof pw, "%04d", (i + w->index) % 10);
    ct_doc_lock_t how = {.limits = CT_DOC_LIMITS_DEFAULT, .cache = w->cache,
                         .tenant = "banco-x", .day = DAY, .policy = POLICY_CARD};
    ct_bytes_t out = {NULL, 0};
    ct_doc_error_t err;
    if (ct_document_lock(&invoices[i % 2].pdf, pw, &how, &out, &err) != 0 ||
        ct_document_check(&out, &err) != CT_EINVAL ||
        strcmp(err.reason, "document_encrypted") != 0)
      w->failures++;
    ct_bytes_free(&out);
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  ct_keycache_t *c;
  assert_int_equal(ct_keycache_new(100, 1 << 20, &c), 0);
  pthread_t t[4];
  worker_t w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker_t){.cache = c, .index = i};
    assert_int_equal(pthread_create(&t[i], NULL, locker, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(w[i].failures, 0);
  }
  ct_keycache_stats_t st;
  ct_keycache_stats(c, &st);
  assert_int_equal(st.hits + st.misses, 80);
  assert_int_equal(st.entries, 10);
  /* Threads may derive the same password at once; never more often than there are threads. */
  assert_true(st.misses >= 10 && st.misses <= 40);
  ct_keycache_free(c);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_document_lock GEN_INVOICES\n");
    return 2;
  }
  static char abs_gen[4096];
  if (realpath(argv[1], abs_gen) == NULL) {
    fprintf(stderr, "test_document_lock: %s: not found\n", argv[1]);
    return 2;
  }
  gen_invoices = abs_gen;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uncached),       cmocka_unit_test(test_cached),
      cmocka_unit_test(test_scopes_do_not_share), cmocka_unit_test(test_prepare_scopes),
      cmocka_unit_test(test_cache_lru),      cmocka_unit_test(test_cache_tags),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
