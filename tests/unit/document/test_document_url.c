/* Document URLs (src/document/source.c, the URL half): what a job's invoice.document.url may
 * reach, against real HTTPS servers (document_url_server) on 127.0.0.1, 127.0.0.2 and ::1 with
 * certificates from tools/gen-test-ca. Each server logs every request before answering, so
 * "nothing was fetched from the refused target" is a count of log lines, not a guess.
 *
 * The file under test is #included (h2o's habit) so the test can replace its name lookup:
 * "localhost" made to resolve to 127.0.0.2 while the system says 127.0.0.1 shows that the
 * connection goes to the address that was checked and nowhere else.
 */
#define _GNU_SOURCE
#include "document/source.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- servers ----------------------------------------------------------------------------- */

typedef struct {
  pid_t pid;
  unsigned port;
  char log[PATH_MAX];
} server_t;

static char tmpdir[PATH_MAX];
static char certdir[PATH_MAX];
static char ca_file[PATH_MAX];
static server_t srv_a = {-1, 0, ""};  /* 127.0.0.1: the allowed document server */
static server_t srv_b = {-1, 0, ""};  /* 127.0.0.2, same port: the "internal" target */
static server_t srv_6 = {-1, 0, ""};  /* ::1 */

static void path_join(char *out, const char *dir, const char *name) {
  int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
  assert_true(n > 0 && n < PATH_MAX);
}

static int run_gen_test_ca(const char *dir) {
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
      dup2(devnull, STDOUT_FILENO);
    execl(CT_GEN_TEST_CA, CT_GEN_TEST_CA, dir, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return -1;
  return 0;
}

static void stop_server(server_t *s) {
  if (s->pid > 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = -1;
  }
}

/* Starts document_url_server on `addr` (`port` 0 = any) and reads the port it prints. */
static int start_server(server_t *s, const char *addr, unsigned port, const char *name) {
  char chain[PATH_MAX], key[PATH_MAX], portarg[16];
  path_join(chain, certdir, "server-chain.crt");
  path_join(key, certdir, "server.key");
  path_join(s->log, tmpdir, name);
  snprintf(portarg, sizeof portarg, "%u", port);
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(1);
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(CT_DOC_SERVER, CT_DOC_SERVER, "--cert", chain, "--key", key, "--addr", addr, "--port",
          portarg, "--log", s->log, "--max-seconds", "120", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  s->pid = pid;
  char line[32];
  size_t got = 0;
  struct pollfd p = {.fd = fds[0], .events = POLLIN};
  while (got < sizeof line - 1 && memchr(line, '\n', got) == NULL) {
    if (poll(&p, 1, 10000) <= 0)
      break;
    ssize_t n = read(fds[0], line + got, sizeof line - 1 - got);
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fds[0]);
  line[got] = '\0';
  char *end = NULL;
  unsigned long got_port = strtoul(line, &end, 10);
  if (end == line || *end != '\n' || got_port == 0 || got_port > 65535) {
    stop_server(s);
    return -1;
  }
  s->port = (unsigned)got_port;
  return 0;
}

/* Requests `s` logged, all of them or those whose target starts with `prefix`; with
 * `prefix` "accept", the connections it accepted. */
static int requests(const server_t *s, const char *prefix) {
  FILE *f = fopen(s->log, "r");
  if (f == NULL)
    return 0;
  char line[9000];
  int n = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    const char *target = strchr(line, ' ');
    if (prefix != NULL && strcmp(prefix, "accept") == 0)
      n += strcmp(line, "accept\n") == 0;
    else if (target != NULL &&
             (prefix == NULL || strncmp(target + 1, prefix, strlen(prefix)) == 0))
      n++;
  }
  fclose(f);
  return n;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int group_setup(void **state) {
  (void)state;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return -1;
  const char *base = getenv("TMPDIR");
  int n = snprintf(tmpdir, sizeof tmpdir, "%s/ct-docurl-test.XXXXXX",
                   base != NULL ? base : "/tmp");
  if (n <= 0 || (size_t)n >= sizeof tmpdir || mkdtemp(tmpdir) == NULL)
    return -1;
  path_join(certdir, tmpdir, "ca");
  path_join(ca_file, certdir, "ca.crt");
  if (run_gen_test_ca(certdir) != 0) {
    fprintf(stderr, "tools/gen-test-ca failed\n");
    return -1;
  }
  /* B on 127.0.0.2 first, on any port; A on 127.0.0.1 on the same port (tried a few times:
   * another process may hold that port on 127.0.0.1). */
  for (int i = 0; i < 20 && srv_a.pid < 0; i++) {
    stop_server(&srv_b);
    if (start_server(&srv_b, "127.0.0.2", 0, "b.log") != 0)
      return -1;
    start_server(&srv_a, "127.0.0.1", srv_b.port, "a.log");
  }
  if (srv_a.pid < 0 || start_server(&srv_6, "::1", 0, "six.log") != 0) {
    fprintf(stderr, "could not start the document servers\n");
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  stop_server(&srv_a);
  stop_server(&srv_b);
  stop_server(&srv_6);
  if (tmpdir[0] != '\0')
    nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  curl_global_cleanup();
  return 0;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static ct_cidr_t net(const char *s) {
  ct_cidr_t n;
  if (ct_cidr_parse(s, &n) != 0)
    fail_msg("bad test network %s", s);
  return n;
}

typedef struct {
  ct_cidr_t nets[4];
  ct_doc_url_policy_t p;
} policy_t;

/* A policy with `hosts` (NULL = any) and up to 4 allowed networks, comma-separated. */
static void policy(policy_t *pol, const char *hosts, const char *networks) {
  memset(pol, 0, sizeof *pol);
  pol->p.hosts = hosts;
  pol->p.ca_file = ca_file;
  pol->p.timeout_ms = 20000;
  pol->p.networks = pol->nets;
  if (networks == NULL)
    return;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", networks);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
       tok = strtok_r(NULL, ",", &save))
    pol->nets[pol->p.n_networks++] = net(tok);
}

static char url_buf[1024];

static const char *url(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *url(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(url_buf, sizeof url_buf, fmt, ap);
  va_end(ap);
  return url_buf;
}

typedef struct {
  int rc;
  ct_doc_error_t err;
  ct_bytes_t body;
} result_t;

static result_t fetch(const policy_t *pol, const char *u) {
  result_t r = {0};
  r.err.detail[0] = '\0';
  r.rc = ct_document_fetch_url(&pol->p, u, &r.body, &r.err);
  return r;
}

/* The refusal is permanent, with `detail` exactly, and says nothing of addresses or ports. */
static void expect_refused(result_t *r, const char *reason, const char *detail) {
  assert_int_equal(r->rc, CT_EINVAL);
  assert_non_null(r->err.reason);
  assert_string_equal(r->err.reason, reason);
  assert_false(r->err.transient);
  assert_string_equal(r->err.detail, detail);
  assert_null(r->body.data);
  char port[16];
  snprintf(port, sizeof port, "%u", srv_a.port);
  assert_null(strstr(r->err.detail, port));
  assert_null(strstr(r->err.detail, "127.0"));
  assert_null(strstr(r->err.detail, "::1"));
}

static void expect_pdf(result_t *r) {
  if (r->rc != 0)
    fail_msg("fetch failed: %s: %s", r->err.reason, r->err.detail);
  assert_null(r->err.reason);
  assert_true(r->body.len > 5);
  assert_memory_equal(r->body.data, "%PDF-", 5);
  ct_bytes_free(&r->body);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_host_list(void **state) {
  (void)state;
  static const struct {
    const char *hosts, *host;
    bool listed;
  } cases[] = {
      {NULL, "anything.example", true},
      {"", "anything.example", true},
      {"docs.example.com", "docs.example.com", true},
      {"docs.example.com", "DOCS.Example.COM", true},
      {"docs.example.com", "docs.example.com.", true},
      {"docs.example.com", "example.com", false},
      {"docs.example.com", "evil-docs.example.com", false},
      {"docs.example.com", "docs.example.com.evil.net", false},
      {"a.example, docs.example.com", "docs.example.com", true},
      {"a.example,docs.example.com", "docs.example.com", true},
      {"*.cdn.example", "x.cdn.example", true},
      {"*.cdn.example", "x.y.cdn.example", true},
      {"*.cdn.example", "cdn.example", false},
      {"*.cdn.example", "xcdn.example", false},
      {"127.0.0.1", "127.0.0.1", true},
      {"127.0.0.1", "127.0.0.2", false},
      {"::1", "[::1]", true},
      {"[::1]", "[0:0::1]", true},
      {"::1", "[::2]", false},
      {"*.0.0.1", "127.0.0.1", false},   /* wildcards never match addresses */
      {"localhost", "127.0.0.1", false}, /* names are not resolved to be compared */
      {"docs.example.com", "", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool got = ct_document_url_host_listed(cases[i].hosts, cases[i].host);
    if (got != cases[i].listed)
      fail_msg("hosts \"%s\", host \"%s\": expected %s", cases[i].hosts ? cases[i].hosts : "",
               cases[i].host, cases[i].listed ? "listed" : "not listed");
  }
}

static void test_address_rules(void **state) {
  (void)state;
  policy_t none, open_all, lo;
  policy(&none, NULL, NULL);
  policy(&open_all, NULL, "0.0.0.0/0,::/0");
  policy(&lo, NULL, "127.0.0.1/32,10.0.0.0/8");
  static const struct {
    const char *addr;
    bool none, all, lo;
  } cases[] = {
      {"93.184.216.34", true, true, true},
      {"127.0.0.1", false, true, true},
      {"127.0.0.2", false, true, false},
      {"::ffff:127.0.0.1", false, true, true},
      {"64:ff9b::10.1.1.1", false, true, true},  /* NAT64 to an allowed private address */
      {"2002:a01:101::1", false, true, true},    /* 6to4 of 10.1.1.1 */
      {"169.254.169.254", false, true, false},
      {"0.0.0.0", false, false, false},           /* never, whatever the networks */
      {"255.255.255.255", false, false, false},
      {"224.0.0.1", false, false, false},
      {"ff02::1", false, false, false},
      {"::", false, false, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ct_ipaddr_t a;
    assert_int_equal(ct_ipaddr_parse(cases[i].addr, &a), 0);
    ct_ip_class_t why;
    if (address_allowed(&none.p, &a, &why) != cases[i].none ||
        address_allowed(&open_all.p, &a, &why) != cases[i].all ||
        address_allowed(&lo.p, &a, &why) != cases[i].lo)
      fail_msg("%s: wrong verdict", cases[i].addr);
  }
}

/* The socket callback: only a pinned, allowed address gets a socket. */
static void test_open_socket_check(void **state) {
  (void)state;
  policy_t pol;
  policy(&pol, NULL, "127.0.0.2/32");
  pin_t pin = {.policy = &pol.p, .n = 1};
  assert_int_equal(ct_ipaddr_parse("127.0.0.2", &pin.addr[0]), 0);
  struct {
    struct curl_sockaddr sa;
    struct sockaddr_in6 room; /* libcurl's struct has room for any address after `addr` */
  } s;
  memset(&s, 0, sizeof s);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(443)};
  s.sa.family = AF_INET;
  s.sa.socktype = SOCK_STREAM;
  s.sa.protocol = IPPROTO_TCP;
  s.sa.addrlen = sizeof sin;

  inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
  memcpy(&s.sa.addr, &sin, sizeof sin);
  curl_socket_t fd = open_socket(&pin, CURLSOCKTYPE_IPCXN, &s.sa);
  assert_true(fd >= 0);
  close(fd);
  assert_false(pin.refused);
  /* The same address for another purpose (an accepted connection) is refused. */
  assert_int_equal(open_socket(&pin, CURLSOCKTYPE_ACCEPT, &s.sa), CURL_SOCKET_BAD);
  assert_true(pin.refused);

  /* 127.0.0.1: what the system would say "localhost" is, not what was checked. */
  pin.refused = false;
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  memcpy(&s.sa.addr, &sin, sizeof sin);
  assert_int_equal(open_socket(&pin, CURLSOCKTYPE_IPCXN, &s.sa), CURL_SOCKET_BAD);
  assert_true(pin.refused);

  /* A pinned address the policy does not allow (a pin made under other rules). */
  pin.refused = false;
  assert_int_equal(ct_ipaddr_parse("127.0.0.1", &pin.addr[0]), 0);
  assert_int_equal(open_socket(&pin, CURLSOCKTYPE_IPCXN, &s.sa), CURL_SOCKET_BAD);
  assert_true(pin.refused);

  /* IPv6, mapped to a pinned IPv4 address: the same address, allowed. */
  pin.refused = false;
  assert_int_equal(ct_ipaddr_parse("127.0.0.2", &pin.addr[0]), 0);
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
  inet_pton(AF_INET6, "::ffff:127.0.0.2", &sin6.sin6_addr);
  s.sa.family = AF_INET6;
  s.sa.addrlen = sizeof sin6;
  memcpy(&s.sa.addr, &sin6, sizeof sin6);
  fd = open_socket(&pin, CURLSOCKTYPE_IPCXN, &s.sa);
  assert_true(fd >= 0);
  close(fd);
  /* A short address length is refused, not read past. */
  s.sa.addrlen = 8;
  assert_int_equal(open_socket(&pin, CURLSOCKTYPE_IPCXN, &s.sa), CURL_SOCKET_BAD);
}

static void test_allowed_network_fetches(void **state) {
  (void)state;
  policy_t pol;
  policy(&pol, NULL, "127.0.0.1/32,::1/128");
  int before = requests(&srv_a, "/ok.pdf");
  result_t r = fetch(&pol, url("https://127.0.0.1:%u/ok.pdf", srv_a.port));
  expect_pdf(&r);
  assert_int_equal(requests(&srv_a, "/ok.pdf"), before + 1);
  /* IPv6 */
  before = requests(&srv_6, "/ok6.pdf");
  r = fetch(&pol, url("https://[::1]:%u/ok6.pdf", srv_6.port));
  expect_pdf(&r);
  assert_int_equal(requests(&srv_6, "/ok6.pdf"), before + 1);
}

static void test_loopback_refused_without_opt_in(void **state) {
  (void)state;
  policy_t pol;
  policy(&pol, NULL, NULL);
  int a_accepts = requests(&srv_a, "accept"), a6_accepts = requests(&srv_6, "accept");
  result_t r = fetch(&pol, url("https://127.0.0.1:%u/secret.pdf", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: address is loopback");
  r = fetch(&pol, url("https://[::1]:%u/secret.pdf", srv_6.port));
  expect_refused(&r, "document_url_refused", "document URL refused: address is loopback");
  r = fetch(&pol, url("https://[::ffff:127.0.0.1]:%u/secret.pdf", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: address is loopback");
  /* By name: the address the name resolves to is what counts. */
  r = fetch(&pol, url("https://localhost:%u/secret.pdf", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: address is loopback");
  /* Other forms of 127.0.0.1 that URL parsers accept. */
  r = fetch(&pol, url("https://2130706433:%u/secret.pdf", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: address is loopback");
  r = fetch(&pol, url("https://0x7f.1:%u/secret.pdf", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: address is loopback");
  r = fetch(&pol, url("https://0.0.0.0:%u/secret.pdf", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: address is unspecified");
  r = fetch(&pol, "https://169.254.169.254/latest/meta-data/");
  expect_refused(&r, "document_url_refused", "document URL refused: address is link-local");
  r = fetch(&pol, "https://10.1.2.3/x.pdf");
  expect_refused(&r, "document_url_refused", "document URL refused: address is private");
  r = fetch(&pol, "https://[fd00::1]/x.pdf");
  expect_refused(&r, "document_url_refused", "document URL refused: address is private");
  r = fetch(&pol, "https://[fe80::1%25lo]/x.pdf");
  expect_refused(&r, "document_url_refused", "document URL refused: address is link-local");
  r = fetch(&pol, "http://93.184.216.34/x.pdf");
  expect_refused(&r, "document_url_refused", "document URL refused: not https");
  r = fetch(&pol, "file:///etc/passwd");
  expect_refused(&r, "document_url_refused", "document URL refused: not https");
  assert_int_equal(requests(&srv_a, "/secret"), 0);
  assert_int_equal(requests(&srv_6, "/secret"), 0);
  assert_int_equal(requests(&srv_6, "accept"), a6_accepts);
  assert_int_equal(requests(&srv_a, "accept"), a_accepts);
}

/* Tests' name lookup: "localhost" is whatever these say. */
static const char *fake_addrs[4];

static int resolve_fake(const char *host, ct_ipaddr_t *out, size_t cap, size_t *n) {
  if (strcmp(host, "localhost") != 0)
    return EAI_NONAME;
  *n = 0;
  for (size_t i = 0; i < 4 && fake_addrs[i] != NULL && *n < cap; i++)
    if (ct_ipaddr_parse(fake_addrs[i], &out[(*n)++]) != 0)
      return EAI_FAIL;
  return 0;
}

/* The connection goes to the address that was checked: the system resolves localhost to
 * 127.0.0.1 (server A), the check saw 127.0.0.2 (server B), and B is the one asked. */
static void test_connection_pinned_to_checked_address(void **state) {
  (void)state;
  policy_t pol;
  policy(&pol, NULL, "127.0.0.2/32");
  resolve_host = resolve_fake;
  fake_addrs[0] = "127.0.0.2";
  fake_addrs[1] = NULL;
  result_t r = fetch(&pol, url("https://localhost:%u/pinned.pdf", srv_a.port));
  expect_pdf(&r);
  assert_int_equal(requests(&srv_b, "/pinned.pdf"), 1);
  assert_int_equal(requests(&srv_a, "/pinned.pdf"), 0);
  /* A name with one refused address among allowed ones is refused before any connection. */
  fake_addrs[0] = "127.0.0.2";
  fake_addrs[1] = "127.0.0.1";
  fake_addrs[2] = NULL;
  r = fetch(&pol, url("https://localhost:%u/mixed.pdf", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: address is loopback");
  assert_int_equal(requests(&srv_b, "/mixed.pdf") + requests(&srv_a, "/mixed.pdf"), 0);
  /* Lookups that fail: a name that does not exist is permanent, a failing resolver is not. */
  r = fetch(&pol, url("https://nowhere.invalid:%u/x.pdf", srv_a.port));
  expect_refused(&r, "document_fetch_failed", "document URL: the host name does not exist");
  fake_addrs[0] = "not an address";
  fake_addrs[1] = NULL;
  r = fetch(&pol, url("https://localhost:%u/x.pdf", srv_a.port));
  assert_int_equal(r.rc, CT_EINVAL);
  assert_string_equal(r.err.reason, "document_fetch_failed");
  assert_true(r.err.transient);
  assert_string_equal(r.err.detail, "document URL: the host name lookup failed");
  resolve_host = resolve_system;
}

static void test_redirects(void **state) {
  (void)state;
  policy_t pol;
  policy(&pol, NULL, "127.0.0.1/32");
  /* From the allowed server to the internal one: refused before any connection to it. */
  int b_before = requests(&srv_b, "accept");
  result_t r = fetch(&pol, url("https://127.0.0.1:%u/to?url=https%%3A%%2F%%2F127.0.0.2%%3A%u"
                               "%%2Fdoc.pdf",
                               srv_a.port, srv_b.port));
  expect_refused(&r, "document_url_refused",
                 "document URL refused: redirect to a refused address (loopback)");
  assert_int_equal(requests(&srv_a, "/to?"), 1);
  assert_int_equal(requests(&srv_b, "accept"), b_before); /* not even connected to */
  /* ... and by a name that resolves there. */
  resolve_host = resolve_fake;
  fake_addrs[0] = "127.0.0.2";
  fake_addrs[1] = NULL;
  r = fetch(&pol, url("https://127.0.0.1:%u/to?url=https://localhost:%u/doc.pdf", srv_a.port,
                      srv_b.port));
  resolve_host = resolve_system;
  expect_refused(&r, "document_url_refused",
                 "document URL refused: redirect to a refused address (loopback)");
  /* ... and to IPv6 loopback. */
  r = fetch(&pol, url("https://127.0.0.1:%u/to?url=https://[::1]:%u/doc.pdf", srv_a.port,
                      srv_6.port));
  expect_refused(&r, "document_url_refused",
                 "document URL refused: redirect to a refused address (loopback)");
  assert_int_equal(requests(&srv_6, "/doc.pdf"), 0);
  assert_int_equal(requests(&srv_b, "accept"), b_before);
  /* To plain http. */
  r = fetch(&pol, url("https://127.0.0.1:%u/to?url=http://127.0.0.1:%u/doc.pdf", srv_a.port,
                      srv_a.port));
  expect_refused(&r, "document_url_refused",
                 "document URL refused: redirect to a URL that is not https");
  /* A loop: asked once, then recognised. */
  int before = requests(&srv_a, "/loop");
  r = fetch(&pol, url("https://127.0.0.1:%u/loop", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: redirect loop");
  assert_int_equal(requests(&srv_a, "/loop"), before + 1);
  /* Five redirects are followed; a sixth is one too many (six requests made). */
  r = fetch(&pol, url("https://127.0.0.1:%u/chain/5", srv_a.port));
  expect_pdf(&r);
  before = requests(&srv_a, "/chain/");
  r = fetch(&pol, url("https://127.0.0.1:%u/chain/6", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: too many redirects");
  assert_int_equal(requests(&srv_a, "/chain/"), before + 6);
  /* A redirect to an allowed place is followed. */
  r = fetch(&pol, url("https://127.0.0.1:%u/to?url=/chain/0", srv_a.port));
  expect_pdf(&r);
}

static void test_host_list_fetch(void **state) {
  (void)state;
  policy_t pol;
  policy(&pol, "docs.example.com", "127.0.0.1/32");
  result_t r = fetch(&pol, url("https://127.0.0.1:%u/unlisted.pdf", srv_a.port));
  expect_refused(&r, "document_url_refused",
                 "document URL refused: host not in document_url_hosts");
  assert_int_equal(requests(&srv_a, "/unlisted.pdf"), 0);
  policy(&pol, "docs.example.com, 127.0.0.1", "127.0.0.1/32");
  r = fetch(&pol, url("https://127.0.0.1:%u/listed.pdf", srv_a.port));
  expect_pdf(&r);
  /* A listed host that redirects to an unlisted one. */
  r = fetch(&pol, url("https://127.0.0.1:%u/to?url=https://localhost:%u/doc.pdf", srv_a.port,
                      srv_a.port));
  expect_refused(&r, "document_url_refused",
                 "document URL refused: redirect to a host not in document_url_hosts");
  /* Listed but private, without the network: the address rule still holds. */
  policy(&pol, "127.0.0.1", NULL);
  r = fetch(&pol, url("https://127.0.0.1:%u/listed-private.pdf", srv_a.port));
  expect_refused(&r, "document_url_refused", "document URL refused: address is loopback");
  assert_int_equal(requests(&srv_a, "/listed-private.pdf"), 0);
}

static void test_statuses_and_failures(void **state) {
  (void)state;
  policy_t pol;
  policy(&pol, NULL, "127.0.0.1/32");
  result_t r = fetch(&pol, url("https://127.0.0.1:%u/status/404", srv_a.port));
  expect_refused(&r, "document_not_found", "the document URL answered HTTP 404");
  r = fetch(&pol, url("https://127.0.0.1:%u/status/503", srv_a.port));
  assert_int_equal(r.rc, CT_EINVAL);
  assert_string_equal(r.err.reason, "document_fetch_failed");
  assert_true(r.err.transient);
  assert_string_equal(r.err.detail, "the document URL answered HTTP 503");
  /* The size cap holds while reading. */
  r = fetch(&pol, url("https://127.0.0.1:%u/big/%zu", srv_a.port, CT_DOCUMENT_MAX + 1));
  expect_refused(&r, "document_too_large", "the document URL answered more than 20971520 bytes");
  r = fetch(&pol, url("https://127.0.0.1:%u/big/%zu", srv_a.port, CT_DOCUMENT_MAX));
  assert_int_equal(r.rc, 0);
  assert_int_equal(r.body.len, CT_DOCUMENT_MAX);
  ct_bytes_free(&r.body);
  /* A port where nothing listens: refused connection, permanent. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  socklen_t len = sizeof sin;
  assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  unsigned closed = ntohs(sin.sin_port);
  close(fd);
  r = fetch(&pol, url("https://127.0.0.1:%u/x.pdf", closed));
  expect_refused(&r, "document_fetch_failed",
                 "document URL: connection refused or unreachable");
  /* Certificate for another CA: transient, and libcurl's words are not repeated. */
  pol.p.ca_file = "/dev/null";
  r = fetch(&pol, url("https://127.0.0.1:%u/x.pdf", srv_a.port));
  assert_int_equal(r.rc, CT_EINVAL);
  assert_true(r.err.transient);
  assert_string_equal(r.err.detail, "document URL: TLS handshake or certificate check failed");
}

/* Proxies from the environment are not used: a dead one in https_proxy changes nothing. */
static void test_environment_proxy_ignored(void **state) {
  (void)state;
  policy_t pol;
  policy(&pol, NULL, "127.0.0.1/32");
  setenv("https_proxy", "http://127.0.0.1:9", 1);
  setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
  setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
  result_t r = fetch(&pol, url("https://127.0.0.1:%u/proxied.pdf", srv_a.port));
  unsetenv("https_proxy");
  unsetenv("HTTPS_PROXY");
  unsetenv("ALL_PROXY");
  expect_pdf(&r);
  assert_int_equal(requests(&srv_a, "/proxied.pdf"), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_host_list),
      cmocka_unit_test(test_address_rules),
      cmocka_unit_test(test_open_socket_check),
      cmocka_unit_test(test_allowed_network_fetches),
      cmocka_unit_test(test_loopback_refused_without_opt_in),
      cmocka_unit_test(test_connection_pinned_to_checked_address),
      cmocka_unit_test(test_redirects),
      cmocka_unit_test(test_host_list_fetch),
      cmocka_unit_test(test_statuses_and_failures),
      cmocka_unit_test(test_environment_proxy_ignored),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
