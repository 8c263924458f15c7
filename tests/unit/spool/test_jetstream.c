/* Unit tests of the parts of the JetStream spool backend that need no server
 * (src/spool/jetstream): the job record (record.c), job ids as KV keys and subject tokens,
 * the headers of a dead letter (headers.c, on messages made with natsMsg_Create, which needs
 * no connection) and the settings read from a location (location.c) with their error texts.
 */
#include "spool/jetstream/jetstream_int.h"

#include "common/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static ct__js_view_t view(const char *s) { return (ct__js_view_t){(const uint8_t *)s, strlen(s)}; }

static void assert_view(ct__js_view_t v, const char *want) {
  char got[256];
  snprintf(got, sizeof got, "%.*s", (int)v.len, (const char *)v.p);
  assert_string_equal(got, want);
  assert_int_equal(v.len, strlen(want));
}

/* ---- the job record ---------------------------------------------------------------------- */

static void encode(const ct__js_rec_t *r, const ct__js_view_t *extra, size_t n_extra,
                   ct__spool_buf_t *b, size_t *len) {
  assert_int_equal(ct__js_rec_encode(r, extra, n_extra, b, len), 0);
}

static void test_record_round_trip(void **state) {
  (void)state;
  ct__js_view_t hist[2] = {view("attempt-1"), view("")};
  ct__js_view_t extra[1] = {view("attempt-3")};
  ct__js_rec_t r = {.state = CT_STATE_DELIVERED,
                    .last_channel = 2,
                    .attempts = 4000000000u,
                    .due_ms = INT64_C(1800000000123),
                    .enqueued_ms = -5,
                    .updated_ms = INT64_MAX,
                    .provider = view("twilio"),
                    .reason = view("max_deliveries"),
                    .receipt = view("receipt-bytes"),
                    .job = view("job-bytes"),
                    .history = hist,
                    .n_history = 2};
  ct__spool_buf_t b = {0};
  size_t len = 0;
  encode(&r, extra, 1, &b, &len);
  /* magic 4, state 1, channel 1, attempts 4, three times 8, five byte strings with their
   * 4-byte lengths, the count 4 and three attempts with theirs. */
  size_t want = 4 + 1 + 1 + 4 + 24 + (4 + 6) + (4 + 14) + (4 + 13) + (4 + 9) + 4 + (4 + 9) +
                (4 + 0) + (4 + 9);
  assert_int_equal(len, want);
  assert_memory_equal(b.data, "CTJ1", 4);

  ct__js_rec_t d;
  assert_int_equal(ct__js_rec_decode(b.data, len, &d), 0);
  assert_int_equal(d.state, CT_STATE_DELIVERED);
  assert_int_equal(d.last_channel, 2);
  assert_int_equal(d.attempts, 4000000000u);
  assert_int_equal(d.due_ms, INT64_C(1800000000123));
  assert_int_equal(d.enqueued_ms, -5);
  assert_int_equal(d.updated_ms, INT64_MAX);
  assert_view(d.provider, "twilio");
  assert_view(d.reason, "max_deliveries");
  assert_view(d.receipt, "receipt-bytes");
  assert_view(d.job, "job-bytes");
  assert_int_equal(d.n_history, 3);
  assert_view(d.history[0], "attempt-1");
  assert_view(d.history[1], "");
  assert_view(d.history[2], "attempt-3");
  /* The views point into the encoded buffer. */
  assert_true(d.job.p > b.data && d.job.p < b.data + len);
  ct__js_rec_free(&d);
  assert_null(d.history);
  assert_int_equal(d.n_history, 0);
  ct__spool_buf_free(&b);
}

static void test_record_empty(void **state) {
  (void)state;
  ct__js_rec_t r = {0};
  ct__spool_buf_t b = {0};
  size_t len = 0;
  encode(&r, NULL, 0, &b, &len);
  assert_int_equal(len, 4 + 1 + 1 + 4 + 24 + 4 * 4 + 4);
  ct__js_rec_t d;
  assert_int_equal(ct__js_rec_decode(b.data, len, &d), 0);
  assert_int_equal(d.state, CT_STATE_READY);
  assert_int_equal(d.attempts, 0);
  assert_int_equal(d.provider.len, 0);
  assert_int_equal(d.job.len, 0);
  assert_int_equal(d.n_history, 0);
  assert_null(d.history);
  ct__js_rec_free(&d);
  ct__spool_buf_free(&b);
}

/* A buffer reused for a second, shorter record: the length says where it ends. */
static void test_record_buffer_reuse(void **state) {
  (void)state;
  ct__spool_buf_t b = {0};
  size_t len1 = 0, len2 = 0;
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  ct__js_rec_t r1 = {.job = view(big)};
  encode(&r1, NULL, 0, &b, &len1);
  assert_true(b.cap >= len1);
  ct__js_rec_t r2 = {.provider = view("sendgrid")};
  encode(&r2, NULL, 0, &b, &len2);
  ct__js_rec_t d;
  assert_int_equal(ct__js_rec_decode(b.data, len2, &d), 0);
  assert_view(d.provider, "sendgrid");
  assert_int_equal(d.job.len, 0);
  ct__js_rec_free(&d);
  ct__spool_buf_free(&b);
}

/* Every strict prefix of a record, a wrong magic and a history count larger than the bytes
 * left are CT_ECORRUPT, and leave the output alone. */
static void test_record_corrupt(void **state) {
  (void)state;
  ct__js_view_t hist[2] = {view("a1"), view("a2")};
  ct__js_rec_t r = {.provider = view("p"), .job = view("j"), .history = hist, .n_history = 2};
  ct__spool_buf_t b = {0};
  size_t len = 0;
  encode(&r, NULL, 0, &b, &len);
  ct__js_rec_t d = {.attempts = 77};
  for (size_t cut = 0; cut < len; cut++) {
    if (ct__js_rec_decode(b.data, cut, &d) != CT_ECORRUPT)
      fail_msg("a record cut at %zu of %zu bytes decoded", cut, len);
    assert_int_equal(d.attempts, 77);
  }
  uint8_t *bad = malloc(len);
  assert_non_null(bad);
  memcpy(bad, b.data, len);
  bad[3] = '2'; /* "CTJ2" */
  assert_int_equal(ct__js_rec_decode(bad, len, &d), CT_ECORRUPT);
  /* The count of attempts sits before the two of them: 4 + 2 and 4 + 2 bytes at the end. */
  memcpy(bad, b.data, len);
  size_t count_at = len - 12 - 4;
  bad[count_at] = 0xff;
  bad[count_at + 1] = 0xff;
  assert_int_equal(ct__js_rec_decode(bad, len, &d), CT_ECORRUPT);
  /* A byte-string length past the end. */
  memcpy(bad, b.data, len);
  bad[len - 6] = 3; /* the last attempt claims 3 bytes; 2 are left */
  assert_int_equal(ct__js_rec_decode(bad, len, &d), CT_ECORRUPT);
  assert_int_equal(d.attempts, 77);
  free(bad);
  ct__spool_buf_free(&b);
}

/* ---- keys and tokens --------------------------------------------------------------------- */

static void expect_key(const char *id, const char *want) {
  char out[64];
  int rc = ct__js_key(id, out, sizeof out);
  if (rc != 0)
    fail_msg("key of \"%s\": %s", id, ct_strerror(rc));
  assert_string_equal(out, want);
}

static void test_key(void **state) {
  (void)state;
  expect_key("job-0001_A", "job-0001_A");
  expect_key("a.b", "a=2Eb");
  expect_key(".", "=2E");
  expect_key("x=y", "x=3Dy");
  expect_key("a b/c*>", "a=20b=2Fc=2A=3E");
  expect_key("\xc3\xa9", "=C3=A9");
  char out[8];
  assert_int_equal(ct__js_key("", out, sizeof out), CT_EINVAL);
  /* cap counts the NUL: 7 characters fit in 8, 8 do not; an escape needs its 3. */
  assert_int_equal(ct__js_key("abcdefg", out, sizeof out), 0);
  assert_string_equal(out, "abcdefg");
  assert_int_equal(ct__js_key("abcdefgh", out, sizeof out), CT_EINVAL);
  assert_int_equal(ct__js_key("abcd.", out, sizeof out), 0);
  assert_string_equal(out, "abcd=2E");
  assert_int_equal(ct__js_key("abcde.", out, sizeof out), CT_EINVAL);
}

static void test_token(void **state) {
  (void)state;
  char out[16];
  ct__js_token("permanent_failure", out, sizeof out);
  assert_string_equal(out, "permanent_failu"); /* cut to the buffer */
  ct__js_token("deadline.exceeded >", out, sizeof out);
  assert_string_equal(out, "deadline_exceed");
  ct__js_token("a.b*c", out, sizeof out);
  assert_string_equal(out, "a_b_c");
  ct__js_token("", out, sizeof out);
  assert_string_equal(out, "_");
}

/* ---- dead-letter headers ----------------------------------------------------------------- */

static natsMsg *new_msg(void) {
  natsMsg *m = NULL;
  assert_int_equal(natsMsg_Create(&m, "carteiro.dlq.tim.x", NULL, "payload", 7), NATS_OK);
  return m;
}

static void test_dead_headers_round_trip(void **state) {
  (void)state;
  natsMsg *m = new_msg();
  ct__js_dead_t d = {.job_id = "job-7",
                     .tenant = "tim",
                     .reason = "permanent_failure",
                     .provider = "wa-tim",
                     .channel = 1,
                     .attempts = 3,
                     .dead_at_ms = INT64_C(1800000000000),
                     .progress64 = "CgVqb2ItNw=="};
  assert_int_equal(ct__js_dead_headers(m, &d), 0);
  assert_string_equal(ct__js_hdr(m, "Ct-Channel"), "1");
  assert_string_equal(ct__js_hdr(m, "Ct-Attempts"), "3");
  assert_string_equal(ct__js_hdr(m, "Ct-Dead-At"), "1800000000000");
  assert_string_equal(ct__js_hdr(m, "Ct-Progress"), "CgVqb2ItNw==");
  assert_false(ct__js_dead_is_raw(m));
  ct_dlq_entry_t e;
  memset(&e, 0xa5, sizeof e);
  ct__js_dead_entry(m, &e);
  assert_int_equal(e.seq, 0); /* not from a stream */
  assert_string_equal(e.job_id, "job-7");
  assert_string_equal(e.tenant, "tim");
  assert_string_equal(e.reason, "permanent_failure");
  assert_string_equal(e.provider, "wa-tim");
  assert_int_equal(e.channel, 1);
  assert_int_equal(e.attempts, 3);
  assert_int_equal(e.dead_at_ms, INT64_C(1800000000000));
  natsMsg_Destroy(m);
}

/* Empty values are left out (no header at all), and read back as "" and 0. */
static void test_dead_headers_empty_left_out(void **state) {
  (void)state;
  natsMsg *m = new_msg();
  ct__js_dead_t d = {.job_id = "seq-12", .tenant = "_", .reason = "undecodable", .provider = "",
                     .dead_at_ms = 5, .raw = true};
  assert_int_equal(ct__js_dead_headers(m, &d), 0);
  const char *v = NULL;
  assert_int_equal(natsMsgHeader_Get(m, "Ct-Provider", &v), NATS_NOT_FOUND);
  assert_int_equal(natsMsgHeader_Get(m, "Ct-Progress", &v), NATS_NOT_FOUND);
  assert_string_equal(ct__js_hdr(m, "Ct-Raw-Job"), "1");
  assert_true(ct__js_dead_is_raw(m));
  ct_dlq_entry_t e;
  ct__js_dead_entry(m, &e);
  assert_string_equal(e.job_id, "seq-12");
  assert_string_equal(e.provider, "");
  assert_int_equal(e.channel, 0);
  assert_int_equal(e.attempts, 0);
  assert_int_equal(e.dead_at_ms, 5);
  natsMsg_Destroy(m);
}

/* A message with no headers, or with numbers that are not numbers. */
static void test_dead_entry_without_headers(void **state) {
  (void)state;
  natsMsg *m = new_msg();
  ct_dlq_entry_t e;
  ct__js_dead_entry(m, &e);
  assert_string_equal(e.job_id, "");
  assert_string_equal(e.tenant, "");
  assert_string_equal(e.reason, "");
  assert_int_equal(e.attempts, 0);
  assert_false(ct__js_dead_is_raw(m));
  assert_int_equal(natsMsgHeader_Set(m, "Ct-Attempts", "3x"), NATS_OK);
  assert_int_equal(natsMsgHeader_Set(m, "Ct-Dead-At", "-7"), NATS_OK);
  ct__js_dead_entry(m, &e);
  assert_int_equal(e.attempts, 0);
  assert_int_equal(e.dead_at_ms, -7);
  natsMsg_Destroy(m);
}

/* ---- the location ------------------------------------------------------------------------ */

static int conf(const char *path, const ct_spool_nats_options_t *n, ct__js_conf_t *c,
                char *err) {
  ct_spool_options_t o = {.path = path, .nats = n};
  return ct__js_conf_make(&o, c, err, 160);
}

static void test_conf_defaults(void **state) {
  (void)state;
  ct__js_conf_t c;
  char err[160] = "x";
  assert_int_equal(conf("nats://a:4222,nats://b:4222", NULL, &c, err), 0);
  assert_string_equal(err, "");
  assert_string_equal(c.servers, "nats://a:4222,nats://b:4222");
  assert_string_equal(c.stream, "CARTEIRO_JOBS");
  assert_string_equal(c.dlq, "CARTEIRO_DLQ");
  assert_string_equal(c.consumer, "carteiro");
  assert_string_equal(c.prefix, "carteiro");
  assert_int_equal(c.replicas, 1);
  assert_int_equal(c.ack_wait_ms, 30000);
  assert_int_equal(c.max_deliver, -1);
  assert_int_equal(c.max_ack_pending, 100000);
  assert_int_equal(c.dup_window_ms, 3600000);
  assert_string_equal(c.creds, "");
  assert_string_equal(c.ca, "");
}

/* Options over the defaults, the query string over both. */
static void test_conf_layers(void **state) {
  (void)state;
  ct_spool_nats_options_t n = {.stream = "JOBS", .replicas = 3, .ack_wait_ms = 10000,
                               .max_deliver = 5, .creds_file = "/etc/c.creds"};
  ct__js_conf_t c;
  char err[160];
  assert_int_equal(conf("nats://a:4222", &n, &c, err), 0);
  assert_string_equal(c.stream, "JOBS");
  assert_int_equal(c.replicas, 3);
  assert_int_equal(c.ack_wait_ms, 10000);
  assert_int_equal(c.max_deliver, 5);
  assert_string_equal(c.creds, "/etc/c.creds");
  assert_int_equal(conf("nats://a:4222?stream=J2&dlq_stream=D&consumer=w&subject=s&replicas=5"
                        "&ack_wait=1.5s&duplicate_window=2m&max_deliver=-1&max_ack_pending=7"
                        "&creds=/x&ca=/ca&cert=/cert&key=/key",
                        &n, &c, err),
                   0);
  assert_string_equal(err, "");
  assert_string_equal(c.servers, "nats://a:4222");
  assert_string_equal(c.stream, "J2");
  assert_string_equal(c.dlq, "D");
  assert_string_equal(c.consumer, "w");
  assert_string_equal(c.prefix, "s");
  assert_int_equal(c.replicas, 5);
  assert_int_equal(c.ack_wait_ms, 1500);
  assert_int_equal(c.dup_window_ms, 120000);
  assert_int_equal(c.max_deliver, -1);
  assert_int_equal(c.max_ack_pending, 7);
  assert_string_equal(c.creds, "/x");
  assert_string_equal(c.ca, "/ca");
  assert_string_equal(c.cert, "/cert");
  assert_string_equal(c.key, "/key");
  /* Units: none is ms; h. An empty value keeps what was there. */
  assert_int_equal(conf("nats://a?ack_wait=2500&duplicate_window=1h&stream=", NULL, &c, err), 0);
  assert_int_equal(c.ack_wait_ms, 2500);
  assert_int_equal(c.dup_window_ms, 3600000);
  assert_string_equal(c.stream, "CARTEIRO_JOBS");
}

static void expect_conf_error(const char *path, const char *want) {
  ct__js_conf_t c;
  char err[160] = "";
  int rc = conf(path, NULL, &c, err);
  if (rc != CT_EINVAL)
    fail_msg("%s: expected CT_EINVAL, got %d", path, rc);
  if (strcmp(err, want) != 0)
    fail_msg("%s:\n  expected [%s]\n  got      [%s]", path, want, err);
}

static void test_conf_errors(void **state) {
  (void)state;
  expect_conf_error("nats://a?replicas", "query parameter \"replicas\" has no value (key=value)");
  expect_conf_error("nats://a?stream=J&replica=3", "unknown query parameter \"replica\"");
  expect_conf_error("nats://a?replicas=0", "replicas must be 1 to 5, not \"0\"");
  expect_conf_error("nats://a?replicas=6", "replicas must be 1 to 5, not \"6\"");
  expect_conf_error("nats://a?replicas=3x", "replicas must be 1 to 5, not \"3x\"");
  expect_conf_error("nats://a?ack_wait=10x",
                    "ack_wait must be a duration (500ms, 30s, 5m, 1h), not \"10x\"");
  expect_conf_error("nats://a?ack_wait=-1s",
                    "ack_wait must be a duration (500ms, 30s, 5m, 1h), not \"-1s\"");
  expect_conf_error("nats://a?ack_wait=inf",
                    "ack_wait must be a duration (500ms, 30s, 5m, 1h), not \"inf\"");
  expect_conf_error("nats://a?duplicate_window=",
                    "duplicate_window must be a duration (500ms, 30s, 5m, 1h), not \"\"");
  expect_conf_error("nats://a?duplicate_window=1e300h",
                    "duplicate_window must be a duration (500ms, 30s, 5m, 1h), not \"1e300h\"");
  expect_conf_error("nats://a?ack_wait=999ms", "ack_wait must be at least 1s, not 999ms");
  expect_conf_error("nats://a?max_deliver=0",
                    "max_deliver must be -1 (unlimited) or a count > 0, not \"0\"");
  expect_conf_error("nats://a?max_deliver=-2",
                    "max_deliver must be -1 (unlimited) or a count > 0, not \"-2\"");
  expect_conf_error("nats://a?max_ack_pending=0",
                    "max_ack_pending must be a count > 0, not \"0\"");
  expect_conf_error("?replicas=3", "no server in the location");
  expect_conf_error(",,?replicas=3", "no server in the location");
  char long_path[1100];
  memset(long_path, 'a', sizeof long_path - 1);
  long_path[sizeof long_path - 1] = '\0';
  expect_conf_error(long_path, "location longer than 1023 bytes");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record_round_trip),
      cmocka_unit_test(test_record_empty),
      cmocka_unit_test(test_record_buffer_reuse),
      cmocka_unit_test(test_record_corrupt),
      cmocka_unit_test(test_key),
      cmocka_unit_test(test_token),
      cmocka_unit_test(test_dead_headers_round_trip),
      cmocka_unit_test(test_dead_headers_empty_left_out),
      cmocka_unit_test(test_dead_entry_without_headers),
      cmocka_unit_test(test_conf_defaults),
      cmocka_unit_test(test_conf_layers),
      cmocka_unit_test(test_conf_errors),
  };
  /* Destroying a message goes through the library's collector, which nats_Open starts. */
  if (nats_Open(-1) != NATS_OK)
    return 1;
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  nats_Close();
  return failed;
}
