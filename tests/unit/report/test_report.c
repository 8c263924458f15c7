/* Unit tests for bench/report: the terminal summary and the HTML report of carteiro-bench
 * results, against the fixtures in bench/report/testdata (written by make_fixtures.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "report.h"
#include "report_int.h"

static json_t *load(const char *name) {
  char path[512];
  json_error_t jerr;
  snprintf(path, sizeof path, "%s/%s", CB_TESTDATA, name);
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL)
    fail_msg("%s: %s", path, jerr.text);
  return doc;
}

typedef int (*render_fn)(const json_t *, FILE *);

/* Renders into memory; the text is NUL-terminated and owned by the caller. Not inlined: gcc
 * -O3 then takes the text for the local `buf` itself and warns of a dangling pointer. */
__attribute__((noinline)) static char *render(render_fn fn, const json_t *doc, int expect_rc) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(fn(doc, f), expect_rc);
  assert_int_equal(fclose(f), 0);
  return buf;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0, len = strlen(needle);
  for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + len, needle))
    n++;
  return n;
}

/* `line` appears as a whole line of `text`, exactly once. */
static void assert_line(const char *text, const char *line) {
  size_t n = 0, len = strlen(line);
  for (const char *p = strstr(text, line); p != NULL; p = strstr(p + 1, line))
    if ((p == text || p[-1] == '\n') && p[len] == '\n')
      n++;
  if (n != 1)
    fail_msg("line found %zu times, expected once:\n[%s]\nin:\n%s", n, line, text);
}

/* `line` is the last line of `text`. */
static void assert_last_line(const char *text, const char *line) {
  size_t tl = strlen(text), ll = strlen(line);
  if (tl < ll + 2 || text[tl - ll - 2] != '\n' || strncmp(text + tl - ll - 1, line, ll) != 0 ||
      text[tl - 1] != '\n')
    fail_msg("last line is not [%s]:\n%s", line, text);
}

static const char month_sentence[] =
    "At this profile one instance sustains 96 deliveries/s; a month of 2400000 invoices in 6 "
    "cycles of 2 hours needs 58 % of one instance.";

static void test_month_terminal(void **state) {
  (void)state;
  json_t *doc = load("month-small.json");
  char *t = render(cb_report_terminal, doc, 0);
  assert_line(t, "carteiro-bench month, commit c6e86df, 2026-11-23T21:30:00Z");
  assert_line(
      t, "scaled sample: 1 % of the month (24,000 of 2,400,000 invoices), windows scaled alike");
  assert_line(t, "profile:  provider latency p50 150 ms, p99 800 ms; errors 2 % transient, 1 % "
                 "rate-limited, 0.5 % permanent");
  assert_line(t,
              "cycle  invoices    drain   window  met  delivered   dead  retries  p50 ms  p90 ms  "
              "p99 ms  max ms");
  assert_line(t,
              "    2     4,000   41.9 s   72.0 s  yes      3,999      1       85     920   2,150   "
              "5,300   7,900");
  assert_line(t,
              "    3     4,000   79.6 s   72.0 s   NO      3,996      4      124   1,400   4,800  "
              "11,200  19,600");
  assert_int_equal(count(t, " s  yes "), 5);
  assert_line(t, "windows:  5 of 6 met; cycle 3 drained in 79.6 s, 7.6 s past its 72.0 s window");
  assert_line(
      t, "totals:   24,000 enqueued, 23,990 delivered, 10 dead, 0 lost; 512 retries in 600.0 s");
  assert_line(t, "rate:     40.0 deliveries/s, 410 CPU-µs per delivery, peak RSS 93.5 MiB");
  assert_line(t, "h2load:   61,000 requests/s in the same run; ours 9,800/s is 16.1 % of it");
  assert_line(t, "capacity: fits; sustained 96/s, the load needs 58 % of one instance; bottleneck: "
                 "provider rate limit (whatsapp)");
  assert_last_line(t, month_sentence);
  free(t);
  json_decref(doc);
}

/* The in-flight cap is named with the max_inflight it bound at; a run that names no
 * bottleneck says "none found", in the terminal and in the HTML alike. */
static void test_bottleneck_named(void **state) {
  (void)state;
  json_t *doc = load("month-small.json");
  json_t *cap = json_object_get(doc, "capacity");
  json_object_set_new(cap, "bottleneck", json_string("in-flight cap"));
  char *t = render(cb_report_terminal, doc, 0);
  assert_line(t, "capacity: fits; sustained 96/s, the load needs 58 % of one instance; bottleneck: "
                 "in-flight cap (max_inflight 2,000)");
  free(t);
  t = render(cb_report_html, doc, 0);
  assert_int_equal(count(t, "<p>Fits: sustained 96/s, the load needs 58 % of one instance; "
                            "bottleneck: in-flight cap (max_inflight 2,000).</p>"),
                   1);
  free(t);
  json_object_set_new(cap, "bottleneck", json_null());
  t = render(cb_report_terminal, doc, 0);
  assert_line(t, "capacity: fits; sustained 96/s, the load needs 58 % of one instance; bottleneck: "
                 "none found");
  free(t);
  t = render(cb_report_html, doc, 0);
  assert_int_equal(count(t, "<p>Fits: sustained 96/s, the load needs 58 % of one instance; "
                            "bottleneck: none found.</p>"),
                   1);
  free(t);
  json_decref(doc);
}

static void test_sweep_terminal(void **state) {
  (void)state;
  json_t *doc = load("sweep-small.json");
  char *t = render(cb_report_terminal, doc, 0);
  assert_line(t, "sweep:    16 settings, 20,000 jobs each, provider latency fixed 100 ms");
  /* Sorted by throughput: the best first, the worst last, 16 rows in all. */
  assert_line(t,
              "   1       2        2,000         500           4        5,659       314     239   "
              "87.7 MiB");
  assert_line(t,
              "  16       1          500         250           2        1,886       442     242   "
              "66.8 MiB");
  assert_int_equal(count(t, " MiB\n"), 16);
  assert_line(t,
              "best:     workers 2, max_inflight 2,000, provider_concurrency 500, connections 4: "
              "5,659 deliveries/s");
  assert_last_line(
      t, "At the best setting one instance sustains 5659 deliveries/s with a fixed 100 ms "
         "provider latency.");
  free(t);
  json_decref(doc);
}

static void test_limit_terminal(void **state) {
  (void)state;
  json_t *doc = load("limit-small.json");
  char *t = render(cb_report_terminal, doc, 0);
  assert_line(t, "h2load    61,000 requests/s (200,000 requests) over the same TLS HTTP/2 path");
  assert_last_line(t, "carteiro: 9,800 requests/s, 16.1 % of h2load's rate");
  free(t);
  json_decref(doc);
}

/* Nothing that would fetch or run anything: the only URL is the SVG namespace. */
static void assert_self_contained(const char *h) {
  assert_int_equal(count(h, "<script"), 0);
  assert_int_equal(count(h, "https://"), 0);
  assert_int_equal(count(h, "@import"), 0);
  assert_int_equal(count(h, "url("), 0);
  assert_int_equal(count(h, "<link"), 0);
  assert_int_equal(count(h, "<img"), 0);
  assert_int_equal(count(h, "http://"), count(h, "xmlns=\"http://www.w3.org/2000/svg\""));
}

/* Every element the page opens with a closing tag is closed as often. */
static void assert_balanced(const char *h) {
  static const char *const tags[] = {"svg", "table", "tr", "text", "h2", "h3", "p", "title"};
  for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
    char open1[16], open2[16], close[16];
    snprintf(open1, sizeof open1, "<%s>", tags[i]);
    snprintf(open2, sizeof open2, "<%s ", tags[i]);
    snprintf(close, sizeof close, "</%s>", tags[i]);
    if (count(h, open1) + count(h, open2) != count(h, close))
      fail_msg("<%s>: %zu opened, %zu closed", tags[i], count(h, open1) + count(h, open2),
               count(h, close));
  }
  assert_int_equal(count(h, "<!DOCTYPE html>"), 1);
  assert_int_equal(count(h, "</html>\n"), 1);
}

static void test_month_html(void **state) {
  (void)state;
  json_t *doc = load("month-small.json");
  char *h = render(cb_report_html, doc, 0);
  assert_self_contained(h);
  assert_balanced(h);
  /* Four charts: throughput, latency, in flight, retries and dead letters. */
  assert_int_equal(count(h, "<svg "), 4);
  assert_int_equal(count(h, "</svg>"), 4);
  /* A deadline line per cycle, one of them missed, each labelled. */
  assert_int_equal(count(h, "<line class=\"deadline"), 6);
  assert_int_equal(count(h, "<line class=\"deadline missed\""), 1);
  for (int i = 0; i < 6; i++) {
    char label[32];
    snprintf(label, sizeof label, ">cycle %d deadline</text>", i);
    assert_int_equal(count(h, label), 1);
  }
  assert_int_equal(count(h, ">not met</text>"), 1);
  /* Axis titles with units, and legends. */
  assert_int_equal(count(h, ">time since the start of the run (s)</text>"), 3);
  assert_int_equal(count(h, ">deliveries/s</text>"), 1);
  assert_int_equal(count(h, ">latency, enqueue to delivered (ms)</text>"), 1);
  assert_int_equal(count(h, ">jobs in flight</text>"), 1);
  assert_int_equal(count(h, ">retries/s</text>"), 1);
  assert_int_equal(count(h, ">dead letters (cumulative)</text>"), 1);
  assert_int_equal(count(h, "<text class=\"legend\""), 6 + 4 + 2 + 2);
  /* The capacity sentence first thing after the title; the cycle tables. */
  char *cap = strstr(h, "<p class=\"capacity\">");
  assert_non_null(cap);
  assert_true(cap < strstr(h, "<h2>"));
  assert_int_equal(count(h, month_sentence), 1);
  assert_int_equal(count(h, "Scaled sample: 1 % of the month (24,000 of 2,400,000 invoices), "
                            "windows scaled alike."),
                   1);
  assert_int_equal(count(h, "<tr class=\"missed\">"), 1);
  assert_int_equal(count(h, "<td>not met</td>"), 1);
  assert_int_equal(count(h, "<td>yes</td>"), 5);
  /* 300 points: drawn as they are (3 channels + in flight + retries + dead letters). */
  assert_int_equal(count(h, "<polyline "), 6);
  free(h);
  json_decref(doc);
}

static void test_sweep_and_limit_html(void **state) {
  (void)state;
  json_t *doc = load("sweep-small.json");
  char *h = render(cb_report_html, doc, 0);
  assert_self_contained(h);
  assert_balanced(h);
  assert_int_equal(count(h, "<svg "), 4); /* throughput against each of the four knobs */
  assert_int_equal(count(h, "<circle "), 4 * (16 + 1)); /* the points and a legend dot */
  assert_int_equal(count(h, ">provider_concurrency</text>"), 1);
  assert_int_equal(count(h, "<tr><td>"), 16);
  free(h);
  json_decref(doc);

  doc = load("limit-small.json");
  h = render(cb_report_html, doc, 0);
  assert_self_contained(h);
  assert_balanced(h);
  assert_int_equal(count(h, "<svg "), 1);
  assert_int_equal(count(h, ">requests/s</text>"), 1);
  assert_int_equal(count(h, ">61,000/s</text>"), 1);
  free(h);
  json_decref(doc);
}

static void assert_refused(json_t *doc, const char *message) {
  char err[256];
  assert_int_equal(cb_report_check(doc, err, sizeof err), CT_EINVAL);
  assert_string_equal(err, message);
  /* Neither renderer writes anything for a document it refuses. */
  char *t = render(cb_report_terminal, doc, CT_EINVAL);
  assert_string_equal(t, "");
  free(t);
  t = render(cb_report_html, doc, CT_EINVAL);
  assert_string_equal(t, "");
  free(t);
}

static void test_bad_documents(void **state) {
  (void)state;
  json_t *doc = load("bad-missing-field.json");
  assert_refused(doc, "cycles[2].drain_s: missing");
  json_decref(doc);

  doc = load("month-small.json");
  char err[256];
  assert_int_equal(cb_report_check(doc, err, sizeof err), 0);
  assert_string_equal(err, "");

  json_object_set_new(doc, "schema", json_string("carteiro-bench/2"));
  assert_refused(doc, "schema: this report reads \"carteiro-bench/1\", not \"carteiro-bench/2\"");
  json_object_set_new(doc, "schema", json_string("carteiro-bench/1"));

  json_object_set_new(doc, "kind", json_string("week"));
  assert_refused(doc, "kind: expected \"month\", \"sweep\" or \"limit\", not \"week\"");
  json_object_set_new(doc, "kind", json_string("month"));

  json_t *c0 = json_array_get(json_object_get(doc, "cycles"), 0);
  json_object_set_new(c0, "window_met", json_string("yes"));
  assert_refused(doc, "cycles[0].window_met: expected true or false");
  json_object_set_new(c0, "window_met", json_true());

  json_t *lat = json_object_get(c0, "latency_ms");
  json_object_set_new(lat, "p99", json_string("5200"));
  assert_refused(doc, "cycles[0].latency_ms.p99: expected a number");
  json_object_set_new(lat, "p99", json_integer(5200));

  json_object_set_new(c0, "delivered", json_real(3999.5));
  assert_refused(doc, "cycles[0].delivered: expected a whole number, got 3999.5");
  json_object_set_new(c0, "delivered", json_integer(3999));

  json_t *series = json_object_get(doc, "series");
  json_t *inflight = json_object_get(series, "inflight");
  json_array_set_new(inflight, 17, json_integer(-1));
  assert_refused(doc, "series.inflight[17]: expected a non-negative number, got -1");
  json_array_set_new(inflight, 17, json_integer(0));

  json_t *sms = json_object_get(json_object_get(series, "deliveries_per_s"), "sms");
  json_array_remove(sms, 0);
  assert_refused(doc,
                 "series.deliveries_per_s.sms: 299 values, expected 300 (as many as series.t_s)");
  json_array_insert_new(sms, 0, json_real(0));

  /* needed_percent is null when nothing was delivered; absent, it is a fault */
  json_t *cap = json_object_get(doc, "capacity");
  json_object_set_new(cap, "needed_percent", json_null());
  assert_int_equal(cb_report_check(doc, err, sizeof err), 0);
  char *t = render(cb_report_terminal, doc, 0);
  assert_line(t, "capacity: fits; sustained 96/s, the load needs an unknown share of one instance; "
                 "bottleneck: provider rate limit (whatsapp)");
  free(t);
  t = render(cb_report_html, doc, 0);
  assert_int_equal(count(t, "the load needs an unknown share of one instance"), 1);
  free(t);
  json_object_del(cap, "needed_percent");
  assert_refused(doc, "capacity.needed_percent: missing");
  json_object_set_new(cap, "needed_percent", json_real(58));

  json_object_del(doc, "capacity");
  assert_refused(doc, "capacity: missing");

  assert_int_equal(cb_report_check(json_object_get(doc, "cycles"), err, sizeof err), CT_EINVAL);
  assert_string_equal(err, "(document): expected a JSON object");
  json_decref(doc);

  /* A limit document needs the h2load figures. */
  doc = load("limit-small.json");
  json_object_del(json_object_get(doc, "limit"), "ours_per_s");
  assert_refused(doc, "limit.ours_per_s: missing");
  json_decref(doc);
}

/* What the runner writes for a sweep (no profile.knobs: each point has its own) and for a
 * `limit` run (the load tool only, no rate of ours) checks clean and renders without them. */
static void test_runner_shapes(void **state) {
  (void)state;
  char err[256];
  json_t *doc = load("sweep-small.json");
  json_object_del(json_object_get(doc, "profile"), "knobs");
  assert_int_equal(cb_report_check(doc, err, sizeof err), 0);
  char *t = render(cb_report_terminal, doc, 0);
  assert_int_equal(count(t, "knobs:"), 0);
  assert_int_equal(count(t, " MiB\n"), 16);
  free(t);
  char *h = render(cb_report_html, doc, 0);
  assert_balanced(h);
  assert_int_equal(count(h, ">knobs</th>"), 0);
  assert_int_equal(count(h, "<svg "), 4);
  free(h);
  /* a rate of 0 is no limit, a burst of 0 the daemon's default */
  json_t *rates = json_array();
  json_array_append_new(rates, json_pack("{s:s, s:i, s:i, s:i}", "provider", "sms", "accounts", 1,
                                         "rate_per_s", 0, "burst", 0));
  json_array_append_new(rates, json_pack("{s:s, s:i, s:i, s:i}", "provider", "email",
                                         "accounts", 2, "rate_per_s", 300, "burst", 0));
  json_object_set_new(json_object_get(doc, "profile"), "rates", rates);
  t = render(cb_report_terminal, doc, 0);
  assert_line(t, "          rates: sms 1 account, no rate limit; email 2 accounts x 300/s "
                 "(burst default)");
  free(t);
  h = render(cb_report_html, doc, 0);
  assert_int_equal(count(h, "sms: 1 account, no rate limit; email: 2 accounts × 300/s (burst "
                            "default)"),
                   1);
  free(h);
  /* a month has one set of knobs, and must say which */
  json_decref(doc);
  doc = load("month-small.json");
  json_object_del(json_object_get(doc, "profile"), "knobs");
  assert_refused(doc, "profile.knobs: missing");
  json_decref(doc);

  doc = load("limit-small.json");
  json_t *l = json_object_get(doc, "limit");
  json_object_del(l, "ours_per_s");
  json_object_del(l, "fraction");
  assert_int_equal(cb_report_check(doc, err, sizeof err), 0);
  t = render(cb_report_terminal, doc, 0);
  assert_last_line(t,
                   "h2load    61,000 requests/s (200,000 requests) over the same TLS HTTP/2 path");
  assert_int_equal(count(t, "carteiro:"), 0);
  free(t);
  h = render(cb_report_html, doc, 0);
  assert_balanced(h);
  assert_int_equal(count(h, "<svg "), 1);
  assert_int_equal(count(h, ">61,000/s</text>"), 1);
  assert_int_equal(count(h, ">carteiro</text>"), 0);
  assert_int_equal(count(h, "carteiro requests/s"), 0);
  free(h);
  /* one without the other is a fault */
  json_object_set_new(l, "fraction", json_real(0.1));
  assert_refused(doc, "limit.ours_per_s: missing");
  json_decref(doc);
}

static void test_strings_are_escaped(void **state) {
  (void)state;
  json_t *doc = load("month-small.json");
  static const char evil[] = "<b>&\"";
  json_object_set_new(doc, "command", json_string(evil));
  json_object_set_new(json_object_get(doc, "capacity"), "bottleneck", json_string(evil));
  json_object_set_new(json_object_get(doc, "host"), "kernel", json_string(evil));
  /* A channel named like that, in the legend of the throughput chart. */
  json_t *dps = json_object_get(json_object_get(doc, "series"), "deliveries_per_s");
  json_object_set(dps, evil, json_object_get(dps, "sms"));
  json_object_del(dps, "sms");
  char *h = render(cb_report_html, doc, 0);
  assert_int_equal(count(h, "<b>"), 0);
  assert_int_equal(count(h, "&\""), 0);
  assert_int_equal(count(h, "&lt;b&gt;&amp;&quot;"), 4);
  assert_balanced(h);
  free(h);
  json_decref(doc);
}

static void test_numbers(void **state) {
  (void)state;
  char b[64];
  assert_string_equal(cb__fmt_int(b, sizeof b, 2400000), "2,400,000");
  assert_string_equal(cb__fmt_int(b, sizeof b, 999), "999");
  assert_string_equal(cb__fmt_int(b, sizeof b, 1000), "1,000");
  assert_string_equal(cb__fmt_int(b, sizeof b, -1234567), "-1,234,567");
  assert_string_equal(cb__fmt_int(b, sizeof b, 0.4), "0");
  assert_string_equal(cb__fmt_dec(b, sizeof b, 1234.5, 1), "1,234.5");
  assert_string_equal(cb__fmt_dec(b, sizeof b, -0.01, 1), "0.0");
  assert_string_equal(cb__fmt_pct(b, sizeof b, 1), "1");
  assert_string_equal(cb__fmt_pct(b, sizeof b, 0.5), "0.5");
  assert_string_equal(cb__fmt_pct(b, sizeof b, 16.1), "16.1");
  assert_string_equal(cb__fmt_pct(b, sizeof b, 0.0123), "0.012");
  assert_string_equal(cb__fmt_pct(b, sizeof b, 0), "0");
  assert_string_equal(cb__fmt_pct(b, sizeof b, 1250), "1,250");
  assert_string_equal(cb__fmt_bytes(b, sizeof b, 98000000), "93.5 MiB");
  assert_string_equal(cb__fmt_bytes(b, sizeof b, 25769803776.0), "24 GiB");
  assert_string_equal(cb__fmt_int(b, 6, 2400000), "2,400"); /* truncated, still terminated */
}

static void test_downsample_keeps_peaks(void **state) {
  (void)state;
  enum { n = 20000, max = CB_REPORT_MAX_POINTS };
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  double ox[max], oy[max];
  for (size_t i = 0; i < n; i++) {
    x[i] = (double)i * 0.5;
    y[i] = (double)(i % 7);
  }
  y[12345] = 999;
  assert_int_equal(cb__downsample_max(x, y, n, max, ox, oy), max);
  size_t peaks = 0;
  for (size_t b = 0; b < max; b++) {
    /* Bucket b spans points [20b, 20b + 20): its max is 6, or the spike. */
    assert_true(ox[b] >= (double)(b * 20) * 0.5 && ox[b] < (double)(b * 20 + 20) * 0.5);
    if (oy[b] == 999) {
      assert_true(ox[b] == 12345 * 0.5);
      peaks++;
    } else {
      assert_true(oy[b] == 6);
    }
  }
  assert_int_equal(peaks, 1);
  /* Short series are copied as they are. */
  assert_int_equal(cb__downsample_max(x, y, 10, max, ox, oy), 10);
  assert_true(ox[9] == 4.5 && oy[9] == 2);
  free(x);
  free(y);
}

/* A whole month at one point a second for 6 hours: every line stays within the cap. */
static void test_long_series_html(void **state) {
  (void)state;
  enum { n = 21600 };
  json_t *doc = load("month-small.json");
  json_t *series = json_object_get(doc, "series");
  json_t *t = json_array(), *a = json_array(), *b = json_array(), *c = json_array();
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(t, json_real((double)i));
    json_array_append_new(a, json_real(i == 7777 ? 5000.0 : (double)(i % 100)));
    json_array_append_new(b, json_integer((json_int_t)(i % 2000)));
    json_array_append_new(c, json_integer((json_int_t)(i / 1000)));
  }
  json_t *dps = json_object();
  json_object_set(dps, "whatsapp", a);
  json_object_set(dps, "email", a);
  json_object_set_new(series, "t_s", t);
  json_object_set_new(series, "deliveries_per_s", dps);
  json_object_set(series, "inflight", b);
  json_object_set_new(series, "retries_per_s", a);
  json_object_set_new(series, "dead_total", c);
  json_decref(b);
  char *h = render(cb_report_html, doc, 0);
  size_t lines = 0;
  for (const char *p = strstr(h, "<polyline "); p != NULL; p = strstr(p + 1, "<polyline ")) {
    const char *pts = strstr(p, "points=\""), *end = strchr(pts + 8, '"');
    size_t pairs = 0;
    for (const char *q = pts + 8; q < end; q++)
      pairs += *q == ',';
    /* The dead-letter line is drawn in steps: two vertices a point. */
    assert_true(pairs >= 100 && pairs <= 2 * CB_REPORT_MAX_POINTS);
    if (lines < 4)
      assert_int_equal(pairs, CB_REPORT_MAX_POINTS);
    lines++;
  }
  assert_int_equal(lines, 5);
  /* The spike (5,000/s at t = 7,777 s) survives downsampling: the throughput axis runs to
   * 7,000 and 25,000 s, 938 x 298 px from (78, 332), so both channel lines pass through
   * (78 + 7777 / 25000 * 938, 332 - 5000 / 7000 * 298). */
  assert_int_equal(count(h, " 369.8,119.1 "), 2);
  assert_true(strlen(h) < 300000);
  free(h);
  json_decref(doc);
}

static void test_write_failure(void **state) {
  (void)state;
  json_t *doc = load("month-small.json");
  FILE *ro = fopen("/dev/null", "r");
  assert_non_null(ro);
  assert_int_equal(cb_report_html(doc, ro), CT_EIO);
  assert_int_equal(cb_report_terminal(doc, ro), CT_EIO);
  fclose(ro);
  json_decref(doc);
}

/* A run at full size says so, whatever its number of cycles. */
static void test_month_full_size(void **state) {
  (void)state;
  json_t *doc = load("month-small.json");
  assert_int_equal(json_object_set_new(doc, "scale", json_real(1.0)), 0);
  char *t = render(cb_report_terminal, doc, 0);
  assert_line(t, "full size: 24,000 invoices in 6 cycles, windows at full length");
  free(t);
  json_t *cycles = json_object_get(doc, "cycles");
  while (json_array_size(cycles) > 1)
    assert_int_equal(json_array_remove(cycles, json_array_size(cycles) - 1), 0);
  t = render(cb_report_terminal, doc, 0);
  assert_line(t, "full size: 4,000 invoices in 1 cycle, windows at full length");
  free(t);
  char *h = render(cb_report_html, doc, 0);
  assert_int_equal(count(h, "<p class=\"scale\">Full size: 4,000 invoices in 1 cycle, windows at "
                            "full length.</p>"),
                   1);
  assert_int_equal(count(h, ">latency, enqueue to delivered (ms)</text>"), 1);
  free(h);
  /* A backlog of hours: the latency axis counts seconds. */
  json_t *lat = json_object_get(json_array_get(cycles, 0), "latency_ms");
  assert_int_equal(json_object_set_new(lat, "p50", json_integer(1514346)), 0);
  assert_int_equal(json_object_set_new(lat, "max", json_integer(2867764)), 0);
  h = render(cb_report_html, doc, 0);
  assert_int_equal(count(h, ">latency, enqueue to delivered (s)</text>"), 1);
  assert_int_equal(count(h, "<title>p50 1514 s</title>"), 1);
  assert_int_equal(count(h, "<title>max 2868 s</title>"), 1);
  free(h);
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_month_terminal),         cmocka_unit_test(test_bottleneck_named),
      cmocka_unit_test(test_month_full_size),         cmocka_unit_test(test_sweep_terminal),
      cmocka_unit_test(test_limit_terminal),         cmocka_unit_test(test_month_html),
      cmocka_unit_test(test_sweep_and_limit_html),   cmocka_unit_test(test_bad_documents),
      cmocka_unit_test(test_strings_are_escaped),    cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_downsample_keeps_peaks), cmocka_unit_test(test_long_series_html),
      cmocka_unit_test(test_write_failure),          cmocka_unit_test(test_runner_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
