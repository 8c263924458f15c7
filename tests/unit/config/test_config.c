/* Unit tests for src/config: parsing, defaults, environment overrides, and the exact problems
 * `carteiro config check` reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/error.h"
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/carteiro-config-XXXXXX";

static int setup(void **state) {
  (void)state;
  return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void test_example_config_loads_with_secrets(void **state) {
  (void)state;
  /* The example points at /etc; give every provider its secret through the environment. */
  setenv("CARTEIRO_PROVIDER_WA_TIM_1_SECRET", "tok-wa", 1);
  setenv("CARTEIRO_PROVIDER_SMS_BANCO_SECRET", "tok-sms", 1);
  setenv("CARTEIRO_PROVIDER_EMAIL_BANCO_SECRET", "tok-mail", 1);
  setenv("CARTEIRO_HTTP_TOKEN", "tok-http", 1);
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  int rc = ct_config_load(EXAMPLE_INI, &cfg, errs, &nerr);
  for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
    print_message("%s: %s\n", errs[i].where, errs[i].what);
  assert_int_equal(rc, 0);
  assert_int_equal(cfg->n_providers, 3);
  assert_string_equal(cfg->providers[0].name, "wa-tim-1");
  assert_int_equal(cfg->providers[0].channel, CT_CHANNEL_WHATSAPP);
  assert_string_equal(cfg->providers[0].secret, "tok-wa");
  assert_int_equal(cfg->providers[0].recipient_gap_ms, 6000);
  assert_true(cfg->providers[1].rate == 100.0);
  assert_int_equal(cfg->providers[1].burst, 100); /* defaults to the rate */
  assert_true(ct_provider_serves(&cfg->providers[1], "tim"));
  assert_true(ct_provider_serves(&cfg->providers[1], "banco-x"));
  assert_false(ct_provider_serves(&cfg->providers[1], "banco"));
  assert_false(ct_provider_serves(&cfg->providers[0], "banco-x"));
  assert_int_equal(cfg->max_inflight, 2000);
  assert_int_equal(cfg->backoff_cap_ms, 15 * 60 * 1000);
  assert_int_equal(cfg->receipt_retention_ms, (int64_t)30 * 86400 * 1000);
  assert_int_equal(cfg->document_cache_mb, 64);
  const ct_tenant_conf_t *tim = ct_config_tenant(cfg, "tim");
  assert_non_null(tim);
  assert_int_equal(tim->quiet_start_min, 21 * 60);
  assert_int_equal(tim->quiet_end_min, 8 * 60);
  assert_null(ct_config_tenant(cfg, "other"));
  const ct_templates_t *t = ct_config_templates(cfg, "en-US");
  assert_string_equal(t->locale, "pt-BR");
  assert_string_equal(t->email_subject, "Sua fatura {number} vence em {due_date}");
  assert_string_equal(cfg->http_listen, "127.0.0.1:8080");
  assert_string_equal(cfg->http_token, "tok-http");
  assert_int_equal(cfg->spool_high_water, 20000000);
  ct_config_free(cfg);
  /* The API without a token is refused, naming what to set. */
  unsetenv("CARTEIRO_HTTP_TOKEN");
  ct_config_error_t e2[CT_CONFIG_MAX_ERRORS];
  size_t n2 = 0;
  assert_int_equal(ct_config_load(EXAMPLE_INI, &cfg, e2, &n2), CT_EINVAL);
  assert_int_equal(n2, 1);
  assert_string_equal(e2[0].where, "[carteiro] http_token_file");
  assert_string_equal(e2[0].what, "/etc/carteiro/secrets/http.token: no such file");
  unsetenv("CARTEIRO_PROVIDER_WA_TIM_1_SECRET");
  unsetenv("CARTEIRO_PROVIDER_SMS_BANCO_SECRET");
  unsetenv("CARTEIRO_PROVIDER_EMAIL_BANCO_SECRET");
}

static void test_every_problem_is_named(void **state) {
  (void)state;
  const char *path = write_file("bad.ini", "[carteiro]\n"
                                           "max_inflight = lots\n"
                                           "backoff_base = 10\n"
                                           "colour = blue\n"
                                           "workers = 100000\n"
                                           "document_cache_mb = 70000\n"
                                           "[provider.wa-1]\n"
                                           "kind = pigeon\n"
                                           "base_url = http://insecure.example\n"
                                           "rate = fast\n"
                                           "[tenant.tim]\n"
                                           "quiet_hours = 21h-8h\n"
                                           "[weird]\n"
                                           "a = b\n");
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), CT_EINVAL);
  assert_null(cfg);
  const char *want[][2] = {
      {"[carteiro] max_inflight", "'lots' is not a whole number"},
      {"[carteiro] backoff_base", "'10' is not a duration (e.g. 250ms, 30s, 5m, 2h, 30d)"},
      {"[carteiro] colour", "unknown key"},
      {"[carteiro] workers", "100000 is out of range 0..256"},
      {"[carteiro] document_cache_mb", "70000 is out of range 0..65536"},
      {"[provider.wa-1] kind", "'pigeon' is not whatsapp, sms or email"},
      {"[provider.wa-1] rate", "'fast' is not a number"},
      {"[tenant.tim] quiet_hours", "'21h-8h' is not HH:MM-HH:MM"},
      {"[weird] a", "unknown section (expected carteiro, provider.NAME, tenant.NAME, "
                    "templates.LOCALE or cluster)"},
      {"[provider.wa-1]", "kind is missing (whatsapp, sms or email)"},
      {"[provider.wa-1]", "base_url must start with https://"},
      {"[provider.wa-1]", "no credentials: set secret_file or $CARTEIRO_PROVIDER_WA_1_SECRET"},
  };
  for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
    print_message("%s: %s\n", errs[i].where, errs[i].what);
  assert_int_equal(nerr, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < nerr; i++) {
    assert_string_equal(errs[i].where, want[i][0]);
    assert_string_equal(errs[i].what, want[i][1]);
  }
}

static void test_env_overrides_file(void **state) {
  (void)state;
  const char *secret = write_file("sms.token", "s3cret  \n");
  char ini[1024];
  snprintf(ini, sizeof ini,
           "[carteiro]\nmax_inflight = 10\n"
           "[provider.sms-1]\nkind = sms\nbase_url = https://127.0.0.1:1\n"
           "account = AC1\nsender = +5511999990000\nsecret_file = %s\nrate = 5\n",
           secret);
  const char *path = write_file("env.ini", ini);
  setenv("CARTEIRO_CARTEIRO_MAX_INFLIGHT", "4000", 1);
  setenv("CARTEIRO_PROVIDER_SMS_1_RATE", "7.5", 1);
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), 0);
  assert_int_equal(cfg->max_inflight, 4000);
  assert_true(cfg->providers[0].rate == 7.5);
  assert_int_equal(cfg->providers[0].burst, 8);
  assert_string_equal(cfg->providers[0].secret, "s3cret");
  ct_config_free(cfg);
  setenv("CARTEIRO_CARTEIRO_MAX_INFLIGHT", "0", 1);
  assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), CT_EINVAL);
  assert_int_equal(nerr, 1);
  assert_string_equal(errs[0].where, "environment CARTEIRO_CARTEIRO_MAX_INFLIGHT");
  assert_string_equal(errs[0].what, "0 is out of range 1..1000000");
  unsetenv("CARTEIRO_CARTEIRO_MAX_INFLIGHT");
  unsetenv("CARTEIRO_PROVIDER_SMS_1_RATE");
}

/* [cluster]: absent means one node; present, it needs the NATS servers and checks its names. */
static void test_cluster_section(void **state) {
  (void)state;
  const char *secret = write_file("sms2.token", "s3cret\n");
  char base[512], ini[1024];
  snprintf(base, sizeof base,
           "[provider.sms-1]\nkind = sms\nbase_url = https://127.0.0.1:1\n"
           "account = AC1\nsender = +5511999990000\nsecret_file = %s\nrate = 300\n",
           secret);
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  assert_int_equal(ct_config_load(write_file("one.ini", base), &cfg, errs, &nerr), 0);
  assert_string_equal(cfg->cluster_nats, "");
  ct_config_free(cfg);

  snprintf(ini, sizeof ini, "%s[cluster]\nnats = nats://127.0.0.1:4222,nats://127.0.0.1:4223\n"
           "node_id = node-1\nheartbeat = 250ms\n", base);
  assert_int_equal(ct_config_load(write_file("cl.ini", ini), &cfg, errs, &nerr), 0);
  assert_string_equal(cfg->cluster_nats, "nats://127.0.0.1:4222,nats://127.0.0.1:4223");
  assert_string_equal(cfg->cluster_node_id, "node-1");
  assert_int_equal(cfg->cluster_heartbeat_ms, 250);
  assert_string_equal(cfg->cluster_bucket, "carteiro-nodes");
  ct_config_free(cfg);
  setenv("CARTEIRO_CLUSTER_BUCKET", "rates-b", 1);
  assert_int_equal(ct_config_load(write_file("cl.ini", ini), &cfg, errs, &nerr), 0);
  assert_string_equal(cfg->cluster_bucket, "rates-b");
  ct_config_free(cfg);
  unsetenv("CARTEIRO_CLUSTER_BUCKET");

  snprintf(ini, sizeof ini, "%s[cluster]\nnode_id = a.b\nheartbeat = 1ms\nbucket = x y\n"
           "peers = 3\n", base);
  assert_int_equal(ct_config_load(write_file("bad-cl.ini", ini), &cfg, errs, &nerr), CT_EINVAL);
  const char *want[][2] = {
      {"[cluster] heartbeat", "'1ms' is out of range"},
      {"[cluster] peers", "unknown key (expected nats, node_id, heartbeat or bucket)"},
      {"[cluster] nats", "is missing (e.g. nats://127.0.0.1:4222)"},
      {"[cluster] node_id", "must be 1-63 characters of [A-Za-z0-9_-]"},
      {"[cluster] bucket", "must be 1-63 characters of [A-Za-z0-9_-]"},
  };
  for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
    print_message("%s: %s\n", errs[i].where, errs[i].what);
  assert_int_equal(nerr, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < nerr; i++) {
    assert_string_equal(errs[i].where, want[i][0]);
    assert_string_equal(errs[i].what, want[i][1]);
  }
}

static void test_missing_file_and_durations(void **state) {
  (void)state;
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  assert_int_equal(ct_config_load("/nonexistent/carteiro.ini", &cfg, errs, &nerr), CT_ENOENT);
  int64_t ms = -1;
  assert_int_equal(ct_config_parse_duration("250ms", &ms), 0);
  assert_int_equal(ms, 250);
  assert_int_equal(ct_config_parse_duration("1.5s", &ms), 0);
  assert_int_equal(ms, 1500);
  assert_int_equal(ct_config_parse_duration("30d", &ms), 0);
  assert_int_equal(ms, (int64_t)30 * 86400000);
  assert_int_equal(ct_config_parse_duration("5", &ms), CT_EINVAL);
  assert_int_equal(ct_config_parse_duration("-5s", &ms), CT_EINVAL);
  assert_int_equal(ct_config_parse_duration("5 s", &ms), CT_EINVAL);
}

/* [carteiro] transport: auto by default, curl on request (file or environment), nothing else;
 * h2_max_connections bounds the native client's connections per host. The environment the
 * suite may run with (CARTEIRO_CARTEIRO_TRANSPORT=curl) is put back afterwards. */
static void test_transport_keys(void **state) {
  (void)state;
  const char *outer = getenv("CARTEIRO_CARTEIRO_TRANSPORT");
  char saved[16] = "";
  if (outer != NULL)
    snprintf(saved, sizeof saved, "%s", outer);
  unsetenv("CARTEIRO_CARTEIRO_TRANSPORT");
  const char *secret = write_file("tr.token", "s3cret\n");
  const char *provider = "[provider.sms-1]\nkind = sms\nbase_url = https://127.0.0.1:1\n"
                         "account = AC1\nsender = +5511999990000\nsecret_file = ";
  char ini[1024];
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;

  snprintf(ini, sizeof ini, "[carteiro]\n%s%s\n", provider, secret);
  assert_int_equal(ct_config_load(write_file("tr1.ini", ini), &cfg, errs, &nerr), 0);
  assert_string_equal(cfg->transport, "auto");
  assert_int_equal(cfg->h2_max_connections, 256);
  ct_config_free(cfg);

  snprintf(ini, sizeof ini, "[carteiro]\ntransport = curl\nh2_max_connections = 8\n%s%s\n",
           provider, secret);
  assert_int_equal(ct_config_load(write_file("tr2.ini", ini), &cfg, errs, &nerr), 0);
  assert_string_equal(cfg->transport, "curl");
  assert_int_equal(cfg->h2_max_connections, 8);
  ct_config_free(cfg);

  snprintf(ini, sizeof ini, "[carteiro]\ntransport = quic\nh2_max_connections = 0\n%s%s\n",
           provider, secret);
  assert_int_equal(ct_config_load(write_file("tr3.ini", ini), &cfg, errs, &nerr), CT_EINVAL);
  assert_int_equal(nerr, 2);
  assert_string_equal(errs[0].where, "[carteiro] h2_max_connections");
  assert_string_equal(errs[0].what, "0 is out of range 1..4096");
  assert_string_equal(errs[1].where, "[carteiro] transport");
  assert_string_equal(errs[1].what, "must be auto or curl");

  setenv("CARTEIRO_CARTEIRO_TRANSPORT", "curl", 1);
  snprintf(ini, sizeof ini, "[carteiro]\n%s%s\n", provider, secret);
  assert_int_equal(ct_config_load(write_file("tr4.ini", ini), &cfg, errs, &nerr), 0);
  assert_string_equal(cfg->transport, "curl");
  ct_config_free(cfg);
  if (saved[0] != '\0')
    setenv("CARTEIRO_CARTEIRO_TRANSPORT", saved, 1);
  else
    unsetenv("CARTEIRO_CARTEIRO_TRANSPORT");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_example_config_loads_with_secrets),
      cmocka_unit_test(test_every_problem_is_named),
      cmocka_unit_test(test_env_overrides_file),
      cmocka_unit_test(test_cluster_section),
      cmocka_unit_test(test_missing_file_and_durations),
      cmocka_unit_test(test_transport_keys),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
