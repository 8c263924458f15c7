/* Allocation failure in the request builders: every allocation fails in turn (ours through
 * the linker's --wrap=malloc, jansson's through json_set_alloc_funcs), and each build must
 * then return CT_ENOMEM, leave its out-parameter alone and leak nothing, until enough
 * allocations succeed for the request to come out whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/error.h"
#include "fixture.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void __wrap_free(void *p);

static long calls;   /* allocations so far in this attempt */
static long fail_at; /* the allocation that fails, -1 for none */
static long live;    /* blocks allocated and not yet freed */

static void *counted_malloc(size_t n) {
  if (fail_at >= 0 && calls++ == fail_at)
    return NULL;
  void *p = __real_malloc(n);
  if (p != NULL)
    live++;
  return p;
}

static void counted_free(void *p) {
  if (p != NULL)
    live--;
  __real_free(p);
}

void *__wrap_malloc(size_t n) { return counted_malloc(n); }
void __wrap_free(void *p) { counted_free(p); }

static int setup(void **state) {
  (void)state;
  json_set_alloc_funcs(counted_malloc, counted_free);
  return 0;
}

typedef struct {
  const ct_provider_t *p;
  ct_provider_conf_t conf;
  ct_templates_t t;
  fixture_t f;
  unsigned part;
} build_case_t;

static void fail_each_allocation(build_case_t *c) {
  for (long k = 0;; k++) {
    assert_true(k < 10000);
    calls = 0;
    fail_at = k;
    live = 0;
    ct_http_request_t out;
    memset(&out, 0x5a, sizeof out);
    ct_http_request_t before = out;
    char err[256];
    int rc = c->p->build(&c->conf, &c->t, &c->f.job, c->part, &(ct_build_ctx_t){0}, &out, err, sizeof err);
    fail_at = -1;
    if (rc == 0) {
      /* the allocation that was to fail never came: everything was built. Every builder
       * allocates several blocks (url, body, headers), so a small k means the hooks are not
       * in place and nothing was tested. */
      assert_true(calls <= k);
      assert_true(k >= 5);
      assert_non_null(out.url);
      assert_non_null(out.body);
      ct_http_request_free(&out);
      assert_int_equal(live, 0);
      return;
    }
    if (rc != CT_ENOMEM)
      fail_msg("allocation %ld failed: build returned %s (%s), not ENOMEM", k, ct_errname(rc),
               err);
    assert_memory_equal(&out, &before, sizeof out);
    if (live != 0)
      fail_msg("allocation %ld failed: %ld blocks leaked", k, live);
  }
}

static void test_whatsapp_invoice(void **state) {
  (void)state;
  build_case_t c = {.p = &ct_provider_whatsapp, .part = 0};
  conf_whatsapp(&c.conf);
  fixture_invoice(&c.f);
  fail_each_allocation(&c);
  c.part = 1;
  fail_each_allocation(&c);
}

static void test_whatsapp_notification(void **state) {
  (void)state;
  build_case_t c = {.p = &ct_provider_whatsapp, .part = 0};
  conf_whatsapp(&c.conf);
  fixture_notification(&c.f);
  fail_each_allocation(&c);
}

static void test_sms(void **state) {
  (void)state;
  build_case_t c = {.p = &ct_provider_sms, .part = 0};
  conf_sms(&c.conf);
  templates_ptbr(&c.t);
  fixture_invoice(&c.f);
  fail_each_allocation(&c);
}

static void test_email(void **state) {
  (void)state;
  build_case_t c = {.p = &ct_provider_email, .part = 0};
  conf_email(&c.conf);
  templates_ptbr(&c.t);
  fixture_invoice(&c.f);
  fail_each_allocation(&c);
}

static void test_render(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  for (long k = 0;; k++) {
    calls = 0;
    fail_at = k;
    live = 0;
    char *s = ct_render_html("<p>{name} {amount} {due_date}</p>", &f.job);
    fail_at = -1;
    if (s != NULL) {
      free(s);
      assert_int_equal(live, 0);
      return;
    }
    assert_int_equal(live, 0);
  }
}

int main(void) {
  fail_at = -1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whatsapp_invoice),
      cmocka_unit_test(test_whatsapp_notification),
      cmocka_unit_test(test_sms),
      cmocka_unit_test(test_email),
      cmocka_unit_test(test_render),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
