/* Fuzzes the configuration loader: INI text -> a configuration snapshot (src/config), with the
 * environment's overrides off and no file opened (CT_CONFIG_NO_ENV | CT_CONFIG_NO_FILES), so
 * that only the text decides.
 *
 * What must hold, whatever the text:
 *   - the loader answers 0 or CT_EINVAL (never another error but out of memory), with
 *     problems exactly when it refuses, each a NUL-terminated where/what pair;
 *   - an accepted configuration keeps every value within its key's bounds (the bounds that
 *     the rest of the daemon relies on: at least one provider, timeouts positive, backoff
 *     cap not below its base, rates finite and not negative), has the pt-BR templates, and
 *     every template's sections are balanced so that rendering never shows a tag;
 *   - the same text loads the same way twice (no hidden state between loads).
 */
#include "config/config.h"

#include "common/error.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool terminated(const char *s, size_t cap)
{
  return memchr(s, '\0', cap) != NULL;
}

static size_t count(const char *s, const char *tag)
{
  size_t n = 0;
  for (const char *p = strstr(s, tag); p != NULL; p = strstr(p + 1, tag))
    n++;
  return n;
}

static void check_config(const ct_config_t *c)
{
  if (c->n_providers == 0 || c->n_providers > CT_CONFIG_MAX_PROVIDERS ||
      c->n_tenants > CT_CONFIG_MAX_TENANTS || c->n_templates == 0 ||
      c->n_templates > CT_CONFIG_MAX_TEMPLATES || c->n_warnings > CT_CONFIG_MAX_WARNINGS)
    abort();
  if (c->max_inflight < 1 || c->take_batch < 1 || c->workers > 256 || c->max_attempts < 1 ||
      c->connect_timeout_ms < 1 || c->request_timeout_ms < 1 || c->shutdown_grace_ms < 0 ||
      c->backoff_base_ms < 1 || c->backoff_cap_ms < c->backoff_base_ms ||
      c->http_max_body_mb < 1 || c->http_max_body_mb > 1024 || c->document_jobs < 1)
    abort();
  for (size_t i = 0; i < c->n_providers; i++) {
    const ct_provider_conf_t *p = &c->providers[i];
    if (!isfinite(p->rate) || p->rate < 0 || p->rate > 1e6 || p->burst < 1 ||
        p->max_concurrency < 1 || p->breaker_cooldown_ms < 1 || p->recipient_gap_ms < 0 ||
        p->channel == CT_CHANNEL_NONE || strncmp(p->base_url, "https://", 8) != 0 ||
        !terminated(p->name, sizeof p->name))
      abort();
  }
  for (size_t i = 0; i < c->n_tenants; i++) {
    const ct_tenant_conf_t *t = &c->tenants[i];
    if (t->quiet_start_min < -1 || t->quiet_start_min >= 24 * 60 || t->quiet_end_min < -1 ||
        t->quiet_end_min >= 24 * 60)
      abort();
  }
  if (ct_config_templates(c, "pt-BR") == NULL || ct_config_templates(c, "xx") == NULL)
    abort();
  for (size_t i = 0; i < c->n_templates; i++) {
    const ct_templates_t *t = &c->templates[i];
    if (t->sms_invoice == NULL || t->email_subject == NULL || t->email_text == NULL ||
        t->email_html == NULL)
      abort();
    const char *texts[4] = {t->sms_invoice, t->email_subject, t->email_text, t->email_html};
    for (size_t k = 0; k < 4; k++)
      if (count(texts[k], "{#attached}") + count(texts[k], "{^attached}") !=
              count(texts[k], "{/attached}") ||
          count(texts[k], "{#protected}") + count(texts[k], "{^protected}") !=
              count(texts[k], "{/protected}"))
        abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 256 * 1024)
    return 0;
  const unsigned flags = CT_CONFIG_NO_ENV | CT_CONFIG_NO_FILES;
  ct_config_t *cfg = NULL, *again = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS], errs2[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0, nerr2 = 0;
  int rc = ct_config_parse("fuzz.ini", (const char *)data, size, flags, &cfg, errs, &nerr);
  int rc2 = ct_config_parse("fuzz.ini", (const char *)data, size, flags, &again, errs2, &nerr2);
  if (rc == CT_ENOMEM || rc2 == CT_ENOMEM) {
    ct_config_free(cfg);
    ct_config_free(again);
    return 0;
  }
  if (rc != rc2)
    abort();
  if (rc == CT_EINVAL) {
    if (cfg != NULL || nerr == 0 || nerr != nerr2)
      abort();
    for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++) {
      if (!terminated(errs[i].where, sizeof errs[i].where) ||
          !terminated(errs[i].what, sizeof errs[i].what) || errs[i].what[0] == '\0' ||
          strcmp(errs[i].where, errs2[i].where) != 0 || strcmp(errs[i].what, errs2[i].what) != 0)
        abort();
    }
    return 0;
  }
  if (rc != 0 || cfg == NULL || again == NULL || nerr != 0)
    abort();
  check_config(cfg);
  if (cfg->n_providers != again->n_providers || cfg->max_inflight != again->max_inflight ||
      cfg->shutdown_grace_ms != again->shutdown_grace_ms)
    abort();
  ct_config_free(cfg);
  ct_config_free(again);
  return 0;
}
