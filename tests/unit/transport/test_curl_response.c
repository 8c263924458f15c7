/* What the libcurl transport makes of libcurl's results and headers, offline: failure
 * classes, Retry-After in both forms, X-Message-Id, and header blocks of several responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "transport/curl/curl_int.h"

#include <string.h>

/* 2015-10-21T07:28:00Z, the date in RFC 7231's Retry-After example, in Unix epoch ms. */
#define RFC_EXAMPLE_MS 1445412480000LL

static void test_failure_classes(void **state) {
  (void)state;
  static const struct {
    CURLcode code;
    ct_http_failure_t want;
  } cases[] = {
      {CURLE_OK, CT_HTTP_OK},
      {CURLE_OPERATION_TIMEDOUT, CT_HTTP_TIMEOUT},
      {CURLE_RECV_ERROR, CT_HTTP_RESET},
      {CURLE_SEND_ERROR, CT_HTTP_RESET},
      {CURLE_GOT_NOTHING, CT_HTTP_RESET},
      {CURLE_PARTIAL_FILE, CT_HTTP_RESET},
      {CURLE_HTTP2, CT_HTTP_STREAM_ERROR},
      {CURLE_HTTP2_STREAM, CT_HTTP_STREAM_ERROR},
      {CURLE_COULDNT_CONNECT, CT_HTTP_CONNECT},
      {CURLE_COULDNT_RESOLVE_HOST, CT_HTTP_CONNECT},
      {CURLE_SSL_CONNECT_ERROR, CT_HTTP_TLS},
      {CURLE_PEER_FAILED_VERIFICATION, CT_HTTP_TLS},
      {CURLE_SSL_CACERT_BADFILE, CT_HTTP_TLS},
      {CURLE_SSL_CERTPROBLEM, CT_HTTP_TLS},
      {CURLE_SSL_PINNEDPUBKEYNOTMATCH, CT_HTTP_TLS},
      {CURLE_OUT_OF_MEMORY, CT_HTTP_OTHER},
      {CURLE_UNSUPPORTED_PROTOCOL, CT_HTTP_OTHER},
      {CURLE_URL_MALFORMAT, CT_HTTP_OTHER},
      {CURLE_WRITE_ERROR, CT_HTTP_OTHER},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ct_http_failure_t got = ct__curl_failure(cases[i].code);
    if (got != cases[i].want) {
      fail_msg("curl code %d: got %s, want %s", (int)cases[i].code, ct_http_failure_name(got),
               ct_http_failure_name(cases[i].want));
    }
  }
  /* the numbers DESIGN.md names */
  assert_int_equal(ct__curl_failure((CURLcode)92), CT_HTTP_STREAM_ERROR);
  assert_int_equal(ct__curl_failure((CURLcode)16), CT_HTTP_STREAM_ERROR);
}

static int64_t ra(const char *s, int64_t now) { return ct__retry_after(s, strlen(s), now); }

static void test_retry_after_seconds(void **state) {
  (void)state;
  assert_int_equal(ra("0", 0), 0);
  assert_int_equal(ra("7", 0), 7000);
  assert_int_equal(ra("120", 123456), 120000);
  assert_int_equal(ra("000030", 0), 30000);
  /* absurdly long: reported as "much later", never overflowing */
  assert_int_equal(ra("99999999999999999999999", 0), (INT64_MAX / 1000) * 1000);
  assert_int_equal(ra("", 0), -1);
  assert_int_equal(ra("-5", 0), -1);
  assert_int_equal(ra("1.5", 0), -1);
  assert_int_equal(ra("5s", 0), -1);
}

static void test_retry_after_dates(void **state) {
  (void)state;
  int64_t now = RFC_EXAMPLE_MS - 90000; /* 90 s before */
  assert_int_equal(ra("Wed, 21 Oct 2015 07:28:00 GMT", now), 90000);
  /* the two obsolete forms HTTP still requires recipients to accept */
  assert_int_equal(ra("Wednesday, 21-Oct-15 07:28:00 GMT", now), 90000);
  assert_int_equal(ra("Wed Oct 21 07:28:00 2015", now), 90000);
  /* a date in the past means "now" */
  assert_int_equal(ra("Wed, 21 Oct 2015 07:28:00 GMT", RFC_EXAMPLE_MS + 5000), 0);
  assert_int_equal(ra("yesterday-ish nonsense that is long enough to be anything at all ok", now),
                   -1);
  assert_int_equal(ra("Someday", now), -1);
}

static void line(ct__resp_headers_t *h, const char *s, int64_t now) {
  ct__resp_headers_line(h, s, strlen(s), now);
}

static void test_header_lines(void **state) {
  (void)state;
  ct__resp_headers_t h;
  ct__resp_headers_reset(&h);
  assert_int_equal(h.retry_after_ms, -1);
  assert_int_equal(h.message_id_len, 0);

  line(&h, "HTTP/2 429 \r\n", 0);
  line(&h, "content-type: application/json\r\n", 0);
  line(&h, "RETRY-AFTER:   12 \r\n", 0);
  line(&h, "x-message-id: \tSG.abc-123_def.456\r\n", 0);
  line(&h, "\r\n", 0);
  assert_int_equal(h.retry_after_ms, 12000);
  assert_string_equal(h.message_id, "SG.abc-123_def.456");
  assert_int_equal(h.message_id_len, strlen("SG.abc-123_def.456"));

  /* A later response (after a 1xx, or a redirect) starts from nothing. */
  line(&h, "HTTP/1.1 200 OK\r\n", 0);
  assert_int_equal(h.retry_after_ms, -1);
  assert_int_equal(h.message_id_len, 0);
  assert_string_equal(h.message_id, "");

  /* Names must match whole: these are other headers. */
  line(&h, "x-message-ids: nope\r\n", 0);
  line(&h, "retry-after-ish: 3\r\n", 0);
  line(&h, "no colon here\r\n", 0);
  assert_int_equal(h.message_id_len, 0);
  assert_int_equal(h.retry_after_ms, -1);

  /* An invalid Retry-After reads as absent. */
  line(&h, "Retry-After: soon\r\n", 0);
  assert_int_equal(h.retry_after_ms, -1);
}

static void test_message_id_limits(void **state) {
  (void)state;
  ct__resp_headers_t h;
  ct__resp_headers_reset(&h);

  /* The longest id that fits is kept whole... */
  char buf[CT__HTTP_MSGID_CAP + 32];
  size_t fit = CT__HTTP_MSGID_CAP - 1;
  memcpy(buf, "X-Message-Id: ", 14);
  memset(buf + 14, 'a', fit);
  memcpy(buf + 14 + fit, "\r\n", 2);
  ct__resp_headers_line(&h, buf, 14 + fit + 2, 0);
  assert_int_equal(h.message_id_len, fit);
  assert_int_equal(strlen(h.message_id), fit);

  /* ...one more byte and it is dropped, never truncated into a wrong id. */
  memset(buf + 14, 'b', fit + 1);
  memcpy(buf + 14 + fit + 1, "\r\n", 2);
  ct__resp_headers_line(&h, buf, 14 + fit + 1 + 2, 0);
  assert_int_equal(h.message_id_len, 0);
  assert_string_equal(h.message_id, "");

  /* Control characters or spaces inside: not an id. */
  line(&h, "X-Message-Id: abc def\r\n", 0);
  assert_int_equal(h.message_id_len, 0);
  line(&h, "X-Message-Id: \r\n", 0);
  assert_int_equal(h.message_id_len, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failure_classes),
      cmocka_unit_test(test_retry_after_seconds),
      cmocka_unit_test(test_retry_after_dates),
      cmocka_unit_test(test_header_lines),
      cmocka_unit_test(test_message_id_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
