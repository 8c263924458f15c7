/* `sweep`: the same fixed-size load across a grid of knobs (worker threads, max in flight,
 * per-provider concurrency, connections per host) at one latency profile; prints the curve
 * and the setting that delivered fastest. Each point starts from an empty spool and a reset
 * mock, with the same jobs. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void remove_spool(const char *spool)
{
  char p[700];
  unlink(spool);
  snprintf(p, sizeof p, "%s-wal", spool);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", spool);
  unlink(p);
  snprintf(p, sizeof p, "%s.lock", spool);
  unlink(p);
}

int cb_sweep(cb_env_t *e, cb_profile_t *p, const cb_sweep_opts_t *o, int argc, char **argv)
{
  cb_load_ctx_t c = {.env = e, .p = p, .t0 = cb_now(), .time_limit_s = 300};
  cb_limit_t lim = {0};
  if (!o->no_limit && cb_limit_measure(e, p, o->limit_requests, &lim) != 0)
    return CB_EX_SOFTWARE;
  if (cb_mock_start(e, p, false) != 0 || cb_make_pdf_pool(&c) != 0)
    return CB_EX_SOFTWARE;
  char spool[600], jobs[600];
  cb_env_path(e, "spool.db", spool, sizeof spool);
  cb_env_path(e, "sweep.pbs.zst", jobs, sizeof jobs);
  if (cb_generate(&c, 1, o->jobs, jobs) != 0)
    return CB_EX_SOFTWARE;
  int total = o->nworkers * o->ninflight * o->nconcurrency * o->nconnections, k = 0;
  json_t *points = json_array();
  json_t *best = NULL;
  double best_rate = -1, best_req_rate = 0;
  int rc = CB_EX_SOFTWARE;
  for (int a = 0; a < o->nworkers; a++)
    for (int b = 0; b < o->ninflight; b++)
      for (int d = 0; d < o->nconcurrency; d++)
        for (int f = 0; f < o->nconnections; f++) {
          char label[64];
          snprintf(label, sizeof label, "point %d/%d", ++k, total);
          p->knobs = (cb_knobs_t){o->workers[a], o->inflight[b], o->concurrency[d],
                                  o->connections[f]};
          c.label = label;
          remove_spool(spool);
          cb_mock_reset(e);
          if (!e->quiet)
            fprintf(stderr,
                    "carteiro-bench sweep %s: workers %d, max_inflight %d, concurrency %d, "
                    "connections %d\n",
                    label, p->knobs.workers, p->knobs.max_inflight,
                    p->knobs.provider_concurrency, p->knobs.connections);
          cb_load_t l;
          if (cb_load_run(&c, spool, jobs, o->jobs, &l) != 0)
            goto out;
          double secs = l.drained_s - l.enqueued_s;
          double rate = secs > 0 ? (double)l.delivered / secs : 0;
          json_t *pt = json_pack(
              "{s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I}", "workers",
              p->knobs.workers, "max_inflight", p->knobs.max_inflight, "provider_concurrency",
              p->knobs.provider_concurrency, "connections", p->knobs.connections,
              "deliveries_per_s", rate, "cpu_us_per_delivery",
              l.delivered ? l.cpu_s * 1e6 / (double)l.delivered : 0.0, "p99_ms", l.lat_p99,
              "peak_rss_bytes", (json_int_t)l.peak_rss, "delivered", (json_int_t)l.delivered,
              "dead", (json_int_t)l.dead, "lost", (json_int_t)l.lost, "mock_unique",
              (json_int_t)l.mock_unique);
          json_array_append_new(points, pt);
          if (rate > best_rate) {
            best_rate = rate;
            best_req_rate = secs > 0 ? (double)l.requests / secs : 0;
            json_decref(best);
            best = json_pack("{s:i, s:i, s:i, s:i, s:f}", "workers", p->knobs.workers,
                             "max_inflight", p->knobs.max_inflight, "provider_concurrency",
                             p->knobs.provider_concurrency, "connections", p->knobs.connections,
                             "deliveries_per_s", rate);
          }
        }
  {
    json_t *doc = cb_result_new("sweep", argc, argv);
    json_t *pj = cb_profile_json(p);
    json_t *lat = json_incref(json_object_get(pj, "latency_ms"));
    json_object_del(pj, "knobs"); /* they vary: each point lists its own */
    json_object_set_new(doc, "profile", pj);
    json_object_set_new(doc, "sweep",
                        json_pack("{s:o, s:I, s:o, s:o}", "latency_ms", lat, "jobs_per_point",
                                  (json_int_t)o->jobs, "points", points, "best",
                                  best != NULL ? best : json_object()));
    points = best = NULL;
    if (lim.ok)
      json_object_set_new(doc, "limit", cb_limit_json(&lim, best_req_rate));
    rc = cb_result_finish(doc, o->out, o->html);
    json_decref(doc);
  }
out:
  json_decref(points);
  json_decref(best);
  unlink(jobs);
  cb_mock_stop(e);
  return rc;
}
