/* Where a document comes from: a path under the configured document root, or an https URL.
 *
 * Paths. The path comes from a producer, so it is outside input: the checks below stop it from
 * naming anything but a regular file under the root. They are made in two passes. The path
 * is first refused on its text (absolute, "..", empty), which needs no file system and gives
 * the producer a clear reason. Then realpath() resolves every symlink and the result must lie
 * under the root's own real path; only then is the file opened, with O_NOFOLLOW and
 * O_NONBLOCK so that neither a symlink swapped in at the last moment nor a FIFO can hold us.
 * Where /proc is mounted, the path of the descriptor we actually hold is compared with the
 * checked one, which closes the window between realpath() and open() for a rename racing us.
 *
 * URLs. A URL is outside input too, and one that names the daemon's own network (loopback,
 * RFC 1918, link-local cloud metadata, ...) would turn the daemon into a proxy into it: what
 * it fetched would go to a customer, and its error messages would map which ports are open.
 * So a fetch is a chain of hops, each one:
 *   parse (libcurl's URL API, the parser libcurl itself will use) -> https? -> host listed? ->
 *   resolve -> every address allowed? -> transfer pinned to those addresses -> 2xx: done;
 *   3xx: the Location is the next hop.
 * Pinning is two locks. CURLOPT_RESOLVE hands libcurl the addresses we checked, so it does
 * not look the name up again; and CURLOPT_OPENSOCKETFUNCTION sees the address of every socket
 * libcurl opens and refuses any that is not one of them. The second lock holds even where the
 * first would not (a name libcurl spells differently from us), so no connection can reach an
 * address that was not checked. libcurl never follows redirects itself; proxies from the
 * environment are switched off. The rules and reasons are listed in document.h.
 *
 * Errors never repeat the path or the URL: file names of invoices often carry a CPF or an
 * account number, and a URL's address or port is exactly what a prober wants to read back.
 */
#define _GNU_SOURCE /* getaddrinfo's EAI_NODATA and EAI_ADDRFAMILY */

#include "document/document_int.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/ipaddr.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* True when some '/'-separated component of `rel` is exactly "..". */
static bool has_dotdot(const char *rel) {
  const char *p = rel;
  while (*p != '\0') {
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return true;
    p += n;
    while (*p == '/')
      p++;
  }
  return false;
}

/* True when the resolved `real` lies strictly under the resolved `root`. */
static bool is_under(const char *root, const char *real) {
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/')
    return real[0] == '/' && real[1] != '\0';
  return strncmp(real, root, n) == 0 && real[n] == '/' && real[n + 1] != '\0';
}

/* Maps the errno of a failed resolve or open of the document to its reason. */
static int fail_errno(ct_doc_error_t *err, int e, const char *what) {
  switch (e) {
  case ENOENT:
  case ENOTDIR:
    return ct__doc_fail(err, CT_DOC_NOT_FOUND, false, "%s: no such file", what);
  case ELOOP:
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "%s: too many levels of symlinks",
                        what);
  case ENAMETOOLONG:
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "%s: name too long", what);
  default:
    break;
  }
  int code = ct_err_from_errno(e);
  return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "%s: %s (errno %d)", what,
                      ct_strerror(code), e);
}

/* Compares the path of the open descriptor `fd` with `want`. Returns 0 when they match or
 * when /proc cannot tell (not mounted), else CT_EINVAL with *err. */
static int same_file_path(int fd, const char *want, ct_doc_error_t *err) {
  char link[64];
  char got[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, got, sizeof got - 1);
  if (n < 0)
    return 0;
  got[n] = '\0';
  if (strcmp(got, want) != 0)
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false,
                        "document path changed while it was opened");
  return 0;
}

/* Reads all of `fd` (a regular file of `size` bytes at open) into a new buffer. A file that
 * grows past CT_DOCUMENT_MAX while being read is too large like one that started so. */
static int read_all(int fd, size_t size, ct_bytes_t *out, ct_doc_error_t *err) {
  size_t cap = size + 1; /* one more byte, to see growth; never 0 for malloc */
  uint8_t *buf = malloc(cap);
  if (buf == NULL)
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "out of memory reading the document");
  size_t len = 0;
  for (;;) {
    if (len == cap) {
      if (cap > CT_DOCUMENT_MAX) {
        free(buf);
        return ct__doc_fail(err, CT_DOC_TOO_LARGE, false,
                            "document grew past %zu bytes while being read", CT_DOCUMENT_MAX);
      }
      size_t ncap = cap * 2 > CT_DOCUMENT_MAX + 1 ? CT_DOCUMENT_MAX + 1 : cap * 2;
      uint8_t *nbuf = realloc(buf, ncap);
      if (nbuf == NULL) {
        free(buf);
        return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true,
                            "out of memory reading the document");
      }
      buf = nbuf;
      cap = ncap;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      free(buf);
      return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "reading the document: %s (errno %d)",
                          ct_strerror(ct_err_from_errno(e)), e);
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  if (len > CT_DOCUMENT_MAX) {
    free(buf);
    return ct__doc_fail(err, CT_DOC_TOO_LARGE, false,
                        "document grew past %zu bytes while being read", CT_DOCUMENT_MAX);
  }
  out->data = buf;
  out->len = len;
  return 0;
}

int ct_document_read_path(const char *root, const char *rel, ct_bytes_t *out,
                          ct_doc_error_t *err) {
  if (rel == NULL || rel[0] == '\0')
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "document path is empty");
  if (rel[0] == '/')
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "document path is absolute");
  if (has_dotdot(rel))
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false,
                        "document path has a '..' component");
  if (root == NULL || root[0] == '\0')
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, false, "no document root is configured");

  char real_root[PATH_MAX];
  if (realpath(root, real_root) == NULL) {
    int e = errno;
    /* A missing root is the operator's to fix, not the job's fault: wait for it. */
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "document root: %s (errno %d)",
                        ct_strerror(ct_err_from_errno(e)), e);
  }

  char joined[PATH_MAX];
  int n = snprintf(joined, sizeof joined, "%s/%s", real_root, rel);
  if (n < 0 || (size_t)n >= sizeof joined)
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "document path is too long");

  char real[PATH_MAX];
  if (realpath(joined, real) == NULL)
    return fail_errno(err, errno, "document path");
  if (!is_under(real_root, real))
    return ct__doc_fail(err, CT_DOC_PATH_REFUSED, false,
                        "document path resolves outside the document root");

  int fd = open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return fail_errno(err, errno, "opening the document");
  int rc = same_file_path(fd, real, err);
  if (rc != 0)
    goto out;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = fail_errno(err, errno, "opening the document");
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = ct__doc_fail(err, CT_DOC_PATH_REFUSED, false, "document path is not a regular file");
    goto out;
  }
  if (st.st_size < 0 || (uint64_t)st.st_size > CT_DOCUMENT_MAX) {
    rc = ct__doc_fail(err, CT_DOC_TOO_LARGE, false,
                      "document has %lld bytes, more than the %zu allowed",
                      (long long)st.st_size, CT_DOCUMENT_MAX);
    goto out;
  }
  ct_bytes_t got;
  rc = read_all(fd, (size_t)st.st_size, &got, err);
  if (rc == 0) {
    *out = got;
    ct__doc_ok(err);
  }
out:
  close(fd);
  return rc;
}

/* ---- document URLs ------------------------------------------------------------------------ */

#define MAX_ADDRS 16 /* addresses of one host kept and checked; more are ignored */
#define MAX_HOPS (CT_DOC_URL_MAX_REDIRECTS + 1)

/* True when `a` may be connected to under `p`; else false with its class in *why. */
static bool address_allowed(const ct_doc_url_policy_t *p, const ct_ipaddr_t *a,
                            ct_ip_class_t *why) {
  ct_ip_class_t c = ct_ipaddr_class(a);
  *why = c;
  if (c == CT_IP_PUBLIC)
    return true;
  /* Nothing answers documents there; an allowed network that covers them is a mistake. */
  if (c == CT_IP_UNSPECIFIED || c == CT_IP_MULTICAST || c == CT_IP_BROADCAST)
    return false;
  ct_ipaddr_t v4;
  bool has_v4 = ct_ipaddr_embedded_v4(a, &v4);
  for (size_t i = 0; i < p->n_networks; i++)
    if (ct_cidr_contains(&p->networks[i], a) || (has_v4 && ct_cidr_contains(&p->networks[i], &v4)))
      return true;
  return false;
}

/* The host as document_url_hosts compares it: lower case, no brackets, no final '.'. */
static void normal_host(const char *in, char *out, size_t cap) {
  size_t n = strlen(in);
  if (n >= 2 && in[0] == '[' && in[n - 1] == ']') {
    in++;
    n -= 2;
  }
  if (n >= cap)
    n = cap - 1;
  for (size_t i = 0; i < n; i++)
    out[i] = (char)((in[i] >= 'A' && in[i] <= 'Z') ? in[i] - 'A' + 'a' : in[i]);
  out[n] = '\0';
  if (n > 1 && out[n - 1] == '.')
    out[n - 1] = '\0';
}

bool ct_document_url_host_listed(const char *hosts, const char *host) {
  if (hosts == NULL || hosts[0] == '\0')
    return true;
  char h[300], e[300];
  normal_host(host, h, sizeof h);
  if (h[0] == '\0')
    return false;
  ct_ipaddr_t hip, eip;
  bool h_is_ip = ct_ipaddr_parse(h, &hip) == 0;
  size_t hl = strlen(h);
  const char *s = hosts;
  for (;;) {
    while (*s == ',' || *s == ' ' || *s == '\t')
      s++;
    if (*s == '\0')
      return false;
    size_t n = strcspn(s, ", \t");
    char raw[300];
    size_t keep = n < sizeof raw ? n : sizeof raw - 1;
    memcpy(raw, s, keep);
    raw[keep] = '\0';
    s += n;
    normal_host(raw, e, sizeof e);
    if (h_is_ip) {
      if (ct_ipaddr_parse(e, &eip) == 0 && memcmp(hip.b, eip.b, 16) == 0)
        return true;
      continue;
    }
    if (e[0] == '*' && e[1] == '.') {
      size_t sl = strlen(e + 1); /* ".example.com" */
      if (hl > sl && strcmp(h + hl - sl, e + 1) == 0)
        return true;
    } else if (strcmp(h, e) == 0) {
      return true;
    }
  }
}

/* The name lookup, replaceable by tests (which #include this file): up to `cap` addresses of
 * `host` into `out`, *n of them. Returns 0 or a getaddrinfo() EAI_* code. */
static int resolve_system(const char *host, ct_ipaddr_t *out, size_t cap, size_t *n) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0)
    return rc;
  *n = 0;
  for (struct addrinfo *ai = res; ai != NULL && *n < cap; ai = ai->ai_next) {
    ct_ipaddr_t a;
    if (ct_ipaddr_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &a) != 0)
      continue;
    bool seen = false;
    for (size_t i = 0; i < *n && !seen; i++)
      seen = memcmp(out[i].b, a.b, 16) == 0;
    if (!seen)
      out[(*n)++] = a;
  }
  freeaddrinfo(res);
  return *n > 0 ? 0 : EAI_NONAME;
}

static int (*resolve_host)(const char *host, ct_ipaddr_t *out, size_t cap,
                           size_t *n) = resolve_system;

/* The addresses one hop may connect to: checked, and the only ones the socket callback lets
 * libcurl open. */
typedef struct {
  const ct_doc_url_policy_t *policy;
  ct_ipaddr_t addr[MAX_ADDRS];
  size_t n;
  bool refused; /* the callback refused a socket */
} pin_t;

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *sa) {
  pin_t *pin = arg;
  ct_ipaddr_t a;
  ct_ip_class_t why;
  bool ok = purpose == CURLSOCKTYPE_IPCXN &&
            ct_ipaddr_from_sockaddr(&sa->addr, (socklen_t)sa->addrlen, &a) == 0 &&
            address_allowed(pin->policy, &a, &why);
  bool pinned = false;
  for (size_t i = 0; ok && i < pin->n && !pinned; i++)
    pinned = memcmp(pin->addr[i].b, a.b, 16) == 0;
  if (!ok || !pinned) {
    pin->refused = true;
    return CURL_SOCKET_BAD;
  }
  return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

typedef struct {
  ct_bytes_t *out;
  size_t cap; /* bytes allocated at out->data */
  bool too_big;
  bool oom;
} sink_t;

/* Appends a piece of the body; the buffer doubles (up to CT_DOCUMENT_MAX) rather than growing
 * by each piece, which would copy a 20 MB answer a thousand times. */
static size_t on_data(char *ptr, size_t size, size_t n, void *arg) {
  sink_t *s = arg;
  size_t len = size * n;
  if (len == 0)
    return 0;
  if (s->out->len + len > CT_DOCUMENT_MAX) {
    s->too_big = true;
    return 0;
  }
  if (s->out->len + len > s->cap) {
    size_t cap = s->cap > 0 ? s->cap : 64 * 1024;
    while (cap < s->out->len + len)
      cap *= 2;
    if (cap > CT_DOCUMENT_MAX)
      cap = CT_DOCUMENT_MAX;
    uint8_t *grown = realloc(s->out->data, cap);
    if (grown == NULL) {
      s->oom = true;
      return 0;
    }
    s->out->data = grown;
    s->cap = cap;
  }
  memcpy(s->out->data + s->out->len, ptr, len);
  s->out->len += len;
  return len;
}

/* Refusals by a rule: the first URL says what it is, a redirect says where it was sent. */
static int refuse(ct_doc_error_t *err, int hop, const char *first, const char *redirected) {
  return ct__doc_fail(err, CT_DOC_URL_REFUSED, false, "document URL refused: %s",
                      hop == 0 ? first : redirected);
}

static int refuse_address(ct_doc_error_t *err, int hop, ct_ip_class_t why) {
  if (hop == 0)
    return ct__doc_fail(err, CT_DOC_URL_REFUSED, false, "document URL refused: address is %s",
                        ct_ip_class_name(why));
  return ct__doc_fail(err, CT_DOC_URL_REFUSED, false,
                      "document URL refused: redirect to a refused address (%s)",
                      ct_ip_class_name(why));
}

/* What a failed transfer means, without libcurl's own words (they name hosts and ports). */
static int transfer_failed(ct_doc_error_t *err, CURLcode rc, const sink_t *sink,
                           const pin_t *pin, int hop) {
  if (sink->too_big || rc == CURLE_FILESIZE_EXCEEDED)
    return ct__doc_fail(err, CT_DOC_TOO_LARGE, false,
                        "the document URL answered more than %zu bytes", CT_DOCUMENT_MAX);
  if (sink->oom || rc == CURLE_OUT_OF_MEMORY)
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "out of memory fetching the document");
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
    if (pin->refused)
      return refuse(err, hop, "address refused at connection",
                    "redirect to an address refused at connection");
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, false,
                        "document URL: connection refused or unreachable");
  case CURLE_OPERATION_TIMEDOUT:
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true,
                        "document URL: no answer within document_fetch_timeout (timeout)");
  case CURLE_UNSUPPORTED_PROTOCOL:
    return refuse(err, hop, "not https", "redirect to a URL that is not https");
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true,
                        "document URL: TLS handshake or certificate check failed");
  case CURLE_GOT_NOTHING:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_WEIRD_SERVER_REPLY:
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true,
                        "document URL: the connection broke off");
  default:
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true,
                        "document URL: the transfer failed (libcurl code %d)", (int)rc);
  }
}

/* Milliseconds left before `deadline`, at least 1 so libcurl does not read 0 as "none". */
static long remaining_ms(int64_t deadline) {
  int64_t left = deadline - ct_mono_ms();
  return left < 1 ? 1 : (long)(left > LONG_MAX ? LONG_MAX : left);
}

/* One hop of the chain: checks `url` (redirect number `hop`) and fetches it. Returns 0 with
 * the body in *out (2xx), 1 with the next URL in *next (a redirect; malloc'd), or CT_EINVAL
 * with *err. `seen` holds the chain's earlier URLs, as libcurl spells them, for loops. */
static int fetch_hop(const ct_doc_url_policy_t *p, const char *url, int hop, int64_t deadline,
                     char *const *seen, char **spelled, ct_bytes_t *out, char **next,
                     ct_doc_error_t *err) {
  int rc = CT_EINVAL;
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *zone = NULL;
  CURL *c = NULL;
  struct curl_slist *resolve = NULL;
  if (u == NULL)
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "out of memory fetching the document");
  /* Non-https schemes are refused by their name, before whatever else they lack (a host). */
  if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      strcasecmp(scheme, "https") != 0) {
    rc = refuse(err, hop, "not https", "redirect to a URL that is not https");
    goto out;
  }
  if (scheme == NULL || curl_url_get(u, CURLUPART_HOST, &host, CURLU_PUNYCODE) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_URL, spelled, 0) != CURLUE_OK) {
    rc = refuse(err, hop, "not a URL this fetch can use",
                "redirect to a URL this fetch cannot use");
    goto out;
  }
  for (int i = 0; i < hop; i++) {
    if (strcmp(seen[i], *spelled) == 0) {
      rc = refuse(err, hop, "redirect loop", "redirect loop");
      goto out;
    }
  }
  if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
    /* An interface-scoped (link-local) address: never a document server's. */
    rc = refuse_address(err, hop, CT_IP_LINK_LOCAL);
    goto out;
  }
  if (!ct_document_url_host_listed(p->hosts, host)) {
    rc = refuse(err, hop, "host not in document_url_hosts",
                "redirect to a host not in document_url_hosts");
    goto out;
  }

  pin_t pin = {.policy = p};
  bool literal = ct_ipaddr_parse(host, &pin.addr[0]) == 0;
  if (literal) {
    pin.n = 1;
  } else {
    int gai = resolve_host(host, pin.addr, MAX_ADDRS, &pin.n);
    /* No such name, or a name without an address: as permanent as each other. */
    if (gai == EAI_NONAME || gai == EAI_NODATA || gai == EAI_ADDRFAMILY) {
      rc = ct__doc_fail(err, CT_DOC_FETCH_FAILED, false,
                        "document URL: the host name does not exist");
      goto out;
    }
    if (gai != 0) {
      rc = ct__doc_fail(err, CT_DOC_FETCH_FAILED, true,
                        "document URL: the host name lookup failed");
      goto out;
    }
  }
  /* Every address must pass: a name that also points inside is not a public host. */
  for (size_t i = 0; i < pin.n; i++) {
    ct_ip_class_t why;
    if (!address_allowed(p, &pin.addr[i], &why)) {
      rc = refuse_address(err, hop, why);
      goto out;
    }
  }
  if (!literal) {
    /* "host:port:addr,[v6addr],...": libcurl connects to these and looks nothing up. */
    char entry[1400]; /* a 253-character name, a port, 16 bracketed IPv6 addresses */
    int len = snprintf(entry, sizeof entry, "%s:%s:", host, port);
    for (size_t i = 0; i < pin.n && len > 0 && (size_t)len < sizeof entry; i++) {
      char a[46];
      ct_ipaddr_format(&pin.addr[i], a);
      bool v4 = ct_ipaddr_is_v4(&pin.addr[i]);
      len += snprintf(entry + len, sizeof entry - (size_t)len, "%s%s%s%s", i > 0 ? "," : "",
                      v4 ? "" : "[", a, v4 ? "" : "]");
    }
    if (len < 0 || (size_t)len >= sizeof entry) {
      rc = refuse(err, hop, "host name too long", "redirect to a host name too long");
      goto out;
    }
    resolve = curl_slist_append(NULL, entry);
    if (resolve == NULL) {
      rc = ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "out of memory fetching the document");
      goto out;
    }
  }

  c = curl_easy_init();
  if (c == NULL) {
    rc = ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "could not start an HTTP client");
    goto out;
  }
  ct_bytes_t body = {0};
  sink_t sink = {.out = &body};
  curl_easy_setopt(c, CURLOPT_CURLU, u);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROXY, ""); /* not http_proxy, https_proxy, all_proxy */
  if (resolve != NULL)
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &pin);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, remaining_ms(deadline));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CT_DOCUMENT_MAX);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  if (p->ca_file != NULL && p->ca_file[0] != '\0')
    curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);
  CURLcode cc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (cc != CURLE_OK) {
    ct_bytes_free(&body);
    rc = transfer_failed(err, cc, &sink, &pin, hop);
    goto out;
  }
  if (status >= 200 && status <= 299) {
    *out = body;
    rc = 0;
    goto out;
  }
  ct_bytes_free(&body);
  char *location = NULL;
  bool redirect = status == 301 || status == 302 || status == 303 || status == 307 ||
                  status == 308;
  if (redirect && curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
      location != NULL) {
    if (hop + 1 >= MAX_HOPS) {
      rc = refuse(err, hop, "too many redirects", "too many redirects");
      goto out;
    }
    *next = strdup(location);
    rc = *next != NULL ? 1
                       : ct__doc_fail(err, CT_DOC_FETCH_FAILED, true,
                                      "out of memory fetching the document");
    goto out;
  }
  /* 404 and 410 will not change; other statuses (5xx, 429, 403 of an expiring link) may. */
  bool gone = status == 404 || status == 410;
  rc = ct__doc_fail(err, gone ? CT_DOC_NOT_FOUND : CT_DOC_FETCH_FAILED, !gone,
                    "the document URL answered HTTP %ld", status);
out:
  if (c != NULL)
    curl_easy_cleanup(c);
  curl_slist_free_all(resolve);
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(zone);
  curl_url_cleanup(u);
  return rc;
}

int ct_document_fetch_url(const ct_doc_url_policy_t *policy, const char *url, ct_bytes_t *out,
                          ct_doc_error_t *err) {
  if (url == NULL || url[0] == '\0')
    return ct__doc_fail(err, CT_DOC_URL_REFUSED, false, "document URL refused: empty");
  int64_t deadline = ct_mono_ms() + (policy->timeout_ms > 0 ? policy->timeout_ms : 1);
  char *seen[MAX_HOPS] = {0};
  char *cur = strdup(url);
  int rc = CT_EINVAL;
  if (cur == NULL)
    return ct__doc_fail(err, CT_DOC_FETCH_FAILED, true, "out of memory fetching the document");
  for (int hop = 0; hop < MAX_HOPS; hop++) {
    char *next = NULL;
    ct_bytes_t body = {0};
    rc = fetch_hop(policy, cur, hop, deadline, seen, &seen[hop], &body, &next, err);
    free(cur);
    cur = next;
    if (rc == 0) {
      *out = body;
      ct__doc_ok(err);
      break;
    }
    if (rc != 1)
      break;
    rc = CT_EINVAL; /* a redirect: the next hop decides */
  }
  free(cur);
  for (int i = 0; i < MAX_HOPS; i++)
    curl_free(seen[i]);
  return rc;
}
