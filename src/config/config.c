/* Loading the configuration.
 *
 * inih calls `on_key` for every key in file order. Keys are looked up in per-section tables
 * (name, type, offset, bounds) so that parsing, defaults and `config check` messages come from
 * one description instead of a chain of strcmp branches. Every problem is collected rather
 * than stopping at the first, so `carteiro config check` can name them all at once.
 */
#include "config/config.h"

#include "common/base64.h"
#include "common/error.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A configuration file is text an operator writes; anything larger is a mistake. */
#define CONFIG_MAX_BYTES ((size_t)4 << 20)

typedef enum { K_STRING, K_UINT, K_DOUBLE, K_DURATION, K_CHANNEL, K_LOGLEVEL } key_type_t;

typedef struct {
  const char *name;
  key_type_t type;
  size_t offset;
  size_t size;    /* K_STRING: capacity */
  double min, max; /* numeric bounds, durations in ms */
} key_t_;

#define STR(s, f) {#f, K_STRING, offsetof(s, f), sizeof(((s *)0)->f), 0, 0}
#define UINT(s, f, lo, hi) {#f, K_UINT, offsetof(s, f), 0, lo, hi}
#define DBL(s, f, lo, hi) {#f, K_DOUBLE, offsetof(s, f), 0, lo, hi}


#define DAY_MS (86400.0 * 1000)

/* [carteiro]: the names in the file drop the _ms suffix of the struct fields. */
static const key_t_ daemon_keys[] = {
    STR(ct_config_t, spool),
    UINT(ct_config_t, workers, 0, 256),
    UINT(ct_config_t, max_inflight, 1, 1000000),
    UINT(ct_config_t, take_batch, 1, 100000),
    {"connect_timeout", K_DURATION, offsetof(ct_config_t, connect_timeout_ms), 0, 1, 600000},
    {"request_timeout", K_DURATION, offsetof(ct_config_t, request_timeout_ms), 0, 1, 3600000},
    {"shutdown_grace", K_DURATION, offsetof(ct_config_t, shutdown_grace_ms), 0, 0, 3600000},
    UINT(ct_config_t, max_attempts, 1, 1000),
    {"backoff_base", K_DURATION, offsetof(ct_config_t, backoff_base_ms), 0, 1, DAY_MS},
    {"backoff_cap", K_DURATION, offsetof(ct_config_t, backoff_cap_ms), 0, 1, 7 * DAY_MS},
    {"receipt_retention", K_DURATION, offsetof(ct_config_t, receipt_retention_ms), 0, 0,
     3650 * DAY_MS},
    STR(ct_config_t, ca_file),
    STR(ct_config_t, document_root),
    {"document_fetch_timeout", K_DURATION, offsetof(ct_config_t, document_fetch_timeout_ms), 0, 1,
     600000},
    UINT(ct_config_t, document_jobs, 1, 64),
    UINT(ct_config_t, document_cache_mb, 0, 65536),
    UINT(ct_config_t, document_stream_max_mb, 1, 4096),
    UINT(ct_config_t, document_decoded_max_mb, 1, 65536),
    UINT(ct_config_t, document_max_ratio, 0, 1000000),
    UINT(ct_config_t, document_memory_mb, 8, 65536),
    UINT(ct_config_t, document_memory_budget_mb, 8, 1048576),
    UINT(ct_config_t, document_key_cache_entries, 0, 10000000),
    UINT(ct_config_t, document_key_cache_mb, 1, 4096),
    STR(ct_config_t, http_listen),
    STR(ct_config_t, http_token_file),
    UINT(ct_config_t, http_max_body_mb, 1, 1024),
    UINT(ct_config_t, spool_high_water, 1, 4000000000u),
    UINT(ct_config_t, min_free_disk_mb, 0, 1000000),
    {"log_level", K_LOGLEVEL, offsetof(ct_config_t, log_level),
     sizeof(((ct_config_t *)0)->log_level), 0, 0},
    STR(ct_config_t, nats_stream),
    STR(ct_config_t, nats_dlq_stream),
    STR(ct_config_t, nats_consumer),
    STR(ct_config_t, nats_subject),
    UINT(ct_config_t, nats_replicas, 1, 5),
    {"nats_ack_wait", K_DURATION, offsetof(ct_config_t, nats_ack_wait_ms), 0, 1000, DAY_MS},
    UINT(ct_config_t, nats_max_deliver, 0, 1000000),
    UINT(ct_config_t, nats_max_ack_pending, 1, 10000000),
    {"nats_duplicate_window", K_DURATION, offsetof(ct_config_t, nats_duplicate_window_ms), 0,
     1000, 7 * DAY_MS},
    STR(ct_config_t, nats_creds_file),
    STR(ct_config_t, nats_ca_file),
    STR(ct_config_t, nats_cert_file),
    STR(ct_config_t, nats_key_file),
    STR(ct_config_t, transport),
    UINT(ct_config_t, h2_max_connections, 1, 4096),
    STR(ct_config_t, webhook_listen),
    STR(ct_config_t, webhook_tls_cert),
    STR(ct_config_t, webhook_tls_key),
    STR(ct_config_t, webhook_public_url),
    UINT(ct_config_t, webhook_max_body_kb, 1, 1048576),
    {"event_retention", K_DURATION, offsetof(ct_config_t, event_retention_ms), 0, DAY_MS,
     3650 * DAY_MS},
    UINT(ct_config_t, gap_wait_max, 0, 1000000),
};

static const key_t_ provider_keys[] = {
    {"kind", K_CHANNEL, offsetof(ct_provider_conf_t, channel), 0, 0, 0},
    STR(ct_provider_conf_t, tenants),
    STR(ct_provider_conf_t, base_url),
    STR(ct_provider_conf_t, account),
    STR(ct_provider_conf_t, sender),
    STR(ct_provider_conf_t, sender_name),
    STR(ct_provider_conf_t, secret_file),
    DBL(ct_provider_conf_t, rate, 0, 1e6),
    UINT(ct_provider_conf_t, burst, 0, 1000000),
    UINT(ct_provider_conf_t, max_concurrency, 1, 100000),
    UINT(ct_provider_conf_t, max_connections, 1, 1024),
    UINT(ct_provider_conf_t, max_streams, 1, 10000),
    UINT(ct_provider_conf_t, breaker_failures, 1, 100000),
    {"breaker_cooldown", K_DURATION, offsetof(ct_provider_conf_t, breaker_cooldown_ms), 0, 1,
     DAY_MS},
    STR(ct_provider_conf_t, template_invoice),
    STR(ct_provider_conf_t, template_barcode),
    STR(ct_provider_conf_t, template_language),
    {"recipient_gap", K_DURATION, offsetof(ct_provider_conf_t, recipient_gap_ms), 0, 0,
     3600000},
    STR(ct_provider_conf_t, webhook_secret_file),
    STR(ct_provider_conf_t, webhook_verify_token_file),
    STR(ct_provider_conf_t, webhook_public_key),
    {"webhook_tolerance", K_DURATION, offsetof(ct_provider_conf_t, webhook_tolerance_ms), 0,
     1000, DAY_MS},
};

/* [cluster]: the names in the file drop the cluster_ prefix of the struct fields. */
static const key_t_ cluster_keys[] = {
    {"nats", K_STRING, offsetof(ct_config_t, cluster_nats),
     sizeof(((ct_config_t *)0)->cluster_nats), 0, 0},
    {"node_id", K_STRING, offsetof(ct_config_t, cluster_node_id),
     sizeof(((ct_config_t *)0)->cluster_node_id), 0, 0},
    {"heartbeat", K_DURATION, offsetof(ct_config_t, cluster_heartbeat_ms), 0, 50, 60000},
    {"bucket", K_STRING, offsetof(ct_config_t, cluster_bucket),
     sizeof(((ct_config_t *)0)->cluster_bucket), 0, 0},
};

/* The built-in pt-BR texts. Operators override them per locale in [templates.LOCALE]. */
static const char default_sms[] =
    "{name}, sua fatura {number} de {amount} vence em {due_date}. "
    "Codigo de barras: {barcode}";
static const char default_subject[] = "Sua fatura {number} vence em {due_date}";
/* The line about the PDF is in sections (provider.h, ct_render_with): it is said only when
 * the PDF goes with the message, and the password only when it has one. */
static const char default_text[] =
    "Olá, {name}.\n\nSua fatura {number}, no valor de {amount}, vence em {due_date}.\n\n"
    "Linha digitável: {barcode}\n"
    "{#attached}\nO PDF da fatura segue anexo{#protected}, protegido por senha{/protected}.\n"
    "{/attached}";
static const char default_html[] =
    "<p>Olá, {name}.</p><p>Sua fatura <b>{number}</b>, no valor de <b>{amount}</b>, vence em "
    "<b>{due_date}</b>.</p><p>Linha digitável:<br><code>{barcode}</code></p>"
    "{#attached}<p>O PDF da fatura segue anexo{#protected}, protegido por senha{/protected}."
    "</p>{/attached}";

typedef struct {
  ct_config_t *cfg;
  ct_config_error_t *errs;
  size_t nerr;
  unsigned flags; /* CT_CONFIG_NO_ENV, CT_CONFIG_NO_FILES */
  bool oom;
  bool cluster_section;
} loader_t;

static void problem(loader_t *ld, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(loader_t *ld, const char *where, const char *fmt, ...) {
  if (ld->nerr < CT_CONFIG_MAX_ERRORS) {
    ct_config_error_t *e = &ld->errs[ld->nerr];
    snprintf(e->where, sizeof e->where, "%s", where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->what, sizeof e->what, fmt, ap);
    va_end(ap);
  }
  ld->nerr++;
}

static void warning(loader_t *ld, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A problem that does not stop the configuration from loading: kept in the snapshot, for
 * `config check` to print and the daemon to log. */
static void warning(loader_t *ld, const char *where, const char *fmt, ...) {
  ct_config_t *c = ld->cfg;
  if (c->n_warnings < CT_CONFIG_MAX_WARNINGS) {
    ct_config_error_t *e = &c->warnings[c->n_warnings];
    snprintf(e->where, sizeof e->where, "%s", where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->what, sizeof e->what, fmt, ap);
    va_end(ap);
    c->n_warnings++;
  }
}

/* ---- numbers ----------------------------------------------------------------------------
 *
 * Numbers are written in decimal, the way people read them: digits, and for rates and
 * durations an optional fraction. strtod and strtoull also take "0x10", "1e3", "inf", " +5"
 * and "-1" (strtoull wraps it to 2^64 - 1); none of those is what an operator means in a
 * rate or a timeout, so each is refused by name: not a number, negative, or out of range. */

typedef enum { NUM_OK, NUM_MALFORMED, NUM_NEGATIVE, NUM_HUGE } num_rc_t;

/* Reads [-]digits[.digits] from s; *end is set past it. NUM_NEGATIVE for a well-formed
 * negative number, NUM_MALFORMED when s does not start with one. The value is exact for
 * the digits' precision (strtod over text already known to be plain decimal). */
static num_rc_t read_decimal(const char *s, bool fraction, double *out, const char **end) {
  const char *p = s;
  bool neg = *p == '-';
  if (neg)
    p++;
  const char *digits = p;
  while (isdigit((unsigned char)*p))
    p++;
  if (p == digits)
    return NUM_MALFORMED;
  if (fraction && *p == '.') {
    const char *frac = ++p;
    while (isdigit((unsigned char)*p))
      p++;
    if (p == frac)
      return NUM_MALFORMED;
  }
  *end = p;
  if (neg)
    return NUM_NEGATIVE;
  errno = 0;
  *out = strtod(digits, NULL);
  if (errno != 0 || !isfinite(*out))
    return NUM_HUGE;
  return NUM_OK;
}

/* A whole number: decimal digits only. */
static num_rc_t parse_uint(const char *s, uint64_t *out) {
  double ignored;
  const char *end;
  num_rc_t rc = read_decimal(s, false, &ignored, &end);
  if (rc == NUM_OK || rc == NUM_NEGATIVE)
    rc = *end == '\0' ? rc : NUM_MALFORMED;
  if (rc != NUM_OK)
    return rc;
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  if (errno == ERANGE)
    return NUM_HUGE;
  *out = v;
  return NUM_OK;
}

static const struct {
  const char *name;
  double ms;
} duration_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};

/* A decimal number and a unit, in milliseconds. */
static num_rc_t parse_duration(const char *s, int64_t *out_ms) {
  double v = 0;
  const char *end;
  num_rc_t rc = read_decimal(s, true, &v, &end);
  if (rc == NUM_MALFORMED)
    return rc;
  double unit = 0;
  for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++)
    if (strcmp(end, duration_units[i].name) == 0)
      unit = duration_units[i].ms;
  if (unit == 0)
    return NUM_MALFORMED;
  if (rc != NUM_OK)
    return rc;
  double ms = v * unit;
  if (!isfinite(ms) || ms > 9e15)
    return NUM_HUGE;
  *out_ms = (int64_t)llround(ms);
  return NUM_OK;
}

/* A bound of a duration key as an operator would write it: "1h" rather than "3600000ms". */
static void format_duration(double ms, char *out, size_t cap) {
  for (size_t i = sizeof duration_units / sizeof duration_units[0]; i-- > 0;) {
    double u = duration_units[i].ms;
    if (ms >= u && fmod(ms, u) == 0) {
      snprintf(out, cap, "%.0f%s", ms / u, duration_units[i].name);
      return;
    }
  }
  snprintf(out, cap, "%.0fms", ms);
}

int ct_config_parse_duration(const char *s, int64_t *out_ms) {
  int64_t ms;
  if (parse_duration(s, &ms) != NUM_OK)
    return CT_EINVAL;
  *out_ms = ms;
  return 0;
}

/* Parses one value into the field described by `k`, or records why it cannot. */
static void set_key(loader_t *ld, const char *where, const key_t_ *k, void *base,
                    const char *value) {
  char *field = (char *)base + k->offset;
  switch (k->type) {
  case K_STRING:
    if (strlen(value) >= k->size) {
      problem(ld, where, "value is longer than %zu characters", k->size - 1);
      return;
    }
    memcpy(field, value, strlen(value) + 1);
    return;
  /* Messages name the rule, never the value: a value in the wrong key may be a secret. */
  case K_UINT: {
    uint64_t v = 0;
    num_rc_t rc = parse_uint(value, &v);
    if (rc == NUM_MALFORMED) {
      problem(ld, where, "not a whole number (decimal digits only)");
    } else if (rc == NUM_NEGATIVE) {
      problem(ld, where, "negative: must be a whole number from %.0f to %.0f", k->min, k->max);
    } else if (rc == NUM_HUGE || (double)v > k->max) {
      problem(ld, where, "out of range, at most %.0f", k->max);
    } else if ((double)v < k->min) {
      problem(ld, where, "out of range, at least %.0f", k->min);
    } else {
      *(uint32_t *)(void *)field = (uint32_t)v;
    }
    return;
  }
  case K_DOUBLE: {
    double v = 0;
    const char *end = value;
    num_rc_t rc = read_decimal(value, true, &v, &end);
    if (rc != NUM_MALFORMED && *end != '\0')
      rc = NUM_MALFORMED;
    if (rc == NUM_MALFORMED) {
      problem(ld, where, "not a decimal number (digits with an optional fraction, e.g. 12.5)");
    } else if (rc == NUM_NEGATIVE) {
      problem(ld, where, "negative: must be from %g to %g", k->min, k->max);
    } else if (rc == NUM_HUGE || v > k->max) {
      problem(ld, where, "out of range, at most %g", k->max);
    } else if (v < k->min) {
      problem(ld, where, "out of range, at least %g", k->min);
    } else {
      *(double *)(void *)field = v;
    }
    return;
  }
  case K_DURATION: {
    int64_t ms = 0;
    num_rc_t rc = parse_duration(value, &ms);
    char bound[32];
    if (rc == NUM_MALFORMED) {
      problem(ld, where, "not a duration: a decimal number and a unit, e.g. 250ms, 30s, 5m, "
                         "2h, 30d");
    } else if (rc == NUM_NEGATIVE) {
      problem(ld, where, "negative: a duration is 0 or more");
    } else if (rc == NUM_HUGE || (double)ms > k->max) {
      format_duration(k->max, bound, sizeof bound);
      problem(ld, where, "out of range, at most %s", bound);
    } else if ((double)ms < k->min) {
      format_duration(k->min, bound, sizeof bound);
      problem(ld, where, "out of range, at least %s", bound);
    } else {
      *(int64_t *)(void *)field = ms;
    }
    return;
  }
  case K_CHANNEL: {
    ct_channel_t ch;
    if (ct_channel_parse(value, &ch) != 0) {
      problem(ld, where, "not whatsapp, sms or email");
      return;
    }
    *(ct_channel_t *)(void *)field = ch;
    return;
  }
  case K_LOGLEVEL:
    if (strcmp(value, "debug") != 0 && strcmp(value, "info") != 0 &&
        strcmp(value, "warn") != 0 && strcmp(value, "error") != 0) {
      problem(ld, where, "not debug, info, warn or error");
      return;
    }
    snprintf(field, k->size, "%s", value);
    return;
  }
}

static const key_t_ *find_key(const key_t_ *keys, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(keys[i].name, name) == 0)
      return &keys[i];
  return NULL;
}

static bool valid_name(const char *s) {
  if (s[0] == '\0' || strlen(s) >= CT_CONFIG_NAME)
    return false;
  for (const char *p = s; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
      return false;
  return true;
}

static void provider_defaults(ct_provider_conf_t *p, const char *name) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  snprintf(p->tenants, sizeof p->tenants, "*");
  p->max_concurrency = 100;
  p->max_connections = 2;
  p->max_streams = 100;
  p->breaker_failures = 20;
  p->breaker_cooldown_ms = 10000;
  snprintf(p->template_invoice, sizeof p->template_invoice, "fatura_disponivel");
  snprintf(p->template_barcode, sizeof p->template_barcode, "fatura_codigo_barras");
  snprintf(p->template_language, sizeof p->template_language, "pt_BR");
  p->recipient_gap_ms = 6000;
  p->webhook_tolerance_ms = 10 * 60 * 1000;
}

static ct_provider_conf_t *provider_for(loader_t *ld, const char *name) {
  ct_config_t *c = ld->cfg;
  for (size_t i = 0; i < c->n_providers; i++)
    if (strcmp(c->providers[i].name, name) == 0)
      return &c->providers[i];
  if (c->n_providers == CT_CONFIG_MAX_PROVIDERS)
    return NULL;
  ct_provider_conf_t *p = &c->providers[c->n_providers++];
  provider_defaults(p, name);
  return p;
}

static ct_tenant_conf_t *tenant_for(loader_t *ld, const char *name) {
  ct_config_t *c = ld->cfg;
  for (size_t i = 0; i < c->n_tenants; i++)
    if (strcmp(c->tenants[i].name, name) == 0)
      return &c->tenants[i];
  if (c->n_tenants == CT_CONFIG_MAX_TENANTS)
    return NULL;
  ct_tenant_conf_t *t = &c->tenants[c->n_tenants++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->quiet_start_min = t->quiet_end_min = -1;
  return t;
}

static ct_templates_t *templates_for(loader_t *ld, const char *locale) {
  ct_config_t *c = ld->cfg;
  for (size_t i = 0; i < c->n_templates; i++)
    if (strcmp(c->templates[i].locale, locale) == 0)
      return &c->templates[i];
  if (c->n_templates == CT_CONFIG_MAX_TEMPLATES || strlen(locale) >= 16)
    return NULL;
  ct_templates_t *t = &c->templates[c->n_templates++];
  memset(t, 0, sizeof *t);
  snprintf(t->locale, sizeof t->locale, "%s", locale);
  return t;
}

/* "HH:MM" -> minutes after midnight, or -1. */
static int parse_clock(const char *s) {
  if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
      s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
    return -1;
  int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
  return h < 24 && m < 60 ? h * 60 + m : -1;
}

static int replace_text(char **slot, const char *value) {
  char *copy = strdup(value);
  if (copy == NULL)
    return CT_ENOMEM;
  free(*slot);
  *slot = copy;
  return 0;
}

/* Calls `fn` with each entry of a list separated by commas and/or blanks, as a NUL-terminated
 * copy; an entry of `cap` characters or more is passed cut, with `too_long` set. Stops at the
 * first call that returns false. */
static void each_entry(const char *list, char *entry, size_t cap,
                       bool (*fn)(void *arg, const char *entry, bool too_long), void *arg) {
  const char *s = list;
  for (;;) {
    while (*s == ',' || *s == ' ' || *s == '\t')
      s++;
    if (*s == '\0')
      return;
    size_t n = strcspn(s, ", \t");
    bool too_long = n >= cap;
    size_t keep = too_long ? cap - 1 : n;
    memcpy(entry, s, keep);
    entry[keep] = '\0';
    if (!fn(arg, entry, too_long))
      return;
    s += n;
  }
}

/* A host name as document_url_hosts takes it (already lower case): labels of letters, digits
 * and '-' (not at either end) joined by '.', at most 253 characters, optionally after "*." to
 * stand for every subdomain. */
static bool host_name_ok(const char *h) {
  if (strncmp(h, "*.", 2) == 0)
    h += 2;
  size_t n = strlen(h);
  if (n == 0 || n > 253)
    return false;
  size_t label = 0;
  for (size_t i = 0; i <= n; i++) {
    char c = h[i];
    if (c == '.' || c == '\0') {
      if (label == 0 || label > 63 || h[i - 1] == '-')
        return false;
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
      label++;
    } else {
      return false;
    }
  }
  return true;
}

typedef struct {
  loader_t *ld;
  const char *where;
  char out[sizeof(((ct_tenant_conf_t *)0)->document_url_hosts)];
  size_t len;
  bool ok;
  ct_cidr_t nets[CT_CONFIG_MAX_URL_NETWORKS];
  size_t n_nets;
} list_state_t;

static bool add_url_host(void *arg, const char *entry, bool too_long) {
  list_state_t *st = arg;
  char host[300];
  snprintf(host, sizeof host, "%s", entry);
  for (char *p = host; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  size_t n = strlen(host);
  if (n > 1 && host[n - 1] == '.' && host[n - 2] != '.')
    host[--n] = '\0'; /* "example.com." is example.com */
  ct_ipaddr_t ip;
  if (!too_long && ct_ipaddr_parse(host, &ip) == 0) {
    ct_ipaddr_format(&ip, host); /* one spelling per address */
    n = strlen(host);
  } else if (too_long || !host_name_ok(host)) {
    problem(st->ld, st->where, "'%.80s' is not a host name, *.domain or IP address", entry);
    st->ok = false;
    return false;
  }
  if (st->len + n + 2 >= sizeof st->out) {
    problem(st->ld, st->where, "the list is longer than %zu characters", sizeof st->out - 1);
    st->ok = false;
    return false;
  }
  if (st->len > 0) {
    memcpy(st->out + st->len, ", ", 2);
    st->len += 2;
  }
  memcpy(st->out + st->len, host, n + 1);
  st->len += n;
  return true;
}

static bool add_url_network(void *arg, const char *entry, bool too_long) {
  list_state_t *st = arg;
  if (st->n_nets == CT_CONFIG_MAX_URL_NETWORKS) {
    problem(st->ld, st->where, "more than %d networks", CT_CONFIG_MAX_URL_NETWORKS);
    st->ok = false;
    return false;
  }
  if (too_long || ct_cidr_parse(entry, &st->nets[st->n_nets]) != 0) {
    problem(st->ld, st->where,
            "'%.80s' is not an IP address or a network ADDRESS/BITS with no bits set after "
            "BITS",
            entry);
    st->ok = false;
    return false;
  }
  st->n_nets++;
  return true;
}

static void on_tenant_key(loader_t *ld, const char *where, ct_tenant_conf_t *t,
                          const char *name, const char *value) {
  if (strcmp(name, "quiet_hours") == 0) {
    char start[8], end[8];
    const char *dash = strchr(value, '-');
    if (dash == NULL || dash - value != 5 || strlen(dash + 1) != 5) {
      problem(ld, where, "not HH:MM-HH:MM");
      return;
    }
    memcpy(start, value, 5);
    start[5] = '\0';
    memcpy(end, dash + 1, 6);
    int a = parse_clock(start), b = parse_clock(end);
    if (a < 0 || b < 0 || a == b) {
      problem(ld, where, "not HH:MM-HH:MM with two different times");
      return;
    }
    t->quiet_start_min = a;
    t->quiet_end_min = b;
  } else if (strcmp(name, "time_zone") == 0) {
    if (strlen(value) >= sizeof t->time_zone || value[0] == '\0') {
      problem(ld, where, "not a time zone name");
      return;
    }
    snprintf(t->time_zone, sizeof t->time_zone, "%s", value);
  } else if (strcmp(name, "document_url_hosts") == 0) {
    list_state_t *st = calloc(1, sizeof *st);
    char entry[300];
    if (st == NULL) {
      ld->oom = true;
      return;
    }
    /* A list goes on across lines: indented continuation lines, or the key again. */
    *st = (list_state_t){.ld = ld, .where = where, .ok = true};
    st->len = strlen(t->document_url_hosts);
    memcpy(st->out, t->document_url_hosts, st->len + 1);
    each_entry(value, entry, sizeof entry, add_url_host, st);
    if (st->ok)
      memcpy(t->document_url_hosts, st->out, st->len + 1);
    free(st);
  } else if (strcmp(name, "document_url_allow_networks") == 0) {
    list_state_t *st = calloc(1, sizeof *st);
    char entry[96];
    if (st == NULL) {
      ld->oom = true;
      return;
    }
    *st = (list_state_t){.ld = ld, .where = where, .ok = true};
    st->n_nets = t->n_document_url_networks;
    memcpy(st->nets, t->document_url_networks, st->n_nets * sizeof st->nets[0]);
    each_entry(value, entry, sizeof entry, add_url_network, st);
    if (st->ok) {
      memcpy(t->document_url_networks, st->nets, st->n_nets * sizeof st->nets[0]);
      t->n_document_url_networks = st->n_nets;
    }
    free(st);
  } else {
    problem(ld, where,
            "unknown key (expected quiet_hours, time_zone, document_url_hosts or "
            "document_url_allow_networks)");
  }
}

static void on_template_key(loader_t *ld, const char *where, ct_templates_t *t,
                            const char *name, const char *value) {
  char **slot = strcmp(name, "sms_invoice") == 0     ? &t->sms_invoice
                : strcmp(name, "email_subject") == 0 ? &t->email_subject
                : strcmp(name, "email_text") == 0    ? &t->email_text
                : strcmp(name, "email_html") == 0    ? &t->email_html
                                                     : NULL;
  if (slot == NULL) {
    problem(ld, where,
            "unknown key (expected sms_invoice, email_subject, email_text or email_html)");
    return;
  }
  if (replace_text(slot, value) != 0)
    ld->oom = true;
}

/* Routes one key to its section's handler. Returns 1 always: we collect every problem. */
static int on_key(void *user, const char *section, const char *name, const char *value) {
  loader_t *ld = user;
  char where[192];
  snprintf(where, sizeof where, "[%s] %s", section, name);
  if (strcmp(section, "carteiro") == 0) {
    const key_t_ *k = find_key(daemon_keys, sizeof daemon_keys / sizeof daemon_keys[0], name);
    if (k == NULL)
      problem(ld, where, "unknown key");
    else
      set_key(ld, where, k, ld->cfg, value);
  } else if (strncmp(section, "provider.", 9) == 0) {
    if (!valid_name(section + 9)) {
      problem(ld, where, "provider name must be 1-63 characters of [A-Za-z0-9_-]");
      return 1;
    }
    ct_provider_conf_t *p = provider_for(ld, section + 9);
    const key_t_ *k =
        find_key(provider_keys, sizeof provider_keys / sizeof provider_keys[0], name);
    if (p == NULL)
      problem(ld, where, "more than %d providers", CT_CONFIG_MAX_PROVIDERS);
    else if (k == NULL)
      problem(ld, where, "unknown key");
    else
      set_key(ld, where, k, p, value);
  } else if (strcmp(section, "cluster") == 0) {
    const key_t_ *k = find_key(cluster_keys, sizeof cluster_keys / sizeof cluster_keys[0], name);
    ld->cluster_section = true;
    if (k == NULL)
      problem(ld, where, "unknown key (expected nats, node_id, heartbeat or bucket)");
    else
      set_key(ld, where, k, ld->cfg, value);
  } else if (strncmp(section, "tenant.", 7) == 0) {
    ct_tenant_conf_t *t = valid_name(section + 7) ? tenant_for(ld, section + 7) : NULL;
    if (t == NULL)
      problem(ld, where, "bad tenant section name, or more than %d tenants",
              CT_CONFIG_MAX_TENANTS);
    else
      on_tenant_key(ld, where, t, name, value);
  } else if (strncmp(section, "templates.", 10) == 0) {
    ct_templates_t *t = templates_for(ld, section + 10);
    if (t == NULL)
      problem(ld, where, "bad locale, or more than %d locales", CT_CONFIG_MAX_TEMPLATES);
    else
      on_template_key(ld, where, t, name, value);
  } else {
    problem(ld, where, "unknown section (expected carteiro, provider.NAME, tenant.NAME, "
                       "templates.LOCALE or cluster)");
  }
  return 1;
}

/* CARTEIRO_<SECTION>_<KEY> for one key. */
static void env_name(char *out, size_t cap, const char *section, const char *key) {
  snprintf(out, cap, "CARTEIRO_%s_%s", section, key);
  for (char *p = out; *p; p++)
    *p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
}

static void apply_env(loader_t *ld) {
  if (ld->flags & CT_CONFIG_NO_ENV)
    return;
  char var[160];
  for (size_t i = 0; i < sizeof daemon_keys / sizeof daemon_keys[0]; i++) {
    env_name(var, sizeof var, "carteiro", daemon_keys[i].name);
    const char *v = getenv(var);
    if (v != NULL) {
      char where[192];
      snprintf(where, sizeof where, "environment %s", var);
      set_key(ld, where, &daemon_keys[i], ld->cfg, v);
    }
  }
  for (size_t i = 0; ld->cluster_section && i < sizeof cluster_keys / sizeof cluster_keys[0];
       i++) {
    env_name(var, sizeof var, "cluster", cluster_keys[i].name);
    const char *v = getenv(var);
    if (v != NULL) {
      char where[192];
      snprintf(where, sizeof where, "environment %s", var);
      set_key(ld, where, &cluster_keys[i], ld->cfg, v);
    }
  }
  for (size_t p = 0; p < ld->cfg->n_providers; p++) {
    ct_provider_conf_t *pc = &ld->cfg->providers[p];
    char section[80];
    snprintf(section, sizeof section, "provider.%s", pc->name);
    for (size_t i = 0; i < sizeof provider_keys / sizeof provider_keys[0]; i++) {
      env_name(var, sizeof var, section, provider_keys[i].name);
      const char *v = getenv(var);
      if (v != NULL) {
        char where[192];
        snprintf(where, sizeof where, "environment %s", var);
        set_key(ld, where, &provider_keys[i], pc, v);
      }
    }
  }
}

/* Who may read a secret file. The rule (README "Secrets"), judged on the file as opened:
 *   - writable by every user (o+w): refused, anyone could swap the credential;
 *   - readable by every user (o+r) and owned by the user carteiro runs as: a warning, the
 *     owner can take the bit away (chmod o-r) and nothing else needs it;
 *   - readable by every user and owned by another user: refused. carteiro then reads it only
 *     through the bit every local account has, which is never how a service's secret should
 *     reach it: give it to carteiro (0600) or to carteiro's group (0640, root-owned, as
 *     Kubernetes' defaultMode 0440 with fsGroup does).
 * Group bits are the intended way to share a secret with the service and are not judged.
 * Returns false when the file is refused (a problem is recorded). */
static bool secret_mode_ok(loader_t *ld, const char *where, const char *path,
                           const struct stat *st) {
  unsigned mode = (unsigned)(st->st_mode & 07777);
  if (st->st_mode & S_IWOTH) {
    problem(ld, where, "%s is writable by every user (mode %04o): anyone could replace the "
                       "credential; chmod o-w",
            path, mode);
    return false;
  }
  if ((st->st_mode & S_IROTH) == 0)
    return true;
  if (st->st_uid == geteuid()) {
    warning(ld, where, "%s is readable by every user (mode %04o); chmod o-r (0600, or 0640 "
                       "for carteiro's group)",
            path, mode);
    return true;
  }
  problem(ld, where, "%s is readable by every user (mode %04o) and owned by another user "
                     "(uid %u): make it 0600 owned by uid %u, or 0640 with carteiro's group",
          path, mode, (unsigned)st->st_uid, (unsigned)geteuid());
  return false;
}

/* Reads a secret file: first line, trailing whitespace removed. Never logged. Returns 0,
 * a CT_E* code, or CT_EPERM after recording why its mode is refused. */
static int read_secret(loader_t *ld, const char *where, const char *path, char **out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return ct_err_from_errno(errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int rc = ct_err_from_errno(errno);
    close(fd);
    return rc;
  }
  if (!secret_mode_ok(ld, where, path, &st)) {
    close(fd);
    return CT_EPERM;
  }
  char buf[4096];
  size_t n = 0;
  bool err = false;
  while (n < sizeof buf - 1) {
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      err = r < 0;
      break;
    }
    n += (size_t)r;
  }
  close(fd);
  if (err) {
    explicit_bzero(buf, sizeof buf);
    return CT_EIO;
  }
  buf[n] = '\0';
  char *nl = strpbrk(buf, "\r\n");
  if (nl != NULL)
    *nl = '\0';
  size_t len = strlen(buf);
  while (len > 0 && isspace((unsigned char)buf[len - 1]))
    buf[--len] = '\0';
  char *s = strdup(buf);
  explicit_bzero(buf, sizeof buf);
  if (s == NULL)
    return CT_ENOMEM;
  *out = s;
  return 0;
}

/* One of an account's webhook secrets: $CARTEIRO_PROVIDER_<NAME>_<KEY>, else the file. */
static void webhook_secret(loader_t *ld, const char *where, const char *section,
                           const char *key, const char *file, char **out) {
  char var[160];
  env_name(var, sizeof var, section, key);
  const char *env = getenv(var);
  if (env != NULL && env[0] != '\0') {
    *out = strdup(env);
    if (*out == NULL)
      ld->oom = true;
  } else if (file[0] != '\0' && !(ld->flags & CT_CONFIG_NO_FILES)) {
    int rc = read_secret(ld, where, file, out);
    if (rc != 0 && rc != CT_EPERM) /* CT_EPERM: read_secret named the mode it refused */
      problem(ld, where, "%s_file %s: %s", key, file, ct_strerror(rc));
    else if (rc == 0 && (*out)[0] == '\0')
      problem(ld, where, "%s_file %s is empty", key, file);
  }
}

/* The account's webhook keys, and the URL it is reached at. */
static void check_provider_webhook(loader_t *ld, ct_provider_conf_t *p, const char *where,
                                   const char *section) {
  webhook_secret(ld, where, section, "webhook_secret", p->webhook_secret_file,
                 &p->webhook_secret);
  webhook_secret(ld, where, section, "webhook_verify_token", p->webhook_verify_token_file,
                 &p->webhook_verify_token);
  if (p->webhook_public_key[0] != '\0') {
    /* base64 of a DER SubjectPublicKeyInfo: its shape is checked here, the key itself when
     * the listener starts (provider/email.c) */
    size_t n = strlen(p->webhook_public_key), len = 0;
    uint8_t der[sizeof p->webhook_public_key];
    if (p->channel != CT_CHANNEL_EMAIL)
      problem(ld, where, "webhook_public_key is for email (SendGrid) accounts only");
    else if (!ct_base64_decode(p->webhook_public_key, n, der, &len) || len < 32)
      problem(ld, where, "webhook_public_key is not base64 of a DER public key");
  }
  const char *base = ld->cfg->webhook_public_url;
  if (base[0] != '\0') {
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
      bl--;
    snprintf(p->webhook_url, sizeof p->webhook_url, "%.*s/webhooks/%s", (int)bl, base,
             p->name);
  }
}

static void check_provider(loader_t *ld, ct_provider_conf_t *p) {
  char where[192];
  snprintf(where, sizeof where, "[provider.%s]", p->name);
  if (p->channel == CT_CHANNEL_NONE)
    problem(ld, where, "kind is missing (whatsapp, sms or email)");
  if (p->base_url[0] == '\0')
    problem(ld, where, "base_url is missing");
  else if (strncmp(p->base_url, "https://", 8) != 0)
    problem(ld, where, "base_url must start with https://");
  if (p->channel == CT_CHANNEL_WHATSAPP && p->account[0] == '\0')
    problem(ld, where, "account (the WhatsApp phone_number_id) is missing");
  if (p->channel == CT_CHANNEL_SMS && (p->account[0] == '\0' || p->sender[0] == '\0'))
    problem(ld, where, "account (Account SID) and sender (From number) are required for sms");
  if (p->channel == CT_CHANNEL_EMAIL && strchr(p->sender, '@') == NULL)
    problem(ld, where, "sender must be the From e-mail address");
  if (p->burst == 0)
    p->burst = p->rate >= 1 ? (uint32_t)ceil(p->rate) : 1;

  char var[160], section[80];
  snprintf(section, sizeof section, "provider.%s", p->name);
  env_name(var, sizeof var, section, "secret");
  const char *env = (ld->flags & CT_CONFIG_NO_ENV) ? NULL : getenv(var);
  if (env != NULL) {
    p->secret = strdup(env);
    if (p->secret == NULL)
      ld->oom = true;
  } else if (p->secret_file[0] != '\0' && (ld->flags & CT_CONFIG_NO_FILES)) {
    /* named but not read: fuzzing and offline checks */
  } else if (p->secret_file[0] != '\0') {
    char key[sizeof where + 16];
    snprintf(key, sizeof key, "%s secret_file", where);
    int rc = read_secret(ld, key, p->secret_file, &p->secret);
    if (rc != 0 && rc != CT_EPERM)
      problem(ld, where, "secret_file %s: %s", p->secret_file, ct_strerror(rc));
    else if (rc == 0 && p->secret[0] == '\0')
      problem(ld, where, "secret_file %s is empty", p->secret_file);
  } else {
    problem(ld, where, "no credentials: set secret_file or $%s", var);
  }
  check_provider_webhook(ld, p, where, section);
}

/* A template's sections ({#attached}...{/attached}, {^protected}...{/protected}: see
 * ct_render_with) must each be closed, or the customer would read the tags. NULL when they
 * are, else what is wrong. */
static const char *section_problem(const char *text) {
  static const char *const names[] = {"attached", "protected"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char open1[16], open2[16], close[16];
    snprintf(open1, sizeof open1, "{#%s}", names[i]);
    snprintf(open2, sizeof open2, "{^%s}", names[i]);
    snprintf(close, sizeof close, "{/%s}", names[i]);
    int depth = 0;
    for (const char *p = strchr(text, '{'); p != NULL; p = strchr(p + 1, '{')) {
      if (strncmp(p, open1, strlen(open1)) == 0 || strncmp(p, open2, strlen(open2)) == 0)
        depth++;
      else if (strncmp(p, close, strlen(close)) == 0 && --depth < 0)
        return i == 0 ? "{/attached} closes no section" : "{/protected} closes no section";
    }
    if (depth > 0)
      return i == 0 ? "a {#attached} or {^attached} section is not closed by {/attached}"
                    : "a {#protected} or {^protected} section is not closed by {/protected}";
  }
  return NULL;
}

static int fill_default_templates(loader_t *ld) {
  ct_templates_t *t = templates_for(ld, "pt-BR");
  if (t == NULL)
    return CT_ENOMEM;
  const struct {
    char **slot;
    const char *text;
  } defaults[] = {{&t->sms_invoice, default_sms},
                  {&t->email_subject, default_subject},
                  {&t->email_text, default_text},
                  {&t->email_html, default_html}};
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    if (*defaults[i].slot == NULL && replace_text(defaults[i].slot, defaults[i].text) != 0)
      return CT_ENOMEM;
  return 0;
}

/* The JetStream settings: names the server accepts, files that exist, a complete client
 * certificate. Checked whatever the spool is, so a config switched to nats:// later is known
 * good. */
static bool nats_name_ok(const char *s) {
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '-'))
      return false;
  return true;
}

static void check_nats(loader_t *ld) {
  ct_config_t *c = ld->cfg;
  const struct {
    const char *key, *value;
  } names[] = {{"nats_stream", c->nats_stream},
               {"nats_dlq_stream", c->nats_dlq_stream},
               {"nats_consumer", c->nats_consumer},
               {"nats_subject", c->nats_subject}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!nats_name_ok(names[i].value)) {
      char where[64];
      snprintf(where, sizeof where, "[carteiro] %s", names[i].key);
      problem(ld, where, "may hold only letters, digits, '_' and '-'");
    }
  }
  const struct {
    const char *key, *value;
  } files[] = {{"nats_creds_file", c->nats_creds_file},
               {"nats_ca_file", c->nats_ca_file},
               {"nats_cert_file", c->nats_cert_file},
               {"nats_key_file", c->nats_key_file}};
  for (size_t i = 0; !(ld->flags & CT_CONFIG_NO_FILES) && i < sizeof files / sizeof files[0];
       i++) {
    if (files[i].value[0] == '\0')
      continue;
    char where[64];
    snprintf(where, sizeof where, "[carteiro] %s", files[i].key);
    struct stat st;
    if (access(files[i].value, R_OK) != 0)
      problem(ld, where, "%s: %s", files[i].value, strerror(errno));
    /* the credentials and the private key are secrets (NATS reads them itself) */
    else if ((i == 0 || i == 3) && stat(files[i].value, &st) == 0)
      secret_mode_ok(ld, where, files[i].value, &st);
  }
  if ((c->nats_cert_file[0] != '\0') != (c->nats_key_file[0] != '\0'))
    problem(ld, "[carteiro] nats_cert_file", "needs nats_key_file too (and the other way)");
  if (strncmp(c->spool, "nats://", 7) == 0 && strchr(c->spool, '?') != NULL)
    problem(ld, "[carteiro] spool", "set the nats_* keys instead of a query string");
}

/* True for "host:port" with a port in 0..65535. */
static bool host_port(const char *s) {
  const char *colon = strrchr(s, ':');
  char *end = NULL;
  long port = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
  return colon != NULL && colon != s && end != colon + 1 && *end == '\0' && port >= 0 &&
         port <= 65535;
}

/* The webhook listener's keys ([carteiro] webhook_*). */
static void check_webhooks(loader_t *ld) {
  ct_config_t *c = ld->cfg;
  if (c->webhook_listen[0] != '\0' && !host_port(c->webhook_listen))
    problem(ld, "[carteiro] webhook_listen", "'%s' is not host:port", c->webhook_listen);
  if ((c->webhook_tls_cert[0] != '\0') != (c->webhook_tls_key[0] != '\0'))
    problem(ld, "[carteiro] webhook_tls_cert", "needs webhook_tls_key too (and the other way)");
  const struct {
    const char *key, *value;
  } files[] = {{"webhook_tls_cert", c->webhook_tls_cert}, {"webhook_tls_key", c->webhook_tls_key}};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    if (files[i].value[0] != '\0' && access(files[i].value, R_OK) != 0) {
      char where[64];
      snprintf(where, sizeof where, "[carteiro] %s", files[i].key);
      problem(ld, where, "%s: %s", files[i].value, strerror(errno));
    }
  }
  const char *u = c->webhook_public_url;
  if (u[0] != '\0' && strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
    problem(ld, "[carteiro] webhook_public_url", "must start with https:// (or http://)");
  if (u[0] != '\0' && (strchr(u, '?') != NULL || strchr(u, '#') != NULL))
    problem(ld, "[carteiro] webhook_public_url", "must not hold a query or a fragment");
}

int ct_config_parse(const char *name, const char *text, size_t len, unsigned flags,
                    ct_config_t **out, ct_config_error_t *errs, size_t *nerr) {
  ct_config_t *cfg = calloc(1, sizeof *cfg);
  if (cfg == NULL)
    return CT_ENOMEM;
  snprintf(cfg->spool, sizeof cfg->spool, "/var/lib/carteiro/spool.db");
  cfg->max_inflight = 2000;
  cfg->gap_wait_max = 0; /* opt-in: see README "Crashes" */
  cfg->take_batch = 500;
  cfg->connect_timeout_ms = 5000;
  cfg->request_timeout_ms = 30000;
  cfg->shutdown_grace_ms = 30000;
  cfg->max_attempts = 12;
  cfg->backoff_base_ms = 1000;
  cfg->backoff_cap_ms = 15 * 60 * 1000;
  cfg->receipt_retention_ms = (int64_t)30 * 86400 * 1000;
  snprintf(cfg->log_level, sizeof cfg->log_level, "info");
  snprintf(cfg->document_root, sizeof cfg->document_root, "/var/lib/carteiro/documents");
  cfg->document_fetch_timeout_ms = 20000;
  cfg->document_jobs = 4;
  cfg->document_cache_mb = 64;
  cfg->document_stream_max_mb = 64;
  cfg->document_decoded_max_mb = 256;
  cfg->document_max_ratio = 100;
  cfg->document_memory_mb = 128;
  cfg->document_memory_budget_mb = 512;
  cfg->document_key_cache_entries = 50000;
  cfg->document_key_cache_mb = 16;
  cfg->http_max_body_mb = 32;
  cfg->spool_high_water = 20000000;
  cfg->min_free_disk_mb = 1024;
  cfg->cluster_heartbeat_ms = 1000;
  snprintf(cfg->cluster_bucket, sizeof cfg->cluster_bucket, "carteiro-nodes");
  snprintf(cfg->nats_stream, sizeof cfg->nats_stream, "CARTEIRO_JOBS");
  snprintf(cfg->nats_dlq_stream, sizeof cfg->nats_dlq_stream, "CARTEIRO_DLQ");
  snprintf(cfg->nats_consumer, sizeof cfg->nats_consumer, "carteiro");
  snprintf(cfg->nats_subject, sizeof cfg->nats_subject, "carteiro");
  cfg->nats_replicas = 1;
  cfg->nats_ack_wait_ms = 30000;
  cfg->nats_max_ack_pending = 100000;
  cfg->nats_duplicate_window_ms = 3600000;
  snprintf(cfg->transport, sizeof cfg->transport, "auto");
  cfg->h2_max_connections = 256;
  cfg->webhook_max_body_kb = 4096;
  cfg->event_retention_ms = (int64_t)7 * 86400 * 1000;

  loader_t ld = {.cfg = cfg, .errs = errs, .flags = flags};
  const char *path = name;
  /* inih reads NUL-terminated text; a NUL inside the file ends it there */
  char *copy = malloc(len + 1);
  if (copy == NULL) {
    ct_config_free(cfg);
    return CT_ENOMEM;
  }
  memcpy(copy, text, len);
  copy[len] = '\0';
  /* inih's default line buffer is 200 bytes on the stack: a longer line (an HTML template)
   * was cut, and its tail read as a line of its own. Debian's inih exposes its build
   * options as variables: a heap buffer that grows up to the file's own cap. The values are
   * constants, so setting them again on every load (reload runs on one thread) is harmless. */
  ini_use_stack = false;
  ini_allow_realloc = true;
  ini_max_line = (int)CONFIG_MAX_BYTES;
  int line = ini_parse_string(copy, on_key, &ld);
  free(copy);
  if (memchr(text, '\0', len) != NULL)
    problem(&ld, path, "has a NUL byte: not a text file (the rest of it was not read)");
  if (line > 0) {
    char where[192];
    snprintf(where, sizeof where, "%s line %d", path, line);
    problem(&ld, where, "not a key = value line or a [section] header");
  } else if (line < 0) {
    problem(&ld, path, "cannot be read");
  }
  apply_env(&ld);
  for (size_t i = 0; i < cfg->n_providers; i++)
    check_provider(&ld, &cfg->providers[i]);
  if (cfg->n_providers == 0)
    problem(&ld, path, "no [provider.NAME] section: nothing could be delivered");
  if (cfg->http_listen[0] != '\0') {
    const char *colon = strrchr(cfg->http_listen, ':');
    char *end = NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || colon == cfg->http_listen || end == colon + 1 || *end != '\0' ||
        port < 0 || port > 65535)
      problem(&ld, "[carteiro] http_listen", "not host:port");
    const char *env = (flags & CT_CONFIG_NO_ENV) ? NULL : getenv("CARTEIRO_HTTP_TOKEN");
    if (env != NULL && env[0] != '\0') {
      cfg->http_token = strdup(env);
      if (cfg->http_token == NULL)
        ld.oom = true;
    } else if (cfg->http_token_file[0] != '\0' && (flags & CT_CONFIG_NO_FILES)) {
      /* named but not read */
    } else if (cfg->http_token_file[0] != '\0') {
      int rc = read_secret(&ld, "[carteiro] http_token_file", cfg->http_token_file,
                           &cfg->http_token);
      if (rc != 0 && rc != CT_EPERM)
        problem(&ld, "[carteiro] http_token_file", "%s: %s", cfg->http_token_file,
                ct_strerror(rc));
      else if (rc == 0 && cfg->http_token[0] == '\0')
        problem(&ld, "[carteiro] http_token_file", "%s is empty", cfg->http_token_file);
    } else {
      problem(&ld, "[carteiro] http_listen",
              "the HTTP API needs a token: set http_token_file or $CARTEIRO_HTTP_TOKEN");
    }
  }
  check_webhooks(&ld);
  if (ld.cluster_section) {
    if (cfg->cluster_nats[0] == '\0')
      problem(&ld, "[cluster] nats", "is missing (e.g. nats://127.0.0.1:4222)");
    if (cfg->cluster_node_id[0] != '\0' && !valid_name(cfg->cluster_node_id))
      problem(&ld, "[cluster] node_id", "must be 1-63 characters of [A-Za-z0-9_-]");
    if (!valid_name(cfg->cluster_bucket))
      problem(&ld, "[cluster] bucket", "must be 1-63 characters of [A-Za-z0-9_-]");
  }
  check_nats(&ld);
  if (strcmp(cfg->transport, "auto") != 0 && strcmp(cfg->transport, "curl") != 0)
    problem(&ld, "[carteiro] transport", "must be auto or curl");
  if (cfg->backoff_cap_ms < cfg->backoff_base_ms)
    problem(&ld, "[carteiro] backoff_cap", "is smaller than backoff_base");
  if (cfg->document_memory_budget_mb < cfg->document_memory_mb)
    problem(&ld, "[carteiro] document_memory_budget_mb",
            "is smaller than document_memory_mb: no document could be prepared");
  if (fill_default_templates(&ld) != 0)
    ld.oom = true;
  for (size_t i = 0; i < cfg->n_templates; i++) {
    ct_templates_t *t = &cfg->templates[i];
    char where[192];
    if (t->sms_invoice == NULL || t->email_subject == NULL || t->email_text == NULL ||
        t->email_html == NULL) {
      snprintf(where, sizeof where, "[templates.%s]", t->locale);
      problem(&ld, where, "needs all of sms_invoice, email_subject, email_text, email_html");
      continue;
    }
    const struct {
      const char *key, *text;
    } texts[] = {{"sms_invoice", t->sms_invoice},
                 {"email_subject", t->email_subject},
                 {"email_text", t->email_text},
                 {"email_html", t->email_html}};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
      const char *why = section_problem(texts[k].text);
      if (why != NULL) {
        snprintf(where, sizeof where, "[templates.%s] %s", t->locale, texts[k].key);
        problem(&ld, where, "%s", why);
      }
    }
  }
  if (ld.oom) {
    ct_config_free(cfg);
    return CT_ENOMEM;
  }
  *nerr = ld.nerr;
  if (ld.nerr > 0) {
    ct_config_free(cfg);
    return CT_EINVAL;
  }
  *out = cfg;
  return 0;
}

int ct_config_load(const char *path, ct_config_t **out, ct_config_error_t *errs, size_t *nerr) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return ct_err_from_errno(errno);
  char *text = malloc(CONFIG_MAX_BYTES + 1);
  if (text == NULL) {
    fclose(f);
    return CT_ENOMEM;
  }
  size_t n = fread(text, 1, CONFIG_MAX_BYTES + 1, f);
  bool bad = ferror(f) != 0;
  fclose(f);
  int rc;
  if (bad || n > CONFIG_MAX_BYTES) {
    snprintf(errs[0].where, sizeof errs[0].where, "%s", path);
    snprintf(errs[0].what, sizeof errs[0].what, "%s",
             bad ? "cannot be read" : "is larger than 4 MiB: not a configuration file");
    *nerr = 1;
    rc = CT_EINVAL;
  } else {
    rc = ct_config_parse(path, text, n, 0, out, errs, nerr);
  }
  free(text);
  return rc;
}

void ct_config_free(ct_config_t *cfg) {
  if (cfg == NULL)
    return;
  if (cfg->http_token != NULL) {
    explicit_bzero(cfg->http_token, strlen(cfg->http_token));
    free(cfg->http_token);
  }
  for (size_t i = 0; i < cfg->n_providers; i++) {
    char *secrets[] = {cfg->providers[i].secret, cfg->providers[i].webhook_secret,
                       cfg->providers[i].webhook_verify_token};
    for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++) {
      if (secrets[k] != NULL) {
        explicit_bzero(secrets[k], strlen(secrets[k]));
        free(secrets[k]);
      }
    }
  }
  for (size_t i = 0; i < cfg->n_templates; i++) {
    free(cfg->templates[i].sms_invoice);
    free(cfg->templates[i].email_subject);
    free(cfg->templates[i].email_text);
    free(cfg->templates[i].email_html);
  }
  free(cfg);
}

const ct_templates_t *ct_config_templates(const ct_config_t *cfg, const char *locale) {
  const ct_templates_t *fallback = NULL;
  for (size_t i = 0; i < cfg->n_templates; i++) {
    if (strcmp(cfg->templates[i].locale, locale) == 0)
      return &cfg->templates[i];
    if (strcmp(cfg->templates[i].locale, "pt-BR") == 0)
      fallback = &cfg->templates[i];
  }
  return fallback;
}

const ct_tenant_conf_t *ct_config_tenant(const ct_config_t *cfg, const char *tenant) {
  for (size_t i = 0; i < cfg->n_tenants; i++)
    if (strcmp(cfg->tenants[i].name, tenant) == 0)
      return &cfg->tenants[i];
  return NULL;
}

bool ct_provider_serves(const ct_provider_conf_t *p, const char *tenant) {
  size_t tl = strlen(tenant);
  const char *s = p->tenants;
  while (*s) {
    while (*s == ' ' || *s == ',')
      s++;
    const char *e = s;
    while (*e && *e != ',' && *e != ' ')
      e++;
    size_t n = (size_t)(e - s);
    if ((n == 1 && *s == '*') || (n == tl && n > 0 && strncmp(s, tenant, n) == 0))
      return true;
    s = e;
  }
  return false;
}
