/* The result document (bench/SCHEMA.md, "carteiro-bench/1"), and its way out: the JSON file,
 * the report's terminal summary and its HTML page (bench/report). */
#include "bench.h"

#include "common/error.h"
#include "report.h"

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
  json_t *cpu = json_array();
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
    json_array_append_new(cpu, json_real(x->cpu_cores));
    json_array_append_new(retr, json_real(x->retries));
    json_array_append_new(dead, json_real(x->dead_total));
  }
  return json_pack("{s:f, s:o, s:o, s:o, s:o, s:o, s:o}", "interval_s", 1.0, "t_s", t,
                   "deliveries_per_s", del, "inflight", infl, "retries_per_s", retr,
                   "dead_total", dead, "cpu_cores", cpu);
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

int cb_html_write(const json_t *doc, const char *path)
{
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    fprintf(stderr, "carteiro-bench: %s: cannot create: %s\n", tmp, strerror(errno));
    return CB_EX_CANTCREAT;
  }
  int rc = cb_report_html(doc, f);
  if (fclose(f) != 0 && rc == 0)
    rc = CT_EIO;
  if (rc == 0 && rename(tmp, path) != 0)
    rc = CT_EIO;
  if (rc != 0) {
    fprintf(stderr, "carteiro-bench: %s: %s\n", path, ct_strerror(rc));
    unlink(tmp);
    return rc == CT_EINVAL ? CB_EX_DATAERR : CB_EX_IOERR;
  }
  return 0;
}

int cb_result_finish(json_t *doc, const char *out, const char *html)
{
  if (cb_result_write(doc, out) != 0)
    return CB_EX_IOERR;
  /* What the runner writes must read back in the report: a document that fails the check is
   * a fault of this program, and the JSON is kept (if asked for) to show which field. */
  char err[256];
  int rc = cb_report_check(doc, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "carteiro-bench: the result does not pass the report's check: %s\n",
            rc == CT_EINVAL ? err : ct_strerror(rc));
    return CB_EX_SOFTWARE;
  }
  if (cb_report_terminal(doc, stdout) != 0) {
    fprintf(stderr, "carteiro-bench: writing the summary failed\n");
    return CB_EX_IOERR;
  }
  return html != NULL ? cb_html_write(doc, html) : 0;
}
