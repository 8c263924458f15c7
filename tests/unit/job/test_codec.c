/* The job codecs: protobuf and the JSON mapping (src/job/job.c, src/job/json.c).
 *
 * Every error message is asserted exactly: producers read them. The allocation-failure tests
 * fail each allocation of a decode (ours through --wrap, jansson's through its allocator hook)
 * in turn; under AddressSanitizer they also prove that no error path leaks or double-frees.
 * All personal data below is synthetic.
 */
#include "common/error.h"
#include "job/job.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---------------------------------------------------------------------------------------- */
/* Failing allocators: while armed, the n-th allocation (counting from 1) and every later one
 * fail. carteiro's own malloc/calloc/realloc/strdup calls reach one through the linker's
 * --wrap (see CMakeLists.txt); jansson's go through json_set_alloc_funcs() to the other, so
 * that the two can be failed separately. */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

typedef struct {
  long count;
  long fail_at; /* 0: never fail */
} failer_t;

static failer_t ours, theirs;

static int should_fail(failer_t *f) {
  f->count++;
  return f->fail_at > 0 && f->count >= f->fail_at;
}

void *__wrap_malloc(size_t n) { return should_fail(&ours) ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) {
  return should_fail(&ours) ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
  return should_fail(&ours) ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s) { return should_fail(&ours) ? NULL : __real_strdup(s); }
static void *jansson_malloc(size_t n) { return should_fail(&theirs) ? NULL : __real_malloc(n); }
static void jansson_free(void *p) { free(p); }

static void arm(failer_t *f, long fail_at) {
  f->count = 0;
  f->fail_at = fail_at;
}

/* ---------------------------------------------------------------------------------------- */
/* Fixtures                                                                                  */

#define BARCODE "23793381286000782713695000063305975520000012990"
#define PIX                                                                                    \
  "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865406"   \
  "129.905802BR5913Carteiro Test6009SAO PAULO62070503***63041D3D"

/* Every field of a Job, times in both notations and deliveries in both shapes. */
static const char full_job_json[] =
    "{\"id\":\"tim-2026-12-000123\",\"tenant\":\"tim\",\"kind\":\"invoice\","
    "\"recipient\":{\"name\":\"Maria da Silva\",\"phone\":\"+5511987654321\","
    "\"email\":\"maria.silva@example.com\",\"cpf\":\"123.456.789-09\",\"card_last4\":\"4321\","
    "\"locale\":\"pt-BR\",\"time_zone\":\"America/Sao_Paulo\"},"
    "\"deliveries\":[{\"channels\":[\"whatsapp\",\"sms\"]},[\"email\"]],"
    "\"not_before_ms\":\"2026-12-01T09:00:00-03:00\",\"not_after_ms\":1796947199000,"
    "\"priority\":5,\"created_at_ms\":\"2026-11-30T12:00:00.250Z\","
    "\"invoice\":{\"number\":\"FAT-000123\",\"amount_cents\":12990,\"currency\":\"BRL\","
    "\"due_date\":\"2026-12-15\",\"barcode_line\":\"" BARCODE "\",\"pix_code\":\"" PIX "\","
    "\"document\":{\"inline_pdf\":\"JVBERi0xLjQK\",\"password_policy\":\"explicit\","
    "\"password\":\"s3gr3d0\"}}}";

/* The same job as ct_job_to_json writes it: canonical times and delivery objects. */
static const char full_job_out[] =
    "{\"id\":\"tim-2026-12-000123\",\"tenant\":\"tim\",\"kind\":\"invoice\","
    "\"recipient\":{\"name\":\"Maria da Silva\",\"phone\":\"+5511987654321\","
    "\"email\":\"maria.silva@example.com\",\"cpf\":\"123.456.789-09\",\"card_last4\":\"4321\","
    "\"locale\":\"pt-BR\",\"time_zone\":\"America/Sao_Paulo\"},"
    "\"deliveries\":[{\"channels\":[\"whatsapp\",\"sms\"]},{\"channels\":[\"email\"]}],"
    "\"not_before_ms\":1796126400000,\"not_after_ms\":1796947199000,"
    "\"priority\":5,\"created_at_ms\":1796040000250,"
    "\"invoice\":{\"number\":\"FAT-000123\",\"amount_cents\":12990,\"currency\":\"BRL\","
    "\"due_date\":\"2026-12-15\",\"barcode_line\":\"" BARCODE "\",\"pix_code\":\"" PIX "\","
    "\"document\":{\"inline_pdf\":\"JVBERi0xLjQK\",\"password_policy\":\"explicit\","
    "\"password\":\"s3gr3d0\"}}}";

static const char full_job_masked[] =
    "{\"id\":\"tim-2026-12-000123\",\"tenant\":\"tim\",\"kind\":\"invoice\","
    "\"recipient\":{\"name\":\"M***\",\"phone\":\"+55 11 9****-4321\","
    "\"email\":\"m***@example.com\",\"cpf\":\"***.***.***-09\",\"card_last4\":\"***\","
    "\"locale\":\"pt-BR\",\"time_zone\":\"America/Sao_Paulo\"},"
    "\"deliveries\":[{\"channels\":[\"whatsapp\",\"sms\"]},{\"channels\":[\"email\"]}],"
    "\"not_before_ms\":1796126400000,\"not_after_ms\":1796947199000,"
    "\"priority\":5,\"created_at_ms\":1796040000250,"
    "\"invoice\":{\"number\":\"FAT-000123\",\"amount_cents\":12990,\"currency\":\"BRL\","
    "\"due_date\":\"2026-12-15\",\"barcode_line\":\"" BARCODE "\",\"pix_code\":\"" PIX "\","
    "\"document\":{\"inline_pdf\":{\"bytes\":9},\"password_policy\":\"explicit\","
    "\"password\":\"***\"}}}";

static const char notification_json[] =
    "{\"id\":\"banco-x-optin-77\",\"tenant\":\"banco-x\",\"kind\":\"notification\","
    "\"recipient\":{\"name\":\"\xc3\x82ngela Souza\",\"email\":\"angela@example.org\"},"
    "\"deliveries\":[[\"email\"]],"
    "\"notification\":{\"template_name\":\"welcome\","
    "\"params\":{\"nome\":\"\xc3\x82ngela\",\"produto\":\"cart\xc3\xa3o\"}}}";

static ct_job_t *decode_ok(const char *text) {
  char err[256] = "";
  ct_job_t *job = NULL;
  int rc = ct_job_decode_json(text, strlen(text), &job, err, sizeof err);
  if (rc != 0)
    fail_msg("decode failed: %s (%s)\n  input: %s", ct_errname(rc), err, text);
  return job;
}

static char *dump(const json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  assert_non_null(s);
  return s;
}

static void assert_json_text(const ct_job_t *job, unsigned flags, const char *want) {
  json_t *j = ct_job_to_json(job, flags);
  assert_non_null(j);
  char *got = dump(j);
  assert_string_equal(got, want);
  free(got);
  json_decref(j);
}

static void encode(const ct_job_t *job, uint8_t **buf, size_t *len) {
  assert_int_equal(ct_job_encode_pb(job, buf, len), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Decoding                                                                                  */

static void decode_full_job(void **state) {
  (void)state;
  ct_job_t *job = decode_ok(full_job_json);
  assert_string_equal(job->id, "tim-2026-12-000123");
  assert_string_equal(job->tenant, "tim");
  assert_int_equal(job->kind, CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE);

  const ct_recipient_t *r = job->recipient;
  assert_non_null(r);
  assert_string_equal(r->name, "Maria da Silva");
  assert_string_equal(r->phone, "+5511987654321");
  assert_string_equal(r->email, "maria.silva@example.com");
  assert_string_equal(r->cpf, "123.456.789-09");
  assert_string_equal(r->card_last4, "4321");
  assert_string_equal(r->locale, "pt-BR");
  assert_string_equal(r->time_zone, "America/Sao_Paulo");

  assert_int_equal(job->n_deliveries, 2);
  assert_int_equal(job->deliveries[0]->n_channels, 2);
  assert_int_equal(job->deliveries[0]->channels[0], CT_CHANNEL_WHATSAPP);
  assert_int_equal(job->deliveries[0]->channels[1], CT_CHANNEL_SMS);
  assert_int_equal(job->deliveries[1]->n_channels, 1);
  assert_int_equal(job->deliveries[1]->channels[0], CT_CHANNEL_EMAIL);

  assert_int_equal(job->not_before_ms, 1796126400000); /* 09:00 at -03:00 is 12:00Z */
  assert_int_equal(job->not_after_ms, 1796947199000);
  assert_int_equal(job->priority, 5);
  assert_int_equal(job->created_at_ms, 1796040000250);

  const ct_invoice_t *inv = job->invoice;
  assert_non_null(inv);
  assert_string_equal(inv->number, "FAT-000123");
  assert_int_equal(inv->amount_cents, 12990);
  assert_string_equal(inv->currency, "BRL");
  assert_string_equal(inv->due_date, "2026-12-15");
  assert_string_equal(inv->barcode_line, BARCODE);
  assert_string_equal(inv->pix_code, PIX);
  const ct_document_t *doc = inv->document;
  assert_non_null(doc);
  assert_int_equal(doc->source_case, CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF);
  assert_int_equal(doc->inline_pdf.len, 9);
  assert_memory_equal(doc->inline_pdf.data, "%PDF-1.4\n", 9);
  assert_int_equal(doc->password_policy, CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_EXPLICIT);
  assert_string_equal(doc->password, "s3gr3d0");
  assert_null(job->notification);
  ct_job_free(job);
}

static void decode_notification(void **state) {
  (void)state;
  ct_job_t *job = decode_ok(notification_json);
  assert_int_equal(job->kind, CARTEIRO__V1__JOB_KIND__JOB_KIND_NOTIFICATION);
  assert_null(job->invoice);
  const ct_notification_t *nt = job->notification;
  assert_non_null(nt);
  assert_string_equal(nt->template_name, "welcome");
  assert_int_equal(nt->n_params, 2);
  assert_string_equal(nt->params[0]->key, "nome");
  assert_string_equal(nt->params[0]->value, "\xc3\x82ngela");
  assert_string_equal(nt->params[1]->key, "produto");
  assert_string_equal(nt->params[1]->value, "cart\xc3\xa3o");
  /* Fields left out keep protobuf-c's shared empty default. */
  assert_ptr_equal(job->recipient->phone, protobuf_c_empty_string);
  ct_job_free(job);
}

static void decode_document_sources(void **state) {
  (void)state;
  ct_job_t *job = decode_ok("{\"invoice\":{\"document\":{\"path\":\"2026/12/FAT-1.pdf\","
                            "\"password_policy\":\"cpf_first4\"}}}");
  assert_int_equal(job->invoice->document->source_case, CARTEIRO__V1__DOCUMENT__SOURCE_PATH);
  assert_string_equal(job->invoice->document->path, "2026/12/FAT-1.pdf");
  assert_int_equal(job->invoice->document->password_policy,
                   CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4);
  ct_job_free(job);

  job = decode_ok("{\"invoice\":{\"document\":{\"url\":\"https://example.com/f/1.pdf\","
                  "\"password_policy\":\"card_last4\"}}}");
  assert_int_equal(job->invoice->document->source_case, CARTEIRO__V1__DOCUMENT__SOURCE_URL);
  assert_string_equal(job->invoice->document->url, "https://example.com/f/1.pdf");
  ct_job_free(job);

  /* An empty but present PDF is still "set". */
  job = decode_ok("{\"invoice\":{\"document\":{\"inline_pdf\":\"\",\"password_policy\":\"none\"}}}");
  assert_int_equal(job->invoice->document->source_case,
                   CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF);
  assert_int_equal(job->invoice->document->inline_pdf.len, 0);
  assert_int_equal(job->invoice->document->password_policy,
                   CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_NONE);
  ct_job_free(job);
}

static void decode_base64_padding(void **state) {
  (void)state;
  static const struct {
    const char *b64;
    const char *bytes;
    size_t len;
  } cases[] = {
      {"QQ==", "A", 1}, {"QUI=", "AB", 2}, {"QUJD", "ABC", 3}, {"QUJDRA==", "ABCD", 4},
      {"+/+/", "\xfb\xff\xbf", 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[128];
    snprintf(text, sizeof text, "{\"invoice\":{\"document\":{\"inline_pdf\":\"%s\"}}}",
             cases[i].b64);
    ct_job_t *job = decode_ok(text);
    assert_int_equal(job->invoice->document->inline_pdf.len, cases[i].len);
    assert_memory_equal(job->invoice->document->inline_pdf.data, cases[i].bytes, cases[i].len);
    ct_job_free(job);
  }
}

static void decode_nulls_and_numbers(void **state) {
  (void)state;
  /* null is "absent"; enums also take their numbers, times may be negative. */
  ct_job_t *job = decode_ok("{\"id\":null,\"recipient\":null,\"kind\":2,\"priority\":-100,"
                            "\"not_before_ms\":-1,\"deliveries\":[[3,\"sms\"],{}],"
                            "\"invoice\":{\"document\":{\"path\":null,\"url\":\"u\"}}}");
  assert_ptr_equal(job->id, protobuf_c_empty_string);
  assert_null(job->recipient);
  assert_int_equal(job->kind, CARTEIRO__V1__JOB_KIND__JOB_KIND_NOTIFICATION);
  assert_int_equal(job->priority, -100);
  assert_int_equal(job->not_before_ms, -1);
  assert_int_equal(job->n_deliveries, 2);
  assert_int_equal(job->deliveries[0]->channels[0], CT_CHANNEL_EMAIL);
  assert_int_equal(job->deliveries[0]->channels[1], CT_CHANNEL_SMS);
  assert_int_equal(job->deliveries[1]->n_channels, 0);
  assert_int_equal(job->invoice->document->source_case, CARTEIRO__V1__DOCUMENT__SOURCE_URL);
  ct_job_free(job);
}

typedef struct {
  const char *text;
  int rc;
  const char *err;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    /* unknown fields, at every depth */
    {"{\"recipient\":{\"fone\":\"+5511987654321\"}}", CT_EDECODE, "recipient.fone: unknown field"},
    {"{\"id\":\"x\",\"bogus\":1}", CT_EDECODE, "bogus: unknown field"},
    {"{\"deliveries\":[{\"chanels\":[\"sms\"]}]}", CT_EDECODE,
     "deliveries[0].chanels: unknown field"},
    {"{\"invoice\":{\"document\":{\"pdf\":\"QQ==\"}}}", CT_EDECODE,
     "invoice.document.pdf: unknown field"},
    /* a key that is not a plain field name may be a value put in the wrong place: not shown */
    {"{\"recipient\":{\"12345678909\":\"cpf\"}}", CT_EDECODE,
     "recipient: unknown field (its name is not shown: not a plain field name)"},
    {"{\"recipient\":{\"maria@example.com\":1}}", CT_EDECODE,
     "recipient: unknown field (its name is not shown: not a plain field name)"},
    {"{\"cpf123\":1}", CT_EDECODE,
     "unknown field (its name is not shown: not a plain field name)"},
    {"{\"Nome\":1}", CT_EDECODE, "unknown field (its name is not shown: not a plain field name)"},
    {"{\"card_last4\":1}", CT_EDECODE, "card_last4: unknown field"},
    /* wrong types */
    {"{\"invoice\":{\"amount_cents\":\"12990\"}}", CT_EDECODE,
     "invoice.amount_cents: expected an integer"},
    {"{\"invoice\":{\"amount_cents\":129.9}}", CT_EDECODE,
     "invoice.amount_cents: expected an integer"},
    {"{\"recipient\":{\"phone\":5511987654321}}", CT_EDECODE,
     "recipient.phone: expected a string"},
    {"{\"recipient\":\"Maria\"}", CT_EDECODE, "recipient: expected an object"},
    {"{\"invoice\":[]}", CT_EDECODE, "invoice: expected an object"},
    {"{\"deliveries\":{\"channels\":[\"sms\"]}}", CT_EDECODE, "deliveries: expected an array"},
    {"{\"deliveries\":[\"sms\"]}", CT_EDECODE,
     "deliveries[0]: expected an object or an array of channels"},
    {"{\"deliveries\":[{\"channels\":\"sms\"}]}", CT_EDECODE,
     "deliveries[0].channels: expected an array"},
    {"{\"priority\":\"high\"}", CT_EDECODE, "priority: expected an integer"},
    {"{\"priority\":3000000000}", CT_EDECODE, "priority: out of range for a 32-bit integer"},
    {"{\"kind\":true}", CT_EDECODE, "kind: expected a string"},
    {"{\"notification\":{\"params\":[\"nome\"]}}", CT_EDECODE,
     "notification.params: expected an object"},
    {"{\"notification\":{\"params\":{\"nome\":\"Ana\",\"dia\":15}}}", CT_EDECODE,
     "notification.params[1]: expected a string"},
    {"{\"notification\":{\"params\":{\"11987654321\":15}}}", CT_EDECODE,
     "notification.params[0]: expected a string"},
    /* bad enum names */
    {"{\"kind\":\"boleto\"}", CT_EDECODE, "kind: unknown value; expected invoice or notification"},
    {"{\"kind\":\"INVOICE\"}", CT_EDECODE,
     "kind: unknown value; expected invoice or notification"},
    {"{\"deliveries\":[[\"sms\",\"fax\"]]}", CT_EDECODE,
     "deliveries[0][1]: unknown value; expected whatsapp, sms or email"},
    {"{\"deliveries\":[{\"channels\":[\"sms\"]},{\"channels\":[\"pigeon\"]}]}", CT_EDECODE,
     "deliveries[1].channels[0]: unknown value; expected whatsapp, sms or email"},
    {"{\"invoice\":{\"document\":{\"password_policy\":\"cpf\"}}}", CT_EDECODE,
     "invoice.document.password_policy: unknown value; expected none, cpf_first4, card_last4 "
     "or explicit"},
    /* bad times */
    {"{\"not_before_ms\":\"2026-12-01 09:00\"}", CT_EDECODE,
     "not_before_ms: not an RFC 3339 time (e.g. 2026-12-01T09:00:00-03:00)"},
    {"{\"not_after_ms\":\"2026-02-30T00:00:00Z\"}", CT_EDECODE,
     "not_after_ms: not an RFC 3339 time (e.g. 2026-12-01T09:00:00-03:00)"},
    {"{\"created_at_ms\":\"1796040000250\"}", CT_EDECODE,
     "created_at_ms: not an RFC 3339 time (e.g. 2026-12-01T09:00:00-03:00)"},
    {"{\"created_at_ms\":1.5}", CT_EDECODE,
     "created_at_ms: expected an integer (ms) or an RFC 3339 string"},
    /* bad base64: length, alphabet, whitespace, padding in the middle, non-zero spare bits */
#define B64_ERR "invoice.document.inline_pdf: invalid base64 (expected standard alphabet with '=' padding)"
    {"{\"invoice\":{\"document\":{\"inline_pdf\":\"JVBERi0xLjQ\"}}}", CT_EDECODE, B64_ERR},
    {"{\"invoice\":{\"document\":{\"inline_pdf\":\"JVBE Ri0x\"}}}", CT_EDECODE, B64_ERR},
    {"{\"invoice\":{\"document\":{\"inline_pdf\":\"-_-_\"}}}", CT_EDECODE, B64_ERR},
    {"{\"invoice\":{\"document\":{\"inline_pdf\":\"QQ==QUJD\"}}}", CT_EDECODE, B64_ERR},
    {"{\"invoice\":{\"document\":{\"inline_pdf\":\"QQ=A\"}}}", CT_EDECODE, B64_ERR},
    {"{\"invoice\":{\"document\":{\"inline_pdf\":\"Q===\"}}}", CT_EDECODE, B64_ERR},
    {"{\"invoice\":{\"document\":{\"inline_pdf\":\"QR==\"}}}", CT_EDECODE, B64_ERR},
    {"{\"invoice\":{\"document\":{\"inline_pdf\":\"QUJ=\"}}}", CT_EDECODE, B64_ERR},
    {"{\"invoice\":{\"document\":{\"inline_pdf\":7}}}", CT_EDECODE,
     "invoice.document.inline_pdf: expected a string"},
    /* the document oneof */
    {"{\"invoice\":{\"document\":{\"path\":\"a.pdf\",\"url\":\"https://example.com/a.pdf\"}}}",
     CT_EDECODE, "invoice.document.url: only one of inline_pdf, path and url may be set"},
    {"{\"invoice\":{\"document\":{\"inline_pdf\":\"QQ==\",\"path\":\"a.pdf\"}}}", CT_EDECODE,
     "invoice.document.path: only one of inline_pdf, path and url may be set"},
    /* not an object */
    {"[{\"id\":\"x\"}]", CT_EDECODE, "line is not a JSON object"},
    {"\"text\"", CT_EDECODE, "line is not a JSON object"},
    {"42", CT_EDECODE, "line is not a JSON object"},
    {"null", CT_EDECODE, "line is not a JSON object"},
    /* invalid UTF-8 and syntax errors: our words and the column, never jansson's text, which
     * quotes the input next to the error (a CPF, a phone number) */
    {"{\"id\":\"a\xff\"}", CT_EDECODE, "not JSON: invalid UTF-8 at column 8"},
    {"{\"id\":\"bad-\xff\xfe\",\"tenant\":\"tim\"}", CT_EDECODE,
     "not JSON: invalid UTF-8 at column 11"},
    {"{\"recipient\":{\"cpf\":\"04700015500\xff\"}}", CT_EDECODE,
     "not JSON: invalid UTF-8 at column 32"},
    {"{\"recipient\":{\"phone\":\"+5544995294993\xff\"}}", CT_EDECODE,
     "not JSON: invalid UTF-8 at column 37"},
    {"{\"id\": \"trailing-comma\",}", CT_EDECODE,
     "not JSON: expected a key or '}' at column 25"},
    {"{\"id\":\"a\",\"id\":\"b\"}", CT_EDECODE, "not JSON: duplicate key at column 14"},
    {"{\"id\":\"a\"} {}", CT_EDECODE, "not JSON: more text after the value at column 12"},
    {"{\n\"id\":\"a\",\n}", CT_EDECODE,
     "not JSON: expected a key or '}' at line 3, column 1"},
    {"{\"id\":\"\\u0000\"}", CT_EDECODE, "not JSON: \\u0000 in a string at column 14"},
    {"{\"amount\":123456789012345678901234}", CT_EDECODE,
     "not JSON: number out of range at column 34"},
    {"{\"cpf\":04700015500x}", CT_EDECODE, "not JSON: invalid token (text without quotes?) at column 8"},
    {"{\"name\":\"Maria\nSilva\"}", CT_EDECODE, "not JSON: newline inside a string at column 14"},
    {"{\"name\" \"Maria\"}", CT_EDECODE, "not JSON: expected ':' after a key at column 15"},
    {"", CT_EDECODE, "not JSON: ends before the value is complete"},
};

static void decode_errors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case_t *c = &bad_cases[i];
    char err[256] = "";
    ct_job_t *job = (ct_job_t *)&err; /* must stay untouched */
    int rc = ct_job_decode_json(c->text, strlen(c->text), &job, err, sizeof err);
    if (rc != c->rc || strcmp(err, c->err) != 0)
      fail_msg("case %zu: %s\n  got  %s \"%s\"\n  want %s \"%s\"", i, c->text, ct_errname(rc), err,
               ct_errname(c->rc), c->err);
    assert_ptr_equal(job, (ct_job_t *)&err);
  }
}

static void decode_error_into_small_buffer(void **state) {
  (void)state;
  const char *text = "{\"recipient\":{\"fone\":\"x\"}}";
  char err[8];
  ct_job_t *job = NULL;
  assert_int_equal(ct_job_decode_json(text, strlen(text), &job, err, sizeof err), CT_EDECODE);
  assert_string_equal(err, "recipie"); /* cut, terminated */
  assert_null(job);
}

static void decode_huge(void **state) {
  (void)state;
  /* A record one byte over the limit, all of it one string field. */
  size_t len = CT_RECORD_MAX + 1;
  char *text = malloc(len + 1);
  assert_non_null(text);
  memcpy(text, "{\"id\":\"", 7);
  memset(text + 7, 'a', len - 9);
  memcpy(text + len - 2, "\"}", 3);
  char err[128];
  ct_job_t *job = NULL;
  assert_int_equal(ct_job_decode_json(text, len, &job, err, sizeof err), CT_ETOOBIG);
  assert_string_equal(err, "record of 16777217 bytes is over the 16777216-byte limit");
  assert_int_equal(ct_job_decode_pb((const uint8_t *)text, len, &job, err, sizeof err),
                   CT_ETOOBIG);
  assert_string_equal(err, "record of 16777217 bytes is over the 16777216-byte limit");
  assert_null(job);

  /* At the limit it is decoded. */
  len = CT_RECORD_MAX;
  memcpy(text + len - 2, "\"}", 3);
  assert_int_equal(ct_job_decode_json(text, len, &job, err, sizeof err), 0);
  assert_int_equal(strlen(job->id), CT_RECORD_MAX - 9);
  ct_job_free(job);
  free(text);
}

static void decode_pb_truncated(void **state) {
  (void)state;
  ct_job_t *job = decode_ok(full_job_json);
  uint8_t *buf;
  size_t len;
  encode(job, &buf, &len);
  ct_job_free(job);
  char err[128];
  for (size_t cut = 1; cut < 40; cut += 7) {
    job = NULL;
    assert_int_equal(ct_job_decode_pb(buf, len - cut, &job, err, sizeof err), CT_EDECODE);
    assert_string_equal(err, "not a valid carteiro.v1.Job protobuf message");
    assert_null(job);
  }
  static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff};
  assert_int_equal(ct_job_decode_pb(garbage, sizeof garbage, &job, err, sizeof err), CT_EDECODE);
  /* Field number 0 in an over-long tag: protobuf-c accepts it but could not read back its own
   * encoding of it (found by fuzz_job_pb), so it is refused; also inside a sub-message. */
  static const uint8_t field_zero[] = {0x80, 0x00, 0x00};
  assert_int_equal(ct_job_decode_pb(field_zero, sizeof field_zero, &job, err, sizeof err),
                   CT_EDECODE);
  assert_string_equal(err, "not a valid carteiro.v1.Job protobuf message");
  static const uint8_t nested_zero[] = {0x22, 0x03, 0x80, 0x00, 0x00}; /* recipient { 0: 0 } */
  assert_int_equal(ct_job_decode_pb(nested_zero, sizeof nested_zero, &job, err, sizeof err),
                   CT_EDECODE);
  static const uint8_t unknown_ok[] = {0x98, 0x06, 0x01}; /* field 99: kept, re-encodable */
  assert_int_equal(ct_job_decode_pb(unknown_ok, sizeof unknown_ok, &job, err, sizeof err), 0);
  ct_job_free(job);
  free(buf);
}

/* ---------------------------------------------------------------------------------------- */
/* Round trips                                                                               */

/* job -> pb -> job -> pb, and job -> JSON text -> job -> pb: all three encodings equal. */
static void assert_round_trips(const char *text) {
  ct_job_t *job = decode_ok(text);
  uint8_t *a, *b, *c;
  size_t alen, blen, clen;
  encode(job, &a, &alen);

  ct_job_t *again = NULL;
  char err[256];
  assert_int_equal(ct_job_decode_pb(a, alen, &again, err, sizeof err), 0);
  encode(again, &b, &blen);
  ct_job_free(again);
  assert_int_equal(blen, alen);
  assert_memory_equal(b, a, alen);

  json_t *j = ct_job_to_json(job, 0);
  assert_non_null(j);
  char *out = dump(j);
  json_decref(j);
  again = decode_ok(out);
  encode(again, &c, &clen);
  if (clen != alen || memcmp(c, a, alen) != 0)
    fail_msg("JSON round trip changed the job\n  in:  %s\n  out: %s", text, out);
  ct_job_free(again);
  free(out);
  free(a);
  free(b);
  free(c);
  ct_job_free(job);
}

static void round_trip_full(void **state) {
  (void)state;
  assert_round_trips(full_job_json);
  assert_round_trips(notification_json);
}

static void round_trip_edges(void **state) {
  (void)state;
  /* Empty sub-messages, empty oneof members, enum numbers without a name, negative values:
   * each is visible in the protobuf encoding and must survive JSON. */
  assert_round_trips("{}");
  assert_round_trips("{\"recipient\":{},\"invoice\":{},\"notification\":{}}");
  assert_round_trips("{\"deliveries\":[{},[],[\"sms\"]]}");
  assert_round_trips("{\"invoice\":{\"document\":{\"path\":\"\"}}}");
  assert_round_trips("{\"invoice\":{\"document\":{\"url\":\"\"}}}");
  assert_round_trips("{\"invoice\":{\"document\":{\"inline_pdf\":\"\"}}}");
  assert_round_trips("{\"invoice\":{\"document\":{\"password_policy\":\"none\"}}}");
  assert_round_trips("{\"kind\":7,\"deliveries\":[[0,9,-3]],"
                     "\"invoice\":{\"document\":{\"password_policy\":12}}}");
  assert_round_trips("{\"priority\":-2147483648,\"not_before_ms\":-5,"
                     "\"not_after_ms\":9223372036854775807,\"invoice\":{\"amount_cents\":-1}}");
  assert_round_trips("{\"notification\":{\"params\":{\"\":\"\",\"a\":\"\\\"quoted\\\"\\n\"}}}");
}

static void to_json_exact(void **state) {
  (void)state;
  ct_job_t *job = decode_ok(full_job_json);
  assert_json_text(job, 0, full_job_out);
  ct_job_free(job);
}

static void to_json_masked(void **state) {
  (void)state;
  ct_job_t *job = decode_ok(full_job_json);
  assert_json_text(job, CT_JSON_MASK_PII, full_job_masked);
  ct_job_free(job);

  /* A name keeps one whole character, even a multi-byte one; malformed values are hidden. */
  job = decode_ok("{\"recipient\":{\"name\":\"\xc3\x82ngela\",\"phone\":\"11 98765-4321\","
                  "\"email\":\"sem-arroba\",\"cpf\":\"123\"}}");
  assert_json_text(job, CT_JSON_MASK_PII,
                   "{\"recipient\":{\"name\":\"\xc3\x82***\",\"phone\":\"***\",\"email\":\"***\","
                   "\"cpf\":\"***\"}}");
  ct_job_free(job);

  /* Template values are free text: masked, keys kept. */
  job = decode_ok("{\"notification\":{\"template_name\":\"welcome\","
                  "\"params\":{\"nome\":\"Ana Souza\"}}}");
  assert_json_text(job, CT_JSON_MASK_PII,
                   "{\"notification\":{\"template_name\":\"welcome\",\"params\":{\"nome\":\"***\"}}}");
  ct_job_free(job);

  /* A document path keeps its shape and extension: file names often carry a CPF. */
  job = decode_ok("{\"invoice\":{\"document\":{\"path\":\"2026-12/04700015500.pdf\","
                  "\"password_policy\":\"none\"}}}");
  assert_json_text(job, CT_JSON_MASK_PII,
                   "{\"invoice\":{\"document\":{\"path\":\"***/***.pdf\",\"password_policy\":\"none\"}}}");
  assert_json_text(job, 0,
                   "{\"invoice\":{\"document\":{\"path\":\"2026-12/04700015500.pdf\","
                   "\"password_policy\":\"none\"}}}");
  ct_job_free(job);
  job = decode_ok("{\"invoice\":{\"document\":{\"path\":\"Maria Silva 04700015500\"}}}");
  assert_json_text(job, CT_JSON_MASK_PII, "{\"invoice\":{\"document\":{\"path\":\"***\"}}}");
  ct_job_free(job);

  /* A document URL keeps its scheme and host; credentials, path and query are masked. */
  static const struct {
    const char *url, *masked;
  } urls[] = {
      {"https://user:s3cret@docs.example.com/faturas/04700015500.pdf?sig=abc",
       "https://***@docs.example.com/***"},
      {"https://docs.example.com:8443/f.pdf", "https://docs.example.com:8443/***"},
      {"https://docs.example.com", "https://docs.example.com"},
      {"https://docs.example.com?cpf=04700015500", "https://docs.example.com/***"},
      {"not a url 04700015500", "***"},
  };
  for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
    char text[256], want[256];
    snprintf(text, sizeof text, "{\"invoice\":{\"document\":{\"url\":\"%s\"}}}", urls[i].url);
    snprintf(want, sizeof want, "{\"invoice\":{\"document\":{\"url\":\"%s\"}}}",
             urls[i].masked);
    job = decode_ok(text);
    assert_json_text(job, CT_JSON_MASK_PII, want);
    assert_json_text(job, 0, text);
    ct_job_free(job);
  }
}

static void to_json_invalid_utf8_from_pb(void **state) {
  (void)state;
  /* protobuf-c does not check UTF-8; the JSON view replaces each bad byte with U+FFFD. */
  ct_job_t job = CARTEIRO__V1__JOB__INIT;
  ct_recipient_t r = CARTEIRO__V1__RECIPIENT__INIT;
  job.id = "a\xff\xc3";
  r.name = "\xffZ";
  job.recipient = &r;
  assert_json_text(&job, 0,
                   "{\"id\":\"a\xef\xbf\xbd\xef\xbf\xbd\",\"recipient\":{\"name\":\"\xef\xbf\xbdZ\"}}");
  assert_json_text(&job, CT_JSON_MASK_PII,
                   "{\"id\":\"a\xef\xbf\xbd\xef\xbf\xbd\",\"recipient\":{\"name\":\"***\"}}");
}

static void attempt_and_receipt_json(void **state) {
  (void)state;
  ct_attempt_t a = CARTEIRO__V1__ATTEMPT__INIT;
  a.at_ms = 1796126400123;
  a.channel = CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP;
  a.provider = "whatsapp:tim-1";
  a.outcome = CARTEIRO__V1__OUTCOME__OUTCOME_PERMANENT;
  a.http_status = 400;
  a.error_code = "131026";
  a.message = "receiver is not a WhatsApp user";
  a.latency_ms = 182;
  json_t *j = ct_attempt_to_json(&a);
  assert_non_null(j);
  char *s = dump(j);
  assert_string_equal(s, "{\"at_ms\":1796126400123,\"channel\":\"whatsapp\","
                         "\"provider\":\"whatsapp:tim-1\",\"outcome\":\"permanent\","
                         "\"http_status\":400,\"error_code\":\"131026\","
                         "\"message\":\"receiver is not a WhatsApp user\",\"latency_ms\":182}");
  free(s);
  json_decref(j);

  ct_receipt_part_t p1 = CARTEIRO__V1__RECEIPT_PART__INIT, p2 = CARTEIRO__V1__RECEIPT_PART__INIT;
  p1.channel = CARTEIRO__V1__CHANNEL__CHANNEL_EMAIL;
  p1.provider = "email:banco-x";
  p1.message_id = "msg-1";
  p1.at_ms = 1796126400500;
  p1.document_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  p2.channel = CARTEIRO__V1__CHANNEL__CHANNEL_SMS;
  p2.provider = "sms:banco-x";
  p2.message_id = "SM0001";
  p2.at_ms = 1796126401000;
  p2.part = 1;
  ct_receipt_part_t *parts[] = {&p1, &p2};
  Carteiro__V1__Channel failed[] = {CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP};
  ct_receipt_t r = CARTEIRO__V1__RECEIPT__INIT;
  r.job_id = "banco-x-2026-12-1";
  r.n_parts = 2;
  r.parts = parts;
  r.n_failed_channels = 1;
  r.failed_channels = failed;
  r.delivered_at_ms = 1796126401000;
  j = ct_receipt_to_json(&r);
  assert_non_null(j);
  s = dump(j);
  assert_string_equal(
      s, "{\"job_id\":\"banco-x-2026-12-1\",\"parts\":[{\"channel\":\"email\","
         "\"provider\":\"email:banco-x\",\"message_id\":\"msg-1\",\"at_ms\":1796126400500,"
         "\"document_sha256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"},"
         "{\"channel\":\"sms\",\"provider\":\"sms:banco-x\",\"message_id\":\"SM0001\","
         "\"at_ms\":1796126401000,\"part\":1}],\"failed_channels\":[\"whatsapp\"],"
         "\"delivered_at_ms\":1796126401000}");
  free(s);
  json_decref(j);
}

/* ---------------------------------------------------------------------------------------- */
/* Allocation failures                                                                       */

/* Fails allocation 1, 2, 3, ... of the decoder (then of to_json) until one run needs no
 * failure; each failed run must report CT_ENOMEM (or NULL) and leave nothing allocated. */
static void our_allocation_failures(void **state) {
  (void)state;
  const char *texts[] = {full_job_json, notification_json};
  for (size_t t = 0; t < 2; t++) {
    const char *text = texts[t];
    long n = 1;
    for (;; n++) {
      char err[128] = "";
      ct_job_t *job = NULL;
      arm(&ours, n);
      int rc = ct_job_decode_json(text, strlen(text), &job, err, sizeof err);
      arm(&ours, 0);
      if (rc == 0) {
        ct_job_free(job);
        break;
      }
      if (rc != CT_ENOMEM)
        fail_msg("allocation %ld failed: got %s (%s), want NOMEM", n, ct_errname(rc), err);
      assert_string_equal(err, "out of memory");
      assert_null(job);
    }
    assert_true(n > 15); /* the hook really saw the decoder's allocations */

    ct_job_t *job = decode_ok(text);
    for (n = 1;; n++) {
      arm(&ours, n);
      arm(&theirs, n);
      json_t *j = ct_job_to_json(job, t == 0 ? CT_JSON_MASK_PII : 0);
      arm(&ours, 0);
      arm(&theirs, 0);
      if (j != NULL) {
        json_decref(j);
        break;
      }
    }
    assert_true(n > 10);
    ct_job_free(job);
  }
}

/* jansson's parser reports some allocation failures as syntax errors ("string or '}'
 * expected"), so here either error is accepted: what matters is that nothing leaks. */
static void jansson_allocation_failures(void **state) {
  (void)state;
  long n = 1;
  for (;; n++) {
    char err[128] = "";
    ct_job_t *job = NULL;
    arm(&theirs, n);
    int rc = ct_job_decode_json(full_job_json, strlen(full_job_json), &job, err, sizeof err);
    arm(&theirs, 0);
    if (rc == 0) {
      ct_job_free(job);
      break;
    }
    if (rc != CT_ENOMEM && rc != CT_EDECODE)
      fail_msg("allocation %ld failed: got %s (%s)", n, ct_errname(rc), err);
    assert_null(job);
  }
  assert_true(n > 15);
}

int main(void) {
  json_set_alloc_funcs(jansson_malloc, jansson_free);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(decode_full_job),
      cmocka_unit_test(decode_notification),
      cmocka_unit_test(decode_document_sources),
      cmocka_unit_test(decode_base64_padding),
      cmocka_unit_test(decode_nulls_and_numbers),
      cmocka_unit_test(decode_errors),
      cmocka_unit_test(decode_error_into_small_buffer),
      cmocka_unit_test(decode_huge),
      cmocka_unit_test(decode_pb_truncated),
      cmocka_unit_test(round_trip_full),
      cmocka_unit_test(round_trip_edges),
      cmocka_unit_test(to_json_exact),
      cmocka_unit_test(to_json_masked),
      cmocka_unit_test(to_json_invalid_utf8_from_pb),
      cmocka_unit_test(attempt_and_receipt_json),
      cmocka_unit_test(our_allocation_failures),
      cmocka_unit_test(jansson_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
