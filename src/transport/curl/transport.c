/* The libcurl transport: one CURLM per transport (one transport per worker loop), driven by
 * that loop the way curl's docs/examples/multi-uv.c drives it.
 *
 * HOW WORK FLOWS
 *
 * ct__curl_send takes an idle `req_t` (a request slot that keeps its easy handle between
 * requests) from the free list, or makes one; resets and sets up the easy handle
 * (CURLOPT_PRIVATE points back at the req_t), moves it to the in-flight list and adds it to
 * the multi. Nothing completes inside send: libcurl only asks, through the timer callback,
 * to be called again in 0 ms.
 *
 * From then on libcurl says what to watch, through two callbacks:
 *   - socket callback: watch socket s for IN / OUT / INOUT, or forget it (REMOVE). Each
 *     socket gets a `sock_t` holding a uv_poll_t, attached to s with curl_multi_assign so
 *     the next call for s hands it back. REMOVE stops and closes the poll; libcurl closes
 *     the fd only after the callback returns, which is what uv_poll requires.
 *   - timer callback: one timeout for the whole multi; -1 stops our uv_timer, anything else
 *     (re)starts it, 0 becoming 1 ms because socket_action may not be called from inside a
 *     libcurl callback.
 * When a poll or the timer fires we call curl_multi_socket_action for that socket (or
 * CURL_SOCKET_TIMEOUT) and then drain curl_multi_info_read. Each CURLMSG_DONE names an easy
 * handle; CURLOPT_PRIVATE leads to its req_t, which leaves the multi and the in-flight list,
 * becomes a ct_http_response_t for the user's callback, and returns to the free list (freed
 * instead when the list is full: its size is bounded).
 *
 * While a transfer runs, the write callback keeps at most CT__HTTP_BODY_CAP bytes of the body
 * and the header callback picks Retry-After and X-Message-Id out of the headers (response.c).
 *
 * LIFETIMES (libuv: a handle's memory is released only in or after its close_cb; nothing is
 * freed inside its own callback)
 *   - sock_t: made on the first watch request for its socket, closed on REMOVE (or at
 *     teardown), freed in its close_cb. A poll callback may see its own sock_t closed by the
 *     socket_action it runs; the memory stays valid until the close_cb, later.
 *   - req_t: owned by the transport. The user's callback runs before the req_t is recycled
 *     and the response points into the req_t, hence "valid during the call only".
 *   - the transport: ct__curl_close refuses new sends, stops every poll, and turns the
 *     one uv_timer into a 0 ms teardown timer, so teardown never runs inside a caller's stack
 *     (close is often called from a completion callback, in the middle of a drain). Teardown
 *     aborts what is still in flight (callback with CT_HTTP_OTHER "transport closed"),
 *     destroys the easy handles and the multi, and closes the timer and the remaining polls.
 *     `handles` counts uv handles whose close_cb has not run; the last close_cb frees the
 *     transport and only then calls `done`.
 */
#include "transport/curl/curl_int.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/list.h"
#include "common/version.h"

#include <assert.h>
#include <limits.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* ---- objects ----------------------------------------------------------------------------- */

/* Response bodies grow from this size; buffers above KEEP_BODY_CAP are not kept on the free
 * list, so a rare large answer does not pin 64 KiB per idle slot. */
#define BODY_INITIAL 1024u
#define KEEP_BODY_CAP (16u * 1024u)

typedef enum {
  T_OPEN,     /* accepting sends */
  T_CLOSING,  /* close requested, teardown timer armed */
  T_TEARDOWN, /* teardown runs or ran: the multi is going or gone, close_cbs pending */
} tstate_t;

typedef struct req {
  ct_list_t link; /* on t->inflight or t->idle */
  ct__curl_t *t;
  CURL *easy;
  bool used;                   /* the easy handle carried a request before: reset it */
  struct curl_slist *headers;  /* copies of http.headers, wiped before they are freed */
  ct_http_request_t http;      /* what the caller handed over; owned while in flight */
  ct_transport_cb cb;
  void *arg;
  uint64_t start_ns;
  char *body; /* NUL-terminated when not NULL */
  size_t body_len;
  size_t body_cap;
  ct__resp_headers_t hdr;
  char errbuf[CURL_ERROR_SIZE];
} req_t;

typedef struct sock {
  uv_poll_t poll;
  ct_list_t link; /* on t->socks until closed */
  ct__curl_t *t;
  curl_socket_t fd;
} sock_t;

struct ct__curl {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer; /* libcurl's timeout, then the teardown timer */
  tstate_t state;
  char *ca_file;
  long connect_timeout_ms;
  long request_timeout_ms;
  ct_list_t inflight;
  uint32_t n_inflight;
  ct_list_t idle;
  uint32_t n_idle;
  uint32_t idle_cap;
  ct_list_t socks;  /* sock_t not yet closed */
  ct__counters_t *counters;
  uint32_t handles; /* uv handles initialised whose close_cb has not run */
  void (*done)(void *arg);
  void *done_arg;
};

static void drain(ct__curl_t *t);

/* ---- libcurl global state ---------------------------------------------------------------- */

/* curl_global_init is thread-safe only in builds that say so (CURL_VERSION_THREADSAFE), and
 * every worker thread makes a transport, so it runs once per process. There is no matching
 * cleanup: the process ends first. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- uv handle closing ------------------------------------------------------------------- */

/* Runs after the last close_cb of a closing transport: free it, then tell the owner. */
static void maybe_finish(ct__curl_t *t) {
  if (t->state != T_TEARDOWN || t->handles != 0) {
    return;
  }
  void (*done)(void *) = t->done;
  void *arg = t->done_arg;
  free(t->ca_file);
  free(t);
  if (done != NULL) {
    done(arg);
  }
}

static void on_sock_closed(uv_handle_t *h) {
  sock_t *s = ct_container_of(h, sock_t, poll);
  ct__curl_t *t = s->t;
  free(s);
  t->handles--;
  maybe_finish(t);
}

static void on_timer_closed(uv_handle_t *h) {
  ct__curl_t *t = ct_container_of(h, ct__curl_t, timer);
  t->handles--;
  maybe_finish(t);
}

static void sock_close(sock_t *s) {
  ct_list_remove(&s->link);
  uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* ---- libcurl -> libuv: sockets and the timer --------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_t *s = ct_container_of(h, sock_t, poll);
  ct__curl_t *t = s->t;
  if (t->state != T_OPEN) {
    return; /* polls are stopped on close; this only guards the contract */
  }
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR; /* libcurl reads the socket and finds the error itself */
  } else {
    if (events & UV_READABLE) {
      flags |= CURL_CSELECT_IN;
    }
    if (events & UV_WRITABLE) {
      flags |= CURL_CSELECT_OUT;
    }
  }
  int running = 0;
  curl_multi_socket_action(t->multi, s->fd, flags, &running);
  drain(t);
}

static void on_timeout(uv_timer_t *h);

static void arm_timer(ct__curl_t *t, long timeout_ms) {
  uint64_t ms = timeout_ms == 0 ? 1 : (uint64_t)timeout_ms;
  uv_timer_start(&t->timer, on_timeout, ms, 0);
}

static void on_timeout(uv_timer_t *h) {
  ct__curl_t *t = ct_container_of(h, ct__curl_t, timer);
  int running = 0;
  curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  drain(t);
  /* libcurl calls the timer callback only when its earliest deadline changes. uv timers run
   * on the loop's cached clock and can fire up to a millisecond before that deadline; libcurl
   * then finds nothing expired, keeps the same deadline and stays silent, and without this
   * re-arm the transfers would stall. */
  if (t->state == T_OPEN && !uv_is_active((uv_handle_t *)&t->timer)) {
    long ms = -1;
    if (curl_multi_timeout(t->multi, &ms) == CURLM_OK && ms >= 0) {
      arm_timer(t, ms);
    }
  }
}

/* CURLMOPT_SOCKETFUNCTION. Returns 0, or -1 (libcurl then fails the transfers on s). */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  ct__curl_t *t = userp;
  sock_t *s = socketp;
  (void)easy;

  if (what == CURL_POLL_REMOVE) {
    if (s != NULL) {
      sock_close(s);
      if (t->state != T_TEARDOWN) { /* not while curl_multi_cleanup takes the table apart */
        curl_multi_assign(t->multi, fd, NULL);
      }
    }
    return 0;
  }
  if (s == NULL) {
    s = malloc(sizeof *s);
    if (s == NULL) {
      return -1;
    }
    if (uv_poll_init_socket(t->loop, &s->poll, fd) != 0) {
      free(s); /* never registered with the loop, so no close_cb is owed */
      return -1;
    }
    s->t = t;
    s->fd = fd;
    ct_list_insert_tail(&t->socks, &s->link);
    t->handles++;
    curl_multi_assign(t->multi, fd, s);
  }
  if (t->state != T_OPEN) {
    return 0; /* closing: the socket is tracked for teardown, but nothing more is read */
  }
  int events = 0;
  if (what & CURL_POLL_IN) {
    events |= UV_READABLE;
  }
  if (what & CURL_POLL_OUT) {
    events |= UV_WRITABLE;
  }
  return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  ct__curl_t *t = userp;
  (void)multi;
  if (t->state != T_OPEN) {
    return 0; /* the timer belongs to teardown now */
  }
  if (timeout_ms < 0) {
    uv_timer_stop(&t->timer);
  } else {
    arm_timer(t, timeout_ms); /* 0 ms becomes 1: no socket_action from inside a callback */
  }
  return 0;
}

/* ---- per-transfer callbacks -------------------------------------------------------------- */

/* CURLOPT_WRITEFUNCTION: keep up to the cap, swallow the rest (returning less than given
 * would abort the transfer). Fails the transfer only when memory runs out. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
  req_t *r = userp;
  size_t n = size * nmemb;
  size_t room = CT__HTTP_BODY_CAP - r->body_len;
  size_t take = n < room ? n : room;
  if (take == 0) {
    return n;
  }
  size_t need = r->body_len + take + 1;
  if (need > r->body_cap) {
    size_t cap = r->body_cap != 0 ? r->body_cap : BODY_INITIAL;
    while (cap < need) {
      cap *= 2;
    }
    if (cap > CT__HTTP_BODY_CAP + 1) {
      cap = CT__HTTP_BODY_CAP + 1;
    }
    char *nb = realloc(r->body, cap);
    if (nb == NULL) {
      return 0;
    }
    r->body = nb;
    r->body_cap = cap;
  }
  memcpy(r->body + r->body_len, data, take);
  r->body_len += take;
  r->body[r->body_len] = '\0';
  return n;
}

/* CURLOPT_HEADERFUNCTION: one complete header line per call. */
static size_t on_header(char *line, size_t size, size_t nitems, void *userp) {
  req_t *r = userp;
  size_t n = size * nitems;
  ct__resp_headers_line(&r->hdr, line, n, ct_now_ms());
  return n;
}

/* ---- request slots ----------------------------------------------------------------------- */

static req_t *req_new(ct__curl_t *t) {
  req_t *r = calloc(1, sizeof *r);
  if (r == NULL) {
    return NULL;
  }
  r->easy = curl_easy_init();
  if (r->easy == NULL) {
    free(r);
    return NULL;
  }
  r->t = t;
  ct_list_init(&r->link);
  return r;
}

static void req_destroy(req_t *r) {
  curl_easy_cleanup(r->easy);
  free(r->body);
  free(r);
}

/* Forgets the request the slot carried (wiping header copies: they may hold credentials). */
static void req_clear(req_t *r) {
  for (struct curl_slist *l = r->headers; l != NULL; l = l->next) {
    explicit_bzero(l->data, strlen(l->data));
  }
  curl_slist_free_all(r->headers);
  r->headers = NULL;
  ct_http_request_free(&r->http);
  if (r->body_cap > KEEP_BODY_CAP) {
    free(r->body);
    r->body = NULL;
    r->body_cap = 0;
  }
  r->body_len = 0;
  r->cb = NULL;
  r->arg = NULL;
}

/* A finished slot goes back on the free list, or away when the list is full or the transport
 * is closing. The easy handle must already be out of the multi. */
static void req_recycle(ct__curl_t *t, req_t *r) {
  req_clear(r);
  if (t->state == T_OPEN && t->n_idle < t->idle_cap) {
    ct_list_insert_tail(&t->idle, &r->link);
    t->n_idle++;
  } else {
    req_destroy(r);
  }
}

/* Sets up r->easy for r->http. Returns 0 or CT_ENOMEM. */
static int req_setup(ct__curl_t *t, req_t *r) {
  CURL *e = r->easy;
  if (r->used) {
    curl_easy_reset(e); /* keeps the connection, DNS and TLS session caches */
  }
  r->used = true;
  r->body_len = 0;
  r->errbuf[0] = '\0';
  ct__resp_headers_reset(&r->hdr);

  for (size_t i = 0; i < r->http.n_headers; i++) {
    struct curl_slist *l = curl_slist_append(r->headers, r->http.headers[i]);
    if (l == NULL) {
      return CT_ENOMEM;
    }
    r->headers = l;
  }
  /* No "Expect: 100-continue" on an HTTP/1.1 fallback: it would stall each body for 1 s. */
  struct curl_slist *l = curl_slist_append(r->headers, "Expect:");
  if (l == NULL) {
    return CT_ENOMEM;
  }
  r->headers = l;

  static const char empty[] = "";
  const char *body = r->http.body != NULL ? r->http.body : empty;
  CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                          \
  do {                                                                                         \
    if (rc == CURLE_OK) {                                                                      \
      rc = curl_easy_setopt(e, opt, val);                                                      \
    }                                                                                          \
  } while (0)
  SET(CURLOPT_PRIVATE, (void *)r);
  SET(CURLOPT_ERRORBUFFER, r->errbuf);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_URL, r->http.url);
  SET(CURLOPT_PROTOCOLS_STR, "https");
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  SET(CURLOPT_PIPEWAIT, 1L);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  if (t->ca_file != NULL) {
    SET(CURLOPT_CAINFO, t->ca_file);
  }
  SET(CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
  SET(CURLOPT_TIMEOUT_MS, t->request_timeout_ms);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_HTTPHEADER, r->headers); /* a User-Agent line there wins over the next one */
  SET(CURLOPT_USERAGENT, CT_USER_AGENT);
  SET(CURLOPT_POST, 1L);
  SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->http.body_len);
  SET(CURLOPT_POSTFIELDS, body); /* not copied: r->http owns it until the slot is recycled */
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, (void *)r);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, (void *)r);
#undef SET
  /* setopt fails only for want of memory (copying the URL or the CA path) with these
   * options, every one of which this libcurl version knows. */
  return rc == CURLE_OK ? 0 : CT_ENOMEM;
}

/* The user's callback, then the slot goes back. The easy handle is out of the multi. */
static void req_complete(ct__curl_t *t, req_t *r, ct_http_failure_t failure, int status,
                         const char *detail) {
  uint64_t elapsed_ms = (uv_hrtime() - r->start_ns) / 1000000u;
  ct_http_response_t resp = {
      .failure = failure,
      .status = failure == CT_HTTP_OK ? status : 0,
      .body = r->body != NULL ? r->body : "",
      .body_len = r->body_len,
      .retry_after_ms = r->hdr.retry_after_ms,
      .message_id = r->hdr.message_id_len != 0 ? r->hdr.message_id : NULL,
      .latency_ms = elapsed_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)elapsed_ms,
      .detail = detail,
  };
  r->cb(r->arg, &resp);
  req_recycle(t, r);
}

/* A transfer libcurl reported done: out of the multi and the in-flight list, then answered. */
static void req_done(ct__curl_t *t, req_t *r, CURLcode rc) {
  curl_multi_remove_handle(t->multi, r->easy);
  ct_list_remove(&r->link);
  t->n_inflight--;

  ct_http_failure_t failure = ct__curl_failure(rc);
  long status = 0;
  const char *detail = "";
  if (failure == CT_HTTP_OK) {
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  } else {
    /* libcurl's messages name hosts and ports, never URL paths or bodies: no personal data. */
    detail = r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(rc);
  }
  req_complete(t, r, failure, (int)status, detail);
}

/* Reads every finished transfer; runs after each curl_multi_socket_action. A completion
 * callback may send (adding to the multi is allowed here) or close (teardown waits for its
 * timer), so the loop reads the queue afresh each time. */
static void drain(ct__curl_t *t) {
  for (;;) {
    int left = 0;
    CURLMsg *m = curl_multi_info_read(t->multi, &left);
    if (m == NULL) {
      break;
    }
    if (m->msg != CURLMSG_DONE) {
      continue;
    }
    /* m is invalid once the handle leaves the multi: copy what we need first. */
    CURL *easy = m->easy_handle;
    CURLcode rc = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    assert(priv != NULL); /* every easy handle in the multi was set up by req_setup */
    req_done(t, (req_t *)(void *)priv, rc);
  }
}

/* ---- public interface -------------------------------------------------------------------- */

static long clamp_ms(int64_t ms) {
  if (ms <= 0) {
    return 0; /* libcurl's default: 300 s to connect, no total limit */
  }
  return ms > (int64_t)LONG_MAX ? LONG_MAX : (long)ms;
}

static uint32_t idle_cap_for(const ct_transport_options_t *o) {
  uint64_t conns = o->max_host_connections != 0 ? o->max_host_connections
                                                 : o->max_total_connections;
  uint64_t streams = o->max_streams != 0 ? o->max_streams : 100; /* libcurl's default */
  uint64_t cap = conns != 0 ? conns * streams : CT__CURL_IDLE_MAX;
  if (cap < CT__CURL_IDLE_MIN) {
    cap = CT__CURL_IDLE_MIN;
  }
  if (cap > CT__CURL_IDLE_MAX) {
    cap = CT__CURL_IDLE_MAX;
  }
  return (uint32_t)cap;
}

int ct__curl_new(uv_loop_t *loop, const ct_transport_options_t *opts, ct__counters_t *counters,
                 ct__curl_t **out) {
  assert(loop != NULL && opts != NULL && out != NULL);
  pthread_once(&global_once, global_init);
  if (global_rc != CURLE_OK) {
    return CT_EIO;
  }

  int err = CT_ENOMEM;
  ct__curl_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    goto fail;
  }
  t->loop = loop;
  t->state = T_OPEN;
  t->counters = counters;
  t->connect_timeout_ms = clamp_ms(opts->connect_timeout_ms);
  t->request_timeout_ms = clamp_ms(opts->request_timeout_ms);
  t->idle_cap = idle_cap_for(opts);
  ct_list_init(&t->inflight);
  ct_list_init(&t->idle);
  ct_list_init(&t->socks);
  if (opts->ca_file != NULL) {
    t->ca_file = strdup(opts->ca_file);
    if (t->ca_file == NULL) {
      goto fail_t;
    }
  }

  err = CT_EIO;
  t->multi = curl_multi_init();
  if (t->multi == NULL) {
    goto fail_ca;
  }
  CURLMcode mc = CURLM_OK;
#define MSET(opt, val)                                                                         \
  do {                                                                                         \
    if (mc == CURLM_OK) {                                                                      \
      mc = curl_multi_setopt(t->multi, opt, val);                                              \
    }                                                                                          \
  } while (0)
  MSET(CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  MSET(CURLMOPT_SOCKETDATA, (void *)t);
  MSET(CURLMOPT_TIMERFUNCTION, on_curl_timer);
  MSET(CURLMOPT_TIMERDATA, (void *)t);
  MSET(CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  MSET(CURLMOPT_MAX_HOST_CONNECTIONS, (long)opts->max_host_connections);
  MSET(CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)opts->max_total_connections);
  if (opts->max_streams != 0) {
    MSET(CURLMOPT_MAX_CONCURRENT_STREAMS, (long)opts->max_streams);
  }
#undef MSET
  if (mc != CURLM_OK) {
    goto fail_multi;
  }

  /* Last, because a handle initialised on the loop could only be released in a close_cb,
   * never on this error path. (uv_timer_init does not fail on Unix.) */
  if (uv_timer_init(loop, &t->timer) != 0) {
    goto fail_multi;
  }
  t->handles = 1;
  *out = t;
  return 0;

fail_multi:
  curl_multi_cleanup(t->multi);
fail_ca:
  free(t->ca_file);
fail_t:
  free(t);
fail:
  return err;
}

int ct__curl_send(ct__curl_t *t, ct_http_request_t *req, ct_transport_cb cb, void *arg) {
  assert(t != NULL && req != NULL && req->url != NULL && cb != NULL);
  if (t->state != T_OPEN) {
    return CT_ESTATE;
  }

  req_t *r;
  if (!ct_list_empty(&t->idle)) {
    r = ct_container_of(t->idle.next, req_t, link);
    ct_list_remove(&r->link);
    t->n_idle--;
  } else {
    r = req_new(t);
    if (r == NULL) {
      return CT_ENOMEM;
    }
  }

  r->http = *req; /* taken now; handed back below if the send fails */
  r->cb = cb;
  r->arg = arg;
  int err = req_setup(t, r);
  if (err == 0) {
    CURLMcode mc = curl_multi_add_handle(t->multi, r->easy);
    /* Adding fails only for want of memory here: the handle is fresh or removed, and this
     * is never called from inside a libcurl callback (user code never runs in one). */
    err = mc == CURLM_OK ? 0 : CT_ENOMEM;
  }
  if (err != 0) {
    memset(&r->http, 0, sizeof r->http); /* the caller keeps what it owns */
    req_recycle(t, r);
    return err;
  }
  memset(req, 0, sizeof *req);
  r->start_ns = uv_hrtime();
  ct__count(&t->counters->requests[CT_TRANSPORT_LIBCURL], 1);
  ct_list_insert_tail(&t->inflight, &r->link);
  t->n_inflight++;
  return 0;
}

uint32_t ct__curl_inflight(const ct__curl_t *t) { return t->n_inflight; }

uint32_t ct__curl_idle_handles(const ct__curl_t *t) { return t->n_idle; }

/* The teardown timer: runs from the loop, never inside a caller's stack (see the top). */
static void on_teardown(uv_timer_t *h) {
  ct__curl_t *t = ct_container_of(h, ct__curl_t, timer);
  assert(t->state == T_CLOSING);

  /* Abort in order of sending. A callback may call send (refused with CT_ESTATE) but cannot
   * add to the list, so the loop ends. */
  while (!ct_list_empty(&t->inflight)) {
    req_t *r = ct_container_of(t->inflight.next, req_t, link);
    curl_multi_remove_handle(t->multi, r->easy);
    ct_list_remove(&r->link);
    t->n_inflight--;
    req_complete(t, r, CT_HTTP_OTHER, 0, "transport closed");
  }
  while (!ct_list_empty(&t->idle)) {
    req_t *r = ct_container_of(t->idle.next, req_t, link);
    ct_list_remove(&r->link);
    t->n_idle--;
    req_destroy(r);
  }

  /* libcurl closes its cached connections here and may report REMOVE for their sockets. */
  t->state = T_TEARDOWN;
  curl_multi_cleanup(t->multi);
  t->multi = NULL;

  while (!ct_list_empty(&t->socks)) {
    sock_close(ct_container_of(t->socks.next, sock_t, link));
  }
  uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

void ct__curl_close(ct__curl_t *t, void (*done)(void *arg), void *arg) {
  assert(t != NULL && t->state == T_OPEN);
  t->state = T_CLOSING;
  t->done = done;
  t->done_arg = arg;
  for (ct_list_t *l = t->socks.next; l != &t->socks; l = l->next) {
    uv_poll_stop(&ct_container_of(l, sock_t, link)->poll);
  }
  uv_timer_stop(&t->timer);
  uv_timer_start(&t->timer, on_teardown, 0, 0);
}
