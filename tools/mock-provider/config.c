/* Configuration: defaults, the JSON form (file and POST /config), and the command line.
 *
 * The JSON form is the real one; command-line options are shortcuts that go through the
 * same setters, so a value is checked the same way wherever it comes from. Runtime changes
 * (POST /config) are applied to a copy and swapped in only when the whole object is valid.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

static const char *const outcome_names[] = {
#define MOCK__OUT_NAME(name, text) text,
    MOCK_OUTCOME_MAP(MOCK__OUT_NAME)
#undef MOCK__OUT_NAME
};
static const char *const prov_names[] = {"whatsapp", "twilio", "sendgrid"};
static const char *const ep_names[] = {"whatsapp_messages", "whatsapp_media", "twilio_messages",
                                       "sendgrid_mail"};
/* the JSON key holding each provider's credentials */
static const char *const cred_keys[] = {"tokens", "accounts", "keys"};

const char *mock_outcome_name(mock_outcome_t o)
{
  return o < MOCK_OUT_COUNT ? outcome_names[o] : "?";
}

const char *mock_prov_name(mock_prov_t p)
{
  return p < MOCK_PROV_COUNT ? prov_names[p] : "?";
}

const char *mock_ep_name(mock_ep_t e)
{
  return e < MOCK_EP_COUNT ? ep_names[e] : "?";
}

int mock_prov_parse(const char *name, mock_prov_t *out)
{
  for (int i = 0; i < MOCK_PROV_COUNT; i++)
    if (strcmp(name, prov_names[i]) == 0) {
      *out = (mock_prov_t)i;
      return 0;
    }
  return -1;
}

int mock_ep_parse(const char *name, mock_ep_t *out)
{
  for (int i = 0; i < MOCK_EP_COUNT; i++)
    if (strcmp(name, ep_names[i]) == 0) {
      *out = (mock_ep_t)i;
      return 0;
    }
  return -1;
}

void mock_config_defaults(mock_config_t *c)
{
  memset(c, 0, sizeof(*c));
  mock_copy(c->listen, sizeof(c->listen), "127.0.0.1", 9);
  c->seed = 1;
  c->records = 4096;
  c->max_keys = (size_t)4 << 20;
  /* above SendGrid's 30 MiB so that its 413 is ours, not h2o's */
  c->max_body = (size_t)64 << 20;
  c->keep_files = 256;
  c->keep_bytes = (uint64_t)64 << 20;
  for (int i = 0; i < MOCK_PROV_COUNT; i++) {
    c->prov[i].server_error_status = 500;
    c->prov[i].retry_after_s = 1;
    c->prov[i].slow_ms = 5000;
    c->prov[i].cb_delay_ms = 100;
    c->prov[i].cb_retries = 8;
    c->prov[i].cb_retry_ms = 250;
  }
  c->prov[MOCK_PROV_WHATSAPP].cb_fail_code = 131026;
  c->prov[MOCK_PROV_TWILIO].cb_fail_code = 30007;
  c->prov[MOCK_PROV_SENDGRID].cb_fail_code = 550;
  c->cb_queue = 100000;
  c->cb_records = 16384;
  c->cb_concurrency = 32;
}

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, MOCK_ERRBUF, fmt, ap);
  va_end(ap);
  return -1;
}

/* ---- setters shared by JSON and the command line ---- */

static int add_cred(mock_prov_conf_t *pc, mock_prov_t p, const char *s, char *err)
{
  size_t n = strlen(s);
  if (pc->ncreds == MOCK_MAX_CREDS)
    return fail(err, "%s: at most %d credentials", prov_names[p], MOCK_MAX_CREDS);
  if (n == 0 || n >= MOCK_CRED_LEN)
    return fail(err, "%s: a credential must have 1..%d bytes", prov_names[p], MOCK_CRED_LEN - 1);
  if (p == MOCK_PROV_TWILIO) {
    const char *colon = strchr(s, ':');
    if (colon == NULL || colon - s != 34 || strncmp(s, "AC", 2) != 0 || colon[1] == '\0')
      return fail(err, "twilio: an account is AC + 32 hex digits, ':', and the auth token");
  }
  memcpy(pc->creds[pc->ncreds++], s, n + 1);
  return 0;
}

static int add_rule(mock_prov_conf_t *pc, mock_prov_t p, const char *s, char *err)
{
  mock_rule_t r = {MOCK_RULE_EXACT, ""};
  if (strncmp(s, "suffix:", 7) == 0) {
    r.kind = MOCK_RULE_SUFFIX;
    s += 7;
  } else if (strncmp(s, "prefix:", 7) == 0) {
    r.kind = MOCK_RULE_PREFIX;
    s += 7;
  } else if (strncmp(s, "exact:", 6) == 0) {
    s += 6;
  }
  if (pc->nrules == MOCK_MAX_RULES)
    return fail(err, "%s: at most %d reject rules", prov_names[p], MOCK_MAX_RULES);
  size_t n = strlen(s);
  if (n == 0 || n >= MOCK_RULE_LEN)
    return fail(err, "%s: a reject rule needs 1..%d characters", prov_names[p],
                MOCK_RULE_LEN - 1);
  if (p == MOCK_PROV_SENDGRID) {
    mock_email_norm(s, n, r.text, sizeof(r.text));
  } else {
    /* recipients are compared as digits, the way the endpoints normalize "to" */
    if (s[0] == '+') {
      s++;
      n--;
    }
    if (n == 0 || strspn(s, "0123456789") != n)
      return fail(err, "%s: reject rule \"%s\" must be digits", prov_names[p], s);
    mock_copy(r.text, sizeof(r.text), s, n);
  }
  pc->rules[pc->nrules++] = r;
  return 0;
}

static int parse_header_kind(const char *s, mock_header_kind_t *out)
{
  static const char *const names[] = {"none", "text", "document", "image", "video"};
  for (int i = 0; i < 5; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = (mock_header_kind_t)i;
      return 0;
    }
  return -1;
}

static const char *header_kind_name(mock_header_kind_t k)
{
  static const char *const names[] = {"none", "text", "document", "image", "video"};
  return names[k];
}

static int add_template(mock_prov_conf_t *pc, const char *name, const char *lang,
                        const char *header, long long body_params, char *err)
{
  if (pc->ntemplates == MOCK_MAX_TEMPLATES)
    return fail(err, "whatsapp: at most %d templates", MOCK_MAX_TEMPLATES);
  mock_template_t *t = &pc->templates[pc->ntemplates];
  if (strlen(name) == 0 || strlen(name) >= sizeof(t->name) || strlen(lang) == 0 ||
      strlen(lang) >= sizeof(t->language))
    return fail(err, "whatsapp: template name or language missing or too long");
  if (parse_header_kind(header, &t->header) != 0)
    return fail(err, "whatsapp: template header must be none, text, document, image or video");
  if (body_params < 0 || body_params > 100)
    return fail(err, "whatsapp: template body_params must be 0..100");
  mock_copy(t->name, sizeof(t->name), name, strlen(name));
  mock_copy(t->language, sizeof(t->language), lang, strlen(lang));
  t->body_params = (int)body_params;
  pc->ntemplates++;
  return 0;
}

static int set_latency(mock_prov_conf_t *pc, double p50, double p99, char *err)
{
  if (!(p50 >= 0 && p99 >= 0 && p50 <= 600000 && p99 <= 600000))
    return fail(err, "latency must be 0..600000 ms");
  if (p99 < p50)
    return fail(err, "latency p99 (%g) is below p50 (%g)", p99, p50);
  if (p99 > p50 && p50 == 0)
    return fail(err, "a latency distribution needs p50 > 0");
  pc->latency_p50_ms = p50;
  pc->latency_p99_ms = p99;
  return 0;
}

/* Sets fault `name` to `v`. */
static int set_fault(mock_prov_conf_t *pc, mock_prov_t p, const char *name, double v, char *err)
{
  struct {
    const char *name;
    double *rate;
  } rates[] = {{"drop", &pc->p_drop},
               {"reset", &pc->p_reset},
               {"server_error", &pc->p_server_error},
               {"rate_limit", &pc->p_rate_limit},
               {"pair_rate_limit", &pc->p_pair_rate_limit},
               {"slow", &pc->p_slow},
               {"reject", &pc->p_reject}};
  for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
    if (strcmp(name, rates[i].name) != 0)
      continue;
    if (!(v >= 0 && v <= 1))
      return fail(err, "%s.%s: a rate is 0..1", prov_names[p], name);
    if (i == 4 && p != MOCK_PROV_WHATSAPP && v > 0)
      return fail(err, "pair_rate_limit is a WhatsApp limit (131056)");
    *rates[i].rate = v;
    return 0;
  }
  if (strcmp(name, "server_error_status") == 0) {
    if (!(v >= 500 && v <= 599) || v != (int)v)
      return fail(err, "%s.server_error_status must be 500..599", prov_names[p]);
    pc->server_error_status = (int)v;
  } else if (strcmp(name, "retry_after") == 0) {
    if (!(v >= 0 && v <= 86400) || v != (unsigned)v)
      return fail(err, "%s.retry_after must be 0..86400 seconds", prov_names[p]);
    pc->retry_after_s = (unsigned)v;
  } else if (strcmp(name, "slow_ms") == 0) {
    if (!(v >= 0 && v <= 600000) || v != (unsigned)v)
      return fail(err, "%s.slow_ms must be 0..600000", prov_names[p]);
    pc->slow_ms = (unsigned)v;
  } else {
    return fail(err, "%s: unknown fault \"%s\" (drop, reset, server_error, server_error_status, "
                     "rate_limit, pair_rate_limit, retry_after, slow, slow_ms, reject)",
                prov_names[p], name);
  }
  return 0;
}

/* Sets callback setting `name` of provider p from its text form (numbers and strings alike,
 * for the command line and JSON). Any setting turns the provider's callbacks on, except
 * on=0. */
static int set_callback(mock_prov_conf_t *pc, mock_prov_t p, const char *name, const char *v,
                        char *err)
{
  char *end;
  double d = strtod(v, &end);
  bool number = end != v && *end == '\0';
  struct {
    const char *name;
    double *rate;
  } rates[] = {{"duplicate", &pc->cb_duplicate},
               {"reorder", &pc->cb_reorder},
               {"async_fail", &pc->cb_async_fail},
               {"read", &pc->cb_read}};
  for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
    if (strcmp(name, rates[i].name) != 0)
      continue;
    if (!number || !(d >= 0 && d <= 1))
      return fail(err, "%s.callbacks.%s: a rate is 0..1", prov_names[p], name);
    *rates[i].rate = d;
    pc->cb_on = true;
    return 0;
  }
  struct {
    const char *name;
    unsigned *value;
    double max;
  } counts[] = {{"delay_ms", &pc->cb_delay_ms, 600000},
                {"retries", &pc->cb_retries, 100},
                {"retry_ms", &pc->cb_retry_ms, 600000}};
  for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
    if (strcmp(name, counts[i].name) != 0)
      continue;
    if (!number || !(d >= 0 && d <= counts[i].max) || d != (unsigned)d)
      return fail(err, "%s.callbacks.%s: expected 0..%.0f", prov_names[p], name, counts[i].max);
    *counts[i].value = (unsigned)d;
    pc->cb_on = true;
    return 0;
  }
  if (strcmp(name, "fail_code") == 0) {
    if (!number || !(d >= 1 && d <= 9999999) || d != (int)d)
      return fail(err, "%s.callbacks.fail_code: expected 1..9999999", prov_names[p]);
    pc->cb_fail_code = (int)d;
  } else if (strcmp(name, "on") == 0) {
    if (!number || (d != 0 && d != 1))
      return fail(err, "%s.callbacks.on: expected 0 or 1", prov_names[p]);
    pc->cb_on = d == 1;
    return 0;
  } else if (strcmp(name, "url") == 0) {
    if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
      return fail(err, "%s.callbacks.url: expected an http(s) URL", prov_names[p]);
    if (strlen(v) >= sizeof(pc->cb_url))
      return fail(err, "%s.callbacks.url: too long", prov_names[p]);
    mock_copy(pc->cb_url, sizeof(pc->cb_url), v, strlen(v));
  } else if (strcmp(name, "secret") == 0) {
    if (strlen(v) >= sizeof(pc->cb_secret))
      return fail(err, "%s.callbacks.secret: too long", prov_names[p]);
    mock_copy(pc->cb_secret, sizeof(pc->cb_secret), v, strlen(v));
  } else {
    return fail(err, "%s.callbacks: unknown key \"%s\" (on, url, secret, delay_ms, duplicate, "
                     "reorder, async_fail, fail_code, read, retries, retry_ms)",
                prov_names[p], name);
  }
  pc->cb_on = true;
  return 0;
}

static int check_rates(const mock_prov_conf_t *pc, mock_prov_t p, char *err)
{
  double sum = pc->p_drop + pc->p_reset + pc->p_server_error + pc->p_rate_limit +
               pc->p_pair_rate_limit;
  if (sum > 1.0 + 1e-9)
    return fail(err, "%s: drop + reset + server_error + rate_limit + pair_rate_limit = %g > 1",
                prov_names[p], sum);
  return 0;
}

/* ---- JSON ---- */

static int apply_prov(mock_prov_conf_t *pc, mock_prov_t p, json_t *obj, char *err)
{
  const char *k;
  json_t *v;
  if (!json_is_object(obj))
    return fail(err, "%s: expected an object", prov_names[p]);
  json_object_foreach(obj, k, v)
  {
    if (strcmp(k, cred_keys[p]) == 0) {
      size_t i;
      json_t *e;
      if (!json_is_array(v))
        return fail(err, "%s.%s: expected an array of strings", prov_names[p], k);
      pc->ncreds = 0;
      json_array_foreach(v, i, e)
      {
        if (!json_is_string(e))
          return fail(err, "%s.%s: expected an array of strings", prov_names[p], k);
        if (add_cred(pc, p, json_string_value(e), err) != 0)
          return -1;
      }
    } else if (strcmp(k, "latency_ms") == 0) {
      if (json_is_number(v)) {
        double ms = json_number_value(v);
        if (set_latency(pc, ms, ms, err) != 0)
          return -1;
      } else {
        double p50 = -1, p99 = -1;
        if (json_unpack(v, "{s:F, s:F !}", "p50", &p50, "p99", &p99) != 0)
          return fail(err, "%s.latency_ms: a number, or {\"p50\": ms, \"p99\": ms}",
                      prov_names[p]);
        if (set_latency(pc, p50, p99, err) != 0)
          return -1;
      }
    } else if (strcmp(k, "faults") == 0) {
      const char *fk;
      json_t *fv;
      if (!json_is_object(v))
        return fail(err, "%s.faults: expected an object", prov_names[p]);
      json_object_foreach(v, fk, fv)
      {
        if (!json_is_number(fv))
          return fail(err, "%s.faults.%s: expected a number", prov_names[p], fk);
        if (set_fault(pc, p, fk, json_number_value(fv), err) != 0)
          return -1;
      }
    } else if (strcmp(k, "reject") == 0) {
      size_t i;
      json_t *e;
      if (!json_is_array(v))
        return fail(err, "%s.reject: expected an array of strings", prov_names[p]);
      pc->nrules = 0;
      json_array_foreach(v, i, e)
      {
        if (!json_is_string(e))
          return fail(err, "%s.reject: expected an array of strings", prov_names[p]);
        if (add_rule(pc, p, json_string_value(e), err) != 0)
          return -1;
      }
    } else if (strcmp(k, "revoked") == 0) {
      if (!json_is_boolean(v))
        return fail(err, "%s.revoked: expected true or false", prov_names[p]);
      pc->revoked = json_is_true(v);
    } else if (strcmp(k, "callbacks") == 0) {
      const char *ck;
      json_t *cv;
      if (!json_is_object(v))
        return fail(err, "%s.callbacks: expected an object", prov_names[p]);
      pc->cb_on = true;
      json_object_foreach(v, ck, cv)
      {
        char text[MOCK_PATH_LEN];
        if (json_is_string(cv))
          mock_copy(text, sizeof(text), json_string_value(cv), json_string_length(cv));
        else if (json_is_integer(cv))
          snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(cv));
        else if (json_is_real(cv))
          snprintf(text, sizeof(text), "%.17g", json_real_value(cv));
        else if (json_is_boolean(cv))
          snprintf(text, sizeof(text), "%d", json_is_true(cv) ? 1 : 0);
        else
          return fail(err, "%s.callbacks.%s: expected a string or a number", prov_names[p], ck);
        if (set_callback(pc, p, ck, text, err) != 0)
          return -1;
      }
    } else if (strcmp(k, "templates") == 0 && p == MOCK_PROV_WHATSAPP) {
      size_t i;
      json_t *e;
      if (!json_is_array(v))
        return fail(err, "whatsapp.templates: expected an array");
      pc->ntemplates = 0;
      json_array_foreach(v, i, e)
      {
        const char *name, *lang, *header = "none";
        json_int_t n = 0;
        if (json_unpack(e, "{s:s, s:s, s?:s, s?:I !}", "name", &name, "language", &lang,
                        "header", &header, "body_params", &n) != 0)
          return fail(err, "whatsapp.templates[%zu]: {\"name\", \"language\", \"header\", "
                           "\"body_params\"}",
                      i);
        if (add_template(pc, name, lang, header, (long long)n, err) != 0)
          return -1;
      }
    } else {
      return fail(err, "%s: unknown key \"%s\"", prov_names[p], k);
    }
  }
  return check_rates(pc, p, err);
}

static int set_path(char *dst, size_t cap, json_t *v, const char *key, char *err)
{
  if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap)
    return fail(err, "%s: expected a non-empty string shorter than %zu bytes", key, cap);
  mock_copy(dst, cap, json_string_value(v), json_string_length(v));
  return 0;
}

static int set_count(json_t *v, const char *key, uint64_t lo, uint64_t hi, uint64_t *out,
                     char *err)
{
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      (uint64_t)json_integer_value(v) < lo || (uint64_t)json_integer_value(v) > hi)
    return fail(err, "%s: expected an integer in %llu..%llu", key, (unsigned long long)lo,
                (unsigned long long)hi);
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

int mock_config_apply_json(mock_config_t *c, json_t *obj, bool runtime, char *err)
{
  const char *k;
  json_t *v;
  uint64_t n = 0; /* set by set_count; -O3 cannot see it through the loop */
  if (!json_is_object(obj))
    return fail(err, "configuration must be a JSON object");
  json_object_foreach(obj, k, v)
  {
    mock_prov_t p;
    if (mock_prov_parse(k, &p) == 0) {
      if (apply_prov(&c->prov[p], p, v, err) != 0)
        return -1;
      continue;
    }
    /* the store's limits may change at any time: lowering them only evicts files */
    if (strcmp(k, "keep_files") == 0) {
      if (set_count(v, k, 0, MOCK_MAX_KEEP_FILES, &n, err) != 0)
        return -1;
      c->keep_files = (size_t)n;
      continue;
    }
    if (strcmp(k, "keep_bytes") == 0) {
      if (set_count(v, k, 0, (uint64_t)1 << 36, &n, err) != 0)
        return -1;
      c->keep_bytes = n;
      continue;
    }
    if (runtime)
      return fail(err, "\"%s\" cannot change while the mock runs (only whatsapp, twilio, "
                       "sendgrid, keep_files and keep_bytes can)",
                  k);
    if (strcmp(k, "listen") == 0) {
      if (set_path(c->listen, sizeof(c->listen), v, k, err) != 0)
        return -1;
    } else if (strcmp(k, "port") == 0) {
      if (set_count(v, k, 0, 65535, &n, err) != 0)
        return -1;
      c->port = (unsigned)n;
    } else if (strcmp(k, "port_file") == 0) {
      if (set_path(c->port_file, sizeof(c->port_file), v, k, err) != 0)
        return -1;
    } else if (strcmp(k, "cert") == 0) {
      if (set_path(c->cert, sizeof(c->cert), v, k, err) != 0)
        return -1;
    } else if (strcmp(k, "key") == 0) {
      if (set_path(c->key, sizeof(c->key), v, k, err) != 0)
        return -1;
    } else if (strcmp(k, "seed") == 0) {
      if (set_count(v, k, 0, INT64_MAX, &n, err) != 0)
        return -1;
      c->seed = n;
    } else if (strcmp(k, "records") == 0) {
      if (set_count(v, k, 1, 100000, &n, err) != 0)
        return -1;
      c->records = (size_t)n;
    } else if (strcmp(k, "max_keys") == 0) {
      if (set_count(v, k, 1, (uint64_t)1 << 24, &n, err) != 0)
        return -1;
      c->max_keys = (size_t)n;
    } else if (strcmp(k, "max_body") == 0) {
      if (set_count(v, k, 1024, (uint64_t)1 << 30, &n, err) != 0)
        return -1;
      c->max_body = (size_t)n;
    } else if (strcmp(k, "callback_ca") == 0) {
      if (set_path(c->cb_ca, sizeof(c->cb_ca), v, k, err) != 0)
        return -1;
    } else if (strcmp(k, "sendgrid_signing_key") == 0) {
      if (set_path(c->sg_signing_key, sizeof(c->sg_signing_key), v, k, err) != 0)
        return -1;
    } else if (strcmp(k, "sendgrid_public_key_out") == 0) {
      if (set_path(c->sg_public_key_out, sizeof(c->sg_public_key_out), v, k, err) != 0)
        return -1;
    } else if (strcmp(k, "callback_queue") == 0) {
      if (set_count(v, k, 1, 10000000, &n, err) != 0)
        return -1;
      c->cb_queue = (size_t)n;
    } else if (strcmp(k, "callback_records") == 0) {
      if (set_count(v, k, 1, 1000000, &n, err) != 0)
        return -1;
      c->cb_records = (size_t)n;
    } else if (strcmp(k, "callback_concurrency") == 0) {
      if (set_count(v, k, 1, 1024, &n, err) != 0)
        return -1;
      c->cb_concurrency = (unsigned)n;
    } else {
      return fail(err, "unknown key \"%s\"", k);
    }
  }
  return 0;
}

static json_t *prov_json(const mock_prov_conf_t *pc, mock_prov_t p)
{
  json_t *rules = json_array();
  for (size_t i = 0; i < pc->nrules; i++) {
    static const char *const kinds[] = {"exact:", "prefix:", "suffix:"};
    char buf[MOCK_RULE_LEN + 8];
    snprintf(buf, sizeof(buf), "%s%s", kinds[pc->rules[i].kind], pc->rules[i].text);
    json_array_append_new(rules, json_string(buf));
  }
  json_t *j = json_pack(
      "{s:i, s:{s:f, s:f}, s:{s:f, s:f, s:f, s:i, s:f, s:f, s:i, s:f, s:i, s:f}, s:o, s:b}",
      "credentials", (int)pc->ncreds, "latency_ms", "p50", pc->latency_p50_ms, "p99",
      pc->latency_p99_ms, "faults", "drop", pc->p_drop, "reset", pc->p_reset, "server_error",
      pc->p_server_error, "server_error_status", pc->server_error_status, "rate_limit",
      pc->p_rate_limit, "pair_rate_limit", pc->p_pair_rate_limit, "retry_after",
      (int)pc->retry_after_s, "slow", pc->p_slow, "slow_ms", (int)pc->slow_ms, "reject",
      pc->p_reject, "reject", rules,
      "revoked", pc->revoked);
  json_object_set_new(
      j, "callbacks",
      json_pack("{s:b, s:s, s:b, s:i, s:f, s:f, s:f, s:i, s:f, s:i, s:i}", "on", pc->cb_on,
                "url", pc->cb_url, "secret", pc->cb_secret[0] != '\0', "delay_ms",
                (int)pc->cb_delay_ms, "duplicate", pc->cb_duplicate, "reorder", pc->cb_reorder,
                "async_fail", pc->cb_async_fail, "fail_code", pc->cb_fail_code, "read",
                pc->cb_read, "retries", (int)pc->cb_retries, "retry_ms", (int)pc->cb_retry_ms));
  if (p == MOCK_PROV_WHATSAPP) {
    json_t *t = json_array();
    for (size_t i = 0; i < pc->ntemplates; i++)
      json_array_append_new(
          t, json_pack("{s:s, s:s, s:s, s:i}", "name", pc->templates[i].name, "language",
                       pc->templates[i].language, "header",
                       header_kind_name(pc->templates[i].header), "body_params",
                       pc->templates[i].body_params));
    json_object_set_new(j, "templates", t);
  }
  return j;
}

json_t *mock_config_to_json(const mock_config_t *c)
{
  json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "listen", c->listen, "seed",
                        (json_int_t)c->seed, "records", (json_int_t)c->records, "max_keys",
                        (json_int_t)c->max_keys, "max_body", (json_int_t)c->max_body,
                        "keep_files", (json_int_t)c->keep_files, "keep_bytes",
                        (json_int_t)c->keep_bytes);
  for (int i = 0; i < MOCK_PROV_COUNT; i++)
    json_object_set_new(j, prov_names[i], prov_json(&c->prov[i], (mock_prov_t)i));
  json_object_set_new(j, "callback_queue", json_integer((json_int_t)c->cb_queue));
  json_object_set_new(j, "callback_records", json_integer((json_int_t)c->cb_records));
  json_object_set_new(j, "callback_concurrency", json_integer((json_int_t)c->cb_concurrency));
  return j;
}

/* ---- command line ---- */

static const char usage[] =
    "usage: mock-provider --cert FILE --key FILE [options]\n"
    "\n"
    "Simulates the WhatsApp Cloud API, Twilio Messages and SendGrid mail/send over TLS\n"
    "(HTTP/2 by ALPN, HTTP/1.1 fallback) for carteiro's tests, demo and benchmarks.\n"
    "\n"
    "  -c, --config FILE          JSON configuration (see README.md); options apply in order\n"
    "  -l, --listen ADDR          address to listen on (default 127.0.0.1)\n"
    "  -p, --port N               port; 0 picks a free one (default 0)\n"
    "      --port-file FILE       write the port there once listening\n"
    "      --cert FILE            server certificate chain (PEM)\n"
    "      --key FILE             server private key (PEM)\n"
    "      --seed N               seed of every injected fault and latency (default 1)\n"
    "      --records N            request records kept for /received, about 1.6 KiB each\n"
    "                             (default 4096, at most 100000)\n"
    "      --max-keys N           message keys tracked for duplicates, 16 bytes each at\n"
    "                             most 3/4 full (default 4194304, at most 16777216)\n"
    "      --max-body BYTES       largest request body accepted (default 67108864)\n"
    "      --keep-files N         media uploads and e-mail attachments kept for download,\n"
    "                             oldest evicted first (default 256, at most 100000)\n"
    "      --keep-bytes BYTES     bytes of those files kept in all (default 67108864)\n"
    "      --whatsapp-token T     accept this bearer token (repeatable)\n"
    "      --twilio-account SID:TOKEN  accept this account (repeatable)\n"
    "      --sendgrid-key KEY     accept this API key (repeatable)\n"
    "      --latency PROV=MS      fixed latency, or PROV=P50/P99 for a log-normal one\n"
    "      --fault PROV.NAME=V    drop, reset, server_error, rate_limit, pair_rate_limit, slow,\n"
    "                             reject (share of recipients refused permanently)\n"
    "                             (rates 0..1), server_error_status, retry_after (s), slow_ms\n"
    "      --reject PROV=RULE     permanent failure for a recipient: VALUE, prefix:V, suffix:V\n"
    "      --revoked PROV         answer 401 to every request (revoked credentials)\n"
    "      --http1-only           no h2 in ALPN: clients speak HTTP/1.1\n"
    "      --template NAME:LANG:HEADER:N  approved WhatsApp template (HEADER none, text,\n"
    "                             document, image, video; N body parameters)\n"
    "      --callback PROV.KEY=V  status callbacks after a 2xx: url, secret (WhatsApp app\n"
    "                             secret; Twilio auth token), delay_ms, duplicate, reorder,\n"
    "                             async_fail, read (rates 0..1), fail_code, retries, retry_ms,\n"
    "                             on (0/1); Twilio calls each message's StatusCallback\n"
    "      --callback-ca FILE     CA the client's webhook certificate is checked with\n"
    "      --sendgrid-signing-key FILE  SendGrid's P-256 key (PEM); default: made at start\n"
    "      --sendgrid-public-key-out FILE  write its public key there (base64 DER)\n"
    "  -q, --quiet                no log lines on stderr\n"
    "  -h, --help                 this text\n"
    "\n"
    "PROV is whatsapp, twilio or sendgrid. Admin pages on the same listener: GET /stats,\n"
    "POST /stats/reset, GET /received, GET|POST /config, GET /health,\n"
    "GET /attachments/MSGID/N, GET /callbacks, POST /callbacks/inbound.\n"
    "Kept media: GET /VERSION/MEDIA_ID, GET /media-download/ID.\n";

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
  char *end;
  errno = 0;
  if (s[0] == '-' || s[0] == '\0')
    return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max)
    return -1;
  *out = v;
  return 0;
}

static int parse_double(const char *s, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || end == s)
    return -1;
  *out = v;
  return 0;
}

/* Splits "PROV<sep>REST" and resolves PROV. Returns REST, or NULL. */
static const char *prov_prefix(const char *arg, char sep, mock_prov_t *p)
{
  const char *at = strchr(arg, sep);
  char name[16];
  if (at == NULL || (size_t)(at - arg) >= sizeof(name))
    return NULL;
  mock_copy(name, sizeof(name), arg, (size_t)(at - arg));
  if (mock_prov_parse(name, p) != 0)
    return NULL;
  return at + 1;
}

static int load_file(mock_config_t *c, const char *path, char *err)
{
  json_error_t je;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL)
    return fail(err, "%s:%d: %s", path, je.line, je.text);
  int rc = mock_config_apply_json(c, j, false, err);
  json_decref(j);
  return rc;
}

enum {
  OPT_PORT_FILE = 256,
  OPT_CERT,
  OPT_KEY,
  OPT_SEED,
  OPT_RECORDS,
  OPT_MAX_KEYS,
  OPT_MAX_BODY,
  OPT_KEEP_FILES,
  OPT_KEEP_BYTES,
  OPT_WA_TOKEN,
  OPT_TWILIO,
  OPT_SENDGRID,
  OPT_LATENCY,
  OPT_FAULT,
  OPT_REJECT,
  OPT_REVOKED,
  OPT_TEMPLATE,
  OPT_HTTP1,
  OPT_CALLBACK,
  OPT_CALLBACK_CA,
  OPT_SG_SIGNING_KEY,
  OPT_SG_PUBLIC_KEY_OUT
};

static int apply_option(mock_config_t *c, int opt, const char *arg, char *err)
{
  uint64_t n;
  mock_prov_t p;
  const char *rest;
  switch (opt) {
  case 'c':
    return load_file(c, arg, err);
  case 'l':
    if (strlen(arg) == 0 || strlen(arg) >= sizeof(c->listen))
      return fail(err, "--listen: bad address");
    mock_copy(c->listen, sizeof(c->listen), arg, strlen(arg));
    return 0;
  case 'p':
    if (parse_u64(arg, 65535, &n) != 0)
      return fail(err, "--port: expected 0..65535");
    c->port = (unsigned)n;
    return 0;
  case 'q':
    c->quiet = true;
    return 0;
  case OPT_HTTP1:
    c->http1_only = true;
    return 0;
  case OPT_PORT_FILE:
  case OPT_CERT:
  case OPT_KEY: {
    char *dst = opt == OPT_PORT_FILE ? c->port_file : opt == OPT_CERT ? c->cert : c->key;
    if (strlen(arg) == 0 || strlen(arg) >= MOCK_PATH_LEN)
      return fail(err, "path too long or empty");
    mock_copy(dst, MOCK_PATH_LEN, arg, strlen(arg));
    return 0;
  }
  case OPT_SEED:
    if (parse_u64(arg, UINT64_MAX, &c->seed) != 0)
      return fail(err, "--seed: expected an unsigned integer");
    return 0;
  case OPT_RECORDS:
    if (parse_u64(arg, 100000, &n) != 0 || n == 0)
      return fail(err, "--records: expected 1..100000");
    c->records = (size_t)n;
    return 0;
  case OPT_MAX_KEYS:
    if (parse_u64(arg, (uint64_t)1 << 24, &n) != 0 || n == 0)
      return fail(err, "--max-keys: expected 1..16777216");
    c->max_keys = (size_t)n;
    return 0;
  case OPT_MAX_BODY:
    if (parse_u64(arg, (uint64_t)1 << 30, &n) != 0 || n < 1024)
      return fail(err, "--max-body: expected 1024..1073741824");
    c->max_body = (size_t)n;
    return 0;
  case OPT_KEEP_FILES:
    if (parse_u64(arg, MOCK_MAX_KEEP_FILES, &n) != 0)
      return fail(err, "--keep-files: expected 0..%d", MOCK_MAX_KEEP_FILES);
    c->keep_files = (size_t)n;
    return 0;
  case OPT_KEEP_BYTES:
    if (parse_u64(arg, (uint64_t)1 << 36, &n) != 0)
      return fail(err, "--keep-bytes: expected 0..68719476736");
    c->keep_bytes = n;
    return 0;
  case OPT_WA_TOKEN:
    return add_cred(&c->prov[MOCK_PROV_WHATSAPP], MOCK_PROV_WHATSAPP, arg, err);
  case OPT_TWILIO:
    return add_cred(&c->prov[MOCK_PROV_TWILIO], MOCK_PROV_TWILIO, arg, err);
  case OPT_SENDGRID:
    return add_cred(&c->prov[MOCK_PROV_SENDGRID], MOCK_PROV_SENDGRID, arg, err);
  case OPT_LATENCY: {
    double p50, p99;
    char buf[64];
    rest = prov_prefix(arg, '=', &p);
    if (rest == NULL || strlen(rest) >= sizeof(buf))
      return fail(err, "--latency: expected PROV=MS or PROV=P50/P99");
    mock_copy(buf, sizeof(buf), rest, strlen(rest));
    char *slash = strchr(buf, '/');
    if (slash != NULL)
      *slash = '\0';
    if (parse_double(buf, &p50) != 0 || (slash != NULL && parse_double(slash + 1, &p99) != 0))
      return fail(err, "--latency: expected PROV=MS or PROV=P50/P99");
    if (slash == NULL)
      p99 = p50;
    return set_latency(&c->prov[p], p50, p99, err);
  }
  case OPT_FAULT: {
    char name[32];
    double v;
    rest = prov_prefix(arg, '.', &p);
    const char *eq = rest != NULL ? strchr(rest, '=') : NULL;
    if (eq == NULL || (size_t)(eq - rest) >= sizeof(name) || parse_double(eq + 1, &v) != 0)
      return fail(err, "--fault: expected PROV.NAME=VALUE");
    mock_copy(name, sizeof(name), rest, (size_t)(eq - rest));
    if (set_fault(&c->prov[p], p, name, v, err) != 0)
      return -1;
    return check_rates(&c->prov[p], p, err);
  }
  case OPT_REJECT:
    rest = prov_prefix(arg, '=', &p);
    if (rest == NULL)
      return fail(err, "--reject: expected PROV=RULE");
    return add_rule(&c->prov[p], p, rest, err);
  case OPT_CALLBACK: {
    char name[32];
    rest = prov_prefix(arg, '.', &p);
    const char *eq = rest != NULL ? strchr(rest, '=') : NULL;
    if (eq == NULL || (size_t)(eq - rest) >= sizeof(name))
      return fail(err, "--callback: expected PROV.KEY=VALUE");
    mock_copy(name, sizeof(name), rest, (size_t)(eq - rest));
    return set_callback(&c->prov[p], p, name, eq + 1, err);
  }
  case OPT_CALLBACK_CA:
  case OPT_SG_SIGNING_KEY:
  case OPT_SG_PUBLIC_KEY_OUT: {
    char *dst = opt == OPT_CALLBACK_CA      ? c->cb_ca
                : opt == OPT_SG_SIGNING_KEY ? c->sg_signing_key
                                            : c->sg_public_key_out;
    if (strlen(arg) == 0 || strlen(arg) >= MOCK_PATH_LEN)
      return fail(err, "path too long or empty");
    mock_copy(dst, MOCK_PATH_LEN, arg, strlen(arg));
    return 0;
  }
  case OPT_REVOKED:
    if (mock_prov_parse(arg, &p) != 0)
      return fail(err, "--revoked: expected whatsapp, twilio or sendgrid");
    c->prov[p].revoked = true;
    return 0;
  case OPT_TEMPLATE: {
    char buf[MOCK_NAME_LEN + 64];
    char *f[4];
    int nf = 0;
    if (strlen(arg) >= sizeof(buf))
      return fail(err, "--template: too long");
    mock_copy(buf, sizeof(buf), arg, strlen(arg));
    f[nf++] = buf;
    for (char *s = buf; *s != '\0' && nf < 4; s++)
      if (*s == ':') {
        *s = '\0';
        f[nf++] = s + 1;
      }
    if (nf != 4 || parse_u64(f[3], 100, &n) != 0)
      return fail(err, "--template: expected NAME:LANG:HEADER:N");
    return add_template(&c->prov[MOCK_PROV_WHATSAPP], f[0], f[1], f[2], (long long)n, err);
  }
  }
  return fail(err, "unknown option");
}

int mock_config_from_args(mock_config_t *c, int argc, char **argv)
{
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"listen", required_argument, NULL, 'l'},
      {"port", required_argument, NULL, 'p'},
      {"port-file", required_argument, NULL, OPT_PORT_FILE},
      {"cert", required_argument, NULL, OPT_CERT},
      {"key", required_argument, NULL, OPT_KEY},
      {"seed", required_argument, NULL, OPT_SEED},
      {"records", required_argument, NULL, OPT_RECORDS},
      {"max-keys", required_argument, NULL, OPT_MAX_KEYS},
      {"max-body", required_argument, NULL, OPT_MAX_BODY},
      {"keep-files", required_argument, NULL, OPT_KEEP_FILES},
      {"keep-bytes", required_argument, NULL, OPT_KEEP_BYTES},
      {"whatsapp-token", required_argument, NULL, OPT_WA_TOKEN},
      {"twilio-account", required_argument, NULL, OPT_TWILIO},
      {"sendgrid-key", required_argument, NULL, OPT_SENDGRID},
      {"latency", required_argument, NULL, OPT_LATENCY},
      {"fault", required_argument, NULL, OPT_FAULT},
      {"reject", required_argument, NULL, OPT_REJECT},
      {"revoked", required_argument, NULL, OPT_REVOKED},
      {"template", required_argument, NULL, OPT_TEMPLATE},
      {"http1-only", no_argument, NULL, OPT_HTTP1},
      {"callback", required_argument, NULL, OPT_CALLBACK},
      {"callback-ca", required_argument, NULL, OPT_CALLBACK_CA},
      {"sendgrid-signing-key", required_argument, NULL, OPT_SG_SIGNING_KEY},
      {"sendgrid-public-key-out", required_argument, NULL, OPT_SG_PUBLIC_KEY_OUT},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  char err[MOCK_ERRBUF];
  for (;;) {
    int opt = getopt_long(argc, argv, "c:l:p:qh", opts, NULL);
    if (opt == -1)
      break;
    if (opt == 'h') {
      fputs(usage, stdout);
      return 1;
    }
    if (opt == '?') {
      fputs(usage, stderr);
      return -1;
    }
    if (apply_option(c, opt, optarg, err) != 0) {
      fprintf(stderr, "mock-provider: %s\n", err);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "mock-provider: unexpected argument \"%s\"\n", argv[optind]);
    return -1;
  }
  if (c->cert[0] == '\0' || c->key[0] == '\0') {
    fprintf(stderr, "mock-provider: --cert and --key are required (tools/gen-test-ca makes "
                    "them)\n");
    return -1;
  }
  return 0;
}
