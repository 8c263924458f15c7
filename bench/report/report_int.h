/* Internals of the bench report, shared by its files: the result document read into plain
 * structs (parse.c), number formatting, and series downsampling. Strings in a cb__doc_t point
 * into the json_t it was read from, which must outlive it. */
#ifndef CB_REPORT_INT_H
#define CB_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

typedef enum { CB__MONTH, CB__SWEEP, CB__LIMIT } cb__kind_t;

typedef struct {
  double p50, p90, p99, max;
} cb__lat_t;

typedef struct {
  double workers, max_inflight, provider_concurrency, connections;
} cb__knobs_t;

typedef struct {
  double index, invoices, delivered, dead, retries;
  double start_s, window_s, deadline_s, enqueued_s, drained_s, drain_s, deliveries_per_s;
  bool window_met;
  cb__lat_t lat;
} cb__cycle_t;

typedef struct {
  const char *name;
  double *v;
} cb__channel_t;

typedef struct {
  size_t n;
  double interval_s;
  double *t;
  size_t nchannels;
  cb__channel_t *channels;
  double *inflight, *retries_per_s, *dead_total;
} cb__series_t;

typedef struct {
  const char *provider;
  double accounts, rate_per_s, burst;
} cb__rate_t;

/* Provider latency: either fixed, or a distribution given by p50 and p99. */
typedef struct {
  bool fixed;
  double fixed_ms, p50, p99;
} cb__plat_t;

typedef struct {
  cb__plat_t lat;
  double transient, rate_limited, permanent;
  size_t nchannels;
  const char **channels;
  const char *fallback; /* NULL when absent */
  bool pdf;
  size_t nrates;
  cb__rate_t *rates;
  bool has_knobs; /* absent in a sweep: each point has its own */
  cb__knobs_t knobs;
} cb__profile_t;

typedef struct {
  cb__knobs_t k;
  double deliveries_per_s, cpu_us_per_delivery, p99_ms, peak_rss_bytes;
} cb__point_t;

typedef struct {
  cb__plat_t lat;
  double jobs_per_point;
  size_t npoints;
  cb__point_t *points;
  cb__knobs_t best;
  double best_per_s;
} cb__sweep_t;

typedef struct {
  double enqueued, delivered, dead, lost, mock_unique, retries;
  double wall_s, deliveries_per_s, cpu_us_per_delivery, peak_rss_bytes;
} cb__totals_t;

typedef struct {
  const char *tool;
  double requests_per_s, requests;
  bool has_ours; /* false in a `limit` run, which runs the load tool only */
  double ours_per_s, fraction;
} cb__limit_t;

typedef struct {
  double sustained_per_s, needed_percent;
  bool has_needed; /* false when needed_percent is null: nothing delivered */
  bool fits;
  const char *bottleneck; /* NULL when null or absent */
  const char *sentence;
} cb__capacity_t;

typedef struct {
  cb__kind_t kind;
  const char *kind_name, *created, *commit, *command;
  double cpus, mem_bytes;
  const char *kernel;
  double scale, full_month_invoices; /* month */
  bool has_profile, has_totals, has_limit, has_capacity, has_series;
  cb__profile_t profile;
  size_t ncycles;
  cb__cycle_t *cycles;
  cb__series_t series;
  cb__totals_t totals;
  cb__limit_t limit;
  cb__sweep_t sweep;
  cb__capacity_t capacity;
} cb__doc_t;

/* Reads and checks `result` into `doc`. Returns 0; or CT_EINVAL with the field and the fault
 * in `err`, or CT_ENOMEM; `doc` then holds nothing to free. */
int cb__doc_read(const json_t *result, cb__doc_t *doc, char *err, size_t errcap);
void cb__doc_free(cb__doc_t *doc);

/* Numbers for people. "24,000" (rounded to a whole number); "41.7" with `decimals` digits and
 * thousands separators; a percentage without trailing zeros ("1", "0.5", "16.1"); a size in
 * MiB or GiB ("93.5 MiB"). Each writes into `buf` and returns it. */
const char *cb__fmt_int(char *buf, size_t cap, double v);
const char *cb__fmt_dec(char *buf, size_t cap, double v, int decimals);
const char *cb__fmt_pct(char *buf, size_t cap, double percent);
const char *cb__fmt_bytes(char *buf, size_t cap, double bytes);

/* The run's bottleneck for people: "none found" when it names none; the in-flight cap with
 * the max_inflight it ran with ("in-flight cap (max_inflight 2,000)") when the profile has
 * knobs; else as the document says. Writes into `buf` and returns it. */
const char *cb__fmt_bottleneck(char *buf, size_t cap, const cb__doc_t *d);

/* Reduces the n points (x[i], y[i]) to at most `max` points by splitting them into `max`
 * equal buckets and keeping the point with the largest y of each, so peaks survive (a rate's
 * burst, the in-flight high-water mark; a cumulative count keeps its last value, which is its
 * largest). Writes to ox/oy (room for min(n, max) points) and returns the count. */
size_t cb__downsample_max(const double *x, const double *y, size_t n, size_t max, double *ox,
                          double *oy);

/* The sweep's points by throughput, highest first, ties in the document's order: a new array
 * of pointers into s->points (free() it), or NULL when out of memory. */
const cb__point_t **cb__sweep_by_rate(const cb__sweep_t *s);

/* Provider latency described in words: "fixed 100 ms" or "p50 150 ms, p99 800 ms". */
const char *cb__fmt_plat(char *buf, size_t cap, const cb__plat_t *lat);

#endif
