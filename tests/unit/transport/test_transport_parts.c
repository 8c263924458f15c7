/* The transport's pieces without a network: URLs split into origin, host, port and path
 * (url.c), and the process-wide figures behind /metrics (registry.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/error.h"
#include "transport/transport_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_url(const char *url, const char *origin, const char *host, unsigned port,
                       const char *path, const char *authority) {
  ct__url_t u;
  int rc = ct__url_parse(url, &u);
  if (rc != 0) {
    fail_msg("%s: %s", url, ct_strerror(rc));
  }
  assert_int_equal(u.origin_len, strlen(origin));
  assert_memory_equal(u.origin, origin, u.origin_len);
  assert_int_equal(u.host_len, strlen(host));
  assert_memory_equal(u.host, host, u.host_len);
  assert_int_equal(u.port, port);
  assert_int_equal(u.path_len, strlen(path));
  assert_memory_equal(u.path, path, u.path_len);
  assert_int_equal(u.authority_len, strlen(authority));
  assert_memory_equal(u.authority, authority, u.authority_len);
}

static void test_urls(void **state) {
  (void)state;
  expect_url("https://graph.facebook.com/v19.0/123/messages", "https://graph.facebook.com",
             "graph.facebook.com", 443, "/v19.0/123/messages", "graph.facebook.com");
  expect_url("https://127.0.0.1:8443/2010-04-01/Accounts/AC1/Messages.json?x=1&y=2",
             "https://127.0.0.1:8443", "127.0.0.1", 8443,
             "/2010-04-01/Accounts/AC1/Messages.json?x=1&y=2", "127.0.0.1:8443");
  expect_url("https://[::1]:4443/v3/mail/send", "https://[::1]:4443", "::1", 4443,
             "/v3/mail/send", "[::1]:4443");
  expect_url("HTTPS://api.sendgrid.com", "HTTPS://api.sendgrid.com", "api.sendgrid.com", 443,
             "/", "api.sendgrid.com");
}

static void test_urls_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "http://api.example.com/x",      /* not TLS */
      "https://",                      /* no host */
      "https:///path",                 /* no host */
      "https://user:pw@host/x",        /* user info */
      "https://host/x#frag",           /* a fragment */
      "https://host:0/x",              /* port 0 */
      "https://host:65536/x",          /* port too large */
      "https://host:12a/x",            /* not a number */
      "https://host:/x",               /* empty port */
      "https://host/a b",              /* a blank */
      "https://host/a\r\nX-Evil: 1",   /* a line break */
      "https://[::1/x",                /* unclosed bracket */
      "https://[::1]x/y",              /* junk after the bracket */
      "https://host?q=1",              /* no path before the query */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ct__url_t u;
    memset(&u, 0x5a, sizeof u);
    int rc = ct__url_parse(bad[i], &u);
    if (rc != CT_EINVAL) {
      fail_msg("%s: got %d, want CT_EINVAL", bad[i], rc);
    }
    assert_int_equal(u.port, 0x5a5a); /* untouched on failure */
  }
}

typedef struct {
  char text[8192];
  size_t len;
} sink_t;

static void sink(void *ctx, const char *s, size_t n) {
  sink_t *k = ctx;
  assert_true(k->len + n < sizeof k->text);
  memcpy(k->text + k->len, s, n);
  k->len += n;
  k->text[k->len] = '\0';
}

/* Counters of live transports and of closed ones add up; origins keep their first slot and
 * take the latest reason; the Prometheus text carries them with label values escaped. */
static void test_registry(void **state) {
  (void)state;
  ct_transport_stats_t before;
  ct_transport_stats(&before);
  ct__counters_t *a = calloc(1, sizeof *a);
  ct__counters_t *b = calloc(1, sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  ct__registry_attach(a);
  ct__registry_attach(b);
  ct__count(&a->requests[CT_TRANSPORT_NGHTTP2], 5);
  ct__count(&b->requests[CT_TRANSPORT_NGHTTP2], 2);
  ct__count(&b->requests[CT_TRANSPORT_LIBCURL], 3);
  ct__count(&a->h2_goaway, 1);
  ct__count(&b->h2_refused, 4);
  ct__registry_detach(a);
  free(a); /* its figures stay in the totals */
  ct_transport_stats_t st;
  ct_transport_stats(&st);
  assert_int_equal(st.requests[CT_TRANSPORT_NGHTTP2] - before.requests[CT_TRANSPORT_NGHTTP2], 7);
  assert_int_equal(st.requests[CT_TRANSPORT_LIBCURL] - before.requests[CT_TRANSPORT_LIBCURL], 3);
  assert_int_equal(st.h2_goaway - before.h2_goaway, 1);
  assert_int_equal(st.h2_refused - before.h2_refused, 4);
  ct__registry_detach(b);
  free(b);

  const char o1[] = "https://graph.facebook.com";
  const char o2[] = "https://odd\"host\\:1";
  ct__registry_origin(o1, strlen(o1), CT_TRANSPORT_NGHTTP2, CT_TRANSPORT_ALPN_H2);
  ct__registry_origin(o2, strlen(o2), CT_TRANSPORT_LIBCURL, CT_TRANSPORT_FORCED);
  ct__registry_origin(o1, strlen(o1), CT_TRANSPORT_LIBCURL, CT_TRANSPORT_ALPN_OTHER);
  ct_transport_stats(&st);
  assert_int_equal(st.n_origins, before.n_origins + 2);
  assert_string_equal(st.origins[before.n_origins].origin, o1);
  assert_int_equal(st.origins[before.n_origins].client, CT_TRANSPORT_LIBCURL);
  assert_int_equal(st.origins[before.n_origins].reason, CT_TRANSPORT_ALPN_OTHER);

  sink_t k = {.len = 0};
  ct_transport_metrics(sink, &k);
  assert_non_null(strstr(k.text, "# TYPE carteiro_transport_requests_total counter\n"));
  assert_non_null(strstr(k.text, "carteiro_transport_origin_info{origin=\"https://graph.facebook.com\","
                                 "client=\"libcurl\",reason=\"alpn_http1\"} 1\n"));
  assert_non_null(strstr(k.text, "carteiro_transport_origin_info{origin=\"https://odd\\\"host\\\\:1\","
                                 "client=\"libcurl\",reason=\"forced\"} 1\n"));
  char want[128];
  snprintf(want, sizeof want, "carteiro_transport_native_refused_streams_total %llu\n",
           (unsigned long long)st.h2_refused);
  assert_non_null(strstr(k.text, want));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_urls),
      cmocka_unit_test(test_urls_refused),
      cmocka_unit_test(test_registry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
