/* The terminal summary: what was run, at what scale and profile; the per-cycle table (month)
 * or the grid sorted by throughput (sweep); totals; the h2load comparison; and, last, the
 * capacity sentence, so it is the line left on screen. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "report.h"
#include "report_int.h"

#define N 48 /* room for one formatted number */

static void header(const cb__doc_t *d, FILE *out) {
  char a[N], b[N];
  fprintf(out, "carteiro-bench %s, commit %s, %s\n", d->kind_name, d->commit, d->created);
  fprintf(out, "command:  %s\n", d->command);
  fprintf(out, "host:     %s CPUs, %s memory, kernel %s\n", cb__fmt_int(a, N, d->cpus),
          cb__fmt_bytes(b, N, d->mem_bytes), d->kernel);
}

static void scale_line(const cb__doc_t *d, FILE *out) {
  char pct[N], run[N], full[N];
  double invoices = 0;
  for (size_t i = 0; i < d->ncycles; i++)
    invoices += d->cycles[i].invoices;
  cb__fmt_int(run, N, invoices);
  cb__fmt_int(full, N, d->full_month_invoices);
  if (d->scale >= 1)
    fprintf(out, "full size: %s invoices in %zu cycle%s, windows at full length\n", run,
            d->ncycles, d->ncycles == 1 ? "" : "s");
  else
    fprintf(out, "scaled sample: %s %% of the month (%s of %s invoices), windows scaled alike\n",
            cb__fmt_pct(pct, N, d->scale * 100), run, full);
}

static void knobs_text(char *buf, size_t cap, const cb__knobs_t *k) {
  char w[N], m[N], p[N], c[N];
  snprintf(buf, cap, "workers %s, max_inflight %s, provider_concurrency %s, connections %s",
           cb__fmt_int(w, N, k->workers), cb__fmt_int(m, N, k->max_inflight),
           cb__fmt_int(p, N, k->provider_concurrency), cb__fmt_int(c, N, k->connections));
}

static void profile(const cb__profile_t *p, FILE *out) {
  char lat[96], t[N], r[N], e[N], knobs[256];
  fprintf(out,
          "profile:  provider latency %s; errors %s %% transient, %s %% rate-limited, %s %% "
          "permanent\n",
          cb__fmt_plat(lat, sizeof lat, &p->lat), cb__fmt_pct(t, N, p->transient * 100),
          cb__fmt_pct(r, N, p->rate_limited * 100), cb__fmt_pct(e, N, p->permanent * 100));
  fprintf(out, "          channels ");
  for (size_t i = 0; i < p->nchannels; i++)
    fprintf(out, "%s%s", i > 0 ? " + " : "", p->channels[i]);
  if (p->fallback != NULL)
    fprintf(out, ", fallback %s", p->fallback);
  else
    fprintf(out, ", no fallback");
  fprintf(out, "; %s\n", p->pdf ? "PDF attached" : "no PDF");
  for (size_t i = 0; i < p->nrates; i++) {
    const cb__rate_t *rt = &p->rates[i];
    char acc[N], rate[N], burst[N];
    fprintf(out, "%s%s %s account%s", i == 0 ? "          rates: " : "; ", rt->provider,
            cb__fmt_int(acc, N, rt->accounts), rt->accounts == 1 ? "" : "s");
    /* 0 is no limit, and a burst of 0 the daemon's default */
    if (rt->rate_per_s > 0)
      fprintf(out, " x %s/s (burst %s)", cb__fmt_int(rate, N, rt->rate_per_s),
              rt->burst > 0 ? cb__fmt_int(burst, N, rt->burst) : "default");
    else
      fputs(", no rate limit", out);
  }
  if (p->nrates > 0)
    fputc('\n', out);
  if (p->has_knobs) {
    knobs_text(knobs, sizeof knobs, &p->knobs);
    fprintf(out, "          knobs: %s\n", knobs);
  }
}

static void cycles(const cb__doc_t *d, FILE *out) {
  fprintf(out, "\n%5s %9s %8s %8s %4s %10s %6s %8s %7s %7s %7s %7s\n", "cycle", "invoices", "drain",
          "window", "met", "delivered", "dead", "retries", "p50 ms", "p90 ms", "p99 ms", "max ms");
  size_t met = 0;
  for (size_t i = 0; i < d->ncycles; i++) {
    const cb__cycle_t *c = &d->cycles[i];
    char ix[N], inv[N], dr[N], win[N], del[N], dead[N], ret[N], p50[N], p90[N], p99[N], max[N];
    met += c->window_met;
    fprintf(out, "%5s %9s %6s s %6s s %4s %10s %6s %8s %7s %7s %7s %7s\n",
            cb__fmt_int(ix, N, c->index), cb__fmt_int(inv, N, c->invoices),
            cb__fmt_dec(dr, N, c->drain_s, 1), cb__fmt_dec(win, N, c->window_s, 1),
            c->window_met ? "yes" : "NO", cb__fmt_int(del, N, c->delivered),
            cb__fmt_int(dead, N, c->dead), cb__fmt_int(ret, N, c->retries),
            cb__fmt_int(p50, N, c->lat.p50), cb__fmt_int(p90, N, c->lat.p90),
            cb__fmt_int(p99, N, c->lat.p99), cb__fmt_int(max, N, c->lat.max));
  }
  fprintf(out, "windows:  %zu of %zu met", met, d->ncycles);
  for (size_t i = 0; i < d->ncycles; i++) {
    const cb__cycle_t *c = &d->cycles[i];
    char ix[N], dr[N], late[N], win[N];
    if (!c->window_met)
      fprintf(out, "; cycle %s drained in %s s, %s s past its %s s window",
              cb__fmt_int(ix, N, c->index), cb__fmt_dec(dr, N, c->drain_s, 1),
              cb__fmt_dec(late, N, c->drain_s - c->window_s, 1),
              cb__fmt_dec(win, N, c->window_s, 1));
  }
  fputc('\n', out);
}

static void totals(const cb__totals_t *t, FILE *out) {
  char enq[N], del[N], dead[N], lost[N], uniq[N], ret[N], wall[N], rate[N], cpu[N], rss[N];
  fprintf(out, "\ntotals:   %s enqueued, %s delivered, %s dead, %s lost; %s retries in %s s\n",
          cb__fmt_int(enq, N, t->enqueued), cb__fmt_int(del, N, t->delivered),
          cb__fmt_int(dead, N, t->dead), cb__fmt_int(lost, N, t->lost),
          cb__fmt_int(ret, N, t->retries), cb__fmt_dec(wall, N, t->wall_s, 1));
  fprintf(out, "          the mock providers saw %s distinct jobs delivered\n",
          cb__fmt_int(uniq, N, t->mock_unique));
  fprintf(out, "rate:     %s deliveries/s, %s CPU-µs per delivery, peak RSS %s\n",
          cb__fmt_dec(rate, N, t->deliveries_per_s, 1), cb__fmt_int(cpu, N, t->cpu_us_per_delivery),
          cb__fmt_bytes(rss, N, t->peak_rss_bytes));
}

static void limit(const cb__doc_t *d, FILE *out) {
  const cb__limit_t *l = &d->limit;
  char rps[N], req[N], ours[N], pct[N];
  if (d->kind == CB__LIMIT) {
    fprintf(out, "\n%-9s %s requests/s (%s requests) over the same TLS HTTP/2 path\n", l->tool,
            cb__fmt_int(rps, N, l->requests_per_s), cb__fmt_int(req, N, l->requests));
    if (l->has_ours)
      fprintf(out, "carteiro: %s requests/s, %s %% of %s's rate\n",
            cb__fmt_int(ours, N, l->ours_per_s), cb__fmt_pct(pct, N, l->fraction * 100), l->tool);
    return;
  }
  char label[48];
  snprintf(label, sizeof label, "%s:", l->tool);
  if (!l->has_ours) {
    fprintf(out, "%-9s %s requests/s in the same run\n", label,
            cb__fmt_int(rps, N, l->requests_per_s));
    return;
  }
  fprintf(out, "%-9s %s requests/s in the same run; ours %s/s is %s %% of it\n", label,
          cb__fmt_int(rps, N, l->requests_per_s), cb__fmt_int(ours, N, l->ours_per_s),
          cb__fmt_pct(pct, N, l->fraction * 100));
}

static int sweep(const cb__doc_t *d, FILE *out) {
  const cb__sweep_t *s = &d->sweep;
  char lat[96], jobs[N], knobs[256], best[N];
  const cb__point_t **order = cb__sweep_by_rate(s);
  if (order == NULL)
    return CT_ENOMEM;
  fprintf(out, "sweep:    %zu settings, %s jobs each, provider latency %s\n", s->npoints,
          cb__fmt_int(jobs, N, s->jobs_per_point), cb__fmt_plat(lat, sizeof lat, &s->lat));
  fprintf(out, "\n%4s %7s %12s %11s %11s %12s %9s %7s %10s\n", "rank", "workers", "max_inflight",
          "concurrency", "connections", "deliveries/s", "CPU-µs/d", "p99 ms", "peak RSS");
  for (size_t r = 0; r < s->npoints; r++) {
    const cb__point_t *p = order[r];
    char w[N], m[N], c[N], n[N], dps[N], cpu[N], p99[N], rss[N];
    fprintf(out, "%4zu %7s %12s %11s %11s %12s %9s %7s %10s\n", r + 1,
            cb__fmt_int(w, N, p->k.workers), cb__fmt_int(m, N, p->k.max_inflight),
            cb__fmt_int(c, N, p->k.provider_concurrency), cb__fmt_int(n, N, p->k.connections),
            cb__fmt_int(dps, N, p->deliveries_per_s), cb__fmt_int(cpu, N, p->cpu_us_per_delivery),
            cb__fmt_int(p99, N, p->p99_ms), cb__fmt_bytes(rss, N, p->peak_rss_bytes));
  }
  free(order);
  knobs_text(knobs, sizeof knobs, &s->best);
  fprintf(out, "best:     %s: %s deliveries/s\n", knobs, cb__fmt_int(best, N, s->best_per_s));
  return 0;
}

static void capacity(const cb__doc_t *d, FILE *out) {
  const cb__capacity_t *c = &d->capacity;
  char sus[N], pct[N], need[N + 4], bn[160];
  /* unknown when nothing was delivered: no sustained rate to divide by */
  if (c->has_needed)
    snprintf(need, sizeof need, "%s %%", cb__fmt_pct(pct, N, c->needed_percent));
  else
    snprintf(need, sizeof need, "an unknown share");
  fprintf(out, "capacity: %s; sustained %s/s, the load needs %s of one instance; bottleneck: %s\n",
          c->fits ? "fits" : "DOES NOT FIT", cb__fmt_int(sus, N, c->sustained_per_s), need,
          cb__fmt_bottleneck(bn, sizeof bn, d));
  fprintf(out, "\n%s\n", c->sentence);
}

int cb_report_terminal(const json_t *result, FILE *out) {
  cb__doc_t d;
  char err[8];
  int rc = cb__doc_read(result, &d, err, sizeof err);
  if (rc != 0)
    return rc;
  header(&d, out);
  if (d.kind == CB__MONTH)
    scale_line(&d, out);
  if (d.has_profile)
    profile(&d.profile, out);
  if (d.kind == CB__MONTH)
    cycles(&d, out);
  if (d.kind == CB__SWEEP && (rc = sweep(&d, out)) != 0)
    goto done;
  if (d.has_totals)
    totals(&d.totals, out);
  else
    fputc('\n', out);
  if (d.has_limit)
    limit(&d, out);
  if (d.has_capacity)
    capacity(&d, out);
  if (fflush(out) != 0 || ferror(out))
    rc = CT_EIO;
done:
  cb__doc_free(&d);
  return rc;
}
