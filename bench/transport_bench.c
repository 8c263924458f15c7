/* transport_bench: requests per second and CPU per request of the transport, over TLS HTTP/2
 * to a server on this machine (the provider mock), with M requests in flight on one transport
 * (= one worker loop). CPU is this process only (getrusage), so the server's share is not
 * counted; the warm-up (TLS handshake, first streams) is not measured.
 *
 * usage: transport_bench --url URL --ca FILE [-n N] [-c M] [--connections K] [--streams S]
 *                        [--header 'Name: value']... [--body TEXT] [--warmup W]
 *                        [--transport native|curl]
 *   --transport native (default): the native HTTP/2 client, at most K connections;
 *   --transport curl: libcurl, K connections.
 *   {n} in TEXT becomes the request number, so that every request is a distinct message.
 *
 * Against the mock (see tools/mock-provider/README.md):
 *   tools/gen-test-ca /tmp/ca
 *   build/bin/mock-provider --cert /tmp/ca/server-chain.crt --key /tmp/ca/server.key \
 *     --port-file /tmp/mock.port --whatsapp-token wa-token -q &
 *   build/bin/transport_bench --ca /tmp/ca/ca.crt -n 100000 -c 100 \
 *     --url https://127.0.0.1:$(cat /tmp/mock.port)/v24.0/1234567890/messages \
 *     --header 'Authorization: Bearer wa-token' --header 'Content-Type: application/json' \
 *     --body '{"messaging_product":"whatsapp","to":"5511999990001","type":"text","text":{"body":"fatura {n}"}}'
 */
#include "common/error.h"
#include "transport/transport.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#define MAX_N 10000000u
#define MAX_BODY (64u * 1024u)
#define MAX_HEADERS 6 /* leaves room under CT_HTTP_MAX_HEADERS */

typedef struct {
  const char *url;
  const char *ca;
  const char *body;
  const char *headers[MAX_HEADERS];
  size_t n_headers;
  uint32_t n;
  uint32_t inflight;
  uint32_t warmup;
  uint32_t connections;
  uint32_t streams;
  bool curl;
} args_t;

typedef struct {
  const args_t *a;
  uv_loop_t *loop;
  ct_transport_t *t;
  uint32_t total;     /* warm-up + measured */
  uint32_t sent;
  uint32_t completed;
  bool measuring;
  uint64_t start_ns;
  uint64_t end_ns;
  struct rusage ru_start;
  struct rusage ru_end;
  uint32_t *latency; /* measured requests only */
  uint32_t n_latency;
  uint64_t failures[CT_HTTP_OTHER + 1];
  uint64_t status_2xx, status_other;
  char first_error[160];
} bench_t;

static bool parse_u32(const char *s, uint32_t max, uint32_t *out) {
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v == 0 || v > max) {
    return false;
  }
  *out = (uint32_t)v;
  return true;
}

static int usage(const char *prog) {
  fprintf(stderr,
          "usage: %s --url URL --ca FILE [-n N] [-c M] [--connections K] [--streams S]\n"
          "          [--header 'Name: value']... [--body TEXT] [--warmup W]\n"
          "          [--transport native|curl]\n",
          prog);
  return 64;
}

/* Builds request number i: the URL, the headers, the body with {n} replaced. */
static int make_request(const args_t *a, uint32_t i, ct_http_request_t *req) {
  memset(req, 0, sizeof *req);
  req->url = strdup(a->url);
  if (req->url == NULL) {
    return CT_ENOMEM;
  }
  for (size_t h = 0; h < a->n_headers; h++) {
    const char *colon = strchr(a->headers[h], ':');
    char name[128];
    size_t nlen = (size_t)(colon - a->headers[h]);
    if (nlen >= sizeof name) {
      ct_http_request_free(req);
      return CT_EINVAL;
    }
    memcpy(name, a->headers[h], nlen);
    name[nlen] = '\0';
    const char *value = colon + 1;
    while (*value == ' ') {
      value++;
    }
    int err = ct_http_request_add_header(req, name, value);
    if (err != 0) {
      ct_http_request_free(req);
      return err;
    }
  }
  char *body = malloc(MAX_BODY);
  if (body == NULL) {
    ct_http_request_free(req);
    return CT_ENOMEM;
  }
  const char *mark = strstr(a->body, "{n}");
  int len;
  if (mark != NULL) {
    len = snprintf(body, MAX_BODY, "%.*s%u%s", (int)(mark - a->body), a->body, i, mark + 3);
  } else {
    len = snprintf(body, MAX_BODY, "%s", a->body);
  }
  if (len < 0 || (size_t)len >= MAX_BODY) {
    free(body);
    ct_http_request_free(req);
    return CT_EINVAL;
  }
  /* Down to its size: with thousands in flight, 64 KiB each would be the bench's own memory,
   * not the transport's. */
  char *fit = realloc(body, (size_t)len + 1);
  req->body = fit != NULL ? fit : body;
  req->body_len = (size_t)len;
  return 0;
}

static void on_response(void *arg, const ct_http_response_t *r);

static void send_next(bench_t *b) {
  ct_http_request_t req;
  int err = make_request(b->a, b->sent, &req);
  if (err == 0) {
    err = ct_transport_send(b->t, &req, on_response, b);
  }
  if (err != 0) {
    fprintf(stderr, "transport_bench: request %u: %s\n", b->sent, ct_strerror(err));
    ct_http_request_free(&req);
    exit(1);
  }
  b->sent++;
}

static void on_closed(void *arg) {
  bench_t *b = arg;
  b->t = NULL;
}

static void start_measuring(bench_t *b) {
  b->measuring = true;
  getrusage(RUSAGE_SELF, &b->ru_start);
  b->start_ns = uv_hrtime();
}

static void on_response(void *arg, const ct_http_response_t *r) {
  bench_t *b = arg;
  b->completed++;
  if (r->failure != CT_HTTP_OK) {
    b->failures[r->failure]++;
    if (b->first_error[0] == '\0') {
      snprintf(b->first_error, sizeof b->first_error, "%s: %s", ct_http_failure_name(r->failure),
               r->detail);
    }
  } else if (r->status >= 200 && r->status < 300) {
    b->status_2xx++;
  } else {
    b->status_other++;
    if (b->first_error[0] == '\0') {
      snprintf(b->first_error, sizeof b->first_error, "status %d: %.100s", r->status, r->body);
    }
  }
  if (b->measuring && b->n_latency < b->a->n) {
    b->latency[b->n_latency++] = r->latency_ms;
  }

  if (!b->measuring && b->completed == b->a->warmup) {
    start_measuring(b); /* the warm-up is over: the connection is up and streams flow */
  }
  if (b->completed == b->total) {
    b->end_ns = uv_hrtime();
    getrusage(RUSAGE_SELF, &b->ru_end);
    ct_transport_close(b->t, on_closed, b);
    return;
  }
  if (b->sent < b->total) {
    send_next(b);
  }
}

static int cmp_u32(const void *x, const void *y) {
  uint32_t a = *(const uint32_t *)x;
  uint32_t c = *(const uint32_t *)y;
  return a < c ? -1 : a > c;
}

static int64_t tv_us(struct timeval tv) { return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec; }

int main(int argc, char **argv) {
  args_t a = {.n = 100000, .inflight = 100, .warmup = 1000, .connections = 1, .streams = 100,
              .body = "{}"};
  /* every option takes a value: walk the arguments in pairs */
  for (int i = 1; i < argc; i += 2) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool ok = v != NULL;
    if (ok && strcmp(o, "--url") == 0) {
      a.url = v;
    } else if (ok && strcmp(o, "--ca") == 0) {
      a.ca = v;
    } else if (ok && strcmp(o, "--body") == 0) {
      a.body = v;
    } else if (ok && strcmp(o, "--header") == 0) {
      if (a.n_headers == MAX_HEADERS || strchr(v, ':') == NULL) {
        return usage(argv[0]);
      }
      a.headers[a.n_headers++] = v;
    } else if (ok && strcmp(o, "-n") == 0) {
      ok = parse_u32(v, MAX_N, &a.n);
    } else if (ok && strcmp(o, "-c") == 0) {
      ok = parse_u32(v, 100000, &a.inflight);
    } else if (ok && strcmp(o, "--warmup") == 0) {
      ok = parse_u32(v, MAX_N, &a.warmup);
    } else if (ok && strcmp(o, "--connections") == 0) {
      ok = parse_u32(v, 1000, &a.connections);
    } else if (ok && strcmp(o, "--streams") == 0) {
      ok = parse_u32(v, 10000, &a.streams);
    } else if (ok && strcmp(o, "--transport") == 0) {
      ok = strcmp(v, "native") == 0 || strcmp(v, "curl") == 0;
      a.curl = strcmp(v, "curl") == 0;
    } else {
      ok = false;
    }
    if (!ok) {
      return usage(argv[0]);
    }
  }
  if (a.url == NULL || a.ca == NULL) {
    return usage(argv[0]);
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  ct_transport_options_t opts = {
      .ca_file = a.ca,
      .connect_timeout_ms = 5000,
      .request_timeout_ms = 30000,
      .max_host_connections = a.connections,
      .max_streams = a.streams,
      .max_total_connections = a.connections,
      .kind = a.curl ? CT_TRANSPORT_CURL : CT_TRANSPORT_AUTO,
      .max_origin_connections = a.connections,
  };
  bench_t b = {.a = &a, .loop = &loop, .total = a.warmup + a.n};
  b.latency = calloc(a.n, sizeof *b.latency);
  if (b.latency == NULL) {
    fprintf(stderr, "transport_bench: out of memory\n");
    return 1;
  }
  int err = ct_transport_new(&loop, &opts, &b.t);
  if (err != 0) {
    fprintf(stderr, "transport_bench: %s\n", ct_strerror(err));
    return 1;
  }
  if (a.warmup == 0) {
    start_measuring(&b);
  }
  uint32_t first = a.inflight < b.total ? a.inflight : b.total;
  for (uint32_t i = 0; i < first; i++) {
    send_next(&b);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);

  double secs = (double)(b.end_ns - b.start_ns) / 1e9;
  int64_t user = tv_us(b.ru_end.ru_utime) - tv_us(b.ru_start.ru_utime);
  int64_t sys = tv_us(b.ru_end.ru_stime) - tv_us(b.ru_start.ru_stime);
  qsort(b.latency, b.n_latency, sizeof *b.latency, cmp_u32);
  uint32_t p50 = b.n_latency ? b.latency[b.n_latency / 2] : 0;
  uint32_t p99 = b.n_latency ? b.latency[(size_t)b.n_latency * 99 / 100] : 0;

  printf("requests        %u measured (+%u warm-up), %u in flight, %u connection(s) x %u "
         "streams, %s\n",
         a.n, a.warmup, a.inflight, a.connections, a.streams, a.curl ? "libcurl" : "native");
  printf("time            %.3f s\n", secs);
  printf("rate            %.0f req/s\n", (double)a.n / secs);
  printf("cpu/request     %.1f us (user %.1f, sys %.1f)\n", (double)(user + sys) / a.n,
         (double)user / a.n, (double)sys / a.n);
  printf("latency         p50 %u ms, p99 %u ms\n", p50, p99);
  printf("answers         2xx %llu, other status %llu\n", (unsigned long long)b.status_2xx,
         (unsigned long long)b.status_other);
  printf("failures       ");
  for (int f = CT_HTTP_TIMEOUT; f <= CT_HTTP_OTHER; f++) {
    printf(" %s %llu", ct_http_failure_name((ct_http_failure_t)f),
           (unsigned long long)b.failures[f]);
  }
  printf("\n");
  if (b.first_error[0] != '\0') {
    printf("first problem   %s\n", b.first_error);
  }
  free(b.latency);
  return b.status_other == 0 && b.status_2xx == b.total ? 0 : 2;
}
