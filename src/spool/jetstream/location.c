/* The settings of a JetStream spool: defaults, then the caller's options, then the query
 * string of the location ("nats://a:4222,nats://b:4222?replicas=3&ack_wait=10s"), so that a
 * CLI command given only a location reaches the same streams as the daemon. No I/O. */
#include "spool/jetstream/jetstream_int.h"

#include "common/error.h"
#include "config/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_str(char *dst, size_t cap, const char *v) {
  if (v != NULL && v[0] != '\0')
    snprintf(dst, cap, "%s", v);
}

static int failf(char *err, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (cap > 0)
    vsnprintf(err, cap, fmt, ap);
  va_end(ap);
  return CT_EINVAL;
}

/* A duration as the configuration writes it (ct_config_parse_duration: a number and a unit,
 * ms, s, m, h or d), or a bare number of milliseconds; at most ~31 years. */
static bool parse_ms(const char *v, int64_t *out) {
  int64_t ms;
  size_t digits = strspn(v, "0123456789");
  if (digits > 0 && v[digits] == '\0') {
    if (digits > 13)
      return false;
    ms = strtoll(v, NULL, 10);
  } else if (ct_config_parse_duration(v, &ms) != 0) {
    return false;
  }
  if (ms > (int64_t)1e12)
    return false;
  *out = ms;
  return true;
}

static bool parse_count(const char *v, long long lo, long long hi, int64_t *out) {
  char *end;
  long long n = strtoll(v, &end, 10);
  if (end == v || *end != '\0' || n < lo || n > hi)
    return false;
  *out = n;
  return true;
}

static int parse_query(ct__js_conf_t *c, char *q, char *err, size_t cap) {
  for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv != NULL;
       kv = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(kv, '=');
    if (eq == NULL)
      return failf(err, cap, "query parameter \"%s\" has no value (key=value)", kv);
    *eq = '\0';
    const char *k = kv, *v = eq + 1;
    int64_t n;
    if (strcmp(k, "stream") == 0)
      set_str(c->stream, sizeof c->stream, v);
    else if (strcmp(k, "dlq_stream") == 0)
      set_str(c->dlq, sizeof c->dlq, v);
    else if (strcmp(k, "consumer") == 0)
      set_str(c->consumer, sizeof c->consumer, v);
    else if (strcmp(k, "subject") == 0)
      set_str(c->prefix, sizeof c->prefix, v);
    else if (strcmp(k, "replicas") == 0) {
      if (!parse_count(v, 1, 5, &n))
        return failf(err, cap, "replicas must be 1 to 5, not \"%s\"", v);
      c->replicas = (int)n;
    } else if (strcmp(k, "ack_wait") == 0 || strcmp(k, "duplicate_window") == 0) {
      int64_t *dst = k[0] == 'a' ? &c->ack_wait_ms : &c->dup_window_ms;
      if (!parse_ms(v, dst))
        return failf(err, cap, "%s must be a duration (500ms, 30s, 5m, 1h), not \"%s\"", k, v);
    } else if (strcmp(k, "max_deliver") == 0) {
      if (!parse_count(v, -1, INT64_MAX, &n) || n == 0)
        return failf(err, cap, "max_deliver must be -1 (unlimited) or a count > 0, not \"%s\"",
                     v);
      c->max_deliver = n;
    } else if (strcmp(k, "max_ack_pending") == 0) {
      if (!parse_count(v, 1, INT64_MAX, &n))
        return failf(err, cap, "max_ack_pending must be a count > 0, not \"%s\"", v);
      c->max_ack_pending = n;
    } else if (strcmp(k, "creds") == 0)
      set_str(c->creds, sizeof c->creds, v);
    else if (strcmp(k, "ca") == 0)
      set_str(c->ca, sizeof c->ca, v);
    else if (strcmp(k, "cert") == 0)
      set_str(c->cert, sizeof c->cert, v);
    else if (strcmp(k, "key") == 0)
      set_str(c->key, sizeof c->key, v);
    else
      return failf(err, cap, "unknown query parameter \"%s\"", k);
  }
  return 0;
}

int ct__js_conf_make(const ct_spool_options_t *opts, ct__js_conf_t *c, char *err, size_t cap) {
  memset(c, 0, sizeof *c);
  if (cap > 0)
    err[0] = '\0';
  snprintf(c->stream, sizeof c->stream, "CARTEIRO_JOBS");
  snprintf(c->dlq, sizeof c->dlq, "CARTEIRO_DLQ");
  snprintf(c->consumer, sizeof c->consumer, "carteiro");
  snprintf(c->prefix, sizeof c->prefix, "carteiro");
  c->replicas = 1;
  c->ack_wait_ms = 30000;
  c->max_deliver = -1;
  c->max_ack_pending = 100000;
  c->dup_window_ms = 3600000;
  const ct_spool_nats_options_t *n = opts->nats;
  if (n != NULL) {
    set_str(c->stream, sizeof c->stream, n->stream);
    set_str(c->dlq, sizeof c->dlq, n->dlq_stream);
    set_str(c->consumer, sizeof c->consumer, n->consumer);
    set_str(c->prefix, sizeof c->prefix, n->subject);
    if (n->replicas > 0)
      c->replicas = n->replicas;
    if (n->ack_wait_ms > 0)
      c->ack_wait_ms = n->ack_wait_ms;
    if (n->max_deliver != 0)
      c->max_deliver = n->max_deliver;
    if (n->max_ack_pending > 0)
      c->max_ack_pending = n->max_ack_pending;
    if (n->duplicate_window_ms > 0)
      c->dup_window_ms = n->duplicate_window_ms;
    set_str(c->creds, sizeof c->creds, n->creds_file);
    set_str(c->ca, sizeof c->ca, n->ca_file);
    set_str(c->cert, sizeof c->cert, n->cert_file);
    set_str(c->key, sizeof c->key, n->key_file);
  }
  if (strlen(opts->path) >= sizeof c->servers)
    return failf(err, cap, "location longer than %zu bytes", sizeof c->servers - 1);
  snprintf(c->servers, sizeof c->servers, "%s", opts->path);
  char *q = strchr(c->servers, '?');
  if (q != NULL) {
    *q++ = '\0';
    int rc = parse_query(c, q, err, cap);
    if (rc != 0)
      return rc;
  }
  if (c->servers[strspn(c->servers, ",")] == '\0')
    return failf(err, cap, "no server in the location");
  if (c->ack_wait_ms < 1000)
    return failf(err, cap, "ack_wait must be at least 1s, not %lldms", (long long)c->ack_wait_ms);
  return 0;
}
