/* Unit tests for src/transport/http.c, the request values the adapters build: header lines,
 * their limits, and that freeing a request wipes its headers (credentials) before the memory
 * goes back to the allocator. free() is wrapped (-Wl,--wrap=free) to look at a block just
 * before it is released. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/error.h"
#include "transport/http.h"

#include <stdlib.h>
#include <string.h>

void __real_free(void *p);
void __wrap_free(void *p);

/* The block to inspect when it is freed, its length, and what was seen. */
static const void *watched;
static size_t watched_len;
static int watched_freed;
static int watched_was_zero;

void __wrap_free(void *p) {
  if (p != NULL && p == watched) {
    watched_freed = 1;
    watched_was_zero = 1;
    for (size_t i = 0; i < watched_len; i++)
      if (((const unsigned char *)p)[i] != 0)
        watched_was_zero = 0;
  }
  __real_free(p);
}

static char *dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  assert_non_null(d);
  memcpy(d, s, n);
  return d;
}

static void test_add_header(void **state) {
  (void)state;
  ct_http_request_t req = {0};
  assert_int_equal(ct_http_request_add_header(&req, "Authorization", "Bearer abc"), 0);
  assert_int_equal(ct_http_request_add_header(&req, "X-Empty", ""), 0);
  assert_int_equal(req.n_headers, 2);
  assert_string_equal(req.headers[0], "Authorization: Bearer abc");
  assert_string_equal(req.headers[1], "X-Empty: ");
  /* header injection and malformed names are refused, the request unchanged */
  assert_int_equal(ct_http_request_add_header(&req, "X-A", "v\r\nX-B: 1"), CT_EINVAL);
  assert_int_equal(ct_http_request_add_header(&req, "X-A", "v\n"), CT_EINVAL);
  assert_int_equal(ct_http_request_add_header(&req, "", "v"), CT_EINVAL);
  assert_int_equal(ct_http_request_add_header(&req, "X A", "v"), CT_EINVAL);
  assert_int_equal(ct_http_request_add_header(&req, "X:A", "v"), CT_EINVAL);
  assert_int_equal(req.n_headers, 2);
  /* full at CT_HTTP_MAX_HEADERS */
  for (size_t i = 2; i < CT_HTTP_MAX_HEADERS; i++)
    assert_int_equal(ct_http_request_add_header(&req, "X-N", "1"), 0);
  assert_int_equal(ct_http_request_add_header(&req, "X-N", "1"), CT_EINVAL);
  assert_int_equal(req.n_headers, CT_HTTP_MAX_HEADERS);
  ct_http_request_free(&req);
}

static void test_free_wipes_headers_and_zeroes(void **state) {
  (void)state;
  ct_http_request_t req = {0};
  req.url = dup("https://api.example.com/x");
  req.body = dup("{}");
  req.body_len = 2;
  assert_int_equal(ct_http_request_add_header(&req, "Authorization", "Bearer s3cr3t-token"), 0);
  watched = req.headers[0];
  watched_len = strlen(req.headers[0]);
  watched_freed = 0;
  watched_was_zero = 0;
  ct_http_request_free(&req);
  watched = NULL;
  assert_true(watched_freed);
  assert_true(watched_was_zero);
  ct_http_request_t zero = {0};
  assert_memory_equal(&req, &zero, sizeof req);
  /* freeing twice, or an empty request, or NULL, is harmless */
  ct_http_request_free(&req);
  ct_http_request_free(NULL);
}

static void test_failure_names(void **state) {
  (void)state;
  assert_string_equal(ct_http_failure_name(CT_HTTP_OK), "ok");
  assert_string_equal(ct_http_failure_name(CT_HTTP_TIMEOUT), "timeout");
  assert_string_equal(ct_http_failure_name(CT_HTTP_RESET), "reset");
  assert_string_equal(ct_http_failure_name(CT_HTTP_STREAM_ERROR), "stream_error");
  assert_string_equal(ct_http_failure_name(CT_HTTP_CONNECT), "connect");
  assert_string_equal(ct_http_failure_name(CT_HTTP_TLS), "tls");
  assert_string_equal(ct_http_failure_name(CT_HTTP_OTHER), "other");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_header),
      cmocka_unit_test(test_free_wipes_headers_and_zeroes),
      cmocka_unit_test(test_failure_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
