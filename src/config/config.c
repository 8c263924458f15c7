/* Loading the configuration.
 *
 * inih calls `on_key` for every key in file order. Keys are looked up in per-section tables
 * (name, type, offset, bounds) so that parsing, defaults and `config check` messages come from
 * one description instead of a chain of strcmp branches. Every problem is collected rather
 * than stopping at the first, so `carteiro config check` can name them all at once.
 */
#include "config/config.h"

#include "common/error.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
static const char default_text[] =
    "Olá, {name}.\n\nSua fatura {number}, no valor de {amount}, vence em {due_date}.\n\n"
    "Linha digitável: {barcode}\n\nO PDF da fatura segue anexo, protegido por senha.\n";
static const char default_html[] =
    "<p>Olá, {name}.</p><p>Sua fatura <b>{number}</b>, no valor de <b>{amount}</b>, vence em "
    "<b>{due_date}</b>.</p><p>Linha digitável:<br><code>{barcode}</code></p>"
    "<p>O PDF da fatura segue anexo, protegido por senha.</p>";

typedef struct {
  ct_config_t *cfg;
  ct_config_error_t *errs;
  size_t nerr;
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

int ct_config_parse_duration(const char *s, int64_t *out_ms) {
  if (!isdigit((unsigned char)s[0]))
    return CT_EINVAL;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s)
    return CT_EINVAL;
  double unit;
  if (strcmp(end, "ms") == 0)
    unit = 1;
  else if (strcmp(end, "s") == 0)
    unit = 1000;
  else if (strcmp(end, "m") == 0)
    unit = 60000;
  else if (strcmp(end, "h") == 0)
    unit = 3600000;
  else if (strcmp(end, "d") == 0)
    unit = 86400000;
  else
    return CT_EINVAL;
  double ms = v * unit;
  if (!isfinite(ms) || ms > 9e15)
    return CT_EINVAL;
  *out_ms = (int64_t)llround(ms);
  return 0;
}

/* Parses one value into the field described by `k`, or records why it cannot. */
static void set_key(loader_t *ld, const char *where, const key_t_ *k, void *base,
                    const char *value) {
  char *field = (char *)base + k->offset;
  char *end;
  switch (k->type) {
  case K_STRING:
    if (strlen(value) >= k->size) {
      problem(ld, where, "value is longer than %zu characters", k->size - 1);
      return;
    }
    memcpy(field, value, strlen(value) + 1);
    return;
  case K_UINT: {
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno != 0) {
      problem(ld, where, "'%s' is not a whole number", value);
      return;
    }
    if ((double)v < k->min || (double)v > k->max) {
      problem(ld, where, "%llu is out of range %.0f..%.0f", v, k->min, k->max);
      return;
    }
    *(uint32_t *)(void *)field = (uint32_t)v;
    return;
  }
  case K_DOUBLE: {
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end != '\0' || errno != 0 || !isfinite(v)) {
      problem(ld, where, "'%s' is not a number", value);
      return;
    }
    if (v < k->min || v > k->max) {
      problem(ld, where, "%g is out of range %g..%g", v, k->min, k->max);
      return;
    }
    *(double *)(void *)field = v;
    return;
  }
  case K_DURATION: {
    int64_t ms;
    if (ct_config_parse_duration(value, &ms) != 0) {
      problem(ld, where, "'%s' is not a duration (e.g. 250ms, 30s, 5m, 2h, 30d)", value);
      return;
    }
    if ((double)ms < k->min || (double)ms > k->max) {
      problem(ld, where, "'%s' is out of range", value);
      return;
    }
    *(int64_t *)(void *)field = ms;
    return;
  }
  case K_CHANNEL: {
    ct_channel_t ch;
    if (ct_channel_parse(value, &ch) != 0) {
      problem(ld, where, "'%s' is not whatsapp, sms or email", value);
      return;
    }
    *(ct_channel_t *)(void *)field = ch;
    return;
  }
  case K_LOGLEVEL:
    if (strcmp(value, "debug") != 0 && strcmp(value, "info") != 0 &&
        strcmp(value, "warn") != 0 && strcmp(value, "error") != 0) {
      problem(ld, where, "'%s' is not debug, info, warn or error", value);
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

static void on_tenant_key(loader_t *ld, const char *where, ct_tenant_conf_t *t,
                          const char *name, const char *value) {
  if (strcmp(name, "quiet_hours") == 0) {
    char start[8], end[8];
    const char *dash = strchr(value, '-');
    if (dash == NULL || dash - value != 5 || strlen(dash + 1) != 5) {
      problem(ld, where, "'%s' is not HH:MM-HH:MM", value);
      return;
    }
    memcpy(start, value, 5);
    start[5] = '\0';
    memcpy(end, dash + 1, 6);
    int a = parse_clock(start), b = parse_clock(end);
    if (a < 0 || b < 0 || a == b) {
      problem(ld, where, "'%s' is not HH:MM-HH:MM with two different times", value);
      return;
    }
    t->quiet_start_min = a;
    t->quiet_end_min = b;
  } else if (strcmp(name, "time_zone") == 0) {
    if (strlen(value) >= sizeof t->time_zone || value[0] == '\0') {
      problem(ld, where, "'%s' is not a time zone name", value);
      return;
    }
    snprintf(t->time_zone, sizeof t->time_zone, "%s", value);
  } else {
    problem(ld, where, "unknown key (expected quiet_hours or time_zone)");
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

/* Reads a secret file: first line, trailing whitespace removed. Never logged. */
static int read_secret(const char *path, char **out) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return ct_err_from_errno(errno);
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  bool err = ferror(f) != 0;
  fclose(f);
  if (err)
    return CT_EIO;
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
  const char *env = getenv(var);
  if (env != NULL) {
    p->secret = strdup(env);
    if (p->secret == NULL)
      ld->oom = true;
  } else if (p->secret_file[0] != '\0') {
    int rc = read_secret(p->secret_file, &p->secret);
    if (rc != 0)
      problem(ld, where, "secret_file %s: %s", p->secret_file, ct_strerror(rc));
    else if (p->secret[0] == '\0')
      problem(ld, where, "secret_file %s is empty", p->secret_file);
  } else {
    problem(ld, where, "no credentials: set secret_file or $%s", var);
  }
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
      problem(ld, where, "'%s' may hold only letters, digits, '_' and '-'", names[i].value);
    }
  }
  const struct {
    const char *key, *value;
  } files[] = {{"nats_creds_file", c->nats_creds_file},
               {"nats_ca_file", c->nats_ca_file},
               {"nats_cert_file", c->nats_cert_file},
               {"nats_key_file", c->nats_key_file}};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    if (files[i].value[0] != '\0' && access(files[i].value, R_OK) != 0) {
      char where[64];
      snprintf(where, sizeof where, "[carteiro] %s", files[i].key);
      problem(ld, where, "%s: %s", files[i].value, strerror(errno));
    }
  }
  if ((c->nats_cert_file[0] != '\0') != (c->nats_key_file[0] != '\0'))
    problem(ld, "[carteiro] nats_cert_file", "needs nats_key_file too (and the other way)");
  if (strncmp(c->spool, "nats://", 7) == 0 && strchr(c->spool, '?') != NULL)
    problem(ld, "[carteiro] spool", "set the nats_* keys instead of a query string");
}

int ct_config_load(const char *path, ct_config_t **out, ct_config_error_t *errs, size_t *nerr) {
  ct_config_t *cfg = calloc(1, sizeof *cfg);
  if (cfg == NULL)
    return CT_ENOMEM;
  snprintf(cfg->spool, sizeof cfg->spool, "/var/lib/carteiro/spool.db");
  cfg->max_inflight = 2000;
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

  loader_t ld = {.cfg = cfg, .errs = errs};
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    int rc = ct_err_from_errno(errno);
    ct_config_free(cfg);
    return rc;
  }
  int line = ini_parse_file(f, on_key, &ld);
  fclose(f);
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
      problem(&ld, "[carteiro] http_listen", "'%s' is not host:port", cfg->http_listen);
    const char *env = getenv("CARTEIRO_HTTP_TOKEN");
    if (env != NULL && env[0] != '\0') {
      cfg->http_token = strdup(env);
      if (cfg->http_token == NULL)
        ld.oom = true;
    } else if (cfg->http_token_file[0] != '\0') {
      int rc = read_secret(cfg->http_token_file, &cfg->http_token);
      if (rc != 0)
        problem(&ld, "[carteiro] http_token_file", "%s: %s", cfg->http_token_file,
                ct_strerror(rc));
      else if (cfg->http_token[0] == '\0')
        problem(&ld, "[carteiro] http_token_file", "%s is empty", cfg->http_token_file);
    } else {
      problem(&ld, "[carteiro] http_listen",
              "the HTTP API needs a token: set http_token_file or $CARTEIRO_HTTP_TOKEN");
    }
  }
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
  if (fill_default_templates(&ld) != 0)
    ld.oom = true;
  for (size_t i = 0; i < cfg->n_templates; i++) {
    ct_templates_t *t = &cfg->templates[i];
    if (t->sms_invoice == NULL || t->email_subject == NULL || t->email_text == NULL ||
        t->email_html == NULL) {
      char where[192];
      snprintf(where, sizeof where, "[templates.%s]", t->locale);
      problem(&ld, where, "needs all of sms_invoice, email_subject, email_text, email_html");
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

void ct_config_free(ct_config_t *cfg) {
  if (cfg == NULL)
    return;
  if (cfg->http_token != NULL) {
    explicit_bzero(cfg->http_token, strlen(cfg->http_token));
    free(cfg->http_token);
  }
  for (size_t i = 0; i < cfg->n_providers; i++) {
    char *s = cfg->providers[i].secret;
    if (s != NULL) {
      explicit_bzero(s, strlen(s));
      free(s);
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
