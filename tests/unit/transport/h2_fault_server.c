/* transport_fault_server: an HTTP/2 server over TLS that misbehaves on request, for the
 * transport's fault tests. h2o (transport_h2_server) cannot reset a stream before its
 * headers, send a GOAWAY whose last stream id cuts a batch in two, or go silent on a
 * connection; this server is nghttp2's server side, so it can.
 *
 * usage: transport_fault_server --cert CHAIN --key KEY [--max-streams N] [--goaway-after N]
 *                               [--max-seconds N]
 * Prints the port it listens on (127.0.0.1), then serves until killed or N seconds (120 by
 * default) pass. One thread per connection, blocking-style I/O with poll(2): simple rather
 * than fast.
 *
 *   --max-streams N   SETTINGS_MAX_CONCURRENT_STREAMS N
 *   --goaway-after N  on each connection, once N requests have arrived, GOAWAY with the N-th
 *                     stream's id as last_stream_id: those N are answered, later streams are
 *                     left unprocessed (the client must send them again), and the connection
 *                     closes when the N are done
 *
 * Endpoints (the method is not checked; the transport always POSTs). A request is
 * "processed" when its last byte has arrived (END_STREAM) and it is not one this server
 * leaves unprocessed; X-Test-Id names it, and a name processed twice is a duplicate.
 *   /echo[?delay=MS]      200, the body back; X-Message-Id = the request's X-Test-Id
 *   /big?bytes=N          200 with N bytes of 'x'
 *   /rst[?headers=1][&code=N]  RST_STREAM(N, default INTERNAL_ERROR), before the response
 *                         headers, or after a 200's headers with headers=1
 *   /refuse-once          RST_STREAM(REFUSED_STREAM) the first time an id is seen
 *                         (unprocessed), then like /echo
 *   /close                closes the TCP connection at once, whatever else is on it
 *   /stall                the connection goes silent: nothing more is read or written
 *                         until the client closes it
 *   /stats[?reset=1]      "accepts processed duplicates max_concurrent goaways refused\n";
 *                         reset=1 zeroes every figure and forgets the ids after answering
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_IDS 200000
#define BODY_CAP (1u << 20)
#define BIG_CAP (16u << 20)

static SSL_CTX *ssl_ctx;
static uint32_t opt_max_streams;
static uint32_t opt_goaway_after;

/* ---- figures, shared by the connection threads ---------------------------------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long accepts, processed, duplicates, max_concurrent, goaways, refused;
static char *ids[MAX_IDS];
static size_t n_ids;
static char *refused_ids[MAX_IDS];
static size_t n_refused_ids;

static bool in_set(char **set, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(set[i], id) == 0) {
      return true;
    }
  }
  return false;
}

static void note_processed(const char *id) {
  pthread_mutex_lock(&lock);
  processed++;
  if (id[0] != '\0') {
    if (in_set(ids, n_ids, id)) {
      duplicates++;
    } else if (n_ids < MAX_IDS) {
      ids[n_ids++] = strdup(id);
    }
  }
  pthread_mutex_unlock(&lock);
}

/* true the first time `id` asks to be refused */
static bool refuse_first(const char *id) {
  pthread_mutex_lock(&lock);
  bool first = !in_set(refused_ids, n_refused_ids, id);
  if (first && n_refused_ids < MAX_IDS) {
    refused_ids[n_refused_ids++] = strdup(id);
    refused++;
  }
  pthread_mutex_unlock(&lock);
  return first;
}

static void reset_figures(void) {
  pthread_mutex_lock(&lock);
  accepts = processed = duplicates = max_concurrent = goaways = refused = 0;
  for (size_t i = 0; i < n_ids; i++) {
    free(ids[i]);
  }
  for (size_t i = 0; i < n_refused_ids; i++) {
    free(refused_ids[i]);
  }
  n_ids = n_refused_ids = 0;
  pthread_mutex_unlock(&lock);
}

/* ---- a connection --------------------------------------------------------------------- */

typedef struct stream {
  struct stream *next;
  int32_t id;
  char path[256];
  char test_id[64];
  char *body;
  size_t body_len;
  uint64_t due_ms; /* a delayed /echo: answer at this time; 0 = not waiting */
  bool counted;    /* in c->open: nghttp2 accepted the stream (a refused one never is) */
  const char *out;
  size_t out_len;
  size_t out_off;
  char *out_owned;
} stream_t;

typedef struct {
  int fd;
  SSL *ssl;
  nghttp2_session *sess;
  stream_t *streams;
  uint32_t open;     /* streams open now */
  uint32_t arrived;  /* requests whose headers arrived */
  int32_t last_ok;   /* after our GOAWAY: streams above it are left alone */
  bool close_now;
  bool stall;
  bool goaway_sent;
} conn_t;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static stream_t *find(conn_t *c, int32_t id) {
  for (stream_t *s = c->streams; s != NULL; s = s->next) {
    if (s->id == id) {
      return s;
    }
  }
  return NULL;
}

static void drop(conn_t *c, int32_t id) {
  for (stream_t **p = &c->streams; *p != NULL; p = &(*p)->next) {
    if ((*p)->id == id) {
      stream_t *s = *p;
      *p = s->next;
      free(s->body);
      free(s->out_owned);
      free(s);
      return;
    }
  }
}

/* The value of `name` in the path's query as a number, or `dflt`. */
static unsigned long query_num(const char *path, const char *name, unsigned long dflt) {
  const char *q = strchr(path, '?');
  size_t nlen = strlen(name);
  while (q != NULL) {
    q++;
    if (strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
      return strtoul(q + nlen + 1, NULL, 10);
    }
    q = strchr(q, '&');
  }
  return dflt;
}

static bool path_is(const stream_t *s, const char *p) {
  size_t n = strlen(p);
  return strncmp(s->path, p, n) == 0 && (s->path[n] == '\0' || s->path[n] == '?');
}

static ssize_t read_out(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
                        uint32_t *flags, nghttp2_data_source *src, void *user) {
  (void)sess;
  (void)id;
  (void)user;
  stream_t *s = src->ptr;
  size_t n = s->out_len - s->out_off;
  if (n > len) {
    n = len;
  }
  memcpy(buf, s->out + s->out_off, n);
  s->out_off += n;
  if (s->out_off == s->out_len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return (ssize_t)n;
}

static void respond(conn_t *c, stream_t *s, const char *status, const char *body, size_t len) {
  nghttp2_nv hdrs[3];
  size_t n = 0;
  hdrs[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, 0};
  hdrs[n++] = (nghttp2_nv){(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, 0};
  if (s->test_id[0] != '\0') {
    hdrs[n++] = (nghttp2_nv){(uint8_t *)"x-message-id", (uint8_t *)s->test_id, 12,
                             strlen(s->test_id), 0};
  }
  s->out = body;
  s->out_len = len;
  s->out_off = 0;
  nghttp2_data_provider prd = {.source = {.ptr = s}, .read_callback = read_out};
  nghttp2_submit_response(c->sess, s->id, hdrs, n, &prd);
}

static void answer_echo(conn_t *c, stream_t *s) {
  respond(c, s, "200", s->body != NULL ? s->body : "", s->body_len);
}

/* The request's last byte arrived: act on its path. */
static void on_request(conn_t *c, stream_t *s) {
  if (c->goaway_sent && s->id > c->last_ok) {
    return; /* above our GOAWAY's last stream id: left unprocessed, as we told the client */
  }
  if (path_is(s, "/stats")) {
    char buf[160];
    pthread_mutex_lock(&lock);
    int n = snprintf(buf, sizeof buf, "%lu %lu %lu %lu %lu %lu\n", accepts, processed,
                     duplicates, max_concurrent, goaways, refused);
    pthread_mutex_unlock(&lock);
    if (query_num(s->path, "reset", 0) == 1) {
      reset_figures();
    }
    s->out_owned = strdup(buf);
    respond(c, s, "200", s->out_owned, (size_t)n);
    return;
  }
  if (path_is(s, "/refuse-once") && refuse_first(s->test_id)) {
    nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
    return;
  }
  if (path_is(s, "/stall")) {
    note_processed(s->test_id);
    c->stall = true;
    return;
  }
  note_processed(s->test_id);
  if (path_is(s, "/close")) {
    c->close_now = true;
  } else if (path_is(s, "/rst")) {
    uint32_t code = (uint32_t)query_num(s->path, "code", NGHTTP2_INTERNAL_ERROR);
    if (query_num(s->path, "headers", 0) == 1) {
      nghttp2_nv st = {(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0};
      nghttp2_submit_headers(c->sess, NGHTTP2_FLAG_NONE, s->id, NULL, &st, 1, NULL);
    }
    nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id, code);
  } else if (path_is(s, "/big")) {
    unsigned long n = query_num(s->path, "bytes", 0);
    if (n > BIG_CAP) {
      n = BIG_CAP;
    }
    s->out_owned = malloc(n + 1);
    memset(s->out_owned, 'x', n);
    respond(c, s, "200", s->out_owned, n);
  } else if (path_is(s, "/echo") || path_is(s, "/refuse-once")) {
    unsigned long delay = query_num(s->path, "delay", 0);
    if (delay == 0) {
      answer_echo(c, s);
    } else {
      s->due_ms = now_ms() + delay;
    }
  } else {
    respond(c, s, "404", "not found\n", 10);
  }
}

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *user) {
  conn_t *c = user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  stream_t *s = calloc(1, sizeof *s);
  s->id = f->hd.stream_id;
  s->next = c->streams;
  c->streams = s;
  nghttp2_session_set_stream_user_data(sess, s->id, s);
  return 0;
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user) {
  (void)sess;
  (void)flags;
  conn_t *c = user;
  stream_t *s = find(c, f->hd.stream_id);
  if (s == NULL) {
    return 0;
  }
  if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
    snprintf(s->path, sizeof s->path, "%.*s", (int)vlen, (const char *)value);
  } else if (nlen == 9 && memcmp(name, "x-test-id", 9) == 0) {
    snprintf(s->test_id, sizeof s->test_id, "%.*s", (int)vlen, (const char *)value);
  }
  return 0;
}

static int on_data(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *user) {
  (void)sess;
  (void)flags;
  conn_t *c = user;
  stream_t *s = find(c, id);
  if (s == NULL || s->body_len + len > BODY_CAP) {
    return 0;
  }
  char *b = realloc(s->body, s->body_len + len + 1);
  if (b == NULL) {
    return 0;
  }
  memcpy(b + s->body_len, data, len);
  s->body = b;
  s->body_len += len;
  return 0;
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *user) {
  conn_t *c = user;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    /* Counted here rather than at the first header: nghttp2 calls this only for a stream it
     * accepted, not for one it refuses for going over SETTINGS_MAX_CONCURRENT_STREAMS. */
    stream_t *s = find(c, f->hd.stream_id);
    if (s != NULL && !s->counted) {
      s->counted = true;
      c->open++;
      pthread_mutex_lock(&lock);
      if (c->open > max_concurrent) {
        max_concurrent = c->open;
      }
      pthread_mutex_unlock(&lock);
    }
    c->arrived++;
    if (opt_goaway_after != 0 && c->arrived == opt_goaway_after && !c->goaway_sent) {
      c->goaway_sent = true;
      c->last_ok = f->hd.stream_id;
      nghttp2_submit_goaway(sess, NGHTTP2_FLAG_NONE, c->last_ok, NGHTTP2_NO_ERROR, NULL, 0);
      pthread_mutex_lock(&lock);
      goaways++;
      pthread_mutex_unlock(&lock);
    }
  }
  if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    stream_t *s = find(c, f->hd.stream_id);
    if (s != NULL) {
      on_request(c, s);
    }
  }
  return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *user) {
  (void)sess;
  (void)code;
  conn_t *c = user;
  stream_t *s = find(c, id);
  if (s != NULL) {
    if (s->counted) {
      c->open--;
    }
    drop(c, id);
  }
  return 0;
}

/* Writes everything, waiting for the socket as needed. Returns -1 when the peer is gone. */
static int write_all(conn_t *c, const uint8_t *p, size_t n) {
  while (n > 0) {
    int w = SSL_write(c->ssl, p, (int)n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    int err = SSL_get_error(c->ssl, w);
    struct pollfd pf = {.fd = c->fd, .events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
    if ((err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) || poll(&pf, 1, 5000) <= 0) {
      return -1;
    }
  }
  return 0;
}

static int flush(conn_t *c) {
  for (;;) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->sess, &data);
    if (n < 0) {
      return -1;
    }
    if (n == 0) {
      return 0;
    }
    if (write_all(c, data, (size_t)n) != 0) {
      return -1;
    }
  }
}

static int handshake(conn_t *c) {
  for (;;) {
    int rc = SSL_accept(c->ssl);
    if (rc == 1) {
      return 0;
    }
    int err = SSL_get_error(c->ssl, rc);
    struct pollfd pf = {.fd = c->fd, .events = err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
    if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) || poll(&pf, 1, 5000) <= 0) {
      return -1;
    }
  }
}

static void *serve(void *arg) {
  conn_t *c = arg;
  nghttp2_session_callbacks *cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  c->ssl = SSL_new(ssl_ctx);
  SSL_set_fd(c->ssl, c->fd);
  if (handshake(c) != 0) {
    goto out;
  }
  nghttp2_session_server_new(&c->sess, cb, c);
  nghttp2_settings_entry iv[2];
  size_t niv = 0;
  if (opt_max_streams != 0) {
    iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                         opt_max_streams};
  }
  iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20};
  nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, niv);
  uint8_t buf[16384];
  for (;;) {
    if (flush(c) != 0 || c->close_now) {
      break;
    }
    if (c->goaway_sent && c->open == 0) {
      break; /* what we promised to answer is answered */
    }
    if (c->goaway_sent) {
      /* Streams above last_ok stay open on our side but are never answered; once the ones
       * at or below it are done, the connection ends. */
      bool waiting = false;
      for (stream_t *s = c->streams; s != NULL; s = s->next) {
        if (s->id <= c->last_ok) {
          waiting = true;
        }
      }
      if (!waiting) {
        break;
      }
    }
    if (c->stall) {
      /* Silent until the client goes: no read, no write. */
      struct pollfd pf = {.fd = c->fd, .events = POLLRDHUP};
      while (poll(&pf, 1, 1000) >= 0 && !(pf.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
      }
      break;
    }
    int timeout = -1;
    uint64_t now = now_ms();
    for (stream_t *s = c->streams; s != NULL; s = s->next) {
      if (s->due_ms != 0) {
        int left = s->due_ms > now ? (int)(s->due_ms - now) : 0;
        if (timeout < 0 || left < timeout) {
          timeout = left;
        }
      }
    }
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    int pr = SSL_pending(c->ssl) > 0 ? 1 : poll(&pf, 1, timeout);
    if (pr < 0 && errno != EINTR) {
      break;
    }
    if (pr > 0) {
      int n = SSL_read(c->ssl, buf, sizeof buf);
      if (n <= 0) {
        int err = SSL_get_error(c->ssl, n);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          break;
        }
      } else if (nghttp2_session_mem_recv(c->sess, buf, (size_t)n) < 0) {
        break;
      }
    }
    now = now_ms();
    for (stream_t *s = c->streams; s != NULL; s = s->next) {
      if (s->due_ms != 0 && s->due_ms <= now) {
        s->due_ms = 0;
        answer_echo(c, s);
      }
    }
  }
  if (!c->close_now && !c->stall) {
    /* A lingering close: our last frames first, then the client's last bytes read and
     * dropped, so that closing with unread input does not turn into a TCP reset that could
     * overtake the answers. */
    shutdown(c->fd, SHUT_WR);
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    while (poll(&pf, 1, 2000) > 0 && read(c->fd, buf, sizeof buf) > 0) {
    }
  }
out:
  if (c->sess != NULL) {
    nghttp2_session_del(c->sess);
  }
  while (c->streams != NULL) {
    drop(c, c->streams->id);
  }
  nghttp2_session_callbacks_del(cb);
  SSL_free(c->ssl);
  shutdown(c->fd, SHUT_RDWR);
  close(c->fd);
  free(c);
  return NULL;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg) {
  (void)ssl;
  (void)arg;
  const char *want = "h2";
  size_t wlen = 2;
  for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
    if (in[i] == wlen && i + 1 + wlen <= inlen && memcmp(in + i + 1, want, wlen) == 0) {
      *out = in + i + 1;
      *outlen = in[i];
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int main(int argc, char **argv) {
  const char *cert = NULL;
  const char *key = NULL;
  unsigned long max_seconds = 120;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc) {
      cert = argv[++i];
    } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
      key = argv[++i];
    } else if (strcmp(argv[i], "--max-streams") == 0 && i + 1 < argc) {
      opt_max_streams = (uint32_t)strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--goaway-after") == 0 && i + 1 < argc) {
      opt_goaway_after = (uint32_t)strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
      max_seconds = strtoul(argv[++i], NULL, 10);
    } else {
      fprintf(stderr,
              "usage: %s --cert CHAIN --key KEY [--max-streams N] [--goaway-after N] "
              "[--max-seconds N]\n",
              argv[0]);
      return 64;
    }
  }
  if (cert == NULL || key == NULL) {
    fprintf(stderr, "transport_fault_server: --cert and --key are required\n");
    return 64;
  }
  signal(SIGPIPE, SIG_IGN);
  ssl_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ssl_ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ssl_ctx, key, SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_CTX_set_alpn_select_cb(ssl_ctx, on_alpn, NULL);

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(lfd, 256) != 0 ||
      getsockname(lfd, (struct sockaddr *)&sin, &len) != 0) {
    perror("transport_fault_server: listen");
    return 1;
  }
  printf("%u\n", (unsigned)ntohs(sin.sin_port));
  fflush(stdout);
  alarm((unsigned)max_seconds); /* SIGALRM ends the process: a test that dies leaves no server */
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) {
        continue;
      }
      return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_mutex_lock(&lock);
    accepts++;
    pthread_mutex_unlock(&lock);
    conn_t *c = calloc(1, sizeof *c);
    c->fd = fd;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, serve, c) != 0) {
      close(fd);
      free(c);
    }
    pthread_attr_destroy(&attr);
  }
}
