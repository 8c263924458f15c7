/* One load through the real daemon: write its configuration, generate and enqueue the jobs,
 * run `carteiro run --drain` while sampling /metrics once a second, then measure every job
 * exactly from the spool, read-only, once the daemon has let go of it.
 *
 * Accounting. The spool says how each job of the load ended (delivered, dead, or still there:
 * lost). The mock says which messages it accepted, once each (unique message keys). A
 * delivered invoice is one accepted message per delivery (WhatsApp: two, the document
 * template and the barcode line), or, for the first delivery, the same on its fallback
 * channel. So the jobs the mock saw delivered are, per delivery slot, the accepted messages
 * of its channels divided by the messages per job, and the job count is the smallest slot.
 * That is exact as long as each invoice has its own recipient and message texts (synthetic
 * data drawn at random makes a clash unlikely, not impossible) and no channel is both a
 * delivery and the fallback (main.c refuses that).
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TW_SID "AC0123456789abcdef0123456789abcdef"

static const char *const mock_endpoint[CB_NCHANNELS] = {"whatsapp_messages", "twilio_messages",
                                                        "sendgrid_mail"};
static const int messages_per_job[CB_NCHANNELS] = {2, 1, 1};

static bool channel_used(const cb_profile_t *p, int c)
{
  for (int i = 0; i < p->nchannels; i++)
    if (p->channels[i] == c)
      return true;
  return p->fallback == c;
}

int cb_write_config(const cb_load_ctx_t *c, const char *ini, const char *spool, int http_port)
{
  const cb_profile_t *p = c->p;
  cb_env_t *e = c->env;
  char path[600];
  FILE *f = fopen(ini, "w");
  if (f == NULL) {
    fprintf(stderr, "carteiro-bench: %s: %s\n", ini, strerror(errno));
    return -1;
  }
  static const char *const secret[CB_NCHANNELS] = {"wa", "tw", "sg"};
  for (int ch = 0; ch < CB_NCHANNELS; ch++) {
    cb_env_path(e, secret[ch], path, sizeof path);
    FILE *s = fopen(path, "w");
    if (s != NULL) {
      fprintf(s, "%s\n", secret[ch]);
      fclose(s);
    }
  }
  cb_env_path(e, "http.token", path, sizeof path);
  FILE *t = fopen(path, "w");
  if (t != NULL) {
    fprintf(t, "bench-token\n");
    fclose(t);
  }
  fprintf(f,
          "; written by carteiro-bench for profile %s\n"
          "[carteiro]\nspool = %s\nworkers = %d\nmax_inflight = %d\ntake_batch = 1000\n"
          "ca_file = %s/ca/ca.crt\ndocument_root = %s/docs\nlog_level = warn\n"
          "backoff_base = 1s\nbackoff_cap = 60s\nshutdown_grace = 10s\n"
          "http_listen = 127.0.0.1:%d\nhttp_token_file = %s/http.token\n"
          "spool_high_water = 100000000\nmin_free_disk_mb = 64\n"
          /* the recipient gap waited without a slot (README "Several messages per delivery") */
          "gap_wait_max = 10000\n",
          p->name, spool, p->knobs.workers, p->knobs.max_inflight, e->dir, e->dir, http_port,
          e->dir);
  for (int ch = 0; ch < CB_NCHANNELS; ch++) {
    if (!channel_used(p, ch))
      continue;
    int accounts = p->rates[ch].accounts > 0 ? p->rates[ch].accounts : 1;
    for (int a = 1; a <= accounts; a++) {
      fprintf(f, "\n[provider.%s-%d]\nkind = %s\ntenants = *\n", ch == CB_WHATSAPP ? "wa"
                                                                  : cb_channel_names[ch],
              a, cb_channel_names[ch]);
      switch (ch) {
      case CB_WHATSAPP:
        fprintf(f, "base_url = %s/v24.0\naccount = %d\nsecret_file = %s/wa\n"
                   "recipient_gap = %ums\n",
                e->mock_base, 1000000000 + a, e->dir, (unsigned)p->recipient_gap_ms);
        break;
      case CB_SMS:
        fprintf(f, "base_url = %s\naccount = " TW_SID "\nsender = +55113000%05d\n"
                   "secret_file = %s/tw\n",
                e->mock_base, a, e->dir);
        break;
      default:
        fprintf(f, "base_url = %s\nsender = faturas%d@banco-x.example.com\n"
                   "sender_name = Banco X\nsecret_file = %s/sg\n",
                e->mock_base, a, e->dir);
        break;
      }
      if (p->rates[ch].rate > 0)
        fprintf(f, "rate = %g\n", p->rates[ch].rate);
      if (p->rates[ch].burst > 0)
        fprintf(f, "burst = %g\n", p->rates[ch].burst);
      fprintf(f, "max_concurrency = %d\nmax_connections = %d\nmax_streams = 100\n",
              p->knobs.provider_concurrency, p->knobs.connections);
    }
  }
  if (fclose(f) != 0) {
    fprintf(stderr, "carteiro-bench: %s: %s\n", ini, strerror(errno));
    return -1;
  }
  return 0;
}

/* "whatsapp,sms+email": deliveries separated by '+', the fallback after the first's ','. */
static void channels_spec(const cb_profile_t *p, char *out, size_t cap)
{
  size_t n = 0;
  out[0] = '\0';
  for (int i = 0; i < p->nchannels && n < cap; i++) {
    n += (size_t)snprintf(out + n, cap - n, "%s%s", i > 0 ? "+" : "",
                          cb_channel_names[p->channels[i]]);
    if (i == 0 && p->fallback >= 0 && n < cap)
      n += (size_t)snprintf(out + n, cap - n, ",%s", cb_channel_names[p->fallback]);
  }
}

int cb_make_pdf_pool(const cb_load_ctx_t *c)
{
  const cb_profile_t *p = c->p;
  if (!p->pdf)
    return 0;
  char gen[600], docs[600], opt[700], count[32], out[600], log[600], seed[32];
  cb_env_bin(c->env, "gen-invoices", gen, sizeof gen);
  cb_env_path(c->env, "docs", docs, sizeof docs);
  cb_env_path(c->env, "gen-pool.log", log, sizeof log);
  cb_env_path(c->env, "pool-jobs.pbs", out, sizeof out);
  snprintf(opt, sizeof opt, "pool=%d:%s", p->pdf_pool, docs);
  snprintf(count, sizeof count, "%d", p->pdf_pool);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed + 1000);
  char *argv[] = {gen, "--count", count, "--seed", seed, "--profile", "bank", "--pdf", opt,
                  "--format", "pbs", "--out", out, NULL};
  if (!c->env->quiet)
    fprintf(stderr, "carteiro-bench: writing a pool of %d invoice PDFs\n", p->pdf_pool);
  if (cb_run(argv, NULL, log) != 0) {
    fprintf(stderr, "carteiro-bench: gen-invoices (PDF pool) failed, see %s\n", log);
    c->env->keep = true;
    return -1;
  }
  unlink(out);
  return 0;
}

int cb_generate(const cb_load_ctx_t *c, uint64_t first, uint64_t count, const char *file)
{
  const cb_profile_t *p = c->p;
  char gen[600], log[600], spec[128], cnt[32], start[32], seed[32], pdf[64];
  cb_env_bin(c->env, "gen-invoices", gen, sizeof gen);
  cb_env_path(c->env, "gen.log", log, sizeof log);
  channels_spec(p, spec, sizeof spec);
  snprintf(cnt, sizeof cnt, "%llu", (unsigned long long)count);
  snprintf(start, sizeof start, "%llu", (unsigned long long)first);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
  if (p->pdf)
    snprintf(pdf, sizeof pdf, "pool=%d", p->pdf_pool);
  else
    snprintf(pdf, sizeof pdf, "none");
  char *argv[] = {gen, "--count", cnt, "--start-id", start, "--seed", seed, "--profile", "bank",
                  "--channels", spec, "--pdf", pdf, "--format", "pbs", "--zstd", "--out",
                  (char *)file, NULL};
  if (cb_run(argv, NULL, log) != 0) {
    fprintf(stderr, "carteiro-bench: gen-invoices failed, see %s\n", log);
    c->env->keep = true;
    return -1;
  }
  return 0;
}

/* ---- the spool, read-only ---------------------------------------------------------------- */

static int64_t spool_max_seq(const char *spool)
{
  struct stat st;
  if (stat(spool, &st) != 0)
    return 0;
  sqlite3 *db;
  int64_t v = -1;
  if (sqlite3_open_v2(spool, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(seq), 0) FROM job", -1, &s, NULL) ==
        SQLITE_OK) {
      if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
      sqlite3_finalize(s);
    }
  }
  sqlite3_close(db);
  return v;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double cb_percentile(const double *v, size_t n, double q)
{
  if (n == 0)
    return 0;
  size_t rank = (size_t)ceil(q * (double)n);
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return v[rank - 1];
}

/* The load's jobs (seq in (lo, hi]): how they ended and their enqueue-to-delivered times. */
static int spool_measure(const char *spool, int64_t lo, int64_t hi, cb_load_t *out)
{
  sqlite3 *db;
  if (sqlite3_open_v2(spool, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    fprintf(stderr, "carteiro-bench: %s: %s\n", spool, sqlite3_errmsg(db));
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 10000);
  int rc = -1;
  sqlite3_stmt *s = NULL;
  size_t cap = 1024, n = 0;
  double *lat = malloc(cap * sizeof *lat);
  if (lat == NULL)
    goto out;
  if (sqlite3_prepare_v2(db,
                         "SELECT state, updated_ms - enqueued_ms FROM job "
                         "WHERE seq > ?1 AND seq <= ?2",
                         -1, &s, NULL) != SQLITE_OK)
    goto out;
  sqlite3_bind_int64(s, 1, lo);
  sqlite3_bind_int64(s, 2, hi);
  out->delivered = out->dead = out->lost = 0;
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    int state = sqlite3_column_int(s, 0);
    if (state == 2) {
      out->delivered++;
      if (n == cap) {
        double *nl = realloc(lat, cap * 2 * sizeof *lat);
        if (nl == NULL)
          goto out;
        lat = nl;
        cap *= 2;
      }
      lat[n++] = (double)sqlite3_column_int64(s, 1);
    } else if (state == 3) {
      out->dead++;
    } else {
      out->lost++;
    }
  }
  if (step != SQLITE_DONE)
    goto out;
  qsort(lat, n, sizeof *lat, cmp_double);
  out->lat_p50 = cb_percentile(lat, n, 0.50);
  out->lat_p90 = cb_percentile(lat, n, 0.90);
  out->lat_p99 = cb_percentile(lat, n, 0.99);
  out->lat_max = n > 0 ? lat[n - 1] : 0;
  rc = 0;
out:
  if (rc != 0)
    fprintf(stderr, "carteiro-bench: reading %s: %s\n", spool, sqlite3_errmsg(db));
  sqlite3_finalize(s);
  sqlite3_close(db);
  free(lat);
  return rc;
}

/* ---- /metrics ----------------------------------------------------------------------------- */

typedef struct {
  double delivered[CB_NCHANNELS], requests[CB_NCHANNELS];
  double retry, dead, settled_delivered, inflight, gap_waiting, due;
} metrics_t;

static int channel_of(const char *label)
{
  for (int c = 0; c < CB_NCHANNELS; c++) {
    char want[64];
    snprintf(want, sizeof want, "channel=\"%s\"", cb_channel_names[c]);
    if (strstr(label, want) != NULL)
      return c;
  }
  return -1;
}

static void metrics_parse(char *text, metrics_t *m)
{
  memset(m, 0, sizeof *m);
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#')
      continue;
    char *sp = strrchr(line, ' ');
    if (sp == NULL)
      continue;
    double v = strtod(sp + 1, NULL);
    *sp = '\0';
    if (strncmp(line, "carteiro_jobs_delivered_total{", 30) == 0) {
      int c = channel_of(line);
      if (c >= 0)
        m->delivered[c] += v;
    } else if (strncmp(line, "carteiro_provider_requests_total{", 33) == 0) {
      int c = channel_of(line);
      if (c >= 0)
        m->requests[c] += v;
    } else if (strcmp(line, "carteiro_jobs_settled_total{outcome=\"retry\"}") == 0) {
      m->retry = v;
    } else if (strcmp(line, "carteiro_jobs_settled_total{outcome=\"dead\"}") == 0) {
      m->dead = v;
    } else if (strcmp(line, "carteiro_jobs_settled_total{outcome=\"delivered\"}") == 0) {
      m->settled_delivered = v;
    } else if (strcmp(line, "carteiro_inflight_jobs") == 0) {
      m->inflight = v;
    } else if (strcmp(line, "carteiro_gap_waiting_jobs") == 0) {
      m->gap_waiting = v;
    } else if (strcmp(line, "carteiro_spool_due_jobs") == 0) {
      /* READY and due now, the leased jobs included (in flight or waiting out a gap). Read
       * as carteiro_spool_jobs{state="due"} until the metrics were renamed, after which it
       * was 0 here and the in-flight cap could never be named. */
      m->due = v;
    }
  }
}

static int series_push(cb_series_t *s, const cb_sample_t *x)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 256;
    cb_sample_t *nv = realloc(s->v, cap * sizeof *nv);
    if (nv == NULL)
      return -1;
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = *x;
  return 0;
}

static void mock_unique_counts(json_t *stats, double out[CB_NCHANNELS])
{
  for (int c = 0; c < CB_NCHANNELS; c++) {
    json_t *ep = json_object_get(json_object_get(stats, "endpoints"), mock_endpoint[c]);
    out[c] = json_number_value(json_object_get(ep, "unique_keys"));
  }
}

static uint64_t mock_jobs(const cb_profile_t *p, const double before[CB_NCHANNELS],
                          const double after[CB_NCHANNELS])
{
  double best = -1;
  for (int i = 0; i < p->nchannels; i++) {
    int ch = p->channels[i];
    double jobs = floor((after[ch] - before[ch]) / messages_per_job[ch]);
    if (i == 0 && p->fallback >= 0)
      jobs += floor((after[p->fallback] - before[p->fallback]) / messages_per_job[p->fallback]);
    if (best < 0 || jobs < best)
      best = jobs;
  }
  return best < 0 ? 0 : (uint64_t)best;
}

static double median_of(double *v, size_t n)
{
  qsort(v, n, sizeof *v, cmp_double);
  return cb_percentile(v, n, 0.5);
}

/* ---- CPU, from /proc -------------------------------------------------------------------- */

/* User + system seconds of process `pid` so far, or -1. */
static double proc_cpu_s(pid_t pid)
{
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* the command name may hold spaces: the fields count from after its ')' (field 2) */
  const char *p = strrchr(buf, ')');
  if (p == NULL)
    return -1;
  unsigned long long ut = 0, st = 0;
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The whole machine's CPU time so far: busy and total, in ticks (first line of /proc/stat). */
static bool host_cpu(double *busy, double *total)
{
  FILE *f = fopen("/proc/stat", "r");
  if (f == NULL)
    return false;
  unsigned long long v[8] = {0};
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                 &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (n < 4)
    return false;
  double t = 0;
  for (int i = 0; i < 8; i++)
    t += (double)v[i];
  *total = t;
  *busy = t - (double)v[3] - (double)v[4]; /* less idle and iowait */
  return true;
}

/* One poll of the daemon, kept to find the busy part of the run afterwards. */
typedef struct {
  double t;                     /* cb_now() */
  double settled;               /* delivered + dead so far */
  double inflight, due;
  double requests[CB_NCHANNELS]; /* per second */
  double cpu_s;                 /* the daemon's, so far; -1 unknown */
  double host_busy, host_total; /* ticks; total 0 unknown */
} poll_t;

/* The busy part of the run: from its start to the first poll that saw 90 % of the jobs
 * settled. The tail after it (latency stragglers, backoff waits) runs the machine at a
 * fraction of its pace, and an average over it hides a saturated resource. Figures over that
 * part into *out: the daemon's CPU, the machine's, the median request rate per channel, and
 * the in-flight figure while work was waiting to be taken. */
static void busy_part(const poll_t *v, size_t n, double started, uint64_t jobs, double usable,
                      cb_load_t *out)
{
  if (n == 0)
    return;
  size_t end = n - 1;
  for (size_t i = 0; i < n; i++)
    if (v[i].settled >= 0.9 * (double)jobs) {
      end = i;
      break;
    }
  out->busy_s = v[end].t - started;
  if (out->busy_s > 0 && v[end].cpu_s >= 0)
    out->busy_cpu_cores = v[end].cpu_s / out->busy_s;
  if (v[end].host_total > v[0].host_total)
    out->host_busy = (v[end].host_busy - v[0].host_busy) / (v[end].host_total - v[0].host_total);
  /* Second by second: the CPU can be the limit for part of a cycle only (every PDF of a cycle
   * is protected first, then the deliveries wait on the providers), which an average over
   * the cycle dilutes. A second is saturated when the daemon used `usable` x 80 % of a core,
   * or when the whole machine was 90 % busy with the daemon using half a core or more. */
  size_t sat = 0, seconds = 0;
  for (size_t i = 1; i <= end; i++) {
    double dt = v[i].t - v[i - 1].t;
    if (dt <= 0 || v[i].cpu_s < 0 || v[i - 1].cpu_s < 0)
      continue;
    double cores = (v[i].cpu_s - v[i - 1].cpu_s) / dt;
    double dh = v[i].host_total - v[i - 1].host_total;
    double host = dh > 0 && v[i - 1].host_total > 0 ? (v[i].host_busy - v[i - 1].host_busy) / dh
                                                    : 0;
    seconds++;
    if (cores >= 0.8 * usable || (host >= 0.9 && cores >= 0.5))
      sat++;
  }
  out->cpu_saturated_share = seconds > 0 ? (double)sat / (double)seconds : 0;
  double *tmp = malloc((end + 1) * sizeof *tmp);
  if (tmp == NULL)
    return;
  for (int ch = 0; ch < CB_NCHANNELS; ch++) {
    for (size_t i = 0; i <= end; i++)
      tmp[i] = v[i].requests[ch];
    out->req_rate_median[ch] = median_of(tmp, end + 1);
  }
  /* the in-flight cap binds only while jobs wait to be taken: due beyond those in flight
   * (the due count less the leased jobs waiting out a recipient gap, which hold no slot) */
  size_t k = 0;
  for (size_t i = 0; i <= end; i++)
    if (v[i].due > v[i].inflight)
      tmp[k++] = v[i].inflight;
  out->waiting_share = (double)k / (double)(end + 1);
  out->inflight_median = median_of(tmp, k);
  free(tmp);
}

double cb_usable_cores(const cb_profile_t *p)
{
  double cpus = (double)sysconf(_SC_NPROCESSORS_ONLN);
  double threads = p->knobs.workers + (p->pdf ? CB_UV_THREADPOOL : 0);
  return threads < cpus ? threads : cpus;
}

int cb_load_run(const cb_load_ctx_t *c, const char *spool, const char *jobs_file,
                uint64_t expect, cb_load_t *out)
{
  cb_env_t *e = c->env;
  const cb_profile_t *p = c->p;
  memset(out, 0, sizeof *out);
  char ct[600], ini[600], report[600], runlog[600], enqlog[600], murl[128];
  cb_env_bin(e, "carteiro", ct, sizeof ct);
  cb_env_path(e, "carteiro.ini", ini, sizeof ini);
  cb_env_path(e, "report.json", report, sizeof report);
  cb_env_path(e, "run.log", runlog, sizeof runlog);
  cb_env_path(e, "enqueue.log", enqlog, sizeof enqlog);
  int port = cb_free_port();
  if (port < 0 || cb_write_config(c, ini, spool, port) != 0)
    return -1;
  snprintf(murl, sizeof murl, "http://127.0.0.1:%d/metrics", port);

  json_t *st0 = cb_mock_stats(e);
  double before[CB_NCHANNELS] = {0}, after[CB_NCHANNELS] = {0};
  if (st0 != NULL)
    mock_unique_counts(st0, before);
  json_decref(st0);

  int64_t lo = spool_max_seq(spool);
  out->start_s = cb_now() - c->t0;
  char *enq[] = {ct, "enqueue", "--quiet", "--spool", (char *)spool, (char *)jobs_file, NULL};
  int rc = cb_run(enq, NULL, enqlog);
  out->enqueued_s = cb_now() - c->t0;
  int64_t hi = spool_max_seq(spool);
  if (rc != 0 || lo < 0 || hi < lo) {
    fprintf(stderr, "carteiro-bench: carteiro enqueue exited %d, see %s\n", rc, enqlog);
    e->keep = true;
    return -1;
  }
  out->enqueued = (uint64_t)(hi - lo);
  if (out->enqueued != expect)
    fprintf(stderr, "carteiro-bench: %llu jobs enqueued, %llu expected\n",
            (unsigned long long)out->enqueued, (unsigned long long)expect);

  char *run[] = {ct, "run", "--config", ini, "--drain", "--report", NULL};
  double started = cb_now();
  pid_t pid = cb_spawn(run, report, runlog);
  if (pid < 0)
    return -1;
  void *mh = NULL;
  metrics_t prev = {0};
  double prev_t = started, next = started + 1.0, last_progress = 0;
  int status = 0;
  struct rusage ru;
  bool exited = false, stopping = false;
  size_t cap = 256, nb = 0;
  poll_t *polls = malloc(cap * sizeof *polls);
  double stop_at = 0, first_t = -1, first_delivered = 0;
  while (!exited) {
    pid_t w = wait4(pid, &status, WNOHANG, &ru);
    if (w == pid) {
      exited = true;
      break;
    }
    double now = cb_now();
    if (now < next) {
      usleep((useconds_t)((next - now) * 1e6 > 50000 ? 50000 : (next - now) * 1e6));
      continue;
    }
    next += 1.0;
    if (!stopping && now - started > c->time_limit_s) {
      fprintf(stderr, "carteiro-bench: %s: past the time limit (%.0f s); stopping the daemon\n",
              c->label, c->time_limit_s);
      kill(pid, SIGTERM);
      stopping = true;
      out->timed_out = true;
      stop_at = now;
    }
    if (stopping && now - stop_at > 30)
      kill(pid, SIGKILL);
    char *text = cb_http_get(&mh, murl, NULL);
    json_t *ms = cb_mock_stats(e); /* polled with the daemon: one view of both per second */
    json_decref(ms);
    if (text == NULL)
      continue;
    metrics_t m;
    metrics_parse(text, &m);
    free(text);
    double dt = now - prev_t;
    if (dt <= 0)
      dt = 1;
    cb_sample_t x = {.t = now - c->t0, .inflight = m.inflight};
    for (int ch = 0; ch < CB_NCHANNELS; ch++) {
      x.deliveries[ch] = (m.delivered[ch] - prev.delivered[ch]) / dt;
      x.requests[ch] = (m.requests[ch] - prev.requests[ch]) / dt;
    }
    x.retries = (m.retry - prev.retry) / dt;
    x.dead_total = (c->series != NULL ? c->series->dead_base : 0) + m.dead;
    if (c->series != NULL)
      series_push(c->series, &x);
    double done = m.settled_delivered + m.dead;
    if (polls != NULL && nb == cap) {
      poll_t *np = realloc(polls, 2 * cap * sizeof *np);
      if (np == NULL) {
        free(polls);
        polls = NULL;
      } else {
        polls = np;
        cap *= 2;
      }
    }
    if (polls != NULL) {
      poll_t *q = &polls[nb++];
      memset(q, 0, sizeof *q);
      q->t = now;
      q->settled = done;
      q->inflight = m.inflight;
      q->due = m.due - m.gap_waiting; /* taken or not, those hold no slot */
      memcpy(q->requests, x.requests, sizeof q->requests);
      q->cpu_s = proc_cpu_s(pid);
      if (c->series != NULL && c->series->n > 0 && nb >= 2 && q->cpu_s >= 0 &&
          polls[nb - 2].cpu_s >= 0 && q->t > polls[nb - 2].t)
        c->series->v[c->series->n - 1].cpu_cores =
            (q->cpu_s - polls[nb - 2].cpu_s) / (q->t - polls[nb - 2].t);
      if (!host_cpu(&q->host_busy, &q->host_total))
        q->host_total = 0;
    }
    if (!e->quiet && now - last_progress >= 5.0) {
      double rate = (m.settled_delivered - prev.settled_delivered) / dt;
      double left = (double)out->enqueued - done;
      double elapsed = now - c->t0 - out->start_s;
      fprintf(stderr, "  %s: %.0f/%llu settled, %.0f delivered/s, in flight %.0f",
              c->label, done, (unsigned long long)out->enqueued, rate, m.inflight);
      if (rate > 0)
        fprintf(stderr, ", ETA %.0f s", left / rate);
      if (c->window_s > 0)
        fprintf(stderr, ", window %s in %.0f s", elapsed <= c->window_s ? "ends" : "ended",
                fabs(c->window_s - elapsed));
      fputc('\n', stderr);
      last_progress = now;
    }
    if (m.settled_delivered > 0) {
      if (first_t < 0) {
        first_t = now;
        first_delivered = m.settled_delivered;
      }
      out->steady_s = now - first_t;
      out->steady_delivered = m.settled_delivered - first_delivered;
    }
    prev = m;
    prev_t = now;
  }
  cb_http_close(&mh);
  out->drained_s = cb_now() - c->t0;
  out->run_s = cb_now() - started;
  out->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  out->peak_rss = (uint64_t)ru.ru_maxrss * 1024;
  out->requests = 0;
  for (int ch = 0; ch < CB_NCHANNELS; ch++)
    out->requests += (uint64_t)prev.requests[ch];
  if (polls != NULL)
    busy_part(polls, nb, started, out->enqueued, cb_usable_cores(p), out);
  free(polls);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code != 0 && !out->timed_out) {
    fprintf(stderr, "carteiro-bench: carteiro run exited %d, see %s\n", code, runlog);
    e->keep = true;
  }

  char *rep = cb_slurp(report);
  json_t *rj = rep != NULL ? json_loads(rep, 0, NULL) : NULL;
  free(rep);
  out->retries = (uint64_t)json_number_value(json_object_get(rj, "retried"));
  double dead_run = json_number_value(json_object_get(rj, "dead"));
  json_decref(rj);
  if (c->series != NULL)
    c->series->dead_base += dead_run;

  json_t *st1 = cb_mock_stats(e);
  if (st1 != NULL)
    mock_unique_counts(st1, after);
  json_decref(st1);
  out->mock_unique = mock_jobs(p, before, after);

  if (spool_measure(spool, lo, hi, out) != 0)
    return -1;
  unlink(report);
  return code == 0 || out->timed_out ? 0 : -1;
}
