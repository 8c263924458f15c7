/* Unit tests for src/worker/docprep.c: document preparations of several workers, each on its
 * own loop and thread, held together under one memory budget.
 *
 * The budget is the bound the adversarial run asked for: eight preparations of eight PDF
 * bombs at once must not each get their own allowance. Here the budget has room for one or
 * two preparations and two workers start more than that each: every document is prepared,
 * the budget's peak is exactly what it allows, preparations waited for memory, and a worker
 * with nothing running of its own is woken when the other gives memory back (were it not,
 * its loop would never finish and the deadline below fails the test). The limits reach the
 * document module from the configuration: a bomb under document_stream_max_mb = 1 fails with
 * document_too_large, the others pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/error.h"
#include "config/config.h"
#include "worker/docprep.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MiB ((uint64_t)1 << 20)
#define TASKS 6

/* ---- documents -------------------------------------------------------------------------- */

/* A one-page invoice whose content stream is `content` (`dict` in its dictionary). */
static ct_bytes_t invoice(const char *dict, const uint8_t *content, size_t len) {
  static const char *const objs[] = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R "
      ">> >> /Contents 5 0 R >>",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  };
  size_t cap = len + 4096, n = 0;
  char *b = malloc(cap);
  assert_non_null(b);
  size_t offs[5];
  n += (size_t)snprintf(b + n, cap - n, "%%PDF-1.4\n");
  for (size_t i = 0; i < 4; i++) {
    offs[i] = n;
    n += (size_t)snprintf(b + n, cap - n, "%zu 0 obj\n%s\nendobj\n", i + 1, objs[i]);
  }
  offs[4] = n;
  n += (size_t)snprintf(b + n, cap - n, "5 0 obj\n<< /Length %zu%s >>\nstream\n", len, dict);
  memcpy(b + n, content, len);
  n += len;
  n += (size_t)snprintf(b + n, cap - n, "\nendstream\nendobj\n");
  size_t xref = n;
  n += (size_t)snprintf(b + n, cap - n, "xref\n0 6\n0000000000 65535 f \n");
  for (size_t i = 0; i < 5; i++)
    n += (size_t)snprintf(b + n, cap - n, "%010zu 00000 n \n", offs[i]);
  n += (size_t)snprintf(b + n, cap - n,
                        "trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", xref);
  return (ct_bytes_t){(uint8_t *)b, n};
}

static ct_bytes_t text_invoice(void) {
  static const char text[] = "BT /F1 12 Tf 72 770 Td (Fatura 2026-000123) Tj ET";
  return invoice("", (const uint8_t *)text, strlen(text));
}

/* 8 MiB of zeros in Flate: over a 1 MiB stream limit. */
static ct_bytes_t bomb_invoice(void) {
  size_t n = 8 * MiB;
  uint8_t *zeros = calloc(1, n);
  uLongf zlen = compressBound(n);
  uint8_t *z = malloc(zlen);
  assert_true(zeros != NULL && z != NULL);
  assert_int_equal(compress2(z, &zlen, zeros, n, 9), Z_OK);
  ct_bytes_t pdf = invoice(" /Filter /FlateDecode", z, zlen);
  free(zeros);
  free(z);
  return pdf;
}

/* ---- a worker: one loop, one thread, one docprep ---------------------------------------- */

typedef struct {
  ct_job_t job;
  ct_recipient_t rcpt;
  ct_invoice_t inv;
  ct_document_t doc;
} job_t;

typedef struct {
  const ct_config_t *cfg;
  ct_docbudget_t *budget;
  uv_loop_t loop;
  uv_timer_t deadline;
  ct_docprep_t prep;
  ct_task_t tasks[TASKS];
  job_t jobs[TASKS];
  const ct_bytes_t *pdfs[TASKS];
  int done, ready;
  int too_large;
  bool timed_out;
  pthread_t thread;
} worker_t;

static void on_done(void *arg, ct_task_t *t) {
  worker_t *w = arg;
  w->done++;
  if (t->doc_ready)
    w->ready++;
  else if (t->doc_error.reason != NULL && strcmp(t->doc_error.reason, "document_too_large") == 0)
    w->too_large++;
  ct_bytes_free(&t->doc);
  if (w->done == TASKS) {
    uv_timer_stop(&w->deadline);
    ct_docprep_close(&w->prep);
    uv_close((uv_handle_t *)&w->deadline, NULL);
  }
}

static void on_deadline(uv_timer_t *timer) {
  worker_t *w = timer->data;
  w->timed_out = true;
  uv_stop(&w->loop);
}

static void *run(void *arg) {
  worker_t *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* Sets the worker up on this thread (its loop, its docprep, its tasks) and starts its tasks;
 * they run once its thread runs the loop. */
static void start(worker_t *w, const ct_config_t *cfg, ct_docbudget_t *budget,
                  const ct_bytes_t *const *pdfs) {
  memset(w, 0, sizeof *w);
  w->cfg = cfg;
  w->budget = budget;
  assert_int_equal(uv_loop_init(&w->loop), 0);
  assert_int_equal(ct_docprep_init(&w->prep, &w->loop, cfg, budget, NULL), 0);
  w->prep.done = on_done;
  w->prep.arg = w;
  uv_timer_init(&w->loop, &w->deadline);
  w->deadline.data = w;
  uv_timer_start(&w->deadline, on_deadline, 60000, 0);
  for (int i = 0; i < TASKS; i++) {
    job_t *j = &w->jobs[i];
    carteiro__v1__job__init(&j->job);
    carteiro__v1__recipient__init(&j->rcpt);
    carteiro__v1__invoice__init(&j->inv);
    carteiro__v1__document__init(&j->doc);
    j->job.id = "inv-1";
    j->job.tenant = "banco-x";
    j->job.recipient = &j->rcpt;
    j->rcpt.card_last4 = "4321";
    j->job.invoice = &j->inv;
    j->inv.document = &j->doc;
    j->doc.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
    j->doc.inline_pdf.data = pdfs[i]->data;
    j->doc.inline_pdf.len = pdfs[i]->len;
    j->doc.password_policy = CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4;
    w->tasks[i].lease.job = &j->job;
    ct_docprep_start(&w->prep, &w->tasks[i]);
  }
}

static void finish(worker_t *w) {
  assert_int_equal(pthread_join(w->thread, NULL), 0);
  assert_false(w->timed_out);
  assert_int_equal(w->done, TASKS);
  assert_int_equal(uv_loop_close(&w->loop), 0);
}

static ct_config_t *config(uint32_t memory_mb, uint32_t jobs) {
  ct_config_t *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->document_jobs = jobs;
  c->document_fetch_timeout_ms = 1000;
  c->document_stream_max_mb = 64;
  c->document_decoded_max_mb = 256;
  c->document_max_ratio = 100;
  c->document_memory_mb = memory_mb;
  return c;
}

/* ---- tests ------------------------------------------------------------------------------ */

/* Room for `slots` preparations of 8 MiB; two workers of capacity 4 start six each. */
static void budget_run(uint64_t slots) {
  ct_config_t *cfg = config(8, 4);
  ct_docbudget_t *b;
  assert_int_equal(ct_docbudget_new(slots * 8 * MiB, &b), 0);
  ct_bytes_t pdf = text_invoice();
  const ct_bytes_t *pdfs[TASKS];
  for (int i = 0; i < TASKS; i++)
    pdfs[i] = &pdf;
  worker_t *w = calloc(2, sizeof *w);
  assert_non_null(w);
  /* Worker 0 is set up and running first, so worker 1's tasks find the budget taken. */
  start(&w[0], cfg, b, pdfs);
  assert_int_equal(pthread_create(&w[0].thread, NULL, run, &w[0]), 0);
  start(&w[1], cfg, b, pdfs);
  assert_int_equal(pthread_create(&w[1].thread, NULL, run, &w[1]), 0);
  finish(&w[0]);
  finish(&w[1]);
  assert_int_equal(w[0].ready + w[1].ready, 2 * TASKS);
  ct_docbudget_stats_t st;
  ct_docbudget_stats(b, &st);
  assert_int_equal(st.total, slots * 8 * MiB);
  assert_int_equal(st.reserved, 0);
  assert_int_equal(st.peak, slots * 8 * MiB);
  assert_true(st.waits > 0);
  ct_docbudget_free(b);
  free(w);
  free(pdf.data);
  free(cfg);
}

static void test_budget_of_one(void **state) {
  (void)state;
  budget_run(1);
}

static void test_budget_of_two(void **state) {
  (void)state;
  budget_run(2);
}

/* No budget: the per-worker capacity alone. */
static void test_no_budget(void **state) {
  (void)state;
  ct_config_t *cfg = config(8, 2);
  ct_bytes_t pdf = text_invoice();
  const ct_bytes_t *pdfs[TASKS];
  for (int i = 0; i < TASKS; i++)
    pdfs[i] = &pdf;
  worker_t *w = calloc(1, sizeof *w);
  assert_non_null(w);
  start(w, cfg, NULL, pdfs);
  assert_int_equal(pthread_create(&w->thread, NULL, run, w), 0);
  finish(w);
  assert_int_equal(w->ready, TASKS);
  free(w);
  free(pdf.data);
  free(cfg);
}

/* The configuration's limits reach the document: one bomb among five invoices. */
static void test_limits_from_config(void **state) {
  (void)state;
  ct_config_t *cfg = config(64, 2);
  cfg->document_stream_max_mb = 1;
  ct_doc_limits_t l = ct_docprep_limits(cfg);
  assert_int_equal(l.stream_max, MiB);
  assert_int_equal(l.decoded_max, 256 * MiB);
  assert_int_equal(l.ratio_max, 100);
  assert_int_equal(l.memory_max, 64 * MiB);
  ct_bytes_t pdf = text_invoice(), bomb = bomb_invoice();
  const ct_bytes_t *pdfs[TASKS];
  for (int i = 0; i < TASKS; i++)
    pdfs[i] = i == 2 ? &bomb : &pdf;
  ct_docbudget_t *b;
  assert_int_equal(ct_docbudget_new(128 * MiB, &b), 0);
  worker_t *w = calloc(1, sizeof *w);
  assert_non_null(w);
  start(w, cfg, b, pdfs);
  assert_int_equal(pthread_create(&w->thread, NULL, run, w), 0);
  finish(w);
  assert_int_equal(w->ready, TASKS - 1);
  assert_int_equal(w->too_large, 1);
  assert_string_equal(w->tasks[2].doc_error.detail,
                      "stream 5 0 decodes to more than 1048576 bytes");
  assert_false(w->tasks[2].doc_error.transient);
  ct_docbudget_free(b);
  free(w);
  free(pdf.data);
  free(bomb.data);
  free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_budget_of_one),
      cmocka_unit_test(test_budget_of_two),
      cmocka_unit_test(test_no_budget),
      cmocka_unit_test(test_limits_from_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
