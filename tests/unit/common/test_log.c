/* Unit tests for src/common/log.c: the JSON and text lines written to stderr (captured through
 * a temporary file dup2'ed over fd 2), escaping, truncation, level filtering, the repeat limit
 * (also from 4 threads) and the personal-data scrubber. The clock is fixed with
 * ct__log_set_clock so that whole lines can be compared exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define T0 INT64_C(1795458412123) /* 2026-11-23T18:26:52.123Z */
#define TS "2026-11-23T18:26:52.123Z"

static int64_t now = T0;
static int64_t fake_clock(void) { return now; }

static char out[1 << 17];
static FILE *capture;
static int saved_fd = -1;

static void start(void) {
  capture = tmpfile();
  assert_non_null(capture);
  saved_fd = dup(STDERR_FILENO);
  assert_true(saved_fd >= 0);
  assert_true(dup2(fileno(capture), STDERR_FILENO) >= 0);
}

/* Stops capturing; returns what was written to stderr since start(). */
static const char *stop(void) {
  assert_true(dup2(saved_fd, STDERR_FILENO) >= 0);
  close(saved_fd);
  rewind(capture);
  size_t n = fread(out, 1, sizeof out - 1, capture);
  out[n] = '\0';
  fclose(capture);
  return out;
}

/* A clean logger before each test: JSON, info, the fixed clock, no counts. */
static int setup(void **state) {
  (void)state;
  now = T0;
  ct__log_set_clock(fake_clock);
  ct_log_set_format(CT_LOG_JSON);
  ct_log_set_level(CT_LOG_INFO);
  start();
  ct_log_flush();
  stop();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ct_log_set_level(CT_LOG_INFO);
  ct_log_set_format(CT_LOG_JSON);
  return 0;
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

static void each_line_is_json(const char *s) {
  while (*s) {
    const char *nl = strchr(s, '\n');
    assert_non_null(nl);
    json_error_t err;
    json_t *j = json_loadb(s, (size_t)(nl - s), 0, &err);
    if (j == NULL)
      fail_msg("not JSON (%s): %.*s", err.text, (int)(nl - s), s);
    json_decref(j);
    s = nl + 1;
  }
}

static void test_json_line(void **state) {
  (void)state;
  start();
  ct_info("hello %s %d", "world", 42);
  ct_error("spool: %s", "disk full");
  assert_string_equal(stop(),
                      "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"hello world 42\"}\n"
                      "{\"ts\":\"" TS "\",\"level\":\"error\",\"msg\":\"spool: disk full\"}\n");
}

static void test_escaping(void **state) {
  (void)state;
  start();
  /* quote, backslash, controls, DEL, UTF-8 kept; a stray byte, an overlong form, a surrogate
   * and a cut sequence each become U+FFFD per byte. */
  ct_warn("%s", "q\"b\\n\nt\tc\x01\x1f" "d\x7f" "a\xc3\xa7\xc3\xa3o \xe2\x82\xac "
                "\xff|\xc0\xaf|\xed\xa0\x80|\xc3");
  const char *got = stop();
  assert_string_equal(got, "{\"ts\":\"" TS "\",\"level\":\"warn\",\"msg\":\""
                           "q\\\"b\\\\n\\nt\\tc\\u0001\\u001fd\\u007fa\xc3\xa7\xc3\xa3o \xe2\x82\xac "
                           "\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
                           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\"}\n");
  each_line_is_json(got);
}

static void test_kv_fields(void **state) {
  (void)state;
  start();
  ct_log_kv(CT_LOG_INFO, "job dead", CT_KV_S("job", "inv-00000001"), CT_KV_S("reason", "max\"x"),
            CT_KV_S("provider", NULL), CT_KV_I("attempts", 5), CT_KV_I("due_ms", -1));
  const char *got = stop();
  assert_string_equal(got, "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"job dead\","
                           "\"job\":\"inv-00000001\",\"reason\":\"max\\\"x\",\"provider\":null,"
                           "\"attempts\":5,\"due_ms\":-1}\n");
  each_line_is_json(got);
}

static void test_text_format(void **state) {
  (void)state;
  ct_log_set_format(CT_LOG_TEXT);
  start();
  ct_info("reload: configuration applied (credentials, rates, templates)");
  ct_log_kv(CT_LOG_WARN, "job dead", CT_KV_S("job", "inv-1"), CT_KV_S("to", "joana@example.com"),
            CT_KV_S("p", NULL), CT_KV_I("n", 3));
  ct_info("two\nlines");
  assert_string_equal(stop(),
                      TS " info reload: configuration applied (credentials, rates, templates)\n"
                      TS " warn job dead job=inv-1 to=j***@example.com p=- n=3\n"
                      TS " info two\\nlines\n");
}

static void test_truncation(void **state) {
  (void)state;
  static char big[4000];
  memset(big, 'a', sizeof big - 1);
  const char *prefix = "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"";
  const char *tail = "\",\"truncated\":true}\n";
  size_t keep = CT_LOG_LINE_MAX - 32 - strlen(prefix);
  static char want[8192];
  snprintf(want, sizeof want, "%s%.*s%s", prefix, (int)keep, big, tail);

  start();
  ct_info("%s", big); /* longer than the message buffer itself */
  assert_string_equal(stop(), want);

  big[keep - 10] = '\0';
  start();
  /* the message fits; a field that does not is left out whole */
  ct_log_kv(CT_LOG_INFO, big, CT_KV_S("job", "inv-00000001"), CT_KV_S("more", "x"));
  snprintf(want, sizeof want, "%s%s\",\"truncated\":true}\n", prefix, big);
  assert_string_equal(stop(), want);

  /* cut between whole escapes and whole characters: still JSON, still UTF-8, at most 2 KiB */
  static char q[3000];
  for (size_t i = 0; i + 2 < sizeof q; i += 3)
    memcpy(q + i, i % 2 ? "\"\xc3\xa7" : "\\\x01" "x", 3);
  q[sizeof q - 1] = '\0';
  start();
  ct_error("%s", q);
  const char *got = stop();
  assert_true(strlen(got) <= CT_LOG_LINE_MAX);
  assert_non_null(strstr(got, "\"truncated\":true}\n"));
  each_line_is_json(got);
}

static int evaluated;
static int counted(void) { return ++evaluated; }

static void test_filtered_calls_evaluate_nothing(void **state) {
  (void)state;
  evaluated = 0;
  ct_log_set_level(CT_LOG_WARN);
  start();
  ct_info("n=%d", counted());
  ct_debug("n=%d", counted());
  ct_log_kv(CT_LOG_INFO, "kv", CT_KV_I("n", counted()));
  ct_warn("n=%d", counted());
  ct_log_kv(CT_LOG_ERROR, "kv", CT_KV_I("n", counted()));
  const char *got = stop();
  assert_int_equal(evaluated, 2);
  assert_string_equal(got, "{\"ts\":\"" TS "\",\"level\":\"warn\",\"msg\":\"n=1\"}\n"
                           "{\"ts\":\"" TS "\",\"level\":\"error\",\"msg\":\"kv\",\"n\":2}\n");
}

static void test_repeats_are_counted(void **state) {
  (void)state;
  start();
  for (int i = 0; i < 25; i++) {
    ct_error("boom %d", i);
    ct_info("other %d", i);
  }
  for (int i = 0; i < 12; i++)
    ct_log(CT_LOG_WARN, "boom %d", 100 + i); /* same template, another level */
  ct_log_set_level(CT_LOG_DEBUG);
  for (int i = 0; i < 15; i++)
    ct_debug("trace %d", i); /* asked for: never dropped */
  now = T0 + 1000; /* the next second: the first line reports the drops first */
  ct_info("after");
  const char *got = stop();
  assert_int_equal(count_lines(got), 10 + 10 + 15 + 3);
  assert_non_null(strstr(got, "\"msg\":\"boom 9\"}\n"));
  assert_null(strstr(got, "\"msg\":\"boom 10\""));
  assert_non_null(strstr(got, "\"msg\":\"trace 14\"}\n"));
  const char *tail = strstr(got, "{\"ts\":\"2026-11-23T18:26:53.123Z\"");
  assert_non_null(tail);
  /* slot order decides which summary comes first */
  const char *boom = "{\"ts\":\"2026-11-23T18:26:53.123Z\",\"level\":\"warn\",\"msg\":\"boom %d\","
                     "\"suppressed\":27}\n";
  const char *other = "{\"ts\":\"2026-11-23T18:26:53.123Z\",\"level\":\"info\",\"msg\":\"other %d\","
                      "\"suppressed\":15}\n";
  const char *after = "{\"ts\":\"2026-11-23T18:26:53.123Z\",\"level\":\"info\",\"msg\":\"after\"}\n";
  char a[512], b[512];
  snprintf(a, sizeof a, "%s%s%s", boom, other, after);
  snprintf(b, sizeof b, "%s%s%s", other, boom, after);
  if (strcmp(tail, a) != 0)
    assert_string_equal(tail, b);

  /* a new second starts a new count; ct_log_flush reports at once */
  start();
  for (int i = 0; i < 11; i++)
    ct_error("boom %d", i);
  ct_log_flush();
  got = stop();
  assert_int_equal(count_lines(got), 11);
  assert_non_null(strstr(got, "\"level\":\"error\",\"msg\":\"boom %d\",\"suppressed\":1}\n"));
}

#define THREADS 4
#define PER_THREAD 1000

static void *hammer(void *arg) {
  (void)arg;
  for (int i = 0; i < PER_THREAD; i++)
    ct_log_kv(CT_LOG_ERROR, "provider down", CT_KV_I("i", i));
  return NULL;
}

static void test_repeats_from_threads(void **state) {
  (void)state;
  pthread_t th[THREADS];
  start();
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_join(th[i], NULL), 0);
  now = T0 + 1000;
  ct_info("after");
  const char *got = stop();
  assert_int_equal(count_lines(got), CT_LOG_BURST + 2);
  assert_non_null(strstr(got, "{\"ts\":\"2026-11-23T18:26:53.123Z\",\"level\":\"error\",\"msg\":"
                              "\"provider down\",\"suppressed\":3990}\n"
                              "{\"ts\":\"2026-11-23T18:26:53.123Z\",\"level\":\"info\",\"msg\":"
                              "\"after\"}\n"));
  each_line_is_json(got);
}

/* Logs `msg` (as a printf argument and as a field value) and checks both come out as `want`. */
static void scrubbed(const char *msg, const char *want) {
  char line[1024];
  ct_log_flush();
  start();
  ct_info("%s", msg);
  ct_log_kv(CT_LOG_INFO, "v", CT_KV_S("v", msg));
  snprintf(line, sizeof line,
           "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"%s\"}\n"
           "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"v\",\"v\":\"%s\"}\n",
           want, want);
  const char *got = stop();
  if (strcmp(got, line) != 0)
    fail_msg("for \"%s\"\n got: %s want: %s", msg, got, line);
}

static void test_scrubber_masks(void **state) {
  (void)state;
  scrubbed("cpf 12345678909 ok", "cpf ***.***.***-09 ok");
  scrubbed("12345678909", "***.***.***-09");
  scrubbed("cpf=123.456.789-09.", "cpf=***.***.***-09.");
  scrubbed("(123.456.789-09)", "(***.***.***-09)");
  scrubbed("to +5511987654321, then", "to +55 11 9****-4321, then");
  scrubbed("+551133334444", "+55 ****4444");
  scrubbed("mail joana.silva+x@example.com.br.", "mail j***@example.com.br.");
  scrubbed("<joana@example.com>", "<j***@example.com>");
  scrubbed("12345678909@x.com", "1***@x.com");
  scrubbed("a 12345678909 and 98765432100 b", "a ***.***.***-09 and ***.***.***-00 b");
}

static void test_scrubber_leaves_the_rest(void **state) {
  (void)state;
  const char *keep[] = {
      "job inv-00000001 dead",
      "epoch 1795458412123 ms",
      "line 23793381286000000000000000000000100000000000 due", /* 47 digits */
      "line 23793.38128 60000.000000 00000.000000 1 00000000000000 due",
      "ten 1234567890 twelve 123456789012",
      "sha256 ab12345678909cd",
      "pi 3.12345678909 x 12345678909.5",
      "+55119876543210 is too long, +55123 too short",
      "123.456.789-0 and 1234.567.890-12",
      "root@localhost and @example.com and a@b",
      "reload: configuration applied (credentials, rates, templates)",
      "provider wa-tim refused our credentials (HTTP 401, code 190): account paused",
  };
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
    scrubbed(keep[i], keep[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_json_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kv_fields, setup, teardown),
      cmocka_unit_test_setup_teardown(test_text_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_filtered_calls_evaluate_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_repeats_are_counted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_repeats_from_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scrubber_masks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scrubber_leaves_the_rest, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
