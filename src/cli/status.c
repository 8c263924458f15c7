/* carteiro status: the running daemon at a glance, for the on-call shift.
 *
 * Unlike the other commands this one does not open the spool: it asks the daemon, over its
 * HTTP API (GET /v1/status, see worker/status.h), for figures only the running process has:
 * rates, requests in flight, breaker and pause state. The daemon is found through the same
 * configuration file it runs with (http_listen, http_token_file), or --url and --token-file.
 *
 * Exit codes: 0; EX_USAGE bad options; EX_NOINPUT / EX_DATAERR an unreadable or empty token
 * file; EX_CONFIG a configuration that does not say where the daemon listens; EX_UNAVAILABLE
 * nothing answers at the address; EX_NOPERM the daemon refused the token; EX_PROTOCOL the
 * answer is not a status document. */
#include "cli/cli.h"

#include "common/error.h"
#include "config/config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/carteiro/carteiro.ini"
#define DEFAULT_WATCH_S 2
#define MAX_WATCH_S 86400
/* The document grows with providers and dead-letter reasons, never with jobs. */
#define MAX_BODY ((size_t)4 << 20)
#define CONNECT_TIMEOUT_MS 2000L
#define TIMEOUT_MS 5000L
#define URL_MAX 1024
#define TOKEN_MAX 4096

static void usage(FILE *out) {
  fprintf(out,
          "usage: carteiro status [--config FILE | --url URL] [--token-file FILE] [--json]\n"
          "                       [--watch [SECONDS]]\n\n"
          "The running daemon at a glance, read from its HTTP API (GET /v1/status): per\n"
          "provider account the messages accepted per second over 10 s and 1 min, requests in\n"
          "flight against the concurrency cap, the token-bucket rate, the breaker and the\n"
          "pause; the spool by state and the age of the oldest due job; dead letters by\n"
          "reason; and what the HTTP API accepted, found duplicate and rejected.\n\n"
          "options:\n"
          "  --config FILE       the daemon's configuration, to find http_listen and its token\n"
          "                      (default $CARTEIRO_CONFIG, else %s)\n"
          "  --url URL           the daemon's HTTP API, e.g. http://127.0.0.1:8080, instead\n"
          "                      of the configuration's http_listen\n"
          "  --token-file FILE   the bearer token (default $CARTEIRO_HTTP_TOKEN, else the\n"
          "                      configuration's http_token_file)\n"
          "  --json              print the daemon's JSON document as it came\n"
          "  --watch [SECONDS]   refresh every SECONDS (default %d) until Ctrl-C: a terminal\n"
          "                      is cleared and redrawn, other output gets one block a time;\n"
          "                      a daemon that does not answer is retried\n"
          "  --help              this text\n\n"
          "Exit status: 0 ok; 64 bad options; 66 token file unreadable; 69 the daemon is not\n"
          "reachable; 76 the answer is not a status document; 77 the token was refused;\n"
          "78 the configuration does not say where the daemon listens.\n\n"
          "Example:\n"
          "  carteiro status --config /etc/carteiro/carteiro.ini\n"
          "  carteiro status --url http://127.0.0.1:8080 --token-file /etc/carteiro/http.token "
          "--watch 5\n",
          DEFAULT_CONFIG, DEFAULT_WATCH_S);
}

/* ---- where the daemon is, and the token ---- */

typedef struct {
  char url[URL_MAX];        /* .../v1/status */
  char token[TOKEN_MAX];
  char token_from[URL_MAX]; /* for the "refused" message: where the token came from */
} target_t;

/* Reads a token file: its first line, without trailing blanks. */
static int read_token(const char *path, target_t *t) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    ct_cli_error("status", "--token-file %s: %s", path, strerror(errno));
    return EX_NOINPUT;
  }
  size_t n = fread(t->token, 1, sizeof t->token - 1, f);
  fclose(f);
  t->token[n] = '\0';
  t->token[strcspn(t->token, "\r\n")] = '\0';
  n = strlen(t->token);
  while (n > 0 && (t->token[n - 1] == ' ' || t->token[n - 1] == '\t'))
    t->token[--n] = '\0';
  if (n == 0) {
    ct_cli_error("status", "--token-file %s is empty", path);
    return EX_DATAERR;
  }
  snprintf(t->token_from, sizeof t->token_from, "--token-file %s", path);
  return 0;
}

/* http_listen ("127.0.0.1:8080", "0.0.0.0:8080", "::1:8080") as a URL this host can use. */
static int url_from_listen(const char *cfg_path, const char *listen, target_t *t) {
  const char *colon = strrchr(listen, ':');
  if (listen[0] == '\0' || colon == NULL) {
    ct_cli_error("status",
                 "%s sets no http_listen, so the daemon has no HTTP API to ask (set it, or "
                 "give --url)",
                 cfg_path);
    return EX_CONFIG;
  }
  long port = strtol(colon + 1, NULL, 10);
  if (port <= 0) {
    ct_cli_error("status",
                 "%s: http_listen = %s picks a free port at start-up; give --url with the port "
                 "the daemon logged ('http: listening on ...')",
                 cfg_path, listen);
    return EX_CONFIG;
  }
  char host[256];
  snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
  /* a wildcard address is reached through loopback */
  if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
    snprintf(host, sizeof host, "127.0.0.1");
  else if (strcmp(host, "::") == 0)
    snprintf(host, sizeof host, "::1");
  bool v6 = strchr(host, ':') != NULL;
  snprintf(t->url, sizeof t->url, "http://%s%s%s:%ld/v1/status", v6 ? "[" : "", host,
           v6 ? "]" : "", port);
  return 0;
}

static int url_from_flag(const char *url, target_t *t) {
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
    ct_cli_error("status", "--url: '%s' is not an http:// or https:// URL", url);
    return EX_USAGE;
  }
  size_t n = strlen(url);
  while (n > 0 && url[n - 1] == '/')
    n--;
  static const char route[] = "/v1/status";
  size_t rl = sizeof route - 1;
  bool has_route = n >= rl && memcmp(url + n - rl, route, rl) == 0;
  if (n + rl >= sizeof t->url) {
    ct_cli_error("status", "--url: too long");
    return EX_USAGE;
  }
  snprintf(t->url, sizeof t->url, "%.*s%s", (int)n, url, has_route ? "" : route);
  return 0;
}

static int find_target(const char *config_flag, const char *url_flag, const char *token_file,
                       target_t *t) {
  int ex;
  if (token_file != NULL && (ex = read_token(token_file, t)) != 0)
    return ex;
  const char *env = getenv("CARTEIRO_HTTP_TOKEN");
  if (t->token[0] == '\0' && env != NULL && env[0] != '\0') {
    snprintf(t->token, sizeof t->token, "%s", env);
    snprintf(t->token_from, sizeof t->token_from, "$CARTEIRO_HTTP_TOKEN");
  }
  if (url_flag != NULL && (ex = url_from_flag(url_flag, t)) != 0)
    return ex;
  bool need_config = url_flag == NULL || (t->token[0] == '\0' && config_flag != NULL);
  if (!need_config) {
    if (t->token[0] == '\0') {
      ct_cli_error("status", "no token: give --token-file FILE, set $CARTEIRO_HTTP_TOKEN, or "
                             "--config FILE");
      return EX_USAGE;
    }
    return 0;
  }
  const char *path = config_flag;
  if (path == NULL) {
    const char *e = getenv("CARTEIRO_CONFIG");
    path = e != NULL && e[0] != '\0' ? e : DEFAULT_CONFIG;
  }
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  int rc = ct_config_load(path, &cfg, errs, &nerr);
  if (rc == CT_ENOENT) {
    ct_cli_error("status", "%s: no such file (give --config FILE, or --url and --token-file)",
                 path);
    return EX_NOINPUT;
  }
  if (rc != 0) {
    for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
      fprintf(stderr, "%s: %s: %s\n", path, errs[i].where, errs[i].what);
    ct_cli_error("status", "%s: %s (carteiro config check %s names every problem)", path,
                 ct_strerror(rc), path);
    return EX_CONFIG;
  }
  ex = url_flag != NULL ? 0 : url_from_listen(path, cfg->http_listen, t);
  if (ex == 0 && t->token[0] == '\0' && cfg->http_token != NULL) {
    snprintf(t->token, sizeof t->token, "%s", cfg->http_token);
    snprintf(t->token_from, sizeof t->token_from, "http_token_file of %s", path);
  }
  ct_config_free(cfg);
  if (ex == 0 && t->token[0] == '\0') {
    ct_cli_error("status", "%s has no http_token_file: give --token-file FILE", path);
    ex = EX_USAGE;
  }
  return ex;
}

/* ---- one request ---- */

typedef struct {
  char *p;
  size_t len;
  bool too_big;
} body_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
  body_t *b = arg;
  size_t k = size * n;
  if (k > MAX_BODY - b->len) {
    b->too_big = true;
    return 0;
  }
  char *p = realloc(b->p, b->len + k + 1);
  if (p == NULL)
    return 0;
  memcpy(p + b->len, data, k);
  b->p = p;
  b->len += k;
  b->p[b->len] = '\0';
  return k;
}

/* Fetches the document. Returns 0 with *doc (and the body, for --json) set, or the exit
 * code after printing why. */
static int fetch(CURL *c, const target_t *t, body_t *b, json_t **doc) {
  char auth[TOKEN_MAX + 32];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", t->token);
  struct curl_slist *hl = curl_slist_append(NULL, auth);
  if (hl == NULL) {
    ct_cli_error("status", "out of memory");
    return EX_OSERR;
  }
  char errbuf[CURL_ERROR_SIZE] = "";
  free(b->p);
  *b = (body_t){NULL, 0, false};
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, t->url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "carteiro-status");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hl);
  explicit_bzero(auth, sizeof auth);

  if (rc != CURLE_OK && b->too_big) {
    ct_cli_error("status", "malformed answer from %s: larger than %zu MiB", t->url,
                 MAX_BODY >> 20);
    return EX_PROTOCOL;
  }
  if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
    ct_cli_error("status", "%s: %s", t->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return EX_USAGE;
  }
  if (rc != CURLE_OK) {
    ct_cli_error("status", "cannot reach the daemon at %s: %s (is carteiro run up, with "
                           "http_listen set?)",
                 t->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return EX_UNAVAILABLE;
  }
  if (status == 401) {
    ct_cli_error("status", "the daemon at %s refused the token (from %s)", t->url,
                 t->token_from);
    return EX_NOPERM;
  }
  if (status == 404) {
    ct_cli_error("status", "malformed answer from %s: 404, no status route there (not a "
                           "carteiro daemon, or an older one)",
                 t->url);
    return EX_PROTOCOL;
  }
  if (status != 200) {
    ct_cli_error("status", "malformed answer from %s: HTTP status %ld", t->url, status);
    return EX_PROTOCOL;
  }
  json_error_t jerr;
  json_t *j = json_loadb(b->p != NULL ? b->p : "", b->len, 0, &jerr);
  if (j == NULL) {
    char why[160];
    ct_json_error_describe(&jerr, why, sizeof why);
    ct_cli_error("status", "malformed answer from %s: not JSON: %s", t->url, why);
    return EX_PROTOCOL;
  }
  const char *missing = NULL;
  json_t *spool = json_object_get(j, "spool");
  if (!json_is_object(j))
    missing = "a JSON object";
  else if (!json_is_object(json_object_get(j, "jobs")))
    missing = "a \"jobs\" object";
  else if (!json_is_object(json_object_get(j, "enqueue")))
    missing = "an \"enqueue\" object";
  else if (!json_is_array(json_object_get(j, "providers")))
    missing = "a \"providers\" array";
  else if (!json_is_object(spool) && !json_is_null(spool))
    missing = "a \"spool\" object";
  if (missing != NULL) {
    json_decref(j);
    ct_cli_error("status", "malformed answer from %s: expected %s", t->url, missing);
    return EX_PROTOCOL;
  }
  *doc = j;
  return 0;
}

/* ---- the screen ---- */

static long long num(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static double real(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : 0.0;
}

static const char *str(json_t *o, const char *key, const char *dflt) {
  const char *s = json_string_value(json_object_get(o, key));
  return s != NULL ? s : dflt;
}

static void duration(long long s, char *buf, size_t cap) {
  if (s >= 86400)
    snprintf(buf, cap, "%lldd%02lldh%02lldm", s / 86400, s % 86400 / 3600, s % 3600 / 60);
  else if (s >= 3600)
    snprintf(buf, cap, "%lldh%02lldm%02llds", s / 3600, s % 3600 / 60, s % 60);
  else if (s >= 60)
    snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
  else
    snprintf(buf, cap, "%llds", s);
}

static void print_screen(const target_t *t, json_t *doc) {
  char up[32];
  duration(num(doc, "uptime_s"), up, sizeof up);
  printf("carteiro status  %s  %s  up %s%s\n", t->url, str(doc, "time", "?"), up,
         json_is_true(json_object_get(doc, "stopping")) ? "  STOPPING" : "");

  json_t *jobs = json_object_get(doc, "jobs");
  json_t *dps = json_object_get(jobs, "delivered_per_s");
  printf("jobs       delivered %lld  retried %lld  dead %lld  released %lld  in flight "
         "%lld/%lld\n",
         num(jobs, "delivered"), num(jobs, "retried"), num(jobs, "dead"), num(jobs, "released"),
         num(jobs, "inflight"), num(jobs, "max_inflight"));
  printf("delivered  %.1f jobs/s over 10 s, %.1f jobs/s over 1 min\n", real(dps, "10s"),
         real(dps, "1m"));
  json_t *enq = json_object_get(doc, "enqueue");
  printf("http api   accepted %lld  duplicates %lld  rejected %lld\n", num(enq, "accepted"),
         num(enq, "duplicates"), num(enq, "rejected"));
  json_t *cluster = json_object_get(doc, "cluster");
  bool clustered = json_is_object(cluster);
  if (clustered) {
    long long nodes = num(cluster, "nodes");
    if (json_is_true(json_object_get(cluster, "sending")))
      printf("cluster    %lld node%s: this node sends 1/%lld of each rate\n", nodes,
             nodes == 1 ? "" : "s", nodes);
    else
      printf("cluster    %lld node%s: this node is NOT SENDING (joining, or lost NATS)\n",
             nodes, nodes == 1 ? "" : "s");
  }

  json_t *tr = json_object_get(doc, "transport");
  if (json_is_object(tr)) {
    json_t *req = json_object_get(tr, "requests");
    json_t *h2 = json_object_get(tr, "h2");
    printf("transport  nghttp2 %lld requests, libcurl %lld  (h2: %lld connections, %lld GOAWAY, "
           "%lld refused streams sent again, %lld PING timeouts)\n",
           num(req, "nghttp2"), num(req, "libcurl"), num(h2, "connections"), num(h2, "goaway"),
           num(h2, "refused_streams"), num(h2, "ping_timeouts"));
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(tr, "origins"), i, o)
      printf("           %s  %s (%s)\n", str(o, "origin", "?"), str(o, "client", "?"),
             str(o, "reason", "?"));
  }
  printf("\n%-20s %-8s %9s %9s %9s %7s %7s %-13s %-18s %-9s %s\n", "PROVIDER", "CHANNEL",
         "MSG/S 10s", "MSG/S 1m", "ACCEPTED", "FAILED", "REFUSED", "IN FLIGHT", "RATE LIMIT",
         "BREAKER", "PAUSED");
  json_t *providers = json_object_get(doc, "providers");
  size_t i;
  json_t *p;
  json_array_foreach(providers, i, p) {
    json_t *mps = json_object_get(p, "messages_per_s");
    char inflight[48], rate[48];
    double cap = floor(real(p, "concurrency_limit"));
    long long max = num(p, "max_concurrency");
    if ((long long)cap < max)
      snprintf(inflight, sizeof inflight, "%lld/%.0f<%lld", num(p, "inflight"), cap, max);
    else
      snprintf(inflight, sizeof inflight, "%lld/%lld", num(p, "inflight"), max);
    if (real(p, "rate") > 0 && clustered)
      /* This node's share now, of the account's rate */
      snprintf(rate, sizeof rate, "%.4g/s of %g", real(p, "rate_share"), real(p, "rate"));
    else if (real(p, "rate") > 0)
      snprintf(rate, sizeof rate, "%g/s burst %lld", real(p, "rate"), num(p, "burst"));
    else
      snprintf(rate, sizeof rate, "none");
    const char *breaker = str(p, "breaker", "?");
    printf("%-20s %-8s %9.1f %9.1f %9lld %7lld %7lld %-13s %-18s %-9s %s\n",
           str(p, "name", "?"), str(p, "channel", "?"), real(mps, "10s"), real(mps, "1m"),
           num(p, "accepted"), num(p, "transient") + num(p, "throttled") + num(p, "permanent"),
           num(p, "refused"), inflight, rate,
           strcmp(breaker, "half_open") == 0 ? "half-open" : breaker,
           json_is_true(json_object_get(p, "paused")) ? "PAUSED" : "no");
  }

  json_t *spool = json_object_get(doc, "spool");
  if (!json_is_object(spool)) {
    printf("\nspool      not counted yet (the daemon counts it every 2 s)\n");
    return;
  }
  long long ready = num(spool, "ready"), due = num(spool, "due");
  printf("\nspool      ready %lld (%lld due now, %lld not yet due)  in flight %lld\n", ready,
         due, ready > due ? ready - due : 0, num(spool, "inflight"));
  printf("           delivered %lld (receipts retained)  dead %lld\n",
         num(spool, "delivered"), num(spool, "dead"));
  if (due > 0) {
    char age[32];
    duration((long long)real(spool, "oldest_due_age_s"), age, sizeof age);
    printf("oldest due %s ago\n", age);
  }
  json_t *reasons = json_object_get(spool, "dead_by_reason");
  if (json_object_size(reasons) > 0) {
    printf("dead letters by reason\n");
    const char *reason;
    json_t *v;
    json_object_foreach(reasons, reason, v)
      printf("  %-30s %lld\n", reason, json_is_integer(v) ? (long long)json_integer_value(v) : 0);
  }
}

/* ---- --watch ---- */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* Sleeps `seconds`, or less when SIGINT comes. */
static void pause_for(unsigned seconds) {
  struct timespec left = {.tv_sec = seconds, .tv_nsec = 0};
  while (!interrupted && nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

static int parse_watch(const char *s, unsigned *out) {
  uint64_t v;
  if (ct_cli_parse_count(s, MAX_WATCH_S, &v) != 0) {
    ct_cli_error("status", "--watch: '%s' is not a number of seconds from 1 to %d", s,
                 MAX_WATCH_S);
    return EX_USAGE;
  }
  *out = (unsigned)v;
  return 0;
}

int ct_cmd_status(int argc, char **argv) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"url", required_argument, NULL, 'u'},
      {"token-file", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
      {"watch", optional_argument, NULL, 'w'},  {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *config_flag = NULL, *url_flag = NULL, *token_file = NULL;
  bool json = false;
  unsigned watch = 0;
  argv[0] = "carteiro status"; /* getopt names argv[0] in its messages */
  optind = 1;
  for (;;) {
    int c = getopt_long(argc, argv, "", longopts, NULL);
    if (c == -1)
      break;
    switch (c) {
    case 'c':
      config_flag = optarg;
      break;
    case 'u':
      url_flag = optarg;
      break;
    case 't':
      token_file = optarg;
      break;
    case 'j':
      json = true;
      break;
    case 'w':
      watch = DEFAULT_WATCH_S;
      /* "--watch 5" as well as "--watch=5": the next word is taken when it is a number */
      if (optarg == NULL && optind < argc && argv[optind][0] >= '0' && argv[optind][0] <= '9')
        optarg = argv[optind++];
      if (optarg != NULL && parse_watch(optarg, &watch) != 0)
        return EX_USAGE;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return EX_USAGE;
    }
  }
  if (optind < argc) {
    ct_cli_error("status", "unexpected argument '%s'", argv[optind]);
    return EX_USAGE;
  }
  target_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    ct_cli_error("status", "out of memory");
    return EX_OSERR;
  }
  int ex = find_target(config_flag, url_flag, token_file, t);
  if (ex != 0) {
    free(t);
    return ex;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    free(t);
    ct_cli_error("status", "libcurl could not start");
    return EX_OSERR;
  }
  CURL *c = curl_easy_init();
  if (c == NULL) {
    curl_global_cleanup();
    free(t);
    ct_cli_error("status", "out of memory");
    return EX_OSERR;
  }
  if (watch > 0) {
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
  }
  bool tty = isatty(STDOUT_FILENO);
  body_t body = {NULL, 0, false};
  for (;;) {
    json_t *doc = NULL;
    /* cleared before the request, so that an error it prints stays on the screen */
    if (watch > 0 && tty && !json) {
      fputs("\033[H\033[2J", stdout);
      fflush(stdout);
    }
    ex = fetch(c, t, &body, &doc);
    if (ex == 0) {
      if (json)
        printf("%.*s%s", (int)body.len, body.p,
               body.len > 0 && body.p[body.len - 1] == '\n' ? "" : "\n");
      else
        print_screen(t, doc);
      json_decref(doc);
    }
    if (watch == 0 || interrupted)
      break;
    /* a daemon restarting is retried; a refused token or a foreign answer will not mend */
    if (ex != 0 && ex != EX_UNAVAILABLE)
      break;
    if (!tty && !json)
      putchar('\n');
    fflush(stdout);
    pause_for(watch);
    if (interrupted) {
      ex = 0;
      break;
    }
  }
  if (watch > 0 && interrupted && ex == EX_UNAVAILABLE)
    ex = 0;
  fflush(stdout);
  free(body.p);
  curl_easy_cleanup(c);
  curl_global_cleanup();
  explicit_bzero(t->token, sizeof t->token);
  free(t);
  return ex;
}
