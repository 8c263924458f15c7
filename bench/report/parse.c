/* Reads a carteiro-bench result document into a cb__doc_t, checking each field on the way.
 *
 * Every fault is reported by its path in the document, the way a reader would look it up:
 * "cycles[2].drain_s: missing", "series.inflight[17]: expected a non-negative number". The
 * first fault stops the read. Which sections a document must have depends on its kind (see
 * bench/SCHEMA.md): a month has cycles, series, totals and capacity; a sweep has its grid; a limit
 * run has the h2load figures. A section that is present is checked in full, required or not.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "report.h"
#include "report_int.h"

typedef struct {
  char *err;
  size_t errcap;
} ctx_t;

static int fail(ctx_t *c, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(ctx_t *c, const char *path, const char *key, const char *fmt, ...) {
  if (c->errcap == 0)
    return CT_EINVAL;
  int n = snprintf(c->err, c->errcap, "%s%s%s: ", path,
                   path[0] != '\0' && key[0] != '\0' ? "." : "", key);
  if (n < 0 || (size_t)n >= c->errcap)
    return CT_EINVAL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err + n, c->errcap - (size_t)n, fmt, ap);
  va_end(ap);
  return CT_EINVAL;
}

/* The member `key` of `obj`; a fault if missing (or null, which the schema never writes for a
 * field it requires). */
static int member(ctx_t *c, const json_t *obj, const char *path, const char *key,
                  const json_t **out) {
  *out = NULL;
  const json_t *v = json_object_get(obj, key);
  if (v == NULL || json_is_null(v))
    return fail(c, path, key, "missing");
  *out = v;
  return 0;
}

static int number_value(ctx_t *c, const json_t *v, const char *path, const char *key, bool whole,
                        double *out) {
  if (!json_is_number(v))
    return fail(c, path, key, whole ? "expected a whole number" : "expected a number");
  double d = json_number_value(v);
  if (!isfinite(d) || d < 0)
    return fail(c, path, key, "expected a non-negative number, got %g", d);
  if (whole && d != floor(d))
    return fail(c, path, key, "expected a whole number, got %g", d);
  *out = d;
  return 0;
}

static int get_num(ctx_t *c, const json_t *obj, const char *path, const char *key, double *out) {
  const json_t *v = NULL;
  int rc = member(c, obj, path, key, &v);
  return rc != 0 ? rc : number_value(c, v, path, key, false, out);
}

static int get_count(ctx_t *c, const json_t *obj, const char *path, const char *key, double *out) {
  const json_t *v = NULL;
  int rc = member(c, obj, path, key, &v);
  return rc != 0 ? rc : number_value(c, v, path, key, true, out);
}

static int get_str(ctx_t *c, const json_t *obj, const char *path, const char *key,
                   const char **out) {
  const json_t *v = NULL;
  int rc = member(c, obj, path, key, &v);
  if (rc != 0)
    return rc;
  if (!json_is_string(v))
    return fail(c, path, key, "expected a string");
  *out = json_string_value(v);
  return 0;
}

static int get_bool(ctx_t *c, const json_t *obj, const char *path, const char *key, bool *out) {
  const json_t *v = NULL;
  int rc = member(c, obj, path, key, &v);
  if (rc != 0)
    return rc;
  if (!json_is_boolean(v))
    return fail(c, path, key, "expected true or false");
  *out = json_is_true(v);
  return 0;
}

static int get_obj(ctx_t *c, const json_t *obj, const char *path, const char *key,
                   const json_t **out) {
  int rc = member(c, obj, path, key, out);
  if (rc == 0 && !json_is_object(*out))
    return fail(c, path, key, "expected an object");
  return rc;
}

static int get_arr(ctx_t *c, const json_t *obj, const char *path, const char *key,
                   const json_t **out) {
  int rc = member(c, obj, path, key, out);
  if (rc == 0 && !json_is_array(*out))
    return fail(c, path, key, "expected an array");
  return rc;
}

/* "prefix.key" (or "key" at the top) into buf, for the paths of nested objects. */
static const char *join(char *buf, size_t cap, const char *path, const char *key) {
  snprintf(buf, cap, "%s%s%s", path, path[0] != '\0' ? "." : "", key);
  return buf;
}

static const char *join_index(char *buf, size_t cap, const char *path, const char *key, size_t i) {
  snprintf(buf, cap, "%s%s%s[%zu]", path, path[0] != '\0' ? "." : "", key, i);
  return buf;
}

static bool present(const json_t *root, const char *key) {
  const json_t *v = json_object_get(root, key);
  return v != NULL && !json_is_null(v);
}

static int read_plat(ctx_t *c, const json_t *obj, const char *path, cb__plat_t *lat) {
  const json_t *l;
  char p[128];
  int rc = get_obj(c, obj, path, "latency_ms", &l);
  if (rc != 0)
    return rc;
  join(p, sizeof p, path, "latency_ms");
  memset(lat, 0, sizeof *lat);
  if (json_object_get(l, "fixed") != NULL) {
    lat->fixed = true;
    return get_num(c, l, p, "fixed", &lat->fixed_ms);
  }
  if (json_object_get(l, "p50") == NULL && json_object_get(l, "p99") == NULL)
    return fail(c, path, "latency_ms", "expected {\"fixed\": ms} or {\"p50\": ms, \"p99\": ms}");
  if ((rc = get_num(c, l, p, "p50", &lat->p50)) != 0)
    return rc;
  return get_num(c, l, p, "p99", &lat->p99);
}

static int read_knobs(ctx_t *c, const json_t *obj, const char *path, cb__knobs_t *k) {
  int rc;
  if ((rc = get_count(c, obj, path, "workers", &k->workers)) != 0 ||
      (rc = get_count(c, obj, path, "max_inflight", &k->max_inflight)) != 0 ||
      (rc = get_count(c, obj, path, "provider_concurrency", &k->provider_concurrency)) != 0 ||
      (rc = get_count(c, obj, path, "connections", &k->connections)) != 0)
    return rc;
  return 0;
}

static int read_profile(ctx_t *c, const json_t *root, cb__kind_t kind, cb__profile_t *pr) {
  const json_t *p, *e, *a, *knobs;
  const char *path = "profile";
  char sub[128];
  int rc;
  if ((rc = get_obj(c, root, "", "profile", &p)) != 0 ||
      (rc = read_plat(c, p, path, &pr->lat)) != 0)
    return rc;
  if ((rc = get_obj(c, p, path, "errors", &e)) != 0)
    return rc;
  join(sub, sizeof sub, path, "errors");
  if ((rc = get_num(c, e, sub, "transient", &pr->transient)) != 0 ||
      (rc = get_num(c, e, sub, "rate_limited", &pr->rate_limited)) != 0 ||
      (rc = get_num(c, e, sub, "permanent", &pr->permanent)) != 0)
    return rc;
  if ((rc = get_arr(c, p, path, "channels", &a)) != 0)
    return rc;
  if (json_array_size(a) == 0)
    return fail(c, path, "channels", "expected at least one channel");
  pr->nchannels = json_array_size(a);
  pr->channels = calloc(pr->nchannels, sizeof *pr->channels);
  if (pr->channels == NULL)
    return CT_ENOMEM;
  for (size_t i = 0; i < pr->nchannels; i++) {
    const json_t *s = json_array_get(a, i);
    if (!json_is_string(s))
      return fail(c, join_index(sub, sizeof sub, path, "channels", i), "", "expected a string");
    pr->channels[i] = json_string_value(s);
  }
  const json_t *fb = json_object_get(p, "fallback");
  if (fb != NULL && !json_is_null(fb) && (rc = get_str(c, p, path, "fallback", &pr->fallback)) != 0)
    return rc;
  if ((rc = get_bool(c, p, path, "pdf", &pr->pdf)) != 0 ||
      (rc = get_arr(c, p, path, "rates", &a)) != 0)
    return rc;
  pr->nrates = json_array_size(a);
  if (pr->nrates > 0) {
    pr->rates = calloc(pr->nrates, sizeof *pr->rates);
    if (pr->rates == NULL)
      return CT_ENOMEM;
  }
  for (size_t i = 0; i < pr->nrates; i++) {
    const json_t *r = json_array_get(a, i);
    cb__rate_t *rt = &pr->rates[i];
    join_index(sub, sizeof sub, path, "rates", i);
    if (!json_is_object(r))
      return fail(c, sub, "", "expected an object");
    if ((rc = get_str(c, r, sub, "provider", &rt->provider)) != 0 ||
        (rc = get_count(c, r, sub, "accounts", &rt->accounts)) != 0 ||
        (rc = get_num(c, r, sub, "rate_per_s", &rt->rate_per_s)) != 0 ||
        (rc = get_num(c, r, sub, "burst", &rt->burst)) != 0)
      return rc;
  }
  /* A sweep varies the knobs, so its profile has none (each point lists its own). */
  if (!present(p, "knobs") && kind == CB__SWEEP)
    return 0;
  if ((rc = get_obj(c, p, path, "knobs", &knobs)) != 0)
    return rc;
  pr->has_knobs = true;
  return read_knobs(c, knobs, "profile.knobs", &pr->knobs);
}

static int read_cycles(ctx_t *c, const json_t *root, cb__doc_t *d) {
  const json_t *a;
  char p[64], lp[80];
  int rc = get_arr(c, root, "", "cycles", &a);
  if (rc != 0)
    return rc;
  if (json_array_size(a) == 0)
    return fail(c, "", "cycles", "expected at least one cycle");
  d->ncycles = json_array_size(a);
  d->cycles = calloc(d->ncycles, sizeof *d->cycles);
  if (d->cycles == NULL)
    return CT_ENOMEM;
  for (size_t i = 0; i < d->ncycles; i++) {
    const json_t *o = json_array_get(a, i), *l;
    cb__cycle_t *cy = &d->cycles[i];
    join_index(p, sizeof p, "", "cycles", i);
    if (!json_is_object(o))
      return fail(c, p, "", "expected an object");
    if ((rc = get_count(c, o, p, "index", &cy->index)) != 0 ||
        (rc = get_count(c, o, p, "invoices", &cy->invoices)) != 0 ||
        (rc = get_num(c, o, p, "start_s", &cy->start_s)) != 0 ||
        (rc = get_num(c, o, p, "window_s", &cy->window_s)) != 0 ||
        (rc = get_num(c, o, p, "deadline_s", &cy->deadline_s)) != 0 ||
        (rc = get_num(c, o, p, "enqueued_s", &cy->enqueued_s)) != 0 ||
        (rc = get_num(c, o, p, "drained_s", &cy->drained_s)) != 0 ||
        (rc = get_num(c, o, p, "drain_s", &cy->drain_s)) != 0 ||
        (rc = get_bool(c, o, p, "window_met", &cy->window_met)) != 0 ||
        (rc = get_count(c, o, p, "delivered", &cy->delivered)) != 0 ||
        (rc = get_count(c, o, p, "dead", &cy->dead)) != 0 ||
        (rc = get_count(c, o, p, "retries", &cy->retries)) != 0 ||
        (rc = get_obj(c, o, p, "latency_ms", &l)) != 0)
      return rc;
    join(lp, sizeof lp, p, "latency_ms");
    if ((rc = get_num(c, l, lp, "p50", &cy->lat.p50)) != 0 ||
        (rc = get_num(c, l, lp, "p90", &cy->lat.p90)) != 0 ||
        (rc = get_num(c, l, lp, "p99", &cy->lat.p99)) != 0 ||
        (rc = get_num(c, l, lp, "max", &cy->lat.max)) != 0 ||
        (rc = get_num(c, o, p, "deliveries_per_s", &cy->deliveries_per_s)) != 0)
      return rc;
  }
  return 0;
}

/* One series array: exactly `n` non-negative numbers (n = 0 takes the length from this one). */
static int read_values(ctx_t *c, const json_t *obj, const char *path, const char *key, size_t *n,
                       const char *n_from, double **out) {
  const json_t *a;
  char p[128];
  int rc = get_arr(c, obj, path, key, &a);
  if (rc != 0)
    return rc;
  size_t len = json_array_size(a);
  if (*n == 0) {
    if (len == 0)
      return fail(c, path, key, "expected at least one value");
    *n = len;
  } else if (len != *n) {
    return fail(c, path, key, "%zu values, expected %zu (as many as %s)", len, *n, n_from);
  }
  double *v = malloc(len * sizeof *v);
  if (v == NULL)
    return CT_ENOMEM;
  for (size_t i = 0; i < len; i++) {
    rc = number_value(c, json_array_get(a, i), join_index(p, sizeof p, path, key, i), "", false,
                      &v[i]);
    if (rc != 0) {
      free(v);
      return rc;
    }
  }
  *out = v;
  return 0;
}

static int read_series(ctx_t *c, const json_t *root, cb__series_t *s) {
  const json_t *o, *dps;
  const char *path = "series";
  const char *from = "series.t_s";
  int rc;
  if ((rc = get_obj(c, root, "", "series", &o)) != 0 ||
      (rc = get_num(c, o, path, "interval_s", &s->interval_s)) != 0 ||
      (rc = read_values(c, o, path, "t_s", &s->n, from, &s->t)) != 0)
    return rc;
  for (size_t i = 1; i < s->n; i++)
    if (s->t[i] < s->t[i - 1]) {
      char p[64];
      return fail(c, join_index(p, sizeof p, path, "t_s", i), "",
                  "time goes backwards (%g after %g)", s->t[i], s->t[i - 1]);
    }
  if ((rc = get_obj(c, o, path, "deliveries_per_s", &dps)) != 0)
    return rc;
  if (json_object_size(dps) == 0)
    return fail(c, path, "deliveries_per_s", "expected at least one channel");
  s->channels = calloc(json_object_size(dps), sizeof *s->channels);
  if (s->channels == NULL)
    return CT_ENOMEM;
  const char *name;
  const json_t *v;
  json_object_foreach((json_t *)dps, name, v) {
    cb__channel_t *ch = &s->channels[s->nchannels];
    ch->name = name;
    if ((rc = read_values(c, dps, "series.deliveries_per_s", name, &s->n, from, &ch->v)) != 0)
      return rc;
    s->nchannels++;
  }
  if ((rc = read_values(c, o, path, "inflight", &s->n, from, &s->inflight)) != 0 ||
      (rc = read_values(c, o, path, "retries_per_s", &s->n, from, &s->retries_per_s)) != 0 ||
      (rc = read_values(c, o, path, "dead_total", &s->n, from, &s->dead_total)) != 0)
    return rc;
  return 0;
}

static int read_totals(ctx_t *c, const json_t *root, cb__totals_t *t) {
  const json_t *o;
  const char *p = "totals";
  int rc;
  if ((rc = get_obj(c, root, "", "totals", &o)) != 0 ||
      (rc = get_count(c, o, p, "enqueued", &t->enqueued)) != 0 ||
      (rc = get_count(c, o, p, "delivered", &t->delivered)) != 0 ||
      (rc = get_count(c, o, p, "dead", &t->dead)) != 0 ||
      (rc = get_count(c, o, p, "lost", &t->lost)) != 0 ||
      (rc = get_count(c, o, p, "mock_unique", &t->mock_unique)) != 0 ||
      (rc = get_count(c, o, p, "retries", &t->retries)) != 0 ||
      (rc = get_num(c, o, p, "wall_s", &t->wall_s)) != 0 ||
      (rc = get_num(c, o, p, "deliveries_per_s", &t->deliveries_per_s)) != 0 ||
      (rc = get_num(c, o, p, "cpu_us_per_delivery", &t->cpu_us_per_delivery)) != 0 ||
      (rc = get_num(c, o, p, "peak_rss_bytes", &t->peak_rss_bytes)) != 0)
    return rc;
  return 0;
}

static int read_limit(ctx_t *c, const json_t *root, cb__limit_t *l) {
  const json_t *o;
  const char *p = "limit";
  int rc;
  if ((rc = get_obj(c, root, "", "limit", &o)) != 0 ||
      (rc = get_str(c, o, p, "tool", &l->tool)) != 0 ||
      (rc = get_num(c, o, p, "requests_per_s", &l->requests_per_s)) != 0 ||
      (rc = get_count(c, o, p, "requests", &l->requests)) != 0)
    return rc;
  /* Our rate comes with a load of ours: absent from a `limit` run, which has none; the two
   * figures go together. */
  if (!present(o, "ours_per_s") && !present(o, "fraction"))
    return 0;
  if ((rc = get_num(c, o, p, "ours_per_s", &l->ours_per_s)) != 0 ||
      (rc = get_num(c, o, p, "fraction", &l->fraction)) != 0)
    return rc;
  l->has_ours = true;
  return 0;
}

static int read_sweep(ctx_t *c, const json_t *root, cb__sweep_t *s) {
  const json_t *o, *a, *best;
  char p[64];
  int rc;
  if ((rc = get_obj(c, root, "", "sweep", &o)) != 0 ||
      (rc = read_plat(c, o, "sweep", &s->lat)) != 0 ||
      (rc = get_count(c, o, "sweep", "jobs_per_point", &s->jobs_per_point)) != 0 ||
      (rc = get_arr(c, o, "sweep", "points", &a)) != 0)
    return rc;
  if (json_array_size(a) == 0)
    return fail(c, "sweep", "points", "expected at least one point");
  s->npoints = json_array_size(a);
  s->points = calloc(s->npoints, sizeof *s->points);
  if (s->points == NULL)
    return CT_ENOMEM;
  for (size_t i = 0; i < s->npoints; i++) {
    const json_t *pt = json_array_get(a, i);
    cb__point_t *q = &s->points[i];
    join_index(p, sizeof p, "sweep", "points", i);
    if (!json_is_object(pt))
      return fail(c, p, "", "expected an object");
    if ((rc = read_knobs(c, pt, p, &q->k)) != 0 ||
        (rc = get_num(c, pt, p, "deliveries_per_s", &q->deliveries_per_s)) != 0 ||
        (rc = get_num(c, pt, p, "cpu_us_per_delivery", &q->cpu_us_per_delivery)) != 0 ||
        (rc = get_num(c, pt, p, "p99_ms", &q->p99_ms)) != 0 ||
        (rc = get_num(c, pt, p, "peak_rss_bytes", &q->peak_rss_bytes)) != 0)
      return rc;
  }
  if ((rc = get_obj(c, o, "sweep", "best", &best)) != 0 ||
      (rc = read_knobs(c, best, "sweep.best", &s->best)) != 0)
    return rc;
  return get_num(c, best, "sweep.best", "deliveries_per_s", &s->best_per_s);
}

static int read_capacity(ctx_t *c, const json_t *root, cb__capacity_t *cap) {
  const json_t *o, *b;
  const char *p = "capacity";
  int rc;
  if ((rc = get_obj(c, root, "", "capacity", &o)) != 0 ||
      (rc = get_num(c, o, p, "sustained_per_s", &cap->sustained_per_s)) != 0 ||
      (rc = get_bool(c, o, p, "fits", &cap->fits)) != 0)
    return rc;
  /* null when nothing was delivered: no rate to divide by (the key itself is required) */
  const json_t *np = json_object_get(o, "needed_percent");
  if (np == NULL || !json_is_null(np)) {
    if ((rc = get_num(c, o, p, "needed_percent", &cap->needed_percent)) != 0)
      return rc;
    cap->has_needed = true;
  }
  b = json_object_get(o, "bottleneck");
  if (b != NULL && !json_is_null(b) && (rc = get_str(c, o, p, "bottleneck", &cap->bottleneck)) != 0)
    return rc;
  return get_str(c, o, p, "sentence", &cap->sentence);
}

static int read_doc(ctx_t *c, const json_t *root, cb__doc_t *d) {
  const char *schema = NULL; /* set by get_str on success; -O3 cannot tell */
  const json_t *host;
  int rc;
  if (!json_is_object(root))
    return fail(c, "", "(document)", "expected a JSON object");
  if ((rc = get_str(c, root, "", "schema", &schema)) != 0)
    return rc;
  if (strcmp(schema, "carteiro-bench/1") != 0)
    return fail(c, "", "schema", "this report reads \"carteiro-bench/1\", not \"%.60s\"", schema);
  if ((rc = get_str(c, root, "", "kind", &d->kind_name)) != 0)
    return rc;
  if (strcmp(d->kind_name, "month") == 0)
    d->kind = CB__MONTH;
  else if (strcmp(d->kind_name, "sweep") == 0)
    d->kind = CB__SWEEP;
  else if (strcmp(d->kind_name, "limit") == 0)
    d->kind = CB__LIMIT;
  else
    return fail(c, "", "kind", "expected \"month\", \"sweep\" or \"limit\", not \"%.40s\"",
                d->kind_name);
  if ((rc = get_str(c, root, "", "created", &d->created)) != 0 ||
      (rc = get_str(c, root, "", "commit", &d->commit)) != 0 ||
      (rc = get_str(c, root, "", "command", &d->command)) != 0 ||
      (rc = get_obj(c, root, "", "host", &host)) != 0 ||
      (rc = get_count(c, host, "host", "cpus", &d->cpus)) != 0 ||
      (rc = get_num(c, host, "host", "mem_bytes", &d->mem_bytes)) != 0 ||
      (rc = get_str(c, host, "host", "kernel", &d->kernel)) != 0)
    return rc;

  bool month = d->kind == CB__MONTH;
  if (month) {
    if ((rc = get_num(c, root, "", "scale", &d->scale)) != 0 ||
        (rc = get_count(c, root, "", "full_month_invoices", &d->full_month_invoices)) != 0)
      return rc;
    if (d->scale <= 0 || d->scale > 1)
      return fail(c, "", "scale", "expected a fraction above 0 and at most 1, got %g", d->scale);
  }
  d->has_profile = month || present(root, "profile");
  if (d->has_profile && (rc = read_profile(c, root, d->kind, &d->profile)) != 0)
    return rc;
  if (month && (rc = read_cycles(c, root, d)) != 0)
    return rc;
  d->has_series = month || present(root, "series");
  if (d->has_series && (rc = read_series(c, root, &d->series)) != 0)
    return rc;
  d->has_totals = month || present(root, "totals");
  if (d->has_totals && (rc = read_totals(c, root, &d->totals)) != 0)
    return rc;
  d->has_limit = d->kind == CB__LIMIT || present(root, "limit");
  if (d->has_limit && (rc = read_limit(c, root, &d->limit)) != 0)
    return rc;
  if (d->kind == CB__SWEEP && (rc = read_sweep(c, root, &d->sweep)) != 0)
    return rc;
  d->has_capacity = month || present(root, "capacity");
  if (d->has_capacity && (rc = read_capacity(c, root, &d->capacity)) != 0)
    return rc;
  return 0;
}

int cb__doc_read(const json_t *result, cb__doc_t *doc, char *err, size_t errcap) {
  ctx_t c = {err, errcap};
  if (errcap > 0)
    err[0] = '\0';
  memset(doc, 0, sizeof *doc);
  int rc = read_doc(&c, result, doc);
  if (rc != 0) {
    if (rc == CT_ENOMEM && errcap > 0)
      snprintf(err, errcap, "%s", ct_strerror(rc));
    cb__doc_free(doc);
  }
  return rc;
}

void cb__doc_free(cb__doc_t *d) {
  free(d->profile.channels);
  free(d->profile.rates);
  free(d->cycles);
  free(d->series.t);
  for (size_t i = 0; i < d->series.nchannels; i++)
    free(d->series.channels[i].v);
  free(d->series.channels);
  free(d->series.inflight);
  free(d->series.retries_per_s);
  free(d->series.dead_total);
  free(d->sweep.points);
  memset(d, 0, sizeof *d);
}

int cb_report_check(const json_t *result, char *err, size_t errcap) {
  cb__doc_t d;
  int rc = cb__doc_read(result, &d, err, errcap);
  if (rc == 0)
    cb__doc_free(&d);
  return rc;
}
