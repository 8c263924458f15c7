/* The bench's surroundings: a scratch directory with a test CA, child processes, the mock
 * providers and the HTTP polling of the mock and the daemon. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "bench.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *const cb_channel_names[CB_NCHANNELS] = {"whatsapp", "sms", "email"};
/* the mock's name of the provider behind each channel */
static const char *const mock_prov[CB_NCHANNELS] = {"whatsapp", "twilio", "sendgrid"};

#define TW_SID "AC0123456789abcdef0123456789abcdef"

double cb_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *cb_slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf != NULL) {
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0)
      break;
    if (n + 1 == cap) {
      char *nb = realloc(buf, cap * 2);
      if (nb == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf != NULL)
    buf[n] = '\0';
  return buf;
}

void cb_env_bin(const cb_env_t *e, const char *name, char *out, size_t cap)
{
  snprintf(out, cap, "%s/%s", e->bin, name);
}

void cb_env_path(const cb_env_t *e, const char *name, char *out, size_t cap)
{
  snprintf(out, cap, "%s/%s", e->dir, name);
}

static void redirect(int fd, const char *path)
{
  int f = open(path != NULL ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (f >= 0) {
    dup2(f, fd);
    close(f);
  }
}

pid_t cb_spawn(char *const argv[], const char *out, const char *err)
{
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "carteiro-bench: fork: %s\n", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0) {
      dup2(in, 0);
      close(in);
    }
    redirect(1, out);
    redirect(2, err);
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

int cb_run(char *const argv[], const char *out, const char *err)
{
  pid_t pid = cb_spawn(argv, out, err);
  if (pid < 0)
    return -1;
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int cb_free_port(void)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(s, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(s);
  return port;
}

typedef struct {
  char *p;
  size_t n;
} buf_t;

static size_t on_data(char *d, size_t sz, size_t nm, void *ud)
{
  buf_t *b = ud;
  size_t k = sz * nm;
  char *np = realloc(b->p, b->n + k + 1);
  if (np == NULL)
    return 0;
  memcpy(np + b->n, d, k);
  b->n += k;
  np[b->n] = '\0';
  b->p = np;
  return k;
}

static char *http_do(void **handle, const char *url, const char *ca_file, bool post)
{
  CURL *h = *handle;
  if (h == NULL) {
    h = curl_easy_init();
    if (h == NULL)
      return NULL;
    *handle = h;
  }
  buf_t b = {NULL, 0};
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (ca_file != NULL)
    curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
  if (post) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  long code = 0;
  if (curl_easy_perform(h) != CURLE_OK ||
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200) {
    free(b.p);
    return NULL;
  }
  if (b.p == NULL)
    b.p = calloc(1, 1);
  return b.p;
}

char *cb_http_get(void **handle, const char *url, const char *ca_file)
{
  return http_do(handle, url, ca_file, false);
}

void cb_http_close(void **handle)
{
  if (*handle != NULL)
    curl_easy_cleanup(*handle);
  *handle = NULL;
}

int cb_env_init(cb_env_t *e)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(e->dir, sizeof e->dir, "%s/carteiro-bench.XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(e->dir) == NULL) {
    fprintf(stderr, "carteiro-bench: %s: %s\n", e->dir, strerror(errno));
    return -1;
  }
  char ca[600];
  cb_env_path(e, "ca", ca, sizeof ca);
  char *argv[] = {e->gen_ca, ca, NULL};
  char log[600];
  cb_env_path(e, "gen-test-ca.log", log, sizeof log);
  if (cb_run(argv, log, log) != 0) {
    fprintf(stderr, "carteiro-bench: %s %s failed (see %s)\n", e->gen_ca, ca, log);
    e->keep = true;
    return -1;
  }
  return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void cb_env_done(cb_env_t *e)
{
  cb_mock_stop(e);
  if (e->dir[0] == '\0')
    return;
  if (e->keep)
    fprintf(stderr, "carteiro-bench: kept %s\n", e->dir);
  else
    nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void argv_add(char **argv, int *n, int cap, const char *s)
{
  if (*n < cap - 1)
    argv[(*n)++] = strdup(s);
  argv[*n] = NULL;
}

int cb_mock_start(cb_env_t *e, const cb_profile_t *p, bool zero_faults)
{
  char cert[600], key[600], portf[600], err[600], buf[256];
  cb_env_path(e, "ca/server.crt", cert, sizeof cert);
  cb_env_path(e, "ca/server.key", key, sizeof key);
  cb_env_path(e, zero_faults ? "mock-limit.port" : "mock.port", portf, sizeof portf);
  cb_env_path(e, zero_faults ? "mock-limit.err" : "mock.err", err, sizeof err);
  unlink(portf);
  char bin[600];
  cb_env_bin(e, "mock-provider", bin, sizeof bin);
  char *argv[96];
  int n = 0;
  argv[0] = NULL;
  const char *fixed[] = {bin, "--cert", cert, "--key", key, "--port", "0", "--port-file", portf,
                         "--whatsapp-token", "wa", "--twilio-account", TW_SID ":tw",
                         "--sendgrid-key", "sg", "--max-keys", "16777216", "--keep-files", "0",
                         "--records", "16", "-q"};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    argv_add(argv, &n, 96, fixed[i]);
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)p->seed);
  argv_add(argv, &n, 96, "--seed");
  argv_add(argv, &n, 96, buf);
  for (int c = 0; c < CB_NCHANNELS && !zero_faults; c++) {
    if (p->lat_p50 > 0) {
      if (p->lat_p99 > p->lat_p50)
        snprintf(buf, sizeof buf, "%s=%g/%g", mock_prov[c], p->lat_p50, p->lat_p99);
      else
        snprintf(buf, sizeof buf, "%s=%g", mock_prov[c], p->lat_p50);
      argv_add(argv, &n, 96, "--latency");
      argv_add(argv, &n, 96, buf);
    }
    const struct {
      const char *name;
      double v;
    } f[] = {{"server_error", p->transient}, {"rate_limit", p->rate_limited}};
    for (size_t i = 0; i < 2; i++) {
      if (f[i].v <= 0)
        continue;
      snprintf(buf, sizeof buf, "%s.%s=%g", mock_prov[c], f[i].name, f[i].v);
      argv_add(argv, &n, 96, "--fault");
      argv_add(argv, &n, 96, buf);
    }
    snprintf(buf, sizeof buf, "%s.server_error_status=503", mock_prov[c]);
    argv_add(argv, &n, 96, "--fault");
    argv_add(argv, &n, 96, buf);
    snprintf(buf, sizeof buf, "%s.retry_after=1", mock_prov[c]);
    argv_add(argv, &n, 96, "--fault");
    argv_add(argv, &n, 96, buf);
    /* Permanent refusals hit the first delivery's channel when it has a fallback (a number
     * that is no WhatsApp user gets the SMS), else every channel the invoices use; never the
     * fallback channel itself. */
    bool refuse = false;
    if (p->permanent > 0 && p->nchannels > 0) {
      if (p->fallback >= 0)
        refuse = c == p->channels[0];
      else
        for (int k = 0; k < p->nchannels; k++)
          refuse = refuse || c == p->channels[k];
    }
    if (refuse) {
      snprintf(buf, sizeof buf, "%s.reject=%g", mock_prov[c], p->permanent);
      argv_add(argv, &n, 96, "--fault");
      argv_add(argv, &n, 96, buf);
    }
  }
  pid_t pid = cb_spawn(argv, NULL, err);
  for (int i = 0; i < n; i++)
    free(argv[i]);
  if (pid < 0)
    return -1;
  char *port = NULL;
  for (int i = 0; i < 200 && port == NULL; i++) {
    port = cb_slurp(portf);
    if (port != NULL && port[0] == '\0') {
      free(port);
      port = NULL;
    }
    if (port == NULL) {
      if (waitpid(pid, NULL, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      usleep(50000);
    }
  }
  if (port == NULL) {
    fprintf(stderr, "carteiro-bench: mock-provider did not start (see %s)\n", err);
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
    e->keep = true;
    return -1;
  }
  e->mock_port = (int)strtol(port, NULL, 10);
  e->mock_pid = pid;
  free(port);
  snprintf(e->mock_base, sizeof e->mock_base, "https://127.0.0.1:%d", e->mock_port);
  return 0;
}

void cb_mock_stop(cb_env_t *e)
{
  cb_http_close(&e->mock_curl);
  if (e->mock_pid <= 0)
    return;
  kill(e->mock_pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(e->mock_pid, NULL, WNOHANG) == e->mock_pid) {
      e->mock_pid = 0;
      return;
    }
    usleep(50000);
  }
  kill(e->mock_pid, SIGKILL);
  waitpid(e->mock_pid, NULL, 0);
  e->mock_pid = 0;
}

json_t *cb_mock_stats(cb_env_t *e)
{
  char url[256], ca[600];
  snprintf(url, sizeof url, "%s/stats", e->mock_base);
  cb_env_path(e, "ca/ca.crt", ca, sizeof ca);
  char *body = cb_http_get(&e->mock_curl, url, ca);
  if (body == NULL)
    return NULL;
  json_t *j = json_loads(body, 0, NULL);
  free(body);
  return j;
}

int cb_mock_reset(cb_env_t *e)
{
  char url[256], ca[600];
  snprintf(url, sizeof url, "%s/stats/reset", e->mock_base);
  cb_env_path(e, "ca/ca.crt", ca, sizeof ca);
  char *body = http_do(&e->mock_curl, url, ca, true);
  free(body);
  return body != NULL ? 0 : -1;
}
