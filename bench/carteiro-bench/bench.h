/* carteiro-bench: does a month of invoices fit on this machine, with how much room, and which
 * knob to turn?
 *
 * The bench drives the real programs, never a model of them: `gen-invoices` makes synthetic
 * jobs, `carteiro enqueue` stores them, `carteiro run --drain` delivers them over TLS/HTTP2 to
 * `mock-provider` on 127.0.0.1, and `h2load` measures what this machine's HTTP/2 stack can do
 * against the same mock in the same run. While the daemon runs, its /metrics (and the mock's
 * /stats) are polled once a second for the time series; after each run the spool is opened
 * read-only for exact per-job figures (state, enqueue-to-delivered latency).
 *
 * Files: main.c (subcommands, options, profiles), env.c (scratch directory, processes, the
 * mock, HTTP polling), load.c (one load: config, generate, enqueue, run, sample, measure),
 * month.c, sweep.c, limit.c (the subcommands), result.c (the JSON document of bench/SCHEMA.md,
 * checked and rendered by the report library in bench/report).
 */
#ifndef CB_BENCH_H
#define CB_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Exit codes, as sysexits.h */
#define CB_EX_USAGE 64
#define CB_EX_DATAERR 65
#define CB_EX_NOINPUT 66
#define CB_EX_SOFTWARE 70
#define CB_EX_CANTCREAT 73
#define CB_EX_IOERR 74

enum { CB_WHATSAPP, CB_SMS, CB_EMAIL, CB_NCHANNELS };
extern const char *const cb_channel_names[CB_NCHANNELS];

typedef struct {
  int workers;
  int max_inflight;
  int provider_concurrency; /* max_concurrency of every provider account */
  int connections;          /* max_connections per worker and host */
} cb_knobs_t;

typedef struct {
  int accounts;   /* [provider.*] sections for the channel; a WhatsApp account is a number */
  double rate;    /* messages/s per account, 0 = unlimited */
  double burst;   /* token bucket depth, 0 = the daemon's default */
} cb_rate_t;

typedef struct {
  char name[32];
  double lat_p50, lat_p99;       /* ms; lat_p99 <= lat_p50 means fixed at lat_p50 */
  double transient;              /* 5xx share per attempt, every provider */
  double rate_limited;           /* 429 + Retry-After share per attempt, every provider */
  double permanent;              /* share of recipients refused permanently (see main.c) */
  int channels[CB_NCHANNELS];    /* the deliveries of each invoice, in order */
  int nchannels;
  int fallback;                  /* channel the first delivery falls back to, or -1 */
  bool pdf;                      /* each invoice carries a password-protected PDF */
  int pdf_pool;                  /* distinct PDF files the invoices share */
  uint32_t recipient_gap_ms;     /* WhatsApp spacing between the parts to one recipient */
  cb_rate_t rates[CB_NCHANNELS];
  cb_knobs_t knobs;
  uint64_t seed;
} cb_profile_t;

/* The scratch directory, the helper programs and the running mock. */
typedef struct {
  char dir[512];      /* scratch directory, removed at the end unless keep */
  char bin[512];      /* where carteiro, mock-provider and gen-invoices are */
  char gen_ca[600];   /* tools/gen-test-ca */
  bool keep;
  bool quiet;         /* no progress on stderr */
  pid_t mock_pid;
  int mock_port;
  char mock_base[128];
  void *mock_curl;    /* CURL * kept open: the mock's /stats every second */
} cb_env_t;

/* ---- env.c ----------------------------------------------------------------------------- */

/* Makes the scratch directory and a test CA in it. Returns 0 or prints why and returns -1. */
int cb_env_init(cb_env_t *e);
/* Stops the mock (if running) and removes the scratch directory unless e->keep. */
void cb_env_done(cb_env_t *e);
/* "DIR/NAME" of a helper program or a scratch file, into out. */
void cb_env_bin(const cb_env_t *e, const char *name, char *out, size_t cap);
void cb_env_path(const cb_env_t *e, const char *name, char *out, size_t cap);

/* Starts mock-provider with the profile's latency and faults (zero_faults: no latency and no
 * faults, as for the limit run). Returns 0 or -1 after printing why. */
int cb_mock_start(cb_env_t *e, const cb_profile_t *p, bool zero_faults);
void cb_mock_stop(cb_env_t *e);
/* GET of the mock's /stats, or NULL. New reference. */
json_t *cb_mock_stats(cb_env_t *e);
/* POST /stats/reset. Returns 0 or -1. */
int cb_mock_reset(cb_env_t *e);

/* Runs argv to completion, stdout and stderr to the given files (NULL: /dev/null). Returns
 * the exit status (128 + signal when killed), or -1 when it could not start. */
int cb_run(char *const argv[], const char *out, const char *err);
/* Starts argv in the background with the same redirections; returns the pid or -1. */
pid_t cb_spawn(char *const argv[], const char *out, const char *err);

/* A free TCP port on 127.0.0.1 (bound, read and released: a small race, fine on loopback). */
int cb_free_port(void);
/* GET url (http or https with the scratch CA) into a NUL-terminated buffer (free()), or NULL.
 * `handle` keeps a CURL * between calls (start with NULL; cb_http_close at the end). */
char *cb_http_get(void **handle, const char *url, const char *ca_file);
void cb_http_close(void **handle);

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double cb_now(void);
/* Whole-file read (free()), or NULL. */
char *cb_slurp(const char *path);

/* ---- load.c: one load through the daemon ------------------------------------------------ */

/* A second of the time series. */
typedef struct {
  double t;                         /* seconds since the bench started */
  double deliveries[CB_NCHANNELS];  /* jobs delivered that used the channel, this second */
  double requests[CB_NCHANNELS];    /* requests sent to the channel's accounts, this second */
  double inflight;
  double cpu_cores;                 /* the daemon's CPU this second, in cores */
  double retries;
  double dead_total;                /* since the bench started */
} cb_sample_t;

typedef struct {
  cb_sample_t *v;
  size_t n, cap;
  double dead_base; /* dead letters of earlier daemon runs, for dead_total */
} cb_series_t;

/* What one run of the daemon over one batch of jobs gave. */
typedef struct {
  uint64_t enqueued, delivered, dead, lost, retries;
  uint64_t requests;                 /* HTTP requests sent to providers (from /metrics) */
  double start_s, enqueued_s, drained_s; /* since the bench started */
  double run_s;                      /* the daemon's own run time */
  bool timed_out;                    /* the daemon was stopped at the time limit */
  double cpu_s;                      /* daemon user + system */
  uint64_t peak_rss;                 /* daemon, bytes */
  double lat_p50, lat_p90, lat_p99, lat_max; /* enqueue to delivered, ms, exact */
  uint64_t mock_unique;              /* jobs the mock saw delivered (see load.c) */
  /* The busy part: from the daemon's start until 90 % of the jobs were settled (load.c). */
  double busy_s;
  double busy_cpu_cores;             /* the daemon's CPU over it, in cores (1 = one core) */
  double host_busy;                  /* the machine's CPU over it, 0..1 of all its cores */
  double req_rate_median[CB_NCHANNELS]; /* requests/s per channel, median of its seconds */
  double cpu_saturated_share;        /* share of its seconds with the CPU saturated */
  double waiting_share;              /* share of its seconds with due jobs not yet taken */
  double inflight_median;            /* median in flight over those seconds */
  /* the steady part: jobs delivered from the first sample that saw a delivery to the last
   * sample, and the seconds between them (0 when fewer than two such samples) */
  double steady_delivered, steady_s;
} cb_load_t;

typedef struct {
  cb_env_t *env;
  const cb_profile_t *p;
  double t0;             /* cb_now() at the start of the bench */
  cb_series_t *series;   /* NULL: no time series kept */
  const char *label;     /* for progress lines: "cycle 2/6", "point 3/16" */
  double time_limit_s;   /* the daemon is stopped past this */
  double window_s;       /* for the progress line's deadline; 0 = none */
} cb_load_ctx_t;

/* The threads that can burn CPU for a delivery: one loop per worker and, with PDFs, the
 * libuv thread pool that protects documents (4 threads, shared by the workers). */
#define CB_UV_THREADPOOL 4
/* The cores the daemon can keep busy at this profile: min(cpus, those threads). */
double cb_usable_cores(const cb_profile_t *p);

/* Writes the carteiro configuration for the profile (spool `spool`, metrics on `http_port`). */
int cb_write_config(const cb_load_ctx_t *c, const char *ini, const char *spool, int http_port);
/* Writes the profile's PDF pool under the scratch docs/ once. Returns 0 or -1. */
int cb_make_pdf_pool(const cb_load_ctx_t *c);
/* Generates `count` jobs numbered from `first` into `file`. Returns 0 or -1. */
int cb_generate(const cb_load_ctx_t *c, uint64_t first, uint64_t count, const char *file);
/* Enqueues `file` into `spool`, then runs the daemon until drained (or the time limit),
 * sampling once a second, and measures it all into *out. Returns 0, or -1 when a step could
 * not run at all (printed). */
int cb_load_run(const cb_load_ctx_t *c, const char *spool, const char *jobs_file,
                uint64_t expect, cb_load_t *out);

/* ---- limit.c --------------------------------------------------------------------------- */

typedef struct {
  double requests_per_s;
  uint64_t requests;
  bool ok;
} cb_limit_t;

/* h2load against a fault-free, zero-latency mock with the request of the profile's first
 * channel. Starts and stops its own mock. */
int cb_limit_measure(cb_env_t *e, const cb_profile_t *p, uint64_t requests, cb_limit_t *out);

/* ---- result.c -------------------------------------------------------------------------- */

/* The fields every kind shares: schema, kind, created, commit, command, host. */
json_t *cb_result_new(const char *kind, int argc, char **argv);
json_t *cb_profile_json(const cb_profile_t *p);
json_t *cb_series_json(const cb_series_t *s);
json_t *cb_limit_json(const cb_limit_t *l, double ours_per_s);
/* Writes the document to `path` (atomically), or does nothing when path is NULL. */
int cb_result_write(json_t *doc, const char *path);
/* The end of every run: writes the JSON to `out` (if not NULL), checks the document as the
 * report reads it (cb_report_check), prints the report's terminal summary on stdout and, when
 * `html` is not NULL, writes the HTML report there. Returns 0 or an exit code (printed). */
int cb_result_finish(json_t *doc, const char *out, const char *html);
/* The HTML report of a checked document into `path` (atomically). Returns 0, CB_EX_CANTCREAT,
 * CB_EX_DATAERR (the document fails the check) or CB_EX_IOERR, after printing why. */
int cb_html_write(const json_t *doc, const char *path);

/* ---- the subcommands ------------------------------------------------------------------- */

typedef struct {
  double scale;
  int cycles;
  uint64_t cycle_invoices; /* full-scale invoices per cycle */
  double window_h;         /* full-scale window per cycle, hours */
  bool no_limit;
  uint64_t limit_requests;
  const char *out, *html;
} cb_month_opts_t;

typedef struct {
  int workers[8], nworkers;
  int inflight[8], ninflight;
  int concurrency[8], nconcurrency;
  int connections[8], nconnections;
  uint64_t jobs;
  bool no_limit;
  uint64_t limit_requests;
  const char *out, *html;
} cb_sweep_opts_t;

int cb_month(cb_env_t *e, cb_profile_t *p, const cb_month_opts_t *o, int argc, char **argv);
int cb_sweep(cb_env_t *e, cb_profile_t *p, const cb_sweep_opts_t *o, int argc, char **argv);
int cb_limit(cb_env_t *e, cb_profile_t *p, uint64_t requests, const char *out,
             const char *html, int argc, char **argv);

/* Percentile q (0..1) of sorted v[0..n), nearest rank; 0 when n == 0. */
double cb_percentile(const double *v, size_t n, double q);

#endif
