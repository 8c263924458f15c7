/* Configuration: an INI file (inih) plus environment overrides, turned into an immutable
 * snapshot. Reloading (SIGHUP) builds a new snapshot; a running delivery keeps the snapshot it
 * started with, and the old one is freed when nothing uses it any more.
 *
 * File layout (deploy/carteiro.ini is the annotated example):
 *
 *   [carteiro]            daemon-wide knobs: spool, workers, max_inflight, timeouts, retries
 *   [provider.NAME]       one provider account: kind (whatsapp|sms|email), tenants it serves,
 *                         endpoint, credentials file, rate/burst, concurrency, connections
 *   [tenant.NAME]         per-tenant quiet hours (in the recipient's time zone)
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

#include "job/job.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_CONFIG_MAX_PROVIDERS 64
#define CT_CONFIG_MAX_TENANTS 64
#define CT_CONFIG_MAX_TEMPLATES 32
#define CT_CONFIG_NAME 64
#define CT_CONFIG_PATH 512

typedef struct {
  char name[CT_CONFIG_NAME];   /* "wa-tim-1": the section suffix, used in logs and metrics */
  ct_channel_t channel;        /* kind = whatsapp | sms | email */
  char tenants[512];           /* comma-separated tenants served, "*" for all */
  char base_url[CT_CONFIG_PATH]; /* e.g. https://graph.facebook.com/v19.0 */
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
} ct_provider_conf_t;

typedef struct {
  char name[CT_CONFIG_NAME];
  int quiet_start_min;         /* minutes after midnight; -1 = no quiet hours */
  int quiet_end_min;
  char time_zone[64];          /* default for recipients without one */
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
} ct_config_t;

/* One problem found while loading. */
typedef struct {
  char where[192]; /* "[provider.wa-1] rate", "carteiro.ini line 12", "environment ..." */
  char what[192];  /* "'fast' is not a number" */
} ct_config_error_t;

#define CT_CONFIG_MAX_ERRORS 64

/* Loads `path`, applies environment overrides, fills defaults, reads secret files and checks
 * every value. On success returns 0 and a new snapshot in *out. On CT_EINVAL, `errs` holds up
 * to CT_CONFIG_MAX_ERRORS problems (*nerr the total), each naming the key and what is wrong.
 * Errors: CT_EINVAL, CT_ENOENT (no such file), CT_ENOMEM. */
int ct_config_load(const char *path, ct_config_t **out, ct_config_error_t *errs, size_t *nerr);

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
