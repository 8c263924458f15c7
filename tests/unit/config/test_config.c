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
#include <sys/stat.h>
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
  assert_int_equal(cfg->gap_wait_max, 0);
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
      {"[carteiro] max_inflight", "not a whole number (decimal digits only)"},
      {"[carteiro] backoff_base",
       "not a duration: a decimal number and a unit, e.g. 250ms, 30s, 5m, 2h, 30d"},
      {"[carteiro] colour", "unknown key"},
      {"[carteiro] workers", "out of range, at most 256"},
      {"[carteiro] document_cache_mb", "out of range, at most 65536"},
      {"[provider.wa-1] kind", "not whatsapp, sms or email"},
      {"[provider.wa-1] rate", "not a decimal number (digits with an optional fraction, e.g. 12.5)"},
      {"[tenant.tim] quiet_hours", "not HH:MM-HH:MM"},
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
  assert_string_equal(errs[0].what, "out of range, at least 1");
  unsetenv("CARTEIRO_CARTEIRO_MAX_INFLIGHT");
  unsetenv("CARTEIRO_PROVIDER_SMS_1_RATE");
}

/* The webhook keys: secrets from files or the environment, each account's URL from
 * webhook_public_url, and every problem named. */
static void test_webhook_keys(void **state) {
  (void)state;
  const char *app = write_file("app.secret", "app-secret-synthetic\n");
  char ini[2048];
  snprintf(ini, sizeof ini,
           "[carteiro]\nwebhook_listen = 0.0.0.0:8443\n"
           "webhook_public_url = https://hooks.example.com//\n"
           "[provider.wa-1]\nkind = whatsapp\nbase_url = https://graph.facebook.com/v24.0\n"
           "account = 1\nsecret_file = %s\nwebhook_secret_file = %s\n"
           "[provider.mail]\nkind = email\nbase_url = https://api.sendgrid.com\n"
           "sender = a@example.com\nsecret_file = %s\n"
           "webhook_public_key = MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBa"
           "WjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==\nwebhook_tolerance = 2m\n",
           app, app, app);
  const char *path = write_file("hooks.ini", ini);
  setenv("CARTEIRO_PROVIDER_WA_1_WEBHOOK_VERIFY_TOKEN", "verify-synthetic", 1);
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  int rc = ct_config_load(path, &cfg, errs, &nerr);
  for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
    print_message("%s: %s\n", errs[i].where, errs[i].what);
  assert_int_equal(rc, 0);
  assert_string_equal(cfg->webhook_listen, "0.0.0.0:8443");
  assert_int_equal(cfg->webhook_max_body_kb, 4096);
  assert_int_equal(cfg->event_retention_ms, (int64_t)7 * 86400 * 1000);
  assert_string_equal(cfg->providers[0].webhook_secret, "app-secret-synthetic");
  assert_string_equal(cfg->providers[0].webhook_verify_token, "verify-synthetic");
  assert_string_equal(cfg->providers[0].webhook_url, "https://hooks.example.com/webhooks/wa-1");
  assert_string_equal(cfg->providers[1].webhook_url, "https://hooks.example.com/webhooks/mail");
  assert_null(cfg->providers[1].webhook_secret);
  assert_int_equal(cfg->providers[1].webhook_tolerance_ms, 120000);
  assert_int_equal(cfg->providers[0].webhook_tolerance_ms, 600000);
  ct_config_free(cfg);
  unsetenv("CARTEIRO_PROVIDER_WA_1_WEBHOOK_VERIFY_TOKEN");

  path = write_file("bad-hooks.ini",
                    "[carteiro]\nwebhook_listen = 8443\nwebhook_public_url = ftp://x/?a=1\n"
                    "webhook_tls_cert = /nonexistent/hooks.crt\n"
                    "[provider.mail]\nkind = email\nbase_url = https://api.sendgrid.com\n"
                    "sender = a@example.com\nwebhook_public_key = not a key\n"
                    "webhook_secret_file = /nonexistent/secret\n");
  setenv("CARTEIRO_PROVIDER_MAIL_SECRET", "k", 1);
  assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), CT_EINVAL);
  unsetenv("CARTEIRO_PROVIDER_MAIL_SECRET");
  const char *want[][2] = {
      {"[provider.mail]", "webhook_secret_file /nonexistent/secret: no such file"},
      {"[provider.mail]", "webhook_public_key is not base64 of a DER public key"},
      {"[carteiro] webhook_listen", "'8443' is not host:port"},
      {"[carteiro] webhook_tls_cert", "needs webhook_tls_key too (and the other way)"},
      {"[carteiro] webhook_tls_cert", "/nonexistent/hooks.crt: No such file or directory"},
      {"[carteiro] webhook_public_url", "must start with https:// (or http://)"},
      {"[carteiro] webhook_public_url", "must not hold a query or a fragment"},
  };
  for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
    print_message("%s: %s\n", errs[i].where, errs[i].what);
  assert_int_equal(nerr, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < nerr; i++) {
    assert_string_equal(errs[i].where, want[i][0]);
    assert_string_equal(errs[i].what, want[i][1]);
  }
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
      {"[cluster] heartbeat", "out of range, at least 50ms"},
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


/* [tenant.NAME] document_url_hosts and document_url_allow_networks: normalised, parsed, and
 * every bad entry named. */
static void test_document_url_rules(void **state) {
  (void)state;
  const char *secret = write_file("sms-url.token", "s3cret\n");
  char ini[2048];
  /* inih reads lines of up to 200 characters: long lists go on over several lines. */
  snprintf(ini, sizeof ini,
           "[provider.sms-1]\nkind = sms\nbase_url = https://127.0.0.1:1\n"
           "account = AC1\nsender = +5511999990000\nsecret_file = %s\n"
           "[tenant.banco-x]\n"
           "document_url_hosts = Docs.Banco-X.example.com., *.cdn.example.net\n"
           "  [::1],10.20.0.5\n" /* a list goes on on indented lines */
           "document_url_allow_networks = 10.20.0.0/16, fd00::/8\n"
           "document_url_allow_networks = 127.0.0.1\n" /* or with the key again */
           "[tenant.tim]\nquiet_hours = 21:00-08:00\n",
           secret);
  const char *path = write_file("url.ini", ini);
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), 0);
  const ct_tenant_conf_t *b = ct_config_tenant(cfg, "banco-x");
  assert_non_null(b);
  assert_string_equal(b->document_url_hosts,
                      "docs.banco-x.example.com, *.cdn.example.net, ::1, 10.20.0.5");
  assert_int_equal(b->n_document_url_networks, 3);
  ct_ipaddr_t in, out;
  assert_int_equal(ct_ipaddr_parse("10.20.255.1", &in), 0);
  assert_int_equal(ct_ipaddr_parse("10.21.0.1", &out), 0);
  assert_true(ct_cidr_contains(&b->document_url_networks[0], &in));
  assert_false(ct_cidr_contains(&b->document_url_networks[0], &out));
  assert_int_equal(b->document_url_networks[1].bits, 8);
  assert_int_equal(b->document_url_networks[2].bits, 128);
  /* A tenant without the keys: any host, no network. */
  const ct_tenant_conf_t *t = ct_config_tenant(cfg, "tim");
  assert_string_equal(t->document_url_hosts, "");
  assert_int_equal(t->n_document_url_networks, 0);
  ct_config_free(cfg);

  snprintf(ini, sizeof ini,
           "[provider.sms-1]\nkind = sms\nbase_url = https://127.0.0.1:1\n"
           "account = AC1\nsender = +5511999990000\nsecret_file = %s\n"
           "[tenant.a]\ndocument_url_hosts = docs.example.com, http://x.example\n"
           "[tenant.b]\ndocument_url_hosts = *\n"
           "[tenant.c]\ndocument_url_hosts = -bad.example\n"
           "[tenant.d]\ndocument_url_allow_networks = 10.0.0.1/8\n"
           "[tenant.e]\ndocument_url_allow_networks = intranet\n"
           "[tenant.f]\ndocument_url_allow_networks = 10.0.0.0/33\n"
           "[tenant.g]\ndocument_url_allow_networks = 1.0.0.0/8 2.0.0.0/8 3.0.0.0/8 4.0.0.0/8 "
           "5.0.0.0/8 6.0.0.0/8 7.0.0.0/8 8.0.0.0/8\n  9.0.0.0/8 10.0.0.0/8 11.0.0.0/8 "
           "12.0.0.0/8 13.0.0.0/8 14.0.0.0/8 15.0.0.0/8 16.0.0.0/8\n  17.0.0.0/8\n"
           "[tenant.h]\ndocument_url_host = docs.example.com\n",
           secret);
  path = write_file("url-bad.ini", ini);
  cfg = NULL;
  assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), CT_EINVAL);
  assert_null(cfg);
  const char *nets_rule =
      "is not an IP address or a network ADDRESS/BITS with no bits set after BITS";
  char want_d[160], want_e[160], want_f[160];
  snprintf(want_d, sizeof want_d, "'10.0.0.1/8' %s", nets_rule);
  snprintf(want_e, sizeof want_e, "'intranet' %s", nets_rule);
  snprintf(want_f, sizeof want_f, "'10.0.0.0/33' %s", nets_rule);
  const char *want[][2] = {
      {"[tenant.a] document_url_hosts",
       "'http://x.example' is not a host name, *.domain or IP address"},
      {"[tenant.b] document_url_hosts", "'*' is not a host name, *.domain or IP address"},
      {"[tenant.c] document_url_hosts",
       "'-bad.example' is not a host name, *.domain or IP address"},
      {"[tenant.d] document_url_allow_networks", want_d},
      {"[tenant.e] document_url_allow_networks", want_e},
      {"[tenant.f] document_url_allow_networks", want_f},
      {"[tenant.g] document_url_allow_networks", "more than 16 networks"},
      {"[tenant.h] document_url_host",
       "unknown key (expected quiet_hours, time_zone, document_url_hosts or "
       "document_url_allow_networks)"},
  };
  size_t n = sizeof want / sizeof want[0];
  assert_int_equal(nerr, n);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(errs[i].where, want[i][0]);
    assert_string_equal(errs[i].what, want[i][1]);
  }
}

/* loads `ini` (text) and checks that it is refused with exactly want[0..n) */
static void expect_problems(const char *ini, const char *const (*want)[2], size_t n) {
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  int rc = ct_config_parse("t.ini", ini, strlen(ini), CT_CONFIG_NO_ENV | CT_CONFIG_NO_FILES, &cfg,
                           errs, &nerr);
  bool same = rc == CT_EINVAL && nerr == n;
  for (size_t i = 0; same && i < n; i++)
    same = strcmp(errs[i].where, want[i][0]) == 0 && strcmp(errs[i].what, want[i][1]) == 0;
  if (!same) {
    for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
      print_message("got  %s: %s\n", errs[i].where, errs[i].what);
    for (size_t i = 0; i < n; i++)
      print_message("want %s: %s\n", want[i][0], want[i][1]);
    fail_msg("rc %d, %zu problems, want %zu", rc, nerr, n);
  }
  assert_null(cfg);
}

#define PROVIDER "[provider.sms-1]\nkind = sms\nbase_url = https://127.0.0.1:1\naccount = AC1\n" \
                 "sender = +5511999990000\nsecret_file = /run/secrets/sms\n"

/* Numbers are decimal, and a value that is not one is named for what it is: not a number,
 * negative, or out of range with the bound, never quoting the value. */
static void test_numbers_named(void **state) {
  (void)state;
  static const char ini[] = "[carteiro]\n"
                            "shutdown_grace = 1e3s\n"
                            "request_timeout = 0x10s\n"
                            "connect_timeout = -5s\n"
                            "backoff_cap = 8d\n"
                            "backoff_base = 1.5\n"
                            "max_inflight = -1\n"
                            "take_batch = 100000000000000000000\n"
                            "workers = 0x10\n"
                            "max_attempts = +5\n"
                            "spool_high_water = 4000000001\n"
                            "nats_ack_wait = 999ms\n"
                            "document_jobs = 1e3\n"
                            "gap_wait_max = 1000001\n"
                            PROVIDER
                            "rate = 0x10\n"
                            "burst = 10^20\n"
                            "max_concurrency = 0\n"
                            "breaker_cooldown = inf\n"
                            "recipient_gap = 2h\n"
                            "[provider.sms-2]\nrate = -1\n"
                            "[provider.sms-3]\nrate = 1e3\n"
                            "[provider.sms-4]\nrate = 1000001\n"
                            "[provider.sms-5]\nrate = 12.\n"
                            "[provider.sms-6]\nrate = nan\n";
  static const char *const want[][2] = {
      {"[carteiro] shutdown_grace",
       "not a duration: a decimal number and a unit, e.g. 250ms, 30s, 5m, 2h, 30d"},
      {"[carteiro] request_timeout",
       "not a duration: a decimal number and a unit, e.g. 250ms, 30s, 5m, 2h, 30d"},
      {"[carteiro] connect_timeout", "negative: a duration is 0 or more"},
      {"[carteiro] backoff_cap", "out of range, at most 7d"},
      {"[carteiro] backoff_base",
       "not a duration: a decimal number and a unit, e.g. 250ms, 30s, 5m, 2h, 30d"},
      {"[carteiro] max_inflight", "negative: must be a whole number from 1 to 1000000"},
      {"[carteiro] take_batch", "out of range, at most 100000"},
      {"[carteiro] workers", "not a whole number (decimal digits only)"},
      {"[carteiro] max_attempts", "not a whole number (decimal digits only)"},
      {"[carteiro] spool_high_water", "out of range, at most 4000000000"},
      {"[carteiro] nats_ack_wait", "out of range, at least 1s"},
      {"[carteiro] document_jobs", "not a whole number (decimal digits only)"},
      {"[carteiro] gap_wait_max", "out of range, at most 1000000"},
      {"[provider.sms-1] rate", "not a decimal number (digits with an optional fraction, e.g. 12.5)"},
      {"[provider.sms-1] burst", "not a whole number (decimal digits only)"},
      {"[provider.sms-1] max_concurrency", "out of range, at least 1"},
      {"[provider.sms-1] breaker_cooldown",
       "not a duration: a decimal number and a unit, e.g. 250ms, 30s, 5m, 2h, 30d"},
      {"[provider.sms-1] recipient_gap", "out of range, at most 1h"},
      {"[provider.sms-2] rate", "negative: must be from 0 to 1e+06"},
      {"[provider.sms-3] rate", "not a decimal number (digits with an optional fraction, e.g. 12.5)"},
      {"[provider.sms-4] rate", "out of range, at most 1e+06"},
      {"[provider.sms-5] rate", "not a decimal number (digits with an optional fraction, e.g. 12.5)"},
      {"[provider.sms-6] rate", "not a decimal number (digits with an optional fraction, e.g. 12.5)"},
      {"[provider.sms-2]", "kind is missing (whatsapp, sms or email)"},
      {"[provider.sms-2]", "base_url is missing"},
      {"[provider.sms-2]", "no credentials: set secret_file or $CARTEIRO_PROVIDER_SMS_2_SECRET"},
      {"[provider.sms-3]", "kind is missing (whatsapp, sms or email)"},
      {"[provider.sms-3]", "base_url is missing"},
      {"[provider.sms-3]", "no credentials: set secret_file or $CARTEIRO_PROVIDER_SMS_3_SECRET"},
      {"[provider.sms-4]", "kind is missing (whatsapp, sms or email)"},
      {"[provider.sms-4]", "base_url is missing"},
      {"[provider.sms-4]", "no credentials: set secret_file or $CARTEIRO_PROVIDER_SMS_4_SECRET"},
      {"[provider.sms-5]", "kind is missing (whatsapp, sms or email)"},
      {"[provider.sms-5]", "base_url is missing"},
      {"[provider.sms-5]", "no credentials: set secret_file or $CARTEIRO_PROVIDER_SMS_5_SECRET"},
      {"[provider.sms-6]", "kind is missing (whatsapp, sms or email)"},
      {"[provider.sms-6]", "base_url is missing"},
      {"[provider.sms-6]", "no credentials: set secret_file or $CARTEIRO_PROVIDER_SMS_6_SECRET"},
  };
  expect_problems(ini, want, sizeof want / sizeof want[0]);

  /* what is accepted: plain decimals, fractions where they make sense, every unit */
  static const char good[] = "[carteiro]\nshutdown_grace = 1.5s\nbackoff_cap = 7d\n"
                             "max_inflight = 0001000\nreceipt_retention = 0ms\n"
                             "gap_wait_max = 0\n" PROVIDER
                             "rate = 12.5\nrecipient_gap = 60m\n";
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  assert_int_equal(ct_config_parse("t.ini", good, strlen(good),
                                   CT_CONFIG_NO_ENV | CT_CONFIG_NO_FILES, &cfg, errs, &nerr), 0);
  assert_int_equal(cfg->shutdown_grace_ms, 1500);
  assert_int_equal(cfg->backoff_cap_ms, (int64_t)7 * 86400000);
  assert_int_equal(cfg->max_inflight, 1000);
  assert_int_equal(cfg->gap_wait_max, 0);
  assert_int_equal(cfg->receipt_retention_ms, 0);
  assert_true(cfg->providers[0].rate == 12.5);
  assert_int_equal(cfg->providers[0].recipient_gap_ms, 3600000);
  assert_null(cfg->providers[0].secret); /* NO_FILES: named, not read */
  ct_config_free(cfg);

  int64_t ms;
  assert_int_equal(ct_config_parse_duration("1e3s", &ms), CT_EINVAL);
  assert_int_equal(ct_config_parse_duration("0x10s", &ms), CT_EINVAL);
  assert_int_equal(ct_config_parse_duration(".5s", &ms), CT_EINVAL);
  assert_int_equal(ct_config_parse_duration("infs", &ms), CT_EINVAL);
}

/* A line longer than inih's default 200-byte buffer (an HTML template) is read whole. */
static void test_long_lines(void **state) {
  (void)state;
  char html[3001];
  memset(html, 'x', sizeof html - 1);
  html[sizeof html - 1] = '\0';
  memcpy(html, "<p>{name}</p>", 13);
  char *ini = malloc(8192);
  assert_non_null(ini);
  snprintf(ini, 8192,
           PROVIDER "[templates.en-US]\nsms_invoice = {name}\nemail_subject = s\n"
                    "email_text = t\nemail_html = %s\n",
           html);
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  int rc = ct_config_parse("t.ini", ini, strlen(ini), CT_CONFIG_NO_ENV | CT_CONFIG_NO_FILES, &cfg,
                           errs, &nerr);
  for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
    print_message("%s: %s\n", errs[i].where, errs[i].what);
  assert_int_equal(rc, 0);
  assert_string_equal(ct_config_templates(cfg, "en-US")->email_html, html);
  ct_config_free(cfg);
  free(ini);
}

/* A template's sections must be closed, or the customer would read the tags. */
static void test_template_sections(void **state) {
  (void)state;
  static const char ini[] = PROVIDER
      "[templates.en-US]\nsms_invoice = {name}: {amount}\nemail_subject = Invoice {number}\n"
      "email_text = Hi.{#attached} The PDF is attached{#protected}, with a password"
      "{/protected}.{/attached}\n"
      "email_html = <p>Hi.</p>{^attached}<p>No PDF.</p>{/attached}\n"
      "[templates.es]\nsms_invoice = {/attached}\nemail_subject = x{#protected}\n"
      "email_text = {#attached}{^attached}{/attached}\nemail_html = ok\n";
  static const char *const want[][2] = {
      {"[templates.es] sms_invoice", "{/attached} closes no section"},
      {"[templates.es] email_subject",
       "a {#protected} or {^protected} section is not closed by {/protected}"},
      {"[templates.es] email_text",
       "a {#attached} or {^attached} section is not closed by {/attached}"},
  };
  expect_problems(ini, want, sizeof want / sizeof want[0]);
}

/* CT_CONFIG_NO_ENV: the environment's overrides and secrets are not read. */
static void test_parse_without_env(void **state) {
  (void)state;
  static const char ini[] = "[carteiro]\nmax_inflight = 10\n" PROVIDER;
  setenv("CARTEIRO_CARTEIRO_MAX_INFLIGHT", "4000", 1);
  setenv("CARTEIRO_PROVIDER_SMS_1_SECRET", "from-env", 1);
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  assert_int_equal(ct_config_parse("t.ini", ini, strlen(ini), CT_CONFIG_NO_ENV | CT_CONFIG_NO_FILES,
                                   &cfg, errs, &nerr), 0);
  assert_int_equal(cfg->max_inflight, 10);
  assert_null(cfg->providers[0].secret);
  ct_config_free(cfg);
  assert_int_equal(ct_config_parse("t.ini", ini, strlen(ini), CT_CONFIG_NO_FILES, &cfg, errs,
                                   &nerr), 0);
  assert_int_equal(cfg->max_inflight, 4000);
  assert_string_equal(cfg->providers[0].secret, "from-env");
  ct_config_free(cfg);
  unsetenv("CARTEIRO_CARTEIRO_MAX_INFLIGHT");
  unsetenv("CARTEIRO_PROVIDER_SMS_1_SECRET");
  /* a NUL byte ends the text, and says so */
  static const char nul[] = "[carteiro]\nmax_inflight = 10\n\0garbage";
  static const char *const want[][2] = {
      {"t.ini", "has a NUL byte: not a text file (the rest of it was not read)"},
      {"t.ini", "no [provider.NAME] section: nothing could be delivered"},
  };
  ct_config_error_t e2[CT_CONFIG_MAX_ERRORS];
  size_t n2 = 0;
  assert_int_equal(ct_config_parse("t.ini", nul, sizeof nul - 1, CT_CONFIG_NO_ENV, &cfg, e2, &n2),
                   CT_EINVAL);
  assert_int_equal(n2, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_string_equal(e2[i].where, want[i][0]);
    assert_string_equal(e2[i].what, want[i][1]);
  }
}

/* Who may read a secret file (README "Secrets"): o+w refused; o+r a warning when carteiro's
 * user owns the file, refused when another user does; group bits are the way to share. */
static void test_secret_file_modes(void **state) {
  (void)state;
  const char *secret = write_file("mode.token", "s3cret\n");
  char spath[64]; /* the temporary directory's name is short */
  assert_true(strlen(secret) < sizeof spath);
  snprintf(spath, sizeof spath, "%s", secret);
  char ini[1024];
  snprintf(ini, sizeof ini,
           "[carteiro]\nhttp_listen = 127.0.0.1:0\nhttp_token_file = %s\n"
           "[provider.sms-1]\nkind = sms\nbase_url = https://127.0.0.1:1\n"
           "account = AC1\nsender = +5511999990000\nsecret_file = %s\n",
           spath, spath);
  char path[256];
  snprintf(path, sizeof path, "%s", write_file("mode.ini", ini));
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;

  /* 0600 and 0640: silent */
  static const mode_t quiet[] = {0600, 0640, 0400, 0440};
  for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
    assert_int_equal(chmod(spath, quiet[i]), 0);
    assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), 0);
    assert_int_equal(cfg->n_warnings, 0);
    assert_string_equal(cfg->providers[0].secret, "s3cret");
    ct_config_free(cfg);
  }

  /* 0644, ours: loads, with a warning for each key that names it */
  assert_int_equal(chmod(spath, 0644), 0);
  assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), 0);
  assert_int_equal(cfg->n_warnings, 2);
  char want[256];
  snprintf(want, sizeof want,
           "%s is readable by every user (mode 0644); chmod o-r (0600, or 0640 for carteiro's "
           "group)",
           spath);
  assert_string_equal(cfg->warnings[0].where, "[provider.sms-1] secret_file");
  assert_string_equal(cfg->warnings[0].what, want);
  assert_string_equal(cfg->warnings[1].where, "[carteiro] http_token_file");
  assert_string_equal(cfg->warnings[1].what, want);
  assert_string_equal(cfg->http_token, "s3cret");
  ct_config_free(cfg);

  /* 0666 or 0602: anyone could swap it: refused */
  static const mode_t writable[] = {0666, 0602};
  for (size_t i = 0; i < sizeof writable / sizeof writable[0]; i++) {
    assert_int_equal(chmod(spath, writable[i]), 0);
    assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), CT_EINVAL);
    assert_int_equal(nerr, 2);
    snprintf(want, sizeof want,
             "%s is writable by every user (mode %04o): anyone could replace the credential; "
             "chmod o-w",
             spath, (unsigned)writable[i]);
    assert_string_equal(errs[0].where, "[provider.sms-1] secret_file");
    assert_string_equal(errs[0].what, want);
    assert_string_equal(errs[1].where, "[carteiro] http_token_file");
    assert_string_equal(errs[1].what, want);
  }

  /* 0644 owned by another user: refused. Only root can give a file away; otherwise skipped. */
  assert_int_equal(chmod(spath, 0644), 0);
  if (geteuid() == 0 && chown(spath, 65534, (gid_t)-1) == 0) {
    assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), CT_EINVAL);
    assert_int_equal(nerr, 2);
    snprintf(want, sizeof want,
             "%s is readable by every user (mode 0644) and owned by another user (uid 65534): "
             "make it 0600 owned by uid 0, or 0640 with carteiro's group",
             spath);
    assert_string_equal(errs[0].where, "[provider.sms-1] secret_file");
    assert_string_equal(errs[0].what, want);
    /* the same file with the bit every user has taken away: read through the owner's or
     * the group's right, silent */
    assert_int_equal(chmod(spath, 0640), 0);
    assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), 0);
    assert_int_equal(cfg->n_warnings, 0);
    ct_config_free(cfg);
    assert_int_equal(chown(spath, 0, (gid_t)-1), 0);
  } else {
    print_message("skipped: a file owned by another user needs root to make\n");
  }
}

/* The document limits: a budget smaller than one document's allowance is refused, since no
 * document could ever be prepared; out-of-range values are named like any other. */

static void test_document_limits(void **state) {
  (void)state;
  const char *path = write_file("docs.ini", "[carteiro]\n"
                                            "document_memory_mb = 256\n"
                                            "document_memory_budget_mb = 128\n"
                                            "document_stream_max_mb = 0\n"
                                            "document_key_cache_entries = 0\n");
  ct_config_t *cfg = NULL;
  ct_config_error_t errs[CT_CONFIG_MAX_ERRORS];
  size_t nerr = 0;
  assert_int_equal(ct_config_load(path, &cfg, errs, &nerr), CT_EINVAL);
  const char *want[][2] = {
      {"[carteiro] document_stream_max_mb", "out of range, at least 1"},
      {path, "no [provider.NAME] section: nothing could be delivered"},
      {"[carteiro] document_memory_budget_mb",
       "is smaller than document_memory_mb: no document could be prepared"},
  };
  for (size_t i = 0; i < nerr && i < CT_CONFIG_MAX_ERRORS; i++)
    print_message("%s: %s\n", errs[i].where, errs[i].what);
  assert_int_equal(nerr, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < nerr; i++) {
    assert_string_equal(errs[i].where, want[i][0]);
    assert_string_equal(errs[i].what, want[i][1]);
  }
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
  assert_string_equal(errs[0].what, "out of range, at least 1");
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
      cmocka_unit_test(test_document_limits),
      cmocka_unit_test(test_env_overrides_file),
      cmocka_unit_test(test_cluster_section),
      cmocka_unit_test(test_webhook_keys),
      cmocka_unit_test(test_missing_file_and_durations),
      cmocka_unit_test(test_transport_keys),
      cmocka_unit_test(test_document_url_rules),
      cmocka_unit_test(test_numbers_named),
      cmocka_unit_test(test_parse_without_env),
      cmocka_unit_test(test_template_sections),
      cmocka_unit_test(test_long_lines),
      cmocka_unit_test(test_secret_file_modes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
