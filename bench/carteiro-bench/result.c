/* The result document (SCHEMA.md, "carteiro-bench/1") and the short terminal summary. */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef CB_SOURCE_DIR
#define CB_SOURCE_DIR "."
#endif

/* The commit of the source tree this bench was built from, at run time (a tree built once and
 * run after more commits would otherwise report a stale one); "unknown" outside git. */
static void source_commit(char *out, size_t cap)
{
  snprintf(out, cap, "unknown");
  FILE *f = popen("git -C '" CB_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null", "r");
  if (f == NULL)
    return;
  char line[64];
  if (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] != '\0')
      snprintf(out, cap, "%s", line);
  }
  pclose(f);
}

json_t *cb_result_new(const char *kind, int argc, char **argv)
{
  char created[32], commit[64], cmd[2048];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  source_commit(commit, sizeof commit);
  size_t n = (size_t)snprintf(cmd, sizeof cmd, "carteiro-bench");
  for (int i = 1; i < argc && n < sizeof cmd; i++)
    n += (size_t)snprintf(cmd + n, sizeof cmd - n, " %s", argv[i]);
  struct utsname u;
  if (uname(&u) != 0)
    snprintf(u.release, sizeof u.release, "unknown");
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:s}}", "schema", "carteiro-bench/1",
                   "kind", kind, "created", created, "commit", commit, "command", cmd, "host",
                   "cpus", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "mem_bytes",
                   (json_int_t)pages * (json_int_t)page, "kernel", u.release);
}

json_t *cb_profile_json(const cb_profile_t *p)
{
  json_t *lat = p->lat_p99 > p->lat_p50
                    ? json_pack("{s:f, s:f}", "p50", p->lat_p50, "p99", p->lat_p99)
                    : json_pack("{s:f}", "fixed", p->lat_p50);
  json_t *ch = json_array();
  for (int i = 0; i < p->nchannels; i++)
    json_array_append_new(ch, json_string(cb_channel_names[p->channels[i]]));
  json_t *rates = json_array();
  for (int c = 0; c < CB_NCHANNELS; c++) {
    bool used = c == p->fallback;
    for (int i = 0; i < p->nchannels; i++)
      used = used || p->channels[i] == c;
    if (!used)
      continue;
    json_array_append_new(rates, json_pack("{s:s, s:i, s:f, s:f}", "provider",
                                           cb_channel_names[c], "accounts",
                                           p->rates[c].accounts > 0 ? p->rates[c].accounts : 1,
                                           "rate_per_s", p->rates[c].rate, "burst",
                                           p->rates[c].burst));
  }
  json_t *j = json_pack(
      "{s:s, s:o, s:{s:f, s:f, s:f}, s:o, s:b, s:o, s:{s:i, s:i, s:i, s:i}, s:i, s:I}", "name",
      p->name, "latency_ms", lat, "errors", "transient", p->transient, "rate_limited",
      p->rate_limited, "permanent", p->permanent, "channels", ch, "pdf", p->pdf, "rates", rates,
      "knobs", "workers", p->knobs.workers, "max_inflight", p->knobs.max_inflight,
      "provider_concurrency", p->knobs.provider_concurrency, "connections", p->knobs.connections,
      "recipient_gap_ms", (int)p->recipient_gap_ms, "seed", (json_int_t)p->seed);
  if (p->fallback >= 0)
    json_object_set_new(j, "fallback", json_string(cb_channel_names[p->fallback]));
  if (p->pdf)
    json_object_set_new(j, "pdf_pool", json_integer(p->pdf_pool));
  return j;
}

json_t *cb_series_json(const cb_series_t *s)
{
  json_t *t = json_array(), *infl = json_array(), *retr = json_array(), *dead = json_array();
  json_t *del = json_object();
  json_t *per[CB_NCHANNELS];
  for (int c = 0; c < CB_NCHANNELS; c++) {
    per[c] = json_array();
    json_object_set_new(del, cb_channel_names[c], per[c]);
  }
  for (size_t i = 0; i < s->n; i++) {
    const cb_sample_t *x = &s->v[i];
    json_array_append_new(t, json_real(x->t));
    for (int c = 0; c < CB_NCHANNELS; c++)
      json_array_append_new(per[c], json_real(x->deliveries[c]));
    json_array_append_new(infl, json_real(x->inflight));
    json_array_append_new(retr, json_real(x->retries));
    json_array_append_new(dead, json_real(x->dead_total));
  }
  return json_pack("{s:f, s:o, s:o, s:o, s:o, s:o}", "interval_s", 1.0, "t_s", t,
                   "deliveries_per_s", del, "inflight", infl, "retries_per_s", retr,
                   "dead_total", dead);
}

json_t *cb_limit_json(const cb_limit_t *l, double ours_per_s)
{
  json_t *j = json_pack("{s:s, s:f, s:I}", "tool", "h2load", "requests_per_s",
                        l->requests_per_s, "requests", (json_int_t)l->requests);
  if (ours_per_s >= 0) {
    json_object_set_new(j, "ours_per_s", json_real(ours_per_s));
    json_object_set_new(j, "fraction", json_real(l->requests_per_s > 0
                                                     ? ours_per_s / l->requests_per_s
                                                     : 0));
  }
  return j;
}

int cb_result_write(json_t *doc, const char *path)
{
  if (path == NULL)
    return 0;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (json_dump_file(doc, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) != 0 ||
      rename(tmp, path) != 0) {
    fprintf(stderr, "carteiro-bench: %s: cannot write: %s\n", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}

static double num(const json_t *o, const char *k)
{
  return json_number_value(json_object_get(o, k));
}

void cb_summary(const json_t *doc, FILE *out)
{
  const char *kind = json_string_value(json_object_get(doc, "kind"));
  fprintf(out, "carteiro-bench %s  (commit %s, %s)\n", kind != NULL ? kind : "?",
          json_string_value(json_object_get(doc, "commit")),
          json_string_value(json_object_get(doc, "created")));
  const json_t *cycles = json_object_get(doc, "cycles");
  if (json_is_array(cycles)) {
    if (num(doc, "scale") < 1)
      fprintf(out, "scaled run: %.4g of a month of %.0f invoices (invoices per cycle and window "
                   "lengths scaled alike; idle time between cycles skipped)\n",
              num(doc, "scale"), num(doc, "full_month_invoices"));
    fprintf(out, "%5s %9s %9s %9s %6s %10s %6s %8s %9s %9s %9s\n", "cycle", "invoices",
            "window_s", "drain_s", "met", "delivered", "dead", "retries", "inv/s", "p50_ms",
            "p99_ms");
    size_t i;
    json_t *c;
    json_array_foreach(cycles, i, c)
    {
      const json_t *l = json_object_get(c, "latency_ms");
      fprintf(out, "%5zu %9.0f %9.1f %9.1f %6s %10.0f %6.0f %8.0f %9.1f %9.0f %9.0f\n", i,
              num(c, "invoices"), num(c, "window_s"), num(c, "drain_s"),
              json_is_true(json_object_get(c, "window_met")) ? "yes" : "NO",
              num(c, "delivered"), num(c, "dead"), num(c, "retries"),
              num(c, "deliveries_per_s"), num(l, "p50"), num(l, "p99"));
    }
  }
  const json_t *sw = json_object_get(doc, "sweep");
  if (sw != NULL) {
    fprintf(out, "%7s %12s %11s %11s %11s %10s %8s %9s\n", "workers", "max_inflight",
            "concurrency", "connections", "deliv/s", "cpu_us/d", "p99_ms", "rss_MiB");
    size_t i;
    json_t *pt;
    json_array_foreach(json_object_get(sw, "points"), i, pt)
    {
      fprintf(out, "%7.0f %12.0f %11.0f %11.0f %11.0f %10.0f %8.0f %9.1f\n",
              num(pt, "workers"), num(pt, "max_inflight"), num(pt, "provider_concurrency"),
              num(pt, "connections"), num(pt, "deliveries_per_s"),
              num(pt, "cpu_us_per_delivery"), num(pt, "p99_ms"),
              num(pt, "peak_rss_bytes") / 1048576.0);
    }
    const json_t *b = json_object_get(sw, "best");
    fprintf(out, "best: workers=%.0f max_inflight=%.0f provider_concurrency=%.0f "
                 "connections=%.0f -> %.0f deliveries/s\n",
            num(b, "workers"), num(b, "max_inflight"), num(b, "provider_concurrency"),
            num(b, "connections"), num(b, "deliveries_per_s"));
  }
  const json_t *t = json_object_get(doc, "totals");
  if (t != NULL)
    fprintf(out, "totals: enqueued %.0f, delivered %.0f, dead %.0f, lost %.0f, mock saw %.0f; "
                 "%.0f retries; %.1f deliveries/s; %.0f CPU-us per delivery; peak RSS %.1f MiB\n",
            num(t, "enqueued"), num(t, "delivered"), num(t, "dead"), num(t, "lost"),
            num(t, "mock_unique"), num(t, "retries"), num(t, "deliveries_per_s"),
            num(t, "cpu_us_per_delivery"), num(t, "peak_rss_bytes") / 1048576.0);
  const json_t *l = json_object_get(doc, "limit");
  if (l != NULL) {
    fprintf(out, "HTTP/2 limit (h2load, same mock, same run): %.0f requests/s",
            num(l, "requests_per_s"));
    if (json_object_get(l, "fraction") != NULL)
      fprintf(out, "; ours %.0f requests/s = %.1f %% of it", num(l, "ours_per_s"),
              100 * num(l, "fraction"));
    fputc('\n', out);
  }
  const json_t *cap = json_object_get(doc, "capacity");
  if (cap != NULL)
    fprintf(out, "%s\n", json_string_value(json_object_get(cap, "sentence")));
}
