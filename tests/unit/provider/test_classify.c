/* Unit tests for the classify hooks of src/provider: every provider code the adapters know,
 * every transport failure, 2xx answers without an id, bodies that are not JSON or empty, and
 * that no verdict repeats the personal data providers echo in their error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "provider/provider.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  const ct_provider_t *p;
  int status;
  const char *body;
  const char *message_id; /* X-Message-Id header */
  int64_t retry_after_ms;
  /* expected */
  ct_verdict_kind_t kind;
  const char *error_code;
  const char *message; /* exact */
  const char *id;      /* ACCEPTED message id, else "" */
} case_t;

static ct_verdict_t run(const ct_provider_t *p, const ct_http_response_t *r) {
  ct_verdict_t v;
  memset(&v, 0x5a, sizeof v); /* every field must be written */
  p->classify(r, &v);
  return v;
}

static void check(const case_t *c, size_t index) {
  ct_http_response_t r = {
      .failure = CT_HTTP_OK,
      .status = c->status,
      .body = c->body,
      .body_len = strlen(c->body),
      .retry_after_ms = c->retry_after_ms,
      .message_id = c->message_id,
  };
  ct_verdict_t v = run(c->p, &r);
  int64_t want_retry =
      c->kind == CT_VERDICT_ACCEPTED || c->retry_after_ms < 0 ? -1 : c->retry_after_ms;
  if (v.kind != c->kind || strcmp(v.error_code, c->error_code) != 0 ||
      strcmp(v.message, c->message) != 0 || strcmp(v.message_id, c->id) != 0 ||
      v.retry_after_ms != want_retry)
    fail_msg("case %zu (%s %d %.60s):\n  got  %s [%s] \"%s\" id=\"%s\" retry=%lld\n"
             "  want %s [%s] \"%s\" id=\"%s\" retry=%lld",
             index, c->p->name, c->status, c->body, ct_verdict_name(v.kind), v.error_code,
             v.message, v.message_id, (long long)v.retry_after_ms, ct_verdict_name(c->kind),
             c->error_code, c->message, c->id, (long long)want_retry);
}

#define WA &ct_provider_whatsapp
#define SMS &ct_provider_sms
#define EMAIL &ct_provider_email
#define ACCEPTED CT_VERDICT_ACCEPTED
#define TRANSIENT CT_VERDICT_TRANSIENT
#define THROTTLED CT_VERDICT_THROTTLED
#define BUSY CT_VERDICT_RECIPIENT_BUSY
#define PERMANENT CT_VERDICT_PERMANENT
#define AUTH CT_VERDICT_AUTH

/* A WhatsApp error object with `code`; its message echoes a phone number, as Meta's do. */
#define WA_ERR(code)                                                                               \
  "{\"error\":{\"message\":\"(#" #code ") failed for +5511987650001\",\"type\":\"OAuthException\"," \
  "\"code\":" #code ",\"error_data\":{\"messaging_product\":\"whatsapp\",\"details\":\"to "     \
  "5511987650001\"},\"fbtrace_id\":\"Abc\"}}"
#define WA_CASE(status, code, kind, what)                                                          \
  {WA, status, WA_ERR(code), NULL, -1, kind, #code, what " (code " #code ", HTTP " #status ")", ""}

static const case_t whatsapp_cases[] = {
    {WA, 200,
     "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+5511987650001\",\"wa_id\":"
     "\"5511987650001\"}],\"messages\":[{\"id\":\"wamid.HBgNNTUxMTk4NzY1MDAwMRUCABEYEjQ=\"}]}",
     NULL, -1, ACCEPTED, "", "accepted (HTTP 200)", "wamid.HBgNNTUxMTk4NzY1MDAwMRUCABEYEjQ="},
    /* 200 without an id: a protocol error, not a receipt */
    {WA, 200, "{\"messaging_product\":\"whatsapp\"}", NULL, -1, TRANSIENT, "no_message_id",
     "200 without a message id", ""},
    {WA, 200, "{\"messages\":[]}", NULL, -1, TRANSIENT, "no_message_id",
     "200 without a message id", ""},
    {WA, 200, "{\"messages\":[{\"id\":17}]}", NULL, -1, TRANSIENT, "no_message_id",
     "200 without a message id", ""},
    {WA, 200, "{\"messages\":[{\"id\":\"\"}]}", NULL, -1, TRANSIENT, "no_message_id",
     "200 without a message id", ""},
    {WA, 200, "{\"messages\":[{\"id\":\"wamid with space\"}]}", NULL, -1, TRANSIENT,
     "no_message_id", "200 without a message id", ""},
    {WA, 200, "not json", NULL, -1, TRANSIENT, "no_message_id", "200 without a message id", ""},
    {WA, 200, "", NULL, -1, TRANSIENT, "no_message_id", "200 without a message id", ""},
    WA_CASE(401, 0, AUTH, "access token could not be authenticated"),
    WA_CASE(500, 3, AUTH, "app lacks the capability or permission"),
    WA_CASE(403, 10, AUTH, "permission denied"),
    WA_CASE(401, 190, AUTH, "access token expired or invalidated"),
    WA_CASE(403, 200, AUTH, "API permission not granted or removed"),
    WA_CASE(403, 299, AUTH, "API permission not granted or removed"),
    WA_CASE(400, 368, AUTH, "business account blocked for a policy violation"),
    WA_CASE(400, 131031, AUTH, "business account locked"),
    WA_CASE(400, 4, THROTTLED, "app over its API call rate limit"),
    WA_CASE(400, 17, THROTTLED, "user over its API call rate limit"),
    WA_CASE(400, 613, THROTTLED, "API call rate limit"),
    WA_CASE(429, 80007, THROTTLED, "business account over its rate limit"),
    WA_CASE(400, 130429, THROTTLED, "Cloud API throughput limit reached"),
    WA_CASE(400, 131048, THROTTLED, "spam rate limit on the business number"),
    WA_CASE(400, 131056, BUSY, "too many messages to this recipient (pair rate limit)"),
    WA_CASE(503, 2, TRANSIENT, "API service temporarily unavailable"),
    WA_CASE(500, 131000, TRANSIENT, "generic WhatsApp error"),
    WA_CASE(500, 131001, TRANSIENT, "generic WhatsApp error"),
    WA_CASE(500, 131002, TRANSIENT, "generic WhatsApp error"),
    WA_CASE(503, 131016, TRANSIENT, "WhatsApp service overloaded"),
    WA_CASE(400, 100, PERMANENT, "invalid parameter"),
    WA_CASE(400, 131026, PERMANENT, "message undeliverable to this recipient"),
    WA_CASE(400, 131047, PERMANENT, "outside the 24-hour window (re-engagement needed)"),
    WA_CASE(400, 132000, PERMANENT, "template parameter count mismatch"),
    WA_CASE(404, 132001, PERMANENT, "template does not exist in this language"),
    WA_CASE(400, 132005, PERMANENT, "template text too long after substitution"),
    WA_CASE(400, 132007, PERMANENT, "template text violates the format policy"),
    WA_CASE(400, 132012, PERMANENT, "template parameter format mismatch"),
    WA_CASE(400, 132015, PERMANENT, "template paused for low quality"),
    WA_CASE(400, 132016, PERMANENT, "template disabled"),
    /* a code the table does not know: the status decides, the code is kept */
    {WA, 400, WA_ERR(131009), NULL, -1, PERMANENT, "131009",
     "request rejected (code 131009, HTTP 400)", ""},
    {WA, 502, WA_ERR(131009), NULL, -1, TRANSIENT, "131009",
     "provider error (code 131009, HTTP 502)", ""},
    {WA, 429, WA_ERR(999), NULL, 7000, THROTTLED, "999",
     "rate limited by the provider (code 999, HTTP 429)", ""},
    /* a "code" that is a phone number is no code */
    {WA, 400, "{\"error\":{\"code\":5511987650001}}", NULL, -1, PERMANENT, "http_400",
     "request rejected (HTTP 400)", ""},
    {WA, 400, "{\"error\":{\"code\":\"131026\"}}", NULL, -1, PERMANENT, "http_400",
     "request rejected (HTTP 400)", ""},
    {WA, 400, "{\"error\":{\"code\":-4}}", NULL, -1, PERMANENT, "http_400",
     "request rejected (HTTP 400)", ""},
    /* non-JSON and empty bodies */
    {WA, 502, "<html><body>Bad Gateway</body></html>", NULL, -1, TRANSIENT, "http_502",
     "provider error (HTTP 502)", ""},
    {WA, 400, "", NULL, -1, PERMANENT, "http_400", "request rejected (HTTP 400)", ""},
    {WA, 429, "", NULL, 30000, THROTTLED, "http_429", "rate limited by the provider (HTTP 429)",
     ""},
    {WA, 401, "", NULL, -1, AUTH, "http_401", "credentials refused (HTTP 401)", ""},
    {WA, 408, "", NULL, -1, TRANSIENT, "http_408",
     "the provider timed out waiting for the request (HTTP 408)", ""},
    {WA, 302, "", NULL, -1, TRANSIENT, "http_302", "unexpected HTTP status (HTTP 302)", ""},
    {WA, 0, "", NULL, -1, TRANSIENT, "http_0", "unexpected HTTP status (HTTP 0)", ""},
    {WA, 700, "", NULL, -1, TRANSIENT, "http_700", "unexpected HTTP status (HTTP 700)", ""},
    /* a retry-after that is not -1 or a delay is "not said" */
    {WA, 503, "", NULL, -7, TRANSIENT, "http_503", "provider error (HTTP 503)", ""},
};

#define TW_ERR(code)                                                                               \
  "{\"code\":" #code ",\"message\":\"The 'To' number +5511987650001 is not valid\",\"more_info\":" \
  "\"https://www.twilio.com/docs/errors/" #code "\",\"status\":400}"
#define TW_CASE(status, code, kind, what)                                                          \
  {SMS, status, TW_ERR(code), NULL, -1, kind, #code, what " (code " #code ", HTTP " #status ")", ""}

static const case_t twilio_cases[] = {
    {SMS, 201,
     "{\"sid\":\"SM0123456789abcdef0123456789abcdef\",\"status\":\"queued\",\"to\":"
     "\"+5511987650001\",\"error_code\":null}",
     NULL, -1, ACCEPTED, "", "accepted (HTTP 201)", "SM0123456789abcdef0123456789abcdef"},
    {SMS, 201, "{\"status\":\"queued\"}", NULL, -1, TRANSIENT, "no_message_id",
     "201 without a message id", ""},
    {SMS, 201, "", NULL, -1, TRANSIENT, "no_message_id", "201 without a message id", ""},
    {SMS, 201, "[1,2", NULL, -1, TRANSIENT, "no_message_id", "201 without a message id", ""},
    TW_CASE(401, 20003, AUTH, "authentication failed"),
    TW_CASE(429, 20429, THROTTLED, "too many requests"),
    TW_CASE(400, 21211, PERMANENT, "invalid 'To' phone number"),
    TW_CASE(400, 21214, PERMANENT, "'To' phone number cannot be reached"),
    TW_CASE(400, 21408, PERMANENT, "sending to this region is not enabled"),
    TW_CASE(400, 21610, PERMANENT, "recipient unsubscribed (replied STOP)"),
    TW_CASE(400, 21612, PERMANENT, "no route to this number"),
    TW_CASE(400, 21614, PERMANENT, "'To' number is not a mobile number"),
    TW_CASE(400, 30001, THROTTLED, "message queue overflow"),
    TW_CASE(400, 30003, TRANSIENT, "destination handset unreachable"),
    TW_CASE(400, 30005, PERMANENT, "unknown destination handset"),
    TW_CASE(400, 30006, PERMANENT, "landline or unreachable carrier"),
    TW_CASE(400, 30007, PERMANENT, "message filtered by the carrier"),
    TW_CASE(400, 30008, TRANSIENT, "unknown delivery error"),
    {SMS, 400, TW_ERR(21602), NULL, -1, PERMANENT, "21602",
     "request rejected (code 21602, HTTP 400)", ""},
    {SMS, 503, TW_ERR(20500), NULL, 2000, TRANSIENT, "20500",
     "provider error (code 20500, HTTP 503)", ""},
    {SMS, 429, "", NULL, 1000, THROTTLED, "http_429", "rate limited by the provider (HTTP 429)",
     ""},
    {SMS, 403, "Forbidden", NULL, -1, AUTH, "http_403", "credentials refused (HTTP 403)", ""},
    {SMS, 500, "", NULL, -1, TRANSIENT, "http_500", "provider error (HTTP 500)", ""},
    {SMS, 404, "{\"code\":20404}", NULL, -1, PERMANENT, "20404",
     "request rejected (code 20404, HTTP 404)", ""},
};

static const case_t sendgrid_cases[] = {
    {EMAIL, 202, "", "W86EgYT6SQKk0lRflfLRsA", -1, ACCEPTED, "", "accepted (HTTP 202)",
     "W86EgYT6SQKk0lRflfLRsA"},
    {EMAIL, 202, "", NULL, -1, TRANSIENT, "no_message_id", "202 without a message id", ""},
    {EMAIL, 202, "", "", -1, TRANSIENT, "no_message_id", "202 without a message id", ""},
    {EMAIL, 202, "", "id\r\nX-Injected: 1", -1, TRANSIENT, "no_message_id",
     "202 without a message id", ""},
    {EMAIL, 400,
     "{\"errors\":[{\"message\":\"Does not contain a valid address: maria.teste@example.com\","
     "\"field\":\"personalizations.0.to.0.email\",\"help\":null}]}",
     NULL, -1, PERMANENT, "http_400", "request rejected (HTTP 400)", ""},
    {EMAIL, 401, "{\"errors\":[{\"message\":\"The provided authorization grant is invalid\"}]}",
     NULL, -1, AUTH, "http_401", "credentials refused (HTTP 401)", ""},
    {EMAIL, 403, "", NULL, -1, AUTH, "http_403", "credentials refused (HTTP 403)", ""},
    {EMAIL, 413, "", NULL, -1, PERMANENT, "http_413", "request rejected (HTTP 413)", ""},
    {EMAIL, 429, "", NULL, 60000, THROTTLED, "http_429",
     "rate limited by the provider (HTTP 429)", ""},
    {EMAIL, 500, "", NULL, -1, TRANSIENT, "http_500", "provider error (HTTP 500)", ""},
    {EMAIL, 503, "<html>maintenance</html>", NULL, 5000, TRANSIENT, "http_503",
     "provider error (HTTP 503)", ""},
};

static void run_cases(const case_t *cases, size_t n) {
  for (size_t i = 0; i < n; i++)
    check(&cases[i], i);
}

static void test_whatsapp_codes(void **state) {
  (void)state;
  run_cases(whatsapp_cases, sizeof whatsapp_cases / sizeof whatsapp_cases[0]);
}

static void test_twilio_codes(void **state) {
  (void)state;
  run_cases(twilio_cases, sizeof twilio_cases / sizeof twilio_cases[0]);
}

static void test_sendgrid_statuses(void **state) {
  (void)state;
  run_cases(sendgrid_cases, sizeof sendgrid_cases / sizeof sendgrid_cases[0]);
}

static void test_transport_failures(void **state) {
  (void)state;
  static const struct {
    ct_http_failure_t f;
    const char *code;
    const char *what;
  } failures[] = {
      {CT_HTTP_TIMEOUT, "timeout", "request timed out"},
      {CT_HTTP_RESET, "reset", "connection reset before the answer"},
      {CT_HTTP_STREAM_ERROR, "stream_error", "HTTP/2 stream error"},
      {CT_HTTP_CONNECT, "connect", "could not connect to the provider"},
      {CT_HTTP_TLS, "tls", "TLS handshake or certificate verification failed"},
      {CT_HTTP_OTHER, "other", "transport failure"},
  };
  const ct_provider_t *providers[] = {WA, SMS, EMAIL};
  for (size_t p = 0; p < 3; p++) {
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
      /* a body and a status left over must not matter once the transport failed */
      ct_http_response_t r = {.failure = failures[i].f,
                              .status = 0,
                              .body = "",
                              .body_len = 0,
                              .retry_after_ms = 5000,
                              .message_id = "leftover"};
      ct_verdict_t v = run(providers[p], &r);
      assert_int_equal(v.kind, CT_VERDICT_TRANSIENT);
      assert_string_equal(v.error_code, failures[i].code);
      assert_string_equal(v.message, failures[i].what);
      assert_string_equal(v.message_id, "");
      assert_int_equal(v.retry_after_ms, -1);

      r.detail = "Connection timed out after 5001 milliseconds";
      v = run(providers[p], &r);
      char want[160];
      snprintf(want, sizeof want, "%s: %s", failures[i].what, r.detail);
      assert_string_equal(v.message, want);
    }
  }
  assert_string_equal(ct_http_failure_name(CT_HTTP_OK), "ok");
  assert_string_equal(ct_http_failure_name((ct_http_failure_t)77), "other");
}

static void test_message_id_limits(void **state) {
  (void)state;
  char id[200];
  memset(id, 'x', sizeof id);
  id[127] = '\0';
  ct_http_response_t r = {.status = 202, .body = "", .retry_after_ms = -1, .message_id = id};
  ct_verdict_t v = run(EMAIL, &r);
  assert_int_equal(v.kind, CT_VERDICT_ACCEPTED);
  assert_string_equal(v.message_id, id);
  id[127] = 'x';
  id[128] = '\0';
  v = run(EMAIL, &r);
  assert_int_equal(v.kind, CT_VERDICT_TRANSIENT);
  assert_string_equal(v.error_code, "no_message_id");
  /* a NULL body (the transport contract says "" but a hostile one may not) */
  ct_http_response_t nobody = {.status = 200, .body = NULL, .retry_after_ms = -1};
  v = run(WA, &nobody);
  assert_int_equal(v.kind, CT_VERDICT_TRANSIENT);
  v = run(SMS, &nobody);
  assert_int_equal(v.kind, CT_VERDICT_TRANSIENT);
}

/* No verdict carries the phone number or e-mail the providers echo. */
static void test_no_personal_data_in_verdicts(void **state) {
  (void)state;
  const case_t *all[] = {whatsapp_cases, twilio_cases, sendgrid_cases};
  size_t counts[] = {sizeof whatsapp_cases / sizeof whatsapp_cases[0],
                     sizeof twilio_cases / sizeof twilio_cases[0],
                     sizeof sendgrid_cases / sizeof sendgrid_cases[0]};
  for (size_t k = 0; k < 3; k++) {
    for (size_t i = 0; i < counts[k]; i++) {
      const case_t *c = &all[k][i];
      ct_http_response_t r = {.status = c->status,
                              .body = c->body,
                              .body_len = strlen(c->body),
                              .retry_after_ms = c->retry_after_ms,
                              .message_id = c->message_id};
      ct_verdict_t v = run(c->p, &r);
      assert_null(strstr(v.message, "98765"));
      assert_null(strstr(v.error_code, "98765"));
      assert_null(strstr(v.message, "@"));
      assert_null(strstr(v.message, "maria"));
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whatsapp_codes),
      cmocka_unit_test(test_twilio_codes),
      cmocka_unit_test(test_sendgrid_statuses),
      cmocka_unit_test(test_transport_failures),
      cmocka_unit_test(test_message_id_limits),
      cmocka_unit_test(test_no_personal_data_in_verdicts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
