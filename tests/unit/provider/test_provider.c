/* Unit tests for the request builders of src/provider: the exact URL, headers and body each
 * adapter builds for synthetic jobs, and the errors for jobs a channel cannot carry. */
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

/* ---- helpers ---------------------------------------------------------------------------- */

/* Asserts that the request body is exactly the JSON `want` (parsed and compared as values,
 * so the failure message shows both texts). */
static void assert_body_json(const ct_http_request_t *req, const char *want) {
  assert_non_null(req->body);
  assert_int_equal(req->body_len, strlen(req->body));
  json_error_t e;
  json_t *got = json_loads(req->body, 0, &e);
  if (got == NULL)
    fail_msg("body is not JSON (%s): %s", e.text, req->body);
  json_t *expected = json_loads(want, 0, &e);
  if (expected == NULL)
    fail_msg("expected text is not JSON (%s): %s", e.text, want);
  if (!json_equal(got, expected)) {
    char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
    char *w = json_dumps(expected, JSON_SORT_KEYS | JSON_COMPACT);
    print_error("got:      %s\nexpected: %s\n", g, w);
    free(g);
    free(w);
    fail();
  }
  json_decref(got);
  json_decref(expected);
}

static void assert_headers(const ct_http_request_t *req, const char *auth, const char *type) {
  assert_int_equal(req->n_headers, 2);
  assert_string_equal(req->headers[0], auth);
  assert_string_equal(req->headers[1], type);
}

/* Builds and expects failure: CT_EINVAL, `out` untouched, and an error message that
 * contains `want` and none of the recipient's data. */
static void assert_build_fails(const ct_provider_t *p, const ct_provider_conf_t *conf,
                               const ct_templates_t *t, const ct_job_t *job, unsigned part,
                               const char *want) {
  ct_http_request_t out;
  memset(&out, 0x5a, sizeof out);
  ct_http_request_t before = out;
  char err[256] = "";
  int rc = p->build(conf, t, job, part, &(ct_build_ctx_t){0}, &out, err, sizeof err);
  assert_int_equal(rc, CT_EINVAL);
  assert_memory_equal(&out, &before, sizeof out);
  if (strstr(err, want) == NULL)
    fail_msg("error \"%s\" does not say \"%s\"", err, want);
  assert_null(strstr(err, "98765"));
  assert_null(strstr(err, "maria"));
  assert_null(strstr(err, "Maria"));
}

static ct_http_request_t build_ctx_ok(const ct_provider_t *p, const ct_provider_conf_t *conf,
                                      const ct_templates_t *t, const ct_job_t *job,
                                      unsigned part, const ct_build_ctx_t *ctx) {
  ct_http_request_t out;
  char err[256] = "";
  int rc = p->build(conf, t, job, part, ctx, &out, err, sizeof err);
  if (rc != 0)
    fail_msg("build failed: %s (%s)", ct_errname(rc), err);
  return out;
}

static ct_http_request_t build_ok(const ct_provider_t *p, const ct_provider_conf_t *conf,
                                  const ct_templates_t *t, const ct_job_t *job, unsigned part) {
  ct_http_request_t out;
  char err[256] = "";
  int rc = p->build(conf, t, job, part, &(ct_build_ctx_t){0}, &out, err, sizeof err);
  if (rc != 0)
    fail_msg("build failed: %s (%s)", ct_errname(rc), err);
  return out;
}

/* ---- table ------------------------------------------------------------------------------ */

static void test_provider_for_channel(void **state) {
  (void)state;
  assert_ptr_equal(ct_provider_for(CT_CHANNEL_WHATSAPP), &ct_provider_whatsapp);
  assert_ptr_equal(ct_provider_for(CT_CHANNEL_SMS), &ct_provider_sms);
  assert_ptr_equal(ct_provider_for(CT_CHANNEL_EMAIL), &ct_provider_email);
  assert_null(ct_provider_for(CT_CHANNEL_NONE));
  assert_null(ct_provider_for((ct_channel_t)42));
  assert_int_equal(ct_provider_whatsapp.channel, CT_CHANNEL_WHATSAPP);
  assert_int_equal(ct_provider_sms.channel, CT_CHANNEL_SMS);
  assert_int_equal(ct_provider_email.channel, CT_CHANNEL_EMAIL);
  assert_string_equal(ct_provider_whatsapp.name, "whatsapp");
  assert_string_equal(ct_provider_sms.name, "sms");
  assert_string_equal(ct_provider_email.name, "email");
  assert_string_equal(ct_verdict_name(CT_VERDICT_ACCEPTED), "accepted");
  assert_string_equal(ct_verdict_name(CT_VERDICT_TRANSIENT), "transient");
  assert_string_equal(ct_verdict_name(CT_VERDICT_THROTTLED), "throttled");
  assert_string_equal(ct_verdict_name(CT_VERDICT_RECIPIENT_BUSY), "recipient_busy");
  assert_string_equal(ct_verdict_name(CT_VERDICT_PERMANENT), "permanent");
  assert_string_equal(ct_verdict_name(CT_VERDICT_AUTH), "auth");
  assert_string_equal(ct_verdict_name((ct_verdict_kind_t)99), "unknown");
}

static void test_parts(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  with_document(&f);
  /* With a document: upload, invoice template, barcode template. */
  assert_int_equal(ct_provider_whatsapp.parts(&f.job), 3);
  assert_true(ct_provider_whatsapp.needs_document(&f.job, 0));
  assert_false(ct_provider_whatsapp.needs_document(&f.job, 1));
  assert_int_equal(ct_provider_sms.parts(&f.job), 1);
  assert_false(ct_provider_sms.needs_document(&f.job, 0));
  assert_int_equal(ct_provider_email.parts(&f.job), 1);
  assert_true(ct_provider_email.needs_document(&f.job, 0));
  f.invoice.document = NULL;
  assert_int_equal(ct_provider_whatsapp.parts(&f.job), 2);
  assert_false(ct_provider_whatsapp.needs_document(&f.job, 0));
  assert_false(ct_provider_email.needs_document(&f.job, 0));
  fixture_notification(&f);
  assert_int_equal(ct_provider_whatsapp.parts(&f.job), 1);
}

/* ---- WhatsApp --------------------------------------------------------------------------- */

#define WA_URL "https://graph.example.com/v24.0/100000000000001/messages"
#define WA_AUTH "Authorization: Bearer wa-token-synthetic"
#define JSON_TYPE "Content-Type: application/json"

static void test_whatsapp_invoice_template_with_document(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  with_document(&f);
  ct_build_ctx_t ctx = {.media_id = "4490709327384033"};
  ct_http_request_t req = build_ctx_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 1, &ctx);
  assert_string_equal(req.url, WA_URL);
  assert_headers(&req, WA_AUTH, JSON_TYPE);
  assert_body_json(&req,
                   "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
                   "\"to\":\"5511987650001\",\"type\":\"template\","
                   "\"biz_opaque_callback_data\":\"ct:1:job-0001\",\"template\":{"
                   "\"name\":\"fatura_disponivel\",\"language\":{\"code\":\"pt_BR\"},"
                   "\"components\":["
                   "{\"type\":\"header\",\"parameters\":[{\"type\":\"document\",\"document\":{"
                   "\"id\":\"4490709327384033\",\"filename\":\"fatura-2026-0001.pdf\"}}]},"
                   "{\"type\":\"body\",\"parameters\":["
                   "{\"type\":\"text\",\"text\":\"Maria Teste\"},"
                   "{\"type\":\"text\",\"text\":\"R$ 1.234,56\"},"
                   "{\"type\":\"text\",\"text\":\"10/12/2026\"}]}]}}");
  ct_http_request_free(&req);
  assert_null(req.url);
  assert_null(req.body);
  assert_int_equal(req.n_headers, 0);
}

static void test_whatsapp_upload(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  with_document(&f);
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  static const uint8_t pdf[] = "%PDF-1.7 synthetic\r\n\0binary\xff";
  ct_build_ctx_t ctx = {.document = pdf, .document_len = sizeof pdf - 1};
  ct_http_request_t req = build_ctx_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 0, &ctx);
  assert_string_equal(req.url, "https://graph.example.com/v24.0/100000000000001/media");
  const char *boundary = "carteiro-boundary-00000000";
  char type[128];
  snprintf(type, sizeof type, "Content-Type: multipart/form-data; boundary=%s", boundary);
  assert_headers(&req, WA_AUTH, type);
  char head[512];
  int n = snprintf(head, sizeof head,
                   "--%s\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\n"
                   "whatsapp\r\n--%s\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\n"
                   "application/pdf\r\n--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                   "filename=\"fatura-2026-0001.pdf\"\r\nContent-Type: application/pdf\r\n\r\n",
                   boundary, boundary, boundary);
  char tail[64];
  int m = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", boundary);
  assert_int_equal(req.body_len, (size_t)n + sizeof pdf - 1 + (size_t)m);
  assert_memory_equal(req.body, head, (size_t)n);
  assert_memory_equal(req.body + n, pdf, sizeof pdf - 1);
  assert_memory_equal(req.body + n + sizeof pdf - 1, tail, (size_t)m);
  ct_http_request_free(&req);

  /* A boundary that occurs in the file is not used. */
  static const uint8_t tricky[] = "%PDF-1.7 carteiro-boundary-00000000 tricky";
  ctx = (ct_build_ctx_t){.document = tricky, .document_len = sizeof tricky - 1};
  req = build_ctx_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 0, &ctx);
  assert_string_not_equal(req.headers[1], type);
  ct_http_request_free(&req);

  /* No prepared document, or no media id for the template: refused, nothing built. */
  assert_build_fails(&ct_provider_whatsapp, &conf, NULL, &f.job, 0, "document was not prepared");
  assert_build_fails(&ct_provider_whatsapp, &conf, NULL, &f.job, 1, "media id is missing");
}

static void test_whatsapp_invoice_without_document(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  /* a name with line breaks and runs of spaces */
  f.recipient.name = (char *)"  Maria \n\t  Teste\r\n";
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  ct_http_request_t req = build_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 0);
  assert_body_json(&req,
                   "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
                   "\"to\":\"5511987650001\",\"type\":\"template\","
                   "\"biz_opaque_callback_data\":\"ct:0:job-0001\",\"template\":{"
                   "\"name\":\"fatura_disponivel\",\"language\":{\"code\":\"pt_BR\"},"
                   "\"components\":["
                   "{\"type\":\"body\",\"parameters\":["
                   "{\"type\":\"text\",\"text\":\"Maria Teste\"},"
                   "{\"type\":\"text\",\"text\":\"R$ 1.234,56\"},"
                   "{\"type\":\"text\",\"text\":\"10/12/2026\"}]}]}}");
  ct_http_request_free(&req);

  /* no name: the greeting falls back to a neutral word */
  f.recipient.name = (char *)" \t ";
  req = build_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 0);
  json_t *body = json_loads(req.body, 0, NULL);
  assert_non_null(body);
  json_t *components = json_object_get(json_object_get(body, "template"), "components");
  assert_int_equal(json_array_size(components), 1);
  json_t *first = json_array_get(json_object_get(json_array_get(components, 0), "parameters"), 0);
  assert_string_equal(json_string_value(json_object_get(first, "text")), "Cliente");
  json_decref(body);
  ct_http_request_free(&req);
}

static void test_whatsapp_filename_is_sanitized(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  with_document(&f);
  f.invoice.number = (char *)"NF 12/3\"x";
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  ct_build_ctx_t ctx = {.media_id = "1"};
  ct_http_request_t req = build_ctx_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 1, &ctx);
  json_t *body = json_loads(req.body, 0, NULL);
  json_t *doc = json_object_get(
      json_array_get(
          json_object_get(
              json_array_get(json_object_get(json_object_get(body, "template"), "components"), 0),
              "parameters"),
          0),
      "document");
  assert_string_equal(json_string_value(json_object_get(doc, "filename")), "fatura-NF-12-3-x.pdf");
  json_decref(body);
  ct_http_request_free(&req);
}

static void test_whatsapp_barcode_part(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  /* The last part, with a document (2) or without (1). */
  with_document(&f);
  ct_http_request_t req = build_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 2);
  ct_http_request_t plain;
  f.invoice.document = NULL;
  plain = build_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 1);
  /* the same message but for the part number it is correlated by */
  char *at = strstr(plain.body, "\"ct:1:job-0001\"");
  assert_non_null(at);
  at[4] = '2';
  assert_string_equal(plain.body, req.body);
  ct_http_request_free(&plain);
  assert_string_equal(req.url, WA_URL);
  assert_headers(&req, WA_AUTH, JSON_TYPE);
  assert_body_json(&req,
                   "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
                   "\"to\":\"5511987650001\",\"type\":\"template\","
                   "\"biz_opaque_callback_data\":\"ct:2:job-0001\",\"template\":{"
                   "\"name\":\"fatura_codigo_barras\",\"language\":{\"code\":\"pt_BR\"},"
                   "\"components\":[{\"type\":\"body\",\"parameters\":["
                   "{\"type\":\"text\",\"text\":\"" TEST_BARCODE "\"}]}]}}");
  ct_http_request_free(&req);
}

static void test_whatsapp_notification_params_in_key_order(void **state) {
  (void)state;
  fixture_t f;
  fixture_notification(&f);
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  ct_http_request_t req = build_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 0);
  assert_body_json(&req,
                   "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
                   "\"to\":\"5511987650001\",\"type\":\"template\","
                   "\"biz_opaque_callback_data\":\"ct:0:job-0001\",\"template\":{"
                   "\"name\":\"boas_vindas\",\"language\":{\"code\":\"pt_BR\"},"
                   "\"components\":[{\"type\":\"body\",\"parameters\":["
                   "{\"type\":\"text\",\"text\":\"01/12\"},"
                   "{\"type\":\"text\",\"text\":\"Maria\"},"
                   "{\"type\":\"text\",\"text\":\"Controle 20GB\"}]}]}}");
  ct_http_request_free(&req);

  /* without params the template goes without components */
  f.notification.n_params = 0;
  req = build_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 0);
  assert_body_json(&req,
                   "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
                   "\"to\":\"5511987650001\",\"type\":\"template\","
                   "\"biz_opaque_callback_data\":\"ct:0:job-0001\",\"template\":{"
                   "\"name\":\"boas_vindas\",\"language\":{\"code\":\"pt_BR\"}}}");
  ct_http_request_free(&req);

  f.notification.n_params = 3;
  f.entries[1].value = (char *)"";
  assert_build_fails(&ct_provider_whatsapp, &conf, NULL, &f.job, 0,
                     "notification param 'nome' is empty");
  f.entries[1].value = (char *)" \n\t ";
  assert_build_fails(&ct_provider_whatsapp, &conf, NULL, &f.job, 0,
                     "notification param 'nome' is empty");
  f.entries[1].value = (char *)"Maria";
  f.notification.template_name = (char *)"";
  assert_build_fails(&ct_provider_whatsapp, &conf, NULL, &f.job, 0,
                     "neither an invoice nor a notification");
  f.notification.template_name = (char *)"boas_vindas";
  assert_build_fails(&ct_provider_whatsapp, &conf, NULL, &f.job, 1,
                     "part 1 out of range (a notification has 1)");
}

static void test_whatsapp_refusals(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  const ct_provider_t *wa = &ct_provider_whatsapp;

  assert_build_fails(wa, &conf, NULL, &f.job, 2, "part 2 out of range");

  f.recipient.phone = (char *)"";
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "recipient.phone is missing");
  f.recipient.phone = (char *)"11 98765-0001";
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "recipient.phone is not in E.164 form");
  f.job.recipient = NULL;
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "recipient.phone is missing");
  fixture_invoice(&f);

  f.invoice.barcode_line = (char *)"";
  assert_build_fails(wa, &conf, NULL, &f.job, 1, "invoice.barcode_line is empty");
  fixture_invoice(&f);

  f.job.invoice = NULL;
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "invoice job without an invoice");
  fixture_invoice(&f);
  f.job.kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_UNSPECIFIED;
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "neither an invoice nor a notification");
  fixture_invoice(&f);

  conf.template_invoice[0] = '\0';
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "[provider.wa-test] template_invoice is empty");
  conf_whatsapp(&conf);
  conf.template_language[0] = '\0';
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "template_language is empty");
  conf_whatsapp(&conf);
  conf.account[0] = '\0';
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "[provider.wa-test] account is empty");
  conf_whatsapp(&conf);
  conf.secret = NULL;
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "[provider.wa-test] has no secret");
  conf.secret = (char *)"token-with-a-stray-line\n";
  assert_build_fails(wa, &conf, NULL, &f.job, 0, "secret has a line break");
}

static void test_whatsapp_invalid_utf8_is_repaired(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  f.recipient.name = (char *)"Jo\xe3o"; /* Latin-1 "João" */
  ct_provider_conf_t conf;
  conf_whatsapp(&conf);
  ct_http_request_t req = build_ok(&ct_provider_whatsapp, &conf, NULL, &f.job, 0);
  json_t *body = json_loads(req.body, 0, NULL);
  assert_non_null(body);
  json_t *components = json_object_get(json_object_get(body, "template"), "components");
  /* without a document the body is the only component */
  json_t *name = json_array_get(json_object_get(json_array_get(components, 0), "parameters"), 0);
  assert_string_equal(json_string_value(json_object_get(name, "text")), "Jo\xef\xbf\xbdo");
  json_decref(body);
  ct_http_request_free(&req);
}

/* ---- SMS -------------------------------------------------------------------------------- */

#define SMS_URL                                                                                    \
  "https://sms.example.com/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json"
#define SMS_AUTH                                                                                   \
  "Authorization: Basic QUMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTpzbXMtYXV0aC10b2tlbg=="
#define FORM_TYPE "Content-Type: application/x-www-form-urlencoded"

static void test_sms_form_body(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_sms(&conf);
  ct_templates_t t;
  templates_ptbr(&t);
  ct_http_request_t req = build_ok(&ct_provider_sms, &conf, &t, &f.job, 0);
  assert_string_equal(req.url, SMS_URL);
  assert_headers(&req, SMS_AUTH, FORM_TYPE);
  assert_string_equal(req.body, "To=%2B5511987650001&From=%2B5511300000000&Body=Maria+Teste%2C+"
                                "sua+fatura+2026-0001+de+R%24+1.234%2C56+vence+em+10%2F12%2F2026."
                                "+Codigo+de+barras%3A+" TEST_BARCODE);
  assert_int_equal(req.body_len, strlen(req.body));
  ct_http_request_free(&req);
}

static void test_sms_messaging_service_and_encoding(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_sms(&conf);
  SET(conf.sender, "MG00000000000000000000000000000009");
  ct_templates_t t;
  templates_ptbr(&t);
  t.sms_invoice = (char *)"Olá {name}: ç~*_-.&=+ {unknown}";
  ct_http_request_t req = build_ok(&ct_provider_sms, &conf, &t, &f.job, 0);
  assert_string_equal(req.body, "To=%2B5511987650001&MessagingServiceSid="
                                "MG00000000000000000000000000000009&Body=Ol%C3%A1+Maria+Teste%3A+"
                                "%C3%A7%7E*_-.%26%3D%2B+%7Bunknown%7D");
  ct_http_request_free(&req);
}

static void test_sms_length_limit(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_sms(&conf);
  ct_templates_t t;
  templates_ptbr(&t);
  /* 4 x 153 GSM-7 septets fit; one more starts a fifth part */
  char text[700];
  memset(text, 'a', 612);
  text[612] = '\0';
  t.sms_invoice = text;
  ct_http_request_t req = build_ok(&ct_provider_sms, &conf, &t, &f.job, 0);
  ct_http_request_free(&req);
  text[612] = 'a';
  text[613] = '\0';
  assert_build_fails(&ct_provider_sms, &conf, &t, &f.job, 0,
                     "the sms text takes 5 segments (613 GSM-7 septets); at most 4 are allowed");
  /* UCS-2: 4 x 67 units fit */
  memset(text, 'a', 267);
  memcpy(text + 267, "\xc3\xa3", 3); /* 'ã' forces UCS-2: 268 units */
  ct_http_request_t req2 = build_ok(&ct_provider_sms, &conf, &t, &f.job, 0);
  ct_http_request_free(&req2);
  memcpy(text + 267, "\xc3\xa3\xc3\xa3", 5);
  assert_build_fails(&ct_provider_sms, &conf, &t, &f.job, 0,
                     "the sms text takes 5 segments (269 UCS-2 units)");
}

static void test_sms_refusals(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_sms(&conf);
  ct_templates_t t;
  templates_ptbr(&t);
  const ct_provider_t *sms = &ct_provider_sms;
  assert_build_fails(sms, &conf, &t, &f.job, 1, "part 1 out of range");
  f.recipient.phone = (char *)"";
  assert_build_fails(sms, &conf, &t, &f.job, 0, "recipient.phone is missing; sms needs it");
  f.recipient.phone = (char *)"+55 11 987650001";
  assert_build_fails(sms, &conf, &t, &f.job, 0, "not in E.164 form");
  fixture_invoice(&f);
  t.sms_invoice = (char *)"";
  assert_build_fails(sms, &conf, &t, &f.job, 0, "the sms text renders empty");
  t.sms_invoice = NULL;
  assert_build_fails(sms, &conf, &t, &f.job, 0, "templates have no sms_invoice text");
  templates_ptbr(&t);
  conf.sender[0] = '\0';
  assert_build_fails(sms, &conf, &t, &f.job, 0, "[provider.sms-test] sender is empty");
  conf_sms(&conf);
  conf.account[0] = '\0';
  assert_build_fails(sms, &conf, &t, &f.job, 0, "[provider.sms-test] account is empty");
  conf_sms(&conf);
  conf.base_url[0] = '\0';
  assert_build_fails(sms, &conf, &t, &f.job, 0, "[provider.sms-test] base_url is empty");
  conf_sms(&conf);
  fixture_notification(&f);
  assert_build_fails(sms, &conf, &t, &f.job, 0, "sms can send invoices only");
}

/* ---- e-mail ----------------------------------------------------------------------------- */

#define EMAIL_URL "https://mail.example.com/v3/mail/send"
#define EMAIL_AUTH "Authorization: Bearer SG.synthetic-key"

static void test_email_body(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_email(&conf);
  ct_templates_t t;
  templates_ptbr(&t);
  ct_http_request_t req = build_ok(&ct_provider_email, &conf, &t, &f.job, 0);
  assert_string_equal(req.url, EMAIL_URL);
  assert_headers(&req, EMAIL_AUTH, JSON_TYPE);
  assert_body_json(&req,
                   "{\"personalizations\":[{\"to\":[{\"email\":\"" TEST_EMAIL
                   "\",\"name\":\"Maria Teste\"}]}],"
                   "\"from\":{\"email\":\"faturas@banco.example.com\",\"name\":\"Banco Exemplo\"},"
                   "\"subject\":\"Sua fatura 2026-0001 vence em 10/12/2026\","
                   "\"content\":["
                   "{\"type\":\"text/plain\",\"value\":\"Ola, Maria Teste. Fatura 2026-0001: "
                   "R$ 1.234,56, vence em 10/12/2026.\"},"
                   "{\"type\":\"text/html\",\"value\":\"<p>Ola, Maria Teste.</p><p><b>R$ "
                   "1.234,56</b> em 10/12/2026</p>\"}],"
                   "\"custom_args\":{\"ct_job\":\"job-0001\",\"ct_part\":\"0\"}}");
  ct_http_request_free(&req);
}

static void test_email_attachment(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  with_document(&f);
  ct_provider_conf_t conf;
  conf_email(&conf);
  ct_templates_t t;
  templates_ptbr(&t);
  static const uint8_t pdf[] = "%PDF-1.7 x";
  ct_build_ctx_t ctx = {.document = pdf, .document_len = sizeof pdf - 1};
  ct_http_request_t req = build_ctx_ok(&ct_provider_email, &conf, &t, &f.job, 0, &ctx);
  json_t *body = json_loads(req.body, 0, NULL);
  assert_non_null(body);
  json_t *atts = json_object_get(body, "attachments");
  assert_int_equal(json_array_size(atts), 1);
  char *got = json_dumps(json_array_get(atts, 0), JSON_SORT_KEYS | JSON_COMPACT);
  assert_string_equal(got, "{\"content\":\"JVBERi0xLjcgeA==\",\"disposition\":\"attachment\","
                           "\"filename\":\"fatura-2026-0001.pdf\",\"type\":\"application/pdf\"}");
  free(got);
  json_decref(body);
  ct_http_request_free(&req);

  /* The document was not prepared, or is over SendGrid's 30 MB once encoded: refused. */
  assert_build_fails(&ct_provider_email, &conf, &t, &f.job, 0, "document was not prepared");
  ct_http_request_t out;
  char err[256] = "";
  ctx.document_len = (size_t)23 * 1000 * 1000;
  assert_int_equal(ct_provider_email.build(&conf, &t, &f.job, 0, &ctx, &out, err, sizeof err),
                   CT_EINVAL);
  assert_string_equal(err, "document of 23000000 bytes is over SendGrid's 30 MB message limit "
                           "once encoded");
}

/* The built-in pt-BR e-mail says the PDF is attached only when it is, and that it has a
 * password only when it has one. */
static void test_email_pdf_line(void **state) {
  (void)state;
  static const char ini[] = "[provider.email-test]\nkind = email\n"
                            "base_url = https://mail.example.com\n"
                            "sender = faturas@banco.example.com\nsecret_file = /nonexistent\n";
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  assert_int_equal(ct_config_parse("t.ini", ini, strlen(ini),
                                   CT_CONFIG_NO_ENV | CT_CONFIG_NO_FILES, &cfg, errs, &nerr), 0);
  const ct_templates_t *t = ct_config_templates(cfg, "pt-BR");
  ct_provider_conf_t conf;
  conf_email(&conf);
  fixture_t f;
  fixture_invoice(&f);
  static const uint8_t pdf[] = "%PDF-1.7 x";
  static const char head[] = "Ol\xc3\xa1, Maria Teste.\n\nSua fatura 2026-0001, no valor de "
                             "R$ 1.234,56, vence em 10/12/2026.\n\nLinha digit\xc3\xa1vel: "
                             TEST_BARCODE "\n";
  static const char html_head[] =
      "<p>Ol\xc3\xa1, Maria Teste.</p><p>Sua fatura <b>2026-0001</b>, no valor de <b>R$ "
      "1.234,56</b>, vence em <b>10/12/2026</b>.</p><p>Linha digit\xc3\xa1vel:<br><code>"
      TEST_BARCODE "</code></p>";
  static const struct {
    bool attach;
    int policy;
    const char *text_tail, *html_tail;
  } cases[] = {
      {false, 0, "", ""},
      {true, CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_NONE,
       "\nO PDF da fatura segue anexo.\n", "<p>O PDF da fatura segue anexo.</p>"},
      {true, CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_UNSPECIFIED,
       "\nO PDF da fatura segue anexo.\n", "<p>O PDF da fatura segue anexo.</p>"},
      {true, CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4,
       "\nO PDF da fatura segue anexo, protegido por senha.\n",
       "<p>O PDF da fatura segue anexo, protegido por senha.</p>"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fixture_invoice(&f);
    ct_build_ctx_t ctx = {0};
    if (cases[i].attach) {
      with_document(&f);
      f.document.password_policy = cases[i].policy;
      ctx.document = pdf;
      ctx.document_len = sizeof pdf - 1;
    }
    ct_http_request_t req = build_ctx_ok(&ct_provider_email, &conf, t, &f.job, 0, &ctx);
    json_t *body = json_loads(req.body, 0, NULL);
    assert_non_null(body);
    json_t *content = json_object_get(body, "content");
    char want[1024];
    snprintf(want, sizeof want, "%s%s", head, cases[i].text_tail);
    assert_string_equal(json_string_value(json_object_get(json_array_get(content, 0), "value")),
                        want);
    snprintf(want, sizeof want, "%s%s", html_head, cases[i].html_tail);
    assert_string_equal(json_string_value(json_object_get(json_array_get(content, 1), "value")),
                        want);
    assert_int_equal(json_array_size(json_object_get(body, "attachments")), cases[i].attach);
    json_decref(body);
    ct_http_request_free(&req);
  }
  ct_config_free(cfg);
}

static void test_email_escapes_html_and_flattens_headers(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  f.recipient.name = (char *)"Ana <b>&\"'\r\nX";
  ct_provider_conf_t conf;
  conf_email(&conf);
  conf.sender_name[0] = '\0';
  ct_templates_t t;
  templates_ptbr(&t);
  t.email_subject = (char *)"Fatura de {name}";
  ct_http_request_t req = build_ok(&ct_provider_email, &conf, &t, &f.job, 0);
  assert_body_json(&req,
                   "{\"personalizations\":[{\"to\":[{\"email\":\"" TEST_EMAIL
                   "\",\"name\":\"Ana <b>&\\\"'  X\"}]}],"
                   "\"from\":{\"email\":\"faturas@banco.example.com\"},"
                   "\"subject\":\"Fatura de Ana <b>&\\\"'  X\","
                   "\"content\":["
                   "{\"type\":\"text/plain\",\"value\":\"Ola, Ana <b>&\\\"'\\r\\nX. Fatura "
                   "2026-0001: R$ 1.234,56, vence em 10/12/2026.\"},"
                   "{\"type\":\"text/html\",\"value\":\"<p>Ola, Ana &lt;b&gt;&amp;&quot;&#39;"
                   "\\r\\nX.</p><p><b>R$ 1.234,56</b> em 10/12/2026</p>\"}],"
                   "\"custom_args\":{\"ct_job\":\"job-0001\",\"ct_part\":\"0\"}}");
  ct_http_request_free(&req);
}

/* SendGrid refuses a to.name holding ',' or ';': the name goes quoted, as SendGrid's own
 * libraries send it, and the e-mail still goes. */
static void test_email_name_with_comma_is_quoted(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_email(&conf);
  ct_templates_t t;
  templates_ptbr(&t);
  static const struct {
    const char *name, *sent;
  } cases[] = {
      {"Ara\xc3\xbajo, Jos\xc3\xa9 Ant\xc3\xb4nio", "\"Ara\xc3\xbajo, Jos\xc3\xa9 Ant\xc3\xb4nio\""},
      {"Silva; Maria", "\"Silva; Maria\""},
      {"Souza, \"Jo\\\"\nAna", "\"Souza, Jo Ana\""},
      {"Maria Teste", "Maria Teste"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    f.recipient.name = (char *)cases[i].name;
    ct_http_request_t req = build_ok(&ct_provider_email, &conf, &t, &f.job, 0);
    json_t *body = json_loads(req.body, 0, NULL);
    assert_non_null(body);
    json_t *to = json_array_get(
        json_object_get(json_array_get(json_object_get(body, "personalizations"), 0), "to"), 0);
    assert_string_equal(json_string_value(json_object_get(to, "email")), TEST_EMAIL);
    assert_string_equal(json_string_value(json_object_get(to, "name")), cases[i].sent);
    json_decref(body);
    ct_http_request_free(&req);
  }
}

/* With webhook_public_url, every SMS names its job and part in a StatusCallback URL. */
static void test_sms_status_callback(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  f.job.id = (char *)"inv 7/2026&x";
  ct_provider_conf_t conf;
  conf_sms(&conf);
  SET(conf.webhook_url, "https://hooks.example.com/webhooks/sms-test");
  ct_templates_t t;
  templates_ptbr(&t);
  t.sms_invoice = (char *)"Fatura {number}";
  ct_http_request_t req = build_ok(&ct_provider_sms, &conf, &t, &f.job, 0);
  assert_string_equal(req.body, "To=%2B5511987650001&From=%2B5511300000000&Body=Fatura+2026-0001"
                                "&StatusCallback=https%3A%2F%2Fhooks.example.com%2Fwebhooks%2F"
                                "sms-test%3Fjob%3Dinv%2B7%252F2026%2526x%26part%3D0");
  ct_http_request_free(&req);
  /* without a public URL there is nothing to call back */
  conf.webhook_url[0] = '\0';
  req = build_ok(&ct_provider_sms, &conf, &t, &f.job, 0);
  assert_null(strstr(req.body, "StatusCallback"));
  ct_http_request_free(&req);
}

static void test_email_refusals(void **state) {
  (void)state;
  fixture_t f;
  fixture_invoice(&f);
  ct_provider_conf_t conf;
  conf_email(&conf);
  ct_templates_t t;
  templates_ptbr(&t);
  const ct_provider_t *em = &ct_provider_email;
  assert_build_fails(em, &conf, &t, &f.job, 1, "part 1 out of range");
  f.recipient.email = (char *)"";
  assert_build_fails(em, &conf, &t, &f.job, 0, "recipient.email is missing; email needs it");
  f.recipient.email = (char *)"maria teste@example.com";
  assert_build_fails(em, &conf, &t, &f.job, 0, "recipient.email is not a plain address");
  fixture_invoice(&f);
  conf.sender[0] = '\0';
  assert_build_fails(em, &conf, &t, &f.job, 0, "[provider.email-test] sender is not an e-mail");
  conf_email(&conf);
  t.email_html = NULL;
  assert_build_fails(em, &conf, &t, &f.job, 0, "templates lack email_subject");
  templates_ptbr(&t);
  conf.secret = (char *)"";
  assert_build_fails(em, &conf, &t, &f.job, 0, "[provider.email-test] has no secret");
  conf_email(&conf);
  fixture_notification(&f);
  assert_build_fails(em, &conf, &t, &f.job, 0, "email can send invoices only");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_provider_for_channel),
      cmocka_unit_test(test_parts),
      cmocka_unit_test(test_whatsapp_invoice_template_with_document),
      cmocka_unit_test(test_whatsapp_upload),
      cmocka_unit_test(test_whatsapp_invoice_without_document),
      cmocka_unit_test(test_whatsapp_filename_is_sanitized),
      cmocka_unit_test(test_whatsapp_barcode_part),
      cmocka_unit_test(test_whatsapp_notification_params_in_key_order),
      cmocka_unit_test(test_whatsapp_refusals),
      cmocka_unit_test(test_whatsapp_invalid_utf8_is_repaired),
      cmocka_unit_test(test_sms_form_body),
      cmocka_unit_test(test_sms_messaging_service_and_encoding),
      cmocka_unit_test(test_sms_length_limit),
      cmocka_unit_test(test_sms_refusals),
      cmocka_unit_test(test_email_body),
      cmocka_unit_test(test_email_attachment),
      cmocka_unit_test(test_email_pdf_line),
      cmocka_unit_test(test_email_escapes_html_and_flattens_headers),
      cmocka_unit_test(test_email_refusals),
      cmocka_unit_test(test_email_name_with_comma_is_quoted),
      cmocka_unit_test(test_sms_status_callback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
