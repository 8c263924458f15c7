/* carteiro-bench: subcommands, options and the named profiles. See bench.h for the design. */
#include "bench.h"

#include "common/error.h"
#include "report.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CB_SOURCE_DIR
#define CB_SOURCE_DIR "."
#endif

static void usage(FILE *f)
{
  fputs(
      "usage: carteiro-bench month [options]     a month of invoices in billing cycles\n"
      "       carteiro-bench sweep [options]     a fixed load across a grid of knobs\n"
      "       carteiro-bench limit [options]     h2load against the mock: the HTTP/2 limit\n"
      "       carteiro-bench report RESULT.json [--html OUT.html]\n"
      "                                          the summary of a saved result (and its HTML)\n"
      "\n"
      "Profile (--profile default|bank, then any part overridden):\n"
      "  --latency MS | P50/P99    mock latency, fixed or log-normal with that p50 and p99\n"
      "  --transient X             share of attempts answered 5xx (0..1)\n"
      "  --rate-limited X          share of attempts answered 429 + Retry-After: 1\n"
      "  --permanent X             share of recipients refused permanently: on the first\n"
      "                            channel when it has a fallback, else on every channel\n"
      "  --channels LIST           deliveries of each invoice, e.g. whatsapp,email\n"
      "  --fallback CH|none        channel the first delivery falls back to\n"
      "  --pdf | --no-pdf          each invoice carries a PDF, protected per invoice\n"
      "  --pdf-pool N              distinct PDF files the invoices share (default 1000)\n"
      "  --rate CH=[Ax]R[/B]       A accounts of R messages/s each, bucket depth B (0 = none)\n"
      "  --recipient-gap MS        WhatsApp spacing between the parts to one recipient\n"
      "  --workers N  --max-inflight N  --concurrency N  --connections N\n"
      "                            daemon knobs (sweep: comma-separated lists, the grid)\n"
      "  --seed N                  seed of the jobs and the mock's draws\n"
      "month:\n"
      "  --scale S                 fraction of the month run (default 1): invoices per cycle\n"
      "                            and window lengths both scaled by S\n"
      "  --cycles N (6)  --cycle-invoices N (400000)  --window-hours H (2)\n"
      "sweep:\n"
      "  --jobs N                  invoices per point (default 5000)\n"
      "common:\n"
      "  --out FILE.json           the result document (bench/SCHEMA.md)\n"
      "  --html FILE.html          its report as one self-contained HTML page\n"
      "  --no-limit                skip the embedded h2load run\n"
      "  --limit-requests N        h2load requests (default 50000; limit: 200000)\n"
      "  --bin DIR                 where carteiro, mock-provider, gen-invoices are\n"
      "                            (default: this program's directory)\n"
      "  --gen-ca PATH             tools/gen-test-ca\n"
      "  --keep                    keep the scratch directory\n"
      "  --quiet                   no progress on stderr\n",
      f);
}

static int channel_parse(const char *s, size_t n)
{
  for (int c = 0; c < CB_NCHANNELS; c++)
    if (strlen(cb_channel_names[c]) == n && strncmp(s, cb_channel_names[c], n) == 0)
      return c;
  return -1;
}

static void profile_default(cb_profile_t *p)
{
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "default");
  p->lat_p50 = 100;
  p->transient = 0.01;
  p->rate_limited = 0.005;
  p->permanent = 0.005;
  p->channels[0] = CB_SMS;
  p->nchannels = 1;
  p->fallback = -1;
  p->pdf_pool = 1000;
  for (int c = 0; c < CB_NCHANNELS; c++)
    p->rates[c].accounts = 1;
  p->knobs = (cb_knobs_t){2, 2000, 500, 4};
  p->seed = 1;
}

/* The bank case: every invoice on WhatsApp (document template with the protected PDF, then
 * the barcode line) and on e-mail (PDF attached); WhatsApp falls back to SMS. */
static void profile_bank(cb_profile_t *p)
{
  profile_default(p);
  snprintf(p->name, sizeof p->name, "bank");
  p->lat_p50 = 150;
  p->lat_p99 = 800;
  p->transient = 0.02;
  p->rate_limited = 0;
  p->permanent = 0.005;
  p->channels[0] = CB_WHATSAPP;
  p->channels[1] = CB_EMAIL;
  p->nchannels = 2;
  p->fallback = CB_SMS;
  p->pdf = true;
  p->recipient_gap_ms = 6000; /* the daemon's default: WhatsApp's pair rate limit */
  p->rates[CB_WHATSAPP] = (cb_rate_t){5, 1000, 100};
  p->rates[CB_SMS] = (cb_rate_t){1, 500, 50};
  p->rates[CB_EMAIL] = (cb_rate_t){1, 2000, 200};
}

static int bad(const char *opt, const char *v)
{
  fprintf(stderr, "carteiro-bench: %s: bad value '%s' (see --help)\n", opt, v);
  return CB_EX_USAGE;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
    return false;
  *out = v;
  return true;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

/* "1,2,4" into v (at most 8). Returns the count, or -1. */
static int parse_list(const char *s, long lo, long hi, int *v)
{
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
    long x;
    if (n == 8 || !parse_int(t, lo, hi, &x))
      return -1;
    v[n++] = (int)x;
  }
  return n > 0 ? n : -1;
}

/* CH=[Ax]R[/B] */
static bool parse_rate(const char *s, cb_profile_t *p)
{
  const char *eq = strchr(s, '=');
  if (eq == NULL)
    return false;
  int c = channel_parse(s, (size_t)(eq - s));
  if (c < 0)
    return false;
  cb_rate_t r = {1, 0, 0};
  const char *v = eq + 1;
  char *end;
  const char *x = strchr(v, 'x');
  if (x != NULL) {
    r.accounts = (int)strtol(v, &end, 10);
    if (end != x || r.accounts < 1 || r.accounts > 64)
      return false;
    v = x + 1;
  }
  r.rate = strtod(v, &end);
  if (end == v || r.rate < 0)
    return false;
  if (*end == '/') {
    const char *b = end + 1;
    r.burst = strtod(b, &end);
    if (end == b || r.burst < 0)
      return false;
  }
  if (*end != '\0')
    return false;
  p->rates[c] = r;
  return true;
}

enum {
  O_PROFILE = 256, O_LATENCY, O_TRANSIENT, O_RATE_LIMITED, O_PERMANENT, O_CHANNELS, O_FALLBACK,
  O_PDF, O_NO_PDF, O_PDF_POOL, O_RATE, O_GAP, O_WORKERS, O_INFLIGHT, O_CONCURRENCY,
  O_CONNECTIONS, O_SEED, O_SCALE, O_CYCLES, O_CYCLE_INVOICES, O_WINDOW_HOURS, O_JOBS, O_OUT,
  O_NO_LIMIT, O_LIMIT_REQUESTS, O_BIN, O_GEN_CA, O_KEEP, O_QUIET, O_HTML, O_HELP
};

static const struct option long_opts[] = {
    {"profile", required_argument, NULL, O_PROFILE},
    {"latency", required_argument, NULL, O_LATENCY},
    {"transient", required_argument, NULL, O_TRANSIENT},
    {"rate-limited", required_argument, NULL, O_RATE_LIMITED},
    {"permanent", required_argument, NULL, O_PERMANENT},
    {"channels", required_argument, NULL, O_CHANNELS},
    {"fallback", required_argument, NULL, O_FALLBACK},
    {"pdf", no_argument, NULL, O_PDF},
    {"no-pdf", no_argument, NULL, O_NO_PDF},
    {"pdf-pool", required_argument, NULL, O_PDF_POOL},
    {"rate", required_argument, NULL, O_RATE},
    {"recipient-gap", required_argument, NULL, O_GAP},
    {"workers", required_argument, NULL, O_WORKERS},
    {"max-inflight", required_argument, NULL, O_INFLIGHT},
    {"concurrency", required_argument, NULL, O_CONCURRENCY},
    {"connections", required_argument, NULL, O_CONNECTIONS},
    {"seed", required_argument, NULL, O_SEED},
    {"scale", required_argument, NULL, O_SCALE},
    {"cycles", required_argument, NULL, O_CYCLES},
    {"cycle-invoices", required_argument, NULL, O_CYCLE_INVOICES},
    {"window-hours", required_argument, NULL, O_WINDOW_HOURS},
    {"jobs", required_argument, NULL, O_JOBS},
    {"out", required_argument, NULL, O_OUT},
    {"no-limit", no_argument, NULL, O_NO_LIMIT},
    {"limit-requests", required_argument, NULL, O_LIMIT_REQUESTS},
    {"bin", required_argument, NULL, O_BIN},
    {"gen-ca", required_argument, NULL, O_GEN_CA},
    {"keep", no_argument, NULL, O_KEEP},
    {"quiet", no_argument, NULL, O_QUIET},
    {"html", required_argument, NULL, O_HTML},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0}};

/* `report RESULT.json [--html OUT.html]`: the summary of a saved result and, with --html,
 * its HTML report. Exit codes as carteiro-bench-report: 65 a document that is not a valid
 * result (the check's message says which field), 66 a file that cannot be read, 73 an HTML
 * file that cannot be created, 74 a failed write. */
static int cmd_report(const char *result, const char *html)
{
  json_error_t jerr;
  json_t *doc = json_load_file(result, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) {
    if (json_error_code(&jerr) == json_error_cannot_open_file) {
      fprintf(stderr, "carteiro-bench: %s\n", jerr.text);
      return CB_EX_NOINPUT;
    }
    fprintf(stderr, "carteiro-bench: %s: line %d column %d: %s\n", result, jerr.line,
            jerr.column, jerr.text);
    return CB_EX_DATAERR;
  }
  char err[256];
  int rc = cb_report_check(doc, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "carteiro-bench: %s: %s\n", result, rc == CT_EINVAL ? err : ct_strerror(rc));
    json_decref(doc);
    return CB_EX_DATAERR;
  }
  int code = 0;
  if (cb_report_terminal(doc, stdout) != 0) {
    fprintf(stderr, "carteiro-bench: writing the summary failed\n");
    code = CB_EX_IOERR;
  }
  if (code == 0 && html != NULL)
    code = cb_html_write(doc, html);
  json_decref(doc);
  return code;
}

int main(int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CB_EX_USAGE : 0;
  }
  const char *cmd = argv[1];
  bool is_month = strcmp(cmd, "month") == 0, is_sweep = strcmp(cmd, "sweep") == 0;
  bool is_limit = strcmp(cmd, "limit") == 0, is_report = strcmp(cmd, "report") == 0;
  if (!is_month && !is_sweep && !is_limit && !is_report) {
    fprintf(stderr, "carteiro-bench: unknown subcommand '%s' (month, sweep, limit, report)\n",
            cmd);
    return CB_EX_USAGE;
  }

  cb_profile_t p;
  profile_default(&p);
  /* the profile first, so that every other option overrides a part of it */
  for (int i = 2; i < argc; i++) {
    const char *v = NULL;
    if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc)
      v = argv[i + 1];
    else if (strncmp(argv[i], "--profile=", 10) == 0)
      v = argv[i] + 10;
    if (v == NULL)
      continue;
    if (strcmp(v, "bank") == 0)
      profile_bank(&p);
    else if (strcmp(v, "default") == 0)
      profile_default(&p);
    else
      return bad("--profile", v);
  }
  cb_month_opts_t mo = {.scale = 1, .cycles = 6, .cycle_invoices = 400000, .window_h = 2,
                        .limit_requests = 50000};
  cb_sweep_opts_t so = {.jobs = 5000, .limit_requests = 50000};
  so.workers[0] = 1, so.workers[1] = 2, so.nworkers = 2;
  so.inflight[0] = 500, so.inflight[1] = 2000, so.ninflight = 2;
  so.concurrency[0] = 500, so.nconcurrency = 1;
  so.connections[0] = 1, so.connections[1] = 4, so.nconnections = 2;
  uint64_t limit_requests = 0;
  const char *out = NULL, *html = NULL;
  cb_env_t env;
  memset(&env, 0, sizeof env);
  char self[PATH_MAX];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl > 0) {
    self[sl] = '\0';
    snprintf(env.bin, sizeof env.bin, "%s", dirname(self));
  } else {
    snprintf(env.bin, sizeof env.bin, ".");
  }
  snprintf(env.gen_ca, sizeof env.gen_ca, "%s/gen-test-ca", env.bin);
  if (access(env.gen_ca, X_OK) != 0)
    snprintf(env.gen_ca, sizeof env.gen_ca, "%s/tools/gen-test-ca", CB_SOURCE_DIR);

  optind = 2;
  int o;
  long n;
  double d;
  while ((o = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
    switch (o) {
    case O_PROFILE:
      break;
    case O_LATENCY: {
      char *slash = strchr(optarg, '/');
      if (slash == NULL) {
        if (!parse_double(optarg, 0, 600000, &d))
          return bad("--latency", optarg);
        p.lat_p50 = d, p.lat_p99 = 0;
      } else {
        char a[64];
        snprintf(a, sizeof a, "%.*s", (int)(slash - optarg), optarg);
        double b;
        if (!parse_double(a, 1, 600000, &d) || !parse_double(slash + 1, d, 600000, &b))
          return bad("--latency", optarg);
        p.lat_p50 = d, p.lat_p99 = b;
      }
      break;
    }
    case O_TRANSIENT:
      if (!parse_double(optarg, 0, 1, &p.transient))
        return bad("--transient", optarg);
      break;
    case O_RATE_LIMITED:
      if (!parse_double(optarg, 0, 1, &p.rate_limited))
        return bad("--rate-limited", optarg);
      break;
    case O_PERMANENT:
      if (!parse_double(optarg, 0, 1, &p.permanent))
        return bad("--permanent", optarg);
      break;
    case O_CHANNELS: {
      p.nchannels = 0;
      for (const char *s = optarg; *s != '\0';) {
        size_t k = strcspn(s, ",");
        int c = channel_parse(s, k);
        if (c < 0 || p.nchannels == CB_NCHANNELS)
          return bad("--channels", optarg);
        for (int i = 0; i < p.nchannels; i++)
          if (p.channels[i] == c)
            return bad("--channels", optarg);
        p.channels[p.nchannels++] = c;
        s += k;
        if (*s == ',')
          s++;
      }
      if (p.nchannels == 0)
        return bad("--channels", optarg);
      break;
    }
    case O_FALLBACK:
      if (strcmp(optarg, "none") == 0)
        p.fallback = -1;
      else if ((p.fallback = channel_parse(optarg, strlen(optarg))) < 0)
        return bad("--fallback", optarg);
      break;
    case O_PDF:
      p.pdf = true;
      break;
    case O_NO_PDF:
      p.pdf = false;
      break;
    case O_PDF_POOL:
      if (!parse_int(optarg, 1, 100000, &n))
        return bad("--pdf-pool", optarg);
      p.pdf_pool = (int)n;
      break;
    case O_RATE:
      if (!parse_rate(optarg, &p))
        return bad("--rate", optarg);
      break;
    case O_GAP:
      if (!parse_int(optarg, 0, 3600000, &n))
        return bad("--recipient-gap", optarg);
      p.recipient_gap_ms = (uint32_t)n;
      break;
    case O_WORKERS:
    case O_INFLIGHT:
    case O_CONCURRENCY:
    case O_CONNECTIONS: {
      static const long hi[] = {64, 1000000, 1000000, 1024};
      int *lists[] = {so.workers, so.inflight, so.concurrency, so.connections};
      int *counts[] = {&so.nworkers, &so.ninflight, &so.nconcurrency, &so.nconnections};
      int *knob[] = {&p.knobs.workers, &p.knobs.max_inflight, &p.knobs.provider_concurrency,
                     &p.knobs.connections};
      int i = o - O_WORKERS;
      int k = parse_list(optarg, 1, hi[i], lists[i]);
      if (k < 0 || (k > 1 && !is_sweep))
        return bad(long_opts[O_WORKERS - O_PROFILE + i].name, optarg);
      *counts[i] = k;
      *knob[i] = lists[i][0];
      break;
    }
    case O_SEED:
      if (!parse_int(optarg, 0, LONG_MAX, &n))
        return bad("--seed", optarg);
      p.seed = (uint64_t)n;
      break;
    case O_SCALE:
      if (!parse_double(optarg, 1e-6, 1, &mo.scale))
        return bad("--scale", optarg);
      break;
    case O_CYCLES:
      if (!parse_int(optarg, 1, 1000, &n))
        return bad("--cycles", optarg);
      mo.cycles = (int)n;
      break;
    case O_CYCLE_INVOICES:
      if (!parse_int(optarg, 1, 10000000, &n))
        return bad("--cycle-invoices", optarg);
      mo.cycle_invoices = (uint64_t)n;
      break;
    case O_WINDOW_HOURS:
      if (!parse_double(optarg, 0.001, 24 * 31, &mo.window_h))
        return bad("--window-hours", optarg);
      break;
    case O_JOBS:
      if (!parse_int(optarg, 1, 10000000, &n))
        return bad("--jobs", optarg);
      so.jobs = (uint64_t)n;
      break;
    case O_OUT:
      out = optarg;
      break;
    case O_NO_LIMIT:
      mo.no_limit = so.no_limit = true;
      break;
    case O_LIMIT_REQUESTS:
      if (!parse_int(optarg, 100, 100000000, &n))
        return bad("--limit-requests", optarg);
      limit_requests = (uint64_t)n;
      break;
    case O_BIN:
      snprintf(env.bin, sizeof env.bin, "%s", optarg);
      break;
    case O_GEN_CA:
      snprintf(env.gen_ca, sizeof env.gen_ca, "%s", optarg);
      break;
    case O_KEEP:
      env.keep = true;
      break;
    case O_QUIET:
      env.quiet = true;
      break;
    case O_HTML:
      html = optarg;
      break;
    case O_HELP:
      usage(stdout);
      return 0;
    default:
      return CB_EX_USAGE;
    }
  }
  if (is_report) {
    if (optind != argc - 1) {
      fprintf(stderr, "carteiro-bench report: one RESULT.json expected\n");
      return CB_EX_USAGE;
    }
    return cmd_report(argv[optind], html);
  }
  if (optind != argc) {
    fprintf(stderr, "carteiro-bench: unexpected argument '%s'\n", argv[optind]);
    return CB_EX_USAGE;
  }
  for (int i = 0; i < p.nchannels; i++)
    if (p.fallback == p.channels[i]) {
      fprintf(stderr, "carteiro-bench: the fallback channel must not be one of --channels\n");
      return CB_EX_USAGE;
    }
  if (limit_requests > 0)
    mo.limit_requests = so.limit_requests = limit_requests;
  mo.out = so.out = out;
  mo.html = so.html = html;

  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc;
  if (cb_env_init(&env) != 0) {
    rc = CB_EX_SOFTWARE;
  } else if (is_month) {
    rc = cb_month(&env, &p, &mo, argc, argv);
  } else if (is_sweep) {
    rc = cb_sweep(&env, &p, &so, argc, argv);
  } else {
    rc = cb_limit(&env, &p, limit_requests > 0 ? limit_requests : 200000, out, html, argc,
                  argv);
  }
  if (rc != 0)
    env.keep = true;
  cb_env_done(&env);
  curl_global_cleanup();
  return rc;
}
