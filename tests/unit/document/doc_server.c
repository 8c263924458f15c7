/* document_url_server: a document server for the tests of document URLs. HTTPS (HTTP/1.1,
 * one request per connection), on one address given on the command line (127.0.0.1,
 * 127.0.0.2, ::1, ...), so a test can run an allowed server and a "private" one side by side
 * and see which of them was reached. Every accepted connection is logged as a line "accept",
 * and every request, before it is answered, as a line "GET /path?query": a test counts the
 * lines to prove that a refused target was never connected to, let alone asked anything.
 *
 * usage: document_url_server --cert CHAIN --key KEY [--addr ADDR] [--port N] [--pdf FILE]
 *                            [--log FILE] [--max-seconds N]
 * Prints the port it listens on (a line), then serves until killed or N seconds (60 by
 * default) pass. --port 0 (the default) takes an ephemeral port.
 *
 * Paths:
 *   /to?url=URL       302 to URL (percent-decoded)
 *   /loop             302 to /loop
 *   /chain/N          302 to /chain/N-1; /chain/0 is the document
 *   /status/NNN       status NNN, empty body
 *   /big/N            200 with N bytes of 'x'
 *   anything else     200 with the document (--pdf FILE, or a few bytes starting "%PDF-")
 */
#define _GNU_SOURCE /* accept4 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_DOC (32u << 20)

static unsigned char *doc;
static size_t doc_len;
static FILE *log_file;

static void die(const char *what) {
  fprintf(stderr, "document_url_server: %s\n", what);
  exit(1);
}

static void load_doc(const char *path) {
  if (path == NULL) {
    static const char builtin[] = "%PDF-1.4\n% document_url_server\n%%EOF\n";
    doc = (unsigned char *)strdup(builtin);
    doc_len = sizeof builtin - 1;
    return;
  }
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    die("cannot open --pdf");
  doc = malloc(MAX_DOC);
  if (doc == NULL)
    die("out of memory");
  doc_len = fread(doc, 1, MAX_DOC, f);
  fclose(f);
}

static bool write_all(SSL *ssl, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    int chunk = len > (1u << 20) ? 1 << 20 : (int)len;
    int n = SSL_write(ssl, p, chunk);
    if (n <= 0)
      return false;
    p += n;
    len -= (size_t)n;
  }
  return true;
}

static void respond(SSL *ssl, int status, const char *location, const void *body, size_t len,
                    char fill) {
  char head[4096];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s%s%s"
                   "Content-Type: application/pdf\r\n\r\n",
                   status, len, location != NULL ? "Location: " : "",
                   location != NULL ? location : "", location != NULL ? "\r\n" : "");
  if (n < 0 || (size_t)n >= sizeof head)
    return;
  if (!write_all(ssl, head, (size_t)n))
    return;
  if (body != NULL) {
    write_all(ssl, body, len);
    return;
  }
  char block[16384];
  memset(block, fill, sizeof block);
  while (len > 0) {
    size_t k = len < sizeof block ? len : sizeof block;
    if (!write_all(ssl, block, k))
      return;
    len -= k;
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void percent_decode(const char *in, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; in[i] != '\0' && o + 1 < cap; i++) {
    int h, l;
    if (in[i] == '%' && (h = hexval(in[i + 1])) >= 0 && (l = hexval(in[i + 2])) >= 0) {
      out[o++] = (char)(h * 16 + l);
      i += 2;
    } else {
      out[o++] = in[i];
    }
  }
  out[o] = '\0';
}

static void serve(SSL *ssl) {
  char req[16384];
  size_t got = 0;
  while (got < sizeof req - 1) {
    int n = SSL_read(ssl, req + got, (int)(sizeof req - 1 - got));
    if (n <= 0)
      return;
    got += (size_t)n;
    req[got] = '\0';
    if (strstr(req, "\r\n\r\n") != NULL)
      break;
  }
  char method[16], target[8192];
  if (sscanf(req, "%15s %8191s", method, target) != 2)
    return;
  fprintf(log_file, "%s %s\n", method, target);
  fflush(log_file);
  char loc[8192];
  unsigned long n;
  if (strncmp(target, "/to?url=", 8) == 0) {
    percent_decode(target + 8, loc, sizeof loc);
    respond(ssl, 302, loc, "", 0, 0);
  } else if (strcmp(target, "/loop") == 0) {
    respond(ssl, 302, "/loop", "", 0, 0);
  } else if (sscanf(target, "/chain/%lu", &n) == 1) {
    if (n == 0) {
      respond(ssl, 200, NULL, doc, doc_len, 0);
    } else {
      snprintf(loc, sizeof loc, "/chain/%lu", n - 1);
      respond(ssl, 302, loc, "", 0, 0);
    }
  } else if (sscanf(target, "/status/%lu", &n) == 1 && n >= 100 && n <= 599) {
    respond(ssl, (int)n, NULL, "", 0, 0);
  } else if (sscanf(target, "/big/%lu", &n) == 1) {
    respond(ssl, 200, NULL, NULL, n, 'x');
  } else {
    respond(ssl, 200, NULL, doc, doc_len, 0);
  }
}

int main(int argc, char **argv) {
  const char *cert = NULL, *key = NULL, *addr = "127.0.0.1", *pdf = NULL, *log_path = NULL;
  unsigned long port = 0, max_seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--cert") == 0)
      cert = argv[i + 1];
    else if (strcmp(argv[i], "--key") == 0)
      key = argv[i + 1];
    else if (strcmp(argv[i], "--addr") == 0)
      addr = argv[i + 1];
    else if (strcmp(argv[i], "--port") == 0)
      port = strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--pdf") == 0)
      pdf = argv[i + 1];
    else if (strcmp(argv[i], "--log") == 0)
      log_path = argv[i + 1];
    else if (strcmp(argv[i], "--max-seconds") == 0)
      max_seconds = strtoul(argv[i + 1], NULL, 10);
    else
      die("unknown option");
  }
  if (cert == NULL || key == NULL || port > 65535)
    die("usage: --cert CHAIN --key KEY [--addr ADDR] [--port N] [--pdf FILE] [--log FILE]");
  signal(SIGPIPE, SIG_IGN);
  alarm((unsigned)max_seconds);
  load_doc(pdf);
  log_file = log_path != NULL ? fopen(log_path, "a") : stderr;
  if (log_file == NULL)
    die("cannot open --log");

  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
    die("cannot load the certificate or key");

  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sslen;
  int family;
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
    family = AF_INET;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sslen = sizeof *sin;
  } else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
    family = AF_INET6;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    sslen = sizeof *sin6;
  } else {
    die("--addr is not an IP address");
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0)
    die("socket");
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, sslen) != 0)
    die(strerror(errno));
  if (listen(fd, 16) != 0)
    die("listen");
  sslen = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &sslen);
  printf("%u\n", family == AF_INET ? ntohs(sin->sin_port) : ntohs(sin6->sin6_port));
  fflush(stdout);

  for (;;) {
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR)
        continue;
      die("accept");
    }
    fprintf(log_file, "accept\n");
    fflush(log_file);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL *ssl = SSL_new(ctx);
    if (ssl != NULL && SSL_set_fd(ssl, c) == 1 && SSL_accept(ssl) == 1) {
      serve(ssl);
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    ERR_clear_error();
    close(c);
  }
}
