/* Configuration: an INI file (inih) plus environment overrides, turned into an immutable
 * snapshot. Reloading (SIGHUP) builds a new snapshot; a running delivery keeps the snapshot it
 * started with, and the old one is freed when nothing uses it any more.
 *
 * File layout (deploy/carteiro.ini is the annotated example):
 *
 *   [carteiro]            daemon-wide knobs: spool, workers, max_inflight, timeouts, retries
 *   [provider.NAME]       one provider account: kind (whatsapp|sms|email), tenants it serves,
 *                         endpoint, credentials file, rate/burst, concurrency, connections
 *   [tenant.NAME]         per-tenant quiet hours (in the recipient's time zone), and what the
 *                         tenant's invoice.document.url may reach (document_url_hosts,
 *                         document_url_allow_networks)
 *   [templates.LOCALE]    message texts ({placeholders}); pt-BR defaults are built in
 *   [cluster]             several nodes sharing the provider accounts' rates over NATS
 *                         (cluster/cluster.h); without it the node has every rate to itself
 *
 * Environment overrides: CARTEIRO_<SECTION>_<KEY>, upper-cased, every character that is not a
 * letter or digit turned into '_', e.g. CARTEIRO_CARTEIRO_MAX_INFLIGHT=4000 or
 * CARTEIRO_PROVIDER_WA_TIM_1_RATE=80. They override keys of sections present in the file.
 *
 * Durations are written with a unit: "250ms", "30s", "5m", "2h", "30d".
 */
#ifndef CT_CONFIG_CONFIG_H
#define CT_CONFIG_CONFIG_H

#include "common/ipaddr.h"
#include "job/job.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_CONFIG_MAX_PROVIDERS 64
#define CT_CONFIG_MAX_TENANTS 64
#define CT_CONFIG_MAX_TEMPLATES 32
#define CT_CONFIG_NAME 64
#define CT_CONFIG_PATH 512
#define CT_CONFIG_MAX_URL_NETWORKS 16

/* One problem found while loading. Messages name the key and the rule, never the value. */
typedef struct ct_config_error {
  char where[192]; /* "[provider.wa-1] rate", "carteiro.ini line 12", "environment ..." */
  char what[192];  /* "not a decimal number (digits with an optional fraction, e.g. 12.5)" */
} ct_config_error_t;

#define CT_CONFIG_MAX_ERRORS 64
#define CT_CONFIG_MAX_WARNINGS 16

typedef struct {
  char name[CT_CONFIG_NAME];   /* "wa-tim-1": the section suffix, used in logs and metrics */
  ct_channel_t channel;        /* kind = whatsapp | sms | email */
  char tenants[512];           /* comma-separated tenants served, "*" for all */
  char base_url[CT_CONFIG_PATH]; /* e.g. https://graph.facebook.com/v24.0 */
  char account[128];           /* whatsapp: phone_number_id; sms: Account SID; email: unused */
  char sender[256];            /* sms: From number or Messaging Service SID; email: from */
  char sender_name[128];       /* email: from name */
  char secret_file[CT_CONFIG_PATH]; /* file holding the token / auth token / API key */
  char *secret;                /* loaded from secret_file or $CARTEIRO_PROVIDER_<NAME>_SECRET */
  double rate;                 /* messages per second; 0 = no limit */
  uint32_t burst;              /* token bucket depth; 0 = max(1, rate) */
  uint32_t max_concurrency;    /* requests in flight on this account */
  uint32_t max_connections;    /* TCP connections per host */
  uint32_t max_streams;        /* concurrent HTTP/2 streams per connection */
  uint32_t breaker_failures;   /* consecutive failures that open the breaker */
  int64_t breaker_cooldown_ms; /* time open before a half-open probe */
  /* whatsapp */
  char template_invoice[128];  /* template carrying the PDF header and amount/due date */
  char template_barcode[128];  /* template carrying the barcode line alone */
  char template_language[16];  /* e.g. pt_BR */
  int64_t recipient_gap_ms;    /* spacing between messages to one recipient */
  /* webhooks: the keys that authenticate what the provider sends to this account's route
   * (/webhooks/NAME on webhook_listen) */
  char webhook_secret_file[CT_CONFIG_PATH]; /* whatsapp: the Meta app secret (required for
                                               its route); sms: the auth token that signs
                                               callbacks, default the account's secret */
  char *webhook_secret;        /* from the file or $CARTEIRO_PROVIDER_<NAME>_WEBHOOK_SECRET */
  char webhook_verify_token_file[CT_CONFIG_PATH]; /* whatsapp: the GET handshake's token */
  char *webhook_verify_token;  /* ... or $CARTEIRO_PROVIDER_<NAME>_WEBHOOK_VERIFY_TOKEN */
  char webhook_public_key[512]; /* email: SendGrid's verification key (base64 DER) */
  int64_t webhook_tolerance_ms; /* email: signed timestamps this far from now are refused */
  /* Filled at load: webhook_public_url + "/webhooks/" + name, the URL to register with the
   * provider and, for sms, the StatusCallback sent with each message; "" without
   * webhook_public_url. */
  char webhook_url[CT_CONFIG_PATH + 80];
} ct_provider_conf_t;

typedef struct {
  char name[CT_CONFIG_NAME];
  int quiet_start_min;         /* minutes after midnight; -1 = no quiet hours */
  int quiet_end_min;
  char time_zone[64];          /* default for recipients without one */
  /* Document URLs (README, "Document URLs"): the hosts a job's invoice.document.url may name,
   * lower case, comma-separated, "*.example.com" for its subdomains; "" = any host. Whatever
   * the host, its addresses must be public unless they lie in one of `document_url_networks`
   * (document_url_allow_networks, the opt-in for an internal document server). */
  char document_url_hosts[1024];
  ct_cidr_t document_url_networks[CT_CONFIG_MAX_URL_NETWORKS];
  size_t n_document_url_networks;
} ct_tenant_conf_t;

/* Message texts for one locale. Placeholders: {name} {number} {amount} {due_date}
 * {barcode} {pix} (amount formatted for the locale, due date dd/mm/yyyy for pt-BR). */
typedef struct {
  char locale[16];
  char *sms_invoice;
  char *email_subject;
  char *email_text;
  char *email_html;
} ct_templates_t;

typedef struct {
  char spool[CT_CONFIG_PATH];
  uint32_t workers;            /* worker threads; 0 = number of cores */
  uint32_t max_inflight;       /* deliveries in flight in total */
  uint32_t gap_wait_max;       /* jobs waiting out a recipient gap outside max_inflight, without
                                  their document; 0 = they wait holding their slot (a restart
                                  applies a change) */
  uint32_t take_batch;         /* jobs taken from the spool per transaction */
  int64_t connect_timeout_ms;
  int64_t request_timeout_ms;
  int64_t shutdown_grace_ms;
  uint32_t max_attempts;
  int64_t backoff_base_ms;
  int64_t backoff_cap_ms;
  int64_t receipt_retention_ms;
  char ca_file[CT_CONFIG_PATH]; /* CA bundle for TLS verification; "" = system default */
  char document_root[CT_CONFIG_PATH]; /* where documents given by path live */
  int64_t document_fetch_timeout_ms;  /* documents given by https URL */
  uint32_t document_jobs;      /* documents prepared at once per worker (thread pool) */
  uint32_t document_cache_mb;  /* prepared documents kept for a job's later parts; 0 = none */
  uint32_t document_stream_max_mb;  /* decoded size of one PDF stream */
  uint32_t document_decoded_max_mb; /* decoded size of all of a document's streams */
  uint32_t document_max_ratio;      /* decoded : encoded of one stream; 0 = unlimited */
  uint32_t document_memory_mb;      /* memory one document's check and lock may hold */
  uint32_t document_memory_budget_mb; /* memory all preparations together may hold */
  uint32_t document_key_cache_entries; /* locking key material kept; 0 = derive per PDF */
  uint32_t document_key_cache_mb;   /* bytes of the key cache */
  char http_listen[128];       /* "127.0.0.1:8080" for the HTTP API; "" = no HTTP server */
  char http_token_file[CT_CONFIG_PATH]; /* bearer token for /v1 routes */
  char *http_token;            /* read from http_token_file or $CARTEIRO_HTTP_TOKEN */
  uint32_t http_max_body_mb;   /* larger ingest bodies get 413 */
  uint32_t spool_high_water;   /* READY jobs above which ingest answers 503 */
  uint32_t min_free_disk_mb;   /* free space under which ingest answers 503 */
  char log_level[16];
  char transport[8];           /* "auto": native HTTP/2 where ALPN says h2; "curl": libcurl */
  uint32_t h2_max_connections; /* native client: connections per provider host and worker */
  /* The JetStream spool (spool = nats://...): see ct_spool_nats_options_t. */
  char nats_stream[64];
  char nats_dlq_stream[64];
  char nats_consumer[64];
  char nats_subject[64];
  uint32_t nats_replicas;
  int64_t nats_ack_wait_ms;
  uint32_t nats_max_deliver;   /* 0 = unlimited */
  uint32_t nats_max_ack_pending;
  int64_t nats_duplicate_window_ms;
  char nats_creds_file[CT_CONFIG_PATH];
  char nats_ca_file[CT_CONFIG_PATH];
  char nats_cert_file[CT_CONFIG_PATH];
  char nats_key_file[CT_CONFIG_PATH];

  /* The webhook listener (http/http.h, ct_http_webhooks_start): providers' callbacks. */
  char webhook_listen[128];    /* "0.0.0.0:8443"; "" = no listener */
  char webhook_tls_cert[CT_CONFIG_PATH]; /* PEM chain and key for HTTPS; "" = plain HTTP */
  char webhook_tls_key[CT_CONFIG_PATH];
  char webhook_public_url[CT_CONFIG_PATH]; /* how providers reach the listener, e.g.
                                              https://hooks.example.com (behind a proxy) */
  uint32_t webhook_max_body_kb; /* larger webhook bodies get 413 */
  int64_t event_retention_ms;  /* stored webhook events are kept (deduplicated) this long */

  /* [cluster]: present when cluster_nats is not empty */
  char cluster_nats[CT_CONFIG_PATH]; /* NATS server URLs, comma-separated */
  char cluster_node_id[128];   /* this node's key; "" = hostname-pid */
  int64_t cluster_heartbeat_ms;
  char cluster_bucket[CT_CONFIG_NAME]; /* JetStream KV bucket of live nodes */

  ct_provider_conf_t providers[CT_CONFIG_MAX_PROVIDERS];
  size_t n_providers;
  ct_tenant_conf_t tenants[CT_CONFIG_MAX_TENANTS];
  size_t n_tenants;
  ct_templates_t templates[CT_CONFIG_MAX_TEMPLATES];
  size_t n_templates;

  /* Problems that did not stop loading (a secret file every user can read): `config check`
   * prints them, the daemon logs them at start and on reload. */
  ct_config_error_t warnings[CT_CONFIG_MAX_WARNINGS];
  size_t n_warnings;
} ct_config_t;



/* Loads `path`, applies environment overrides, fills defaults, reads secret files and checks
 * every value. On success returns 0 and a new snapshot in *out (with its warnings, if any).
 * On CT_EINVAL, `errs` holds up to CT_CONFIG_MAX_ERRORS problems (*nerr the total), each
 * naming the key and what is wrong. Errors: CT_EINVAL, CT_ENOENT (no such file), CT_ENOMEM.
 *
 * Numbers are decimal: digits for counts, digits with an optional fraction for rates, and a
 * unit after durations ("250ms", "1.5s"); hex, exponents, signs and spaces are refused, a
 * negative number is called negative and one past a key's bounds out of range, with the
 * bound. Secret files (secret_file, http_token_file, nats_creds_file, nats_key_file) are
 * judged by who may read them: see secret_mode_ok in config.c and README "Secrets". */
int ct_config_load(const char *path, ct_config_t **out, ct_config_error_t *errs, size_t *nerr);

/* Flags of ct_config_parse. */
#define CT_CONFIG_NO_ENV 1u   /* ignore CARTEIRO_* environment overrides */
#define CT_CONFIG_NO_FILES 2u /* name secret and certificate files but neither open nor check
                               * them (secrets stay NULL): the fuzz target, offline checks */

/* ct_config_load on `len` bytes of INI text already in memory; `name` stands for the file in
 * messages. Same results and errors, but never CT_ENOENT. */
int ct_config_parse(const char *name, const char *text, size_t len, unsigned flags,
                    ct_config_t **out, ct_config_error_t *errs, size_t *nerr);

/* Frees a snapshot (secrets are wiped first). NULL is a no-op. */
void ct_config_free(ct_config_t *cfg);

/* The templates for `locale`, falling back to pt-BR (always present). */
const ct_templates_t *ct_config_templates(const ct_config_t *cfg, const char *locale);

/* The tenant's settings, or NULL when the tenant has no section. */
const ct_tenant_conf_t *ct_config_tenant(const ct_config_t *cfg, const char *tenant);

/* True when provider `p` serves `tenant`. */
bool ct_provider_serves(const ct_provider_conf_t *p, const char *tenant);

/* Parses "250ms", "30s", "5m", "2h", "30d" into milliseconds. Returns 0 or CT_EINVAL. */
int ct_config_parse_duration(const char *s, int64_t *out_ms);

#endif
