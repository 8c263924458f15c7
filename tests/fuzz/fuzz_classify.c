/* libFuzzer target for the classify hooks of src/provider.
 *
 * Every answer a provider (or something pretending to be one) sends reaches classify: status,
 * body, headers. The input is laid out as
 *
 *   byte 0      transport failure (mod 7; 0 = an answer arrived)
 *   bytes 1-2   HTTP status, little-endian int16 (negative and absurd statuses included)
 *   byte 3      bit 0: an X-Message-Id header is present; bit 1: a transport detail is
 *   bytes 4-7   Retry-After in ms, little-endian int32
 *   rest        the body; with bit 0, everything up to the first '\n' is the message id
 *
 * and goes to all three adapters. Beyond "does not crash", each verdict must hold what the
 * dispatcher and the DLQ rely on:
 *   - the kind is one of the enum, and every string is NUL-terminated inside its array;
 *   - ACCEPTED exactly when a message id is set, which is printable ASCII without spaces;
 *   - a transport failure is TRANSIENT and named by ct_http_failure_name();
 *   - retry_after_ms is -1 or a delay;
 *   - message and error_code are printable ASCII without '@' and without a run of eight or more
 *     digits, so they cannot carry an e-mail address or a phone number from the body;
 *   - the same input gives the same verdict.
 * The body also goes through ct_sms_length (text from outside: templates, job fields), whose
 * counts must agree with each other.
 */
#include "provider/provider.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                 \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static void check_text(const char *s, size_t cap) {
  CHECK(memchr(s, '\0', cap) != NULL);
  size_t digits = 0;
  for (const char *p = s; *p != '\0'; p++) {
    CHECK(*p >= 0x20 && *p < 0x7f);
    CHECK(*p != '@');
    digits = *p >= '0' && *p <= '9' ? digits + 1 : 0;
    CHECK(digits < 8);
  }
}

static void check_verdict(const ct_http_response_t *r, const ct_verdict_t *v) {
  CHECK(v->kind >= CT_VERDICT_ACCEPTED && v->kind <= CT_VERDICT_AUTH);
  CHECK(memchr(v->message_id, '\0', sizeof v->message_id) != NULL);
  check_text(v->error_code, sizeof v->error_code);
  check_text(v->message, sizeof v->message);
  CHECK(v->retry_after_ms >= -1);
  if (v->kind == CT_VERDICT_ACCEPTED) {
    CHECK(v->message_id[0] != '\0');
    for (const char *p = v->message_id; *p != '\0'; p++)
      CHECK(*p > 0x20 && *p < 0x7f);
    CHECK(r->failure == CT_HTTP_OK && r->status >= 200 && r->status <= 299);
  } else {
    CHECK(v->message_id[0] == '\0');
  }
  if (r->failure != CT_HTTP_OK) {
    CHECK(v->kind == CT_VERDICT_TRANSIENT);
    CHECK(strcmp(v->error_code, ct_http_failure_name(r->failure)) == 0);
  }
}

static void check_sms_length(const char *text) {
  ct_sms_length_t l;
  ct_sms_length(text, &l);
  CHECK(l.gsm7 == 0 || l.gsm7 == 1);
  CHECK((l.units == 0) == (l.segments == 0));
  unsigned single = l.gsm7 ? 160 : 70;
  unsigned per = l.gsm7 ? 153 : 67;
  if (l.units <= single)
    CHECK(l.segments <= 1);
  else
    /* whole characters per part: at most one unit wasted at the end of each */
    CHECK(l.segments >= (l.units + per - 1) / per && l.segments <= l.units / (per - 1) + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8)
    return 0;
  static const char *details[] = {NULL, "Operation timed out after 30000 milliseconds",
                                  "SSL certificate problem: unable to get local issuer"};
  ct_http_response_t r = {0};
  r.failure = (ct_http_failure_t)(data[0] % 7);
  r.status = (int16_t)(data[1] | data[2] << 8);
  r.retry_after_ms = (int32_t)((uint32_t)data[4] | (uint32_t)data[5] << 8 |
                               (uint32_t)data[6] << 16 | (uint32_t)data[7] << 24);
  r.detail = details[(data[3] >> 1) % 3];

  const uint8_t *rest = data + 8;
  size_t n = size - 8;
  char id[256];
  if (data[3] & 1) {
    size_t k = 0;
    while (k < n && k < sizeof id - 1 && rest[k] != '\n')
      k++;
    memcpy(id, rest, k);
    id[k] = '\0';
    r.message_id = id;
    rest += k < n ? k + 1 : k;
    n -= k < n ? k + 1 : k;
  }
  char *body = malloc(n + 1);
  if (body == NULL)
    return 0;
  memcpy(body, rest, n);
  body[n] = '\0';
  r.body = body;
  r.body_len = n;

  const ct_provider_t *providers[] = {&ct_provider_whatsapp, &ct_provider_sms,
                                      &ct_provider_email};
  for (size_t i = 0; i < 3; i++) {
    ct_verdict_t a, b;
    memset(&a, 0xa5, sizeof a);
    memset(&b, 0x5a, sizeof b);
    providers[i]->classify(&r, &a);
    providers[i]->classify(&r, &b);
    check_verdict(&r, &a);
    CHECK(a.kind == b.kind && a.retry_after_ms == b.retry_after_ms);
    CHECK(strcmp(a.message_id, b.message_id) == 0 && strcmp(a.error_code, b.error_code) == 0 &&
          strcmp(a.message, b.message) == 0);
  }
  check_sms_length(body);
  free(body);
  return 0;
}
