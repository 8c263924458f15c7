/* libFuzzer target for the webhook hooks of src/provider: what anyone on the internet can send
 * to carteiro's webhook listener reaches verify_webhook, and, once verified, parse_webhook.
 * The input is laid out as
 *
 *   byte 0      adapter (mod 3: whatsapp, sms, email) and, bit 7, GET instead of POST
 *   byte 1      length of the query string that follows (the rest is the body)
 *   ...         the query string, then the raw body
 *
 * The body and query go to the chosen adapter's verify_webhook (with no signature header, and
 * with a made-up one) and parse_webhook, and the body also to ct_correlation_parse. Beyond
 * "does not crash", every event must hold what the spool and the processor rely on:
 *   - parse returns 0, CT_EDECODE, CT_ETOOBIG or CT_ENOMEM, with err NUL-terminated, and on
 *     CT_EDECODE an err that quotes nothing from the body (no '@', no run of 8+ digits);
 *   - every event has a kind, the account and channel of the conf, a non-empty event_id
 *     that starts with the provider's prefix, and every string NUL-terminated in its array;
 *   - a status is inside the enum; an INBOUND event has status RECEIVED;
 *   - unsigned requests are never ACCEPT: verify without the keys' signature refuses;
 *   - the same input gives the same events.
 */
#include "common/error.h"
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

#define TERMINATED(a) CHECK(memchr((a), '\0', sizeof(a)) != NULL)

static void conf_for(int which, ct_provider_conf_t *c) {
  memset(c, 0, sizeof *c);
  static const ct_channel_t ch[] = {CT_CHANNEL_WHATSAPP, CT_CHANNEL_SMS, CT_CHANNEL_EMAIL};
  static const char *const names[] = {"wa-fuzz", "sms-fuzz", "email-fuzz"};
  c->channel = ch[which];
  snprintf(c->name, sizeof c->name, "%s", names[which]);
  snprintf(c->account, sizeof c->account, "%s", which == 1 ? "AC00000000000000000000000000000001"
                                                           : "100000000000001");
  c->secret = (char *)"fuzz-secret";
  c->webhook_secret = (char *)"fuzz-app-secret";
  c->webhook_verify_token = (char *)"fuzz-verify-token";
  /* sendgrid-go's test vector key */
  snprintf(c->webhook_public_key, sizeof c->webhook_public_key, "%s",
           "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7"
           "yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==");
  c->webhook_tolerance_ms = 600000;
}

static void check_text(const char *s) {
  size_t digits = 0;
  for (const char *p = s; *p != '\0'; p++) {
    CHECK(*p != '@');
    digits = *p >= '0' && *p <= '9' ? digits + 1 : 0;
    CHECK(digits < 8);
  }
}

static void check_event(const ct_event_t *e, const ct_provider_conf_t *c) {
  static const char *const prefix[] = {"", "wa:", "tw:", "sg:"};
  CHECK(e->kind == CT_EVENT_STATUS || e->kind == CT_EVENT_INBOUND);
  CHECK(e->channel == c->channel);
  CHECK(strcmp(e->account, c->name) == 0);
  TERMINATED(e->event_id);
  TERMINATED(e->message_id);
  TERMINATED(e->provider_status);
  TERMINATED(e->error_code);
  TERMINATED(e->error_title);
  TERMINATED(e->job_id);
  TERMINATED(e->from);
  TERMINATED(e->to);
  TERMINATED(e->message_type);
  TERMINATED(e->reply_id);
  TERMINATED(e->context_id);
  TERMINATED(e->profile_name);
  CHECK(e->event_id[0] != '\0');
  CHECK(strncmp(e->event_id, prefix[c->channel], 3) == 0 || strncmp(e->event_id, "h:", 2) == 0);
  CHECK((int)e->status >= 0 && (int)e->status < CT_EVENT_STATUS_COUNT);
  if (e->kind == CT_EVENT_INBOUND)
    CHECK(e->status == CT_EVENT_STATUS_RECEIVED);
  if (e->text != NULL)
    CHECK(strlen(e->text) <= CT_EVENT_TEXT_MAX);
  /* the record encodes and decodes to the same key */
  uint8_t *buf;
  size_t len;
  if (ct_event_encode(e, &buf, &len) == 0) {
    ct_event_t d;
    memset(&d, 0, sizeof d);
    CHECK(ct_event_decode(buf, len, &d) == 0);
    CHECK(strcmp(d.event_id, e->event_id) == 0);
    CHECK(strcmp(d.job_id, e->job_id) == 0);
    ct_event_clear(&d);
    free(buf);
  }
}

static int parse(const ct_provider_t *p, const ct_provider_conf_t *c, const ct_webhook_request_t *r,
                 ct_event_list_t *out) {
  size_t skipped = 0;
  char err[160];
  memset(err, 0x5a, sizeof err);
  int rc = p->parse_webhook(c, r, 1800000000000, out, &skipped, err, sizeof err);
  CHECK(rc == 0 || rc == CT_EDECODE || rc == CT_ETOOBIG || rc == CT_ENOMEM);
  if (rc != 0) {
    TERMINATED(err);
    check_text(err);
  }
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  int which = (data[0] & 0x7f) % 3;
  bool get = (data[0] & 0x80) != 0;
  size_t ql = data[1];
  if (ql > size - 2)
    ql = size - 2;
  const char *query = (const char *)data + 2;
  const uint8_t *body = data + 2 + ql;
  size_t blen = size - 2 - ql;
  const ct_provider_t *p = ct_provider_for(which == 0   ? CT_CHANNEL_WHATSAPP
                                           : which == 1 ? CT_CHANNEL_SMS
                                                        : CT_CHANNEL_EMAIL);
  ct_provider_conf_t c;
  conf_for(which, &c);

  /* the query and body as the listener hands them over: not NUL-terminated */
  char *q = malloc(ql > 0 ? ql : 1);
  uint8_t *b = malloc(blen > 0 ? blen : 1);
  memcpy(q, query, ql);
  memcpy(b, body, blen);
  ct_webhook_header_t headers[3] = {
      {"x-hub-signature-256", 19,
       "sha256=0000000000000000000000000000000000000000000000000000000000000000", 71},
      {"x-twilio-signature", 18, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", 28},
      {"x-twilio-email-event-webhook-signature", 38, "MEUCIQ==", 8}};
  ct_webhook_request_t r = {.post = !get,
                            .url = "https://hooks.example.com/webhooks/fuzz",
                            .url_len = 39,
                            .query = q,
                            .query_len = ql,
                            .body = b,
                            .body_len = blen};
  char challenge[128];
  ct_webhook_check_t v = p->verify_webhook(&c, &r, 1800000000000, challenge, sizeof challenge);
  CHECK(v != CT_WEBHOOK_ACCEPT); /* no signature */
  r.headers = headers;
  r.n_headers = 3;
  v = p->verify_webhook(&c, &r, 1800000000000, challenge, sizeof challenge);
  CHECK(v != CT_WEBHOOK_ACCEPT); /* a made-up one */
  if (v == CT_WEBHOOK_CHALLENGE)
    CHECK(strlen(challenge) > 0 && strlen(challenge) < sizeof challenge);

  ct_event_list_t a = {0}, again = {0};
  int rc = parse(p, &c, &r, &a);
  for (size_t i = 0; i < a.n; i++)
    check_event(&a.v[i], &c);
  CHECK(parse(p, &c, &r, &again) == rc);
  CHECK(again.n == a.n);
  for (size_t i = 0; i < a.n; i++)
    CHECK(strcmp(a.v[i].event_id, again.v[i].event_id) == 0);
  ct_event_list_free(&a);
  ct_event_list_free(&again);

  char job[CT_EVENT_JOB_LEN];
  uint32_t part = 0;
  if (ct_correlation_parse((const char *)b, blen, job, sizeof job, &part))
    CHECK(job[0] != '\0' && strlen(job) < sizeof job);
  free(q);
  free(b);
  return 0;
}
