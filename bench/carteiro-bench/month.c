/* `month`: a month of invoices in billing cycles, each to be delivered inside its window.
 *
 * Each cycle is generated (not timed), then enqueued at once as the billing platform would
 * hand it over, and the real daemon delivers it to the mock providers until the spool is
 * drained. The cycle's clock starts when its enqueue starts. Cycles run back to back: the idle
 * time between real cycles is skipped. With --scale S the invoices per cycle and the window
 * lengths are both multiplied by S, so the rate a window needs is the same as in the full
 * month; per-job fixed delays (latency tails, the WhatsApp recipient gap, backoff) weigh more
 * in a short window, so a scaled run is, if anything, pessimistic about windows.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Which resource held back a cycle, from its busy part (load.c): the deliveries' own limits
 * first, then the machine; NULL when none of these bound it.
 *  - a provider's rate limit, when the median requests/s to its channel reached 90 % of its
 *    accounts x rate: nothing on this side would go faster;
 *  - the CPU, when it was saturated for at least 30 % of the busy seconds: the daemon used
 *    80 % of the cores it can use (cb_usable_cores), or the machine as a whole was 90 % busy
 *    with the daemon using at least half a core (another process took the rest: on a shared
 *    machine that is still the CPU). Per second, not on average: a cycle with PDFs protects
 *    every document first and then waits on the providers, and the average hides the first
 *    part. With PDFs the work that fills the CPU is protecting them (an AES-256 key setup of
 *    ~7 ms per document and channel, against a fraction of a millisecond for the rest of a
 *    delivery), so it is named for that;
 *  - the in-flight cap, when jobs waited to be taken for at least half of the busy seconds
 *    and the median in flight while they waited was 95 % of max_inflight (the gauge counts
 *    leased jobs holding a slot, not tasks lent to a take nor jobs waiting out a recipient
 *    gap). It can bind a run that meets every window: the full-size bank cycle of
 *    2026-11-24 had its jobs in flight pinned at the 2,000 cap while the CPU was half idle
 *    (the recipient gap held a slot then), and said "none found".
 * The first cycle that missed its window, when one did, names the run's bottleneck, and the
 * spool when none of these bound it (taking, settling and committing jobs); when every
 * window was met, the first cycle one of these bound names it, and else there is none. */
static const char *limit_of(const cb_profile_t *p, const cb_load_t *l, char *buf, size_t cap)
{
  for (int c = 0; c < CB_NCHANNELS; c++) {
    if (p->rates[c].rate <= 0)
      continue;
    int accounts = p->rates[c].accounts > 0 ? p->rates[c].accounts : 1;
    if (l->req_rate_median[c] >= 0.9 * accounts * p->rates[c].rate) {
      snprintf(buf, cap, "provider rate limit (%s)", cb_channel_names[c]);
      return buf;
    }
  }
  if (l->cpu_saturated_share >= 0.3)
    return p->pdf ? "documents (PDF protection, CPU)" : "CPU";
  if (l->waiting_share >= 0.5 && l->inflight_median >= 0.95 * p->knobs.max_inflight)
    return "in-flight cap";
  return NULL;
}

static const char *bottleneck(const cb_profile_t *p, const cb_load_t *l, char *buf, size_t cap)
{
  const char *b = limit_of(p, l, buf, cap);
  return b != NULL ? b : "spool";
}

int cb_month(cb_env_t *e, cb_profile_t *p, const cb_month_opts_t *o, int argc, char **argv)
{
  uint64_t per_cycle = (uint64_t)llround((double)o->cycle_invoices * o->scale);
  if (per_cycle == 0)
    per_cycle = 1;
  double window_s = o->window_h * 3600.0 * o->scale;
  uint64_t full_month = o->cycle_invoices * (uint64_t)o->cycles;
  cb_series_t series = {0};
  cb_load_ctx_t c = {.env = e, .p = p, .t0 = cb_now(), .series = &series};
  if (!e->quiet)
    fprintf(stderr,
            "carteiro-bench month: %d cycles of %llu invoices, window %.1f s each (scale %g of "
            "%llu invoices in cycles of %.1f h); idle time between cycles is skipped\n",
            o->cycles, (unsigned long long)per_cycle, window_s, o->scale,
            (unsigned long long)full_month, o->window_h);
  int rc = CB_EX_SOFTWARE;
  json_t *doc = NULL;
  cb_limit_t lim = {0};
  if (!o->no_limit && cb_limit_measure(e, p, o->limit_requests, &lim) != 0)
    return CB_EX_SOFTWARE;
  if (cb_mock_start(e, p, false) != 0 || cb_make_pdf_pool(&c) != 0)
    return CB_EX_SOFTWARE;

  char spool[600], jobs[600];
  cb_env_path(e, "spool.db", spool, sizeof spool);
  cb_env_path(e, "cycle.pbs.zst", jobs, sizeof jobs);
  json_t *cycles = json_array();
  cb_load_t tot = {0};
  double busy_s = 0, cpu_s = 0, steady_s = 0, steady_delivered = 0;
  uint64_t peak_rss = 0, requests = 0;
  int missed = -1;
  cb_load_t missed_load = {0};
  char bound_buf[96];
  const char *bound = NULL; /* what held back the first cycle something held back */
  for (int k = 0; k < o->cycles; k++) {
    char label[64];
    snprintf(label, sizeof label, "cycle %d/%d", k + 1, o->cycles);
    c.label = label;
    c.window_s = window_s;
    c.time_limit_s = 3 * window_s + 60;
    if (cb_generate(&c, 1 + (uint64_t)k * per_cycle, per_cycle, jobs) != 0)
      goto out;
    cb_load_t l;
    if (cb_load_run(&c, spool, jobs, per_cycle, &l) != 0)
      goto out;
    unlink(jobs);
    double drain_s = l.drained_s - l.start_s;
    double deadline = l.start_s + window_s;
    bool met = l.lost == 0 && !l.timed_out && l.drained_s <= deadline;
    if (!met && missed < 0) {
      missed = k;
      missed_load = l;
    }
    if (bound == NULL)
      bound = limit_of(p, &l, bound_buf, sizeof bound_buf);
    json_array_append_new(
        cycles,
        json_pack("{s:i, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:b, s:I, s:I, s:I, s:I, "
                  "s:{s:f, s:f, s:f, s:f}, s:f, s:f, s:I}",
                  "index", k, "invoices", (json_int_t)l.enqueued, "start_s", l.start_s,
                  "window_s", window_s, "deadline_s", deadline, "enqueued_s", l.enqueued_s,
                  "drained_s", l.drained_s, "drain_s", drain_s, "window_met", met, "delivered",
                  (json_int_t)l.delivered, "dead", (json_int_t)l.dead, "lost",
                  (json_int_t)l.lost, "retries", (json_int_t)l.retries, "latency_ms", "p50",
                  l.lat_p50, "p90", l.lat_p90, "p99", l.lat_p99, "max", l.lat_max,
                  "deliveries_per_s", drain_s > 0 ? (double)l.delivered / drain_s : 0.0,
                  "cpu_us_per_delivery", l.delivered ? l.cpu_s * 1e6 / (double)l.delivered : 0.0,
                  "peak_rss_bytes", (json_int_t)l.peak_rss));
    json_t *cj = json_array_get(cycles, (size_t)k);
    json_object_set_new(cj, "mock_unique", json_integer((json_int_t)l.mock_unique));
    json_object_set_new(cj, "busy", json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "s", l.busy_s,
                                              "cpu_cores", l.busy_cpu_cores, "host_busy",
                                              l.host_busy, "cpu_saturated_share",
                                              l.cpu_saturated_share, "waiting_share",
                                              l.waiting_share, "inflight_median",
                                              l.inflight_median));
    if (!e->quiet)
      fprintf(stderr,
              "  cycle %d/%d: %llu delivered, %llu dead, %llu lost in %.1f s (window %.1f s: "
              "%s), p99 %.0f ms\n",
              k + 1, o->cycles, (unsigned long long)l.delivered, (unsigned long long)l.dead,
              (unsigned long long)l.lost, drain_s, window_s, met ? "met" : "MISSED",
              l.lat_p99);
    tot.enqueued += l.enqueued;
    tot.delivered += l.delivered;
    tot.dead += l.dead;
    tot.lost += l.lost;
    tot.retries += l.retries;
    tot.mock_unique += l.mock_unique;
    busy_s += drain_s;
    steady_s += l.steady_s;
    steady_delivered += l.steady_delivered;
    cpu_s += l.cpu_s;
    requests += l.requests;
    if (l.peak_rss > peak_rss)
      peak_rss = l.peak_rss;
  }

  doc = cb_result_new("month", argc, argv);
  json_object_set_new(doc, "scale", json_real(o->scale));
  json_object_set_new(doc, "full_month_invoices", json_integer((json_int_t)full_month));
  json_object_set_new(doc, "idle_between_cycles", json_string("skipped"));
  json_object_set_new(doc, "profile", cb_profile_json(p));
  json_object_set_new(doc, "cycles", cycles);
  cycles = NULL;
  json_object_set_new(doc, "series", cb_series_json(&series));
  double wall_s = cb_now() - c.t0;
  double average = busy_s > 0 ? (double)tot.delivered / busy_s : 0;
  /* What one instance sustains is the steady rate, once deliveries flow: a scaled cycle is
   * short enough for the start (daemon start, first latency, recipient gap) to weigh on the
   * average. Too few samples (cycles of a second or two): the average stands in. */
  double sustained = steady_s >= 5 ? steady_delivered / steady_s : average;
  json_object_set_new(
      doc, "totals",
      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:I, s:f, s:I}", "enqueued",
                (json_int_t)tot.enqueued, "delivered", (json_int_t)tot.delivered, "dead",
                (json_int_t)tot.dead, "lost", (json_int_t)tot.lost, "mock_unique",
                (json_int_t)tot.mock_unique, "retries", (json_int_t)tot.retries, "wall_s",
                wall_s, "deliveries_per_s", average, "cpu_us_per_delivery",
                tot.delivered ? cpu_s * 1e6 / (double)tot.delivered : 0.0, "peak_rss_bytes",
                (json_int_t)peak_rss, "busy_s", busy_s, "provider_requests",
                (json_int_t)requests));
  if (lim.ok)
    json_object_set_new(doc, "limit", cb_limit_json(&lim, busy_s > 0 ? requests / busy_s : 0));

  /* capacity: what one instance sustains here, and the share of it the month needs */
  double need_rate = (double)full_month / ((double)o->cycles * o->window_h * 3600.0);
  double needed = sustained > 0 ? 100.0 * need_rate / sustained : INFINITY;
  bool fits = missed < 0;
  bool fits_by_rate = sustained >= need_rate;
  char bbuf[96], sentence[768], note[320] = "", cycles_text[64];
  const char *b = fits ? bound : bottleneck(p, &missed_load, bbuf, sizeof bbuf);
  snprintf(cycles_text, sizeof cycles_text, "%d cycle%s of %g hour%s", o->cycles,
           o->cycles == 1 ? "" : "s", o->window_h, o->window_h == 1 ? "" : "s");
  /* A scaled run says so, and when its short windows were missed by their fixed start only,
   * what the steady rate says of the full month. */
  if (o->scale < 1) {
    size_t n = (size_t)snprintf(note, sizeof note, " (measured on a %g scaled sample", o->scale);
    if (!fits && fits_by_rate && n < sizeof note)
      n += (size_t)snprintf(note + n, sizeof note - n,
                            "; by its steady rate alone the full month would need %.1f %% of "
                            "one instance: a scaled window is short next to the fixed start of "
                            "each cycle",
                            needed);
    if (n < sizeof note)
      snprintf(note + n, sizeof note - n, ")");
  }
  if (fits && b != NULL)
    snprintf(sentence, sizeof sentence,
             "At this profile one instance sustains %.0f deliveries/s; a month of %llu invoices "
             "in %s needs %.1f %% of one instance%s; what held it back: %s.",
             sustained, (unsigned long long)full_month, cycles_text, needed, note, b);
  else if (fits)
    snprintf(sentence, sizeof sentence,
             "At this profile one instance sustains %.0f deliveries/s; a month of %llu invoices "
             "in %s needs %.1f %% of one instance%s.",
             sustained, (unsigned long long)full_month, cycles_text, needed, note);
  else
    snprintf(sentence, sizeof sentence,
             "At this profile one instance sustains %.0f deliveries/s; a month of %llu invoices "
             "in %s does not fit (cycle %d of %d missed its window); the bottleneck was %s%s.",
             sustained, (unsigned long long)full_month, cycles_text, missed + 1, o->cycles, b,
             note);
  /* needed_percent is null when nothing was delivered: there is no rate to divide by */
  json_t *capj = json_pack("{s:f, s:b, s:b, s:o, s:f, s:s}", "sustained_per_s", sustained,
                           "fits", fits, "fits_by_rate", fits_by_rate, "needed_percent",
                           isfinite(needed) ? json_real(needed) : json_null(), "needed_per_s",
                           need_rate, "sentence", sentence);
  json_object_set_new(capj, "bottleneck", b != NULL ? json_string(b) : json_null());
  json_object_set_new(doc, "capacity", capj);
  rc = cb_result_finish(doc, o->out, o->html);
out:
  json_decref(cycles);
  json_decref(doc);
  free(series.v);
  cb_mock_stop(e);
  return rc;
}
