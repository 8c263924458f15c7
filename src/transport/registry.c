/* What the transports of this process did, for /metrics and `carteiro status`.
 *
 * Each transport (one per worker loop) owns a block of counters that only its loop thread
 * writes; this file keeps the list of live blocks and, for closed transports, their sums, so
 * that a reader on another thread adds them up without the writers taking any lock. The
 * origin table changes a handful of times in a process's life (the first request to each
 * provider API), so it sits behind a mutex.
 */
#include "transport/transport_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ct__counters_t *live;
static ct_transport_stats_t retired; /* counters of closed transports; origins unused */
static ct_transport_origin_t origins[CT_TRANSPORT_MAX_ORIGINS];
static size_t n_origins;
static uint64_t origins_dropped;

const char *ct_transport_client_name(ct_transport_client_t c) {
  return c == CT_TRANSPORT_LIBCURL ? "libcurl" : "nghttp2";
}

const char *ct_transport_reason_name(ct_transport_reason_t r) {
  switch (r) {
  case CT_TRANSPORT_ALPN_H2:
    return "alpn_h2";
  case CT_TRANSPORT_ALPN_OTHER:
    return "alpn_http1";
  case CT_TRANSPORT_FORCED:
    return "forced";
  }
  return "forced";
}

static uint64_t get(const _Atomic uint64_t *v) {
  return atomic_load_explicit(v, memory_order_relaxed);
}

static void add(ct_transport_stats_t *s, const ct__counters_t *c) {
  for (int i = 0; i < CT_TRANSPORT_CLIENTS; i++) {
    s->requests[i] += get(&c->requests[i]);
  }
  s->h2_connections += get(&c->h2_connections);
  s->h2_goaway += get(&c->h2_goaway);
  s->h2_refused += get(&c->h2_refused);
  s->h2_ping_timeouts += get(&c->h2_ping_timeouts);
}

void ct__registry_attach(ct__counters_t *c) {
  pthread_mutex_lock(&lock);
  c->next = live;
  live = c;
  pthread_mutex_unlock(&lock);
}

void ct__registry_detach(ct__counters_t *c) {
  pthread_mutex_lock(&lock);
  for (ct__counters_t **p = &live; *p != NULL; p = &(*p)->next) {
    if (*p == c) {
      *p = c->next;
      add(&retired, c);
      break;
    }
  }
  pthread_mutex_unlock(&lock);
}

void ct__registry_origin(const char *origin, size_t origin_len, ct_transport_client_t client,
                         ct_transport_reason_t why) {
  if (origin_len >= CT_TRANSPORT_ORIGIN_MAX) {
    origin_len = CT_TRANSPORT_ORIGIN_MAX - 1; /* a name this long is still told apart */
  }
  pthread_mutex_lock(&lock);
  size_t i = 0;
  for (; i < n_origins; i++) {
    if (strlen(origins[i].origin) == origin_len &&
        memcmp(origins[i].origin, origin, origin_len) == 0) {
      break;
    }
  }
  if (i == n_origins) {
    if (n_origins == CT_TRANSPORT_MAX_ORIGINS) {
      origins_dropped++;
      pthread_mutex_unlock(&lock);
      return;
    }
    memcpy(origins[i].origin, origin, origin_len);
    origins[i].origin[origin_len] = '\0';
    n_origins++;
  }
  origins[i].client = client;
  origins[i].reason = why;
  pthread_mutex_unlock(&lock);
}

void ct_transport_stats(ct_transport_stats_t *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&lock);
  for (int i = 0; i < CT_TRANSPORT_CLIENTS; i++) {
    out->requests[i] = retired.requests[i];
  }
  out->h2_connections = retired.h2_connections;
  out->h2_goaway = retired.h2_goaway;
  out->h2_refused = retired.h2_refused;
  out->h2_ping_timeouts = retired.h2_ping_timeouts;
  for (const ct__counters_t *c = live; c != NULL; c = c->next) {
    add(out, c);
  }
  memcpy(out->origins, origins, n_origins * sizeof origins[0]);
  out->n_origins = n_origins;
  out->origins_dropped = origins_dropped;
  pthread_mutex_unlock(&lock);
}

/* An origin as a label value: backslash and double quote escaped (a URL has no newline). */
static void label(char *out, size_t cap, const char *in) {
  size_t o = 0;
  for (; *in != '\0' && o + 2 < cap; in++) {
    if (*in == '\\' || *in == '"') {
      out[o++] = '\\';
    }
    out[o++] = *in;
  }
  out[o] = '\0';
}

void ct_transport_metrics(void (*write)(void *ctx, const char *s, size_t n), void *ctx) {
  ct_transport_stats_t st;
  ct_transport_stats(&st);
  char line[512];
  int n;
#define EMIT(...)                                                                              \
  do {                                                                                         \
    n = snprintf(line, sizeof line, __VA_ARGS__);                                              \
    if (n > 0) {                                                                               \
      write(ctx, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);               \
    }                                                                                          \
  } while (0)
  EMIT("# HELP carteiro_transport_requests_total Requests handed to each HTTP client: nghttp2 "
       "(the native HTTP/2 client) or libcurl (HTTP/1.1 origins, transport = curl).\n"
       "# TYPE carteiro_transport_requests_total counter\n");
  for (int c = 0; c < CT_TRANSPORT_CLIENTS; c++) {
    EMIT("carteiro_transport_requests_total{client=\"%s\"} %llu\n",
         ct_transport_client_name((ct_transport_client_t)c),
         (unsigned long long)st.requests[c]);
  }
  EMIT("# HELP carteiro_transport_origin_info The HTTP client each origin goes to, and why "
       "(alpn_h2, alpn_http1, forced).\n"
       "# TYPE carteiro_transport_origin_info gauge\n");
  for (size_t i = 0; i < st.n_origins; i++) {
    char origin[2 * CT_TRANSPORT_ORIGIN_MAX];
    label(origin, sizeof origin, st.origins[i].origin);
    EMIT("carteiro_transport_origin_info{origin=\"%s\",client=\"%s\",reason=\"%s\"} 1\n",
         origin, ct_transport_client_name(st.origins[i].client),
         ct_transport_reason_name(st.origins[i].reason));
  }
  static const struct {
    const char *name, *help;
    size_t off;
  } h2[] = {
      {"carteiro_transport_native_connections_total", "Native HTTP/2 connections opened.",
       offsetof(ct_transport_stats_t, h2_connections)},
      {"carteiro_transport_native_goaway_total", "GOAWAY frames received on native connections.",
       offsetof(ct_transport_stats_t, h2_goaway)},
      {"carteiro_transport_native_refused_streams_total",
       "Requests the server refused unprocessed (REFUSED_STREAM, or above a GOAWAY's last "
       "stream), sent again by the native client.",
       offsetof(ct_transport_stats_t, h2_refused)},
      {"carteiro_transport_native_ping_timeouts_total",
       "Native connections ended because a PING went unanswered.",
       offsetof(ct_transport_stats_t, h2_ping_timeouts)},
  };
  for (size_t i = 0; i < sizeof h2 / sizeof h2[0]; i++) {
    uint64_t v;
    memcpy(&v, (const char *)&st + h2[i].off, sizeof v);
    EMIT("# HELP %s %s\n# TYPE %s counter\n%s %llu\n", h2[i].name, h2[i].help, h2[i].name,
         h2[i].name, (unsigned long long)v);
  }
#undef EMIT
}
