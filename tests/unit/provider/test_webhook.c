/* Unit tests for the webhook hooks of src/provider: signatures checked against the providers'
 * documented test vectors (Twilio's request-validation example, sendgrid-go's signed event
 * webhook vector) and against signatures made by OpenSSL's command line over a raw WhatsApp
 * body with escaped unicode; the events each provider's bodies become, field by field; and the
 * event record's encoding. Every value is synthetic or a provider's published example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/error.h"
#include "fixture.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- requests --------------------------------------------------------------------------- */

typedef struct {
  ct_webhook_request_t req;
  ct_webhook_header_t headers[4];
} request_t;

static void request(request_t *r, bool post, const char *url, const char *query,
                    const char *body) {
  memset(r, 0, sizeof *r);
  r->req.post = post;
  r->req.url = url;
  r->req.url_len = url != NULL ? strlen(url) : 0;
  r->req.query = query != NULL ? query : "";
  r->req.query_len = strlen(r->req.query);
  r->req.body = (const uint8_t *)(body != NULL ? body : "");
  r->req.body_len = body != NULL ? strlen(body) : 0;
  r->req.headers = r->headers;
}

static void header(request_t *r, const char *name, const char *value) {
  ct_webhook_header_t *h = &r->headers[r->req.n_headers++];
  h->name = name;
  h->name_len = strlen(name);
  h->value = value;
  h->value_len = strlen(value);
}

static ct_webhook_check_t verify(const ct_provider_t *p, const ct_provider_conf_t *conf,
                                 const request_t *r, int64_t now_ms) {
  char challenge[128] = "";
  return p->verify_webhook(conf, &r->req, now_ms, challenge, sizeof challenge);
}

/* Parses and expects success with `want` events and `want_skipped` skipped. */
static void parse_ok(const ct_provider_t *p, const ct_provider_conf_t *conf, const request_t *r,
                     ct_event_list_t *out, size_t want, size_t want_skipped) {
  memset(out, 0, sizeof *out);
  size_t skipped = 0;
  char err[256] = "";
  int rc = p->parse_webhook(conf, &r->req, 1800000000000, out, &skipped, err, sizeof err);
  if (rc != 0)
    fail_msg("parse failed: %s (%s)", ct_errname(rc), err);
  assert_int_equal(out->n, want);
  assert_int_equal(skipped, want_skipped);
}

static void parse_fails(const ct_provider_t *p, const ct_provider_conf_t *conf,
                        const request_t *r, int want_rc, const char *want_err) {
  ct_event_list_t out = {0};
  size_t skipped = 0;
  char err[256] = "";
  int rc = p->parse_webhook(conf, &r->req, 1800000000000, &out, &skipped, err, sizeof err);
  assert_int_equal(rc, want_rc);
  assert_string_equal(err, want_err);
  ct_event_list_free(&out);
}

/* ---- Twilio ----------------------------------------------------------------------------- */

#define TW_EXAMPLE_URL "https://mycompany.com/myapp.php?foo=1&bar=2"
/* Twilio's example parameters, form-encoded in another order than sorted */
#define TW_EXAMPLE_FORM                                                                            \
  "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&From=%2B12349013030&Caller="            \
  "%2B12349013030"
#define TW_EXAMPLE_SIG "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

static void test_twilio_documented_vector(void **state) {
  (void)state;
  char sig[64];
  assert_int_equal(ct_webhook_twilio_signature("12345", TW_EXAMPLE_URL, strlen(TW_EXAMPLE_URL),
                                               TW_EXAMPLE_FORM, strlen(TW_EXAMPLE_FORM), sig,
                                               sizeof sig),
                   0);
  assert_string_equal(sig, TW_EXAMPLE_SIG);
  /* a %-escape that is cut short is no form */
  assert_int_equal(ct_webhook_twilio_signature("12345", "u", 1, "a=%2", 4, sig, sizeof sig),
                   CT_EDECODE);
}

static void test_twilio_verify(void **state) {
  (void)state;
  ct_provider_conf_t conf;
  conf_sms(&conf);
  conf.secret = (char *)"12345";
  request_t r;
  request(&r, true, TW_EXAMPLE_URL, "foo=1&bar=2", TW_EXAMPLE_FORM);
  header(&r, "x-twilio-signature", TW_EXAMPLE_SIG);
  assert_int_equal(verify(&ct_provider_sms, &conf, &r, 0), CT_WEBHOOK_ACCEPT);

  /* the URL as a proxy rewrote it (http://) is not the URL Twilio signed */
  request_t wrong_url = r;
  wrong_url.req.url = "http://mycompany.com/myapp.php?foo=1&bar=2";
  wrong_url.req.url_len = strlen(wrong_url.req.url);
  wrong_url.req.headers = wrong_url.headers;
  assert_int_equal(verify(&ct_provider_sms, &conf, &wrong_url, 0), CT_WEBHOOK_FORGED);

  /* one parameter changed */
  request(&r, true, TW_EXAMPLE_URL, "", "To=%2B18005551213&Digits=1234&CallSid=CA1234567890ABCDE"
                                         "&From=%2B12349013030&Caller=%2B12349013030");
  header(&r, "x-twilio-signature", TW_EXAMPLE_SIG);
  assert_int_equal(verify(&ct_provider_sms, &conf, &r, 0), CT_WEBHOOK_FORGED);

  /* another auth token; a separate webhook_secret wins over the account's secret */
  request(&r, true, TW_EXAMPLE_URL, "", TW_EXAMPLE_FORM);
  header(&r, "x-twilio-signature", TW_EXAMPLE_SIG);
  conf.secret = (char *)"54321";
  assert_int_equal(verify(&ct_provider_sms, &conf, &r, 0), CT_WEBHOOK_FORGED);
  conf.webhook_secret = (char *)"12345";
  assert_int_equal(verify(&ct_provider_sms, &conf, &r, 0), CT_WEBHOOK_ACCEPT);

  /* no header, a header that is no signature, a GET */
  request(&r, true, TW_EXAMPLE_URL, "", TW_EXAMPLE_FORM);
  assert_int_equal(verify(&ct_provider_sms, &conf, &r, 0), CT_WEBHOOK_UNSIGNED);
  header(&r, "x-twilio-signature", "not base64!");
  assert_int_equal(verify(&ct_provider_sms, &conf, &r, 0), CT_WEBHOOK_FORGED);
  request(&r, false, TW_EXAMPLE_URL, "", NULL);
  header(&r, "x-twilio-signature", TW_EXAMPLE_SIG);
  assert_int_equal(verify(&ct_provider_sms, &conf, &r, 0), CT_WEBHOOK_METHOD);
  assert_int_equal(ct_webhook_check_status(CT_WEBHOOK_METHOD), 405);
  assert_int_equal(ct_webhook_check_status(CT_WEBHOOK_UNSIGNED), 401);
  assert_int_equal(ct_webhook_check_status(CT_WEBHOOK_FORGED), 403);
  assert_string_equal(ct_webhook_check_name(CT_WEBHOOK_FORGED), "bad_signature");
  assert_string_equal(ct_webhook_check_name(CT_WEBHOOK_UNSIGNED), "missing_signature");
}

#define TW_SID "SM0123456789abcdef0123456789abcdef"

static void test_twilio_status_callback(void **state) {
  (void)state;
  ct_provider_conf_t conf;
  conf_sms(&conf);
  request_t r;
  request(&r, true, "https://hooks.example.com/webhooks/sms-test?job=inv%2B7&part=0",
          "job=inv%2B7&part=0",
          "AccountSid=AC00000000000000000000000000000001&MessageSid=" TW_SID
          "&SmsSid=" TW_SID "&MessageStatus=undelivered&SmsStatus=undelivered&ErrorCode=30007"
          "&To=%2B5511987650001&From=%2B5511300000000&ApiVersion=2010-04-01");
  ct_event_list_t out;
  parse_ok(&ct_provider_sms, &conf, &r, &out, 1, 0);
  const ct_event_t *e = &out.v[0];
  assert_int_equal(e->kind, CT_EVENT_STATUS);
  assert_int_equal(e->channel, CT_CHANNEL_SMS);
  assert_string_equal(e->account, "sms-test");
  assert_string_equal(e->event_id, "tw:s:" TW_SID ":undelivered");
  assert_string_equal(e->message_id, TW_SID);
  assert_int_equal(e->status, CT_EVENT_STATUS_UNDELIVERED);
  assert_string_equal(e->provider_status, "undelivered");
  assert_string_equal(e->error_code, "30007");
  assert_string_equal(e->error_title, "message filtered by the carrier");
  assert_string_equal(e->job_id, "inv+7");
  assert_int_equal(e->part, 0);
  assert_string_equal(e->to, TEST_PHONE);
  assert_string_equal(e->from, "+5511300000000");
  assert_int_equal(e->at_ms, 0);
  assert_int_equal(e->received_ms, 1800000000000);
  assert_null(e->text);
  ct_event_list_free(&out);

  /* delivered, no error, no correlation in the URL */
  request(&r, true, "https://hooks.example.com/webhooks/sms-test", "",
          "MessageSid=" TW_SID "&MessageStatus=delivered&To=%2B5511987650001");
  parse_ok(&ct_provider_sms, &conf, &r, &out, 1, 0);
  assert_string_equal(out.v[0].event_id, "tw:s:" TW_SID ":delivered");
  assert_int_equal(out.v[0].status, CT_EVENT_STATUS_DELIVERED);
  assert_string_equal(out.v[0].job_id, "");
  assert_string_equal(out.v[0].error_code, "");
  ct_event_list_free(&out);

  /* about no message: skipped; not a form: malformed */
  request(&r, true, "u", "", "AccountSid=AC1");
  parse_ok(&ct_provider_sms, &conf, &r, &out, 0, 1);
  ct_event_list_free(&out);
  request(&r, true, "u", "", "MessageSid=%zz");
  parse_fails(&ct_provider_sms, &conf, &r, CT_EDECODE, "body is not a form (a bad %-escape)");
}

static void test_twilio_inbound(void **state) {
  (void)state;
  ct_provider_conf_t conf;
  conf_sms(&conf);
  request_t r;
  request(&r, true, "https://hooks.example.com/webhooks/sms-test", "",
          "ToCountry=BR&SmsMessageSid=" TW_SID "&NumMedia=0&SmsSid=" TW_SID
          "&SmsStatus=received&Body=Fatura+%C3%A1+STOP&To=%2B5511300000000&NumSegments=1"
          "&MessageSid=" TW_SID "&AccountSid=AC00000000000000000000000000000001"
          "&From=%2B5511987650001&ApiVersion=2010-04-01");
  ct_event_list_t out;
  parse_ok(&ct_provider_sms, &conf, &r, &out, 1, 0);
  const ct_event_t *e = &out.v[0];
  assert_int_equal(e->kind, CT_EVENT_INBOUND);
  assert_string_equal(e->event_id, "tw:m:" TW_SID);
  assert_int_equal(e->status, CT_EVENT_STATUS_RECEIVED);
  assert_string_equal(e->provider_status, "received");
  assert_string_equal(e->from, TEST_PHONE);
  assert_string_equal(e->to, "+5511300000000");
  assert_string_equal(e->text, "Fatura \xc3\xa1 STOP");
  assert_string_equal(e->message_type, "sms");
  ct_event_list_free(&out);
  assert_string_equal(ct_provider_sms.webhook_ok_type, "text/xml");
  assert_string_equal(ct_provider_sms.webhook_ok_body,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>");
}

/* ---- SendGrid --------------------------------------------------------------------------- */

/* sendgrid-go helpers/eventwebhook/eventwebhook_test.go */
#define SG_KEY                                                                                     \
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQG"  \
  "hHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
#define SG_TS "1588788367"
#define SG_PAYLOAD "{\"category\":\"example_payload\",\"event\":\"test_event\",\"message_id\":\"message_id\"}"
#define SG_SIG                                                                                     \
  "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2" \
  "j/0="
#define SG_TS_MS INT64_C(1588788367000)

static void sg_request(request_t *r, const char *body, const char *sig, const char *ts) {
  request(r, true, "https://hooks.example.com/webhooks/email-test", "", body);
  if (sig != NULL)
    header(r, "x-twilio-email-event-webhook-signature", sig);
  if (ts != NULL)
    header(r, "x-twilio-email-event-webhook-timestamp", ts);
}

static void test_sendgrid_documented_vector(void **state) {
  (void)state;
  ct_provider_conf_t conf;
  conf_email(&conf);
  SET(conf.webhook_public_key, SG_KEY);
  conf.webhook_tolerance_ms = 600000;
  request_t r;
  sg_request(&r, SG_PAYLOAD, SG_SIG, SG_TS);
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS), CT_WEBHOOK_ACCEPT);
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS + 600000), CT_WEBHOOK_ACCEPT);
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS - 600000), CT_WEBHOOK_ACCEPT);
  /* outside the tolerance either way */
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS + 600001), CT_WEBHOOK_STALE);
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS - 600001), CT_WEBHOOK_STALE);
  assert_int_equal(ct_webhook_check_status(CT_WEBHOOK_STALE), 403);
  /* one byte of the body, or the timestamp, changed */
  sg_request(&r, "{\"category\":\"example_payload\",\"event\":\"test_event\",\"message_id\":\"message_iD\"}",
             SG_SIG, SG_TS);
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS), CT_WEBHOOK_FORGED);
  sg_request(&r, SG_PAYLOAD, SG_SIG, "1588788368");
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS), CT_WEBHOOK_FORGED);
  /* a signature that is no base64, or no timestamp, or nothing */
  sg_request(&r, SG_PAYLOAD, "MEUC!", SG_TS);
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS), CT_WEBHOOK_FORGED);
  sg_request(&r, SG_PAYLOAD, SG_SIG, NULL);
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS), CT_WEBHOOK_UNSIGNED);
  sg_request(&r, SG_PAYLOAD, NULL, NULL);
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS), CT_WEBHOOK_UNSIGNED);
  /* no key, or a key that is no P-256 public key */
  sg_request(&r, SG_PAYLOAD, SG_SIG, SG_TS);
  conf.webhook_public_key[0] = '\0';
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS), CT_WEBHOOK_NOT_CONFIGURED);
  SET(conf.webhook_public_key, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE");
  assert_int_equal(verify(&ct_provider_email, &conf, &r, SG_TS_MS), CT_WEBHOOK_NOT_CONFIGURED);
  assert_false(ct_webhook_sendgrid_key_ok("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"));
  assert_true(ct_webhook_sendgrid_key_ok(SG_KEY));
}

static void test_sendgrid_events(void **state) {
  (void)state;
  ct_provider_conf_t conf;
  conf_email(&conf);
  request_t r;
  sg_request(
      &r,
      "[{\"email\":\"" TEST_EMAIL "\",\"timestamp\":1513299569,\"smtp-id\":\"<14c5d75ce93.dfd.64b469@ismtpd-555>\","
      "\"event\":\"deferred\",\"category\":\"cat facts\",\"sg_event_id\":\"sg_event_id\","
      "\"sg_message_id\":\"sg_message_id\",\"response\":\"400 try again later\",\"attempt\":\"5\"},"
      "{\"email\":\"" TEST_EMAIL "\",\"timestamp\":1513299570,\"event\":\"bounce\",\"type\":\"bounce\","
      "\"status\":\"5.1.1\",\"reason\":\"550 5.1.1 " TEST_EMAIL " does not exist\","
      "\"sg_event_id\":\"ZGVsaXZlcmVkLTAtMjQ\","
      "\"sg_message_id\":\"W3nQd5k9TyqE0Zv9DqBfTg.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\","
      "\"ct_job\":\"job-0001\",\"ct_part\":\"0\"},"
      "{\"email\":\"" TEST_EMAIL "\",\"timestamp\":1513299571,\"event\":\"bounce\",\"type\":\"blocked\","
      "\"status\":\"4.0.0\",\"sg_event_id\":\"b2\",\"sg_message_id\":\"m2\",\"ct_job\":\"j\",\"ct_part\":\"x\"},"
      "{\"email\":\"" TEST_EMAIL "\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_message_id\":\"m3\","
      "\"timestamp\":1513299572},"
      "{\"event\":\"delivered\"},"
      "17]",
      NULL, NULL);
  ct_event_list_t out;
  parse_ok(&ct_provider_email, &conf, &r, &out, 4, 2);
  const ct_event_t *e = &out.v[0];
  assert_int_equal(e->kind, CT_EVENT_STATUS);
  assert_int_equal(e->channel, CT_CHANNEL_EMAIL);
  assert_string_equal(e->event_id, "sg:sg_event_id");
  assert_string_equal(e->message_id, "sg_message_id");
  assert_int_equal(e->status, CT_EVENT_STATUS_DEFERRED);
  assert_string_equal(e->provider_status, "deferred");
  assert_int_equal(e->at_ms, INT64_C(1513299569000));
  assert_string_equal(e->to, TEST_EMAIL);
  assert_string_equal(e->job_id, "");
  e = &out.v[1];
  assert_string_equal(e->event_id, "sg:ZGVsaXZlcmVkLTAtMjQ");
  assert_string_equal(e->message_id, "W3nQd5k9TyqE0Zv9DqBfTg");
  assert_int_equal(e->status, CT_EVENT_STATUS_BOUNCE);
  assert_string_equal(e->error_code, "5.1.1");
  assert_string_equal(e->error_title, "bounce");
  assert_string_equal(e->job_id, "job-0001");
  assert_int_equal(e->part, 0);
  e = &out.v[2];
  assert_int_equal(e->status, CT_EVENT_STATUS_BLOCKED);
  assert_string_equal(e->error_title, "blocked");
  assert_string_equal(e->job_id, ""); /* ct_part is no number */
  e = &out.v[3];
  assert_int_equal(e->status, CT_EVENT_STATUS_DROPPED);
  assert_string_equal(e->error_title, "Bounced Address");
  assert_string_equal(e->event_id, "sg:m:m3:dropped:1513299572");
  /* no event anywhere quotes the bounce's text */
  for (size_t i = 0; i < out.n; i++)
    assert_null(strstr(out.v[i].error_title, "does not exist"));
  ct_event_list_free(&out);

  sg_request(&r, "{\"event\":\"delivered\"}", NULL, NULL);
  parse_fails(&ct_provider_email, &conf, &r, CT_EDECODE,
              "body is JSON but not an array");
}

/* ---- WhatsApp --------------------------------------------------------------------------- */

/* A raw body as Meta sends it: non-ASCII characters and '/' escaped ("\u00e4", "\/"). The
 * signature was made with `openssl dgst -sha256 -hmac app-secret-synthetic` over these bytes. */
#define WA_RAW                                                                                     \
  "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"102290129340398\",\"changes\":[{" \
  "\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{"            \
  "\"display_phone_number\":\"15550783881\",\"phone_number_id\":\"106540352242922\"},"             \
  "\"contacts\":[{\"profile\":{\"name\":\"J\\u00e4\\u00f6\\u00e5 Teste\"},\"wa_id\":"              \
  "\"16505551234\"}],\"messages\":[{\"from\":\"16505551234\",\"id\":"                              \
  "\"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=\",\"timestamp\":"             \
  "\"1739321024\",\"type\":\"text\",\"text\":{\"body\":\"fatura \\u00e1 "                          \
  "https:\\/\\/x.example.com\\/a @b\"}}]}}]}]}"
#define WA_RAW_SIG "sha256=e1015cbad560966f285078e70737ce028076519ae395c89324fc15d6fa468e50"
#define WA_SECRET "app-secret-synthetic"

static void test_whatsapp_signature_over_raw_bytes(void **state) {
  (void)state;
  assert_int_equal(strlen(WA_RAW), 524);
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  conf.webhook_secret = (char *)WA_SECRET;
  request_t r;
  request(&r, true, "https://hooks.example.com/webhooks/wa-test", "", WA_RAW);
  header(&r, "x-hub-signature-256", WA_RAW_SIG);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_ACCEPT);

  /* The same JSON re-serialized (UTF-8 instead of \u escapes, '/' unescaped) is other bytes:
   * the signature does not cover it. */
  json_t *parsed = json_loads(WA_RAW, 0, NULL);
  assert_non_null(parsed);
  char *again = json_dumps(parsed, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(parsed);
  assert_non_null(strstr(again, "J\xc3\xa4\xc3\xb6\xc3\xa5 Teste"));
  request(&r, true, "https://hooks.example.com/webhooks/wa-test", "", again);
  header(&r, "x-hub-signature-256", WA_RAW_SIG);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_FORGED);
  free(again);

  /* upper-case hex is the same signature; another secret, a truncated or foreign-scheme
   * header, none at all */
  request(&r, true, "u", "", WA_RAW);
  header(&r, "x-hub-signature-256",
         "sha256=E1015CBAD560966F285078E70737CE028076519AE395C89324FC15D6FA468E50");
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_ACCEPT);
  conf.webhook_secret = (char *)"another-secret";
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_FORGED);
  conf.webhook_secret = (char *)WA_SECRET;
  request(&r, true, "u", "", WA_RAW);
  header(&r, "x-hub-signature-256", "sha256=e1015cbad560966f");
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_FORGED);
  request(&r, true, "u", "", WA_RAW);
  header(&r, "x-hub-signature-256",
         "sha1=e1015cbad560966f285078e70737ce028076519ae395c89324fc15d6fa468e50");
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_FORGED);
  request(&r, true, "u", "", WA_RAW);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_UNSIGNED);
  conf.webhook_secret = NULL;
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_NOT_CONFIGURED);

  /* the event: the escapes decoded */
  conf.webhook_secret = (char *)WA_SECRET;
  request(&r, true, "u", "", WA_RAW);
  ct_event_list_t out;
  parse_ok(&ct_provider_whatsapp, &conf, &r, &out, 1, 0);
  const ct_event_t *e = &out.v[0];
  assert_int_equal(e->kind, CT_EVENT_INBOUND);
  assert_int_equal(e->channel, CT_CHANNEL_WHATSAPP);
  assert_string_equal(e->account, "wa-test");
  assert_string_equal(e->event_id, "wa:m:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=");
  assert_string_equal(e->message_id, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=");
  assert_int_equal(e->status, CT_EVENT_STATUS_RECEIVED);
  assert_string_equal(e->from, "16505551234");
  assert_string_equal(e->to, "106540352242922");
  assert_string_equal(e->profile_name, "J\xc3\xa4\xc3\xb6\xc3\xa5 Teste");
  assert_string_equal(e->text, "fatura \xc3\xa1 https://x.example.com/a @b");
  assert_string_equal(e->message_type, "text");
  assert_int_equal(e->at_ms, INT64_C(1739321024000));
  ct_event_list_free(&out);
}

static void test_whatsapp_handshake(void **state) {
  (void)state;
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  conf.webhook_verify_token = (char *)"verify-token-synthetic";
  char challenge[128] = "";
  request_t r;
  /* no signature header on the GET, and none needed */
  request(&r, false, "u",
          "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-token-synthetic",
          NULL);
  assert_int_equal(ct_provider_whatsapp.verify_webhook(&conf, &r.req, 0, challenge,
                                                       sizeof challenge),
                   CT_WEBHOOK_CHALLENGE);
  assert_string_equal(challenge, "1158201444");
  /* the token percent-encoded is the same token */
  request(&r, false, "u",
          "hub.verify_token=verify%2Dtoken-synthetic&hub.mode=subscribe&hub.challenge=42", NULL);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_CHALLENGE);
  request(&r, false, "u",
          "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-token-synthetiC",
          NULL);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_VERIFY_TOKEN);
  assert_int_equal(ct_webhook_check_status(CT_WEBHOOK_VERIFY_TOKEN), 403);
  request(&r, false, "u", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=short", NULL);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_VERIFY_TOKEN);
  request(&r, false, "u",
          "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=verify-token-synthetic", NULL);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_BAD_HANDSHAKE);
  request(&r, false, "u", "hub.mode=subscribe&hub.verify_token=verify-token-synthetic", NULL);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_BAD_HANDSHAKE);
  /* a challenge echoed into our answer must be printable */
  request(&r, false, "u",
          "hub.mode=subscribe&hub.challenge=%3Cscript%3E%0A&hub.verify_token=verify-token-synthetic",
          NULL);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_BAD_HANDSHAKE);
  request(&r, false, "u", "", NULL);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_BAD_HANDSHAKE);
  assert_int_equal(ct_webhook_check_status(CT_WEBHOOK_BAD_HANDSHAKE), 400);
  conf.webhook_verify_token = NULL;
  request(&r, false, "u",
          "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-token-synthetic",
          NULL);
  assert_int_equal(verify(&ct_provider_whatsapp, &conf, &r, 0), CT_WEBHOOK_NOT_CONFIGURED);
}

/* Statuses (several per POST, as Meta batches them) and an interactive reply. */
static void test_whatsapp_statuses(void **state) {
  (void)state;
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  request_t r;
  request(&r, true, "u", "",
          "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"102290129340398\","
          "\"changes\":[{\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\","
          "\"metadata\":{\"display_phone_number\":\"15550783881\",\"phone_number_id\":"
          "\"106540352242922\"},\"statuses\":["
          "{\"id\":\"wamid.A\",\"status\":\"failed\",\"timestamp\":\"1750857384\","
          "\"recipient_id\":\"5511987650001\",\"biz_opaque_callback_data\":\"ct:1:job-0001\","
          "\"errors\":[{\"code\":131026,\"title\":\"Message undeliverable\",\"message\":"
          "\"Message undeliverable\",\"error_data\":{\"details\":\"5511987650001 is no user\"}}]},"
          "{\"id\":\"wamid.B\",\"status\":\"delivered\",\"timestamp\":\"1750857385\","
          "\"recipient_id\":\"5511987650001\",\"biz_opaque_callback_data\":\"job:42\"},"
          "{\"status\":\"read\"},"
          "{\"id\":\"wamid.C\",\"status\":\"deleted\"}]}},"
          "{\"field\":\"message_template_status_update\",\"value\":{\"event\":\"APPROVED\"}}]},"
          "{\"changes\":[{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":"
          "\"106540352242922\"},\"contacts\":[{\"profile\":{\"name\":\"Ana\"},\"wa_id\":\"5511987650001\"},"
          "{\"profile\":{\"name\":\"Bia\"},\"wa_id\":\"5511987650002\"}],\"messages\":["
          "{\"context\":{\"from\":\"15550783881\",\"id\":\"wamid.CTX\"},\"from\":\"5511987650002\","
          "\"id\":\"wamid.D\",\"timestamp\":\"1739321024\",\"type\":\"interactive\",\"interactive\":"
          "{\"type\":\"button_reply\",\"button_reply\":{\"id\":\"saldo\",\"title\":\"Saldo\"}}}]}}]}]}");
  ct_event_list_t out;
  parse_ok(&ct_provider_whatsapp, &conf, &r, &out, 4, 1);
  const ct_event_t *e = &out.v[0];
  assert_int_equal(e->kind, CT_EVENT_STATUS);
  assert_string_equal(e->event_id, "wa:s:wamid.A:failed");
  assert_string_equal(e->message_id, "wamid.A");
  assert_int_equal(e->status, CT_EVENT_STATUS_FAILED);
  assert_string_equal(e->error_code, "131026");
  assert_string_equal(e->error_title, "Message undeliverable");
  assert_string_equal(e->job_id, "job-0001");
  assert_int_equal(e->part, 1);
  assert_string_equal(e->to, "5511987650001");
  assert_string_equal(e->from, "106540352242922");
  assert_int_equal(e->at_ms, INT64_C(1750857384000));
  e = &out.v[1];
  assert_string_equal(e->event_id, "wa:s:wamid.B:delivered");
  assert_int_equal(e->status, CT_EVENT_STATUS_DELIVERED);
  assert_string_equal(e->job_id, ""); /* not carteiro's correlation */
  assert_string_equal(e->error_code, "");
  e = &out.v[2];
  assert_int_equal(e->status, CT_EVENT_STATUS_OTHER);
  assert_string_equal(e->provider_status, "deleted");
  e = &out.v[3];
  assert_int_equal(e->kind, CT_EVENT_INBOUND);
  assert_string_equal(e->event_id, "wa:m:wamid.D");
  assert_string_equal(e->message_type, "interactive");
  assert_string_equal(e->reply_id, "saldo");
  assert_string_equal(e->text, "Saldo");
  assert_string_equal(e->context_id, "wamid.CTX");
  assert_string_equal(e->profile_name, "Bia");
  ct_event_list_free(&out);

  request(&r, true, "u", "", "{\"object\":\"page\",\"entry\":[]}");
  parse_fails(&ct_provider_whatsapp, &conf, &r, CT_EDECODE,
              "object is not \"whatsapp_business_account\"");
  request(&r, true, "u", "", "{\"object\":\"whatsapp_business_account\"}");
  parse_fails(&ct_provider_whatsapp, &conf, &r, CT_EDECODE, "entry is not an array");
  request(&r, true, "u", "", "not json 5511987650001");
  parse_fails(&ct_provider_whatsapp, &conf, &r, CT_EDECODE,
              "body is not JSON (line 1, column 3)");
}

/* More statuses than one request may carry: CT_ETOOBIG, named. */
static void test_whatsapp_too_many(void **state) {
  (void)state;
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  size_t n = CT_EVENT_BATCH_MAX + 1;
  char *body = malloc(n * 40 + 256);
  assert_non_null(body);
  size_t at = (size_t)sprintf(body, "{\"object\":\"whatsapp_business_account\",\"entry\":[{"
                                    "\"changes\":[{\"field\":\"messages\",\"value\":{"
                                    "\"statuses\":[");
  for (size_t i = 0; i < n; i++)
    at += (size_t)sprintf(body + at, "%s{\"id\":\"w%zu\",\"status\":\"sent\"}", i ? "," : "", i);
  sprintf(body + at, "]}}]}]}");
  request_t r;
  request(&r, true, "u", "", body);
  char want[64];
  snprintf(want, sizeof want, "more than %d events in one request", CT_EVENT_BATCH_MAX);
  parse_fails(&ct_provider_whatsapp, &conf, &r, CT_ETOOBIG, want);
  free(body);
}

/* ---- correlation and the event record --------------------------------------------------- */

static void test_correlation(void **state) {
  (void)state;
  char id[CT_EVENT_JOB_LEN];
  uint32_t part = 99;
  assert_true(ct_correlation_parse("ct:2:inv:7", 10, id, sizeof id, &part));
  assert_string_equal(id, "inv:7");
  assert_int_equal(part, 2);
  static const char *const bad[] = {"ct::x", "ct:1:", "ct:1", "job:42", "ct:x:y",
                                    "ct:1234567:x", "ct:1:a\nb", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_false(ct_correlation_parse(bad[i], strlen(bad[i]), id, sizeof id, &part));
  assert_false(ct_correlation_parse("ct:1:abcdef", 11, id, 4, &part)); /* does not fit */
}

static void test_event_record(void **state) {
  (void)state;
  ct_event_t e;
  memset(&e, 0, sizeof e);
  e.kind = CT_EVENT_INBOUND;
  e.channel = CT_CHANNEL_WHATSAPP;
  SET(e.account, "wa-test");
  const char *parts[] = {"wa:m:", "wamid.X"};
  ct_event_set_id(&e, parts, 2);
  assert_string_equal(e.event_id, "wa:m:wamid.X");
  SET(e.from, "5511987650001");
  SET(e.profile_name, "Ana");
  assert_int_equal(ct_event_set_text(&e, "fatura \xc3\xa1", 9), 0);
  e.status = CT_EVENT_STATUS_RECEIVED;
  e.at_ms = 1739321024000;
  e.received_ms = 1800000000000;
  SET(e.job_id, "job-1");
  e.part = 3;
  uint8_t *buf;
  size_t len;
  assert_int_equal(ct_event_encode(&e, &buf, &len), 0);
  ct_event_t d;
  memset(&d, 0, sizeof d);
  assert_int_equal(ct_event_decode(buf, len, &d), 0);
  free(buf);
  assert_int_equal(d.kind, CT_EVENT_INBOUND);
  assert_int_equal(d.channel, CT_CHANNEL_WHATSAPP);
  assert_string_equal(d.account, "wa-test");
  assert_string_equal(d.event_id, "wa:m:wamid.X");
  assert_string_equal(d.from, "5511987650001");
  assert_string_equal(d.text, "fatura \xc3\xa1");
  assert_int_equal(d.status, CT_EVENT_STATUS_RECEIVED);
  assert_int_equal(d.at_ms, 1739321024000);
  assert_int_equal(d.received_ms, 1800000000000);
  assert_string_equal(d.job_id, "job-1");
  assert_int_equal(d.part, 3);

  /* the operator's view masks the peer and leaves the text out */
  json_t *j = ct_event_to_json(&d, 0);
  char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
  assert_non_null(strstr(text, "\"from\":\"+55 11 9****-0001\""));
  assert_non_null(strstr(text, "\"text_bytes\":9"));
  assert_non_null(strstr(text, "\"profile_name\":\"***\""));
  assert_null(strstr(text, "fatura"));
  free(text);
  json_decref(j);
  ct_event_clear(&d);
  ct_event_clear(&e);

  uint8_t junk[] = {0xff, 0xff, 0xff};
  assert_int_equal(ct_event_decode(junk, sizeof junk, &d), CT_EDECODE);

  /* an id longer than the field: "h:" + SHA-256 of the whole (printf 'wa:s:' + 300 x 'a' +
   * ':sent' | sha256sum) */
  char longid[301];
  memset(longid, 'a', 300);
  longid[300] = '\0';
  const char *lp[] = {"wa:s:", longid, ":sent"};
  ct_event_set_id(&e, lp, 3);
  assert_string_equal(e.event_id,
                      "h:af225c9c4ab7475ecaf4738794bd00c6bffe87dbb56866eef9e2c9c2b2dc9084");
  /* a control character in an id would become a space in the stored copy: hashed instead,
   * so that "a\x01b" and "a b" stay two events (printf 'wa:m:a\001b' | sha256sum) */
  const char *cp[] = {"wa:m:", "a\x01" "b"};
  ct_event_set_id(&e, cp, 2);
  assert_string_equal(e.event_id,
                      "h:1498514b2aad76c0e85440220f3615598650929be88a74bfde072133ad4e194a");
  /* a copy cut inside a character keeps the character out */
  char small[5];
  assert_false(ct_event_copy(small, sizeof small, "ab\xc3\xa1\xc3\xa1", 6));
  assert_string_equal(small, "ab\xc3\xa1");
  assert_false(ct_event_copy(small, sizeof small, "abc\xc3\xa1", 5));
  assert_string_equal(small, "abc");
  assert_true(ct_event_copy(small, sizeof small, "a\tb", 3));
  assert_string_equal(small, "a b");
  ct_event_status_t st;
  assert_int_equal(ct_event_status_parse("undelivered", &st), 0);
  assert_int_equal(st, CT_EVENT_STATUS_UNDELIVERED);
  assert_int_equal(ct_event_status_parse("nope", &st), CT_EINVAL);
  assert_string_equal(ct_event_status_name(CT_EVENT_STATUS_SPAMREPORT), "spamreport");
  assert_string_equal(ct_event_status_name(999), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_twilio_documented_vector),
      cmocka_unit_test(test_twilio_verify),
      cmocka_unit_test(test_twilio_status_callback),
      cmocka_unit_test(test_twilio_inbound),
      cmocka_unit_test(test_sendgrid_documented_vector),
      cmocka_unit_test(test_sendgrid_events),
      cmocka_unit_test(test_whatsapp_signature_over_raw_bytes),
      cmocka_unit_test(test_whatsapp_handshake),
      cmocka_unit_test(test_whatsapp_statuses),
      cmocka_unit_test(test_whatsapp_too_many),
      cmocka_unit_test(test_correlation),
      cmocka_unit_test(test_event_record),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
